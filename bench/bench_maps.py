"""Benchmark: wall map, web map and public signs of a county-sized plan (~2,500 grids).

The grid set is the one of ``bench_locate.py``: Voronoi cells of random seeds clipped to a
box, their shared edges densified and wiggled identically on both sides (an exact coverage),
here 2,500 grids / ~655k vertices placed over Ruyang county (汝阳县, ~112.47E 34.15N), with a
head and a full-time worker per grid and random household counts. Each figure is compared with
the plain geopandas way of drawing the same grids. Medians of ``--repeat`` runs.

    .venv/bin/python bench/bench_maps.py              # writes the "## Maps" section
    .venv/bin/python bench/bench_maps.py --grids 300 --no-write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_docs import replace_section  # noqa: E402
from bench_locate import make_grids  # noqa: E402

from geogrid.crs import metric_crs  # noqa: E402
from geogrid.plan import GridPlan  # noqa: E402
from geogrid.render import render_signs, render_wall_map, render_web_map  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文斌玉兰海燕"


def make_plan(n: int, vertices: int, seed: int = 42) -> GridPlan:
    """A one-level county plan of ``n`` grids with staff and households."""
    grids = make_grids(n, vertices, (112.35, 34.05, 112.35 + 0.26, 34.05 + 0.20), seed)
    rng = np.random.default_rng(seed)
    grids = grids.sort_values("code").reset_index(drop=True)
    grids["code"] = [f"410326{i + 1:06d}" for i in range(len(grids))]
    grids["name"] = [f"第{i + 1}网格" for i in range(len(grids))]
    grids["households"] = rng.integers(150, 450, len(grids))
    staff = []
    for i, code in enumerate(grids["code"]):
        for role, offset in (("head", 0), ("full_time", 1)):
            name = (
                SURNAMES[(3 * i + offset) % len(SURNAMES)]
                + GIVEN[(7 * i + 5 * offset) % len(GIVEN)]
            )
            staff.append(
                {"grid_code": code, "role": role, "name": name, "phone": f"1{3 + offset}9{i:08d}"}
            )
    return GridPlan(
        "汝阳县网格划分（基准测试）", ["网格"], grids, pd.DataFrame(staff), attribution="合成数据"
    )


def timed(run: Callable[[], object], repeat: int) -> tuple[tuple[float, float], object]:
    """Median (CPU seconds of this process, wall seconds) over ``repeat`` runs, and the result.

    CPU time is the figure to compare: on a shared machine other processes stretch the wall
    clock but not this process's CPU time (everything here runs in one thread).
    """
    cpu, wall, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return (statistics.median(cpu), statistics.median(wall)), result


def mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def overlap_m2(geoms: gpd.GeoSeries) -> float:
    """Total area (m²) where two of ``geoms`` overlap."""
    metric = geoms.to_crs(metric_crs(geoms)).to_numpy()
    tree = shapely.STRtree(metric)
    left, right = tree.query(metric, predicate="intersects")
    keep = left < right
    pieces = shapely.intersection(metric[left[keep]], metric[right[keep]])
    return float(shapely.area(pieces).sum())


def plain_pdf(plan: GridPlan, path: Path) -> None:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    fig = Figure(figsize=(841 / 25.4, 1189 / 25.4))
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.9))
    plan.grids.plot(ax=ax, column="code", cmap="tab20", edgecolor="black", linewidth=0.2)
    for row in plan.grids.itertuples(index=False):
        point = row.geometry.representative_point()
        ax.annotate(row.name, (point.x, point.y), ha="center", fontsize=3)
    ax.set_title(plan.name)
    with mpl.rc_context({"font.family": "Noto Sans CJK JP"}):
        fig.savefig(path)


def run(grids: int, vertices: int, repeat: int) -> list[tuple[str, str, str]]:
    plan = make_plan(grids, vertices)
    count = int(shapely.get_num_coordinates(plan.grids.geometry.to_numpy()).sum())
    rows: list[tuple[str, str, str]] = [
        ("input", f"{len(plan.grids):,} grids, {count:,} vertices", "")
    ]
    folder = Path(tempfile.mkdtemp(prefix="bench-maps-"))

    def add(what: str, seconds: tuple[float, float], size: str) -> None:
        cpu, wall = seconds
        rows.append((what, f"{cpu:.2f} s ({wall:.2f} s wall)", size))
        print(f"{what:60s} {cpu:7.2f} s CPU {wall:7.2f} s wall  {size}", flush=True)

    sheet = folder / "sheet.pdf"
    seconds, wall = timed(
        lambda: render_wall_map(plan, sheet, paper="A0", legend_pages=False), repeat
    )
    add(f"geogrid A0 wall map sheet, PDF ({len(wall.callouts):,} callouts)", seconds, mb(sheet))  # type: ignore[attr-defined]
    full = folder / "full.pdf"
    seconds, wall = timed(lambda: render_wall_map(plan, full, paper="A0"), repeat)
    add(f"geogrid A0 wall map with legend pages ({wall.pages} pages)", seconds, mb(full))  # type: ignore[attr-defined]
    png = folder / "sheet.png"
    seconds, _ = timed(lambda: render_wall_map(plan, png, paper="A0", legend_pages=False), 1)
    add("geogrid A0 wall map sheet, PNG 300 dpi", seconds, mb(png))
    plain = folder / "plain.pdf"
    seconds, _ = timed(lambda: plain_pdf(plan, plain), repeat)
    add("plain geopandas .plot() A0 PDF, names annotated (Type 3 fonts)", seconds, mb(plain))

    html = folder / "map.html"
    seconds, _ = timed(lambda: render_web_map(plan, html), repeat)
    add("geogrid web map (coverage-simplified 2 m, Leaflet inlined)", seconds, mb(html))
    raw = folder / "explore.html"
    seconds, _ = timed(lambda: plan.grids.explore(tiles=None).save(raw), repeat)
    add("plain geopandas .explore(), raw geometry (CDN links)", seconds, mb(raw))
    metric = plan.grids.geometry
    naive = gpd.GeoSeries(
        metric.to_crs(metric_crs(metric)).simplify(2.0), crs=metric_crs(metric)
    ).to_crs(4490)
    rows.append(
        (
            "overlaps made by simplifying each grid on its own (2 m)",
            f"{overlap_m2(naive):,.0f} m²",
            "",
        )
    )
    from geogrid.render.webmap import simplify_coverage

    ours, _ = simplify_coverage(plan.grids.geometry, 2.0)
    rows.append(("overlaps made by coverage_simplify(2 m)", f"{overlap_m2(ours):,.0f} m²", ""))

    signs = folder / "signs.pdf"
    seconds, _ = timed(lambda: render_signs(plan, signs, progress=False), 1)
    add(f"geogrid 公示牌, {len(plan.grids):,} pages", seconds, mb(signs))
    return rows


def write_section(
    rows: list[tuple[str, str, str]], command: str, output: Path, repeat: int
) -> None:
    import geopandas
    import matplotlib

    lines = [
        "## Maps",
        "",
        "Wall map (A0, vector PDF), web map and public signs of a county-sized plan: the "
        "`bench_locate.py` grid set (Voronoi cells, shared edges densified and wiggled, an exact "
        "coverage) placed over Ruyang county with a head and a worker per grid. The wall-map sheet "
        "is complete (fills, boundaries, every grid labelled or called out, legend rows that fit, "
        "north arrow, scale bar, embedded CJK font); legend continuation pages are timed with it "
        "separately. Times are CPU seconds of the benchmark process (the machine was shared with other "
        "jobs, which stretch the wall clock; every step runs in one thread), wall time in brackets; "
        f"medians of {repeat} run(s) (PNG and signs: 1 run).",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        f"matplotlib {matplotlib.__version__}, geopandas {geopandas.__version__}.",
        "",
        "```",
        command,
        "```",
        "",
        "| what | CPU time (wall) | size |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    replace_section(output, "Maps", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=2_500)
    parser.add_argument("--vertices", type=int, default=655_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    rows = run(args.grids, args.vertices, args.repeat)
    if not args.no_write:
        command = "    .venv/bin/python bench/bench_maps.py" + (
            f" --repeat {args.repeat}" if args.repeat != 3 else ""
        )
        write_section(rows, command, args.output, args.repeat)


if __name__ == "__main__":
    main()
