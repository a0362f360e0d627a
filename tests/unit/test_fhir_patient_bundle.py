"""Reading one patient out of a FHIR R4 Bundle, and refusing what is not one."""

from __future__ import annotations

import json
from datetime import date

import pytest

from medsafe.errors import Invalid
from medsafe.interop.fhir.patient_bundle import parse_bundle, parse_bundle_text
from tests.support.fhir_builder import PatientBundle


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
