"""The HTTP API's contract: health, OpenAPI, problem+json, tokens, body limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medsafe.api.app import create_app
from medsafe.bootstrap import Container
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM
from medsafe.store.migrate import head_revision

PASSWORD = "correct horse battery"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with container.uow() as uow:
        accounts.create_user(uow, SYSTEM, username="alice-admin", password=PASSWORD,
                             role="admin", display_name="Alice (admin)")
        uow.commit()
    with TestClient(create_app(container)) as test_client:
        yield test_client


def token(client: TestClient, username: str = "alice-admin") -> str:
    reply = client.post("/api/v1/auth/token", data={"username": username,
                                                     "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    value: str = reply.json()["access_token"]
    return value


def test_healthz_answers_with_the_schema_revision(client: TestClient) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok"
    assert reply.json()["schema"] == head_revision()


def test_openapi_is_served(client: TestClient) -> None:
    reply = client.get("/openapi.json")
    assert reply.status_code == 200
    assert "/api/v1/auth/token" in reply.json()["paths"]


def test_a_wrong_password_is_a_401_problem(client: TestClient) -> None:
    reply = client.post("/api/v1/auth/token", data={"username": "alice-admin",
                                                     "password": "wrong password"})
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["title"] == "Unauthorized"


def test_a_revoked_token_stops_working(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {token(client)}"}
    assert client.get("/api/v1/auth/me", headers=bearer).json()["username"] == "alice-admin"
    assert client.post("/api/v1/auth/revoke", headers=bearer).status_code == 204
    reply = client.get("/api/v1/auth/me", headers=bearer)
    assert reply.status_code == 401
    assert reply.headers["content-type"] == "application/problem+json"


def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    reply = client.get("/api/v1/nothing-here")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"


def test_an_oversized_body_is_a_413_problem(client: TestClient, container: Container) -> None:
    bearer = {"Authorization": f"Bearer {token(client)}"}
    body = b"{" + b" " * (container.settings.max_body_bytes + 10) + b"}"
    reply = client.post("/api/v1/assessments", content=body,
                        headers={**bearer, "Content-Type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["status"] == 413


def test_a_posted_bundle_is_assessed(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {token(client)}"}
    bundle = (pathlib_root() / "examples" / "ms-spasticity.json").read_bytes()
    reply = client.post("/api/v1/assessments?drug=baclofen", content=bundle,
                        headers={**bearer, "Content-Type": "application/fhir+json"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["options"][0]["drug"] == "baclofen"


def test_an_invalid_bundle_is_a_422_problem_naming_the_field(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {token(client)}"}
    reply = client.post("/api/v1/assessments", content=b'{"resourceType": "Patient"}',
                        headers={**bearer, "Content-Type": "application/json"})
    assert reply.status_code == 422
    assert "expected a FHIR Bundle" in reply.json()["detail"]


def test_drug_pages_need_no_login(client: TestClient) -> None:
    reply = client.get("/api/v1/drugs?q=gablofen")
    assert reply.status_code == 200
    assert [d["id"] for d in reply.json()["items"]] == ["baclofen"]
    assert client.get("/api/v1/drugs/baclofen").json()["name"] == "Baclofen"


def pathlib_root() -> Path:
    return Path(__file__).resolve().parents[2]
