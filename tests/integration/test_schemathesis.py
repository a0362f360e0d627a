"""Schemathesis against the app's own OpenAPI document, in-process, on SQLite and
PostgreSQL: generated requests, valid and invalid, to every /api/v1 operation as alice-admin
must never meet a server error, and every reply must match what the document promises
(status code, media type, headers, body schema; invalid input must be refused).

A bounded run: a few examples per operation and generation mode, derandomised so CI
sees the same requests every time. `POST /auth/revoke` is left out: it would revoke the
token the run itself uses (its contract is covered in test_api_basics and the matrix).
"""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from medsafe.api.app import create_app
from medsafe.bootstrap import Container
from tests.support.world import build_world

EXAMPLES_PER_OPERATION = 8
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_headers_conformance, response_schema_conformance]


def _exercise(operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode,
              headers: dict[str, str]) -> tuple[int, str | None]:
    """(requests sent, the failure found or None)."""
    checks = [*CONFORMANCE, negative_data_rejection] if mode.is_negative else CONFORMANCE
    sent = 0

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        nonlocal sent
        sent += 1
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks)

    try:
        run()
    except Unsatisfiable:
        # Nothing of this operation can be made invalid (no parameters, no body).
        return sent, None
    except BaseException as failure:  # schemathesis reports a group of failures
        if isinstance(failure, KeyboardInterrupt | SystemExit):
            raise
        return sent, f"{type(failure).__name__}: {failure}"
    return sent, None


def test_generated_requests_meet_no_server_error_and_no_schema_violation(
        container: Container) -> None:
    app = create_app(container)
    with TestClient(app) as client:
        world = build_world(container, client)
    schema: Any = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema = schema.include(path_regex="^/api/v1/").exclude(path="/api/v1/auth/revoke")
    headers = world.bearer("admin")
    failures: dict[str, str] = {}
    operations = requests = 0
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            sent, failure = _exercise(operation, mode, headers)
            requests += sent
            if failure is not None:
                failures[f"{operation.label} ({mode.value})"] = failure
    elapsed = time.perf_counter() - started
    assert operations >= 44
    assert not failures, "\n\n".join(f"== {name}\n{text}" for name, text in failures.items())
    # Bounded: a run that grows past a minute is a run nobody keeps enabled.
    assert elapsed < 90, f"{requests} requests took {elapsed:.0f} s"
