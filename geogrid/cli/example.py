"""``geogrid example NAME``: a real grid system rebuilt at its published scale."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid.cli._common import out, user_errors

__all__ = ["example_cmd"]


@user_errors
def example_cmd(
    name: Annotated[
        str,
        typer.Argument(help="ruyang, qinghu, zhihe, jinyuan, zhuzhou or wangcheng"),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for the results")
    ] = None,
    scale: Annotated[
        str, typer.Option(help="full: the published scale; small: a part of it")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Seed of the generated data")] = 0,
    maps: Annotated[bool, typer.Option(help="Draw wall maps, signs and cards")] = True,
) -> None:
    """Rebuild a real grid system (needs the extra: pip install "geogrid[examples]").

    Synthetic households and natural villages inside the real county outline, then
    geogrid's own partition, validation, store (one plan per jurisdiction), staff, maps and
    a year of incidents; writes report.md and report.json beside the results.
    """
    from geogrid.examples.run import run_example

    folder = output or Path("out") / "examples" / f"{name}-{scale}"
    report = run_example(name, folder, scale=scale, seed=seed, progress=True, maps=maps)
    for figure in report["figures"]:
        mark = {True: "✓", False: "✗", None: ""}[figure["matches"]]
        published = "—" if figure["published"] is None else f"{figure['published']:,}"
        out.print(f"{figure['what']}: published {published}, rebuilt {figure['rebuilt']:,} {mark}")
    total = sum(s["seconds"] for s in report["stages"])
    out.print(f"valid: {report['valid']}; {total:.0f} s; report in {folder / 'report.md'}")
