"""The care part of the demo's story, after the story's recall reached its patients
(DESIGN.md, "The story the demo tells"): medsafe proposes alternatives on every affected
patient's own record; many patients acknowledge their notice through its link; their
prescribers decide over the past three weeks, so monitoring plans are under way; the
patients' diaries come in (synthetic, labelled so), the rules raise their alerts, missed
check-ins are followed up; and the effectiveness dashboard has something to show.

Pat's part is left for the person at the browser: her notice to acknowledge, Dora's
decision for her, her diary, the entry she reports as a side effect. So is the recall's
termination.

Every action goes through the services as its author (the administrator proposes, each
patient's physician decides, the notice link acknowledges); nothing is written around
them. Taken again, it repeats nothing: decided reviews, acknowledged notices and plans
with a diary are left as they are.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from medsafe.care import monitoring, monitoring_service, switching
from medsafe.care.diary_inputs import BulkEntry
from medsafe.care.inputs import Decision
from medsafe.errors import MedsafeError
from medsafe.knowledge.catalog import Catalog
from medsafe.notify import acknowledgements
from medsafe.population.demo import demo_principal
from medsafe.records import now
from medsafe.security.accounts import principal_of
from medsafe.store.schema import (
    CareReview,
    DiaryEntry,
    MonitoringPlan,
    OutboxMessage,
    RecallPatientNotice,
)
from medsafe.store.uow import UowFactory

SEED = 20261126
ACKNOWLEDGING = 0.6  # share of the other patients who acknowledge through the link
DECIDED = 0.6  # share of the other reviews their physician decides
DECIDED_OVER_DAYS = 21  # decisions spread over the past three weeks
SYNTHETIC = "synthetic diary (demo)"


@dataclass(frozen=True, slots=True)
class CareOutcome:
    reviews: int
    without_proposals: int
    acknowledged: int  # this run
    decided: int  # this run
    entries: int  # this run
    alerts: int
    urgent: int
    missed: int


def tell_care_story(uows: UowFactory, catalog: Catalog, recall_id: int,
                    say: Callable[[str], None] = lambda _: None) -> CareOutcome:
    today = now().date()
    with uows() as uow:
        admin = demo_principal(uow, "alice-admin")
        pat = uow.users.by_username("pat-patient")
        pat_id = pat.patient_id if pat is not None else None
    with uows() as uow:
        tally = switching.propose_for_recall(uow, admin, catalog, recall_id, today=today)
    say(f"alternatives proposed for {tally.patients:,} patients ({tally.created:,} new, "
        f"{tally.decided:,} decided already, {tally.without_proposals:,} without a safe "
        "alternative: their prescriber decides)")
    acknowledged = _acknowledge(uows, recall_id, pat_id)
    decided = _decide(uows, catalog, recall_id, pat_id, today)
    entries, alerts, urgent = _diaries(uows, recall_id, today)
    with uows() as uow:
        follow = monitoring_service.follow_up(uow, today=today)
    say(f"{acknowledged:,} patients acknowledged their notice through its link; "
        f"{decided:,} switches decided by the patients' physicians over the past "
        f"{DECIDED_OVER_DAYS} days, each with its monitoring plan; {entries:,} diary entries "
        f"({SYNTHETIC}) raised {alerts:,} alerts ({urgent:,} urgent); {follow.missed:,} "
        "missed check-ins followed up")
    say("left for you in the browser: Pat's notice (pat-patient), Dora's decision for Pat "
        "(dora-physician, /care), Pat's diary, and the recall's termination")
    return CareOutcome(tally.patients, tally.without_proposals, acknowledged, decided,
                       entries, alerts, urgent, follow.missed)


def _draw(kind: str, key: int) -> random.Random:
    """A generator of its own for each notice, review and plan: the demo's choices for one
    of them never depend on how many others came before, so a second run makes the same
    ones (and finds them made)."""
    return random.Random(f"{SEED}:{kind}:{key}")


def _acknowledge(uows: UowFactory, recall_id: int, pat_id: int | None) -> int:
    """The e-mailed notices a share of the other patients acknowledge by their link."""
    with uows() as uow:
        tokens = uow.session.execute(
            select(RecallPatientNotice.id, RecallPatientNotice.patient_id,
                   OutboxMessage.ack_token)
            .join(OutboxMessage, OutboxMessage.id == RecallPatientNotice.outbox_message_id)
            .where(RecallPatientNotice.recall_id == recall_id,
                   RecallPatientNotice.state == "queued",
                   OutboxMessage.ack_token.is_not(None))
            .order_by(RecallPatientNotice.id)).all()
    done = 0
    for notice_id, patient_id, token in tokens:
        if (patient_id == pat_id or token is None
                or _draw("acknowledge", notice_id).random() >= ACKNOWLEDGING):
            continue
        with uows() as uow:
            acknowledgements.acknowledge(uow, token)
        done += 1
    return done


def _decide(uows: UowFactory, catalog: Catalog, recall_id: int, pat_id: int | None,
            today: date) -> int:
    """A share of the other reviews decided by the patient's physician, proposal 1, on a
    day of the past three weeks. Reviews whose first proposal needs taper steps the
    prescriber writes are left to a person: medsafe does not invent a schedule."""
    with uows() as uow:
        waiting = uow.session.execute(
            select(CareReview.id, CareReview.patient_id)
            .where(CareReview.recall_id == recall_id, CareReview.state == "proposed")
            .order_by(CareReview.id)).all()
        physicians = {patient_id: principal_of(user) for patient_id, user in
                      uow.care_reviews.physicians_of_record(
                          [patient_id for _, patient_id in waiting]).items()}
    done = 0
    for review_id, patient_id in waiting:
        rng = _draw("decide", review_id)
        if patient_id == pat_id or rng.random() >= DECIDED:
            continue
        physician = physicians.get(patient_id)
        if physician is None:
            continue
        with uows() as uow:
            review = uow.session.get_one(CareReview, review_id)
            first = review.proposals[0] if review.proposals else None
            transition = first.get("transition") if isinstance(first, dict) else None
            if not isinstance(transition, dict) or transition.get("needs_prescriber_steps"):
                continue
        day = today - timedelta(days=rng.randint(0, DECIDED_OVER_DAYS))
        try:
            with uows() as uow:
                switching.decide(uow, physician, catalog, review_id, Decision(rank=1),
                                 today=day)
        except MedsafeError:
            continue  # the review changed since it was read: left for a person
        done += 1
    return done


def _diaries(uows: UowFactory, recall_id: int, today: date) -> tuple[int, int, int]:
    """Synthetic diary entries for the recall's plans that have none yet: on most of
    their check-in days so far (some skipped, to be followed up), mostly steady, some
    worsening, a few with a withdrawal sign."""
    settings = monitoring.load_settings()
    with uows() as uow:
        plans = uow.session.execute(
            select(MonitoringPlan.id, MonitoringPlan.started_on, MonitoringPlan.check_in_days)
            .where(MonitoringPlan.recall_id == recall_id, MonitoringPlan.state == "active",
                   ~select(DiaryEntry.id).where(DiaryEntry.plan_id == MonitoringPlan.id)
                   .exists())
            .order_by(MonitoringPlan.id)).all()
    entries: list[BulkEntry] = []
    for plan_id, started, days in plans:
        rng = _draw("diary", plan_id)
        course = rng.choices(("steady", "worse", "sign"), weights=(75, 20, 5))[0]
        # Steady patients score their symptoms low and their sleep and mood well.
        base = {item.id: (rng.randint(item.low, item.low + 3) if item.higher_is_worse
                          else rng.randint(item.high - 4, item.high - 1))
                for item in settings.diary_items}
        for step, offset in enumerate([0, *days]):
            day = started + timedelta(days=offset)
            if day > today or (step and rng.random() < 0.15):
                continue
            scores = dict(base)
            if course == "worse":
                for item in settings.diary_items:
                    worse = step if item.higher_is_worse else -step
                    scores[item.id] = max(item.low, min(item.high, base[item.id] + worse))
            flags = (rng.choice([f.id for f in settings.red_flags]),) \
                if course == "sign" and step == 1 and settings.red_flags else ()
            entries.append(BulkEntry(plan_id=plan_id, recorded_on=day, scores=scores,
                                     red_flags=flags, entered_by=SYNTHETIC))
    if not entries:
        return 0, 0, 0
    with uows() as uow:
        tally = monitoring_service.record_diary_many(uow, entries, today=today)
    return tally.entries, tally.alerts, tally.urgent
