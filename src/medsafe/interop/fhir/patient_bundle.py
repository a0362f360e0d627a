"""Reads one patient from a FHIR R4 Bundle into a `PatientRecord`.

Two doors, one reader (`_BundleReader`, over the bundle's plain JSON):
- `parse_bundle` (and `parse_bundle_text`), for bundles users upload (`medsafe assess
  --fhir`, the API): every resource in the bundle is validated with `fhir.resources.R4B`
  (R4-compatible; the package's default R5 models would silently drop R4 medication
  fields), then read.
- `read_bundle`, for the CDS Hooks service: the data is prefetched from (or read from)
  an authenticated EHR on a latency-bound path, where the R4B validation of the whole
  bundle costs a large share of a request. It checks the bundle's shape and that every
  resource type is an R4 one, then reads; fields medsafe does not read are not validated.
Either way every field the reader reads is type-checked as it is read: a wrong type is
refused with `Invalid` naming the entry, resource type and field. Resources the engine
does not use (Encounter, Practitioner, ...) are accepted and ignored.

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
import math
import re
from datetime import date
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
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
    MedicationSource,
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
    """A bundle uploaded by a user: every resource validated with R4B, then read."""
    _check_shape(document)
    try:
        Bundle.model_validate(document)
    except ValidationError as exc:
        raise Invalid(_describe(exc, document)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        # fhir.resources raises these for shapes its validators do not expect.
        raise Invalid(f"not valid FHIR R4: {_one_line(str(exc))}") from exc
    return _BundleReader(document).record()


def read_bundle(document: Any) -> PatientRecord:
    """A bundle of an EHR's data on the CDS Hooks path: its shape and resource types
    checked, then read; only the fields medsafe reads are checked (as they are read)."""
    _check_shape(document)
    return _BundleReader(document).record()


def _check_shape(document: Any) -> None:
    if not isinstance(document, dict):
        raise Invalid("not a FHIR resource: expected a JSON object")
    kind = document.get("resourceType")
    if kind != "Bundle":
        raise Invalid(f"expected a FHIR Bundle, got resourceType {kind!r}")
    _check_resource_types(document)


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


# ------------------------------------------------------------------ typed access to JSON
# Each helper reads one field of a JSON object and checks its JSON type. The field's path
# is passed in pieces (`path` + `key`) and joined only when a message is needed: these
# run for every field of every request on the CDS Hooks path.

class _At:
    """The bundle entry being read, to name it in a refusal."""

    __slots__ = ("index", "kind")

    def __init__(self, index: int, kind: str) -> None:
        self.index = index
        self.kind = kind

    def invalid(self, field: str, problem: str) -> Invalid:
        return Invalid(f"not valid FHIR R4: entry {self.index} ({self.kind}): "
                       f"{field}: {problem}")


def _text(obj: dict[str, Any], key: str, at: _At, path: str = "") -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise at.invalid(path + key, "expected a string")


def _required_text(obj: dict[str, Any], key: str, at: _At, path: str = "") -> str:
    # For 1..1 fields whose absence would change the reading (a medicine without a
    # status would be silently dropped), as R4B validation refuses them on uploads.
    value = _text(obj, key, at, path)
    if value is None:
        raise at.invalid(path + key, "required")
    return value


def _object(obj: dict[str, Any], key: str, at: _At, path: str = ""
            ) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise at.invalid(path + key, "expected an object")


def _list(obj: dict[str, Any], key: str, at: _At, path: str = "") -> list[Any]:
    """The field's list, or an empty one when it is absent."""
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise at.invalid(path + key, "expected a list")


def _objects(obj: dict[str, Any], key: str, at: _At, path: str = ""
             ) -> list[dict[str, Any]]:
    """A list of JSON objects (backbone elements, contained resources)."""
    items = _list(obj, key, at, path)
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise at.invalid(f"{path}{key}.{position}", "expected an object")
    return items


def _number(obj: dict[str, Any], key: str, at: _At, path: str = "") -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int in Python, not a number in JSON; NaN and infinities are no FHIR
    # decimals (Python's json reads the literals NaN and Infinity).
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise at.invalid(path + key, "expected a number")


def _boolean(obj: dict[str, Any], key: str, at: _At, path: str = "") -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise at.invalid(path + key, "expected true or false")


def _concept(obj: dict[str, Any], key: str, at: _At, path: str = "") -> Concept:
    """A CodeableConcept field; an empty Concept when it is absent."""
    value = obj.get(key)
    if value is None:
        return Concept()
    return _concept_value(value, at, path + key)


def _concept_value(value: Any, at: _At, field: str) -> Concept:
    if not isinstance(value, dict):
        raise at.invalid(field, "expected an object")
    prefix = field + "."
    codings = tuple(
        Coding(system=_text(coding, "system", at, f"{prefix}coding.{position}."),
               code=_text(coding, "code", at, f"{prefix}coding.{position}."),
               display=_text(coding, "display", at, f"{prefix}coding.{position}."))
        for position, coding in enumerate(_objects(value, "coding", at, prefix))
    )
    return Concept(codings=codings, text=_text(value, "text", at, prefix))


def _code(concept: Concept) -> str:
    if not concept.codings:
        return ""
    return concept.codings[0].code or ""


# FHIR R4 date and dateTime (instant is a dateTime with every part): a year, optionally
# a month and a day; a time only after a full date, then with seconds and a zone.
_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")
_DATE_TIME = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
                        r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?"
                        r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?")


def _day(obj: dict[str, Any], key: str, at: _At, pattern: re.Pattern[str] = _DATE_TIME
         ) -> date | None:
    """The calendar day of a date/dateTime/instant field, as written (its local day);
    None when it is absent or a partial date (a year, or a year and month)."""
    value = _text(obj, key, at)
    if value is None:
        return None
    if pattern.fullmatch(value):
        if len(value) < 10:
            return None
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass  # a day the month does not have (2026-02-30)
    kind = "date" if pattern is _DATE else "dateTime"
    raise at.invalid(key, f"expected a FHIR {kind}")


# --------------------------------------------------------------------------- the reader

class _BundleReader:
    """Reads the plain JSON of a bundle whose shape `_check_shape` has checked."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.resources: list[tuple[_At, dict[str, Any]]] = []
        # By `Type/id` and by fullUrl, with the entry each resource is in.
        self.by_reference: dict[str, tuple[_At, dict[str, Any]]] = {}
        for index, entry in enumerate(document.get("entry") or ()):
            resource = entry.get("resource")
            if resource is None:
                continue
            kind = resource["resourceType"]
            at = _At(index, kind)
            self.resources.append((at, resource))
            rid = _text(resource, "id", at)
            if rid:
                self.by_reference[f"{kind}/{rid}"] = (at, resource)
            full_url = entry.get("fullUrl")
            if full_url is not None and not isinstance(full_url, str):
                raise Invalid(f"not valid FHIR R4: entry {index}: fullUrl: expected a string")
            if full_url:
                self.by_reference[full_url] = (at, resource)

    def record(self) -> PatientRecord:
        patients = [(at, r) for at, r in self.resources if at.kind == "Patient"]
        if len(patients) > 1:
            raise Invalid(f"the bundle holds {len(patients)} Patient resources; send one patient")
        conditions: list[ConditionEntry] = []
        medications: list[MedicationEntry] = []
        allergies: list[AllergyEntry] = []
        facts = _ObservationFacts()
        for at, resource in self.resources:
            kind = at.kind
            if kind == "Condition":
                entry = _condition(resource, at)
                if entry is not None:
                    conditions.append(entry)
            elif kind == "MedicationStatement":
                med = self._medication(resource, at, "statement", MED_STATEMENT_CURRENT,
                                       "dosage")
                if med is not None:
                    medications.append(med)
            elif kind == "MedicationRequest":
                med = self._medication(resource, at, "request", MED_REQUEST_CURRENT,
                                       "dosageInstruction")
                if med is not None:
                    medications.append(med)
            elif kind == "AllergyIntolerance":
                allergy = _allergy(resource, at)
                if allergy is not None:
                    allergies.append(allergy)
            elif kind == "Observation":
                facts.read(resource, at)
        patient_id = sex = None
        birth = None
        if patients:
            at, patient = patients[0]
            patient_id = _text(patient, "id", at)
            sex = _text(patient, "gender", at)
            birth = _day(patient, "birthDate", at, _DATE)
        return PatientRecord(
            id=patient_id,
            birth_date=birth,
            sex=sex,
            conditions=tuple(conditions),
            medications=tuple(medications),
            allergies=tuple(allergies),
            labs=tuple(facts.labs),
            pregnant=facts.pregnant,
            preferences=Preferences(route=facts.route, avoid_side_effects=tuple(facts.avoid)),
            symptom_severity=facts.severity,
        )

    def _medication(self, resource: dict[str, Any], at: _At, source: MedicationSource,
                    current: set[str], dosage_field: str) -> MedicationEntry | None:
        status = _required_text(resource, "status", at)
        if status not in current:
            return None
        concept = self._medication_concept(resource, at)
        dose = None
        dosage = _objects(resource, dosage_field, at)
        if dosage:
            dose = _text(dosage[0], "text", at, f"{dosage_field}.0.")
        return MedicationEntry(concept=concept, source=source, status=status, dose_text=dose)

    def _medication_concept(self, resource: dict[str, Any], at: _At) -> Concept:
        if resource.get("medicationCodeableConcept") is not None:
            return _concept(resource, "medicationCodeableConcept", at)
        reference = _object(resource, "medicationReference", at)
        if reference is None:
            return Concept()
        ref = _text(reference, "reference", at, "medicationReference.") or ""
        display = _text(reference, "display", at, "medicationReference.")
        # A contained Medication is named by its place in this resource in a refusal, a
        # bundled one by its own entry.
        found: tuple[_At, dict[str, Any]] | None = None
        path = ""
        if ref.startswith("#"):
            for position, contained in enumerate(_objects(resource, "contained", at)):
                if _text(contained, "id", at, f"contained.{position}.") == ref[1:]:
                    found, path = (at, contained), f"contained.{position}."
        else:
            found = self.by_reference.get(ref)
        if found is not None and found[1].get("resourceType") == "Medication":
            concept = _concept(found[1], "code", found[0], path)
            if concept.codings or concept.text:
                return concept
        # An unresolvable reference keeps its display so the engine can name it.
        return Concept(text=display or (f"unresolved medication reference {ref}"
                                        if ref else None))


def _condition(resource: dict[str, Any], at: _At) -> ConditionEntry | None:
    if _code(_concept(resource, "clinicalStatus", at)) in INACTIVE_CONDITION:
        return None
    if _code(_concept(resource, "verificationStatus", at)) in REFUTED:
        return None
    severity: Severity | None = None
    if resource.get("severity") is not None:
        stated = _concept(resource, "severity", at)
        severity = SEVERITY_CODES.get(_code(stated))
        if severity is None:
            words = " ".join(stated.texts()).lower()
            for candidate in SEVERITY_CODES.values():
                if candidate in words:
                    severity = candidate
    return ConditionEntry(concept=_concept(resource, "code", at), severity=severity)


def _allergy(resource: dict[str, Any], at: _At) -> AllergyEntry | None:
    if _code(_concept(resource, "clinicalStatus", at)) in {"inactive", "resolved"}:
        return None
    if _code(_concept(resource, "verificationStatus", at)) in REFUTED:
        return None
    reactions: list[str] = []
    for position, reaction in enumerate(_objects(resource, "reaction", at)):
        prefix = f"reaction.{position}."
        for number, manifestation in enumerate(_list(reaction, "manifestation", at, prefix)):
            concept = _concept_value(manifestation, at, f"{prefix}manifestation.{number}")
            reactions.extend(concept.texts())
    return AllergyEntry(concept=_concept(resource, "code", at), reactions=tuple(reactions),
                        criticality=_text(resource, "criticality", at))


class _ObservationFacts:
    """What the bundle's Observations say: labs, pregnancy, the patient's preferences
    (a later Observation of the same preference wins, as the bundle is read in order)."""

    def __init__(self) -> None:
        self.labs: list[LabResult] = []
        self.pregnant: bool | None = None
        self.route: RoutePreference | None = None
        self.avoid: list[str] = []
        self.severity: Severity | None = None

    def read(self, resource: dict[str, Any], at: _At) -> None:
        if _required_text(resource, "status", at) in ("entered-in-error", "cancelled"):
            return
        code = _concept(resource, "code", at)
        pref_code = _preference_code(code)
        if pref_code is not None:
            self._preference(pref_code, _value_text(resource, at).strip().lower(),
                             f"entry {at.index} (Observation {pref_code})")
            return
        if _is_pregnancy_status(code):
            text = _value_text(resource, at).lower()
            if text:
                self.pregnant = "not pregnant" not in text and "pregnant" in text
            return
        lab = _lab(resource, at, code)
        if lab is not None:
            self.labs.append(lab)

    def _preference(self, pref_code: str, value: str, where: str) -> None:
        if pref_code == "preferred-route":
            self.route = _route(value, where)
        elif pref_code == "avoid-side-effect":
            if not value:
                raise Invalid(f"{where}: give the side effect in valueString")
            self.avoid.append(value)
        elif pref_code == "symptom-severity":
            self.severity = _severity(value, where)
        else:
            raise Invalid(f"{where}: unknown preference code '{pref_code}' "
                          f"(use preferred-route, avoid-side-effect, symptom-severity)")


def _preference_code(code: Concept) -> str | None:
    for coding in code.codings:
        if coding.system == PREFERENCE_SYSTEM:
            return str(coding.code)
    return None


def _is_pregnancy_status(code: Concept) -> bool:
    if any(c.code == PREGNANCY_STATUS_CODE for c in code.codings):
        return True
    return any("pregnancy status" in t.lower() for t in code.texts())


def _value_text(resource: dict[str, Any], at: _At) -> str:
    text = _text(resource, "valueString", at)
    if text is not None:
        return text
    if resource.get("valueCodeableConcept") is not None:
        concept = _concept(resource, "valueCodeableConcept", at)
        parts = list(concept.texts()) + [c.code for c in concept.codings if c.code]
        return " ".join(parts)
    yes = _boolean(resource, "valueBoolean", at)
    if yes is not None:
        return "pregnant" if yes else "not pregnant"
    return ""


def _lab(resource: dict[str, Any], at: _At, code: Concept) -> LabResult | None:
    kind = _lab_kind(code)
    if kind is None:
        return None
    effective = _day(resource, "effectiveDateTime", at) or _day(resource, "issued", at)
    where = f"entry {at.index} (Observation {kind})"
    if kind == "child-pugh":
        # Only the class (A, B or C) is read: turning a score into a class is a
        # clinical rule medsafe does not hold with a cited source yet.
        category = _value_text(resource, at).strip().upper()
        if category[-1:] not in ("A", "B", "C"):
            raise Invalid(f"{where}: give the Child-Pugh class A, B or C as "
                          f"valueCodeableConcept or valueString, got '{category}'")
        return LabResult(kind=kind, value=None, category=category[-1:], effective=effective)
    quantity = _object(resource, "valueQuantity", at)
    if quantity is None:
        return None
    value = _number(quantity, "value", at, "valueQuantity.")
    if value is None:
        return None
    _check_range(kind, value, where)
    upper = None
    for position, reference_range in enumerate(_objects(resource, "referenceRange", at)):
        prefix = f"referenceRange.{position}."
        high = _object(reference_range, "high", at, prefix)
        if high is not None:
            limit = _number(high, "value", at, prefix + "high.")
            if limit is not None:
                upper = limit
    unit = (_text(quantity, "unit", at, "valueQuantity.")
            or _text(quantity, "code", at, "valueQuantity."))
    return LabResult(kind=kind, value=value, unit=unit, upper_limit=upper, effective=effective)


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
