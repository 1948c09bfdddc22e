"""Incident statistics grouped by PostgreSQL equal those grouped in Python, on both stores.

Two townships of three levels (乡镇 → 村 → 网格), each its own jurisdiction, under a
registered county; a simulated year of a few thousand incidents (the same seed on both
stores gives the same rows) and a few reports outside every grid. On PostGIS the store's
one ``GROUP BY`` (``in_database=True``) must give exactly the figures of the Python grouping
(``in_database=False``) for every scope, level, subtree and period asked, and both the
figures of the GeoPackage store, which groups in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import geopandas as gpd
import pytest
from shapely.geometry import box

from geogrid.access import Caller, Role
from geogrid.errors import InvalidIncidentError
from geogrid.incidents import IncidentReport, Placement
from geogrid.incidents.simulate import simulate_year
from geogrid.plan import GridPlan
from geogrid.store import PlanStore, open_store
from tests.service import DX, DY, OX, OY

COUNTY = "410326"
WEST, EAST = "410326100", "410326101"
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)  # a week after the year: some cases overdue
ADMIN = Caller.local("县管理员")
INCIDENTS = 3_000


def township(code: str, x0: int) -> GridPlan:
    """A township of 2 villages × 3 grids, 100 m columns from column ``x0``."""
    rows = [(code, f"{code}镇", 1, None, box(OX + x0 * DX, OY, OX + (x0 + 6) * DX, OY + 2 * DY))]
    for v in range(2):
        village = f"{code}{v + 1:03d}"
        vx = OX + (x0 + 3 * v) * DX
        rows.append((village, f"第{v + 1}村", 2, code, box(vx, OY, vx + 3 * DX, OY + 2 * DY)))
        for g in range(3):
            gx = vx + g * DX
            rows.append(
                (f"{village}{g + 1:03d}", f"第{g + 1}网格", 3, village,
                 box(gx, OY, gx + DX, OY + 2 * DY))
            )  # fmt: skip
    codes, names, levels, parents, geoms = zip(*rows, strict=True)
    grids = gpd.GeoDataFrame(
        {"code": codes, "name": names, "level": levels, "parent_code": parents},
        geometry=list(geoms),
        crs=4490,
    )
    return GridPlan(f"{code}镇网格", ["乡镇", "村", "网格"], grids)


def fill(store: PlanStore) -> None:
    """Two townships in force, a simulated year, and three reports outside every grid."""
    store.register_jurisdiction(COUNTY, "汝阳县", level_name="县")
    for code, x0 in ((WEST, 0), (EAST, 6)):
        store.register_jurisdiction(code, f"{code}镇", parent=COUNTY)
        plan = township(code, x0)
        info = store.save(plan, by="规划员")
        store.approve(plan.name, info.version, by="审核员")
        store.activate(plan.name, info.version, by="审核员", valid_from=START)
    simulate_year(store, incidents=INCIDENTS, closed_share=0.95, start=START, seed=3)
    incidents = store.incidents()
    for n in range(3):
        report = IncidentReport("other", f"区外上报{n}", OX - 0.01, OY, "cgcs2000")
        at = START + dt.timedelta(days=100 * n)
        incidents.create_incident(report, Placement(OX - 0.01, OY), caller=ADMIN, at=at)


@pytest.fixture(scope="module")
def gpkg_store(tmp_path_factory) -> Iterator[PlanStore]:
    folder = tmp_path_factory.mktemp("stats")
    with open_store(f"sqlite:///{folder}/county.gpkg") as store:
        fill(store)
        yield store


@pytest.fixture(scope="module")
def pg_store() -> Iterator[PlanStore]:
    from tests._pg import scratch_database, url_of

    with scratch_database() as dsn, open_store(url_of(dsn)) as store:
        fill(store)
        yield store


CALLERS = {
    "county, unbound": Caller("县督办", Role.SUPERVISOR),
    "county, bound": Caller("县督办", Role.SUPERVISOR, grid_code=COUNTY),
    "township": Caller("镇督办", Role.SUPERVISOR, grid_code=WEST),
    "village": Caller("村督办", Role.SUPERVISOR, grid_code=f"{EAST}002"),
    "grid": Caller("网格督办", Role.SUPERVISOR, grid_code=f"{WEST}001002"),
}
QUESTIONS = {
    "every level": {},
    "level 1": {"level": 1},
    "level 3": {"level": 3},
    "a township": {"grid_code": EAST},
    "a village": {"grid_code": f"{WEST}002"},
    "a grid, level 2": {"grid_code": f"{WEST}002001", "level": 2},
    "the county": {"grid_code": COUNTY},
    "spring": {
        "since": dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
        "until": dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
    },
    "nothing": {"grid_code": "999"},
}


@pytest.mark.postgis
@pytest.mark.parametrize("who", list(CALLERS))
def test_database_grouping_equals_python_grouping(pg_store, gpkg_store, who) -> None:
    caller = CALLERS[who]
    on_pg, on_gpkg = pg_store.incidents(), gpkg_store.incidents()
    assert pg_store.incidents()._stats_in_database(None, None)  # the default on PostgreSQL
    for question, asked in QUESTIONS.items():
        in_sql = on_pg.stats(caller=caller, now=NOW, in_database=True, **asked)
        in_python = on_pg.stats(caller=caller, now=NOW, in_database=False, **asked)
        default = on_pg.stats(caller=caller, now=NOW, **asked)
        embedded = on_gpkg.stats(caller=caller, now=NOW, **asked)
        assert in_sql == in_python == default == embedded, question
    everything = on_pg.stats(caller=CALLERS["county, unbound"], now=NOW, level=1)
    assert sum(s.total for s in everything) == INCIDENTS  # the three outside count nowhere
    figures = {s.grid_code: s for s in everything}
    assert figures[WEST].overdue + figures[EAST].overdue > 0
    assert all(s.median_time_to_close is not None for s in everything)


@pytest.mark.postgis
def test_scopes_leave_out_grids_above_the_callers_own(pg_store) -> None:
    figures = pg_store.incidents().stats(caller=CALLERS["village"], now=NOW, in_database=True)
    assert {s.level for s in figures} == {2, 3}
    assert {s.grid_code for s in figures if s.level == 2} == {f"{EAST}002"}
    assert all(s.grid_code.startswith(f"{EAST}002") for s in figures)


def test_the_embedded_store_groups_in_python(gpkg_store) -> None:
    incidents = gpkg_store.incidents()
    figures = incidents.stats(caller=ADMIN, now=NOW, level=1)
    assert [s.grid_code for s in figures] == [WEST, EAST]
    with pytest.raises(InvalidIncidentError, match="PostgreSQL only"):
        incidents.stats(caller=ADMIN, now=NOW, in_database=True)


@pytest.mark.postgis
def test_figures_regrouped_by_todays_grids_stay_in_python(pg_store) -> None:
    incidents = pg_store.incidents()

    def nowhere(lon, lat):
        return [() for _ in lon]

    assert incidents.stats(caller=ADMIN, now=NOW, relocate=nowhere) == []
    with pytest.raises(InvalidIncidentError, match="relocate"):
        incidents.stats(caller=ADMIN, now=NOW, relocate=nowhere, in_database=True)
