"""Reading one patient out of a FHIR R4 Bundle, and refusing what is not one."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsafe.errors import Invalid
from medsafe.interop.fhir.patient_bundle import parse_bundle, parse_bundle_text, read_bundle
from tests.support.fhir_builder import PatientBundle
from tests.support.fhir_stub import BACLOFEN, OXYCODONE, patient_resources


def test_reads_demographics_conditions_medicines_and_labs() -> None:
    bundle = (PatientBundle(birth_date="1970-05-01", gender="female")
              .condition("Multiple sclerosis", severity="severe")
              .medication("Oxycodone 5 mg tablet", rxnorm="7804")
              .medication("Zolpidem 10 mg", request=True)
              .egfr(52).alt(30).build())
    record = parse_bundle(bundle)
    assert record.birth_date == date(1970, 5, 1)
    assert record.sex == "female"
    assert [c.concept.text for c in record.conditions] == ["Multiple sclerosis"]
    assert record.conditions[0].severity == "severe"
    assert [m.concept.text for m in record.medications] == ["Oxycodone 5 mg tablet",
                                                             "Zolpidem 10 mg"]
    assert [m.source for m in record.medications] == ["statement", "request"]
    assert {lab.kind: lab.value for lab in record.labs} == {"egfr": 52, "alt": 30}
    assert next(lab for lab in record.labs if lab.kind == "alt").upper_limit == 40


def test_reads_preferences_and_pregnancy() -> None:
    bundle = (PatientBundle().prefers_route("oral").avoids("drowsiness")
              .preference("symptom-severity", "moderate").pregnant().build())
    record = parse_bundle(bundle)
    assert record.preferences.route == "oral"
    assert record.preferences.avoid_side_effects == ("drowsiness",)
    assert record.symptom_severity == "moderate"
    assert record.pregnant is True


def test_not_pregnant_is_read_as_false() -> None:
    assert parse_bundle(PatientBundle().pregnant(False).build()).pregnant is False


def test_resolves_contained_and_bundled_medication_references() -> None:
    bundle = (PatientBundle().medication_reference("Tizanidine 4 mg tablet")
              .medication_reference("Ciprofloxacin 500 mg", contained=False).build())
    names = [m.concept.text for m in parse_bundle(bundle).medications]
    assert names == ["Tizanidine 4 mg tablet", "Ciprofloxacin 500 mg"]


def test_stopped_medicines_and_resolved_conditions_are_not_current() -> None:
    bundle = (PatientBundle().medication("Phenelzine", status="stopped")
              .condition("Hepatitis A", status="resolved").build())
    record = parse_bundle(bundle)
    assert record.medications == ()
    assert record.conditions == ()


def test_resources_the_engine_does_not_use_are_ignored() -> None:
    bundle = PatientBundle().add({"resourceType": "Encounter", "status": "finished",
                                  "class": {"code": "AMB"}}).build()
    assert parse_bundle(bundle).medications == ()


def test_child_pugh_class_is_read() -> None:
    record = parse_bundle(PatientBundle().child_pugh("Class B").build())
    assert record.labs[0].category == "B"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"resourceType": "Patient"}', "expected a FHIR Bundle, got resourceType 'Patient'"),
    ],
)
def test_refuses_what_is_not_a_bundle(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse_bundle_text(text)


def test_refuses_an_invalid_resource_naming_entry_and_field() -> None:
    bundle = PatientBundle().build()
    bundle["entry"][0]["resource"]["birthDate"] = "yesterday"
    with pytest.raises(Invalid, match=r"entry 0 \(Patient\): birthDate"):
        parse_bundle(bundle)


def test_refuses_an_impossible_egfr() -> None:
    with pytest.raises(Invalid, match=r"value -5 is impossible for egfr"):
        parse_bundle(PatientBundle().egfr(-5).build())


def test_refuses_two_patients() -> None:
    bundle = PatientBundle().add({"resourceType": "Patient", "id": "other"}).build()
    with pytest.raises(Invalid, match="2 Patient resources"):
        parse_bundle(bundle)


def test_refuses_an_unknown_route_preference() -> None:
    with pytest.raises(Invalid, match="preferred route must be 'oral' or 'injection'"):
        parse_bundle(PatientBundle().prefers_route("nasal").build())


def test_refuses_an_oversized_document() -> None:
    huge = json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [], "padding": "x" * 6_000_000})
    with pytest.raises(Invalid, match="larger than"):
        parse_bundle_text(huge)


# ------------------------------------------------- read_bundle: the CDS Hooks hot path


def _collection(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


# The bundles of the tests above, and of the CDS Hooks tests (tests/support/fhir_stub.py).
SAME_BUNDLES: dict[str, Callable[[], dict[str, Any]]] = {
    "demographics, conditions, medicines, labs": lambda: (
        PatientBundle(birth_date="1970-05-01", gender="female")
        .condition("Multiple sclerosis", severity="severe")
        .medication("Oxycodone 5 mg tablet", rxnorm="7804")
        .medication("Zolpidem 10 mg", request=True).egfr(52).alt(30).build()),
    "preferences and pregnancy": lambda: (
        PatientBundle().prefers_route("oral").avoids("drowsiness")
        .preference("symptom-severity", "moderate").pregnant().build()),
    "not pregnant": lambda: PatientBundle().pregnant(False).build(),
    "medication references": lambda: (
        PatientBundle().medication_reference("Tizanidine 4 mg tablet")
        .medication_reference("Ciprofloxacin 500 mg", contained=False).build()),
    "stopped and resolved": lambda: (
        PatientBundle().medication("Phenelzine", status="stopped")
        .condition("Hepatitis A", status="resolved").build()),
    "an Encounter": lambda: PatientBundle().add(
        {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}).build(),
    "Child-Pugh class": lambda: PatientBundle().child_pugh("Class B").build(),
    "allergies, crcl, ast, partial birth date": lambda: (
        PatientBundle(birth_date="1970", gender=None)
        .allergy("Penicillin", rxnorm="7980", reaction="Hives").allergy("Latex")
        .crcl(40).ast(80, upper=35).condition("Depression", snomed="35489007").build()),
    "year-and-month birth date, lab with a time and zone": lambda: (
        PatientBundle(birth_date="1970-05").egfr(61, date="2026-10-01T23:30:00+05:00")
        .build()),
    "CDS prefetch, one medicine": lambda: _collection(
        patient_resources(medicines=(OXYCODONE,))),
    "CDS prefetch, two medicines, no eGFR": lambda: _collection(
        patient_resources("p2", medicines=(OXYCODONE, BACLOFEN), egfr=None)),
    "CDS prefetch, no condition": lambda: _collection(
        patient_resources(condition=None, egfr=12.5)),
}


@pytest.mark.parametrize("build", SAME_BUNDLES.values(), ids=list(SAME_BUNDLES))
def test_read_bundle_gives_the_same_record_as_parse_bundle(
        build: Callable[[], dict[str, Any]]) -> None:
    assert read_bundle(build()) == parse_bundle(build())


def test_read_bundle_does_not_change_the_document() -> None:
    bundle = SAME_BUNDLES["medication references"]()
    before = copy.deepcopy(bundle)
    read_bundle(bundle)
    assert bundle == before


@st.composite
def patient_bundles(draw: st.DrawFn) -> dict[str, Any]:
    words = st.sampled_from(["Baclofen", "Oxycodone 5 mg", "Multiple sclerosis",
                             "Penicillin", "Tizanidine", "Depression"])
    builder = PatientBundle(
        birth_date=draw(st.sampled_from([None, "1950", "1950-02", "1950-02-28"])),
        gender=draw(st.sampled_from([None, "female", "male"])))
    for text in draw(st.lists(words, max_size=3)):
        builder.condition(text, severity=draw(st.sampled_from([None, "mild", "severe"])),
                          status=draw(st.sampled_from(["active", "resolved"])))
    for text in draw(st.lists(words, max_size=3)):
        builder.medication(text, rxnorm=draw(st.sampled_from([None, "7804"])),
                           request=draw(st.booleans()),
                           status=draw(st.sampled_from(["active", "stopped", "on-hold"])))
    for text in draw(st.lists(words, max_size=2)):
        builder.medication_reference(text, contained=draw(st.booleans()))
    for text in draw(st.lists(words, max_size=2)):
        builder.allergy(text, reaction=draw(st.sampled_from([None, "Rash"])))
    if draw(st.booleans()):
        builder.egfr(draw(st.floats(0, 250, allow_nan=False)),
                     date=draw(st.sampled_from(["2026", "2026-10-01",
                                                "2026-10-01T08:00:00Z"])))
    if draw(st.booleans()):
        builder.alt(draw(st.integers(0, 2000)), upper=draw(st.integers(30, 60)))
    if draw(st.booleans()):
        builder.child_pugh(draw(st.sampled_from(["A", "Class B", "c"])))
    if draw(st.booleans()):
        builder.pregnant(draw(st.booleans()))
    if draw(st.booleans()):
        builder.prefers_route(draw(st.sampled_from(["oral", "injection"])))
    if draw(st.booleans()):
        builder.avoids("drowsiness")
    return builder.build()


@settings(max_examples=150, deadline=None)
@given(patient_bundles())
def test_read_bundle_agrees_with_parse_bundle_on_built_patients(
        bundle: dict[str, Any]) -> None:
    assert read_bundle(bundle) == parse_bundle(copy.deepcopy(bundle))


def _with(build: PatientBundle, field: str, value: Any, *, entry: int = 1
          ) -> dict[str, Any]:
    """The built bundle with one field (a dotted path) of one entry's resource replaced."""
    bundle = build.build()
    target = bundle["entry"][entry]["resource"]
    *parents, last = field.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return bundle


def _pregnancy_as_boolean(value: Any) -> dict[str, Any]:
    bundle = PatientBundle().pregnant().build()
    observation = bundle["entry"][1]["resource"]
    del observation["valueCodeableConcept"]
    observation["valueBoolean"] = value
    return bundle


def test_read_bundle_reads_a_pregnancy_status_given_as_a_boolean() -> None:
    assert read_bundle(_pregnancy_as_boolean(False)).pregnant is False
    assert read_bundle(_pregnancy_as_boolean(True)) == parse_bundle(_pregnancy_as_boolean(True))


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        (_with(PatientBundle().medication("Baclofen"), "status", 1),
         r"entry 1 \(MedicationStatement\): status: expected a string"),
        (_with(PatientBundle().medication("Baclofen"), "medicationCodeableConcept",
               "Baclofen"),
         r"entry 1 \(MedicationStatement\): medicationCodeableConcept: expected an object"),
        (_with(PatientBundle().condition("Epilepsy", snomed="84757009"), "code.coding",
               {"code": "84757009"}),
         r"entry 1 \(Condition\): code.coding: expected a list"),
        (_with(PatientBundle().condition("Epilepsy", snomed="84757009"),
               "code.coding.0.code", 84757009),
         r"entry 1 \(Condition\): code.coding.0.code: expected a string"),
        (_with(PatientBundle().egfr(50), "valueQuantity.value", "50"),
         r"entry 1 \(Observation\): valueQuantity.value: expected a number"),
        (_with(PatientBundle().egfr(50), "valueQuantity.value", True),
         r"entry 1 \(Observation\): valueQuantity.value: expected a number"),
        (_with(PatientBundle().egfr(50), "valueQuantity.value", float("nan")),
         r"entry 1 \(Observation\): valueQuantity.value: expected a number"),
        (_with(PatientBundle().alt(50), "referenceRange.0.high.value", "40"),
         r"entry 1 \(Observation\): referenceRange.0.high.value: expected a number"),
        (_with(PatientBundle().egfr(50), "effectiveDateTime", "01/10/2026"),
         r"entry 1 \(Observation\): effectiveDateTime: expected a FHIR dateTime"),
        (_with(PatientBundle().egfr(50), "effectiveDateTime", "2026-02-30"),
         r"entry 1 \(Observation\): effectiveDateTime: expected a FHIR dateTime"),
        (_pregnancy_as_boolean("yes"),
         r"entry 1 \(Observation\): valueBoolean: expected true or false"),
        (_with(PatientBundle(), "birthDate", "14/03/1975", entry=0),
         r"entry 0 \(Patient\): birthDate: expected a FHIR date"),
        (_with(PatientBundle(), "birthDate", "1975-03-14T10:00:00Z", entry=0),
         r"entry 0 \(Patient\): birthDate: expected a FHIR date"),
        (_with(PatientBundle().medication("Baclofen", request=True), "dosageInstruction",
               {"text": "10 mg"}),
         r"entry 1 \(MedicationRequest\): dosageInstruction: expected a list"),
        (_with(PatientBundle().medication_reference("Baclofen"), "medicationReference",
               "#med-1"),
         r"entry 1 \(MedicationRequest\): medicationReference: expected an object"),
        (_with(PatientBundle().medication_reference("Baclofen"), "contained.0.code",
               "Baclofen"),
         r"entry 1 \(MedicationRequest\): contained.0.code: expected an object"),
        (_with(PatientBundle().allergy("Penicillin", reaction="Hives"),
               "reaction.0.manifestation.0", "Hives"),
         r"entry 1 \(AllergyIntolerance\): reaction.0.manifestation.0: expected an object"),
    ],
)
def test_read_bundle_refuses_a_wrong_type_naming_entry_and_field(
        bundle: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=f"^not valid FHIR R4: {message}$"):
        read_bundle(bundle)


def test_read_bundle_names_a_bundled_medication_by_its_own_entry() -> None:
    bundle = PatientBundle().medication_reference("Baclofen", contained=False).build()
    bundle["entry"][1]["resource"]["code"] = {"text": 10}
    with pytest.raises(Invalid, match=r"entry 1 \(Medication\): code.text: expected a string"):
        read_bundle(bundle)


def test_read_bundle_refuses_a_medicine_without_a_status_rather_than_drop_it() -> None:
    bundle = PatientBundle().medication("Baclofen", request=True).build()
    del bundle["entry"][1]["resource"]["status"]
    with pytest.raises(Invalid, match=r"entry 1 \(MedicationRequest\): status: required"):
        read_bundle(bundle)


def test_read_bundle_checks_the_shape_and_resource_types_like_parse_bundle() -> None:
    with pytest.raises(Invalid, match="expected a FHIR Bundle"):
        read_bundle({"resourceType": "Patient"})
    bundle = PatientBundle().add({"resourceType": "MedicationUsage", "id": "x"}).build()
    with pytest.raises(Invalid, match=r"entry 1: unknown resourceType 'MedicationUsage'"):
        read_bundle(bundle)


def test_read_bundle_keeps_the_readers_clinical_refusals() -> None:
    with pytest.raises(Invalid, match=r"value -5 is impossible for egfr"):
        read_bundle(PatientBundle().egfr(-5).build())
    two = PatientBundle().add({"resourceType": "Patient", "id": "other"}).build()
    with pytest.raises(Invalid, match="2 Patient resources"):
        read_bundle(two)


@pytest.mark.parametrize(
    "bundle",
    [
        PatientBundle().add({"resourceType": "Encounter", "status": 42, "class": "AMB",
                             "period": {"start": "last tuesday"}}).build(),
        _with(PatientBundle().condition("Epilepsy"), "onsetDateTime", "since childhood"),
        _with(PatientBundle().medication("Baclofen"), "subject", "Patient/example"),
    ],
    ids=["Encounter with garbage fields", "Condition with a bad onsetDateTime",
         "MedicationStatement with a string subject"],
)
def test_read_bundle_accepts_invalid_fields_it_does_not_read_and_parse_bundle_refuses_them(
        bundle: dict[str, Any]) -> None:
    assert read_bundle(bundle).birth_date == date(1975, 3, 14)
    with pytest.raises(Invalid, match=r"^not valid FHIR R4: entry 1 "):
        parse_bundle(bundle)


def test_parse_bundle_refuses_a_number_written_as_a_string_that_r4b_alone_coerces() -> None:
    # R4B's lax validation turns "50" into 50; FHIR JSON writes decimals as numbers, and
    # both doors share the reader's type checks.
    bundle = _with(PatientBundle().egfr(50), "valueQuantity.value", "50")
    with pytest.raises(Invalid, match=r"entry 1 \(Observation\): valueQuantity.value: "
                                      r"expected a number"):
        parse_bundle(bundle)
