"""A made-up street and its household register, with realistic noise and known truth.

:func:`make_town` lays out estates (小区) of numbered apartment buildings and villages of
numbered groups (村民小组) with numbered houses; the buildings carry their numbers the ways
real layers do (``name`` = ``3号楼`` or ``3栋``, or ``addr:housenumber`` = ``3``), and their
estate in an ``estate`` column or only through the estates layer. A few estates have two
buildings with the same number (一期/二期 both with a 3号楼), as real ones do.

:func:`make_register` writes one row a household with the address a clerk would type, and
noise at the rates of :data:`NOISE`: the estate with or without 小区 and with or without the
city/district/street before it, building markers 栋/号楼/幢/号/#, Chinese numerals,
full-width digits, ``3-2-501``, stray spaces, a typo or a dropped character in the estate's
name, its first two characters only; and impossible rows (an estate that is not there, a
building number the estate lacks, an empty or unknown address), whose truth is ``None``.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from geogrid.plan import PLAN_CRS

__all__ = ["NOISE", "Town", "make_register", "make_town", "noisy_address"]

_HEADS = [
    "青禾",
    "阳光",
    "锦绣",
    "金色",
    "翠湖",
    "碧水",
    "华府",
    "紫荆",
    "盛世",
    "幸福",
    "和谐",
    "东方",
    "滨江",
    "书香",
    "丽景",
    "春华",
    "御景",
    "龙湖",
    "万象",
    "天骄",
    "银河",
    "明珠",
    "桂花",
    "枫林",
    "凤凰",
    "牡丹",
    "海棠",
    "玉兰",
    "新华",
    "长城",
    "朝阳",
    "星河",
    "西湖",
    "南山",
    "北辰",
    "泰和",
    "康乐",
    "富贵",
    "怡景",
    "宏图",
]
_TAILS = [
    "名都",
    "花园",
    "家园",
    "雅苑",
    "新城",
    "公馆",
    "华庭",
    "丽都",
    "嘉园",
    "佳苑",
    "国际",
    "府邸",
    "雅居",
    "名苑",
    "水岸",
    "天地",
    "城邦",
    "美庐",
]
_VILLAGES = [
    "青山",
    "白石",
    "黄土",
    "柳树",
    "杨家",
    "李家",
    "王庄",
    "高桥",
    "石门",
    "河口",
    "马鞍",
    "桃园",
    "梨花",
    "大湾",
    "小溪",
    "松林",
]
# characters a clerk types instead (same sound or look)
_TYPOS = {
    "青": "清",
    "禾": "和",
    "锦": "金",
    "绣": "秀",
    "翠": "萃",
    "碧": "壁",
    "华": "化",
    "园": "圆",
    "苑": "院",
    "都": "督",
    "府": "付",
    "湖": "糊",
    "城": "成",
    "庭": "廷",
    "嘉": "佳",
    "丽": "利",
    "雅": "亚",
    "居": "局",
    "景": "井",
    "山": "三",
    "石": "实",
    "家": "佳",
    "庄": "装",
    "桥": "乔",
    "河": "和",
    "林": "琳",
    "明": "名",
    "星": "兴",
}
_FULL = str.maketrans("0123456789-", "０１２３４５６７８９－")
_CN = "零一二三四五六七八九"
NOISE = {
    "suffix": 0.5,  # 小区 written or left out
    "admin": 0.25,  # 北京市海淀区清华园街道 before the estate
    "chinese": 0.12,  # 三栋二单元
    "fullwidth": 0.08,  # ３栋２单元５０１
    "hyphen": 0.12,  # 3-2-501
    "spaces": 0.05,
    "typo": 0.05,  # one character of the estate's name mistyped
    "drop": 0.015,  # one character of the estate's name left out
    "short": 0.01,  # only the first two characters of the estate's name
    "impossible": 0.02,  # no such estate or building, or no address at all
}
"""Rates of each kind of noise in :func:`make_register` (each drawn independently)."""


@dataclasses.dataclass
class Town:
    """Buildings and estates of :func:`make_town` (EPSG:4490) and each building's facts."""

    buildings: gpd.GeoDataFrame
    estates: gpd.GeoDataFrame


def make_town(n_estates: int = 120, n_villages: int = 12, *, seed: int = 0) -> Town:
    """A street of ``n_estates`` estates and ``n_villages`` villages (3–8 groups each).

    Buildings: ``building_id`` (``B00001`` …), ``estate`` (sometimes empty: known only from
    the estates layer), ``name`` and ``addr:housenumber`` (one or the other carries the
    number), ``households`` (the truth's capacity), and columns ``true_estate``,
    ``true_number``, ``kind`` (``apartment``/``house``) used to write addresses.
    """
    rng = np.random.default_rng(seed)
    names = _estate_names(rng, n_estates)
    rows: list[dict[str, object]] = []
    estates: list[dict[str, object]] = []
    size = 400.0
    for e, name in enumerate(names):
        x0, y0 = (e % 20) * size, (e // 20) * size
        estates.append(
            {
                "name": name + ("小区" if rng.random() < 0.5 else ""),
                "geometry": box(x0, y0, x0 + 380, y0 + 380),
            }
        )
        count = int(rng.integers(4, 31))
        numbers = list(range(1, count + 1))
        if rng.random() < 0.08:  # 一期 and 二期 both have a 3号楼
            numbers.append(int(rng.integers(1, count + 1)))
        by_column = rng.random() < 0.5
        for k, number in enumerate(numbers):
            bx, by = x0 + 10 + (k % 6) * 60, y0 + 10 + (k // 6) * 60
            rows.append(
                _building(rng, name, number, by_column, box(bx, by, bx + 40, by + 30), "apartment")
            )
    for v, village in enumerate(
        rng.choice(_VILLAGES, size=min(n_villages, len(_VILLAGES)), replace=False)
    ):
        for g in range(1, int(rng.integers(3, 9)) + 1):
            base = len(names) + v * 10 + g
            x0, y0 = (base % 20) * size, (base // 20 + 10) * size
            group = f"{village}村{_CN[g] if g < 10 else g}组"
            estates.append({"name": group, "geometry": box(x0, y0, x0 + 380, y0 + 380)})
            for k, number in enumerate(range(1, int(rng.integers(10, 41)) + 1)):
                bx, by = x0 + 5 + (k % 8) * 45, y0 + 5 + (k // 8) * 45
                rows.append(
                    _building(
                        rng,
                        f"{village}村{g}组",
                        number,
                        True,
                        box(bx, by, bx + 15, by + 12),
                        "house",
                    )
                )
    frame = pd.DataFrame(rows)
    frame.insert(0, "building_id", [f"B{i + 1:05d}" for i in range(len(frame))])
    metric = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
    offset = np.array([500000.0, 3400000.0])
    geoms = gpd.GeoSeries(frame.pop("geometry"), crs=metric).translate(*offset)
    zones = gpd.GeoDataFrame(estates, crs=metric)
    zones["geometry"] = zones.translate(*offset)
    return Town(
        gpd.GeoDataFrame(frame, geometry=geoms.to_crs(PLAN_CRS).to_numpy(), crs=PLAN_CRS),
        zones.to_crs(PLAN_CRS),
    )


def _estate_names(rng: np.random.Generator, n: int) -> list[str]:
    pairs = [h + t for h in _HEADS for t in _TAILS]
    chosen = rng.choice(len(pairs), size=min(n, len(pairs)), replace=False)
    return [pairs[i] for i in chosen]


def _building(
    rng: np.random.Generator, estate: str, number: int, by_column: bool, geom: object, kind: str
) -> dict[str, object]:
    house = kind == "house"
    named = not house and rng.random() < 0.5
    return {
        "estate": estate if by_column and (house or rng.random() < 0.7) else None,
        "name": (f"{number}号楼" if rng.random() < 0.6 else f"{number}栋") if named else None,
        "addr:housenumber": None if named else str(number),
        "households": int(rng.integers(1, 4)) if house else int(rng.integers(12, 90)),
        "true_estate": estate,
        "true_number": number,
        "kind": kind,
        "geometry": geom,
    }


def make_register(
    town: Town, n_rows: int = 50_000, *, seed: int = 0, noise: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """A register of ``n_rows`` households of ``town`` and the true building of each.

    Returns
    -------
    (pandas.DataFrame, pandas.Series)
        The register (``户号``, ``户主姓名``, ``住址``, ``人口数``, as text) and each row's true
        ``building_id`` (``None`` for an impossible row).
    """
    rates = {**NOISE, **(noise or {})}
    rng = np.random.default_rng(seed)
    b = town.buildings
    weights = b["households"].to_numpy(float)
    picks = rng.choice(len(b), size=n_rows, p=weights / weights.sum())
    records = b.drop(columns="geometry").to_dict("records")
    addresses: list[str] = []
    truth: list[str | None] = []
    for pick in picks.tolist():
        row = records[pick]
        if rng.random() < rates["impossible"]:
            addresses.append(_impossible(rng, row))
            truth.append(None)
            continue
        house = row["kind"] == "house"
        number = int(str(row["true_number"]))
        addresses.append(
            noisy_address(rng, str(row["true_estate"]), number, house=house, rates=rates)
        )
        truth.append(str(row["building_id"]))
    register = pd.DataFrame(
        {
            "户号": [f"{110108000000 + i:012d}" for i in range(n_rows)],
            "户主姓名": [_person(rng) for _ in range(n_rows)],
            "住址": addresses,
            "人口数": rng.integers(1, 6, size=n_rows).astype(str),
        }
    )
    return register, pd.Series(truth, dtype=object, name="building_id")


def noisy_address(
    rng: np.random.Generator,
    estate: str,
    number: int,
    *,
    house: bool = False,
    rates: dict[str, float] | None = None,
) -> str:
    """The address of a household of building ``number`` of ``estate``, as a clerk writes it.

    ``house`` writes a rural door plate (青山村3组15号; ``estate`` is ``青山村3组``), else an
    apartment with stairwell and door. Noise at ``rates`` (default :data:`NOISE`, of which
    ``impossible`` is not used here).
    """
    rates = {**NOISE, **(rates or {})}
    cn = rng.random() < rates["chinese"]
    if house:
        village, _, group = estate.partition("村")
        group = group.rstrip("组")
        estate_text = f"{village}村" + (f"{_cn(int(group))}组" if cn else f"{group}组")
        if rng.random() < 0.2:
            estate_text = f"{village}村第{_cn(int(group)) if cn else group}组"
    else:
        estate_text = _noisy_name(rng, estate, rates)
        if rng.random() < rates["suffix"]:
            estate_text += "小区"
    if rng.random() < rates["admin"]:
        estate_text = "北京市海淀区清华园街道" + estate_text
    if house:
        tail = f"{_cn(number) if cn else number}号"
    else:
        unit, room = (
            int(rng.integers(1, 5)),
            int(rng.integers(1, 19)) * 100 + int(rng.integers(1, 5)),
        )
        if rng.random() < rates["hyphen"]:
            tail = f"{number}-{unit}-{room}"
        else:
            mark = str(rng.choice(["栋", "号楼", "幢", "号", "#楼"], p=[0.4, 0.35, 0.1, 0.1, 0.05]))
            tail = f"{_cn(number) if cn else number}{mark}{_cn(unit) if cn else unit}单元{room}"
            tail += "室" if rng.random() < 0.3 else ""
    if rng.random() < rates["fullwidth"]:
        tail = tail.translate(_FULL)
    text = estate_text + tail
    if rng.random() < rates["spaces"]:
        cut = int(rng.integers(1, len(text)))
        text = text[:cut] + " " + text[cut:]
    return text


def _noisy_name(rng: np.random.Generator, name: str, rates: dict[str, float]) -> str:
    draw = rng.random()
    if draw < rates["typo"]:
        spots = [i for i, c in enumerate(name) if c in _TYPOS]
        if spots:
            i = int(rng.choice(spots))
            return name[:i] + _TYPOS[name[i]] + name[i + 1 :]
    elif draw < rates["typo"] + rates["drop"]:
        i = int(rng.integers(0, len(name)))
        return name[:i] + name[i + 1 :]
    elif draw < rates["typo"] + rates["drop"] + rates["short"]:
        return name[:2]
    return name


def _impossible(rng: np.random.Generator, row: dict[str, object]) -> str:
    kind = int(rng.integers(0, 4))
    if kind == 0:  # an estate that is not in the layer
        return f"{rng.choice(['新星', '晨曦', '远洋', '碧桂'])}{rng.choice(['湾', '里', '坊'])}小区3栋1单元101"
    if kind == 1:  # a building the estate does not have
        return f"{row['true_estate']}{int(str(row['true_number'])) + 60}号楼1单元101"
    if kind == 2:
        return ""
    return str(rng.choice(["不详", "外地", "暂住", "无固定住所"]))


def _cn(number: int) -> str:
    if number < 10:
        return _CN[number]
    if number < 20:
        return "十" + (_CN[number % 10] if number % 10 else "")
    if number < 100:
        return _CN[number // 10] + "十" + (_CN[number % 10] if number % 10 else "")
    return str(number)


def _person(rng: np.random.Generator) -> str:
    return str(rng.choice(list("王李张刘陈杨黄赵吴周"))) + str(
        rng.choice(list("伟芳娜敏静丽强磊军洋艳勇杰娟涛明超秀霞平刚"))
    )
