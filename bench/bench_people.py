"""Benchmark: linking a county's 5,724 grid workers to people (``link_people``), both stores.

Ruyang county (汝阳县) has 5,724 grid workers: saving its plan links every staff row to a
person. Measured once with every person new (the first save) and once with every person
known (the next version), in one transaction each, on a fresh GeoPackage and, with
``--postgis``, a scratch PostGIS database of the test harness.

Run: ``python bench/bench_people.py [--postgis]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from geogrid.store import open_store
from geogrid.store.database import create_engine
from geogrid.store.people import link_people

WORKERS = 5724
ROOT = Path(__file__).resolve().parents[1]


def _rows() -> list[dict[str, object]]:
    return [
        {
            "grid_code": f"g{i // 2:05d}",
            "role": "head",
            "name": f"人员{i:05d}",
            "phone": f"138{i:08d}",
        }
        for i in range(WORKERS)
    ]


def run(url: str, label: str) -> None:
    """Print the two timings for the store at ``url``."""
    open_store(url).close()  # create and migrate
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        for case in ("all new", "all known"):
            rows = _rows()
            start = time.perf_counter()
            with engine.begin() as connection:
                link_people(connection, rows, now)  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
            people = len({row["person_id"] for row in rows})
            print(f"{label:<10} {case:<9} {WORKERS} rows → {people} people: {seconds:.3f} s")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgis", action="store_true", help="also a scratch PostGIS database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/people.gpkg", "geopackage")
    if args.postgis:
        sys.path.insert(0, str(ROOT))  # the test harness's scratch databases
        from tests._pg import scratch_database, url_of

        with scratch_database() as dsn:
            run(url_of(dsn), "postgis")


if __name__ == "__main__":
    main()
