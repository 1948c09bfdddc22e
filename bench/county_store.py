"""Filling a plan store with a synthetic city or province, one plan per jurisdiction.

Every township's plan goes through the store's own path — ``save`` → ``approve`` →
``activate`` (which checks codes and overlaps against every jurisdiction in force) — so the
store is the one the service would run on. Filling is slow at province size (the activation
check reads its neighbours), so a filled store is kept: the GeoPackage under ``CACHE`` and the
PostGIS database ``geogrid_bench_county_<layout>`` (a row in ``bench_county_done`` marks it
complete); ``--fresh`` fills them again.

    .venv/bin/python bench/county_store.py province --postgis   # fill one store and exit
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from county_data import CACHE, cached_table, plans_of  # noqa: E402

from geogrid.plan import GridPlan  # noqa: E402
from geogrid.store import PlanStore, open_store  # noqa: E402

__all__ = ["LEVELS", "fill", "plan_of", "postgis_url", "redraw", "store_url"]

LEVELS = ["乡镇", "社区", "网格"]
PG = "host=127.0.0.1 port=5432 user=postgres"


def plan_of(jurisdiction: str, grids: gpd.GeoDataFrame, version_note: str = "") -> GridPlan:
    """The plan of one township, a grid head (网格长) for every finest grid."""
    finest = grids[grids["level"] == 3]
    staff = pd.DataFrame(
        {
            "grid_code": finest["code"].to_numpy(),
            "role": "head",
            "name": [f"网格长{i + 1}" for i in range(len(finest))],
            "phone": [f"139{int(c[-7:]):08d}" for c in finest["code"]],
        }
    )
    return GridPlan(f"{jurisdiction}网格{version_note}", LEVELS, grids.copy(), staff=staff)


def redraw(plan: GridPlan) -> GridPlan:
    """A new version of ``plan``: the same outline, its grids renamed (a redraw in place)."""
    grids = plan.grids.copy()
    grids["name"] = grids["name"].astype(str) + "（新）"
    return GridPlan(plan.name, plan.levels, grids, staff=plan.staff.copy())


def store_url(layout: str, backend: str, cache: Path = CACHE) -> str:
    """Where the filled store of ``layout`` lives for ``backend`` (geopackage / postgis)."""
    if backend == "geopackage":
        return f"sqlite:///{cache / f'{layout}.gpkg'}"
    return postgis_url(f"geogrid_bench_county_{layout.replace('-', '_')}")


def postgis_url(database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def fill(layout: str, backend: str, *, fresh: bool = False) -> tuple[str, float | None]:
    """The URL of a filled store of ``layout``; seconds spent filling it (``None``: kept)."""
    url = store_url(layout, backend)
    if not fresh and _complete(url, backend):
        return url, None
    _empty(url, backend)
    table = cached_table(layout)
    start = time.perf_counter()
    with open_store(url) as store:
        for n, (jurisdiction, grids) in enumerate(plans_of(table).items()):
            publish(store, plan_of(jurisdiction, grids))
            if n % 100 == 99:
                print(f"    {n + 1} plans in {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    _mark_complete(url, backend)
    return url, seconds


def publish(store: PlanStore, plan: GridPlan) -> int:
    """Save, approve and activate ``plan``; its version number."""
    info = store.save(plan, by="bench")
    store.approve(plan.name, info.version, by="bench")
    store.activate(plan.name, info.version, by="bench")
    return info.version


def _complete(url: str, backend: str) -> bool:
    import sqlalchemy as sa

    if backend == "geopackage" and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    if backend == "postgis" and not _database_exists(url.rsplit("/", 1)[1]):
        return False
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT count(*) FROM bench_county_done")).scalar())
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _mark_complete(url: str, backend: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_county_done (at text)"))
        conn.execute(sa.text("INSERT INTO bench_county_done VALUES (:at)"), {"at": time.ctime()})
    engine.dispose()


def _database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(f"{PG} dbname=postgres", autocommit=True) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _empty(url: str, backend: str) -> None:
    if backend == "geopackage":
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(f"{PG} dbname={name}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("layout")
    parser.add_argument("--postgis", action="store_true")
    parser.add_argument("--geopackage", action="store_true")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    for backend, wanted in (("geopackage", args.geopackage), ("postgis", args.postgis)):
        if wanted:
            url, seconds = fill(args.layout, backend, fresh=args.fresh)
            print(f"{backend}: {url} ({'kept' if seconds is None else f'{seconds:.0f} s'})")


if __name__ == "__main__":
    main()
