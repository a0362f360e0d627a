"""Recall use cases: create a recall (from a decided investigation, or directly by a
firm), take its 21 CFR Part 7 steps, classify it, set its strategy, file status reports,
request and grant termination; read recalls with their deadlines, products, lots and
history. The openFDA import is `recalls.openfda_import`.

Each use case is one transaction: it checks who the caller is, lets the pure workflow
(`recalls.workflow.step`) decide whether the step is legal, changes the stored record,
writes the step to the recall's history (`recall_steps`) and to the audit trail (entity
"recall", with author and reason) and commits. A step the workflow refuses is its
`InvalidTransition`, naming the state, the transition and the role.

Roles. A user acts in the Part 7 role of their account: a manufacturer as the **firm**
(and only for recalls whose recalling firm is its organisation), a regulator as the
**regulator**, a pharmacist as a **pharmacy**, a physician as a **physician**. An
administrator may act as any of them: they say which (`acting_as`), or act as the first
role the step belongs to (the firm where firm and regulator may both take it); the history
records both the Part 7 role and the account's role ("firm, as admin"). Patients take no
step.

Who sees what. Admins and regulators see every recall. Everyone else sees the recalls that
are public: those imported from FDA's enforcement report, and medsafe's own once
published; a manufacturer also sees its own organisation's at every stage.

Notices. The steps that tell people (`publish`: the public announcement; `start_notifying`:
the firm's notices to its consignees) call `queue_notices`, inside their transaction.
`start_notifying` writes the notices to the pharmacies and prescribers that received the
lots and, by depth, to their patients (`recalls.notifying`: texts from
`recalls/notices.py`, rows in `uow.outbox`); `publish` writes none.

Deadlines are local policy (`recalls.policy`): a recall's clocks start when it was
published (the publish step), or for an imported recall on FDA's report date, and run
while it is published, notifying or in progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true

from medsafe.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from medsafe.interop.openfda.ndc import normalise_ndc
from medsafe.recalls import notifying, workflow
from medsafe.recalls.inputs import (
    Classification,
    FirmInput,
    NewRecall,
    NewStatusReport,
    NewTerminationRequest,
    ProductInput,
    RecallFromInvestigation,
    RecallStepInput,
    Strategy,
)
from medsafe.recalls.investigation import InvestigationState
from medsafe.recalls.investigation_service import visible_investigation
from medsafe.recalls.model import (
    Depth,
    EffectivenessLevel,
    Firm,
    Hazard,
    PatientAction,
    PublicWarning,
    RecallClass,
    RecallLot,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.policy import DEFAULT_POLICY, PolicyAction, RecallPolicy, deadlines
from medsafe.recalls.workflow import (
    BY_NAME,
    INITIATIONS,
    NotificationMethod,
    RecallKind,
    RecallState,
    Role,
    StatusReport,
    TerminationRequest,
)
from medsafe.records import View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.repositories.recalls import MEDSAFE, SOURCES, status_report
from medsafe.store.schema import (
    Organisation,
    RecallRow,
    RecallStep,
    RecallTerminationRequest,
)
from medsafe.store.uow import UnitOfWork

PART7_ROLES: dict[str, Role] = {"manufacturer": Role.FIRM, "regulator": Role.REGULATOR,
                                "pharmacist": Role.PHARMACY, "physician": Role.PHYSICIAN}
"""The Part 7 role each kind of account acts in (an admin may act in any)."""
READERS = ("admin", "regulator", "manufacturer", "pharmacist", "physician", "patient")
CREATORS = ("admin", "regulator", "manufacturer")
PUBLIC_STATES = (RecallState.PUBLISHED, RecallState.NOTIFYING, RecallState.IN_PROGRESS,
                 RecallState.COMPLETED, RecallState.TERMINATION_REQUESTED,
                 RecallState.TERMINATED)
CLOCK_STATES = (RecallState.PUBLISHED, RecallState.NOTIFYING, RecallState.IN_PROGRESS)
NOTICE_TRANSITIONS = ("publish", "start_notifying")
DEDICATED = {"classify": "classify", "set_strategy": "set_strategy",
             "report_progress": "file_status_report",
             "request_termination": "request_termination"}
"""Transitions that carry data, and the use case that takes each."""
NUMBER_PREFIX = "MS"


# -- views ---------------------------------------------------------------------------------

class DeadlineView(View):
    action: str
    due: datetime
    overdue: bool
    recall_class: str
    assumed_class: bool  # not classified yet: timed as the policy's assumed class


class TransitionView(View):
    transition: str
    to: str | None  # None: the state stays
    roles: list[str]
    sections: list[str]


class RecallSummary(View):
    id: int
    recall_number: str | None
    event_id: str | None
    source: str
    kind: str
    state: str
    classification: str | None
    reason: str
    firm: str
    product: str  # the first product's description
    products: int
    lots: int
    depth: str | None
    initiated_on: date | None
    reported_on: date | None
    terminated_on: date | None
    investigation_id: int | None
    deadlines: list[DeadlineView]
    next_steps: list[TransitionView]  # what may happen now, and who does it
    updated_at: datetime


class RecallStepView(View):
    at: datetime
    transition: str
    state_from: str | None
    state_to: str
    role: str
    account_role: str
    by: str
    reason: str
    detail: dict[str, Any]


class StatusReportView(View):
    id: int
    report: StatusReport
    response_rate: float | None
    filed_by: str
    filed_at: datetime


class TerminationRequestView(View):
    id: int
    requested_on: date
    written_request: str
    disposition: str
    status_report_id: int
    requested_by: str
    requested_at: datetime


class RecallDetail(View):
    summary: RecallSummary
    record: RecallRecord  # the whole record: firm, products with NDCs and lots, dates
    firm_organisation_id: int | None
    history: list[RecallStepView]  # oldest first
    status_reports: list[StatusReportView]
    termination_requests: list[TerminationRequestView]
    my_steps: list[str]  # the transitions the caller may take now


# -- creating ------------------------------------------------------------------------------

def create_recall(uow: UnitOfWork, principal: Principal, spec: NewRecall) -> RecallDetail:
    """A firm starts a recall (or withdrawal, correction, stock recovery) itself: it is
    `detected`, and the firm triages it next."""
    require_role(principal, ("admin", "manufacturer"), "start a recall as its firm")
    role = part7_role(principal, "triage", "firm" if principal.role == "admin" else None)
    organisation_id, firm = _firm(uow, principal, spec.firm, spec.firm_organisation_id)
    record = RecallRecord(
        recall_number=None, event_id=None, kind=RecallKind(spec.kind),
        state=RecallState.DETECTED, classification=None, reason=spec.reason_for_recall,
        reason_category=spec.reason_category,
        products=tuple(_product(p, i) for i, p in enumerate(spec.products)), firm=firm,
        distribution_pattern=spec.distribution_pattern)
    row = _insert(uow, principal, record, organisation_id=organisation_id,
                  investigation_id=None)
    _history(uow, principal, row, "create", None, RecallState.DETECTED, role, spec.reason,
             {"kind": record.kind.value}, now())
    return _created(uow, principal, row)


def recall_from_investigation(uow: UnitOfWork, principal: Principal, investigation_id: int,
                              spec: RecallFromInvestigation) -> RecallDetail:
    """The recall (or market withdrawal) a decided investigation decided on. The decision
    is the triage: the recall starts `triaged`, of the kind the decision names, and its
    history shows both steps. One recall per investigation."""
    require_role(principal, CREATORS, "create recalls")
    row = visible_investigation(uow, principal, investigation_id)
    investigation = uow.investigations.load(row)
    decision = investigation.decision
    if investigation.state not in (InvestigationState.DECIDED, InvestigationState.CLOSED) \
            or decision is None:
        raise InvalidTransition(
            f"cannot create a recall from investigation {row.id} in state "
            f"'{investigation.state}': only once it is decided")
    kind = decision.recall_kind
    if kind is None:
        raise Invalid(f"investigation {row.id} decided on "
                      f"{decision.kind.replace('_', ' ')}, not on a recall or a market "
                      "withdrawal", where="decision")
    if uow.recalls.by_investigation(row.id) is not None:
        raise Conflict(f"investigation {row.id} already has its recall")
    role = part7_role(principal, "triage", None)
    organisation_id = spec.firm_organisation_id
    if organisation_id is None and row.organisation_id is not None:
        owner = uow.organisations.get(row.organisation_id)
        organisation_id = owner.id if owner is not None and owner.kind == "manufacturer" \
            else None
    organisation_id, firm = _firm(uow, principal, spec.firm, organisation_id)
    products = (tuple(_product(p, i) for i, p in enumerate(spec.products)) if spec.products
                else (RecallProduct(description=investigation.product,
                                    lots=tuple(RecallLot(number=lot)
                                               for lot in investigation.lots)),))
    record = RecallRecord(
        recall_number=None, event_id=None, kind=kind, state=RecallState.DETECTED,
        classification=None, reason=spec.reason_for_recall or decision.rationale,
        reason_category=spec.reason_category, products=products, firm=firm,
        distribution_pattern=spec.distribution_pattern)
    recall = _insert(uow, principal, record, organisation_id=organisation_id,
                     investigation_id=row.id)
    at = now()
    detail: dict[str, Any] = {"kind": kind.value, "investigation": row.id}
    if decision.proposed_class is not None:
        detail["proposed_class"] = decision.proposed_class.value
    _history(uow, principal, recall, "create", None, RecallState.DETECTED, role, spec.reason,
             detail, at)
    triaged = workflow.step(record.state, record.kind, "triage", role)
    uow.recalls.update_fields(recall, replace(record, recall_number=recall.recall_number,
                                              event_id=recall.event_id, state=triaged), at)
    _history(uow, principal, recall, "triage", RecallState.DETECTED, triaged, role,
             f"decided in investigation {row.id}: {decision.rationale}",
             {"decision": decision.kind.value}, at)
    return _created(uow, principal, recall)


# -- steps ---------------------------------------------------------------------------------

def take_step(uow: UnitOfWork, principal: Principal, recall_id: int,
              spec: RecallStepInput) -> RecallDetail:
    """A transition that carries only its reason: triage, the three ways to initiate,
    publish, start_notifying, respond (a consignee's reply), complete, terminate,
    refuse_termination."""
    if spec.transition in DEDICATED:  # the input's Literal already keeps them out
        raise Invalid(f"'{spec.transition}' carries data: use "
                      f"{DEDICATED[spec.transition]}", where="transition")
    return _transition(uow, principal, recall_id, spec.transition, spec.reason,
                       spec.acting_as, lambda record: (record, {}))


def classify(uow: UnitOfWork, principal: Principal, recall_id: int,
             spec: Classification) -> RecallDetail:
    """The regulator's class (§7.41, §7.46(b))."""
    chosen = RecallClass(spec.classification)

    def change(record: RecallRecord) -> tuple[RecallRecord, dict[str, Any]]:
        dates = replace(record.dates, classified=record.dates.classified or _today())
        return (replace(record, classification=chosen, dates=dates),
                {"classification": chosen.value})

    return _transition(uow, principal, recall_id, "classify", spec.reason, spec.acting_as,
                       change)


def set_strategy(uow: UnitOfWork, principal: Principal, recall_id: int,
                 spec: Strategy) -> RecallDetail:
    """The recall strategy of §7.42(b): depth, public warning, effectiveness checks; and
    the patient advice its hazard calls for, which the patient notices give (each
    strategy states it anew: none given, the default)."""
    depth, warning = Depth(spec.depth), PublicWarning(spec.public_warning)
    level = EffectivenessLevel(spec.effectiveness_check)
    hazard = _hazard(spec)

    def change(record: RecallRecord) -> tuple[RecallRecord, dict[str, Any]]:
        return (replace(record, depth=depth, public_warning=warning,
                        effectiveness_check=level, hazard=hazard),
                {"depth": depth.value, "public_warning": warning.value,
                 "effectiveness_check": level.value,
                 "patient_advice": None if hazard is None else {
                     "action": hazard.action.value, "stop_reason": hazard.stop_reason,
                     "plain_words": hazard.plain_words}})

    return _transition(uow, principal, recall_id, "set_strategy", spec.reason,
                       spec.acting_as, change)


def _hazard(spec: Strategy) -> Hazard | None:
    """The patient advice the strategy gives (None: none, and the notices give the
    default), checked by `Hazard`; its refusals name the input's fields."""
    if spec.patient_action is None and spec.stop_reason is None and spec.plain_words is None:
        return None
    try:
        return Hazard(PatientAction(spec.patient_action or PatientAction.KEEP_TAKING),
                      stop_reason=spec.stop_reason, plain_words=spec.plain_words)
    except Invalid as refused:
        field = (refused.where or "").removeprefix("hazard.") or None
        raise Invalid(refused.reason, where=field) from refused


def file_status_report(uow: UnitOfWork, principal: Principal, recall_id: int,
                       spec: NewStatusReport) -> RecallDetail:
    """A status report (§7.53): the firm's `report_progress` step, with its items."""
    report = StatusReport(
        as_of=spec.as_of, consignees_notified=spec.consignees_notified,
        notified_on=spec.notified_on,
        methods=tuple(NotificationMethod(m) for m in dict.fromkeys(spec.methods)),
        consignees_responding=spec.consignees_responding,
        quantity_on_hand=spec.quantity_on_hand, non_responders=spec.non_responders,
        quantity_returned=spec.quantity_returned,
        quantity_corrected=spec.quantity_corrected,
        effectiveness_checks=spec.effectiveness_checks,
        effectiveness_results=spec.effectiveness_results,
        estimated_completion=spec.estimated_completion,
        non_responder_ids=tuple(spec.non_responder_ids))
    if report.as_of > _today():
        raise Invalid(f"{report.as_of} is in the future", where="as_of")

    def change(record: RecallRecord) -> tuple[RecallRecord, dict[str, Any]]:
        return record, {"as_of": report.as_of.isoformat(),
                        "consignees_notified": report.consignees_notified,
                        "consignees_responding": report.consignees_responding}

    def after(uow: UnitOfWork, row: RecallRow) -> None:
        uow.recalls.add_report(row.id, report, principal.username, now())

    return _transition(uow, principal, recall_id, "report_progress", spec.reason,
                       spec.acting_as, change, after=after)


def request_termination(uow: UnitOfWork, principal: Principal, recall_id: int,
                        spec: NewTerminationRequest) -> RecallDetail:
    """The firm's written request to end its completed recall (§7.55(b)), with its
    latest status report and the disposition of the product."""
    part7_role(principal, "request_termination", spec.acting_as)  # a patient: 403 first
    row = _visible(uow, principal, recall_id)
    reports = uow.recalls.reports(row.id)
    if not reports:
        raise Invalid(f"recall {_label(row)} has no status report: §7.55(b) asks for the "
                      "latest with the request; file one first", where="status_report")
    latest = reports[-1]
    request = TerminationRequest(requested_on=spec.requested_on or _today(),
                                 written_request=spec.written_request,
                                 latest_report=status_report(latest),
                                 disposition=spec.disposition)

    def change(record: RecallRecord) -> tuple[RecallRecord, dict[str, Any]]:
        return record, {"requested_on": request.requested_on.isoformat(),
                        "status_report": latest.id}

    def after(uow: UnitOfWork, row: RecallRow) -> None:
        uow.recalls.add(RecallTerminationRequest(
            recall_id=row.id, requested_on=request.requested_on,
            written_request=request.written_request, disposition=request.disposition,
            status_report_id=latest.id, requested_by=principal.username,
            requested_at=now()))

    return _transition(uow, principal, recall_id, "request_termination", spec.reason,
                       spec.acting_as, change, after=after)


def queue_notices(uow: UnitOfWork, recall_id: int, record: RecallRecord,
                  transition: str) -> notifying.Queued:
    """The notices a step causes, written to `uow.outbox` in the step's own transaction
    (`recalls.notifying.queue`; docs/recalls.md, "Who is told, and how").

    `start_notifying` (§7.49: the firm's recall communications) writes them: to the
    pharmacies and clinics that hold or dispensed the lots, to the prescribers of the
    patients who received them, and to those patients by depth. `publish` (§7.50) is the
    public announcement: the recall's public page and the feeds show it from that step on,
    and it writes no message, as it has no recipient of its own. Each notice goes to its
    recipient once per recall, however often this runs."""
    if transition != "start_notifying":
        return notifying.Queued()
    return notifying.queue(uow, recall_id, record)


def part7_role(principal: Principal, transition: str, acting_as: str | None) -> Role:
    """The Part 7 role the caller takes `transition` in (see the module docstring)."""
    if principal.role == "admin":
        if acting_as is not None:
            return Role(acting_as)
        found = BY_NAME.get(transition)
        return next((r for r in Role if found is not None and r in found.roles), Role.FIRM)
    role = PART7_ROLES.get(principal.role)
    if role is None:
        raise Forbidden(f"a {principal.role} takes no part in a recall (the Part 7 parties "
                        "are the firm, the regulator, and pharmacies and physicians)")
    if acting_as is not None and acting_as != role.value:
        raise Forbidden(f"a {principal.role} acts as {role.value}, not as {acting_as}")
    return role


# -- reading -------------------------------------------------------------------------------

def list_recalls(uow: UnitOfWork, principal: Principal, *, state: str | None = None,
                 source: str | None = None, number: str | None = None, offset: int = 0,
                 limit: int = 50, policy: RecallPolicy = DEFAULT_POLICY,
                 at: datetime | None = None) -> tuple[list[RecallSummary], int]:
    """Newest first, with their deadlines under `policy` as of `at` (default now)."""
    require_role(principal, READERS, "read recalls")
    query = select(RecallRow).where(visible_recalls(principal))
    if state is not None:
        if state not in set(RecallState):
            raise Invalid(f"unknown state '{state}' (states: {', '.join(RecallState)})",
                          where="state")
        query = query.where(RecallRow.state == state)
    if source is not None:
        if source not in SOURCES:
            raise Invalid(f"unknown source '{source}' (sources: {', '.join(SOURCES)})",
                          where="source")
        query = query.where(RecallRow.source == source)
    if number is not None:
        query = query.where(RecallRow.recall_number == number.strip())
    rows, total = uow.recalls.page(query, offset, limit)
    return _summaries(uow, rows, policy, at or now()), total


def read_recall(uow: UnitOfWork, principal: Principal, recall_id: int, *,
                policy: RecallPolicy = DEFAULT_POLICY, at: datetime | None = None
                ) -> RecallDetail:
    """A recall with its products, lots, history, status reports and termination
    requests, and the steps the caller may take now."""
    require_role(principal, READERS, "read recalls")
    return _detail(uow, principal, _visible(uow, principal, recall_id), policy, at or now())


def recall_ids(uow: UnitOfWork, principal: Principal, number: str) -> list[int]:
    """The recalls with this recall number the caller may see (FDA reused two numbers
    across events, so there may be more than one); NotFound when none."""
    require_role(principal, READERS, "read recalls")
    found = uow.recalls.ids_by_number(number.strip(), visible_recalls(principal))
    if not found:
        raise NotFound(f"no recall {number}")
    return found


def records_for_export(uow: UnitOfWork, principal: Principal, *, source: str = MEDSAFE
                       ) -> tuple[list[RecallRecord], int]:
    """The records of `source` that FDA's enforcement report would list (recalls and
    corrections, initiated or later), oldest first, and how many others were left out."""
    require_role(principal, READERS, "read recalls")
    if source not in SOURCES:
        raise Invalid(f"unknown source '{source}' (sources: {', '.join(SOURCES)})",
                      where="source")
    rows = list(uow.session.execute(
        select(RecallRow).where(visible_recalls(principal), RecallRow.source == source)
        .order_by(RecallRow.id)).scalars())
    records = uow.recalls.records(rows)
    kept = [records[row.id] for row in rows
            if RecallKind(row.kind) in (RecallKind.RECALL, RecallKind.CORRECTION)
            and RecallState(row.state) not in (RecallState.DETECTED, RecallState.TRIAGED)]
    return kept, len(rows) - len(kept)


def visible_recalls(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on `RecallRow`: see the module docstring."""
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role not in READERS:
        return false()
    public = or_(RecallRow.source != MEDSAFE, RecallRow.state.in_(PUBLIC_STATES))
    if principal.role == "manufacturer" and principal.organisation_id is not None:
        return or_(public, RecallRow.firm_organisation_id == principal.organisation_id)
    return public


# -- shared --------------------------------------------------------------------------------

def _transition(uow: UnitOfWork, principal: Principal, recall_id: int, transition: str,
                reason: str, acting_as: str | None, change: Any, *,
                after: Any = None) -> RecallDetail:
    """Check the caller's role, let the workflow take the step, apply `change` (the
    step's own data), store, record the history and audit, queue notices, commit."""
    require_role(principal, READERS, "take recall steps")
    _signed(reason)
    role = part7_role(principal, transition, acting_as)
    row = _visible(uow, principal, recall_id)
    if role is Role.FIRM and principal.role == "manufacturer" \
            and row.firm_organisation_id != principal.organisation_id:
        raise Forbidden(f"{principal.username}'s organisation is not the recalling firm of "
                        f"recall {_label(row)}")
    record = uow.recalls.record(row)
    target = workflow.step(record.state, record.kind, transition, role)
    at = now()
    moved, detail = change(replace(record, state=target, dates=_dated(record, transition)))
    if transition in INITIATIONS:
        moved = replace(moved, initiative=INITIATIONS[transition])
        detail = {**detail, "initiative": INITIATIONS[transition].value}
    uow.recalls.update_fields(row, moved, at)
    if after is not None:
        after(uow, row)
    if transition in NOTICE_TRANSITIONS:
        queued = queue_notices(uow, row.id, moved, transition)
        detail = {**detail, "notices_queued": queued.messages, **queued.detail()}
    _history(uow, principal, row, transition, record.state, target, role, reason, detail, at)
    view = _detail(uow, principal, row, DEFAULT_POLICY, at)
    uow.commit()
    return view


def _dated(record: RecallRecord, transition: str) -> Any:
    """The record's dates after `transition`: initiation, FDA's report (publication)
    and termination are the day the step is taken, unless already known."""
    dates, today = record.dates, _today()
    if transition in INITIATIONS:
        return replace(dates, initiated=dates.initiated or today)
    if transition == "publish":
        return replace(dates, reported=dates.reported or today)
    if transition == "terminate":
        return replace(dates, terminated=today)
    return dates


def _history(uow: UnitOfWork, principal: Principal, row: RecallRow, transition: str,
             before: RecallState | None, after: RecallState, role: Role, reason: str,
             detail: dict[str, Any], at: datetime) -> None:
    uow.recalls.add_step(RecallStep(
        recall_id=row.id, transition=transition,
        from_state=None if before is None else before.value, to_state=after.value,
        role=role.value, account_role=principal.role, username=principal.username,
        reason=reason, detail=detail, at=at))
    audit.record(uow, principal, f"recall.{transition}", "recall", row.id,
                 {"state": [None if before is None else before.value, after.value],
                  "role": role.value, "account_role": principal.role, **detail},
                 reason=reason, at=at)


def _insert(uow: UnitOfWork, principal: Principal, record: RecallRecord, *,
            organisation_id: int | None, investigation_id: int | None) -> RecallRow:
    """Store a new medsafe recall and give it its number, MS-<id>-<year> (FDA's D-numbers
    are FDA's to give), and its event, <id>: one event per medsafe recall, digits as
    openFDA's event ids are, so that an export reads back."""
    at = now()
    (recall_id,) = uow.recalls.insert_records([record], [{
        "source": MEDSAFE, "source_key": None, "source_sha256": None,
        "firm_organisation_id": organisation_id, "investigation_id": investigation_id,
        "created_by": principal.username, "created_at": at, "updated_at": at}])
    row = uow.session.get(RecallRow, recall_id)
    assert row is not None  # just inserted in this transaction
    row.recall_number = f"{NUMBER_PREFIX}-{recall_id:04d}-{at.year}"
    row.event_id = str(recall_id)
    uow.flush()
    return row


def _created(uow: UnitOfWork, principal: Principal, row: RecallRow) -> RecallDetail:
    view = _detail(uow, principal, row, DEFAULT_POLICY, now())
    uow.created.append(view)
    uow.commit()
    return view


def _firm(uow: UnitOfWork, principal: Principal, given: FirmInput | None,
          organisation_id: int | None) -> tuple[int | None, Firm]:
    """The recalling firm's organisation and name: a manufacturer's own organisation;
    otherwise the one named (a manufacturer), or only a name."""
    if principal.role == "manufacturer":
        if organisation_id not in (None, principal.organisation_id):
            raise Forbidden("a manufacturer starts recalls as its own organisation only")
        organisation_id = principal.organisation_id
    organisation: Organisation | None = None
    if organisation_id is not None:
        organisation = uow.organisations.get(organisation_id)
        if organisation is None or organisation.kind != "manufacturer":
            raise Invalid(f"organisation {organisation_id} is not a manufacturer",
                          where="firm_organisation_id")
    if given is not None:
        return organisation_id, Firm(name=given.name, address_1=given.address_1,
                                     address_2=given.address_2, city=given.city,
                                     state=given.state, postal_code=given.postal_code,
                                     country=given.country)
    if organisation is None:
        raise Invalid("name the recalling firm (firm, or firm_organisation_id)", where="firm")
    return organisation_id, Firm(name=organisation.name, country=organisation.country)


def _product(spec: ProductInput, index: int) -> RecallProduct:
    where = f"products.{index}"
    return RecallProduct(
        description=spec.description,
        ndcs=tuple(dict.fromkeys(_ndc(n, f"{where}.ndcs") for n in spec.ndcs)),
        quantity=spec.quantity,
        lots=tuple(RecallLot(number=lot.number, expiry=lot.expiry,
                             ndc=None if lot.ndc is None
                             else _ndc(lot.ndc, f"{where}.lots.{i}.ndc"))
                   for i, lot in enumerate(spec.lots)),
        all_lots=spec.all_lots, code_info=spec.code_info)


def _ndc(text: str, where: str) -> str:
    try:
        return normalise_ndc(text)
    except Invalid as error:
        raise Invalid(error.reason, where=where) from None


def _visible(uow: UnitOfWork, principal: Principal, recall_id: int) -> RecallRow:
    row = uow.recalls.get(recall_id, visible_recalls(principal))
    if row is None:
        raise NotFound(f"no recall {recall_id}")
    return row


def _signed(reason: str) -> None:
    if not reason.strip():
        raise Invalid("every step needs its reason", where="reason")


def _today() -> date:
    return now().date()


def _label(row: RecallRow) -> str:
    return row.recall_number or f"#{row.id}"


def _summaries(uow: UnitOfWork, rows: Sequence[RecallRow], policy: RecallPolicy,
               at: datetime) -> list[RecallSummary]:
    records = uow.recalls.records(rows)
    published = uow.recalls.step_times([row.id for row in rows], "publish")
    return [_summary(row, records[row.id], published.get(row.id), policy, at)
            for row in rows]


def _summary(row: RecallRow, record: RecallRecord, published: datetime | None,
             policy: RecallPolicy, at: datetime) -> RecallSummary:
    return RecallSummary(
        id=row.id, recall_number=row.recall_number, event_id=row.event_id,
        source=row.source, kind=row.kind, state=row.state,
        classification=row.classification, reason=row.reason, firm=row.firm_name,
        product=record.products[0].description, products=len(record.products),
        lots=sum(len(p.lots) for p in record.products), depth=row.depth,
        initiated_on=row.initiated_on, reported_on=row.reported_on,
        terminated_on=row.terminated_on, investigation_id=row.investigation_id,
        deadlines=_deadlines(record, published, policy, at),
        next_steps=[TransitionView(transition=t.name,
                                   to=None if t.target is None else t.target.value,
                                   roles=[r.value for r in Role if r in t.roles],
                                   sections=list(t.sections))
                    for t in workflow.available(record.state, record.kind)],
        updated_at=aware(row.updated_at))


def _deadlines(record: RecallRecord, published: datetime | None, policy: RecallPolicy,
               at: datetime) -> list[DeadlineView]:
    if record.state not in CLOCK_STATES:
        return []
    start = aware(published) if published is not None else (
        datetime.combine(record.dates.reported, time(), tzinfo=UTC)
        if record.dates.reported else None)
    if start is None:
        return []
    # Patient notices only where patients are reached: at consumer depth (or unknown).
    actions = [a for a in PolicyAction
               if a is not PolicyAction.NOTIFY_PATIENTS
               or record.depth in (None, Depth.CONSUMER)]
    return [DeadlineView(action=d.action.value, due=d.due, overdue=d.overdue,
                         recall_class=d.recall_class.value, assumed_class=d.assumed_class)
            for d in deadlines(policy, record.classification, start, at, actions=actions)]


def _detail(uow: UnitOfWork, principal: Principal, row: RecallRow, policy: RecallPolicy,
            at: datetime) -> RecallDetail:
    record = uow.recalls.record(row)
    published = uow.recalls.step_times([row.id], "publish").get(row.id)
    reports = uow.recalls.reports(row.id)
    mine: list[str] = []
    if principal.role in PART7_ROLES or principal.role == "admin":
        roles = list(Role) if principal.role == "admin" else [PART7_ROLES[principal.role]]
        owner = principal.role != "manufacturer" \
            or row.firm_organisation_id == principal.organisation_id
        mine = list(dict.fromkeys(
            name for role in roles if role is not Role.FIRM or owner
            for name in workflow.allowed(record.state, record.kind, role)))
    return RecallDetail(
        summary=_summary(row, record, published, policy, at), record=record,
        firm_organisation_id=row.firm_organisation_id,
        history=[RecallStepView(at=aware(s.at), transition=s.transition,
                                state_from=s.from_state, state_to=s.to_state, role=s.role,
                                account_role=s.account_role, by=s.username, reason=s.reason,
                                detail=dict(s.detail))
                 for s in uow.recalls.steps(row.id)],
        status_reports=[StatusReportView(id=r.id, report=(report := status_report(r)),
                                         response_rate=report.response_rate,
                                         filed_by=r.filed_by, filed_at=aware(r.filed_at))
                        for r in reports],
        termination_requests=[TerminationRequestView(
            id=t.id, requested_on=t.requested_on, written_request=t.written_request,
            disposition=t.disposition, status_report_id=t.status_report_id,
            requested_by=t.requested_by, requested_at=aware(t.requested_at))
            for t in uow.recalls.termination_requests(row.id)],
        my_steps=mine)
