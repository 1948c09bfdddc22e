"""Synthetic but realistic inputs inside a real outline: areas, buildings, hamlets, households.

Everything is drawn in metres (the outline's Gauss–Krüger zone, :func:`geogrid.crs.metric_crs`)
from a seeded :class:`numpy.random.Generator`, so the same seed gives the same county:

* **areas** (:func:`divide`): a region cut into ``n`` compact cells (Voronoi of seeds spread
  by a few Lloyd steps, clipped to the region; a detached piece joins the neighbour it shares
  most boundary with, so every cell is one polygon and the cells tile the region);
* **an urban community** (:func:`urban_community`): a street grid (the barriers), building
  footprints along it with households scaled to the community's total, and special sites
  (学校, 医院, 市场 …) as polygons kept as their own grids (专属网格);
* **a rural village** (:func:`rural_village`): natural villages (自然村, hamlets) scattered in
  the village's land — the units kept whole — with one point per household inside them;
* **residents** (:func:`residents_for`): persons per household drawn around a mean and
  adjusted so that the total is exactly the published one.

No module of geogrid is asked to draw these inputs; the partition, staff, stores and maps of
:mod:`geogrid.examples.pipeline` work on them as on a planner's files.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = [
    "SITE_SIZE_M",
    "Site",
    "divide",
    "residents_for",
    "rural_village",
    "sample_points",
    "split_counts",
    "urban_community",
]

SITE_SIZE_M = {
    "school": (160.0, 120.0),
    "hospital": (140.0, 110.0),
    "market": (120.0, 90.0),
    "enterprise": (220.0, 160.0),
    "institution": (100.0, 80.0),
    "scenic": (900.0, 700.0),
}
"""Width × depth in metres of each kind of special site (专属网格)."""


@dataclasses.dataclass(frozen=True)
class Site:
    """A special site (专属网格) to place: its name and subtype (``school``, ``scenic`` …)."""

    name: str
    subtype: str


def sample_points(region: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points (x, y rows) inside ``region``."""
    if n <= 0:
        return np.empty((0, 2))
    x0, y0, x1, y1 = region.bounds
    shapely.prepare(region)
    out: list[np.ndarray] = []
    have = 0
    share = max(region.area / ((x1 - x0) * (y1 - y0)), 0.01)
    while have < n:
        m = int((n - have) / share * 1.3) + 8
        xy = np.column_stack([rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)])
        xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    return np.concatenate(out)[:n]


def _cells(region: BaseGeometry, seeds: np.ndarray) -> np.ndarray:
    """Voronoi cells of ``seeds`` clipped to ``region``, in the seeds' order."""
    if len(seeds) == 1:
        return np.array([region], dtype=object)
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=region, ordered=True)
    cells = np.asarray(shapely.get_parts(diagram), dtype=object)
    return np.asarray(shapely.intersection(cells, region), dtype=object)


def divide(
    region: BaseGeometry,
    n: int,
    rng: np.random.Generator,
    *,
    seeds: np.ndarray | None = None,
    lloyd: int = 3,
) -> np.ndarray:
    """``region`` cut into ``n`` compact polygons that tile it (one polygon each).

    Parameters
    ----------
    region
        The polygon to cut, in metres.
    n
        How many cells.
    rng
        Random generator.
    seeds
        Starting seeds (``n`` rows of x, y); default uniform in ``region``.
    lloyd
        Lloyd steps (each seed moved to its cell's centroid) that even the cells out.

    Returns
    -------
    numpy.ndarray
        ``n`` polygons, ordered as the seeds.
    """
    points = sample_points(region, n, rng) if seeds is None else np.asarray(seeds, float)
    for _ in range(lloyd):
        cells = _cells(region, points)
        centres = shapely.point_on_surface(cells)
        points = shapely.get_coordinates(centres)
    return _single_parts(_cells(region, points))


def _single_parts(cells: np.ndarray) -> np.ndarray:
    """Every detached piece of a cell joined to the neighbour sharing most boundary with it."""
    cells = np.asarray([shapely.make_valid(c) for c in cells], dtype=object)
    for _ in range(4):
        moved = False
        for i in range(len(cells)):
            parts = np.asarray(shapely.get_parts(cells[i]), dtype=object)
            parts = parts[shapely.get_dimensions(parts) == 2]
            if len(parts) <= 1:
                cells[i] = parts[0] if len(parts) else cells[i]
                continue
            keep = int(np.argmax(shapely.area(parts)))
            cells[i] = parts[keep]
            tree = shapely.STRtree(cells)
            for j, part in enumerate(parts):
                if j == keep:
                    continue
                near = [k for k in tree.query(part, predicate="intersects") if k != i]
                if not near:
                    cells[i] = shapely.union(cells[i], part)
                    continue
                shared = shapely.length(shapely.intersection(part.boundary, cells[near]))
                best = near[int(np.argmax(shared))]
                cells[best] = shapely.coverage_union(cells[best], part)
                moved = True
        if not moved:
            break
    return cells


def split_counts(total: int, n: int, rng: np.random.Generator, spread: float = 0.35) -> np.ndarray:
    """``total`` split into ``n`` positive integers around the mean (lognormal, exact sum)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if total < n:
        raise ValueError(f"cannot split {total} into {n} positive parts")
    weights = rng.lognormal(0.0, spread, n)
    quota = (total - n) * weights / weights.sum()
    out = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - out), kind="stable")
    out[order[: total - n - int(out.sum())]] += 1
    return out + 1


def residents_for(
    households: int, mean: float, rng: np.random.Generator, total: int | None = None
) -> np.ndarray:
    """Persons per household (1–7) around ``mean``; summing exactly to ``total`` when given."""
    people = np.clip(rng.poisson(mean - 1.0, households) + 1, 1, 7).astype(np.int64)
    if total is None:
        return people
    if not households <= total <= 7 * households:
        raise ValueError(f"{total} residents cannot live in {households} households of 1-7")
    gap = total - int(people.sum())
    while gap:
        step = 1 if gap > 0 else -1
        room = np.flatnonzero((people < 7) if step > 0 else (people > 1))
        pick = rng.choice(room, size=min(abs(gap), len(room)), replace=False)
        people[pick] += step
        gap -= step * len(pick)
    return people


# -- urban community --------------------------------------------------------------------


def _street_grid(
    area: BaseGeometry, spacing: float, rng: np.random.Generator
) -> tuple[np.ndarray, float, np.ndarray]:
    """Street centre lines over ``area`` (a rotated grid), the angle and the rotation origin."""
    angle = float(rng.uniform(0, 90))
    cx, cy = area.centroid.x, area.centroid.y
    x0, y0, x1, y1 = area.bounds
    half = max(x1 - x0, y1 - y0)
    offsets = np.arange(-half, half + spacing, spacing) + rng.uniform(0, spacing)
    lines = [shapely.linestrings([[o, -half], [o, half]]) for o in offsets]
    lines += [shapely.linestrings([[-half, o], [half, o]]) for o in offsets]
    grid = shapely.affinity.rotate(shapely.multilinestrings(lines), angle, origin=(0, 0))
    grid = shapely.affinity.translate(grid, cx, cy)
    clipped = shapely.intersection(area, grid)
    parts = np.asarray(shapely.get_parts(clipped), dtype=object)
    return parts[shapely.get_dimensions(parts) == 1], angle, np.array([cx, cy])


def _rect(cx: float, cy: float, w: float, d: float, angle: float) -> BaseGeometry:
    box = shapely.box(-w / 2, -d / 2, w / 2, d / 2)
    return shapely.affinity.translate(shapely.affinity.rotate(box, angle), cx, cy)


def _place_sites(
    area: BaseGeometry,
    sites: list[Site],
    angle: float,
    rng: np.random.Generator,
    taken: list[BaseGeometry],
) -> list[BaseGeometry]:
    """One rectangle per site, inside ``area`` and apart from the others (shrunk to fit)."""
    out: list[BaseGeometry] = []
    for site in sites:
        w, d = SITE_SIZE_M.get(site.subtype, (120.0, 100.0))
        for attempt in range(600):
            scale = (1.0, 0.6, 0.35, 0.2, 0.12, 0.07)[attempt // 100]
            ((x, y),) = sample_points(area, 1, rng)
            rect = _rect(x, y, w * scale, d * scale, angle)
            margin = 15 * min(1.0, 3 * scale)
            if area.contains(rect.buffer(margin)) and not any(
                rect.buffer(margin + 10).intersects(t) for t in (*taken, *out)
            ):
                out.append(rect)
                break
        else:
            raise RuntimeError(f"no room for {site.name} ({site.subtype}) in its area")
    return out


def urban_community(
    area: BaseGeometry,
    households: int,
    rng: np.random.Generator,
    *,
    sites: list[Site] = (),  # type: ignore[assignment]
    spacing: float = 180.0,
    per_building: float = 36.0,
    most: int = 180,
    lattice: tuple[float, float] = (62.0, 34.0),
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings with households, streets and special sites of one urban community.

    Parameters
    ----------
    area
        The community (社区), in metres.
    households
        Households in its buildings (exactly).
    rng
        Random generator.
    sites
        Special sites placed as polygons (their own grids); no building inside them.
    spacing
        Street spacing in metres (the blocks).
    per_building
        Mean households per residential building (楼栋), which sets how many buildings.
    most
        Most households in one building (keep it below the band's maximum).
    lattice
        Spacing of the building lattice (along, across the street) in metres; footprints
        are sized to it.

    Returns
    -------
    buildings, streets, sites : geopandas.GeoDataFrame
        Buildings (``households``, ``floors``, ``name``), street lines, site polygons
        (``name``, ``kind`` = ``special``, ``subtype``); all without CRS (metres of the caller).
    """
    streets, angle, _ = _street_grid(area, spacing, rng)
    site_geoms = _place_sites(area, list(sites), angle, rng, [])
    n = max(1, round(households / per_building))
    footprints = _lattice_buildings(area, streets, site_geoms, angle, n, rng, lattice)
    if not footprints:
        raise RuntimeError("no room for buildings in the community; make it larger")
    floors = rng.integers(4, 19, len(footprints))
    capacity = shapely.area(np.asarray(footprints, dtype=object)) * floors
    counts = _scaled(capacity, households, most)
    buildings = gpd.GeoDataFrame(
        {
            "name": [f"{i + 1}号楼" for i in range(len(footprints))],
            "floors": floors,
            "households": counts,
        },
        geometry=footprints,
    )
    buildings = buildings[buildings["households"] > 0].reset_index(drop=True)
    site_frame = gpd.GeoDataFrame(
        {
            "name": [s.name for s in sites],
            "kind": ["special"] * len(site_geoms),
            "subtype": [s.subtype for s in sites],
        },
        geometry=site_geoms,
    )
    return buildings, gpd.GeoDataFrame(geometry=list(streets)), site_frame


def _lattice_buildings(
    area: BaseGeometry,
    streets: np.ndarray,
    sites: list[BaseGeometry],
    angle: float,
    n: int,
    rng: np.random.Generator,
    lattice: tuple[float, float] = (62.0, 34.0),
) -> list[BaseGeometry]:
    """Up to ``n`` slab footprints on a jittered lattice along the streets, off roads and sites."""
    x0, y0, x1, y1 = area.bounds
    half = max(x1 - x0, y1 - y0) / 2 + 60
    cx, cy = area.centroid.x, area.centroid.y
    dx, dy = lattice
    gx, gy = np.meshgrid(np.arange(-half, half, dx), np.arange(-half, half, dy))
    local = np.column_stack([gx.ravel(), gy.ravel()]) + rng.uniform(-4, 4, (gx.size, 2))
    theta = np.radians(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    xy = local @ rot.T + [cx, cy]
    inner = area.buffer(-6.0)
    shapely.prepare(inner)
    near = shapely.contains_xy(inner, xy[:, 0], xy[:, 1])
    xy = xy[near]
    w, d = rng.uniform(0.42 * dx, 0.84 * dx, len(xy)), rng.uniform(0.32 * dy, 0.47 * dy, len(xy))
    rects = np.asarray(
        [_rect(x, y, wi, di, angle) for (x, y), wi, di in zip(xy, w, d, strict=True)], dtype=object
    )
    keep = shapely.contains(inner, rects)
    blocked = [
        *(shapely.buffer(streets, 9.0) if len(streets) else []),
        *(g.buffer(8) for g in sites),
    ]
    if blocked:
        tree = shapely.STRtree(np.asarray(blocked, dtype=object))
        hit = tree.query(rects, predicate="intersects")[0]
        keep[np.unique(hit)] = False
    rects = rects[keep]
    if len(rects) > n:
        rects = rects[np.sort(rng.choice(len(rects), n, replace=False))]
    return list(rects)


def _scaled(capacity: np.ndarray, total: int, most: int) -> np.ndarray:
    """Integers proportional to ``capacity`` summing to ``total``, none above ``most``.

    When the buildings are too few for ``total`` at ``most`` each, ``most`` is raised to fit
    (taller buildings on a small estate).
    """
    most = max(most, int(np.ceil(1.25 * total / len(capacity))))
    quota = total * capacity / capacity.sum()
    for _ in range(50):
        over = quota > most
        if not over.any():
            break
        spare = float((quota[over] - most).sum())
        quota[over] = most
        room = ~over & (quota < most)
        quota[room] += spare * quota[room] / quota[room].sum()
    out = np.floor(quota).astype(np.int64)
    ranked = [int(i) for i in np.argsort(-(quota - out), kind="stable") if out[i] < most]
    for i in ranked[: total - int(out.sum())]:
        out[i] += 1
    return out


# -- rural village ----------------------------------------------------------------------


def _hamlet_shape(
    x: float, y: float, households: int, rng: np.random.Generator, scale: float = 1.0
) -> BaseGeometry:
    """An irregular blob (a few overlapping discs) sized for ``households``."""
    radius = (35.0 + 9.0 * np.sqrt(households)) * scale
    blobs = [shapely.Point(x, y).buffer(radius, quad_segs=4)]
    for _ in range(int(rng.integers(1, 4))):
        dx, dy = rng.normal(0, radius * 0.6, 2)
        blobs.append(
            shapely.Point(x + dx, y + dy).buffer(radius * rng.uniform(0.5, 0.9), quad_segs=4)
        )
    return shapely.union_all(blobs).simplify(2.0)


def rural_village(
    area: BaseGeometry,
    counts: np.ndarray,
    rng: np.random.Generator,
    *,
    prefix: str,
    sites: list[Site] = (),  # type: ignore[assignment]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Natural villages (hamlets) with one point per household, and special sites.

    Parameters
    ----------
    area
        The administrative village (行政村), in metres.
    counts
        Households of each natural village (自然村).
    rng
        Random generator.
    prefix
        Name stem of the hamlets (``{prefix}{n}组``-like names are made from it).
    sites
        Special sites (scenic area, school…) placed as polygons kept as their own grids.

    Returns
    -------
    hamlets, homes, sites : geopandas.GeoDataFrame
        Hamlet polygons (``name``, ``households``), household points (``hamlet``), site
        polygons (``name``, ``kind``, ``subtype``); all without CRS (metres of the caller).
    """
    site_geoms = _place_sites(area, list(sites), 0.0, rng, [])
    inner = area.buffer(-40.0)
    if inner.is_empty:
        inner = area
    placed: list[BaseGeometry] = []
    taken = [g.buffer(30) for g in site_geoms]
    need = sum(np.pi * (2.0 * (35.0 + 9.0 * np.sqrt(h))) ** 2 for h in counts)
    fit = min(1.0, float(np.sqrt(0.3 * inner.area / need))) if need else 1.0
    for h in counts:
        shape = None
        for attempt in range(800):
            ((x, y),) = sample_points(inner, 1, rng)
            candidate = _hamlet_shape(x, y, int(h), rng, fit * 0.8 ** (attempt // 50))
            candidate = candidate.intersection(inner)
            if candidate.geom_type == "MultiPolygon":
                candidate = max(candidate.geoms, key=lambda g: g.area)
            if candidate.is_empty or candidate.geom_type != "Polygon":
                continue
            gap = 15.0 if attempt < 400 else 2.0  # crowded land: hamlets closer together
            if any(candidate.buffer(gap).intersects(t) for t in taken):
                continue
            shape = candidate
            break
        if shape is None:
            raise RuntimeError(f"no room for {len(counts)} natural villages in {prefix}")
        placed.append(shape)
        taken.append(shape)
    names = _hamlet_names(prefix, len(counts), rng)
    hamlets = gpd.GeoDataFrame(
        {"name": names, "households": np.asarray(counts, dtype=np.int64)}, geometry=placed
    )
    homes = []
    for geom, h, name in zip(placed, counts, names, strict=True):
        xy = sample_points(geom.buffer(-3) if geom.buffer(-3).area > 0 else geom, int(h), rng)
        homes.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "hamlet": name}))
    points = pd.concat(homes, ignore_index=True)
    home_frame = gpd.GeoDataFrame(
        points[["hamlet"]], geometry=shapely.points(points[["x", "y"]].to_numpy())
    )
    site_frame = gpd.GeoDataFrame(
        {
            "name": [s.name for s in sites],
            "kind": ["special"] * len(site_geoms),
            "subtype": [s.subtype for s in sites],
        },
        geometry=site_geoms,
    )
    return hamlets, home_frame, site_frame


_HAMLET_STEMS = "张王李刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
_HAMLET_ENDS = ("家沟", "家庄", "家湾", "家洼", "家岭", "家坪", "家凹", "家岗", "家坡", "家窑")


def _hamlet_names(prefix: str, n: int, rng: np.random.Generator) -> list[str]:
    """Distinct natural-village names (张家沟, 李家湾 …), numbered when they repeat."""
    names: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        name = rng.choice(list(_HAMLET_STEMS)) + str(rng.choice(_HAMLET_ENDS))
        if name in seen:
            name = f"{name}{i + 1}组"
        seen.add(name)
        names.append(name)
    return names
