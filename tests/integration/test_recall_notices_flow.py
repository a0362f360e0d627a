"""A recall's notices on a real database (SQLite and PostgreSQL), from the firm's
`start_notifying` step to the patient's acknowledgement: exactly the pharmacies that hold
or dispensed the recalled lots and the prescribers of the patients who received them are
written to, never a bystander; at consumer depth every affected patient is told (e-mail,
or a letter and a phone-call task); at retail depth the pharmacist decides; a step rolled
back writes nothing; notices are never written twice; the baclofen patient is told to
keep taking it, unless the strategy's patient advice says to stop (with its reason, stored
with the recall)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import pytest
from sqlalchemy import func, select

from medsafe.errors import Conflict, Invalid, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.notify import acknowledgements
from medsafe.recalls import notifying, service
from medsafe.recalls.inputs import Classification, RecallStepInput, Strategy
from medsafe.recalls.model import Hazard, PatientAction
from medsafe.recalls.notices import withdrawal_caution
from medsafe.recalls.notifying import NoticeDecision, TaskOutcome
from medsafe.records import organisations, patients
from medsafe.records.organisations import NewOrganisation
from medsafe.records.patients import ContactDetails, NewCareLink, NewPatient
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import (
    AuditEvent,
    OutboxMessage,
    Patient,
    RecallPatientNotice,
    RecallRow,
    RecallTask,
)
from medsafe.supply import dispensing, prescriptions, products, stock
from medsafe.supply.dispensing import NewDispensing
from medsafe.supply.prescriptions import NewPrescription
from medsafe.supply.products import NewLot
from medsafe.supply.stock import StockLevel
from tests.support.databases import KINDS
from tests.support.recalls import mo_recall, step
from tests.support.world import PASSWORD, World, world_on

TODAY = date.today()


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("notices")) as built:
        yield built


# -- the scene: three pharmacies, three physicians, four patients, two recalled lots ------------

@dataclass
class Scene:
    """Pharmacies A and B hold or dispensed the recalled lots; C, the bystander, holds and
    dispensed only a lot that is not recalled. ann (e-mail) got lot 1 at A from dr1; ben (no
    e-mail) got lot 2 at A from dr2; cat (e-mail) got lot 2 at B from dr1, 200 days ago;
    dan (e-mail) got the other lot at C from dr3."""

    n: int
    lots: tuple[str, str]
    other_lot: str
    pharmacies: dict[str, int]
    pharmacists: dict[str, Principal]
    emails: dict[str, str]
    patients: dict[str, str]  # name -> pseudonym


def scene(world: World) -> Scene:
    n = world.next()
    container = world.container
    lots, other_lot = (f"NT{n}-1", f"NT{n}-2"), f"NT{n}-9"
    emails = {key: f"{key}-{n}@example.org" for key in
              ("a", "b", "c", "dr1", "dr2", "dr3", "ann", "cat", "dan")}
    pharmacies: dict[str, int] = {}
    pharmacists: dict[str, Principal] = {}
    for key in ("a", "b", "c"):
        with container.uow() as uow:
            pharmacies[key] = organisations.create_organisation(
                uow, SYSTEM, NewOrganisation.model_validate({
                    "kind": "pharmacy", "name": f"Pharmacy {key.upper()} {n}",
                    "email": emails[key]})).id
        with container.uow() as uow:
            pharmacists[key] = accounts.create_user(
                uow, SYSTEM, username=f"ph-{key}-{n}", password=PASSWORD, role="pharmacist",
                display_name=f"Pharmacist {key}", organisation_id=pharmacies[key])
            uow.commit()
    physicians: dict[str, Principal] = {}
    for key in ("dr1", "dr2", "dr3"):
        with container.uow() as uow:
            physicians[key] = accounts.create_user(
                uow, SYSTEM, username=f"{key}-{n}", password=PASSWORD, role="physician",
                display_name=f"Dr {key.upper()} {n}", email=emails[key])
            uow.commit()
    lot_ids: dict[str, int] = {}
    for number in (*lots, other_lot):
        with container.uow() as uow:
            lot_ids[number] = products.create_lot(
                uow, SYSTEM, world.ids["mo_product"],
                NewLot(lot_number=number, expiry=date(2031, 12, 31))).id
    for key, number in (("a", lots[0]), ("a", lots[1]), ("b", lots[1]), ("c", other_lot)):
        with container.uow() as uow:
            stock.set_stock(uow, SYSTEM, pharmacies[key], lot_ids[number],
                            StockLevel(quantity=500))
    people: dict[str, str] = {}
    for name, pharmacy, physician, number, days_ago in (
            ("ann", "a", "dr1", lots[0], 0), ("ben", "a", "dr2", lots[1], 3),
            ("cat", "b", "dr1", lots[1], 200), ("dan", "c", "dr3", other_lot, 0)):
        contact = ContactDetails(full_name=f"{name.title()} Example", email=emails.get(name),
                                 phone="+1 555 0100", address="1 Elm Street\nSpringfield")
        with container.uow() as uow:
            people[name] = pseudonym = patients.register_patient(
                uow, SYSTEM, NewPatient(birth_date=date(1970, 1, 1), sex="female",
                                        synthetic=True, contact=contact)).pseudonym
        for link in (NewCareLink(physician=physicians[physician].username),
                     NewCareLink(pharmacy_id=pharmacies[pharmacy])):
            with container.uow() as uow:
                patients.link_care(uow, SYSTEM, pseudonym, link)
        with container.uow() as uow:
            prescription = prescriptions.prescribe(
                uow, physicians[physician], container.catalog,
                NewPrescription(patient=pseudonym, ingredient="baclofen",
                                dose_text="10 mg three times a day")).id
        with container.uow() as uow:
            dispensing.record_dispensing(uow, pharmacists[pharmacy], NewDispensing(
                patient=pseudonym, lot_id=lot_ids[number], quantity=30,
                prescription_id=prescription,
                dispensed_on=TODAY - timedelta(days=days_ago)))
    return Scene(n, lots, other_lot, pharmacies, pharmacists, emails, people)


def published_recall(world: World, lots: tuple[str, ...],
                     depth: Literal["consumer", "retail"], **advice: str) -> int:
    """Mo Pharma's recall of these lots, classified, with its strategy (and the patient
    advice `advice` gives, if any), published."""
    recall_id = mo_recall(world, lots=lots).summary.id
    step(world, "mo-manufacturer", recall_id, "triage")
    step(world, "mo-manufacturer", recall_id, "initiate")
    with world.container.uow() as uow:
        service.classify(uow, world.principals["rita-regulator"], recall_id,
                         Classification(classification="II", reason="hazard evaluated"))
    with world.container.uow() as uow:
        service.set_strategy(uow, world.principals["mo-manufacturer"], recall_id,
                             Strategy.model_validate({
                                 "depth": depth, "public_warning": "none",
                                 "effectiveness_check": "B", "reason": "agreed", **advice}))
    step(world, "rita-regulator", recall_id, "publish")
    return recall_id


def notify(world: World, recall_id: int) -> service.RecallDetail:
    return step(world, "mo-manufacturer", recall_id, "start_notifying")


def messages(world: World, recall_id: int) -> list[OutboxMessage]:
    topic = _topic(world, recall_id)
    with world.container.uow() as uow:
        found = list(uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.topic == topic).order_by(OutboxMessage.id)).scalars())
        uow.session.expunge_all()  # read, kept as read: the rollback at exit expires nothing
    return found


def _topic(world: World, recall_id: int) -> str:
    with world.container.uow() as uow:
        number = service.read_recall(uow, SYSTEM, recall_id).summary.recall_number
    return f"recall:{number}"


def patient_notices(world: World, recall_id: int) -> dict[int, RecallPatientNotice]:
    with world.container.uow() as uow:
        found = {row.patient_id: row for row in uow.session.execute(
            select(RecallPatientNotice).where(RecallPatientNotice.recall_id == recall_id)
        ).scalars()}
        uow.session.expunge_all()
    return found


def patient_id(world: World, pseudonym: str) -> int:
    with world.container.uow() as uow:
        return uow.session.execute(
            select(Patient.id).where(Patient.pseudonym == pseudonym)).scalar_one()


def flat(text: str) -> str:
    return " ".join(text.split())


# -- who is told -------------------------------------------------------------------------------

def test_consumer_depth_tells_exactly_the_affected_pharmacies_prescribers_and_patients(
        world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")
    assert messages(world, recall_id) == []  # publishing writes no message

    detail = notify(world, recall_id)

    sent = {(m.audience, m.recipient) for m in messages(world, recall_id)}
    assert sent == {("pharmacy", s.emails["a"]), ("pharmacy", s.emails["b"]),
                    ("prescriber", s.emails["dr1"]), ("prescriber", s.emails["dr2"]),
                    ("patient", s.emails["ann"]), ("patient", s.emails["cat"])}
    assert not any(s.emails[bystander] in {r for _, r in sent}
                   for bystander in ("c", "dr3", "dan"))
    assert len(messages(world, recall_id)) == len(sent)  # one each
    history = detail.history[-1].detail
    assert history["notices_queued"] == 6
    assert history["notices"]["letters"] == 1
    # Every message is the recall's, with its acknowledgement link.
    assert all(m.ack_token for m in messages(world, recall_id))

    notices = patient_notices(world, recall_id)
    ann, ben, cat = (patient_id(world, s.patients[p]) for p in ("ann", "ben", "cat"))
    assert set(notices) == {ann, ben, cat}
    assert (notices[ann].state, notices[cat].state, notices[ben].state) == \
        ("queued", "queued", "letter")
    assert notices[ben].pharmacy_id == s.pharmacies["a"]
    assert notices[ben].outbox_message_id is None
    assert notices[ben].letter is not None
    with world.container.uow() as uow:
        tasks, total = notifying.list_tasks(uow, s.pharmacists["a"], recall_id=recall_id)
    assert total == 1
    assert tasks[0].patient == s.patients["ben"]
    assert tasks[0].kind == "phone_call"
    assert "Ben Example" in tasks[0].text
    assert "+1 555 0100" in tasks[0].text


def test_pharmacy_notice_lists_only_its_own_lots_and_what_it_holds(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")
    notify(world, recall_id)
    by_recipient = {m.recipient: m for m in messages(world, recall_id)}
    to_b = by_recipient[s.emails["b"]].body_text
    assert s.lots[1] in to_b
    assert s.lots[0] not in to_b
    assert f"Lot {s.lots[1]}: 470 units on hand; dispensed to 1 patient." in flat(to_b)
    to_dr1 = flat(by_recipient[s.emails["dr1"]].body_text)
    assert s.patients["ann"] in to_dr1
    assert s.patients["cat"] in to_dr1
    assert s.patients["ben"] not in to_dr1  # dr2's patient


def test_the_baclofen_patient_is_told_to_keep_taking_it_with_the_label_warning(
        world: World, catalog: Catalog) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")
    notify(world, recall_id)
    to_ann = next(m for m in messages(world, recall_id) if m.recipient == s.emails["ann"])
    body = flat(to_ann.body_text)
    assert "Keep taking your Baclofen 10 mg. Do not stop on your own." in body
    caution = withdrawal_caution(catalog.ingredients["baclofen"])
    assert caution is not None
    assert flat(caution.text) in body
    assert caution.citation in body
    assert not re.search(r"\bstop (taking|using)\b", body, re.IGNORECASE)


# -- the patient advice the hazard calls for (issue 6 §3) ---------------------------------------

STOP_REASON = "Some tablets of these lots contain glass particles that can cut the throat."
PLAIN = "A few tablets in this batch may have small pieces of glass in them."


def stored_hazard(world: World, recall_id: int) -> Hazard | None:
    with world.container.uow() as uow:
        row = uow.session.get(RecallRow, recall_id)
        assert row is not None
        return uow.recalls.record(row).hazard


def test_a_strategy_that_says_stop_now_tells_patients_to_stop_and_why(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer", patient_action="stop_now",
                                 stop_reason=STOP_REASON, plain_words=PLAIN)
    detail = notify(world, recall_id)

    by_recipient = {m.recipient: m for m in messages(world, recall_id)}
    for patient in ("ann", "cat"):
        body = flat(by_recipient[s.emails[patient]].body_text)
        assert "Stop using the Baclofen 10 mg from this batch now." in body
        assert STOP_REASON in body
        assert PLAIN in body
        assert "Keep taking your Baclofen" not in body
    to_pharmacy = flat(by_recipient[s.emails["a"]].body_text)
    assert "The hazard calls for patients to stop" in to_pharmacy
    assert STOP_REASON in to_pharmacy
    assert "Do not tell patients to stop" not in to_pharmacy
    assert STOP_REASON in flat(by_recipient[s.emails["dr2"]].body_text)
    # ben has no e-mail: his letter and the pharmacy's phone call say stop too.
    ben = patient_notices(world, recall_id)[patient_id(world, s.patients["ben"])]
    assert ben.letter is not None
    stored: dict[str, Any] = dict(ben.letter)
    letter = flat(" ".join(text for _, text in stored["blocks"]))
    assert "Stop using the Baclofen 10 mg from this batch now." in letter
    assert STOP_REASON in letter
    with world.container.uow() as uow:
        task = notifying.list_tasks(uow, s.pharmacists["a"], recall_id=recall_id)[0][0]
    assert "stop using this batch today" in flat(task.text)
    # The advice is the strategy step's, in its history.
    chosen = next(h for h in detail.history if h.transition == "set_strategy")
    assert chosen.detail["patient_advice"] == {
        "action": "stop_now", "stop_reason": STOP_REASON, "plain_words": PLAIN}


def test_the_patient_advice_round_trips_through_the_store(world: World) -> None:
    s = scene(world)
    stopping = published_recall(world, s.lots, "consumer", patient_action="stop_now",
                                stop_reason=STOP_REASON, plain_words=PLAIN)
    assert stored_hazard(world, stopping) == Hazard(PatientAction.STOP_NOW,
                                                    stop_reason=STOP_REASON,
                                                    plain_words=PLAIN)
    worded = published_recall(world, (f"RT{s.n}",), "retail", plain_words=PLAIN)
    assert stored_hazard(world, worded) == Hazard(plain_words=PLAIN)
    default = published_recall(world, (f"RD{s.n}",), "retail")
    assert stored_hazard(world, default) is None  # none given: nothing invented
    with world.container.uow() as uow:
        row = uow.session.get(RecallRow, default)
        assert row is not None
        assert (row.patient_action, row.patient_stop_reason, row.patient_plain_words) == \
            (None, None, None)


def test_telling_patients_to_stop_needs_the_reason(world: World) -> None:
    s = scene(world)
    recall_id = mo_recall(world, lots=(s.lots[0],)).summary.id
    step(world, "mo-manufacturer", recall_id, "triage")
    step(world, "mo-manufacturer", recall_id, "initiate")
    with world.container.uow() as uow:
        service.classify(uow, world.principals["rita-regulator"], recall_id,
                         Classification(classification="I", reason="hazard evaluated"))
    for advice, field in (({"patient_action": "stop_now"}, "stop_reason"),
                          ({"patient_action": "stop_now", "stop_reason": "  "}, "stop_reason"),
                          ({"stop_reason": STOP_REASON}, "stop_reason"),
                          ({"plain_words": " "}, "plain_words")):
        with world.container.uow() as uow, pytest.raises(Invalid) as refused:
            service.set_strategy(uow, world.principals["mo-manufacturer"], recall_id,
                                 Strategy.model_validate({
                                     "depth": "consumer", "public_warning": "general",
                                     "effectiveness_check": "A", "reason": "agreed",
                                     **advice}))
        assert refused.value.where == field
    with world.container.uow() as uow:
        assert service.read_recall(uow, SYSTEM, recall_id).summary.state == "classified"
    assert stored_hazard(world, recall_id) is None


def test_the_letter_prints_and_the_phone_call_acknowledges_it(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")
    notify(world, recall_id)
    ben = patient_notices(world, recall_id)[patient_id(world, s.patients["ben"])]
    with world.container.uow() as uow:
        pdf = notifying.patient_letter(uow, s.pharmacists["a"], ben.id)
    assert pdf.startswith(b"%PDF-1.4")
    text = _pdf_text(pdf)
    assert "Keep taking your Baclofen 10 mg" in flat(text)
    assert "1 Elm Street" in text
    with world.container.uow() as uow, pytest.raises(NotFound):
        notifying.patient_letter(uow, s.pharmacists["b"], ben.id)  # not B's patient
    with world.container.uow() as uow:
        task = notifying.list_tasks(uow, s.pharmacists["a"], recall_id=recall_id)[0][0]
    with world.container.uow() as uow:
        tried = notifying.complete_task(uow, s.pharmacists["a"], task.id,
                                        TaskOutcome(outcome="no_answer"))
    assert tried.done_at is None
    assert tried.outcome == "no_answer"
    with world.container.uow() as uow:
        done = notifying.complete_task(uow, s.pharmacists["a"], task.id,
                                       TaskOutcome(outcome="reached", note="will come in"))
    assert done.done_by == s.pharmacists["a"].username
    assert done.done_at is not None
    assert patient_notices(world, recall_id)[ben.patient_id].state == "acknowledged"
    with world.container.uow() as uow, pytest.raises(Conflict):
        notifying.complete_task(uow, s.pharmacists["a"], task.id,
                                TaskOutcome(outcome="reached"))


def _pdf_text(pdf: bytes) -> str:
    try:
        return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                              check=True).stdout.decode("utf-8")
    except FileNotFoundError:
        pytest.skip("needs poppler-utils (pdftotext) to read the letter back")


def test_the_acknowledgement_link_acknowledges_the_patient_notice(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")
    notify(world, recall_id)
    ann = patient_notices(world, recall_id)[patient_id(world, s.patients["ann"])]
    message = next(m for m in messages(world, recall_id) if m.id == ann.outbox_message_id)
    assert message.audience == "patient"
    assert message.recipient == s.emails["ann"]
    assert message.ack_token is not None
    with world.container.uow() as uow:
        acknowledgements.acknowledge(uow, message.ack_token)
    after = patient_notices(world, recall_id)[ann.patient_id]
    assert after.state == "acknowledged"
    assert after.acknowledged_at is not None
    with world.container.uow() as uow:
        views, _ = notifying.list_patient_notices(uow, s.pharmacists["a"],
                                                  recall_id=recall_id, state="acknowledged")
    assert [v.patient for v in views] == [s.patients["ann"]]


# -- retail depth: the pharmacist decides ------------------------------------------------------

def test_retail_depth_proposes_and_the_pharmacist_approves_or_declines(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "retail")
    detail = notify(world, recall_id)
    assert detail.history[-1].detail["notices"]["proposals"] == 3
    assert {m.audience for m in messages(world, recall_id)} == {"pharmacy", "prescriber"}
    with world.container.uow() as uow:
        mine, total = notifying.list_proposals(uow, s.pharmacists["a"], recall_id=recall_id)
    assert total == 2
    assert {v.patient for v in mine} == {s.patients["ann"], s.patients["ben"]}
    assert all(v.proposed for v in mine)  # both received a lot in the last 90 days
    with world.container.uow() as uow:
        (cat,), _ = notifying.list_proposals(uow, s.pharmacists["b"], recall_id=recall_id)
    assert cat.proposed is False
    assert "probably used up" in cat.proposal_reasons[0]

    ann = next(v for v in mine if v.patient == s.patients["ann"])
    ben = next(v for v in mine if v.patient == s.patients["ben"])
    with world.container.uow() as uow:
        approved = notifying.decide_patient_notice(uow, s.pharmacists["a"], ann.id,
                                                   NoticeDecision(decision="approve"))
    assert approved.state == "queued"
    assert approved.channel == "email"
    assert approved.decided_by == s.pharmacists["a"].username
    with world.container.uow() as uow:
        lettered = notifying.decide_patient_notice(
            uow, s.pharmacists["a"], ben.id,
            NoticeDecision(decision="approve", reason="lives alone"))
    assert lettered.state == "letter"
    assert lettered.channel == "letter"
    with world.container.uow() as uow:
        assert notifying.list_tasks(uow, s.pharmacists["a"], recall_id=recall_id)[1] == 1
    with world.container.uow() as uow, pytest.raises(Invalid):
        notifying.decide_patient_notice(uow, s.pharmacists["b"], cat.id,
                                        NoticeDecision(decision="decline"))  # no reason
    with world.container.uow() as uow:
        declined = notifying.decide_patient_notice(
            uow, s.pharmacists["b"], cat.id,
            NoticeDecision(decision="decline", reason="finished the pack in May"))
    assert declined.state == "declined"
    assert declined.reason == "finished the pack in May"
    with world.container.uow() as uow, pytest.raises(Conflict):
        notifying.decide_patient_notice(uow, s.pharmacists["b"], cat.id,
                                        NoticeDecision(decision="approve"))
    with world.container.uow() as uow, pytest.raises(NotFound):
        notifying.decide_patient_notice(uow, s.pharmacists["b"], ann.id,
                                        NoticeDecision(decision="decline", reason="x"))

    patient_mail = [m for m in messages(world, recall_id) if m.audience == "patient"]
    assert [m.recipient for m in patient_mail] == [s.emails["ann"]]
    with world.container.uow() as uow:
        events = {(e.action, e.entity_id): (e.actor, e.reason) for e in uow.session.execute(
            select(AuditEvent).where(AuditEvent.entity == "recall_patient_notice")).scalars()}
    assert events[("recall_patient_notice.decline", str(cat.id))] == \
        (s.pharmacists["b"].username, "finished the pack in May")
    assert events[("recall_patient_notice.approve", str(ann.id))] == \
        (s.pharmacists["a"].username, None)


# -- transactions and idempotence --------------------------------------------------------------

def test_a_step_rolled_back_writes_no_notice(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")

    def fail() -> None:
        raise RuntimeError("the step's transaction fails at commit")

    def notify_and_fail() -> None:
        with world.container.uow() as uow:
            uow.before_commit(fail)
            service.take_step(uow, world.principals["mo-manufacturer"], recall_id,
                              RecallStepInput(transition="start_notifying", reason="go"))

    with pytest.raises(RuntimeError):
        notify_and_fail()
    assert messages(world, recall_id) == []
    assert patient_notices(world, recall_id) == {}
    with world.container.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(RecallTask).where(
            RecallTask.recall_id == recall_id)).scalar_one() == 0
        assert service.read_recall(uow, SYSTEM, recall_id).summary.state == "published"

    notify(world, recall_id)
    assert len(messages(world, recall_id)) == 6


def test_queueing_twice_never_writes_a_second_notice_to_anyone(world: World) -> None:
    s = scene(world)
    recall_id = published_recall(world, s.lots, "consumer")
    notify(world, recall_id)
    first = [(m.audience, m.recipient) for m in messages(world, recall_id)]
    with world.container.uow() as uow:
        row = uow.recalls.get(recall_id, service.visible_recalls(SYSTEM))
        assert row is not None
        again = service.queue_notices(uow, recall_id, uow.recalls.record(row),
                                      "start_notifying")
        uow.commit()
    assert again.messages == 0
    assert (again.letters, again.proposals) == (0, 0)
    assert [(m.audience, m.recipient) for m in messages(world, recall_id)] == first
    assert len(patient_notices(world, recall_id)) == 3
    with world.container.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(RecallTask).where(
            RecallTask.recall_id == recall_id)).scalar_one() == 1


def test_a_pharmacy_without_an_address_is_named_not_written_to(world: World) -> None:
    s = scene(world)
    with world.container.uow() as uow:
        pharmacy = uow.organisations.get(s.pharmacies["b"])
        assert pharmacy is not None
        pharmacy.email = None
        uow.commit()
    recall_id = published_recall(world, s.lots, "consumer")
    detail = notify(world, recall_id)
    assert detail.history[-1].detail["notices"]["not_emailed"] == \
        [f"pharmacy {s.pharmacies['b']}"]
    assert ("pharmacy", s.emails["b"]) not in \
        {(m.audience, m.recipient) for m in messages(world, recall_id)}
    # Its patient is still told.
    assert patient_notices(world, recall_id)[
        patient_id(world, s.patients["cat"])].state == "queued"
