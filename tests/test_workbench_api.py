"""The workbench's drafts over HTTP, on both stores: open, edit, undo, propose, save, conflict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api.main import create_app
from geogrid import samples
from geogrid.access import Caller
from geogrid.io.tables import read_table
from geogrid.store import open_store
from tests.service import activate, issue_key, service_settings

PLAN = "海淀区清华园街道示例"


@pytest.fixture(params=["gpkg", "postgis"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, dict]]:
    with service_settings(request.param, tmp_path) as settings:
        plan = samples.load_sample("haidian")
        activate(settings, plan)
        keys = {
            "planner": issue_key(settings, "planner", name="规划员甲"),
            "other": issue_key(settings, "planner", name="规划员乙"),
            "supervisor": issue_key(settings, "supervisor", name="审核员"),
            "admin": issue_key(settings, "admin", name="管理员"),
            "worker": issue_key(settings, "worker", plan.level(2)["code"].iloc[0], name="网格员"),
        }
        with TestClient(create_app(settings)) as client:
            yield client, keys | {"plan": plan.name, "url": settings.store_url}


def _open(client: TestClient, keys: dict) -> dict:
    answer = client.post(
        "/drafts", json={"plan": keys["plan"], "band": "300-500"}, headers=keys["planner"]
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/drafts/{answer.json()['id']}"
    return answer.json()


def _grid_units(client: TestClient, keys: dict, draft: dict) -> dict[str, list[dict]]:
    units = client.get(f"/drafts/{draft['id']}/units", headers=keys["planner"]).json()
    by_grid: dict[str, list[dict]] = {}
    for feature in units["features"]:
        by_grid.setdefault(feature["properties"]["grid"], []).append(feature["properties"])
    return by_grid


def _facts(draft: dict) -> dict[str, dict]:
    return {g["code"]: g for g in draft["grids"]}


def test_move_changes_both_counts_and_undo_restores(service: tuple[TestClient, dict]) -> None:
    client, keys = service
    draft = _open(client, keys)
    before = _facts(draft)
    assert all(g["status"] == "ok" and g["pieces"] == 1 for g in before.values())
    by_grid = _grid_units(client, keys, draft)
    source, target = sorted(by_grid)[:2]
    unit = max(by_grid[source], key=lambda u: u["households"])
    answer = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": [unit["unit_id"]], "to": target},
        headers=keys["planner"] | {"If-Match": f'"{draft["etag"]}"'},
    )
    assert answer.status_code == 200, answer.text
    after = _facts(answer.json())
    moved = unit["households"]
    assert after[source]["households"] == before[source]["households"] - moved
    assert after[target]["households"] == before[target]["households"] + moved
    assert set(answer.json()["changed"]) == {source, target}
    assert answer.json()["can_undo"] and not answer.json()["can_redo"]
    stale = client.post(
        f"/drafts/{draft['id']}/undo", headers=keys["planner"] | {"If-Match": f'"{draft["etag"]}"'}
    )
    assert stale.status_code == 412
    undone = client.post(f"/drafts/{draft['id']}/undo", headers=keys["planner"]).json()
    assert _facts(undone)[source]["households"] == before[source]["households"]
    assert undone["can_redo"]
    redone = client.post(f"/drafts/{draft['id']}/redo", headers=keys["planner"]).json()
    assert _facts(redone)[target]["households"] == after[target]["households"]
    nothing = client.post(f"/drafts/{draft['id']}/redo", headers=keys["planner"])
    assert nothing.status_code == 409 and "没有可重做" in nothing.json()["detail"]


def test_broken_grid_is_flagged_where_it_breaks(service: tuple[TestClient, dict]) -> None:
    client, keys = service
    draft = _open(client, keys)
    by_grid = _grid_units(client, keys, draft)
    far = _far_pair(client, keys, draft, by_grid)
    if far is None:
        pytest.skip("no grid pair far enough apart in the sample")
    unit, target = far
    answer = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": [unit], "to": target},
        headers=keys["planner"],
    ).json()
    assert _facts(answer)[target]["pieces"] >= 2
    broken = [p for p in answer["problems"] if p["kind"] == "broken" and p["grid"] == target]
    assert broken and unit in broken[0]["units"] and len(broken[0]["where"]) == 2


def _far_pair(
    client: TestClient, keys: dict, draft: dict, by_grid: dict[str, list[dict]]
) -> tuple[str, str] | None:
    """A unit and a grid of the same community that it does not touch."""
    grids = client.get(f"/drafts/{draft['id']}/grids", headers=keys["planner"]).json()
    import shapely.geometry as sg

    shapes = {f["properties"]["code"]: sg.shape(f["geometry"]) for f in grids["features"]}
    parent = {g["code"]: g["parent_code"] for g in draft["grids"]}
    for a, geom_a in shapes.items():
        for b, geom_b in shapes.items():
            if a != b and parent[a] == parent[b] and geom_a.distance(geom_b) > 0.002:
                units = [u for u in by_grid[a] if not u["locked"] and u["households"] > 0]
                if units:
                    return units[0]["unit_id"], b
    return None


def test_refusals_and_errors_are_explained(service: tuple[TestClient, dict]) -> None:
    client, keys = service
    draft = _open(client, keys)
    by_grid = _grid_units(client, keys, draft)
    codes = sorted(by_grid)
    parent = {g["code"]: g["parent_code"] for g in draft["grids"]}
    other = next(c for c in codes if parent[c] != parent[codes[0]])
    across = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": [by_grid[codes[0]][0]["unit_id"]], "to": other},
        headers=keys["planner"],
    )
    assert across.status_code == 422 and "不能跨越上级网格" in across.json()["detail"]
    client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "lock", "grid": codes[1], "locked": True},
        headers=keys["planner"],
    )
    locked = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": [by_grid[codes[0]][0]["unit_id"]], "to": codes[1]},
        headers=keys["planner"],
    )
    assert locked.status_code == 422 and "已锁定" in locked.json()["detail"]
    unknown = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": ["no-such-unit"], "to": codes[0]},
        headers=keys["planner"],
    )
    assert unknown.status_code == 422 and "no-such-unit" in unknown.json()["detail"]


def test_balance_proposal_accepted_brings_grid_back(service: tuple[TestClient, dict]) -> None:
    client, keys = service
    draft = _open(client, keys)
    by_grid = _grid_units(client, keys, draft)
    source, target = sorted(by_grid)[:2]
    heavy = sorted(by_grid[source], key=lambda u: -u["households"])[:3]
    edited = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": [u["unit_id"] for u in heavy], "to": target},
        headers=keys["planner"],
    ).json()
    out = [g["code"] for g in edited["grids"] if g["status"] != "ok"]
    assert out, "the move should push a grid out of the band"
    proposal = client.post(
        f"/drafts/{draft['id']}/proposals",
        json={"kind": "balance", "grids": out},
        headers=keys["planner"],
    )
    assert proposal.status_code == 201, proposal.text
    body = proposal.json()
    assert body["moves"] and body["moved_households"] > 0
    accepted = client.post(
        f"/drafts/{draft['id']}/proposals/{body['id']}/accept", headers=keys["planner"]
    ).json()
    assert all(g["status"] == "ok" for g in accepted["grids"])
    assert accepted["proposal"] is None and accepted["can_undo"]
    again = client.post(
        f"/drafts/{draft['id']}/proposals/{body['id']}/accept", headers=keys["planner"]
    )
    assert again.status_code == 404


def test_save_conflict_keeps_both_and_supervisor_approves(
    service: tuple[TestClient, dict],
) -> None:
    client, keys = service
    mine, theirs = _open(client, keys), _open(client, keys | {"planner": keys["other"]})
    for draft, who in ((mine, keys["planner"]), (theirs, keys["other"])):
        by_grid = _grid_units(client, keys | {"planner": who}, draft)
        source, target = sorted(by_grid)[:2]
        client.post(
            f"/drafts/{draft['id']}/edits",
            json={"op": "move", "units": [by_grid[source][0]["unit_id"]], "to": target},
            headers=who,
        )
    first = client.post(f"/drafts/{theirs['id']}/save", json={"note": "乙"}, headers=keys["other"])
    assert first.status_code == 201, first.text
    lost = client.post(f"/drafts/{mine['id']}/save", json={"note": "甲"}, headers=keys["planner"])
    assert lost.status_code == 412
    body = lost.json()
    assert body["theirs"]["version"] == first.json()["version"]
    assert body["theirs"]["created_by"] == "规划员乙"
    assert body["yours"]["draft"] == mine["id"] and "草稿已保留" in body["detail"]
    kept = client.get(f"/drafts/{mine['id']}", headers=keys["planner"])
    assert kept.status_code == 200 and kept.json()["can_undo"]
    forced = client.post(
        f"/drafts/{mine['id']}/save", json={"overwrite": True}, headers=keys["planner"]
    )
    assert forced.status_code == 201 and forced.json()["status"] == "draft"
    version = forced.json()["version"]
    refused = client.post(
        f"/plans/{keys['plan']}/versions/{version}/approve", headers=keys["planner"]
    )
    assert refused.status_code == 403
    approved = client.post(
        f"/plans/{keys['plan']}/versions/{version}/approve", headers=keys["supervisor"]
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    with open_store(keys["url"]) as store:  # every save and the approval, by whom
        rows = store.access().list_audit(caller=Caller.local("admin"))
    done = [(r.action, r.actor) for r in reversed(rows) if r.action.startswith("plan.")]
    assert done[-3:] == [
        ("plan.save", "规划员乙"),
        ("plan.save", "规划员甲"),
        ("plan.approve", "审核员"),
    ]


def test_change_list_exports(service: tuple[TestClient, dict], tmp_path: Path) -> None:
    client, keys = service
    draft = _open(client, keys)
    by_grid = _grid_units(client, keys, draft)
    source, target = sorted(by_grid)[:2]
    unit = max(by_grid[source], key=lambda u: u["households"])
    client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "move", "units": [unit["unit_id"]], "to": target},
        headers=keys["planner"],
    )
    rows = client.get(f"/drafts/{draft['id']}/changes", headers=keys["planner"]).json()
    assert [(r["id"], r["from_code"], r["to_code"]) for r in rows] == [
        (unit["unit_id"], source, target)
    ]
    assert rows[0]["households"] == unit["households"]
    xlsx = client.get(f"/drafts/{draft['id']}/changes?format=xlsx", headers=keys["planner"])
    path = tmp_path / "changes.xlsx"
    path.write_bytes(xlsx.content)
    table = read_table(path).frame
    assert table.iloc[0]["新网格编码 new grid code"] == target
    pdf = client.get(f"/drafts/{draft['id']}/changes?format=pdf", headers=keys["planner"])
    (tmp_path / "changes.pdf").write_bytes(pdf.content)
    text = PdfReader(tmp_path / "changes.pdf").pages[0].extract_text()
    assert "调整公示" in text and target in text


def test_draft_prints(service: tuple[TestClient, dict], tmp_path: Path) -> None:
    client, keys = service
    draft = _open(client, keys)
    for kind, words in (("wall", "网格示意图"), ("signs", "网格长"), ("cards", "网格")):
        answer = client.get(f"/drafts/{draft['id']}/maps/{kind}.pdf", headers=keys["planner"])
        assert answer.status_code == 200, (kind, answer.text[:300])
        path = tmp_path / f"{kind}.pdf"
        path.write_bytes(answer.content)
        assert words in PdfReader(path).pages[0].extract_text(), kind


def test_staff_of_a_new_grid_keep_their_history(service: tuple[TestClient, dict]) -> None:
    client, keys = service
    draft = _open(client, keys)
    plan = samples.load_sample("haidian")
    head = plan.staff[plan.staff["role"] == "head"].iloc[0]
    by_grid = _grid_units(client, keys, draft)
    source = sorted(by_grid)[0]
    made = client.post(
        f"/drafts/{draft['id']}/edits",
        json={"op": "new_grid", "units": [by_grid[source][0]["unit_id"]], "name": "新建网格"},
        headers=keys["planner"],
    ).json()
    new = next(g["code"] for g in made["grids"] if g["name"] == "新建网格")
    bad = client.put(
        f"/drafts/{draft['id']}/staff/{new}",
        json=[{"role": "head", "name": head["name"], "phone": "1380000"}],
        headers=keys["planner"],
    )
    assert bad.status_code == 422 and "not a phone number" in bad.json()["detail"]
    staffed = client.put(
        f"/drafts/{draft['id']}/staff/{new}",
        json=[{"role": "head", "name": head["name"], "phone": head["phone"]}],
        headers=keys["planner"],
    )
    assert staffed.status_code == 200, staffed.text
    saved = client.post(f"/drafts/{draft['id']}/save", json={}, headers=keys["planner"]).json()
    version = f"/plans/{keys['plan']}/versions/{saved['version']}"
    for step in ("approve", "activate"):
        done = client.post(f"{version}/{step}", headers=keys["supervisor"])
        assert done.status_code == 200, done.text
    people = client.get("/people", params={"q": head["name"]}, headers=keys["admin"]).json()
    (person,) = [p for p in people if p["phone"] == head["phone"]]
    grids = {(a["grid_code"], tuple(a["versions"])) for a in person["assignments"]}
    assert (head["grid_code"], (1, 2)) in grids  # the old assignment, kept through the redraw
    assert any(c == new and saved["version"] in v for c, v in grids), grids


def test_drafts_are_private_and_need_a_planner(service: tuple[TestClient, dict]) -> None:
    client, keys = service
    draft = _open(client, keys)
    assert client.get(f"/drafts/{draft['id']}", headers=keys["other"]).status_code == 404
    assert client.get(f"/drafts/{draft['id']}", headers=keys["worker"]).status_code == 403
    assert client.get(f"/drafts/{draft['id']}").status_code == 401
    assert [d["id"] for d in client.get("/drafts", headers=keys["other"]).json()] == []


def test_reads_and_edits_at_once_never_fail(service: tuple[TestClient, dict]) -> None:
    """Readers and an editor on one draft from several threads: every answer is whole."""
    import concurrent.futures

    client, keys = service
    draft = _open(client, keys)
    by_grid = _grid_units(client, keys, draft)
    source = sorted(by_grid)[0]
    unit = by_grid[source][0]["unit_id"]
    url = f"/drafts/{draft['id']}"

    def edit(n: int) -> int:
        if n % 3 == 0:
            body = {"op": "new_grid", "units": [unit]}
            return client.post(f"{url}/edits", json=body, headers=keys["planner"]).status_code
        return client.post(f"{url}/undo", headers=keys["planner"]).status_code

    def read(n: int) -> int:
        path = ("/grids", "/units", "")[n % 3]
        return client.get(f"{url}{path}", headers=keys["planner"]).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:  # edits and reads interleaved
        edit_jobs = [pool.submit(edit, n) for n in range(12)]
        read_jobs = [pool.submit(read, n) for n in range(30)]
        edits = [job.result() for job in edit_jobs]
        reads = [job.result() for job in read_jobs]
    assert set(reads) == {200}
    assert set(edits) <= {200, 409}  # 409: nothing left to undo
