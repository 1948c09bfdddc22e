"""Household registers matched to buildings: ``geogrid addresses match``, ``--households-register``.

``geogrid addresses match`` writes the matched households and the review sheet; the options
:data:`RegisterOpt`, :data:`EstatesOpt` and :data:`OverridesOpt` let ``partition``,
``redraw``, ``report`` and ``cards`` take a register directly, its addresses matched to the
buildings given with ``--households`` (:func:`register_households`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from geogrid import io
from geogrid.cli._common import default_layer, err, layer_spec, out, print_line, user_errors, warn
from geogrid.errors import InvalidInputError

if TYPE_CHECKING:
    import geopandas as gpd

    from geogrid.addresses import RegisterMatch

__all__ = [
    "EstatesOpt",
    "OverridesOpt",
    "RegisterOpt",
    "match_cmd",
    "register_households",
]

RegisterOpt = Annotated[
    str | None,
    typer.Option(
        "--households-register",
        help="A household register (户籍台账, .xlsx/.xls/.csv[:SHEET]) whose addresses are "
        "matched to the buildings of --households; its households replace their counts",
    ),
]
EstatesOpt = Annotated[
    str | None,
    typer.Option(
        "--estates",
        help="Estates (小区) / village groups (村民小组) the addresses name, as named "
        "polygons FILE[:LAYER] (default: an `estates` layer in the buildings' file)",
    ),
]
OverridesOpt = Annotated[
    str | None,
    typer.Option(
        "--overrides",
        help="The review sheet of `geogrid addresses match`, corrected: its building ids win",
    ),
]


def _register(spec: str) -> Any:
    from geogrid.addresses import read_register

    path, sheet = layer_spec(spec)
    return read_register(path, sheet=sheet)


def _buildings(spec: str) -> tuple[gpd.GeoDataFrame, Path]:
    path, layer = layer_spec(spec)
    chosen = default_layer(path, layer, ("buildings", "households"))
    return io.read_layer(path, layer=chosen), path


def _estates(spec: str | None, beside: Path) -> gpd.GeoDataFrame | None:
    if spec is not None:
        path, layer = layer_spec(spec)
        return io.read_layer(path, layer=layer)
    import pyogrio

    try:
        layers = [str(n) for n, _ in pyogrio.list_layers(beside)]
    except Exception:  # not a multi-layer file: no estates beside the buildings
        return None
    return io.read_layer(beside, layer="estates") if "estates" in layers else None


def run_match(
    register: str,
    buildings: str,
    estates: str | None = None,
    overrides: str | None = None,
    **options: Any,
) -> tuple[RegisterMatch, gpd.GeoDataFrame]:
    """Read the inputs of a register match and match it; also returns the buildings read."""
    from geogrid.addresses import match_register, read_review

    table = _register(register)
    layer, path = _buildings(buildings)
    fixes = read_review(Path(overrides)) if overrides else None
    found = match_register(table, layer, _estates(estates, path), overrides=fixes, **options)
    return found, layer


def register_households(
    register: str,
    buildings: str | None,
    estates: str | None = None,
    overrides: str | None = None,
    *,
    per_household: bool = False,
) -> gpd.GeoDataFrame:
    """Households from a register matched to ``buildings``, for the commands that count them.

    The buildings with the register's household counts (``per_household=False``; what
    ``partition``, ``redraw`` and ``report`` count), or one row a matched household with its
    address as ``name`` (for ``cards``). Rows left for review are counted nowhere, and a
    warning says how many.
    """
    from geogrid.addresses import building_households

    if buildings is None:
        raise InvalidInputError(
            "--households-register needs the buildings its addresses name: pass them with "
            "--households BUILDINGS.gpkg"
        )
    found, layer = run_match(register, buildings, estates, overrides)
    if len(found.review):
        warn(
            f"{len(found.review)} of {len(found.table)} register rows match no single "
            "building and are counted nowhere; list them with `geogrid addresses match "
            f"{register} --buildings {buildings} --review review.xlsx` and pass the "
            "corrected sheet with --overrides"
        )
    print_line(f"register: {found.summary()}", err)
    return found.households if per_household else building_households(found, layer)


@user_errors
def match_cmd(
    register: Annotated[
        str, typer.Argument(help="The register (户籍/实有人口台账), .xlsx/.xls/.csv[:SHEET]")
    ],
    buildings: Annotated[str, typer.Option(help="Buildings with names or numbers, FILE[:LAYER]")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Matched households: .gpkg (layers households, buildings)"
        ),
    ],
    review: Annotated[
        Path | None,
        typer.Option(help="Review sheet (.xlsx) of the ambiguous and unmatched rows"),
    ] = None,
    estates: EstatesOpt = None,
    overrides: OverridesOpt = None,
    address_column: Annotated[
        str | None, typer.Option(help="The register's address column (default: 地址, 住址 …)")
    ] = None,
    household_column: Annotated[
        str | None,
        typer.Option(help="Column naming each row's household (default: 户号 when present)"),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Buildings' id column (default: building_id, unit_id, id …)")
    ] = None,
    number_column: Annotated[
        str | None,
        typer.Option(help="Buildings' number column (default: addr:housenumber, number, 楼号 …)"),
    ] = None,
    min_score: Annotated[
        float, typer.Option(help="Lowest fuzzy score (0-100) an estate name is taken at")
    ] = 60.0,
) -> None:
    """Match a household register's addresses to buildings, offline (地址匹配楼栋).

    Each row's address (青禾名都小区3栋2单元501) is cut into estate, building, stairwell and
    door and matched to one building by the buildings' names, number column and estates;
    ambiguous and unmatched rows go to the review sheet, never to a building. Fill in its
    楼栋编号(building_id) column and run again with ``--overrides review.xlsx``.
    """
    from geogrid.addresses import building_households, write_review

    if output.suffix.lower() not in (".gpkg", ".geojson", ".parquet"):
        raise InvalidInputError(f"{output.name}: write the matched households as .gpkg")
    found, layer = run_match(
        register,
        buildings,
        estates,
        overrides,
        address_column=address_column,
        household_column=household_column,
        id_column=id_column,
        number_column=number_column,
        min_score=min_score,
    )
    _write(found.households, output, "households")
    if output.suffix.lower() == ".gpkg":
        _write(building_households(found, layer), output, "buildings")
    print_line(found.summary())
    written = f"wrote {output}: {len(found.households)} households on buildings"
    if review is not None:
        write_review(found, review)
        written += f"; {review}: {len(found.review)} rows to review"
    elif len(found.review):
        warn(f"{len(found.review)} rows match no single building: pass --review review.xlsx")
    out.print(written, soft_wrap=True, highlight=False)


def _write(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    for column in frame.columns:
        if column != frame.geometry.name and frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path)
        return
    driver = "GPKG" if path.suffix.lower() == ".gpkg" else "GeoJSON"
    if layer == "households" and path.exists():
        path.unlink()  # a fresh file: the buildings layer follows
    frame.to_file(path, layer=layer if driver == "GPKG" else None, driver=driver, engine="pyogrio")
