"""CDS Hooks over HTTP through the application, on SQLite and PostgreSQL: the EHR's
RS384-signed JWT (keys served by a real JWK Set server on 127.0.0.1) on discovery, service
calls and feedback; 401 for a missing, replayed or mis-addressed token; 412 as an
OperationOutcome; the override report for medsafe's users; unsigned calls only with the
development setting."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import func, select

from medsafe.api.app import create_app
from medsafe.bootstrap import Container, bootstrap
from medsafe.config import Settings
from medsafe.records import patients
from medsafe.records.patients import NewPatient
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import CdsCard, Patient
from tests.support import cds_cards
from tests.support.databases import KINDS, fresh_database
from tests.support.fhir_stub import (
    BACLOFEN,
    OXYCODONE,
    draft_order,
    fhir_stub,
    hook_request,
    patient_resources,
    prefetch_of,
)

BASE = "http://127.0.0.1:8000"
EHR = "https://ehr.example.org"
SIGN = "/cds-services/medsafe-order-sign"


class KeySetServer:
    """One JWK Set on 127.0.0.1."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@dataclass
class Ehr:
    signed: TestClient  # the app trusting the EHR's key
    unsigned: TestClient  # the app with MEDSAFE_CDS_ALLOW_UNSIGNED on 127.0.0.1
    key: rsa.RSAPrivateKey
    user_tokens: dict[str, str]
    container: Container  # the signed app's
    other_worker: TestClient  # a second app on the same database, as another process

    def token(self, path: str, *, jti: str | None = None, aud: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": EHR, "aud": aud or BASE + path, "iat": now, "exp": now + 300,
                  "jti": jti or str(uuid.uuid4())}
        return jwt.encode(claims, self.key, algorithm="RS384",
                          headers={"kid": "ehr-1", "typ": "JWT"})

    def headers(self, path: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(path, **claims)}"}


@pytest.fixture(scope="module", params=KINDS)
def ehr(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Ehr]:
    tmp: Path = tmp_path_factory.mktemp(request.param)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ehr-1",
           "use": "sig", "alg": "RS384"}
    keys = KeySetServer({"keys": [jwk]})
    with fresh_database(request.param, tmp) as url:
        common: dict[str, Any] = {"environment": "test", "data_dir": tmp,
                                  "database_url": url, "cookie_secure": False,
                                  "public_base_url": BASE}
        signed = bootstrap(Settings(**common, cds_trusted_issuers=[
            {"iss": EHR, "jwks_url": keys.url}]), migrate=True)
        unsigned = bootstrap(Settings(**common, cds_allow_unsigned=True))
        worker = bootstrap(Settings(**common, cds_trusted_issuers=[
            {"iss": EHR, "jwks_url": keys.url}]))
        with signed.uow() as uow:
            pseudonym = patients.register_patient(uow, SYSTEM, NewPatient(
                birth_date=date(1974, 2, 20), sex="female", synthetic=True)).pseudonym
        with signed.uow() as uow:
            patient_id = uow.session.execute(
                select(Patient.id).where(Patient.pseudonym == pseudonym)).scalar_one()
        tokens = {}
        for role in ("physician", "patient"):
            with signed.uow() as uow:
                user = accounts.create_user(
                    uow, SYSTEM, username=f"cds-{role}", password="correct horse battery",
                    role=role, display_name=role,
                    patient_id=patient_id if role == "patient" else None)
                uow.commit()
            with signed.uow() as uow:
                tokens[role] = accounts.issue_token(uow, user, 60).token
                uow.commit()
        try:
            with TestClient(create_app(signed)) as one, \
                    TestClient(create_app(unsigned)) as two, \
                    TestClient(create_app(worker)) as three:
                yield Ehr(one, two, key, tokens, signed, three)
        finally:
            for built in (signed, unsigned, worker):
                built.engine.dispose()
            keys.close()


def order_sign(medicines: tuple[dict[str, Any], ...] = (OXYCODONE,)) -> dict[str, Any]:
    return hook_request("order-sign", [draft_order(BACLOFEN)],
                        prefetch=prefetch_of(patient_resources(medicines=medicines)))


def test_discovery_lists_both_services_with_their_prefetch(ehr: Ehr) -> None:
    reply = ehr.signed.get("/cds-services", headers=ehr.headers("/cds-services"))
    assert reply.status_code == 200
    services = {s["id"]: s for s in reply.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"order-select", "order-sign"}
    assert set(services["medsafe-order-sign"]["prefetch"]) == {
        "patient", "conditions", "medications", "kidney", "allergies"}


def test_a_signed_order_sign_call_gets_a_valid_critical_card(ehr: Ehr) -> None:
    reply = ehr.signed.post(SIGN, json=order_sign(), headers=ehr.headers(SIGN))
    assert reply.status_code == 200
    cds_cards.assert_valid(reply.json())
    assert [c["indicator"] for c in reply.json()["cards"]] == ["critical"]


def test_calls_without_a_token_with_a_replayed_one_or_for_another_endpoint_are_401(
        ehr: Ehr) -> None:
    assert ehr.signed.post(SIGN, json=order_sign()).status_code == 401
    headers = ehr.headers(SIGN, jti="used-once")
    assert ehr.signed.post(SIGN, json=order_sign(), headers=headers).status_code == 200
    replayed = ehr.signed.post(SIGN, json=order_sign(), headers=headers)
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["detail"]
    elsewhere = ehr.headers(SIGN, aud=BASE + "/cds-services")
    assert ehr.signed.post(SIGN, json=order_sign(), headers=elsewhere).status_code == 401


def test_missing_data_is_a_412_operation_outcome(ehr: Ehr) -> None:
    request = hook_request("order-sign", [draft_order(BACLOFEN)])
    reply = ehr.signed.post(SIGN, json=request, headers=ehr.headers(SIGN))
    assert reply.status_code == 412
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert "fhirServer" in reply.json()["issue"][0]["diagnostics"]


def test_a_bad_request_is_a_problem_naming_the_field(ehr: Ehr) -> None:
    request = order_sign()
    request["hook"] = "patient-view"
    reply = ehr.signed.post(SIGN, json=request, headers=ehr.headers(SIGN))
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "hook"
    unknown = "/cds-services/no-such-service"
    assert ehr.signed.post(unknown, json=order_sign(),
                           headers=ehr.headers(unknown)).status_code == 404


def test_feedback_is_stored_and_shows_in_the_override_report(ehr: Ehr) -> None:
    card = ehr.signed.post(SIGN, json=order_sign(), headers=ehr.headers(SIGN)).json()["cards"][0]
    path = SIGN + "/feedback"
    sent = ehr.signed.post(path, headers=ehr.headers(path), json={"feedback": [
        {"card": card["uuid"], "outcome": "overridden",
         "overrideReason": {"reason": card["overrideReasons"][0]},
         "outcomeTimestamp": "2026-11-26T09:31:00Z"}]})
    assert sent.status_code == 200
    assert sent.json() == {"stored": 1}
    report = ehr.signed.get("/api/v1/cds/overrides",
                            headers={"Authorization": f"Bearer {ehr.user_tokens['physician']}"})
    assert report.status_code == 200
    rule = next(r for r in report.json()["rules"]
                if r["rule"] == "interaction/baclofen/opioids")
    assert rule["overridden"] >= 1
    assert rule["reasons"][0]["code"] == "benefit-outweighs-risk"
    patient = ehr.signed.get("/api/v1/cds/overrides",
                             headers={"Authorization": f"Bearer {ehr.user_tokens['patient']}"})
    assert patient.status_code == 403


def test_unsigned_calls_pass_only_with_the_development_setting(ehr: Ehr) -> None:
    assert ehr.unsigned.post(SIGN, json=order_sign()).status_code == 200
    assert ehr.unsigned.get("/cds-services").status_code == 200
    assert ehr.signed.get("/cds-services").status_code == 401


def cards_stored(ehr: Ehr) -> int:
    with ehr.container.uow() as uow:
        return int(uow.session.execute(select(func.count(CdsCard.id))).scalar_one())


def test_a_token_used_on_one_worker_process_is_refused_on_another(ehr: Ehr) -> None:
    headers = ehr.headers(SIGN)
    assert ehr.signed.post(SIGN, json=order_sign(), headers=headers).status_code == 200
    stored = cards_stored(ehr)
    replayed = ehr.other_worker.post(SIGN, json=order_sign(), headers=headers)
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["detail"]
    assert cards_stored(ehr) == stored  # the replay's cards were rolled back with it


def test_a_token_whose_request_was_refused_cannot_be_tried_again(ehr: Ehr) -> None:
    headers = ehr.headers(SIGN)
    broken = order_sign()
    broken["hookInstance"] = ""
    assert ehr.signed.post(SIGN, json=broken, headers=headers).status_code == 422
    again = ehr.signed.post(SIGN, json=order_sign(), headers=headers)
    assert again.status_code == 401
    missing = ehr.headers(SIGN)
    no_data = hook_request("order-sign", [draft_order(BACLOFEN)])
    assert ehr.signed.post(SIGN, json=no_data, headers=missing).status_code == 412
    assert ehr.other_worker.post(SIGN, json=order_sign(), headers=missing).status_code == 401


def test_cds_replies_carry_the_security_headers(ehr: Ehr) -> None:
    reply = ehr.signed.post(SIGN, json=order_sign(), headers=ehr.headers(SIGN))
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "same-origin"
    refused = ehr.signed.post(SIGN, json=order_sign())
    assert refused.status_code == 401
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_a_call_reading_the_fhir_server_gets_its_card_and_a_replay_never_reaches_the_ehr(
        ehr: Ehr) -> None:
    with fhir_stub(patient_resources(medicines=(OXYCODONE,)), token="ehr-token") as stub:
        request = hook_request("order-sign", [draft_order(BACLOFEN)],
                               fhir_server=stub.base_url, token="ehr-token")
        headers = ehr.headers(SIGN)
        reply = ehr.signed.post(SIGN, json=request, headers=headers)
        asked = len(stub.requests)
        replayed = ehr.other_worker.post(SIGN, json=request, headers=headers)
        assert len(stub.requests) == asked
    assert reply.status_code == 200
    assert [c["indicator"] for c in reply.json()["cards"]] == ["critical"]
    assert asked == 5  # the five prefetch queries
    assert replayed.status_code == 401
