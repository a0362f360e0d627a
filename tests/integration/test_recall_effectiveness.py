"""A recall's effectiveness on a real database (SQLite and PostgreSQL): the dashboard's
counts on a recall that reached its consignees and patients, some of whom acknowledged,
responded, returned stock, were switched and are monitored; the Part 7 sample drawn
once and checked; the §7.53 status report as JSON and PDF; returns that cannot be
(more than held, another pharmacy's, a lot the recall does not concern) write nothing;
who may see what; and the page."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.notify import acknowledgements
from medsafe.recalls import effectiveness_service as effectiveness
from medsafe.recalls import service
from medsafe.recalls.effectiveness_service import CheckResult, NewReturn
from medsafe.recalls.inputs import Classification, RecallStepInput, Strategy
from medsafe.recalls.workflow import StatusReport
from medsafe.records import organisations, patients
from medsafe.records.organisations import NewOrganisation
from medsafe.records.patients import ContactDetails, NewCareLink, NewPatient
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import (
    AuditEvent,
    CareAlert,
    CareReview,
    MonitoringCheckIn,
    MonitoringPlan,
    OutboxMessage,
    Patient,
    RecallReturn,
    Stock,
)
from medsafe.supply import dispensing, prescriptions, products, stock
from medsafe.supply.dispensing import NewDispensing
from medsafe.supply.prescriptions import NewPrescription
from medsafe.supply.products import NewLot
from medsafe.supply.stock import StockLevel
from medsafe.web.routes import effectiveness as pages
from tests.support.databases import KINDS
from tests.support.recalls import mo_recall, step
from tests.support.web_client import log_in
from tests.support.world import PASSWORD, World, world_on

TODAY = date.today()


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("effectiveness")) as built:
        app = built.client.app
        if not any(getattr(route, "path", "") == "/recalls/{recall_id}/effectiveness"
                   for route in app.routes):  # type: ignore[attr-defined]
            app.include_router(pages.router)  # type: ignore[attr-defined]
        yield built


@dataclass
class Scene:
    """Pharmacies A, B and C are told. ann (e-mail) got lot 1 at A; ben (no e-mail: a
    letter and a phone call) got lot 2 at A; cat (e-mail) got lot 2 at B. C holds lot 1
    and dispensed none. A acknowledges its notice through the link, B records its
    response, C does nothing. ann acknowledges hers; cat's e-mail is delivered."""

    n: int
    recall_id: int
    number: str
    pharmacies: dict[str, int]
    pharmacists: dict[str, Principal]
    lots: dict[str, int]
    patients: dict[str, int]


def scene(world: World, level: str = "A") -> Scene:
    n = world.next()
    container = world.container
    pharmacies: dict[str, int] = {}
    pharmacists: dict[str, Principal] = {}
    for key in ("a", "b", "c"):
        with container.uow() as uow:
            pharmacies[key] = organisations.create_organisation(
                uow, SYSTEM, NewOrganisation.model_validate({
                    "kind": "pharmacy", "name": f"Pharmacy {key.upper()} {n}",
                    "email": f"{key}-{n}@example.org"})).id
        with container.uow() as uow:
            pharmacists[key] = accounts.create_user(
                uow, SYSTEM, username=f"ef-{key}-{n}", password=PASSWORD, role="pharmacist",
                display_name=f"Pharmacist {key}", organisation_id=pharmacies[key])
            uow.commit()
    with container.uow() as uow:
        doctor = accounts.create_user(uow, SYSTEM, username=f"ef-dr-{n}", password=PASSWORD,
                                      role="physician", display_name=f"Dr {n}",
                                      email=f"dr-{n}@example.org")
        uow.commit()
    lots: dict[str, int] = {}
    for key in ("1", "2"):
        with container.uow() as uow:
            lots[key] = products.create_lot(uow, SYSTEM, world.ids["mo_product"], NewLot(
                lot_number=f"EF{n}-{key}", expiry=date(2031, 12, 31))).id
    for key, lot in (("a", "1"), ("a", "2"), ("b", "2"), ("c", "1")):
        with container.uow() as uow:
            stock.set_stock(uow, SYSTEM, pharmacies[key], lots[lot], StockLevel(quantity=500))
    people: dict[str, int] = {}
    for name, pharmacy, lot, email in (("ann", "a", "1", True), ("ben", "a", "2", False),
                                       ("cat", "b", "2", True)):
        contact = ContactDetails(full_name=f"{name.title()} Example",
                                 email=f"{name}-{n}@example.org" if email else None,
                                 phone="+1 555 0100", address="1 Elm Street\nSpringfield")
        with container.uow() as uow:
            pseudonym = patients.register_patient(uow, SYSTEM, NewPatient(
                birth_date=date(1970, 1, 1), sex="female", synthetic=True,
                contact=contact)).pseudonym
        for link in (NewCareLink(physician=doctor.username),
                     NewCareLink(pharmacy_id=pharmacies[pharmacy])):
            with container.uow() as uow:
                patients.link_care(uow, SYSTEM, pseudonym, link)
        with container.uow() as uow:
            prescription = prescriptions.prescribe(
                uow, doctor, container.catalog, NewPrescription(
                    patient=pseudonym, ingredient="baclofen",
                    dose_text="10 mg three times a day")).id
        with container.uow() as uow:
            dispensing.record_dispensing(uow, pharmacists[pharmacy], NewDispensing(
                patient=pseudonym, lot_id=lots[lot], quantity=30,
                prescription_id=prescription, dispensed_on=TODAY - timedelta(days=2)))
        with container.uow() as uow:
            people[name] = uow.session.execute(
                select(Patient.id).where(Patient.pseudonym == pseudonym)).scalar_one()

    recall = mo_recall(world, lots=(f"EF{n}-1", f"EF{n}-2"))
    recall_id = recall.summary.id
    step(world, "mo-manufacturer", recall_id, "triage")
    step(world, "mo-manufacturer", recall_id, "initiate")
    with container.uow() as uow:
        service.classify(uow, world.principals["rita-regulator"], recall_id,
                         Classification(classification="II", reason="hazard evaluated"))
    with container.uow() as uow:
        service.set_strategy(uow, world.principals["mo-manufacturer"], recall_id,
                             Strategy.model_validate({
                                 "depth": "consumer", "public_warning": "none",
                                 "effectiveness_check": level, "reason": "agreed"}))
    step(world, "rita-regulator", recall_id, "publish")
    step(world, "mo-manufacturer", recall_id, "start_notifying")
    number = recall.summary.recall_number
    assert number is not None

    with container.uow() as uow:
        tokens = dict(uow.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.ack_token)
            .where(OutboxMessage.topic == f"recall:{number}")).all())
    for recipient in (f"a-{n}@example.org", f"ann-{n}@example.org"):
        with container.uow() as uow:
            acknowledgements.acknowledge(uow, str(tokens[recipient]))
    with container.uow() as uow:
        service.take_step(uow, pharmacists["b"], recall_id, RecallStepInput.model_validate(
            {"transition": "respond", "reason": "quarantined our stock"}))
    with container.uow() as uow:
        uow.session.execute(update(OutboxMessage)
                            .where(OutboxMessage.recipient == f"cat-{n}@example.org")
                            .values(status="delivered", delivered_at=func.now()))
        uow.commit()
    return Scene(n, recall_id, number, pharmacies, pharmacists, lots, people)


def care_for_ann(world: World, scene: Scene) -> None:
    """ann's prescriber switched her; her plan is active with a missed check-in not
    followed up, one still due after its day, one done, and an urgent alert open and a
    warning resolved. (Written as rows: the care use cases are not this test's.)"""
    now = TODAY
    with world.container.uow() as uow:
        review = CareReview(recall_id=scene.recall_id, patient_id=scene.patients["ann"],
                            medicine="baclofen", state="accepted", proposals=[],
                            proposed_at=func.now(), decided_at=func.now(),
                            decided_by="dr", chosen_rank=1)
        uow.session.add(review)
        uow.flush()
        plan = MonitoringPlan(patient_id=scene.patients["ann"], review_id=review.id,
                              recall_id=scene.recall_id, medicine_from="baclofen",
                              medicine_to="tizanidine", state="active",
                              started_on=now - timedelta(days=10),
                              ends_on=now + timedelta(days=20), check_in_days=[3, 7, 14],
                              transition={}, created_at=func.now())
        uow.session.add(plan)
        uow.flush()
        uow.session.add_all([
            MonitoringCheckIn(plan_id=plan.id, due_on=now - timedelta(days=7), state="done"),
            MonitoringCheckIn(plan_id=plan.id, due_on=now - timedelta(days=5), state="missed"),
            MonitoringCheckIn(plan_id=plan.id, due_on=now - timedelta(days=1), state="due"),
            MonitoringCheckIn(plan_id=plan.id, due_on=now + timedelta(days=4), state="due"),
            CareAlert(plan_id=plan.id, patient_id=scene.patients["ann"], rule_id="red-flag",
                      severity="urgent", message="high fever", created_at=func.now()),
            CareAlert(plan_id=plan.id, patient_id=scene.patients["ann"], rule_id="trend",
                      severity="warning", message="worse sleep", created_at=func.now(),
                      resolved_at=func.now(), resolved_by="dr"),
        ])
        uow.commit()


def on_hand(world: World, scene: Scene) -> int:
    with world.container.uow() as uow:
        return int(uow.session.execute(select(func.sum(Stock.quantity)).where(
            Stock.lot_id.in_(scene.lots.values()))).scalar_one())


def give_back(world: World, who: Principal, scene: Scene, pharmacy: str, lot: str,
              quantity: int) -> effectiveness.ReturnView:
    with world.container.uow() as uow:
        return effectiveness.record_return(uow, who, scene.recall_id, NewReturn(
            pharmacy_id=scene.pharmacies[pharmacy], lot_id=scene.lots[lot],
            quantity=quantity, note="collected by the wholesaler"))


# -- the dashboard -----------------------------------------------------------------------------

def test_the_dashboard_counts_consignees_stock_patients_care_and_follow_ups(
        world: World) -> None:
    s = scene(world)
    care_for_ann(world, s)
    before = on_hand(world, s)
    returned = give_back(world, s.pharmacists["a"], s, "a", "1", 200)
    assert returned.left_on_hand == 500 - 30 - 200

    with world.container.uow() as uow:
        board = effectiveness.dashboard(uow, world.principals["mo-manufacturer"], s.recall_id)
    c, p, f = board.consignees, board.patients, board.follow_ups
    assert (c.notified, c.responded, c.not_responded) == (3, 2, 1)
    assert c.non_responders == (f"Pharmacy C {s.n}",)
    assert c.first_notified_on == TODAY
    assert (c.returned, c.on_hand) == (200, before - 200)
    assert (p.affected, p.told, p.acknowledged) == (3, 3, 1)
    assert p.reached == 3  # ann acknowledged, ben's letter sent, cat's e-mail delivered
    assert (p.switched, p.in_monitoring) == (1, 1)
    assert (p.open_alerts, p.urgent_alerts, p.with_open_alerts) == (1, 1, 1)
    assert (f.missed_check_ins, f.late_check_ins, f.open_phone_calls) == (1, 1, 1)
    assert f.overdue == 3
    assert board.level is not None
    assert board.level.value == "A"
    assert [(x.kind, x.population, x.target, x.drawn) for x in board.samples] == [
        ("consignee", 3, 3, 0), ("patient", 3, 3, 0)]


def test_a_pharmacist_sees_only_its_own_pharmacys_part_and_no_sample(world: World) -> None:
    s = scene(world)
    give_back(world, s.pharmacists["b"], s, "b", "2", 50)
    with world.container.uow() as uow:
        mine = effectiveness.dashboard(uow, s.pharmacists["a"], s.recall_id)
    assert mine.pharmacy_id == s.pharmacies["a"]
    assert (mine.consignees.notified, mine.consignees.responded) == (1, 1)
    assert mine.consignees.returned == 0  # B's return is B's
    assert (mine.patients.affected, mine.patients.acknowledged) == (2, 1)  # ann and ben
    assert mine.follow_ups.open_phone_calls == 1  # ben's call is A's to make
    assert mine.samples == ()
    assert mine.sample == ()
    with world.container.uow() as uow, pytest.raises(Forbidden):
        effectiveness.status_report(uow, s.pharmacists["a"], s.recall_id)


@pytest.mark.parametrize("who", ["pat-patient", "dora-physician"])
def test_patients_and_physicians_may_not_see_a_recalls_effectiveness(world: World,
                                                                     who: str) -> None:
    s = scene(world, "E")
    with world.container.uow() as uow, pytest.raises(Forbidden):
        effectiveness.dashboard(uow, world.principals[who], s.recall_id)


def test_another_firm_may_not_see_the_recalls_effectiveness(world: World) -> None:
    s = scene(world, "E")
    with world.container.uow() as uow:
        other = accounts.create_user(uow, SYSTEM, username=f"acme-{world.next()}",
                                     password=PASSWORD, role="manufacturer",
                                     display_name="Acme", organisation_id=world.ids["acme"])
        uow.commit()
    with world.container.uow() as uow, pytest.raises(Forbidden):
        effectiveness.dashboard(uow, other, s.recall_id)
    with world.container.uow() as uow, pytest.raises(NotFound):
        effectiveness.dashboard(uow, world.principals["mo-manufacturer"], 2**31 - 1)


# -- returns -----------------------------------------------------------------------------------

def _returns_and_audit(world: World, s: Scene) -> tuple[int, int]:
    with world.container.uow() as uow:
        returns = uow.session.execute(select(func.count()).select_from(RecallReturn).where(
            RecallReturn.recall_id == s.recall_id)).scalar_one()
        events = uow.session.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "recall.return")).scalar_one()
    return int(returns), int(events)


def test_returning_more_than_the_pharmacy_holds_is_refused_and_writes_nothing(
        world: World) -> None:
    s = scene(world, "E")
    before, written = on_hand(world, s), _returns_and_audit(world, s)
    with pytest.raises(Invalid, match=r"holds 470 units of lot .*: it cannot return 471") \
            as refused:
        give_back(world, s.pharmacists["a"], s, "a", "1", 471)
    assert refused.value.where == "quantity"
    assert on_hand(world, s) == before
    assert _returns_and_audit(world, s) == written


def test_a_pharmacist_cannot_record_another_pharmacys_return(world: World) -> None:
    s = scene(world, "E")
    before, written = on_hand(world, s), _returns_and_audit(world, s)
    with pytest.raises(Forbidden, match="its own pharmacy's returns"):
        give_back(world, s.pharmacists["b"], s, "a", "1", 10)
    with pytest.raises(Forbidden):
        give_back(world, world.principals["mo-manufacturer"], s, "a", "1", 10)
    assert on_hand(world, s) == before
    assert _returns_and_audit(world, s) == written


def test_a_lot_the_recall_does_not_concern_cannot_be_returned_against_it(
        world: World) -> None:
    s = scene(world, "E")
    with world.container.uow() as uow, pytest.raises(Invalid, match="not one of recall"):
        effectiveness.record_return(uow, world.principals["alice-admin"], s.recall_id,
                                    NewReturn(pharmacy_id=s.pharmacies["a"],
                                              lot_id=world.ids["acme_lot"], quantity=1))


def test_an_admin_records_any_pharmacys_return_and_it_is_audited(world: World) -> None:
    s = scene(world, "E")
    before, (returns, events) = on_hand(world, s), _returns_and_audit(world, s)
    give_back(world, world.principals["alice-admin"], s, "c", "1", 500)
    assert on_hand(world, s) == before - 500
    assert _returns_and_audit(world, s) == (returns + 1, events + 1)


# -- the sample --------------------------------------------------------------------------------

def test_the_sample_is_drawn_once_for_the_level_and_each_check_recorded_once(
        world: World) -> None:
    s = scene(world, "C")
    firm = world.principals["mo-manufacturer"]
    with world.container.uow() as uow:
        first = effectiveness.draw_checks(uow, firm, s.recall_id)
    assert first.added == {"consignee": 1, "patient": 1}  # 10% of 3, rounded up
    with world.container.uow() as uow:
        again = effectiveness.draw_checks(uow, world.principals["rita-regulator"],
                                          s.recall_id)
    assert again.added == {"consignee": 0, "patient": 0}
    assert again.drawn == {"consignee": 1, "patient": 1}
    with world.container.uow() as uow:
        board = effectiveness.dashboard(uow, firm, s.recall_id)
    lines = {line.kind: line for line in board.sample}
    assert lines["consignee"].label.startswith("Pharmacy ")
    assert lines["patient"].label.startswith("a patient of Pharmacy ")  # never named
    with world.container.uow() as uow:
        shown = effectiveness.dashboard(uow, world.principals["rita-regulator"], s.recall_id)
        pseudonyms = set(uow.session.execute(select(Patient.pseudonym).where(
            Patient.id.in_(s.patients.values()))).scalars())
    (seen,) = [line.label for line in shown.sample if line.kind == "patient"]
    pseudonym, pharmacy = seen.split(" ", 1)  # the regulator sees the pseudonym
    assert pseudonym in pseudonyms
    assert pharmacy.startswith("(Pharmacy ")

    check = lines["consignee"].check_id
    with world.container.uow() as uow:
        done = effectiveness.record_check(uow, firm, check, CheckResult(
            outcome="reached_and_acted", method="phone", note="stock quarantined"))
    assert (done.outcome, done.checked_by) == ("reached_and_acted", "mo-manufacturer")
    with world.container.uow() as uow, pytest.raises(Conflict, match="was recorded"):
        effectiveness.record_check(uow, firm, check, CheckResult(
            outcome="not_reached", method="visit"))
    with world.container.uow() as uow, pytest.raises(NotFound):
        effectiveness.record_check(uow, firm, check, CheckResult(
            outcome="not_reached", method="visit"), recall_id=s.recall_id + 1)
    with world.container.uow() as uow:
        board = effectiveness.dashboard(uow, firm, s.recall_id)
    consignees = board.samples[0]
    assert (consignees.drawn, consignees.checked, consignees.count("reached_and_acted")) \
        == (1, 1, 1)


def test_the_stored_sample_is_the_draw_its_recall_number_fixes(world: World) -> None:
    """The draw depends on the recall number and the subjects only: the patients stored
    are those `draw_sample` gives for that number, so anyone can redo the draw."""
    from medsafe.recalls.effectiveness import draw_sample

    s = scene(world, "C")
    with world.container.uow() as uow:
        effectiveness.draw_checks(uow, world.principals["alice-admin"], s.recall_id)
    with world.container.uow() as uow:
        drawn = uow.effectiveness.drawn(s.recall_id)
    expected = draw_sample("C", s.patients.values(), f"{s.number}:patient")
    assert drawn["patient"] == set(expected)


def test_a_pharmacist_may_not_draw_or_record_checks(world: World) -> None:
    s = scene(world, "A")
    with world.container.uow() as uow, pytest.raises(Forbidden):
        effectiveness.draw_checks(uow, s.pharmacists["a"], s.recall_id)


# -- the status report -------------------------------------------------------------------------

def test_the_json_report_has_every_item_of_section_7_53(world: World) -> None:
    s = scene(world, "A")
    give_back(world, s.pharmacists["a"], s, "a", "2", 70)
    firm = world.principals["mo-manufacturer"]
    with world.container.uow() as uow:
        effectiveness.draw_checks(uow, firm, s.recall_id)
    with world.container.uow() as uow:
        first = effectiveness.dashboard(uow, firm, s.recall_id).sample[0]
        effectiveness.record_check(uow, firm, first.check_id, CheckResult(
            outcome="reached_not_acted", method="letter"))
    with world.container.uow() as uow:
        found = effectiveness.status_report_json(
            uow, firm, s.recall_id, estimated_completion=TODAY + timedelta(days=30))
    report = found["status_report"]
    items = {f.name for f in dataclasses.fields(StatusReport)}
    assert items <= set(report)
    assert report["consignees_notified"] == 3
    assert report["notified_on"] == TODAY.isoformat()
    assert report["methods"] == ["email"]
    assert (report["consignees_responding"], report["non_responders"]) == (2, 1)
    assert report["non_responder_ids"] == [f"Pharmacy C {s.n}"]
    assert report["quantity_returned"] == 70
    assert report["quantity_on_hand"] == found["stock"]["still_on_hand"] + 70
    assert report["effectiveness_checks"] == 1
    assert "1 reached but not acted" in report["effectiveness_results"]
    assert report["estimated_completion"] == (TODAY + timedelta(days=30)).isoformat()
    assert found["patients"]["told"] == 3


def pdf_lines(body: bytes) -> str:
    """The text medsafe's PDF writer put on its pages (uncompressed `(...) Tj`), one
    line each, read without poppler."""
    found = re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", body)
    return " ".join(re.sub(rb"\\(.)", rb"\1", text).decode("cp1252") for text in found)


def pdftotext(body: bytes) -> str:
    """poppler's reading of the PDF, or a skip (a failure under CI=true)."""
    path = shutil.which("pdftotext")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext (poppler-utils) must be installed under CI=true")
        pytest.skip("needs poppler-utils (pdftotext) to read the report back")
    done = subprocess.run([path, "-layout", "-", "-"], input=body, capture_output=True,
                          check=True, timeout=60)
    assert done.stderr == b"", done.stderr
    return " ".join(done.stdout.decode("utf-8").split())


@pytest.mark.parametrize("read", [pdf_lines, pdftotext])
def test_the_pdf_report_shows_the_numbers(world: World, read: Callable[[bytes], str]) -> None:
    s = scene(world, "A")
    give_back(world, s.pharmacists["a"], s, "a", "2", 70)
    with world.container.uow() as uow:
        body = effectiveness.status_report_pdf(uow, world.principals["rita-regulator"],
                                               s.recall_id)
    assert body.startswith(b"%PDF-1.4")
    flat = read(body)
    assert f"Recall status report: {s.number}" in flat
    assert f"Consignees notified: 3, from {TODAY.isoformat()}, by email" in flat
    assert "Consignees responding: 2 (67%)" in flat
    assert f"Consignees not responding: 1 (Pharmacy C {s.n})" in flat
    assert "Quantity returned: 70" in flat
    assert "Affected: 3; told: 3; reached: 3 (100%); acknowledged: 1 (33%)" in flat


def test_the_generated_report_files_as_the_firms_status_report(world: World) -> None:
    s = scene(world, "E")
    with world.container.uow() as uow:
        detail = effectiveness.file_status_report(
            uow, world.principals["mo-manufacturer"], s.recall_id, reason="fortnightly")
    assert detail.summary.state == "in_progress"
    filed = detail.status_reports[-1].report
    assert (filed.consignees_notified, filed.consignees_responding) == (3, 2)
    assert filed.effectiveness_results == "Level E: no effectiveness checks."


def test_a_report_dated_in_the_future_is_refused(world: World) -> None:
    s = scene(world, "E")
    with world.container.uow() as uow, pytest.raises(Invalid, match="future"):
        effectiveness.status_report(uow, world.principals["alice-admin"], s.recall_id,
                                    as_of=TODAY + timedelta(days=1))


# -- the page ----------------------------------------------------------------------------------

def test_the_page_renders_for_the_firm_and_is_refused_to_a_patient(world: World) -> None:
    s = scene(world, "A")
    give_back(world, s.pharmacists["a"], s, "a", "1", 25)
    app = world.client.app
    firm = log_in(app, "mo-manufacturer")  # type: ignore[arg-type]
    page = firm.get(f"/recalls/{s.recall_id}/effectiveness")
    assert page.status_code == 200, page.text
    flat = " ".join(page.text.split())
    assert '<li class="card" data-tile="consignees-notified"><strong>3</strong>' in flat
    assert "<strong>2</strong> responded (67%)" in flat
    assert "<strong>25</strong> units returned" in flat
    assert f"/recalls/{s.recall_id}/status-report.pdf" in flat
    assert "Draw the sample" in flat
    pdf = firm.get(f"/recalls/{s.recall_id}/status-report.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    document = firm.get(f"/recalls/{s.recall_id}/status-report.json")
    assert document.json()["status_report"]["quantity_returned"] == 25

    patient = log_in(app, "pat-patient")  # type: ignore[arg-type]
    assert patient.get(f"/recalls/{s.recall_id}/effectiveness").status_code == 403
    assert patient.get(f"/recalls/{s.recall_id}/status-report.json").status_code == 403


def test_the_firm_draws_and_records_a_check_from_the_page(world: World) -> None:
    from tests.support.web_client import csrf_of

    s = scene(world, "D")
    firm = log_in(world.client.app, "mo-manufacturer")  # type: ignore[arg-type]
    token = csrf_of(firm)
    drawn = firm.post(f"/recalls/{s.recall_id}/effectiveness/draw",
                      data={"csrf_token": token}, follow_redirects=False)
    assert drawn.status_code == 303
    with world.container.uow() as uow:
        check = min(line.check_id for line in effectiveness.dashboard(
            uow, world.principals["mo-manufacturer"], s.recall_id).sample)
    wrong = firm.post(f"/recalls/{s.recall_id}/effectiveness/checks/{check}",
                      data={"csrf_token": token, "outcome": "maybe", "method": "phone"})
    assert wrong.status_code == 422
    assert "Outcome" in wrong.text
    recorded = firm.post(f"/recalls/{s.recall_id}/effectiveness/checks/{check}",
                         data={"csrf_token": token, "outcome": "not_reached",
                               "method": "visit", "note": "<b>closed</b>"})
    assert recorded.status_code == 200  # followed to the page
    assert "&lt;b&gt;closed&lt;/b&gt;" in recorded.text


def test_a_pharmacist_records_its_return_from_the_page(world: World) -> None:
    from tests.support.web_client import csrf_of

    s = scene(world, "E")
    client = log_in(world.client.app, s.pharmacists["a"].username)  # type: ignore[arg-type]
    page = client.get(f"/recalls/{s.recall_id}/effectiveness")
    assert page.status_code == 200
    assert "Your pharmacy's part only" in page.text
    too_many = client.post(f"/recalls/{s.recall_id}/effectiveness/returns", data={
        "csrf_token": csrf_of(client),
        "holding": f"{s.pharmacies['a']}:{s.lots['1']}", "quantity": "9999"})
    assert too_many.status_code == 422
    assert "cannot return 9999" in too_many.text
    done = client.post(f"/recalls/{s.recall_id}/effectiveness/returns", data={
        "csrf_token": csrf_of(client),
        "holding": f"{s.pharmacies['a']}:{s.lots['1']}", "quantity": "40"})
    assert done.status_code == 200
    assert "<strong>40</strong> units returned" in " ".join(done.text.split())
