"""Build geogrid's Haidian sample data from the OpenStreetMap extract.

Run from the repository root::

    .venv/bin/python data/boundaries/haidian/make_sample.py [SOURCE.gpkg]

SOURCE defaults to ``../shared/data/haidian/haidian_osm.gpkg`` (relative to the repository
root). The script writes, next to itself:

``area.geojson``     the four sample communities (社区), an exact coverage of the area
``households.gpkg``  layer ``buildings`` (estimated households) and layer ``estates`` (小区)
``roads.gpkg``       layer ``roads`` (OSM highways clipped to the area plus a margin)
``plan.gpkg``        the sample grid plan (社区 → 网格), written by ``geogrid.io.write_plan``

Every step is deterministic: inputs are sorted by OSM id, all line work is noded on a fixed
1e-7 degree grid (OSM's own precision) before it is polygonised, and GeoPackage timestamps
are pinned, so running the script twice gives byte-identical files. See README.md for the
rules and constants.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from geogrid.codes import number_children
from geogrid.io import write_plan
from geogrid.plan import GridPlan

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFAULT_SOURCE = REPO / ".." / "shared" / "data" / "haidian" / "haidian_osm.gpkg"

CRS_OUT = "EPSG:4490"  # CGCS2000 lon/lat; OSM's WGS84 coordinates are used as they are
CRS_METRIC = "EPSG:4546"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E, for areas and lengths
GRID = 1e-7  # degrees; every vertex of the derived polygons lies on this grid
PINNED_DATE = "2017-06-24T00:00:00.000Z"  # newest element of the OSM export

# --- household estimate (see README.md) -----------------------------------------------------
FLOOR_AREA_PER_HOUSEHOLD = 77.64  # m² per family household, urban Beijing, 2020 census
METRES_PER_FLOOR = 3.0
RESIDENTIAL_TAGS = ("apartments", "detached", "house", "residential", "terrace")
COLLECTIVE_TAGS = ("dormitory",)  # collective households (集体户): no family households
DEFAULT_FLOORS = {
    "apartments": 6,
    "residential": 6,
    "yes": 5,  # building=yes (in an estate: a residential block)
    "dormitory": 6,
    "commercial": 6,
    "school": 4,
    "university": 4,
    "train_station": 1,
}
FALLBACK_FLOORS = 4
COMPOUND_FOOTPRINT_M2 = 5000.0  # a residential "building" this large is a mapped compound
COMPOUND_FLOORS = 2

# --- geometry and partition -----------------------------------------------------------------
MAIN_ROADS = ("trunk", "primary", "secondary", "trunk_link", "primary_link", "secondary_link")
MINOR_ROADS = (
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "pedestrian",
)
# campus trunk roads that split the enclosed area into communities (see _community_cuts)
COMMUNITY_ROADS = ("学堂路", "清华路", "熙春路")
TARGET_HOUSEHOLDS = 400
BAND = (300, 500)
BLOCK_SPLIT_ABOVE = 200  # blocks holding more households are cut between building rows
MIN_GAP_M = 3.0  # such a cut keeps at least 1.5 m from every building
CUT_WEIGHT = 1e-4  # objective weight per metre of boundary between grids (compactness)

STREET = "110108900"  # Haidian (110108) + a sample street number not used by a real street
COMMUNITIES = {  # a place named in the data (inside the community) -> sample community name
    "荷清苑教师住宅区": "荷清苑社区",
    "西王庄小区": "西王庄社区",
    "新林院": "新林院社区",
    "西南": "西南社区",  # the 西南1–20 buildings
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文海波宁欣悦晨"
NUMERALS = "零一二三四五六七八九"


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": PINNED_DATE})
    buildings, roads, estates = _read_source(source)

    area = _enclosed_area(roads, buildings)
    buildings = _estimate_households(buildings, estates)
    inside = shapely.contains(area, buildings["point"].to_numpy())
    print(f"{int((~inside).sum())} buildings lie outside the enclosing main roads; left out")
    buildings = buildings[inside].reset_index(drop=True)

    cuts = _community_cuts(roads)
    communities = _communities(area, cuts, buildings)
    faces = _blocks(area, cuts, roads, buildings)
    grids, units = _grids(communities, faces, buildings)
    # the community outlines are re-made from the final faces, so they share every vertex
    # with their grids: the grids then cover their community exactly
    communities["geometry"] = [
        shapely.coverage_union_all(grids.loc[grids["parent_code"] == code, "geometry"].to_numpy())
        for code in communities["code"]
    ]

    _write_area(communities)
    _write_households(buildings, estates)
    _write_roads(roads, area)
    _write_plan(communities, grids, units, buildings)


# --------------------------------------------------------------------------- source


def _read_source(source: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    if not source.exists():
        raise SystemExit(f"{source}: no such file; pass the path of haidian_osm.gpkg")
    buildings = pyogrio.read_dataframe(source, layer="buildings")
    roads = pyogrio.read_dataframe(source, layer="roads")
    estates = pyogrio.read_dataframe(source, layer="residential_areas")
    for frame in (buildings, estates):
        frame["osm"] = [
            f"way/{int(w)}" if pd.notna(w) else f"relation/{int(r)}"
            for w, r in zip(frame["osm_way_id"], frame["osm_id"], strict=True)
        ]
    roads["osm"] = [f"way/{int(w)}" for w in roads["osm_id"]]
    out = []
    for frame in (buildings, roads, estates):
        frame = frame.assign(_key=frame["osm"].map(_osm_sort_key))
        frame = frame.sort_values("_key", kind="stable").drop(columns="_key")
        frame = frame.reset_index(drop=True).set_crs(CRS_OUT, allow_override=True)
        out.append(frame)
    buildings, roads, estates = out
    buildings["point"] = shapely.point_on_surface(buildings.geometry.to_numpy())
    return buildings, roads, estates


def _osm_sort_key(osm: str) -> tuple[str, int]:
    kind, number = osm.split("/")
    return kind, int(number)


# --------------------------------------------------------------------------- households


def _estimate_households(
    buildings: gpd.GeoDataFrame, estates: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Floors, residential rule and households of every building (see README.md)."""
    b = buildings.copy()
    footprint = b.geometry.to_crs(CRS_METRIC).area.to_numpy()
    tag = b["building"].fillna("yes").to_numpy()
    estate = np.full(len(b), None, dtype=object)
    for name, geom in zip(estates["name"], estates.geometry, strict=True):
        estate[shapely.contains(geom, b["point"].to_numpy())] = name
    plain_in_estate = (tag == "yes") & pd.notna(estate) & b["amenity"].isna().to_numpy()
    tagged = np.isin(tag, RESIDENTIAL_TAGS)
    collective = np.isin(tag, COLLECTIVE_TAGS)
    residential = tagged | plain_in_estate

    levels = pd.to_numeric(b["levels"], errors="coerce").to_numpy()
    height = pd.to_numeric(b["height_m"], errors="coerce").to_numpy()
    default = np.array([DEFAULT_FLOORS.get(t, FALLBACK_FLOORS) for t in tag])
    compound = residential & (footprint > COMPOUND_FOOTPRINT_M2)
    default = np.where(compound, COMPOUND_FLOORS, default)
    floors = np.where(
        ~np.isnan(levels),
        levels,
        np.where(~np.isnan(height), np.maximum(1, np.round(height / METRES_PER_FLOOR)), default),
    ).astype(int)
    floors_from = np.where(
        ~np.isnan(levels),
        "building:levels",
        np.where(
            ~np.isnan(height), "height", np.where(compound, "compound default", "type default")
        ),
    )
    households = np.where(
        residential, np.round(footprint * floors / FLOOR_AREA_PER_HOUSEHOLD), 0
    ).astype(int)
    rule = np.where(
        tagged,
        "residential tag",
        np.where(
            plain_in_estate,
            "building=yes in estate",
            np.where(collective, "collective (dormitory)", "non-residential"),
        ),
    )
    b["unit_id"] = b["osm"]
    b["kind"] = "building"
    b["building"] = tag
    b["estate"] = estate
    b["footprint_m2"] = np.round(footprint, 1)
    b["floors"] = floors
    b["floors_from"] = floors_from
    b["household_rule"] = rule
    b["households"] = households
    return b


# --------------------------------------------------------------------------- area and communities


def _noded_faces(lines: list, within: Polygon | None = None) -> list[Polygon]:
    """Polygonise ``lines`` noded on the fixed grid; keep faces inside ``within``."""
    network = shapely.union_all(lines, grid_size=GRID)
    faces = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(network)).geoms))
    if within is not None:
        points = shapely.point_on_surface(faces)
        faces = [f for f, p in zip(faces, points, strict=True) if within.contains(p)]
    keyed = sorted(faces, key=lambda f: (round(-f.bounds[3], 9), round(f.bounds[0], 9), f.wkb))
    return keyed


def _enclosed_area(roads: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> Polygon:
    """The block enclosed by the main roads: the largest face of main roads ∪ data extent."""
    main = roads[roads["highway"].isin(MAIN_ROADS)]
    extent = shapely.box(*buildings.total_bounds)
    faces = _noded_faces([*main.geometry, extent.boundary])
    metric = gpd.GeoSeries(faces, crs=CRS_OUT).to_crs(CRS_METRIC).area.to_numpy()
    return faces[int(np.argmax(metric))]


def _road_axis(roads: gpd.GeoDataFrame, name: str, overshoot: float = 0.004) -> LineString:
    """One polyline through the parts of road ``name``, extended at both ends."""
    merged = shapely.line_merge(
        shapely.union_all(roads.loc[roads["name"] == name].geometry.to_numpy())
    )
    parts = list(shapely.get_parts(merged))
    coords = np.vstack([np.asarray(p.coords) for p in parts])
    axis = int(np.argmax(coords.max(axis=0) - coords.min(axis=0)))
    pieces = []
    for part in parts:
        c = np.asarray(part.coords)
        pieces.append(c if c[-1, axis] >= c[0, axis] else c[::-1])
    pieces.sort(key=lambda c: c[0, axis])
    c = np.vstack(pieces)

    def beyond(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        v = p - q
        return p + v / math.hypot(*v) * overshoot

    return LineString([beyond(c[0], c[1]), *c, beyond(c[-1], c[-2])])


def _community_cuts(roads: gpd.GeoDataFrame) -> list[LineString]:
    """学堂路 (N–S) in full; 清华路 west of 学堂路; 熙春路 south of 清华路.

    A trimmed road overshoots its partner by ~50 m; the overshoot is a dangle that polygonize
    drops, so the cut ends exactly on the partner road.
    """
    xuetang, qinghua, xichun = (_road_axis(roads, n) for n in COMMUNITY_ROADS)
    margin = 0.0005
    crossing = qinghua.intersection(xuetang)
    west = shapely.box(-180, -90, crossing.x + margin, 90)
    crossing = xichun.intersection(qinghua)
    south = shapely.box(-180, -90, 180, crossing.y + margin)
    return [xuetang, qinghua.intersection(west), xichun.intersection(south)]


def _communities(area: Polygon, cuts: list, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    faces = _noded_faces([area.boundary, *cuts], within=area)
    names = []
    for face in faces:
        inside = buildings[shapely.contains(face, buildings["point"].to_numpy())]
        score = {
            name: int(
                inside.loc[
                    (inside["estate"] == place) | inside["name"].fillna("").str.startswith(place),
                    "households",
                ].sum()
            )
            for place, name in COMMUNITIES.items()
        }
        names.append(max(score, key=lambda n: (score[n], n)))
    if sorted(names) != sorted(COMMUNITIES.values()):
        raise SystemExit(f"communities not told apart by their places: {names}")
    frame = gpd.GeoDataFrame({"name": names}, geometry=faces, crs=CRS_OUT)
    frame["code"] = number_children(STREET, frame.geometry)
    return frame.sort_values("code").reset_index(drop=True)


# --------------------------------------------------------------------------- blocks


def _blocks(
    area: Polygon, cuts: list, roads: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame
) -> list:
    """Faces of community cuts + minor roads; heavy faces cut again between building rows."""
    minor = roads[roads["highway"].isin(MINOR_ROADS)]
    lines = [area.boundary, *cuts, *minor.geometry]
    faces = _noded_faces(lines, within=area)
    extra: list = []
    for face in faces:
        extra.extend(_row_cuts(face, buildings))
    if extra:
        faces = _noded_faces(lines + extra, within=area)
    return faces


def _row_cuts(face: Polygon, buildings: gpd.GeoDataFrame) -> list[LineString]:
    """Straight cuts through gaps between buildings until each piece ≤ BLOCK_SPLIT_ABOVE."""
    inside = buildings[shapely.contains(face, buildings["point"].to_numpy())]
    total = int(inside["households"].sum())
    if total <= BLOCK_SPLIT_ABOVE:
        return []
    near = buildings[shapely.intersects(face, buildings.geometry.to_numpy())]
    # a local frame in metres (equirectangular about the face): straight lines stay straight
    lon0, lat0 = face.centroid.x, face.centroid.y
    scale = np.array([111_320 * math.cos(math.radians(lat0)), 110_574])

    def local(xy: np.ndarray) -> np.ndarray:
        return (xy - [lon0, lat0]) * scale

    points = local(shapely.get_coordinates(inside["point"].to_numpy()))
    shapes = [local(shapely.get_coordinates(g)) for g in near.geometry]
    weights = inside["households"].to_numpy()
    parts = max(2, math.ceil(total / TARGET_HOUSEHOLDS))
    aim = total * (parts // 2) / parts
    best = None
    for degrees in range(0, 180, 15):  # cut perpendicular to direction u
        u = np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])
        spans = sorted((float((c @ u).min()), float((c @ u).max())) for c in shapes)
        pos = points @ u
        reach = spans[0][1]
        for lo, hi in spans[1:]:
            if lo - reach >= MIN_GAP_M:
                cut = (reach + lo) / 2
                left = int(weights[pos < cut].sum())
                score = (abs(left - aim), -(lo - reach), degrees)
                if 0 < left < total and (best is None or score < best[0]):
                    best = (score, u, cut)
            reach = max(reach, hi)
    if best is None:
        return _zone_cuts(face, near)
    _, u, cut = best
    reach = float(np.abs(local(shapely.get_coordinates(face.exterior))).max()) * 2
    v = np.array([-u[1], u[0]])
    ends = np.array([u * cut - v * reach, u * cut + v * reach]) / scale + [lon0, lat0]
    pad = 1e-6
    line = LineString(ends).intersection(face.buffer(pad))
    pieces = _noded_faces([face.boundary, line], within=face)
    cuts = [line]
    for piece in pieces:
        cuts.extend(_row_cuts(piece, buildings))
    return cuts


def _zone_cuts(face: Polygon, near: gpd.GeoDataFrame) -> list:
    """Boundaries between the buildings' zones of influence inside ``face``.

    A zone is the set of places nearer to one building's outline than to any other (Voronoi
    cells of points every ~2 m along the outlines, merged per building), so the lines run
    through the gaps between buildings and never cross one.
    """
    if len(near) < 2:
        return []
    outlines = [shapely.segmentize(g.boundary, 2e-5) for g in near.geometry]
    points, labels = [], []
    for label, outline in enumerate(outlines):
        xy = np.unique(np.round(shapely.get_coordinates(outline), 8), axis=0)
        points.append(xy)
        labels.append(np.full(len(xy), label))
    xy, label = np.vstack(points), np.concatenate(labels)
    cells = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=face, ordered=True)
    cells = np.array(list(shapely.get_parts(cells)), dtype=object)
    zones = [shapely.union_all(cells[label == i], grid_size=GRID) for i in range(len(outlines))]
    network = shapely.union_all([z.boundary for z in zones], grid_size=GRID)
    network = shapely.line_merge(network.intersection(face.buffer(1e-6)))
    return [shapely.simplify(line, 1e-5) for line in shapely.get_parts(network)]


# --------------------------------------------------------------------------- grids


def _grids(
    communities: gpd.GeoDataFrame, faces: list, buildings: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    face_frame = gpd.GeoDataFrame(geometry=faces, crs=CRS_OUT)
    points = shapely.point_on_surface(np.array(faces, dtype=object))
    face_frame["community"] = None
    for code, geom in zip(communities["code"], communities.geometry, strict=True):
        face_frame.loc[shapely.contains(geom, points), "community"] = code
    if face_frame["community"].isna().any():
        raise SystemExit("a block lies in no community")
    owner = np.full(len(buildings), -1)
    tree = shapely.STRtree(faces)
    for i, j in zip(*tree.query(buildings["point"].to_numpy(), predicate="within"), strict=True):
        owner[i] = j
    if (owner < 0).any():
        raise SystemExit("a building lies in no block")
    face_frame["households"] = np.bincount(
        owner, weights=buildings["households"], minlength=len(faces)
    )
    metric = face_frame.geometry.to_crs(CRS_METRIC)

    rows = []
    for code, name in zip(communities["code"], communities["name"], strict=True):
        idx = np.flatnonzero(face_frame["community"].to_numpy() == code)
        groups = _partition(idx, metric, face_frame["households"].to_numpy())
        polys = [shapely.coverage_union_all(face_frame.geometry.to_numpy()[g]) for g in groups]
        series = gpd.GeoSeries(polys, crs=CRS_OUT)
        codes = number_children(code, series)
        short = name.removesuffix("社区")
        for gcode, poly, group in zip(codes, polys, groups, strict=True):
            seq = int(gcode[-3:])
            rows.append(
                {
                    "code": gcode,
                    "name": f"{short}第{_numeral(seq)}网格",
                    "parent_code": code,
                    "faces": group,
                    "geometry": poly,
                }
            )
    grids = gpd.GeoDataFrame(rows, crs=CRS_OUT).sort_values("code").reset_index(drop=True)
    face_grid = np.empty(len(faces), dtype=object)
    for gcode, group in zip(grids["code"], grids["faces"], strict=True):
        face_grid[group] = gcode
    unit_grid = pd.Series(face_grid[owner], index=buildings.index)
    return grids, unit_grid


def _partition(idx: np.ndarray, metric: gpd.GeoSeries, households: np.ndarray) -> list[list[int]]:
    """Contiguous groups of the faces ``idx`` with ~TARGET_HOUSEHOLDS each.

    Faces without households first join the nearest face with households (graph distance);
    the clusters are split by recursive bisection (best straight sweep over 12 directions,
    each half made contiguous), then single-cluster moves between neighbouring groups run
    while they lower Σ imbalance + CUT_WEIGHT × boundary between groups.
    """
    geoms = metric.to_numpy()
    graph = nx.Graph()
    graph.add_nodes_from(int(i) for i in idx)
    tree = shapely.STRtree(geoms[idx])
    left, right = tree.query(geoms[idx], predicate="intersects")
    for a, b in zip(left, right, strict=True):
        i, j = int(idx[a]), int(idx[b])
        if i < j:
            shared = shapely.intersection(geoms[i].boundary, geoms[j].boundary).length
            if shared > 0.01:
                graph.add_edge(i, j, length=shared)
    if not nx.is_connected(graph):
        raise SystemExit("the blocks of a community are not connected")
    total = float(households[idx].sum())
    k = max(1, round(total / TARGET_HOUSEHOLDS))
    centres = shapely.get_coordinates(shapely.centroid(geoms))

    # every face without households joins the nearest populated face (graph distance), so
    # the partition works on clusters that all carry households; each cluster is connected
    populated = sorted(int(i) for i in idx if households[i] > 0)
    for a, b in graph.edges:
        graph.edges[a, b]["distance"] = math.dist(centres[a], centres[b])
    _, paths = nx.multi_source_dijkstra(graph, populated, weight="distance")
    owner = {f: path[0] for f, path in paths.items()}
    members: dict[int, list[int]] = {}
    for face in sorted(owner):
        members.setdefault(owner[face], []).append(face)
    cgraph = nx.Graph()
    cgraph.add_nodes_from(sorted(members))
    for a, b, data in sorted(graph.edges(data=True)):
        ca, cb = owner[a], owner[b]
        if ca != cb:
            before = cgraph.edges[ca, cb]["length"] if cgraph.has_edge(ca, cb) else 0.0
            cgraph.add_edge(ca, cb, length=before + data["length"])
    load_of = {c: float(households[m].sum()) for c, m in members.items()}
    weights = np.zeros(len(households))
    weights[list(load_of)] = list(load_of.values())
    ccentres = centres.copy()
    for c, m in members.items():
        ccentres[c] = np.average(centres[m], axis=0, weights=households[m] + 1e-9)
    groups = _bisect(sorted(cgraph.nodes), k, cgraph, ccentres, weights)
    region = {f: r for r, group in enumerate(groups) for f in group}
    load = [float(weights[g].sum()) for g in groups]
    graph, households = cgraph, weights

    def imbalance(h: float) -> float:
        low, high = BAND
        return ((h - TARGET_HOUSEHOLDS) / TARGET_HOUSEHOLDS) ** 2 + 10 * (
            max(0.0, low - h) + max(0.0, h - high)
        ) / TARGET_HOUSEHOLDS

    for _ in range(2000):
        best = None
        for f in sorted(region):
            r = region[f]
            touching: dict[int, float] = {}
            for n in graph.neighbors(f):
                touching[region[n]] = touching.get(region[n], 0.0) + graph.edges[f, n]["length"]
            for s in sorted(touching):
                if s == r:
                    continue
                h = households[f]
                gain = (
                    imbalance(load[r])
                    + imbalance(load[s])
                    - imbalance(load[r] - h)
                    - imbalance(load[s] + h)
                )
                gain += CUT_WEIGHT * (touching[s] - touching.get(r, 0.0))
                if gain > 1e-9 and (best is None or gain > best[0]):
                    rest = [m for m, g in region.items() if g == r and m != f]
                    if rest and nx.is_connected(graph.subgraph(rest)):
                        best = (gain, f, s)
        if best is None:
            break
        _, f, s = best
        load[region[f]] -= households[f]
        load[s] += households[f]
        region[f] = s
    groups = [[] for _ in range(k)]
    for f, r in sorted(region.items()):
        groups[r].extend(members[f])
    return [sorted(g) for g in groups]


def _bisect(
    faces: list[int], k: int, graph: nx.Graph, centres: np.ndarray, households: np.ndarray
) -> list[list[int]]:
    """Split ``faces`` into ``k`` contiguous groups by recursive coordinate bisection."""
    if k == 1:
        return [faces]
    k1 = k // 2
    aim = households[faces].sum() * k1 / k
    best = None
    for degrees in range(0, 180, 15):
        u = np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])
        order = sorted(faces, key=lambda f: (float(centres[f] @ u), f))
        prefix = np.cumsum(households[order])
        for cut in range(1, len(order)):
            if abs(prefix[cut - 1] - aim) > TARGET_HOUSEHOLDS:
                continue
            first, second = _contiguous(order[:cut], order[cut:], graph)
            if not first or not second:
                continue
            miss = abs(households[first].sum() - aim)
            other = set(second)
            boundary = sum(
                graph.edges[a, b]["length"] for a in first for b in graph.neighbors(a) if b in other
            )
            score = (miss / TARGET_HOUSEHOLDS + CUT_WEIGHT * boundary, degrees, cut)
            if best is None or score < best[0]:
                best = (score, first, second)
    if best is None:
        raise SystemExit("cannot bisect a community into contiguous halves")
    _, first, second = best
    return _bisect(sorted(first), k1, graph, centres, households) + _bisect(
        sorted(second), k - k1, graph, centres, households
    )


def _contiguous(
    first: list[int], second: list[int], graph: nx.Graph
) -> tuple[list[int], list[int]]:
    """Move stray pieces of either side to the other until both sides are connected."""
    a, b = set(first), set(second)
    for _ in range(20):
        changed = False
        for this, other in ((a, b), (b, a)):
            if not this:
                continue
            parts = sorted(
                nx.connected_components(graph.subgraph(this)), key=lambda c: (-len(c), min(c))
            )
            for stray in parts[1:]:
                this -= stray
                other |= stray
                changed = True
        if not changed:
            break
    return sorted(a), sorted(b)


def _numeral(n: int) -> str:
    """Chinese numeral for 1..99 (一, 十, 十二, 二十一)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return NUMERALS[ones]
    head = "" if tens == 1 else NUMERALS[tens]
    return f"{head}十{NUMERALS[ones] if ones else ''}"


# --------------------------------------------------------------------------- writing


def _write_area(communities: gpd.GeoDataFrame) -> None:
    frame = communities[["code", "name", "geometry"]]
    path = HERE / "area.geojson"
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer="area", COORDINATE_PRECISION=7)


def _write_households(buildings: gpd.GeoDataFrame, estates: gpd.GeoDataFrame) -> None:
    columns = [
        "unit_id",
        "name",
        "kind",
        "building",
        "estate",
        "footprint_m2",
        "floors",
        "floors_from",
        "household_rule",
        "households",
    ]
    frame = gpd.GeoDataFrame(buildings[columns], geometry=buildings.geometry, crs=CRS_OUT)
    frame["geometry"] = [MultiPolygon(shapely.get_parts(g)) for g in frame.geometry]
    est = gpd.GeoDataFrame(
        {"estate_id": estates["osm"], "name": estates["name"], "landuse": estates["landuse"]},
        geometry=[MultiPolygon(shapely.get_parts(g)) for g in estates.geometry],
        crs=CRS_OUT,
    )
    path = HERE / "households.gpkg"
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, layer="buildings", geometry_type="MultiPolygon")
    pyogrio.write_dataframe(est, path, layer="estates", geometry_type="MultiPolygon")


def _write_roads(roads: gpd.GeoDataFrame, area: Polygon) -> None:
    margin = gpd.GeoSeries([area], crs=CRS_OUT).to_crs(CRS_METRIC).buffer(50).to_crs(CRS_OUT)[0]
    rows = []
    for osm, name, highway, geom in zip(
        roads["osm"], roads["name"], roads["highway"], roads.geometry, strict=True
    ):
        clipped = shapely.set_precision(geom.intersection(margin), GRID)
        for part in shapely.get_parts(
            shapely.line_merge(clipped) if not clipped.is_empty else clipped
        ):
            if part.geom_type == "LineString" and part.length > 0:
                rows.append({"road_id": osm, "name": name, "highway": highway, "geometry": part})
    frame = gpd.GeoDataFrame(rows, crs=CRS_OUT)
    path = HERE / "roads.gpkg"
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, layer="roads", geometry_type="LineString")


def _write_plan(
    communities: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    unit_grid: pd.Series,
    buildings: gpd.GeoDataFrame,
) -> None:
    households = buildings.groupby(unit_grid)["households"].sum()
    grid_rows = grids.drop(columns="faces").assign(level=2)
    grid_rows["households"] = grid_rows["code"].map(households).fillna(0).astype(int)
    grid_rows["kind"] = "urban"
    grid_rows["priority"] = [
        "key" if _is_key(buildings[unit_grid == code]) else "normal" for code in grid_rows["code"]
    ]
    top = communities.assign(level=1, parent_code=None, kind="urban", priority="normal")
    top["households"] = [
        int(grid_rows.loc[grid_rows["parent_code"] == c, "households"].sum()) for c in top["code"]
    ]
    table = pd.concat([top, grid_rows], ignore_index=True).sort_values("code", kind="stable")
    table = gpd.GeoDataFrame(table.reset_index(drop=True), geometry="geometry", crs=CRS_OUT)

    units = gpd.GeoDataFrame(
        {
            "unit_id": buildings["unit_id"],
            "name": buildings["name"],
            "kind": "building",
            "households": buildings["households"],
            "grid_code": unit_grid,
            "locked": False,
        },
        geometry=buildings.geometry,
        crs=CRS_OUT,
    ).sort_values("unit_id", key=lambda s: s.map(_osm_sort_key))

    plan = GridPlan(
        name="海淀区示例街道网格划分（示例数据）",
        levels=["社区", "网格"],
        grids=table,
        staff=_staff(table),
        units=units.reset_index(drop=True),
        attribution="© OpenStreetMap contributors (ODbL 1.0)",
    )
    path = HERE / "plan.gpkg"
    path.unlink(missing_ok=True)
    write_plan(plan, path)
    for row in table.itertuples():
        print(f"{row.code:<16}{row.name:<12}{row.households:>6}  {row.priority}")
    level2 = grid_rows["households"]
    print(f"{len(level2)} grids, {level2.sum()} households, {level2.min()}–{level2.max()} per grid")


KEY_AMENITIES = ("hospital", "kindergarten", "police")
KEY_BUILDINGS = ("commercial", "train_station")


def _is_key(inside: pd.DataFrame) -> bool:
    """A grid is 重点 (key) when it holds a hospital, kindergarten, police post, shop building or station."""
    return bool(
        inside["amenity"].isin(KEY_AMENITIES).any() or inside["building"].isin(KEY_BUILDINGS).any()
    )


def _staff(grids: pd.DataFrame) -> pd.DataFrame:
    """Fictitious staff: a head per community; a head, a full-time and maybe a part-time worker per grid."""
    rows = []
    serial = 0

    def person(code: str, role: str) -> None:
        nonlocal serial
        serial += 1
        surname = SURNAMES[(serial * 7) % len(SURNAMES)]
        given = GIVEN[(serial * 11) % len(GIVEN)] + (
            GIVEN[(serial * 5 + 3) % len(GIVEN)] if serial % 3 else ""
        )
        rows.append(
            {
                "grid_code": code,
                "role": role,
                "name": surname + given,
                "phone": f"1380000{serial:04d}",
            }
        )

    for code, level, households, priority in zip(
        grids["code"], grids["level"], grids["households"], grids["priority"], strict=True
    ):
        person(code, "head")
        if level == 2:
            person(code, "full_time")
            if households > 400 or priority == "key":
                person(code, "part_time")
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main(sys.argv)
