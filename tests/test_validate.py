"""Plan validation: one crafted plan per problem kind, properties of coverages, the fixer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plans import (
    COMMUNITY,
    QUADRANTS,
    SIDE,
    community_plan,
    mbox,
    metres,
    plan_of,
    split_plan,
    split_rows,
    to_lonlat,
)
from shapely.geometry import Point, Polygon, box

from geogrid.errors import CoordinateError, CRSError, PlanFileError
from geogrid.validate import (
    Change,
    ChangeKind,
    Problem,
    ProblemKind,
    Severity,
    fix_plan,
    validate_plan,
)

A, B, C, D = QUADRANTS


def only(problems: list[Problem], kind: ProblemKind) -> list[Problem]:
    return [p for p in problems if p.kind is kind]


def assert_at(problem: Problem, region_m: shapely.Geometry) -> None:
    """The problem's lon/lat lies inside ``region_m`` (local metres)."""
    assert problem.lon is not None and problem.lat is not None
    x, y = metres(problem.lon, problem.lat)
    assert region_m.buffer(0.2).contains(Point(x, y)), (problem.line(), x, y)


def assert_area(problem: Problem, expected: float, rel: float = 0.03) -> None:
    assert problem.area_m2 == pytest.approx(expected, rel=rel), problem.line()


# --------------------------------------------------------------------------- one per kind


def test_valid_plan_has_no_problems() -> None:
    assert validate_plan(community_plan()) == []


def test_gap_between_siblings() -> None:
    notch = box(195, 50, 200, 150)
    shape = shapely.difference(box(0, 0, 200, 200), notch)
    problems = validate_plan(community_plan({A: {"geometry": to_lonlat(shape)}}))
    assert [p.kind for p in problems] == [ProblemKind.GAP]
    (gap,) = problems
    assert gap.codes == (A, B) and gap.parent == COMMUNITY
    assert_at(gap, notch)
    assert_area(gap, 500)
    assert gap.line().startswith(f"gap (缝隙) in {COMMUNITY} between {A}, {B} at ")
    assert gap.line().endswith(" m²")


def test_overlap_between_siblings() -> None:
    problems = validate_plan(community_plan({A: {"geometry": mbox(0, 0, 210, 200)}}))
    assert [p.kind for p in problems] == [ProblemKind.OVERLAP]
    (overlap,) = problems
    assert overlap.codes == (A, B) and overlap.parent == COMMUNITY
    assert_at(overlap, box(200, 0, 210, 200))
    assert_area(overlap, 2000)


def test_hole_in_a_grid() -> None:
    ring = box(50, 50, 100, 100)
    shape = Polygon(box(0, 0, 200, 200).exterior, [ring.exterior])
    problems = validate_plan(community_plan({A: {"geometry": to_lonlat(shape)}}))
    assert [p.kind for p in problems] == [ProblemKind.HOLE]
    (hole,) = problems
    assert hole.codes == (A,) and hole.parent == COMMUNITY
    assert_at(hole, ring)
    assert_area(hole, 2500)
    assert hole.line().startswith(f"hole (空洞) in {A} at ")


def test_hole_in_the_top_level() -> None:
    donut = Polygon(box(0, 0, 400, 400).exterior, [box(100, 100, 300, 300).exterior])
    rows = [{"code": COMMUNITY, "level": 1, "geometry": to_lonlat(donut)}]
    problems = validate_plan(plan_of(rows))
    assert [(p.kind, p.codes, p.parent) for p in problems] == [
        (ProblemKind.HOLE, (COMMUNITY,), None)
    ]
    assert_at(problems[0], box(100, 100, 300, 300))
    assert_area(problems[0], 40_000)


def test_gap_between_top_level_grids() -> None:
    left = shapely.difference(box(0, 0, 200, 400), box(150, 100, 200, 300))
    rows = [
        {"code": "110108001", "level": 1, "geometry": to_lonlat(left)},
        {"code": "110108002", "level": 1, "geometry": mbox(200, 0, 400, 400)},
    ]
    (gap,) = validate_plan(plan_of(rows))
    assert gap.kind is ProblemKind.GAP and gap.codes == ("110108001", "110108002")
    assert gap.parent is None
    assert_area(gap, 50 * 200)


def test_child_outside_parent() -> None:
    problems = validate_plan(community_plan({B: {"geometry": mbox(200, 0, 420, 200)}}))
    assert [p.kind for p in problems] == [ProblemKind.OUTSIDE_PARENT]
    (outside,) = problems
    assert outside.codes == (B,) and outside.parent == COMMUNITY
    assert_at(outside, box(400, 0, 420, 200))
    assert_area(outside, 4000)


def test_children_not_covering_parent_edge() -> None:
    overrides = {A: {"geometry": mbox(0, 10, 200, 200)}, B: {"geometry": mbox(200, 10, 400, 200)}}
    problems = validate_plan(community_plan(overrides))
    assert [p.kind for p in problems] == [ProblemKind.NOT_COVERING_PARENT]
    (short,) = problems
    assert short.codes == (A, B) and short.parent == COMMUNITY
    assert_at(short, box(0, 0, 400, 10))
    assert_area(short, 4000)


def test_parent_without_children() -> None:
    other = {"code": "110108002", "level": 1, "geometry": mbox(400, 0, 600, 400)}
    problems = validate_plan(community_plan(extra=[other]))
    assert [(p.kind, p.codes, p.parent) for p in problems] == [
        (ProblemKind.NOT_COVERING_PARENT, (), "110108002")
    ]
    assert_at(problems[0], box(400, 0, 600, 400))
    assert_area(problems[0], 80_000)
    assert "no level-2 grids (网格)" in problems[0].detail


def test_duplicate_code() -> None:
    problems = validate_plan(community_plan({B: {"code": A}}))
    assert [(p.kind, p.codes) for p in problems] == [(ProblemKind.DUPLICATE_CODE, (A,))]
    assert "2 grids" in problems[0].detail


def test_missing_parent() -> None:
    stray = {
        "code": "110108009001",
        "level": 2,
        "parent_code": "110108009",
        "geometry": mbox(1000, 0, 1200, 200),
    }
    problems = validate_plan(community_plan(extra=[stray]))
    assert [(p.kind, p.codes, p.parent) for p in problems] == [
        (ProblemKind.MISSING_PARENT, ("110108009001",), "110108009")
    ]


def test_level_two_grid_without_parent_code() -> None:
    problems = validate_plan(community_plan({D: {"parent_code": None}}))
    assert (ProblemKind.MISSING_PARENT, (D,)) in [(p.kind, p.codes) for p in problems]


def test_self_intersecting_ring() -> None:
    bowtie = to_lonlat(Polygon([(0, 0), (200, 200), (200, 0), (0, 200), (0, 0)]))
    problems = validate_plan(community_plan({A: {"geometry": bowtie}}))
    invalid = only(problems, ProblemKind.INVALID_GEOMETRY)
    assert len(invalid) == 1 and invalid[0].codes == (A,)
    assert invalid[0].detail.startswith("Self-intersection")
    x, y = metres(invalid[0].lon, invalid[0].lat)  # type: ignore[arg-type]
    assert (x, y) == pytest.approx((100, 100), abs=0.2)
    assert problems[0] == invalid[0]  # invalid geometry sorts before what follows from it


def test_empty_geometry() -> None:
    problems = validate_plan(community_plan({A: {"geometry": Polygon()}}))
    (empty,) = only(problems, ProblemKind.EMPTY_GEOMETRY)
    assert empty.codes == (A,) and empty.lon is None and empty.area_m2 is None
    (missing,) = only(problems, ProblemKind.NOT_COVERING_PARENT)  # its area is uncovered
    assert_area(missing, 40_000)


def test_households_mismatch() -> None:
    problems = validate_plan(community_plan({D: {"households": 90}}))
    assert [(p.kind, p.codes) for p in problems] == [
        (ProblemKind.HOUSEHOLDS_MISMATCH, (COMMUNITY,))
    ]
    assert problems[0].severity is Severity.WARNING
    assert "sum to 390 households, it records 400" in problems[0].detail


def test_households_unknown_are_not_compared() -> None:
    assert validate_plan(community_plan({D: {"households": None}})) == []


def test_level_mismatch() -> None:
    plan = community_plan({A: {"level": 3}}, levels=("社区", "网格", "微网格"))
    problems = validate_plan(plan)
    assert [(p.kind, p.codes, p.parent) for p in problems] == [
        (ProblemKind.LEVEL_MISMATCH, (A,), COMMUNITY)
    ]
    assert "expected level 2" in problems[0].detail


def test_code_scheme_is_a_warning() -> None:
    problems = validate_plan(community_plan({A: {"code": "220108001001"}}))
    assert [(p.kind, p.severity) for p in problems] == [(ProblemKind.CODE_SCHEME, Severity.WARNING)]


# --------------------------------------------------------------------------- the Problem type


def test_labels_have_chinese_terms() -> None:
    assert ProblemKind.GAP.label == "gap (缝隙)"
    assert ProblemKind.OUTSIDE_PARENT.label == "outside parent (超出上级)"
    assert all("(" in kind.label for kind in ProblemKind)


def test_line_format() -> None:
    problem = Problem(ProblemKind.GAP, (A, B), 116.312341, 39.998761, 152.34, parent="110108001")
    assert problem.line() == (
        f"gap (缝隙) in 110108001 between {A}, {B} at 116.31234, 39.99876: 152.3 m²"
    )
    assert Problem(ProblemKind.EMPTY_GEOMETRY, (A,)).line() == f"empty geometry (空几何) {A}"


def test_to_dict_is_json() -> None:
    (gap,) = validate_plan(community_plan({A: {"geometry": mbox(0, 0, 195, 200)}}))
    doc = json.loads(json.dumps(gap.to_dict(), ensure_ascii=False))
    assert doc["kind"] == gap.kind.value and doc["codes"] == list(gap.codes)
    assert doc["severity"] == "error" and doc["line"] == gap.line()


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            CRSError("the layer has no coordinate reference system (坐标系缺失); give one"),
            ProblemKind.MISSING_CRS,
        ),
        (CRSError("wrong CRS (坐标系错误): the layer says EPSG:4490, ..."), ProblemKind.WRONG_CRS),
        (
            CoordinateError("latitude and longitude look swapped (经纬度颠倒): ..."),
            ProblemKind.SWAPPED_LATLON,
        ),
    ],
)
def test_problem_from_error(error: Exception, kind: ProblemKind) -> None:
    problem = Problem.from_error(error)  # type: ignore[arg-type]
    assert problem.kind is kind and problem.codes == ()
    assert problem.line().startswith(kind.label + ": ")


def test_problem_from_other_error_is_refused() -> None:
    with pytest.raises(TypeError, match="CRSError"):
        Problem.from_error(PlanFileError("no geometry"))  # type: ignore[arg-type]


def test_order_does_not_depend_on_row_order() -> None:
    plan = community_plan(
        {A: {"geometry": mbox(0, 0, 210, 195)}, D: {"households": 1, "code": "9"}}
    )
    shuffled = plan.copy()
    shuffled.grids = plan.grids.iloc[::-1].reset_index(drop=True)
    assert validate_plan(plan) == validate_plan(shuffled)
    assert len(validate_plan(plan)) >= 3


def test_slivers_below_tolerance_are_noise() -> None:
    # a 1e-7 m overlap is floating-point noise
    plan = community_plan({A: {"geometry": mbox(0, 0, 200 + 1e-7, 200)}})
    assert validate_plan(plan) == []
    assert only(validate_plan(plan, tolerance_m2=0, noise_width_m=0), ProblemKind.OVERLAP)


def test_millimetre_slivers_are_reprojection_noise() -> None:
    # 5 mm × 200 m: what converting a plan drawn in Gauss-Krüger metres to lon/lat leaves
    plan = community_plan({A: {"geometry": mbox(0, 0, 199.995, 200)}})
    assert validate_plan(plan) == []
    (gap,) = validate_plan(plan, noise_width_m=0.001)
    assert gap.kind is ProblemKind.GAP
    assert_area(gap, 1.0)


# --------------------------------------------------------------------------- properties

cuts = st.lists(st.floats(5, SIDE - 5), max_size=5, unique=True).map(sorted)
_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spaced(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] >= 5:
            out.append(v)
    return [v for v in out if SIDE - v >= 5]


@_SETTINGS
@given(xs=cuts, ys=cuts)
def test_rectangle_splits_are_valid(xs: list[float], ys: list[float]) -> None:
    assert validate_plan(split_plan(_spaced(xs), _spaced(ys))) == []


@_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40))
def test_voronoi_coverages_are_valid(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    points = shapely.multipoints(rng.uniform(0, SIDE, size=(n, 2)))
    frame = box(0, 0, SIDE, SIDE)
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame))
    cells = shapely.intersection(to_lonlat(cells), to_lonlat(frame))
    rows = [{"code": COMMUNITY, "level": 1, "geometry": to_lonlat(frame)}]
    rows += [
        {"code": f"{COMMUNITY}{i + 1:03d}", "level": 2, "parent_code": COMMUNITY, "geometry": g}
        for i, g in enumerate(cells)
    ]
    assert validate_plan(plan_of(rows)) == []


@_SETTINGS
@given(xs=cuts, ys=cuts, pick=st.integers(0, 10**6))
def test_removing_a_child_leaves_its_area_uncovered(
    xs: list[float], ys: list[float], pick: int
) -> None:
    rows = split_rows(_spaced(xs), _spaced(ys))
    children = rows[1:]
    gone = children[pick % len(children)]
    if len(children) == 1:
        return
    problems = validate_plan(plan_of(r for r in rows if r is not gone))
    assert {p.kind for p in problems} <= {ProblemKind.GAP, ProblemKind.NOT_COVERING_PARENT}
    x0, y0, x1, y1 = gone["bounds_m"]
    total = sum(p.area_m2 or 0 for p in problems)
    assert total == pytest.approx((x1 - x0) * (y1 - y0), rel=0.03)
    for p in problems:
        assert_at(p, box(x0, y0, x1, y1))


@_SETTINGS
@given(xs=cuts, ys=cuts, pick=st.integers(0, 10**6), grow=st.floats(0.5, 4.0))
def test_enlarging_a_child_makes_an_overlap(
    xs: list[float], ys: list[float], pick: int, grow: float
) -> None:
    xs = _spaced(xs)
    if not xs:
        return
    rows = split_rows(xs, _spaced(ys))
    inner = [r for r in rows[1:] if r["bounds_m"][2] < SIDE]  # has an eastern neighbour
    row = inner[pick % len(inner)]
    x0, y0, x1, y1 = row["bounds_m"]
    row["geometry"] = mbox(x0, y0, x1 + grow, y1)
    problems = validate_plan(plan_of(rows))
    (overlap,) = problems
    assert overlap.kind is ProblemKind.OVERLAP and row["code"] in overlap.codes
    assert_area(overlap, grow * (y1 - y0))
    assert_at(overlap, box(x1, y0, x1 + grow, y1))


def _jittered(bounds: tuple[float, ...], rng: np.random.Generator, size: float) -> Polygon:
    x0, y0, x1, y1 = bounds
    corners = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    return to_lonlat(Polygon(corners + rng.uniform(-size, size, corners.shape)))


@_SETTINGS
@given(xs=cuts, ys=cuts, seed=st.integers(0, 2**32 - 1))
def test_fix_removes_sub_tolerance_jitter(xs: list[float], ys: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = split_rows(_spaced(xs), _spaced(ys))
    for row in rows[1:]:
        row["geometry"] = _jittered(row["bounds_m"], rng, 0.2)
    plan = plan_of(rows)
    fixed, changes = fix_plan(plan, tolerance_m=0.5)
    assert validate_plan(fixed) == [], [p.line() for p in validate_plan(fixed)]
    if validate_plan(plan):
        assert changes
    assert all(c.kind is ChangeKind.SNAPPED for c in changes)
    assert all((c.area_m2 or 0) < 0.5 * 2 * SIDE for c in changes)


# --------------------------------------------------------------------------- the fixer


def test_fix_closes_a_sliver_gap() -> None:
    plan = community_plan({A: {"geometry": mbox(0, 0, 199.7, 200)}})
    assert only(validate_plan(plan), ProblemKind.GAP)
    fixed, changes = fix_plan(plan)
    assert validate_plan(fixed) == []
    assert [c.codes for c in changes] == [(A,)]
    assert changes[0].area_m2 == pytest.approx(0.3 * 200, rel=0.05)
    assert changes[0].line().startswith(f"snapped (吸附) {A}: ")


def test_fix_leaves_wide_problems() -> None:
    plan = community_plan(
        {A: {"geometry": mbox(0, 0, 210, 200)}, C: {"geometry": mbox(0, 200, 199.8, 400)}}
    )
    fixed, changes = fix_plan(plan)
    problems = validate_plan(fixed)
    assert [(p.kind, p.codes) for p in problems] == [(ProblemKind.OVERLAP, (A, B))]
    assert_area(problems[0], 2000)
    assert [c.codes for c in changes] == [(C,)]


def test_fix_clips_children_to_parent() -> None:
    plan = community_plan({B: {"geometry": mbox(200, 0, 400.3, 200)}})
    assert only(validate_plan(plan), ProblemKind.OUTSIDE_PARENT)
    fixed, _ = fix_plan(plan)
    assert validate_plan(fixed) == []


def test_fix_repairs_invalid_geometry_and_reports_it() -> None:
    ring = [
        (0, 0),
        (200, 0),
        (200, 200),
        (100, 200),
        (100, 200.2),
        (100.1, 199.9),
        (0, 200),
        (0, 0),
    ]
    plan = community_plan({A: {"geometry": to_lonlat(Polygon(ring))}})
    assert only(validate_plan(plan), ProblemKind.INVALID_GEOMETRY)
    fixed, changes = fix_plan(plan)
    assert not only(validate_plan(fixed), ProblemKind.INVALID_GEOMETRY)
    assert ChangeKind.MADE_VALID in {c.kind for c in changes}


def test_fix_refuses_to_move_a_unit() -> None:
    import geopandas as gpd

    plan = community_plan({A: {"geometry": mbox(0, 0, 200.3, 200)}})
    units = gpd.GeoDataFrame(
        {"unit_id": ["u1", "u2"], "households": [12, 8], "grid_code": [A, B]},
        geometry=[mbox(200.05, 50, 200.25, 50.2), mbox(200.05, 150, 200.25, 150.2)],
        crs=4490,
    )
    plan = type(plan)(plan.name, plan.levels, plan.grids, units=units)
    fixed, changes = fix_plan(plan)
    refused = [c for c in changes if c.kind is ChangeKind.REFUSED]
    assert refused and refused[0].codes == (A, B)
    assert "households" in refused[0].detail
    assert only(validate_plan(fixed), ProblemKind.OVERLAP)  # left for the planner
    for unit, code in zip(units.geometry, [A, B], strict=True):
        grid = fixed.grids.loc[fixed.grids["code"] == code].geometry.iloc[0]
        assert grid.covers(unit.point_on_surface())


def test_fix_does_not_touch_a_valid_plan() -> None:
    plan = community_plan()
    fixed, changes = fix_plan(plan)
    assert changes == []
    assert fixed.grids.geometry.equals(plan.grids.geometry)


def test_change_to_dict() -> None:
    change = Change(ChangeKind.SNAPPED, (A,), 1.234, "gained 1.2 m², gave up 0.0 m²")
    assert change.to_dict()["area_m2"] == 1.234 and change.to_dict()["kind"] == "snapped"


def test_bad_tolerances_are_refused() -> None:
    with pytest.raises(ValueError, match="tolerance_m"):
        fix_plan(community_plan(), tolerance_m=0)
    with pytest.raises(ValueError, match="tolerance_m2"):
        validate_plan(community_plan(), tolerance_m2=-1)


# --------------------------------------------------------------------------- scale


@pytest.mark.slow
def test_two_thousand_grids() -> None:
    rows = []
    for k in range(50):  # 50 communities of 40 grids in a 10 × 5 block
        origin = ((k % 10) * SIDE, (k // 10) * SIDE)
        code = f"110108{k + 1:03d}"
        rows += split_rows(
            [50, 100, 150, 200, 250, 300, 350], [80, 160, 240, 320], code=code, origin=origin
        )
    # one sliver gap somewhere in the middle
    x0, y0, x1, y1 = rows[100]["bounds_m"]
    rows[100]["geometry"] = mbox(x0, y0, x1 - 0.2, y1)
    plan = plan_of(rows)
    assert len(plan.grids) == 2050
    problems = validate_plan(plan)
    assert [p.kind for p in problems] == [ProblemKind.GAP]
    fixed, _ = fix_plan(plan)
    assert validate_plan(fixed) == []
