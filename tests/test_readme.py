"""Every command of the README's "Using it" block runs as written, on the shipped sample.

The files the commands name (``my_grids.shp`` with an office's own column names, ``area.geojson``,
``buildings.gpkg``, ``roads.gpkg``, ``new.gpkg``, ``reports.csv``) are made from the Haidian
sample in a scratch folder; the commands run in order, in-process, each must exit 0. Two lines
cannot run as written: ``geogrid serve`` runs until stopped (``tests/test_cli_serve.py`` runs it
in a real process) and the PostGIS line names a database ``geogrid`` — it runs against a
scratch PostGIS database instead.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from geogrid import samples
from geogrid.cli import app
from geogrid.crs import wgs84_to_gcj02
from geogrid.io import read_plan
from tests._pg import scratch_database, url_of

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    using = text[text.index("## Using it") : text.index("## Layout")]
    return re.findall(rf"```{language}\n(.*?)```", using, flags=re.S)


def readme_commands() -> list[str]:
    """The ``geogrid`` command lines of the first bash block, continuations joined."""
    joined = _blocks("bash")[0].replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def _my_grids(folder: Path) -> None:
    """The sample's grids as an office keeps them: its own column names, a Shapefile."""
    plan = read_plan(samples.sample_path("haidian"))
    grids = plan.grids[["code", "name", "parent_code", "geometry"]]
    grids = grids.rename(columns={"code": "WGBM", "name": "WGMC", "parent_code": "SQBM"})
    grids.to_file(folder / "my_grids.shp", encoding="utf-8")


def _reports(folder: Path) -> None:
    plan = read_plan(samples.sample_path("haidian"))
    points = plan.grids.geometry.representative_point()
    lon, lat = wgs84_to_gcj02(points.x.to_numpy(), points.y.to_numpy())
    pd.DataFrame({"id": range(len(points)), "lon": lon, "lat": lat}).to_csv(
        folder / "reports.csv", index=False
    )


def _register(folder: Path) -> None:
    """A household register (户籍台账) of the sample: a row a household of its numbered buildings."""
    buildings = gpd.read_file(samples.sample_path("haidian", "households.gpkg"), layer="buildings")
    named = buildings[
        buildings["name"].fillna("").str.contains(r"\d") & (buildings["households"] > 0)
    ]
    rows = [
        f"{name}{'楼' if name[-1].isdigit() else ''}{n % 4 + 1}单元{n % 6 + 1}0{n % 4 + 1}"
        for name, count in zip(named["name"], named["households"], strict=True)
        for n in range(int(count))
    ]
    pd.DataFrame({"户号": [f"{i:06d}" for i in range(len(rows))], "住址": rows}).to_excel(
        folder / "台账.xlsx", index=False
    )


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sample = samples.sample_path("haidian")
    shutil.copy(sample, tmp_path / "plan.gpkg")
    shutil.copy(samples.sample_path("haidian", "area.geojson"), tmp_path / "area.geojson")
    shutil.copy(samples.sample_path("haidian", "households.gpkg"), tmp_path / "buildings.gpkg")
    shutil.copy(samples.sample_path("haidian", "households.gpkg"), tmp_path / "new.gpkg")
    shutil.copy(samples.sample_path("haidian", "roads.gpkg"), tmp_path / "roads.gpkg")
    _my_grids(tmp_path)
    _reports(tmp_path)
    _register(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEOGRID_DATABASE_URL", raising=False)
    monkeypatch.setenv("GEOGRID_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_the_readme_lists_the_commands_this_test_runs() -> None:
    commands = readme_commands()
    assert len(commands) >= 15
    assert all(re.match(r"^(GEOGRID_\w+=\S+ )?\.venv/bin/geogrid ", c) for c in commands)


@pytest.mark.postgis
def test_every_readme_command_runs_as_written(folder: Path) -> None:
    runner = CliRunner()
    ran = []
    for command in readme_commands():
        words = shlex.split(command)
        env = {}
        while "=" in words[0]:
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        args = words[1:]  # drop .venv/bin/geogrid
        if args[0] == "serve":
            continue  # runs until stopped: tests/test_cli_serve.py
        if "GEOGRID_DATABASE_URL" in env:
            with scratch_database() as dsn:
                env["GEOGRID_DATABASE_URL"] = url_of(dsn)
                result = runner.invoke(app, args, env=env)
        else:
            result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, f"{command}\n{result.output}"
        ran.append(args[0])
    assert {"validate", "import", "partition", "redraw", "map", "locate", "keys"} <= set(ran)
    assert (folder / "plan2.gpkg").exists() and (folder / "located.csv").exists()
    assert (folder / "wall.pdf").read_bytes().startswith(b"%PDF")


def test_the_readme_python_example_runs(folder: Path) -> None:
    exec(compile(_blocks("python")[0], "README.md", "exec"), {})
    assert (folder / "plan.parquet").exists()
