"""Benchmark: vector tile latency from PostGIS at zoom 8–16, geogrid's ``/tiles`` beside tipg.

The store is a synthetic system of ``county_store.py`` on PostGIS, read only: the **city**
(12 streets, 4,506 grids) by default, the **province** (987 townships, 127,195 grids) with
``--full``. Tiles are of level 3 (the finest grids), picked around random grids (seeded), so
none is empty: ``--tiles`` per zoom.

* **geogrid over HTTP** (``uvicorn --factory api.main:create_app``, one worker, the store's
  versions in force): *uncached* — the first request of each tile (one ``ST_AsMVT`` query);
  *cached* — the same tiles again (the per-app LRU); *304* — again with ``If-None-Match``.
  Skipped with ``--full`` unless ``--serve`` (the service reads and indexes every plan before
  its first answer: minutes and gigabytes at province size, see "County and province").
* **geogrid's query in process** (:class:`geogrid.store.tiles.PostgisTiles`, no cache):
  each tile ``--repeats`` times — the uncached cost without HTTP, with enough samples for
  a p99 at low zooms, where a city has only a few distinct tiles; then again with every
  grid of a band cut by ``ST_AsMVTGeom`` (``shift=False``: none of the stored pixels of
  migration 0012 shifted), and with every tile cut from the grids themselves (no zoom
  bands: the query before migration 0010).
* **before** (``--before REV``): ``geogrid/store/tiles.py`` of git revision ``REV`` loaded
  beside the current one and timed on the same store, tile for tile, in turn with it (the
  SQL of an earlier version on today's tables; the store must still have what it reads).
* **tipg** (``tipg.main:app`` in its own venv, ``--tipg-venv``; ``pip install tipg uvicorn``)
  on a view of the same database's grids in force (schema ``bench_tiles``, made if missing),
  ``/collections/bench_tiles.grids_in_force/tiles/WebMercatorQuad/{z}/{x}/{y}?level=3``,
  buffer 64 like geogrid's; each tile ``--repeats`` times (tipg keeps no tile cache).

Sequential requests on one keep-alive connection (httpx), on a 2-core machine shared with
other work: figures are p50/p99 in milliseconds.

    .venv/bin/python bench/bench_tiles.py                 # city; prints a Markdown table
    .venv/bin/python bench/bench_tiles.py --full          # province, query and tipg only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from county_store import store_url  # noqa: E402

from geogrid.store import open_store  # noqa: E402
from geogrid.store.tiles import PostgisTiles  # noqa: E402
from geogrid.tiles import lonlat_to_tile  # noqa: E402
from tests.service import free_port, wait_until_up  # noqa: E402

ZOOMS = (8, 10, 12, 14, 16)
LEVEL = 3
VIEW = "bench_tiles.grids_in_force"
_VIEW_SQL = f"""
CREATE SCHEMA IF NOT EXISTS bench_tiles;
CREATE OR REPLACE VIEW {VIEW} AS
SELECT g.id, g.code, g.name, g.level, g.parent_code, g.households, g.kind,
       v.jurisdiction, v.plan_name AS plan, v.version, g.geom
FROM public.grids g JOIN public.plan_versions v ON v.id = g.version_id
WHERE v.status = 'active';
"""


def _tiles(
    url: str, per_zoom: int, seed: int, zooms: tuple[int, ...] = ZOOMS
) -> dict[int, list[tuple[int, int]]]:
    """Distinct tiles per zoom around random grids in force (level 3)."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        points = connection.execute(
            sa.text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(g.geom) AS c "
                "FROM grids g JOIN plan_versions v ON v.id = g.version_id "
                "WHERE v.status = 'active' AND g.level = :level ORDER BY g.id) AS p"
            ),
            {"level": LEVEL},
        ).all()
    engine.dispose()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(points))
    out: dict[int, list[tuple[int, int]]] = {}
    for z in zooms:
        seen: dict[tuple[int, int], None] = {}
        for n in order:
            seen.setdefault(lonlat_to_tile(points[n][0], points[n][1], z))
            if len(seen) == per_zoom:
                break
        out[z] = list(seen)
    return out


def _ms(samples: list[float]) -> tuple[float, float, int]:
    values = np.array(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99)), len(values)


def _get(client: httpx.Client, url: str, **kwargs: object) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    answer = client.get(url, **kwargs)  # type: ignore[arg-type]
    took = time.perf_counter() - start
    assert answer.status_code in (200, 204, 304), (url, answer.status_code, answer.text[:200])
    return took, answer


def _serve(command: list[str], env: dict[str, str], probe: str, wait: float) -> subprocess.Popen:
    server = subprocess.Popen(
        command, env=os.environ | env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    wait_until_up(server, probe, seconds=wait)
    return server


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def bench_geogrid_http(url: str, tiles: dict[int, list[tuple[int, int]]], wait: float) -> dict:
    """Uncached, cached and 304 latency of ``/tiles`` from a one-worker server."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {"GEOGRID_DATABASE_URL": url, "GEOGRID_DATA_DIR": folder}
        command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app"]
        command += ["--port", str(port), "--log-level", "warning"]
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        server = _serve(command, env, f"{base}/tiles/{LEVEL}.json", wait)
        print(f"geogrid up in {time.perf_counter() - started:.1f} s", flush=True)
        out: dict = {}
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                for z, places in tiles.items():
                    urls = [f"/tiles/{LEVEL}/{z}/{x}/{y}.mvt" for x, y in places]
                    first = [_get(client, u) for u in urls]
                    again = [_get(client, u)[0] for u in urls for _ in range(3)]
                    tags = [a.headers["etag"] for _, a in first]
                    revalidated = [
                        _get(client, u, headers={"If-None-Match": t})[0]
                        for u, t in zip(urls, tags, strict=True)
                    ]
                    sizes = [len(a.content) for _, a in first]
                    out[z] = {
                        "uncached": _ms([t for t, _ in first]),
                        "cached": _ms(again),
                        "304": _ms(revalidated),
                        "kB": float(np.mean(sizes)) / 1000,
                    }
        finally:
            _stop(server)
    return out


def bench_query(
    url: str,
    tiles: dict[int, list[tuple[int, int]]],
    repeats: int,
    *,
    banded: bool = True,
    shift: bool = True,
) -> dict:
    """geogrid's ``ST_AsMVT`` query in process, without any cache.

    ``banded``: tiles at zoom ≤ 10 from the generalised copies (as served); else every
    tile from the grids themselves (as before migration 0010). ``shift``: at a band's zoom
    the grids inside the tile shifted from their stored pixels (as served); else every
    grid cut by ``ST_AsMVTGeom`` (as before migration 0012).
    """
    out = {}
    with open_store(url) as store:
        maker = PostgisTiles(store)
        ids = maker.version_ids([(i.plan, i.version) for i in store.in_force()])
        generalised = maker.generalised_ids(ids) if banded else []
        print(f"{len(generalised)} of {len(ids)} versions generalised", flush=True)
        first = max(tiles)  # the deepest zoom: a small tile
        maker.tile(ids, LEVEL, first, *tiles[first][0])  # connect, plan the statement
        for z, places in tiles.items():
            samples, sizes = [], []
            for _ in range(repeats):
                for x, y in places:
                    start = time.perf_counter()
                    data = maker.tile(ids, LEVEL, z, x, y, generalised=generalised, shift=shift)
                    samples.append(time.perf_counter() - start)
                    sizes.append(len(data))
            out[z] = {"latency": _ms(samples), "kB": float(np.mean(sizes)) / 1000}
    return out


def _module_at(revision: str) -> ModuleType:
    """``geogrid/store/tiles.py`` as it was at git ``revision``, loaded as its own module."""
    source = subprocess.run(
        ["git", "show", f"{revision}:geogrid/store/tiles.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = ModuleType(f"tiles_at_{revision}")
    exec(compile(source, f"{revision}:geogrid/store/tiles.py", "exec"), module.__dict__)
    return module


def bench_before(
    url: str, tiles: dict[int, list[tuple[int, int]]], repeats: int, revision: str
) -> tuple[dict, dict]:
    """The query now and at ``revision``, tile for tile in turn (no cache): now, before."""
    old = _module_at(revision)
    now_out, old_out = {}, {}
    with open_store(url) as store:
        makers = (PostgisTiles(store), old.PostgisTiles(store))
        ids = makers[0].version_ids([(i.plan, i.version) for i in store.in_force()])
        generalised = makers[0].generalised_ids(ids)
        first = max(tiles)  # the deepest zoom: a small tile
        for maker in makers:
            maker.tile(ids, LEVEL, first, *tiles[first][0])  # connect, plan the statement
        for z, places in tiles.items():
            samples: tuple[list[float], list[float]] = ([], [])
            for _ in range(repeats):
                for x, y in places:
                    for maker, taken in zip(makers, samples, strict=True):
                        start = time.perf_counter()
                        maker.tile(ids, LEVEL, z, x, y, generalised=generalised)
                        taken.append(time.perf_counter() - start)
            now_out[z], old_out[z] = _ms(samples[0]), _ms(samples[1])
    return now_out, old_out


def bench_tipg(url: str, tiles: dict, repeats: int, venv: Path, wait: float) -> dict:
    """tipg's tiles of the same grids (a view of the versions in force), over HTTP."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(_VIEW_SQL)
    engine.dispose()
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)
    port = free_port()
    env = {
        "DATABASE_URL": dsn,
        "TIPG_DB_SCHEMAS": '["bench_tiles"]',
        "TIPG_DB_SPATIAL_EXTENT": "false",
        "TIPG_DB_DATETIME_EXTENT": "false",
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": "1000000",
    }
    command = [str(venv / "bin" / "uvicorn"), "tipg.main:app", "--port", str(port)]
    command += ["--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    server = _serve(command, env, f"{base}/collections", wait)
    out = {}
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            path = f"/collections/{VIEW}/tiles/WebMercatorQuad"
            deep = max(tiles)
            _get(client, f"{path}/{deep}/{tiles[deep][0][0]}/{tiles[deep][0][1]}?level={LEVEL}")
            for z, places in tiles.items():
                samples, sizes = [], []
                for _ in range(repeats):
                    for x, y in places:
                        took, answer = _get(client, f"{path}/{z}/{x}/{y}?level={LEVEL}")
                        samples.append(took)
                        sizes.append(len(answer.content))
                out[z] = {"latency": _ms(samples), "kB": float(np.mean(sizes)) / 1000}
    finally:
        _stop(server)
    return out


def _load() -> str:
    """The load averages (1, 5, 15 minutes), as ``uptime`` prints them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _table(
    name: str,
    tiles: dict,
    http: dict | None,
    query: dict,
    cut: dict,
    raw: dict,
    tipg: dict | None,
) -> str:
    rows = [
        f"**{name}** (level {LEVEL}; p50 / p99 ms, n samples)",
        "",
        "| zoom | tiles | geogrid uncached (HTTP) | geogrid cached (HTTP) | geogrid 304 | "
        "geogrid query alone (no cache) | the same, every grid cut (no pixels shifted) "
        "| the same from the grids (no zoom bands) "
        "| tipg (HTTP) | tile size geogrid / from the grids / tipg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(v: tuple[float, float, int] | None) -> str:
        return "–" if v is None else f"{v[0]:.1f} / {v[1]:.1f} (n={v[2]})"

    for z in tiles:
        h = http.get(z) if http else None
        t = tipg.get(z) if tipg else None
        size = f"{query[z]['kB']:.1f} kB / {raw[z]['kB']:.1f} kB"
        size += f" / {t['kB']:.1f} kB" if t else " / –"
        rows.append(
            f"| {z} | {len(tiles[z])} | {cell(h and h['uncached'])} | {cell(h and h['cached'])} "
            f"| {cell(h and h['304'])} | {cell(query[z]['latency'])} "
            f"| {cell(cut[z]['latency'])} "
            f"| {cell(raw[z]['latency'])} | {cell(t and t['latency'])} | {size} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the province store")
    parser.add_argument("--serve", action="store_true", help="with --full: serve it too")
    parser.add_argument("--tiles", type=int, default=20, help="distinct tiles per zoom")
    parser.add_argument("--repeats", type=int, default=3, help="query/tipg passes over them")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--zooms",
        type=lambda v: tuple(int(z) for z in v.split(",")),
        default=ZOOMS,
        help="comma-separated zooms (default 8,10,12,14,16)",
    )
    parser.add_argument("--tipg-venv", type=Path, default=Path("/tmp/tipg-venv"))
    parser.add_argument("--wait", type=float, default=900, help="seconds for a server to start")
    parser.add_argument("--before", help="also time the query of this git revision, in turn")
    parser.add_argument("--only-before", action="store_true", help="with --before: only that")
    args = parser.parse_args()
    layout = "province" if args.full else "city"
    url = store_url(layout, "postgis")
    tiles = _tiles(url, args.tiles, args.seed, args.zooms)
    print({z: len(t) for z, t in tiles.items()}, flush=True)
    print(f"load average {_load()}", flush=True)
    if args.before:
        now, old = bench_before(url, tiles, args.repeats, args.before)
        print(f"now / at {args.before}, in turn (load average {_load()})", flush=True)
        print("| zoom | now | at " + args.before + " |\n| --- | --- | --- |")
        for z in tiles:
            print(
                f"| {z} | {now[z][0]:.1f} / {now[z][1]:.1f} (n={now[z][2]}) "
                f"| {old[z][0]:.1f} / {old[z][1]:.1f} (n={old[z][2]}) |",
                flush=True,
            )
        if args.only_before:
            return
    query = bench_query(url, tiles, args.repeats)
    print(f"query (load average {_load()})", query, flush=True)
    cut = bench_query(url, tiles, args.repeats, shift=False)
    print(f"query, every grid cut (load average {_load()})", cut, flush=True)
    raw = bench_query(url, tiles, args.repeats, banded=False)
    print(f"query from the grids (load average {_load()})", raw, flush=True)
    tipg = None
    if (args.tipg_venv / "bin" / "uvicorn").exists():
        tipg = bench_tipg(url, tiles, args.repeats, args.tipg_venv, args.wait)
        print(f"tipg (load average {_load()})", tipg, flush=True)
    else:
        print(f"no tipg in {args.tipg_venv}: python -m venv it, pip install tipg uvicorn")
    http = None
    if not args.full or args.serve:
        http = bench_geogrid_http(url, tiles, args.wait)
        print(f"http (load average {_load()})", http, flush=True)
    print()
    print(_table(layout, tiles, http, query, cut, raw, tipg))


if __name__ == "__main__":
    main()
