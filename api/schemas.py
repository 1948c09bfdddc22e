"""Request and response models of the service (input models forbid extra fields)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BatchLocateIn",
    "BatchLocateOut",
    "BatchPoint",
    "BatchResult",
    "Crs",
    "GridOut",
    "LevelAnswer",
    "LocateOut",
    "NearestOut",
    "PlanRef",
    "StaffOut",
]


class Crs(StrEnum):
    """Coordinate system of an incoming point."""

    WGS84 = "wgs84"  # GPS
    CGCS2000 = "cgcs2000"  # 国家2000, the plans' own
    GCJ02 = "gcj02"  # AMap 高德, Tencent 腾讯
    BD09 = "bd09"  # Baidu 百度


class StaffOut(BaseModel):
    """A person on a grid's staff."""

    role: str = Field(
        examples=["head"], description="head 网格长 / full_time 专职 / part_time 兼职"
    )
    name: str = Field(examples=["王芳"])
    phone: str | None = Field(default=None, examples=["13800000000"])


class GridOut(BaseModel):
    """A grid and who is responsible for it."""

    code: str = Field(examples=["110108001001"])
    name: str = Field(examples=["清华园社区第一网格"])
    level: int = Field(examples=[2])
    kind: str = Field(examples=["urban"], description="urban / rural / special")
    staff: list[StaffOut] = Field(default_factory=list)


class LevelAnswer(BaseModel):
    """The grid of one level covering the point (``grid`` null: no grid of that level does)."""

    level: int
    level_name: str = Field(examples=["网格"])
    grid: GridOut | None


class NearestOut(BaseModel):
    """For an outside point: the nearest grid of the finest level and the distance to it."""

    grid: GridOut
    distance_m: float = Field(examples=[152.3])


class PlanRef(BaseModel):
    """The plan version that answered."""

    name: str
    version: int | None


class LocateOut(BaseModel):
    """Where one point falls, at every level."""

    status: Literal["inside", "outside"] = Field(
        description="inside: a grid of the finest level covers the point"
    )
    plan: PlanRef
    lon: float = Field(description="the point in CGCS2000 (plan) longitude")
    lat: float = Field(description="the point in CGCS2000 (plan) latitude")
    grid_code: str | None = Field(description="code of the finest-level grid, null outside")
    levels: list[LevelAnswer]
    nearest: NearestOut | None = Field(default=None, description="set when outside")


class BatchPoint(BaseModel):
    """One point of a batch."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(examples=[116.3265])
    lat: float = Field(examples=[40.0034])
    id: str | int | None = Field(default=None, description="your own id, echoed back")


class BatchLocateIn(BaseModel):
    """Up to ``max_batch_points`` points in one coordinate system."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"crs": "gcj02", "points": [{"lon": 116.3326, "lat": 40.0047, "id": 1}]}]
        },
    )

    crs: Crs = Crs.WGS84
    points: list[BatchPoint]


class BatchResult(BaseModel):
    """Where one batch point falls; grids are described once in ``BatchLocateOut.grids``."""

    id: str | int | None = None
    status: Literal["inside", "outside"]
    codes: list[str | None] = Field(description="grid code per level, top level first")
    grid_code: str | None
    nearest_code: str | None = None
    distance_m: float | None = None


class BatchLocateOut(BaseModel):
    """Per-point codes plus one table of the grids (and their staff) they mention."""

    plan: PlanRef
    levels: list[str]
    results: list[BatchResult]
    grids: dict[str, GridOut]
