"""Support for service tests: a small street plan, stores of both kinds, API keys."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from api.settings import ApiSettings
from geogrid.access import Caller, Role
from geogrid.plan import GridPlan
from geogrid.store import open_store
from tests._pg import scratch_database, url_of

OX, OY = 116.39, 39.90
DX, DY = 0.00117, 0.0009  # ≈ 100 m × 100 m at 40°N
TOP = "110108001001"


def street_plan(columns: int = 12, name: str = "示例街道") -> GridPlan:
    """Level 1: two communities (west, east); level 2: 100 m grids in a 2-row strip."""
    half = columns // 2
    rows = [
        (TOP, "西社区", 1, None, box(OX, OY, OX + half * DX, OY + 2 * DY)),
        (
            "110108001002",
            "东社区",
            1,
            None,
            box(OX + half * DX, OY, OX + columns * DX, OY + 2 * DY),
        ),
    ]
    staff = []
    for col in range(columns):
        parent = TOP if col < half else "110108001002"
        for row in range(2):
            seq = (col % half) * 2 + row + 1
            code = f"{parent}{seq:03d}"
            geom = box(OX + col * DX, OY + row * DY, OX + (col + 1) * DX, OY + (row + 1) * DY)
            rows.append((code, f"第{seq}网格", 2, parent, geom))
            staff += [
                (code, "head", f"网格长{code[-3:]}", "13800000000"),
                (code, "full_time", f"网格员{code[-3:]}", "13900000000"),
            ]
    codes, names, levels, parents, geoms = zip(*rows, strict=True)
    grids = gpd.GeoDataFrame(
        {"code": codes, "name": names, "level": levels, "parent_code": parents},
        geometry=list(geoms),
        crs=4490,
    )
    people = pd.DataFrame(staff, columns=["grid_code", "role", "name", "phone"])
    return GridPlan(name, ["社区", "网格"], grids, staff=people)


def centre(col: int, row: int = 0) -> tuple[float, float]:
    """Centre of the level-2 grid in column ``col`` and row ``row`` of the strip."""
    return OX + (col + 0.5) * DX, OY + (row + 0.5) * DY


@contextmanager
def service_settings(kind: str, tmp_path: Path, **overrides: object) -> Iterator[ApiSettings]:
    """Service settings over an empty store: ``kind`` is ``"gpkg"`` or ``"postgis"``."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": None,
        "plan_check_seconds": 0,
        "max_batch_points": 50,
        "key_cache_seconds": 0,
    }
    values |= overrides
    if kind == "gpkg":
        yield ApiSettings(**values)  # type: ignore[arg-type]
        return
    with scratch_database() as dsn:
        yield ApiSettings(**(values | {"database_url": url_of(dsn)}))  # type: ignore[arg-type]


def activate(settings: ApiSettings, plan: GridPlan) -> int:
    """Save, approve and activate ``plan`` in the store of ``settings``; its version."""
    with open_store(settings.store_url) as store:
        info = store.save(plan, by="规划员")
        store.approve(plan.name, info.version, by="审核员")
        store.activate(plan.name, info.version, by="审核员")
        return info.version


def issue_key(
    settings: ApiSettings, role: str, grid_code: str | None = None, name: str | None = None
) -> dict[str, str]:
    """Create an API key in the store of ``settings``; the request headers that use it."""
    with open_store(settings.store_url) as store:
        raw, _ = store.access().create_key(
            Role(role),
            name=name or f"{role}-{grid_code or 'all'}",
            caller=Caller.local("测试管理员"),
            grid_code=grid_code,
        )
    return {"X-API-Key": raw}


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(process: subprocess.Popen, url: str, seconds: float = 60) -> bytes:
    """Poll ``url`` until the server ``process`` answers it; the answer's body.

    Fails with the server's output when the process ends first, or after ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, (process.communicate()[0] or b"").decode()
        assert time.monotonic() < deadline, "the server did not start"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            time.sleep(0.2)


def with_units(plan: GridPlan, per_side: int = 2, households: int = 25) -> GridPlan:
    """``plan`` with units: every finest grid cut into ``per_side``² boxes of ``households``.

    Unit ids are ``<grid code>-u1`` … in row order, so tests can name them.
    """
    finest = plan.level(plan.depth)
    rows = []
    for code, geom in zip(finest["code"], finest.geometry, strict=True):
        west, south, east, north = geom.bounds
        dx, dy = (east - west) / per_side, (north - south) / per_side
        for i in range(per_side * per_side):
            x, y = west + (i % per_side) * dx, south + (i // per_side) * dy
            rows.append(
                {
                    "unit_id": f"{code}-u{i + 1}",
                    "kind": "building",
                    "households": households,
                    "grid_code": code,
                    "geometry": box(x, y, x + dx, y + dy),
                }
            )
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs=4490)
    return dataclasses.replace(plan, units=units)
