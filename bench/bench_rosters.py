"""A county's roster (Ruyang's scale: 2,496 grids, 5,722 people) written, read and imported.

    python bench/bench_rosters.py [STORE_URL]     # default: a scratch GeoPackage store

Prints the time to read and check the .xlsx roster and to import it (read, check and one
transaction: :meth:`geogrid.store.staff.StaffStore.replace_many`). Figures in docs/files.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from geogrid.access import Caller, Role
from geogrid.io.rosters import read_roster, write_roster
from geogrid.store import open_store
from geogrid.store.rosters import import_roster

ROOT = Path(__file__).resolve().parents[1]


def main(url: str | None) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the tests' street plan
    from tests.service import street_plan

    folder = Path(tempfile.mkdtemp())
    plan = street_plan(columns=1248)  # 2 communities, 2,496 grids
    staff = plan.staff.copy()
    extra = staff[staff["role"] == "full_time"].assign(role="part_time")
    extra["name"] = extra["name"] + "兼"
    staff = pd.concat([staff, extra.iloc[:730]])  # 5,722 people, as Ruyang's 5,724
    staff["phone"] = [f"139{i:08d}" for i in range(len(staff))]
    url = url or f"sqlite:///{folder}/store.gpkg"
    with open_store(url) as store:
        store.save(plan, by="bench")
        store.approve(plan.name, 1, by="bench")
        store.activate(plan.name, 1, by="bench")
        path = write_roster(staff, plan.grids, folder / "花名册.xlsx")
        start = time.perf_counter()
        roster = read_roster(path, plan.grids)
        read = time.perf_counter() - start
        start = time.perf_counter()
        import_roster(store, path, plan=plan.name, caller=Caller("bench", Role.PLANNER))
        imported = time.perf_counter() - start
    print(
        f"{url.split(':')[0]}: {len(roster.grids)} grids, {len(roster.staff)} staff, "
        f"{path.stat().st_size / 1e3:.0f} kB .xlsx: read and check {read:.2f} s; import (read, "
        f"check, one transaction) {imported:.2f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
