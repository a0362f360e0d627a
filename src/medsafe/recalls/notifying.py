"""Who is told about a recall, and how: the notices the firm's `start_notifying` step
writes, and the pharmacist's part afterwards (docs/recalls.md, "Who is told, and how").

`queue` runs inside the transaction of the step (through `service.queue_notices`), so the
notices are written, or not, with the step. It matches the recall against the store
(`uow.affected`) and writes to the outbox (`uow.outbox`), each message with topic
"recall:<number>" and its audience:

- one notice to each pharmacy or clinic that holds or dispensed the recalled lots, and to
  no one else, narrowed to the lots that concern it (`notices.consignee_notice`);
- one notice to each prescriber of a patient who received them, listing those patients
  (`notices.prescriber_notice`);
- patient notices by depth (`notices.plan_patient_notices`): at consumer depth every
  affected patient is told, by e-mail where they have an address, otherwise by a letter
  (composed now, stored, printed on demand) and a phone-call task for the pharmacy that
  dispensed to them; at retail or wholesale depth each patient gets a proposal, and the
  pharmacist approves it (the patient is then told exactly as at consumer depth) or
  declines it with a reason.

Idempotent: a recipient already written to for this recall (the same audience and address
under the recall's topic, or a patient with a notice of this recall in any state) is not
written to again, so running it twice writes nothing the second time. A pharmacy,
clinic or prescriber without a usable e-mail address is not written to; the step's
history names them (`not_emailed`).

Every notice gives the patient advice of the recall's hazard (`RecallRecord.hazard`, set
by the firm with the strategy): "keep taking it until switched" by default
(`notices.KEEP_TAKING`, also where the recall has none), or, where the strategy says
stop_now, to stop using medicine from these lots, quoting the reason. A pharmacist's
approval of a proposal later tells the patient with the advice the recall has then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal, get_args

from pydantic import Field

from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.notify.letter import Block, render_pdf
from medsafe.notify.message import Notice, check_recipient
from medsafe.recalls import notices as texts
from medsafe.recalls.lot_check import BLOCKING_KINDS
from medsafe.recalls.matching import Affected, Recipient, recall_keys
from medsafe.recalls.model import RecallLot, RecallRecord
from medsafe.recalls.notices import AffectedPatient, Consignee, Contact
from medsafe.recalls.workflow import RecallState
from medsafe.records import Input, View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.repositories.recall_notices import NoticeRow, TaskRow
from medsafe.store.schema import (
    Organisation,
    PatientContact,
    Product,
    RecallPatientNotice,
    RecallRow,
    RecallTask,
)
from medsafe.store.uow import UnitOfWork

CONSIGNEE_AUDIENCES = ("pharmacy", "clinic", "prescriber")
PatientState = Literal["proposed", "declined", "queued", "letter", "acknowledged"]
PATIENT_STATES: tuple[PatientState, ...] = get_args(PatientState)
PHONE_CALL = "phone_call"
PHARMACY_ROLES = ("admin", "pharmacist")
Outcome = Literal["reached", "left_message", "no_answer", "no_phone"]
"""A phone call's outcome. `no_answer` keeps the task open (the script says to try again
the next working day); the others close it, and `reached` also acknowledges the letter."""


# -- queueing ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Queued:
    """What one run of `queue` wrote."""

    consignees: int = 0  # pharmacy and clinic notices
    prescribers: int = 0
    patients_emailed: int = 0
    letters: int = 0  # each with a phone-call task
    proposals: int = 0
    not_emailed: tuple[str, ...] = ()  # "pharmacy 12", "prescriber 7": no usable address

    @property
    def messages(self) -> int:
        """Outbox messages written."""
        return self.consignees + self.prescribers + self.patients_emailed

    def detail(self) -> dict[str, Any]:
        """For the step's history and audit event."""
        return {"notices": {"consignees": self.consignees, "prescribers": self.prescribers,
                            "patients_emailed": self.patients_emailed,
                            "letters": self.letters, "proposals": self.proposals,
                            "not_emailed": list(self.not_emailed)}}


def queue(uow: UnitOfWork, recall_id: int, record: RecallRecord, *,
          catalog: Catalog | None = None, today: date | None = None) -> Queued:
    """Write the recall's notices to the outbox, in the caller's transaction (see the
    module docstring); what was written."""
    if record.kind not in BLOCKING_KINDS:
        return Queued()  # a withdrawal or stock recovery is no recall: nobody is notified
    affected = uow.affected.affected(recall_keys(record))
    if not affected.holders and not affected.recipients:
        return Queued()
    catalog = catalog or Catalog.load()
    at = now()
    day = today or at.date()
    topic = texts.topic(record)
    told = uow.recall_notices.told(topic, CONSIGNEE_AUDIENCES)
    organisations = uow.recall_notices.organisations(affected.pharmacy_ids)
    patients = _patients(uow, affected, organisations)
    outgoing: list[Notice] = []
    missing: list[str] = []

    consignees = 0
    for organisation_id in sorted(affected.pharmacy_ids):
        organisation = organisations[organisation_id]
        kind: Literal["pharmacy", "clinic"] = (
            "clinic" if organisation.kind == "clinic" else "pharmacy")
        address = usable_address(organisation.email)
        if address is None:
            missing.append(f"{kind} {organisation_id}")
            continue
        if (kind, address) in told:
            continue
        told.add((kind, address))
        consignee = Consignee(Contact(organisation.name, email=address),
                              texts.held_lots(affected, organisation_id), kind=kind)
        composed = texts.consignee_notice(record, consignee, catalog, hazard_of(record),
                                          lots=_lots_of(record, affected, organisation_id))
        outgoing.append(composed.to_notice("email", address, topic))
        consignees += 1

    prescribed: dict[int, set[int]] = {}
    for recipient in affected.recipients:
        if recipient.prescriber_id is not None:
            prescribed.setdefault(recipient.prescriber_id, set()).add(recipient.patient_id)
    users = uow.recall_notices.users(prescribed)
    by_patient = {int(patient.key): patient for patient in patients}
    prescribers = 0
    for user_id in sorted(prescribed):
        user = users[user_id]
        address = usable_address(user.email)
        if address is None:
            missing.append(f"prescriber {user_id}")
            continue
        if ("prescriber", address) in told:
            continue
        told.add(("prescriber", address))
        composed = texts.prescriber_notice(
            record, Contact(user.display_name, email=address),
            [by_patient[p] for p in sorted(prescribed[user_id])], catalog, hazard_of(record))
        outgoing.append(composed.to_notice("email", address, topic))
        prescribers += 1
    uow.outbox.add_all(outgoing, at=at)

    counts = _patient_notices(uow, recall_id, record, patients, affected, topic, catalog,
                              day, at)
    return Queued(consignees=consignees, prescribers=prescribers,
                  patients_emailed=counts["queued"], letters=counts["letter"],
                  proposals=counts["proposed"], not_emailed=tuple(missing))


def _patient_notices(uow: UnitOfWork, recall_id: int, record: RecallRecord,
                     patients: list[AffectedPatient], affected: Affected, topic: str,
                     catalog: Catalog, day: date, at: datetime) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(PATIENT_STATES, 0)
    if record.depth is None:
        return counts  # no strategy, no depth: nobody can say who among them is told
    noticed = uow.recall_notices.noticed_patients(recall_id)
    fresh = [patient for patient in patients if int(patient.key) not in noticed]
    plan = texts.plan_patient_notices(record, fresh, hazard_of(record), today=day)
    latest = _latest(affected)
    # Rows are flushed together (each e-mail's outbox row flushes those before it), not
    # one by one: a round trip per row was most of the time on PostgreSQL.
    calls: list[tuple[RecallPatientNotice, texts.PhoneCallTask]] = []
    for patient in plan.notify:
        row = _notice_row(recall_id, patient, latest, at)
        call = _tell(uow, record, row, patient, topic, catalog, day, at)
        uow.recall_notices.add(row, flush=False)
        if call is not None:
            calls.append((row, call))
        counts[row.state] += 1
    for proposal in plan.proposals:
        uow.recall_notices.add(_notice_row(recall_id, proposal.patient, latest, at,
                                           proposed=proposal.notify,
                                           reasons=proposal.reasons), flush=False)
        counts["proposed"] += 1
    _add_calls(uow, calls, at)
    return counts


def _notice_row(recall_id: int, patient: AffectedPatient, latest: Mapping[int, Recipient],
                at: datetime, *, proposed: bool | None = None,
                reasons: Iterable[str] = ()) -> RecallPatientNotice:
    patient_id = int(patient.key)
    return RecallPatientNotice(
        recall_id=recall_id, patient_id=patient_id,
        pharmacy_id=latest[patient_id].pharmacy_id, state="proposed",
        medicine=patient.medicine[:200],
        received=[[r.lot_number, r.dispensed_on.isoformat()] for r in patient.received],
        proposed=proposed, proposal_reasons=list(reasons), created_at=at)


def _tell(uow: UnitOfWork, record: RecallRecord, row: RecallPatientNotice,
          patient: AffectedPatient, topic: str, catalog: Catalog, day: date,
          at: datetime) -> texts.PhoneCallTask | None:
    """Tell one patient: by e-mail (the notice is queued, with its outbox message), or
    by a letter composed now and stored (the notice is a letter, and the phone call the
    pharmacy is to make is returned)."""
    email, hazard = patient.contact.email, hazard_of(record)
    if email is not None:
        composed = texts.patient_notice(record, patient, catalog, hazard)
        message = uow.outbox.add(composed.to_notice("email", email, topic), at=at)
        row.state, row.outbox_message_id = "queued", message.id
        return None
    composed = texts.patient_notice(record, patient, catalog, hazard, letter=True, today=day)
    row.state = "letter"
    row.letter = {"subject": composed.subject,
                  "blocks": [[block.style, block.text] for block in composed.blocks]}
    return texts.phone_call_task(record, patient, catalog, hazard)


def _add_calls(uow: UnitOfWork, calls: list[tuple[RecallPatientNotice, texts.PhoneCallTask]],
               at: datetime) -> None:
    """The phone-call tasks of these letters, for the pharmacy of each (the notices are
    flushed first: a task names its notice)."""
    uow.flush()
    for row, call in calls:
        uow.recall_notices.add(RecallTask(
            recall_id=row.recall_id, pharmacy_id=row.pharmacy_id, patient_id=row.patient_id,
            notice_id=row.id, kind=PHONE_CALL, title=call.title[:300], text=call.script,
            created_at=at), flush=False)
    uow.flush()


def hazard_of(record: RecallRecord) -> texts.Hazard:
    """The patient advice the notices give: the recall's own, else the default."""
    return record.hazard or texts.KEEP_TAKING


def usable_address(email: str | None) -> str | None:
    """The address if the outbox can send to it (ASCII, one address); else None."""
    if email is None or not email.strip():
        return None
    try:
        check_recipient("email", email.strip())
    except Invalid:
        return None
    return email.strip()


def _lots_of(record: RecallRecord, affected: Affected, organisation_id: int
             ) -> list[RecallLot] | None:
    """The recall's lots that concern one consignee (None: all of them, where it holds a
    lot recalled as "all lots" or the numbers cannot be told apart)."""
    mine = {h.lot_id for h in affected.holders if h.organisation_id == organisation_id} \
        | {r.lot_id for r in affected.recipients if r.pharmacy_id == organisation_id}
    lots = [lot for lot in affected.lots if lot.lot_id in mine]
    if any(lot.recalled_as is None for lot in lots):
        return None
    numbers = {lot.recalled_as for lot in lots}
    chosen = [lot for product in record.products for lot in product.lots
              if lot.number in numbers]
    return chosen or None


def _latest(affected: Affected) -> dict[int, Recipient]:
    """Each patient's latest dispensing of a recalled lot (as `notices.affected_patients`
    chooses it): its pharmacy is the one that decides about, and telephones, the
    patient."""
    latest: dict[int, Recipient] = {}
    for recipient in affected.recipients:
        held = latest.get(recipient.patient_id)
        if held is None or (recipient.dispensed_on, recipient.lot_id) > (held.dispensed_on,
                                                                         held.lot_id):
            latest[recipient.patient_id] = recipient
    return latest


def _patients(uow: UnitOfWork, affected: Affected,
              organisations: Mapping[int, Organisation]) -> list[AffectedPatient]:
    """The affected patients as the notices need them: contact (name, usable e-mail,
    telephone, address), pharmacy, ingredient and route of what they received."""
    repository = uow.recall_notices
    pseudonyms = {r.patient_id: r.pseudonym for r in affected.recipients}
    contacts = {patient_id: _contact(row, pseudonyms[patient_id]) for patient_id, row
                in repository.patient_contacts(affected.patient_ids).items()}
    pharmacies = {organisation_id: Contact(row.name, email=usable_address(row.email))
                  for organisation_id, row in organisations.items()}
    products: dict[int, Product] = repository.products({lot.product_id
                                                        for lot in affected.lots})
    found = texts.affected_patients(
        affected, contacts, pharmacies,
        {product_id: product.ingredient_id for product_id, product in products.items()})
    lots = {lot.lot_id: lot.product_id for lot in affected.lots}
    latest = _latest(affected)
    return [replace(patient, route=products[lots[latest[int(patient.key)].lot_id]].route)
            for patient in found]


def _contact(row: PatientContact, pseudonym: str) -> Contact:
    address = tuple(line.strip() for line in (row.address or "").splitlines() if line.strip())
    return Contact(name=(row.full_name or "").strip() or pseudonym,
                   email=usable_address(row.email), phone=row.phone, address=address)


# -- the pharmacist's part ---------------------------------------------------------------------

class ReceivedView(View):
    lot: str
    dispensed_on: date


class PatientNoticeView(View):
    id: int
    recall_id: int
    recall_number: str | None
    patient: str  # pseudonym
    pharmacy_id: int
    pharmacy: str
    state: str
    medicine: str
    received: list[ReceivedView]
    proposed: bool | None  # medsafe's proposal at retail or wholesale depth
    proposal_reasons: list[str]
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    channel: Literal["email", "letter"] | None
    created_at: datetime
    acknowledged_at: datetime | None


class TaskView(View):
    id: int
    recall_id: int
    recall_number: str | None
    patient: str
    pharmacy_id: int
    pharmacy: str
    kind: str
    title: str
    text: str
    created_at: datetime
    done_at: datetime | None
    done_by: str | None
    outcome: str | None
    note: str | None


class NoticeDecision(Input):
    decision: Literal["approve", "decline"]
    reason: str = Field(default="", max_length=2000,
                        description="why (required to decline; audited)")


class TaskOutcome(Input):
    outcome: Outcome
    note: str | None = Field(default=None, max_length=2000)


def list_patient_notices(uow: UnitOfWork, principal: Principal, *,
                         recall_id: int | None = None, state: str | None = None,
                         offset: int = 0, limit: int = 50
                         ) -> tuple[list[PatientNoticeView], int]:
    """A pharmacist's patient notices (an administrator's: all), by recall, pharmacy and
    patient; `state="proposed"` lists the proposals waiting for a decision."""
    pharmacy_id = _pharmacy_of(principal)
    if state is not None and state not in PATIENT_STATES:
        raise Invalid(f"unknown state '{state}' (states: {', '.join(PATIENT_STATES)})",
                      where="state")
    rows, total = uow.recall_notices.patient_notices(
        recall_id=recall_id, pharmacy_id=pharmacy_id, state=state, offset=offset,
        limit=limit)
    return [_notice_view(row) for row in rows], total


def list_proposals(uow: UnitOfWork, principal: Principal, *, recall_id: int | None = None,
                   offset: int = 0, limit: int = 50) -> tuple[list[PatientNoticeView], int]:
    """The proposals waiting for the pharmacist's decision."""
    return list_patient_notices(uow, principal, recall_id=recall_id, state="proposed",
                                offset=offset, limit=limit)


def decide_patient_notice(uow: UnitOfWork, principal: Principal, notice_id: int,
                          spec: NoticeDecision, *, catalog: Catalog | None = None
                          ) -> PatientNoticeView:
    """Approve a proposal (the patient is told now, as at consumer depth) or decline it
    with a reason. Audited either way."""
    row, recall = _mine(uow, principal, notice_id)
    if row.state != "proposed":
        raise Conflict(f"patient notice {row.id} is {row.state}, not proposed: it was "
                       "decided already")
    if recall.state == RecallState.TERMINATED:
        raise Conflict(f"recall {recall.recall_number} is terminated")
    reason = spec.reason.strip()
    at = now()
    if spec.decision == "decline":
        if not reason:
            raise Invalid("say why this patient is not told", where="reason")
        row.state = "declined"
    else:
        record = uow.recalls.record(recall)
        affected = uow.affected.affected(recall_keys(record))
        organisations = uow.recall_notices.organisations(affected.pharmacy_ids)
        patient = next((p for p in _patients(uow, affected, organisations)
                        if int(p.key) == row.patient_id), None)
        if patient is None:
            raise Conflict(f"the patient of notice {row.id} no longer received any lot of "
                           f"recall {recall.recall_number}")
        call = _tell(uow, record, row, patient, texts.topic(record),
                     catalog or Catalog.load(), at.date(), at)
        _add_calls(uow, [] if call is None else [(row, call)], at)
    row.decided_by, row.decided_at, row.reason = principal.username, at, reason or None
    audit.record(uow, principal, f"recall_patient_notice.{spec.decision}",
                 "recall_patient_notice", row.id,
                 {"recall": recall.recall_number, "patient_id": row.patient_id,
                  "proposed": row.proposed, "state": ["proposed", row.state]},
                 reason=reason or None, at=at)
    uow.flush()
    view = _read_notice(uow, row)
    uow.commit()
    return view


def patient_letter(uow: UnitOfWork, principal: Principal, notice_id: int) -> bytes:
    """The printable letter (PDF) of a patient notice sent on paper, from the notice as
    it was composed when it was sent."""
    row, _ = _mine(uow, principal, notice_id)
    if row.letter is None:
        raise Conflict(f"patient notice {row.id} is {row.state}: it has no letter")
    letter: dict[str, Any] = dict(row.letter)
    blocks = [Block(text, style) for style, text in letter["blocks"]]
    return render_pdf(blocks, title=str(letter["subject"]), created=aware(row.created_at))


def list_tasks(uow: UnitOfWork, principal: Principal, *, recall_id: int | None = None,
               open_only: bool = True, offset: int = 0, limit: int = 50
               ) -> tuple[list[TaskView], int]:
    """A pharmacist's recall tasks (an administrator's: all), open ones first."""
    pharmacy_id = _pharmacy_of(principal)
    rows, total = uow.recall_notices.tasks(recall_id=recall_id, pharmacy_id=pharmacy_id,
                                           open_only=open_only, offset=offset, limit=limit)
    return [_task_view(row) for row in rows], total


def complete_task(uow: UnitOfWork, principal: Principal, task_id: int,
                  spec: TaskOutcome) -> TaskView:
    """Record a phone call's outcome (see `Outcome`). Audited."""
    pharmacy_id = _pharmacy_of(principal)
    task = uow.recall_notices.task(task_id)
    if task is None or pharmacy_id not in (None, task.pharmacy_id):
        raise NotFound(f"no recall task {task_id}")
    if task.done_at is not None:
        raise Conflict(f"recall task {task.id} was done at {aware(task.done_at).isoformat()}"
                       f" by {task.done_by}")
    at = now()
    task.outcome, task.note = spec.outcome, spec.note
    if spec.outcome != "no_answer":
        task.done_at, task.done_by = at, principal.username
    notice = uow.recall_notices.patient_notice(task.notice_id)
    if spec.outcome == "reached" and notice is not None and notice.state == "letter":
        notice.state, notice.acknowledged_at = "acknowledged", at
    audit.record(uow, principal, "recall_task.outcome", "recall_task", task.id,
                 {"recall_id": task.recall_id, "patient_id": task.patient_id,
                  "kind": task.kind, "outcome": spec.outcome, "done": task.done_at is not None},
                 reason=spec.note, at=at)
    uow.flush()
    found = uow.recall_notices.task_row(task.id)
    assert found is not None  # just written
    view = _task_view(found)
    uow.commit()
    return view


def _pharmacy_of(principal: Principal) -> int | None:
    """The pharmacy whose notices and tasks the caller handles (None: an administrator,
    all of them)."""
    require_role(principal, PHARMACY_ROLES, "handle a pharmacy's recall notices and tasks")
    if principal.role == "admin":
        return None
    if principal.organisation_id is None:
        raise Forbidden("this pharmacist account belongs to no pharmacy")
    return principal.organisation_id


def _mine(uow: UnitOfWork, principal: Principal, notice_id: int
          ) -> tuple[RecallPatientNotice, RecallRow]:
    pharmacy_id = _pharmacy_of(principal)
    row = uow.recall_notices.patient_notice(notice_id)
    if row is None or pharmacy_id not in (None, row.pharmacy_id):
        raise NotFound(f"no patient notice {notice_id}")
    recall = uow.session.get(RecallRow, row.recall_id)
    assert recall is not None  # a foreign key
    return row, recall


def _read_notice(uow: UnitOfWork, row: RecallPatientNotice) -> PatientNoticeView:
    found = uow.recall_notices.patient_notice_row(row.id)
    assert found is not None  # the row is in this transaction
    return _notice_view(found)


def _notice_view(found: NoticeRow) -> PatientNoticeView:
    row, pseudonym, number, pharmacy = found[0], found[1], found[2], found[3]
    channel: Literal["email", "letter"] | None = (
        "email" if row.outbox_message_id is not None
        else "letter" if row.letter is not None else None)
    return PatientNoticeView(
        id=row.id, recall_id=row.recall_id, recall_number=number, patient=pseudonym,
        pharmacy_id=row.pharmacy_id, pharmacy=pharmacy, state=row.state,
        medicine=row.medicine,
        received=[ReceivedView(lot=lot, dispensed_on=date.fromisoformat(day))
                  for lot, day in row.received],
        proposed=row.proposed, proposal_reasons=list(row.proposal_reasons),
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else aware(row.decided_at),
        reason=row.reason, channel=channel, created_at=aware(row.created_at),
        acknowledged_at=None if row.acknowledged_at is None else aware(row.acknowledged_at))


def _task_view(found: TaskRow) -> TaskView:
    row, pseudonym, number, pharmacy = found[0], found[1], found[2], found[3]
    return TaskView(id=row.id, recall_id=row.recall_id, recall_number=number,
                    patient=pseudonym, pharmacy_id=row.pharmacy_id, pharmacy=pharmacy,
                    kind=row.kind, title=row.title, text=row.text,
                    created_at=aware(row.created_at),
                    done_at=None if row.done_at is None else aware(row.done_at),
                    done_by=row.done_by, outcome=row.outcome, note=row.note)
