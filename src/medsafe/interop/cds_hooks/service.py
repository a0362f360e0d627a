"""The CDS Hooks use case: a hook request in, cards about the drugs being ordered out.

request -> the patient's data (prefetched, else read from the EHR's `fhirServer` with its
access token, else 412) -> `PatientRecord` (`interop.fhir.patient_bundle.read_bundle`)
-> the assessment engine -> cards (`cards`) -> the cards stored (for feedback and the
override report) in one transaction.

Only alerts about the drug being ordered (what users of such services ask for,
`shared/reference/cds-and-knowledge.md` §5): for a drug in medsafe's knowledge base, the
engine's findings on that drug for this patient, with the patient's other medicines and
the session's other draft orders as co-medication; for a drug outside it (an opioid, say),
the findings of the knowledge-base medicines the patient already takes that name the
ordered drug (both directions of an interaction count: baclofen ordered for a patient on
oxycodone, and oxycodone ordered for a patient on baclofen).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

from medsafe.assessment.checks import renal
from medsafe.assessment.checks.population import OLDER_ADULT_AGE
from medsafe.assessment.context import PatientContext, identify_drug, match_medicine
from medsafe.assessment.engine import Assessment, Option, assess
from medsafe.assessment.findings import SUITABILITY_ORDER, Finding
from medsafe.assessment.patient import Coding, MedicationEntry, PatientRecord
from medsafe.errors import Invalid, NotFound
from medsafe.interop.cds_hooks import cards as card_rules
from medsafe.interop.cds_hooks.cards import Alternative, CardPolicy, Problem
from medsafe.interop.cds_hooks.fhir_client import FhirClient, FhirServerError
from medsafe.interop.cds_hooks.requests import (
    FHIR_ID,
    ORDER_SELECT,
    ORDER_SIGN,
    PREFETCH,
    PREFETCH_TYPES,
    DraftOrder,
    HookRequest,
    NotPrefetched,
    assemble_patient_bundle,
    concept_of,
    parse_hook_request,
    prefetched,
    render_prefetch,
)
from medsafe.interop.fhir.patient_bundle import read_bundle
from medsafe.knowledge.catalog import Catalog
from medsafe.store.repositories.cds import CardResponse
from medsafe.store.uow import UnitOfWork


class RequiredDataMissing(Invalid):
    """The data a service needs could not be had: not prefetched, and no FHIR server to
    read it from, or the server could not be read. CDS Hooks 2.0 answers this with HTTP
    412; the CDS router maps it so (errors.py has no 412 type yet)."""


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict[str, Any]:
        return {"hook": self.hook, "id": self.id, "title": self.title,
                "description": self.description, "prefetch": dict(PREFETCH)}


SERVICES: dict[str, ServiceDefinition] = {
    s.id: s for s in (
        ServiceDefinition(
            "medsafe-order-select", ORDER_SELECT, "medsafe: medicines being chosen",
            "Checks the medicines just selected against the patient's medicines, "
            "conditions, kidney function and allergies, with cited label sources; "
            "suggests the engine's best alternative."),
        ServiceDefinition(
            "medsafe-order-sign", ORDER_SIGN, "medsafe: medicines being signed",
            "Checks the medicine orders about to be signed against the patient's "
            "medicines, conditions, kidney function and allergies, with cited label "
            "sources; suggests the engine's best alternative or an adjusted dose."),
    )
}


def discovery() -> dict[str, Any]:
    """GET /cds-services."""
    return {"services": [service.discovery() for service in SERVICES.values()]}


def service_named(service_id: str) -> ServiceDefinition:
    found = SERVICES.get(service_id)
    if found is None:
        raise NotFound(f"no CDS service {service_id!r}; the services are: "
                       f"{', '.join(SERVICES)}")
    return found


class FhirReader(Protocol):
    def get(self, relative: str) -> dict[str, Any]: ...

    def search(self, relative: str) -> list[dict[str, Any]]: ...


ClientFactory = Callable[[str, str | None], FhirReader]


def default_client(base_url: str, access_token: str | None) -> FhirReader:
    return FhirClient(base_url, access_token=access_token)


# ------------------------------------------------------------------------ the use case

def call_service(uow: UnitOfWork, catalog: Catalog, service_id: str, document: Any, *,
                 today: date, now: datetime, client: ClientFactory = default_client,
                 policy: CardPolicy = card_rules.DEFAULT_POLICY,
                 new_uuid: Callable[[], str] = lambda: str(uuid.uuid4())
                 ) -> dict[str, Any]:
    """POST /cds-services/{id}: the cards for this request, stored for feedback.

    Reading from the FHIR server happens before the database is touched, so no
    transaction is held open across the network."""
    service = service_named(service_id)
    found = answer(catalog, service, parse_hook_request(document, service_hook=service.hook),
                   today=today, now=now, client=client, policy=policy, new_uuid=new_uuid)
    if found.cards:
        store_answer(uow, found)
        uow.commit()
    return found.reply


@dataclass(frozen=True, slots=True)
class Answer:
    """The cards for one hook request, not yet stored."""

    service: ServiceDefinition
    request: HookRequest
    cards: list[card_rules.Card]
    made_at: datetime

    @property
    def reply(self) -> dict[str, Any]:
        return card_rules.response(self.cards)


def answer(catalog: Catalog, service: ServiceDefinition, request: HookRequest, *,
           today: date, now: datetime, client: ClientFactory = default_client,
           policy: CardPolicy = card_rules.DEFAULT_POLICY,
           new_uuid: Callable[[], str] = lambda: str(uuid.uuid4())) -> Answer:
    """The cards for a parsed request: its data gathered (from the FHIR server only when
    `needs_fhir_server`), the engine run, the cards built. No database."""
    data, medications = gather(request, client)
    orders = tuple(_resolved(order, medications) for order in request.draft_orders)
    request = replace(request, draft_orders=orders)
    record = read_bundle(assemble_patient_bundle(request, data))
    problems = review(request, record, catalog, today=today, policy=policy)
    made = [card_rules.build_card(p, patient_id=request.patient_id, now=now,
                                  new_uuid=new_uuid) for p in problems]
    return Answer(service, request, made, now)


def store_answer(uow: UnitOfWork, found: Answer) -> None:
    """Store an answer's cards (for feedback and the override report) in `uow`'s
    transaction; the caller commits."""
    store_answers(uow, [found])


def store_answers(uow: UnitOfWork, answers: Sequence[Answer]) -> None:
    """The cards of several answers in `uow`'s transaction, in one statement."""
    uow.cds.add_responses([
        CardResponse(found.service.id, found.request.hook_instance,
                     found.request.patient_reference, found.cards, found.made_at)
        for found in answers if found.cards])


def needs_fhir_server(request: HookRequest) -> bool:
    """Whether answering will read from the EHR's FHIR server (a prefetch key missing, a
    draft order's Medication only there, or a Medication the patient's orders name but
    the prefetch lacks): network I/O, which the API keeps off its event loop."""
    if request.fhir_server is None:
        return False  # nothing to read from: answered (or refused with 412) at once
    data, missing = _prefetched_data(request)
    return bool(missing or any(o.medication_reference is not None
                               for o in request.draft_orders)
                or unresolved_medications(data))


def _prefetched_data(request: HookRequest
                     ) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    data: dict[str, list[dict[str, Any]]] = {}
    missing: list[str] = []
    for key in PREFETCH:
        try:
            data[key] = prefetched(request, key)
        except NotPrefetched:
            missing.append(key)
    return data, missing


def gather(request: HookRequest, client: ClientFactory
           ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The patient's data by prefetch key, and the Medications of draft orders that only
    the FHIR server can resolve. What the client did not prefetch is read from its FHIR
    server; with no server, or a server that fails, RequiredDataMissing (412)."""
    data, missing = _prefetched_data(request)
    references = sorted({o.medication_reference for o in request.draft_orders
                         if o.medication_reference is not None})
    medications: dict[str, dict[str, Any]] = {}
    if not missing and not references and (request.fhir_server is None
                                            or not unresolved_medications(data)):
        return data, medications
    needed = ", ".join(missing + references)
    if request.fhir_server is None:
        raise RequiredDataMissing(f"{needed}: not prefetched, and the request names no "
                                  "fhirServer to read it from", where="prefetch")
    reader = client(request.fhir_server, request.access_token)
    context = {"patientId": request.patient_id}
    try:
        for key in missing:
            found = reader.search(render_prefetch(PREFETCH[key], context))
            # A search's OperationOutcome entries and _include extras are passed over.
            data[key] = [r for r in found if r.get("resourceType") in PREFETCH_TYPES[key]]
        for reference in references:
            medications[reference] = reader.get(reference)
        # The patient's own orders may name their medicine by reference only; without it
        # the engine could not check that medicine at all.
        for reference in unresolved_medications(data):
            found_medication = reader.get(reference)
            if found_medication.get("resourceType") == "Medication":
                data["medications"].append(found_medication)
    except FhirServerError as error:
        raise RequiredDataMissing(f"{needed or 'Medication'} could not be read from the "
                                  f"FHIR server: {error}", where="fhirServer") from None
    return data, medications


def unresolved_medications(data: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """'Medication/{id}' references of the patient's MedicationRequests whose Medication
    is not among the data."""
    known = {f"Medication/{r['id']}" for r in data.get("medications", ())
             if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)}
    found: set[str] = set()
    for resource in data.get("medications", ()):
        reference = resource.get("medicationReference")
        target = reference.get("reference") if isinstance(reference, dict) else None
        if (resource.get("resourceType") == "MedicationRequest" and isinstance(target, str)
                and target.startswith("Medication/") and target not in known
                and FHIR_ID.fullmatch(target.removeprefix("Medication/"))):
            found.add(target)
    return sorted(found)


def _resolved(order: DraftOrder, medications: Mapping[str, dict[str, Any]]) -> DraftOrder:
    if order.concept is not None or order.medication_reference is None:
        return order
    resource = medications[order.medication_reference]
    if resource.get("resourceType") != "Medication":
        raise RequiredDataMissing(f"{order.medication_reference}: the FHIR server returned "
                                  f"a {resource.get('resourceType')!r}, not a Medication",
                                  where="fhirServer")
    concept = concept_of(resource.get("code"), order.medication_reference)
    return replace(order, concept=concept)


# ------------------------------------------------------------------------ the review

def review(request: HookRequest, record: PatientRecord, catalog: Catalog, *, today: date,
           policy: CardPolicy = card_rules.DEFAULT_POLICY) -> list[Problem]:
    """The actionable problems about each selected draft order. Pure."""
    problems: list[Problem] = []
    for order in request.draft_orders:
        if not order.selected or order.concept is None:
            continue
        others = tuple(MedicationEntry(concept=o.concept, source="request", status="draft",
                                       dose_text=o.dose_text)
                       for o in request.draft_orders if o is not order and o.concept)
        patient = replace(record, medications=record.medications + others)
        ingredients = sorted({i.ingredient for i in identify_drug(order.concept, catalog)
                              if i.ingredient})
        if ingredients:
            assessment = assess(patient, catalog, today=today)
            for ingredient in ingredients:
                problems.extend(_about_known_drug(order, assessment, ingredient, policy))
        else:
            problems.extend(_about_other_drug(order, patient, catalog, today, policy))
    return problems


def _about_known_drug(order: DraftOrder, assessment: Assessment, ingredient: str,
                      policy: CardPolicy) -> list[Problem]:
    option = assessment.option(ingredient)
    swap = best_alternative(assessment, option)
    found = []
    for finding, related in card_rules.select_problems(option.findings, policy):
        found.append(Problem(order=order, finding=finding, related=related, swap=swap,
                             dose_change=adjusted_dose(option, assessment.context, finding)))
    return found


def _about_other_drug(order: DraftOrder, patient: PatientRecord, catalog: Catalog,
                      today: date, policy: CardPolicy) -> list[Problem]:
    """An ordered drug outside the knowledge base: what the labels of the knowledge-base
    medicines the patient takes say about it."""
    assert order.concept is not None
    matched = match_medicine(order.concept, catalog)
    if matched is None:
        return []  # nobody knows this drug: the engine has nothing to say about it
    entry = MedicationEntry(concept=order.concept, source="request", status="draft",
                            dose_text=order.dose_text)
    with_order = replace(patient, medications=(*patient.medications, entry))
    assessment = assess(with_order, catalog, today=today)
    found: list[Problem] = []
    for medicine in assessment.context.medicines:
        if medicine is matched:
            continue
        for ingredient in sorted(medicine.ingredients):
            option = assessment.option(ingredient)
            about_order = [f for f in option.findings if matched.label in f.with_]
            swap = best_alternative(assessment, option)
            taper = next((f for f in option.findings
                          if f.rule.endswith("/abrupt-withdrawal")), None)
            for finding, related in card_rules.select_problems(about_order, policy):
                found.append(Problem(order=order, finding=finding, related=related,
                                     swap=swap, switch_from=medicine.label, taper=taper))
    return found


def best_alternative(assessment: Assessment, instead_of: Option) -> Alternative | None:
    """The engine's best-ranked other medicine given by the same route, if it suits the
    patient better than the one it would replace and the patient does not already take
    it. Same route: an injected medicine in place of tablets is another therapy (a
    clinic, a pump, a screening dose), which the engine never chooses silently either
    (`engine.choose_route`); a swap suggestion must not do it behind the prescriber."""
    taken = assessment.context.medicine_ingredients
    for option in assessment.options:  # ranked, best first
        if option.candidate.id == instead_of.candidate.id or option.candidate.id in taken:
            continue
        if option.candidate.route != instead_of.candidate.route:
            continue
        if SUITABILITY_ORDER[option.suitability] >= SUITABILITY_ORDER[instead_of.suitability]:
            return None
        ingredient = option.candidate.ingredient
        codings = tuple(Coding(card_rules.code_system_uri(c.system), c.code, ingredient.name)
                        for c in ingredient.codes if c.verified)
        return Alternative(ingredient_id=ingredient.id, name=ingredient.name,
                           suitability=option.suitability,
                           dose_start=option.dose.start if option.dose else None,
                           codings=codings)
    return None


def adjusted_dose(option: Option, context: PatientContext, finding: Finding) -> str | None:
    """The adjusted dose the knowledge base gives for the reason a finding is about, with
    its citation; None when it gives none. Only rules that state a dose count (a renal,
    liver or interaction rule's `dose`, the older-adult dose): "the dosage may need to be
    reduced" is the finding's text, not a dose to write into the order. The same rules as
    `assessment.dose.plan`, which merges them into prose."""
    candidate = option.candidate
    stated: list[tuple[str, str]] = []
    if finding.kind == "renal":
        stated = [(r.dose, r.source.cite()) for r in renal.matching_rules(candidate, context)
                  if r.action != "no-change" and r.dose]
    elif finding.kind == "hepatic":
        stated = [(h.dose, h.source.cite()) for h in candidate.view.hepatic
                  if set(h.when) & context.hepatic_states and h.action != "no-change"
                  and h.dose]
    elif finding.kind == "interaction":
        partners = [m for m in context.medicines if m.label in finding.with_]
        profile = candidate.profile
        for medicine in partners:
            for class_id in sorted(medicine.classes & profile.interactions_by_class.keys()):
                stated += [(ix.dose, ix.source.cite())
                           for ix in profile.interactions_by_class[class_id] if ix.dose]
            for other in sorted(medicine.ingredients & profile.interactions_by_ingredient.keys()):
                stated += [(ix.dose, ix.source.cite())
                           for ix in profile.interactions_by_ingredient[other] if ix.dose]
    elif finding.kind == "age":
        older = candidate.ingredient.older_adult_dose
        if older is not None and context.age is not None and context.age >= OLDER_ADULT_AGE:
            stated = [(older.text, older.source.cite())]
    unique = list(dict.fromkeys(stated))
    return " ".join(f"{dose} ({cite})" for dose, cite in unique) or None

