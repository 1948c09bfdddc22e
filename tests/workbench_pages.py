"""Helpers of tests/test_workbench_browser.py: the page's map, table and the API behind it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from shapely.geometry import shape


def api_call(server: Any, key: str, method: str, path: str, body: object = None) -> object:
    """A call the test makes itself (reading what the browser did; the other planner)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def screen_point(
    page: object, lon: float, lat: float, zoom: float | None = None
) -> tuple[float, float]:
    """Page coordinates of a point of the map (centred there first at ``zoom``)."""
    return tuple(
        page.evaluate(  # type: ignore[attr-defined]
            """([lon, lat, zoom]) => {
              const m = workbench.state.map.map;
              if (zoom !== null) m.setView([lat, lon], zoom, {animate: false});
              const p = m.latLngToContainerPoint([lat, lon]);
              const r = m.getContainer().getBoundingClientRect();
              return [r.left + p.x, r.top + p.y];
            }""",
            [lon, lat, zoom],
        )
    )


def click_unit(page: object, unit: dict, shift: bool = False) -> None:
    """Click a unit on the map (shift-click: add it to the selection), zoomed in on it."""
    point = unit["point"]
    x, y = screen_point(page, point.x, point.y, zoom=18)
    if shift:
        page.keyboard.down("Shift")  # type: ignore[attr-defined]
    page.mouse.click(x, y)  # type: ignore[attr-defined]
    if shift:
        page.keyboard.up("Shift")  # type: ignore[attr-defined]


def grid_row(page: object, code: str) -> dict:
    """A grid's row of the grid table as the page shows it."""
    return page.evaluate(  # type: ignore[attr-defined, no-any-return]
        """code => {
          const tr = document.querySelector(`#grid-table tr[data-code="${code}"]`);
          const cells = [...tr.querySelectorAll("td")].map(td => td.textContent);
          return {households: Number(cells[2]), status: tr.className, pieces: cells[5]};
        }""",
        code,
    )


def draft_units(server: Any, draft: str) -> list[dict]:
    """The draft's units with shapely geometry and a point inside each."""
    collection = api_call(server, server.planner, "GET", f"/drafts/{draft}/units")
    units = []
    for feature in collection["features"]:  # type: ignore[index]
        geom = shape(feature["geometry"])
        units.append(feature["properties"] | {"geom": geom, "point": geom.representative_point()})
    return units


def draft_facts(draft: dict) -> list[tuple]:
    return [
        (g["code"], g["households"], g["units"], g["pieces"], g["locked"]) for g in draft["grids"]
    ]


def replay(server: Any, calls: list[tuple[str, str, str | None]]) -> dict:
    """Make the page's draft calls again through the API alone, on a draft of their own."""
    draft, proposal = None, None
    for method, url, body in calls:
        path = url.removeprefix(server.url)
        if path == "/drafts":
            draft = api_call(server, server.planner, method, path, json.loads(body or "{}"))["id"]  # type: ignore[index]
            continue
        tail = path.split("/", 3)[3]  # after /drafts/{id}/
        if tail in ("select",):
            continue  # reads nothing into the draft
        if tail.startswith("proposals/"):
            tail = f"proposals/{proposal}/{tail.rsplit('/', 1)[1]}"
        answer = api_call(
            server, server.planner, method, f"/drafts/{draft}/{tail}", json.loads(body or "{}")
        )
        if tail == "proposals":
            proposal = answer["id"]  # type: ignore[index]
    return api_call(server, server.planner, "GET", f"/drafts/{draft}")  # type: ignore[return-value]


def wait_idle(page: object) -> None:
    page.wait_for_function("!document.body.classList.contains('busy')")  # type: ignore[attr-defined]


def drag(page: object, points: list[tuple[float, float]]) -> None:
    """Press at the first point, move through the others, release at the last."""
    page.mouse.move(*points[0])  # type: ignore[attr-defined]
    page.mouse.down()  # type: ignore[attr-defined]
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=4)  # type: ignore[attr-defined]
    page.mouse.up()  # type: ignore[attr-defined]


def grid_rows(page: object) -> int:
    return int(page.eval_on_selector_all("#grid-table tbody tr", "els => els.length"))  # type: ignore[attr-defined]
