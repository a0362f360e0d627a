"""Close monitoring after a switch (issue 7 §2): the plan and its check-ins, the patient's
diary, the alerts the rules raise for the prescriber, the daily follow-up of missed
check-ins, and a diary entry reported as a side effect with one click.

The rules are pure and configured (`care.monitoring`, `care/data/monitoring.yaml`: the
scales and red flags with their citations, the schedule and every threshold as local
policy); this module stores what they decide and tells people through the outbox.

Who may do what (a role outside the list gets 403; a plan, entry or alert of a patient
the caller may not see is a 404, as in records/patients.py):

| action                                   | roles                                     |
|------------------------------------------|-------------------------------------------|
| start a plan by hand (`start_plan_for`)  | admin, physician (patient in their care)  |
| write a diary entry, read plans, diaries | admin, physician, pharmacist, patient (own)|
| report a diary entry as a side effect    | admin, physician, pharmacist, patient (own)|
| the prescriber's overview                | admin (every plan), physician (own patients)|
| resolve an alert                         | admin, physician                          |

Regulators and manufacturers see no patient-level monitoring data at all.

Each use case is one transaction and commits once; `start_plan` alone does not commit,
since it runs inside the prescriber's decision (`care.switching.decide`). A diary entry
with any bad value writes nothing, and neither does a case that cannot be linked to its
entry.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from medsafe.care.diary_inputs import (
    AlertView,
    BulkEntry,
    BulkTally,
    CheckInView,
    DiaryEntryView,
    DiaryResult,
    FollowUpTally,
    NewDiaryCase,
    NewDiaryEntry,
    NewPlan,
    PatientMonitoring,
    PlanDetail,
    PlanSummary,
    PlanView,
    PrescriberOverview,
    Series,
    SeriesPoint,
)
from medsafe.care.model import Alert, Entry, TransitionPlan
from medsafe.care.monitoring import (
    MonitoringSettings,
    ThresholdRule,
    check_in_dates,
    done_by,
    evaluate,
    load_settings,
    missed,
    plan_end,
    validate_entry,
)
from medsafe.cases.intake import mint_worldwide_id
from medsafe.cases.model import (
    CaseReport,
    Drug,
    PatientInfo,
    PrimarySource,
    Qualification,
    Reaction,
    Seriousness,
)
from medsafe.cases.service import CaseSummary, report_case
from medsafe.errors import Conflict, Invalid, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.notify.message import Notice
from medsafe.recalls.notifying import usable_address
from medsafe.records import aware, now, require_role, visible_patient
from medsafe.security import audit
from medsafe.security.permissions import visible_patients
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import CareAlert, DiaryEntry, MonitoringCheckIn, MonitoringPlan
from medsafe.store.uow import UnitOfWork

PLANNERS = ("admin", "physician")
DIARY_WRITERS = ("admin", "physician", "pharmacist", "patient")
READERS = ("admin", "physician", "pharmacist", "patient")
CASE_REPORTERS = ("admin", "physician", "pharmacist", "patient")
OVERSEERS = ("admin", "physician")
RESOLVERS = ("admin", "physician")
MISSED_RULE = "missed-check-in"
ALERT_HEADER = "X-Medsafe-Alert"
"""Each alert's message carries its own reference (`diary-entry-<id>/<rule id>` or
`check-in-<id>`): mail filters can use it, and a bulk write finds each alert's message by
it after one multi-row INSERT."""
PLAN_START_DAYS = 30
"""How far from today a plan started by hand may begin, either way (a plan dated long ago
would have every check-in missed at once)."""
REPORTED_PROBLEMS = 20
"""How many bad entries a bulk ingestion's error names before it counts the rest."""


# -- starting a plan ---------------------------------------------------------------------

def start_plan(uow: UnitOfWork, *, patient_id: int, review_id: int | None,
               recall_id: int | None, prescriber_id: int | None, medicine_from: str,
               medicine_to: str, product_id: int | None, lot_id: int | None,
               transition: TransitionPlan, today: date,
               settings: MonitoringSettings | None = None) -> MonitoringPlan:
    """Add a monitoring plan starting `today`, with its check-ins due, inside the
    caller's transaction (no commit, no audit: the caller's decision records both).

    The plan runs until the configured end, or until the transition's last bounded step
    ends if that is later: a patient still tapering is still watched."""
    config = settings or load_settings()
    due = check_in_dates(today, config)
    ends = plan_end(today, config)
    if transition.days is not None:
        ends = max(ends, today + timedelta(days=transition.days))
    plan = MonitoringPlan(
        patient_id=patient_id, review_id=review_id, recall_id=recall_id,
        prescriber_id=prescriber_id, medicine_from=medicine_from, medicine_to=medicine_to,
        product_id=product_id, lot_id=lot_id, state="active", started_on=today, ends_on=ends,
        check_in_days=[(day - today).days for day in due],
        transition=dataclasses.asdict(transition), created_at=now())
    uow.monitoring.add(plan)
    for day in due:
        uow.monitoring.add(MonitoringCheckIn(plan_id=plan.id, due_on=day, state="due"),
                           flush=False)
    uow.flush()
    return plan


def start_plan_for(uow: UnitOfWork, principal: Principal, pseudonym: str, new: NewPlan, *,
                   today: date | None = None, catalog: Catalog | None = None,
                   settings: MonitoringSettings | None = None) -> PlanView:
    """A plan a physician starts by hand (outside a recall's review, or to watch a change
    made elsewhere). No taper or titration is attached: the prescription carries the
    schedule. With `catalog`, the medicines must be ingredients it knows."""
    require_role(principal, PLANNERS, "start a monitoring plan")
    day = today or now().date()
    patient = visible_patient(uow, principal, pseudonym)
    problems: list[str] = []
    start = new.start_on or day
    if abs((start - day).days) > PLAN_START_DAYS:
        problems.append(f"start_on: {start.isoformat()} must be within {PLAN_START_DAYS} "
                        f"days of today ({(day - timedelta(days=PLAN_START_DAYS)).isoformat()}"
                        f" to {(day + timedelta(days=PLAN_START_DAYS)).isoformat()})")
    if catalog is not None:
        for name in ("medicine_from", "medicine_to"):
            value = getattr(new, name)
            if value not in catalog.ingredients:
                problems.append(f"{name}: '{value}' is not an ingredient of the knowledge "
                                "base")
    problems += _product_problems(uow, new.product_id, new.lot_id,
                                  (new.medicine_from, new.medicine_to))
    prescriber_id = _prescriber(uow, principal, new.prescriber, problems)
    if problems:
        raise Invalid("; ".join(problems))
    running = uow.monitoring.active_plan_like(patient.id, new.medicine_from, new.medicine_to)
    if running is not None:
        raise Conflict(f"patient '{pseudonym}' already has active monitoring plan "
                       f"{running.id} for {new.medicine_from} to {new.medicine_to} (started "
                       f"{running.started_on.isoformat()}); end it or add to its diary")
    plan = start_plan(uow, patient_id=patient.id, review_id=None, recall_id=None,
                      prescriber_id=prescriber_id, medicine_from=new.medicine_from,
                      medicine_to=new.medicine_to, product_id=new.product_id,
                      lot_id=new.lot_id, transition=TransitionPlan(kind="none"),
                      today=start, settings=settings)
    check_ins = uow.monitoring.check_ins([plan.id])
    audit.record(uow, principal, "care.plan.start", "monitoring_plan", plan.id,
                 {"patient": patient.pseudonym, "medicine_from": new.medicine_from,
                  "medicine_to": new.medicine_to, "product_id": new.product_id,
                  "lot_id": new.lot_id, "prescriber_id": prescriber_id,
                  "check_ins": [c.due_on.isoformat() for c in check_ins]},
                 reason=new.reason)
    names = uow.monitoring.usernames([prescriber_id] if prescriber_id else [])
    view = _plan_view(plan, patient.pseudonym, check_ins, names, day, _config(settings))
    uow.created.append(view)
    uow.commit()
    return view


def _product_problems(uow: UnitOfWork, product_id: int | None, lot_id: int | None,
                      medicines: tuple[str, str]) -> list[str]:
    if product_id is None:
        return ["lot_id: name the product_id the lot belongs to"] if lot_id else []
    product = uow.monitoring.product(product_id)
    if product is None:
        return [f"product_id: no product {product_id}"]
    if product.ingredient_id not in medicines:
        return [f"product_id: product {product_id} ({product.name}) is "
                f"{product.ingredient_id}, neither {medicines[0]} nor {medicines[1]}"]
    if lot_id is None:
        return []
    lot = uow.monitoring.lot(lot_id)
    if lot is None or lot.product_id != product_id:
        return [f"lot_id: lot {lot_id} is not a lot of product {product_id} ({product.name})"]
    return []


def _prescriber(uow: UnitOfWork, principal: Principal, username: str | None,
                problems: list[str]) -> int | None:
    """The plan's prescriber: a physician is it; an administrator names one."""
    if principal.role == "physician":
        if username not in (None, principal.username):
            problems.append("prescriber: a physician starts plans as their own prescriber; "
                            "leave it out")
        return principal.user_id
    if username is None:
        problems.append("prescriber: an administrator names the physician (username) "
                        "who prescribes")
        return None
    user = uow.users.by_username(username)
    if user is None or user.role != "physician" or not user.active:
        problems.append(f"prescriber: '{username}' is not an active physician's username")
        return None
    return user.id


# -- the diary -----------------------------------------------------------------------------

def record_diary(uow: UnitOfWork, principal: Principal, plan_id: int, new: NewDiaryEntry, *,
                 today: date, settings: MonitoringSettings | None = None) -> DiaryResult:
    """One diary entry on an active plan: checked against the configuration (any bad
    value: Invalid naming every bad field, nothing written), evaluated against the plan's
    earlier entries, stored with the alerts it raises and the check-in it answers; each
    alert goes to the prescriber by e-mail (an urgent one headed "URGENT:") when the
    prescriber has an address, and is shown on the pages either way."""
    require_role(principal, DIARY_WRITERS, "keep a monitoring diary")
    plan, pseudonym = _visible_plan(uow, principal, plan_id)
    if plan.state != "active":
        raise Conflict(f"monitoring plan {plan.id} ended on {plan.ends_on.isoformat()}; "
                       "diary entries go to an active plan")
    config = _config(settings)
    day = new.recorded_on or today
    _check_entry(new.scores, new.red_flags, new.temperature_c, new.note, day, plan, today,
                 config)
    history = [_rule_entry(row) for row in uow.monitoring.entries([plan.id])
               if row.recorded_on <= day]
    entry = Entry(day=day, scores=dict(new.scores), red_flags=tuple(new.red_flags),
                  temperature_c=new.temperature_c)
    alerts = evaluate(entry, history, medicines=_medicines(plan), settings=config)
    moment = now()
    row = uow.monitoring.add(DiaryEntry(
        plan_id=plan.id, patient_id=plan.patient_id, recorded_on=day, recorded_at=moment,
        entered_by=principal.username, scores=dict(new.scores),
        red_flags=list(new.red_flags), temperature_c=new.temperature_c, note=new.note))
    answered = _answer_check_in(uow.monitoring.due_check_ins([plan.id]), row.id, day,
                                moment, config)
    email = _prescriber_email(uow, plan)
    stored: list[CareAlert] = []
    for alert in alerts:
        message = (uow.outbox.add(_alert_notice(email, plan, pseudonym, day, alert,
                                                _alert_key(row.id, alert)), at=moment)
                   if email else None)
        stored.append(uow.monitoring.add(CareAlert(
            plan_id=plan.id, patient_id=plan.patient_id, diary_entry_id=row.id,
            rule_id=alert.rule_id[:80], severity=alert.severity, message=alert.message,
            created_at=moment, outbox_message_id=message.id if message else None),
            flush=False))
    uow.flush()
    audit.record(uow, principal, "care.diary", "diary_entry", row.id,
                 {"plan": plan.id, "patient": pseudonym, "day": day.isoformat(),
                  "alerts": [a.rule_id for a in alerts],
                  "urgent": sum(1 for a in alerts if a.severity == "urgent"),
                  "check_in": answered.isoformat() if answered else None})
    result = DiaryResult(entry=_entry_view(row),
                         alerts=[_alert_view(a, pseudonym) for a in stored],
                         check_in_done=answered,
                         messages=len(alerts) if email else 0)
    uow.created.append(result)
    uow.commit()
    return result


def record_diary_many(uow: UnitOfWork, entries: Sequence[BulkEntry], *,
                      today: date | None = None, actor: Principal = SYSTEM,
                      settings: MonitoringSettings | None = None) -> BulkTally:
    """Many diary entries at once (the demo's population, the benchmark), with the same
    checks and rules as `record_diary` and a handful of queries whatever their number:
    the plans, their earlier entries, their due check-ins and the prescribers' addresses
    are read once, the entries inserted in one multi-row INSERT. All or nothing: one bad
    entry refuses the lot, naming it. Each alert still gets its own outbox message, all
    written in one multi-row INSERT (`_send_all`). One audit event."""
    day = today or now().date()
    config = _config(settings)
    plans = uow.monitoring.plans_by_id({e.plan_id for e in entries})
    problems: list[str] = []
    for index, item in enumerate(entries):
        plan = plans.get(item.plan_id)
        if plan is None or plan.state != "active":
            problems.append(f"entries[{index}]: no active monitoring plan {item.plan_id}")
            continue
        try:
            _check_entry(item.scores, item.red_flags, item.temperature_c, item.note,
                         item.recorded_on, plan, day, config)
        except Invalid as error:
            problems.append(f"entries[{index}]: {error.message}")
    if problems:
        more = len(problems) - REPORTED_PROBLEMS
        raise Invalid("; ".join(problems[:REPORTED_PROBLEMS])
                      + (f"; and {more} more" if more > 0 else ""))
    order = sorted(range(len(entries)), key=lambda i: (entries[i].plan_id,
                                                       entries[i].recorded_on))
    history: dict[int, list[Entry]] = {}
    for held in uow.monitoring.entries(plans):
        history.setdefault(held.plan_id, []).append(_rule_entry(held))
    moment = now()
    rows: list[dict[str, Any]] = []
    raised: list[tuple[int, Alert]] = []  # (position in rows, alert)
    for index in order:
        item = entries[index]
        plan = plans[item.plan_id]
        entry = Entry(day=item.recorded_on, scores=dict(item.scores),
                      red_flags=tuple(item.red_flags), temperature_c=item.temperature_c)
        earlier = history.setdefault(plan.id, [])
        cut = bisect.bisect_right(earlier, entry.day, key=lambda e: e.day)
        raised += [(len(rows), alert) for alert in
                   evaluate(entry, earlier[:cut], medicines=_medicines(plan),
                            settings=config)]
        earlier.insert(cut, entry)
        rows.append({"plan_id": plan.id, "patient_id": plan.patient_id,
                     "recorded_on": item.recorded_on, "recorded_at": moment,
                     "entered_by": item.entered_by[:80], "scores": dict(item.scores),
                     "red_flags": list(item.red_flags), "temperature_c": item.temperature_c,
                     "note": item.note, "case_id": None})
    ids = uow.monitoring.insert_entries(rows)
    due: dict[int, list[MonitoringCheckIn]] = {}
    for check_in in uow.monitoring.due_check_ins(plans):
        due.setdefault(check_in.plan_id, []).append(check_in)
    marks: list[dict[str, Any]] = []
    for values, entry_id in zip(rows, ids, strict=True):
        waiting = due.get(values["plan_id"], [])
        hit = next((c for c in waiting if done_by(c.due_on, values["recorded_on"], config)),
                   None)
        if hit is not None:
            waiting.remove(hit)
            marks.append({"id": hit.id, "state": "done", "diary_entry_id": entry_id,
                          "done_at": moment})
    uow.monitoring.mark_check_ins(marks)
    emails = {pid: usable_address(address) for pid, address in
              uow.monitoring.emails_of_users({p.prescriber_id for p in plans.values()
                                              if p.prescriber_id is not None}).items()}
    names = uow.monitoring.pseudonyms({p.patient_id for p in plans.values()})
    notices: list[Notice] = []
    for position, alert in raised:
        values = rows[position]
        plan = plans[values["plan_id"]]
        email = emails.get(plan.prescriber_id) if plan.prescriber_id is not None else None
        if email:
            notices.append(_alert_notice(email, plan, names[plan.patient_id],
                                         values["recorded_on"], alert,
                                         _alert_key(ids[position], alert)))
    sent = _send_all(uow, notices, moment)
    alert_rows = [{"plan_id": rows[position]["plan_id"],
                   "patient_id": rows[position]["patient_id"],
                   "diary_entry_id": ids[position], "check_in_id": None,
                   "rule_id": alert.rule_id[:80], "severity": alert.severity,
                   "message": alert.message, "created_at": moment,
                   "outbox_message_id": sent.get(_alert_key(ids[position], alert)),
                   "resolved_at": None, "resolved_by": None}
                  for position, alert in raised]
    messages = len(notices)
    uow.monitoring.insert_alerts(alert_rows)
    tally = BulkTally(entries=len(rows), alerts=len(raised),
                      urgent=sum(1 for _, a in raised if a.severity == "urgent"),
                      check_ins_done=len(marks), messages=messages)
    if rows:
        audit.record(uow, actor, "care.diary.bulk", "monitoring", day.isoformat(),
                     {**tally.model_dump(), "plans": len(plans)})
    uow.commit()
    return tally


def _check_entry(scores: dict[str, int], red_flags: Sequence[str],
                 temperature_c: float | None, note: str | None, day: date,
                 plan: MonitoringPlan, today: date, config: MonitoringSettings) -> None:
    """Every problem of an entry in one Invalid: the configuration's (items, ranges, red
    flags, temperature) and the day's."""
    problems: list[str] = []
    try:
        validate_entry(scores, red_flags, temperature_c, config)
    except Invalid as error:
        problems.append(error.message)
    if day > today:
        problems.append(f"recorded_on: {day.isoformat()} is in the future (today is "
                        f"{today.isoformat()})")
    elif day < plan.started_on:
        problems.append(f"recorded_on: {day.isoformat()} is before the plan started "
                        f"({plan.started_on.isoformat()})")
    if not scores and not red_flags and temperature_c is None and not note:
        problems.append("entry: give at least one score, red flag, temperature or note")
    if problems:
        raise Invalid("; ".join(problems))


def _answer_check_in(due: Sequence[MonitoringCheckIn], entry_id: int, day: date,
                     moment: datetime, config: MonitoringSettings) -> date | None:
    """Mark done the earliest due check-in whose window holds `day`; its due day."""
    for check_in in due:
        if done_by(check_in.due_on, day, config):
            check_in.state, check_in.diary_entry_id = "done", entry_id
            check_in.done_at = moment
            return check_in.due_on
    return None


def _medicines(plan: MonitoringPlan) -> tuple[str, ...]:
    """The medicines whose red flags apply: the one stopped or kept and the one started."""
    return tuple(dict.fromkeys((plan.medicine_from, plan.medicine_to)))


def _rule_entry(row: DiaryEntry) -> Entry:
    return Entry(day=row.recorded_on, scores=dict(row.scores),
                 red_flags=tuple(row.red_flags), temperature_c=row.temperature_c)


def _alert_key(entry_id: int, alert: Alert) -> str:
    return f"diary-entry-{entry_id}/{alert.rule_id}"


def _send_all(uow: UnitOfWork, notices: Sequence[Notice], at: datetime) -> dict[str, int]:
    """Write many notices with one multi-row INSERT (a flush per message was most of a
    bulk ingestion's time); their outbox ids, by the reference each carries."""
    if not notices:
        return {}
    uow.outbox.add_all(notices, at=at)
    return uow.monitoring.outbox_ids(ALERT_HEADER, {notice.topic for notice in notices})


def _prescriber_email(uow: UnitOfWork, plan: MonitoringPlan) -> str | None:
    if plan.prescriber_id is None:
        return None
    return usable_address(uow.monitoring.emails_of_users([plan.prescriber_id])
                          .get(plan.prescriber_id))


def _alert_notice(email: str, plan: MonitoringPlan, pseudonym: str, day: date,
                  alert: Alert, key: str) -> Notice:
    urgent = alert.severity == "urgent"
    # The subject says what happened; the citation stays in the body.
    headline = " ".join(alert.message.split(" Source: ")[0].split()).removeprefix("URGENT: ")
    subject = (f"{'URGENT: ' if urgent else 'Monitoring alert: '}patient {pseudonym}: "
               f"{headline}")
    body = "\n".join([
        f"Patient {pseudonym}, monitoring plan {plan.id} ({_change(plan)}, started "
        f"{plan.started_on.isoformat()}).",
        f"Diary entry of {day.isoformat()}:",
        "",
        alert.message,
        "",
        ("The monitoring rules mark this as urgent (a red flag)." if urgent else
         "The monitoring rules raised this as a warning."),
        "The plan, the diary and its alerts are on the patient's monitoring page.",
    ])
    return Notice(channel="email", recipient=email, subject=_one_line(subject, 300),
                  body_text=body + "\n", topic=f"care-alert:{plan.id}",
                  audience="prescriber", headers={ALERT_HEADER: key[:900]},
                  acknowledge=urgent)


def _change(plan: MonitoringPlan) -> str:
    if plan.medicine_from == plan.medicine_to:
        return f"{plan.medicine_to}, from another lot"
    return f"{plan.medicine_from} to {plan.medicine_to}"


def _one_line(text: str, longest: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= longest else flat[:longest - 1] + "…"


# -- the daily follow-up -------------------------------------------------------------------

def follow_up(uow: UnitOfWork, *, today: date,
              settings: MonitoringSettings | None = None) -> FollowUpTally:
    """Run once a day (or more: a second run the same day writes nothing). Every check-in
    still due after its grace with no diary entry in its window becomes missed: a
    CareAlert for the prescriber, a reminder e-mailed to the patient (when they have an
    address) and a note to the prescriber. A due check-in an entry did answer (an entry
    that came in bulk, say) is marked done instead. Plans past their last day with no
    check-in left due end. One transaction."""
    config = _config(settings)
    moment = now()
    candidates = uow.monitoring.due_before(today)
    plan_ids = {plan.id for _, plan in candidates}
    entries: dict[int, list[DiaryEntry]] = {}
    for row in uow.monitoring.entries(plan_ids):
        entries.setdefault(row.plan_id, []).append(row)
    patients = {plan.patient_id for _, plan in candidates}
    pseudonyms = uow.monitoring.pseudonyms(patients)
    patient_emails = uow.monitoring.patient_emails(patients)
    prescriber_emails = uow.monitoring.emails_of_users(
        {p.prescriber_id for _, p in candidates if p.prescriber_id is not None})
    done_late = 0
    marks: list[dict[str, Any]] = []
    reminders: list[Notice] = []
    notes: list[Notice] = []
    alert_rows: list[dict[str, Any]] = []
    for check_in, plan in candidates:
        rows = entries.get(plan.id, [])
        answer = next((r for r in rows if done_by(check_in.due_on, r.recorded_on, config)),
                      None)
        if answer is not None:
            marks.append({"id": check_in.id, "state": "done",
                          "diary_entry_id": answer.id, "done_at": moment})
            done_late += 1
            continue
        if not missed(check_in.due_on, [r.recorded_on for r in rows], today, config):
            continue
        patient_email = usable_address(patient_emails.get(plan.patient_id))
        if patient_email:
            reminders.append(_reminder(patient_email, plan, check_in.due_on))
        prescriber_email = (usable_address(prescriber_emails.get(plan.prescriber_id))
                            if plan.prescriber_id is not None else None)
        message = _missed_message(check_in.due_on, config, reminded=bool(patient_email))
        if prescriber_email:
            notes.append(_missed_notice(prescriber_email, plan, pseudonyms[plan.patient_id],
                                        check_in, message))
        marks.append({"id": check_in.id, "state": "missed", "followed_up_at": moment})
        alert_rows.append({"plan_id": plan.id, "patient_id": plan.patient_id,
                           "diary_entry_id": None, "check_in_id": check_in.id,
                           "rule_id": MISSED_RULE, "severity": "warning", "message": message,
                           "created_at": moment, "outbox_message_id": None,
                           "resolved_at": None, "resolved_by": None})
    uow.outbox.add_all(reminders, at=moment)
    sent = _send_all(uow, notes, moment)
    for values in alert_rows:
        values["outbox_message_id"] = sent.get(_check_in_key(values["check_in_id"]))
    uow.monitoring.mark_check_ins(marks)
    uow.monitoring.insert_alerts(alert_rows)
    uow.flush()
    ending = [plan.id for plan in uow.monitoring.plans_past_end(today)]
    uow.monitoring.end_plans(ending)
    tally = FollowUpTally(missed=len(alert_rows), done_late=done_late,
                          reminders=len(reminders), prescriber_notes=len(notes),
                          ended=len(ending))
    if alert_rows or done_late or ending:
        audit.record(uow, SYSTEM, "care.follow_up", "monitoring", today.isoformat(),
                     {**tally.model_dump(), "plans_ended": ending})
    uow.commit()
    return tally


def _missed_message(due: date, config: MonitoringSettings, *, reminded: bool) -> str:
    opens = due - timedelta(days=config.window_days_before)
    closes = due + timedelta(days=config.grace_days_after)
    told = ("the patient was reminded by e-mail" if reminded else
            "the patient has no e-mail address: please contact them")
    return (f"No diary entry for the check-in due {due.isoformat()} (window "
            f"{opens.isoformat()} to {closes.isoformat()}); {told}.")


def _reminder(email: str, plan: MonitoringPlan, due: date) -> Notice:
    return Notice(
        channel="email", recipient=email,
        subject=f"Reminder: your medicine diary check-in of {due.isoformat()}",
        body_text="\n".join([
            f"Your monitoring plan (started {plan.started_on.isoformat()}) asked for a diary "
            f"entry around {due.isoformat()}, and none has arrived.",
            "",
            "Please fill in your diary on your medsafe page (how you have slept and felt, "
            "and any of the warning signs it asks about).",
            "If anything worries you, contact your prescriber.",
        ]) + "\n",
        topic=f"care-check-in:{plan.id}", audience="patient", acknowledge=False)


def _check_in_key(check_in_id: int) -> str:
    return f"check-in-{check_in_id}"


def _missed_notice(email: str, plan: MonitoringPlan, pseudonym: str,
                   check_in: MonitoringCheckIn, message: str) -> Notice:
    return Notice(
        channel="email", recipient=email,
        subject=f"Missed check-in: patient {pseudonym}, due {check_in.due_on.isoformat()}",
        body_text=(f"Patient {pseudonym}, monitoring plan {plan.id} ({_change(plan)}).\n\n"
                   f"{message}\n"),
        topic=f"care-alert:{plan.id}", audience="prescriber",
        headers={ALERT_HEADER: _check_in_key(check_in.id)}, acknowledge=False)


# -- a diary entry becomes a case ------------------------------------------------------------

def diary_to_case(uow: UnitOfWork, principal: Principal, catalog: Catalog, entry_id: int,
                  new: NewDiaryCase, *, today: date | None = None,
                  settings: MonitoringSettings | None = None) -> CaseSummary:
    """Report a diary entry as a side effect: a case built from the entry (the reactions
    in the diary's words; the plan's product with the lot the patient received as the
    suspect drug; the patient; the reporter by role; the note as narrative), stored
    through the case intake (`cases.service.report_case`). The entry is linked to the
    case in the same transaction, just before it commits: nothing half-written, and a
    second click (even at the same moment) gets Conflict naming the case."""
    require_role(principal, CASE_REPORTERS, "report a diary entry as a side effect")
    found = uow.monitoring.visible_entry(entry_id, visible_patients(principal))
    if found is None:
        raise NotFound(f"no diary entry {entry_id}")
    entry, plan, patient = found
    if entry.case_id is not None:
        raise _already(uow, entry.id, entry.case_id)
    config = _config(settings)
    reactions = _reactions(entry, new, config)
    drugs = _drugs(uow, catalog, plan)
    day = today or now().date()
    report = CaseReport(
        sender_report_id=f"medsafe-diary-{entry.id}", worldwide_id=mint_worldwide_id(),
        first_received=day, latest_received=day,
        primary_sources=(PrimarySource(qualification=_qualification(principal),
                                       regulatory=True),),
        patient=_patient_info(patient.birth_date, patient.sex, entry.recorded_on),
        reactions=reactions, drugs=drugs, narrative=entry.note,
        sender_comment=_one_line(
            f"From medsafe's monitoring diary: entry {entry.id} of "
            f"{entry.recorded_on.isoformat()}, monitoring plan {plan.id} ({_change(plan)}"
            + (f", recall {plan.recall_id}" if plan.recall_id else "") + ").", 2000))
    linked = (entry.id, plan.id)

    def link() -> None:
        made = next(c for c in reversed(uow.created) if isinstance(c, CaseSummary))
        if not uow.monitoring.link_case(linked[0], made.id):
            held = uow.monitoring.case_of_entry(linked[0])
            raise _already(uow, linked[0], held if held is not None else made.id)
        audit.record(uow, principal, "care.diary.case", "diary_entry", linked[0],
                     {"plan": linked[1], "case": made.id, "worldwide_id": made.worldwide_id})

    uow.before_commit(link)
    return report_case(uow, principal, catalog, report, source="form",
                       patient_id=plan.patient_id)


def _already(uow: UnitOfWork, entry_id: int, case_id: int) -> Conflict:
    worldwide = uow.monitoring.worldwide_id(case_id)
    return Conflict(f"diary entry {entry_id} was already reported as case {case_id}"
                    + (f" ({worldwide})" if worldwide else ""))


def _reactions(entry: DiaryEntry, new: NewDiaryCase,
               config: MonitoringSettings) -> tuple[Reaction, ...]:
    """The reactions to report, in the diary's words: those ticked, or by default the red
    flags the entry records (a fever by temperature too) and the items scored at or beyond
    a threshold rule. Only what the entry recorded can be reported."""
    items = {item.id: item for item in config.diary_items}
    flags = {flag.id: flag for flag in config.red_flags}
    recorded_flags = list(dict.fromkeys(entry.red_flags))
    fever = config.fever
    if (fever is not None and entry.temperature_c is not None
            and entry.temperature_c >= fever.at_least_c
            and fever.red_flag not in recorded_flags):
        recorded_flags.append(fever.red_flag)
    scored = [key for key in items if key in entry.scores]
    if new.reactions is None:
        chosen = [*recorded_flags, *(key for key in scored
                                     if _beyond_threshold(key, entry.scores[key], config))]
        if not chosen:
            raise Invalid("the entry records no red flag and no score at or beyond a rule's "
                          "threshold; tick what to report (recorded: "
                          f"{', '.join(scored) or 'no scores'})", where="reactions")
    else:
        chosen = list(dict.fromkeys(new.reactions))
        unknown = [key for key in chosen if key not in recorded_flags and key not in scored]
        if unknown or not chosen:
            allowed = ", ".join([*recorded_flags, *scored]) or "nothing"
            raise Invalid(f"{', '.join(unknown) or 'nothing'} not recorded in diary entry "
                          f"{entry.id}; it recorded: {allowed}", where="reactions")
    severity = Seriousness(**dict.fromkeys(new.seriousness, True))
    start = entry.recorded_on.isoformat()
    reactions = []
    for number, key in enumerate(chosen, start=1):
        if key in flags:
            words = flags[key].label
            if fever is not None and key == fever.red_flag and entry.temperature_c is not None:
                words += f" ({entry.temperature_c:g} °C)"
        elif key in items:
            item = items[key]
            words = (f"{item.label}: {entry.scores[key]} on the diary's {item.low}–{item.high}"
                     f" scale ({item.low} {item.low_means}, {item.high} {item.high_means})")
        else:  # a red flag the configuration has since dropped: the entry's own word
            words = key.replace("-", " ").replace("_", " ").capitalize()
        reactions.append(Reaction(id=f"r{number}", verbatim=_one_line(words, 250),
                                  start=start, seriousness=severity, outcome=new.outcome))
    return tuple(reactions)


def _beyond_threshold(item: str, value: int, config: MonitoringSettings) -> bool:
    for rule in config.rules:
        if not isinstance(rule, ThresholdRule) or item not in rule.items:
            continue
        if rule.at_least is not None and value >= rule.at_least:
            return True
        if rule.at_most is not None and value <= rule.at_most:
            return True
    return False


def _drugs(uow: UnitOfWork, catalog: Catalog, plan: MonitoringPlan) -> tuple[Drug, ...]:
    """The plan's product with the lot the patient received as the suspect (the intake
    links the lot number to the medsafe lot); the plan's other medicine, when it changes
    medicine, as a second suspect: during a taper or cross-titration both are taken, and
    a withdrawal sign belongs to the one being stopped."""
    product = uow.monitoring.product(plan.product_id) if plan.product_id else None
    lot = uow.monitoring.lot(plan.lot_id) if plan.lot_id else None
    drugs: list[Drug] = []
    if product is not None:
        numbers = (lot.lot_number,) if lot is not None and lot.product_id == product.id else ()
        drugs.append(Drug(id="d1", role="suspect", product_name=product.name,
                          ingredient_id=product.ingredient_id, product_id=product.id,
                          lot_numbers=numbers, route=product.route))
    for ingredient in _medicines(plan):
        if product is not None and ingredient == product.ingredient_id:
            continue
        drugs.append(Drug(id=f"d{len(drugs) + 1}", role="suspect",
                          product_name=_ingredient_name(catalog, ingredient),
                          ingredient_id=ingredient))
    return tuple(drugs)


def _ingredient_name(catalog: Catalog, ingredient: str) -> str:
    found = catalog.ingredients.get(ingredient)
    return found.name if found is not None else ingredient


def _qualification(principal: Principal) -> Qualification:
    """The primary source: the clinician who reports it, or else the patient, whose diary
    it is (an administrator passes the patient's words on)."""
    if principal.role == "physician":
        return "physician"
    if principal.role == "pharmacist":
        return "pharmacist"
    return "consumer"


def _patient_info(birth: date | None, sex: str | None, day: date) -> PatientInfo:
    """Age at the entry and sex: enough to identify the patient for a valid case (E2D),
    without the birth date."""
    age = None
    if birth is not None:
        age = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    return PatientInfo(age=age, age_unit="year" if age is not None else None,
                       sex=sex if sex in ("male", "female") else "unknown" if sex else None)


# -- views -----------------------------------------------------------------------------------

def patient_overview(uow: UnitOfWork, principal: Principal, pseudonym: str, *,
                     today: date | None = None,
                     settings: MonitoringSettings | None = None) -> PatientMonitoring:
    """A patient's plans with their check-ins, the diary oldest first, the open alerts."""
    require_role(principal, READERS, "see monitoring plans")
    patient = visible_patient(uow, principal, pseudonym)
    day = today or now().date()
    config = _config(settings)
    plans = uow.monitoring.plans_of(patient.id)
    ids = [plan.id for plan in plans]
    check_ins = _by_plan(uow.monitoring.check_ins(ids))
    names = uow.monitoring.usernames({p.prescriber_id for p in plans
                                      if p.prescriber_id is not None})
    return PatientMonitoring(
        pseudonym=patient.pseudonym,
        plans=[_plan_view(p, patient.pseudonym, check_ins.get(p.id, []), names, day, config)
               for p in plans],
        entries=[_entry_view(row) for row in uow.monitoring.entries_of_patient(patient.id)],
        open_alerts=_ordered_alerts(uow.monitoring.alerts(ids, open_only=True),
                                    {patient.id: patient.pseudonym}))


def prescriber_overview(uow: UnitOfWork, principal: Principal, *, today: date | None = None,
                        settings: MonitoringSettings | None = None) -> PrescriberOverview:
    """The active plans of the physician's patients (every active plan for an admin):
    those with urgent alerts first, then with open alerts, then with overdue check-ins;
    the open alerts; the overdue check-ins."""
    require_role(principal, OVERSEERS, "see the monitoring overview")
    day = today or now().date()
    config = _config(settings)
    found = uow.monitoring.active_plans(visible_patients(principal))
    ids = [plan.id for plan, _ in found]
    pseudonyms = {plan.patient_id: pseudonym for plan, pseudonym in found}
    alerts = uow.monitoring.alerts(ids, open_only=True)
    check_ins = _by_plan(uow.monitoring.check_ins(ids))
    last = {plan_id: days[-1] for plan_id, days in uow.monitoring.entry_days(ids).items()}
    overdue = [c for c in (c for cs in check_ins.values() for c in cs)
               if _overdue(c, day, config) or c.state == "missed"]
    summaries = []
    for plan, pseudonym in found:
        mine = [a for a in alerts if a.plan_id == plan.id]
        waiting = [c for c in check_ins.get(plan.id, []) if c.state == "due"]
        summaries.append(PlanSummary(
            id=plan.id, pseudonym=pseudonym, medicine_from=plan.medicine_from,
            medicine_to=plan.medicine_to, started_on=plan.started_on, ends_on=plan.ends_on,
            open_alerts=len(mine), urgent_alerts=sum(1 for a in mine if a.severity == "urgent"),
            overdue_check_ins=sum(1 for c in overdue if c.plan_id == plan.id),
            next_check_in=min((c.due_on for c in waiting), default=None),
            last_entry=last.get(plan.id)))
    summaries.sort(key=lambda s: (-s.urgent_alerts, -s.open_alerts, -s.overdue_check_ins,
                                  s.started_on, s.id))
    return PrescriberOverview(
        plans=summaries, open_alerts=_ordered_alerts(alerts, pseudonyms),
        overdue_check_ins=[_check_in_view(c, day, config)
                           for c in sorted(overdue, key=lambda c: (c.due_on, c.id))])


def plan_detail(uow: UnitOfWork, principal: Principal, plan_id: int, *,
                today: date | None = None,
                settings: MonitoringSettings | None = None) -> PlanDetail:
    """One plan: its check-ins, diary, alerts, and a series per diary item for a plot
    (each on its own scale, with the direction that is worse)."""
    require_role(principal, READERS, "see monitoring plans")
    plan, pseudonym = _visible_plan(uow, principal, plan_id)
    day = today or now().date()
    config = _config(settings)
    entries = uow.monitoring.entries([plan.id])
    alerts = uow.monitoring.alerts([plan.id])
    open_alerts = _ordered_alerts([a for a in alerts if a.resolved_at is None],
                                  {plan.patient_id: pseudonym})
    resolved = [_alert_view(a, pseudonym) for a in reversed(alerts) if a.resolved_at]
    names = uow.monitoring.usernames([plan.prescriber_id] if plan.prescriber_id else [])
    series = []
    for item in config.diary_items:
        points = [SeriesPoint(day=row.recorded_on, since_start=(row.recorded_on
                                                                - plan.started_on).days,
                              value=row.scores[item.id])
                  for row in entries if item.id in row.scores]
        if points:
            series.append(Series(item=item.id, label=item.label, low=item.low, high=item.high,
                                 higher_is_worse=item.higher_is_worse, points=points))
    return PlanDetail(
        plan=_plan_view(plan, pseudonym, uow.monitoring.check_ins([plan.id]), names, day,
                        config),
        entries=[_entry_view(row) for row in entries], alerts=[*open_alerts, *resolved],
        series=series,
        temperatures=[(row.recorded_on, row.temperature_c) for row in entries
                      if row.temperature_c is not None])


def resolve_alert(uow: UnitOfWork, principal: Principal, alert_id: int,
                  note: str) -> AlertView:
    """The prescriber has dealt with an alert. The note (required: what was done) goes to
    the audit trail with its author; the alert keeps who resolved it and when."""
    require_role(principal, RESOLVERS, "resolve monitoring alerts")
    text = note.strip() if isinstance(note, str) else ""
    if not text or len(text) > 4000:
        raise Invalid("say what was done, in 1 to 4000 characters", where="note")
    found = uow.monitoring.visible_alert(alert_id, visible_patients(principal))
    if found is None:
        raise NotFound(f"no monitoring alert {alert_id}")
    alert, pseudonym = found
    if alert.resolved_at is not None:
        raise Conflict(f"alert {alert.id} was resolved by {alert.resolved_by} at "
                       f"{aware(alert.resolved_at).isoformat(timespec='minutes')}")
    alert.resolved_at, alert.resolved_by = now(), principal.username
    audit.record(uow, principal, "care.alert.resolve", "care_alert", alert.id,
                 {"plan": alert.plan_id, "patient": pseudonym, "rule": alert.rule_id,
                  "severity": alert.severity}, reason=text)
    view = _alert_view(alert, pseudonym)
    uow.commit()
    return view


# -- shared --------------------------------------------------------------------------------------

def _config(settings: MonitoringSettings | None) -> MonitoringSettings:
    return settings or load_settings()


def _visible_plan(uow: UnitOfWork, principal: Principal,
                  plan_id: int) -> tuple[MonitoringPlan, str]:
    found = uow.monitoring.visible_plan(plan_id, visible_patients(principal))
    if found is None:
        raise NotFound(f"no monitoring plan {plan_id}")
    return found[0], found[1]


def _by_plan(check_ins: Iterable[MonitoringCheckIn]) -> dict[int, list[MonitoringCheckIn]]:
    grouped: dict[int, list[MonitoringCheckIn]] = {}
    for check_in in check_ins:
        grouped.setdefault(check_in.plan_id, []).append(check_in)
    return grouped


def _overdue(check_in: MonitoringCheckIn, today: date, config: MonitoringSettings) -> bool:
    return (check_in.state == "due"
            and check_in.due_on + timedelta(days=config.grace_days_after) < today)


def _ordered_alerts(alerts: Collection[CareAlert],
                    pseudonyms: dict[int, str]) -> list[AlertView]:
    """Urgent first, then newest."""
    ordered = sorted(alerts, key=lambda a: (a.severity != "urgent", -a.id))
    return [_alert_view(a, pseudonyms.get(a.patient_id, "")) for a in ordered]


def _plan_view(plan: MonitoringPlan, pseudonym: str, check_ins: Sequence[MonitoringCheckIn],
               usernames: dict[int, str], today: date, config: MonitoringSettings) -> PlanView:
    return PlanView(
        id=plan.id, pseudonym=pseudonym, review_id=plan.review_id, recall_id=plan.recall_id,
        prescriber=usernames.get(plan.prescriber_id) if plan.prescriber_id else None,
        medicine_from=plan.medicine_from, medicine_to=plan.medicine_to,
        product_id=plan.product_id, lot_id=plan.lot_id, state=plan.state,
        started_on=plan.started_on, ends_on=plan.ends_on,
        check_in_days=list(plan.check_in_days), transition=dict(plan.transition),
        check_ins=[_check_in_view(c, today, config) for c in check_ins])


def _check_in_view(check_in: MonitoringCheckIn, today: date,
                   config: MonitoringSettings) -> CheckInView:
    return CheckInView(
        id=check_in.id, plan_id=check_in.plan_id, due_on=check_in.due_on,
        state=check_in.state, diary_entry_id=check_in.diary_entry_id,
        done_at=aware(check_in.done_at) if check_in.done_at else None,
        followed_up_at=aware(check_in.followed_up_at) if check_in.followed_up_at else None,
        overdue=_overdue(check_in, today, config))


def _entry_view(row: DiaryEntry) -> DiaryEntryView:
    return DiaryEntryView(
        id=row.id, plan_id=row.plan_id, recorded_on=row.recorded_on,
        recorded_at=aware(row.recorded_at), entered_by=row.entered_by,
        scores=dict(row.scores), red_flags=list(row.red_flags),
        temperature_c=row.temperature_c, note=row.note, case_id=row.case_id)


def _alert_view(alert: CareAlert, pseudonym: str) -> AlertView:
    return AlertView(
        id=alert.id, plan_id=alert.plan_id, pseudonym=pseudonym,
        diary_entry_id=alert.diary_entry_id, check_in_id=alert.check_in_id,
        rule_id=alert.rule_id, severity=alert.severity, message=alert.message,
        created_at=aware(alert.created_at), notified=alert.outbox_message_id is not None,
        resolved_at=aware(alert.resolved_at) if alert.resolved_at else None,
        resolved_by=alert.resolved_by)
