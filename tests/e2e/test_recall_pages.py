"""The recall and investigation pages over HTTP, on SQLite and PostgreSQL.

The story, made through the services as the personas themselves would: Mo Pharma recalls
its baclofen lot MO-001 (held and dispensed by Phil's pharmacy) and the regulator classifies
it Class II; Acme's tizanidine lot ACME-001 (held and dispensed by Oscar's pharmacy) is
recalled Class I; a second Mo recall is only initiated; FDA's enforcement report brings an
ongoing recall of 2021 whose deadlines have passed; and an investigation of Mo's lots runs
from a lot signal through an advisory committee to a decision.

The public sees the published recalls, their pages (no patient data) and the feeds; each
medicine's page names its open recalls. The firm and the regulator see the recall desk and
the investigations and take their steps from the pages; a step by the wrong role is refused
with the workflow's own message. Each pharmacy sees only the recalls that concern it and
only its own stock and patients. The last test walks the public recall page and the
pharmacy page in a real browser (Chromium)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree
from markupsafe import escape
from playwright.sync_api import expect
from sqlalchemy import select

from medsafe.cases.intake import Receipt, store_reports
from medsafe.errors import InvalidTransition
from medsafe.interop.openfda.reader import read_recalls
from medsafe.recalls import investigation_service as investigations
from medsafe.recalls import notifying, service, workflow
from medsafe.recalls.inputs import (
    Classification,
    NewAnalysis,
    NewBenefitRisk,
    NewConflict,
    NewDecision,
    NewHazardEvaluation,
    NewInvestigation,
    NewLotTest,
    NewRecall,
    NewRecommendation,
    NewReview,
    NewVote,
    Strategy,
)
from medsafe.recalls.openfda_import import import_openfda
from medsafe.security.principal import SYSTEM
from medsafe.signals import management
from medsafe.store.schema import Organisation, OutboxMessage
from medsafe.store.uow import UnitOfWork
from tests.support.case_builder import case_report, reaction
from tests.support.live_server import browser_page, serving
from tests.support.recalls import (
    enforcement_file,
    enforcement_record,
    mo_recall,
    recall_at,
    step,
)
from tests.support.web_client import csrf_of, log_in
from tests.support.world import PASSWORD, World

ATOM = "{http://www.w3.org/2005/Atom}"
BROWSER_TIMEOUT_MS = 60_000
CLUSTER = 10  # seizures on lot MO-001, enough for the lot axis to flag it
BACKGROUND = 60


@dataclass(frozen=True)
class Story:
    baclofen: int  # Mo's recall of MO-001: Class II, notifying
    baclofen_number: str
    tizanidine: int  # Acme's recall of ACME-001: Class I, published
    tizanidine_number: str
    draft: int  # Mo's second recall: initiated only
    draft_number: str
    imported_number: str  # FDA's ongoing recall of 2021
    investigation: int  # Mo's, from the lot signal, decided on a recall
    signal_id: int
    run_id: int
    case_id: int


def _regulator(world: World, recall_id: int, recall_class: str) -> None:
    with world.container.uow() as uow:
        service.classify(uow, world.principals["rita-regulator"], recall_id,
                         Classification.model_validate({"classification": recall_class,
                                                        "reason": "health-hazard evaluation"}))


def _strategy(world: World, who: str, recall_id: int) -> None:
    with world.container.uow() as uow:
        service.set_strategy(uow, world.principals[who], recall_id, Strategy(
            depth="retail", public_warning="none", effectiveness_check="C",
            reason="the firm's proposal, agreed"))


def _published_recalls(world: World) -> tuple[int, int, int]:
    """The baclofen recall (to notifying), the tizanidine one (published) and the draft."""
    baclofen = mo_recall(world).summary.id
    step(world, "mo-manufacturer", baclofen, "triage", "assay failure is a recall matter")
    step(world, "mo-manufacturer", baclofen, "initiate", "we recall the lot ourselves")
    _regulator(world, baclofen, "II")
    _strategy(world, "mo-manufacturer", baclofen)
    step(world, "rita-regulator", baclofen, "publish", "in this week's enforcement report")
    step(world, "mo-manufacturer", baclofen, "start_notifying", "letters to our accounts")
    with world.container.uow() as uow:
        tizanidine = service.create_recall(
            uow, world.principals["alice-admin"], NewRecall.model_validate({
                "reason_for_recall": "Microbial contamination: Burkholderia cepacia",
                "products": [{"description": "Tizanidine 10 mg tablets",
                              "ndcs": ["54321-876-09"],
                              "lots": [{"number": "ACME-001", "ndc": "54321-876-09"}]}],
                "firm_organisation_id": world.ids["acme"],
                "reason": "Acme's recall entered for the firm"})).summary.id
    step(world, "alice-admin", tizanidine, "triage", "contamination found")
    step(world, "alice-admin", tizanidine, "initiate", "the firm recalls")
    _regulator(world, tizanidine, "I")
    _strategy(world, "alice-admin", tizanidine)
    step(world, "rita-regulator", tizanidine, "publish", "Class I: published at once")
    draft = mo_recall(world, lots=("MO-001",)).summary.id
    step(world, "mo-manufacturer", draft, "triage", "a second assay to confirm")
    step(world, "mo-manufacturer", draft, "initiate", "recall while we confirm")
    return baclofen, tizanidine, draft


def _imported(world: World, tmp_path: Path) -> str:
    """FDA's report of an ongoing Class II recall reported in January 2021, for a product
    no pharmacy here holds."""
    record = enforcement_record(7)
    path = enforcement_file(tmp_path / "enforcement.json", [record])
    with world.container.uow() as uow:
        import_openfda(uow, world.principals["alice-admin"], read_recalls(path).records,
                       label="test")
    return str(record["recall_number"])


def _signal(world: World) -> tuple[int, int, int]:
    """Seizures clustering on lot MO-001 among other reports; a detection run on the lot
    axis flags the pair. (signal id, run id, one case of the series)"""
    rng = random.Random(11)
    start = date(2026, 1, 5)
    reports = [case_report(f"US-RECWEB-BG-{k}", received=start + timedelta(days=3 * k),
                           product=rng.choice(("Metformin 500 mg", "Lisinopril 10 mg",
                                               "Amlodipine 5 mg", "Omeprazole 20 mg")),
                           lots=(f"L{k % 3}",),
                           reactions=(reaction(rng.choice(("Nausea", "Headache", "Rash",
                                                           "Dizziness"))),))
               for k in range(BACKGROUND)]
    reports += [case_report(f"US-RECWEB-MO-{k}", received=start + timedelta(days=7 * k),
                            product="Baclofen 10 mg", product_id=world.ids["mo_product"],
                            lots=("MO-001",), reactions=(reaction("Seizure"),))
                for k in range(CLUSTER)]
    container = world.container
    with container.uow() as uow:
        store_reports(uow, SYSTEM, container.catalog, reports, Receipt(source="api"))
        uow.commit()
    admin = world.principals["alice-admin"]
    with container.uow() as uow:
        run = management.run_over_case_store(uow, admin, axis="lot")
    with container.uow() as uow:
        found, _ = management.list_signals(uow, admin, drug="lot MO-001", event="Seizure")
        assert len(found) == 1, found
        detail = management.read_signal(uow, world.principals["mo-manufacturer"], found[0].id)
    return found[0].id, run.id, detail.cases[0].id


def _investigation(world: World, signal_id: int, run_id: int, case_id: int) -> int:
    """Mo's investigation of its lots, from the signal to a decision on a recall, through
    an advisory committee whose member B declared a conflict and so does not vote."""
    mo = world.principals["mo-manufacturer"]
    container = world.container
    with container.uow() as uow:
        iid = investigations.open_investigation(uow, mo, NewInvestigation(
            product="Baclofen 10 mg", origin="signal", signal_id=signal_id, lots=["MO-001"],
            reason="seizures reported on one lot")).id
    steps: list[Callable[[UnitOfWork], object]] = [
        lambda uow: investigations.attach_analysis(uow, mo, iid, NewAnalysis(
            case_ids=[case_id], run_ids=[run_id], summary="EB05 above 2 on lot MO-001 only",
            reason="the statistics and the case series")),
        lambda uow: investigations.record_lot_test(uow, mo, iid, NewLotTest.model_validate({
            "lot": "MO-001", "test": "Assay", "result": "88%", "specification": "90-110%",
            "passed": False, "tested_on": "2026-02-01", "reason": "retained samples"})),
        lambda uow: investigations.evaluate_hazard(uow, mo, iid, NewHazardEvaluation(
            injuries_occurred=True, injuries="withdrawal seizures", proposed_class="II",
            exposure_conditions="patients on long-term oral baclofen",
            populations_at_risk=["adults with spasticity"], seriousness="serious",
            likelihood="remote", consequences="reversible with a full-strength supply",
            reason="the §7.41 factors")),
        lambda uow: investigations.note_benefit_risk(uow, mo, iid, NewBenefitRisk(
            condition_severity="spasticity: disabling", alternatives="other baclofen lots",
            safety_profile="well known", reason="for the committee")),
        lambda uow: investigations.open_review(uow, mo, iid, NewReview.model_validate({
            "members": [{"name": "Ada"}, {"name": "Ben"}, {"name": "Cy"}],
            "questions": [{"key": "recall", "text": "Should the lot be recalled?"}],
            "reason": "an independent view"})),
        lambda uow: investigations.declare_conflict(uow, mo, iid, NewConflict(
            member="Ben", product="Baclofen 10 mg", nature="consults for Mo Pharma",
            reason="declared at the first meeting")),
        lambda uow: investigations.cast_vote(uow, mo, iid, NewVote(
            member="Ada", question="recall", choice="yes", reason="as cast")),
        lambda uow: investigations.cast_vote(uow, mo, iid, NewVote(
            member="Cy", question="recall", choice="no", reason="as cast")),
        lambda uow: investigations.recommend(uow, mo, iid, NewRecommendation(
            recommendation="Recall lot MO-001 to retail level", reason="the chair's summary")),
        lambda uow: investigations.decide(uow, mo, iid, NewDecision(
            kind="recall", rationale="subpotent lot with seizures reported",
            proposed_class="II", reason="the committee's advice and the assay")),
    ]
    for take in steps:
        with container.uow() as uow:
            take(uow)
    return iid


@pytest.fixture(scope="module")
def story(world: World, tmp_path_factory: pytest.TempPathFactory) -> Story:
    baclofen, tizanidine, draft = _published_recalls(world)
    imported = _imported(world, tmp_path_factory.mktemp("enforcement"))
    signal_id, run_id, case_id = _signal(world)
    iid = _investigation(world, signal_id, run_id, case_id)
    numbers = {}
    with world.container.uow() as uow:
        for recall_id in (baclofen, tizanidine, draft):
            detail = service.read_recall(uow, world.principals["alice-admin"], recall_id)
            numbers[recall_id] = str(detail.summary.recall_number)
    return Story(baclofen, numbers[baclofen], tizanidine, numbers[tizanidine], draft,
                 numbers[draft], imported, iid, signal_id, run_id, case_id)


def visitor(app: FastAPI) -> TestClient:
    return TestClient(app)


def part(page: str, marker: str, end: str = "</section>") -> str:
    """The text from `marker` to the next `end`."""
    start = page.index(marker)
    return page[start:page.index(end, start)]


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def phils_units(world: World) -> int:
    """Units of lot MO-001 on hand at Phil's pharmacy, as the store holds them (the world
    stocked it and dispensed from it)."""
    with world.container.uow() as uow:
        stock = uow.stock.for_update(world.ids["phil_pharmacy"], world.ids["mo_lot"])
        assert stock is not None
        assert stock.quantity > 0
        return stock.quantity


def personal_data(world: World) -> list[str]:
    """What must never appear on a public page: the patients' pseudonyms and the names of
    the people who took the steps."""
    return [world.ids["cared"], world.ids["other"], "mo-manufacturer", "rita-regulator",
            "alice-admin", "Dora Physician"]


# -- the public pages --------------------------------------------------------------------------

def test_the_public_list_shows_published_recalls_and_filters_by_class(
        app: FastAPI, story: Story) -> None:
    client = visitor(app)
    page = client.get("/recalls")
    assert page.status_code == 200
    listed = re.findall(r'<tr data-recall="([^"]+)">', page.text)
    assert {story.baclofen_number, story.tizanidine_number, story.imported_number} <= set(listed)
    assert story.draft_number not in listed  # initiated, not published
    # Newest report first: today's two before FDA's of 2021.
    assert listed.index(story.imported_number) > max(listed.index(story.baclofen_number),
                                                     listed.index(story.tizanidine_number))
    class_one = re.findall(r'<tr data-recall="([^"]+)">', client.get("/recalls?class=I").text)
    assert story.tizanidine_number in class_one
    assert story.baclofen_number not in class_one
    assert story.imported_number not in class_one
    class_two = client.get("/recalls?class=II").text
    assert story.baclofen_number in class_two
    assert story.tizanidine_number not in class_two
    assert client.get("/recalls?class=IV").status_code == 422


def test_a_public_recall_page_says_what_which_lots_why_and_what_to_do_without_patient_data(
        world: World, app: FastAPI, story: Story) -> None:
    page = visitor(app).get(f"/recalls/{story.baclofen_number}")
    assert page.status_code == 200
    body = page.text
    assert "URGENT: DRUG RECALL" in body
    assert "Baclofen 10 mg tablets" in body
    assert "<th scope=\"row\">MO-001</th>" in body  # the lot
    assert "12345-0678-90" in body  # the NDC, 5-4-2
    assert "Subpotent: assay 88% of label" in body  # the reason
    assert "Class II: temporary or reversible harm" in body
    assert "Do not stop taking your medicine on your own." in body
    # The knowledge base's cited warning against stopping baclofen abruptly, quoted.
    caution = part(body, "must not be stopped abruptly", "</div>")
    assert "<blockquote>" in caution
    assert "Source:" in caution
    for private in personal_data(world):
        assert private not in body, private


def test_a_recall_that_is_not_published_has_no_public_page(app: FastAPI, story: Story) -> None:
    client = visitor(app)
    assert client.get(f"/recalls/{story.draft_number}").status_code == 404
    assert client.get("/recalls/D-9999-2099").status_code == 404


def test_the_feeds_parse_and_list_the_published_recalls(world: World, app: FastAPI,
                                                         story: Story) -> None:
    base = world.container.settings.public_base_url.rstrip("/")
    expected = {f"{base}/recalls/{number}" for number in
                (story.baclofen_number, story.tizanidine_number, story.imported_number)}
    client = visitor(app)
    atom = client.get("/recalls.atom")
    assert atom.status_code == 200
    assert atom.headers["content-type"] == "application/atom+xml"
    feed = etree.fromstring(atom.content, etree.XMLParser(resolve_entities=False))
    assert feed.tag == f"{ATOM}feed"
    ids = {e.findtext(f"{ATOM}id") for e in feed.iter(f"{ATOM}entry")}
    assert expected <= ids
    assert f"{base}/recalls/{story.draft_number}" not in ids
    baclofen = next(e for e in feed.iter(f"{ATOM}entry")
                    if e.findtext(f"{ATOM}id") == f"{base}/recalls/{story.baclofen_number}")
    assert "class-ii" in {c.get("term") for c in baclofen.iter(f"{ATOM}category")}
    document = client.get("/recalls.json")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/feed+json"
    parsed = json.loads(document.content)
    assert parsed["version"] == "https://jsonfeed.org/version/1.1"
    items = {item["id"]: item for item in parsed["items"]}
    assert expected <= set(items)
    assert items[f"{base}/recalls/{story.tizanidine_number}"]["_recall"]["classification"] == "I"
    for private in personal_data(world):
        assert private not in atom.text
        assert private not in document.text


def test_each_medicine_page_names_its_open_recalls(app: FastAPI, story: Story) -> None:
    client = visitor(app)
    baclofen = part(client.get("/drugs/baclofen").text, 'id="recall-status"')
    assert f'href="/recalls/{story.baclofen_number}"' in baclofen
    assert story.tizanidine_number not in baclofen
    assert story.draft_number not in baclofen  # not published
    tizanidine = part(client.get("/drugs/tizanidine").text, 'id="recall-status"')
    assert f'href="/recalls/{story.tizanidine_number}"' in tizanidine
    assert "Class I" in tizanidine
    diazepam = part(client.get("/drugs/diazepam").text, 'id="recall-status"')
    assert "No open recall of Diazepam." in text(diazepam)


# -- the recall desk ---------------------------------------------------------------------------

def test_the_recall_desk_lists_recalls_by_state_with_their_deadlines(
        app: FastAPI, story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    page = regulator.get("/recalls/manage")
    assert page.status_code == 200
    assert '<a href="/recalls/manage">Recall desk</a>' in page.text  # the menu
    notifying = regulator.get("/recalls/manage?state=notifying").text
    row = part(notifying, f'<tr data-recall-id="{story.baclofen}">', "</tr>")
    assert "Notifying consignees" in row
    assert "Class II" in row
    assert "Remove the stock from sale: by" in text(row)
    assert "overdue" not in row  # published today: the 72 hours of Class II still run
    initiated = regulator.get("/recalls/manage?state=initiated").text
    assert f'data-recall-id="{story.draft}"' in initiated
    assert f'data-recall-id="{story.baclofen}"' not in initiated
    # FDA's recall of 2021 is still ongoing: every clock of local policy has run out.
    ongoing = regulator.get("/recalls/manage?state=in_progress&source=openfda").text
    assert story.imported_number in ongoing
    assert "overdue since" in part(ongoing, story.imported_number, "</tr>")
    assert regulator.get("/recalls/manage?state=lost").status_code == 422


def test_the_recall_page_shows_products_lots_class_strategy_reach_and_history(
        world: World, app: FastAPI, story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    page = regulator.get(f"/recalls/manage/{story.baclofen}")
    assert page.status_code == 200
    body = page.text
    assert "Class II: temporary or reversible harm" in body
    assert "MO-001 (exp. 2031-12-31)" in body
    assert "depth retail" in body
    # Phil's pharmacy holds the lot and gave it to one patient.
    on_hand = phils_units(world)
    assert (f"1 stored lot match; 1 pharmacy hold {on_hand} units; 1 dispensed them to 1 "
            "patient") in text(part(body, 'id="reach-title"'))
    history = part(body, 'id="history-title"')
    for who, why in (("mo-manufacturer", "we recall the lot ourselves"),
                     ("rita-regulator", "health-hazard evaluation"),
                     ("rita-regulator", "in this week&#39;s enforcement report"),
                     ("mo-manufacturer", "letters to our accounts")):
        assert who in history, who
        assert why in history, why
    assert world.ids["cared"] not in body  # patients are counted, never named here
    assert "Your next step" not in body  # the regulator has nothing to do while notifying
    firm = log_in(app, "mo-manufacturer").get(f"/recalls/manage/{story.baclofen}").text
    assert 'data-step="report_progress"' in firm


def test_the_firm_and_the_regulator_take_the_steps_from_the_page(world: World,
                                                                 app: FastAPI) -> None:
    recall_id = mo_recall(world).summary.id
    firm, regulator = log_in(app, "mo-manufacturer"), log_in(app, "rita-regulator")

    def take(client: TestClient, **fields: str) -> None:
        reply = client.post(f"/recalls/manage/{recall_id}/steps", follow_redirects=False,
                            data={"csrf_token": csrf_of(client), **fields})
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == f"/recalls/manage/{recall_id}"

    take(firm, transition="triage", reason="confirmed by a second assay")
    take(firm, transition="initiate", reason="our own recall")
    take(regulator, transition="classify", classification="III", reason="no harm expected")
    take(firm, transition="set_strategy", depth="wholesale", public_warning="none",
         effectiveness_check="D", reason="wholesale only")
    page = firm.get(f"/recalls/manage/{recall_id}").text
    assert "Strategy set" in part(page, 'class="lead"', "</p>")
    assert "Class III" in page
    assert "depth wholesale" in page
    assert "confirmed by a second assay" in part(page, 'id="history-title"')


def test_a_step_by_the_wrong_role_is_refused_with_the_workflows_message(
        world: World, app: FastAPI, story: Story) -> None:
    firm = log_in(app, "mo-manufacturer")
    reply = firm.post(f"/recalls/manage/{story.draft}/steps",
                      data={"csrf_token": csrf_of(firm), "transition": "classify",
                            "classification": "I", "reason": "we classify it ourselves"})
    assert reply.status_code == 409
    with pytest.raises(InvalidTransition) as refused:
        workflow.step("initiated", "recall", "classify", "firm")
    assert str(escape(refused.value.message)) in reply.text
    assert "only the regulator classifies" in reply.text
    regulator = log_in(app, "rita-regulator")
    reply = regulator.post(f"/recalls/manage/{story.baclofen}/steps",
                           data={"csrf_token": csrf_of(regulator),
                                 "transition": "complete", "reason": "done"})
    assert reply.status_code == 409
    assert "only the firm declares its recall complete" in reply.text
    with world.container.uow() as uow:  # nothing moved
        assert service.read_recall(uow, world.principals["alice-admin"],
                                   story.draft).summary.state == "initiated"


def test_a_step_without_its_reason_or_token_is_refused(app: FastAPI, story: Story) -> None:
    firm = log_in(app, "mo-manufacturer")
    reply = firm.post(f"/recalls/manage/{story.baclofen}/steps",
                      data={"csrf_token": csrf_of(firm), "transition": "report_progress",
                            "as_of": "2026-01-10", "reason": ""})
    assert reply.status_code == 422
    assert "Reason: String should have at least 1 character" in reply.text
    forged = firm.post(f"/recalls/manage/{story.baclofen}/steps",
                       data={"transition": "complete", "reason": "forged"})
    assert forged.status_code == 403


@pytest.mark.parametrize("path", ["/recalls/manage", "/investigations"])
def test_patients_clinicians_and_visitors_never_see_the_desk_or_the_investigations(
        app: FastAPI, story: Story, path: str) -> None:
    for username in ("pat-patient", "phil-pharmacist", "dora-physician"):
        client = log_in(app, username)
        assert client.get(path).status_code == 403, username
        assert 'href="/recalls/manage"' not in client.get("/home").text
    patient = log_in(app, "pat-patient")
    assert patient.get(f"/recalls/manage/{story.baclofen}").status_code == 403
    assert patient.get(f"/investigations/{story.investigation}").status_code == 403
    anonymous = visitor(app)
    reply = anonymous.get(path, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/login")
    assert anonymous.post(f"/recalls/manage/{story.baclofen}/steps",
                          data={"transition": "complete", "reason": "x"}).status_code == 403


# -- the pharmacy ------------------------------------------------------------------------------

def test_a_pharmacy_sees_only_the_recalls_that_concern_it_and_only_its_patients(
        world: World, app: FastAPI, story: Story) -> None:
    phil = log_in(app, "phil-pharmacist").get("/pharmacy/recalls")
    assert phil.status_code == 200
    recalls = re.findall(r'data-recall="([^"]+)"', phil.text)
    # Other tests here start more recalls of MO-001; of the story's, only Mo's is Phil's.
    assert story.baclofen_number in recalls
    assert story.tizanidine_number not in recalls
    assert story.draft_number not in recalls  # initiated only: not open yet
    mine = part(phil.text, f'id="recall-{story.baclofen}"')
    on_hand = phils_units(world)
    stock = part(mine, 'class="affected-stock"', "</table>")
    assert "MO-001" in stock
    assert f"<td>{on_hand}</td>" in stock
    assert "1 patient" in stock
    patients = part(mine, 'class="affected-patients"', "</table>")
    assert world.ids["cared"] in patients
    assert "Dora Physician" in patients
    assert world.ids["other"] not in phil.text
    done = text(part(mine, 'class="done"', "</table>"))
    assert f"{on_hand} units still on hand" in done
    assert "not recorded" in done  # what the store does not hold is said, not invented
    oscar = log_in(app, "oscar-pharmacist").get("/pharmacy/recalls").text
    assert re.findall(r'data-recall="([^"]+)"', oscar) == [story.tizanidine_number]
    assert world.ids["other"] in oscar
    assert "ACME-001" in oscar
    assert world.ids["cared"] not in oscar
    assert "MO-001" not in oscar


def test_a_pharmacy_records_its_response_to_the_notice(world: World, app: FastAPI,
                                                       story: Story) -> None:
    phil = log_in(app, "phil-pharmacist")
    reply = phil.post(f"/pharmacy/recalls/{story.baclofen}/respond", follow_redirects=False,
                      data={"csrf_token": csrf_of(phil),
                            "reason": "lot quarantined, 100000 units to return"})
    assert reply.status_code == 303
    done = text(part(pharmacy_section(phil, story.baclofen), 'class="done"', "</table>"))
    assert "recorded by phil-pharmacist" in done
    assert "lot quarantined, 100000 units to return" in done
    # Oscar's recall is published but the firm is not notifying yet: no response possible.
    oscar = log_in(app, "oscar-pharmacist")
    assert "/respond" not in oscar.get("/pharmacy/recalls").text
    refused = oscar.post(f"/pharmacy/recalls/{story.tizanidine}/respond",
                         data={"csrf_token": csrf_of(oscar), "reason": "early"})
    assert refused.status_code == 409


def test_only_pharmacists_have_a_pharmacy_recall_page(app: FastAPI, story: Story) -> None:
    for username in ("pat-patient", "rita-regulator", "mo-manufacturer"):
        assert log_in(app, username).get("/pharmacy/recalls").status_code == 403, username


# -- the pharmacy's part after the notices: proposals, letters, calls -------------------------

def pharmacy_section(client: TestClient, recall_id: int) -> str:
    """One recall's section of the pharmacy page."""
    return part(client.get("/pharmacy/recalls").text, f'id="recall-{recall_id}"')


def counted(section: str, name: str) -> str:
    found = re.search(rf'data-count="{name}">([^<]+)<', section)
    assert found is not None, name
    return found.group(1)


def only_proposal(section: str) -> int:
    ids = re.findall(r'data-notice="(\d+)"', part(section, 'class="proposals"', "</table>"))
    assert len(ids) == 1, ids
    return int(ids[0])


def test_a_firm_lot_recall_without_an_ndc_reaches_the_pharmacy_that_holds_the_lot(
        world: World, app: FastAPI, story: Story) -> None:
    """Matching rule 6: Mo's recall names lot MO-001 and no NDC; Mo makes the product
    Phil's pharmacy holds that lot of, so the recall is Phil's (and not Oscar's)."""
    with world.container.uow() as uow:
        recall_id = service.create_recall(uow, world.principals["mo-manufacturer"],
                                          NewRecall.model_validate({
                                              "reason_for_recall": "Label mix-up",
                                              "products": [{"description": "Baclofen tablets",
                                                            "lots": [{"number": "MO-001"}]}],
                                              "reason": "found at packing"})).summary.id
    step(world, "mo-manufacturer", recall_id, "triage", "a mix-up is a recall matter")
    step(world, "mo-manufacturer", recall_id, "initiate", "we recall the lot")
    _regulator(world, recall_id, "III")
    _strategy(world, "mo-manufacturer", recall_id)
    step(world, "rita-regulator", recall_id, "publish", "in this week's report")
    phil = log_in(app, "phil-pharmacist").get("/pharmacy/recalls").text
    assert f'id="recall-{recall_id}"' in phil
    assert "MO-001" in part(phil, f'id="recall-{recall_id}"')
    assert f'id="recall-{recall_id}"' not in log_in(app, "oscar-pharmacist").get(
        "/pharmacy/recalls").text


def test_a_pharmacist_declines_a_proposal_only_with_a_reason(world: World, app: FastAPI,
                                                             story: Story) -> None:
    recall_id = recall_at(world, "notifying")  # retail depth: Phil decides about Pat
    phil = log_in(app, "phil-pharmacist")
    section = pharmacy_section(phil, recall_id)
    assert "1 proposal waiting for your decision" in text(section)
    assert counted(section, "declined") == "0"
    notice = only_proposal(section)
    url = f"/pharmacy/recalls/notices/{notice}/decision"
    refused = phil.post(url, data={"csrf_token": csrf_of(phil), "decision": "decline",
                                   "reason": " "})
    assert refused.status_code == 422
    assert "say why this patient is not told" in refused.text
    declined = phil.post(url, follow_redirects=False, data={
        "csrf_token": csrf_of(phil), "decision": "decline", "reason": "moved abroad"})
    assert declined.status_code == 303, declined.text
    assert declined.headers["location"] == f"/pharmacy/recalls#recall-{recall_id}"
    section = pharmacy_section(phil, recall_id)
    assert counted(section, "declined") == "1"
    assert counted(section, "proposed") == "no proposal waiting"
    assert 'class="proposals"' not in section
    again = phil.post(url, data={"csrf_token": csrf_of(phil), "decision": "approve"})
    assert again.status_code == 409
    assert "it was decided already" in again.text


def test_a_pharmacist_approves_a_proposal_prints_the_letter_and_records_the_call(
        world: World, app: FastAPI, story: Story) -> None:
    """Pat has no e-mail address: approved, Pat is told by letter, and Phil's pharmacy
    gets the phone call to make; the call reaching Pat acknowledges the letter. The
    pharmacy's own notice (it has an address now) is acknowledged through its link."""
    address = "dispensary@phil.example.org"
    with world.container.uow() as uow:
        pharmacy = uow.session.get_one(Organisation, world.ids["phil_pharmacy"])
        pharmacy.email = address
        uow.commit()
    recall_id = recall_at(world, "notifying")
    phil = log_in(app, "phil-pharmacist")
    section = pharmacy_section(phil, recall_id)
    cell = text(part(section, 'data-item="notice"', "</tr>"))
    assert "not yet" in cell
    assert "sent 20" in cell
    with world.container.uow() as uow:
        number = service.read_recall(uow, world.principals["alice-admin"],
                                     recall_id).summary.recall_number
        token = uow.session.execute(select(OutboxMessage.ack_token).where(
            OutboxMessage.topic == f"recall:{number}", OutboxMessage.recipient == address)
        ).scalar_one()
    assert visitor(app).post(f"/notices/ack/{token}").status_code == 200
    section = pharmacy_section(phil, recall_id)
    cell = text(part(section, 'data-item="notice"', "</tr>"))
    assert "not yet" not in cell
    assert "acknowledged 20" in cell
    notice = only_proposal(section)
    approved = phil.post(f"/pharmacy/recalls/notices/{notice}/decision",
                         follow_redirects=False,
                         data={"csrf_token": csrf_of(phil), "decision": "approve"})
    assert approved.status_code == 303, approved.text
    section = pharmacy_section(phil, recall_id)
    assert counted(section, "told") == "1"
    assert counted(section, "letters") == "1"
    assert counted(section, "calls-open") == "1 open"
    link = f"/pharmacy/recalls/notices/{notice}/letter.pdf"
    assert f'href="{link}"' in section
    letter = phil.get(link)
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert letter.content.startswith(b"%PDF-")
    tasks = re.findall(r'data-task="(\d+)"', section)
    assert len(tasks) == 1, tasks
    outcome = f"/pharmacy/recalls/tasks/{tasks[0]}/outcome"
    unknown = phil.post(outcome, data={"csrf_token": csrf_of(phil), "outcome": "shouted"})
    assert unknown.status_code == 422
    reached = phil.post(outcome, follow_redirects=False, data={
        "csrf_token": csrf_of(phil), "outcome": "reached", "note": "Pat will call Dr Dora"})
    assert reached.status_code == 303, reached.text
    section = pharmacy_section(phil, recall_id)
    assert counted(section, "calls-open") == "none open"
    assert counted(section, "calls-done") == "1"
    assert "1 acknowledged" in text(part(section, 'data-item="patients"', "</tr>"))
    twice = phil.post(outcome, data={"csrf_token": csrf_of(phil), "outcome": "reached"})
    assert twice.status_code == 409
    assert "by phil-pharmacist" in twice.text


def test_another_pharmacy_cannot_see_or_act_on_a_pharmacys_notices(
        world: World, app: FastAPI, story: Story) -> None:
    recall_id = recall_at(world, "notifying")
    admin = world.principals["alice-admin"]
    with world.container.uow() as uow:
        proposals, _ = notifying.list_proposals(uow, admin, recall_id=recall_id)
    with world.container.uow() as uow:
        notifying.decide_patient_notice(uow, admin, proposals[0].id, notifying.NoticeDecision(
            decision="approve"), catalog=world.container.catalog)
    with world.container.uow() as uow:
        tasks, _ = notifying.list_tasks(uow, admin, recall_id=recall_id)
    notice, task = proposals[0].id, tasks[0].id
    oscar = log_in(app, "oscar-pharmacist")
    assert f'id="recall-{recall_id}"' not in oscar.get("/pharmacy/recalls").text
    assert oscar.get(f"/pharmacy/recalls/notices/{notice}/letter.pdf").status_code == 404
    assert oscar.post(f"/pharmacy/recalls/notices/{notice}/decision", data={
        "csrf_token": csrf_of(oscar), "decision": "decline",
        "reason": "not ours"}).status_code == 404
    assert oscar.post(f"/pharmacy/recalls/tasks/{task}/outcome", data={
        "csrf_token": csrf_of(oscar), "outcome": "reached"}).status_code == 404
    physician = log_in(app, "dora-physician")
    assert physician.get(
        f"/pharmacy/recalls/notices/{notice}/letter.pdf").status_code == 403
    phil = log_in(app, "phil-pharmacist")
    assert phil.get(f"/pharmacy/recalls/notices/{notice}/letter.pdf").status_code == 200


# -- investigations ----------------------------------------------------------------------------

def test_the_investigation_page_shows_the_analysis_committee_votes_and_decision(
        app: FastAPI, story: Story) -> None:
    page = log_in(app, "rita-regulator").get(f"/investigations/{story.investigation}")
    assert page.status_code == 200
    body = page.text
    assert f'href="/signals/{story.signal_id}"' in body
    assert f'href="/cases/{story.case_id}"' in body
    assert f'href="/signals/runs/{story.run_id}"' in body
    assert "<strong class=\"attention\">fail</strong>" in part(body, 'class="lot-tests"')
    assert "patients on long-term oral baclofen" in part(body, 'class="facts hazard"', "</dl>")
    committee = part(body, 'class="committee"', "</table>")
    cells = {name: text(part(committee, f'<tr data-member="{name}">', "</tr>"))
             for name in ("Ada", "Ben", "Cy")}
    assert cells["Ada"].endswith("none yes Yes")
    assert cells["Ben"] == "Ben Baclofen 10 mg: consults for Mo Pharma no —"
    assert cells["Cy"].endswith("none yes No")
    tally = text(part(body, 'data-question="recall"', "</li>"))
    assert "yes 1, no 1, abstain 0 of 2 who may vote (quorum 2): tie" in tally
    assert "Recall lot MO-001 to retail level" in body
    assert "Recall, proposed Class II" in text(part(body, 'class="decision"', "</dd>"))
    assert 'data-step="create_recall"' in body
    history = part(body, 'id="history-title"')
    assert "declared at the first meeting" in history
    assert "mo-manufacturer" in history


def test_the_investigation_list_filters_by_state_and_a_firm_sees_only_its_own(
        world: World, app: FastAPI, story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    decided = regulator.get("/investigations?state=decided").text
    assert f'data-investigation="{story.investigation}"' in decided
    assert f'data-investigation="{story.investigation}"' not in regulator.get(
        "/investigations?state=open").text
    assert regulator.get("/investigations?state=lost").status_code == 422
    with world.container.uow() as uow:
        theirs = investigations.open_investigation(
            uow, world.principals["rita-regulator"], NewInvestigation(
                product="Tizanidine 10 mg", origin="quality_defect", description="cracked",
                reason="inspection finding")).id
    firm = log_in(app, "mo-manufacturer")
    assert f'data-investigation="{theirs}"' not in firm.get("/investigations").text
    assert firm.get(f"/investigations/{theirs}").status_code == 404


def test_an_investigation_is_worked_from_its_pages_to_a_recall(world: World,
                                                              app: FastAPI) -> None:
    firm = log_in(app, "mo-manufacturer")
    opened = firm.post("/investigations", follow_redirects=False, data={
        "csrf_token": csrf_of(firm), "product": "Baclofen 20 mg", "origin": "quality_defect",
        "description": "tablets crumble", "lots": "MO-001\nMO-002", "reason": "complaints"})
    assert opened.status_code == 303, opened.text
    url = opened.headers["location"]
    iid = int(url.rsplit("/", 1)[1])

    def act(action: str, status: int = 303, **fields: str) -> str:
        reply = firm.post(f"{url}/steps", follow_redirects=False, data={
            "csrf_token": csrf_of(firm), "action": action, "reason": f"{action} now",
            **fields})
        assert reply.status_code == status, reply.text
        return reply.text

    act("evaluate_hazard", injuries_occurred="no", exposure_conditions="broken doses",
        populations_at_risk="adults\nchildren", seriousness="moderate", likelihood="likely",
        consequences="under-dosing", proposed_class="II")
    act("refer_to_committee", members="Ada\nBen\nCy", questions="recall: Recall the lots?")
    act("declare_conflict", member="Ben", product="Baclofen 20 mg", nature="shares")
    act("vote", member="Ada", question="recall", choice="yes")
    refused = act("vote", status=403, member="Ben", question="recall", choice="yes")
    assert "Ben declared a conflict on Baclofen 20 mg and may not vote on it" in refused
    act("vote", member="Cy", question="recall", choice="yes")
    act("recommend", recommendation="Recall both lots")
    mistaken = act("decide", status=422, kind="recall", rationale="crumbling",
                   proposed_class="")
    assert "a recall decision proposes a class" in mistaken
    act("decide", kind="recall", rationale="crumbling tablets under-dose",
        proposed_class="II")
    created = firm.post(f"{url}/recall", follow_redirects=False,
                        data={"csrf_token": csrf_of(firm), "reason": "as decided"})
    assert created.status_code == 303, created.text
    recall_page = firm.get(created.headers["location"]).text
    assert "Triaged" in part(recall_page, 'class="lead"', "</p>")
    assert f'href="/investigations/{iid}"' in recall_page
    assert "MO-002" in recall_page


# -- in a real browser -------------------------------------------------------------------------

def test_in_a_browser_the_public_recall_page_and_the_pharmacy_page(
        world: World, app: FastAPI, story: Story) -> None:
    if world.container.engine.dialect.name != "sqlite":
        pytest.skip("the browser walk runs once, on SQLite")
    with serving(app) as base, browser_page(BROWSER_TIMEOUT_MS) as watched:
        page = watched.page
        page.goto(f"{base}/drugs/baclofen")
        page.locator("#recall-status").get_by_role("link",
                                                   name=story.baclofen_number).click()
        page.wait_for_url(f"{base}/recalls/{story.baclofen_number}")
        expect(page.locator("h1")).to_contain_text("Class II recall")
        expect(page.locator("table.lots")).to_contain_text("MO-001")
        expect(page.get_by_role("heading", name="What to do")).to_be_visible()

        page.get_by_role("link", name="Recalls", exact=True).click()
        page.get_by_label("Class").select_option("I")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("table.recalls tbody tr")).to_have_count(1)

        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("phil-pharmacist")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/home")
        page.get_by_role("link", name="Our recalls").click()
        page.wait_for_url(f"{base}/pharmacy/recalls")
        mine = page.locator(f"#recall-{story.baclofen}")  # other tests add recalls of MO-001
        expect(mine.locator("table.affected-patients")).to_contain_text(world.ids["cared"])
        expect(mine.locator("table.affected-stock")).to_contain_text("MO-001")
    assert watched.problems == [], watched.problems
