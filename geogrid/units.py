"""Atomic units: buildings and land cells that tessellate a parent area, and their adjacency.

A grid (网格) is made of whole units, so a partition of the units is a partition of the parent
area. :func:`build_units` turns a parent polygon (a community 社区 or village 村), optional
barrier lines (roads, rivers) and households (building polygons with counts, or points) into:

* **blocks** — the parent cut by the barriers (and by the outlines of keep-whole and locked
  areas);
* **cells** — each block subdivided per building: the Voronoi diagram of the buildings'
  representative points, clipped to the block; a block without buildings is one empty cell.
  Every building's footprint is then given whole to its own cell (no cell edge runs through a
  building), and the cells are cleaned into an exact coverage (shared edges vertex-matched),
  so grids built as :func:`shapely.coverage_union` of cells cover the parent with no gap or
  overlap;
* **units** — the cells, except that all cells inside one keep-whole polygon (an estate 小区,
  a courtyard 院落) or one locked grid merge into a single unit;
* **edges** — unit pairs sharing a boundary, with the shared length and the cost of cutting
  along it: low on a barrier (the edge separates two blocks), high inside a block.

Households outside the parent are kept in :attr:`Units.outside` and counted in
:attr:`Units.problems`, never dropped silently. All work is in a metric CRS
(:func:`geogrid.crs.metric_crs`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geogrid.crs import metric_crs
from geogrid.errors import CRSError, InvalidInputError
from geogrid.plan import UnitKind

__all__ = [
    "BARRIER_COST",
    "BLOCK_COST",
    "SLIVER_AREA",
    "Units",
    "build_units",
    "unit_weights",
    "units_from_polygons",
]

BARRIER_COST = 0.1
"""Cost per metre of cutting along a barrier (road, river, estate wall, block edge)."""
BLOCK_COST = 1.0
"""Cost per metre of cutting through a block (between buildings of the same block)."""

_MIN_SHARED = 1e-6  # metres: shorter shared boundaries are corner touches, not adjacency
SLIVER_AREA = 1.0
"""Empty cells smaller than this (m²) are merged into a neighbour when units are built."""
_CLEAN_ROUNDS = 6  # rounds of cleaning mismatched cells before cleaning them all
_HASH = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 1)  # odd multipliers


@dataclasses.dataclass
class Units:
    """Atomic units of one parent area, ready to partition.

    Attributes
    ----------
    table
        One row per unit, in a metric CRS: ``unit_id`` (str), ``name``, ``kind``
        (:class:`~geogrid.plan.UnitKind`), ``households`` (int), the extra count columns
        asked for, ``block`` (int), ``locked`` (the label of the locked grid holding the
        unit, or ``None``), ``sites`` (number of household sites merged into the unit) and
        the geometry (the unit's land, Polygon or MultiPolygon).
    edges
        One row per pair of adjacent units: ``a``, ``b`` (row positions, ``a < b``),
        ``length`` (shared boundary in metres), ``barrier`` (True when the shared boundary
        lies on a barrier) and ``cost`` (``length`` × :data:`BARRIER_COST` or
        :data:`BLOCK_COST`).
    parent
        The parent area in the metric CRS.
    crs
        The metric CRS of ``table`` and ``parent``.
    outside
        Household rows (as given) that lie outside the parent area.
    problems
        Messages about the input for the planner (households outside, empty input...).
    locked_labels
        Label of each locked grid in input order (its ``code`` when given).
    locked_grids
        Label → the attributes a locked grid was given and keeps in the plan: ``name``,
        ``kind`` (e.g. ``special`` 专属网格), ``subtype`` (``school``…), ``priority``; only
        those present.
    """

    table: gpd.GeoDataFrame
    edges: pd.DataFrame
    parent: BaseGeometry
    crs: CRS
    outside: gpd.GeoDataFrame
    problems: list[str] = dataclasses.field(default_factory=list)
    locked_labels: list[str] = dataclasses.field(default_factory=list)
    locked_grids: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    @functools.cached_property
    def measures(self) -> pd.DataFrame:
        """Area (m²), perimeter (m) and centroid ``x``, ``y`` of every unit (computed once)."""
        geoms = self.table.geometry.to_numpy()
        centroids = shapely.centroid(geoms)
        # a sliver unit cleaned away to nothing has no centroid: area 0, so x, y weigh nothing
        solid = ~(shapely.is_missing(centroids) | shapely.is_empty(centroids))
        x, y = np.zeros(len(geoms)), np.zeros(len(geoms))
        x[solid], y[solid] = shapely.get_x(centroids[solid]), shapely.get_y(centroids[solid])
        return pd.DataFrame(
            {
                "area": shapely.area(geoms),
                "perimeter": shapely.length(geoms),
                "x": x,
                "y": y,
            }
        )

    @property
    def households(self) -> int:
        """Households inside the parent (outside ones excluded)."""
        return int(self.table["households"].sum())

    def neighbours(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Adjacency in compressed sparse row form.

        Returns
        -------
        xadj, adjncy, edge
            Neighbours of unit ``i`` are ``adjncy[xadj[i]:xadj[i + 1]]``; ``edge`` gives the
            row of :attr:`edges` for each entry.
        """
        n = len(self.table)
        a = self.edges["a"].to_numpy(np.int64)
        b = self.edges["b"].to_numpy(np.int64)
        ids = np.arange(len(a))
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        eid = np.concatenate([ids, ids])
        order = np.lexsort((dst, src))
        counts = np.bincount(src, minlength=n)
        xadj = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return xadj, dst[order], eid[order]


def build_units(
    parent: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    *,
    barriers: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    keep_whole: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    locked: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    count_column: str = "households",
    extra_columns: Sequence[str] = (),
    crs: Any = None,
) -> Units:
    """Build the atomic units and their adjacency for one parent area.

    Parameters
    ----------
    parent
        The area to partition (Polygon or MultiPolygon, holes allowed): a shapely geometry
        in ``crs``, or a one-row GeoDataFrame / GeoSeries with a CRS.
    households
        Building polygons with a household count in ``count_column`` (estates and courtyards
        may be given as polygons too), or points — one per household, or with a count
        column. Points at the same place form one site.
    barriers
        Lines along which grids should be cut (roads, rivers, walls); optional.
    keep_whole
        Polygons whose contents must stay in one grid (estates 小区, courtyards 院落); their
        outlines also cut blocks. Optional columns ``name`` and ``kind``.
    locked
        Existing grids to keep as they are (专属网格, locked grids); each becomes one unit
        marked with its label (column ``code`` if present, else ``locked-N``).
    count_column
        Household count column of ``households``; when missing, one household per row.
    extra_columns
        Other count columns to sum per unit (workload: shops, key persons...).
    crs
        CRS of a bare shapely ``parent`` (default: the CRS of ``households``).

    Returns
    -------
    Units

    Raises
    ------
    InvalidInputError
        When the parent is empty or not polygonal; :class:`~geogrid.errors.CRSError` when
        the layers have no CRS.

    Examples
    --------
    >>> from shapely.geometry import box, Point
    >>> homes = gpd.GeoDataFrame({"households": [30, 50]},
    ...     geometry=[Point(10, 10), Point(90, 10)], crs=4547)
    >>> roads = gpd.GeoSeries([shapely.LineString([(50, -1), (50, 21)])], crs=4547)
    >>> units = build_units(box(0, 0, 100, 20), homes, barriers=roads, crs=4547)
    >>> len(units), units.households, bool(units.edges["barrier"].all())
    (2, 80, True)
    """
    parent_geom, source_crs = _parent_geometry(parent, households, crs)
    metric = _metric_crs_for(parent_geom, source_crs)
    parent_m = _to_crs(parent_geom, source_crs, metric)
    lines = [
        _lines(barriers, metric, parent_m),
        _outlines(keep_whole, metric, parent_m),
        _outlines(locked, metric, parent_m),
    ]
    blocks = _blocks(parent_m, np.concatenate(lines))
    sites, outside, problems = _sites(households, metric, parent_m, count_column, extra_columns)
    cells, cell_site, cell_block = _tessellate(blocks, sites, parent_m)
    group, group_info, labels = _groups(cells, cell_block, keep_whole, locked, metric)
    table = _unit_table(cells, cell_site, cell_block, group, group_info, sites, extra_columns)
    edges = _adjacency(cells, cell_block, group, len(table))
    units = Units(
        table=gpd.GeoDataFrame(table, geometry="geometry", crs=metric),
        edges=edges,
        parent=parent_m,
        crs=metric,
        outside=outside,
        problems=problems,
        locked_labels=labels,
        locked_grids=_locked_grids(locked, labels),
    )
    _ = units.measures  # part of preparing the units
    return units


# --------------------------------------------------------------------------- inputs


def _parent_geometry(
    parent: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame, households: gpd.GeoDataFrame, crs: Any
) -> tuple[BaseGeometry, CRS]:
    if isinstance(parent, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(parent) != 1:
            raise InvalidInputError(
                f"give one parent area (上级区域) at a time, got {len(parent)}; "
                "loop over the rows of the AREA layer"
            )
        if parent.crs is None:
            raise CRSError("the parent area has no CRS (坐标系缺失); set one with set_crs")
        geom, source = parent.geometry.iloc[0], CRS(parent.crs)
    else:
        given = crs if crs is not None else households.crs
        if given is None:
            raise CRSError("say the CRS of the parent area (坐标系): pass crs=...")
        geom, source = parent, CRS(given)
    if geom is None or geom.is_empty or shapely.get_dimensions(geom) != 2:
        raise InvalidInputError("the parent area (上级区域) must be a non-empty polygon")
    return shapely.make_valid(geom) if not geom.is_valid else geom, source


def _metric_crs_for(geom: BaseGeometry, source: CRS) -> CRS:
    if source.is_projected and source.axis_info[0].unit_name in ("metre", "meter"):
        return source
    return metric_crs(gpd.GeoSeries([geom], crs=source))


def _to_crs(geom: BaseGeometry, source: CRS, target: CRS) -> BaseGeometry:
    if source == target:
        return geom
    out: BaseGeometry = gpd.GeoSeries([geom], crs=source).to_crs(target).iloc[0]
    return out


def _frame_to(frame: gpd.GeoDataFrame | gpd.GeoSeries, metric: CRS, what: str) -> np.ndarray:
    if frame.crs is None:
        raise CRSError(f"the {what} layer has no CRS (坐标系缺失); set one with set_crs")
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    return np.asarray(series.to_crs(metric).array, dtype=object)


def _lines(
    frame: gpd.GeoDataFrame | gpd.GeoSeries | None, metric: CRS, parent: BaseGeometry
) -> np.ndarray:
    if frame is None or len(frame) == 0:
        return np.empty(0, dtype=object)
    geoms = _frame_to(frame, metric, "barrier")
    geoms = geoms[~shapely.is_missing(geoms)]
    polygonal = shapely.get_dimensions(geoms) == 2
    geoms = np.where(polygonal, shapely.boundary(geoms), geoms)
    clipped = shapely.get_parts(shapely.intersection(geoms, parent))
    return np.asarray(clipped[shapely.get_dimensions(clipped) == 1], dtype=object)


def _outlines(
    frame: gpd.GeoDataFrame | gpd.GeoSeries | None, metric: CRS, parent: BaseGeometry
) -> np.ndarray:
    if frame is None or len(frame) == 0:
        return np.empty(0, dtype=object)
    return _lines(frame, metric, parent)


def _blocks(parent: BaseGeometry, lines: np.ndarray) -> np.ndarray:
    """Faces of the parent cut by ``lines``; the parent's holes are left out."""
    rings = shapely.get_parts(shapely.boundary(parent))
    noded = shapely.union_all(np.concatenate([rings, lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    inside = shapely.contains_properly(parent, shapely.point_on_surface(faces))
    return np.asarray(faces[inside], dtype=object)


@dataclasses.dataclass
class _Sites:
    points: np.ndarray  # representative point per site (metric)
    households: np.ndarray  # int
    extra: dict[str, np.ndarray]
    name: list[str | None]
    kind: list[str]
    members: list[list[int]]  # input row positions
    footprints: np.ndarray  # building polygon per site (metric), None for point sites


def _sites(
    households: gpd.GeoDataFrame,
    metric: CRS,
    parent: BaseGeometry,
    count_column: str,
    extra_columns: Sequence[str],
) -> tuple[_Sites, gpd.GeoDataFrame, list[str]]:
    geoms = _frame_to(households, metric, "households")
    missing = [c for c in extra_columns if c not in households.columns]
    if missing:
        raise InvalidInputError(
            f"the households layer has no column(s) {', '.join(missing)}; "
            f"its columns: {', '.join(map(str, households.columns))}"
        )
    counts = _counts(households, count_column)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.empty(len(geoms), dtype=object)
    points[present] = shapely.point_on_surface(geoms[present])
    inside = present.copy()
    inside[present] = shapely.covers(parent, points[present])
    problems = []
    outside = households.iloc[np.flatnonzero(~inside)]
    if len(outside):
        problems.append(
            f"{int(counts[~inside].sum())} household(s) in {len(outside)} row(s) lie outside "
            "the parent area (区域外住户); they are not in any grid — check their "
            "coordinates or the boundary"
        )
    rows = np.flatnonzero(inside)
    xy = shapely.get_coordinates(points[rows])
    # points at the same place are one site (one building, or household points stacked)
    _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n = len(first)
    members: list[list[int]] = [[] for _ in range(n)]
    for row, site in zip(rows.tolist(), inverse.tolist(), strict=True):
        members[site].append(row)
    polygonal = shapely.get_dimensions(geoms) == 2
    names = households["name"].to_numpy(object) if "name" in households else None
    extra = {
        c: np.bincount(inverse, weights=_numbers(households[c]), minlength=n) for c in extra_columns
    }
    return (
        _Sites(
            points=points[rows[first]],
            footprints=_footprints(geoms[rows[first]], polygonal[rows[first]]),
            households=np.bincount(inverse, weights=counts[rows], minlength=n).astype(np.int64),
            extra={c: v.astype(np.int64) for c, v in extra.items()},
            name=[_name(names, m) for m in members],
            kind=[
                UnitKind.BUILDING.value if polygonal[m[0]] else UnitKind.CELL.value for m in members
            ],
            members=members,
        ),
        outside,
        problems,
    )


def _footprints(geoms: np.ndarray, polygonal: np.ndarray) -> np.ndarray:
    out = np.full(len(geoms), None, dtype=object)
    out[polygonal] = geoms[polygonal]
    return out


def _counts(households: gpd.GeoDataFrame, column: str) -> np.ndarray:
    if column not in households.columns:
        return np.ones(len(households), dtype=float)
    values = _numbers(households[column])
    if (values < 0).any():
        raise InvalidInputError(f"household counts (住户数) in {column!r} must not be negative")
    return values


def _numbers(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(float)


def _name(names: np.ndarray | None, members: list[int]) -> str | None:
    if names is None:
        return None
    found = [str(names[m]) for m in members if not pd.isna(names[m])]
    return "、".join(found[:3]) if found else None


# --------------------------------------------------------------------------- tessellation


def _tessellate(
    blocks: np.ndarray, sites: _Sites, parent: BaseGeometry
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells: per block, the Voronoi diagram of its sites clipped to the block.

    Returns the cells (Polygons, an exact coverage), the site of each cell (-1: empty land)
    and the block of each cell.
    """
    tree = shapely.STRtree(blocks)
    site_idx, block_idx = tree.query(sites.points, predicate="intersects")
    block_of = np.full(len(sites.points), -1, dtype=np.int64)
    block_of[site_idx[::-1]] = block_idx[::-1]  # first block for a point on a block edge
    if (block_of < 0).any():  # on the parent boundary but not in a face: nearest block
        lost = np.flatnonzero(block_of < 0)
        block_of[lost] = tree.query_nearest(sites.points[lost], all_matches=False)[1]
    cells, owners, cell_blocks = [], [], []
    order = np.argsort(block_of, kind="stable")
    starts = np.searchsorted(block_of[order], np.arange(len(blocks) + 1))
    multi_blocks, multi_groups = [], []
    for b in range(len(blocks)):
        group = order[starts[b] : starts[b + 1]]
        if len(group) <= 1:
            cells.append(blocks[b])
            owners.append(int(group[0]) if len(group) else -1)
            cell_blocks.append(b)
        else:
            multi_blocks.append(b)
            multi_groups.append(group)
    if multi_blocks:
        cells, owners, cell_blocks = _voronoi_cells(
            blocks, multi_blocks, multi_groups, sites.points, cells, owners, cell_blocks
        )
    raw = _whole_buildings(
        np.asarray(cells, dtype=object),
        np.asarray(owners),
        np.asarray(cell_blocks),
        sites.footprints,
        blocks,
    )
    geoms = _clean(raw, parent)
    parts = _split_multipart(geoms, np.asarray(owners), np.asarray(cell_blocks), sites.points)
    return _merge_slivers(*parts)


def _whole_buildings(
    cells: np.ndarray,
    owners: np.ndarray,
    cell_blocks: np.ndarray,
    footprints: np.ndarray,
    blocks: np.ndarray,
) -> np.ndarray:
    """Give every building's whole footprint (within its block) to the building's own cell.

    A Voronoi edge between two sites' points can cross a long or oddly shaped building; the
    part of the footprint beyond it moves from the neighbour cell to the building's cell, so
    no grid boundary ever runs through a building (楼栋不拆分).
    """
    cell_of_site = np.full(len(footprints), -1, dtype=np.int64)
    has_site = owners >= 0
    cell_of_site[owners[has_site]] = np.flatnonzero(has_site)
    sites = np.flatnonzero(~shapely.is_missing(footprints) & (cell_of_site >= 0))
    if len(sites) == 0:
        return cells
    own = cell_of_site[sites]
    prints = _disjoint(_clip(footprints[sites], blocks[cell_blocks[own]]))
    site_pos, other = shapely.STRtree(cells).query(prints, predicate="intersects")
    keep = (other != own[site_pos]) & (cell_blocks[other] == cell_blocks[own[site_pos]])
    site_pos, other = site_pos[keep], other[keep]
    if len(site_pos) == 0:
        return cells
    pieces = shapely.intersection(prints[site_pos], cells[other])
    real = shapely.area(pieces) > 1e-9
    site_pos, other, pieces = site_pos[real], other[real], pieces[real]
    out = cells.copy()
    moved = np.ones(len(pieces), dtype=bool)
    for c in np.unique(other).tolist():
        rest = _polygonal(shapely.difference(out[c], shapely.union_all(pieces[other == c])))
        if shapely.area(rest) > 1e-6:  # never take a cell's last land (overlapping buildings)
            out[c] = rest
        else:
            moved[other == c] = False
    gainers = np.where(moved, own[site_pos], -1)
    for c in np.unique(gainers[gainers >= 0]).tolist():
        out[c] = _polygonal(shapely.union_all(np.concatenate([[out[c]], pieces[gainers == c]])))
    return out


def _disjoint(prints: np.ndarray) -> np.ndarray:
    """Footprints made disjoint: where buildings overlap, the earlier one keeps the overlap."""
    first, second = shapely.STRtree(prints).query(prints, predicate="intersects")
    pairs = first > second  # (later, earlier)
    if not pairs.any():
        return prints
    out = prints.copy()
    later, earlier = first[pairs], second[pairs]
    for i in np.unique(later).tolist():
        out[i] = _polygonal(
            shapely.difference(prints[i], shapely.union_all(prints[earlier[later == i]]))
        )
    return out


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of a geometry (made valid), dropping lines and points an overlay left."""
    geom = shapely.make_valid(geom) if not geom.is_valid else geom
    if shapely.get_type_id(geom) in (3, 6):  # Polygon, MultiPolygon
        return geom
    parts = shapely.get_parts(geom)
    polygons = parts[shapely.get_dimensions(parts) == 2]
    return shapely.union_all(polygons) if len(polygons) else shapely.Polygon()


def _voronoi_cells(
    blocks: np.ndarray,
    multi_blocks: list[int],
    multi_groups: list[np.ndarray],
    points: np.ndarray,
    cells: list[Any],
    owners: list[int],
    cell_blocks: list[int],
) -> tuple[list[Any], list[int], list[int]]:
    """Voronoi cells of the sites of every block holding several, clipped to the block."""
    multipoints = np.array([shapely.multipoints(points[g]) for g in multi_groups])
    diagrams = shapely.voronoi_polygons(multipoints, extend_to=blocks[multi_blocks], ordered=True)
    parts, index = shapely.get_parts(diagrams, return_index=True)
    counts = np.bincount(index, minlength=len(multi_blocks))
    sizes = np.array([len(g) for g in multi_groups])
    block_of_part = np.asarray(multi_blocks)[index]
    clipped = _clip(parts, blocks[block_of_part])
    starts = np.concatenate([[0], np.cumsum(counts)])
    for j, (b, group) in enumerate(zip(multi_blocks, multi_groups, strict=True)):
        mine = clipped[starts[j] : starts[j + 1]]
        if counts[j] != sizes[j]:  # a degenerate diagram: match cells to sites by containment
            mine = _match_cells(mine, points[group], blocks[b])
        cells.extend(mine.tolist())
        owners.extend(group.tolist())
        cell_blocks.extend([b] * len(group))
    return cells, owners, cell_blocks


def _clip(geoms: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """``geoms[i] ∩ areas[i]``, skipping the overlay where the area already holds the geometry."""
    shapely.prepare(areas)
    inside = shapely.contains_properly(areas, geoms)
    out = geoms.copy()
    out[~inside] = shapely.intersection(geoms[~inside], areas[~inside])
    return out


def _match_cells(cells: np.ndarray, points: np.ndarray, block: BaseGeometry) -> np.ndarray:
    """The cell holding each point; the points no cell holds share the block's rest."""
    out = np.empty(len(points), dtype=object)
    used = np.zeros(len(cells), dtype=bool)
    for i, point in enumerate(points):
        hits = np.flatnonzero(shapely.intersects(cells, point) & ~used)
        if len(hits):
            out[i] = cells[hits[0]]
            used[hits[0]] = True
    rest = shapely.difference(block, shapely.union_all(out[~shapely.is_missing(out)]))
    for i in np.flatnonzero(shapely.is_missing(out)).tolist():
        out[i] = rest
        rest = shapely.Polygon()
    return out


def _clean(cells: np.ndarray, parent: BaseGeometry) -> np.ndarray:
    """Make cells an exact coverage (shared edges vertex-matched).

    Cells of one block come from one Voronoi diagram and already match; cells on either side
    of a block edge were clipped separately, so their vertices along the edge differ (and the
    building repair may leave a few more). Only those cells are cleaned: the mismatched ones
    with :func:`shapely.coverage_clean`, then — since cleaning a subset can shift a vertex it
    shares with an outside neighbour — the few still mismatched together with their
    neighbours, until every edge matches (about a quarter of the cells, a third of the time
    of cleaning all; all of them are cleaned if that does not settle in a few rounds).
    """
    out = cells.copy()
    tree = shapely.STRtree(cells)
    # a cell in several parts may be one whose parts touch along an edge (a building's
    # pieces moved back to it), which cleaning merges
    multipart = np.flatnonzero(shapely.get_num_geometries(out) > 1)
    group = np.union1d(_unmatched(out, parent), multipart)
    for _ in range(_CLEAN_ROUNDS):
        if len(group) == 0:
            return out
        out[group] = shapely.coverage_clean(out[group])
        # the cleaned cells with their neighbours (bounding boxes suffice); only the cleaned
        # ones are checked, since the others' outer edges have no partner in this subset
        near = np.union1d(group, tree.query(out[group])[1])
        bad = near[np.intersect1d(_unmatched(out[near], parent), np.searchsorted(near, group))]
        group = np.union1d(bad, tree.query(out[bad])[1]) if len(bad) else bad
    if len(group) == 0:
        return out
    return np.asarray(shapely.coverage_clean(cells), dtype=object)


def _segments(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ring segments of all cells as sorted ``(x0, y0, x1, y1)`` rows (lower end first).

    Returns the rows and the cell owning each; in an exact coverage a shared boundary is a run
    of identical rows, one from each side.
    """
    parts, part_cell = shapely.get_parts(cells, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    owner = part_cell[ring_part[ring_of[:-1][same]]]
    swap = (start[:, 0] > end[:, 0]) | ((start[:, 0] == end[:, 0]) & (start[:, 1] > end[:, 1]))
    keys = np.column_stack(
        [np.where(swap[:, None], end, start), np.where(swap[:, None], start, end)]
    )
    # identical rows must end up side by side: sorting one 64-bit hash of a row's bits is
    # five times faster than np.lexsort over four float columns (only a hash collision
    # falling between two identical rows could part them: odds about n² / 2⁶⁴)
    bits = np.ascontiguousarray(keys).view(np.uint64)
    mixed = bits * np.array(_HASH, dtype=np.uint64)
    order = np.argsort(np.bitwise_xor.reduce(mixed, axis=1), kind="stable")
    return keys[order], owner[order]


def _shared(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell pairs ``a``, ``b`` sharing a boundary segment, and the segment's length."""
    keys, owner = _segments(cells)
    dup = np.flatnonzero((keys[1:] == keys[:-1]).all(axis=1))
    length = np.hypot(keys[dup, 2] - keys[dup, 0], keys[dup, 3] - keys[dup, 1])
    return owner[dup], owner[dup + 1], length


def _unmatched(cells: np.ndarray, parent: BaseGeometry) -> np.ndarray:
    """Cells with a boundary segment that no other cell shares and that is not on the parent's edge."""
    keys, owner = _segments(cells)
    dup = (keys[1:] == keys[:-1]).all(axis=1)
    single = np.ones(len(keys), dtype=bool)
    single[1:] &= ~dup
    single[:-1] &= ~dup
    middle = shapely.points((keys[single, :2] + keys[single, 2:]) / 2)
    edge = shapely.boundary(parent)
    shapely.prepare(edge)
    loose = ~shapely.dwithin(edge, middle, 1e-6)
    return np.unique(owner[single][loose])


def _split_multipart(
    cells: np.ndarray, owners: np.ndarray, blocks: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explode cells into Polygons; detached parts become empty cells of the same block."""
    parts, index = shapely.get_parts(cells, return_index=True)
    keep = shapely.area(parts) > 0
    parts, index = parts[keep], index[keep]
    owner = owners[index].copy()
    block = blocks[index]
    first = np.ones(len(parts), dtype=bool)
    first[1:] = index[1:] != index[:-1]
    multi = np.flatnonzero(~first)
    if len(multi):
        # which part of a split cell keeps the site: the one holding the site's point
        split = np.unique(index[multi])
        for cell in split.tolist():
            rows = np.flatnonzero(index == cell)
            site = owners[cell]
            holder = rows[0]
            if site >= 0:
                hit = rows[shapely.intersects(parts[rows], points[site])]
                holder = hit[0] if len(hit) else rows[np.argmax(shapely.area(parts[rows]))]
            owner[rows] = -1
            owner[holder] = site
    return parts, owner, block


def _merge_slivers(
    cells: np.ndarray, owners: np.ndarray, blocks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge empty cells below :data:`SLIVER_AREA` into the neighbour sharing most boundary.

    Clipping a Voronoi cell to a concave block, or cleaning, can leave slivers (a few cm² or
    less) that are no place a planner could name. A sliver joins its neighbour by
    :func:`shapely.coverage_union_all`, so the cells stay an exact coverage. Slivers touching
    only other slivers (never seen) are kept.
    """
    sliver = (owners < 0) & (shapely.area(cells) < SLIVER_AREA)
    if not sliver.any():
        return cells, owners, blocks
    a, b, length = _shared(cells)
    pairs = pd.DataFrame(
        {
            "sliver": np.concatenate([a, b]),
            "into": np.concatenate([b, a]),
            "length": np.concatenate([length, length]),
        }
    )
    pairs = pairs[sliver[pairs["sliver"]] & ~sliver[pairs["into"]]]
    shared = pairs.groupby(["sliver", "into"], as_index=False)["length"].sum()
    best = shared.sort_values(["sliver", "length", "into"], ascending=[True, False, True])
    best = best.drop_duplicates("sliver")
    out = cells.copy()
    for into, rows in best.groupby("into")["sliver"]:
        out[into] = shapely.coverage_union_all(cells[[into, *rows.tolist()]])
    keep = np.ones(len(cells), dtype=bool)
    keep[best["sliver"].to_numpy()] = False
    return out[keep], owners[keep], blocks[keep]


# --------------------------------------------------------------------------- units


def _groups(
    cells: np.ndarray,
    blocks: np.ndarray,
    keep_whole: gpd.GeoDataFrame | gpd.GeoSeries | None,
    locked: gpd.GeoDataFrame | gpd.GeoSeries | None,
    metric: CRS,
) -> tuple[np.ndarray, list[dict[str, Any]], list[str]]:
    """Unit index of every cell: keep-whole and locked areas merge their cells into one unit.

    Returns the unit of each cell, per merged group a dict of its attributes (``kind``,
    ``name``, ``locked``) with merged groups numbered first, and the locked labels.
    """
    group = np.full(len(cells), -1, dtype=np.int64)
    info: list[dict[str, Any]] = []
    points = shapely.point_on_surface(cells)
    labels: list[str] = []
    for frame, is_locked in ((locked, True), (keep_whole, False)):
        if frame is None or len(frame) == 0:
            continue
        polys = _frame_to(frame, metric, "polygon")
        columns = frame if isinstance(frame, gpd.GeoDataFrame) else pd.DataFrame(index=frame.index)
        hit_poly, hit_cell = shapely.STRtree(polys).query(points, predicate="within")[::-1]
        for k in range(len(polys)):
            mine = hit_cell[(hit_poly == k) & (group[hit_cell] < 0)]
            label = _label(columns, k, is_locked)
            if is_locked:
                labels.append(label)
            if len(mine) == 0:
                continue
            group[mine] = len(info)
            info.append(
                {
                    "kind": _kind(columns, k, is_locked),
                    "name": _text(columns, "name", k),
                    "locked": label if is_locked else None,
                }
            )
    loose = np.flatnonzero(group < 0)
    group[loose] = len(info) + np.arange(len(loose))
    return group, info, labels


_GRID_ATTRIBUTES = ("name", "kind", "subtype", "priority")


def _locked_grids(
    locked: gpd.GeoDataFrame | gpd.GeoSeries | None, labels: list[str]
) -> dict[str, dict[str, str]]:
    """Label → the grid attributes given with each locked polygon (see :class:`Units`)."""
    if not isinstance(locked, gpd.GeoDataFrame):
        return {}
    found: dict[str, dict[str, str]] = {}
    for k, label in enumerate(labels):
        values = {c: _text(locked, c, k) for c in _GRID_ATTRIBUTES}
        found[label] = {c: v for c, v in values.items() if v is not None}
    return found


def _label(columns: pd.DataFrame, k: int, is_locked: bool) -> str:
    code = _text(columns, "code", k)
    return code if code else f"{'locked' if is_locked else 'keep'}-{k + 1}"


def _kind(columns: pd.DataFrame, k: int, is_locked: bool) -> str:
    kind = _text(columns, "kind", k)
    if kind in {u.value for u in UnitKind}:
        return kind
    return UnitKind.CELL.value if is_locked else UnitKind.ESTATE.value


def _text(columns: pd.DataFrame, column: str, k: int) -> str | None:
    if column not in columns:
        return None
    value = columns[column].iloc[k]
    return None if pd.isna(value) else str(value)


def _unit_table(
    cells: np.ndarray,
    cell_site: np.ndarray,
    cell_block: np.ndarray,
    group: np.ndarray,
    group_info: list[dict[str, Any]],
    sites: _Sites,
    extra_columns: Sequence[str],
) -> pd.DataFrame:
    n = int(group.max()) + 1 if len(group) else 0
    has_site = cell_site >= 0
    site = np.where(has_site, cell_site, 0)
    site_households = np.append(sites.households, 0)  # a spare 0 when there is no site
    households = np.bincount(
        group, weights=np.where(has_site, site_households[site], 0), minlength=n
    )
    table: dict[str, Any] = {
        "unit_id": [f"u{i + 1}" for i in range(n)],
        "name": [None] * n,
        "kind": [UnitKind.CELL.value] * n,
        "households": households.astype(np.int64),
    }
    for column in extra_columns:
        values = np.where(has_site, np.append(sites.extra[column], 0)[site], 0)
        table[column] = np.bincount(group, weights=values, minlength=n).astype(np.int64)
    table["block"] = np.zeros(n, dtype=np.int64)
    table["block"][group] = cell_block
    table["locked"] = [None] * n
    table["sites"] = np.bincount(group, weights=has_site.astype(float), minlength=n).astype(int)
    for k, attrs in enumerate(group_info):
        table["kind"][k] = attrs["kind"]
        table["name"][k] = attrs["name"]
        table["locked"][k] = attrs["locked"]
    for cell in np.flatnonzero(has_site & (group >= len(group_info))).tolist():
        table["kind"][group[cell]] = sites.kind[cell_site[cell]]
        table["name"][group[cell]] = sites.name[cell_site[cell]]
    geometry = np.empty(n, dtype=object)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(n + 1))
    single = (starts[1:] - starts[:-1]) == 1
    geometry[single] = cells[order[starts[:-1][single]]]
    for k in np.flatnonzero(~single).tolist():
        geometry[k] = shapely.coverage_union_all(cells[order[starts[k] : starts[k + 1]]])
    table["geometry"] = geometry
    return pd.DataFrame(table)


# --------------------------------------------------------------------------- adjacency


def _adjacency(cells: np.ndarray, blocks: np.ndarray, group: np.ndarray, n: int) -> pd.DataFrame:
    """Unit pairs sharing boundary segments, from the vertex-matched ring segments of cells."""
    a_cell, b_cell, length = _shared(cells)
    a, b = group[a_cell], group[b_cell]
    barrier = blocks[a_cell] != blocks[b_cell]
    keep = a != b
    frame = pd.DataFrame(
        {
            "a": np.minimum(a, b)[keep],
            "b": np.maximum(a, b)[keep],
            "length": length[keep],
            "barrier_length": np.where(barrier, length, 0.0)[keep],
        }
    )
    frame = frame.groupby(["a", "b"], as_index=False, sort=True).sum()
    frame = frame[frame["length"] > _MIN_SHARED].reset_index(drop=True)
    inner = frame["length"] - frame["barrier_length"]
    frame["barrier"] = frame["barrier_length"] >= 0.5 * frame["length"]
    frame["cost"] = frame["barrier_length"] * BARRIER_COST + inner * BLOCK_COST
    return frame.drop(columns="barrier_length")


def unit_weights(units: Units, weights: Mapping[str, float] | None) -> np.ndarray:
    """Workload of every unit: Σ coefficient × column (default: households only)."""
    weights = weights or {"households": 1.0}
    missing = [c for c in weights if c not in units.table.columns]
    if missing:
        raise InvalidInputError(
            f"no weight column(s) {', '.join(missing)} in the units; build the units with "
            "extra_columns=[...] naming them"
        )
    total = np.zeros(len(units.table))
    for column, factor in weights.items():
        total += float(factor) * units.table[column].to_numpy(float)
    return total


def units_from_polygons(
    polygons: gpd.GeoDataFrame,
    *,
    count_column: str = "households",
    extra_columns: Sequence[str] = (),
    id_column: str | None = None,
    name_column: str | None = "name",
    kind: str = UnitKind.VILLAGE.value,
) -> Units:
    """Units that are given polygons: natural villages (自然村), villager groups, census areas.

    The polygons are cleaned into an exact coverage (slivers and tiny overlaps snapped, see
    :func:`shapely.coverage_clean`); each one is a unit, its neighbours those sharing an edge.
    No edge counts as a barrier: the polygons' own edges are the cut lines.

    Parameters
    ----------
    polygons
        One row per unit with a count column.
    count_column, extra_columns
        Household count and other workload columns.
    id_column, name_column
        Columns for the unit ids and names (default: ``u1``, ``u2``…; ``name`` if present).
    kind
        :class:`~geogrid.plan.UnitKind` of every unit.

    Returns
    -------
    Units

    Examples
    --------
    >>> from shapely.geometry import box
    >>> villages = gpd.GeoDataFrame({"households": [40, 60], "name": ["张家湾", "李家坝"]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4547)
    >>> units = units_from_polygons(villages)
    >>> units.households, units.edges[["a", "b", "length"]].values.tolist()
    (100, [[0.0, 1.0, 1.0]])
    """
    if polygons.crs is None:
        raise CRSError("the unit polygons have no CRS (坐标系缺失); set one with set_crs")
    source = CRS(polygons.crs)
    metric = (
        source
        if source.is_projected and source.axis_info[0].unit_name in ("metre", "meter")
        else metric_crs(polygons)
    )
    geoms = _frame_to(polygons, metric, "unit")
    # "structure" keeps polygons only: the linework method leaves the collapsed slivers of a
    # round trip through EPSG:4490 as lines in a collection, which coverage_clean refuses
    valid = shapely.make_valid(geoms, method="structure", keep_collapsed=False)
    cleaned = shapely.coverage_clean(valid)
    n = len(cleaned)
    table: dict[str, Any] = {
        "unit_id": (
            polygons[id_column].astype(str).tolist()
            if id_column
            else [f"u{i + 1}" for i in range(n)]
        ),
        "name": (
            polygons[name_column].astype(object).where(polygons[name_column].notna(), None).tolist()
            if name_column and name_column in polygons
            else [None] * n
        ),
        "kind": [kind] * n,
        "households": _counts(polygons, count_column).astype(np.int64),
    }
    for column in extra_columns:
        table[column] = _numbers(polygons[column]).astype(np.int64)
    table["block"] = np.arange(n)
    table["locked"] = [None] * n
    table["sites"] = np.ones(n, dtype=int)
    table["geometry"] = cleaned
    parts, index = shapely.get_parts(cleaned, return_index=True)
    edges = _adjacency(parts, np.zeros(len(parts), dtype=np.int64), index, n)
    return Units(
        table=gpd.GeoDataFrame(pd.DataFrame(table), geometry="geometry", crs=metric),
        edges=edges,
        parent=shapely.coverage_union_all(cleaned),
        crs=metric,
        outside=polygons.iloc[:0],
    )
