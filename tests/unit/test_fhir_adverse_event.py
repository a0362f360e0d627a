"""A case report as FHIR R4 AdverseEvent and back, and refusals as OperationOutcome."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from medsafe.cases.model import (
    CaseReport,
    Causality,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
)
from medsafe.cases.terminology import LAY_LEXICON, MEDDRA
from medsafe.errors import Invalid, NotFound
from medsafe.interop.fhir.adverse_event import (
    CASE_ID_SYSTEM,
    EXTENSION_BASE,
    MEDDRA_SYSTEM,
    case_to_fhir,
    fhir_to_case,
    operation_outcome,
)
from tests.support.case_builder import case_report

RECEIVED = date(2026, 11, 20)
SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"


def rich_case() -> CaseReport:
    """Two reactions, a suspect and a concomitant drug with lots, causality, seriousness
    criteria, three reporters, a described patient and a narrative."""
    return CaseReport(
        sender_report_id="MFR-2026-0042",
        worldwide_id="US-MEDSAFE-2026-0042",
        report_type="spontaneous",
        first_received=date(2026, 11, 2),
        latest_received=date(2026, 11, 9),
        sender_organisation="Example Pharma",
        occurrence_country="US",
        other_case_ids=("GB-MHRA-123",),
        linked_reports=("US-MEDSAFE-2026-0007",),
        nullification="amended",
        nullification_reason="Onset date corrected",
        primary_sources=(
            PrimarySource(given_name="Ana", family_name="Ruiz", organisation="City Clinic",
                          qualification="physician", country="US", regulatory=True),
            PrimarySource(family_name="Okafor", qualification="pharmacist", country="US"),
            PrimarySource(given_name="Sam", qualification="consumer", country="US"),
        ),
        patient=PatientInfo(
            initials="JD", age=54, age_unit="year", age_group="adult", sex="female",
            weight_kg=71.5, height_cm=168, birth_date="1972-03",
            medical_history=(Coded(term="Multiple sclerosis", terminology=MEDDRA,
                                   code="10028245", version="27.0"),),
            medical_history_text="Relapsing-remitting MS since 2010",
        ),
        reactions=(
            Reaction(id="r1", verbatim="very sleepy all day",
                     coded=Coded(term="Somnolence", terminology=LAY_LEXICON, version="1.0"),
                     start="2026-10-28", end="2026-11-01", outcome="recovered",
                     country="US"),
            Reaction(id="r2", verbatim="fell and broke wrist",
                     coded=Coded(term="Fall", code="10016173", terminology=MEDDRA,
                                 version="27.0"),
                     start="2026-10", seriousness=Seriousness(hospitalisation=True,
                                                             other_medically_important=True),
                     outcome="recovered_with_sequelae"),
        ),
        drugs=(
            Drug(id="d1", role="suspect", product_name="Baclofen 10 mg tablets",
                 substances=("baclofen",), ingredient_id="baclofen", product_id=7,
                 ndc="12345-678-90", manufacturer="Example Pharma",
                 lot_numbers=("LOT-A1", "LOT-A2"), dose_text="10 mg three times a day",
                 dose_value=10, dose_unit="mg", route="oral", start="2026-10-01",
                 end="2026-10-30", indication="Muscle spasticity", action_taken="withdrawn",
                 dechallenge="positive", rechallenge="not_applicable"),
            Drug(id="d2", role="concomitant", product_name="Oxycodone 5 mg",
                 substances=("oxycodone",), lot_numbers=("OXY-9",), start="2025"),
        ),
        causality=(
            Causality(drug_id="d1", reaction_id="r1", source="reporter",
                      method="global introspection", result="probable"),
            Causality(drug_id="d1", reaction_id="r2", source="sender",
                      method="WHO-UMC", result="possible"),
        ),
        narrative="A 54-year-old woman started baclofen for spasticity.\n"
                  "Within four weeks she was sleepy all day and fell.",
        sender_comment="Consistent with the label.",
        sender_diagnosis="CNS depression",
    )


def single_reaction_case() -> CaseReport:
    case = rich_case()
    return case.model_copy(update={"reactions": case.reactions[:1],
                                   "causality": case.causality[:1]})


def adverse_event_of(document: dict[str, Any], index: int = 0) -> dict[str, Any]:
    if document["resourceType"] == "AdverseEvent":
        return document
    resource: dict[str, Any] = document["entry"][index]["resource"]
    return resource


def plain_ehr_event(**changes: Any) -> dict[str, Any]:
    """An AdverseEvent as an EHR might send it: no medsafe extension at all."""
    event: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": "ae1",
        "identifier": {"system": "https://ehr.example/ae", "value": "EHR-77"},
        "actuality": "actual",
        "event": {"coding": [{"system": "http://snomed.info/sct", "code": "271782001",
                              "display": "Drowsy"}], "text": "Drowsy after dose increase"},
        "subject": {"reference": "Patient/p1"},
        "date": "2026-11-01T08:30:00Z",
        "recordedDate": "2026-11-03",
        "seriousness": {"coding": [{"system": SERIOUSNESS, "code": "serious"}]},
        "outcome": {"coding": [{"system": OUTCOME, "code": "recovering"}]},
        "recorder": {"reference": "#doc"},
        "contained": [
            {"resourceType": "Practitioner", "id": "doc",
             "name": [{"family": "House", "given": ["Greg"]}]},
            {"resourceType": "Medication", "id": "med",
             "code": {"text": "Baclofen 25 mg"}, "batch": {"lotNumber": "B-77"}},
        ],
        "suspectEntity": [{
            "instance": {"reference": "#med"},
            "causality": [{"assessment": {"text": "likely"},
                           "author": {"display": "Dr House"}}],
        }],
    }
    event.update(changes)
    return event


# --- Writing --------------------------------------------------------------------------------

def test_several_reactions_become_a_collection_of_adverse_events_sharing_the_case_id(
) -> None:
    document = case_to_fhir(rich_case(), case_id="case-42")
    bundle = Bundle.model_validate(document)
    assert bundle.type == "collection"
    assert len(bundle.entry or []) == 2
    for entry in document["entry"]:
        AdverseEvent.model_validate(entry["resource"])
        assert entry["resource"]["identifier"] == {"system": CASE_ID_SYSTEM,
                                                   "value": "US-MEDSAFE-2026-0042"}
        assert entry["resource"]["actuality"] == "actual"


def test_one_reaction_becomes_one_valid_adverse_event() -> None:
    document = case_to_fhir(single_reaction_case(), case_id="case-42")
    event = AdverseEvent.model_validate(document)
    assert event.id == "case-42"
    assert event.event is not None
    assert event.event.text == "very sleepy all day"


def test_each_reaction_carries_its_own_seriousness_outcome_date_and_causality() -> None:
    document = case_to_fhir(rich_case(), case_id="case-42")
    first, second = adverse_event_of(document, 0), adverse_event_of(document, 1)
    assert first["seriousness"]["coding"][0]["code"] == "non-serious"
    assert second["seriousness"]["coding"][0]["code"] == "serious"
    criteria = [e["valueCode"] for e in second["extension"]
                if e["url"] == EXTENSION_BASE + "seriousness-criterion"]
    assert criteria == ["hospitalisation", "other_medically_important"]
    assert first["outcome"]["coding"][0] == {"system": OUTCOME, "code": "resolved",
                                             "display": "Resolved"}
    assert second["outcome"]["coding"][0]["code"] == "resolvedWithSequelae"
    assert (first["date"], second["date"]) == ("2026-10-28", "2026-10")
    assert [c["assessment"]["text"] for c in first["suspectEntity"][0]["causality"]] == [
        "probable"]
    assert [c["assessment"]["text"] for c in second["suspectEntity"][0]["causality"]] == [
        "possible"]


def test_meddra_terms_use_meddras_uri_and_other_terminologies_a_medsafe_one() -> None:
    document = case_to_fhir(rich_case(), case_id="case-42")
    lay = adverse_event_of(document, 0)["event"]["coding"][0]
    meddra = adverse_event_of(document, 1)["event"]["coding"][0]
    assert meddra == {"system": MEDDRA_SYSTEM, "version": "27.0", "code": "10016173",
                      "display": "Fall"}
    assert lay["system"].startswith("urn:medsafe:terminology:")
    assert "code" not in lay
    assert lay["version"] == "1.0"


def test_suspect_entities_are_contained_medications_with_lot_and_role() -> None:
    event = adverse_event_of(case_to_fhir(rich_case(), case_id="case-42"))
    contained = {r["id"]: r for r in event["contained"]}
    suspect, concomitant = event["suspectEntity"]
    medication = contained[suspect["instance"]["reference"].removeprefix("#")]
    assert medication["resourceType"] == "Medication"
    assert medication["code"]["text"] == "Baclofen 10 mg tablets"
    assert medication["batch"]["lotNumber"] == "LOT-A1"
    roles = [e["valueCode"] for e in concomitant["modifierExtension"]]
    assert roles == ["concomitant"]
    assert suspect["causality"][0]["method"]["text"] == "global introspection"


def test_reporters_are_contained_and_the_regulatory_one_is_the_recorder() -> None:
    event = adverse_event_of(case_to_fhir(rich_case(), case_id="case-42"))
    contained = {r["id"]: r for r in event["contained"]}
    recorder = contained[event["recorder"]["reference"].removeprefix("#")]
    assert recorder["resourceType"] == "Practitioner"
    assert recorder["name"][0]["family"] == "Ruiz"
    contributors = [contained[c["reference"].removeprefix("#")]["name"][0]["family"]
                    for c in event["contributor"]]
    assert contributors == ["Okafor"]
    kinds = sorted(r["resourceType"] for r in event["contained"]
                   if r["id"].startswith("reporter"))
    assert kinds == ["Practitioner", "Practitioner", "RelatedPerson"]


def test_a_known_patient_reference_becomes_the_subject() -> None:
    event = adverse_event_of(case_to_fhir(rich_case(), case_id="case-42",
                                          patient_reference="Patient/123"))
    assert event["subject"] == {"reference": "Patient/123"}
    back = fhir_to_case(case_to_fhir(rich_case(), case_id="c", patient_reference="Patient/9"),
                        received=RECEIVED)
    assert back.patient == rich_case().patient


def test_case_id_must_be_a_fhir_id() -> None:
    with pytest.raises(Invalid) as caught:
        case_to_fhir(rich_case(), case_id="not a valid id!")
    assert caught.value.where == "case_id"


def test_a_case_without_a_reaction_has_no_adverse_event() -> None:
    empty = rich_case().model_copy(update={"reactions": (), "causality": ()})
    with pytest.raises(Invalid) as caught:
        case_to_fhir(empty, case_id="case-42")
    assert caught.value.where == "reactions"


# --- Reading back ---------------------------------------------------------------------------

def test_round_trip_keeps_every_field_of_a_rich_case() -> None:
    case = rich_case()
    assert fhir_to_case(case_to_fhir(case, case_id="case-42"), received=RECEIVED) == case


def test_round_trip_keeps_a_single_reaction_case() -> None:
    case = single_reaction_case()
    assert fhir_to_case(case_to_fhir(case, case_id="case-42"), received=RECEIVED) == case


def test_round_trip_keeps_a_minimal_case() -> None:
    case = CaseReport(sender_report_id="S1", worldwide_id="W1", first_received=RECEIVED,
                      latest_received=RECEIVED,
                      reactions=(Reaction(id="r1", verbatim="rash"),),
                      drugs=(Drug(id="d1", role="suspect", product_name="Baclofen"),))
    assert fhir_to_case(case_to_fhir(case, case_id="x"), received=date(2030, 1, 1)) == case


def test_plain_ehr_adverse_event_is_read_with_sensible_defaults() -> None:
    case = fhir_to_case(plain_ehr_event(), received=RECEIVED)
    assert case.worldwide_id == "EHR-77"
    assert case.first_received == date(2026, 11, 3)
    assert case.latest_received == RECEIVED
    (reaction,) = case.reactions
    assert reaction.verbatim == "Drowsy after dose increase"
    assert reaction.coded == Coded(term="Drowsy", code="271782001",
                                   terminology="http://snomed.info/sct")
    assert reaction.start == "2026-11-01"
    assert reaction.outcome == "recovering"
    # "serious" without criteria: the criterion that asserts seriousness on its own.
    assert reaction.seriousness.criteria() == ("other_medically_important",)
    (drug,) = case.drugs
    assert (drug.role, drug.product_name, drug.lot_numbers) == (
        "suspect", "Baclofen 25 mg", ("B-77",))
    (source,) = case.primary_sources
    assert (source.given_name, source.family_name, source.regulatory) == (
        "Greg", "House", True)
    assert source.qualification == "other_health_professional"
    assert case.causality[0].result == "likely"
    assert case.causality[0].source == "Dr House"


def test_bundle_resolves_references_to_other_entries() -> None:
    event = plain_ehr_event(contained=[], recorder=None,
                            suspectEntity=[{"instance": {"reference": "Medication/m1"}}])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": event},
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male",
                      "birthDate": "1960"}},
        {"resource": {"resourceType": "Medication", "id": "m1",
                      "code": {"text": "Tizanidine 4 mg"}}},
    ]}
    case = fhir_to_case(bundle, received=RECEIVED)
    assert case.patient.sex == "male"
    assert case.patient.birth_date == "1960"
    assert [d.product_name for d in case.drugs] == ["Tizanidine 4 mg"]


# --- Refusals -------------------------------------------------------------------------------

def where_of(document: Any) -> str | None:
    with pytest.raises(Invalid) as caught:
        fhir_to_case(document, received=RECEIVED)
    return caught.value.where


def without(document: dict[str, Any], key: str) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    del copied[key]
    return copied


def test_missing_event_is_refused_at_its_fhir_path() -> None:
    assert where_of(without(plain_ehr_event(), "event")) == "AdverseEvent.event"


def test_missing_identifier_is_refused_at_its_fhir_path() -> None:
    assert where_of(without(plain_ehr_event(), "identifier")) == "AdverseEvent.identifier"


def test_missing_subject_fails_fhir_validation_at_its_path() -> None:
    assert where_of(without(plain_ehr_event(), "subject")) == "AdverseEvent.subject"


def test_invalid_fhir_is_refused_with_the_path_of_the_bad_element() -> None:
    broken = plain_ehr_event(date="yesterday")
    assert where_of(broken) == "AdverseEvent.date"
    entity = plain_ehr_event(suspectEntity=[{"causality": []}])
    assert where_of(entity) == "AdverseEvent.suspectEntity[0].instance"


def test_errors_inside_a_bundle_name_the_entry() -> None:
    document = case_to_fhir(rich_case(), case_id="case-42")
    del document["entry"][1]["resource"]["event"]
    assert where_of(document) == "Bundle.entry[1].resource.event"
    document = case_to_fhir(rich_case(), case_id="case-42")
    document["entry"][1]["resource"]["identifier"]["value"] = "OTHER"
    assert where_of(document) == "Bundle.entry[1].resource.identifier"


def test_other_resources_and_non_objects_are_refused() -> None:
    assert where_of({"resourceType": "Patient"}) == "resourceType"
    assert where_of(["not", "an", "object"]) == "(resource)"
    unknown = plain_ehr_event(contained=[{"resourceType": "Nonsense", "id": "x"}])
    assert where_of(unknown) == "AdverseEvent.contained[0].resourceType"
    assert where_of({"resourceType": "Bundle", "type": "collection", "entry": []}) == (
        "Bundle.entry")


def test_a_potential_event_is_not_a_case() -> None:
    assert where_of(plain_ehr_event(actuality="potential")) == "AdverseEvent.actuality"


def test_unknown_codes_are_refused_where_they_stand() -> None:
    outcome = {"coding": [{"system": OUTCOME, "code": "better"}]}
    assert where_of(plain_ehr_event(outcome=outcome)) == "AdverseEvent.outcome"
    role = plain_ehr_event()
    role["suspectEntity"][0]["modifierExtension"] = [
        {"url": EXTENSION_BASE + "drug-role", "valueCode": "bystander"}]
    assert where_of(role) == "AdverseEvent.suspectEntity[0].modifierExtension[0].valueCode"
    foreign = plain_ehr_event()
    foreign["suspectEntity"][0]["modifierExtension"] = [
        {"url": "https://elsewhere.example/not-a-suspect", "valueBoolean": True}]
    assert where_of(foreign) == "AdverseEvent.suspectEntity[0].modifierExtension"


def test_inconsistent_seriousness_is_refused() -> None:
    event = adverse_event_of(case_to_fhir(rich_case(), case_id="c"), 1)
    event["seriousness"]["coding"][0]["code"] = "non-serious"
    assert where_of(event) == "AdverseEvent.seriousness"


def test_a_partial_recorded_date_is_refused_because_the_clock_counts_days() -> None:
    assert where_of(plain_ehr_event(recordedDate="2026-11")) == "AdverseEvent.recordedDate"


def test_a_suspect_without_a_product_name_is_refused() -> None:
    nameless = plain_ehr_event(suspectEntity=[{"instance": {"reference": "Medication/x"}}])
    assert where_of(nameless) == "AdverseEvent.suspectEntity[0].instance"


# --- OperationOutcome ------------------------------------------------------------------------

def test_invalid_becomes_an_operation_outcome_pointing_at_the_element() -> None:
    with pytest.raises(Invalid) as caught:
        fhir_to_case(without(plain_ehr_event(), "event"), received=RECEIVED)
    outcome = operation_outcome(caught.value)
    OperationOutcome.model_validate(outcome)
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "invalid")
    assert issue["expression"] == ["AdverseEvent.event"]
    assert "event" in issue["diagnostics"]


def test_not_found_becomes_a_not_found_operation_outcome() -> None:
    outcome = operation_outcome(NotFound("no case C-1"))
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"] == [{"severity": "error", "code": "not-found",
                                 "diagnostics": "no case C-1"}]


def test_withheld_reporter_round_trips_through_fhir() -> None:
    report = case_report("US-MSK-2").model_copy(update={
        "primary_sources": (PrimarySource(withheld=True, country="US", regulatory=True),)})
    back = fhir_to_case(case_to_fhir(report, case_id="1"), received=report.first_received)
    assert back.primary_sources == report.primary_sources
