"""Several `geogrid serve` processes on one PostGIS: pick-up time of an activation, and req/s.

1. **Pick-up**: two server processes (periodic check one hour: only the store's NOTIFY
   brings a new version) on a scratch PostGIS database holding the Haidian sample; a third
   process (this script) saves, approves and activates a new version; the time from the
   activation's commit until *both* servers answer ``/locate`` from it, polled every 10 ms
   by one thread per server. Target ≤ 2 s.
2. **Throughput**: ``GET /locate`` of random points inside the sample at a fixed concurrency
   for a fixed time (``wrk``: ``make bench-deps``), against one server, then against each of
   two at once (each one worker); wrk runs on the same machine (say so when quoting).

    .venv/bin/python bench/bench_multinode.py [--rounds 10] [--seconds 10] [--no-write]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import psycopg
import shapely

from geogrid import samples
from geogrid.store import open_store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "multinode.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()
    name = f"geogrid_bench_nodes_{uuid.uuid4().hex[:8]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        plan = samples.load_sample("haidian")
        _activate(url, plan)
        servers = [_Server(url) for _ in range(2)]
        try:
            pickup = [_pickup(url, plan, servers, n) for n in range(args.rounds)]
            one = _load(servers[:1], args.seconds, args.concurrency, plan)
            two = _load(servers, args.seconds, args.concurrency, plan)
        finally:
            for server in servers:
                server.stop()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    report = _report(pickup, one, two, args)
    print(report)
    if not args.no_write:
        _write(report)


@dataclasses.dataclass
class _Server:
    url: str

    def __post_init__(self) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
        env |= {"GEOGRID_DATABASE_URL": self.url, "GEOGRID_LISTENING_CHECK_SECONDS": "3600"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from geogrid.cli import app; app()", "serve",
             "--port", str(self.port), "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while b'"listener":"ok"' not in _fetch(f"{self.base}/readyz"):
            assert time.monotonic() < deadline, "the plan listener did not connect"
            time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())
    except OSError:
        return b""


def _activate(url: str, plan: object) -> tuple[int, float]:
    with open_store(url) as store:
        info = store.save(plan, by="bench")  # type: ignore[arg-type]
        store.approve(info.plan, info.version, by="bench")
        store.activate(info.plan, info.version, by="bench")
        return info.version, time.perf_counter()


def _pickup(url: str, plan: object, servers: list[_Server], n: int) -> float:
    """Seconds from an activation's commit until every server answers from it."""
    grids = plan.grids.copy()  # type: ignore[attr-defined]
    grids.loc[grids.index[-1], "name"] = f"改名{n}"
    changed = dataclasses.replace(plan, grids=grids)  # type: ignore[type-var]
    point = shapely.point_on_surface(grids.geometry.iloc[-1])
    seen: dict[int, float] = {}
    version_box: list[int] = []
    ready = threading.Event()

    def watch(server: _Server) -> None:
        ready.wait()
        query = f"{server.base}/locate?lon={point.x}&lat={point.y}"
        needle = f'"version":{version_box[0]},'.encode()
        while needle not in _fetch(query):
            time.sleep(0.01)
        seen[server.port] = time.perf_counter()

    threads = [threading.Thread(target=watch, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    version, committed = _activate(url, changed)
    version_box.append(version)
    ready.set()
    for thread in threads:
        thread.join(60)
    return max(seen.values()) - committed


def _load(servers: list[_Server], seconds: float, concurrency: int, plan: object) -> dict:
    """``wrk`` (one thread, ``concurrency`` connections) against each server at once, over
    random points inside the sample (a Lua script cycles through them); summed."""
    area = shapely.union_all(plan.level(1).geometry.to_numpy())  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    west, south, east, north = area.bounds
    paths = [
        f"/locate?lon={x:.6f}&lat={y:.6f}"
        for x, y in zip(rng.uniform(west, east, 4000), rng.uniform(south, north, 4000), strict=True)
        if area.contains(shapely.Point(x, y))
    ]
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "points.lua"
        listed = ",".join(f'"{p}"' for p in paths)
        script.write_text(
            f"paths = {{{listed}}}\ni = 0\nrequest = function()\n  i = i % #paths + 1\n"
            '  return wrk.format("GET", paths[i])\nend\n',
            encoding="utf-8",
        )
        runs = [
            subprocess.Popen(
                [
                    "wrk",
                    "-t1",
                    f"-c{concurrency}",
                    f"-d{seconds:g}s",
                    "--latency",
                    "-s",
                    str(script),
                    server.base,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for server in servers
        ]
        outputs = [run.communicate()[0] for run in runs]
    rps = sum(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) for out in outputs)  # type: ignore[union-attr]
    p99 = max(_ms(re.search(r"99%\s+(\S+)", out).group(1)) for out in outputs)  # type: ignore[union-attr]
    p50 = max(_ms(re.search(r"50%\s+(\S+)", out).group(1)) for out in outputs)  # type: ignore[union-attr]
    errors = sum("Non-2xx" in out or "Socket errors" in out for out in outputs)
    return {"servers": len(servers), "rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def _ms(text: str) -> float:
    """A wrk latency (``812.00us``, ``3.21ms``, ``1.02s``) in milliseconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _report(pickup: list[float], one: dict, two: dict, args: argparse.Namespace) -> str:
    load = os.getloadavg()
    lines = [
        "## Several server processes (LISTEN/NOTIFY)",
        "",
        "Two `geogrid serve` processes (one worker each, periodic plan check one hour) on one "
        "PostGIS database with the Haidian sample; this script activates a new version "
        f"{len(pickup)} times and polls both servers every 10 ms; then `GET /locate` of "
        f"random points, `wrk -t1 -c{args.concurrency}` for {args.seconds:g} s against one "
        "server, then one such wrk against each of two at once (summed; p50/p99 the worse "
        "server's), wrk on the same 2-core machine. "
        f"Load average at the end: {load[0]:.1f}.",
        "",
        "```",
        f".venv/bin/python bench/bench_multinode.py --rounds {args.rounds} "
        f"--seconds {args.seconds:g}",
        "```",
        "",
        "| pick-up (commit → both servers answer the new version) | median | p90 | max |",
        "| --- | ---: | ---: | ---: |",
        f"| {len(pickup)} activations | {statistics.median(pickup) * 1000:.0f} ms | "
        f"{np.percentile(pickup, 90) * 1000:.0f} ms | {max(pickup) * 1000:.0f} ms |",
        "",
        "| servers | requests/s | p50 | p99 |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for run in (one, two):
        lines.append(
            f"| {run['servers']} | {run['rps']:.0f} | {run['p50_ms']:.1f} ms | "
            f"{run['p99_ms']:.1f} ms |"
        )
    lines += [
        "",
        f"Two processes against one: ×{two['rps'] / one['rps']:.2f} requests/s on this "
        "2-core machine, where wrk takes CPU of its own; on separate hosts each process adds "
        "its own cores. Target for the pick-up: ≤ 2 s "
        f"({'met' if max(pickup) <= 2 else 'missed'}: max {max(pickup):.2f} s).",
        "",
    ]
    return "\n".join(lines)


def _write(report: str) -> None:
    path = ROOT / "docs" / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    head = "## Several server processes (LISTEN/NOTIFY)"
    if head in text:
        start = text.index(head)
        end = text.find("\n## ", start + len(head))
        text = text[:start] + report + (text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + report
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
