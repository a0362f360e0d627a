"""Matches a `PatientRecord` against the knowledge base: the engine's normalised input.

Codes are tried first; a code the knowledge base does not know falls back to the text
and display names. A medicine, allergy or condition nobody recognises is kept in an
`unrecognised` list so the engine can say so (never dropped in silence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from medsafe.assessment.patient import (
    Concept,
    LabResult,
    PatientRecord,
    Preferences,
    Severity,
)
from medsafe.knowledge.catalog import Catalog, DrugIdentity
from medsafe.knowledge.model import HepaticState

# Upper limit of normal multiples: the tizanidine label summary uses ">3x ULN" for
# clinically significant aminotransferase rises; it is the conventional threshold.
TRANSAMINASE_ULN_MULTIPLE = 3.0
CHILD_PUGH_STATES: dict[str, HepaticState] = {
    "a": "child-pugh-a",
    "b": "child-pugh-b",
    "c": "child-pugh-c",
}


@dataclass(frozen=True, slots=True)
class MatchedMedicine:
    label: str
    identities: tuple[DrugIdentity, ...]

    @property
    def ingredients(self) -> frozenset[str]:
        return frozenset(i.ingredient for i in self.identities if i.ingredient)

    @property
    def classes(self) -> frozenset[str]:
        result: set[str] = set()
        for identity in self.identities:
            result |= identity.classes
        return frozenset(result)


@dataclass(frozen=True, slots=True)
class KidneyFunction:
    value: float  # mL/min (per 1.73 m2 for eGFR)
    measure: str  # "egfr" or "crcl"
    on_dialysis: bool = False


@dataclass(frozen=True, slots=True)
class PatientContext:
    record: PatientRecord
    age: int | None
    condition_ids: frozenset[str]
    medicines: tuple[MatchedMedicine, ...]
    unrecognised_medicines: tuple[str, ...]
    allergy_ingredients: frozenset[str]
    allergy_classes: frozenset[str]
    allergy_labels: dict[str, str]  # ingredient or class id -> how the record names it
    unrecognised_allergies: tuple[str, ...]
    kidney: KidneyFunction | None
    on_dialysis: bool
    creatinine_only: bool
    hepatic_states: frozenset[HepaticState]
    liver_tests_on_record: bool
    pregnant: bool | None
    preferences: Preferences
    severity: Severity | None

    @property
    def medicine_ingredients(self) -> frozenset[str]:
        result: set[str] = set()
        for medicine in self.medicines:
            result |= medicine.ingredients
        return frozenset(result)

    @property
    def medicine_classes(self) -> frozenset[str]:
        result: set[str] = set()
        for medicine in self.medicines:
            result |= medicine.classes
        return frozenset(result)


def identify_drug(concept: Concept, catalog: Catalog) -> tuple[DrugIdentity, ...]:
    """Codes first; when no code is known, every name the concept carries."""
    by_code = [
        identity
        for coding in concept.codings
        if (identity := catalog.identify_drug_code(coding.system, coding.code)) is not None
    ]
    if by_code:
        return tuple(by_code)
    found: list[DrugIdentity] = []
    for text in concept.texts():
        found.extend(catalog.identify_drug_text(text))
        if found:
            break
    return tuple(found)


def identify_conditions(concept: Concept, catalog: Catalog) -> set[str]:
    ids = {
        cid
        for coding in concept.codings
        if (cid := catalog.identify_condition_code(coding.system, coding.code)) is not None
    }
    if ids:
        return ids
    for text in concept.texts():
        ids.update(catalog.identify_condition_text(text))
    return ids


def _kidney(labs: tuple[LabResult, ...], dialysis: bool) -> tuple[KidneyFunction | None, bool]:
    """The most recent eGFR or CrCl; True as second value when only creatinine is known."""
    usable = [lab for lab in labs if lab.kind in ("egfr", "crcl") and lab.value is not None]
    if usable:
        latest = max(usable, key=lambda lab: lab.effective or date.min)
        assert latest.value is not None
        return KidneyFunction(latest.value, latest.kind, dialysis), False
    creatinine = any(lab.kind == "creatinine" for lab in labs)
    return None, creatinine


def _hepatic(labs: tuple[LabResult, ...], condition_ids: set[str], catalog: Catalog
             ) -> tuple[frozenset[HepaticState], bool]:
    states: set[HepaticState] = set()
    for cid in condition_ids:
        state = catalog.conditions[cid].hepatic_state
        if state:
            states.add(state)
    tests = False
    for lab in labs:
        if lab.kind in ("alt", "ast", "bilirubin", "child-pugh"):
            tests = True
        if (lab.kind in ("alt", "ast") and lab.value is not None and lab.upper_limit
                and lab.value > TRANSAMINASE_ULN_MULTIPLE * lab.upper_limit):
            states.add("transaminases-over-3x-uln")
        if lab.kind == "child-pugh" and lab.category:
            state = CHILD_PUGH_STATES.get(lab.category.strip().lower()[-1:])
            if state:
                states.add(state)
    return frozenset(states), tests


SEVERITY_ORDER: dict[Severity, int] = {"mild": 0, "moderate": 1, "severe": 2}


def _worst_condition_severity(record: PatientRecord) -> Severity | None:
    severities = [c.severity for c in record.conditions if c.severity is not None]
    if not severities:
        return None
    return max(severities, key=SEVERITY_ORDER.__getitem__)


def build_context(record: PatientRecord, catalog: Catalog, today: date) -> PatientContext:
    condition_ids: set[str] = set()
    for entry in record.conditions:
        condition_ids |= identify_conditions(entry.concept, catalog)
    if record.pregnant:
        condition_ids.add("pregnancy")
    pregnant = record.pregnant
    if pregnant is None and "pregnancy" in condition_ids:
        pregnant = True

    medicines: list[MatchedMedicine] = []
    unrecognised: list[str] = []
    for med in record.medications:
        identities = identify_drug(med.concept, catalog)
        if identities:
            medicines.append(MatchedMedicine(med.concept.label(), identities))
        else:
            unrecognised.append(med.concept.label())

    allergy_ingredients: set[str] = set()
    allergy_classes: set[str] = set()
    allergy_labels: dict[str, str] = {}
    unrecognised_allergies: list[str] = []
    for allergy in record.allergies:
        identities = identify_drug(allergy.concept, catalog)
        if not identities:
            unrecognised_allergies.append(allergy.concept.label())
        for identity in identities:
            if identity.ingredient:
                allergy_ingredients.add(identity.ingredient)
                allergy_labels[identity.ingredient] = allergy.concept.label()
            if identity.named_class:
                allergy_classes.add(identity.named_class)
                allergy_labels[identity.named_class] = allergy.concept.label()

    dialysis = "kidney-failure-dialysis" in condition_ids
    kidney, creatinine_only = _kidney(record.labs, dialysis)
    hepatic_states, liver_tests = _hepatic(record.labs, condition_ids, catalog)
    severity = record.symptom_severity or _worst_condition_severity(record)
    return PatientContext(
        record=record,
        age=record.age_on(today),
        condition_ids=frozenset(condition_ids),
        medicines=tuple(medicines),
        unrecognised_medicines=tuple(unrecognised),
        allergy_ingredients=frozenset(allergy_ingredients),
        allergy_classes=frozenset(allergy_classes),
        allergy_labels=allergy_labels,
        unrecognised_allergies=tuple(unrecognised_allergies),
        kidney=kidney,
        on_dialysis=dialysis,
        creatinine_only=creatinine_only,
        hepatic_states=hepatic_states,
        liver_tests_on_record=liver_tests,
        pregnant=pregnant,
        preferences=record.preferences,
        severity=severity,
    )
