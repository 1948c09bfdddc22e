"""Public signs (网格公示牌) and household contact cards (网格员直通卡), in batches.

A **sign** is one page per grid: the grid's name and code in a red header, a map of the grid
in its surroundings (neighbours named, roads when given), its staff with their phones, its
households and workload figures, and the duties text from a template. A **card** names a
household's or a courtyard's grid, grid worker and phone, and lists the households in the
courtyard; eight cards fit on an A4 sheet with cut lines.

Both are written straight to PDF with reportlab (:mod:`geogrid.render._pdf`), with the same
embedded Noto Sans CJK subset as the wall map, at roughly 20 ms a page (the map of a
grid and its neighbours simplified to 0.15 mm on paper).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.crs import metric_crs
from geogrid.errors import InvalidInputError, NotFoundError
from geogrid.locate import locate_households
from geogrid.plan import GridPlan
from geogrid.render._draw import ContextLayer, context_geoms
from geogrid.render._pdf import PdfWriter, wrap
from geogrid.render.colouring import adjacency_graph, colour_grids
from geogrid.render.paper import PAPER_MM
from geogrid.roles import current_roles

__all__ = [
    "DEFAULT_DUTIES",
    "CardSet",
    "SignSet",
    "render_cards",
    "render_signs",
]

DEFAULT_DUTIES = (
    "网格员职责：信息采集、日常巡查、矛盾纠纷调解、问题发现上报、政策宣传、服务群众。\n"
    "重点工作：安全生产、生态环境、应急管理、信访维稳、社会救助。\n"
    "居民有事请直接联系网格员 {worker} {phone}；网格长 {head} {head_phone}。"
    "紧急情况请拨打 110、119、120，政务服务热线 12345。"
)
"""Duties text of a sign; ``{name}``, ``{code}``, ``{worker}``, ``{phone}``, ``{head}``,
``{head_phone}``, ``{households}`` and ``{parent}`` are filled in per grid."""

_KIND = {"urban": "城市社区网格", "rural": "农村网格", "special": "专属网格"}
_PRIORITY = {"key": "重点网格", "normal": "一般网格"}
_RED = "#b3261e"
_SIGN_WORDS = "".join([*_KIND.values(), *_PRIORITY.values()]) + (
    "网格公示牌编码所属北千米户数人口商铺重点人员网格员—·（）无边界数据"
)


@dataclasses.dataclass(frozen=True)
class SignSet:
    """What :func:`render_signs` made: the PDF, its page count and the grid of each page."""

    path: Path
    pages: int
    codes: list[str]


@dataclasses.dataclass(frozen=True)
class CardSet:
    """What :func:`render_cards` made.

    Attributes
    ----------
    path, pages
        The PDF and its number of sheets.
    cards
        One row per card: ``group`` (courtyard/building), ``grid_code``, ``worker``, ``phone``,
        ``households``; households outside every grid get ``grid_code`` missing and a card
        saying so.
    """

    path: Path
    pages: int
    cards: pd.DataFrame


# --------------------------------------------------------------------------- signs


def render_signs(
    plan: GridPlan,
    path: str | os.PathLike[str],
    *,
    level: int | None = None,
    codes: Sequence[str] | None = None,
    paper: str = "A4",
    duties: str = DEFAULT_DUTIES,
    context: Mapping[str, ContextLayer] | None = None,
    date: dt.date | str | None = None,
    progress: bool | None = None,
) -> SignSet:
    """Write one public sign (网格公示牌) page per grid.

    Parameters
    ----------
    plan
        The plan.
    path
        The PDF to write.
    level
        Level whose grids get signs; default the deepest.
    codes
        Only these grids (default: every grid of the level, by code).
    paper
        ``"A4"`` (default) … ``"A0"``, portrait.
    duties
        Duties text with placeholders (see :data:`DEFAULT_DUTIES`).
    context
        Roads/rivers/buildings for the maps, as for :func:`~geogrid.render.render_wall_map`.
    date
        Date printed at the foot; default today.
    progress
        Show a progress bar; default for more than 200 pages.

    Returns
    -------
    SignSet
    """
    level = _level(plan, level)
    grids = plan.level(level).sort_values("code", kind="stable").reset_index(drop=True)
    if codes is not None:
        missing = sorted(set(codes) - set(grids["code"]))
        if missing:
            raise NotFoundError(
                f"no grid {missing[0]!r} at level {level}; codes look like {grids['code'].iloc[0]}"
            )
        grids = grids[grids["code"].isin(list(codes))].reset_index(drop=True)
    size = _paper(paper)
    crs = metric_crs(plan.grids.geometry)
    everything = plan.grids.to_crs(crs)
    colours = colour_grids(plan, level, graph=adjacency_graph(plan.level(level), measure=False))
    people = _people(plan)
    names = dict(zip(plan.grids["code"].astype(str), plan.grids["name"].astype(str), strict=True))
    contacts = _contacts(plan)
    facts = [
        _sign_facts(row, people, contacts, names, duties) for row in grids.itertuples(index=False)
    ]
    texts = [_as_text(f) for f in facts] + [_footer(plan, date), _SIGN_WORDS, *plan.levels]
    texts += [role.name for role in current_roles()]
    texts += [str(n) for n in plan.grids["name"]]
    writer = PdfWriter(path, size, texts, f"{plan.name} 网格公示牌")
    roads = [context_geoms(layer, crs) for layer in (context or {}).values()]
    tree = shapely.STRtree(everything.geometry.to_numpy())
    index = _MapIndex(everything)
    show = len(grids) > 200 if progress is None else progress
    with _progress(show, len(grids), "网格公示牌") as step:
        for i, row in enumerate(grids.itertuples(index=False)):
            _sign_page(writer, plan, index, tree, roads, row, facts[i], colours, level, date)
            writer.next_page()
            step()
    return SignSet(path=writer.save(), pages=writer.pages, codes=[str(c) for c in grids["code"]])


def _level(plan: GridPlan, level: int | None) -> int:
    if plan.grids.empty:
        raise InvalidInputError(f"plan {plan.name!r} has no grids")
    present = sorted(int(v) for v in plan.grids["level"].unique())
    level = present[-1] if level is None else int(level)
    if level not in present:
        raise InvalidInputError(
            f"plan {plan.name!r} has no grids at level {level}; levels: {present}"
        )
    return level


def _paper(paper: str) -> tuple[float, float]:
    key = str(paper).upper()
    if key not in PAPER_MM:
        raise InvalidInputError(f"unknown paper {paper!r}; use one of {', '.join(PAPER_MM)}")
    width, height = PAPER_MM[key]
    return float(width), float(height)


def _people(plan: GridPlan) -> dict[str, list[tuple[str, str, str]]]:
    """Grid code -> staff as (role's Chinese name, name, phone) in the role order."""
    roles = current_roles()
    return {
        code: [(roles.label(p["role"]), p["name"] or "", p["phone"] or "") for p in people]
        for code, people in plan.staff_by_grid().items()
    }


def _sign_facts(
    row: Any,
    staff: Mapping[str, list[tuple[str, str, str]]],
    contacts: Mapping[str, tuple[str, str, str, str]],
    names: Mapping[str, str],
    duties: str,
) -> dict[str, Any]:
    people = staff.get(str(row.code), [])
    worker, phone, head, head_phone = contacts.get(str(row.code), ("—", "—", "—", "—"))
    parent = (
        "" if pd.isna(row.parent_code) else names.get(str(row.parent_code), str(row.parent_code))
    )
    values = {
        "name": str(row.name),
        "code": str(row.code),
        "parent": parent,
        "households": "—" if pd.isna(row.households) else str(int(row.households)),
        "worker": worker,
        "phone": phone,
        "head": head,
        "head_phone": head_phone,
    }
    try:
        text = duties.format_map(values)
    except (KeyError, ValueError, IndexError) as exc:
        raise InvalidInputError(
            f"the duties template has an unknown placeholder {exc}; use {sorted(values)}"
        ) from exc
    return {**values, "people": people, "duties": text}


def _as_text(facts: Mapping[str, Any]) -> str:
    people = " ".join(" ".join(p) for p in facts["people"])
    return (
        " ".join(str(v) for k, v in facts.items() if k != "people")
        + people
        + "户数人口商铺重点人员编码所属级"
    )


def _footer(plan: GridPlan, date: dt.date | str | None) -> str:
    when = date if isinstance(date, str) else (date or dt.date.today()).isoformat()
    version = f"第 {plan.version} 版" if plan.version is not None else "草稿"
    source = f" · 数据来源：{plan.attribution}" if plan.attribution else ""
    return f"{plan.name} · {version} · {when}{source}"


@dataclasses.dataclass
class _MapIndex:
    """Every grid of the plan as plain arrays (metric geometry, code, name, level)."""

    geoms: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    levels: np.ndarray
    row_of: dict[str, int]

    def __init__(self, metric: gpd.GeoDataFrame) -> None:
        self.geoms = metric.geometry.to_numpy()
        self.codes = metric["code"].astype(str).to_numpy()
        self.names = metric["name"].astype(str).to_numpy()
        self.levels = metric["level"].to_numpy()
        self.row_of = {code: i for i, code in enumerate(self.codes)}


def _sign_page(
    w: PdfWriter,
    plan: GridPlan,
    everything: _MapIndex,
    tree: shapely.STRtree,
    roads: list[np.ndarray],
    row: Any,
    facts: Mapping[str, Any],
    colours: Mapping[str, str],
    level: int,
    date: dt.date | str | None,
) -> None:
    k = w.width / 210.0
    margin = 12 * k
    top = w.height - margin
    # red header: grid name, "网格公示牌", code and parent
    w.rect(margin, top - 34 * k, w.width - 2 * margin, 34 * k, fill=_RED, stroke=None)
    w.text(w.width / 2, top - 16 * k, f"{facts['name']}", 24 * k, align="centre", colour="#ffffff")
    w.text(w.width / 2, top - 28 * k, "网格公示牌", 14 * k, align="centre", colour="#ffffff")
    level_name = plan.levels[level - 1] if level <= len(plan.levels) else ""
    parent = f" · 所属 {facts['parent']}" if facts["parent"] else ""
    w.text(
        w.width / 2,
        top - 42 * k,
        f"{level_name}编码 {facts['code']}{parent}",
        10 * k,
        align="centre",
    )
    # map of the grid in its surroundings
    box = (margin, top - 150 * k, w.width - 2 * margin, 100 * k)
    _sign_map(w, everything, tree, roads, row, colours, level, box, k)
    # staff
    y = box[1] - 12 * k
    for role, name, phone in facts["people"] or [("网格员", "—", "")]:
        w.text(margin, y, role, 11 * k, colour="#444444")
        w.text(margin + 32 * k, y, name, 14 * k)
        w.text(w.width - margin, y, phone, 14 * k, align="right", colour=_RED)
        w.line(margin, y - 3 * k, w.width - margin, y - 3 * k, colour="#cccccc", width=0.2 * k)
        y -= 10 * k
    # figures
    figures = [
        ("户数", row.households),
        ("人口", row.residents),
        ("商铺", row.shops),
        ("重点人员", row.key_persons),
    ]
    shown = "  ".join(f"{label} {int(v)}" for label, v in figures if not pd.isna(v))
    kind = " · ".join(
        x for x in (_KIND.get(str(row.kind), ""), _PRIORITY.get(str(row.priority), "")) if x
    )
    w.text(margin, y - 2 * k, f"{shown}  {kind}".strip(), 11 * k)
    y -= 14 * k
    # duties
    for line in wrap(facts["duties"], w.width - 2 * margin, 10.5 * k, w):
        if y < margin + 12 * k:
            break
        w.text(margin, y, line, 10.5 * k, colour="#222222")
        y -= 6.2 * k
    w.line(
        margin, margin + 6 * k, w.width - margin, margin + 6 * k, colour="#999999", width=0.2 * k
    )
    w.text(margin, margin + 1.5 * k, _footer(plan, date), 7 * k, colour="#555555")


def _sign_map(
    w: PdfWriter,
    everything: _MapIndex,
    tree: shapely.STRtree,
    roads: list[np.ndarray],
    row: Any,
    colours: Mapping[str, str],
    level: int,
    box: tuple[float, float, float, float],
    k: float,
) -> None:
    x, y, bw, bh = box
    own = everything.geoms[everything.row_of[str(row.code)]]
    if own is None or own.is_empty:
        w.rect(x, y, bw, bh, fill="#f7f7f4", stroke="#333333", line=0.3 * k)
        w.text(
            x + bw / 2, y + bh / 2, "（无网格边界数据）", 12 * k, align="centre", colour="#777777"
        )
        return
    gx0, gy0, gx1, gy1 = own.bounds
    span = max((gx1 - gx0) / bw, (gy1 - gy0) / bh) * 1.5  # metres per mm, with surroundings
    cx, cy = (gx0 + gx1) / 2, (gy0 + gy1) / 2
    view = shapely.box(
        cx - span * bw / 2, cy - span * bh / 2, cx + span * bw / 2, cy + span * bh / 2
    )

    detail = 0.15 * span  # 0.15 mm on paper: finer is invisible and only fills the file

    def to_page(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [x + bw / 2 + (xy[:, 0] - cx) / span, y + bh / 2 + (xy[:, 1] - cy) / span]
        )

    w.rect(x, y, bw, bh, fill="#f7f7f4", stroke="#333333", line=0.3 * k)
    w.clip(x, y, bw, bh)
    near = np.sort(tree.query(view, predicate="intersects"))
    same = near[(everything.levels[near] == level) & (everything.codes[near] != str(row.code))]
    w.shapes(
        _simple(everything.geoms[same], detail),
        to_page,
        fill="#e4e4e0",
        stroke="#8a8a8a",
        width=0.25 * k,
    )
    for layer in roads:
        parts = layer[shapely.intersects(layer, view)]
        w.shapes(_simple(parts, detail), to_page, fill=None, stroke="#b0b0b0", width=0.3 * k)
    w.shapes(
        _simple(np.array([own]), detail),
        to_page,
        fill=colours.get(str(row.code), "#f5cf80"),
        stroke="#111111",
        width=0.8 * k,
    )
    uppers = near[everything.levels[near] < level]
    w.shapes(
        _simple(everything.geoms[uppers], detail),
        to_page,
        fill=None,
        stroke="#333333",
        width=0.6 * k,
    )
    spots = to_page(shapely.get_coordinates(shapely.point_on_surface(everything.geoms[same])))
    for (px, py), name in zip(spots, everything.names[same], strict=True):
        if x < px < x + bw and y < py < y + bh:
            w.text(px, py, str(name), 7 * k, align="centre", colour="#555555")
    px, py = to_page(np.array(shapely.point_on_surface(own).coords))[0]
    w.text(px, py, str(row.name), 11 * k, align="centre")
    w.unclip()
    _north_and_scale(w, box, span, k)


def _simple(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Geometries simplified to what the page can show (Douglas–Peucker, drawing only)."""
    return np.asarray(
        shapely.simplify(np.asarray(geoms, dtype=object), tolerance, preserve_topology=True)
    )


def _north_and_scale(
    w: PdfWriter, box: tuple[float, float, float, float], span: float, k: float
) -> None:
    x, y, bw, bh = box
    w.text(x + bw - 6 * k, y + bh - 8 * k, "北", 9 * k, align="centre")
    w.line(
        x + bw - 6 * k,
        y + bh - 16 * k,
        x + bw - 6 * k,
        y + bh - 9 * k,
        colour="#111111",
        width=0.6 * k,
    )
    target = 25 * k * span  # metres in 25 mm
    power = 10 ** int(np.floor(np.log10(max(target, 1.0))))
    length = max(m for m in (1, 2, 5) if m * power <= target) * power
    mm = length / span
    w.rect(x + 5 * k, y + 5 * k, mm, 1.4 * k, fill="#111111", stroke="#111111", line=0.2 * k)
    label = f"{length / 1000:g} 千米" if length >= 1000 else f"{length:g} 米"
    w.text(x + 5 * k + mm + 2 * k, y + 5 * k, label, 7 * k)


# --------------------------------------------------------------------------- cards


def render_cards(
    plan: GridPlan,
    households: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    *,
    group_by: str | None = None,
    label: str | None = None,
    level: int | None = None,
    progress: bool | None = None,
) -> CardSet:
    """Write household contact cards (网格员直通卡), eight to an A4 sheet.

    Parameters
    ----------
    plan
        The plan.
    households
        Households or buildings (points or polygons, any CRS), with a ``households`` count
        column when a row holds several.
    path
        The PDF to write.
    group_by
        Column naming the courtyard/building a card is for (院落): one card per group, listing
        its households; default one card per row.
    label
        Column naming each household on the card's list (e.g. door number or family name).
    level
        Plan level whose grid workers the cards name; default the deepest.
    progress
        Show a progress bar; default for more than 200 sheets.

    Returns
    -------
    CardSet
    """
    for column in (group_by, label):
        if column is not None and column not in households.columns:
            raise InvalidInputError(
                f"households have no column {column!r}; columns: {', '.join(map(str, households.columns))}"
            )
    codes = locate_households(plan, households, level)
    cards = _card_rows(plan, households, codes, group_by, label)
    texts = [" ".join(map(str, r)) for r in cards.itertuples(index=False)] + [
        plan.name,
        _CARD_WORDS,
        "第号",
    ]
    writer = PdfWriter(path, (210.0, 297.0), texts, f"{plan.name} 网格员直通卡")
    per_sheet = 8
    show = len(cards) > 200 * per_sheet if progress is None else progress
    with _progress(show, len(cards), "网格员直通卡") as step:
        for start in range(0, len(cards), per_sheet):
            _card_sheet(writer, plan, cards.iloc[start : start + per_sheet])
            writer.next_page()
            step(len(cards.iloc[start : start + per_sheet]))
    return CardSet(path=writer.save(), pages=writer.pages, cards=cards)


_CARD_WORDS = (
    "网格员直通卡院落/楼栋：所在网格（）网格长户数本院住户未落入任何网格，请联系社区有事找网格员·…—"
)


def _card_rows(
    plan: GridPlan,
    households: gpd.GeoDataFrame,
    codes: pd.Series,
    group_by: str | None,
    label: str | None,
) -> pd.DataFrame:
    counts = (
        households["households"]
        if "households" in households.columns
        else pd.Series(1, index=households.index)
    )
    counts = pd.to_numeric(counts, errors="coerce").fillna(1).astype(int)
    names = pd.Series("", index=households.index, dtype="string")
    for column in ("unit_id", "name"):  # a name where there is one, else the unit's id
        if column in households.columns:
            named = households[column].astype("string").fillna("")
            names = named.where(named != "", names)
    own = pd.Series(
        [f"\0{i}" for i in range(len(households))], index=households.index
    )  # one card each
    keys = (
        households[group_by].astype("string").where(households[group_by].notna(), own)
        if group_by
        else own
    )
    frame = pd.DataFrame(
        {
            "key": keys,
            "code": codes,
            "count": counts,
            "name": names.astype("string").fillna(""),
            "label": households[label].astype("string").fillna("") if label else "",
        }
    )
    contacts = _contacts(plan)
    rows = []
    for key, part in frame.groupby("key", sort=True, dropna=False):
        if int(part["count"].sum()) == 0:
            continue  # nobody lives there (offices, schools): no card
        code = part["code"].mode().iloc[0] if part["code"].notna().any() else None
        alone = str(key).startswith("\0")
        group = (str(part["name"].iloc[0]) or f"第 {str(key)[1:]} 号") if alone else str(key)
        worker, phone, head, head_phone = (
            contacts.get(str(code), ("—", "—", "—", "—")) if code else ("—",) * 4
        )
        grid_name = str(plan.grids.loc[plan.grids["code"] == code, "name"].iloc[0]) if code else "—"
        members = "、".join(v for v in part["label"] if v) if label else ""
        rows.append(
            {
                "group": group,
                "grid_code": code,
                "grid_name": grid_name,
                "worker": worker,
                "phone": phone,
                "head": head,
                "head_phone": head_phone,
                "households": int(part["count"].sum()),
                "members": members,
            }
        )
    return pd.DataFrame(rows).astype({"grid_code": "string"})


def _contacts(plan: GridPlan) -> dict[str, tuple[str, str, str, str]]:
    """Grid code -> (worker, phone, head, head's phone) named on a card, ``—`` when missing.

    The worker is the first of :meth:`~geogrid.roles.RoleSet.workers` (full-time before
    part-time with the default roles), the head the first of its heads.
    """
    roles = current_roles()
    out = {}
    for code, people in plan.staff_by_grid().items():
        if not people:
            continue
        heads, workers = roles.heads(people), roles.workers(people)
        worker, head = (workers or [{}])[0], (heads or [{}])[0]
        out[code] = (
            worker.get("name") or "—",
            worker.get("phone") or "—",
            head.get("name") or "—",
            head.get("phone") or "—",
        )
    return out


def _card_sheet(w: PdfWriter, plan: GridPlan, cards: pd.DataFrame) -> None:
    cw, ch = 90.0, 55.0  # business-card-like, 2 × 4 on A4 with cut lines
    x0, y0 = (w.width - 2 * cw) / 2, (w.height - 4 * ch) / 2
    for i in range(3):
        w.line(
            x0 + i * cw,
            y0 - 4,
            x0 + i * cw,
            y0 + 4 * ch + 4,
            colour="#bbbbbb",
            width=0.15,
            dash=(1.5, 1.5),
        )
    for j in range(5):
        w.line(
            x0 - 4,
            y0 + j * ch,
            x0 + 2 * cw + 4,
            y0 + j * ch,
            colour="#bbbbbb",
            width=0.15,
            dash=(1.5, 1.5),
        )
    for n, card in enumerate(cards.itertuples(index=False)):
        col, row = n % 2, 3 - n // 2
        _card(w, plan, card, x0 + col * cw, y0 + row * ch, cw, ch)


def _card(
    w: PdfWriter, plan: GridPlan, card: Any, x: float, y: float, cw: float, ch: float
) -> None:
    pad = 4.0
    w.rect(x + pad / 2, y + ch - 11, cw - pad, 9, fill=_RED, stroke=None)
    w.text(x + cw / 2, y + ch - 8.2, "网格员直通卡", 11, align="centre", colour="#ffffff")
    top = y + ch - 16.5
    place = _fit(w, f"院落/楼栋：{card.group}", cw - 2 * pad, 8.5)
    w.text(x + pad, top, place, 8.5)
    if pd.isna(card.grid_code):
        w.text(x + pad, top - 6, "未落入任何网格，请联系社区", 8.5, colour=_RED)
        return
    w.text(
        x + pad,
        top - 6,
        _fit(w, f"所在网格：{card.grid_name}（{card.grid_code}）", cw - 2 * pad, 8.5),
        8.5,
    )
    w.text(x + pad, top - 14, f"网格员 {card.worker}", 11)
    w.text(x + cw - pad, top - 14, str(card.phone), 13, align="right", colour=_RED)
    w.text(x + pad, top - 20.5, f"网格长 {card.head}  {card.head_phone}", 8)
    members = (
        f"本院住户（{card.households} 户）：{card.members}"
        if card.members
        else f"户数：{card.households}"
    )
    lines = wrap(members, cw - 2 * pad, 7.5, w)
    for i, line in enumerate(lines[:2]):
        text = _fit(w, line + ("…" if i == 1 and len(lines) > 2 else ""), cw - 2 * pad, 7.5)
        w.text(x + pad, top - 27 - 4.5 * i, text, 7.5, colour="#333333")
    w.text(
        x + pad, y + 3, _fit(w, f"有事找网格员 · {plan.name}", cw - 2 * pad, 6), 6, colour="#666666"
    )


def _fit(w: PdfWriter, text: str, width_mm: float, size: float) -> str:
    if w.width_mm(text, size) <= width_mm:
        return text
    while len(text) > 1 and w.width_mm(text + "…", size) > width_mm:
        text = text[:-1]
    return text + "…"


@contextmanager
def _progress(show: bool, total: int, what: str) -> Iterator[Callable[..., None]]:
    if not show:
        yield lambda n=1: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.update(task, advance=n)
