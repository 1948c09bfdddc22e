"""Cells: each block cut per building (Voronoi), buildings whole, cleaned into an exact coverage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geogrid.units.adjacency import ring_segments, shared_segments
from geogrid.units.inputs import Sites

__all__ = ["SLIVER_AREA", "merge_slivers", "tessellate"]

SLIVER_AREA = 1.0
"""Empty cells smaller than this (m²) are merged into a neighbour when units are built."""
_CLEAN_ROUNDS = 6  # rounds of cleaning mismatched cells before cleaning them all


def tessellate(
    blocks: np.ndarray,
    sites: Sites,
    parent: BaseGeometry,
    faces: np.ndarray,
    block_face: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells: per block, the Voronoi diagram of its sites clipped to the block.

    Every building's footprint then goes whole to its own cell, across the barriers inside
    its face (``faces``: the parent cut only by the outlines of locked grids; ``block_face``:
    the face of every block), see :func:`_whole_buildings`.

    Returns the cells (Polygons, an exact coverage), the site of each cell (-1: empty land),
    the block of each cell (the block of its site's point), and whether a cell reaches
    beyond its block (a building across a barrier).
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
    raw, spanning = _whole_buildings(
        np.asarray(cells, dtype=object),
        np.asarray(owners),
        np.asarray(cell_blocks),
        sites.footprints,
        faces,
        block_face,
    )
    geoms = _clean(raw, parent)
    parts = _split_multipart(geoms, np.asarray(owners), np.asarray(cell_blocks), sites.points)
    cells_, owners_, blocks_ = merge_slivers(*parts)
    return cells_, owners_, blocks_, (owners_ >= 0) & np.isin(owners_, spanning)


def _whole_buildings(
    cells: np.ndarray,
    owners: np.ndarray,
    cell_blocks: np.ndarray,
    footprints: np.ndarray,
    faces: np.ndarray,
    block_face: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Give every building's whole footprint (within its face) to the building's own cell.

    A Voronoi edge between two sites' points can cross a long or oddly shaped building, and
    a barrier line can run through one (an OSM service road through an estate, a road drawn
    over a building by another survey, a covered passage): the part of the footprint beyond
    it moves from the neighbour cells, in its block or across the barrier, to the building's
    cell, so no grid boundary ever runs through a building (楼栋不拆分). Only the parent's
    boundary and locked grids' outlines (the ``faces``) are kept: a footprint is clipped to
    its face. Empty land wholly under a building goes to it; a cell holding households keeps
    its last land (a household point under another's footprint).

    Returns the cells and the sites whose cell now reaches into another block.
    """
    cell_of_site = np.full(len(footprints), -1, dtype=np.int64)
    has_site = owners >= 0
    cell_of_site[owners[has_site]] = np.flatnonzero(has_site)
    sites = np.flatnonzero(~shapely.is_missing(footprints) & (cell_of_site >= 0))
    none = np.empty(0, dtype=np.int64)
    if len(sites) == 0:
        return cells, none
    own = cell_of_site[sites]
    face = block_face[cell_blocks]
    prints = _disjoint(_clip(footprints[sites], faces[face[own]]))
    site_pos, other = shapely.STRtree(cells).query(prints, predicate="intersects")
    keep = (other != own[site_pos]) & (face[other] == face[own[site_pos]])
    site_pos, other = site_pos[keep], other[keep]
    if len(site_pos) == 0:
        return cells, none
    pieces = shapely.intersection(prints[site_pos], cells[other])
    real = shapely.area(pieces) > 1e-9
    site_pos, other, pieces = site_pos[real], other[real], pieces[real]
    out = cells.copy()
    moved = np.ones(len(pieces), dtype=bool)
    for c in np.unique(other).tolist():
        mine = other == c
        rest = _polygonal(shapely.difference(out[c], shapely.union_all(pieces[mine])))
        if shapely.area(rest) > 1e-6:
            out[c] = rest
        elif owners[c] < 0:  # empty land under a building: all of it goes to the first
            first = np.flatnonzero(mine)[0]
            moved[mine] = False
            moved[first] = True
            pieces[first] = out[c]
            out[c] = shapely.Polygon()
        else:  # never take the last land of a cell holding households
            moved[mine] = False
    gainers = np.where(moved, own[site_pos], -1)
    for c in np.unique(gainers[gainers >= 0]).tolist():
        mine = gainers == c
        site = site_pos[mine][0]
        # a footprint across a barrier whose pieces all moved goes in whole too: it overlaps
        # the cell, where pieces cut along the barrier line only touch it (their vertices
        # apart on the line), and a union of touching parts can come out in two
        own_pieces = site_pos == site
        spans = (cell_blocks[other[own_pieces]] != cell_blocks[c]).any()
        whole = [prints[site]] if spans and moved[own_pieces].all() else []
        out[c] = _polygonal(shapely.union_all(np.concatenate([[out[c]], whole, pieces[mine]])))
    across = moved & (cell_blocks[other] != cell_blocks[own[site_pos]])
    return out, np.unique(sites[site_pos[across]])


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


def _unmatched(cells: np.ndarray, parent: BaseGeometry) -> np.ndarray:
    """Cells with a boundary segment that no other cell shares and that is not on the parent's edge."""
    keys, owner = ring_segments(cells)
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


def merge_slivers(
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
    a, b, length, _ = shared_segments(cells)
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
