"""Schemathesis: no request the OpenAPI schema allows makes the service answer 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.main import create_app
from api.settings import ApiSettings
from tests.service import street_plan

schemathesis = pytest.importorskip("schemathesis")


def test_no_request_the_schema_allows_gives_a_server_error(tmp_path) -> None:
    app = create_app(ApiSettings(data_dir=tmp_path, max_batch_points=50), plan=street_plan())
    with TestClient(app):  # run the lifespan so the plan is loaded
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 7
        seen: set[int] = set()
        for operation in operations:
            # a map is rendered per request (an A0 sheet takes seconds): fewer examples
            examples = 6 if operation.path.startswith("/maps") else 40

            @given(case=operation.as_strategy())
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                response = case.call()
                seen.add(response.status_code)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                    f"{response.status_code} {response.text[:300]}"
                )

            check()
        assert {200, 422} <= seen, seen  # the generated requests did reach the handlers
