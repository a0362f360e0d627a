"""Bad input is refused with a problem+json 4xx that names the field, never a 5xx; and a
use case that fails half-way leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, NoReturn

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medsafe.api.app import create_app
from medsafe.records import patients
from medsafe.records.patients import ContactDetails, NewPatient
from medsafe.security import audit
from medsafe.store.schema import (
    AuditEvent,
    CareRelationship,
    Dispensing,
    Patient,
    PatientContact,
    Stock,
)
from medsafe.supply import dispensing
from medsafe.supply.dispensing import NewDispensing
from tests.support.databases import KINDS
from tests.support.world import World, world_on

TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("bad-input")) as built:
        yield built


def send(world: World, method: str, path: str, role: str = "admin", **kwargs: Any) -> Any:
    path = path.format(**world.ids)
    return world.client.request(method, path, headers={**world.bearer(role),
                                                       **kwargs.pop("headers", {})}, **kwargs)


def assert_problem(reply: Any, status: int, field: str | None = None) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == status
    if field is not None:
        assert field in {e["field"] for e in problem["errors"]}, problem
        assert field in problem["detail"]


def test_invalid_json_is_a_422_problem(world: World) -> None:
    reply = send(world, "POST", "/api/v1/organisations", content=b'{"kind": "clinic",',
                 headers={"Content-Type": "application/json"})
    assert_problem(reply, 422)
    assert "JSON decode error" in reply.json()["detail"]


def test_a_body_that_is_not_utf8_is_a_400_problem(world: World) -> None:
    reply = send(world, "POST", "/api/v1/organisations", content=b"\xff\xfe{",
                 headers={"Content-Type": "application/json"})
    assert reply.status_code in (400, 422)
    assert reply.headers["content-type"] == "application/problem+json"


WRONG_TYPES = [
    ("PUT", "/api/v1/stock/{phil_pharmacy}/{mo_lot}", {"quantity": "many"}, "quantity"),
    ("PUT", "/api/v1/stock/{phil_pharmacy}/{mo_lot}", {"quantity": True}, "quantity"),
    ("PUT", "/api/v1/stock/{phil_pharmacy}/{mo_lot}", {"quantity": 2.5}, "quantity"),
    ("POST", "/api/v1/organisations", {"kind": 5, "name": "X"}, "kind"),
    ("POST", "/api/v1/patients", {"birth_date": 0}, "birth_date"),
    ("POST", "/api/v1/patients", {"birth_date": "20th May 1980"}, "birth_date"),
    ("POST", "/api/v1/patients", {"synthetic": "yes"}, "synthetic"),
    ("POST", "/api/v1/patients", {"contact": "pat@example.org"}, "contact"),
    ("PUT", "/api/v1/patients/{cared}/preferences", {"avoid_side_effects": "drowsiness"},
     "avoid_side_effects"),
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "egfr", "value": "high", "observed_on": "2025-01-01"}, "value"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES)
def test_a_wrong_type_is_a_422_naming_the_field(world: World, method: str, path: str,
                                                 body: dict[str, Any], field: str) -> None:
    assert_problem(send(world, method, path, json=body), 422, field)


UNKNOWN_FIELDS = [
    ("POST", "/api/v1/organisations", {"kind": "clinic", "name": "Y", "colour": "red"},
     "colour"),
    ("POST", "/api/v1/patients", {"sex": "female", "ssn": "123-45-6789"}, "ssn"),
    ("POST", "/api/v1/patients", {"contact": {"email": "a@b.org", "fax": "1"}}, "contact.fax"),
    ("PUT", "/api/v1/patients/{cared}/contacts", {"mail": "pat@example.org"}, "mail"),
    ("POST", "/api/v1/dispensings",
     {"patient": "{cared}", "lot_id": 1, "quantity": 1, "price": 3}, "price"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), UNKNOWN_FIELDS)
def test_an_unknown_field_is_a_422_naming_it(world: World, method: str, path: str,
                                             body: dict[str, Any], field: str) -> None:
    assert_problem(send(world, method, path, json=_fill(body, world.ids)), 422, field)


OUT_OF_RANGE = [
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "egfr", "value": -1, "observed_on": "2025-01-01"}, "value", "physician"),
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "egfr", "value": 400, "observed_on": "2025-01-01"}, "value", "physician"),
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "creatinine", "value": 80, "observed_on": "2025-01-01"}, "value", "physician"),
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "egfr", "value": 60, "observed_on": TOMORROW}, "observed_on", "physician"),
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "child-pugh", "category": "D", "observed_on": "2025-01-01"}, "category",
     "physician"),
    ("POST", "/api/v1/patients/{cared}/observations",
     {"kind": "child-pugh", "observed_on": "2025-01-01"}, "category", "physician"),
    ("POST", "/api/v1/patients", {"birth_date": TOMORROW}, "birth_date", "admin"),
    ("POST", "/api/v1/patients", {"birth_date": "1850-01-01"}, "birth_date", "admin"),
    ("POST", "/api/v1/patients", {"contact": {"email": "not an address"}}, "contact.email",
     "admin"),
    ("PUT", "/api/v1/patients/{cared}/preferences",
     {"avoid_side_effects": [f"effect {i}" for i in range(21)]}, "avoid_side_effects",
     "physician"),
    ("PUT", "/api/v1/patients/{cared}/preferences", {"route": "nasal"}, "route", "physician"),
    ("PUT", "/api/v1/stock/{phil_pharmacy}/{mo_lot}", {"quantity": -1}, "quantity", "admin"),
    ("PUT", "/api/v1/stock/{phil_pharmacy}/{mo_lot}", {"quantity": 10**12}, "quantity",
     "admin"),
    ("POST", "/api/v1/dispensings",
     {"patient": "{cared}", "lot_id": "{mo_lot}", "quantity": 0}, "quantity", "pharmacist"),
    ("POST", "/api/v1/dispensings",
     {"patient": "{cared}", "lot_id": "{mo_lot}", "quantity": 1, "dispensed_on": TOMORROW},
     "dispensed_on", "pharmacist"),
    ("POST", "/api/v1/dispensings",
     {"patient": "{cared}", "lot_id": "{mo_lot}", "product_id": "{acme_product}",
      "quantity": 1}, "lot_id", "pharmacist"),
    ("POST", "/api/v1/dispensings",
     {"patient": "{cared}", "lot_id": 2**40, "quantity": 1}, "lot_id", "pharmacist"),
    ("POST", "/api/v1/products",
     {"code_system": "ndc", "code": "123", "name": "X", "ingredient_id": "baclofen",
      "manufacturer_id": "{mo_pharma}"}, "code", "admin"),
    ("POST", "/api/v1/products",
     {"code_system": "gtin", "code": "4006381333932", "name": "X",
      "ingredient_id": "baclofen", "manufacturer_id": "{mo_pharma}"}, "code", "admin"),
    ("POST", "/api/v1/products",
     {"code_system": "other", "code": "X-1", "name": "X", "ingredient_id": "unobtainium",
      "manufacturer_id": "{mo_pharma}"}, "ingredient_id", "admin"),
    ("POST", "/api/v1/products",
     {"code_system": "other", "code": "X-2", "name": "X", "ingredient_id": "baclofen",
      "manufacturer_id": "{phil_pharmacy}"}, "manufacturer_id", "admin"),
    ("POST", "/api/v1/products/{mo_product}/lots", {"lot_number": "L-OLD", "expiry": "1800-01-01"},
     "expiry", "admin"),
    ("POST", "/api/v1/prescriptions",
     {"patient": "{cared}", "ingredient": "unobtainium", "dose_text": "1 a day"},
     "ingredient", "physician"),
    ("POST", "/api/v1/prescriptions",
     {"patient": "{cared}", "ingredient": "tizanidine", "product_id": "{mo_product}",
      "dose_text": "1 a day"}, "product_id", "physician"),
    ("POST", "/api/v1/patients/{cared}/conditions", {"text": "Spasm\x00tic"}, "text",
     "physician"),
    ("POST", "/api/v1/patients/{cared}/conditions", {"text": " "}, "text", "physician"),
    ("POST", "/api/v1/patients/{cared}/conditions", {"text": "x" * 201}, "text", "physician"),
    ("POST", "/api/v1/patients/{cared}/conditions", {"text": "MS", "code": "G35"}, "code_system",
     "physician"),
    ("POST", "/api/v1/organisations", {"kind": "clinic", "name": "Z", "country": "gb"},
     "country", "admin"),
    ("POST", "/api/v1/users", {"username": "Bad Name", "password": "correct horse battery",
                               "display_name": "X", "role": "physician"}, "username", "admin"),
    ("POST", "/api/v1/users", {"username": "shorty", "password": "short",
                               "display_name": "X", "role": "physician"}, "password", "admin"),
    ("POST", "/api/v1/users", {"username": "pat-2", "password": "correct horse battery",
                               "display_name": "X", "role": "patient"}, "patient", "admin"),
    ("POST", "/api/v1/prescriptions/{cared_rx}/stop", {"reason": ""}, "reason", "physician"),
]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    """Placeholders in bodies: "{mo_lot}" becomes the lot's id (an int stays an int)."""
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body", "field", "role"), OUT_OF_RANGE)
def test_an_out_of_range_value_is_a_422_naming_the_field(
        world: World, method: str, path: str, body: dict[str, Any], field: str,
        role: str) -> None:
    assert_problem(send(world, method, path, role=role, json=_fill(body, world.ids)), 422,
                   field)


PARAMETERS = [
    ("/api/v1/patients?page_size=1000", "page_size"),
    ("/api/v1/patients?page=0", "page"),
    ("/api/v1/products/99999999999999", "product_id"),
    ("/api/v1/products/0", "product_id"),
    ("/api/v1/dispensings?lot_id=-3", "lot_id"),
    ("/api/v1/dispensings?since=yesterday", "since"),
    ("/api/v1/patients?condition=" + "x" * 201, "condition"),
    ("/api/v1/patients?pseudonym=a%00b", "pseudonym"),
    ("/api/v1/patients/not%20a%20pseudonym", "pseudonym"),
    ("/api/v1/patients/{cared}/assessment?as_of=0999-01-01", "as_of"),
    ("/api/v1/dispensings/recipients", "product_code"),
    ("/api/v1/dispensings/recipients?product_code=12345-678-90", "lot_number"),
    ("/api/v1/prescriptions?status=paused", "status"),
    ("/api/v1/organisations?kind=bank", "kind"),
    ("/api/v1/recalls/1/patient-notices?state=sent", "state"),
    ("/api/v1/recall-notices/0/letter", "notice_id"),
]


@pytest.mark.parametrize(("url", "field"), PARAMETERS)
def test_a_bad_parameter_is_a_422_naming_it(world: World, url: str, field: str) -> None:
    assert_problem(send(world, "GET", url), 422, field)


def test_an_oversized_body_is_a_413_problem(world: World) -> None:
    limit = world.container.settings.max_body_bytes
    body = b'{"text": "' + b"x" * (limit + 1) + b'"}'
    reply = send(world, "POST", "/api/v1/patients/{cared}/conditions", role="physician",
                 content=body, headers={"Content-Type": "application/json"})
    assert_problem(reply, 413)


DEEP = b"[" * 5000
GARBAGE = [b"", b"null", b"[]", b'"text"', b"42", b'{"": null}', b'{"a": 1}', DEEP,
           b'{"quantity": 1e999}', b"\x00", b'{"text": "\\ud800"}', b"\xef\xbb\xbf[1]",
           b'{"name": {"name": {"name": {}}}}']


def test_no_garbage_body_makes_any_write_endpoint_fail_with_a_5xx(world: World) -> None:
    app = create_app(world.container)
    # /auth/revoke reads no body: it would revoke the token the other tests use.
    writes = sorted({(method, route.path or "") for route in iter_route_contexts(app.routes)
                     if (route.path or "").startswith("/api/v1")
                     and route.path != "/api/v1/auth/revoke"
                     for method in route.methods or () if method in ("POST", "PUT")})
    # These writes read no body (the action is the whole request): a body sent to them is
    # ignored, so they may answer 2xx, but never 5xx.
    bodiless = {"/api/v1/recalls/{recall_id}/care/proposals", "/api/v1/care/follow-up",
                "/api/v1/my/notices/{notice_id}/acknowledgement"}
    assert len(writes) >= 18
    for method, template in writes:
        path = (template.replace("{pseudonym}", "{cared}").replace("{product_id}", "{mo_product}")
                .replace("{pharmacy_id}", "{phil_pharmacy}").replace("{lot_id}", "{mo_lot}")
                .replace("{prescription_id}", "{cared_rx}").replace("{reference}", "1")
                .replace("{step}", "accept").replace("{pair_id}", "1")
                .replace("{signal_id}", "1").replace("{recall_id}", "1")
                .replace("{investigation_id}", "1").replace("{notice_id}", "1")
                .replace("{task_id}", "1").replace("{review_id}", "1")
                .replace("{plan_id}", "1").replace("{entry_id}", "1")
                .replace("{alert_id}", "1"))
        for role in ("admin", "pharmacist", "physician"):
            for body in GARBAGE:
                if body is DEEP and path == "/api/v1/assessments":
                    continue  # a known failure: see the test below
                reply = send(world, method, path, role=role, content=body,
                             headers={"Content-Type": "application/json"})
                if template in bodiless:
                    assert reply.status_code < 500, (method, path, body, reply.text)
                    continue
                assert 400 <= reply.status_code < 500, (method, path, body, reply.text)
                # An E2B sender gets its refusal as an E2B acknowledgement (AR); roles that
                # may not send E2B get the usual 403 problem.
                expected = ("application/xml" if path.endswith("/cases/e2b")
                            and role == "admin" else "application/problem+json")
                assert reply.headers["content-type"] == expected


def test_a_deeply_nested_bundle_is_refused_not_a_crash(world: World) -> None:
    reply = send(world, "POST", "/api/v1/assessments", content=DEEP,
                 headers={"Content-Type": "application/json"})
    assert 400 <= reply.status_code < 500


def test_an_expired_lot_is_not_dispensed(world: World) -> None:
    lot = send(world, "POST", "/api/v1/products/{mo_product}/lots", role="manufacturer",
               json={"lot_number": "MO-EXPIRED", "expiry": "2020-06-30"})
    assert lot.status_code == 201, lot.text
    lot_id = lot.json()["id"]
    stocked = send(world, "PUT", f"/api/v1/stock/{{phil_pharmacy}}/{lot_id}", role="pharmacist",
                   json={"quantity": 50})
    assert stocked.status_code == 200
    reply = send(world, "POST", "/api/v1/dispensings", role="pharmacist",
                 json={"patient": world.ids["cared"], "lot_id": lot_id, "quantity": 1})
    assert_problem(reply, 422, "lot_id")
    assert "expired on 2020-06-30" in reply.json()["detail"]
    # Dispensed on a day it was still good (a late entry), it is accepted.
    late = send(world, "POST", "/api/v1/dispensings", role="pharmacist",
                json={"patient": world.ids["cared"], "lot_id": lot_id, "quantity": 1,
                      "dispensed_on": "2020-06-01"})
    assert late.status_code == 201, late.text


def test_a_quantity_over_stock_is_a_409_problem(world: World) -> None:
    reply = send(world, "POST", "/api/v1/dispensings", role="pharmacist",
                 json={"patient": world.ids["cared"], "lot_id": world.ids["mo_lot"],
                       "quantity": 100_000})
    assert_problem(reply, 409)
    assert reply.json()["detail"].startswith("quantity: ")


def test_a_nul_character_in_a_login_is_refused_not_a_crash(world: World) -> None:
    reply = TestClient(create_app(world.container), raise_server_exceptions=False).post(
        "/api/v1/auth/token", data={"username": "pat\x00", "password": "whatever it is"})
    assert 400 <= reply.status_code < 500


# -- no partial writes -----------------------------------------------------------------------

def counts(world: World) -> dict[str, Any]:
    with world.container.uow() as uow:
        session = uow.session
        return {
            "dispensings": session.execute(select(func.count()).select_from(Dispensing))
            .scalar_one(),
            "stock": session.execute(select(Stock.quantity).where(
                Stock.pharmacy_id == world.ids["phil_pharmacy"],
                Stock.lot_id == world.ids["mo_lot"])).scalar_one(),
            "audit": session.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
            "patients": session.execute(select(func.count()).select_from(Patient)).scalar_one(),
            "contacts": session.execute(select(func.count()).select_from(PatientContact))
            .scalar_one(),
            "care": session.execute(select(func.count()).select_from(CareRelationship))
            .scalar_one(),
        }


def _audit_store_down(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError("the audit trail cannot be written")


def test_a_dispensing_that_fails_after_taking_stock_leaves_nothing_behind(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = counts(world)
    # The stock decrement and the dispensing row are written (and flushed) before the
    # audit event: failing the audit step fails the use case in the middle.
    monkeypatch.setattr(audit, "record", _audit_store_down)
    with world.container.uow() as uow, pytest.raises(RuntimeError, match="audit trail"):
        dispensing.record_dispensing(uow, world.principals["phil-pharmacist"], NewDispensing(
            patient=world.ids["cared"], lot_id=world.ids["mo_lot"], quantity=5))
    monkeypatch.undo()
    assert counts(world) == before


def test_a_registration_that_fails_after_its_first_writes_leaves_nothing_behind(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = counts(world)
    monkeypatch.setattr(audit, "record", _audit_store_down)
    with world.container.uow() as uow, pytest.raises(RuntimeError, match="audit trail"):
        # Patient row, care relationship and contact details come before the audit event.
        patients.register_patient(uow, world.principals["dora-physician"], NewPatient(
            sex="female", contact=ContactDetails(email="new@example.org")))
    monkeypatch.undo()
    assert counts(world) == before


def test_over_http_a_failed_use_case_is_a_500_problem_and_writes_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = counts(world)
    monkeypatch.setattr(audit, "record", _audit_store_down)
    with TestClient(create_app(world.container), raise_server_exceptions=False) as client:
        reply = client.post("/api/v1/dispensings", headers=world.bearer("pharmacist"), json={
            "patient": world.ids["cared"], "lot_id": world.ids["mo_lot"], "quantity": 5})
    monkeypatch.undo()
    assert_problem(reply, 500)
    assert "failed unexpectedly" in reply.json()["detail"]
    assert counts(world) == before
