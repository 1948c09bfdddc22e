"""Adjacency of cells and units, found exactly by matching the ring segments of a coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

__all__ = ["BARRIER_COST", "BLOCK_COST", "adjacency", "ring_segments", "shared_segments"]

BARRIER_COST = 0.1
"""Cost per metre of cutting along a barrier (road, river, estate wall, block edge)."""
BLOCK_COST = 1.0
"""Cost per metre of cutting through a block (between buildings of the same block)."""

_MIN_SHARED = 1e-6  # metres: shorter shared boundaries are corner touches, not adjacency
_ON_LINE = 0.01  # metres: a segment this close to a cut line lies on it
_HASH = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 1)  # odd multipliers


def ring_segments(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def shared_segments(
    cells: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cell pairs ``a``, ``b`` sharing a boundary segment, its length and its midpoint (x, y)."""
    keys, owner = ring_segments(cells)
    dup = np.flatnonzero((keys[1:] == keys[:-1]).all(axis=1))
    length = np.hypot(keys[dup, 2] - keys[dup, 0], keys[dup, 3] - keys[dup, 1])
    return owner[dup], owner[dup + 1], length, (keys[dup, :2] + keys[dup, 2:]) / 2


def adjacency(
    cells: np.ndarray,
    blocks: np.ndarray,
    group: np.ndarray,
    n: int,
    *,
    spans: np.ndarray | None = None,
    lines: np.ndarray | None = None,
) -> pd.DataFrame:
    """Unit pairs sharing boundary segments, from the vertex-matched ring segments of cells.

    A segment between cells of two blocks lies on a barrier. A cell that ``spans`` several
    blocks (a building across a barrier) is not in one block: its segments lie on a barrier
    when they lie on the ``lines`` that cut the blocks (within :data:`_ON_LINE` m).
    """
    a_cell, b_cell, length, middle = shared_segments(cells)
    a, b = group[a_cell], group[b_cell]
    barrier = blocks[a_cell] != blocks[b_cell]
    if spans is not None and lines is not None and spans.any():
        odd = np.flatnonzero(spans[a_cell] | spans[b_cell])
        cut = shapely.multilinestrings(lines) if len(lines) else shapely.MultiLineString()
        shapely.prepare(cut)
        barrier[odd] = shapely.dwithin(cut, shapely.points(middle[odd]), _ON_LINE)
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
