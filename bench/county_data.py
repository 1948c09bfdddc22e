"""Synthetic city- and province-size grid systems for ``bench_county.py``, made fast with numpy.

A province is a block of counties (县), each a block of lattice cells split into townships
(乡镇 / 街道: the jurisdictions, one plan each), each township into communities (社区) of a few
cells, each cell one finest grid (网格). Irregular but an exact coverage:

* lattice nodes are jittered, so no two cells have the same shape;
* every cell edge is a wiggly polyline of ``edge_points`` interior vertices (a low bump plus
  noise, monotone along the edge so it never crosses itself), generated **once** and used by
  both cells it separates, so neighbours share their boundary vertex for vertex;
* townships are the cells nearest to random seeds inside their county (irregular outlines),
  communities the cells nearest to seeds inside their township; both are exact coverage
  unions of their cells, so the three levels nest exactly.

Codes follow the house scheme: 6-digit county, +3 township, +3 community, +3 grid.
The generated table is cached as GeoParquet (``cache_dir``), never in git.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

__all__ = ["LAYOUTS", "Layout", "cached_table", "make_table", "plans_of"]

CACHE = Path("/tmp/geogrid-bench-county")


@dataclasses.dataclass(frozen=True)
class Layout:
    """How big a synthetic system is.

    Attributes
    ----------
    counties_x, counties_y
        Counties side by side and one above another.
    cells
        Cells (finest grids) along a county's side.
    townships
        Townships (jurisdictions) per county.
    per_community
        Cells per community, on average.
    edge_points
        Interior vertices of every cell edge.
    cell_deg
        Cell size in degrees of latitude.
    lon0, lat0
        South-west corner.
    """

    counties_x: int
    counties_y: int
    cells: int
    townships: int
    per_community: int = 4
    edge_points: int = 40
    cell_deg: float = 0.0125
    lon0: float = 112.0
    lat0: float = 33.0

    @property
    def grids(self) -> int:
        """Finest grids."""
        return self.counties_x * self.counties_y * self.cells**2

    @property
    def jurisdictions(self) -> int:
        """Townships in the whole system."""
        return self.counties_x * self.counties_y * self.townships


LAYOUTS: dict[str, Layout] = {
    # a city: 4 districts of 900 grids, 3 streets each (urban cells of ~500 m)
    "city": Layout(2, 2, 30, 3, cell_deg=0.005, lon0=113.0, lat0=27.8),
    "10k": Layout(3, 3, 32, 10),
    "30k": Layout(6, 5, 32, 10),
    "province": Layout(10, 10, 32, 10),
    # small sizes for --small
    "city-small": Layout(2, 2, 12, 3, cell_deg=0.005, lon0=113.0, lat0=27.8),
    "province-small": Layout(4, 4, 16, 5),
}


def cached_table(name: str, cache_dir: Path = CACHE) -> gpd.GeoDataFrame:
    """The grids of layout ``name``, generated once and then read from ``cache_dir``."""
    path = cache_dir / f"{name}.parquet"
    if path.exists():
        return gpd.read_parquet(path)
    table = make_table(LAYOUTS[name], seed=sum(map(ord, name)))
    cache_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path)
    return table


def make_table(layout: Layout, seed: int = 0) -> gpd.GeoDataFrame:
    """Every grid of every level: ``jurisdiction``, ``code``, ``name``, ``level``,
    ``parent_code`` and a (Multi)Polygon in CGCS2000 lon/lat."""
    rng = np.random.default_rng(seed)
    nx, ny = layout.counties_x * layout.cells, layout.counties_y * layout.cells
    start = time.perf_counter()
    cells = _cells(layout, nx, ny, rng)
    centre = shapely.get_coordinates(shapely.centroid(cells))
    county = (np.arange(nx * ny) % nx) // layout.cells + layout.counties_x * (
        (np.arange(nx * ny) // nx) // layout.cells
    )
    township = _nearest_seed(centre, county, layout.townships, rng)
    per_town = np.bincount(township)
    community = _nearest_seed(
        centre, township, np.maximum(per_town // layout.per_community, 1), rng
    )
    frames = [
        _finest(cells, layout, county, township, community),
        _unions(cells, community, township, county, layout, level=2),
        _unions(cells, township, township, county, layout, level=1),
    ]
    table = pd.concat(frames, ignore_index=True)
    out = gpd.GeoDataFrame(table, geometry="geometry", crs=4490)
    out = out.sort_values(["jurisdiction", "level", "code"], kind="stable")
    print(
        f"  generated {layout.grids:,} grids in {layout.jurisdictions} jurisdictions, "
        f"{int(shapely.get_num_coordinates(out.geometry.array).sum()):,} vertices "
        f"in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    return out.reset_index(drop=True)


def _cells(layout: Layout, nx: int, ny: int, rng: np.random.Generator) -> np.ndarray:
    """The lattice cells with jittered nodes and shared wiggly edges, row by row from south."""
    dy = layout.cell_deg
    dx = dy / np.cos(np.radians(layout.lat0 + ny * dy / 2))
    gx, gy = np.meshgrid(np.arange(nx + 1, dtype=float), np.arange(ny + 1, dtype=float))
    jitter = rng.uniform(-0.22, 0.22, (2, ny + 1, nx + 1))
    jitter[0][:, [0, -1]] = 0.0  # the outer frame stays straight
    jitter[1][[0, -1], :] = 0.0
    nodes = np.stack([gx + jitter[0], gy + jitter[1]], axis=-1)  # (ny+1, nx+1, 2), cell units
    k = layout.edge_points
    horizontal = _edges(nodes[:, :-1], nodes[:, 1:], k, rng)  # (ny+1, nx, k+2, 2)
    vertical = _edges(nodes[:-1, :], nodes[1:, :], k, rng)  # (ny, nx+1, k+2, 2)
    bottom = horizontal[:-1, :, :-1]
    right = vertical[:, 1:, :-1]
    top = horizontal[1:, :, ::-1][:, :, :-1]
    left = vertical[:, :-1, ::-1][:, :, :-1]
    ring = np.concatenate([bottom, right, top, left, bottom[:, :, :1]], axis=2)
    ring = ring.reshape(nx * ny, 4 * (k + 1) + 1, 2)
    ring[..., 0] = layout.lon0 + ring[..., 0] * dx
    ring[..., 1] = layout.lat0 + ring[..., 1] * dy
    return shapely.polygons(ring)


def _edges(a: np.ndarray, b: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A polyline of ``k`` interior vertices from each node ``a`` to node ``b``."""
    t = np.linspace(0.0, 1.0, k + 2)
    line = a[..., None, :] + (b - a)[..., None, :] * t[:, None]
    direction = b - a
    normal = np.stack([-direction[..., 1], direction[..., 0]], axis=-1)
    bump = rng.uniform(-0.08, 0.08, a.shape[:-1])[..., None] * np.sin(np.pi * t)
    noise = rng.normal(0.0, 0.15 / (k + 1), (*a.shape[:-1], k + 2))
    noise[..., [0, -1]] = 0.0
    edge = _outer(a, b)  # the outer frame of the whole system stays straight
    offset = np.where(edge[..., None], 0.0, bump + noise)
    return line + offset[..., None] * normal[..., None, :]


def _outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    nx, ny = a[..., 0].max(), a[..., 1].max()
    same_x = (a[..., 0] == b[..., 0]) & ((a[..., 0] == 0) | (a[..., 0] >= nx) | (b[..., 0] >= nx))
    same_y = (a[..., 1] == b[..., 1]) & ((a[..., 1] == 0) | (a[..., 1] >= ny) | (b[..., 1] >= ny))
    return same_x | same_y


def _nearest_seed(
    centre: np.ndarray, group: np.ndarray, per_group: int | np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Split every group of cells among seeds drawn from its own cells (global numbering)."""
    out = np.empty(group.size, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    counts = np.broadcast_to(np.asarray(per_group), (group.max() + 1,))
    offset = 0
    for g, members in enumerate(np.split(order, bounds)):
        k = int(min(counts[g], members.size))
        seeds = centre[rng.choice(members, k, replace=False)]
        _, nearest = cKDTree(seeds).query(centre[members])
        out[members] = offset + np.asarray(nearest)
        offset += k
    _, dense = np.unique(out, return_inverse=True)  # drop seeds that won no cell
    return dense


def _county_code(county: np.ndarray) -> np.ndarray:
    return np.char.add("41", np.char.zfill((county + 101).astype(str), 4))


def _finest(
    cells: np.ndarray,
    layout: Layout,
    county: np.ndarray,
    township: np.ndarray,
    community: np.ndarray,
) -> pd.DataFrame:
    town_code = _town_codes(township, county, layout)
    comm_code = _child_codes(community, township, town_code)
    code = _child_codes(np.arange(cells.size), community, comm_code)
    return pd.DataFrame(
        {
            "jurisdiction": town_code,
            "code": code,
            "name": np.char.add("网格", np.char.mod("%d", np.arange(cells.size) + 1)),
            "level": 3,
            "parent_code": comm_code,
            "geometry": cells,
        }
    )


def _town_codes(township: np.ndarray, county: np.ndarray, layout: Layout) -> np.ndarray:
    town_county = np.zeros(township.max() + 1, dtype=np.int64)
    town_county[township] = county
    rank = _rank_within(np.arange(town_county.size), town_county)
    codes = np.char.add(_county_code(town_county), np.char.zfill((rank + 100).astype(str), 3))
    return codes[township]


def _child_codes(child: np.ndarray, parent: np.ndarray, parent_code: np.ndarray) -> np.ndarray:
    """Code of each row's ``child`` = its parent's code + a 3-digit sequence within it."""
    n = child.max() + 1
    parent_of = np.zeros(n, dtype=np.int64)
    parent_of[child] = parent
    code_of = np.empty(n, dtype=parent_code.dtype)
    code_of[child] = parent_code
    rank = _rank_within(np.arange(n), parent_of) + 1
    if rank.max() > 999:
        raise ValueError("more than 999 children under one parent")
    codes = np.char.add(code_of.astype(str), np.char.zfill(rank.astype(str), 3))
    return codes[child]


def _rank_within(items: np.ndarray, group: np.ndarray) -> np.ndarray:
    order = np.lexsort((items, group))
    first = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    rank = np.empty(items.size, dtype=np.int64)
    rank[order] = np.arange(items.size) - np.repeat(first, np.diff(np.r_[first, items.size]))
    return rank


def _unions(
    cells: np.ndarray,
    member: np.ndarray,
    township: np.ndarray,
    county: np.ndarray,
    layout: Layout,
    level: int,
) -> pd.DataFrame:
    """Level 1 (township) or 2 (community) grids: exact unions of their cells."""
    town_code = _town_codes(township, county, layout)
    order = np.argsort(member, kind="stable")
    bounds = np.flatnonzero(np.diff(member[order])) + 1
    groups = np.split(order, bounds)
    geoms = np.array([shapely.coverage_union_all(cells[g]) for g in groups], dtype=object)
    first = np.array([g[0] for g in groups])
    if level == 1:
        code = town_code[first]
        parent = np.full(first.size, None, dtype=object)
        name = np.char.add(code.astype(str), "镇")
    else:
        code = _child_codes(member, township, town_code)[first]
        parent = town_code[first]
        name = np.char.add("社区", np.char.mod("%d", np.arange(first.size) + 1))
    return pd.DataFrame(
        {
            "jurisdiction": town_code[first],
            "code": code,
            "name": name,
            "level": level,
            "parent_code": parent,
            "geometry": geoms,
        }
    )


def plans_of(table: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The table split by jurisdiction (each a plan's grids, level 1 first)."""
    return {
        str(j): part.drop(columns="jurisdiction").reset_index(drop=True)
        for j, part in table.groupby("jurisdiction", sort=True)
    }
