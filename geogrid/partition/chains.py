"""Fixing grids outside the band that no single move fixes: chains of moves between grids.

Where every move of one unit overshoots the band (units large against it) or reaches no
household (empty land between), the sweep of :func:`~geogrid.partition.refine.refine` leaves
a grid outside the band. For each such grid, in turn:

* **Ejection chains**: one unit moves so the grid lands in the band; if the grid on the
  other side leaves the band, the chain continues from it (undone when it fails).
* **Recombination**: the units of the grid and one or two neighbouring grids are split again
  exhaustively into as many connected grids in the band (GerryChain's ReCom, enumerated).
* **Corridors**: a path of a neighbour's units, through empty land to loaded units, moves
  whole.
* **Pushes**: load moves along the shortest path of grids to one with room.

A grid none of these fixes is remembered as stuck until it or a neighbouring grid changes.
"""

from __future__ import annotations

import math
import time
from collections import deque

from geogrid.partition.graph import cut_off
from geogrid.partition.objective import EPS, RefineState

__all__ = ["chains"]

_CHAIN_DEPTH = 6
_CHAIN_NODES = 400
_RECOMBINE_UNITS = 12  # at most this many units are re-split exhaustively
_CORRIDOR_UNITS = 64  # a path moved whole holds at most this many units
_CORRIDOR_PATHS = 16  # paths tried per pair of grids
_CORRIDOR_CHAINS = 4  # paths tried that take the other grid out, an ejection chain following


def chains(state: RefineState, deadline: float) -> int:
    """Fix out-of-band grids with ejection chains, then with pushes along paths of grids."""
    moves = 0
    _unstick(state)
    for g in sorted(state.out_of_band(), key=lambda x: (-state.excess(state.load[x]), x)):
        if time.perf_counter() > deadline:
            break
        if state.excess(state.load[g]) <= EPS or g in state.stuck:
            continue
        done: list[tuple[int, int]] = []
        budget = [_CHAIN_NODES]
        if _eject(state, g, state.load[g] > state.high, {g}, done, budget, _CHAIN_DEPTH):
            moves += len(done)
            continue
        recombined = _recombine_around(state, g)
        if recombined:
            moves += recombined
            continue
        carried = _corridor(state, g)
        if carried:
            moves += carried
            continue
        pushed = _push(state, g)
        moves += pushed
        if not pushed:
            state.stuck.add(g)
    return moves


def _recombine_around(state: RefineState, g: int) -> int:
    """Re-split out-of-band grid ``g`` together with one, then two neighbouring grids.

    The units of the grids taken together are split again, exhaustively, into as many
    connected grids all in the band, the most compact split winning (like GerryChain's
    ReCom, but enumerated, as the groups are small). Returns the moves made (0: no split).
    """
    neighbours = sorted(_grid_neighbours(state, g))
    groups: list[list[int]] = [[g, h] for h in neighbours]
    for i, h1 in enumerate(neighbours):
        for h2 in neighbours[i + 1 :]:
            groups.append([g, h1, h2])
    for group in groups:
        units = sorted(u for x in group for u in state.members[x])
        if len(units) > _RECOMBINE_UNITS:
            continue
        split = _best_split(state, units, len(group))
        if split is None:
            continue
        moves = 0
        for u, label in zip(units, split, strict=True):
            if state.a[u] != group[label]:
                state.move(u, group[label])
                moves += 1
        if moves:
            return moves
    return 0


def _best_split(state: RefineState, units: list[int], m: int) -> list[int] | None:
    """Labels 0 … m-1 for ``units``: every part connected and in the band, most compact."""
    graph = state.g
    index = {u: i for i, u in enumerate(units)}
    adj = [0] * len(units)
    shared: dict[tuple[int, int], float] = {}
    for i, u in enumerate(units):
        for v, length in zip(graph.nbrs[u], graph.lens[u], strict=True):
            j = index.get(v)
            if j is not None:
                adj[i] |= 1 << j
                shared[(i, j)] = length
    load = [graph.load[u] for u in units]
    if not m * state.low <= sum(load) <= m * state.high:
        return None
    return _best_in_band(state, units, m, adj, shared, load)


def _best_in_band(
    state: RefineState,
    units: list[int],
    m: int,
    adj: list[int],
    shared: dict[tuple[int, int], float],
    load: list[float],
) -> list[int] | None:
    """Exhaustive search keeping only splits with every part in the band."""
    n = len(units)
    best: tuple[float, list[int]] | None = None
    labels = [0] * n
    sums = [0.0] * m
    remaining = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        remaining[i] = remaining[i + 1] + load[i]

    def place(i: int, used: int) -> None:
        nonlocal best
        short = sum(max(state.low - sums[label], 0.0) for label in range(m))
        if short > remaining[i] + EPS:
            return
        if i == n:
            if used < m:
                return
            masks = [0] * m
            for j, label in enumerate(labels):
                masks[label] |= 1 << j
            if not all(_bits_connected(mask, adj) for mask in masks):
                return
            score = sum(_part_shape(state, units, mask, shared) for mask in masks)
            if best is None or score < best[0]:
                best = (score, list(labels))
            return
        for label in range(min(used + 1, m)):
            if sums[label] + load[i] > state.high:
                continue
            labels[i] = label
            sums[label] += load[i]
            place(i + 1, max(used, label + 1))
            sums[label] -= load[i]

    place(0, 0)
    return None if best is None else best[1]


def _bits_connected(mask: int, adj: list[int]) -> bool:
    if mask == 0:
        return False
    seen = frontier = mask & -mask
    while frontier:
        i = frontier.bit_length() - 1
        frontier &= ~(1 << i)
        new = adj[i] & mask & ~seen
        seen |= new
        frontier |= new
    return seen == mask


def _part_shape(
    state: RefineState, units: list[int], mask: int, shared: dict[tuple[int, int], float]
) -> float:
    graph = state.g
    area = perim = sx = sy = s2 = 0.0
    members = [j for j in range(len(units)) if mask >> j & 1]
    for j in members:
        u = units[j]
        a = graph.area[u]
        area += a
        perim += graph.perimeter[u]
        sx += a * graph.x[u]
        sy += a * graph.y[u]
        s2 += a * (graph.x[u] ** 2 + graph.y[u] ** 2)
    for j in members:
        for k in members:
            if j < k:
                perim -= 2.0 * shared.get((j, k), 0.0)
    return state.shape(perim, area, sx, sy, s2)


def _unstick(state: RefineState) -> None:
    """Retry stuck grids when the last sweep changed them or a neighbouring grid."""
    if not state.stuck or not state.touched:
        return
    for g in sorted(state.stuck):
        if (_grid_neighbours(state, g) | {g}) & state.touched:
            state.stuck.discard(g)


def _eject(
    state: RefineState,
    x: int,
    over: bool,
    chain: set[int],
    done: list[tuple[int, int]],
    budget: list[int],
    depth: int,
) -> bool:
    """Ejection chain from out-of-band grid ``x``; undone on failure.

    One unit moves so ``x`` lands in the band; if the grid on the other side leaves the
    band, the chain continues from it.
    """
    for u, y in _chain_moves(state, x, over, chain):
        budget[0] -= 1
        if budget[0] < 0:
            return False
        giver, taker = (x, y) if over else (y, x)
        state.move(u, taker)
        done.append((u, giver))
        if state.excess(state.load[y]) <= EPS:
            return True
        if depth > 1 and _eject(state, y, over, chain | {y}, done, budget, depth - 1):
            return True
        state.move(u, giver)
        done.pop()
    return False


def _chain_moves(state: RefineState, x: int, over: bool, chain: set[int]) -> list[tuple[int, int]]:
    """Single moves that put grid ``x`` into the band: (unit, other grid), best first."""
    a, nbrs, load = state.a, state.g.nbrs, state.g.load
    lx = state.load[x]
    found = []
    if over:
        for u in state.members[x]:
            new = lx - load[u]
            if not (state.low <= new <= state.high):
                continue
            for y in {a[v] for v in nbrs[u]} - chain - {x}:
                found.append((state.excess(state.load[y] + load[u]), load[u], u, y))
    else:
        seen = set()
        for w in state.members[x]:
            for u in nbrs[w]:
                y = a[u]
                if y == x or y in chain or u in seen:
                    continue
                seen.add(u)
                if state.low <= lx + load[u] <= state.high:
                    found.append((state.excess(state.load[y] - load[u]), load[u], u, y))
    found.sort()
    out = []
    for _, _, u, y in found:
        if state.can_leave(u):
            out.append((u, y))
        if len(out) >= 8:
            break
    return out


def _corridor(state: RefineState, g: int) -> int:
    """Fix out-of-band grid ``g`` by moving a path of units from or to a neighbouring grid.

    Where a neighbouring grid's households sit in buildings beyond empty cells (a campus, a
    park), no single move reaches them: an empty cell moved alone leaves both loads as they
    are, and the chains look at one unit at a time. Here a path of the giver's units, empty
    land from its border with the taker to one loaded unit (the shortest), moves whole
    when that lands ``g`` in the band, does not take the other grid further out of it and
    leaves the giver connected. Failing that, a path may take the other grid out of the band
    when an ejection chain from it then brings it back. Returns the moves made.
    """
    over = state.load[g] > state.high
    for strict in (True, False):
        options = []
        for y in sorted(_grid_neighbours(state, g)):
            giver, taker = (g, y) if over else (y, g)
            for path in _corridor_paths(state, g, y, giver, taker, strict):
                options.append((state.excess(state.load[y]), len(path), y, path))
        for _, _, y, path in sorted(options)[: 1 if strict else _CORRIDOR_CHAINS]:
            giver, taker = (g, y) if over else (y, g)
            for u in path:
                state.move(u, taker)
            if strict or state.excess(state.load[y]) <= EPS:
                return len(path)
            done: list[tuple[int, int]] = []
            out = state.load[y] > state.high
            if _eject(state, y, out, {g, y}, done, [_CHAIN_NODES], _CHAIN_DEPTH):
                return len(path) + len(done)
            for u in reversed(path):
                state.move(u, giver)
    return 0


def _corridor_paths(
    state: RefineState, g: int, y: int, giver: int, taker: int, strict: bool = True
) -> list[list[int]]:
    """Paths of ``giver`` starting next to ``taker`` whose move fixes ``g`` (see _corridor).

    Breadth-first from the border through empty units (load 0), and through loaded units
    while what the path carries is still too little, at most :data:`_CORRIDOR_UNITS` long;
    a path qualifies when its load lands ``g`` in the band (``strict``: without taking ``y``
    further out). Parts of the giver the path cuts off (all but its most loaded part) move
    with it, so both grids stay connected.
    """
    a, nbrs, load = state.a, state.g.nbrs, state.g.load
    members = state.members[giver]
    sign = -1.0 if giver == g else 1.0
    starts = sorted(u for u in members if any(a[v] == taker for v in nbrs[u]))
    previous: dict[int, int] = {u: -1 for u in starts}
    carried = {u: load[u] for u in starts}
    depth = dict.fromkeys(starts, 1)
    queue = deque(starts)
    paths = []
    y_before = state.excess(state.load[y]) if strict else math.inf
    while queue:
        u = queue.popleft()
        w = carried[u]
        if (
            w > EPS
            and state.excess(state.load[g] + sign * w) <= EPS
            and state.excess(state.load[y] - sign * w) <= y_before + EPS
            and depth[u] < len(members)
        ):
            path = [u]
            while previous[path[-1]] >= 0:
                path.append(previous[path[-1]])
            path = path[::-1] + cut_off(state.g, members - set(path))
            moved = sum(load[x] for x in path)
            if (
                len(path) < len(members)
                and state.excess(state.load[g] + sign * moved) <= EPS
                and state.excess(state.load[y] - sign * moved) <= y_before + EPS
            ):
                paths.append(path)
                continue
        after = state.load[g] + sign * w
        short = after < state.low if sign > 0 else after > state.high
        if (load[u] > EPS and not short) or depth[u] >= _CORRIDOR_UNITS:
            continue  # paths run through empty land, and through loaded units still too few
        if len(paths) >= _CORRIDOR_PATHS:
            continue
        for v in nbrs[u]:
            if v not in previous and a[v] == giver:
                previous[v], carried[v], depth[v] = u, w + load[v], depth[u] + 1
                queue.append(v)
    return paths


def _push(state: RefineState, g: int) -> int:
    over = state.load[g] > state.high
    path = _path_to_slack(state, g, over)
    if path is None:
        return 0
    before = sum(state.excess(state.load[x]) for x in path)
    done = _push_along(state, path if over else path[::-1])
    after = sum(state.excess(state.load[x]) for x in path)
    if after < before - EPS:
        return len(done)
    for u, old in reversed(done):
        state.move(u, old)
    return 0


def _grid_neighbours(state: RefineState, g: int) -> set[int]:
    a, nbrs = state.a, state.g.nbrs
    return {a[v] for u in state.members[g] for v in nbrs[u] if a[v] != g}


def _path_to_slack(state: RefineState, g: int, over: bool) -> list[int] | None:
    """Shortest chain of neighbouring grids from ``g`` to one that can absorb (or give) load."""
    need = state.excess(state.load[g])
    previous = {g: g}
    queue = deque([g])
    while queue:
        x = queue.popleft()
        for y in sorted(_grid_neighbours(state, x)):
            if y in previous:
                continue
            previous[y] = x
            room = state.high - state.load[y] if over else state.load[y] - state.low
            if room >= need:
                path = [y]
                while path[-1] != g:
                    path.append(previous[path[-1]])
                return path[::-1]
            queue.append(y)
    return None


def _push_along(state: RefineState, path: list[int]) -> list[tuple[int, int]]:
    """Move load along ``path[0] → path[1] → …``.

    Each step moves boundary units until the giver's surplus over its starting load (over the
    band's top, for the first grid) is passed on.
    """
    done: list[tuple[int, int]] = []
    start = {x: state.load[x] for x in path}
    for i in range(len(path) - 1):
        giver, taker = path[i], path[i + 1]
        goal = state.load[giver] - state.high if i == 0 else state.load[giver] - start[giver]
        moved = 0.0
        while moved < goal - EPS:
            u = _best_giveaway(state, giver, taker, goal - moved)
            if u < 0:
                return done
            moved += state.g.load[u]
            state.move(u, taker)
            done.append((u, giver))
    return done


def _best_giveaway(state: RefineState, giver: int, taker: int, want: float) -> int:
    """The boundary unit of ``giver`` next to ``taker`` whose load best fits ``want``."""
    a, nbrs, load = state.a, state.g.nbrs, state.g.load
    best, best_u = math.inf, -1
    candidates = {u for u in state.members[giver] if any(a[v] == taker for v in nbrs[u])}
    for u in sorted(candidates):
        if load[u] <= 0 and want > 0:
            continue
        score = abs(load[u] - want) + 0.01 * state.delta(u, taker)
        if score < best and state.can_leave(u):
            best, best_u = score, u
    return best_u
