"""Benchmark: batch point-in-grid location, in-process index vs shapely, geopandas, PostGIS.

Two synthetic grid sets with realistic vertex counts (Voronoi cells of random seeds clipped
to a box, their shared edges densified and wiggled identically on both sides, so they stay
an exact coverage): ~150 grids / ~60k vertices over ~12 km² and ~2,500 grids / ~650k
vertices over ~500 km², near Beijing. 1M uniform random points per set; every method
answers the boundary rule (smallest code among the covering grids) and the answers are
checked equal. Medians of ``--repeat`` runs.

    .venv/bin/python bench/bench_locate.py            # writes the "## Locate" section
    .venv/bin/python bench/bench_locate.py --no-postgis --no-write

PostGIS: ``--pg "host=127.0.0.1 user=postgres"``; a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_docs import replace_section  # noqa: E402

from geogrid.crs import to_plan_lonlat, wgs84_to_gcj02  # noqa: E402
from geogrid.locate import GridIndex, postgis_locate_sql  # noqa: E402

SETS = {
    # name: (grids, target vertices, lon0, lat0, width°, height°)
    "150 grids": (150, 60_000, 114.28, 30.57, 0.040, 0.030),
    "2,500 grids": (2_500, 655_000, 116.20, 39.85, 0.260, 0.200),
}


# --------------------------------------------------------------------------- data


def make_grids(
    n: int, vertices: int, box: tuple[float, float, float, float], seed: int
) -> gpd.GeoDataFrame:
    """An exact coverage of ``box`` by ``n`` cells with about ``vertices`` vertices."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    seeds = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    frame = shapely.box(x0, y0, x1, y1)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    edges = shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(cells))))
    length = float(shapely.length(edges).sum())
    step = 2 * length / vertices  # shared edges count twice, once per polygon
    wiggled = [_wiggle(edge, step, rng) for edge in edges]
    polygons = shapely.get_parts(shapely.polygonize(wiggled))
    codes = [f"420106{i:06d}" for i in rng.permutation(polygons.size)]
    return gpd.GeoDataFrame({"code": codes, "level": 1}, geometry=polygons, crs=4490)


def _wiggle(edge: shapely.LineString, step: float, rng: np.random.Generator) -> shapely.LineString:
    coords = shapely.get_coordinates(shapely.segmentize(edge, step))
    if len(coords) > 2:
        direction = coords[-1] - coords[0]
        normal = np.array([-direction[1], direction[0]]) / max(np.hypot(*direction), 1e-15)
        offsets = rng.normal(scale=step * 0.15, size=len(coords) - 2)
        coords[1:-1] += offsets[:, None] * normal
    return shapely.linestrings(coords)


def random_points(grids: gpd.GeoDataFrame, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grids.total_bounds
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


# --------------------------------------------------------------------------- methods


def rule_from_pairs(n: int, point: np.ndarray, grid: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Smallest-code grid per point from (point, grid) covering pairs; -1 when none."""
    best = np.full(n, rank.size, dtype=np.int64)
    np.minimum.at(best, point, rank[grid])
    order = np.argsort(rank)
    return np.where(best < rank.size, order[np.minimum(best, rank.size - 1)], -1)


def by_index(
    index: GridIndex, codes_of: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    to_row = {code: i for i, code in enumerate(codes_of)}
    remap = np.array([to_row[c] for c in index.codes])

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        grid = index.locate(x, y).grid[-1]
        return np.where(grid >= 0, remap[np.maximum(grid, 0)], -1)

    return run


def by_strtree_grids(
    geoms: np.ndarray, rank: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    tree = shapely.STRtree(geoms)

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        point, grid = tree.query(shapely.points(x, y), predicate="covered_by")
        return rule_from_pairs(x.size, point, grid, rank)

    return run


def by_strtree_points(
    geoms: np.ndarray, rank: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        tree = shapely.STRtree(shapely.points(x, y))
        grid, point = tree.query(geoms, predicate="covers")
        return rule_from_pairs(x.size, point, grid, rank)

    return run


def by_sjoin(
    grids: gpd.GeoDataFrame, rank: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    frame = grids[["code", "geometry"]].reset_index(drop=True)

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=grids.crs)
        joined = gpd.sjoin(points, frame, predicate="covered_by", how="inner")
        return rule_from_pairs(
            x.size, joined.index.to_numpy(), joined["index_right"].to_numpy(), rank
        )

    return run


def timed(
    run: Callable[[np.ndarray, np.ndarray], np.ndarray], x, y, repeat: int
) -> tuple[float, np.ndarray]:
    times, answer = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = run(x, y)
        times.append(time.perf_counter() - start)
    assert answer is not None
    return statistics.median(times), answer


# --------------------------------------------------------------------------- PostGIS


class PostGIS:
    """A scratch database holding one grid set and the points."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.name = f"geogrid_bench_{uuid.uuid4().hex[:8]}"
        self.admin = psycopg.connect(f"{dsn} dbname=postgres", autocommit=True)
        self.admin.execute(f'CREATE DATABASE "{self.name}"')
        self.conn = psycopg.connect(f"{dsn} dbname={self.name}", autocommit=True)
        self.conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def load(self, grids: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> None:
        c = self.conn
        c.execute("DROP TABLE IF EXISTS grids, pts")
        c.execute("CREATE TABLE grids (code text, level int, geom geometry(MultiPolygon, 4490))")
        rows = [
            (
                str(code),
                shapely.to_wkb(shapely.multipolygons([g]) if g.geom_type == "Polygon" else g),
            )
            for code, g in zip(grids["code"], grids.geometry, strict=True)
        ]
        with c.cursor() as cur:
            cur.executemany("INSERT INTO grids VALUES (%s, 1, ST_GeomFromWKB(%s, 4490))", rows)
        c.execute("CREATE INDEX ON grids USING gist (geom)")
        c.execute("CREATE TABLE pts (id int, lon float8, lat float8)")
        buffer = io.StringIO()
        np.savetxt(
            buffer,
            np.column_stack([np.arange(x.size), x, y]),
            fmt=["%d", "%.17g", "%.17g"],
            delimiter="\t",
        )
        with c.cursor() as cur, cur.copy("COPY pts FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        c.execute("ALTER TABLE pts ADD COLUMN geom geometry(Point, 4490)")
        c.execute("UPDATE pts SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4490)")
        c.execute("VACUUM ANALYZE grids")
        c.execute("VACUUM ANALYZE pts")

    def join(self, n: int, codes: list[str]) -> np.ndarray:
        rows = self.conn.execute(
            "SELECT DISTINCT ON (p.id) p.id, g.code FROM pts p JOIN grids g "
            'ON ST_Covers(g.geom, p.geom) ORDER BY p.id, g.code COLLATE "C"'
        ).fetchall()
        row_of = {code: i for i, code in enumerate(codes)}
        out = np.full(n, -1, dtype=np.int64)
        for pid, code in rows:
            out[pid] = row_of[code]
        return out

    def per_point(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
        sql = postgis_locate_sql()
        latencies = []
        with self.conn.cursor() as cur:
            for lon, lat in zip(x.tolist(), y.tolist(), strict=True):
                start = time.perf_counter()
                cur.execute(sql, {"lon": lon, "lat": lat, "level": 1}, prepare=True)
                cur.fetchone()
                latencies.append(time.perf_counter() - start)
        lat_ms = np.array(latencies) * 1000
        return x.size / sum(latencies), float(np.median(lat_ms)), float(np.percentile(lat_ms, 99))

    def close(self) -> None:
        self.conn.close()
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()


# --------------------------------------------------------------------------- main


def bench_set(
    label: str, args: argparse.Namespace, pg: PostGIS | None
) -> list[tuple[str, str, str]]:
    n, vertices, lon0, lat0, w, h = SETS[label]
    t0 = time.perf_counter()
    grids = make_grids(n, vertices, (lon0, lat0, lon0 + w, lat0 + h), seed=42)
    geoms = np.asarray(grids.geometry.array, dtype=object)
    codes = grids["code"].to_numpy(dtype=object)
    rank = np.argsort(np.argsort(codes.astype(str)))
    nverts = int(shapely.get_num_coordinates(geoms).sum())
    print(
        f"{label}: {len(grids)} grids, {nverts:,} vertices (made in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    x, y = random_points(grids, args.points, seed=7)
    rows = []

    start = time.perf_counter()
    index = GridIndex(codes, np.ones(len(codes), dtype=int), geoms)
    build = time.perf_counter() - start
    level = index._levels[0]
    print(
        f"  index built in {build:.2f} s, {index.nbytes / 1e6:.0f} MB, {level.depth_used} tiers",
        flush=True,
    )
    seconds, expected = timed(by_index(index, codes), x, y, args.repeat)
    rows.append(
        (label, "geogrid GridIndex.locate (WGS84 / CGCS2000 input)", _rate(args.points, seconds))
    )
    print("  ", rows[-1], flush=True)

    gx, gy = wgs84_to_gcj02(x, y)
    seconds_conv, _ = timed(lambda a, b: to_plan_lonlat(a, b, "gcj02"), gx, gy, args.repeat)
    rows.append((label, "GCJ-02 → plan lon/lat conversion alone", _rate(args.points, seconds_conv)))
    print("  ", rows[-1], flush=True)

    for name, run in (
        ("shapely STRtree of the grids, query points", by_strtree_grids(geoms, rank)),
        ("shapely STRtree of the points, query grids", by_strtree_points(geoms, rank)),
        ("geopandas sjoin (covered_by)", by_sjoin(grids, rank)),
    ):
        seconds, answer = timed(run, x, y, args.repeat)
        _check(name, answer, expected)
        rows.append((label, name, _rate(args.points, seconds)))
        print("  ", rows[-1], flush=True)

    if pg is not None:
        pg.load(grids, x, y)
        seconds, answer = timed(lambda a, b: pg.join(a.size, list(codes)), x, y, args.repeat)
        _check("PostGIS join", answer, expected)
        rows.append(
            (label, "PostGIS GiST join, ST_Covers + ORDER BY code", _rate(args.points, seconds))
        )
        print("  ", rows[-1], flush=True)
        k = args.per_point
        runs = [pg.per_point(x[:k], y[:k]) for _ in range(args.repeat)]
        qps, p50, p99 = (statistics.median(v) for v in zip(*runs, strict=True))
        rows.append(
            (
                label,
                f"PostGIS one query per point ({k:,} points, one connection)",
                f"{qps / 1e3:.1f}k queries/s (p50 {p50:.2f} ms, p99 {p99:.2f} ms)",
            )
        )
        print("  ", rows[-1], flush=True)
    rows.insert(
        1,
        (
            label,
            "(index build, once per plan version)",
            f"{build:.2f} s, {index.nbytes / 1e6:.0f} MB",
        ),
    )
    return rows


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:.2f}M points/s ({seconds:.3f} s)"


def _check(name: str, answer: np.ndarray, expected: np.ndarray) -> None:
    differ = int((answer != expected).sum())
    if differ:
        raise SystemExit(f"{name} differs from the index on {differ} points")


def write_section(
    rows: list[tuple[str, str, str]], command: str, path: Path, points: int, repeat: int
) -> None:
    lines = [
        "## Locate",
        "",
        f"Batch point-in-grid location of {points:,} uniform random points, medians of {repeat}; "
        "every method answers the boundary rule (smallest code among the grids covering the "
        "point) and all answers were checked identical to the in-process index. Grid sets: "
        "Voronoi cells clipped to a box, shared edges densified and wiggled (an exact coverage). "
        "Point creation is included for shapely/geopandas; PostGIS times the query only "
        "(points already loaded and GiST-indexed grids).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"shapely {shapely.__version__}, geopandas {gpd.__version__}.",
        "",
        "```",
        command,
        "```",
        "",
        "| grid set | method | throughput |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    section = "\n".join(lines) + "\n"
    replace_section(path, "Locate", section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--per-point", type=int, default=10_000, help="points for one-query-per-point"
    )
    parser.add_argument("--pg", default="host=127.0.0.1 port=5432 user=postgres")
    parser.add_argument("--no-postgis", action="store_true")
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    pg = None if args.no_postgis else PostGIS(args.pg)
    rows: list[tuple[str, str, str]] = []
    try:
        for label in args.sets:
            rows += bench_set(label, args, pg)
    finally:
        if pg is not None:
            pg.close()
    command = ".venv/bin/python bench/bench_locate.py " + " ".join(sys.argv[1:])
    if not args.no_write:
        write_section(rows, command.strip(), args.output, args.points, args.repeat)
        print(f"wrote the Locate section of {args.output}")


if __name__ == "__main__":
    main()
