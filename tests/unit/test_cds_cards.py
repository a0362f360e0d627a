"""Cards from findings, request reading and the card validator, all pure: plain
constructors, no I/O."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.detectedissue import DetectedIssue
from pydantic import ValidationError

from medsafe.assessment.findings import Finding
from medsafe.assessment.patient import Concept
from medsafe.config import Settings
from medsafe.errors import Invalid
from medsafe.interop.cds_hooks.cards import (
    Alternative,
    Problem,
    build_card,
    response,
    select_problems,
)
from medsafe.interop.cds_hooks.requests import (
    PREFETCH,
    DraftOrder,
    assemble_patient_bundle,
    parse_hook_request,
    render_prefetch,
)
from medsafe.knowledge.model import Source
from tests.support import cds_cards
from tests.support.fhir_stub import BACLOFEN, OXYCODONE, draft_order, hook_request

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
LABEL = Source(document="FDA label, baclofen tablets", section="Drug interactions",
               setid="69d0027a-cb46-4754-9225-071ec1ce4b37")


def uuids() -> Any:
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


def interaction(severity: str = "critical", source: Source | None = LABEL) -> Finding:
    return Finding(kind="interaction", severity=severity,  # type: ignore[arg-type]
                   summary="Baclofen interacts with oxycodone (Opioids): respiratory "
                           "depression.",
                   detail="oxycodone counts among Opioids.", rule="interaction/baclofen/opioids",
                   source=source, with_=("oxycodone",))


def order(order_id: str | None = "draft-1") -> DraftOrder:
    return DraftOrder(id=order_id, reference=f"MedicationRequest/{order_id}" if order_id
                      else None, concept=Concept(text="Baclofen 10 MG Oral Tablet"),
                      medication_reference=None, selected=True, status="draft",
                      intent="order", dose_text="5 mg tid",
                      resource=draft_order(BACLOFEN))


TIZANIDINE = Alternative("tizanidine", "Tizanidine", "caution", "2 mg")


def test_a_critical_interaction_becomes_a_valid_critical_card_citing_the_label() -> None:
    card = build_card(Problem(order(), interaction(), swap=TIZANIDINE), patient_id="p1",
                      now=NOW, new_uuid=uuids())
    cds_cards.assert_valid(response([card]))
    assert card.document["indicator"] == "critical"
    assert card.document["source"]["label"] == "medsafe"
    assert card.document["source"]["url"].endswith("setid=69d0027a-cb46-4754-9225-071ec1ce4b37")
    assert "FDA label, baclofen tablets, Drug interactions" in card.document["detail"]
    assert card.document["selectionBehavior"] == "at-most-one"
    assert all(r["display"] for r in card.document["overrideReasons"])


def test_the_swap_replaces_the_draft_order_by_its_id() -> None:
    card = build_card(Problem(order(), interaction(), swap=TIZANIDINE), patient_id="p1",
                      now=NOW, new_uuid=uuids())
    swap = card.document["suggestions"][0]
    action = swap["actions"][0]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "draft-1"
    assert action["resource"]["medicationCodeableConcept"]["text"] == "Tizanidine"
    assert action["resource"]["dosageInstruction"] == [{"text": "2 mg"}]


def test_a_draft_order_without_an_id_is_swapped_by_a_create() -> None:
    card = build_card(Problem(order(None), interaction(), swap=TIZANIDINE), patient_id="p1",
                      now=NOW, new_uuid=uuids())
    assert card.document["suggestions"][0]["actions"][0]["type"] == "create"


def test_a_switch_away_from_a_medicine_already_taken_never_stops_it_abruptly() -> None:
    taper = Finding(kind="warning", severity="info",
                    summary="Never stop Baclofen abruptly; reduce the dose slowly.",
                    detail="...", rule="warning/baclofen/abrupt-withdrawal", source=LABEL)
    card = build_card(Problem(order(), interaction(), swap=TIZANIDINE,
                              switch_from="Baclofen", taper=taper),
                      patient_id="p1", now=NOW, new_uuid=uuids())
    actions = card.document["suggestions"][0]["actions"]
    assert [a["type"] for a in actions] == ["create"]  # no delete of baclofen
    assert "Never stop Baclofen abruptly" in actions[0]["description"]


def test_the_detected_issue_is_a_valid_r4_resource_with_the_mapped_severity() -> None:
    card = build_card(Problem(order(), interaction("warning")), patient_id="p1", now=NOW,
                      new_uuid=uuids())
    issue = card.document["suggestions"][-1]["actions"][0]["resource"]
    parsed = DetectedIssue.model_validate(issue)
    assert parsed.severity == "moderate"
    assert parsed.patient is not None
    assert parsed.patient.reference == "Patient/p1"
    assert parsed.implicated is not None
    assert parsed.implicated[0].reference == \
        "MedicationRequest/draft-1"
    assert parsed.mitigation
    assert card.detected_issue == issue


def test_a_dose_change_is_offered_only_when_the_engine_gives_one() -> None:
    without = build_card(Problem(order(), interaction()), patient_id="p1", now=NOW,
                         new_uuid=uuids())
    with_dose = build_card(Problem(order(), interaction(), dose_change="Kidney: 5 mg/day"),
                           patient_id="p1", now=NOW, new_uuid=uuids())
    assert len(with_dose.document["suggestions"]) == len(without.document["suggestions"]) + 1
    update = with_dose.document["suggestions"][0]["actions"][0]
    assert update["type"] == "update"
    assert update["resource"]["dosageInstruction"] == [{"text": "Kidney: 5 mg/day"}]


def test_no_card_for_monitoring_data_gaps_or_info_findings() -> None:
    quiet = [
        Finding(kind="monitoring", severity="info", summary="Monitor AST.", detail=".",
                rule="monitoring/baclofen"),
        Finding(kind="missing-data", severity="warning", summary="No eGFR on record.",
                detail=".", rule="missing-data/baclofen/kidney"),
        Finding(kind="warning", severity="info", summary="Never stop abruptly.", detail=".",
                rule="warning/baclofen/abrupt-withdrawal"),
    ]
    assert select_problems(quiet) == []
    assert response([]) == {"cards": []}


def test_sedation_adding_up_joins_the_interaction_card_of_the_same_medicine() -> None:
    sleep = Finding(kind="sleep", severity="warning", summary="Sleepiness adds up.",
                    detail="Drowsiness adds up.", rule="sleep/baclofen/other-sedatives",
                    with_=("oxycodone",))
    chosen = select_problems([interaction(), sleep])
    assert chosen == [(interaction(), (sleep,))]


def test_the_validator_names_each_broken_card_rule() -> None:
    bad = {"cards": [{"summary": "x" * 140, "indicator": "severe", "source": {},
                      "suggestions": [{"label": "Do", "uuid": "a",
                                       "actions": [{"type": "replace"}]},
                                      {"label": "Do", "uuid": "a"}],
                      "overrideReasons": [{"code": "x"}],
                      "links": [{"label": "l", "url": "/relative", "type": "web"}]}]}
    found = "\n".join(cds_cards.problems(bad))
    for fragment in ("summary: 140 characters", "indicator", "source.label",
                     "type: 'replace'", "uuid: repeated", "selectionBehavior",
                     "overrideReasons[0].display", "links[0].url", "links[0].type"):
        assert fragment in found
    assert cds_cards.problems({"cards": []}) == []


def test_prefetch_templates_fill_only_root_level_context_tokens() -> None:
    assert render_prefetch(PREFETCH["patient"], {"patientId": "123"}) == "Patient/123"
    assert "patient=123&code=http://loinc.org|2160-0" in render_prefetch(
        PREFETCH["kidney"], {"patientId": "123"})
    with pytest.raises(Invalid, match="not a FHIR id"):
        render_prefetch(PREFETCH["patient"], {"patientId": "1&_include=*"})
    with pytest.raises(Invalid, match="root-level"):
        render_prefetch("Patient/{{context.patient.id}}", {"patientId": "1"})


def test_a_request_for_another_hook_is_refused() -> None:
    request = hook_request("order-select", [draft_order(BACLOFEN)])
    with pytest.raises(Invalid, match="order-sign"):
        parse_hook_request(request, service_hook="order-sign")


def test_order_select_reviews_only_the_selected_orders() -> None:
    request = hook_request("order-select", [draft_order(BACLOFEN),
                                            draft_order(OXYCODONE, order_id="draft-2")])
    request["context"]["selections"] = ["MedicationRequest/draft-2"]
    parsed = parse_hook_request(request, service_hook="order-select")
    assert [o.selected for o in parsed.draft_orders] == [False, True]


def test_medication_references_resolve_from_contained_and_the_bundle() -> None:
    contained = draft_order(BACLOFEN)
    del contained["medicationCodeableConcept"]
    contained["contained"] = [{"resourceType": "Medication", "id": "m",
                               "code": {"text": "Baclofen 10 MG"}}]
    contained["medicationReference"] = {"reference": "#m"}
    in_bundle = draft_order(BACLOFEN, order_id="draft-2")
    del in_bundle["medicationCodeableConcept"]
    in_bundle["medicationReference"] = {"reference": "Medication/oxy"}
    remote = draft_order(BACLOFEN, order_id="draft-3")
    del remote["medicationCodeableConcept"]
    remote["medicationReference"] = {"reference": "Medication/elsewhere"}
    request = hook_request("order-sign", [contained, in_bundle, remote])
    request["context"]["draftOrders"]["entry"].append(
        {"resource": {"resourceType": "Medication", "id": "oxy", "code": OXYCODONE}})
    parsed = parse_hook_request(request, service_hook="order-sign")
    first, second, third = parsed.draft_orders
    assert first.concept == Concept(text="Baclofen 10 MG")
    assert second.concept is not None
    assert second.concept.codings[0].code == "7804"
    assert third.concept is None
    assert third.medication_reference == "Medication/elsewhere"


def test_the_patient_bundle_leaves_out_the_draft_orders_and_refuses_another_patient() -> None:
    request = parse_hook_request(hook_request("order-sign", [draft_order(BACLOFEN)]),
                                 service_hook="order-sign")
    same_order = draft_order(BACLOFEN)
    same_order["status"] = "draft"
    bundle = assemble_patient_bundle(request, {"medications": [same_order]})
    assert bundle["entry"] == []
    with pytest.raises(Invalid, match="not the patient in context"):
        assemble_patient_bundle(request, {"patient": [{"resourceType": "Patient",
                                                       "id": "someone-else"}]})


def test_an_http_fhir_server_off_this_machine_is_refused() -> None:
    request = hook_request("order-sign", [draft_order(BACLOFEN)],
                           fhir_server="http://ehr.example.org/fhir", token="t")
    with pytest.raises(Invalid, match="https"):
        parse_hook_request(request, service_hook="order-sign")


def test_unsigned_cds_requests_are_refused_at_start_off_loopback() -> None:
    with pytest.raises(ValidationError, match="MEDSAFE_CDS_ALLOW_UNSIGNED"):
        Settings(host="0.0.0.0", cds_allow_unsigned=True)
    assert Settings(host="127.0.0.1", cds_allow_unsigned=True).cds_allow_unsigned


def test_a_trusted_issuer_needs_an_https_key_set_url() -> None:
    with pytest.raises(ValidationError, match="MEDSAFE_CDS_TRUSTED_ISSUERS"):
        Settings(cds_trusted_issuers=[{"iss": "https://ehr.example.org",
                                       "jwks_url": "http://ehr.example.org/jwks"}])
    settings = Settings(cds_trusted_issuers=[{"iss": "https://ehr.example.org",
                                              "jwks_url": "https://ehr.example.org/jwks"}])
    assert settings.cds_trusted_issuers[0].jwks_url == "https://ehr.example.org/jwks"


def test_without_cited_withdrawal_advice_the_switch_points_to_the_label() -> None:
    card = build_card(Problem(order(), interaction(), swap=TIZANIDINE, switch_from="Baclofen"),
                      patient_id="p1", now=NOW, new_uuid=uuids())
    description = card.document["suggestions"][0]["actions"][0]["description"]
    assert "no cited advice on stopping Baclofen" in description
    assert "check its label" in description
