"""Reads one patient from a FHIR R4 Bundle into a `PatientRecord`.

Parsed with `fhir.resources.R4B` (R4-compatible; the package's default R5 models would
silently drop R4 medication fields). Every resource in the bundle is validated; resources
the engine does not use (Encounter, Practitioner, ...) are accepted and ignored.

Conventions medsafe reads (documented in the README):
- conditions: `Condition` (active ones), symptom severity in `Condition.severity`
  (mild / moderate / severe, by SNOMED code or by text);
- medicines: `MedicationStatement` and `MedicationRequest` with `medicationCodeableConcept`
  or `medicationReference` (contained, or another entry of the bundle);
- kidney and liver: `Observation` by LOINC code or by name (eGFR, creatinine clearance,
  serum creatinine, ALT, AST, bilirubin, Child-Pugh class);
- pregnancy: `Observation` LOINC 82810-3 (pregnancy status) or a pregnancy `Condition`;
- preferences: `Observation` with code system `urn:medsafe:patient-preference`, code
  `preferred-route` (value `oral` or `injection`) or `avoid-side-effect` (value: the side
  effect in words, e.g. "drowsiness"); symptom severity may also come as code
  `symptom-severity` with value mild / moderate / severe.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from medsafe.assessment.patient import (
    AllergyEntry,
    Coding,
    Concept,
    ConditionEntry,
    LabKind,
    LabResult,
    MedicationEntry,
    PatientRecord,
    Preferences,
    RoutePreference,
    Severity,
    implausibility,
)
from medsafe.errors import Invalid

PREFERENCE_SYSTEM = "urn:medsafe:patient-preference"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

# LOINC codes by kind. eGFR and creatinine codes are those listed in medsafe's reference
# notes (HL7 PDDI-CDS renal value set, HL7 CPG). The creatinine-clearance, ALT, AST,
# bilirubin and pregnancy-status codes are common LOINC codes not verified against a LOINC
# release here; text matching works without them.
LAB_CODES: dict[str, LabKind] = {
    "33914-3": "egfr", "48642-3": "egfr", "48643-1": "egfr", "50044-7": "egfr",
    "62238-1": "egfr", "98979-8": "egfr", "77147-7": "egfr", "76633-7": "egfr",
    "2164-2": "crcl", "35591-7": "crcl",
    "2160-0": "creatinine",
    "1742-6": "alt", "1920-8": "ast", "1975-2": "bilirubin",
}
LAB_WORDS: tuple[tuple[str, LabKind], ...] = (
    ("creatinine clearance", "crcl"),
    ("crcl", "crcl"),
    ("egfr", "egfr"),
    ("glomerular filtration", "egfr"),
    ("gfr", "egfr"),
    ("child-pugh", "child-pugh"),
    ("child pugh", "child-pugh"),
    ("alanine aminotransferase", "alt"),
    ("alt", "alt"),
    ("aspartate aminotransferase", "ast"),
    ("ast", "ast"),
    ("bilirubin", "bilirubin"),
    ("creatinine", "creatinine"),
)
PREGNANCY_STATUS_CODE = "82810-3"
SEVERITY_CODES: dict[str, Severity] = {"255604002": "mild", "6736007": "moderate",
                                        "24484000": "severe"}
INACTIVE_CONDITION = {"inactive", "remission", "resolved"}
REFUTED = {"refuted", "entered-in-error"}
MED_STATEMENT_CURRENT = {"active", "intended", "on-hold", "unknown"}
MED_REQUEST_CURRENT = {"active", "draft", "on-hold", "unknown"}
MAX_BUNDLE_BYTES = 5_000_000


def parse_bundle_text(text: str | bytes) -> PatientRecord:
    """Parse a JSON document; raise `Invalid` with a one-line reason when it is not a
    valid FHIR R4 Bundle about one patient."""
    if len(text) > MAX_BUNDLE_BYTES:
        raise Invalid(f"bundle is larger than {MAX_BUNDLE_BYTES:,} bytes")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise Invalid(f"not JSON: not UTF-8 text ({exc.reason})") from exc
    except RecursionError:
        raise Invalid("not JSON medsafe accepts: nested too deeply") from None
    return parse_bundle(document)


def parse_bundle(document: Any) -> PatientRecord:
    if not isinstance(document, dict):
        raise Invalid("not a FHIR resource: expected a JSON object")
    kind = document.get("resourceType")
    if kind != "Bundle":
        raise Invalid(f"expected a FHIR Bundle, got resourceType {kind!r}")
    _check_resource_types(document)
    try:
        bundle = Bundle.model_validate(document)
    except ValidationError as exc:
        raise Invalid(_describe(exc, document)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        # fhir.resources raises these for shapes its validators do not expect.
        raise Invalid(f"not valid FHIR R4: {_one_line(str(exc))}") from exc
    return _BundleReader(bundle).record()


def _check_resource_types(document: dict[str, Any]) -> None:
    """Every entry's resource must name an R4 resource type medsafe can parse."""
    entries = document.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        raise Invalid("not valid FHIR R4: Bundle: entry: expected a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise Invalid(f"not valid FHIR R4: entry {index}: expected an object")
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict):
            raise Invalid(f"not valid FHIR R4: entry {index}: resource: expected an object")
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not _is_resource_type(kind):
            raise Invalid(f"not valid FHIR R4: entry {index}: unknown resourceType {kind!r}")


@cache
def _is_resource_type(kind: str) -> bool:
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError):
        return False
    return isinstance(model, type) and issubclass(model, Resource)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(exc: ValidationError, document: dict[str, Any]) -> str:
    first = exc.errors()[0]
    loc = list(first["loc"])
    where = "Bundle"
    if len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int) and loc[2] == "resource":
        index = loc[1]
        entries = document.get("entry") or []
        rtype = "resource"
        if index < len(entries) and isinstance(entries[index], dict):
            resource = entries[index].get("resource")
            if isinstance(resource, dict):
                rtype = str(resource.get("resourceType", "resource"))
        where = f"entry {index} ({rtype})"
        loc = loc[3:]
    field = ".".join(str(part) for part in loc) or "(resource)"
    message = _one_line(str(first["msg"]).removeprefix("Value error, "))
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"not valid FHIR R4: {where}: {field}: {message}{more}"


def _concept(cc: CodeableConcept | None) -> Concept:
    if cc is None:
        return Concept()
    codings = tuple(
        Coding(system=c.system, code=c.code, display=c.display) for c in (cc.coding or [])
    )
    return Concept(codings=codings, text=cc.text)


def _code(cc: CodeableConcept | None) -> str:
    if cc is None or not cc.coding:
        return ""
    return str(cc.coding[0].code or "")


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


class _BundleReader:
    def __init__(self, bundle: Bundle) -> None:
        # Typed as Any: R4B's Bundle.entry.resource is the abstract Resource; each branch
        # below reads the fields of the concrete type it has just checked.
        self.resources: list[Any] = [
            e.resource for e in (bundle.entry or []) if e.resource is not None
        ]
        self.by_reference: dict[str, Any] = {}
        for entry in bundle.entry or []:
            resource = entry.resource
            if resource is None:
                continue
            rtype = resource.get_resource_type()
            if resource.id:
                self.by_reference[f"{rtype}/{resource.id}"] = resource
            if entry.fullUrl:
                self.by_reference[str(entry.fullUrl)] = resource

    def record(self) -> PatientRecord:
        patients = [r for r in self.resources if r.get_resource_type() == "Patient"]
        if len(patients) > 1:
            raise Invalid(f"the bundle holds {len(patients)} Patient resources; send one patient")
        patient = patients[0] if patients else None
        conditions: list[ConditionEntry] = []
        medications: list[MedicationEntry] = []
        allergies: list[AllergyEntry] = []
        labs: list[LabResult] = []
        pregnant: bool | None = None
        route: RoutePreference | None = None
        avoid: list[str] = []
        severity: Severity | None = None
        for index, resource in enumerate(self.resources):
            rtype = resource.get_resource_type()
            if rtype == "Condition":
                entry = self._condition(resource)
                if entry is not None:
                    conditions.append(entry)
            elif rtype == "MedicationStatement":
                med = self._medication(resource, "statement", MED_STATEMENT_CURRENT)
                if med is not None:
                    medications.append(med)
            elif rtype == "MedicationRequest":
                med = self._medication(resource, "request", MED_REQUEST_CURRENT)
                if med is not None:
                    medications.append(med)
            elif rtype == "AllergyIntolerance":
                allergy = self._allergy(resource)
                if allergy is not None:
                    allergies.append(allergy)
            elif rtype == "Observation":
                if resource.status in ("entered-in-error", "cancelled"):
                    continue
                pref_code = self._preference_code(resource)
                if pref_code is not None:
                    value = self._value_text(resource).strip().lower()
                    where = f"entry {index} (Observation {pref_code})"
                    if pref_code == "preferred-route":
                        route = _route(value, where)
                    elif pref_code == "avoid-side-effect":
                        if not value:
                            raise Invalid(f"{where}: give the side effect in valueString")
                        avoid.append(value)
                    elif pref_code == "symptom-severity":
                        severity = _severity(value, where)
                    else:
                        raise Invalid(f"{where}: unknown preference code '{pref_code}' "
                                      f"(use preferred-route, avoid-side-effect, symptom-severity)")
                    continue
                if self._is_pregnancy_status(resource):
                    text = self._value_text(resource).lower()
                    if text:
                        pregnant = "not pregnant" not in text and "pregnant" in text
                    continue
                lab = self._lab(resource, index)
                if lab is not None:
                    labs.append(lab)
        birth = _day(patient.birthDate) if patient is not None else None
        return PatientRecord(
            id=patient.id if patient is not None else None,
            birth_date=birth,
            sex=patient.gender if patient is not None else None,
            conditions=tuple(conditions),
            medications=tuple(medications),
            allergies=tuple(allergies),
            labs=tuple(labs),
            pregnant=pregnant,
            preferences=Preferences(route=route, avoid_side_effects=tuple(avoid)),
            symptom_severity=severity,
        )

    def _condition(self, resource: Any) -> ConditionEntry | None:
        if _code(resource.clinicalStatus) in INACTIVE_CONDITION:
            return None
        if _code(resource.verificationStatus) in REFUTED:
            return None
        severity: Severity | None = None
        if resource.severity is not None:
            code = _code(resource.severity)
            severity = SEVERITY_CODES.get(code)
            if severity is None:
                words = " ".join(_concept(resource.severity).texts()).lower()
                for candidate in SEVERITY_CODES.values():
                    if candidate in words:
                        severity = candidate
        return ConditionEntry(concept=_concept(resource.code), severity=severity)

    def _medication(self, resource: Any, source: str, current: set[str]
                    ) -> MedicationEntry | None:
        if resource.status not in current:
            return None
        concept = self._medication_concept(resource)
        dose = None
        dosage = getattr(resource, "dosage", None) or getattr(resource, "dosageInstruction", None)
        if dosage:
            dose = dosage[0].text
        return MedicationEntry(concept=concept, source=source,  # type: ignore[arg-type]
                               status=resource.status, dose_text=dose)

    def _medication_concept(self, resource: Any) -> Concept:
        if resource.medicationCodeableConcept is not None:
            return _concept(resource.medicationCodeableConcept)
        reference = resource.medicationReference
        if reference is None:
            return Concept()
        ref = str(reference.reference or "")
        target = None
        if ref.startswith("#"):
            for contained in resource.contained or []:
                if contained.id == ref[1:]:
                    target = contained
        else:
            target = self.by_reference.get(ref)
        if target is not None and target.get_resource_type() == "Medication":
            concept = _concept(target.code)
            if concept.codings or concept.text:
                return concept
        # An unresolvable reference keeps its display so the engine can name it.
        return Concept(text=reference.display or (f"unresolved medication reference {ref}"
                                                   if ref else None))

    def _allergy(self, resource: Any) -> AllergyEntry | None:
        if _code(resource.clinicalStatus) in {"inactive", "resolved"}:
            return None
        if _code(resource.verificationStatus) in REFUTED:
            return None
        reactions: list[str] = []
        for reaction in resource.reaction or []:
            for manifestation in reaction.manifestation or []:
                reactions.extend(_concept(manifestation).texts())
        return AllergyEntry(concept=_concept(resource.code), reactions=tuple(reactions),
                            criticality=resource.criticality)

    @staticmethod
    def _preference_code(resource: Any) -> str | None:
        for coding in (resource.code.coding or []) if resource.code else []:
            if coding.system == PREFERENCE_SYSTEM:
                return str(coding.code)
        return None

    @staticmethod
    def _is_pregnancy_status(resource: Any) -> bool:
        concept = _concept(resource.code)
        if any(c.code == PREGNANCY_STATUS_CODE for c in concept.codings):
            return True
        return any("pregnancy status" in t.lower() for t in concept.texts())

    @staticmethod
    def _value_text(resource: Any) -> str:
        if resource.valueString is not None:
            return str(resource.valueString)
        if resource.valueCodeableConcept is not None:
            concept = _concept(resource.valueCodeableConcept)
            parts = list(concept.texts()) + [c.code for c in concept.codings if c.code]
            return " ".join(parts)
        if resource.valueBoolean is not None:
            return "pregnant" if resource.valueBoolean else "not pregnant"
        return ""

    def _lab(self, resource: Any, index: int) -> LabResult | None:
        kind = _lab_kind(_concept(resource.code))
        if kind is None:
            return None
        effective = _day(resource.effectiveDateTime) or _day(resource.issued)
        where = f"entry {index} (Observation {kind})"
        if kind == "child-pugh":
            # Only the class (A, B or C) is read: turning a score into a class is a
            # clinical rule medsafe does not hold with a cited source yet.
            category = self._value_text(resource).strip().upper()
            if category[-1:] not in ("A", "B", "C"):
                raise Invalid(f"{where}: give the Child-Pugh class A, B or C as "
                              f"valueCodeableConcept or valueString, got '{category}'")
            return LabResult(kind=kind, value=None, category=category[-1:],
                             effective=effective)
        quantity = resource.valueQuantity
        if quantity is None or quantity.value is None:
            return None
        value = float(quantity.value)
        _check_range(kind, value, where)
        upper = None
        for reference_range in resource.referenceRange or []:
            if reference_range.high is not None and reference_range.high.value is not None:
                upper = float(reference_range.high.value)
        return LabResult(kind=kind, value=value, unit=quantity.unit or quantity.code,
                         upper_limit=upper, effective=effective)


def _lab_kind(concept: Concept) -> LabKind | None:
    for coding in concept.codings:
        if coding.system == LOINC and coding.code in LAB_CODES:
            return LAB_CODES[coding.code]
    words = " ".join(concept.texts()).lower()
    padded = f" {words.replace(',', ' ').replace('(', ' ').replace(')', ' ')} "
    for phrase, kind in LAB_WORDS:
        if f" {phrase} " in padded or (" " in phrase and phrase in words):
            return kind
    return None


def _check_range(kind: LabKind, value: float, where: str) -> None:
    problem = implausibility(kind, value)
    if problem is not None:
        raise Invalid(f"{where}: value {problem}")


def _route(value: str, where: str) -> RoutePreference:
    if value in ("oral", "by mouth", "tablet"):
        return "oral"
    if value in ("injection", "injected", "intrathecal", "intramuscular"):
        return "injection"
    raise Invalid(f"{where}: preferred route must be 'oral' or 'injection', got '{value}'")


def _severity(value: str, where: str) -> Severity:
    for severity in SEVERITY_CODES.values():
        if severity in value.split():
            return severity
    raise Invalid(f"{where}: symptom severity must be mild, moderate or severe, got '{value}'")
