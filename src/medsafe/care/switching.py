"""Switching the patients a recall touches (issue 7 §1, §5; docs/care.md): medsafe proposes
alternatives on each affected patient's own stored record, the prescriber decides.

Use cases:

- `propose_for_recall`: a review (`care_reviews` row, state "proposed") for every patient
  the recall's notices reached, with the alternatives `care.alternatives.propose` finds on
  that patient's record, the stock of the patient's pharmacy and the current dose.
- `propose_for_patient`: the same for one patient; a patient who did not receive a lot of
  the recall is refused (Invalid), nothing written.
- `list_reviews`, `read_review`: the reviews the caller may see.
- `decide`: the prescriber accepts a proposal or chooses another medicine (checked by the
  engine: never one with a critical finding); recorded as a prescription change with its
  monitoring plan, audited, and told to the patient and the pharmacy through the outbox.

Who may do what (a role outside the list gets 403; a review or patient the caller may not
see is a 404):

| action         | roles                                                               |
|----------------|---------------------------------------------------------------------|
| propose        | admin (all); pharmacist (its pharmacy's notices); physician (its    |
|                | own patients)                                                       |
| list, read     | the same, and a patient (its own reviews, read only)                |
| decide         | physician (its own patients); admin (for a patient with a physician |
|                | of record, who is then the prescriber)                              |

Regulators and manufacturers see no review: reviews are patient-level data.

Transactions. `propose_for_recall` reads each batch of `BATCH` patients in a short
transaction and releases it (`uow.release()`) before running the engine, so that the
engine's seconds never hold SQLite's write lock; everything it proposes is then written
in ONE transaction at the end, with its audit event. A failure anywhere writes nothing,
and running it again does the whole recall; a run that finds nothing changed writes no
review (the audit event records the run). A review decided while the run computed is
left alone (its state is checked again in the write). `decide` is one transaction: the
review, the prescriptions, the monitoring plan and its check-ins, the audit events and
the messages are written together or not at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, false, select, true

from medsafe.assessment.context import match_medicine
from medsafe.assessment.engine import assess
from medsafe.assessment.patient import (
    AllergyEntry,
    Concept,
    ConditionEntry,
    LabResult,
    MedicationEntry,
    PatientRecord,
    Preferences,
)
from medsafe.care import alternatives, doses, monitoring_service, transitions
from medsafe.care.inputs import (
    REVIEW_STATES,
    Decision,
    ProposalView,
    ReviewState,
    ReviewSummary,
    ReviewView,
    TaperStep,
)
from medsafe.care.model import DoseStep, FindingNote, Proposal, TransitionPlan
from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.notify.message import Notice
from medsafe.recalls.matching import Affected, recall_keys
from medsafe.recalls.notifying import usable_address
from medsafe.recalls.service import visible_recalls
from medsafe.records import aware, check_day, now, require_role, visible_patient
from medsafe.records.patients import _concept, _lab_kind, _severity
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.repositories.care_reviews import (
    ClinicalRows,
    PrescriptionRow,
    ReviewRow,
    StockRow,
    StoredReview,
    TargetRow,
)
from medsafe.store.schema import (
    CareRelationship,
    CareReview,
    Prescription,
    RecallPatientNotice,
    RecallRow,
)
from medsafe.store.uow import UnitOfWork
from medsafe.supply.prescriptions import MAX_START_AHEAD

PROPOSERS = ("admin", "pharmacist", "physician")
READERS = ("admin", "pharmacist", "physician", "patient")
DECIDERS = ("admin", "physician")
BATCH = 1000  # patients read per short transaction (a few queries each)
T = TypeVar("T")
Progress = Callable[[int, int], None]
"""Called after each batch with (patients done, patients in all)."""


# -- what a run did ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProposalTally:
    """What one run of proposing did for the patients in the caller's scope."""

    recall_id: int
    patients: int = 0  # patients of the recall's notices in the caller's scope
    created: int = 0  # new reviews
    refreshed: int = 0  # undecided reviews whose proposals changed
    unchanged: int = 0  # undecided reviews proposed again as they were
    decided: int = 0  # reviews decided already: left alone
    without_proposals: int = 0  # reviews with no safe alternative found (prescriber decides)
    not_affected: int = 0  # notices whose patient no longer received a recalled lot
    batches: int = 0

    def counts(self) -> dict[str, int]:
        """For the audit event."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "recall_id"}


@dataclass(frozen=True, slots=True)
class _Reach:
    """What the recall reaches, read once: each patient's recalled ingredient and the lot
    they last received (its product), and the recall's lots."""

    ingredient: Mapping[int, str]
    latest: Mapping[int, tuple[int, int]]  # patient id -> (lot id, product id)
    lot_ids: frozenset[int]
    lot_numbers: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Proposed:
    """One patient's review as a run computed it (plain values, no ORM row)."""

    patient_id: int
    notice_id: int
    prescription_id: int | None
    medicine: str
    proposals: list[dict[str, Any]]


# -- proposing ---------------------------------------------------------------------------------

def propose_for_recall(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                       recall_id: int, *, today: date,
                       progress: Progress | None = None) -> ProposalTally:
    """A review with ranked alternatives for every patient of the recall's notices in the
    caller's scope (admin: all; pharmacist: its pharmacy's notices; physician: the patients
    it cares for). Idempotent: see the module docstring."""
    require_role(principal, PROPOSERS, "propose alternatives for a recall's patients")
    recall = _reached(uow, principal, recall_id)
    targets = uow.care_reviews.targets(recall.id, **_scope(principal))
    return _propose(uow, principal, catalog, recall, targets, today=today, progress=progress)


def propose_for_patient(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                        recall_id: int, pseudonym: str, *, today: date) -> ReviewView:
    """The review of one patient of the recall, proposed (again, if undecided) now."""
    require_role(principal, PROPOSERS, "propose alternatives for a recall's patients")
    recall = _reached(uow, principal, recall_id)
    patient = visible_patient(uow, principal, pseudonym)
    reach = _reach(uow, recall)
    if patient.id not in reach.ingredient:
        raise Invalid(f"patient {pseudonym} did not receive a lot of recall "
                      f"{_label(recall)}", where="patient")
    targets = uow.care_reviews.targets(recall.id, patient_id=patient.id, **_scope(principal))
    if not targets:
        # Received a lot but the notices did not reach them (or not through this
        # pharmacy): nothing to propose for until the recall's notices name them.
        raise Invalid(f"recall {_label(recall)} has no patient notice for {pseudonym} that "
                      "you handle: proposals follow the recall's notices", where="patient")
    _propose(uow, principal, catalog, recall, targets, today=today, reach=reach,
             commit=False)
    uow.flush()
    stored = uow.care_reviews.stored(recall.id, [patient.id])[patient.id]
    view = read_review(uow, principal, stored.id)
    uow.commit()
    return view


def _propose(uow: UnitOfWork, principal: Principal, catalog: Catalog, recall: RecallRow,
             targets: Sequence[TargetRow], *, today: date, progress: Progress | None = None,
             reach: _Reach | None = None, commit: bool = True) -> ProposalTally:
    recall_id, label = recall.id, _label(recall)
    reach = reach or _reach(uow, recall)
    affected = [t for t in targets if t.patient_id in reach.ingredient]
    proposed: list[_Proposed] = []
    memo: dict[object, Any] = {}
    batches = 0
    for start in range(0, len(affected), BATCH):
        batch = affected[start:start + BATCH]
        repository = uow.care_reviews
        records = repository.clinical(t.patient_id for t in batch)
        stock = repository.stock({t.pharmacy_id for t in batch},
                                 {reach.ingredient[t.patient_id] for t in batch})
        if commit:
            # What the engine needs is read into plain values: end the transaction before
            # the engine's seconds, so that they never hold SQLite's write lock. (One
            # patient's run is part of its caller's transaction and is short.)
            uow.release()
        proposed.extend(_compute(catalog, batch, records, stock, reach, today, memo))
        batches += 1
        if progress is not None:
            progress(start + len(batch), len(affected))
    tally = _store(uow, recall_id, proposed)
    tally = replace(tally, patients=len(targets), not_affected=len(targets) - len(affected),
                    batches=batches)
    audit.record(uow, principal, "care.propose", "recall", recall_id,
                 {"recall": label, **tally.counts()})
    if commit:
        uow.commit()
    return tally


def _compute(catalog: Catalog, batch: Sequence[TargetRow], records: Mapping[int, ClinicalRows],
             stock: Mapping[int, Sequence[StockRow]], reach: _Reach, today: date,
             memo: dict[object, Any]) -> list[_Proposed]:
    """Each patient's proposals, from the batch's records and its pharmacies' stock."""
    found: list[_Proposed] = []
    for target in batch:
        rows = records[target.patient_id]
        ingredient = reach.ingredient[target.patient_id]
        current = current_prescription(rows.prescriptions, ingredient)
        lots = [alternatives.StockLot(lot_number=s.lot_number, product_id=s.product_id,
                                      ingredient_id=s.ingredient_id, strength=s.strength,
                                      route=s.route, expiry=s.expiry, quantity=s.quantity)
                for s in stock.get(target.pharmacy_id, ())
                if s.ingredient_id == ingredient and s.lot_id not in reach.lot_ids]
        proposals = alternatives.propose(
            record_of(rows, catalog), catalog, recalled_ingredient=ingredient,
            recalled_lots=reach.lot_numbers,
            current_dose_text=current.dose_text if current else None, stock=lots,
            today=today)
        found.append(_Proposed(patient_id=target.patient_id, notice_id=target.notice_id,
                               prescription_id=current.id if current else None,
                               medicine=ingredient,
                               proposals=[proposal_json(p, memo) for p in proposals]))
    return found


def _store(uow: UnitOfWork, recall_id: int, proposed: Sequence[_Proposed]) -> ProposalTally:
    """Insert the new reviews and refresh the undecided ones whose proposals changed; a
    decided review is never touched."""
    repository = uow.care_reviews
    stored = repository.stored(recall_id, (p.patient_id for p in proposed))
    at = now()
    inserts: list[dict[str, Any]] = []
    refreshes: list[dict[str, Any]] = []
    unchanged = decided = empty = 0
    for item in proposed:
        empty += not item.proposals
        old = stored.get(item.patient_id)
        values = {"notice_id": item.notice_id, "prescription_id": item.prescription_id,
                  "medicine": item.medicine, "proposals": item.proposals}
        if old is None:
            inserts.append({"recall_id": recall_id, "patient_id": item.patient_id,
                            "state": "proposed", "proposed_at": at, **values})
        elif old.state != "proposed":
            decided += 1
        elif _same(old, item):
            unchanged += 1
        else:
            refreshes.append({"id": old.id, "proposed_at": at, **values})
    repository.insert_many(inserts)
    refreshed = repository.refresh_many(refreshes)
    return ProposalTally(recall_id=recall_id, created=len(inserts), refreshed=refreshed,
                         unchanged=unchanged,
                         decided=decided + len(refreshes) - refreshed,
                         without_proposals=empty)


def _same(old: StoredReview, new: _Proposed) -> bool:
    return (old.proposals == new.proposals and old.notice_id == new.notice_id
            and old.prescription_id == new.prescription_id and old.medicine == new.medicine)


def _reach(uow: UnitOfWork, recall: RecallRow) -> _Reach:
    """Who the recall reaches in the store now (`uow.affected`, three queries): each
    patient's ingredient is that of the product of the recalled lot they last received."""
    affected: Affected = uow.affected.affected(recall_keys(uow.recalls.record(recall)))
    products = {lot.lot_id: lot.product_id for lot in affected.lots}
    ingredients = {product_id: row.ingredient_id for product_id, row
                   in uow.recall_notices.products(set(products.values())).items()}
    latest: dict[int, tuple[int, int]] = {}
    ingredient: dict[int, str] = {}
    # Recipients come by patient, then dispensing date: the last one per patient wins.
    for recipient in affected.recipients:
        product_id = products[recipient.lot_id]
        latest[recipient.patient_id] = (recipient.lot_id, product_id)
        ingredient[recipient.patient_id] = ingredients[product_id]
    return _Reach(ingredient=ingredient, latest=latest,
                  lot_ids=frozenset(products),
                  lot_numbers=frozenset(lot.lot_number for lot in affected.lots))


def current_prescription(prescriptions: Sequence[PrescriptionRow],
                         ingredient: str) -> PrescriptionRow | None:
    """The active prescription of the recalled ingredient: the latest started (then the
    latest written) where there are several."""
    mine = [p for p in prescriptions if p.ingredient_id == ingredient]
    return max(mine, key=lambda p: (p.start_date, p.id)) if mine else None


def record_of(rows: ClinicalRows, catalog: Catalog) -> PatientRecord:
    """The engine's input from the stored rows, built exactly as
    `records.patients.patient_record` builds it for one patient (its conversions are
    reused; a test checks that the two agree)."""
    medicines: list[MedicationEntry] = [
        MedicationEntry(concept=_concept(text, "rxnorm" if rxnorm else None, rxnorm),
                        source="statement", status="active")
        for text, rxnorm in rows.medications
    ]
    for prescription in rows.prescriptions:
        ingredient = catalog.ingredients.get(prescription.ingredient_id)
        name = ingredient.name if ingredient else prescription.ingredient_id
        medicines.append(MedicationEntry(concept=Concept(text=name), source="request",
                                         status="active", dose_text=prescription.dose_text))
    route = rows.preferred_route
    return PatientRecord(
        id=rows.pseudonym,
        birth_date=rows.birth_date,
        sex=rows.sex,
        conditions=tuple(ConditionEntry(concept=_concept(text, system, code),
                                        severity=_severity(severity))
                         for text, system, code, severity in rows.conditions),
        medications=tuple(medicines),
        allergies=tuple(AllergyEntry(concept=_concept(text, system, code),
                                     reactions=(reaction,) if reaction else ())
                        for text, system, code, reaction in rows.allergies),
        labs=tuple(LabResult(kind=_lab_kind(kind), value=value, unit=unit,
                             upper_limit=upper, category=category, effective=observed)
                   for kind, value, unit, upper, category, observed in rows.observations),
        pregnant=rows.pregnant,
        preferences=Preferences(
            route="oral" if route == "oral" else "injection" if route == "injection" else None,
            avoid_side_effects=tuple(rows.avoid_side_effects)),
        symptom_severity=_severity(rows.symptom_severity),
    )


# -- proposals as JSON -------------------------------------------------------------------------

def proposal_json(proposal: Proposal, memo: dict[object, Any] | None = None
                  ) -> dict[str, Any]:
    """A proposal as a review stores it: what `dataclasses.asdict` gives, with tuples as
    lists (as the JSON column gives them back, so that a re-run compares equal). Built
    without `asdict`, whose deep copies were most of the cost of proposing for ten
    thousand patients; a test checks the two agree. `memo` (one run's) converts each
    distinct transition plan and finding once: patients on the same dose share them."""
    data: dict[str, Any] = _plain(proposal, {} if memo is None else memo)
    return data


_FIELDS: dict[type, tuple[str, ...]] = {}
_SHARED = (TransitionPlan, FindingNote)


def _plain(value: Any, memo: dict[object, Any]) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, tuple | list):
        return [_plain(item, memo) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item, memo) for key, item in value.items()}
    shared = isinstance(value, _SHARED)
    if shared and value in memo:
        return memo[value]
    names = _FIELDS.get(type(value))
    if names is None:
        names = _FIELDS[type(value)] = tuple(f.name for f in fields(value))
    plain = {name: _plain(getattr(value, name), memo) for name in names}
    if shared:
        memo[value] = plain
    return plain


def proposal_from_json(data: Mapping[str, Any]) -> Proposal:
    """A stored proposal back as `care.model.Proposal` (keys it does not know are
    ignored, so that proposals stored before a field was added still read)."""
    transition = dict(data["transition"])
    plan = _build(TransitionPlan, transition,
                  stop=tuple(_build(DoseStep, s) for s in transition.get("stop", ())),
                  start=tuple(_build(DoseStep, s) for s in transition.get("start", ())))
    return _build(Proposal, data, transition=plan,
                  findings=tuple(_build(FindingNote, f) for f in data.get("findings", ())))


def _build(cls: type[T], data: Mapping[str, Any], **given: Any) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: tuple(v) if isinstance(v, list) else v
              for k, v in data.items() if k in names and k not in given}
    return cls(**values, **given)


# -- reading reviews ---------------------------------------------------------------------------

def list_reviews(uow: UnitOfWork, principal: Principal, *, recall_id: int | None = None,
                 state: str | None = None, offset: int = 0, limit: int = 50
                 ) -> tuple[list[ReviewSummary], int]:
    """The reviews the caller may see, by recall and pseudonym."""
    _reader(principal)
    if state is not None and state not in REVIEW_STATES:
        raise Invalid(f"unknown state '{state}' (states: {', '.join(REVIEW_STATES)})",
                      where="state")
    rows, total = uow.care_reviews.review_rows(_visible(principal), recall_id=recall_id,
                                               state=state, offset=offset, limit=limit)
    return [_summary(row) for row in rows], total


def read_review(uow: UnitOfWork, principal: Principal, review_id: int) -> ReviewView:
    _reader(principal)
    found = uow.care_reviews.review_row(review_id, _visible(principal))
    if found is None:
        raise NotFound(f"no care review {review_id}")
    return _view(uow, found)


def _reader(principal: Principal) -> None:
    if principal.role in ("regulator", "manufacturer"):
        raise Forbidden(f"a {principal.role} sees no care reviews: they are patient-level "
                        "data")
    require_role(principal, READERS, "read care reviews")


def _visible(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on the reviews query (`care_reviews._reviews`)."""
    if principal.role == "admin":
        return true()
    if principal.role == "patient":
        return (CareReview.patient_id == principal.patient_id if principal.patient_id
                else false())
    if principal.role == "physician":
        return CareReview.patient_id.in_(select(CareRelationship.patient_id).where(
            CareRelationship.physician_id == principal.user_id))
    if principal.role == "pharmacist" and principal.organisation_id is not None:
        return RecallPatientNotice.pharmacy_id == principal.organisation_id
    return false()


def _state(value: str) -> ReviewState:
    if value == "accepted":
        return "accepted"
    if value == "chosen_other":
        return "chosen_other"
    return "proposed"


def _view(uow: UnitOfWork, found: ReviewRow) -> ReviewView:
    review, pseudonym, number, pharmacy_id, plan_id = (found[0], found[1], found[2],
                                                       found[3], found[4])
    current = (uow.prescriptions.get(review.prescription_id)
               if review.prescription_id is not None else None)
    return ReviewView(
        id=review.id, recall_id=review.recall_id, recall_number=number, patient=pseudonym,
        pharmacy_id=pharmacy_id, medicine=review.medicine, state=_state(review.state),
        prescription_id=review.prescription_id,
        current_dose=current.dose_text if current is not None else None,
        proposals=[ProposalView.model_validate(p) for p in review.proposals],
        proposed_at=aware(review.proposed_at),
        decided_at=None if review.decided_at is None else aware(review.decided_at),
        decided_by=review.decided_by, chosen_rank=review.chosen_rank,
        choice=None if review.choice is None else dict(review.choice),
        reason=review.reason, new_prescription_id=review.new_prescription_id,
        plan_id=plan_id)


def _summary(found: ReviewRow) -> ReviewSummary:
    review, pseudonym, number, plan_id = found[0], found[1], found[2], found[4]
    first = review.proposals[0] if review.proposals else None
    words = None
    if first is not None:
        words = (f"{first.get('ingredient_name')}: "
                 + ("same medicine, lots not recalled" if first.get("kind") == "same-medicine"
                    else f"switch ({first.get('suitability')})"))
    return ReviewSummary(id=review.id, recall_id=review.recall_id, recall_number=number,
                         patient=pseudonym, medicine=review.medicine,
                         state=_state(review.state), proposals=len(review.proposals),
                         first=words,
                         decided_at=None if review.decided_at is None
                         else aware(review.decided_at),
                         plan_id=plan_id)


# -- deciding ----------------------------------------------------------------------------------

def decide(uow: UnitOfWork, principal: Principal, catalog: Catalog, review_id: int,
           decision: Decision, *, today: date) -> ReviewView:
    """The prescriber's decision (see `inputs.Decision`), recorded in one transaction."""
    require_role(principal, DECIDERS, "decide a patient's switch")
    found = uow.care_reviews.review_row(review_id, _visible(principal))
    if found is None:
        raise NotFound(f"no care review {review_id}")
    review, pseudonym = found[0], found[1]
    if review.state != "proposed":
        when = aware(review.decided_at).isoformat() if review.decided_at else "earlier"
        raise Conflict(f"care review {review.id} was decided already, by "
                       f"{review.decided_by} at {when} ({review.state})")
    start = decision.start_date or today
    check_day(start, "start_date", not_after=today + MAX_START_AHEAD)
    if start < today:
        raise Invalid(f"a switch starts today ({today.isoformat()}) or later",
                      where="start_date")
    recall = uow.care_reviews.recall(review.recall_id)
    assert recall is not None  # a foreign key
    prescriber_id = _prescriber(uow, principal, review.patient_id, pseudonym)
    rows = uow.care_reviews.clinical([review.patient_id])[review.patient_id]
    old = uow.prescriptions.get(review.prescription_id) if review.prescription_id else None
    if old is not None and old.status != "active":
        old = None  # stopped since the proposals were made: nothing left to taper
    current_dose = old.dose_text if old is not None else None
    reason = decision.reason.strip()

    proposal, state = _chosen(catalog, review, rows, decision, reason, current_dose, start,
                              pseudonym)
    transition = with_start(proposal, decision.dose_text)
    transition = with_taper(replace(proposal, transition=transition), decision.taper_steps,
                            medicine_from=review.medicine,
                            name_from=_name(catalog, review.medicine),
                            current_dose=current_dose, by=principal.username, reason=reason)
    proposal = replace(proposal, transition=transition)
    at = now()
    label = _label(recall)

    new = _prescribe(uow, principal, catalog, review, proposal, decision, prescriber_id,
                     start, pseudonym)
    if old is not None and proposal.kind == "switch":
        _end_old(uow, principal, old, proposal, transition, start, today, pseudonym, label)
    product_id, lot_id = _plan_lot(uow, recall, review.patient_id, proposal)
    plan = monitoring_service.start_plan(
        uow, patient_id=review.patient_id, review_id=review.id, recall_id=recall.id,
        prescriber_id=prescriber_id, medicine_from=review.medicine,
        medicine_to=proposal.ingredient_id, product_id=product_id, lot_id=lot_id,
        transition=transition, today=start)
    before = {"state": review.state, "chosen_rank": None, "new_prescription_id": None}
    review.state = state
    review.decided_at, review.decided_by = at, principal.username
    review.chosen_rank = proposal.rank if state == "accepted" else None
    review.choice = proposal_json(proposal)
    review.reason = reason or None
    review.new_prescription_id = new.id if new is not None else None
    uow.flush()
    audit.record(uow, principal, "care.decide", "care_review", review.id, {
        "recall": label, "patient": pseudonym, "medicine_from": review.medicine,
        "medicine_to": proposal.ingredient_id, "kind": proposal.kind,
        "transition": transition.kind, "start_date": start, "plan_id": plan.id,
        **audit.diff(before, {"state": state, "chosen_rank": review.chosen_rank,
                              "new_prescription_id": review.new_prescription_id})},
        reason=reason or None, at=at)
    _tell(uow, catalog, review, pseudonym, label, proposal, transition, start, new, old,
          plan.check_in_days, at)
    uow.flush()
    refreshed = uow.care_reviews.review_row(review.id, true())
    assert refreshed is not None  # just written
    view = _view(uow, refreshed)
    uow.commit()
    return view


def _prescriber(uow: UnitOfWork, principal: Principal, patient_id: int,
                pseudonym: str) -> int:
    """Who prescribes the switch: the deciding physician, or for an administrator the
    patient's physician of record (the first linked)."""
    if principal.role == "physician":
        return principal.user_id
    physicians = uow.care_reviews.physicians_of(patient_id)
    if not physicians:
        raise Invalid(f"patient {pseudonym} has no physician of record: a switch needs a "
                      "prescriber; link the patient's physician first, or let them decide")
    return physicians[0].id


def _chosen(catalog: Catalog, review: CareReview, rows: ClinicalRows, decision: Decision,
            reason: str, current_dose: str | None, start: date, pseudonym: str
            ) -> tuple[Proposal, Literal["accepted", "chosen_other"]]:
    """The proposal the decision takes, and the review's new state."""
    if (decision.rank is None) == (decision.ingredient is None):
        raise Invalid("give either the rank of a proposal to accept, or another "
                      "ingredient with its dose_text", where="rank")
    if decision.rank is not None:
        if decision.dose_text is not None:
            raise Invalid("dose_text goes with another ingredient; an accepted proposal "
                          "keeps its own dose", where="dose_text")
        proposals = [proposal_from_json(p) for p in review.proposals]
        chosen = next((p for p in proposals if p.rank == decision.rank), None)
        if chosen is None:
            ranks = ", ".join(str(p.rank) for p in proposals) or "none"
            raise Invalid(f"care review {review.id} has no proposal {decision.rank} "
                          f"(proposals: {ranks})", where="rank")
        if decision.rank != 1 and not reason:
            raise Invalid("say why a proposal other than the first is taken",
                          where="reason")
        return chosen, "accepted"
    if decision.dose_text is None:
        raise Invalid("another medicine needs its starting dose", where="dose_text")
    if not reason:
        raise Invalid("say why another medicine is chosen over the proposals",
                      where="reason")
    return _other(catalog, review, rows, decision.ingredient or "", decision.dose_text,
                  reason, current_dose, start, pseudonym), "chosen_other"


def _other(catalog: Catalog, review: CareReview, rows: ClinicalRows, name: str,
           dose_text: str, reason: str, current_dose: str | None, start: date,
           pseudonym: str) -> Proposal:
    """The prescriber's own choice, checked by the engine on the patient's record without
    the recalled medicine (as the proposals were): one critical finding refuses it."""
    try:
        ingredient = catalog.ingredient(name)
    except NotFound:
        raise Invalid(f"'{name}' is not an ingredient in the knowledge base",
                      where="ingredient") from None
    if ingredient.id == review.medicine:
        raise Invalid(f"{ingredient.name} is the recalled medicine: accept the proposal of "
                      "the same medicine from lots that are not recalled instead",
                      where="ingredient")
    record = without_medicine(record_of(rows, catalog), catalog, review.medicine)
    option = assess(record, catalog, today=start, drugs=[ingredient.id]).options[0]
    critical = [f for f in option.findings if f.severity == "critical"]
    if critical:
        raise Invalid(f"{ingredient.name} has a critical finding for patient {pseudonym}: "
                      + "; ".join(f.summary for f in critical)
                      + " — choose a medicine without one", where="ingredient")
    transition = transitions.plan_transition(
        catalog, from_ingredient=review.medicine, current_dose_text=current_dose,
        to_ingredient=ingredient.id, patient=record, today=start,
        to_route=option.candidate.route)
    dose = option.dose
    return Proposal(
        rank=0, kind="switch", ingredient_id=ingredient.id, ingredient_name=ingredient.name,
        route=str(option.candidate.route), suitability=option.suitability,
        findings=tuple(FindingNote(severity=f.severity, kind=f.kind, summary=f.summary,
                                   rule=f.rule,
                                   source=f.source.cite() if f.source else None)
                       for f in option.findings),
        dose_start=dose_text, dose_titration=dose.titration if dose else (),
        dose_max_daily=dose.max_daily if dose else None,
        dose_source=dose.source if dose else None, transition=transition,
        reasons=(f"chosen by the prescriber: {reason}",))


def without_medicine(record: PatientRecord, catalog: Catalog,
                     ingredient_id: str) -> PatientRecord:
    """The record without the medicines that are `ingredient_id` (the recalled one: the
    patient will not be on it once switched), as the proposals were assessed."""
    kept = tuple(m for m in record.medications
                 if ingredient_id not in _ingredients(m.concept, catalog))
    return replace(record, medications=kept)


def _ingredients(concept: Concept, catalog: Catalog) -> frozenset[str]:
    matched = match_medicine(concept, catalog)
    return matched.ingredients if matched is not None else frozenset()


def with_start(proposal: Proposal, dose_text: str | None) -> TransitionPlan:
    """The transition with a starting step for the new medicine where the plan has none
    (no dosing in the knowledge base for its route): the prescriber's dose, else the
    engine's start dose, held until the prescriber reviews. Neither: Invalid."""
    plan = proposal.transition
    if proposal.kind == "same-medicine" or plan.start:
        return plan
    text = dose_text or proposal.dose_start
    if not text:
        raise Invalid(f"medsafe holds no starting dose of {proposal.ingredient_name}: choose "
                      "it as another medicine with its dose_text", where="dose_text")
    tapers = any(not s.stop for s in plan.stop)
    stop_needs = plan.needs_prescriber_steps and plan.kind in ("taper", "cross-titration") \
        and not plan.stop
    return replace(plan, kind="cross-titration" if tapers or stop_needs else "titration",
                   start=(DoseStep(day=0, days=None, medicine=proposal.ingredient_id,
                                   text=text, note="the starting dose; changes only after "
                                                   "the prescriber reviews"),),
                   needs_prescriber_steps=stop_needs)


def with_taper(proposal: Proposal, steps: Sequence[TaperStep], *, medicine_from: str,
               name_from: str, current_dose: str | None, by: str,
               reason: str) -> TransitionPlan:
    """The proposal's transition with the prescriber's taper of the old medicine in place
    of the plan's stop steps. Required where no cited schedule stops the old medicine
    (the plan needs the prescriber's steps and has none): never an abrupt stop. Refused
    for the same medicine, whose dose does not change; replacing the plan's own steps (a
    cited taper, or a stop the knowledge base allows) needs a reason."""
    plan = proposal.transition
    tapers = plan.kind in ("taper", "cross-titration")
    stop_needs = plan.needs_prescriber_steps and tapers and not plan.stop
    if not steps:
        if stop_needs:
            raise Invalid(f"no cited schedule stops {name_from} for this patient: write the "
                          "taper (at least two steps, each a lower daily dose than the one "
                          "before, then the stop); never an abrupt stop", where="taper_steps")
        return plan
    if proposal.kind == "same-medicine" or plan.kind == "none":
        raise Invalid(f"the same medicine from another lot keeps the current dose of "
                      f"{name_from}: no taper", where="taper_steps")
    if not stop_needs and not reason:
        raise Invalid("say why your taper replaces the plan's", where="reason")
    current = doses.parse_dose(current_dose)
    problem = taper_problem(steps, None if current is None else current.daily_mg)
    if problem is not None:
        raise Invalid(problem, where="taper_steps")
    start_needs = plan.kind in ("titration", "cross-titration") and not plan.start \
        and plan.needs_prescriber_steps
    return replace(plan, kind="cross-titration" if plan.start or start_needs else "taper",
                   stop=taper_steps(steps, medicine_from, name_from),
                   needs_prescriber_steps=start_needs,
                   derived=(*plan.derived,
                            f"The {name_from} taper steps are the prescriber's ({by})."))


def taper_problem(steps: Sequence[TaperStep], current_daily: float | None) -> str | None:
    """What is wrong with a prescriber's taper, or None: at least two steps with a dose,
    one after the other without gaps, each a lower daily dose than the one before (a last
    step of 0 mg is the stop), the first no higher than the current daily dose."""
    dosed = [s for s in steps if s.dose_mg > 0]
    if len(dosed) < 2:
        return ("a taper needs at least two steps with a dose before the stop: never an "
                "abrupt stop")
    if any(s.dose_mg == 0 for s in steps[:-1]):
        return "only the last step may be 0 mg (the stop)"
    for before, after in itertools.pairwise(steps):
        if after.day != before.day + before.days:
            return (f"the step on day {after.day} should start on day "
                    f"{before.day + before.days}, where the step before it ends")
        if after.dose_mg * after.times_per_day >= before.dose_mg * before.times_per_day:
            return (f"the daily dose must go down at every step: day {after.day} gives "
                    f"{after.dose_mg * after.times_per_day:g} mg a day after "
                    f"{before.dose_mg * before.times_per_day:g}")
    first = steps[0].dose_mg * steps[0].times_per_day
    if current_daily is not None and first > current_daily:
        return (f"the taper starts at {first:g} mg a day, above the current "
                f"{current_daily:g} mg a day")
    return None


def taper_steps(steps: Sequence[TaperStep], medicine: str, name: str
                ) -> tuple[DoseStep, ...]:
    """The prescriber's steps as the plan's DoseSteps, then the stop (as
    `transitions` marks it: a step of its own, `stop`, open-ended)."""
    dosed = [s for s in steps if s.dose_mg > 0]
    out = [DoseStep(day=s.day, days=s.days, medicine=medicine,
                    text=f"{s.dose_mg:g} mg {times(s.times_per_day)}", dose_mg=s.dose_mg,
                    times_per_day=s.times_per_day, note="written by the prescriber")
           for s in dosed]
    last = dosed[-1]
    out.append(DoseStep(day=last.day + last.days, days=None, medicine=medicine,
                        text=f"Stop {name}", stop=True))
    return tuple(out)


def times(n: int) -> str:
    return {1: "once a day", 2: "twice a day", 3: "three times a day"}.get(
        n, f"{n} times a day")


def _prescribe(uow: UnitOfWork, principal: Principal, catalog: Catalog, review: CareReview,
               proposal: Proposal, decision: Decision, prescriber_id: int, start: date,
               pseudonym: str) -> Prescription | None:
    """The new medicine's prescription (None for the same medicine: the prescription
    runs on, only the lot changes), starting with the first step of its schedule."""
    if proposal.kind == "same-medicine":
        return None
    first = proposal.transition.start[0] if proposal.transition.start else None
    dose_text = decision.dose_text or (first.text if first else proposal.dose_start)
    if not dose_text:
        raise Invalid(f"proposal {proposal.rank} gives no starting dose of "
                      f"{proposal.ingredient_name}: choose it as another medicine with its "
                      "dose_text", where="rank")
    begins = start + timedelta(days=first.day if first else 0)
    row = uow.prescriptions.add(Prescription(
        patient_id=review.patient_id, prescriber_id=prescriber_id,
        ingredient_id=proposal.ingredient_id, product_id=None, dose_text=dose_text[:200],
        status="active", start_date=begins))
    audit.record(uow, principal, "prescription.create", "prescription", row.id, {
        "patient": pseudonym, "ingredient_id": proposal.ingredient_id, "product_id": None,
        "dose_text": row.dose_text, "start_date": begins, "prescriber_id": prescriber_id,
        "care_review": review.id})
    return row


def _end_old(uow: UnitOfWork, principal: Principal, old: Prescription, proposal: Proposal,
             transition: TransitionPlan, start: date, today: date, pseudonym: str,
             label: str) -> None:
    """The recalled medicine's prescription runs on through the taper and ends with it
    (None: a step runs until the prescriber reviews); one that needs no taper ends when
    the plan stops it, and is stopped now if that is today."""
    before = {"status": old.status, "end_date": old.end_date, "reason": old.reason}
    end = taper_end(transition)
    if any(not s.stop for s in transition.stop):
        old.end_date = None if end is None else start + timedelta(days=end)
        old.reason = (f"recall {label}: switched to {proposal.ingredient_name}, taper per "
                      "monitoring plan")
    else:
        old.end_date = start + timedelta(days=end or 0)
        old.reason = f"recall {label}: switched to {proposal.ingredient_name}"
        if old.end_date <= today:
            old.status = "stopped"
    audit.record(uow, principal, "prescription.switch", "prescription", old.id, {
        "patient": pseudonym, **audit.diff(before, {"status": old.status,
                                                    "end_date": old.end_date,
                                                    "reason": old.reason})})


def taper_end(transition: TransitionPlan) -> int | None:
    """The day the old medicine stops (the day of its stop step, or the end of its last
    step); None where a step runs until the prescriber reviews."""
    if not transition.stop:
        return 0
    if any(s.days is None and not s.stop for s in transition.stop):
        return None
    return max(s.day + (s.days or 0) for s in transition.stop)


def _plan_lot(uow: UnitOfWork, recall: RecallRow, patient_id: int,
              proposal: Proposal) -> tuple[int | None, int | None]:
    """The product and lot the monitoring plan watches: for the same medicine the lot the
    patient now gets (the first in stock that is not recalled); for a switch the recalled
    lot they last received, whose withdrawal the plan watches."""
    if proposal.kind == "same-medicine" and proposal.product_id is not None and proposal.lots:
        return proposal.product_id, uow.care_reviews.lot_id(proposal.product_id,
                                                            proposal.lots[0])
    # The lots the recall's notice says the patient received, then the latest dispensing of
    # one of them: a lookup by patient, not the recall's whole reach (which read every
    # recipient, about a second a decision on a million patients).
    received = uow.care_reviews.received_lots(recall.id, patient_id)
    latest = uow.care_reviews.latest_dispensed(patient_id, received) if received else None
    return (None, None) if latest is None else (latest[1], latest[0])


# -- telling the patient and the pharmacy -------------------------------------------------------

def _tell(uow: UnitOfWork, catalog: Catalog, review: CareReview, pseudonym: str, label: str,
          proposal: Proposal, transition: TransitionPlan, start: date,
          new: Prescription | None, old: Prescription | None, check_in_days: Sequence[int],
          at: datetime) -> None:
    """The decision, in plain words, to the patient (their contact e-mail, if any) and to
    the pharmacy of their recall notice (its e-mail, if any)."""
    topic = f"care:{label}"
    recalled = _name(catalog, review.medicine)
    lines = schedule_lines(catalog, transition, start)
    if proposal.kind == "same-medicine":
        change = (f"You keep taking {recalled} at the same dose, from a lot that is not "
                  f"recalled ({', '.join(proposal.lots)}), from {start.isoformat()}.")
    else:
        change = (f"You move from {recalled} to {proposal.ingredient_name}, starting "
                  f"{start.isoformat()}.")
    schedule = "\n".join(f"- {line}" for line in lines) or "- no change to how you take it"
    checks = ", ".join((start + timedelta(days=d)).isoformat() for d in check_in_days)
    contact = uow.care_reviews.contact(review.patient_id)
    address = usable_address(contact.email if contact else None)
    if address is not None:
        name = (contact.full_name or "").strip() if contact else ""
        taper = (f"\nDo not stop {recalled} all at once: lower it step by step as above.\n"
                 if any(not step.stop for step in transition.stop) else "")
        body = (f"Dear {name or 'patient'},\n\n"
                f"Your prescriber has decided how your treatment continues after the recall "
                f"{label} of {recalled}.\n\n{change}\n\nYour schedule:\n{schedule}\n{taper}\n"
                + (f"We will ask you how you feel on {checks}. " if checks else "")
                + "If anything worries you, contact your prescriber or pharmacy.\n")
        uow.outbox.add(Notice(channel="email", recipient=address,
                              subject=f"Your {recalled} after recall {label}: what changes",
                              body_text=body, topic=topic, audience="patient"), at=at)
    notice = (uow.session.get(RecallPatientNotice, review.notice_id)
              if review.notice_id is not None else None)
    pharmacy = (uow.care_reviews.organisation(notice.pharmacy_id)
                if notice is not None else None)
    address = usable_address(pharmacy.email if pharmacy else None)
    if address is not None:
        supply = (f"Supply {recalled} from lots that are not recalled: "
                  f"{', '.join(proposal.lots)}." if proposal.kind == "same-medicine"
                  else f"New prescription {new.id}: {proposal.ingredient_name}, "
                       f"{new.dose_text}, from {new.start_date.isoformat()}." if new
                  else "")
        ending = (f"\nPrescription {old.id} ({recalled}) ends on {old.end_date.isoformat()}."
                  if old is not None and old.end_date is not None
                  and proposal.kind == "switch" else "")
        body = (f"Patient {pseudonym}, recall {label} of {recalled}.\n\n{supply}{ending}\n\n"
                f"Schedule from {start.isoformat()}:\n{schedule}\n")
        uow.outbox.add(Notice(channel="email", recipient=address,
                              subject=f"Patient {pseudonym}: {recalled} to "
                                      f"{proposal.ingredient_name} from {start.isoformat()} "
                                      f"(recall {label})",
                              body_text=body, topic=topic, audience="pharmacy"), at=at)


def schedule_lines(catalog: Catalog, transition: TransitionPlan, start: date) -> list[str]:
    """Each step of the plan as one line a patient can follow, in order of days."""
    steps = sorted((*transition.stop, *transition.start), key=lambda s: (s.day, s.stop))
    lines: list[str] = []
    for step in steps:
        when = (start + timedelta(days=step.day)).isoformat()
        name = _name(catalog, step.medicine)
        if step.stop:
            lines.append(f"from {when}: stop {name}")
        elif step.days is None:
            lines.append(f"from {when}: {name} {step.text}, until your prescriber reviews it"
                         + (f" ({step.note})" if step.note else ""))
        else:
            last = (start + timedelta(days=step.day + step.days - 1)).isoformat()
            lines.append(f"{when} to {last}: {name} {step.text}")
    return lines


def _name(catalog: Catalog, ingredient_id: str) -> str:
    ingredient = catalog.ingredients.get(ingredient_id)
    return ingredient.name if ingredient else ingredient_id


# -- shared ------------------------------------------------------------------------------------

def _reached(uow: UnitOfWork, principal: Principal, recall_id: int) -> RecallRow:
    """The recall, if the caller may see it and its notices have reached its patients
    (proposals follow the notices); NotFound or Conflict otherwise."""
    row = uow.recalls.get(recall_id, visible_recalls(principal))
    if row is None:
        raise NotFound(f"no recall {recall_id}")
    if not uow.care_reviews.has_notices(row.id):
        raise Conflict(f"recall {_label(row)} has not reached its patients: it is "
                       f"{row.state} and has no patient notices yet (they are written "
                       "when the firm starts notifying)")
    return row


def _scope(principal: Principal) -> dict[str, int]:
    """Which notices the caller handles (none: an administrator, all)."""
    if principal.role == "pharmacist":
        if principal.organisation_id is None:
            raise Forbidden("this pharmacist account belongs to no pharmacy")
        return {"pharmacy_id": principal.organisation_id}
    if principal.role == "physician":
        return {"physician_id": principal.user_id}
    return {}


def _label(recall: RecallRow) -> str:
    return recall.recall_number or f"#{recall.id}"
