"""A case report as FHIR R4 `AdverseEvent`, and back; errors as `OperationOutcome`.

Sources: hl7.org/fhir/R4/adverseevent.html (elements and cardinalities: one `event` per
resource, `subject` required, `suspectEntity.instance` required, `recorder` may be a
Patient, Practitioner, PractitionerRole or RelatedPerson, `contributor` only a Practitioner,
PractitionerRole or Device); the R4 code systems adverse-event-seriousness (serious,
non-serious) and adverse-event-outcome; ../shared/reference/recall-and-cases.md §3 (E2B(R3)
elements and the reading E.i -> event, E.i.3.2 -> seriousness plus extensions, E.i.7 ->
outcome, G.k -> suspectEntity, G.k.9.i.2.r -> causality, D -> Patient). Parsed and checked
with `fhir.resources.R4B` (R4-compatible), as in `patient_bundle`.

One AdverseEvent per reaction. R4 gives an AdverseEvent one `event`, one `seriousness`,
one `outcome` and one `date`, while E2B gives each reaction (E.i) its own seriousness,
outcome and dates, and each drug x reaction pair its own causality (G.k.9.i). So
`case_to_fhir` writes a case with one reaction as one AdverseEvent, and a case with several
as a `Bundle` of type `collection` holding one AdverseEvent per reaction. Every one of them
carries the same `identifier` (system `urn:medsafe:worldwide-case-id`, value C.1.8.1) and
the whole case context (patient, reporters, drugs, narrative), so each stands alone for a
reader that takes just one. Putting the other reactions in extensions of a single
AdverseEvent would have hidden their seriousness and causality from every FHIR reader.

Where R4 has no element, an extension under `EXTENSION_BASE` carries the E2B item (the
names are listed in `EXT`): the drug's role (suspect, concomitant...) is a
*modifierExtension* on `suspectEntity`, because a reader that ignored it would take a
concomitant medicine for a suspect. The narrative (H.1) is an extension, not `text`: it is
the reporter's account, not a rendering of the resource. Reporters (C.2.r) are contained
Practitioners (health professionals) or RelatedPersons (consumers, lawyers, unknown); the
one for regulatory purposes is the `recorder`, and the `primary-source` extension lists
them all in order. The patient (D) is a contained Patient: the `subject`, or, when the
caller gives `patient_reference` (a Patient the receiver knows), the target of the
`case-patient` extension while `subject` points at the known Patient.

`fhir_to_case` reads what `case_to_fhir` writes back to an equal `CaseReport` (causality in
reaction-then-drug order), and also plain AdverseEvents an EHR sends: a coded `event`
without our extensions, a `seriousness` of "serious" without criteria (read as the
criterion "other medically important condition", the E2B criterion that asserts
seriousness without a named outcome), suspects as contained or bundled Medication or
MedicationStatement, reporters as recorder and contributors. It needs `identifier`
(the sender's case id) and `event`; everything missing or wrong raises `Invalid` whose
`where` is the FHIRPath of the element, ready for `operation_outcome`.

Known limits: only one reporter can be the regulatory one (the recorder); event codings in
a terminology other than MedDRA or medsafe's own keep the system URI as the terminology's
name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar, get_args
from urllib.parse import quote, unquote

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel, ValidationError

from medsafe.cases.model import (
    ActionTaken,
    AgeGroup,
    AgeUnit,
    CaseReport,
    Causality,
    Challenge,
    Coded,
    Drug,
    DrugRole,
    Outcome,
    PatientInfo,
    PrimarySource,
    Qualification,
    Reaction,
    ReportType,
    Seriousness,
    Sex,
)
from medsafe.cases.terminology import MEDDRA
from medsafe.errors import (
    Conflict,
    Forbidden,
    Invalid,
    InvalidTransition,
    MedsafeError,
    NotFound,
    Unauthenticated,
)

EXTENSION_BASE = "https://medsafe.example/fhir/StructureDefinition/"
"""Namespace of medsafe's extensions; an extension's URL is this plus its name in `EXT`."""

CASE_ID_SYSTEM = "urn:medsafe:worldwide-case-id"
MEDDRA_SYSTEM = "http://terminology.hl7.org/CodeSystem/mdr"
TERMINOLOGY_SYSTEM = "urn:medsafe:terminology:"
"""Prefix of the system URI of a non-MedDRA terminology; the name follows, %-encoded."""
SERIOUSNESS_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
CATEGORY_SYSTEM = "urn:medsafe:adverse-event-category"
QUALIFICATION_SYSTEM = "urn:medsafe:reporter-qualification"
PRODUCT_ID_SYSTEM = "urn:medsafe:product-id"
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
UCUM = "http://unitsofmeasure.org"

# R4's AdverseEventCategory (extensible) has only product-problem and use-error codes, none
# for a suspected reaction to a medicine used as intended, so medsafe adds its own code.
CATEGORY = {"system": CATEGORY_SYSTEM, "code": "suspected-adverse-reaction",
            "display": "Suspected adverse drug reaction"}

EXT = {
    # AdverseEvent: case level
    "sender_report_id": "sender-report-id",  # C.1.1, valueString
    "report_type": "report-type",  # C.1.3, valueCode
    "latest_received": "latest-received",  # C.1.5, valueDate
    "sender_organisation": "sender-organisation",  # C.3.3.1, valueString
    "occurrence_country": "occurrence-country",  # valueCode (ISO 3166 alpha-2)
    "other_case_id": "other-case-id",  # C.1.9.1.r.2, valueString, repeats
    "linked_report": "linked-report",  # C.1.10.r, valueString, repeats
    "nullification": "nullification",  # C.1.11.1, valueCode nullified | amended
    "nullification_reason": "nullification-reason",  # C.1.11.2, valueString
    "narrative": "case-narrative",  # H.1, valueString
    "sender_comment": "sender-comment",  # H.4, valueString
    "sender_diagnosis": "sender-diagnosis",  # H.3, valueString
    "primary_source": "primary-source",  # C.2.r, valueReference to a contained reporter
    "case_patient": "case-patient",  # D, valueReference to the contained Patient
    # AdverseEvent: reaction level
    "reaction_id": "reaction-id",  # valueString
    "reaction_end": "reaction-end",  # E.i.5, valueDateTime
    "seriousness_criterion": "seriousness-criterion",  # E.i.3.2, valueCode, repeats
    # suspectEntity
    "drug_role": "drug-role",  # G.k.1, modifierExtension, valueCode
    "drug_id": "drug-id",  # valueString
    "dose": "dose",  # G.k.4.r.1, valueQuantity
    "dose_text": "dose-text",  # G.k.4.r.8, valueString
    "route": "route",  # G.k.4.r.10, valueString
    "drug_period": "drug-period",  # G.k.4.r.4-5, valuePeriod
    "indication": "indication",  # G.k.7.r, valueString
    "action_taken": "action-taken",  # G.k.8, valueCode
    "dechallenge": "dechallenge",  # valueCode
    "rechallenge": "rechallenge",  # G.k.9.i.4, valueCode
    # contained Medication
    "ingredient_id": "ingredient-id",  # valueString: medsafe knowledge-base ingredient
    "additional_lot": "additional-lot-number",  # G.k.4.r.7 after the first, valueString
    # contained Patient
    "age": "patient-age",  # D.2.2, valueAge
    "age_group": "patient-age-group",  # D.2.3, valueCode
    "weight": "patient-weight",  # D.3, valueQuantity kg
    "height": "patient-height",  # D.4, valueQuantity cm
    "medical_history_text": "medical-history-text",  # D.7.2, valueString
    # contained reporter
    "reporter_organisation": "reporter-organisation",  # C.2.r.2.1, valueString
    "reporter_withheld": "reporter-withheld",  # C.2.r.1 masked (MSK), valueBoolean
}

OUTCOMES: dict[str, str] = {  # E.i.7 -> R4 adverse-event-outcome
    "recovered": "resolved", "recovering": "recovering", "not_recovered": "ongoing",
    "recovered_with_sequelae": "resolvedWithSequelae", "fatal": "fatal", "unknown": "unknown",
}
OUTCOME_DISPLAY = {"resolved": "Resolved", "recovering": "Recovering", "ongoing": "Ongoing",
                   "resolvedWithSequelae": "Resolved with Sequelae", "fatal": "Fatal",
                   "unknown": "Unknown"}
AGE_UNITS: dict[str, str] = {  # D.2.2b -> UCUM
    "year": "a", "month": "mo", "week": "wk", "day": "d", "hour": "h", "decade": "10.a"}
HEALTH_PROFESSIONAL_CODES = ("physician", "pharmacist", "other_health_professional")
GENDERS: dict[str, Sex] = {"male": "male", "female": "female", "unknown": "unknown",
                           "other": "unknown"}
_ID = re.compile(r"[A-Za-z0-9\-.]{1,60}")

# The words each coded extension may hold: the case model's own vocabulary.
_REPORT_TYPE: tuple[str, ...] = get_args(ReportType)
_AGE_UNIT: tuple[str, ...] = get_args(AgeUnit)
_AGE_GROUP: tuple[str, ...] = get_args(AgeGroup)
_DRUG_ROLE: tuple[str, ...] = get_args(DrugRole)
_ACTION_TAKEN: tuple[str, ...] = get_args(ActionTaken)
_CHALLENGE: tuple[str, ...] = get_args(Challenge)
_QUALIFICATION: tuple[str, ...] = get_args(Qualification)
_NULLIFICATION: tuple[str, ...] = ("nullified", "amended")
_CRITERION: tuple[str, ...] = tuple(Seriousness.model_fields)

M = TypeVar("M", bound=BaseModel)


def _url(key: str) -> str:
    return EXTENSION_BASE + EXT[key]


# =========================================================================================
# CaseReport -> FHIR
# =========================================================================================

def case_to_fhir(report: CaseReport, *, case_id: str,
                 patient_reference: str | None = None) -> dict[str, Any]:
    """The case as one AdverseEvent (one reaction) or a collection Bundle of AdverseEvents
    (several), as a JSON-ready dict that `fhir.resources` R4B has validated.

    `case_id` becomes the resource id (`<case_id>-<n>` for the n-th reaction in a Bundle);
    `patient_reference` (e.g. "Patient/123") makes `subject` point at a Patient the
    receiver knows instead of the contained one.
    """
    if not _ID.fullmatch(case_id):
        raise Invalid("case id must be 1-60 letters, digits, '-' or '.' (a FHIR id)",
                      where="case_id")
    if not report.reactions:
        raise Invalid("a case without a reaction has no AdverseEvent", where="reactions")
    if patient_reference is not None and not patient_reference.strip():
        raise Invalid("patient reference is empty", where="patient_reference")
    if len(report.reactions) == 1:
        single = _adverse_event(report, report.reactions[0], case_id, patient_reference)
        return _validated(AdverseEvent, single)
    entries = [
        {"resource": _adverse_event(report, reaction, f"{case_id}-{n}", patient_reference)}
        for n, reaction in enumerate(report.reactions, start=1)
    ]
    bundle = {"resourceType": "Bundle", "id": case_id, "type": "collection",
              "identifier": {"system": CASE_ID_SYSTEM, "value": report.worldwide_id},
              "entry": entries}
    return _validated(Bundle, bundle)


def _validated(model: type[BaseModel], document: dict[str, Any]) -> dict[str, Any]:
    """Check our own output against the R4 model and return it as FHIR JSON."""
    try:
        parsed = model.model_validate(document)
    except ValidationError as exc:
        # A bug in this module or a value the case model allows and FHIR does not.
        raise Invalid(_describe(exc), where=_fhir_path(document["resourceType"],
                                                       exc.errors()[0]["loc"])) from exc
    result: dict[str, Any] = json.loads(parsed.model_dump_json())
    return result


def _drop_empty(element: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in element.items() if value not in (None, [], {}, "")}


def _ext(key: str, value_type: str, value: Any) -> list[dict[str, Any]]:
    """Zero or one extension: none when the value is absent."""
    if value is None or value == "":
        return []
    return [{"url": _url(key), value_type: value}]


def _exts(key: str, value_type: str, values: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"url": _url(key), value_type: value} for value in values]


def _coding(coded: Coded) -> dict[str, Any]:
    if coded.terminology.casefold() == MEDDRA.casefold():
        system = MEDDRA_SYSTEM
    else:
        system = TERMINOLOGY_SYSTEM + quote(coded.terminology, safe="")
    return _drop_empty({"system": system, "version": coded.version, "code": coded.code,
                        "display": coded.term})


class _Contained:
    """Collects contained resources and hands out their local references."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []

    def add(self, resource: dict[str, Any]) -> str:
        self.resources.append(resource)
        return f"#{resource['id']}"


def _adverse_event(report: CaseReport, reaction: Reaction, resource_id: str,
                   patient_reference: str | None) -> dict[str, Any]:
    contained = _Contained()
    local_patient = contained.add(_patient(report.patient))
    subject = patient_reference or local_patient
    reporters = [contained.add(_reporter(source, n, subject))
                 for n, source in enumerate(report.primary_sources, start=1)]
    regulatory = next((ref for ref, source in zip(reporters, report.primary_sources,
                                                  strict=True) if source.regulatory), None)
    contributors = [ref for ref, source in zip(reporters, report.primary_sources, strict=True)
                    if source.qualification in HEALTH_PROFESSIONAL_CODES and ref != regulatory]
    history = [contained.add(_condition(coded, n, subject))
               for n, coded in enumerate(report.patient.medical_history, start=1)]
    location = (contained.add({"resourceType": "Location", "id": "location",
                               "address": {"country": reaction.country}})
                if reaction.country else None)
    suspects = [_suspect_entity(report, reaction, drug, n, contained)
                for n, drug in enumerate(report.drugs, start=1)]
    extensions = [
        *_ext("reaction_id", "valueString", reaction.id),
        *_ext("sender_report_id", "valueString", report.sender_report_id),
        *_ext("report_type", "valueCode", report.report_type),
        *_ext("latest_received", "valueDate", report.latest_received.isoformat()),
        *_ext("sender_organisation", "valueString", report.sender_organisation),
        *_ext("occurrence_country", "valueCode", report.occurrence_country),
        *_exts("other_case_id", "valueString", report.other_case_ids),
        *_exts("linked_report", "valueString", report.linked_reports),
        *_ext("nullification", "valueCode", report.nullification),
        *_ext("nullification_reason", "valueString", report.nullification_reason),
        *_ext("narrative", "valueString", report.narrative),
        *_ext("sender_comment", "valueString", report.sender_comment),
        *_ext("sender_diagnosis", "valueString", report.sender_diagnosis),
        *_exts("primary_source", "valueReference", ({"reference": r} for r in reporters)),
        *(_ext("case_patient", "valueReference", {"reference": local_patient})
          if patient_reference else []),
        *_ext("reaction_end", "valueDateTime", reaction.end),
        *_exts("seriousness_criterion", "valueCode", reaction.seriousness.criteria()),
    ]
    serious = reaction.seriousness.serious
    outcome = OUTCOMES[reaction.outcome]
    return _drop_empty({
        "resourceType": "AdverseEvent",
        "id": resource_id,
        "contained": contained.resources,
        "extension": extensions,
        "identifier": {"system": CASE_ID_SYSTEM, "value": report.worldwide_id},
        "actuality": "actual",
        "category": [{"coding": [CATEGORY]}],
        "event": _drop_empty({"coding": [_coding(reaction.coded)] if reaction.coded else [],
                              "text": reaction.verbatim}),
        "subject": {"reference": subject},
        "date": reaction.start,
        "recordedDate": report.first_received.isoformat(),
        "location": {"reference": location} if location else None,
        "seriousness": {"coding": [{
            "system": SERIOUSNESS_SYSTEM, "code": "serious" if serious else "non-serious",
            "display": "Serious" if serious else "Non-serious"}]},
        "outcome": {"coding": [{"system": OUTCOME_SYSTEM, "code": outcome,
                                "display": OUTCOME_DISPLAY[outcome]}]},
        "recorder": {"reference": regulatory} if regulatory else None,
        "contributor": [{"reference": ref} for ref in contributors],
        "suspectEntity": suspects,
        "subjectMedicalHistory": [{"reference": ref} for ref in history],
    })


def _patient(patient: PatientInfo) -> dict[str, Any]:
    age = None
    if patient.age is not None:
        age = _drop_empty({"value": patient.age, "unit": patient.age_unit,
                           "system": UCUM if patient.age_unit else None,
                           "code": AGE_UNITS[patient.age_unit] if patient.age_unit else None})
    extensions = [
        *_ext("age", "valueAge", age),
        *_ext("age_group", "valueCode", patient.age_group),
        *_ext("weight", "valueQuantity", None if patient.weight_kg is None else
              {"value": patient.weight_kg, "unit": "kg", "system": UCUM, "code": "kg"}),
        *_ext("height", "valueQuantity", None if patient.height_cm is None else
              {"value": patient.height_cm, "unit": "cm", "system": UCUM, "code": "cm"}),
        *_ext("medical_history_text", "valueString", patient.medical_history_text),
    ]
    return _drop_empty({
        "resourceType": "Patient", "id": "patient", "extension": extensions,
        # Initials are a name that does not reveal who the patient is: use "anonymous".
        "name": [{"use": "anonymous", "text": patient.initials}] if patient.initials else [],
        "gender": patient.sex,
        "birthDate": patient.birth_date,
        "deceasedDateTime": patient.died_on,
    })


def _reporter(source: PrimarySource, n: int, patient_reference: str) -> dict[str, Any]:
    name = _drop_empty({"given": [source.given_name] if source.given_name else [],
                        "family": source.family_name})
    common = {
        "id": f"reporter-{n}",
        "extension": [*_ext("reporter_organisation", "valueString", source.organisation),
                      *_ext("reporter_withheld", "valueBoolean", source.withheld or None)],
        "name": [name] if name else [],
        "address": [{"country": source.country}] if source.country else [],
    }
    qualification = ({"coding": [{"system": QUALIFICATION_SYSTEM,
                                  "code": source.qualification}]}
                     if source.qualification else None)
    if source.qualification in HEALTH_PROFESSIONAL_CODES:
        return _drop_empty({"resourceType": "Practitioner", **common,
                            "qualification": [{"code": qualification}]})
    return _drop_empty({"resourceType": "RelatedPerson", **common,
                        "patient": {"reference": patient_reference},
                        "relationship": [qualification] if qualification else []})


def _condition(coded: Coded, n: int, patient_reference: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"history-{n}",
            "code": {"coding": [_coding(coded)], "text": coded.term},
            "subject": {"reference": patient_reference}}


def _suspect_entity(report: CaseReport, reaction: Reaction, drug: Drug, n: int,
                    contained: _Contained) -> dict[str, Any]:
    medication = contained.add(_medication(drug, n))
    dose = _drop_empty({"value": drug.dose_value, "unit": drug.dose_unit})
    period = _drop_empty({"start": drug.start, "end": drug.end})
    extensions = [
        *_ext("drug_id", "valueString", drug.id),
        *_ext("dose", "valueQuantity", dose or None),
        *_ext("dose_text", "valueString", drug.dose_text),
        *_ext("route", "valueString", drug.route),
        *_ext("drug_period", "valuePeriod", period or None),
        *_ext("indication", "valueString", drug.indication),
        *_ext("action_taken", "valueCode", drug.action_taken),
        *_ext("dechallenge", "valueCode", drug.dechallenge),
        *_ext("rechallenge", "valueCode", drug.rechallenge),
    ]
    causality = [
        _drop_empty({
            "assessment": {"text": c.result} if c.result else None,
            "method": {"text": c.method} if c.method else None,
            "author": {"display": c.source} if c.source else None,
        })
        for c in report.causality if c.drug_id == drug.id and c.reaction_id == reaction.id
    ]
    return _drop_empty({
        "modifierExtension": _ext("drug_role", "valueCode", drug.role),
        "extension": extensions,
        "instance": {"reference": medication, "display": drug.product_name},
        "causality": causality,
    })


def _medication(drug: Drug, n: int) -> dict[str, Any]:
    first_lot, *more_lots = drug.lot_numbers or (None,)
    return _drop_empty({
        "resourceType": "Medication", "id": f"drug-{n}",
        "extension": [*_ext("ingredient_id", "valueString", drug.ingredient_id),
                      *_exts("additional_lot", "valueString", more_lots)],
        "identifier": ([{"system": PRODUCT_ID_SYSTEM, "value": str(drug.product_id)}]
                       if drug.product_id is not None else []),
        "code": _drop_empty({"coding": [{"system": NDC_SYSTEM, "code": drug.ndc}]
                             if drug.ndc else [], "text": drug.product_name}),
        "manufacturer": {"display": drug.manufacturer} if drug.manufacturer else None,
        "ingredient": [{"itemCodeableConcept": {"text": s}} for s in drug.substances],
        "batch": {"lotNumber": first_lot} if first_lot else None,
    })


# =========================================================================================
# FHIR -> CaseReport
# =========================================================================================

def fhir_to_case(resource: dict[str, Any], *, received: date) -> CaseReport:
    """Read an AdverseEvent, or a Bundle holding AdverseEvents of one case, into a case.

    `received` is the day medsafe received it: the C.1.5 date when the resource does not
    carry one, and C.1.4 when it has no `recordedDate`. Raises `Invalid` (with `where` the
    FHIRPath) for anything that is not valid R4 or lacks what a case needs.
    """
    if not isinstance(resource, dict):
        raise Invalid("not a FHIR resource: expected a JSON object", where="(resource)")
    kind = resource.get("resourceType")
    if kind not in ("AdverseEvent", "Bundle"):
        raise Invalid(f"expected an AdverseEvent or a Bundle of them, got resourceType "
                      f"{kind!r}", where="resourceType")
    _check_resource_types(kind, resource)
    model: type[BaseModel] = AdverseEvent if kind == "AdverseEvent" else Bundle
    try:
        parsed: Any = model.model_validate(resource)
    except ValidationError as exc:
        raise Invalid(_describe(exc), where=_fhir_path(kind, exc.errors()[0]["loc"])) from exc
    except (KeyError, TypeError, ValueError) as exc:
        # fhir.resources raises these for shapes its validators do not expect.
        raise Invalid(f"not valid FHIR R4: {_one_line(str(exc))}", where=kind) from exc
    if kind == "AdverseEvent":
        return _CaseReader([("AdverseEvent", parsed)], {}, received).case()
    events, bundled = _bundle_events(parsed)
    return _CaseReader(events, bundled, received).case()


def _check_resource_types(kind: str, document: dict[str, Any]) -> None:
    """Every contained or bundled resource must name an R4 resource type, so the parser
    fails with a path instead of a KeyError."""
    def check(items: Any, path: str, inner: Callable[[Any], Any]) -> None:
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            value = inner(item)
            if not isinstance(value, dict):
                continue
            rtype = value.get("resourceType")
            if not isinstance(rtype, str) or not _is_resource_type(rtype):
                raise Invalid(f"unknown resourceType {rtype!r}",
                              where=f"{path}[{index}].resourceType")
            check(value.get("contained"), f"{path}[{index}].contained", lambda x: x)

    if kind == "Bundle":
        check(document.get("entry"), "Bundle.entry",
              lambda entry: entry.get("resource") if isinstance(entry, dict) else None)
    else:
        check(document.get("contained"), "AdverseEvent.contained", lambda x: x)


@cache
def _is_resource_type(kind: str) -> bool:
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError):
        return False
    return isinstance(model, type) and issubclass(model, Resource)


def _bundle_events(bundle: Any) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """The AdverseEvents of a Bundle with their paths, and its other resources by
    reference ("Type/id" and fullUrl)."""
    events: list[tuple[str, Any]] = []
    others: dict[str, Any] = {}
    for index, entry in enumerate(bundle.entry or []):
        item = entry.resource
        if item is None:
            continue
        rtype = item.get_resource_type()
        if rtype == "AdverseEvent":
            events.append((f"Bundle.entry[{index}].resource", item))
            continue
        if item.id:
            others[f"{rtype}/{item.id}"] = item
        if entry.fullUrl:
            others[str(entry.fullUrl)] = item
    if not events:
        raise Invalid("the Bundle holds no AdverseEvent", where="Bundle.entry")
    return events, others


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _fhir_path(root: str, loc: Iterable[int | str]) -> str:
    """A pydantic error location as FHIRPath: ('entry', 0, 'resource') -> entry[0].resource."""
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        else:
            name = str(part)
            path += "." + (f"_{name[:-5]}" if name.endswith("__ext") else name.rstrip("_"))
    return path


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    message = _one_line(str(first["msg"]).removeprefix("Value error, "))
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"not valid FHIR R4: {message}{more}"


def _build(model: type[M], where: str, **fields: Any) -> M:
    """A case-model object, or `Invalid` at the FHIR element the values came from."""
    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = _one_line(str(first["msg"]).removeprefix("Value error, "))
        raise Invalid(f"{field}: {message}" if field else message, where=where) from exc


def _partial(value: Any) -> str | None:
    """A FHIR date or dateTime as the case model's partial date (the day at most)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _number(value: Decimal | float | int | None) -> float | None:
    return None if value is None else float(value)


def _literal(value: str | None, words: tuple[str, ...], where: str) -> Any:
    """`value` if it is one of `words` (None passes), else Invalid."""
    if value is None:
        return None
    if value not in words:
        raise Invalid(f"unknown code {value!r} (expected one of {', '.join(words)})",
                      where=where)
    return value


class _Extensions:
    """Reads medsafe's extensions of one element."""

    def __init__(self, element: Any, where: str, field: str = "extension") -> None:
        self.items: list[tuple[int, Any]] = [
            (i, e) for i, e in enumerate(getattr(element, field, None) or [])
            if str(e.url).startswith(EXTENSION_BASE)]
        self.where = where
        self.field = field

    def all(self, key: str) -> Iterator[tuple[str, Any]]:
        for index, extension in self.items:
            if extension.url == _url(key):
                yield f"{self.where}.{self.field}[{index}]", extension

    def values(self, key: str, value_type: str) -> list[Any]:
        found = []
        for where, extension in self.all(key):
            value = getattr(extension, value_type)
            if value is None:
                raise Invalid(f"extension {EXT[key]} needs a {value_type}", where=where)
            found.append(value)
        return found

    def value(self, key: str, value_type: str) -> Any:
        values = self.values(key, value_type)
        if len(values) > 1:
            raise Invalid(f"extension {EXT[key]} may appear once", where=self.where)
        return values[0] if values else None

    def text(self, key: str) -> str | None:
        value = self.value(key, "valueString")
        return None if value is None else str(value)

    def code(self, key: str, words: tuple[str, ...]) -> Any:
        where = next((w for w, _ in self.all(key)), self.where)
        return _literal(self.value(key, "valueCode"), words, f"{where}.valueCode")


def _kind(target: Any, reference: Any) -> str | None:
    """The resource type a reference points at: the resolved target's, else the type in a
    relative reference ("Practitioner/7")."""
    if target is not None:
        return str(target.get_resource_type())
    parts = str(reference.reference or "").split("/") if reference is not None else []
    return parts[-2] if len(parts) >= 2 else None


def _concept_text(concept: Any) -> str | None:
    """What a CodeableConcept says in words: its text, else its first display or code."""
    if concept is None:
        return None
    if concept.text:
        return str(concept.text)
    for coding in concept.coding or []:
        if coding.display or coding.code:
            return str(coding.display or coding.code)
    return None


def _coded(concept: Any, where: str) -> Coded | None:
    """The first coding of a CodeableConcept as a `Coded`, naming its terminology."""
    for coding in concept.coding or []:
        term = coding.display or coding.code
        if not term:
            continue
        system = str(coding.system or "")
        if system == MEDDRA_SYSTEM:
            terminology = MEDDRA
        elif system.startswith(TERMINOLOGY_SYSTEM):
            terminology = unquote(system.removeprefix(TERMINOLOGY_SYSTEM))
        else:
            terminology = system or "unknown"
        return _build(Coded, f"{where}.coding", term=str(term),
                      code=str(coding.code) if coding.code else None,
                      terminology=terminology,
                      version=str(coding.version) if coding.version else None)
    return None


class _CaseReader:
    """Reads the AdverseEvents of one case (several when they came in a Bundle)."""

    def __init__(self, events: list[tuple[str, Any]], bundled: dict[str, Any],
                 received: date) -> None:
        self.events = events
        self.bundled = bundled
        self.received = received

    def case(self) -> CaseReport:
        where, first = self.events[0]
        ext = _Extensions(first, where)
        worldwide_id = self._worldwide_id()
        reactions: list[Reaction] = []
        drugs: dict[str, Drug] = {}
        causality: list[Causality] = []
        for number, (path, event) in enumerate(self.events, start=1):
            if event.actuality != "actual":
                raise Invalid(f"a {event.actuality!r} event (a near miss) is not an "
                              f"adverse-event case", where=f"{path}.actuality")
            reaction = self._reaction(path, event, number)
            if any(r.id == reaction.id for r in reactions):
                raise Invalid(f"reaction id {reaction.id!r} appears twice", where=path)
            reactions.append(reaction)
            for drug, assessments in self._drugs(path, event, reaction.id):
                drugs.setdefault(drug.id, drug)
                causality.extend(assessments)
        return _build(
            CaseReport, where,
            sender_report_id=ext.text("sender_report_id") or first.id or worldwide_id,
            worldwide_id=worldwide_id,
            report_type=(ext.code("report_type", _REPORT_TYPE)
                         or ("study" if first.study else "spontaneous")),
            first_received=self._first_received(where, first),
            latest_received=ext.value("latest_received", "valueDate") or self.received,
            sender_organisation=ext.text("sender_organisation"),
            occurrence_country=ext.value("occurrence_country", "valueCode"),
            other_case_ids=tuple(ext.values("other_case_id", "valueString")),
            linked_reports=tuple(ext.values("linked_report", "valueString")),
            nullification=ext.code("nullification", _NULLIFICATION),
            nullification_reason=ext.text("nullification_reason"),
            primary_sources=tuple(self._primary_sources(where, first, ext)),
            patient=self._patient(where, first, ext),
            reactions=tuple(reactions),
            drugs=tuple(drugs.values()),
            causality=tuple(causality),
            narrative=ext.text("narrative"),
            sender_comment=ext.text("sender_comment"),
            sender_diagnosis=ext.text("sender_diagnosis"),
        )

    # --- case level ---

    def _worldwide_id(self) -> str:
        ids = []
        for path, event in self.events:
            identifier = event.identifier
            if identifier is None or not identifier.value:
                raise Invalid("an adverse-event case needs the sender's case id in "
                              "identifier.value", where=f"{path}.identifier")
            ids.append(str(identifier.value))
        if len(set(ids)) > 1:
            index = next(i for i, value in enumerate(ids) if value != ids[0])
            raise Invalid(f"AdverseEvents of one case must share their identifier: "
                          f"{ids[index]!r} differs from {ids[0]!r}",
                          where=f"{self.events[index][0]}.identifier")
        return ids[0]

    def _first_received(self, where: str, event: Any) -> date:
        recorded = event.recordedDate
        if recorded is None:
            return self.received
        if isinstance(recorded, datetime):
            return recorded.date()
        if isinstance(recorded, date):
            return recorded
        raise Invalid("recordedDate must be a full day: the reporting clock counts days "
                      "from it", where=f"{where}.recordedDate")

    def _resolve(self, reference: Any, event: Any) -> Any:
        """The resource a Reference points at: contained ("#id") or in the Bundle."""
        if reference is None or not reference.reference:
            return None
        ref = str(reference.reference)
        if ref.startswith("#"):
            return next((c for c in event.contained or [] if c.id == ref[1:]), None)
        return self.bundled.get(ref)

    def _patient(self, where: str, event: Any, ext: _Extensions) -> PatientInfo:
        case_patient = ext.value("case_patient", "valueReference")
        path = f"{where}.subject"
        target = self._resolve(case_patient, event) if case_patient else None
        if target is None:
            if _kind(None, event.subject) == "Group":
                raise Invalid("a case is about one patient, not a Group", where=path)
            target = self._resolve(event.subject, event)
        if target is None or target.get_resource_type() != "Patient":
            return PatientInfo()  # a patient the sender knows and we do not: no details
        pext = _Extensions(target, path)
        age = pext.value("age", "valueAge")
        unit = None
        if age is not None and age.code is not None:
            unit = next((u for u, code in AGE_UNITS.items() if code == age.code), None)
            if unit is None:
                raise Invalid(f"age unit {age.code!r} is not one of "
                              f"{', '.join(AGE_UNITS.values())} (UCUM)", where=path)
        initials = next((n.text for n in target.name or [] if n.use == "anonymous"), None)
        weight = pext.value("weight", "valueQuantity")
        height = pext.value("height", "valueQuantity")
        history = [self._history(reference, event, f"{where}.subjectMedicalHistory[{i}]")
                   for i, reference in enumerate(event.subjectMedicalHistory or [])]
        gender = target.gender
        if gender is not None and gender not in GENDERS:
            raise Invalid(f"unknown gender {gender!r}", where=f"{path}.gender")
        return _build(
            PatientInfo, path,
            initials=initials,
            age=_number(age.value) if age is not None else None,
            age_unit=_literal(unit, _AGE_UNIT, path),
            age_group=pext.code("age_group", _AGE_GROUP),
            sex=GENDERS[gender] if gender else None,
            weight_kg=_number(weight.value) if weight is not None else None,
            height_cm=_number(height.value) if height is not None else None,
            birth_date=_partial(target.birthDate),
            medical_history=tuple(c for c in history if c is not None),
            medical_history_text=pext.text("medical_history_text"),
            died_on=_partial(target.deceasedDateTime),
        )

    def _history(self, reference: Any, event: Any, where: str) -> Coded | None:
        target = self._resolve(reference, event)
        concept = getattr(target, "code", None) if target is not None else None
        if concept is None:
            return None
        coded = _coded(concept, f"{where}.code")
        if coded is None and concept.text:
            return _build(Coded, where, term=str(concept.text), terminology="free text")
        return coded

    def _primary_sources(self, where: str, event: Any,
                         ext: _Extensions) -> Iterator[PrimarySource]:
        references: list[tuple[str, Any]] = [
            (path, e.valueReference) for path, e in ext.all("primary_source")]
        if not references:
            # A plain AdverseEvent: its recorder and contributors are the reporters.
            if event.recorder is not None:
                references.append((f"{where}.recorder", event.recorder))
            references.extend((f"{where}.contributor[{i}]", c)
                              for i, c in enumerate(event.contributor or []))
        recorder = str(event.recorder.reference) if event.recorder else None
        seen: set[str] = set()
        for path, reference in references:
            if reference is None:
                raise Invalid("a primary-source extension needs a valueReference", where=path)
            key = str(reference.reference or reference.display or path)
            if key in seen:
                continue
            seen.add(key)
            yield self._reporter(path, reference, event,
                                 regulatory=reference.reference is not None
                                 and str(reference.reference) == recorder)

    def _reporter(self, where: str, reference: Any, event: Any, *,
                  regulatory: bool) -> PrimarySource:
        target = self._resolve(reference, event)
        kind = _kind(target, reference)
        if kind == "Device":
            raise Invalid("a reporter is a person, not a Device", where=where)
        qualification = self._qualification(target, kind, where)
        name = (target.name[0] if target is not None and getattr(target, "name", None)
                and isinstance(target.name, list) else None)
        rext = _Extensions(target, where) if target is not None else None
        address = getattr(target, "address", None) if target is not None else None
        return _build(
            PrimarySource, where,
            given_name=" ".join(name.given) if name is not None and name.given else None,
            family_name=(name.family if name is not None and name.family else
                         (reference.display if target is None else None)),
            organisation=rext.text("reporter_organisation") if rext else None,
            qualification=qualification,
            country=address[0].country if address else None,
            regulatory=regulatory,
            withheld=bool(rext.value("reporter_withheld", "valueBoolean")) if rext else False,
        )

    @staticmethod
    def _qualification(target: Any, kind: str | None, where: str) -> Qualification | None:
        concepts: list[Any] = []
        if kind == "Practitioner" and target is not None:
            concepts = [q.code for q in target.qualification or []]
        elif kind in ("RelatedPerson", "PractitionerRole") and target is not None:
            concepts = list((target.relationship if kind == "RelatedPerson"
                             else target.code) or [])
        for concept in concepts:
            for coding in concept.coding or []:
                if coding.system == QUALIFICATION_SYSTEM:
                    found: Qualification = _literal(str(coding.code), _QUALIFICATION,
                                                    f"{where}.qualification")
                    return found
        # Without medsafe's code: a practitioner is a health professional of some kind, and
        # a patient reporting for themselves is a consumer (E2B C.2.r.4).
        if kind in ("Practitioner", "PractitionerRole"):
            return "other_health_professional"
        if kind == "Patient":
            return "consumer"
        return None

    # --- reaction level ---

    def _reaction(self, path: str, event: Any, number: int) -> Reaction:
        if event.event is None:
            raise Invalid("an adverse-event case needs the reaction in event",
                          where=f"{path}.event")
        verbatim = _concept_text(event.event)
        if verbatim is None:
            raise Invalid("event needs text or a coding with a display or code",
                          where=f"{path}.event")
        ext = _Extensions(event, path)
        country = None
        location = self._resolve(event.location, event)
        if location is not None and location.address is not None:
            country = location.address.country
        return _build(
            Reaction, path,
            id=ext.text("reaction_id") or event.id or f"r{number}",
            verbatim=verbatim,
            coded=_coded(event.event, f"{path}.event"),
            start=_partial(event.date),
            end=_partial(ext.value("reaction_end", "valueDateTime")),
            seriousness=self._seriousness(path, event, ext),
            outcome=self._outcome(path, event),
            country=country,
        )

    @staticmethod
    def _seriousness(path: str, event: Any, ext: _Extensions) -> Seriousness:
        criteria: dict[str, bool] = {}
        for where, extension in ext.all("seriousness_criterion"):
            code = _literal(extension.valueCode, _CRITERION, f"{where}.valueCode")
            criteria[code] = True
        codes = {str(c.code) for c in (event.seriousness.coding or [])
                 if c.system == SERIOUSNESS_SYSTEM} if event.seriousness else set()
        if "serious" in codes and "non-serious" in codes:
            raise Invalid("seriousness is both serious and non-serious",
                          where=f"{path}.seriousness")
        if "non-serious" in codes and criteria:
            raise Invalid("a non-serious event cannot meet seriousness criteria",
                          where=f"{path}.seriousness")
        if "serious" in codes and not criteria:
            criteria["other_medically_important"] = True
        return Seriousness(**criteria)

    @staticmethod
    def _outcome(path: str, event: Any) -> Outcome:
        if event.outcome is None:
            return "unknown"
        reverse = {fhir: ours for ours, fhir in OUTCOMES.items()}
        for coding in event.outcome.coding or []:
            if coding.code in reverse and coding.system in (OUTCOME_SYSTEM, None):
                return reverse[str(coding.code)]  # type: ignore[return-value]
        raise Invalid(f"outcome needs a code from {OUTCOME_SYSTEM} "
                      f"({', '.join(OUTCOME_DISPLAY)})", where=f"{path}.outcome")

    # --- drugs ---

    def _drugs(self, path: str, event: Any,
               reaction_id: str) -> Iterator[tuple[Drug, list[Causality]]]:
        for index, entity in enumerate(event.suspectEntity or []):
            where = f"{path}.suspectEntity[{index}]"
            drug = self._drug(where, entity, event)
            assessments = [
                _build(Causality, f"{where}.causality[{k}]", drug_id=drug.id,
                       reaction_id=reaction_id,
                       source=(c.author.display or c.author.reference or "") if c.author
                       else "",
                       method=_concept_text(c.method) or "",
                       result=_concept_text(c.assessment) or c.productRelatedness or "")
                for k, c in enumerate(entity.causality or [])
            ]
            yield drug, assessments

    def _drug(self, where: str, entity: Any, event: Any) -> Drug:
        modifier = _Extensions(entity, where, "modifierExtension")
        ext = _Extensions(entity, where)
        unknown_modifiers = [e.url for e in entity.modifierExtension or []
                             if e.url != _url("drug_role")]
        if unknown_modifiers:
            raise Invalid(f"unknown modifier extension {unknown_modifiers[0]}",
                          where=f"{where}.modifierExtension")
        role = modifier.code("drug_role", _DRUG_ROLE) or ext.code("drug_role", _DRUG_ROLE)
        medication, product = self._medication(where, entity, event)
        mext = _Extensions(medication, f"{where}.instance")
        dose = ext.value("dose", "valueQuantity")
        period = ext.value("drug_period", "valuePeriod")
        lots = ([str(medication.batch.lotNumber)] if medication is not None
                and medication.batch is not None and medication.batch.lotNumber else [])
        product_id = next((ident.value for ident in getattr(medication, "identifier", None)
                           or [] if ident.system == PRODUCT_ID_SYSTEM), None)
        ndc = next((c.code for c in (medication.code.coding or [])
                    if c.system == NDC_SYSTEM), None) if medication and medication.code else None
        return _build(
            Drug, where,
            # Without medsafe's id, the product's name identifies the drug across the
            # AdverseEvents of one Bundle (each lists the case's drugs again).
            id=ext.text("drug_id") or product.casefold()[:40],
            role=role or "suspect",
            product_name=product,
            substances=tuple(
                text for item in (getattr(medication, "ingredient", None) or [])
                if (text := _concept_text(item.itemCodeableConcept)) is not None),
            ingredient_id=mext.text("ingredient_id") if medication is not None else None,
            product_id=int(product_id) if product_id and str(product_id).isdigit() else None,
            ndc=ndc,
            manufacturer=(medication.manufacturer.display if medication is not None
                          and medication.manufacturer else None),
            lot_numbers=tuple(lots + [str(v) for v in (
                mext.values("additional_lot", "valueString") if medication else [])]),
            dose_text=ext.text("dose_text"),
            dose_value=_number(dose.value) if dose is not None else None,
            dose_unit=dose.unit if dose is not None else None,
            route=ext.text("route"),
            start=_partial(period.start) if period is not None else None,
            end=_partial(period.end) if period is not None else None,
            indication=ext.text("indication"),
            action_taken=ext.code("action_taken", _ACTION_TAKEN),
            dechallenge=ext.code("dechallenge", _CHALLENGE),
            rechallenge=ext.code("rechallenge", _CHALLENGE),
        )

    def _medication(self, where: str, entity: Any, event: Any) -> tuple[Any, str]:
        """The Medication behind a suspect entity (if any) and the product's name."""
        target = self._resolve(entity.instance, event)
        kind = target.get_resource_type() if target is not None else None
        if kind in ("MedicationStatement", "MedicationAdministration"):
            concept = target.medicationCodeableConcept
            if concept is not None and _concept_text(concept):
                return None, str(_concept_text(concept))
            target = self._resolve(target.medicationReference, event)
            kind = target.get_resource_type() if target is not None else None
        if kind == "Medication" and _concept_text(target.code):
            return target, str(_concept_text(target.code))
        if kind == "Substance" and _concept_text(target.code):
            return None, str(_concept_text(target.code))
        if entity.instance.display:
            return (target if kind == "Medication" else None), str(entity.instance.display)
        raise Invalid("cannot tell which product this is: give the Medication's code or the "
                      "reference's display", where=f"{where}.instance")


# =========================================================================================
# OperationOutcome
# =========================================================================================

def operation_outcome(error: MedsafeError) -> dict[str, Any]:
    """An R4 OperationOutcome for a refused request: severity error, the issue type for
    the kind of error (invalid, not-found, conflict, forbidden, login, business-rule), the
    message as diagnostics and, for invalid input, `where` as the expression."""
    codes: tuple[tuple[type[MedsafeError], str], ...] = (
        (Invalid, "invalid"), (NotFound, "not-found"), (Conflict, "conflict"),
        (Unauthenticated, "login"), (Forbidden, "forbidden"),
        (InvalidTransition, "business-rule"))
    code = next((c for kind, c in codes if isinstance(error, kind)), "exception")
    issue: dict[str, Any] = {"severity": "error", "code": code,
                             "diagnostics": error.reason if isinstance(error, Invalid)
                             else error.message}
    if isinstance(error, Invalid) and error.where:
        issue["expression"] = [error.where]
    return _validated(OperationOutcome, {"resourceType": "OperationOutcome", "issue": [issue]})
