"""Recall effectiveness use cases (issue 7 §3): record a pharmacy's return of recalled
units, draw the Part 7 effectiveness-check sample and record each check, read the
recall's dashboard, and generate its §7.53 status report (as the domain's
`StatusReport`, as JSON, and as PDF), or file it as the firm's `report_progress` step.

Who may do what (a decision of this module):
- the dashboard and the status report: the recall's firm (a manufacturer of the recall's
  firm organisation; another firm is refused, 403), the regulator and admins. A
  pharmacist sees its own pharmacy's part only: its notice and response, its returns and
  stock, the patients whose notice it holds, their care and its phone calls; never the
  sample, never another pharmacy, and not the status report (the firm's, 403).
  Physicians and patients: 403. A recall the caller may not see at all: 404, as
  everywhere (`service.visible_recalls`).
- a return: the pharmacist of the returning pharmacy, or an admin;
- drawing the sample and recording checks: the firm, the regulator, admins (Part 7 puts
  the checks on the firm, and FDA may make its own, §7.42(b)(3)).

Patients are never named to the firm: in the sample a patient is "a patient of <the
pharmacy that holds the notice>", which is who the firm asks to check; the regulator and
admins see the pseudonym.

One use case, one transaction: each writes its rows, its audit event, and commits once.
The dashboard is read in about fifteen aggregate queries whatever the size of the recall
(`store.repositories.effectiveness`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field
from sqlalchemy.exc import IntegrityError

from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.notify.letter import Block, render_pdf
from medsafe.recalls import notices, service
from medsafe.recalls.effectiveness import (
    DEFAULT_POLICY,
    SUBJECT_KINDS,
    CheckMethod,
    CheckOutcome,
    Consignees,
    Dashboard,
    EffectivenessPolicy,
    FollowUps,
    Patients,
    SampleLine,
    SampleStatus,
    SubjectKind,
    percent_of,
    sample_size,
    top_up,
)
from medsafe.recalls.inputs import NewStatusReport
from medsafe.recalls.matching import AffectedLot, match, recall_keys
from medsafe.recalls.model import Depth, EffectivenessLevel, RecallRecord
from medsafe.recalls.service import RecallDetail
from medsafe.recalls.workflow import NotificationMethod, RecallKind, RecallState, StatusReport
from medsafe.records import Input, View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.repositories.effectiveness import CheckRow
from medsafe.store.schema import RecallEffectivenessCheck, RecallReturn, RecallRow, Stock
from medsafe.store.uow import UnitOfWork

READERS = ("admin", "regulator", "manufacturer", "pharmacist")
REPORTERS = ("admin", "regulator", "manufacturer")
CHECKERS = ("admin", "regulator", "manufacturer")
RETURNERS = ("admin", "pharmacist")
RETURN_STATES = (RecallState.NOTIFYING, RecallState.IN_PROGRESS, RecallState.COMPLETED,
                 RecallState.TERMINATION_REQUESTED)
"""Returns are recorded once consignees are told, until the regulator terminates."""
SAMPLE_LISTED = 200
"""Checks listed on the dashboard (the counts are whole): level A of 10,000 patients is
not a page."""
PDF_NAMES = 60
"""Non-responders named in the PDF (the JSON names them all)."""
MAX_QUANTITY = 10_000_000


# -- inputs and views ------------------------------------------------------------------------

class NewReturn(Input):
    pharmacy_id: int = Field(ge=1, le=2**31 - 1, description="the returning pharmacy")
    lot_id: int = Field(ge=1, le=2**31 - 1, description="the stored lot returned")
    quantity: int = Field(ge=1, le=MAX_QUANTITY, description="units returned")
    note: str | None = Field(default=None, max_length=2000)


class CheckResult(Input):
    outcome: CheckOutcome
    method: CheckMethod
    note: str | None = Field(default=None, max_length=2000)


class ReturnView(View):
    id: int
    recall_id: int
    pharmacy_id: int
    lot_id: int
    quantity: int
    left_on_hand: int  # the pharmacy's units of the lot after the return
    recorded_by: str
    note: str | None


class DrawView(View):
    recall_id: int
    level: str | None
    added: dict[str, int]  # per kind: subjects drawn now (0 on a redraw)
    drawn: dict[str, int]  # per kind: subjects drawn in all


class ReturnableView(View):
    """Units of one of the recall's lots one pharmacy holds and may return."""

    pharmacy_id: int
    pharmacy: str
    lot_id: int
    lot_number: str
    on_hand: int


class CheckView(View):
    id: int
    recall_id: int
    kind: str
    label: str
    method: str
    outcome: str
    note: str | None
    checked_by: str


# -- returns ---------------------------------------------------------------------------------

def record_return(uow: UnitOfWork, principal: Principal, recall_id: int,
                  spec: NewReturn) -> ReturnView:
    """A pharmacy sends back units of one of the recall's lots: its stock of the lot goes
    down by as many, and the return counts on the dashboard. Invalid for a lot the recall
    does not concern or more units than the pharmacy holds; nothing is written then."""
    require_role(principal, RETURNERS, "record a return of recalled stock")
    if principal.role == "pharmacist" and principal.organisation_id != spec.pharmacy_id:
        raise Forbidden("a pharmacist records only its own pharmacy's returns")
    row = _visible(uow, principal, recall_id)
    if RecallState(row.state) not in RETURN_STATES:
        raise Conflict(f"recall {_label(row)} is {row.state}: returns are recorded once "
                       "consignees are notified and until it is terminated "
                       f"({', '.join(RETURN_STATES)})")
    pharmacy = uow.organisations.get(spec.pharmacy_id)
    if pharmacy is None or pharmacy.kind not in ("pharmacy", "clinic"):
        raise NotFound(f"no pharmacy {spec.pharmacy_id}")
    record = uow.recalls.record(row)
    lots = {lot.lot_id: lot for lot in _lots(uow, record)}
    if spec.lot_id not in lots:
        raise Invalid(f"lot {spec.lot_id} is not one of recall {_label(row)}'s lots "
                      f"(its stored lots: {', '.join(map(str, sorted(lots))) or 'none'})",
                      where="lot_id")
    stock: Stock | None = uow.stock.for_update(spec.pharmacy_id, spec.lot_id)
    held = 0 if stock is None else stock.quantity
    if stock is None or spec.quantity > held:
        raise Invalid(f"{pharmacy.name} holds {held} unit{'s' if held != 1 else ''} of lot "
                      f"{lots[spec.lot_id].lot_number}: it cannot return {spec.quantity}",
                      where="quantity")
    at = now()
    stock.quantity = held - spec.quantity
    stock.updated_at = at
    returned = uow.effectiveness.add_return(RecallReturn(
        recall_id=row.id, pharmacy_id=spec.pharmacy_id, lot_id=spec.lot_id,
        quantity=spec.quantity, recorded_by=principal.username, recorded_at=at,
        note=spec.note))
    audit.record(uow, principal, "recall.return", "recall", row.id,
                 {"pharmacy_id": spec.pharmacy_id, "lot_id": spec.lot_id,
                  "quantity": spec.quantity, "stock": [held, stock.quantity]},
                 reason=spec.note, at=at)
    view = ReturnView(id=returned.id, recall_id=row.id, pharmacy_id=spec.pharmacy_id,
                      lot_id=spec.lot_id, quantity=spec.quantity,
                      left_on_hand=stock.quantity, recorded_by=principal.username,
                      note=spec.note)
    uow.commit()
    return view


def returnable(uow: UnitOfWork, principal: Principal, recall_id: int
               ) -> list[ReturnableView]:
    """What the caller may return of the recall's lots: a pharmacist its own pharmacy's
    units, an admin any holder's (empty once returns are no longer recorded)."""
    require_role(principal, RETURNERS, "record a return of recalled stock")
    row = _visible(uow, principal, recall_id)
    if RecallState(row.state) not in RETURN_STATES:
        return []
    lots = {lot.lot_id: lot for lot in _lots(uow, uow.recalls.record(row))}
    return [ReturnableView(pharmacy_id=h.organisation_id, pharmacy=h.name, lot_id=h.lot_id,
                           lot_number=lots[h.lot_id].lot_number, on_hand=h.quantity)
            for h in uow.affected.holders(sorted(lots))
            if principal.role == "admin" or h.organisation_id == principal.organisation_id]


# -- the effectiveness-check sample ----------------------------------------------------------

def draw_checks(uow: UnitOfWork, principal: Principal, recall_id: int, *,
                policy: EffectivenessPolicy = DEFAULT_POLICY) -> DrawView:
    """Draw the recall's effectiveness-check sample for its level (`effectiveness
    .top_up`): the consignees notified and, at consumer depth, the patients told.
    Idempotent: a redraw adds only what the level asks for beyond what is drawn (new
    consignees notified since), and never takes a subject back."""
    require_role(principal, CHECKERS, "draw a recall's effectiveness checks")
    row, _ = _readable(uow, principal, recall_id)
    record = uow.recalls.record(row)
    level = record.effectiveness_check
    if level is None:
        raise Invalid(f"recall {_label(row)} has no effectiveness-check level: set the "
                      "strategy first (§7.42(b)(3))", where="effectiveness_check")
    seed = _seed(row)
    drawn = uow.effectiveness.drawn(row.id)
    populations = _populations(uow, row, record)
    at = now()
    added: dict[str, int] = {}
    rows: list[RecallEffectivenessCheck] = []
    for kind in SUBJECT_KINDS:
        fresh = top_up(level, populations[kind], drawn.get(kind, set()),
                       f"{seed}:{kind}", policy)
        added[kind] = len(fresh)
        rows.extend(RecallEffectivenessCheck(recall_id=row.id, subject_kind=kind,
                                             subject_id=subject, drawn_at=at)
                    for subject in fresh)
    try:
        uow.effectiveness.add_checks(rows)
    except IntegrityError:
        raise Conflict("the sample was drawn at the same moment by someone else; "
                       "reload and try again") from None
    totals = {kind: len(drawn.get(kind, set())) + added[kind] for kind in SUBJECT_KINDS}
    if rows:
        audit.record(uow, principal, "recall.effectiveness_drawn", "recall", row.id,
                     {"level": level.value, "added": added, "drawn": totals}, at=at)
    view = DrawView(recall_id=row.id, level=level.value, added=added, drawn=totals)
    uow.commit()
    return view


def record_check(uow: UnitOfWork, principal: Principal, check_id: int,
                 spec: CheckResult, *, recall_id: int | None = None) -> CheckView:
    """What one effectiveness check found, and how it was made. Once: a check already
    recorded is a Conflict naming when and by whom. `recall_id`, when given (a page's
    address), must be the check's recall."""
    require_role(principal, CHECKERS, "record an effectiveness check")
    check = uow.effectiveness.check(check_id)
    if check is None or recall_id not in (None, check.recall_id):
        raise NotFound(f"no effectiveness check {check_id}")
    row, _ = _readable(uow, principal, check.recall_id)
    if check.checked_at is not None:
        raise Conflict(f"effectiveness check {check.id} was recorded at "
                       f"{aware(check.checked_at).isoformat()} by {check.checked_by}")
    at = now()
    check.outcome, check.method, check.note = spec.outcome, spec.method, spec.note
    check.checked_at, check.checked_by = at, principal.username
    audit.record(uow, principal, "recall.effectiveness_check", "recall", row.id,
                 {"check": check.id, "subject_kind": check.subject_kind,
                  "outcome": spec.outcome, "method": spec.method}, reason=spec.note, at=at)
    uow.flush()
    found = uow.effectiveness.checks(row.id, check_id=check.id)
    line = _line(found[0], principal)
    view = CheckView(id=check.id, recall_id=row.id, kind=check.subject_kind,
                     label=line.label, method=spec.method, outcome=spec.outcome,
                     note=spec.note, checked_by=principal.username)
    uow.commit()
    return view


# -- the dashboard ---------------------------------------------------------------------------

def dashboard(uow: UnitOfWork, principal: Principal, recall_id: int, *,
              as_of: date | None = None,
              policy: EffectivenessPolicy = DEFAULT_POLICY) -> Dashboard:
    """The recall's effectiveness as of `as_of` (default today; the follow-ups overdue
    are those due before it), for the caller (a pharmacist: its own part)."""
    require_role(principal, READERS, "see a recall's effectiveness")
    row, scope = _readable(uow, principal, recall_id)
    return _dashboard(uow, principal, row, scope, as_of or now().date(), policy)


def _dashboard(uow: UnitOfWork, principal: Principal, row: RecallRow, scope: int | None,
               as_of: date, policy: EffectivenessPolicy) -> Dashboard:
    repository = uow.effectiveness
    record = uow.recalls.record(row)
    topic = _topic(record)
    rows = repository.consignees(topic, scope) if topic is not None else []
    responders = repository.responders(row.id)
    responded = [c for c in rows if c.acknowledged or c.organisation_id in responders]
    answered = {c.organisation_id for c in responded}
    lot_ids = [lot.lot_id for lot in _lots(uow, record)]
    consignees = Consignees(
        notified=len(rows), responded=len(responded),
        first_notified_on=min((aware(c.first_notified).date() for c in rows), default=None),
        returned=repository.returned(row.id, scope),
        on_hand=repository.on_hand(lot_ids, scope),
        non_responders=tuple(c.name for c in rows if c.organisation_id not in answered))
    counts = repository.notice_counts(row.id, scope)
    alerts, urgent, alerted = repository.open_alerts(row.id, scope)
    told = sum(counts.get(state, 0) for state in ("queued", "letter", "acknowledged"))
    patients = Patients(
        affected=sum(n for state, n in counts.items() if state != "delivered"), told=told,
        reached=counts.get("acknowledged", 0) + counts.get("letter", 0)
        + counts.get("delivered", 0),
        acknowledged=counts.get("acknowledged", 0), proposed=counts.get("proposed", 0),
        declined=counts.get("declined", 0), switched=repository.switched(row.id, scope),
        in_monitoring=repository.in_monitoring(row.id, scope), with_open_alerts=alerted,
        open_alerts=alerts, urgent_alerts=urgent)
    missed, late = repository.overdue_check_ins(row.id, scope, as_of)
    follow_ups = FollowUps(missed_check_ins=missed, late_check_ins=late,
                           open_phone_calls=repository.open_phone_calls(row.id, scope))
    level = record.effectiveness_check
    samples: tuple[SampleStatus, ...] = ()
    lines: tuple[SampleLine, ...] = ()
    if scope is None:
        populations = {"consignee": consignees.notified,
                       "patient": told if record.depth is Depth.CONSUMER else 0}
        samples = _samples(repository.check_counts(row.id), populations, level, policy)
        lines = tuple(_line(found, principal)
                      for found in repository.checks(row.id, limit=SAMPLE_LISTED))
    return Dashboard(
        recall_id=row.id, recall_number=_label(row), as_of=as_of, level=level,
        level_percent=None if level is None else percent_of(level, policy),
        depth=None if record.depth is None else record.depth.value,
        correction=record.kind is RecallKind.CORRECTION, consignees=consignees,
        patients=patients, follow_ups=follow_ups, samples=samples, sample=lines,
        pharmacy_id=scope)


def _samples(counts: list[tuple[str, str | None, int]], populations: dict[str, int],
             level: EffectivenessLevel | None, policy: EffectivenessPolicy
             ) -> tuple[SampleStatus, ...]:
    found = []
    for kind in SUBJECT_KINDS:
        mine = [(outcome, n) for k, outcome, n in counts if k == kind]
        outcomes = tuple((outcome, n) for outcome, n in mine if outcome is not None)
        population = populations[kind]
        found.append(SampleStatus(
            kind=kind, population=population,
            target=0 if level is None else sample_size(level, population, policy),
            drawn=sum(n for _, n in mine), checked=sum(n for _, n in outcomes),
            outcomes=outcomes))  # type: ignore[arg-type]  # outcomes are CheckOutcome
    return tuple(found)


def _line(found: CheckRow, principal: Principal) -> SampleLine:
    check = found.check
    kind: SubjectKind = "patient" if check.subject_kind == "patient" else "consignee"
    if kind == "consignee":
        label = found.consignee or f"organisation {check.subject_id}"
    elif principal.role in ("admin", "regulator") and found.pseudonym is not None:
        label = f"{found.pseudonym} ({found.pharmacy or 'no pharmacy'})"
    else:
        label = f"a patient of {found.pharmacy or 'an unknown pharmacy'}"
    return SampleLine(
        check_id=check.id, kind=kind, label=label, drawn_on=aware(check.drawn_at).date(),
        method=check.method, outcome=check.outcome,  # type: ignore[arg-type]
        checked_on=None if check.checked_at is None else aware(check.checked_at).date(),
        checked_by=check.checked_by, note=check.note)


# -- the status report (§7.53) -----------------------------------------------------------------

def status_report(uow: UnitOfWork, principal: Principal, recall_id: int, *,
                  as_of: date | None = None, estimated_completion: date | None = None,
                  policy: EffectivenessPolicy = DEFAULT_POLICY) -> StatusReport:
    """The §7.53 status report generated from the dashboard's numbers (see `_report`)."""
    return _report(_board(uow, principal, recall_id, as_of, policy), estimated_completion)


def _board(uow: UnitOfWork, principal: Principal, recall_id: int, as_of: date | None,
           policy: EffectivenessPolicy) -> Dashboard:
    require_role(principal, REPORTERS, "see a recall's status report (a pharmacist sees "
                 "its own part on the effectiveness page)")
    today = now().date()
    day = as_of or today
    if day > today:
        raise Invalid(f"{day} is in the future", where="as_of")
    row, scope = _readable(uow, principal, recall_id)
    return _dashboard(uow, principal, row, scope, day, policy)


def _report(board: Dashboard, estimated_completion: date | None) -> StatusReport:
    """The items of §7.53 from the dashboard:
    - consignees notified: the pharmacies and clinics written to, on the day of the first
      notice, by e-mail (medsafe's consignee notices are e-mails);
    - responding: acknowledged their notice or took the `respond` step; the others are the
      non-responders, named;
    - quantity on hand: what the consignees held when notified, taken as what they still
      hold plus what they returned (dispensing a recalled lot is blocked once it is
      recalled, so nothing else left their shelves);
    - quantity returned, or corrected for a correction;
    - the effectiveness checks made and their results, by kind of subject."""
    c = board.consignees
    return StatusReport(
        as_of=board.as_of, consignees_notified=c.notified, notified_on=c.first_notified_on,
        methods=(NotificationMethod.EMAIL,) if c.notified else (),
        consignees_responding=c.responded, quantity_on_hand=c.on_hand + c.returned,
        non_responders=c.not_responded,
        quantity_returned=0 if board.correction else c.returned,
        quantity_corrected=c.returned if board.correction else 0,
        effectiveness_checks=board.checks_made, effectiveness_results=board.results_text(),
        estimated_completion=estimated_completion, non_responder_ids=c.non_responders)


def status_report_json(uow: UnitOfWork, principal: Principal, recall_id: int, *,
                       as_of: date | None = None, estimated_completion: date | None = None,
                       policy: EffectivenessPolicy = DEFAULT_POLICY) -> dict[str, Any]:
    """The status report as JSON: the §7.53 items under "status_report" (the names of
    `StatusReport`), and what medsafe adds beside them (patients, follow-ups, the sample
    by kind), each under its own key."""
    board = _board(uow, principal, recall_id, as_of, policy)
    return _json(board, _report(board, estimated_completion))


def _json(board: Dashboard, report: StatusReport) -> dict[str, Any]:
    p, f = board.patients, board.follow_ups
    return {
        "recall": {"id": board.recall_id, "recall_number": board.recall_number,
                   "effectiveness_level": None if board.level is None else board.level.value,
                   "level_percent": board.level_percent, "depth": board.depth},
        "status_report": {
            "as_of": report.as_of.isoformat(),
            "consignees_notified": report.consignees_notified,
            "notified_on": None if report.notified_on is None
            else report.notified_on.isoformat(),
            "methods": [m.value for m in report.methods],
            "consignees_responding": report.consignees_responding,
            "quantity_on_hand": report.quantity_on_hand,
            "non_responders": report.non_responders,
            "non_responder_ids": list(report.non_responder_ids),
            "quantity_returned": report.quantity_returned,
            "quantity_corrected": report.quantity_corrected,
            "effectiveness_checks": report.effectiveness_checks,
            "effectiveness_results": report.effectiveness_results,
            "estimated_completion": None if report.estimated_completion is None
            else report.estimated_completion.isoformat(),
            "response_rate": report.response_rate},
        "stock": {"still_on_hand": board.consignees.on_hand,
                  "returned": board.consignees.returned},
        "patients": {"affected": p.affected, "told": p.told, "reached": p.reached,
                     "acknowledged": p.acknowledged, "awaiting_pharmacist": p.proposed,
                     "declined": p.declined, "switched": p.switched,
                     "in_monitoring": p.in_monitoring,
                     "with_open_alerts": p.with_open_alerts, "open_alerts": p.open_alerts,
                     "urgent_alerts": p.urgent_alerts},
        "overdue_follow_ups": {"missed_check_ins": f.missed_check_ins,
                               "late_check_ins": f.late_check_ins,
                               "open_phone_calls": f.open_phone_calls,
                               "total": f.overdue},
        "effectiveness_sample": [
            {"kind": s.kind, "population": s.population, "target": s.target,
             "drawn": s.drawn, "checked": s.checked, "outcomes": dict(s.outcomes)}
            for s in board.samples],
    }


def status_report_pdf(uow: UnitOfWork, principal: Principal, recall_id: int, *,
                      as_of: date | None = None, estimated_completion: date | None = None,
                      policy: EffectivenessPolicy = DEFAULT_POLICY) -> bytes:
    """The status report as a printable PDF (`notify.letter`)."""
    board = _board(uow, principal, recall_id, as_of, policy)
    report = _report(board, estimated_completion)
    return render_pdf(_blocks(board, report),
                      title=f"Recall status report {board.recall_number}", max_pages=12)


def _blocks(board: Dashboard, report: StatusReport) -> list[Block]:
    p, f = board.patients, board.follow_ups
    returned = ("Quantity corrected", report.quantity_corrected) if board.correction \
        else ("Quantity returned", report.quantity_returned)
    names = list(report.non_responder_ids)
    shown = ", ".join(names[:PDF_NAMES]) + (f" and {len(names) - PDF_NAMES} more"
                                             if len(names) > PDF_NAMES else "")
    return [
        Block(f"Recall status report: {board.recall_number}", "title"),
        Block(f"As of {report.as_of.isoformat()}. The items of 21 CFR 7.53, generated by "
              "medsafe from its records.", "small"),
        Block("Consignees", "heading"),
        Block(f"Consignees notified: {report.consignees_notified}"
              + (f", from {report.notified_on.isoformat()}" if report.notified_on else "")
              + (f", by {', '.join(m.value for m in report.methods)}"
                 if report.methods else ""), "bullet"),
        Block(f"Consignees responding: {report.consignees_responding}"
              + _percent(report.consignees_responding, report.consignees_notified),
              "bullet"),
        Block(f"Consignees not responding: {report.non_responders}"
              + (f" ({shown})" if shown else ""), "bullet"),
        Block(f"Quantity on hand when notified: {report.quantity_on_hand}", "bullet"),
        Block(f"{returned[0]}: {returned[1]}; still on hand: "
              f"{board.consignees.on_hand}", "bullet"),
        Block("Effectiveness checks", "heading"),
        Block(f"Checks made: {report.effectiveness_checks}", "bullet"),
        Block(f"Results: {report.effectiveness_results}", "bullet"),
        Block("Estimated completion: " + (report.estimated_completion.isoformat()
                                          if report.estimated_completion else "not stated"),
              "body"),
        Block("Patients (medsafe's additions, beyond 7.53)", "heading"),
        Block(f"Affected: {p.affected}; told: {p.told}; reached: {p.reached}"
              f"{_percent(p.reached, p.told)}; acknowledged: {p.acknowledged}"
              f"{_percent(p.acknowledged, p.told)}", "bullet"),
        Block(f"Switched: {p.switched}; in monitoring: {p.in_monitoring}; with open "
              f"alerts: {p.with_open_alerts} ({p.open_alerts} open, {p.urgent_alerts} "
              "urgent)", "bullet"),
        Block(f"Overdue follow-ups: {f.overdue} ({f.missed_check_ins} missed check-ins "
              f"not followed up, {f.late_check_ins} check-ins past their day, "
              f"{f.open_phone_calls} phone calls to make)", "bullet"),
        Block("Consignees are the pharmacies and clinics medsafe's notices went to. The "
              "level-B share and the rounding of samples are local policy.", "small"),
    ]


def _percent(part: int, whole: int) -> str:
    return f" ({part * 100 / whole:.0f}%)" if whole else ""


def file_status_report(uow: UnitOfWork, principal: Principal, recall_id: int, *,
                       reason: str, as_of: date | None = None,
                       estimated_completion: date | None = None,
                       policy: EffectivenessPolicy = DEFAULT_POLICY) -> RecallDetail:
    """File the generated report as the firm's `report_progress` step
    (`recalls.service.file_status_report`: the workflow decides whether it may be taken,
    and it commits)."""
    report = status_report(uow, principal, recall_id, as_of=as_of,
                           estimated_completion=estimated_completion, policy=policy)
    spec = NewStatusReport.model_validate({
        "as_of": report.as_of, "consignees_notified": report.consignees_notified,
        "notified_on": report.notified_on, "methods": [m.value for m in report.methods],
        "consignees_responding": report.consignees_responding,
        "quantity_on_hand": report.quantity_on_hand,
        "non_responders": report.non_responders,
        "quantity_returned": report.quantity_returned,
        "quantity_corrected": report.quantity_corrected,
        "effectiveness_checks": report.effectiveness_checks,
        "effectiveness_results": report.effectiveness_results[:8000],
        "estimated_completion": report.estimated_completion,
        "non_responder_ids": [name[:200] for name in report.non_responder_ids],
        "reason": reason})
    return service.file_status_report(uow, principal, recall_id, spec)


# -- shared ------------------------------------------------------------------------------------

def _populations(uow: UnitOfWork, row: RecallRow, record: RecallRecord
                 ) -> dict[str, list[int]]:
    """Who may be drawn: the consignees notified, and at consumer depth the patients
    told."""
    topic = _topic(record)
    consignees = [c.organisation_id for c in uow.effectiveness.consignees(topic, None)] \
        if topic is not None else []
    patients = uow.effectiveness.told_patients(row.id) \
        if record.depth is Depth.CONSUMER else []
    return {"consignee": consignees, "patient": patients}


def _readable(uow: UnitOfWork, principal: Principal, recall_id: int
              ) -> tuple[RecallRow, int | None]:
    """The recall and the caller's scope (a pharmacist's pharmacy; None: all of it); see
    the module docstring for who."""
    require_role(principal, READERS, "see a recall's effectiveness")
    row = _visible(uow, principal, recall_id)
    if principal.role == "manufacturer" \
            and row.firm_organisation_id != principal.organisation_id:
        raise Forbidden(f"only the recalling firm, the regulator and admins see recall "
                        f"{_label(row)}'s effectiveness")
    if principal.role == "pharmacist":
        if principal.organisation_id is None:
            raise Forbidden("this pharmacist account belongs to no pharmacy")
        return row, principal.organisation_id
    return row, None


def _visible(uow: UnitOfWork, principal: Principal, recall_id: int) -> RecallRow:
    row = uow.recalls.get(recall_id, service.visible_recalls(principal))
    if row is None:
        raise NotFound(f"no recall {recall_id}")
    return row


def _lots(uow: UnitOfWork, record: RecallRecord) -> list[AffectedLot]:
    """The stored lots the recall concerns (`recalls.matching`)."""
    keys = recall_keys(record)
    return match(keys, uow.affected.stored_lots(keys.ndcs) + uow.affected.firm_lots(keys.firms))


def _topic(record: RecallRecord) -> str | None:
    try:
        return notices.topic(record)
    except Invalid:
        return None  # no number and no event: nothing was ever sent under it


def _seed(row: RecallRow) -> str:
    """The draw's seed: the recall's number (its event, or its id, without one)."""
    return row.recall_number or (f"event-{row.event_id}" if row.event_id else f"id-{row.id}")


def _label(row: RecallRow) -> str:
    return row.recall_number or f"#{row.id}"
