"""Address parts → a building, with a score and a reason.

The buildings layer is read once into a :class:`BuildingIndex`: every building gets an estate
key (its estate column, else the estate polygon holding it, else the place named in its own
name — ``蓝旗营12号楼`` → ``蓝旗营``) and a building number (its number column such as
``addr:housenumber``, else the number in its name — ``3号楼`` → ``3``). A register row then
meets the buildings in two steps:

1. **Estate** (:func:`resolve_estates`, once per distinct estate as written): the key as
   written, then without the administrative places before it (exact, score 100); a known
   estate whose name stands inside the written one (score 95) or of which the written one is
   the start (score 90); else the closest names by :func:`rapidfuzz.fuzz.ratio` — the best is
   taken when it scores at least ``min_score`` and leads the next by ``margin``; two close
   candidates make the row ambiguous.
2. **Building** (a dictionary lookup of (estate, number)): one building is a match, several are
   ambiguous, none is unmatched — except that an estate of a single unnumbered building (专家公寓)
   takes its rows whatever number they carry (it is read as the door number).

Numbers are never matched fuzzily: a typo in a number points at another real building, which
no score can tell. Ambiguous rows are never assigned; they go to the review sheet with their
candidates (:mod:`geogrid.addresses.register`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz, process

from geogrid.addresses.parse import estate_key, normalise, parse_address, strip_admin
from geogrid.errors import InvalidInputError

__all__ = [
    "EXACT",
    "FUZZY",
    "ID_COLUMNS",
    "MARGIN",
    "MIN_SCORE",
    "NAME_COLUMNS",
    "NUMBER_COLUMNS",
    "STATUSES",
    "BuildingIndex",
    "EstateMatch",
    "match_parts",
    "resolve_estates",
]

EXACT, FUZZY, AMBIGUOUS, UNMATCHED, OVERRIDE = (
    "exact",
    "fuzzy",
    "ambiguous",
    "unmatched",
    "override",
)
STATUSES = (EXACT, FUZZY, OVERRIDE, AMBIGUOUS, UNMATCHED)
"""Every row's status: assigned (``exact``, ``fuzzy``, ``override``) or for review."""
MIN_SCORE = 60.0
"""The lowest fuzzy score (0–100, :func:`rapidfuzz.fuzz.ratio`) an estate name is taken at."""
MARGIN = 10.0
"""How far the best fuzzy estate must lead the next; closer makes the row ambiguous."""
ID_COLUMNS = ("building_id", "unit_id", "id", "bid", "osm_id", "fid")
NAME_COLUMNS = ("name", "名称", "楼栋名称", "建筑名称")
NUMBER_COLUMNS = ("addr:housenumber", "housenumber", "building_no", "number", "楼号", "楼栋号")
ESTATE_COLUMNS = ("estate", "小区", "小区名称", "所属小区", "addr:estate")


@dataclasses.dataclass
class BuildingIndex:
    """The buildings keyed for matching.

    Attributes
    ----------
    ids
        Each building's id (text), in the order of the layer.
    labels
        What the review sheet shows of each building: estate, number, name.
    lookup
        (estate key, building number or ``None``) → positions of the buildings.
    estates
        Estate key → positions of its buildings (an estate from the estates layer with no
        building has none).
    """

    ids: np.ndarray
    labels: np.ndarray
    lookup: dict[tuple[str, str | None], list[int]]
    estates: dict[str, list[int]]

    @functools.cached_property
    def numbers(self) -> dict[str, set[str]]:
        """Estate key → the building numbers in it (for the reasons of unmatched rows)."""
        found: dict[str, set[str]] = {}
        for key, number in self.lookup:
            if number:
                found.setdefault(key, set()).add(number)
        return found

    @classmethod
    def from_layers(
        cls,
        buildings: gpd.GeoDataFrame,
        estates: gpd.GeoDataFrame | None = None,
        *,
        id_column: str | None = None,
        name_column: str | None = None,
        number_column: str | None = None,
        estate_column: str | None = None,
    ) -> BuildingIndex:
        """Key every building by estate and number (columns found by name when not given).

        Parameters
        ----------
        buildings
            The buildings layer (polygons or points).
        estates
            Estates (小区) or village groups (村民小组) as polygons with a name; a building
            without an estate column value takes the estate holding its point.
        id_column, name_column, number_column, estate_column
            Columns of ``buildings``; by default the first present of :data:`ID_COLUMNS`
            (else the row label), :data:`NAME_COLUMNS`, :data:`NUMBER_COLUMNS` and
            ``estate``/``小区``.
        """
        ids = _ids(buildings, id_column)
        names = _column(buildings, name_column, NAME_COLUMNS, "name")
        numbers = _column(buildings, number_column, NUMBER_COLUMNS, "number")
        own = _column(buildings, estate_column, ESTATE_COLUMNS, "estate")
        around = _estate_around(buildings, estates)
        lookup: dict[tuple[str, str | None], list[int]] = {}
        members: dict[str, list[int]] = {}
        labels = []
        for i in range(len(buildings)):
            keys, number, label = _keys(names[i], numbers[i], own[i], around[i])
            labels.append(label)
            for key in keys:
                lookup.setdefault((key, number), []).append(i)
                members.setdefault(key, []).append(i)
        for name in _estate_names(estates):
            members.setdefault(name, [])
        return cls(ids, np.asarray(labels, dtype=object), lookup, members)


def _ids(buildings: gpd.GeoDataFrame, column: str | None) -> np.ndarray:
    if column is not None and column not in buildings.columns:
        raise InvalidInputError(
            f"the buildings have no column {column!r}; columns: {', '.join(map(str, buildings.columns))}"
        )
    column = column or next((c for c in ID_COLUMNS if c in buildings.columns), None)
    values = buildings[column] if column else pd.Series(buildings.index, index=buildings.index)
    ids = values.astype(str).to_numpy(dtype=object)
    if len(set(ids.tolist())) != len(ids):
        raise InvalidInputError(
            f"building ids in {column or 'the row labels'!r} repeat; give a unique id column "
            "with --id-column"
        )
    return ids


def _column(
    frame: gpd.GeoDataFrame, given: str | None, names: Sequence[str], what: str
) -> list[str | None]:
    if given is not None and given not in frame.columns:
        raise InvalidInputError(
            f"the buildings have no {what} column {given!r}; columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    column = given or next((c for c in names if c in frame.columns), None)
    if column is None:
        return [None] * len(frame)
    return [None if pd.isna(v) or str(v).strip() == "" else str(v) for v in frame[column]]


def _estate_names(estates: gpd.GeoDataFrame | None) -> list[str]:
    if estates is None or len(estates) == 0:
        return []
    column = next((c for c in (*NAME_COLUMNS, "小区名称") if c in estates.columns), None)
    if column is None:
        raise InvalidInputError(
            f"the estates layer has no name column ({', '.join(NAME_COLUMNS)}); columns: "
            f"{', '.join(map(str, estates.columns))}"
        )
    return [k for k in (estate_key(str(v)) for v in estates[column] if pd.notna(v)) if k]


def _estate_around(
    buildings: gpd.GeoDataFrame, estates: gpd.GeoDataFrame | None
) -> list[str | None]:
    """The key of the estate polygon holding each building's point, ``None`` for none."""
    found: list[str | None] = [None] * len(buildings)
    if estates is None or len(estates) == 0 or len(buildings) == 0:
        return found
    keys = [estate_key(str(v)) if pd.notna(v) else None for v in estates[_name_of(estates)]]
    if buildings.crs is None or estates.crs is None:
        raise InvalidInputError(
            "the buildings and estates need a CRS to find which estate holds which building"
        )
    geoms = np.asarray(estates.to_crs(buildings.crs).geometry.array, dtype=object)
    points = shapely.point_on_surface(np.asarray(buildings.geometry.array, dtype=object))
    row, area = shapely.STRtree(geoms).query(points, predicate="within")
    order = np.lexsort((shapely.area(geoms[area]), row))  # the smallest estate holding it
    for r, a in zip(row[order][::-1].tolist(), area[order][::-1].tolist(), strict=True):
        found[r] = keys[a]
    return found


def _name_of(estates: gpd.GeoDataFrame) -> str:
    return next(c for c in (*NAME_COLUMNS, "小区名称") if c in estates.columns)


def _keys(
    name: str | None, number: str | None, own: str | None, around: str | None
) -> tuple[list[str], str | None, str]:
    """(estate keys, building number, label) of one building."""
    parts = parse_address(name) if name else None
    if number is not None:
        number = parse_address(number).building or normalise(number)
    elif parts is not None and parts.building is not None:
        number = parts.building
    keys = [k for k in (estate_key(own), around) if k]
    if parts is not None and parts.building is not None and parts.estate_key:
        keys.append(parts.estate_key)  # 蓝旗营12号楼 is building 12 of 蓝旗营
    if not keys and parts is not None and parts.building is None and parts.estate_key:
        keys.append(parts.estate_key)  # 专家公寓: a building that is its own estate
    if not keys:
        keys.append("")  # no estate: reachable only by an address without one
    label = " ".join(v for v in (keys[0] or "—", f"{number}号" if number else "", name or "") if v)
    return list(dict.fromkeys(keys)), number, label


@dataclasses.dataclass(frozen=True)
class EstateMatch:
    """How one estate as written resolved: ``keys`` (one when resolved), ``score``, ``how``."""

    keys: tuple[str, ...]
    score: float
    how: str
    reason: str


def resolve_estates(
    written: Sequence[str | None],
    known: Sequence[str],
    *,
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> list[EstateMatch]:
    """Each estate as written (normalised) → the known estate key(s) it names.

    Examples
    --------
    >>> known = ["青禾名都", "阳光花园", "青山村3组"]
    >>> [(m.keys, m.how) for m in resolve_estates(["青禾名都小区", "青和名都", "某某"], known)]
    [(('青禾名都',), 'exact'), (('青禾名都',), 'fuzzy'), ((), 'unmatched')]
    """
    table = {k: k for k in known}  # "" stands for the buildings of no estate
    choices = [k for k in table if k]
    return [_resolve(w, table, choices, min_score, margin) for w in written]


def _resolve(
    written: str | None,
    table: dict[str, str],
    choices: list[str],
    min_score: float,
    margin: float,
) -> EstateMatch:
    if not written:
        return (
            EstateMatch(("",), 100.0, EXACT, "no estate written")
            if "" in table
            else (EstateMatch((), 0.0, UNMATCHED, "no estate (小区/村) in the address"))
        )
    key = estate_key(written) or ""
    bare = estate_key(strip_admin(written)) or ""
    for k in (key, bare):
        if k in table:
            return EstateMatch((k,), 100.0, EXACT, f"estate {k}")
    inside = [c for c in choices if len(c) >= 2 and c in written]
    if inside:
        longest = max(map(len, inside))
        best = [c for c in inside if len(c) == longest]
        if len(best) == 1:
            return EstateMatch((best[0],), 95.0, FUZZY, f"estate {best[0]} named inside {written}")
    # a name it starts (90) competes with the names it is close to: 御景城 starts 御景城邦 but
    # is 御景新城 with a character dropped
    starts = {c: START_SCORE for c in choices if len(bare) >= 2 and c.startswith(bare)}
    return _fuzzy(bare, key, choices, min_score, margin, starts)


START_SCORE = 90.0
"""The score of a known estate whose name starts with the name written (荷清苑 → 荷清苑教师住宅区)."""


def _fuzzy(
    bare: str,
    key: str,
    choices: list[str],
    min_score: float,
    margin: float,
    found: dict[str, float],
) -> EstateMatch:
    """The closest known names to ``bare``/``key`` by characters and sound, ``found`` besides."""
    sounds = _sounds(tuple(choices))
    for query in dict.fromkeys((bare, key)):
        for choice, score, _ in process.extract(query, choices, scorer=fuzz.ratio, limit=3):
            found[choice] = max(found.get(choice, 0.0), float(score))
        heard = process.extract(_sound(query), sounds, scorer=fuzz.ratio, limit=3, processor=None)
        for _, score, at in heard:  # a homophone typed for another (青和 for 青禾)
            choice = choices[at]
            found[choice] = max(found.get(choice, 0.0), SOUND_WEIGHT * float(score))
    ranked = sorted(found.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < min_score:
        closest = f" (closest: {ranked[0][0]}, score {ranked[0][1]:.0f})" if ranked else ""
        return EstateMatch(
            (), ranked[0][1] if ranked else 0.0, UNMATCHED, f"no estate like {bare}{closest}"
        )
    best, score = ranked[0]
    close = [c for c, s in ranked if s > score - margin]
    if len(close) > 1:
        fewer = _fewer_changes(bare, key, close, margin)
        if fewer is None:
            shown = "、".join(f"{c} {s:.0f}" for c, s in ranked[: min(len(close), 6)])
            more = " …" if len(close) > 6 else ""
            said = (
                f"{bare} starts {len(close)} estates"
                if set(close) <= set(found) and all(c.startswith(bare) for c in close)
                else f"{bare} is as close to"
            )
            return EstateMatch(tuple(close), score, AMBIGUOUS, f"{said} {shown}{more}")
        best, score = fewer, found[fewer]
    how = "starts with" if best.startswith(bare) and score == START_SCORE else "≈"
    return EstateMatch((best,), score, FUZZY, f"estate {best} {how} {bare} (score {score:.0f})")


def _fewer_changes(bare: str, key: str, close: list[str], margin: float) -> str | None:
    """Of names as close in sound, the one written with clearly fewer changes, else ``None``.

    东方嘉圆 sounds like both 东方嘉园 and 东方家园, but is one character from the first and two
    from the second.
    """
    written = sorted(((max(fuzz.ratio(q, c) for q in (bare, key)), c) for c in close), reverse=True)
    (first, name), (second, _) = written[0], written[1]
    return name if first - second >= margin else None


SOUND_WEIGHT = 0.95
"""A name that sounds the same but is written otherwise scores this share of its sound match."""


@functools.lru_cache(maxsize=8)
def _sounds(choices: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [_sound(c) for c in choices]


def _sound(text: str) -> tuple[str, ...]:
    """The pinyin of every character, without tones (青禾 → ('qing', 'he'))."""
    return tuple(_char_sound(c) for c in text)


@functools.lru_cache(maxsize=20_000)
def _char_sound(char: str) -> str:
    from pypinyin import lazy_pinyin  # loads its dictionary (0.5 s) only when needed

    return lazy_pinyin(char)[0]


MATCH_COLUMNS = ("building_row", "status", "score", "reason", "candidates")


def match_parts(
    parts: pd.DataFrame,
    index: BuildingIndex,
    *,
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> pd.DataFrame:
    """Match parsed addresses (:func:`~geogrid.addresses.parse.parse_addresses`) to buildings.

    Estates are resolved once per distinct spelling and buildings looked up once per distinct
    (estate, number), so 50,000 rows take well under a second beyond parsing.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``parts``: ``building_row`` (position in the buildings layer, -1 when not
        assigned), ``status`` (one of :data:`STATUSES` but ``override``), ``score``
        (0–100), ``reason`` and ``candidates`` (building positions for an ambiguous row).
    """
    estates = parts["estate"].astype(object).where(parts["estate"].notna(), "")
    codes, distinct = pd.factorize(estates)
    resolved = resolve_estates(
        list(distinct), list(index.estates), min_score=min_score, margin=margin
    )
    numbers, written = pd.factorize(parts["building"].astype(object))  # -1: no number
    width = len(written) + 1
    pair_codes, pairs = pd.factorize(codes.astype(np.int64) * width + numbers + 1)
    answers = [
        _building(resolved[p // width], written[p % width - 1] if p % width else None, index)
        for p in pairs.tolist()
    ]
    table = pd.DataFrame(answers, columns=list(MATCH_COLUMNS))
    out = table.iloc[pair_codes].set_index(parts.index)
    return out


def _building(estate: EstateMatch, number: str | None, index: BuildingIndex) -> tuple:
    """(building_row, status, score, reason, candidates) of one (estate, number)."""
    shown = f"{number}号" if number else "no number"
    if estate.how == UNMATCHED:
        return -1, UNMATCHED, estate.score, estate.reason, []
    if estate.how == AMBIGUOUS:
        found = sorted({r for k in estate.keys for r in index.lookup.get((k, number), [])})
        if not found:
            return -1, UNMATCHED, estate.score, f"{estate.reason}; none has building {shown}", []
        if len(found) == 1 and number is not None:  # the number tells them apart
            return (
                found[0],
                FUZZY,
                estate.score,
                f"{estate.reason}; only one has building {shown}",
                [],
            )
        return -1, AMBIGUOUS, estate.score, f"{estate.reason}; building {shown}", found
    key = estate.keys[0]
    if not key and number is None:
        return -1, UNMATCHED, 0.0, "no estate and no building number in the address", []
    rows = index.lookup.get((key, number), [])
    if len(rows) == 1:
        return rows[0], estate.how, estate.score, f"{estate.reason}, building {shown}", []
    if len(rows) > 1:
        return -1, AMBIGUOUS, estate.score, f"{len(rows)} buildings {shown} in {key}", rows
    members = index.estates.get(key, [])
    alone = len(members) == 1 and (key, None) in index.lookup
    if alone:
        return members[0], estate.how, estate.score, f"{estate.reason}: its only building", []
    if number is None and members:
        return (
            -1,
            AMBIGUOUS,
            estate.score,
            f"no building number; {key} has {len(members)} buildings",
            sorted(members),
        )
    if not members:
        return -1, UNMATCHED, estate.score, f"{key} has no building in the buildings layer", []
    return (
        -1,
        UNMATCHED,
        estate.score,
        f"{key} has no building {shown} ({_numbers(index, key)})",
        sorted(members),  # its buildings, to choose from in the review sheet
    )


def _numbers(index: BuildingIndex, key: str) -> str:
    numbers = sorted(index.numbers.get(key, ()), key=_natural)
    if not numbers:
        return "its buildings have no numbers: add a number column or name them N号楼"
    head = "、".join(numbers[:12])
    return f"it has {head}{' …' if len(numbers) > 12 else ''}"


def _natural(text: str) -> tuple[int, str]:
    digits = "".join(c for c in text if c.isdigit())
    return (int(digits) if digits else 0, text)
