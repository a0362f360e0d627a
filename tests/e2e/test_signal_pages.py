"""The signal pages over HTTP, on SQLite and PostgreSQL, with a real detection run stored
over a real case store: reports of seizures cluster on two baclofen lots among a
background of other reports; a run on the lot axis flags both lots.

The signals table lists and filters them; the run page draws the scatter of EB05 against
N with each candidate linked to its signal; a signal page shows the statistics, the case
series and the trend (by quarter or month, also fetched by htmx); a regulator moves a
signal through its lifecycle from the page, a refutation needs its reason; a
manufacturer reads its own lot's signal but decides nothing; patients and clinicians are
refused. The last test drives the pages in a real browser (Chromium).

One world, one case store and one run per database kind for the whole module; each
lifecycle test works on a signal of its own."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from medsafe.cases.intake import Receipt, store_reports
from medsafe.cases.model import CaseReport
from medsafe.security.principal import SYSTEM
from medsafe.signals import management
from medsafe.signals.management import SignalSummary
from tests.support.case_builder import case_report, reaction
from tests.support.live_server import browser_page, serving
from tests.support.web_client import csrf_of, log_in
from tests.support.world import PASSWORD, World

BACKGROUND_DRUGS = ("Metformin 500 mg", "Lisinopril 10 mg", "Atorvastatin 20 mg",
                    "Sertraline 50 mg", "Omeprazole 20 mg", "Amlodipine 5 mg",
                    "Tizanidine 10 mg", "Ibuprofen 200 mg")
BACKGROUND_EVENTS = ("Nausea", "Headache", "Dizziness", "Rash", "Fatigue", "Diarrhoea",
                     "Insomnia", "Cough", "Somnolence", "Vomiting", "Pruritus", "Arthralgia")
BACKGROUND_CASES = 240
BACKGROUND_DAYS = 365
CLUSTER = {"MO-001": 12, "MO-002": 10}  # seizures on two baclofen lots
OTHER_CLUSTER = 8  # hypotension on a tizanidine lot, the browser's own signal
CLUSTER_FROM = date(2025, 10, 1)
CLUSTER_EVERY = timedelta(days=8)
STORY_FROM = date(2025, 1, 1)
TIMEOUT_MS = 180_000  # the trend fits a prior per period, each some seconds on 2 cores


@dataclass(frozen=True)
class Story:
    run_id: int
    first: SignalSummary  # Baclofen 10 mg lot MO-001 × Seizure
    second: SignalSummary  # Baclofen 10 mg lot MO-002 × Seizure
    third: SignalSummary  # Tizanidine 10 mg lot ACME-001 × Hypotension


def story_reports(world: World) -> list[CaseReport]:
    """A seeded background of one drug and one or two reactions per case over 2025, the
    cluster of seizures on the two baclofen lots from October 2025 into January 2026, and
    one of hypotension on a tizanidine lot. Short on purpose: a trend fits a prior for
    each period from the pair's first report on."""
    rng = random.Random(5)
    reports = []
    for k in range(BACKGROUND_CASES):
        events = rng.sample(BACKGROUND_EVENTS, rng.choice((1, 1, 2)))
        day = STORY_FROM + timedelta(days=rng.randrange(BACKGROUND_DAYS))
        reports.append(case_report(
            f"US-SIGWEB-BG-{k}", received=day,
            product=rng.choice(BACKGROUND_DRUGS), lots=(f"L{rng.randrange(3)}",),
            reactions=tuple(reaction(term, key=f"r{i}") for i, term in enumerate(events))))
    for lot, count in CLUSTER.items():
        reports += [case_report(f"US-SIGWEB-{lot}-{k}",
                                received=CLUSTER_FROM + k * CLUSTER_EVERY,
                                product="Baclofen 10 mg", product_id=world.ids["mo_product"],
                                lots=(lot,), reactions=(reaction("Seizure"),))
                    for k in range(count)]
    reports += [case_report(f"US-SIGWEB-ACME-{k}", received=CLUSTER_FROM + k * CLUSTER_EVERY,
                            product="Tizanidine 10 mg", product_id=world.ids["acme_product"],
                            lots=("ACME-001",), reactions=(reaction("Hypotension"),))
                for k in range(OTHER_CLUSTER)]
    return reports


@pytest.fixture(scope="module")
def story(world: World) -> Story:
    container = world.container
    with container.uow() as uow:
        store_reports(uow, SYSTEM, container.catalog, story_reports(world),
                      Receipt(source="api"))
        uow.commit()
    admin = world.principals["alice-admin"]
    with container.uow() as uow:
        run = management.run_over_case_store(uow, admin, axis="lot")
    found = {}
    for lot, event in (("MO-001", "Seizure"), ("MO-002", "Seizure"),
                       ("ACME-001", "Hypotension")):
        with container.uow() as uow:
            signals, _ = management.list_signals(uow, admin, drug=f"lot {lot}", event=event)
        assert len(signals) == 1, signals
        found[lot] = signals[0]
    return Story(run.id, found["MO-001"], found["MO-002"], found["ACME-001"])


def row_of(page: str, marker: str) -> str:
    """The table row holding `marker` (which may be the row's own start tag)."""
    at = page.index(marker)
    start = at if page.startswith("<tr", at) else page.rindex("<tr", 0, at)
    return page[start:page.index("</tr>", at)]


def cells(row: str) -> list[str]:
    """A table row's cells as text, without their markup."""
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]


def signal_rows(page: str) -> list[str]:
    return re.findall(r'<tr data-signal="(\d+)">', page)


def status_of(world: World, signal_id: int) -> str:
    with world.container.uow() as uow:
        return management.read_signal(uow, world.principals["alice-admin"],
                                      signal_id).signal.status


def step(client: TestClient, signal_id: int, to: str, note: str = "",
         csrf: str | None = None) -> int:
    reply = client.post(f"/signals/{signal_id}/steps", follow_redirects=False,
                        data={"csrf_token": csrf_of(client) if csrf is None else csrf,
                              "to": to, "note": note})
    if reply.status_code == 303:
        assert reply.headers["location"] == f"/signals/{signal_id}"
    return reply.status_code


# -- the table and its filters -----------------------------------------------------------------

def test_the_table_lists_the_lot_signals_with_their_statistics(app: FastAPI,
                                                               story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    page = regulator.get("/signals")
    assert page.status_code == 200
    assert '<a href="/signals">Signals</a>' in page.text  # the menu
    for signal in (story.first, story.second):
        line = row_of(page.text, f'<tr data-signal="{signal.id}">')
        assert (f'<a href="/signals/{signal.id}">Baclofen 10 mg lot '
                f'{signal.drug.rsplit(" ", 1)[1]} × Seizure</a>') in line
        assert "<td>Lot</td>" in line
        assert signal.statistics is not None
        assert f"<td>{int(signal.statistics.n)}</td>" in line
        assert "EB05" in line
        assert f'<a href="/signals/runs/{story.run_id}">' in line
    eb05 = [float(cells(row_of(page.text, f'<tr data-signal="{i}">'))[5])
            for i in signal_rows(page.text)]
    assert eb05 == sorted(eb05, reverse=True)  # highest EB05 first


def test_filters_narrow_the_table_and_say_when_nothing_matches(
        world: World, app: FastAPI, story: Story) -> None:
    admin = log_in(app, "alice-admin")
    by_lot = admin.get("/signals", params={"drug": "LOT mo-002", "event": "seiz"}).text
    assert signal_rows(by_lot) == [str(story.second.id)]
    assert 'value="LOT mo-002"' in by_lot  # what was typed stays in the form
    assert '<a href="/signals">Clear the filters</a>' in by_lot
    both = signal_rows(admin.get("/signals", params={
        "criterion": "EB05", "axis": "lot", "run": str(story.run_id), "min_n": "10"}).text)
    assert set(both) >= {str(story.first.id), str(story.second.id)}
    current = status_of(world, story.first.id)
    assert str(story.first.id) in signal_rows(
        admin.get("/signals", params={"status": current}).text)
    other = "closed" if current != "closed" else "new"
    assert str(story.first.id) not in signal_rows(
        admin.get("/signals", params={"status": other}).text)
    none = admin.get("/signals", params={"min_n": "100000"})
    assert none.status_code == 200
    assert signal_rows(none.text) == []
    assert "No signal matches these filters." in none.text
    assert admin.get("/signals", params={"axis": "ingredient"}).text.count(
        "<tr data-signal=") == 0  # the run was on the lot axis


def test_a_filter_value_that_means_nothing_is_a_mistake_shown_not_ignored(
        app: FastAPI, story: Story) -> None:
    admin = log_in(app, "alice-admin")
    for params in ({"min_n": "ten"}, {"status": "nonsense"}, {"criterion": "ROR"},
                   {"axis": "batch"}, {"run": "-1"}):
        reply = admin.get("/signals", params=params)
        assert reply.status_code == 422, params
    unknown_run = admin.get("/signals", params={"run": "999999"})
    assert unknown_run.status_code == 404


# -- runs and the scatter -----------------------------------------------------------------------

def test_the_run_page_draws_the_scatter_with_each_candidate_linked_to_its_signal(
        app: FastAPI, story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    runs = regulator.get("/signals/runs").text
    line = row_of(runs, f'<tr data-run="{story.run_id}">')
    assert "case store" in line
    assert "converged" in line
    assert 'action="/signals/runs"' in runs  # a regulator may run detection
    page = regulator.get(f"/signals/runs/{story.run_id}")
    assert page.status_code == 200
    text = page.text
    svg = text[text.index("<svg"):text.index("</svg>")]
    assert 'role="img"' in svg
    assert "EB05 = 2" in svg
    for signal in (story.first, story.second):
        assert f'href="/signals/{signal.id}"' in svg
        assert f"{signal.drug} × Seizure: N " in svg  # the tooltip
        assert f'<tr data-signal="{signal.id}">' in text  # the same link in the table
    caption = re.search(r"<figcaption>(.*?)</figcaption>", text, re.S)
    assert caption is not None
    assert "pairs plotted" in caption.group(1)
    assert "with EB05 at or above 2" in caption.group(1)
    highest = re.search(r"The highest EB05 is [0-9.]+, for (.*) \(N \d+\)\.", caption.group(1))
    assert highest is not None
    assert highest.group(1) in {f"{s.drug} × {s.event}"
                                for s in (story.first, story.second, story.third)}


def test_the_safety_team_runs_detection_from_the_runs_page(world: World,
                                                           app: FastAPI) -> None:
    admin = log_in(app, "alice-admin")
    reply = admin.post("/signals/runs", data={"csrf_token": csrf_of(admin),
                                              "axis": "ingredient"}, follow_redirects=False)
    assert reply.status_code == 303
    run_page = admin.get(reply.headers["location"])
    assert run_page.status_code == 200
    assert "<dd>Ingredient</dd>" in run_page.text
    assert "baclofen × Seizure" in run_page.text
    maker = log_in(app, "mo-manufacturer")
    assert 'action="/signals/runs"' not in maker.get("/signals/runs").text
    refused = maker.post("/signals/runs", data={"csrf_token": csrf_of(maker),
                                                "axis": "lot"})
    assert refused.status_code == 403
    assert admin.post("/signals/runs", data={"axis": "lot"}).status_code == 403  # no token


# -- one signal --------------------------------------------------------------------------------

def test_the_signal_page_shows_the_statistics_and_the_case_series(
        app: FastAPI, story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    page = regulator.get(f"/signals/{story.first.id}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Baclofen 10 mg lot MO-001 × Seizure</h1>" in text
    assert "<dt>EBGM [EB05, EB95]</dt>" in text
    assert "EB05 at or above its threshold" in text
    assert f"Cases 1–{CLUSTER['MO-001']} of {CLUSTER['MO-001']}." in text
    series = text[text.index('class="cases case-series"'):]
    assert len(re.findall(r'<tr data-case="\d+">', series)) == CLUSTER["MO-001"]
    assert "US-SIGWEB-MO-001-0" in series
    assert "US-SIGWEB-MO-002" not in series  # the other lot's cases are its own series
    # The trend is computed when asked: by htmx in place, or by a link without JavaScript.
    assert f'hx-get="/signals/{story.first.id}/trend?by=quarter"' in text
    assert f'href="/signals/{story.first.id}?by=month#trend-title"' in text
    assert "<svg" not in text


def test_the_trend_by_month_marks_when_the_lot_was_first_flagged(
        app: FastAPI, story: Story) -> None:
    regulator = log_in(app, "rita-regulator")
    text = regulator.get(f"/signals/{story.first.id}", params={"by": "month"}).text
    assert 'aria-current="page"><strong>By month</strong>' in text
    svg = text[text.index("<svg"):text.index("</svg>")]
    assert "EB05 and IC025 of Baclofen 10 mg lot MO-001 × Seizure by period" in svg
    flagged = re.search(r"first flagged: (\d{4}-\d{2})", svg)
    assert flagged is not None
    assert flagged.group(1) >= "2025-10"  # never before the cluster's first report
    rows = re.findall(r'<tr><th scope="row">(\d{4}-\d{2})</th>', text)
    assert rows[0] == "2025-01"
    assert rows == sorted(rows)
    assert "no report of the pair yet" in row_of(text, '<th scope="row">2025-09</th>')
    assert f"first flagged in {flagged.group(1)}" in text  # the summary says it too


def test_the_trend_part_is_for_htmx_and_a_browser_visiting_it_gets_the_whole_page(
        app: FastAPI, story: Story) -> None:
    # The part itself, swapped in by htmx, is exercised by the browser test below.
    admin = log_in(app, "alice-admin")
    visit = admin.get(f"/signals/{story.second.id}/trend", params={"by": "month"},
                      follow_redirects=False)
    assert visit.status_code == 303
    assert visit.headers["location"] == f"/signals/{story.second.id}?by=month#trend-title"
    assert admin.get(f"/signals/{story.second.id}",
                     params={"by": "week"}).status_code == 422
    assert log_in(app, "pat-patient").get(f"/signals/{story.second.id}/trend", headers={
        "HX-Request": "true"}).status_code == 403


# -- the lifecycle -----------------------------------------------------------------------------

def test_a_regulator_validates_assesses_and_closes_a_signal_from_its_page(
        world: World, app: FastAPI, story: Story) -> None:
    signal = story.first.id
    regulator = log_in(app, "rita-regulator")
    page = regulator.get(f"/signals/{signal}").text
    assert 'name="to" value="validated"' in page
    assert 'name="to" value="refuted"' in page
    assert "No step taken yet" in page
    assert step(regulator, signal, "validated", "cluster on two lots of one maker") == 303
    page = regulator.get(f"/signals/{signal}").text
    assert '<strong class="signal-status">Validated</strong>' in page
    assert 'name="to" value="under_assessment"' in page
    assert step(regulator, signal, "under_assessment") == 303
    assert step(regulator, signal, "closed", "Quality defect of lots MO-001 and MO-002; "
                                             "recall opened.") == 303
    page = regulator.get(f"/signals/{signal}").text
    assert '<strong class="signal-status">Closed</strong>' in page
    assert ("<strong>Conclusion:</strong> Quality defect of lots MO-001 and MO-002; "
            "recall opened.") in page
    assert 'name="to"' not in page  # a closed signal has no next step
    history = page[page.index('class="history"'):]
    history = history[history.index("<tbody>"):history.index("</table>")]
    assert history.count("<tr>") == 3
    assert "New → Validated" in history
    assert "cluster on two lots of one maker" in history
    assert "rita-regulator" in history
    assert "run " in row_of(history, "New → Validated")  # the evidence the decision saw
    assert status_of(world, signal) == "closed"
    assert step(regulator, signal, "validated") == 409  # final


def test_a_refutation_needs_its_reason_and_keeps_what_was_typed_otherwise(
        world: World, app: FastAPI, story: Story) -> None:
    signal = story.second.id
    admin = log_in(app, "alice-admin")
    refused = admin.post(f"/signals/{signal}/steps", data={
        "csrf_token": csrf_of(admin), "to": "refuted", "note": "   "})
    assert refused.status_code == 422
    assert 'class="alert alert-error"' in refused.text
    assert "Refute: state why it is refuted; nothing was changed" in refused.text
    assert status_of(world, signal) == "new"
    assert step(admin, signal, "closed", "skipping ahead") == 409  # not from new
    assert step(admin, signal, "refuted", "<b>same batch</b> as a known excipient issue") \
        == 303
    page = admin.get(f"/signals/{signal}").text
    assert '<strong class="signal-status">Refuted</strong>' in page
    assert "&lt;b&gt;same batch&lt;/b&gt;" in page
    assert "<b>same batch</b>" not in page


def test_a_step_without_the_csrf_token_is_refused(world: World, app: FastAPI,
                                                  story: Story) -> None:
    admin = log_in(app, "alice-admin")
    before = status_of(world, story.second.id)
    assert step(admin, story.second.id, "validated", csrf="") == 403
    assert step(admin, story.second.id, "validated", csrf="forged") == 403
    assert status_of(world, story.second.id) == before


# -- who sees what -----------------------------------------------------------------------------

def test_a_manufacturer_reads_its_own_lots_signal_but_takes_no_step(
        app: FastAPI, story: Story) -> None:
    maker = log_in(app, "mo-manufacturer")
    table = maker.get("/signals")
    assert table.status_code == 200
    assert "Only signals about your own" in table.text
    # MO-001 is one of Mo Pharma's lots in the store; MO-002 was reported but is not.
    assert str(story.first.id) in signal_rows(table.text)
    assert str(story.second.id) not in signal_rows(table.text)
    page = maker.get(f"/signals/{story.first.id}")
    assert page.status_code == 200
    assert 'name="to"' not in page.text
    assert "rita-regulator" not in page.text  # who decided is not named to a maker
    assert maker.get(f"/signals/{story.second.id}").status_code == 404
    assert step(maker, story.first.id, "refuted", "not our problem") == 403


@pytest.mark.parametrize("username", ["pat-patient", "dora-physician", "phil-pharmacist"])
def test_patients_and_clinicians_are_refused_and_get_no_menu_link(
        app: FastAPI, story: Story, username: str) -> None:
    client = log_in(app, username)
    assert 'href="/signals"' not in client.get("/home").text
    for path in ("/signals", "/signals/runs", f"/signals/runs/{story.run_id}",
                 f"/signals/{story.first.id}"):
        assert client.get(path).status_code == 403, path
    assert step(client, story.first.id, "validated") == 403


def test_a_visitor_is_sent_to_log_in_first(app: FastAPI, story: Story) -> None:
    visitor = TestClient(app)
    reply = visitor.get(f"/signals/{story.first.id}", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/login?next=%2Fsignals%2F{story.first.id}"


# -- in a real browser ---------------------------------------------------------------------------

def test_in_a_browser_a_regulator_filters_opens_a_signal_sees_its_trend_and_validates_it(
        world: World, app: FastAPI, story: Story, tmp_path: Path) -> None:
    if world.container.engine.dialect.name != "sqlite":
        pytest.skip("the browser walk runs once, on SQLite")
    with serving(app) as base, browser_page(TIMEOUT_MS) as watched:
        page = watched.page
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("rita-regulator")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/home")

        page.get_by_role("link", name="Signals", exact=True).click()
        page.get_by_label("Drug contains").fill("ACME-001")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("table.signals tbody tr")).to_have_count(1)
        shoot(page, tmp_path, "signals-filtered")

        page.get_by_role("link", name="Tizanidine 10 mg lot ACME-001 × Hypotension").click()
        page.wait_for_url(f"{base}/signals/{story.third.id}")
        # Asked for, the trend is swapped into the page in place (htmx).
        page.locator("#signal-trend").get_by_role("link", name="by quarter").click()
        expect(page.locator("#signal-trend svg")).to_be_visible(timeout=TIMEOUT_MS)
        assert page.url == f"{base}/signals/{story.third.id}"
        expect(page.locator("#signal-trend")).to_contain_text("By month")  # the part only
        expect(page.locator("header.site-header")).to_have_count(1)
        expect(page.locator("#signal-trend figcaption")).to_contain_text(
            "Tizanidine 10 mg lot ACME-001 × Hypotension from 2025-Q1")
        shoot(page, tmp_path, "signal-with-trend")

        page.get_by_label("Note (optional, kept in the history)").first.fill(
            "worth assessing")
        page.get_by_role("button", name="Validate").click()
        page.wait_for_url(f"{base}/signals/{story.third.id}")
        expect(page.locator(".lead .signal-status")).to_have_text("Validated")
        expect(page.locator("table.history")).to_contain_text("worth assessing")

        page.goto(f"{base}/signals/runs/{story.run_id}")
        page.locator(f'svg a[href="/signals/{story.first.id}"]').click()
        page.wait_for_url(f"{base}/signals/{story.first.id}")
        shoot(page, tmp_path, "run-scatter-followed")
    assert watched.problems == [], watched.problems


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
