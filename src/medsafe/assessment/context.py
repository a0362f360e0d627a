"""Matches a `PatientRecord` against the knowledge base: the engine's normalised input.

Codes are tried first; a code the knowledge base does not know falls back to the text
and display names. A medicine, allergy or condition nobody recognises is kept in an
`unrecognised` list so the engine can say so (never dropped in silence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from medsafe.assessment.patient import (
    Concept,
    LabResult,
    PatientRecord,
    Preferences,
    Severity,
)
from medsafe.knowledge.catalog import Catalog, DrugIdentity, system_name
from medsafe.knowledge.model import HepaticState

# Upper limit of normal multiples: the tizanidine label summary uses ">3x ULN" for
# clinically significant aminotransferase rises; it is the conventional threshold.
TRANSAMINASE_ULN_MULTIPLE = 3.0
CHILD_PUGH_STATES: dict[str, HepaticState] = {
    "a": "child-pugh-a",
    "b": "child-pugh-b",
    "c": "child-pugh-c",
}


@dataclass(frozen=True, slots=True, eq=False)
class MatchedMedicine:
    """A recorded medicine and what it denotes. Compared by identity: `match_medicine`
    returns the same object for the same recorded concept, which makes it a cheap key
    for the memoised interaction findings."""

    label: str
    identities: tuple[DrugIdentity, ...]
    ingredients: frozenset[str]
    classes: frozenset[str]

    @classmethod
    def of(cls, label: str, identities: tuple[DrugIdentity, ...]) -> MatchedMedicine:
        classes: set[str] = set()
        for identity in identities:
            classes |= identity.classes
        return cls(label, identities,
                   frozenset(i.ingredient for i in identities if i.ingredient),
                   frozenset(classes))


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
    medicine_ingredients: frozenset[str]
    medicine_classes: frozenset[str]
    spastic: bool  # a cause of spasticity is on record


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


@lru_cache(maxsize=65_536)
def match_medicine(concept: Concept, catalog: Catalog) -> MatchedMedicine | None:
    """The medicine a recorded concept denotes, or None; memoised because the same
    medicines recur across patients."""
    identities = identify_drug(concept, catalog)
    if not identities:
        return None
    label = concept.label()
    if next(concept.texts(), None) is None:
        # Recorded by code alone: name it as a person would, keeping the code.
        coding = concept.codings[0]
        system = system_name(coding.system) or "code"
        label = f"{identities[0].name} ({system.upper() if system == 'ndc' else system} "\
                f"{coding.code})".replace("rxnorm", "RxNorm")
    return MatchedMedicine.of(label, identities)


@lru_cache(maxsize=16_384)
def identify_conditions(concept: Concept, catalog: Catalog) -> frozenset[str]:
    ids = {
        cid
        for coding in concept.codings
        if (cid := catalog.identify_condition_code(coding.system, coding.code)) is not None
    }
    if not ids:
        for text in concept.texts():
            ids.update(catalog.identify_condition_text(text))
    return frozenset(ids)


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
        matched = match_medicine(med.concept, catalog)
        if matched is not None:
            medicines.append(matched)
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
        medicine_ingredients=frozenset().union(*(m.ingredients for m in medicines)),
        medicine_classes=frozenset().union(*(m.classes for m in medicines)),
        spastic=any(catalog.conditions[c].spasticity for c in condition_ids),
    )


def clear_caches() -> None:
    match_medicine.cache_clear()
    identify_conditions.cache_clear()
