"""Schemathesis with every check, on both stores, with an admin key and with none.

Every phase (examples, coverage, fuzzing, stateful) and every check Schemathesis has
(server errors, status codes, content types, headers, response schemas, negative and
positive data, auth, stateful use-after-free …) at 50 examples per operation; a failure
is allowed only where :data:`tests.contract.ACCEPTED` says why (docs/api.md, "Schemathesis").
The full-size run is ``make schemathesis``.
"""

from __future__ import annotations

import pytest

from tests.contract import ACCEPTED, run

NEVER_ACCEPTED = {"not_a_server_error", "ignored_auth", "object_level_authorization"}


def test_accepted_deviations_never_excuse_a_server_error_or_an_auth_check() -> None:
    assert not {check for check, _ in ACCEPTED} & NEVER_ACCEPTED


@pytest.mark.parametrize("key", ["admin", "none"])
@pytest.mark.parametrize("kind", ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_schemathesis_every_check_passes(kind: str, key: str) -> None:
    report = run(kind, key, examples=50)
    assert report.operations >= 30
    assert report.cases >= 50 * report.operations // 2, report.cases
    assert not report.errors, report.errors
    assert not report.unexpected(), "\n".join(f"{k}: {v}" for k, v in report.unexpected().items())
