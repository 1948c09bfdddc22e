"""Benchmark: API latency of ``GET /locate`` under load and of 10,000-point ``POST /locate``.

Starts ``uvicorn --factory api.main:create_app`` on loopback (embedded store in a temporary
folder holding the 2,500-grid set of ``bench_locate.py``, activated), then

* single locate: an open-loop load of ``--rate`` requests/s for ``--seconds`` from an
  asyncio httpx client (requests are sent on schedule whether or not earlier ones are done,
  so queueing shows in the latency), p50/p99/max;
* batch: ``--batches`` POSTs of 10,000 random points, median and max.

    .venv/bin/python bench/bench_api.py --rate 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_locate import SETS, make_grids  # noqa: E402

from geogrid.plan import GridPlan  # noqa: E402
from geogrid.store import open_store  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _store_with_plan(folder: Path) -> tuple[float, float, float, float]:
    n, vertices, lon0, lat0, w, h = SETS["2,500 grids"]
    grids = make_grids(n, vertices, (lon0, lat0, lon0 + w, lat0 + h), seed=42)
    grids["name"] = grids["code"]
    plan = GridPlan("bench", ["网格"], grids)
    with open_store(f"sqlite:///{folder / 'geogrid.gpkg'}") as store:
        store.save(plan, by="bench")
        store.approve("bench", 1, by="bench")
        store.activate("bench", 1, by="bench")
    return tuple(float(v) for v in grids.total_bounds)  # type: ignore[return-value]


def _start(folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOGRID_")}
    env |= {"GEOGRID_DATA_DIR": str(folder), "GEOGRID_PLAN_CHECK_SECONDS": "1"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/locate?lon=116.3&lat=39.9", timeout=5):
                return process, url
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("the server did not start")


async def _single_load(
    url: str, bounds, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    import httpx

    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = bounds
    n = int(rate * seconds)
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def one(i: int) -> None:
            nonlocal failed
            start = time.perf_counter()
            try:
                response = await client.get("/locate", params={"lon": lon[i], "lat": lat[i]})
                response.raise_for_status()
            except httpx.HTTPError:
                failed += 1
                return
            latencies.append(time.perf_counter() - start)

        tasks = []
        begin = time.perf_counter()
        for i in range(n):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        sent = time.perf_counter() - begin
        await asyncio.gather(*tasks)
    return latencies, failed, n / sent


def _batches(url: str, bounds, count: int) -> list[float]:
    import httpx

    rng = np.random.default_rng(2)
    x0, y0, x1, y1 = bounds
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(count):
            points = [
                {"lon": float(a), "lat": float(b)}
                for a, b in zip(
                    rng.uniform(x0, x1, 10_000), rng.uniform(y0, y1, 10_000), strict=True
                )
            ]
            body = json.dumps({"crs": "wgs84", "points": points})
            start = time.perf_counter()
            response = client.post(
                "/locate", content=body, headers={"content-type": "application/json"}
            )
            response.raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bounds = _store_with_plan(folder)
        process, url = _start(folder, args.workers)
        try:
            _batches(url, bounds, 2)  # warm every worker
            asyncio.run(_single_load(url, bounds, 50, 2))
            done, failed, sent = asyncio.run(_single_load(url, bounds, args.rate, args.seconds))
            lat = np.array(done) * 1000
            print(
                f"GET /locate at {args.rate:.0f}/s asked, {sent:.0f}/s sent, for "
                f"{args.seconds:.0f} s ({args.workers} workers): p50 {np.percentile(lat, 50):.1f} ms, "
                f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms, n={lat.size}, "
                f"failed {failed}"
            )
            batch = np.array(_batches(url, bounds, args.batches)) * 1000
            print(
                f"POST /locate 10,000 points: median {statistics.median(batch):.0f} ms, "
                f"max {batch.max():.0f} ms (n={batch.size})"
            )
        finally:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
