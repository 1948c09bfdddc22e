r"""Addresses → parts: estate (小区) or village group (村民小组), building, stairwell, door.

A household register (户籍/实有人口台账) writes one address a row, the way the clerk typed it::

    北京市海淀区青禾名都小区3栋2单元501室
    青禾名都３号楼二单元５０１
    青禾名都3-2-501
    青山村三组15号

:func:`normalise` brings every spelling to one form (full-width characters to ASCII, Chinese
numerals in number positions to digits, ``第`` and spaces dropped, letters upper-cased), and
:func:`parse_address` cuts the result into :class:`AddressParts`. The buildings' own names
(``3号楼``, ``蓝旗营12号楼``, ``西南19``) go through the same two functions, so a register and a
buildings layer meet on the same keys.

**Chinese numerals.** :func:`chinese_number` reads the numerals of addresses (一 … 九, 十, 百,
千, 两, 〇/零, e.g. 十二 → 12, 二十 → 20, 一百零一 → 101, 五〇一 → 501). It is a small parser of
its own: cn2an (0.5.24, the one library that does this) installs stray top-level ``build/``,
``example/`` and ``src/`` folders into site-packages and pulls in another package, for what
here is forty lines. Numerals are converted only where a number stands — before a marker such
as 栋, 号, 单元, 组, 期, or at the end — so estate names such as 三里屯 or 八一小区 keep their
characters.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import pandas as pd

__all__ = [
    "ESTATE_SUFFIXES",
    "AddressParts",
    "chinese_number",
    "estate_key",
    "normalise",
    "parse_address",
    "parse_addresses",
    "strip_admin",
]

_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9, "幺": 1}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "零〇○一二两三四五六七八九幺十百千"
# what may follow a number in an address
_MARKERS = "号楼|号院|栋|幢|座|单元|门|层|楼|室|户|号|组|队|期|区|排|院|#|-|$"
_CN_NUMBER = re.compile(f"[{_NUMERAL}]+(?=(?:{_MARKERS}))")
_ANY_NUMERAL = re.compile(f"[{_NUMERAL}]")
_SPACES = re.compile(r"[\s　·.,，、()（）\[\]【】]+")
ESTATE_SUFFIXES = (
    "住宅小区",
    "小区",
    "住宅区",
    "生活区",
    "家属院",
    "家属区",
    "社区",
    "居委会",
    "村委会",
    "居民委员会",
    "村民委员会",
)
"""Generic endings dropped from an estate's name for matching (青禾名都小区 → 青禾名都)."""

_ADMIN = re.compile(
    r"^(?:[^\d]{1,8}?(?:省|自治区|特别行政区))?"
    r"(?:[^\d]{1,8}?(?:市|自治州|州|盟|地区))?"
    r"(?:[^\d]{1,6}?(?<![小园校宅社片景住活厂营])(?:区|县|旗))?"
    r"(?:[^\d]{1,8}?(?:街道办事处|街道|镇|乡))?"
)
# a number and what follows it; a letter alone may name a building (A座)
_TOKEN = re.compile(
    r"(?P<num>[A-Z]?\d+[A-Z]?|[A-Z](?=座|栋|幢|号楼))"
    r"(?P<mark>号楼|号院|栋楼|栋|幢楼|幢|座楼|座|#楼|#|单元|门|层|楼|室|户|号|组|队|社|期|区|院|-)?"
)
_WORD = re.compile(r"[^\d\-#A-Z]{2,}")
# the common shape, read as the token walk below reads it: an estate without digits, then
# building (号楼/栋/幢/座/#), stairwell (单元/门) and door
_COMMON = re.compile(
    r"(?P<estate>[^\d\-#A-Z]+)(?P<building>\d+)(?:号楼|栋楼?|幢楼?|座楼?|#楼?)"
    r"(?P<unit>\d+)(?:单元|门)(?P<room>\d+)(?:室|户)?"
)
_ESTATE_MARKS = {"号院", "组", "队", "社", "期", "区", "院"}
_BUILDING_MARKS = {"号楼", "栋楼", "栋", "幢楼", "幢", "座楼", "座", "#楼", "#", "楼"}
_UNIT_MARKS = {"单元", "门"}
_ROOM_MARKS = {"室", "户"}
_ROAD_ENDS = ("路", "街", "道", "巷", "弄", "胡同", "里")


@dataclasses.dataclass(frozen=True)
class AddressParts:
    """The parts of one address, each normalised (see :func:`normalise`), ``None`` when absent.

    Attributes
    ----------
    text
        The whole address, normalised.
    estate
        Estate (小区), courtyard (院) or village group (村民小组) as written, with the
        administrative places before it (省/市/区/街道…; see :func:`strip_admin`), e.g.
        ``青禾名都小区`` or ``青山村3组``.
    building
        Building number (楼栋号 / 门牌号 of a rural house), e.g. ``"3"``, ``"12A"``, ``"A"``.
    unit
        Stairwell (单元).
    room
        Door number (室/户), e.g. ``"501"``.
    """

    text: str
    estate: str | None
    building: str | None
    unit: str | None
    room: str | None

    @property
    def estate_key(self) -> str | None:
        """The estate's name for matching (see :func:`estate_key`)."""
        return estate_key(self.estate)


def chinese_number(text: str) -> int | None:
    """The value of Chinese numerals as written in addresses, ``None`` when not one.

    Examples
    --------
    >>> [chinese_number(t) for t in ("三", "十二", "二十", "一百零一", "五〇一", "两千", "七十五")]
    [3, 12, 20, 101, 501, 2000, 75]
    >>> chinese_number("三里") is None
    True
    """
    if not text or any(c not in _DIGITS and c not in _UNITS for c in text):
        return None
    if not any(c in _UNITS for c in text):  # digit by digit: 五〇一
        return int("".join(str(_DIGITS[c]) for c in text))
    total, digit = 0, None
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        else:
            total += (1 if digit is None else digit) * _UNITS[char]
            digit = None
    return total + (digit or 0)


def normalise(text: object) -> str:
    """An address in one spelling: ASCII digits and letters, Arabic numbers, no spaces.

    Examples
    --------
    >>> normalise("青禾名都小区 ３栋二单元５０１室")
    '青禾名都小区3栋2单元501室'
    >>> normalise("第三组"), normalise("三里屯小区"), normalise("a座")
    ('3组', '三里屯小区', 'A座')
    """
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    value = unicodedata.normalize("NFKC", str(text)).upper()
    value = _SPACES.sub("", value).replace("—", "-").replace("~", "-")
    if _ANY_NUMERAL.search(value):
        value = _CN_NUMBER.sub(lambda m: _numeral(m, value), value)
    return value.replace("第", "") if "第" in value else value


def _numeral(found: re.Match[str], text: str) -> str:
    number = chinese_number(found.group())
    if number is None:
        return found.group()
    # 19二单元 is building 19, stairwell 2: keep the numbers apart
    glue = "-" if found.start() > 0 and text[found.start() - 1].isdigit() else ""
    return f"{glue}{number}"


def estate_key(name: str | None) -> str | None:
    """An estate's name for matching: normalised, generic ending dropped (青禾名都小区 → 青禾名都).

    Examples
    --------
    >>> estate_key("青禾名都小区"), estate_key("青山村三组"), estate_key("小区")
    ('青禾名都', '青山村3组', '小区')
    """
    if name is None:
        return None
    return _without_suffix(normalise(name))


def _without_suffix(value: str) -> str | None:
    for suffix in ESTATE_SUFFIXES:
        if value.endswith(suffix) and len(value) > len(suffix) + 1:
            return value[: -len(suffix)]
    return value or None


def strip_admin(estate: str) -> str:
    """``estate`` without the administrative places written before it (省, 市, 区/县, 街道/镇/乡).

    Only a guess (城市花园 starts like a city), so matching tries the name as written first.

    Examples
    --------
    >>> strip_admin("北京市海淀区清华园街道青禾名都小区"), strip_admin("青禾名都小区")
    ('青禾名都小区', '青禾名都小区')
    """
    found = _ADMIN.match(estate)
    rest = estate[found.end() :] if found else estate
    return rest if len(rest) >= 2 else estate


def parse_address(text: object) -> AddressParts:
    """Cut one address into its parts.

    Examples
    --------
    >>> parse_address("北京市海淀区青禾名都小区3栋2单元501室")
    AddressParts(text='北京市海淀区青禾名都小区3栋2单元501室', estate='北京市海淀区青禾名都小区', building='3', unit='2', room='501')
    >>> p = parse_address("青禾名都三号楼2-501")
    >>> p.estate, p.building, p.unit, p.room
    ('青禾名都', '3', '2', '501')
    >>> p = parse_address("青山村三组15号")
    >>> p.estate, p.building, p.room
    ('青山村3组', '15', None)
    >>> p = parse_address("成府路12号院3号楼501")
    >>> p.estate, p.building, p.room
    ('成府路12号院', '3', '501')
    """
    body = value = normalise(text)
    common = _COMMON.fullmatch(body)
    if common is not None:  # 青禾名都小区3栋2单元501室: most rows, read by one pattern
        return AddressParts(value, *common.group("estate", "building", "unit", "room"))
    tokens = list(_TOKEN.finditer(body))
    start = _first_place_token(body, tokens)
    estate = body[: tokens[start].start()] if start < len(tokens) else body
    if not estate and tokens:  # 8公寓301: the name after the number says which series
        after = _WORD.match(body, tokens[0].end())
        estate = after.group() if after else ""
    parts = _assign(tokens[start:])
    return AddressParts(value, estate or None, parts[0], parts[1], parts[2])


def _first_place_token(body: str, tokens: list[re.Match[str]]) -> int:
    """Index of the first token that is a building, unit or room rather than the estate's."""
    for i, token in enumerate(tokens):
        mark = token.group("mark") or ""
        before = body[: token.start()]
        if mark in _ESTATE_MARKS and i < len(tokens) - 1:
            continue
        if mark == "号" and before.endswith(_ROAD_ENDS) and i < len(tokens) - 1:
            continue  # a road's door number (成府路12号) holds the buildings after it
        if i == 0 and token.start() == 0 and mark in _ESTATE_MARKS:
            continue
        return i
    return len(tokens)


def _assign(tokens: list[re.Match[str]]) -> tuple[str | None, str | None, str | None]:
    """(building, unit, room) from the tokens after the estate."""
    building = unit = room = None
    loose: list[str] = []
    floor = False
    for token in tokens:
        num, mark = token.group("num"), token.group("mark") or ""
        if mark in _BUILDING_MARKS and building is None:
            building = num
        elif mark in _UNIT_MARKS and unit is None:
            unit = num
            floor = True  # 1单元101: what follows is the door
        elif mark in _ROOM_MARKS:
            room = num
        elif mark == "层":
            floor = True  # 5层501: what follows is the door
        elif floor and room is None and mark in ("", "号"):
            room = num
        elif mark == "号" and building is None and unit is None:
            building = num  # 3号 before anything else is the building (or a rural door plate)
        elif mark in ("", "-", "号") or mark in _ESTATE_MARKS:
            loose.append(num)
    # numbers without markers: 3-2-501, 2-501 after 3栋, 501 after 2单元
    slots = [s for s, v in (("building", building), ("unit", unit), ("room", room)) if v is None]
    if len(loose) == 2 and slots == ["building", "unit", "room"]:
        slots = ["building", "room"]
    elif len(loose) == 1 and len(slots) >= 1 and "room" in slots and building is not None:
        slots = ["room"]
    filled = dict(zip(slots, loose, strict=False))
    return (
        building or filled.get("building"),
        unit or filled.get("unit"),
        room or filled.get("room"),
    )


PARTS_COLUMNS = ("address_norm", "estate", "estate_key", "building", "unit", "room")


def parse_addresses(addresses: pd.Series) -> pd.DataFrame:
    """:func:`parse_address` of every row, each distinct address parsed once.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``addresses``: ``address_norm``, ``estate``, ``estate_key``,
        ``building``, ``unit``, ``room`` (``None`` where absent).

    Examples
    --------
    >>> parse_addresses(pd.Series(["青禾名都3栋2单元501", "三组5号"]))[["estate_key", "building"]]
      estate_key building
    0       青禾名都        3
    1         3组        5
    """
    codes, distinct = pd.factorize(addresses.astype(object).where(addresses.notna(), ""))
    rows = []
    keys: dict[str, str | None] = {}
    for text in distinct:
        parts = parse_address(text)
        estate = parts.estate
        if estate and estate not in keys:
            keys[estate] = _without_suffix(estate)
        key = keys[estate] if estate else None
        rows.append((parts.text, estate, key, parts.building, parts.unit, parts.room))
    table = pd.DataFrame(rows, columns=list(PARTS_COLUMNS), dtype=object)
    out = table.iloc[codes].set_index(addresses.index) if len(table) else table
    return out.reindex(addresses.index) if not len(table) else out
