"""The CDS Hooks use case on real SQLite and PostgreSQL: cards about the drug being ordered,
in both directions of an interaction; the prefetch fallback to a real FHIR server stub on
127.0.0.1 (with the EHR's token) and 412 when data cannot be had; the HL7 and PDDI example
requests; feedback stored and the override report per rule."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from medsafe.bootstrap import Container
from medsafe.errors import NotFound
from medsafe.interop.cds_hooks import feedback, service
from medsafe.interop.cds_hooks.requests import parse_hook_request
from medsafe.interop.cds_hooks.service import RequiredDataMissing
from tests.support import cds_cards
from tests.support.fhir_stub import (
    BACLOFEN,
    OXYCODONE,
    draft_order,
    fhir_stub,
    hook_request,
    patient_resources,
    prefetch_of,
)

DATA = Path(__file__).parents[1] / "data" / "cds_hooks"
TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
SIGN = "medsafe-order-sign"
SELECT = "medsafe-order-select"


def call(container: Container, service_id: str, request: dict[str, Any]) -> dict[str, Any]:
    with container.uow() as uow:
        reply = service.call_service(uow, container.catalog, service_id, request,
                                     today=TODAY, now=NOW)
    cds_cards.assert_valid(reply)
    return reply


def loud(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in reply["cards"] if c["indicator"] in ("warning", "critical")]


def test_baclofen_ordered_for_a_patient_on_oxycodone_gives_a_critical_card_with_a_swap(
        container: Container) -> None:
    patient = patient_resources(medicines=(OXYCODONE,))
    reply = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                               prefetch=prefetch_of(patient)))
    cards = loud(reply)
    assert [c["source"]["topic"]["code"] for c in cards] == ["interaction/baclofen/opioids"]
    swap = cards[0]["suggestions"][0]
    assert swap["actions"][0]["type"] == "update"
    assert swap["actions"][0]["resource"]["id"] == "draft-1"
    assert "Baclofen" not in swap["actions"][0]["resource"]["medicationCodeableConcept"][
        "text"]


def test_oxycodone_ordered_for_a_patient_on_baclofen_gives_the_same_warning(
        container: Container) -> None:
    patient = patient_resources(medicines=(BACLOFEN,))
    reply = call(container, SELECT, hook_request("order-select", [draft_order(OXYCODONE)],
                                                 prefetch=prefetch_of(patient)))
    cards = loud(reply)
    assert [c["source"]["topic"]["code"] for c in cards] == ["interaction/baclofen/opioids"]
    assert cards[0]["indicator"] == "critical"
    swap = cards[0]["suggestions"][0]
    assert swap["label"].startswith("Switch Baclofen")
    assert [a["type"] for a in swap["actions"]] == ["create"]  # baclofen is not deleted


def test_a_healthy_patient_gets_no_warning_card(container: Container) -> None:
    reply = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                               prefetch=prefetch_of(patient_resources())))
    assert loud(reply) == []


def test_only_the_drug_being_ordered_is_alerted_on(container: Container) -> None:
    """A patient already on baclofen and oxycodone: ordering an unrelated medicine raises
    nothing about the pair already taken."""
    patient = patient_resources(medicines=(BACLOFEN, OXYCODONE))
    amoxicillin = {"text": "Amoxicillin 500 MG Oral Capsule"}
    reply = call(container, SIGN, hook_request("order-sign", [draft_order(amoxicillin)],
                                               prefetch=prefetch_of(patient)))
    assert reply == {"cards": []}


def test_cards_are_stored_for_feedback_and_the_override_report(container: Container) -> None:
    patient = patient_resources(medicines=(OXYCODONE,))
    first = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                               prefetch=prefetch_of(patient)))
    second = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                                prefetch=prefetch_of(patient),
                                                instance="a2"))
    accepted, overridden = first["cards"][0], second["cards"][0]
    with container.uow() as uow:
        stored = feedback.record_feedback(uow, SIGN, {"feedback": [
            {"card": accepted["uuid"], "outcome": "accepted",
             "acceptedSuggestions": [{"id": accepted["suggestions"][0]["uuid"]}],
             "outcomeTimestamp": "2026-11-26T09:31:00Z"},
            {"card": overridden["uuid"], "outcome": "overridden",
             "overrideReason": {"reason": overridden["overrideReasons"][2],
                                "userComment": "seen by pain team"},
             "outcomeTimestamp": "2026-11-26T09:32:00Z"}]}, now=NOW)
    assert stored == 2
    with container.uow() as uow:
        report = feedback.override_report(uow)
    rule = next(r for r in report["rules"] if r["rule"] == "interaction/baclofen/opioids")
    assert (rule["shown"], rule["accepted"], rule["overridden"], rule["unanswered"]) == \
        (2, 1, 1, 0)
    assert rule["override_rate"] == 0.5
    assert rule["reasons"] == [{"system": "urn:medsafe:cds-override-reason",
                                "code": "will-monitor",
                                "display": "Will monitor the patient closely", "count": 1}]


def test_feedback_on_an_unknown_card_stores_nothing(container: Container) -> None:
    patient = patient_resources(medicines=(OXYCODONE,))
    reply = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                               prefetch=prefetch_of(patient)))
    good = {"card": reply["cards"][0]["uuid"], "outcome": "overridden",
            "outcomeTimestamp": "2026-11-26T09:31:00Z"}
    unknown = {**good, "card": "00000000-0000-4000-8000-000000000000"}
    with container.uow() as uow, pytest.raises(NotFound, match="no card"):
        feedback.record_feedback(uow, SIGN, {"feedback": [good, unknown]}, now=NOW)
    with container.uow() as uow:
        report = feedback.override_report(uow)
    assert all(r["overridden"] == 0 for r in report["rules"])


def test_without_prefetch_the_data_is_read_from_the_fhir_server_with_the_token(
        container: Container) -> None:
    with fhir_stub(patient_resources(medicines=(OXYCODONE,)), token="ehr-token") as stub:
        reply = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                                   fhir_server=stub.base_url,
                                                   token="ehr-token"))
        asked = stub.requests
    assert [c["source"]["topic"]["code"] for c in loud(reply)] == \
        ["interaction/baclofen/opioids"]
    assert {path.split("?")[0] for path, _ in asked} == {
        "/fhir/Patient/p1", "/fhir/Condition", "/fhir/MedicationRequest", "/fhir/Observation",
        "/fhir/AllergyIntolerance"}
    assert {auth for _, auth in asked} == {"Bearer ehr-token"}


def test_a_medication_reference_only_the_server_knows_is_read_from_it(
        container: Container) -> None:
    order = draft_order(BACLOFEN)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/bac"}
    resources = [*patient_resources(medicines=(OXYCODONE,)),
                 {"resourceType": "Medication", "id": "bac", "code": BACLOFEN}]
    with fhir_stub(resources, token="t") as stub:
        reply = call(container, SIGN, hook_request("order-sign", [order],
                                                   prefetch=prefetch_of(resources),
                                                   fhir_server=stub.base_url, token="t"))
        asked = [path for path, _ in stub.requests]
    assert asked == ["/fhir/Medication/bac"]
    assert loud(reply)


def test_only_requests_that_must_read_the_fhir_server_are_said_to_need_it() -> None:
    resources = patient_resources(medicines=(OXYCODONE,))
    server = "http://127.0.0.1:9/fhir"
    full = hook_request("order-sign", [draft_order(BACLOFEN)], prefetch=prefetch_of(resources),
                        fhir_server=server)
    partial = hook_request("order-sign", [draft_order(BACLOFEN)], fhir_server=server)
    nowhere = hook_request("order-sign", [draft_order(BACLOFEN)])
    needs = {name: service.needs_fhir_server(parse_hook_request(document,
                                                                  service_hook="order-sign"))
             for name, document in (("full", full), ("partial", partial),
                                    ("nowhere", nowhere))}
    assert needs == {"full": False, "partial": True, "nowhere": False}


def test_no_prefetch_and_no_fhir_server_is_412(container: Container) -> None:
    with container.uow() as uow, pytest.raises(RequiredDataMissing, match="no fhirServer"):
        service.call_service(uow, container.catalog, SIGN,
                             hook_request("order-sign", [draft_order(BACLOFEN)]),
                             today=TODAY, now=NOW)


def test_a_fhir_server_refusing_the_token_is_412(container: Container) -> None:
    with fhir_stub(patient_resources(), token="right") as stub, container.uow() as uow, \
            pytest.raises(RequiredDataMissing, match="HTTP 401"):
        service.call_service(uow, container.catalog, SIGN,
                             hook_request("order-sign", [draft_order(BACLOFEN)],
                                          fhir_server=stub.base_url, token="wrong"),
                             today=TODAY, now=NOW)


@pytest.mark.parametrize(("name", "service_id"), [("hl7-order-select-r4.json", SELECT),
                                                  ("hl7-order-sign-r4.json", SIGN)])
def test_the_hl7_example_requests_give_valid_responses(container: Container, name: str,
                                                       service_id: str) -> None:
    example = json.loads((DATA / name).read_text())
    request = {"hook": service.SERVICES[service_id].hook,
               "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
               "context": example["context"],
               "prefetch": prefetch_of(patient_resources("1288992"))}
    reply = call(container, service_id, request)
    assert loud(reply) == []  # amoxicillin/clavulanate and a diet: nothing for medsafe


@pytest.mark.parametrize(("name", "service_id"), [
    ("pddi-warfarin-nsaids-order-sign-coordination.json", SIGN),
    ("pddi-digoxin-cyclosporine-order-select-no-coordination.json", SELECT)])
def test_the_pddi_example_requests_give_valid_responses(container: Container, name: str,
                                                        service_id: str) -> None:
    request = json.loads((DATA / name).read_text())
    patient_id = request["context"]["patientId"]
    with fhir_stub(patient_resources(patient_id, condition=None)) as stub:
        request = copy.deepcopy(request)
        request["fhirServer"] = stub.base_url  # the published one is not reachable
        reply = call(container, service_id, request)
    assert loud(reply) == []  # warfarin, NSAIDs, digoxin: outside medsafe's knowledge


def test_a_dose_change_is_offered_when_the_label_states_one(container: Container) -> None:
    """Diazepam's label states how to dose it beside an opioid; baclofen's kidney warning
    states no dose, so its card offers none."""
    diazepam = {"text": "Diazepam 5 MG Oral Tablet"}
    reply = call(container, SIGN, hook_request("order-sign", [draft_order(diazepam)],
                                               prefetch=prefetch_of(patient_resources(
                                                   medicines=(OXYCODONE,)))))
    card = next(c for c in reply["cards"]
                if c["source"]["topic"]["code"] == "interaction/diazepam/opioids")
    updates = [s["actions"][0] for s in card["suggestions"]
               if s["actions"][0]["type"] == "update"
               and s["actions"][0]["resource"]["medicationCodeableConcept"] == diazepam]
    assert len(updates) == 1
    assert "lower initial dose" in updates[0]["resource"]["dosageInstruction"][0]["text"]
    assert "FDA label, diazepam tablets" in updates[0]["description"]
    kidney = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                                prefetch=prefetch_of(patient_resources(
                                                    egfr=20))))
    renal = [c for c in kidney["cards"] if c["source"]["topic"]["code"].startswith("renal/")]
    assert renal
    assert all(s["actions"][0]["type"] != "update" for s in renal[0]["suggestions"])


def test_an_allergy_in_the_prefetch_gives_a_critical_card(container: Container) -> None:
    patient = patient_resources()
    prefetch = prefetch_of(patient)
    prefetch["allergies"] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "AllergyIntolerance", "id": "a1",
                      "patient": {"reference": "Patient/p1"}, "code": {"text": "Baclofen"}}}]}
    reply = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                               prefetch=prefetch))
    assert [c["indicator"] for c in loud(reply)] == ["critical"]
    assert loud(reply)[0]["source"]["topic"]["code"].startswith("allergy/")


def test_a_medicine_the_patient_takes_named_only_by_reference_is_read_from_the_server(
        container: Container) -> None:
    """The active order for oxycodone names its Medication by reference and the prefetch
    leaves the Medication out: it is read from the FHIR server, so the interaction with
    the baclofen being ordered is still found."""
    patient = patient_resources(medicines=(OXYCODONE,))
    for resource in patient:
        if resource["resourceType"] == "MedicationRequest":
            del resource["medicationCodeableConcept"]
            resource["medicationReference"] = {"reference": "Medication/oxy"}
    on_server = [*patient, {"resourceType": "Medication", "id": "oxy", "code": OXYCODONE}]
    with fhir_stub(on_server, token="t") as stub:
        reply = call(container, SIGN, hook_request("order-sign", [draft_order(BACLOFEN)],
                                                   prefetch=prefetch_of(patient),
                                                   fhir_server=stub.base_url, token="t"))
        asked = [path for path, _ in stub.requests]
    assert asked == ["/fhir/Medication/oxy"]
    assert [c["source"]["topic"]["code"] for c in loud(reply)] == \
        ["interaction/baclofen/opioids"]
