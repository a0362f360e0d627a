"""The adverse-event case, modelled on ICH E2B(R3) (pure: no framework, no I/O).

A `CaseReport` is one *version* of an individual case safety report: what one sender
said at one time. Versions of the same case share the worldwide unique case id
(E2B C.1.8.1); the store keeps every version and the rules in `cases.rules` decide which
one counts. Field comments name the E2B(R3) element each field carries, so the E2B,
FHIR, FAERS and VAERS adapters map to one vocabulary.

Coded values are words here (`"suspect"`, not `1`); the E2B codes live in the E2B
adapter. Dates that senders often give only in part (onset "2003") are `PartialDate`
text; the dates the regulatory clock runs on (C.1.4, C.1.5) are full days.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

TEXT = 2000
"""Default bound of a free-text field; the narrative has E2B's own (H.1, 100,000)."""


def _partial_date(value: str) -> str:
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        raise ValueError("expected YYYY, YYYY-MM or YYYY-MM-DD")
    parts = [int(p) for p in value.split("-")]
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        raise ValueError(f"month {parts[1]} out of range")
    if len(parts) == 3:
        date(*parts)  # raises ValueError for 2023-02-30
    return value


PartialDate = Annotated[str, AfterValidator(_partial_date)]
"""A date as precise as the sender gave it: "2003", "2003-11" or "2003-11-15"."""


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class CaseModel(BaseModel):
    """Immutable; unknown fields refused; text free of control characters (no database
    stores NUL, and none is ever meant), so every adapter gets the same checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _printable(self) -> Any:
        # One pass per model, over its text only: a FAERS quarter builds millions.
        for name, value in self.__dict__.items():
            if value.__class__ is str:
                if CONTROL.search(value):
                    raise ValueError(f"{name} contains a control character")
            elif value.__class__ is tuple:
                for text in value:
                    if text.__class__ is str and CONTROL.search(text):
                        raise ValueError(f"{name} contains a control character")
        return self


class Coded(CaseModel):
    """A coded term with the terminology it comes from (E.i.2.1b, D.7.1.r.1b …). Every
    code keeps its terminology's name and version, so a term coded in MedDRA 25.0 is never
    confused with one from a later version or from medsafe's lay lexicon."""

    term: str = Field(min_length=1, max_length=250)
    code: str | None = Field(default=None, max_length=40)
    terminology: str = Field(min_length=1, max_length=80,
                             description="e.g. 'MedDRA', 'FAERS preferred term'")
    version: str | None = Field(default=None, max_length=20)


ReportType = Literal["spontaneous", "study", "other", "unknown"]  # C.1.3
Qualification = Literal["physician", "pharmacist", "other_health_professional", "lawyer",
                        "consumer"]  # C.2.r.4
HEALTH_PROFESSIONALS: frozenset[str] = frozenset(
    {"physician", "pharmacist", "other_health_professional"})
Sex = Literal["male", "female", "unknown"]  # D.5
AgeUnit = Literal["year", "month", "week", "day", "hour", "decade"]  # D.2.2b
AgeGroup = Literal["foetus", "neonate", "infant", "child", "adolescent", "adult",
                   "elderly"]  # D.2.3
Outcome = Literal["recovered", "recovering", "not_recovered", "recovered_with_sequelae",
                  "fatal", "unknown"]  # E.i.7
DrugRole = Literal["suspect", "concomitant", "interacting", "not_administered"]  # G.k.1
ActionTaken = Literal["withdrawn", "dose_reduced", "dose_increased", "dose_not_changed",
                      "unknown", "not_applicable"]  # G.k.8
Challenge = Literal["positive", "negative", "unknown", "not_applicable"]
"""Dechallenge (FAERS `dechal`) and rechallenge (G.k.9.i.4, FAERS `rechal`): positive means
the reaction abated on withdrawal, or recurred on re-administration."""
SUSPECT_ROLES: frozenset[str] = frozenset({"suspect", "interacting"})


class PrimarySource(CaseModel):
    """C.2.r: a person who reported the case. Any one of name, organisation or
    qualification makes the reporter identifiable (GVP VI.B.2), and so does `withheld`:
    the sender knows the reporter but masks them (E2B nullFlavor MSK), as public VAERS
    and FAERS files do."""

    given_name: str | None = Field(default=None, max_length=60)  # C.2.r.1.2
    family_name: str | None = Field(default=None, max_length=60)  # C.2.r.1.4
    organisation: str | None = Field(default=None, max_length=100)  # C.2.r.2.1
    qualification: Qualification | None = None  # C.2.r.4
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # C.2.r.3
    regulatory: bool = False  # C.2.r.5: primary source for regulatory purposes
    withheld: bool = False  # C.2.r.1: name masked (nullFlavor MSK) by the sender

    @property
    def identifiable(self) -> bool:
        return bool(self.given_name or self.family_name or self.organisation
                    or self.qualification or self.withheld)


class PatientInfo(CaseModel):
    """D: the patient, as the report describes them (never our patient record)."""

    initials: str | None = Field(default=None, max_length=60)  # D.1
    age: float | None = Field(default=None, ge=0, le=200)  # D.2.2a
    age_unit: AgeUnit | None = None  # D.2.2b
    age_group: AgeGroup | None = None  # D.2.3
    sex: Sex | None = None  # D.5
    weight_kg: float | None = Field(default=None, gt=0, le=700)  # D.3
    height_cm: float | None = Field(default=None, gt=0, le=300)  # D.4
    birth_date: PartialDate | None = None  # D.2.1
    medical_history: tuple[Coded, ...] = ()  # D.7.1.r
    medical_history_text: str | None = Field(default=None, max_length=10000)  # D.7.2
    died_on: PartialDate | None = None  # D.9.1

    @property
    def identifiable(self) -> bool:
        """E2D: initials, age or age group, sex, date of birth, or another identifier."""
        return bool(self.initials or self.age is not None or self.age_group or self.sex
                    in ("male", "female") or self.birth_date)

    def age_in_years(self) -> float | None:
        if self.age is None or self.age_unit is None:
            return None
        per_year = {"year": 1.0, "decade": 0.1, "month": 12.0, "week": 52.1775,
                    "day": 365.25, "hour": 8766.0}[self.age_unit]
        return self.age / per_year


class Seriousness(CaseModel):
    """E.i.3.2a–f, and FDA's E.i.3.2h (required intervention)."""

    death: bool = False
    life_threatening: bool = False
    hospitalisation: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    other_medically_important: bool = False
    required_intervention: bool = False

    def criteria(self) -> tuple[str, ...]:
        return tuple(name for name, value in self if value)

    @property
    def serious(self) -> bool:
        return any(value for _, value in self)


class Reaction(CaseModel):
    """E.i: one reaction or event."""

    id: str = Field(min_length=1, max_length=40, description="unique within the case")
    verbatim: str = Field(min_length=1, max_length=250)  # E.i.1.1a
    coded: Coded | None = None  # E.i.2.1
    start: PartialDate | None = None  # E.i.4
    end: PartialDate | None = None  # E.i.5
    seriousness: Seriousness = Seriousness()  # E.i.3.2
    outcome: Outcome = "unknown"  # E.i.7
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # E.i.9

    @property
    def term(self) -> str:
        """The coded term when there is one, else the reporter's words."""
        return self.coded.term if self.coded else self.verbatim


class Drug(CaseModel):
    """G.k: one drug."""

    id: str = Field(min_length=1, max_length=40, description="unique within the case")
    role: DrugRole  # G.k.1
    product_name: str = Field(min_length=1, max_length=250)  # G.k.2.2
    substances: tuple[str, ...] = ()  # G.k.2.3.r.1
    ingredient_id: str | None = Field(default=None, max_length=60,
                                      description="knowledge-base ingredient, if recognised")
    product_id: int | None = Field(default=None, ge=1, description="medsafe product")
    ndc: str | None = Field(default=None, max_length=20)
    manufacturer: str | None = Field(default=None, max_length=100)  # G.k.3.3
    lot_numbers: tuple[str, ...] = ()  # G.k.4.r.7
    dose_text: str | None = Field(default=None, max_length=TEXT)  # G.k.4.r.8
    dose_value: float | None = Field(default=None, ge=0)  # G.k.4.r.1a
    dose_unit: str | None = Field(default=None, max_length=50)  # G.k.4.r.1b
    route: str | None = Field(default=None, max_length=60)  # G.k.4.r.10
    start: PartialDate | None = None  # G.k.4.r.4
    end: PartialDate | None = None  # G.k.4.r.5
    indication: str | None = Field(default=None, max_length=250)  # G.k.7.r
    action_taken: ActionTaken | None = None  # G.k.8
    dechallenge: Challenge | None = None
    rechallenge: Challenge | None = None  # G.k.9.i.4

    @property
    def is_suspect(self) -> bool:
        return self.role in SUSPECT_ROLES


class Causality(CaseModel):
    """G.k.9.i.2.r: one assessment of one drug against one reaction."""

    drug_id: str
    reaction_id: str
    source: str = Field(max_length=60)  # G.k.9.i.2.r.1
    method: str = Field(max_length=60)  # G.k.9.i.2.r.2
    result: str = Field(max_length=60)  # G.k.9.i.2.r.3


class CaseReport(CaseModel):
    """One version of an individual case safety report."""

    sender_report_id: str = Field(min_length=1, max_length=100)  # C.1.1
    worldwide_id: str = Field(min_length=1, max_length=100)  # C.1.8.1
    report_type: ReportType = "spontaneous"  # C.1.3
    first_received: date  # C.1.4
    latest_received: date  # C.1.5
    sender_organisation: str | None = Field(default=None, max_length=100)  # C.3.3.1
    occurrence_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # E.i.9
    other_case_ids: tuple[str, ...] = ()  # C.1.9.1.r.2: ids the case had elsewhere
    linked_reports: tuple[str, ...] = ()  # C.1.10.r
    nullification: Literal["nullified", "amended"] | None = None  # C.1.11.1
    nullification_reason: str | None = Field(default=None, max_length=TEXT)  # C.1.11.2
    primary_sources: tuple[PrimarySource, ...] = ()
    patient: PatientInfo = PatientInfo()
    reactions: tuple[Reaction, ...] = ()
    drugs: tuple[Drug, ...] = ()
    causality: tuple[Causality, ...] = ()
    narrative: str | None = Field(default=None, max_length=100_000)  # H.1
    sender_comment: str | None = Field(default=None, max_length=TEXT)  # H.4
    sender_diagnosis: str | None = Field(default=None, max_length=TEXT)  # H.3

    @property
    def suspects(self) -> tuple[Drug, ...]:
        return tuple(d for d in self.drugs if d.is_suspect)

    @property
    def serious(self) -> bool:
        return any(r.seriousness.serious for r in self.reactions)

    @property
    def nullified(self) -> bool:
        return self.nullification == "nullified"

    def reporter_qualification(self) -> Qualification:
        """The regulatory primary source's qualification; a report without one is a
        consumer report (GVP VI.B.2 via the reference notes)."""
        sources = sorted(self.primary_sources, key=lambda s: not s.regulatory)
        for source in sources:
            if source.qualification is not None:
                return source.qualification
        return "consumer"
