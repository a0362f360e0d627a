"""One patient as the assessment engine sees it, before any matching to the knowledge base.

These are plain immutable values. `medsafe.interop.fhir.patient_bundle` builds them from a
FHIR R4 Bundle; the platform will build them from stored records. Nothing here knows
about FHIR or the database, so the engine can be tested with plain constructors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Severity = Literal["mild", "moderate", "severe"]
RoutePreference = Literal["oral", "injection"]
LabKind = Literal["egfr", "crcl", "creatinine", "alt", "ast", "bilirubin", "child-pugh"]
MedicationSource = Literal["statement", "request"]


# The ranges outside which a value cannot be a real measurement of that kind. Every door
# a measurement comes in by (a FHIR bundle, the records API) checks it against these.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "egfr": (0.0, 250.0),
    "crcl": (0.0, 300.0),
    "creatinine": (0.0, 50.0),
    "alt": (0.0, 100_000.0),
    "ast": (0.0, 100_000.0),
    "bilirubin": (0.0, 1_000.0),
}


def implausibility(kind: str, value: float) -> str | None:
    """Why `value` cannot be a real `kind` measurement, or None when it can be."""
    low, high = PLAUSIBLE[kind]
    if low <= value <= high:
        return None
    return f"{value:g} is impossible for {kind} (expected {low:g} to {high:g})"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Concept:
    """A coded concept with its text, as FHIR's CodeableConcept carries it."""

    codings: tuple[Coding, ...] = ()
    text: str | None = None

    def texts(self) -> Iterator[str]:
        """The human-readable names: the text first, then each coding's display."""
        if self.text:
            yield self.text
        for coding in self.codings:
            if coding.display:
                yield coding.display

    def label(self) -> str:
        """The best single name for messages."""
        for text in self.texts():
            return text
        for coding in self.codings:
            if coding.code:
                return f"{coding.system or 'code'}|{coding.code}"
        return "(unnamed)"


@dataclass(frozen=True, slots=True)
class ConditionEntry:
    concept: Concept
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class MedicationEntry:
    concept: Concept
    source: MedicationSource = "statement"
    status: str | None = None
    dose_text: str | None = None


@dataclass(frozen=True, slots=True)
class AllergyEntry:
    concept: Concept
    reactions: tuple[str, ...] = ()
    criticality: str | None = None


@dataclass(frozen=True, slots=True)
class LabResult:
    """A measurement. `upper_limit` is the reference range's high end (for ALT/AST,
    the upper limit of normal); `category` holds a coded answer such as Child-Pugh 'B'."""

    kind: LabKind
    value: float | None
    unit: str | None = None
    upper_limit: float | None = None
    category: str | None = None
    effective: date | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the patient asked for: a route, and side effects they want to avoid."""

    route: RoutePreference | None = None
    avoid_side_effects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    conditions: tuple[ConditionEntry, ...] = ()
    medications: tuple[MedicationEntry, ...] = ()
    allergies: tuple[AllergyEntry, ...] = ()
    labs: tuple[LabResult, ...] = ()
    pregnant: bool | None = None
    preferences: Preferences = field(default_factory=Preferences)
    symptom_severity: Severity | None = None

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years
