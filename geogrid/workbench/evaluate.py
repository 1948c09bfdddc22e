"""What the planner sees after every edit: each grid's figures and the draft's problems.

Per grid at the edited level and below: households, units, the band status (``low`` /
``ok`` / ``high``), contiguity (the pieces a grid falls into over the units' shared edges)
and compactness (Polsby–Popper from the units' areas and perimeters, less the edges shared
inside the grid — no polygon union needed). Problems are grids out of band, broken in
pieces (with where the stray piece lies) and emptied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geogrid.metrics import polsby_popper
from geogrid.partition.band import Band
from geogrid.workbench.draft import Draft

__all__ = ["Evaluation", "evaluate"]


@dataclasses.dataclass
class Evaluation:
    """Figures of a draft.

    Attributes
    ----------
    grids
        One row per grid at the edited level and below: ``code``, ``name``, ``level``,
        ``parent_code``, ``households``, ``units``, ``status``, ``band_low``, ``band_high``,
        ``pieces``, ``polsby_popper``, ``locked``, ``changed``.
    problems
        ``kind`` (``out_of_band`` / ``broken`` / ``empty``), ``grid``, ``message`` (Chinese
        and English), ``units`` (for a broken grid: the stray pieces' units), ``where``
        (``[lon, lat]`` to show it).
    """

    grids: pd.DataFrame
    problems: list[dict[str, Any]]


def evaluate(draft: Draft) -> Evaluation:
    """Figures and problems of ``draft`` as it stands (see the module docstring)."""
    levels = [lv for lv in (draft.level, draft.level + 1) if lv <= draft.base.depth]
    dirty = draft.dirty()
    rows, problems = [], []
    for level in levels:
        band = draft.band if level == draft.level else draft.then_band
        owner = draft.at_level(level)
        frame, found = _level(draft, level, owner, band, dirty)
        rows.append(frame)
        problems.extend(found)
    return Evaluation(pd.concat(rows, ignore_index=True), problems)


def _level(
    draft: Draft, level: int, owner: np.ndarray, band: Band | None, dirty: set[str]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    codes = draft.codes_at(level)
    index = {c: i for i, c in enumerate(codes)}
    slot = np.array([index.get(c, -1) for c in owner.tolist()], dtype=np.int64)
    inside = slot >= 0
    k = len(codes)
    households = np.bincount(slot[inside], weights=draft.households[inside], minlength=k)
    units = np.bincount(slot[inside], minlength=k)
    area = np.bincount(slot[inside], weights=draft.area[inside], minlength=k)
    perimeter = np.bincount(slot[inside], weights=draft.perimeter[inside], minlength=k)
    a, b = draft.edges[:, 0].astype(np.int64), draft.edges[:, 1].astype(np.int64)
    same = (slot[a] == slot[b]) & (slot[a] >= 0)
    perimeter -= 2 * np.bincount(slot[a[same]], weights=draft.edges[same, 2], minlength=k)
    pieces, labels = _pieces(len(slot), a[same], b[same], slot, k)
    grids = draft.grids.loc[codes] if codes else draft.grids.iloc[:0]
    frame = pd.DataFrame(
        {
            "code": codes,
            "name": grids["name"].tolist(),
            "level": level,
            "parent_code": grids["parent_code"].tolist(),
            "households": households.astype(np.int64),
            "units": units.astype(np.int64),
            "status": [_status(h, n, band) for h, n in zip(households, units, strict=True)],
            "band_low": band.low if band else None,
            "band_high": band.high if band else None,
            "pieces": pieces,
            "polsby_popper": np.round(polsby_popper(area, np.maximum(perimeter, 0)), 4),
            "locked": [draft.is_locked(c) for c in codes],
            "changed": [c in dirty for c in codes],
        }
    )
    return frame, _problems(draft, frame, slot, labels)


def _pieces(
    n: int, a: np.ndarray, b: np.ndarray, slot: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pieces per grid and the connected-component label of every unit."""
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    inside = slot >= 0
    pairs = np.unique(np.stack([slot[inside], labels[inside]]), axis=1)
    return np.bincount(pairs[0], minlength=k), labels


def _status(households: float, units: int, band: Band | None) -> str:
    if units == 0:
        return "empty"
    if band is None:
        return "none"
    if households < band.low:
        return "low"
    return "high" if households > band.high else "ok"


def _problems(
    draft: Draft, frame: pd.DataFrame, slot: np.ndarray, labels: np.ndarray
) -> list[dict[str, Any]]:
    found = []
    for g, row in enumerate(frame.to_dict("records")):
        code, name = row["code"], row["name"]
        if row["status"] == "empty":
            found.append(_problem("empty", code, f"{name}（{code}）没有单元 has no units"))
            continue
        if row["status"] in ("low", "high"):
            word = "不足 below" if row["status"] == "low" else "超出 above"
            band = f"{row['band_low']:g}-{row['band_high']:g}"
            members = np.flatnonzero(slot == g)
            found.append(
                _problem(
                    "out_of_band",
                    code,
                    f"{name}（{code}）{int(row['households'])} 户，{word} {band}",
                    where=_where(draft, members),
                )
            )
        if row["pieces"] > 1:
            found.append(_broken(draft, code, name, np.flatnonzero(slot == g), labels))
    return found


def _broken(
    draft: Draft, code: str, name: str, members: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """A grid in pieces: every piece but the one with most households is stray."""
    own = labels[members]
    weight = pd.Series(draft.households[members] + 1e-6 * draft.area[members]).groupby(own).sum()
    main = weight.idxmax()
    stray = members[own != main]
    return _problem(
        "broken",
        code,
        f"{name}（{code}）断成 {len(weight)} 块 is in {len(weight)} pieces",
        units=[str(u) for u in draft.unit_ids[stray]],
        where=_where(draft, stray),
    )


def _where(draft: Draft, members: np.ndarray) -> list[float] | None:
    if len(members) == 0:
        return None
    point = shapely.centroid(shapely.multipoints(draft.points[members]))
    return [round(float(point.x), 7), round(float(point.y), 7)]


def _problem(
    kind: str,
    grid: str,
    message: str,
    *,
    units: list[str] | None = None,
    where: list[float] | None = None,
) -> dict[str, Any]:
    return {"kind": kind, "grid": grid, "message": message, "units": units or [], "where": where}
