"""The county's flat lookup, worker-built indexes and the bulk plan reader give the same answers.

* :class:`~geogrid.locate.CountyIndex` over nested plans answers every point from one flat pass
  over all jurisdictions' finest levels; a property test checks it against asking each
  jurisdiction's own :class:`~geogrid.locate.GridIndex` (the per-jurisdiction path), over
  random lattices split into random jurisdictions, with points on shared edges and vertices.
* Replacing one jurisdiction (``previous=``) reassembles one block and answers as a fresh index.
* :class:`~geogrid.locate.build.IndexBuilder` (worker processes) builds the same index as a
  build in process.
* :meth:`PlanStore.plans_in_force` (one query per table) reads the same plans as
  :meth:`PlanStore.get`, and :meth:`PlanStore.in_force_digest` changes with what is in force.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geogrid.locate import CountyIndex, GridIndex
from geogrid.locate.build import IndexBuilder
from geogrid.locate.flat import BLOCK_PARTS
from geogrid.store import PlanStore, open_store
from geogrid.testing import assert_plans_equal
from tests.test_county import point, publish, township
from tests.test_locate_county import _cells

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _county(seed: int, columns: int, towns: int) -> dict[str, tuple[list, list, list, list]]:
    """``towns`` jurisdictions of random column strips of a jittered lattice, 3 levels each."""
    rng = np.random.default_rng(seed)
    cells = _cells(columns, 4, seed)
    cuts = np.sort(rng.choice(np.arange(1, columns), towns - 1, replace=False))
    plans = {}
    for t, (a, b) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, columns], strict=True)):
        town = f"4103{t + 10:02d}100"
        block = cells[:, a:b]
        codes, levels, geoms, parents = [town], [1], [shapely.coverage_union_all(block)], [None]
        for c, rows in enumerate(((0, 2), (2, 4))):  # two communities: south and north half
            comm = f"{town}{c + 1:03d}"
            part = block[rows[0] : rows[1]].ravel()
            codes.append(comm), levels.append(2), parents.append(town)
            geoms.append(shapely.coverage_union_all(part))
            for k in rng.permutation(part.size):  # codes in random order of the cells
                codes.append(f"{comm}{k + 1:03d}"), levels.append(3), parents.append(comm)
                geoms.append(part[k])
        plans[town] = (codes, levels, geoms, parents)
    return plans


def _indexes(plans: dict) -> dict[str, GridIndex]:
    return {
        town: GridIndex(codes, levels, geoms, parents=parents, lazy_nearest=True)
        for town, (codes, levels, geoms, parents) in plans.items()
    }


def _points(plans: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    geoms = [g for p in plans.values() for g in p[2]]
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    x = rng.uniform(minx - 0.001, maxx + 0.001, 2000)
    y = rng.uniform(miny - 0.001, maxy + 0.001, 2000)
    vertices = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    return np.r_[x, vertices[:, 0], np.nan], np.r_[y, vertices[:, 1], 28.0]


def _per_part(county: CountyIndex) -> CountyIndex:
    """The same county answering the per-jurisdiction way (no flat lookup)."""
    plain = copy.copy(county)
    plain._flat = None
    return plain


def _same(got, want) -> None:
    for name in ("grid", "status_code", "nearest", "finest", "part"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_allclose(got.distance_m, want.distance_m, atol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 10_000), columns=st.integers(4, 14), towns=st.integers(2, 4))
def test_the_flat_lookup_answers_as_each_jurisdiction_does(
    seed: int, columns: int, towns: int
) -> None:
    plans = _county(seed, columns, min(towns, columns))
    county = CountyIndex(_indexes(plans))
    assert county._flat is not None  # nested plans of the same levels: the flat path
    x, y = _points(plans, seed)
    _same(county.locate(x, y), _per_part(county).locate(x, y))
    # each point inside is answered by the jurisdiction whose own index says so
    result = county.locate(x, y, nearest=False)
    for number in range(len(county.jurisdictions)):
        mine = result.part == number
        own = county.parts[number].locate(x[mine], y[mine], nearest=False)
        assert result.grid_codes()[mine].tolist() == own.grid_codes().tolist()


def test_many_blocks_and_one_jurisdiction_replaced() -> None:
    """Over more jurisdictions than a block holds; a replaced one reassembles its block only."""
    plans = {}
    for k in range(BLOCK_PARTS + 6):  # one-cell townships in a row, two blocks
        cell = _cells(1, 1, k)[0, 0]
        cell = shapely.transform(cell, lambda xy, k=k: xy + np.array([k * 0.004, 0.0]))
        town = f"41{k + 100:04d}100"
        plans[town] = (
            [town, f"{town}001", f"{town}001001"],
            [1, 2, 3],
            [cell, cell, cell],
            [None, town, f"{town}001"],
        )
    parts = _indexes(plans)
    county = CountyIndex(parts)
    assert county._flat is not None and len(county._flat.blocks) == 2
    x, y = _points(plans, 3)
    _same(county.locate(x, y), _per_part(county).locate(x, y))
    changed = sorted(plans)[-1]
    codes, levels, geoms, parents = plans[changed]
    renamed = [c.replace(changed, changed[:-3] + "200") for c in codes]
    parents = [None, renamed[0], renamed[1]]
    replaced = parts | {changed: GridIndex(renamed, levels, geoms, parents=parents)}
    after = CountyIndex(replaced, previous=county)
    assert after._flat is not None
    assert after._flat.blocks[0] is county._flat.blocks[0]  # the untouched block, taken over
    assert after._flat.blocks[1] is not county._flat.blocks[1]
    _same(after.locate(x, y), CountyIndex(replaced).locate(x, y))


def test_worker_processes_build_the_same_index() -> None:
    plans = _county(7, 9, 3)
    here = _indexes(plans)
    with IndexBuilder(workers=1, lazy_nearest=True) as builder:
        there = dict(zip(plans, builder.build_many(plans.values()), strict=True))
    x, y = _points(plans, 7)
    for town in plans:
        assert there[town]._up.keys() == here[town]._up.keys()
        _same(there[town].locate(x, y), here[town].locate(x, y))
    _same(CountyIndex(there).locate(x, y), CountyIndex(here).locate(x, y))


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request, tmp_path):
    if request.param == "geopackage":
        with open_store(f"sqlite:///{tmp_path}/county.gpkg") as opened:
            yield opened
        return
    from tests._pg import scratch_database, url_of

    with scratch_database() as dsn, open_store(url_of(dsn)) as opened:
        yield opened


def test_plans_in_force_are_read_in_one_go_as_one_by_one(store: PlanStore) -> None:
    assert list(store.plans_in_force()) == []
    empty = store.in_force_digest()
    publish(store, township("410326100", 0))
    publish(store, township("410326101", 4))
    first = store.in_force_digest()
    assert first != empty
    assert store.in_force_digest() == first  # nothing changed: the same digest
    publish(store, township("410326101", 4, split=2))  # a new version of one jurisdiction
    second = store.in_force_digest()
    assert second not in (empty, first)
    found = list(store.plans_in_force())
    infos = store.in_force()
    assert sorted(i.jurisdiction for i, _ in found) == [i.jurisdiction for i in infos]
    for info, plan in found:
        assert (info.plan, info.version) in {(i.plan, i.version) for i in infos}
        one = store.get(info.plan, info.version)
        assert_plans_equal(plan, one, tolerance=0.0)
        assert plan.version == one.version and plan.grids.index.equals(one.grids.index)


@pytest.mark.parametrize("with_url", [False, True], ids=["read-here", "read-in-worker"])
def test_the_service_indexes_in_workers_and_replaces_one_jurisdiction(
    store: PlanStore, monkeypatch: pytest.MonkeyPatch, with_url: bool
) -> None:
    """Every plan above the in-process size goes to the workers (here: every plan).

    Given the store's URL, the workers also read the new version of a re-indexed one.
    """
    import api.plans
    from api.plans import PlanSource

    monkeypatch.setattr(api.plans, "_INLINE_VERTICES", 0)
    loads = []
    real_load = IndexBuilder.load

    def load(self, read, *args):  # the real load, counted
        loads.append(args[1:])
        return real_load(self, read, *args)

    monkeypatch.setattr(IndexBuilder, "load", load)
    west, east = "410326100", "410326101"
    publish(store, township(west, 0))
    publish(store, township(east, 4))
    url = store._engine.url.render_as_string(hide_password=False) if with_url else None
    source = PlanSource(store, check_seconds=0, url=url)
    before = source.get()  # a cold start: both read in one go, indexed in the workers
    x, y = np.array([point(0.5)[0], point(4.5)[0]]), np.array([point(0.5)[1], point(4.5)[1]])
    assert before.index.locate(x, y).grid_codes().tolist() == [f"{west}001", f"{east}001"]
    publish(store, township(east, 4, split=2))
    after = source.get()  # the check: east re-indexed in a worker, west kept
    assert after.parts[west] is before.parts[west]
    assert after.parts[east].version == 2
    assert after.index.locate(x, y).grid_codes().tolist() == [f"{west}001", f"{east}001"]
    assert after.grids[f"{east}008"]["code"] == f"{east}008" and f"{east}005" in after.grids
    assert source.get() is after  # nothing changed since: the same county
    assert loads == ([(after.parts[east].name, 2)] if with_url else [])
    assert_plans_equal(after.parts[east].plan, store.get(after.parts[east].name, 2), tolerance=0.0)
    fresh = CountyIndex({j: p.index for j, p in after.parts.items()})
    _same(after.index.locate(x, y), fresh.locate(x, y))
