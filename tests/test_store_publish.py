"""Publishing a plan file: saved, approved and activated once, found again by its content."""

from __future__ import annotations

import pytest
from plans import QUADRANTS, community_plan, mbox

from geogrid.errors import InvalidPlanError
from geogrid.plan import plan_digest
from geogrid.store import PlanStore, VersionStatus, publish_if_new


def test_a_new_plan_is_saved_approved_and_activated(store: PlanStore) -> None:
    plan = community_plan()
    info, found = publish_if_new(store, plan, by="geogrid serve", source="plan.gpkg")
    assert not found and (info.version, info.status) == (1, VersionStatus.ACTIVE)
    assert {info.created_by, info.approved_by, info.activated_by} == {"geogrid serve"}
    assert info.note == f"plan.gpkg loaded by geogrid serve; content sha256:{plan_digest(plan)}"


def test_the_same_content_is_found_not_saved_again(store: PlanStore) -> None:
    publish_if_new(store, community_plan(), by="a", source="plan.gpkg")
    info, found = publish_if_new(store, community_plan(), by="b", source="plan.geojson")
    assert found and info.version == 1 and info.activated_by == "a"
    changed = community_plan({QUADRANTS[0]: {"name": "新名字"}})
    info, found = publish_if_new(store, changed, by="b", source="changed.gpkg")
    assert not found and info.version == 2 and info.status is VersionStatus.ACTIVE
    # a plan activated since in another way is not replaced by publishing the first again
    info, found = publish_if_new(store, community_plan(), by="c", source="plan.gpkg")
    assert found and info.version == 1 and info.status is VersionStatus.RETIRED
    assert store.active_info().version == 2


def test_an_interrupted_publication_is_finished(store: PlanStore) -> None:
    plan = community_plan()
    store.save(plan, by="a", note=f"content sha256:{plan_digest(plan)}")  # left a draft
    info, found = publish_if_new(store, plan, by="b", source="plan.gpkg")
    assert found and info.version == 1 and info.status is VersionStatus.ACTIVE


def test_an_invalid_plan_is_not_saved(store: PlanStore) -> None:
    overlap = community_plan({QUADRANTS[0]: {"geometry": mbox(0, 0, 250, 200)}})
    with pytest.raises(InvalidPlanError, match="not saved") as raised:
        publish_if_new(store, overlap, by="a", source="bad.gpkg")
    assert any("overlap" in problem.line() for problem in raised.value.problems)
    assert store.versions() == []
