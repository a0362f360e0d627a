"""FHIR R4 AdverseEvent over HTTP: create and read, mapped to the case model, with
errors as OperationOutcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.operationoutcome import OperationOutcome

from medsafe.interop.fhir.adverse_event import case_to_fhir
from tests.support.case_builder import case_report
from tests.support.databases import KINDS
from tests.support.world import World, world_on

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("fhir")) as built:
        yield built


def test_adverse_event_created_over_fhir_becomes_a_case_and_reads_back(world: World) -> None:
    sent = case_to_fhir(case_report("US-FHIR-0001"), case_id="draft")
    reply = world.client.post("/fhir/AdverseEvent", json=sent,
                              headers={**FHIR, **world.bearer("physician")})
    assert reply.status_code == 201, reply.text
    assert reply.headers["content-type"] == "application/fhir+json"
    case_id = reply.headers["Location"].rsplit("/", 1)[1]
    read = world.client.get(f"/fhir/AdverseEvent/{case_id}", headers=world.bearer("admin"))
    assert read.status_code == 200
    AdverseEvent.model_validate(read.json())  # a valid R4 resource
    event = read.json()
    assert event["identifier"]["value"] == "US-FHIR-0001"
    assert event["event"]["coding"][0]["display"] == "Seizure"
    case = world.client.get(f"/api/v1/cases/{case_id}", headers=world.bearer("admin")).json()
    assert case["case"]["source"] == "fhir"
    assert case["report"]["drugs"][0]["lot_numbers"] == ["LOT-1"]


def test_invalid_adverse_event_is_refused_with_an_operation_outcome_naming_the_path(
        world: World) -> None:
    sent = case_to_fhir(case_report("US-FHIR-0002"), case_id="draft")
    del sent["event"]
    reply = world.client.post("/fhir/AdverseEvent", json=sent,
                              headers={**FHIR, **world.bearer("physician")})
    assert reply.status_code == 422
    outcome = OperationOutcome.model_validate(reply.json())
    assert outcome.issue[0].code == "invalid"
    assert outcome.issue[0].expression == ["AdverseEvent.event"]
    held = world.client.get("/api/v1/cases", headers=world.bearer("admin")).json()["items"]
    assert "US-FHIR-0002" not in {c["worldwide_id"] for c in held}  # nothing stored


def test_reading_a_case_the_caller_may_not_see_is_a_not_found_outcome(world: World) -> None:
    sent = case_to_fhir(case_report("US-FHIR-0003"), case_id="draft")
    created = world.client.post("/fhir/AdverseEvent", json=sent,
                                headers={**FHIR, **world.bearer("physician")})
    case_id = created.headers["Location"].rsplit("/", 1)[1]
    reply = world.client.get(f"/fhir/AdverseEvent/{case_id}", headers=world.bearer("patient"))
    assert reply.status_code == 404
    assert OperationOutcome.model_validate(reply.json()).issue[0].code == "not-found"
    anonymous = world.client.get(f"/fhir/AdverseEvent/{case_id}")
    assert anonymous.status_code == 401
    assert anonymous.json()["resourceType"] == "OperationOutcome"


def test_body_that_is_not_json_is_an_operation_outcome(world: World) -> None:
    reply = world.client.post("/fhir/AdverseEvent", content=b"<xml/>",
                              headers={**FHIR, **world.bearer("physician")})
    assert reply.status_code == 422
    assert reply.json()["issue"][0]["code"] == "invalid"
