"""Synthetic inputs for trying the cluster: a row of communities, household points, roads."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["METRIC_CRS", "synthetic_areas"]

METRIC_CRS = 4547
"""CGCS2000 / 3-degree Gauss-Kruger CM 114E: the metres the synthetic areas are drawn in."""
_ORIGIN = (500_000.0, 3_380_000.0)  # near 114°E, 30.5°N


def synthetic_areas(
    n_areas: int, households: int, rng: np.random.Generator, *, size_m: float = 1000.0
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``n_areas`` square communities side by side, each with ``households`` points and roads.

    Parameters
    ----------
    n_areas
        How many parent areas (社区), laid out in rows of ten.
    households
        Household points per area, each of 1 to 5 households.
    rng
        Random generator: the same seed, the same inputs.
    size_m
        Side of each square area in metres.

    Returns
    -------
    (areas, households, barriers)
        In :data:`METRIC_CRS`: areas with ``code`` and ``name``; points with ``households``;
        two straight roads across every area.

    Examples
    --------
    >>> areas, homes, roads = synthetic_areas(3, 50, np.random.default_rng(0))
    >>> len(areas), len(homes), len(roads), areas["code"].iloc[2]
    (3, 150, 6, '420100001003')
    """
    col, row = np.arange(n_areas) % 10, np.arange(n_areas) // 10
    x0, y0 = _ORIGIN[0] + col * size_m, _ORIGIN[1] + row * size_m
    boxes = shapely.box(x0, y0, x0 + size_m, y0 + size_m)
    areas = gpd.GeoDataFrame(
        {
            "code": [f"420100001{i + 1:03d}" for i in range(n_areas)],
            "name": [f"示例{i + 1}社区" for i in range(n_areas)],
        },
        geometry=boxes,
        crs=METRIC_CRS,
    )
    # points kept 1 m inside their square: each household belongs to one area
    px = np.repeat(x0, households) + rng.uniform(1, size_m - 1, n_areas * households)
    py = np.repeat(y0, households) + rng.uniform(1, size_m - 1, n_areas * households)
    homes = gpd.GeoDataFrame(
        {"households": rng.integers(1, 6, px.size)},
        geometry=shapely.points(px, py),
        crs=METRIC_CRS,
    )
    # per area one road west-east and one south-north at random offsets, slightly slanted
    a = rng.uniform(0.2, 0.8, (n_areas, 2)) * size_m
    slant = rng.uniform(-0.1, 0.1, (n_areas, 2)) * size_m
    lines = [
        shapely.linestrings([[x - 1, y + a[i, 0]], [x + size_m + 1, y + a[i, 0] + slant[i, 0]]])
        for i, (x, y) in enumerate(zip(x0, y0, strict=True))
    ] + [
        shapely.linestrings([[x + a[i, 1], y - 1], [x + a[i, 1] + slant[i, 1], y + size_m + 1]])
        for i, (x, y) in enumerate(zip(x0, y0, strict=True))
    ]
    return areas, homes, gpd.GeoDataFrame(geometry=lines, crs=METRIC_CRS)
