"""Schemathesis: no request the OpenAPI schema allows makes the service answer 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.main import create_app
from tests.service import activate, issue_key, service_settings, street_plan

schemathesis = pytest.importorskip("schemathesis")


def test_no_request_the_schema_allows_gives_a_server_error(tmp_path) -> None:
    with service_settings("gpkg", tmp_path) as values:
        activate(values, street_plan())
        admin = issue_key(values, "admin")  # requests reach the handlers, not just 401
        _fuzz(create_app(values), admin)


def test_a_service_without_store_gives_no_server_error(tmp_path) -> None:
    """Store-backed routes answer 404 (no store) or 401, never 5xx; maps etc. are as above."""
    with service_settings("gpkg", tmp_path) as values:
        app = create_app(values, plan=street_plan())
        _fuzz(app, {"X-API-Key": "ggk_unknown"}, skip=("/locate", "/ogc", "/maps"))


def _fuzz(app, headers: dict[str, str], skip: tuple[str, ...] = ()) -> None:
    with TestClient(app):  # run the lifespan so the plan is loaded
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        operations = [op for op in operations if not op.path.startswith(skip)]
        assert len(operations) >= 7
        seen: set[int] = set()
        for operation in operations:
            # a map is rendered per request (an A0 sheet takes seconds): fewer examples
            examples = 6 if operation.path.startswith("/maps") else 40

            @given(case=operation.as_strategy())
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                response = case.call(headers=headers | dict(case.headers or {}))
                seen.add(response.status_code)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                    f"{response.status_code} {response.text[:300]}"
                )

            check()
        assert {200, 422} <= seen or skip, seen  # the generated requests reached the handlers
