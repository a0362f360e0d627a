"""Close monitoring on a real database (SQLite and PostgreSQL): plans started with
`start_plan` on the world's patients, diary entries checked against the configuration
(a bad value writes nothing), a red flag on a baclofen taper escalating urgently to the
prescriber by e-mail, a missed check-in followed up once however often the job runs, a
diary entry reported as a case linked to its product and lot (once), and who may see and
write what."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from medsafe.care import monitoring_service as service
from medsafe.care.diary_inputs import BulkEntry, NewDiaryCase, NewDiaryEntry, NewPlan
from medsafe.care.model import DoseStep, TransitionPlan
from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.records import patients
from medsafe.records.patients import ContactDetails, NewCareLink
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import (
    AuditEvent,
    CareAlert,
    Case,
    CaseDrug,
    DiaryEntry,
    MonitoringCheckIn,
    MonitoringPlan,
    OutboxMessage,
    Patient,
)
from medsafe.store.uow import UnitOfWork
from tests.support.databases import KINDS
from tests.support.world import PASSWORD, World, world_on

TODAY = date.today()
TAPER = TransitionPlan(
    kind="taper",
    stop=(DoseStep(day=0, days=7, medicine="baclofen", text="5 mg twice a day", dose_mg=5,
                   times_per_day=2),
          DoseStep(day=7, days=7, medicine="baclofen", text="5 mg once a day", dose_mg=5,
                   times_per_day=1, stop=True)),
    sources=("test taper",))


@dataclass
class Care:
    """The world, plus a prescriber with an e-mail address caring for the patient `cared`
    (whose contact details hold an e-mail address too)."""

    world: World
    prescriber: Principal
    prescriber_email: str
    patient_email: str
    patient_ids: dict[str, int]

    def principal(self, username: str) -> Principal:
        return self.world.principals[username]


@pytest.fixture(scope="module", params=KINDS)
def care(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Care]:
    with world_on(request.param, tmp_path_factory.mktemp("monitoring")) as world:
        container = world.container
        email, patient_email = "dr-monitor@example.org", "cared-patient@example.org"
        with container.uow() as uow:
            prescriber = accounts.create_user(
                uow, SYSTEM, username="drm-physician", password=PASSWORD, role="physician",
                display_name="Dr Monitor", email=email)
            uow.commit()
        with container.uow() as uow:
            patients.link_care(uow, SYSTEM, world.ids["cared"],
                               NewCareLink(physician="drm-physician"))
        with container.uow() as uow:
            patients.update_contacts(uow, SYSTEM, world.ids["cared"],
                                     ContactDetails(full_name="Cared Example",
                                                    email=patient_email))
        with container.uow() as uow:
            ids = {pseudonym: uow.session.execute(
                select(Patient.id).where(Patient.pseudonym == world.ids[pseudonym])
            ).scalar_one() for pseudonym in ("cared", "other")}
        yield Care(world, prescriber, email, patient_email, ids)


def plan_for(care: Care, *, patient: str = "cared", started: date = TODAY,
             prescriber: Principal | None = None, medicine_from: str = "baclofen",
             medicine_to: str = "baclofen", lot: bool = True,
             transition: TransitionPlan = TAPER) -> int:
    """A plan started directly with `start_plan`, as the prescriber's decision does."""
    world = care.world
    with world.container.uow() as uow:
        plan = service.start_plan(
            uow, patient_id=care.patient_ids[patient], review_id=None, recall_id=None,
            prescriber_id=(prescriber or care.prescriber).user_id,
            medicine_from=medicine_from, medicine_to=medicine_to,
            product_id=world.ids["mo_product"] if lot else None,
            lot_id=world.ids["mo_lot"] if lot else None, transition=transition,
            today=started)
        uow.commit()
        return plan.id


def entry(**values: Any) -> NewDiaryEntry:
    return NewDiaryEntry.model_validate(values)


def counts(care: Care) -> dict[str, int]:
    with care.world.container.uow() as uow:
        return {model.__tablename__: uow.session.execute(
            select(func.count()).select_from(model)).scalar_one()
            for model in (DiaryEntry, CareAlert, OutboxMessage, AuditEvent, Case,
                          MonitoringPlan)}


def check_ins(care: Care, plan_id: int) -> list[MonitoringCheckIn]:
    with care.world.container.uow() as uow:
        rows = list(uow.session.execute(
            select(MonitoringCheckIn).where(MonitoringCheckIn.plan_id == plan_id)
            .order_by(MonitoringCheckIn.due_on)).scalars())
        uow.session.expunge_all()  # read after the unit of work ends
        return rows


def outbox(care: Care, topic: str) -> list[OutboxMessage]:
    with care.world.container.uow() as uow:
        rows = list(uow.session.execute(
            select(OutboxMessage).where(OutboxMessage.topic == topic)
            .order_by(OutboxMessage.id)).scalars())
        uow.session.expunge_all()
        return rows


# -- starting a plan ----------------------------------------------------------------------

def test_a_plan_starts_with_its_check_ins_due_on_the_configured_days(care: Care) -> None:
    plan_id = plan_for(care)
    due = check_ins(care, plan_id)
    assert [(c.due_on - TODAY).days for c in due] == [3, 7, 14, 30]
    assert {c.state for c in due} == {"due"}
    with care.world.container.uow() as uow:
        plan = uow.monitoring.plan(plan_id)
        assert plan is not None
        assert plan.state == "active"
        assert plan.check_in_days == [3, 7, 14, 30]
        assert plan.transition["kind"] == "taper"
        steps: Any = plan.transition["stop"]
        assert steps[1]["stop"] is True  # the taper's last step, kept as JSON


def test_a_physician_starts_a_plan_by_hand_for_their_own_patient_only(care: Care) -> None:
    world = care.world
    new = NewPlan.model_validate({"medicine_from": "tizanidine", "medicine_to": "baclofen",
                                  "product_id": world.ids["mo_product"],
                                  "lot_id": world.ids["mo_lot"],
                                  "reason": "back to baclofen after a trial"})
    with world.container.uow() as uow:
        view = service.start_plan_for(uow, care.prescriber, world.ids["cared"], new,
                                      today=TODAY, catalog=world.container.catalog)
    assert view.prescriber == "drm-physician"
    assert len(view.check_ins) == 4
    with world.container.uow() as uow, pytest.raises(Conflict, match=f"plan {view.id}"):
        service.start_plan_for(uow, care.prescriber, world.ids["cared"], new, today=TODAY)
    with world.container.uow() as uow, pytest.raises(NotFound):
        service.start_plan_for(uow, care.prescriber, world.ids["other"], new, today=TODAY)
    wrong_lot = new.model_copy(update={"lot_id": world.ids["acme_lot"]})
    with world.container.uow() as uow, pytest.raises(Invalid) as refused:
        service.start_plan_for(uow, care.principal("alice-admin"), world.ids["other"],
                               wrong_lot, today=TODAY)
    assert "lot_id" in str(refused.value)
    assert "prescriber" in str(refused.value)
    with world.container.uow() as uow, pytest.raises(Forbidden):
        service.start_plan_for(uow, care.principal("phil-pharmacist"), world.ids["cared"],
                               new, today=TODAY)


# -- the diary ------------------------------------------------------------------------------

def test_an_out_of_range_diary_value_is_refused_naming_every_bad_field_and_writes_nothing(
        care: Care) -> None:
    plan_id = plan_for(care)
    before = counts(care)
    bad = entry(scores={"drowsiness": 11, "appetite": 3}, red_flags=["bogus"],
                temperature_c=60.0, recorded_on=(TODAY + timedelta(days=1)).isoformat())
    with care.world.container.uow() as uow, pytest.raises(Invalid) as refused:
        service.record_diary(uow, care.principal("pat-patient"), plan_id, bad, today=TODAY)
    message = str(refused.value)
    for named in ("scores.drowsiness", "0–10", "appetite", "bogus", "temperature_c",
                  "recorded_on"):
        assert named in message
    assert counts(care) == before
    assert {c.state for c in check_ins(care, plan_id)} == {"due"}


def test_a_red_flag_on_a_baclofen_taper_is_urgent_and_e_mails_the_prescriber(
        care: Care) -> None:
    plan_id = plan_for(care, started=TODAY - timedelta(days=3), medicine_to="tizanidine")
    with care.world.container.uow() as uow:
        result = service.record_diary(
            uow, care.principal("pat-patient"), plan_id,
            entry(scores={"spasticity": 4}, red_flags=["hallucinations"],
                  note="I saw people in the room who were not there."), today=TODAY)
    assert [a.severity for a in result.alerts] == ["urgent"]
    assert result.alerts[0].rule_id == "red-flag:hallucinations"
    assert result.alerts[0].notified
    assert result.messages == 1
    assert result.check_in_done == TODAY  # the day-3 check-in, answered on its day
    assert result.entry.entered_by == "pat-patient"
    sent = outbox(care, f"care-alert:{plan_id}")
    assert len(sent) == 1
    assert sent[0].recipient == care.prescriber_email
    assert sent[0].audience == "prescriber"
    assert sent[0].subject.startswith("URGENT:")
    assert "Hallucinations" in sent[0].subject
    assert "Source:" in sent[0].body_text
    with care.world.container.uow() as uow:
        stored = uow.session.get(CareAlert, result.alerts[0].id)
        assert stored is not None
        assert stored.outbox_message_id == sent[0].id
        events = uow.session.execute(select(AuditEvent).where(
            AuditEvent.action == "care.diary",
            AuditEvent.entity_id == str(result.entry.id))).scalars().all()
        assert len(events) == 1
        assert events[0].actor == "pat-patient"
    done = [c for c in check_ins(care, plan_id) if c.state == "done"]
    assert [(c.due_on, c.diary_entry_id) for c in done] == [(TODAY, result.entry.id)]


def test_a_worsening_score_warns_and_without_a_prescriber_address_is_shown_not_sent(
        care: Care) -> None:
    plan_id = plan_for(care, started=TODAY - timedelta(days=5),
                       prescriber=care.principal("dora-physician"))
    physician = care.principal("dora-physician")
    with care.world.container.uow() as uow:
        first = service.record_diary(uow, physician, plan_id,
                                     entry(scores={"drowsiness": 2},
                                           recorded_on=(TODAY - timedelta(days=4)).isoformat()),
                                     today=TODAY)
    assert first.alerts == []
    assert first.entry.entered_by == "dora-physician"
    with care.world.container.uow() as uow:
        second = service.record_diary(uow, physician, plan_id,
                                      entry(scores={"drowsiness": 8}), today=TODAY)
    rules = {a.rule_id for a in second.alerts}
    assert {"severe-symptom:drowsiness", "worse-since-start:drowsiness"} <= rules
    assert {a.severity for a in second.alerts} == {"warning"}
    assert not any(a.notified for a in second.alerts)
    assert second.messages == 0
    assert outbox(care, f"care-alert:{plan_id}") == []
    with care.world.container.uow() as uow:
        overview = service.patient_overview(uow, physician, care.world.ids["cared"],
                                            today=TODAY)
    assert {a.rule_id for a in overview.open_alerts if a.plan_id == plan_id} == rules


def test_a_patient_cannot_write_in_another_patients_diary(care: Care) -> None:
    plan_id = plan_for(care, patient="other", prescriber=care.principal("olga-physician"),
                       lot=False, medicine_from="tizanidine", medicine_to="tizanidine")
    before = counts(care)
    with care.world.container.uow() as uow, pytest.raises(NotFound):
        service.record_diary(uow, care.principal("pat-patient"), plan_id,
                             entry(scores={"mood": 5}), today=TODAY)
    with care.world.container.uow() as uow, pytest.raises(NotFound):
        service.plan_detail(uow, care.principal("pat-patient"), plan_id, today=TODAY)
    with care.world.container.uow() as uow, pytest.raises(NotFound):
        service.record_diary(uow, care.principal("phil-pharmacist"), plan_id,
                             entry(scores={"mood": 5}), today=TODAY)
    assert counts(care) == before


def test_an_ended_plan_takes_no_more_entries(care: Care) -> None:
    plan_id = plan_for(care, started=TODAY - timedelta(days=60), transition=TransitionPlan(
        kind="none"))
    with care.world.container.uow() as uow:
        service.follow_up(uow, today=TODAY)
    with care.world.container.uow() as uow:
        plan = uow.monitoring.plan(plan_id)
        assert plan is not None
        assert plan.state == "ended"
    with care.world.container.uow() as uow, pytest.raises(Conflict, match="ended"):
        service.record_diary(uow, care.principal("pat-patient"), plan_id,
                             entry(scores={"mood": 5}), today=TODAY)


# -- the follow-up ----------------------------------------------------------------------------

def test_a_missed_check_in_is_followed_up_once_however_often_the_job_runs(
        care: Care) -> None:
    plan_id = plan_for(care, started=TODAY - timedelta(days=10))
    # An entry in the day-7 window (day 7 - 1): that check-in is answered, day 3 is not.
    with care.world.container.uow() as uow:
        service.record_diary(uow, care.principal("pat-patient"), plan_id,
                             entry(scores={"mood": 6},
                                   recorded_on=(TODAY - timedelta(days=4)).isoformat()),
                             today=TODAY)
    with care.world.container.uow() as uow:
        first = service.follow_up(uow, today=TODAY)
    assert first.missed >= 1
    assert first.reminders >= 1
    assert first.prescriber_notes >= 1
    states = {(c.due_on - TODAY).days + 10: c.state for c in check_ins(care, plan_id)}
    assert states == {3: "missed", 7: "done", 14: "due", 30: "due"}
    with care.world.container.uow() as uow:
        alerts = uow.session.execute(select(CareAlert).where(
            CareAlert.plan_id == plan_id, CareAlert.rule_id == "missed-check-in")
        ).scalars().all()
        uow.session.expunge_all()
    assert len(alerts) == 1
    assert alerts[0].severity == "warning"
    assert alerts[0].check_in_id is not None
    assert alerts[0].outbox_message_id is not None
    reminders = outbox(care, f"care-check-in:{plan_id}")
    assert [(m.recipient, m.audience) for m in reminders] == [(care.patient_email, "patient")]
    notes = outbox(care, f"care-alert:{plan_id}")
    assert [(m.recipient, m.audience) for m in notes] == [(care.prescriber_email,
                                                           "prescriber")]
    before = counts(care)
    with care.world.container.uow() as uow:
        again = service.follow_up(uow, today=TODAY)
    assert again.model_dump() == {"missed": 0, "done_late": 0, "reminders": 0,
                                  "prescriber_notes": 0, "ended": 0}
    assert counts(care) == before


# -- a diary entry becomes a case ---------------------------------------------------------------

def test_a_diary_entry_becomes_a_case_linked_to_product_and_lot_and_only_once(
        care: Care) -> None:
    world = care.world
    plan_id = plan_for(care)
    with world.container.uow() as uow:
        recorded = service.record_diary(
            uow, care.principal("pat-patient"), plan_id,
            entry(scores={"drowsiness": 9, "mood": 6}, red_flags=["seizures"],
                  note="Had a fit on the sofa this morning."), today=TODAY)
    with world.container.uow() as uow:
        case = service.diary_to_case(uow, care.principal("pat-patient"),
                                     world.container.catalog, recorded.entry.id,
                                     NewDiaryCase.model_validate(
                                         {"seriousness": ["other_medically_important"]}),
                                     today=TODAY)
    assert case.primary_suspect == "Baclofen 10 mg"
    assert case.primary_term == "Seizures"
    assert case.qualification == "consumer"
    assert case.valid
    assert case.serious
    with world.container.uow() as uow:
        row = uow.session.get(DiaryEntry, recorded.entry.id)
        assert row is not None
        assert row.case_id == case.id
        stored = uow.session.get(Case, case.id)
        assert stored is not None
        assert stored.patient_id == care.patient_ids["cared"]
        drugs = uow.session.execute(select(CaseDrug).where(CaseDrug.case_id == case.id)
                                    ).scalars().all()
        assert [(d.role, d.product_id, d.lot_number, d.lot_id) for d in drugs] == [
            ("suspect", world.ids["mo_product"], "MO-001", world.ids["mo_lot"])]
        report = uow.cases.versions(case.id)[-1].payload
        assert "Drowsiness: 9" in report
        assert "Mood" not in report
        assert "Had a fit on the sofa" in report
        assert uow.session.execute(select(AuditEvent).where(
            AuditEvent.action == "care.diary.case",
            AuditEvent.entity_id == str(recorded.entry.id))).scalars().one()
    before = counts(care)
    with world.container.uow() as uow, pytest.raises(Conflict) as twice:
        service.diary_to_case(uow, care.prescriber, world.container.catalog,
                              recorded.entry.id, NewDiaryCase(), today=TODAY)
    assert f"case {case.id}" in str(twice.value)
    assert counts(care) == before


def test_reactions_to_report_must_be_what_the_entry_recorded(care: Care) -> None:
    world = care.world
    plan_id = plan_for(care)
    with world.container.uow() as uow:
        quiet = service.record_diary(uow, care.principal("pat-patient"), plan_id,
                                     entry(scores={"mood": 6}), today=TODAY)
    before = counts(care)
    for choice in ({}, {"reactions": ["seizures"]}):
        with world.container.uow() as uow, pytest.raises(Invalid, match="reactions"):
            service.diary_to_case(uow, care.principal("pat-patient"),
                                  world.container.catalog, quiet.entry.id,
                                  NewDiaryCase.model_validate(choice), today=TODAY)
    assert counts(care) == before
    with world.container.uow() as uow:
        case = service.diary_to_case(uow, care.prescriber,
                                     world.container.catalog, quiet.entry.id,
                                     NewDiaryCase.model_validate({"reactions": ["mood"]}),
                                     today=TODAY)
    assert case.qualification == "physician"
    assert case.primary_term.startswith("Mood: 6")


# -- who sees what -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["rita-regulator", "mo-manufacturer"])
def test_regulators_and_manufacturers_get_no_patient_monitoring_data(
        care: Care, role: str) -> None:
    world = care.world
    plan_id = plan_for(care)
    with world.container.uow() as uow:
        recorded = service.record_diary(uow, care.principal("pat-patient"), plan_id,
                                        entry(red_flags=["seizures"]), today=TODAY)
    who = care.principal(role)
    calls: list[Callable[[UnitOfWork], object]] = [
        lambda uow: service.record_diary(uow, who, plan_id, entry(scores={"mood": 5}),
                                         today=TODAY),
        lambda uow: service.patient_overview(uow, who, world.ids["cared"]),
        lambda uow: service.prescriber_overview(uow, who),
        lambda uow: service.plan_detail(uow, who, plan_id),
        lambda uow: service.resolve_alert(uow, who, recorded.alerts[0].id, "called"),
        lambda uow: service.diary_to_case(uow, who, world.container.catalog,
                                          recorded.entry.id, NewDiaryCase()),
        lambda uow: service.start_plan_for(uow, who, world.ids["cared"], NewPlan(
            medicine_from="baclofen", medicine_to="baclofen", reason="test")),
    ]
    before = counts(care)
    for call in calls:
        with world.container.uow() as uow, pytest.raises(Forbidden):
            call(uow)
    assert counts(care) == before


def test_the_prescriber_sees_urgent_first_resolves_once_and_plots_each_item(
        care: Care) -> None:
    world = care.world
    plan_id = plan_for(care, started=TODAY - timedelta(days=2))
    patient = care.principal("pat-patient")
    for days_ago, scores, flags in ((2, {"spasticity": 3, "sleep_quality": 7}, []),
                                    (1, {"spasticity": 5, "sleep_quality": 6}, []),
                                    (0, {"spasticity": 7, "sleep_quality": 3},
                                     ["rebound-spasticity"])):
        with world.container.uow() as uow:
            service.record_diary(uow, patient, plan_id,
                                 entry(scores=scores, red_flags=flags,
                                       recorded_on=(TODAY - timedelta(days=days_ago))
                                       .isoformat()), today=TODAY)
    with world.container.uow() as uow:
        overview = service.prescriber_overview(uow, care.prescriber, today=TODAY)
    mine = [a for a in overview.open_alerts if a.plan_id == plan_id]
    assert mine[0].severity == "urgent"
    assert mine[0].rule_id == "red-flag:rebound-spasticity"
    assert overview.plans[0].urgent_alerts >= 1
    assert all(p.pseudonym == world.ids["cared"] for p in overview.plans)
    with world.container.uow() as uow:
        olga = service.prescriber_overview(uow, care.principal("olga-physician"), today=TODAY)
    assert all(p.pseudonym != world.ids["cared"] for p in olga.plans)
    with world.container.uow() as uow:
        detail = service.plan_detail(uow, care.prescriber, plan_id, today=TODAY)
    series = {s.item: s for s in detail.series}
    assert set(series) == {"spasticity", "sleep_quality"}
    assert [(p.since_start, p.value) for p in series["spasticity"].points] == [
        (0, 3), (1, 5), (2, 7)]
    assert series["sleep_quality"].higher_is_worse is False
    assert [e.recorded_on for e in detail.entries] == sorted(e.recorded_on
                                                              for e in detail.entries)
    with world.container.uow() as uow, pytest.raises(Forbidden):
        service.resolve_alert(uow, patient, mine[0].id, "seen")
    with world.container.uow() as uow, pytest.raises(Invalid, match="note"):
        service.resolve_alert(uow, care.prescriber, mine[0].id, "  ")
    with world.container.uow() as uow:
        resolved = service.resolve_alert(uow, care.prescriber, mine[0].id,
                                         "phoned the patient; seen in clinic today")
    assert resolved.resolved_by == "drm-physician"
    with world.container.uow() as uow, pytest.raises(Conflict, match="drm-physician"):
        service.resolve_alert(uow, care.principal("alice-admin"), mine[0].id, "again")
    with world.container.uow() as uow:
        own = service.patient_overview(uow, patient, world.ids["cared"], today=TODAY)
    assert mine[0].id not in {a.id for a in own.open_alerts}
    assert [e.recorded_on for e in own.entries] == sorted(e.recorded_on for e in own.entries)


# -- bulk ingestion ------------------------------------------------------------------------------

def test_bulk_ingestion_checks_and_evaluates_as_single_entries_do(care: Care) -> None:
    plan_id = plan_for(care, started=TODAY - timedelta(days=7))
    days = [TODAY - timedelta(days=n) for n in (7, 6, 4, 0)]
    bad = [BulkEntry(plan_id=plan_id, recorded_on=days[0], scores={"drowsiness": 2}),
           BulkEntry(plan_id=plan_id, recorded_on=days[1], scores={"drowsiness": 12}),
           BulkEntry(plan_id=999_999, recorded_on=days[1], scores={"drowsiness": 1})]
    before = counts(care)
    with care.world.container.uow() as uow, pytest.raises(Invalid) as refused:
        service.record_diary_many(uow, bad, today=TODAY)
    assert "entries[1]" in str(refused.value)
    assert "entries[2]" in str(refused.value)
    assert "entries[0]" not in str(refused.value)
    assert counts(care) == before
    good = [BulkEntry(plan_id=plan_id, recorded_on=days[3], scores={"drowsiness": 6}),
            BulkEntry(plan_id=plan_id, recorded_on=days[0], scores={"drowsiness": 2}),
            BulkEntry(plan_id=plan_id, recorded_on=days[2], red_flags=("seizures",))]
    with care.world.container.uow() as uow:
        tally = service.record_diary_many(uow, good, today=TODAY)
    # Evaluated in day order: drowsiness 2 -> 6 is 4 points worse than the first entry.
    assert (tally.entries, tally.urgent) == (3, 1)
    assert tally.check_ins_done == 2  # day 3 (answered on day 3) and day 7 (on day 7)
    with care.world.container.uow() as uow:
        linked = dict(uow.session.execute(select(CareAlert.rule_id, CareAlert.outbox_message_id)
                                          .where(CareAlert.plan_id == plan_id)).all())
    assert set(linked) == {"red-flag:seizures", "worse-since-start:drowsiness"}
    sent = {m.id: m for m in outbox(care, f"care-alert:{plan_id}")}
    assert set(linked.values()) == set(sent)  # each alert names the message that carried it
    urgent = next(m for m in sent.values() if m.id == linked["red-flag:seizures"])
    assert urgent.subject.startswith("URGENT:")
    assert urgent.headers["X-Medsafe-Alert"].endswith("/red-flag:seizures")
