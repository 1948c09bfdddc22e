"""From partitions to a :class:`~geogrid.plan.GridPlan`: codes, names, households, micro-grids."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from geogrid.codes import number_children
from geogrid.errors import CRSError, InvalidInputError
from geogrid.partition.band import Band
from geogrid.partition.solve import GridException, Partition, partition
from geogrid.partition.workload import INCIDENTS, with_incidents
from geogrid.plan import PLAN_CRS, GridKind, GridPlan
from geogrid.polygons import REPAIR_HINT, polygon_problem
from geogrid.units import Units, build_units, household_areas, unit_weights
from geogrid.units.given import units_in_parent

__all__ = [
    "AreaResult",
    "PartitionReport",
    "geoms_to_plan_crs",
    "micro_grid_rows",
    "nested",
    "partition_areas",
    "plan_units",
    "share_grids",
    "subset_units",
    "to_plan",
]


@dataclasses.dataclass
class AreaResult:
    """The partition of one parent area (and its micro-grids, by grid index)."""

    code: str
    name: str
    result: Partition
    micro: dict[int, Partition] = dataclasses.field(default_factory=dict)
    kind: str | None = None
    """Kind of the new grids (:class:`~geogrid.plan.GridKind`), ``None``: not said."""

    @property
    def exceptions(self) -> list[GridException]:
        """Exceptions of the grids and of every micro-grid partition."""
        found = list(self.result.exceptions)
        for partition_ in self.micro.values():
            found.extend(partition_.exceptions)
        return found


@dataclasses.dataclass
class PartitionReport:
    """What :func:`partition_areas` did, area by area, with every exception."""

    areas: list[AreaResult]
    outside: gpd.GeoDataFrame | None = None
    """Household rows outside every parent area."""

    @property
    def exceptions(self) -> list[tuple[str, GridException]]:
        """(area code, exception) pairs; households outside every area come first, code ``""``."""
        found: list[tuple[str, GridException]] = []
        if self.outside is not None and len(self.outside):
            total = int(self.outside["households"].sum()) if "households" in self.outside else 0
            found.append(
                (
                    "",
                    GridException(
                        "households-outside",
                        f"{total} household(s) in {len(self.outside)} row(s) lie outside every "
                        "parent area (区域外住户); they are in no grid — check their coordinates "
                        "or the boundaries",
                    ),
                )
            )
        found.extend((area.code, e) for area in self.areas for e in area.exceptions)
        return found


def nested(
    result: Partition, band: Band | tuple[float, float], *, seed: int = 0
) -> dict[int, Partition]:
    """Partition every grid of ``result`` again into micro-grids (微网格).

    A locked grid (专属网格) is one unit kept as given, so it is its own single micro-grid:
    every grid of the plan then has micro-grids inside, as plan validation asks.

    Returns
    -------
    dict
        Grid index → the partition of that grid's units.
    """
    micro = {}
    for g in range(result.k):
        mask = result.assignment == g
        micro[g] = partition(subset_units(result.units, mask), band=band, seed=seed)
    return micro


def subset_units(units: Units, mask: np.ndarray) -> Units:
    """The units where ``mask`` is true, with the edges between them: one grid's units.

    Locked labels stay in the table (a locked unit stays its own grid when partitioned
    again); the parent is the union of the kept units. :func:`nested` cuts every grid with
    it; a caller may cut a grid again with its own settings (a number of micro-grids each).
    """
    keep = np.flatnonzero(mask)
    position = np.full(len(mask), -1, dtype=np.int64)
    position[keep] = np.arange(len(keep))
    edges = units.edges
    a, b = position[edges["a"].to_numpy()], position[edges["b"].to_numpy()]
    inside = (a >= 0) & (b >= 0)
    sub_edges = edges[inside].assign(a=a[inside], b=b[inside]).reset_index(drop=True)
    table = units.table.iloc[keep].reset_index(drop=True)
    return Units(
        table=table,
        edges=sub_edges,
        parent=shapely.coverage_union_all(table.geometry.to_numpy()),
        crs=units.crs,
        outside=units.outside.iloc[:0],
    )


def to_plan(
    areas: list[AreaResult],
    *,
    parents: Mapping[str, shapely.Geometry] | None = None,
    levels: list[str] | None = None,
    name: str = "网格划分",
    taken: Collection[str] = (),
) -> GridPlan:
    """Turn partitions of parent areas into one plan.

    Parameters
    ----------
    areas
        One :class:`AreaResult` per parent (code, name, partition, micro-grids).
    parents
        Parent geometries in EPSG:4490 by code (default: the union of the grids).
    levels
        Level names (default ``["社区", "网格"]``, plus ``"微网格"`` with micro-grids).
    name
        Plan name.
    taken
        Codes already issued (never reused).

    Returns
    -------
    GridPlan
        Level 1 the parents, level 2 the grids (codes: parent code + 3 digits in reading
        order), level 3 the micro-grids when made; units carry the deepest grid code.
    """
    has_micro = any(area.micro for area in areas)
    levels = levels or (["社区", "网格", "微网格"] if has_micro else ["社区", "网格"])
    rows: list[dict[str, object]] = []
    unit_frames = []
    for area in areas:
        area_rows, units = _area_rows(area, parents, taken)
        rows.extend(area_rows)
        unit_frames.append(units)
    grids = gpd.GeoDataFrame(rows, geometry="geometry", crs=PLAN_CRS)
    units = pd.concat(unit_frames, ignore_index=True)
    return GridPlan(
        name, levels, grids, units=gpd.GeoDataFrame(units, geometry="geometry", crs=PLAN_CRS)
    )


def _area_rows(
    area: AreaResult, parents: Mapping[str, shapely.Geometry] | None, taken: Collection[str]
) -> tuple[list[dict[str, object]], pd.DataFrame]:
    result = area.result
    crs = result.units.crs
    geoms = result.grid_geometries()
    households = result.grid_households()
    codes = _codes(area.code, geoms, result, crs, taken)
    parent_geom = (parents or {}).get(area.code)
    if parent_geom is None:
        parent_geom = geoms_to_plan_crs(np.array([shapely.coverage_union_all(geoms)]), crs)[0]
        fit = None
    else:
        fit = (result.units.parent, parent_geom)
    rows: list[dict[str, object]] = [
        {
            "code": area.code,
            "name": area.name,
            "level": 1,
            "parent_code": None,
            "households": int(households.sum()),
            "geometry": parent_geom,
        }
    ]
    plan_geoms = geoms_to_plan_crs(geoms, crs, parent=fit)
    deepest = np.array(codes, dtype=object)[result.assignment]
    for g in range(result.k):
        sequence = int(codes[g][-3:]) if codes[g][-3:].isdigit() else g + 1
        given = result.units.locked_grids.get(result.locked[g] or "", {})
        grid_name = given.get("name", f"{area.name}第{sequence}网格")
        rows.append(
            {
                **({"kind": area.kind} if area.kind else {}),
                **given,  # a locked grid keeps its kind, subtype and priority (专属网格)
                "code": codes[g],
                "name": grid_name,
                "level": 2,
                "parent_code": area.code,
                "households": int(households[g]),
                "geometry": plan_geoms[g],
            }
        )
        if g in area.micro:
            micro_rows, micro_codes = micro_grid_rows(
                area.micro[g], codes[g], grid_name, taken, parent=fit
            )
            rows.extend(micro_rows)
            deepest[result.assignment == g] = micro_codes
    return rows, plan_units(result.units, area.code, deepest, parent=fit)


def plan_units(
    units: Units,
    prefix: str,
    grid_codes: np.ndarray,
    *,
    parent: tuple[shapely.Geometry, shapely.Geometry] | None = None,
) -> pd.DataFrame:
    """The plan's ``units`` rows of ``units``: ids ``{prefix}-{unit_id}``, the grid of each.

    Parameters
    ----------
    units
        The units (metric CRS).
    prefix
        Prefix of the unit ids, e.g. the parent area's code.
    grid_codes
        The (deepest) grid code of every unit.
    parent
        As in :func:`geoms_to_plan_crs`: the top parent in metres and in EPSG:4490.
    """
    table = units.table
    return pd.DataFrame(
        {
            "unit_id": [f"{prefix}-{uid}" for uid in table["unit_id"]],
            "name": table["name"].to_numpy(object),
            "kind": table["kind"].to_numpy(object),
            "households": table["households"].to_numpy(),
            "grid_code": grid_codes,
            "locked": pd.notna(table["locked"].to_numpy(object)),
            "geometry": geoms_to_plan_crs(table.geometry.to_numpy(), units.crs, parent=parent),
        }
    )


def micro_grid_rows(
    micro: Partition,
    grid_code: str,
    grid_name: str,
    taken: Collection[str] = (),
    level: int = 3,
    *,
    parent: tuple[shapely.Geometry, shapely.Geometry] | None = None,
) -> tuple[list[dict[str, object]], np.ndarray]:
    """Plan rows of the micro-grids of one grid, and the micro-grid code of each unit.

    Parameters
    ----------
    micro
        The partition of the grid's units into micro-grids.
    grid_code, grid_name
        The grid's code and name: codes extend it by 3 digits in reading order, names read
        ``{grid_name}第N微网格``.
    taken
        Codes already issued (never reused).
    level
        The micro-grids' level in the plan.
    parent
        The top parent in the units' CRS and in EPSG:4490, as in :func:`geoms_to_plan_crs`,
        so micro-grids on its edge meet it exactly.

    Returns
    -------
    (list of dict, numpy.ndarray)
        One row per micro-grid (``code``, ``name``, ``level``, ``parent_code``,
        ``households``, geometry in EPSG:4490) and the code of every unit of ``micro``.
    """
    geoms = micro.grid_geometries()
    households = micro.grid_households()
    codes = number_children(grid_code, gpd.GeoSeries(geoms, crs=micro.units.crs), taken)
    plan_geoms = geoms_to_plan_crs(geoms, micro.units.crs, parent=parent)
    rows: list[dict[str, object]] = [
        {
            "code": codes[m],
            "name": f"{grid_name}第{int(codes[m][-3:])}微网格",
            "level": level,
            "parent_code": grid_code,
            "households": int(households[m]),
            "geometry": plan_geoms[m],
        }
        for m in range(micro.k)
    ]
    return rows, np.array(codes, dtype=object)[micro.assignment]


def _codes(
    parent_code: str, geoms: np.ndarray, result: Partition, crs: object, taken: Collection[str]
) -> list[str]:
    """Locked grids keep a code they were given; the others are numbered in reading order."""
    kept = {
        g: str(label)
        for g, label in enumerate(result.locked)
        if label is not None
        and str(label).startswith(parent_code)
        and len(str(label)) == len(parent_code) + 3
    }
    free = [g for g in range(result.k) if g not in kept]
    numbered = number_children(
        parent_code, gpd.GeoSeries(geoms[free], crs=crs), set(taken) | set(kept.values())
    )
    codes = [""] * result.k
    for g, code in zip(free, numbered, strict=True):
        codes[g] = code
    for g, code in kept.items():
        codes[g] = code
    return codes


_ON_EDGE_M = 1e-3
"""A unit vertex this close to its parent's boundary (metres, in the units' CRS) lies on it."""
_SAME_VERTEX_DEG = 1e-10
"""A vertex put on the parent's edge this close to a parent vertex (degrees, ~10 µm) is it."""


def geoms_to_plan_crs(
    geoms: np.ndarray,
    crs: object,
    *,
    parent: tuple[shapely.Geometry, shapely.Geometry] | None = None,
) -> np.ndarray:
    """Geometries in ``crs`` (the metric CRS of the units) in the plan's CRS, EPSG:4490.

    Each vertex is converted on its own, so vertices shared by neighbouring grids stay
    shared. A straight edge in metres is not straight in lon/lat, though: a grid's vertex on
    its parent's edge, converted alone, lands centimetres inside or outside the parent's
    straight lon/lat edge, and the plan fails its own validation (outside parent, not
    covering parent). With ``parent`` — the parent in ``crs`` and in EPSG:4490 — every vertex
    on the parent's boundary in ``crs`` goes onto the parent's lon/lat boundary (the nearest
    point, the parent's own vertex where it is one): every geometry converted with the same
    ``parent`` (grids, micro-grids, units) then tiles the parent exactly.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> lonlat = geoms_to_plan_crs(np.array([Point(500000, 3380000)]), 4547)
    >>> [round(c, 3) for c in lonlat[0].coords[0]]
    [114.0, 30.54]
    """
    transformer = Transformer.from_crs(CRS(crs), PLAN_CRS, always_xy=True)

    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        lonlat = np.column_stack([lon, lat])
        return lonlat if parent is None else _onto_parent(xy, lonlat, *parent)

    converted = shapely.transform(np.asarray(geoms, dtype=object), convert)
    return _without_roundoff(np.asarray(converted, dtype=object))


_ROUNDOFF_DEG = 1e-11  # ~1 µm: vertices closer than this are one vertex moved by round-off


def _without_roundoff(geoms: np.ndarray) -> np.ndarray:
    """``geoms`` without the zig-zags that conversion round-off leaves.

    Two vertices a few 1e-14° apart in metres-to-degrees round-off can swap order and make a
    ring cross itself (a "self-intersection" GEOS then refuses to union). In an invalid
    geometry only, such near-duplicates are merged (valid ones, and so the vertices they share
    with neighbours, are left as they are); one still invalid is repaired, keeping its
    polygonal part.
    """
    cleaned = np.array(geoms, dtype=object)
    for i in np.flatnonzero(~shapely.is_valid(cleaned) & ~shapely.is_empty(cleaned)):
        fixed = shapely.remove_repeated_points(cleaned[i], _ROUNDOFF_DEG)
        cleaned[i] = fixed if shapely.is_valid(fixed) else _polygonal(shapely.make_valid(fixed))
    return cleaned


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return geom
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def _onto_parent(
    xy: np.ndarray, lonlat: np.ndarray, parent_m: shapely.Geometry, parent_ll: shapely.Geometry
) -> np.ndarray:
    """``lonlat`` with the vertices lying on ``parent_m``'s boundary put on ``parent_ll``'s."""
    if len(xy) == 0:
        return lonlat
    edge_m = shapely.boundary(parent_m)
    shapely.prepare(edge_m)
    on = np.flatnonzero(shapely.dwithin(edge_m, shapely.points(xy), _ON_EDGE_M))
    if len(on) == 0:
        return lonlat
    rings = shapely.get_coordinates(shapely.boundary(parent_ll), return_index=True)
    coords, ring = rings
    same_ring = ring[:-1] == ring[1:]
    starts, ends = coords[:-1][same_ring], coords[1:][same_ring]
    segments = shapely.linestrings(np.stack([starts, ends], axis=1))
    points = shapely.points(lonlat[on])
    _, nearest = shapely.STRtree(segments).query_nearest(points, all_matches=False)
    # the segment's point nearest each vertex
    a, b = starts[nearest], ends[nearest]
    d = b - a
    length2 = np.einsum("ij,ij->i", d, d)
    t = np.divide(
        np.einsum("ij,ij->i", lonlat[on] - a, d), length2, out=np.zeros(len(on)), where=length2 > 0
    )
    t = np.clip(t, 0.0, 1.0)
    moved = a + t[:, None] * d
    moved = np.where((t <= 0.0)[:, None], a, np.where((t >= 1.0)[:, None], b, moved))
    for end in (a, b):
        close = np.hypot(*(moved - end).T) < _SAME_VERTEX_DEG
        moved[close] = end[close]
    out = lonlat.copy()
    out[on] = moved
    return out


def partition_areas(
    areas: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame | None,
    *,
    band: Band | tuple[float, float] | None = None,
    grids: int | None = None,
    grids_total: int | None = None,
    weights: Mapping[str, float] | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    keep_whole: gpd.GeoDataFrame | None = None,
    locked: gpd.GeoDataFrame | None = None,
    units: gpd.GeoDataFrame | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    kind: str | None = None,
    then_band: Band | tuple[float, float] | None = None,
    seed: int = 0,
    count_column: str = "households",
    name: str = "网格划分",
    progress: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> tuple[GridPlan, PartitionReport]:
    """Partition every parent area (row of ``areas``) into grids and write one plan.

    Parameters
    ----------
    areas
        Parent polygons with ``code`` and ``name`` columns (communities 社区, villages 村);
        an optional ``kind`` column (``urban``/``rural``/``special``) gives the kind of the
        grids cut inside each.
    households
        Building polygons with a count column, or household points. May be ``None`` with
        ``units`` that carry their own count column.
    band, grids, weights, seed
        As in :func:`geogrid.partition.partition` (``grids``: K grids in every parent).
    grids_total
        K grids over all the parents together, each grid inside one parent: K is shared
        out by workload (largest remainder, every parent at least one grid).
    barriers, keep_whole, locked
        As in :func:`geogrid.units.build_units` (each clipped to its parent).
    units
        Given unit polygons kept whole (natural villages 自然村, villager groups, production
        teams: the rural case), instead of units built from the households
        (:func:`geogrid.units.given.units_in_parent`); ``households``, when given, are
        counted into them.
    incidents
        Incident points counted into the units as the ``incidents`` column, for
        ``weights={"incidents": F}`` (:mod:`geogrid.partition.workload`).
    kind
        Kind of every new grid (:class:`~geogrid.plan.GridKind`), over the areas' ``kind``.
    then_band
        Band of micro-grids (微网格) cut inside every new grid, e.g. ``(20, 50)``.
    count_column
        Household count column.
    name
        Plan name.
    progress
        Show progress bars (rich, on standard error).
    on_progress
        Called as ``on_progress(done, total, message)`` before each step (units, grids,
        micro-grids of every area, then the plan) and once at the end with
        ``done == total``; the message names the step in Chinese, e.g. ``"荷清苑社区：划分网格"``.

    Returns
    -------
    (GridPlan, PartitionReport)

    Raises
    ------
    InvalidInputError
        Before any work, when ``areas`` lacks a ``code`` or ``name`` column or an area is no
        usable polygon (empty, not finite, self-intersecting...: see
        :func:`geogrid.polygons.polygon_problem`), naming the area; when more than one of
        ``band``, ``grids``, ``grids_total`` is given, or an unknown ``kind``.
    """
    _check_areas(areas)
    kinds = _grid_kinds(areas, kind)
    if sum(x is not None for x in (band, grids, grids_total)) > 1:
        raise InvalidInputError("give one of band, grids (per parent) or grids_total (all)")
    if households is None and units is None:
        raise InvalidInputError("give the households, or unit polygons with a count column")
    weights_ = {
        ("households" if k in (count_column, "households") else k): v
        for k, v in (weights or {}).items()
    }
    if INCIDENTS in weights_ and incidents is None:
        raise InvalidInputError(
            "weight 'incidents' needs the incidents: pass incidents= (--incidents FILE, or "
            "the store's)"
        )
    extra = sorted(c for c in weights_ if c not in ("households", INCIDENTS))
    plan_areas = areas.to_crs(PLAN_CRS)
    home_area = (
        _area_of_households(areas, households)
        if households is not None
        else np.zeros(0, dtype=np.int64)
    )
    polygon_area = _area_of_households(areas, units) if units is not None else None
    step = _Steps(on_progress, len(areas) * (3 if then_band is not None else 2) + 1)
    built = []
    for i in range(len(areas)):
        step(f"{areas['name'].iloc[i]}：构建单元")
        homes = None if households is None else households.iloc[np.flatnonzero(home_area == i)]
        row = areas.iloc[[i]]
        if units is not None:
            assert polygon_area is not None
            cells = units_in_parent(
                row,
                units,
                homes,
                count_column=count_column,
                extra_columns=extra,
                counted=polygon_area == i,
            )
        else:
            assert homes is not None
            cells = build_units(
                row,
                homes,
                barriers=barriers,
                keep_whole=keep_whole,
                locked=locked,
                count_column=count_column,
                extra_columns=extra,
            )
        built.append(with_incidents(cells, incidents) if incidents is not None else cells)
    counts = (
        share_grids(grids_total, [unit_weights(u, weights_ or None).sum() for u in built])
        if grids_total is not None
        else [grids] * len(built)
    )
    results = []
    parents = {}
    for i, cells in enumerate(built):
        code, area_name = str(areas["code"].iloc[i]), str(areas["name"].iloc[i])
        step(f"{area_name}：划分网格")
        result = partition(
            cells,
            band=band,
            grids=counts[i],
            weights=weights_ or None,
            seed=seed,
            progress=progress,
        )
        micro = {}
        if then_band is not None:
            step(f"{area_name}：划分微网格")
            micro = nested(result, then_band, seed=seed)
        results.append(AreaResult(code, area_name, result, micro, kind=kinds[i]))
        parents[code] = plan_areas.geometry.iloc[i]
    step("生成方案")
    plan = to_plan(results, parents=parents, name=name)
    step("完成")
    outside = households if households is not None else units
    assert outside is not None
    where = home_area if households is not None else polygon_area
    assert where is not None
    return plan, PartitionReport(results, outside.iloc[np.flatnonzero(where < 0)])


class _Steps:
    """Counts the steps of :func:`partition_areas` for its ``on_progress`` callback."""

    def __init__(self, callback: Callable[[int, int, str], None] | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def __call__(self, message: str) -> None:
        if self.callback is not None:
            self.callback(min(self.done, self.total), self.total, message)
        self.done += 1


def _check_areas(areas: gpd.GeoDataFrame) -> None:
    for column in ("code", "name"):
        if column not in areas.columns:
            raise InvalidInputError(
                f"the AREA layer needs a {column!r} column (编码/名称) for every parent area"
            )
    found = polygon_problem(areas.geometry.to_numpy())
    if found is not None:
        i, problem = found
        raise InvalidInputError(
            f"area {areas['code'].iloc[i]} (row {i + 1}) {problem}; {REPAIR_HINT}"
        )


def _grid_kinds(areas: gpd.GeoDataFrame, kind: str | None) -> list[str | None]:
    """Kind of the grids in every area: ``kind``, else the area's ``kind`` column."""
    valid = [k.value for k in GridKind]
    given: list[str | None] = [kind] * len(areas) if kind is not None else []
    if kind is None:
        column = areas["kind"] if "kind" in areas.columns else pd.Series([None] * len(areas))
        given = [None if pd.isna(v) or str(v).strip() == "" else str(v).strip() for v in column]
    for i, value in enumerate(given):
        if value is not None and value not in valid:
            where = "--kind" if kind is not None else f"area {areas['code'].iloc[i]}"
            raise InvalidInputError(
                f"{where}: grid kind {value!r} is not one of {', '.join(valid)} "
                "(城市社区网格 / 农村网格 / 专属网格)"
            )
    return given


def share_grids(total: int, loads: list[float]) -> list[int]:
    """``total`` grids shared out over parents by load: largest remainder, each at least one.

    Examples
    --------
    >>> share_grids(10, [900, 300, 600, 30])
    [5, 1, 3, 1]
    """
    n = len(loads)
    if n == 0:
        return []
    if total < n:
        raise InvalidInputError(
            f"--grids-total {total} is fewer than the {n} parent areas: every area needs at "
            f"least one grid; give at least {n}"
        )
    load = np.asarray(loads, dtype=float)
    quota = total * (load / load.sum() if load.sum() > 0 else np.full(n, 1.0 / n))
    share = np.maximum(1, np.floor(quota)).astype(int)
    while share.sum() > total:  # the minimum of one pushed the sum over: take from the most over
        over = np.where(share > 1, share - quota, -np.inf)
        share[int(np.argmax(over))] -= 1
    order = np.argsort(-(quota - share), kind="stable")
    share[order[: total - share.sum()]] += 1
    return [int(k) for k in share]


def _area_of_households(areas: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> np.ndarray:
    """Row of ``areas`` holding each household; -1 for none (see :func:`household_areas`)."""
    if households.crs is None or areas.crs is None:
        raise CRSError("the AREA and households layers need a CRS (坐标系缺失)")
    polygons = np.asarray(areas.to_crs(households.crs).geometry.array, dtype=object)
    return household_areas(polygons, np.asarray(households.geometry.array, dtype=object))
