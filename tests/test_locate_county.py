"""The county index and nested levels answered from the finest: the same answers as brute force.

Three townships of a lattice of cells (level 1 = township, 2 = community of 2 × 2 cells,
3 = cell), one plan each, their cell edges wiggled and shared exactly; a :class:`CountyIndex`
over them must answer every level exactly as one :class:`GridIndex` over all their grids (which
tests the boundary rule level by level), at random points, at every vertex (shared edges
between jurisdictions included), outside and at non-finite coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geogrid.locate import CountyIndex, GridIndex

X0, Y0, CELL = 113.0, 28.0, 0.004


def _cells(nx: int, ny: int, seed: int) -> np.ndarray:
    """Lattice cells whose nodes are jittered, so edges are shared but not axis-parallel."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx + 1.0), np.arange(ny + 1.0))
    jitter = rng.uniform(-0.2, 0.2, (2, ny + 1, nx + 1))
    jitter[0][:, [0, -1]] = 0
    jitter[1][[0, -1], :] = 0
    nodes = np.stack([X0 + (gx + jitter[0]) * CELL, Y0 + (gy + jitter[1]) * CELL], axis=-1)
    rings = np.stack(
        [nodes[:-1, :-1], nodes[:-1, 1:], nodes[1:, 1:], nodes[1:, :-1], nodes[:-1, :-1]],
        axis=2,
    )
    return shapely.polygons(rings.reshape(nx * ny, 5, 2)).reshape(ny, nx)


def _county(seed: int = 1) -> dict[str, tuple[list[str], list[int], list, list]]:
    """Three townships side by side, 4 × 4 cells each, in 2 × 2-cell communities."""
    cells = _cells(12, 4, seed)
    plans = {}
    for t in range(3):
        town = f"4103261{t:02d}"
        block = cells[:, 4 * t : 4 * t + 4]
        codes, levels, geoms, parents = (
            [town],
            [1],
            [shapely.coverage_union_all(block.ravel())],
            [None],
        )
        for c, (r, q) in enumerate(((0, 0), (0, 2), (2, 0), (2, 2))):
            comm = f"{town}{c + 1:03d}"
            part = block[r : r + 2, q : q + 2].ravel()
            codes.append(comm), levels.append(2), parents.append(town)
            geoms.append(shapely.coverage_union_all(part))
            for k, cell in enumerate(part):
                codes.append(f"{comm}{k + 1:03d}"), levels.append(3), parents.append(comm)
                geoms.append(cell)
        plans[town] = (codes, levels, geoms, parents)
    return plans


def _probe(geoms: list, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    w, h = maxx - minx, maxy - miny
    x = rng.uniform(minx - 0.2 * w, maxx + 0.2 * w, 3000)
    y = rng.uniform(miny - 0.2 * h, maxy + 0.2 * h, 3000)
    vertices = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    return np.r_[x, vertices[:, 0], np.nan, X0], np.r_[y, vertices[:, 1], Y0, np.inf]


@pytest.mark.parametrize("seed", [1, 2])
def test_county_index_answers_like_one_index_over_every_grid(seed: int) -> None:
    plans = _county(seed)
    parts = {
        town: GridIndex(codes, levels, geoms, parents=parents, lazy_nearest=True)
        for town, (codes, levels, geoms, parents) in plans.items()
    }
    assert all(set(part._up) == {0, 1} for part in parts.values())  # nested: one raster each
    county = CountyIndex(parts)
    every = [[v for p in plans.values() for v in p[i]] for i in range(3)]
    whole = GridIndex(*every)  # no parents: every level rastered and tested on its own
    x, y = _probe(every[2], seed)
    got, want = county.locate(x, y), whole.locate(x, y)
    for level in (1, 2, 3):
        assert got.level_codes(level).tolist() == want.level_codes(level).tolist()
    assert got.status.tolist() == want.status.tolist()
    assert got.nearest_codes().tolist() == want.nearest_codes().tolist()
    np.testing.assert_allclose(got.distance_m, want.distance_m, atol=1e-6)
    inside = got.status == "inside"
    owner = np.array(county.jurisdictions)[got.part[inside]]
    assert [c[:9] for c in got.grid_codes()[inside]] == owner.tolist()


def test_a_level_not_made_of_its_children_keeps_its_own_raster() -> None:
    codes, levels, geoms, parents = _county()["410326100"]
    hole = shapely.box(X0 + 0.5 * CELL, Y0 + 0.5 * CELL, X0 + 1.5 * CELL, Y0 + 1.5 * CELL)
    geoms = list(geoms)
    geoms[0] = shapely.union(geoms[0], shapely.box(X0 - CELL, Y0, X0, Y0 + CELL))  # sticks out
    keep = [i for i, g in enumerate(geoms) if levels[i] < 3 or not shapely.intersects(g, hole)]
    args = ([codes[i] for i in keep], [levels[i] for i in keep], [geoms[i] for i in keep])
    index = GridIndex(*args, parents=[parents[i] for i in keep])
    assert 0 not in index._up  # the township is more than its communities
    x, y = _probe(args[2], 5)
    expected = index.locate_exact(x, y)
    assert (index.locate(x, y).grid == expected).all()
