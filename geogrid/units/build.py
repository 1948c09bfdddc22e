"""Building the units: cells grouped into units (estates, locked grids), with their table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from geogrid.crs import metric_crs
from geogrid.errors import CRSError
from geogrid.plan import UnitKind
from geogrid.units.adjacency import adjacency
from geogrid.units.coverage import exact_coverage
from geogrid.units.inputs import (
    Sites,
    clipped_lines,
    cut_blocks,
    find_sites,
    frame_to_crs,
    geometry_to_crs,
    household_counts,
    metric_crs_for,
    numbers,
    parent_geometry,
)
from geogrid.units.model import Units
from geogrid.units.tessellation import tessellate

_OVERLAP_SHARE = 1e-4  # overlaps below this share of the smaller footprint are slop

__all__ = ["build_units", "units_from_polygons"]


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
    parent_geom, source_crs = parent_geometry(parent, households, crs)
    metric = metric_crs_for(parent_geom, source_crs)
    parent_m = geometry_to_crs(parent_geom, source_crs, metric)
    lines = [
        clipped_lines(barriers, metric, parent_m),
        clipped_lines(keep_whole, metric, parent_m),
        clipped_lines(locked, metric, parent_m),
    ]
    cut_lines = np.concatenate(lines)
    blocks = cut_blocks(parent_m, cut_lines)
    faces = cut_blocks(parent_m, lines[2])  # only locked grids' outlines are never crossed
    block_face = _face_of(blocks, faces)
    sites, outside, problems, straddling = find_sites(
        households, metric, parent_m, count_column, extra_columns
    )
    cells, cell_site, cell_block, spans = tessellate(blocks, sites, parent_m, faces, block_face)
    group, group_info, labels = _groups(cells, cell_block, keep_whole, locked, metric)
    group, group_info = _join_overlapping(
        group, group_info, cell_site, sites, cell_block, block_face
    )
    table = _unit_table(cells, cell_site, cell_block, group, group_info, sites, extra_columns)
    edges = adjacency(cells, cell_block, group, len(table), spans=spans, lines=cut_lines)
    units = Units(
        table=gpd.GeoDataFrame(table, geometry="geometry", crs=metric),
        edges=edges,
        parent=parent_m,
        crs=metric,
        outside=outside,
        problems=problems,
        locked_labels=labels,
        locked_grids=_locked_grids(locked, labels),
        straddling=straddling,
    )
    _ = units.measures  # part of preparing the units
    return units


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
        polys = frame_to_crs(frame, metric, "polygon")
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


def _face_of(blocks: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The face (of the parent cut by locked grids' outlines) holding every block."""
    found = np.zeros(len(blocks), dtype=np.int64)
    if len(faces) <= 1 or len(blocks) == 0:
        return found
    block, face = shapely.STRtree(faces).query(
        shapely.point_on_surface(blocks), predicate="intersects"
    )
    found[block[::-1]] = face[::-1]
    return found


def _join_overlapping(
    group: np.ndarray,
    info: list[dict[str, Any]],
    cell_site: np.ndarray,
    sites: Sites,
    cell_block: np.ndarray,
    block_face: np.ndarray,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Buildings whose footprints overlap become one unit: no footprint is shared by two.

    Merged surveys draw one building twice, or its wings apart.

    Overlaps below :data:`_OVERLAP_SHARE` of the smaller footprint (digitising slop between
    neighbours) are left to the earlier building. Buildings on either side of a locked grid's
    outline (in different faces) are not joined. A merged unit keeps the attributes of its
    lowest group (keep-whole groups, numbered first, win); returns the groups and their
    attributes renumbered.
    """
    prints = sites.footprints
    has = np.flatnonzero(~shapely.is_missing(prints))
    if len(has) < 2:
        return group, info
    first, second = shapely.STRtree(prints[has]).query(prints[has], predicate="intersects")
    pair = first < second
    first, second = has[first[pair]], has[second[pair]]
    if len(first) == 0:
        return group, info
    overlap = shapely.area(shapely.intersection(prints[first], prints[second]))
    smaller = np.minimum(shapely.area(prints[first]), shapely.area(prints[second]))
    real = overlap > _OVERLAP_SHARE * smaller
    first, second = first[real], second[real]
    cell_of_site = np.full(len(prints), -1, dtype=np.int64)
    with_site = np.flatnonzero(cell_site >= 0)
    cell_of_site[cell_site[with_site]] = with_site
    a, b = cell_of_site[first], cell_of_site[second]
    ok = (a >= 0) & (b >= 0)
    a, b = a[ok], b[ok]
    face = block_face[cell_block]
    ok = face[a] == face[b]
    ga, gb = group[a[ok]], group[b[ok]]
    if len(ga) == 0:
        return group, info
    n = int(group.max()) + 1
    links = coo_matrix((np.ones(len(ga)), (ga, gb)), shape=(n, n))
    _, component = connected_components(links, directed=False)
    # every group takes the lowest group of its component, then groups are renumbered
    lowest = np.full(n, n, dtype=np.int64)
    np.minimum.at(lowest, component, np.arange(n))
    merged = lowest[component][group]
    kept, renumbered = np.unique(merged, return_inverse=True)
    return renumbered.ravel().astype(np.int64), [info[k] for k in kept.tolist() if k < len(info)]


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
    sites: Sites,
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

    The polygons are made an exact coverage (snapped to 1 mm when that is enough, else
    cleaned: slivers and tiny overlaps snapped, see :func:`~geogrid.units.coverage.exact_coverage`); each one is a unit, its neighbours those sharing an edge.
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
    geoms = frame_to_crs(polygons, metric, "unit")
    cleaned = exact_coverage(geoms)
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
        "households": household_counts(polygons, count_column).astype(np.int64),
    }
    for column in extra_columns:
        table[column] = numbers(polygons[column]).astype(np.int64)
    table["block"] = np.arange(n)
    table["locked"] = [None] * n
    table["sites"] = np.ones(n, dtype=int)
    table["geometry"] = cleaned
    parts, index = shapely.get_parts(cleaned, return_index=True)
    edges = adjacency(parts, np.zeros(len(parts), dtype=np.int64), index, n)
    return Units(
        table=gpd.GeoDataFrame(pd.DataFrame(table), geometry="geometry", crs=metric),
        edges=edges,
        parent=shapely.coverage_union_all(cleaned),
        crs=metric,
        outside=polygons.iloc[:0],
    )
