"""Switching the patients a recall touches, on a real database (SQLite and PostgreSQL):
medsafe proposes alternatives on each notified patient's own record (idempotently), a
patient who did not receive the recalled lot is refused with nothing written, and the
prescriber's decision becomes a prescription change, a monitoring plan with its check-ins,
audit events and messages to the patient and the pharmacy, all in one transaction; a
choice with a critical finding, a second decision and a taper left unwritten where no
cited schedule exists are refused with nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from medsafe.care import alternatives, switching
from medsafe.care.inputs import Decision
from medsafe.care.model import DoseStep, FindingNote, Proposal, TransitionPlan
from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.recalls import service
from medsafe.records import organisations, patients
from medsafe.records.organisations import NewOrganisation
from medsafe.records.patients import (
    ContactDetails,
    NewCareLink,
    NewCondition,
    NewMedication,
    NewPatient,
)
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import (
    AuditEvent,
    CareReview,
    MonitoringCheckIn,
    MonitoringPlan,
    OutboxMessage,
    Patient,
    Prescription,
)
from medsafe.supply import dispensing, prescriptions, products, stock
from medsafe.supply.dispensing import NewDispensing
from medsafe.supply.prescriptions import NewPrescription
from medsafe.supply.products import NewLot, NewProduct
from medsafe.supply.stock import StockLevel
from tests.support.databases import KINDS
from tests.support.recalls import consumer_recall_notifying, mo_recall
from tests.support.world import PASSWORD, World, world_on

TODAY = date.today()
WRITTEN = (CareReview, Prescription, MonitoringPlan, MonitoringCheckIn, OutboxMessage,
           AuditEvent)


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("switching")) as built:
        yield built


# -- the scene: a pharmacy, a physician, patients on baclofen, one recalled lot --------------

@dataclass
class Scene:
    """Patients of one physician and one pharmacy, on baclofen 10 mg three times a day for
    MS spasticity, who received the recalled lot; with `spare`, the pharmacy also holds a
    lot that is not recalled. `bystander` got the spare lot only. The recall reached
    notifying (consumer depth)."""

    n: int
    recall_id: int
    recall_number: str
    pharmacy_id: int
    pharmacist: Principal
    physician: Principal
    patients: list[str]
    bystander: str
    emails: dict[str, str]
    spare: str


def scene(world: World, *, spare: bool = True, count: int = 2,
          medicines: tuple[str, ...] = (), dose: str = "10 mg three times a day") -> Scene:
    n = world.next()
    container = world.container
    emails = {key: f"{key}-sw{n}@example.org" for key in ("pharmacy", "doctor", "patient")}
    with container.uow() as uow:
        pharmacy_id = organisations.create_organisation(
            uow, SYSTEM, NewOrganisation.model_validate({
                "kind": "pharmacy", "name": f"Switch Pharmacy {n}",
                "email": emails["pharmacy"]})).id
    with container.uow() as uow:
        pharmacist = accounts.create_user(
            uow, SYSTEM, username=f"sw-ph-{n}", password=PASSWORD, role="pharmacist",
            display_name=f"Pharmacist {n}", organisation_id=pharmacy_id)
        uow.commit()
    with container.uow() as uow:
        physician = accounts.create_user(
            uow, SYSTEM, username=f"sw-dr-{n}", password=PASSWORD, role="physician",
            display_name=f"Dr Switch {n}", email=emails["doctor"])
        uow.commit()
    recalled, spare_lot = f"SW{n}-1", f"SW{n}-2"
    lot_ids: dict[str, int] = {}
    for number, product in ((recalled, world.ids["mo_product"]),
                            (spare_lot, oral_baclofen(world))):
        with container.uow() as uow:
            lot_ids[number] = products.create_lot(
                uow, SYSTEM, product, NewLot(lot_number=number, expiry=date(2031, 12, 31))).id
    with container.uow() as uow:
        stock.set_stock(uow, SYSTEM, pharmacy_id, lot_ids[recalled], StockLevel(quantity=500))
    # Without `spare`, the bystander's dispensing empties the shelf of the spare lot.
    with container.uow() as uow:
        stock.set_stock(uow, SYSTEM, pharmacy_id, lot_ids[spare_lot],
                        StockLevel(quantity=500 if spare else 30))
    people: list[str] = []
    for index in range(count + 1):
        email = emails["patient"] if index == 0 else None
        with container.uow() as uow:
            pseudonym = patients.register_patient(uow, SYSTEM, NewPatient(
                birth_date=date(1970, 1, 1), sex="female", synthetic=True,
                contact=ContactDetails(full_name=f"Patient {n}-{index}", email=email))
            ).pseudonym
        for link in (NewCareLink(physician=physician.username),
                     NewCareLink(pharmacy_id=pharmacy_id)):
            with container.uow() as uow:
                patients.link_care(uow, SYSTEM, pseudonym, link)
        with container.uow() as uow:
            patients.add_condition(uow, SYSTEM, pseudonym, NewCondition(
                text="Multiple sclerosis", severity="moderate"))
        for medicine in medicines:
            with container.uow() as uow:
                patients.add_medication(uow, SYSTEM, pseudonym, NewMedication(text=medicine))
        with container.uow() as uow:
            rx = prescriptions.prescribe(uow, physician, container.catalog, NewPrescription(
                patient=pseudonym, ingredient="baclofen", dose_text=dose)).id
        lot = spare_lot if index == count else recalled
        with container.uow() as uow:
            dispensing.record_dispensing(uow, pharmacist, NewDispensing(
                patient=pseudonym, lot_id=lot_ids[lot], quantity=30, prescription_id=rx))
        people.append(pseudonym)
    recall_id = notifying_recall(world, recalled)
    with container.uow() as uow:
        recall_number = service.read_recall(uow, world.principals["alice-admin"],
                                            recall_id).summary.recall_number
    assert recall_number is not None
    return Scene(n, recall_id, recall_number, pharmacy_id, pharmacist, physician, people[:count],
                 people[count], emails, spare_lot)


def oral_baclofen(world: World) -> int:
    """Acme's baclofen 10 mg tablets, by mouth: the product of the lots that are not
    recalled (the same medicine is offered only on the patient's route, and the world's
    recalled product records none, which counts as the engine's oral)."""
    if "acme_baclofen" not in world.ids:
        with world.container.uow() as uow:
            world.ids["acme_baclofen"] = products.create_product(
                uow, SYSTEM, world.container.catalog, NewProduct(
                    code_system="ndc", code="54321-111-01", name="Baclofen 10 mg tablets",
                    ingredient_id="baclofen", strength="10 mg", route="oral",
                    manufacturer_id=world.ids["acme"])).id
    return int(world.ids["acme_baclofen"])


def notifying_recall(world: World, lot: str) -> int:
    """A recall of this lot of Mo Pharma's baclofen, taken by an administrator through
    every step up to notifying (consumer depth: its notices name every patient)."""
    return consumer_recall_notifying(world, lots=(lot,))


# -- helpers ----------------------------------------------------------------------------------

def propose_all(world: World, s: Scene, who: Principal | None = None
                ) -> switching.ProposalTally:
    with world.container.uow() as uow:
        return switching.propose_for_recall(uow, who or world.principals["alice-admin"],
                                            world.container.catalog, s.recall_id,
                                            today=TODAY)


def reviews(world: World, s: Scene) -> dict[str, Any]:
    with world.container.uow() as uow:
        found, _ = switching.list_reviews(uow, world.principals["alice-admin"],
                                          recall_id=s.recall_id, limit=100)
        return {summary.patient: switching.read_review(uow, world.principals["alice-admin"],
                                                       summary.id) for summary in found}


def decide(world: World, who: Principal, review_id: int, **decision: Any) -> Any:
    with world.container.uow() as uow:
        return switching.decide(uow, who, world.container.catalog, review_id,
                                Decision.model_validate(decision), today=TODAY)


def counts(world: World) -> dict[str, int]:
    with world.container.uow() as uow:
        return {model.__tablename__: uow.session.execute(
            select(func.count()).select_from(model)).scalar_one() for model in WRITTEN}


def outbox(world: World, topic: str) -> list[tuple[str, str, str, str]]:
    """(audience, recipient, subject, body) of each message of `topic`."""
    with world.container.uow() as uow:
        return [(m.audience, m.recipient, m.subject, m.body_text)
                for m in uow.session.execute(select(OutboxMessage).where(
                    OutboxMessage.topic == topic).order_by(OutboxMessage.id)).scalars()]


def taper(*daily: tuple[float, int], days: int = 7) -> list[dict[str, Any]]:
    return [{"day": i * days, "days": days, "dose_mg": dose, "times_per_day": times}
            for i, (dose, times) in enumerate(daily)]


# -- proposing --------------------------------------------------------------------------------

def test_every_notified_patient_gets_a_review_and_the_bystander_none(world: World) -> None:
    s = scene(world)
    tally = propose_all(world, s)
    assert (tally.patients, tally.created, tally.decided) == (2, 2, 0)
    found = reviews(world, s)
    assert sorted(found) == sorted(s.patients)
    for view in found.values():
        assert view.state == "proposed"
        assert view.medicine == "baclofen"
        assert view.current_dose == "10 mg three times a day"
        first = view.proposals[0]
        # The pharmacy holds a lot that is not recalled: the same medicine comes first.
        assert (first.rank, first.kind, first.lots) == (1, "same-medicine", [s.spare])
        assert all(f.severity != "critical" for p in view.proposals for f in p.findings)


def test_a_second_run_writes_no_review_when_nothing_changed(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    before = {p: v.proposed_at for p, v in reviews(world, s).items()}
    rows = counts(world)["care_reviews"]
    again = propose_all(world, s)
    assert (again.created, again.refreshed, again.unchanged) == (0, 0, 2)
    assert counts(world)["care_reviews"] == rows
    assert {p: v.proposed_at for p, v in reviews(world, s).items()} == before


def test_a_run_is_audited_once_with_its_counts(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    with world.container.uow() as uow:
        changes = list(uow.session.execute(select(AuditEvent.changes).where(
            AuditEvent.action == "care.propose",
            AuditEvent.entity_id == str(s.recall_id))).scalars())
    assert len(changes) == 1
    assert '"created":2' in changes[0]
    assert '"patients":2' in changes[0]


def test_a_pharmacist_proposes_for_its_own_pharmacy_and_another_for_none(world: World
                                                                          ) -> None:
    s = scene(world)
    other = world.principals["oscar-pharmacist"]
    assert propose_all(world, s, other).patients == 0
    assert propose_all(world, s, s.pharmacist).created == 2


def test_a_recall_that_has_not_reached_its_patients_is_a_conflict(world: World) -> None:
    recall_id = mo_recall(world, lots=(f"NONE{world.next()}",)).summary.id
    with world.container.uow() as uow, pytest.raises(Conflict, match="has not reached"):
        switching.propose_for_recall(uow, world.principals["alice-admin"],
                                     world.container.catalog, recall_id, today=TODAY)


def test_a_patient_who_did_not_receive_the_lot_is_refused_and_nothing_written(
        world: World) -> None:
    s = scene(world)
    before = counts(world)
    with world.container.uow() as uow, pytest.raises(Invalid) as refused:
        switching.propose_for_patient(uow, s.physician, world.container.catalog,
                                      s.recall_id, s.bystander, today=TODAY)
    assert f"patient {s.bystander} did not receive a lot of recall {s.recall_number}" in str(
        refused.value)
    assert counts(world) == before


def test_one_patient_gets_a_review_through_its_physician(world: World) -> None:
    s = scene(world)
    with world.container.uow() as uow:
        view = switching.propose_for_patient(uow, s.physician, world.container.catalog,
                                             s.recall_id, s.patients[0], today=TODAY)
    assert (view.patient, view.state, view.recall_number) == (s.patients[0], "proposed",
                                                               s.recall_number)
    assert len(reviews(world, s)) == 1


def test_the_bulk_record_is_the_record_patient_record_builds(world: World) -> None:
    s = scene(world, medicines=("ibuprofen",))
    with world.container.uow() as uow:
        one = patients.patient_record(uow, SYSTEM, s.patients[0], world.container.catalog)
        patient_id = uow.session.execute(select(Patient.id).where(
            Patient.pseudonym == s.patients[0])).scalar_one()
        rows = uow.care_reviews.clinical([patient_id])[patient_id]
    assert switching.record_of(rows, world.container.catalog) == one


# -- reading ----------------------------------------------------------------------------------

def test_reviews_are_seen_by_their_carers_and_patient_only(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    review_id = reviews(world, s)[s.patients[0]].id
    with world.container.uow() as uow:
        assert switching.read_review(uow, s.physician, review_id).patient == s.patients[0]
        assert switching.read_review(uow, s.pharmacist, review_id).id == review_id
        for other in ("olga-physician", "oscar-pharmacist", "pat-patient"):
            with pytest.raises(NotFound):
                switching.read_review(uow, world.principals[other], review_id)
        for role in ("rita-regulator", "mo-manufacturer"):
            with pytest.raises(Forbidden):
                switching.read_review(uow, world.principals[role], review_id)


# -- deciding ---------------------------------------------------------------------------------

def test_accepting_the_same_medicine_keeps_the_prescription_and_notes_the_lot(
        world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    prescriptions_before = counts(world)["prescriptions"]
    view = decide(world, s.physician, review.id, rank=1)
    assert (view.state, view.chosen_rank, view.new_prescription_id) == ("accepted", 1, None)
    assert counts(world)["prescriptions"] == prescriptions_before
    with world.container.uow() as uow:
        plan = uow.session.execute(select(MonitoringPlan).where(
            MonitoringPlan.review_id == review.id)).scalar_one()
        lot = uow.care_reviews.lot_id(oral_baclofen(world), s.spare)
        checks = uow.session.execute(select(func.count()).select_from(MonitoringCheckIn)
                                     .where(MonitoringCheckIn.plan_id == plan.id)).scalar_one()
        assert (plan.medicine_from, plan.medicine_to, plan.lot_id) == (
            "baclofen", "baclofen", lot)
        assert checks >= 1
        assert view.plan_id == plan.id


def test_accepting_a_switch_records_prescriptions_plan_messages_and_audit(world: World
                                                                          ) -> None:
    s = scene(world, spare=False)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    first = review.proposals[0]
    assert first.kind == "switch"
    steps = (taper((10, 2), (5, 2), (5, 1))
             if first.transition.needs_prescriber_steps else [])
    view = decide(world, s.physician, review.id, rank=1, taper_steps=steps)
    assert view.state == "accepted"
    assert view.new_prescription_id is not None
    with world.container.uow() as uow:
        new = uow.session.get(Prescription, view.new_prescription_id)
        old = uow.session.get(Prescription, review.prescription_id)
        plan = uow.session.execute(select(MonitoringPlan).where(
            MonitoringPlan.review_id == review.id)).scalar_one()
        checks = list(uow.session.execute(select(MonitoringCheckIn).where(
            MonitoringCheckIn.plan_id == plan.id)).scalars())
        actions = set(uow.session.execute(select(AuditEvent.action).where(
            AuditEvent.action.in_(("care.decide", "prescription.create",
                                   "prescription.switch")),
            AuditEvent.actor == s.physician.username)).scalars())
        assert new is not None
        assert old is not None
        assert (new.ingredient_id, new.prescriber_id, new.status) == (
            first.ingredient_id, s.physician.user_id, "active")
        # The old medicine runs on through the taper and ends with it: never an abrupt stop.
        assert old.status == "active"
        assert old.end_date is not None
        assert old.end_date > TODAY
        assert old.reason == (f"recall {s.recall_number}: switched to "
                              f"{first.ingredient_name}, taper per monitoring plan")
        assert (plan.medicine_from, plan.medicine_to) == ("baclofen", first.ingredient_id)
        assert checks
        assert all(c.state == "due" for c in checks)
        assert actions == {"care.decide", "prescription.create", "prescription.switch"}
    messages = outbox(world, f"care:{s.recall_number}")
    assert {(m[0], m[1]) for m in messages} == {
        ("patient", s.emails["patient"]), ("pharmacy", s.emails["pharmacy"])}
    body = next(m[3] for m in messages if m[0] == "patient")
    assert "all at once" in body
    assert first.ingredient_name in body


def test_a_taper_is_required_where_no_cited_schedule_exists(world: World) -> None:
    # medsafe cannot read "one tablet" as mg: no taper can be computed, the prescriber
    # writes it, and a decision without it (or with a bad one) is refused.
    s = scene(world, spare=False, dose="one tablet three times a day")
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    first = review.proposals[0]
    assert first.kind == "switch"
    assert first.transition.needs_prescriber_steps
    assert first.transition.stop == []
    before = counts(world)
    with pytest.raises(Invalid, match="never an abrupt stop"):
        decide(world, s.physician, review.id, rank=1)
    with pytest.raises(Invalid, match="at least two steps"):
        decide(world, s.physician, review.id, rank=1, taper_steps=taper((5, 1)))
    with pytest.raises(Invalid, match="must go down"):
        decide(world, s.physician, review.id, rank=1, taper_steps=taper((5, 2), (5, 2)))
    with pytest.raises(Invalid, match="should start on day"):
        decide(world, s.physician, review.id, rank=1,
               taper_steps=[{"day": 0, "days": 7, "dose_mg": 10, "times_per_day": 2},
                            {"day": 9, "days": 7, "dose_mg": 5, "times_per_day": 2}])
    assert counts(world) == before
    view = decide(world, s.physician, review.id, rank=1,
                  taper_steps=taper((10, 2), (5, 2), (5, 1), (0, 1)))
    stop = view.choice["transition"]["stop"] if view.choice else []
    assert [(x["day"], x["dose_mg"], x["stop"]) for x in stop] == [
        (0, 10.0, False), (7, 5.0, False), (14, 5.0, False), (21, None, True)]
    assert view.choice is not None
    assert not view.choice["transition"]["needs_prescriber_steps"]


def test_choosing_a_medicine_with_a_critical_finding_is_refused_and_nothing_written(
        world: World) -> None:
    # Fluvoxamine with tizanidine is a contraindicated interaction in the knowledge base.
    s = scene(world, spare=False, medicines=("fluvoxamine",))
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    assert "tizanidine" not in {p.ingredient_id for p in review.proposals}
    before = counts(world)
    with pytest.raises(Invalid, match="critical finding") as refused:
        decide(world, s.physician, review.id, ingredient="tizanidine",
               dose_text="2 mg three times a day", reason="I prefer it",
               taper_steps=taper((10, 2), (5, 2), (5, 1)))
    assert "Tizanidine" in str(refused.value) or "tizanidine" in str(refused.value)
    assert counts(world) == before


def test_deciding_twice_is_a_conflict_naming_who_decided(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    decide(world, s.physician, review.id, rank=1)
    before = counts(world)
    with pytest.raises(Conflict, match=f"by {s.physician.username} at"):
        decide(world, s.physician, review.id, rank=1)
    assert counts(world) == before


def test_a_decided_review_is_left_alone_by_a_new_run(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    decide(world, s.physician, review.id, rank=1)
    tally = propose_all(world, s)
    assert (tally.decided, tally.created) == (1, 0)
    assert reviews(world, s)[s.patients[0]].state == "accepted"


def test_a_patient_or_regulator_cannot_decide(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    for who in ("pat-patient", "rita-regulator", "oscar-pharmacist"):
        with pytest.raises(Forbidden):
            decide(world, world.principals[who], review.id, rank=1)
    with pytest.raises(NotFound):
        decide(world, world.principals["olga-physician"], review.id, rank=1)


def test_another_proposal_than_the_first_needs_a_reason(world: World) -> None:
    s = scene(world, spare=False)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    if len(review.proposals) < 2:
        pytest.skip("one proposal only for this patient")
    with pytest.raises(Invalid, match="say why"):
        decide(world, s.physician, review.id, rank=2,
               taper_steps=taper((10, 2), (5, 2), (5, 1)))


def test_an_admin_decides_as_the_patients_physician_of_record(world: World) -> None:
    s = scene(world, spare=False)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    steps = (taper((10, 2), (5, 2), (5, 1))
             if review.proposals[0].transition.needs_prescriber_steps else [])
    view = decide(world, world.principals["alice-admin"], review.id, rank=1,
                  taper_steps=steps, start_date=(TODAY + timedelta(days=1)).isoformat())
    with world.container.uow() as uow:
        new = uow.session.get(Prescription, view.new_prescription_id)
        assert new is not None
        assert new.prescriber_id == s.physician.user_id
    assert view.decided_by == "alice-admin"


def test_undecided_reviews_are_refreshed_when_the_stock_changes(world: World) -> None:
    s = scene(world, spare=False)
    propose_all(world, s)
    assert reviews(world, s)[s.patients[0]].proposals[0].kind == "switch"
    with world.container.uow() as uow:
        spare_id = uow.care_reviews.lot_id(oral_baclofen(world), s.spare)
    assert spare_id is not None
    with world.container.uow() as uow:
        stock.set_stock(uow, SYSTEM, s.pharmacy_id, spare_id, StockLevel(quantity=200))
    tally = propose_all(world, s)
    assert (tally.refreshed, tally.created, tally.unchanged) == (2, 0, 0)
    assert reviews(world, s)[s.patients[0]].proposals[0].kind == "same-medicine"


def test_a_failure_while_proposing_writes_no_review(world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    s = scene(world)
    calls = {"n": 0}
    real = alternatives.propose

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the engine failed on the second patient")
        return real(*args, **kwargs)

    monkeypatch.setattr(alternatives, "propose", failing)
    before = counts(world)
    with pytest.raises(RuntimeError):
        propose_all(world, s)
    assert counts(world) == before
    monkeypatch.setattr(alternatives, "propose", real)
    assert propose_all(world, s).created == 2


def test_a_patient_sees_only_its_own_reviews(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    with world.container.uow() as uow:
        patient_id = uow.session.execute(select(Patient.id).where(
            Patient.pseudonym == s.patients[0])).scalar_one()
    me = Principal(user_id=0, username="someone", role="patient", patient_id=patient_id)
    with world.container.uow() as uow:
        mine, total = switching.list_reviews(uow, me)
        assert total == 1
        assert mine[0].patient == s.patients[0]
        with pytest.raises(Forbidden):
            decide(world, me, mine[0].id, rank=1)


# -- proposals as JSON (pure) -------------------------------------------------------------------

def _proposal() -> Proposal:
    return Proposal(
        rank=2, kind="switch", ingredient_id="tizanidine", ingredient_name="Tizanidine",
        route="oral", suitability="caution",
        findings=(FindingNote(severity="warning", kind="renal", summary="kidney",
                              rule="renal/tizanidine", source="label, 2.3"),),
        dose_start="2 mg", dose_titration=("2 mg", "4 mg"), dose_max_daily="36 mg",
        dose_source="label, 2.1",
        transition=TransitionPlan(
            kind="cross-titration",
            stop=(DoseStep(day=0, days=7, medicine="baclofen", text="5 mg three times daily",
                           dose_mg=5.0, times_per_day=3),
                  DoseStep(day=7, days=None, medicine="baclofen", text="Stop", stop=True)),
            start=(DoseStep(day=0, days=None, medicine="tizanidine", text="2 mg",
                            note="held"),),
            cautions=("both taken",), sources=("label",), derived=("split",)),
        reasons=("indicated",))


def test_a_stored_proposal_is_what_asdict_gives_and_reads_back_equal() -> None:
    proposal = _proposal()
    stored = switching.proposal_json(proposal)
    assert stored == json.loads(json.dumps(asdict(proposal)))
    assert switching.proposal_from_json(stored) == proposal
    assert switching.proposal_from_json({**stored, "added_later": 1}) == proposal


def test_choosing_another_medicine_with_a_reason_prescribes_it_at_the_given_dose(
        world: World) -> None:
    s = scene(world, spare=False)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    with pytest.raises(Invalid, match="say why"):
        decide(world, s.physician, review.id, ingredient="dantrolene",
               dose_text="25 mg once daily")
    view = decide(world, s.physician, review.id, ingredient="Dantrolene",
                  dose_text="25 mg once daily", reason="the patient asked for tablets")
    assert (view.state, view.chosen_rank, view.reason) == (
        "chosen_other", None, "the patient asked for tablets")
    assert view.choice is not None
    assert view.choice["ingredient_id"] == "dantrolene"
    with world.container.uow() as uow:
        new = uow.session.get(Prescription, view.new_prescription_id)
        assert new is not None
        assert (new.ingredient_id, new.dose_text) == ("dantrolene", "25 mg once daily")


def test_an_admin_cannot_decide_for_a_patient_without_a_physician(world: World) -> None:
    s = scene(world)
    propose_all(world, s)
    review = reviews(world, s)[s.patients[0]]
    with world.container.uow() as uow:
        team = patients.read_patient(uow, SYSTEM, s.patients[0]).care_team
    link = next(t.id for t in team if t.physician == s.physician.username)
    with world.container.uow() as uow:
        patients.unlink_care(uow, SYSTEM, s.patients[0], link, reason="moved away")
    before = counts(world)
    with pytest.raises(Invalid, match="no physician of record"):
        decide(world, world.principals["alice-admin"], review.id, rank=1)
    assert counts(world) == before


def test_progress_is_reported_after_each_batch(world: World) -> None:
    s = scene(world)
    seen: list[tuple[int, int]] = []
    with world.container.uow() as uow:
        switching.propose_for_recall(uow, world.principals["alice-admin"],
                                     world.container.catalog, s.recall_id, today=TODAY,
                                     progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 2)]
