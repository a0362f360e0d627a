"""A CDS Hooks 2.0 request for medsafe's prescribing services, read from untrusted JSON.

What is read (CDS Hooks 2.0 "Calling a CDS Service"; hooks `order-select` and `order-sign`
of `HL7/cds-hooks-library` `input/pagecontent/order-*.md`): `hook`, `hookInstance`,
`fhirServer`, `fhirAuthorization`, `context.patientId`, `context.userId`,
`context.draftOrders` (a Bundle), `context.selections` (order-select only) and `prefetch`.
Requests written before CDS Hooks 1.0 (the HL7 PDDI IG's examples) carry the patient as a
top-level `patient`; it is read when `context.patientId` is absent.

Draft orders are read leniently: only a MedicationRequest's id, status, medication and
first dosage text are used, because the published example requests themselves are not
strictly valid R4 (order-select's `doseAndRate` is an object, order-sign's `doseQuantity`
sits where STU3 had it). Other request types (NutritionOrder, ServiceRequest) are passed
over: medsafe has nothing to say about them.

The medicine of a draft order is its `medicationCodeableConcept`, or what its
`medicationReference` points at: a contained Medication (`#id`), a Medication elsewhere
in the draftOrders Bundle (by `Medication/id` or fullUrl), or one in the prefetch. A
reference found nowhere is left for the service to read from the FHIR server.

Patient data comes from the prefetch keys medsafe declares (`PREFETCH`); other keys are
ignored (they belong to another service's templates). `assemble_patient_bundle` turns
what was prefetched or fetched into one FHIR collection Bundle for
`interop.fhir.patient_bundle.read_bundle`, leaving out the draft orders themselves so an
order is never counted as a medicine the patient already takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from medsafe.assessment.patient import Coding, Concept
from medsafe.errors import Invalid

ORDER_SELECT = "order-select"
ORDER_SIGN = "order-sign"
HOOKS = (ORDER_SELECT, ORDER_SIGN)

# FHIR R4 `id` datatype: 1-64 of [A-Za-z0-9-.]. A patient id goes into query URLs, so it
# must be exactly that and nothing else.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MOST_DRAFT_ORDERS = 200
LONGEST_HOOK_INSTANCE = 128

# Renal LOINC codes from medsafe's reference notes (`shared/reference/cds-and-knowledge.md`
# §2): serum creatinine 2160-0 and the eGFR codes of the HL7 PDDI-CDS renal value set
# (`HL7/PDDI-CDS` `input/vocabulary/valueset-renal-LOINC.xml`) and the HL7 CPG eGFR value
# set. Creatinine-clearance codes are left out: the notes could not verify them.
KIDNEY_LOINC = ("2160-0", "33914-3", "48642-3", "48643-1", "50044-7", "62238-1", "98979-8",
                "77147-7", "76633-7")
_KIDNEY_CODES = ",".join(f"http://loinc.org|{code}" for code in KIDNEY_LOINC)

# The prefetch templates of both services. Only CDS Hooks 2.0 query forms are used
# (instance read; type search with token equality, `_sort`, `_count`) and only the
# root-level context token {{context.patientId}}.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}"
                  "&clinical-status=active,recurrence,relapse",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "kidney": f"Observation?patient={{{{context.patientId}}}}&code={_KIDNEY_CODES}"
              "&_sort=-date&_count=20",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
}
# What each key may hold; anything else in a prefetched Bundle is ignored.
PREFETCH_TYPES: dict[str, frozenset[str]] = {
    "patient": frozenset({"Patient"}),
    "conditions": frozenset({"Condition"}),
    "medications": frozenset({"MedicationRequest", "Medication"}),
    "kidney": frozenset({"Observation"}),
    "allergies": frozenset({"AllergyIntolerance"}),
}
_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """One draft MedicationRequest of the ordering session."""

    id: str | None
    reference: str | None  # "MedicationRequest/{id}" when it has an id
    concept: Concept | None  # None: its medicationReference is still to be read
    medication_reference: str | None
    selected: bool  # order-select: among `selections`; order-sign: always
    status: str | None
    intent: str | None
    dose_text: str | None
    resource: Mapping[str, Any]

    def label(self) -> str:
        if self.concept is not None:
            return self.concept.label()
        return self.medication_reference or "(unnamed medicine)"


@dataclass(frozen=True, slots=True)
class HookRequest:
    hook: str
    hook_instance: str
    patient_id: str
    user_id: str | None
    fhir_server: str | None
    access_token: str | None
    draft_orders: tuple[DraftOrder, ...]
    prefetch: Mapping[str, Any]

    @property
    def patient_reference(self) -> str:
        return f"Patient/{self.patient_id}"


def render_prefetch(template: str, context: Mapping[str, Any]) -> str:
    """A prefetch template with its tokens filled in from the request context. CDS Hooks
    2.0 allows only root-level primitive context fields as tokens."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if not name.startswith("context.") or "." in name[len("context."):]:
            raise Invalid(f"prefetch token {{{{{name}}}}}: only root-level context fields "
                          "may be used (CDS Hooks 2.0)", where="prefetch")
        value = context.get(name[len("context."):])
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise Invalid(f"context.{name[len('context.'):]} is needed to fill the prefetch "
                          "template and is missing or not a primitive", where="context")
        text = str(value)
        if not FHIR_ID.fullmatch(text):
            raise Invalid(f"{_show(text)} is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)",
                          where=name)
        return text

    return _TOKEN.sub(fill, template)


def parse_hook_request(document: Any, *, service_hook: str) -> HookRequest:
    """Read a hook request; Invalid naming the field when it cannot be used."""
    if not isinstance(document, dict):
        raise Invalid("a CDS Hooks request is a JSON object", where="(body)")
    hook = document.get("hook")
    if hook != service_hook:
        raise Invalid(f"this service answers the {service_hook!r} hook, the request is for "
                      f"{_show(hook)}", where="hook")
    instance = document.get("hookInstance")
    if not isinstance(instance, str) or not 0 < len(instance) <= LONGEST_HOOK_INSTANCE:
        raise Invalid(f"required: a string of 1 to {LONGEST_HOOK_INSTANCE} characters (a "
                      "UUID)", where="hookInstance")
    context = document.get("context")
    if not isinstance(context, dict):
        raise Invalid("required: an object", where="context")
    patient_id = context.get("patientId", document.get("patient"))
    if not isinstance(patient_id, str):
        raise Invalid("required: the FHIR id of the patient", where="context.patientId")
    patient_id = patient_id.removeprefix("Patient/")
    if not FHIR_ID.fullmatch(patient_id):
        raise Invalid(f"{_show(patient_id)} is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)",
                      where="context.patientId")
    user_id = context.get("userId", document.get("user"))
    fhir_server, token = _fhir_access(document)
    prefetch = document.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise Invalid("must be an object of prefetch keys", where="prefetch")
    selections = _selections(context, hook)
    orders = _draft_orders(context.get("draftOrders"), selections, prefetch)
    return HookRequest(hook=hook, hook_instance=instance, patient_id=patient_id,
                       user_id=user_id if isinstance(user_id, str) else None,
                       fhir_server=fhir_server, access_token=token,
                       draft_orders=orders, prefetch=prefetch)


def _fhir_access(document: Mapping[str, Any]) -> tuple[str | None, str | None]:
    server = document.get("fhirServer")
    authorization = document.get("fhirAuthorization")
    if server is None:
        if authorization is not None:
            raise Invalid("fhirAuthorization was sent without fhirServer (CDS Hooks 2.0: "
                          "fhirServer is required when fhirAuthorization is present)",
                          where="fhirServer")
        return None, None
    if not isinstance(server, str):
        raise Invalid("must be the FHIR server's base URL", where="fhirServer")
    check_fhir_server(server)
    token = None
    if authorization is not None:
        if not isinstance(authorization, dict):
            raise Invalid("must be an object", where="fhirAuthorization")
        token = authorization.get("access_token")
        kind = authorization.get("token_type", "Bearer")
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise Invalid("required: the OAuth 2.0 access token", where=
                          "fhirAuthorization.access_token")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise Invalid(f"{_show(kind)}: only Bearer tokens are used",
                          where="fhirAuthorization.token_type")
    return server.rstrip("/"), token


def check_fhir_server(url: str) -> None:
    """The FHIR server the service may call for the EHR: https, or http on this machine
    (development and tests). Local policy: the specification wants TLS in production, and
    an http URL elsewhere would send the EHR's access token in clear."""
    # Imported here: the package keeps PyJWT and cryptography out of mere request parsing.
    from medsafe.interop.cds_hooks.security import is_loopback

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise Invalid(f"{_show(url)}: must be an https URL (http only on a loopback address)",
                  where="fhirServer")


def _selections(context: Mapping[str, Any], hook: str) -> frozenset[str] | None:
    if hook != ORDER_SELECT or "selections" not in context:
        return None
    selections = context["selections"]
    if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
        raise Invalid("must be a list of references such as 'MedicationRequest/103'",
                      where="context.selections")
    return frozenset(selections)


def _draft_orders(bundle: Any, selections: frozenset[str] | None,
                  prefetch: Mapping[str, Any]) -> tuple[DraftOrder, ...]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Invalid("required: a FHIR Bundle of the draft orders",
                      where="context.draftOrders")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise Invalid("entry must be a list", where="context.draftOrders")
    if len(entries) > MOST_DRAFT_ORDERS:
        raise Invalid(f"at most {MOST_DRAFT_ORDERS} draft orders are read",
                      where="context.draftOrders")
    medications = _medications_by_reference(entries, prefetch)
    orders: list[DraftOrder] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise Invalid(f"entry {index}: expected an object with a resource",
                          where="context.draftOrders")
        if resource.get("resourceType") != "MedicationRequest":
            continue
        orders.append(_draft_order(resource, index, selections, medications))
    return tuple(orders)


def _draft_order(resource: Mapping[str, Any], index: int, selections: frozenset[str] | None,
                 medications: Mapping[str, Mapping[str, Any]]) -> DraftOrder:
    where = f"context.draftOrders.entry[{index}]"
    order_id = resource.get("id")
    if order_id is not None and (not isinstance(order_id, str)
                                 or not FHIR_ID.fullmatch(order_id)):
        raise Invalid(f"{_show(order_id)} is not a FHIR id", where=f"{where}.id")
    reference = f"MedicationRequest/{order_id}" if order_id else None
    concept: Concept | None = None
    medication_reference = None
    if "medicationCodeableConcept" in resource:
        concept = concept_of(resource["medicationCodeableConcept"],
                             f"{where}.medicationCodeableConcept")
    elif isinstance(resource.get("medicationReference"), dict):
        ref = resource["medicationReference"].get("reference")
        display = resource["medicationReference"].get("display")
        if isinstance(ref, str) and ref.startswith("#"):
            contained = next((c for c in resource.get("contained") or []
                              if isinstance(c, dict) and c.get("id") == ref[1:]), None)
            if contained is not None:
                concept = concept_of(contained.get("code"), f"{where}.contained")
        elif isinstance(ref, str) and ref in medications:
            concept = concept_of(medications[ref].get("code"), f"{where} -> {ref}")
        if concept is None or not (concept.codings or concept.text):
            if isinstance(ref, str) and ref.startswith("Medication/") and \
                    FHIR_ID.fullmatch(ref.removeprefix("Medication/")):
                concept, medication_reference = None, ref
            elif isinstance(display, str) and display.strip():
                concept = Concept(text=display)
            else:
                raise Invalid(f"medicationReference {_show(ref)} points at no Medication "
                              "in the request and is no 'Medication/{id}' reference",
                              where=f"{where}.medicationReference")
    else:
        raise Invalid("a MedicationRequest needs medicationCodeableConcept or "
                      "medicationReference", where=where)
    selected = selections is None or (reference is not None and reference in selections)
    status, intent = resource.get("status"), resource.get("intent")
    return DraftOrder(id=order_id, reference=reference, concept=concept,
                      medication_reference=medication_reference, selected=selected,
                      status=status if isinstance(status, str) else None,
                      intent=intent if isinstance(intent, str) else None,
                      dose_text=_dose_text(resource), resource=resource)


def _dose_text(resource: Mapping[str, Any]) -> str | None:
    dosage = resource.get("dosageInstruction")
    if isinstance(dosage, list) and dosage and isinstance(dosage[0], dict):
        text = dosage[0].get("text")
        return text if isinstance(text, str) else None
    return None


def concept_of(value: Any, where: str) -> Concept:
    """A CodeableConcept (JSON) as the engine's Concept; Invalid when it is not one."""
    if not isinstance(value, dict):
        raise Invalid("expected a CodeableConcept object", where=where)
    codings: list[Coding] = []
    raw = value.get("coding") or []
    if not isinstance(raw, list):
        raise Invalid("coding must be a list", where=where)
    for coding in raw:
        if not isinstance(coding, dict):
            raise Invalid("each coding must be an object", where=where)
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        codings.append(Coding(system=system if isinstance(system, str) else None,
                              code=str(code) if isinstance(code, str | int) else None,
                              display=display if isinstance(display, str) else None))
    text = value.get("text")
    return Concept(codings=tuple(codings), text=text if isinstance(text, str) else None)


def _medications_by_reference(entries: list[Any], prefetch: Mapping[str, Any]
                              ) -> dict[str, Mapping[str, Any]]:
    """Medication resources of the draftOrders Bundle and of the prefetch, by the ways a
    medicationReference may name them."""
    found: dict[str, Mapping[str, Any]] = {}

    def add(resource: Any, full_url: Any) -> None:
        if not isinstance(resource, dict) or resource.get("resourceType") != "Medication":
            return
        if isinstance(resource.get("id"), str):
            found[f"Medication/{resource['id']}"] = resource
        if isinstance(full_url, str):
            found[full_url] = resource

    for entry in entries:
        if isinstance(entry, dict):
            add(entry.get("resource"), entry.get("fullUrl"))
    for value in prefetch.values():
        for resource, full_url in _resources_with_urls(value):
            add(resource, full_url)
    return found


def _resources_with_urls(value: Any) -> Iterator[tuple[Any, Any]]:
    if not isinstance(value, dict):
        return
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or []:
            if isinstance(entry, dict):
                yield entry.get("resource"), entry.get("fullUrl")
    else:
        yield value, None


# ------------------------------------------------------------------------ patient data

class NotPrefetched(Exception):
    """A prefetch key the client did not fill (absent, or holding an OperationOutcome)."""


def prefetched(request: HookRequest, key: str) -> list[dict[str, Any]]:
    """The resources the client prefetched under one of medsafe's keys. A key present
    with null means the client has no such data (CDS Hooks 2.0): no resources.
    NotPrefetched when the key is absent or the client reports an error for it."""
    if key not in request.prefetch:
        raise NotPrefetched(key)
    return resources_of(request.prefetch[key], key)


def resources_of(value: Any, key: str) -> list[dict[str, Any]]:
    """The resources of one prefetch value or search result, of the types the key may
    hold. A searchset's OperationOutcome entries (search.mode "outcome") are dropped."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise Invalid("must be a FHIR resource or Bundle, or null", where=f"prefetch.{key}")
    if value.get("resourceType") == "OperationOutcome":
        raise NotPrefetched(key)
    wanted = PREFETCH_TYPES[key]
    if value.get("resourceType") == "Bundle":
        found = []
        for entry in value.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") in wanted:
                found.append(resource)
        return found
    if value.get("resourceType") in wanted:
        return [value]
    raise Invalid(f"holds a {_show(value.get('resourceType'))}, expected "
                  f"{' or '.join(sorted(wanted))}", where=f"prefetch.{key}")


def assemble_patient_bundle(request: HookRequest,
                            data: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One collection Bundle of the patient's data (prefetched or fetched, by key), for
    `read_bundle`. The draft orders are left out, and a Patient that is not the
    request's patient is refused: advice on another patient's record would be wrong
    and would leak it."""
    draft_ids = {order.id for order in request.draft_orders if order.id}
    entries: list[dict[str, Any]] = []
    for key in PREFETCH:
        for resource in data.get(key, ()):
            kind = resource.get("resourceType")
            if kind == "Patient" and resource.get("id") not in (None, request.patient_id):
                raise Invalid(f"Patient/{_show(resource.get('id'))} is not the patient in "
                              f"context (Patient/{request.patient_id})",
                              where=f"prefetch.{key}")
            if kind == "MedicationRequest" and resource.get("id") in draft_ids:
                continue
            entries.append({"resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
