"""A county index patched where jurisdictions were replaced answers as one built from scratch.

:class:`~geogrid.locate.CountyIndex` with ``previous=`` patches the old county when few
jurisdictions changed: it merges the new codes into the county's sorted code table and
renumbers the rest, re-sorts only the router rows the changed jurisdictions touch, and
renumbers the flat lookup's lineage of the blocks it takes over. A property test redraws
random jurisdictions of random counties (renamed codes that sort elsewhere, other finest
grids, a row of cells dropped so the router's lists shrink) and checks every answer, the
numbering, the router's lists and the lineage against a county built from scratch, over
several replacements in a row. The service's county tables (grids, staff by code) are laid
over the previous county's, not copied; they read as every plan's table merged anew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.plans import _Layered, _merged
from geogrid.locate import CountyIndex, GridIndex
from geogrid.locate import county as county_module
from tests.test_locate_county import _cells
from tests.test_locate_flat import _per_part, _points, _same

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _town(
    code: str, prefix: str, block: np.ndarray, *, pairs: bool = False, west_east: bool = False
) -> tuple[list, list, list, list]:
    """One township's plan over ``block`` (rows × columns of cells), 3 nested levels.

    Grid codes start with ``prefix``; the two communities are the south and north halves
    (or west and east); finest grids are cells, or vertical pairs of cells.
    """
    rows, cols = block.shape
    halves = (
        [block[:, : max(cols // 2, 1)], block[:, max(cols // 2, 1) :]]
        if west_east
        else [block[: max(rows // 2, 1)], block[max(rows // 2, 1) :]]
    )
    codes, levels, parents = [code], [1], [None]
    geoms = [shapely.coverage_union_all(block.ravel())]
    for c, half in enumerate(h for h in halves if h.size):
        comm = f"{prefix}{c + 1:03d}"
        codes.append(comm), levels.append(2), parents.append(code)
        geoms.append(shapely.coverage_union_all(half.ravel()))
        if pairs and half.shape[0] > 1:
            finest = [
                shapely.coverage_union_all(half[r : r + 2, q])
                for r in range(0, half.shape[0], 2)
                for q in range(half.shape[1])
            ]
        else:
            finest = list(half.ravel())
        for k, geom in enumerate(finest):
            codes.append(f"{comm}{k + 1:03d}"), levels.append(3), parents.append(comm)
            geoms.append(geom)
    return codes, levels, geoms, parents


def _index(plan: tuple[list, list, list, list]) -> GridIndex:
    codes, levels, geoms, parents = plan
    return GridIndex(codes, levels, geoms, parents=parents, lazy_nearest=True)


def _row_of_towns(columns: int, seed: int) -> tuple[np.ndarray, list[str], dict]:
    """A lattice of ``columns`` × 4 cells; 8 townships of 2 columns from the west, indexed."""
    cells = _cells(columns, 4, seed)
    towns = [f"4103{t + 10:02d}100" for t in range(8)]
    parts = {
        town: _index(_town(town, town, cells[:, 2 * t : 2 * t + 2])) for t, town in enumerate(towns)
    }
    return cells, towns, parts


def _same_county(patched: CountyIndex, fresh: CountyIndex) -> None:
    """The same numbering, router lists and lineage as a county built from scratch."""
    assert patched.codes.tolist() == fresh.codes.tolist()
    for mine, theirs in zip(patched._global, fresh._global, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert patched._router is not None and fresh._router is not None
    router, other = patched._router, fresh._router
    assert router.cell == other.cell
    np.testing.assert_array_equal(router.top_part, other.top_part)
    assert shapely.equals(router.top_geoms, other.top_geoms).all()
    assert router.max_lat == other.max_lat
    # the same cells list the same parts (the patched router may span more cells)
    for r in (router, other):
        count = np.diff(r.ptr)
        cell = np.repeat(np.arange(count.size), count)
        r_x, r_y = cell % r.nx + r.ix0, cell // r.nx + r.iy0
        r.listed = sorted(zip(r_x.tolist(), r_y.tolist(), r.owner.tolist(), strict=True))
    assert router.listed == other.listed
    assert (patched._flat is None) == (fresh._flat is None)
    if patched._flat is not None and fresh._flat is not None:
        np.testing.assert_array_equal(patched._flat.lineage, fresh._flat.lineage)


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    towns=st.integers(8, 12),
    redraws=st.lists(
        st.tuples(
            st.integers(0, 11), st.integers(0, 99), st.booleans(), st.booleans(), st.booleans()
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_a_patched_county_is_the_county_built_anew(seed: int, towns: int, redraws: list) -> None:
    columns = towns * 2
    cells = _cells(columns, 4, seed)
    plans = {
        f"4103{t + 10:02d}100": _town(
            f"4103{t + 10:02d}100", f"4103{t + 10:02d}100", cells[:, 2 * t : 2 * t + 2]
        )
        for t in range(towns)
    }
    parts = {town: _index(plan) for town, plan in plans.items()}
    county = CountyIndex(parts)
    x, y = _points(plans, seed)
    for which, prefix, pairs, west_east, drop in redraws:
        t = which % towns
        town = f"4103{t + 10:02d}100"
        block = cells[: 3 if drop else 4, 2 * t : 2 * t + 2]
        # codes after a prefix no other township uses: they sort anywhere in the county
        plan = _town(town, f"4103{prefix:02d}5{t:02d}", block, pairs=pairs, west_east=west_east)
        parts = parts | {town: _index(plan)}
        patched = CountyIndex(parts, previous=county)
        fresh = CountyIndex(parts)
        _same_county(patched, fresh)
        _same(patched.locate(x, y), fresh.locate(x, y))
        _same(patched.locate(x, y), _per_part(patched).locate(x, y))
        county = patched


def test_many_changes_or_other_levels_build_the_county_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cells, towns, parts = _row_of_towns(16, 3)
    county = CountyIndex(parts)
    calls = []
    patch = CountyIndex._patch

    def counted(self, previous, changed):  # the real patch; which path each county takes
        calls.append(changed)
        patch(self, previous, changed)

    monkeypatch.setattr(CountyIndex, "_patch", counted)
    same = CountyIndex(parts, previous=county)  # nothing changed (a staff change)
    assert calls == [[]] and same.codes is county.codes and same._flat is county._flat
    one = parts | {towns[3]: _index(_town(towns[3], "410399555", cells[:, 6:8]))}
    CountyIndex(one, previous=county)
    assert calls[-1] == [3]
    two = one | {towns[5]: _index(_town(towns[5], "410398555", cells[:, 10:12]))}
    calls.clear()
    rebuilt = CountyIndex(two, previous=county)  # 2 of 8 changed: built anew
    assert calls == []
    # a township with two levels only: not the same levels, built anew
    town = towns[2]
    flat = ([town, f"{town}001"], [1, 3], [cells[:, 4:6].ravel()[0]] * 2, [None, town])
    other = CountyIndex(parts | {town: _index(flat)}, previous=county)
    assert calls == [] and other._flat is None
    x, y = _points({t: _town(t, t, cells[:, 2 * k : 2 * k + 2]) for k, t in enumerate(towns)}, 1)
    _same(rebuilt.locate(x, y), CountyIndex(two).locate(x, y))
    assert county_module._PATCH_SHARE == 8  # 1 of 8 patched, 2 of 8 not


def test_a_redraw_beyond_the_router_rebuilds_its_lists() -> None:
    """A township grown past the router's cells: its lists are made anew, answers the same."""
    cells, towns, parts = _row_of_towns(18, 5)
    county = CountyIndex(parts)
    grown = parts | {towns[7]: _index(_town(towns[7], "410377555", cells[:, 14:18]))}
    assert county._router is not None
    assert county._router.replaced(tuple(grown[t] for t in sorted(grown)), [7]) is None
    patched = CountyIndex(grown, previous=county)
    fresh = CountyIndex(grown)
    _same_county(patched, fresh)
    x, y = _points({"all": ([], [], list(cells.ravel()), [])}, 2)
    _same(patched.locate(x, y), fresh.locate(x, y))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 12), min_size=2, max_size=10),
    steps=st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 12), st.booleans()), min_size=1, max_size=12
    ),
    share=st.sampled_from([1, 8]),
)
def test_a_county_table_laid_over_the_previous_one_is_the_merged_table(
    sizes: list[int], steps: list[tuple[int, int, bool]], share: int
) -> None:
    """``LoadedCounty.grids`` after re-indexes: the previous table with the changed plans
    laid over it (no copy) reads exactly as every plan's table merged anew."""
    from types import SimpleNamespace

    from api.plans import _Layered, _merged

    def plan(n: int, size: int, version: int, same_codes: bool) -> SimpleNamespace:
        prefix = f"{n:02d}" + ("" if same_codes else f"v{version}")
        return SimpleNamespace(grids={f"{prefix}-{k}": (n, version, k) for k in range(size)})

    plans = tuple(plan(n, size, 0, True) for n, size in enumerate(sizes))
    table = _merged(plans, None, "grids")
    kept, _Layered._MAX_TOP = _Layered._MAX_TOP, share  # 1: layers kept up to the base's size
    try:
        _replace_and_compare(plans, table, steps, plan)
    finally:
        _Layered._MAX_TOP = kept


def _replace_and_compare(plans: tuple, table: Mapping, steps: list, plan: Callable) -> None:
    for version, (which, size, same_codes) in enumerate(steps, start=1):
        n = which % len(plans)
        previous = SimpleNamespace(plans=plans, grids=table)
        plans = (*plans[:n], plan(n, size, version, same_codes), *plans[n + 1 :])
        table = _merged(plans, previous, "grids")  # type: ignore[arg-type]
        want = _merged(plans, None, "grids")
        assert dict(table) == want and len(table) == len(want)
        assert sorted(table) == sorted(want) and sorted(table.items()) == sorted(want.items())
        for code in [*want, "00v99-0", "09-99"]:
            assert (code in table) == (code in want)
            assert table.get(code) == want.get(code)
        if isinstance(table, _Layered) and isinstance(previous.grids, dict):
            assert table.base is previous.grids  # laid over, not copied
