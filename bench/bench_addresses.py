"""Benchmark: household register addresses → buildings (geogrid.addresses), with known truth.

Two registers:

* **synthetic** — :func:`geogrid.addresses.synthetic.make_town` (120 estates of 4–31
  apartment buildings, 12 villages of 3–8 groups of houses; 3,600 buildings) and a register of
  50,000 households written with the noise of :data:`geogrid.addresses.synthetic.NOISE`;
  three seeds. The match is timed on the table in memory and reading the ``.xlsx`` apart.
* **sample** — the shipped Haidian sample (``data/boundaries/haidian/households.gpkg``): one
  register row per estimated household of each residential building, addressed the way the
  building is named (``南2楼1单元101``, ``蓝旗营12号楼3单元502``, ``胜因院12号``) with numeral
  and full-width noise; buildings known only by their estate (西王庄小区 …) get a made-up
  number the layer does not have, as a real register would.

    .venv/bin/python bench/bench_addresses.py            # prints the tables, writes the JSON
    .venv/bin/python bench/bench_addresses.py --rows 5000 --seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geogrid.addresses import STATUSES, match_register, parse_address, read_register  # noqa: E402
from geogrid.addresses.synthetic import make_register, make_town, noisy_address  # noqa: E402

SAMPLE = ROOT / "data" / "boundaries" / "haidian" / "households.gpkg"
RESULTS = ROOT / "bench" / "results" / "addresses.json"


def outcome(found, truth: pd.Series) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Shares of rows on the right building, on a wrong one, left for review; and by status."""
    got = found.table["building_id"].astype(object).where(found.table["building_id"].notna(), None)
    assigned = got.notna().to_numpy()
    right = assigned & np.array([g == t for g, t in zip(got, truth, strict=True)])
    shares = found.shares()
    return {
        "rows": len(truth),
        "possible": float(truth.notna().mean()),
        "correct": float(right.mean()),
        "wrong": float((assigned & ~right).mean()),
        "wrong_rows": int((assigned & ~right).sum()),
        "review": float((~assigned).mean()),
        **{s: shares[s] for s in STATUSES if s != "override"},
    }


def synthetic(rows: int, seed: int, xlsx: bool) -> dict[str, float]:
    town = make_town(120, 12, seed=seed)
    register, truth = make_register(town, rows, seed=seed + 100)
    start = time.perf_counter()
    found = match_register(register, town.buildings, town.estates)
    seconds = time.perf_counter() - start
    result = {"seed": seed, "buildings": len(town.buildings), **outcome(found, truth)}
    result["match_s"] = seconds
    if xlsx:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "register.xlsx"
            register.to_excel(path, index=False)
            start = time.perf_counter()
            read_register(path)
            result["read_xlsx_s"] = time.perf_counter() - start
    return result


def sample_register(
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.Series, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    buildings = gpd.read_file(SAMPLE, layer="buildings")
    estates = gpd.read_file(SAMPLE, layer="estates")
    rng = np.random.default_rng(seed)
    rates = {"typo": 0.0, "drop": 0.0, "short": 0.0, "admin": 0.0}
    addresses, truth = [], []
    made_up: dict[str, int] = {}
    for row in buildings[buildings["households"] > 0].itertuples():
        name = row.name if isinstance(row.name, str) else None
        parts = parse_address(name) if name else None
        for _ in range(int(row.households)):
            if parts is not None and parts.building is not None:  # 南2楼, 蓝旗营12号楼, 8公寓
                address = name + ("楼" if name[-1].isdigit() else "") + _door(rng)
            elif isinstance(row.estate, str):  # a building known only by its estate
                number = made_up.setdefault(row.unit_id, len([k for k in made_up if k]) + 1)
                address = noisy_address(rng, row.estate.removesuffix("小区"), number, rates=rates)
            elif name:  # 专家公寓, 胜因院: a place of its own
                address = f"{name}{int(rng.integers(1, 40))}号"
            else:
                address = f"成府路{int(rng.integers(1, 200))}号"
            addresses.append(address)
            truth.append(row.unit_id)
    register = pd.DataFrame({"住址": addresses})
    return register, pd.Series(truth, dtype=object), buildings, estates


def _door(rng: np.random.Generator) -> str:
    """Stairwell and door as a clerk writes them: 2单元301, 二单元301室, ２单元３０１."""
    unit, room = int(rng.integers(1, 5)), int(rng.integers(1, 7)) * 100 + int(rng.integers(1, 5))
    text = f"{'一二三四'[unit - 1] if rng.random() < 0.12 else unit}单元{room}"
    text += "室" if rng.random() < 0.3 else ""
    return text.translate(_FULL) if rng.random() < 0.08 else text


_FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def sample() -> dict[str, float]:
    register, truth, buildings, estates = sample_register()
    start = time.perf_counter()
    found = match_register(register, buildings, estates)
    result = {**outcome(found, truth), "match_s": time.perf_counter() - start}
    reasons = found.table.loc[found.table["building_id"].isna(), "reason"]
    result["top_review_reasons"] = (
        reasons.str.replace(r"\d+", "N", regex=True).value_counts().head(4).to_dict()
    )
    return result


def _table(rows: list[dict[str, float]], title: str) -> str:
    head = "| run | rows | correct | wrong (rows) | review | exact | fuzzy | ambiguous | unmatched | match s |"
    lines = [f"### {title}", "", head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r.get('seed', 'sample')} | {int(r['rows']):,} | {r['correct']:.2%} | "
            f"{r['wrong']:.2%} ({r['wrong_rows']}) | {r['review']:.2%} | {r['exact']:.2%} | {r['fuzzy']:.2%} | "
            f"{r['ambiguous']:.2%} | {r['unmatched']:.2%} | {r['match_s']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-xlsx", action="store_true", help="skip timing the .xlsx read")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()
    runs = [synthetic(args.rows, seed, not args.no_xlsx) for seed in range(1, args.seeds + 1)]
    on_sample = sample()
    print(_table(runs, f"synthetic register, {args.rows:,} rows"))
    for r in runs:
        if "read_xlsx_s" in r:
            print(f"seed {r['seed']}: reading the .xlsx {r['read_xlsx_s']:.2f} s")
    print()
    print(_table([on_sample], "Haidian sample"))
    print("review reasons on the sample:", on_sample["top_review_reasons"])
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    print("machine:", machine)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        doc = {"machine": machine, "synthetic": runs, "sample": on_sample}
        RESULTS.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
