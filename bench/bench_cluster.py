"""Scaling of geogrid.cluster from 1 to N local workers: partition by area, batch location.

    .venv/bin/python bench/bench_cluster.py                     # 20 areas, 10 M points, 1 and 2 workers
    .venv/bin/python bench/bench_cluster.py --areas 8 --points 1000000   # a quick run
    .venv/bin/python bench/bench_cluster.py --only-relocate --relocate 100000  # PostGIS history

Partition: ``--areas`` synthetic communities (:func:`geogrid.cluster.synthetic.synthetic_areas`,
``--households`` points each, two roads, band 300-500, micro-grids 30-60), once in process
(:func:`geogrid.partition.partition_areas`) and on a ``LocalCluster`` of each worker count
(:func:`geogrid.cluster.partition_on_cluster`); every cluster plan is checked equal to the
in-process one (plan digest). Location: ``--points`` uniform points over that plan written as
``--parts`` GeoParquet parts in ``--folder`` (kept between runs), located in process (one part,
for the per-point cost) and by :func:`geogrid.cluster.locate_parquet` on each worker count; the
answers of one part are checked equal to the in-process ones.

Each cluster is started and warmed up (every worker imports geogrid) before it is timed; the
start-up is reported apart. CPU seconds are those the tasks measured on their workers
(``time.process_time``); the machine's load average is printed at the start and the end.
Results go to ``bench/results/cluster.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geogrid.cluster import client_for, locate_parquet, partition_on_cluster  # noqa: E402
from geogrid.cluster.synthetic import synthetic_areas  # noqa: E402
from geogrid.locate import GridIndex, locate_frame  # noqa: E402
from geogrid.partition import partition_areas  # noqa: E402
from geogrid.plan import GridPlan, plan_digest  # noqa: E402

OPTIONS: dict[str, Any] = {"band": (300, 500), "then_band": (30, 60), "seed": 1}


def _warm() -> None:
    import geogrid.cluster.locate
    import geogrid.partition  # noqa: F401


def _workers_cpu(client: Any) -> float:
    """CPU seconds the worker processes used so far, all of them together."""
    return float(sum(client.run(time.process_time).values()))


def _cluster(workers: int) -> tuple[Any, float]:
    start = time.perf_counter()
    client = client_for(f"local:{workers}", memory_limit="3GiB")
    client.wait_for_workers(workers, timeout=120)
    client.run(_warm)
    return client, time.perf_counter() - start


def bench_partition(args: argparse.Namespace) -> tuple[dict[str, Any], GridPlan]:
    areas, homes, roads = synthetic_areas(args.areas, args.households, np.random.default_rng(3))
    wall, cpu = time.perf_counter(), time.process_time()
    alone, _ = partition_areas(areas, homes, barriers=roads, **OPTIONS)
    found: dict[str, Any] = {
        "areas": args.areas,
        "households": int(homes["households"].sum()),
        "grids": int((alone.grids["level"] == 2).sum()),
        "micro_grids": int((alone.grids["level"] == 3).sum()),
        "in_process": {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu},
        "cluster": {},
    }
    digest = plan_digest(alone)
    for workers in args.workers:
        client, startup = _cluster(workers)
        with client:
            wall, cpu, used = time.perf_counter(), time.process_time(), _workers_cpu(client)
            plan, report = partition_on_cluster(
                areas, homes, client=client, barriers=roads, **OPTIONS
            )
            seconds = time.perf_counter() - wall
            found["cluster"][workers] = {
                "startup": startup,
                "wall": seconds,
                "workers_cpu": _workers_cpu(client) - used,
                "client_cpu": time.process_time() - cpu,
                "task_wall": sum(t.seconds for t in report.timings),
                "task_cpu": sum(t.cpu_seconds for t in report.timings),
                "same_plan": plan_digest(plan) == digest,
            }
        print(f"partition, {workers} worker(s): {found['cluster'][workers]}", flush=True)
    return found, alone


def _points(plan: GridPlan, args: argparse.Namespace) -> Path:
    folder = Path(args.folder) / f"points-{args.points}-{args.parts}"
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = plan.grids.total_bounds
    for n, size in enumerate(np.diff(np.linspace(0, args.points, args.parts + 1).astype(int))):
        x, y = rng.uniform(x0, x1, size), rng.uniform(y0, y1, size)
        part = gpd.GeoDataFrame(
            {"id": np.arange(size) + n * 10**9}, geometry=gpd.points_from_xy(x, y), crs=4490
        )
        part.to_parquet(folder / f"part.{n:05d}.parquet")
    (folder / "done").write_text("")
    return folder


def bench_locate(plan: GridPlan, args: argparse.Namespace) -> dict[str, Any]:
    points = _points(plan, args)
    first = gpd.read_parquet(points / "part.00000.parquet")
    wall, cpu = time.perf_counter(), time.process_time()
    index = GridIndex.from_plan(plan)
    build = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    wall, cpu = time.perf_counter(), time.process_time()
    want = locate_frame(index, first)
    one = {
        "points": len(first),
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }
    found: dict[str, Any] = {
        "points": args.points,
        "parts": args.parts,
        "grids": len(plan.grids),
        "index_build": build,
        "in_process_one_part": one,
        "cluster": {},
    }
    for workers in args.workers:
        client, startup = _cluster(workers)
        out = Path(args.folder) / f"located-{workers}"
        with client:
            cpu, used = time.process_time(), _workers_cpu(client)
            summary = locate_parquet(plan, points, out, client, staff=args.staff)
            used = _workers_cpu(client) - used
        got = gpd.read_parquet(out / "part.00000.parquet")
        same = got["grid_code"].reset_index(drop=True).equals(want["grid_code"])
        found["cluster"][workers] = {
            "startup": startup,
            "wall": summary.seconds,
            "client_cpu": time.process_time() - cpu,
            "workers_cpu": used,
            "task_cpu": summary.task_cpu_seconds,
            "task_wall": summary.task_seconds,
            "phases_cpu": summary.phases,
            "arrow_parts": summary.arrow_parts,
            "inside": summary.inside,
            "same_answers_part0": bool(same),
        }
        print(f"locate, {workers} worker(s): {found['cluster'][workers]}", flush=True)
    return found


KERNELS = ("alu", "memory", "locate", "part")


def _kernel(name: str, folder: str, number: int) -> Any:
    """One round of a ``--machine`` kernel, ready to run (its set-up done here)."""
    if name == "alu":  # arithmetic on 32 KB: cores only, no memory traffic
        small = np.random.default_rng(number).random(4096)
        return lambda: [np.sqrt(np.sin(small) ** 2 + 1.0) for _ in range(6000)]
    if name == "memory":  # streaming 400 MB: memory bandwidth
        big = np.random.default_rng(number).random(50_000_000)
        return lambda: [big.sum() for _ in range(8)]
    import pickle

    import pyarrow.parquet as pq

    from geogrid.cluster.parts import Texts, located_table

    plan = pickle.loads((Path(folder) / "plan.pickle").read_bytes())
    index = GridIndex.from_plan(plan)
    parts = sorted(Path(folder).glob("points-*/part.*.parquet"))
    source = parts[number % len(parts)]
    if name == "locate":  # the index alone, on one part's points
        x, y = _xy(source)
        return lambda: [index.locate(x, y) for _ in range(4)]
    texts = Texts.of(index, {})
    target = Path(folder) / f"machine-{number}.parquet"

    def part() -> None:  # what a worker does with a part: read, locate, write (Arrow)
        table = pq.read_table(source)
        found = located_table(
            table, index, texts, crs=None, lon="lon", lat="lat", staff=False, chunk_size=10**6
        )
        assert found is not None
        pq.write_table(found[0], target, compression="snappy")

    return part


def _xy(source: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = gpd.read_parquet(source)
    return frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()


def _machine_process(name: str, folder: str, number: int, rounds: int, gate: Any, out: Any) -> None:
    run = _kernel(name, folder, number)
    run()  # warm
    gate.wait()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        run()
    out.put((number, time.perf_counter() - wall, time.process_time() - cpu))


def bench_machine(args: argparse.Namespace) -> dict[str, Any]:
    """The same CPU-bound kernels in 1 and in 2 plain processes at once (no Dask).

    Each process does the same work whatever the count; the efficiency of 2 processes is
    (1 process's wall) / (2 processes' wall): what this machine gives a second worker.
    """
    import multiprocessing
    import pickle

    areas, homes, roads = synthetic_areas(args.areas, args.households, np.random.default_rng(3))
    plan, _ = partition_areas(areas, homes, barriers=roads, **OPTIONS)
    _points(plan, args)
    (Path(args.folder) / "plan.pickle").write_bytes(pickle.dumps(plan))
    context = multiprocessing.get_context("spawn")
    found: dict[str, Any] = {"rounds": args.repeat, "kernels": {}}
    for name in KERNELS:
        walls: dict[int, list[float]] = {}
        for count in (1, 2, 1, 2):  # interleaved: a change of load hits both
            gate, out = context.Barrier(count), context.Queue()
            processes = [
                context.Process(
                    target=_machine_process,
                    args=(name, args.folder, n, args.repeat, gate, out),
                )
                for n in range(count)
            ]
            for process in processes:
                process.start()
            done = [out.get() for _ in processes]
            for process in processes:
                process.join()
            walls.setdefault(count, []).append(max(wall for _, wall, _ in done))
        one, two = min(walls[1]), min(walls[2])
        found["kernels"][name] = {
            "one_process": walls[1],
            "two_processes": walls[2],
            "efficiency": one / two,
            "load_average": os.getloadavg(),
        }
        print(f"machine {name}: {found['kernels'][name]}", flush=True)
    return found


def bench_relocate(plan: GridPlan, args: argparse.Namespace) -> dict[str, Any]:
    """``--relocate N`` incidents in a PostGIS store re-located after a redraw (2 passes)."""
    import datetime as dt

    import psycopg

    from geogrid.cluster import relocate_incidents
    from geogrid.incidents.simulate import simulate_year
    from geogrid.store import open_store

    name = "geogrid_bench_cluster"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}", autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    areas, homes, roads = synthetic_areas(args.areas, args.households, np.random.default_rng(3))
    redrawn, _ = partition_areas(areas, homes, barriers=roads, band=(200, 350), seed=2)
    redrawn.name = plan.name
    found: dict[str, Any] = {"incidents": args.relocate, "passes": []}
    with open_store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}") as store:
        for version, drawn in enumerate((plan, redrawn), start=1):
            store.save(drawn, by="bench")
            store.approve(drawn.name, version, by="bench")
            store.activate(drawn.name, version, by="bench")
            if version == 1:
                start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
                wall = time.perf_counter()
                simulate_year(
                    store, incidents=args.relocate, closed_share=0.95, start=start, seed=1
                )
                found["simulate_seconds"] = time.perf_counter() - wall
        client, _ = _cluster(max(args.workers))
        with client:
            for _ in range(2):  # the second pass finds nothing to move: read + locate alone
                cpu, used = time.process_time(), _workers_cpu(client)
                summary = relocate_incidents(store, client, batch=25_000)
                found["passes"].append(
                    {
                        "workers": max(args.workers),
                        "wall": summary.seconds,
                        "client_cpu": time.process_time() - cpu,
                        "workers_cpu": _workers_cpu(client) - used,
                        "changed": summary.changed,
                        "outside": summary.outside,
                    }
                )
                print(f"relocate: {found['passes'][-1]}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--areas", type=int, default=20)
    parser.add_argument("--households", type=int, default=1200, help="points per area")
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--workers", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2])
    parser.add_argument("--folder", default="/tmp/geogrid-bench-cluster")
    parser.add_argument(
        "--relocate", type=int, default=0, help="also re-locate N incidents in PostGIS (0: no)"
    )
    parser.add_argument("--only-relocate", action="store_true", help="skip partition and locate")
    parser.add_argument(
        "--only-locate", action="store_true", help="skip the partition scaling (locate only)"
    )
    parser.add_argument("--staff", action="store_true", help="add the staff column when locating")
    parser.add_argument(
        "--machine",
        action="store_true",
        help="the machine's own ceiling: the same kernels in 1 and 2 plain processes, no Dask",
    )
    parser.add_argument("--repeat", type=int, default=6, help="--machine: rounds per kernel")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results" / "cluster.json"))
    args = parser.parse_args()
    load_start = os.getloadavg()
    if args.only_relocate:
        areas, homes, roads = synthetic_areas(args.areas, args.households, np.random.default_rng(3))
        plan, _ = partition_areas(areas, homes, barriers=roads, **OPTIONS)
        found = bench_relocate(plan, args)
        found["load_average"] = [load_start, os.getloadavg()]
        print(json.dumps(found, indent=2))
        return
    if args.machine:
        found = bench_machine(args)
        found["load_average"] = [load_start, os.getloadavg()]
        Path(args.results).with_name("cluster_machine.json").write_text(
            json.dumps(found, indent=2) + "\n"
        )
        print(json.dumps(found, indent=2))
        return
    if args.only_locate:
        areas, homes, roads = synthetic_areas(args.areas, args.households, np.random.default_rng(3))
        plan, _ = partition_areas(areas, homes, barriers=roads, **OPTIONS)
        located = bench_locate(plan, args)
        located["load_average"] = [load_start, os.getloadavg()]
        print(json.dumps(located, indent=2, default=str))
        print(pd.Series(locate_summary(located)).to_string())
        return
    partition, plan = bench_partition(args)
    located = bench_locate(plan, args)
    results = {
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "cores": os.cpu_count(),
        "partition": partition,
        "locate": located,
        "relocate": bench_relocate(plan, args) if args.relocate else None,
    }
    Path(args.results).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))
    print(pd.Series(summary(results)).to_string())


def summary(results: dict[str, Any]) -> dict[str, str]:
    """The derived figures: speed-up, efficiency, per-task overhead, throughput per worker."""
    part, loc = results["partition"], results["locate"]
    shown: dict[str, str] = {}
    counts = sorted(int(w) for w in part["cluster"])
    one = part["cluster"][counts[0]]
    shown["partition per area (task wall / CPU)"] = (
        f"{one['task_wall'] / part['areas']:.2f} s / {one['task_cpu'] / part['areas']:.2f} s"
    )
    shown["partition per-task overhead (1 worker: wall - task wall, per task)"] = (
        f"{(one['wall'] - one['task_wall']) / part['areas']:.3f} s"
    )
    for w in counts:
        p = part["cluster"][w]
        shown[f"partition {w}w speed-up / efficiency"] = (
            f"{one['wall'] / p['wall']:.2f} / {one['wall'] / p['wall'] / w:.2f}"
        )
        shown[f"partition {w}w worker CPU"] = f"{p['workers_cpu']:.1f} s"
    return shown | locate_summary(loc)


def locate_summary(loc: dict[str, Any]) -> dict[str, str]:
    """Speed-up, efficiency, per-task overhead, per-phase CPU and throughput of location."""
    shown: dict[str, str] = {}
    per_point = loc["in_process_one_part"]["cpu"] / loc["in_process_one_part"]["points"]
    shown["locate in process (locate_frame), CPU per point"] = f"{per_point * 1e6:.2f} µs"
    counts = sorted(int(w) for w in loc["cluster"])
    first = loc["cluster"][counts[0]]
    for w in counts:
        lc = loc["cluster"][w]
        shown[f"locate {w}w wall / speed-up / efficiency"] = (
            f"{lc['wall']:.2f} s / {first['wall'] / lc['wall']:.2f} / "
            f"{first['wall'] / lc['wall'] / w:.2f}"
        )
        shown[f"locate {w}w points/s per worker (wall)"] = f"{loc['points'] / lc['wall'] / w:,.0f}"
        shown[f"locate {w}w task CPU per point"] = f"{lc['task_cpu'] / loc['points'] * 1e6:.2f} µs"
        phases = lc.get("phases_cpu", {})
        shown[f"locate {w}w CPU per point by phase"] = ", ".join(
            f"{k} {v / loc['points'] * 1e6:.2f} µs" for k, v in phases.items() if k != "build"
        )
        shown[f"locate {w}w index build (level tasks, CPU, all workers)"] = (
            f"{phases.get('build', 0.0):.2f} s"
        )
        overhead = (lc["wall"] * w - lc.get("task_wall", 0.0) - phases.get("build", 0.0)) / (
            loc["parts"]
        )
        shown[f"locate {w}w per-task overhead ((workers x wall - task wall - build) / parts)"] = (
            f"{overhead * 1e3:.0f} ms"
        )
        shown[f"locate {w}w worker CPU per point"] = (
            f"{lc['workers_cpu'] / loc['points'] * 1e6:.2f} µs"
        )
        shown[f"locate {w}w CPU efficiency (1w worker CPU / {w}w worker CPU)"] = (
            f"{first['workers_cpu'] / lc['workers_cpu']:.2f}"
        )
    return shown


if __name__ == "__main__":
    main()
