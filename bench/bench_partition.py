"""Benchmark geogrid's partition against pymetis, GerryChain and spopt on the same units.

Datasets: the synthetic communities S, M (and L when made) of ../shared/data/bench and the
969 Leicester census output areas with real household counts (../shared/data/leicester);
``M-crossed`` (or ``S-crossed``) is M with service roads drawn through 5 % of its buildings
as extra barriers, and the dataset line reports the buildings the units split.
Every method partitions the *same* prepared units and adjacency (geogrid's tessellation for
the communities, the census areas themselves for Leicester) into the same number of grids;
building the units is timed separately. Each run happens in a forked child process, so a
method is stopped at the cap (600 s by default) and its peak memory is its own.

Usage (from the repository root)::

    .venv/bin/python bench/bench_partition.py --runs 3 --out bench/results/partition.json

``--only geogrid,pymetis`` limits the methods; ``--datasets S,M,leicester`` the inputs.
Run r uses seed ``--seed`` + r: the quality figures are those of the first run, with the
minimum Polsby–Popper and share in band over all runs beside them (``--runs 5``: seeds 0–4).
The load average before and after each method is recorded: the timings of a busy machine
are upper bounds.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geogrid.partition import Band, Partition, grid_count, partition, summary
from geogrid.units import Units, build_units, units_from_polygons

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GEOGRID_SHARED", ROOT.parent / "shared"))
BAND = Band(300, 500)
_CROSSING = 0.05  # "M-crossed": service roads drawn through 5 % of M's buildings


# --------------------------------------------------------------------------- datasets


SPLIT: dict[int, int] = {}  # id(units) → buildings the units split (a share < 99.9 % in one)


def community(path: Path, crossing: float = 0.0) -> tuple[Units, float]:
    """A bench community; ``crossing``: share of buildings a service road is drawn through."""
    boundary = gpd.read_file(path, layer="boundary")
    streets = gpd.read_file(path, layer="streets")
    buildings = gpd.read_file(path, layer="buildings")
    if crossing:
        blocks = gpd.read_file(path, layer="blocks")
        extra = _roads_through(buildings, blocks, crossing)
        streets = gpd.GeoDataFrame(
            geometry=np.concatenate([streets.geometry.to_numpy(), extra]), crs=streets.crs
        )
    start = time.perf_counter()
    units = build_units(boundary, buildings, barriers=streets)
    units.measures  # noqa: B018 - area, perimeter, centroid: part of preparing the units
    seconds = time.perf_counter() - start
    SPLIT[id(units)] = split_buildings(units, buildings)
    return units, seconds


def _roads_through(
    buildings: gpd.GeoDataFrame, blocks: gpd.GeoDataFrame, share: float, seed: int = 7
) -> np.ndarray:
    """Service roads through a ``share`` of the buildings: straight lines through each one's
    centroid at a random angle, across its whole block from street to street (a road another
    survey drew over a building, an OSM service road through an estate, a covered passage).
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(buildings), int(share * len(buildings)), replace=False)
    geoms = buildings.geometry.to_numpy()[chosen]
    centre = shapely.centroid(geoms)
    xy = shapely.get_coordinates(centre)
    angle = rng.uniform(0, np.pi, len(chosen))
    step = np.column_stack([np.cos(angle), np.sin(angle)]) * 5000.0
    lines = shapely.linestrings(np.stack([xy - step, xy + step], axis=1))
    faces = blocks.geometry.to_numpy()
    which, face = shapely.STRtree(faces).query(centre, predicate="intersects")
    found = np.full(len(chosen), -1)
    found[which[::-1]] = face[::-1]
    keep = found >= 0
    return shapely.get_parts(shapely.intersection(lines[keep], faces[found[keep]]))


def split_buildings(units: Units, buildings: gpd.GeoDataFrame) -> int:
    """Buildings inside the parent with less than 99.9 % of their footprint in one unit."""
    prints = buildings.to_crs(units.crs).geometry.to_numpy()
    prints = prints[shapely.within(prints, units.parent)]
    cells = units.table.geometry.to_numpy()
    which, cell = shapely.STRtree(cells).query(prints, predicate="intersects")
    pieces = shapely.area(shapely.intersection(prints[which], cells[cell]))
    largest = np.zeros(len(prints))
    np.maximum.at(largest, which, pieces)
    return int((largest < 0.999 * shapely.area(prints)).sum())


def leicester() -> tuple[Units, float]:
    areas = gpd.read_file(SHARED / "data" / "leicester" / "leicester_oa_2011.gpkg")
    start = time.perf_counter()
    units = units_from_polygons(areas, count_column="Total_Households", id_column="oa_code")
    units.measures  # noqa: B018
    return units, time.perf_counter() - start


def datasets(names: list[str]) -> dict[str, Callable[[], tuple[Units, float]]]:
    found: dict[str, Callable[[], tuple[Units, float]]] = {}
    for name in names:
        if name == "leicester":
            found[name] = leicester
            continue
        base, _, suffix = name.partition("-")
        crossing = _CROSSING if suffix == "crossed" else 0.0
        for folder in (
            SHARED / "data" / "bench",
            Path(os.environ.get("BENCH_DATA", "/nonexistent")),
        ):
            path = folder / f"community_{base}.gpkg"
            if path.exists():
                found[name] = lambda path=path, crossing=crossing: community(path, crossing)
                break
        else:
            print(f"skip {name}: community_{name}.gpkg not found (make L with the generator)")
    return found


# --------------------------------------------------------------------------- methods


def csr(units: Units) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xadj, adjncy, edge = units.neighbours()
    return xadj, adjncy, units.edges["cost"].to_numpy()[edge]


def run_geogrid(units: Units, k: int, seed: int) -> np.ndarray:
    return partition(units, band=BAND, seed=seed).assignment


def run_pymetis(units: Units, k: int, seed: int, contiguous: bool) -> np.ndarray:
    import pymetis

    xadj, adjncy, _ = csr(units)
    loads = units.table["households"].to_numpy(np.int64)
    options = pymetis.Options(seed=seed, contig=int(contiguous))
    _, parts = pymetis.part_graph(
        k, pymetis.CSRAdjacency(xadj, adjncy), vweights=loads, options=options
    )
    return np.asarray(parts)


def run_gerrychain(units: Units, k: int, seed: int) -> np.ndarray:
    import networkx as nx
    from gerrychain import Graph
    from gerrychain.partition.initial_partition_generators import recursive_tree_part

    graph = nx.Graph()
    loads = units.table["households"].to_numpy()
    for u in range(len(units)):
        graph.add_node(u, pop=int(loads[u]))
    graph.add_edges_from(zip(units.edges["a"].tolist(), units.edges["b"].tolist(), strict=True))
    total = float(loads.sum())
    parts = recursive_tree_part(
        Graph.from_networkx(graph), range(k), total / k, "pop", 0.25, rng=seed
    )
    return np.array([parts[u] for u in range(len(units))])


def run_maxp(units: Units, k: int, seed: int) -> np.ndarray:
    import libpysal
    from spopt.region import MaxPHeuristic

    frame = units.table[["households", "geometry"]].copy()
    frame["attr"] = 0.0
    weights = libpysal.weights.W(
        {u: v for u, v in _neighbour_lists(units).items()},
        silence_warnings=True,
    )
    model = MaxPHeuristic(
        frame, weights, ["attr"], "households", BAND.low, top_n=2, max_iterations_construction=1
    )
    np.random.seed(seed)  # spopt draws from numpy's global state
    model.solve()
    return np.asarray(model.labels_)


def _neighbour_lists(units: Units) -> dict[int, list[int]]:
    lists: dict[int, list[int]] = {u: [] for u in range(len(units))}
    for a, b in zip(units.edges["a"].tolist(), units.edges["b"].tolist(), strict=True):
        lists[a].append(b)
        lists[b].append(a)
    return lists


METHODS: dict[str, Callable[[Units, int, int], np.ndarray]] = {
    "geogrid": run_geogrid,
    "pymetis": lambda u, k, s: run_pymetis(u, k, s, contiguous=False),
    "pymetis-contig": lambda u, k, s: run_pymetis(u, k, s, contiguous=True),
    "gerrychain": run_gerrychain,
    "spopt-maxp": run_maxp,
}


# --------------------------------------------------------------------------- running


def _child(method: str, units: Units, k: int, seed: int, conn: Any) -> None:
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        labels = METHODS[method](units, k, seed)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send(("ok", labels, seconds, (peak - before) / 1024.0))
    except Exception as exc:  # reported in the table
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc(), 0.0))
    finally:
        conn.close()


def run_once(method: str, units: Units, k: int, seed: int, cap: float) -> dict[str, Any]:
    gc.freeze()  # the child's collector then leaves the parent's objects (and pages) alone
    context = mp.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(method, units, k, seed, child))
    process.start()
    child.close()
    start = time.perf_counter()
    if not parent.poll(cap):
        process.kill()
        process.join()
        return {"status": f"timeout > {cap:.0f} s"}
    status, labels, seconds, memory = parent.recv()
    process.join()
    if status != "ok":
        return {"status": f"error after {time.perf_counter() - start:.0f} s: {labels}"}
    return {"status": "ok", "labels": labels, "seconds": seconds, "extra_peak_mb": memory}


def measure(units: Units, labels: np.ndarray) -> dict[str, Any]:
    """Quality figures of an assignment, the same for every method."""
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.ravel()
    k = int(labels.max()) + 1
    loads = units.table["households"].to_numpy(float)
    result = Partition(units, labels, loads, k, BAND, loads.sum() / k, [None] * k, [], 0)
    figures = summary(result)
    grid_loads = result.grid_loads()
    geoms = result.grid_geometries()
    union_area = shapely.coverage_union_all(geoms).area
    return {
        "grids": k,
        "in_band": figures["in_band"],
        "load_min": float(grid_loads.min()),
        "load_max": float(grid_loads.max()),
        "worst_deviation": figures["worst_deviation"],
        "pp_mean": figures["pp_mean"],
        "pp_min": figures["pp_min"],
        "non_contiguous": figures["split_grids"],
        "coverage_valid": bool(shapely.coverage_is_valid(geoms)),
        "coverage_error_m2": float(abs(shapely.area(geoms).sum() - units.parent.area))
        + float(abs(union_area - units.parent.area)),
        "boundary_on_barriers": figures["on_barriers"],
    }


def bench(
    names: list[str], methods: list[str], runs: int, cap: float, seed: int
) -> list[dict[str, Any]]:
    import pymetis  # noqa: F401 - imported once here, not in every timed child

    rows = []
    for name, load in datasets(names).items():
        units, build_seconds = load()
        k, feasible = grid_count(units.households, BAND)
        split = SPLIT.get(id(units))
        print(
            f"== {name}: {len(units)} units, {units.households} households, K = {k} "
            f"(band {BAND}, feasible {feasible}), units built in {build_seconds:.2f} s"
            + (f", buildings split by the units: {split}" if split is not None else ""),
            flush=True,
        )
        for method in methods:
            times, memories, result = [], [], None
            seeds: list[dict[str, Any]] = []
            load_before = os.getloadavg()[0]
            for r in range(runs if method in ("geogrid", "pymetis", "pymetis-contig") else 1):
                outcome = run_once(method, units, k, seed + r, cap)
                if outcome["status"] != "ok":
                    result = {"status": outcome["status"]}
                    break
                times.append(outcome["seconds"])
                memories.append(outcome["extra_peak_mb"])
                figures = measure(units, outcome["labels"])
                seeds.append({"seed": seed + r, "seconds": outcome["seconds"], **figures})
                if result is None:
                    result = {"status": "ok", **figures}
            assert result is not None
            if times:
                result["seconds_median"] = statistics.median(times)
                result["seconds_all"] = times
                result["extra_peak_mb"] = max(memories)
                result["pp_min_over_seeds"] = min(x["pp_min"] for x in seeds)
                result["in_band_min_over_seeds"] = min(x["in_band"] for x in seeds)
                result["seeds"] = seeds
                result["load_average"] = [load_before, os.getloadavg()[0]]
            row = {
                "dataset": name,
                "method": method,
                "units": len(units),
                "units_seconds": build_seconds,
                "buildings_split": split,
                **result,
            }
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"  {row['method']:15s} {row['status']}"
    return (
        f"  {row['method']:15s} {row['seconds_median']:7.2f} s  {row['extra_peak_mb']:6.0f} MB  "
        f"in band {100 * row['in_band']:5.1f}% ({row['load_min']:.0f}–{row['load_max']:.0f})  "
        f"worst {100 * row['worst_deviation']:4.0f}%  PP {row['pp_mean']:.2f}/{row['pp_min']:.2f}  "
        f"split {row['non_contiguous']}  cover {row['coverage_error_m2']:.2g} m²  "
        f"on barriers {100 * row['boundary_on_barriers']:.0f}%  "
        f"over seeds: PP min {row['pp_min_over_seeds']:.2f}, "
        f"in band ≥ {100 * row['in_band_min_over_seeds']:.1f}%  "
        f"(times {', '.join(f'{t:.2f}' for t in row['seconds_all'])} s; "
        f"load {row['load_average'][0]:.1f}→{row['load_average'][1]:.1f})"
    )


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| data | method | time (median) | extra peak memory | grids | in band | loads | "
        "worst deviation | PP mean / min (min over seeds) | split grids | coverage error | "
        "boundary on barriers |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['dataset']} | {r['method']} | {r['status']} | | | | | | | | | |")
            continue
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['seconds_median']:.2f} s | "
            f"{r['extra_peak_mb']:.0f} MB | {r['grids']} | {100 * r['in_band']:.1f}% | "
            f"{r['load_min']:.0f}–{r['load_max']:.0f} | {100 * r['worst_deviation']:.0f}% | "
            f"{r['pp_mean']:.2f} / {r['pp_min']:.2f} ({r['pp_min_over_seeds']:.2f}) | "
            f"{r['non_contiguous']} | "
            f"{r['coverage_error_m2']:.2g} m² | {100 * r['boundary_on_barriers']:.0f}% |"
        )
    return "\n".join(lines)


def bench_redraw(name: str, share: float = 0.10, seed: int = 0) -> dict[str, Any]:
    """Partition a community, add ``share`` more households in its north-east quarter, redraw."""
    import pandas as pd

    from geogrid.partition import partition_areas, redraw

    path = SHARED / "data" / "bench" / f"community_{name}.gpkg"
    boundary = gpd.read_file(path, layer="boundary")
    streets = gpd.read_file(path, layer="streets")
    buildings = gpd.read_file(path, layer="buildings")
    areas = boundary.assign(code="420106001001", name=name)[["code", "name", "geometry"]]
    plan, _ = partition_areas(areas, buildings, band=BAND, barriers=streets, seed=seed)
    minx, miny, maxx, maxy = boundary.total_bounds
    polygon = boundary.geometry.iloc[0]
    rng = np.random.default_rng(seed)
    extra = int(buildings["households"].sum() * share)
    points: list[Any] = []
    while len(points) < extra:
        x = rng.uniform(minx + 0.75 * (maxx - minx), maxx)
        y = rng.uniform(miny + 0.75 * (maxy - miny), maxy)
        if polygon.contains(shapely.Point(x, y)):
            points.append(shapely.Point(x, y))
    new = gpd.GeoDataFrame({"households": np.ones(extra, int)}, geometry=points, crs=buildings.crs)
    now = pd.concat([buildings[["households", "geometry"]], new], ignore_index=True)
    start = time.perf_counter()
    result = redraw(plan, now, band=BAND, seed=seed)
    seconds = time.perf_counter() - start
    largest = int(result.plan.units["households"].max())
    row = {
        "dataset": name,
        "added": extra,
        "seconds": seconds,
        "moved": result.moved_households,
        "lower_bound": result.lower_bound,
        "ratio": result.moved_households / max(result.lower_bound, 1.0),
        "allowed": 1.25 * result.lower_bound + largest,
        "out_of_band": len(result.out_of_band),
        "new_grids": int((result.lineage["change"] == "new").sum()),
        "changed_grids": int((result.lineage["change"] == "changed").sum()),
    }
    print(f"redraw {name}: {row}", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="S,M,leicester")
    parser.add_argument("--only", default=",".join(METHODS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cap", type=float, default=600.0, help="seconds per method run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    parser.add_argument("--redraw", default=None, help="only the redraw test on S or M")
    args = parser.parse_args(argv)
    if args.redraw:
        bench_redraw(args.redraw, seed=args.seed)
        return 0
    rows = bench(args.datasets.split(","), args.only.split(","), args.runs, args.cap, args.seed)
    print()
    print(markdown(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2, default=_plain))
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(type(value))


if __name__ == "__main__":
    sys.exit(main())
