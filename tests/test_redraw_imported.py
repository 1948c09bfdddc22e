"""Redraw of any valid plan: hand-drawn grids with building units, or grids without units."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.crs import metric_crs
from geogrid.errors import GeogridError
from geogrid.io import read_households, read_plan, write_plan
from geogrid.partition import Band, redraw
from geogrid.plan import PLAN_CRS, GridPlan
from geogrid.samples import load_sample, sample_path
from geogrid.validate import validate_plan

BAND = Band(300, 500)


def grown_sample() -> gpd.GeoDataFrame:
    """The sample's buildings with 10 % more households in the north-east."""
    homes = read_households(sample_path("haidian", "households.gpkg"), layer="buildings")
    points = homes.to_crs(metric_crs(homes)).representative_point()
    corner = (
        (points.x > points.x.quantile(0.6))
        & (points.y > points.y.quantile(0.6))
        & (homes["households"] > 0)
    )
    grown = homes.assign(households_before=homes["households"])
    factor = 1 + 0.10 * homes["households"].sum() / grown.loc[corner, "households"].sum()
    grown.loc[corner, "households"] = np.round(grown.loc[corner, "households"] * factor)
    grown["households"] = grown["households"].astype(int)
    return grown


def assert_redrawn(plan: GridPlan, result, homes: gpd.GeoDataFrame, id_column: str) -> None:
    """Band restored, no empty grid, few moves, untouched grids identical, the change list."""
    grids = result.plan.level(2)
    assert result.out_of_band == [] and result.problems == []
    assert grids["households"].between(BAND.low, BAND.high).all()
    assert (grids["households"] > 0).all()
    assert int(grids["households"].sum()) == int(homes["households"].sum())
    largest = int(result.plan.units["households"].max())
    assert result.moved_households <= 1.25 * result.lower_bound + largest
    assert validate_plan(result.plan) == []
    # every grid the redraw did not need keeps code, name, staff and geometry
    untouched = result.lineage.loc[result.lineage["change"] == "unchanged", "new_code"]
    before = plan.grids.set_index("code")
    after = result.plan.grids.set_index("code")
    for code in untouched:
        assert after.loc[code, "name"] == before.loc[code, "name"]
        assert after.loc[code, "geometry"].equals_exact(before.loc[code, "geometry"], 0)
        staff_before = plan.staff[plan.staff["grid_code"] == code].reset_index(drop=True)
        staff_after = result.plan.staff[result.plan.staff["grid_code"] == code]
        pd.testing.assert_frame_equal(staff_before, staff_after.reset_index(drop=True))
    # the change list: one row per building, named by the chosen column
    changes = result.changes
    assert changes["id"].is_unique
    assert set(changes["id"]) <= set(homes[id_column].astype(str))
    assert int(changes["households"].sum()) == result.moved_households
    assert (changes["from_code"] != changes["to_code"]).all()
    names = result.plan.grids.set_index("code")["name"]
    assert (changes["to_name"] == names.loc[changes["to_code"]].to_numpy()).all()


@pytest.fixture(scope="module")
def sample():
    return load_sample("haidian"), grown_sample()


def test_hand_drawn_sample_with_building_units(sample):
    plan, grown = sample
    result = redraw(plan, grown, band=BAND)
    assert result.built_units
    assert_redrawn(plan, result, grown, "unit_id")
    assert (result.lineage["change"] == "new").any()  # 西王庄 needs more grids
    assert set(result.cut["code"]) <= set(plan.level(2)["code"])
    assert len(result.cut) > 0  # the sample's lines cut some buildings; they are listed


def test_sample_without_units_and_named_by_name(sample):
    plan, grown = sample
    bare = plan.copy()
    bare.units = bare.units.iloc[:0]
    named = grown.assign(name=grown["name"].fillna(grown["unit_id"]))
    result = redraw(bare, named, band=BAND, id_column="name")
    assert_redrawn(bare, result, named, "name")


def test_unknown_id_column_lists_the_columns(sample):
    plan, grown = sample
    with pytest.raises(GeogridError, match="no column '门牌号'.*unit_id"):
        redraw(plan, grown, band=BAND, id_column="门牌号")


def test_infeasible_band_says_so_with_the_bound(sample):
    plan, grown = sample
    with pytest.raises(GeogridError, match="cannot be met.*Nothing written"):
        redraw(plan, grown, band=(420, 440))
    result = redraw(plan, grown, band=(420, 440), allow_out_of_band=True)
    assert result.out_of_band and result.problems
    assert any("need at least" in p or "at least" in p for p in result.problems)
    assert (result.plan.level(2)["households"] > 0).all()


def test_max_moved_refused_with_the_smallest_number(sample):
    plan, grown = sample
    with pytest.raises(GeogridError, match=r"no redraw can move fewer than 639\b"):
        redraw(plan, grown, band=BAND, max_moved=100)


def test_cli_on_the_sample(sample, tmp_path):
    _plan, grown = sample
    homes = tmp_path / "homes.gpkg"
    grown.to_file(homes, layer="buildings")
    runner = CliRunner()
    args = ["redraw", str(sample_path("haidian", "plan.gpkg")), "--households", f"{homes}"]
    args += ["--band", "300-500", "-o", str(tmp_path / "new.gpkg")]
    refused = runner.invoke(app, [*args, "--max-moved", "100"])
    assert refused.exit_code == 2, refused.output
    assert "639" in refused.output and "lower bound" in refused.output
    assert not (tmp_path / "new.gpkg").exists() and not (tmp_path / "new_changes.csv").exists()
    infeasible = runner.invoke(app, [*args[:-4], "--band", "420-440", *args[-2:]])
    assert infeasible.exit_code == 2 and "cannot be met" in infeasible.output
    assert not (tmp_path / "new.gpkg").exists()
    done = runner.invoke(app, [*args, "--id-column", "unit_id"])
    assert done.exit_code == 0, done.output
    raw = (tmp_path / "new_changes.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # utf-8-sig: spreadsheets read the Chinese
    changes = pd.read_csv(tmp_path / "new_changes.csv", encoding="utf-8-sig", dtype=str)
    assert list(changes.columns[:2]) == ["楼栋 building", "名称 name"]
    assert changes["楼栋 building"].is_unique
    assert set(changes["楼栋 building"]) <= set(grown["unit_id"])
    assert "西王庄第一网格" in set(changes["原网格 old grid"])
    assert (tmp_path / "new_cut_buildings.csv").exists()
    redrawn = read_plan(tmp_path / "new.gpkg")
    assert redrawn.level(2)["households"].between(300, 500).all()
    assert validate_plan(redrawn) == []


# --- synthetic hand-drawn plans -------------------------------------------------------------

CRS = 4547


def hand_drawn(columns: int, rows: int, seed: int) -> tuple[GridPlan, gpd.GeoDataFrame]:
    """A 1,600 × 1,200 m community in ``columns`` × ``rows`` hand-drawn grids of ~400
    households, buildings on a jittered lattice (some across the grid lines), no units."""
    rng = np.random.default_rng(seed)
    width, height = 1600.0, 1200.0
    xs = np.linspace(0, width, columns + 1)
    ys = np.linspace(0, height, rows + 1)
    cells = [box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(rows) for i in range(columns)]
    grid_m = gpd.GeoSeries(cells, crs=CRS)
    buildings = []
    for x in np.arange(20, width, 50.0):
        for y in np.arange(20, height, 50.0):
            dx, dy = rng.uniform(-8, 8, 2)
            buildings.append(box(x + dx, y + dy, x + dx + 22, y + dy + 12))
    n = len(buildings)
    total = 400 * columns * rows
    counts = rng.multinomial(total, np.ones(n) / n)
    homes = gpd.GeoDataFrame(
        {"bid": [f"B{i:04d}" for i in range(n)], "households": counts},
        geometry=buildings,
        crs=CRS,
    )
    geoms = grid_m.to_crs(PLAN_CRS)
    codes = [f"420106001001{g + 1:03d}" for g in range(len(cells))]
    grids = gpd.GeoDataFrame(
        {
            "code": ["420106001001", *codes],
            "name": ["手绘社区", *[f"手绘第{g + 1}网格" for g in range(len(cells))]],
            "level": [1] + [2] * len(cells),
            "parent_code": [None, *["420106001001"] * len(cells)],
            "kind": ["urban"] * (len(cells) + 1),
        },
        geometry=[shapely.coverage_union_all(geoms.to_numpy()), *geoms],
        crs=PLAN_CRS,
    )
    staff = pd.DataFrame(
        {
            "grid_code": codes,
            "role": ["head"] * len(codes),
            "name": [f"网格长{g}" for g in range(len(codes))],
            "phone": [f"1380000{g:04d}" for g in range(len(codes))],
        }
    )
    return GridPlan("手绘", ["社区", "网格"], grids, staff), homes


def grow(homes: gpd.GeoDataFrame, share: float, corner: tuple[float, float]) -> gpd.GeoDataFrame:
    """``share`` more households, spread over the buildings near ``corner``."""
    points = homes.representative_point()
    near = np.hypot(points.x - corner[0], points.y - corner[1]).to_numpy()
    chosen = np.argsort(near)[: max(len(homes) // 8, 1)]
    grown = homes.copy()
    extra = int(homes["households"].sum() * share)
    add = np.full(len(chosen), extra // len(chosen))
    add[: extra % len(chosen)] += 1
    grown.loc[grown.index[chosen], "households"] += add
    return grown


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    shape=st.sampled_from([(2, 2), (3, 2), (4, 2)]),
    seed=st.integers(0, 1000),
    share=st.sampled_from([0.08, 0.15]),
    corner=st.sampled_from([(1600.0, 1200.0), (0.0, 0.0), (1600.0, 0.0)]),
)
def test_synthetic_hand_drawn_plans(shape, seed, share, corner):
    plan, homes = hand_drawn(*shape, seed=seed)
    grown = grow(homes, share, corner)
    result = redraw(plan, grown, band=BAND)
    assert result.built_units
    assert_redrawn(plan, result, grown, "bid")
    # buildings the hand-drawn lines cut are listed with the grid holding most of them
    assert (result.cut["share"] >= 0.5).all()


def test_synthetic_max_moved_and_nothing_to_do(tmp_path):
    plan, homes = hand_drawn(3, 2, seed=7)
    same = redraw(plan, homes, band=BAND)
    assert same.moved_households == 0 and same.changes.empty
    assert set(same.lineage["change"]) == {"unchanged"}
    grown = grow(homes, 0.15, (1600.0, 1200.0))
    result = redraw(plan, grown, band=BAND)
    with pytest.raises(GeogridError, match="needs --max-moved"):
        redraw(plan, grown, band=BAND, max_moved=result.moved_households - 1)
    assert redraw(plan, grown, band=BAND, max_moved=result.moved_households).moved_households
    write_plan(plan, tmp_path / "plan.gpkg")
    grown.to_file(tmp_path / "homes.gpkg")
    args = ["redraw", str(tmp_path / "plan.gpkg"), "--households", str(tmp_path / "homes.gpkg")]
    args += ["--band", "300-500", "-o", str(tmp_path / "out.gpkg"), "--id-column", "bid"]
    refused = CliRunner().invoke(app, [*args, "--max-moved", "1"])
    assert refused.exit_code == 2 and str(result.lower_bound.__trunc__()) in refused.output
    assert not (tmp_path / "out.gpkg").exists()
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    changes = pd.read_csv(tmp_path / "out_changes.csv", encoding="utf-8-sig", dtype=str)
    assert changes["楼栋 building"].str.startswith("B").all()
    assert changes["楼栋 building"].is_unique
