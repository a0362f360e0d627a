"""A real browser (Debian's Chromium, driven by Playwright) against the real server:
search the medicines with htmx, log in as dora-physician, open her patient, open the
assessment, and read baclofen's suitability and its interaction with oxycodone.

The server is uvicorn in a background thread on 127.0.0.1 and a free port, against a
migrated SQLite database this test seeds. Screenshots go to the test's tmp folder, and
also to tests/e2e/artifacts/ (git-ignored) when MEDSAFE_ARTIFACTS is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from medsafe.api.app import create_app
from medsafe.bootstrap import Container, bootstrap
from medsafe.config import Settings
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import (
    CareRelationship,
    Patient,
    PatientCondition,
    PatientMedication,
    PatientObservation,
)
from tests.support.live_server import browser_page, serving

PASSWORD = "correct horse battery"
PSEUDONYM = "PT-MS00000001"
ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 15_000


def seed(container: Container) -> None:
    """One physician, her patient with multiple sclerosis on oxycodone with an eGFR."""
    with container.uow() as uow:
        patient = Patient(pseudonym=PSEUDONYM, birth_date=date(1978, 5, 14), sex="female",
                          avoid_side_effects=[], synthetic=True, created_at=datetime.now(UTC))
        uow.session.add(patient)
        uow.flush()
        uow.session.add_all([
            PatientCondition(patient_id=patient.id, text="Multiple sclerosis",
                             severity="moderate", active=True),
            PatientMedication(patient_id=patient.id, text="Oxycodone 5 mg tablet",
                              active=True),
            PatientObservation(patient_id=patient.id, kind="egfr", value=52.0,
                               unit="mL/min/1.73m2", observed_on=date(2026, 2, 1)),
        ])
        dora = accounts.create_user(uow, SYSTEM, username="dora-physician", password=PASSWORD,
                                    role="physician", display_name="Dora (physician)")
        uow.session.add(CareRelationship(patient_id=patient.id, physician_id=dora.user_id))
        uow.commit()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The whole app served by uvicorn on a free loopback port; yields its base URL."""
    settings = Settings(environment="test", data_dir=tmp_path,
                        database_url=f"sqlite:///{tmp_path / 'browser.sqlite3'}",
                        cookie_secure=False)  # plain http on 127.0.0.1
    container = bootstrap(settings, migrate=True)
    seed(container)
    try:
        with serving(create_app(container)) as url:
            yield url
    finally:
        container.engine.dispose()


def keep(shots: list[Path]) -> None:
    if os.environ.get("MEDSAFE_ARTIFACTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        for shot in shots:
            shutil.copy2(shot, ARTIFACTS / shot.name)


def test_a_physician_logs_in_and_assesses_her_patient(server: str,
                                                      tmp_path: Path) -> None:
    shots_dir = tmp_path / "artifacts"
    shots_dir.mkdir()
    shots: list[Path] = []

    def shoot(page: Page, name: str) -> None:
        path = shots_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with browser_page(TIMEOUT_MS) as watched:
        page = watched.page

        # The public list filters as you type (htmx swaps the results in place).
        page.goto(f"{server}/drugs")
        page.get_by_label("Search by name, brand, condition or tag").fill("zanaflex")
        results = page.locator("#drug-results")
        expect(results).to_contain_text("matching “zanaflex”")
        expect(results.locator("tbody tr")).to_have_count(1)
        expect(results).to_contain_text("Tizanidine")
        assert "q=zanaflex" in page.url  # the address follows the search
        shoot(page, "01-drug-search")

        # One medicine's page: every fact cited, the recall status in its place.
        page.goto(f"{server}/drugs/baclofen")
        expect(page.locator("#recall-status")).to_contain_text("No recall recorded")
        expect(page.locator("#side-effects")).to_contain_text("FDA label, baclofen tablets")
        shoot(page, "02-drug-page")

        page.goto(f"{server}/login")
        page.get_by_label("Username").fill("dora-physician")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server}/home")
        expect(page.locator("h1")).to_contain_text("Welcome, Dora")
        shoot(page, "03-home")

        page.get_by_role("link", name="Patients", exact=True).first.click()
        page.get_by_role("link", name=PSEUDONYM).click()
        page.wait_for_url(f"{server}/patients/{PSEUDONYM}")
        expect(page.locator("h1")).to_contain_text("synthetic")
        expect(page.locator("main")).to_contain_text("Oxycodone 5 mg tablet")
        shoot(page, "04-patient")

        page.get_by_role("link", name="Assess treatment options").click()
        page.wait_for_url(f"{server}/patients/{PSEUDONYM}/assess")
        baclofen = page.locator("#option-baclofen")
        expect(baclofen).to_have_attribute("data-suitability", "avoid")
        expect(baclofen.locator(".option-header .badge")).to_have_text("Avoid")
        interaction = baclofen.locator('li.finding[data-kind="interaction"]').first
        expect(interaction.locator("summary")).to_contain_text("Oxycodone")
        detail = interaction.locator(".finding-body")
        expect(detail).to_be_hidden()
        interaction.locator("summary").click()  # a <details>: opens in place
        expect(detail).to_be_visible()
        expect(detail).to_contain_text("Source:")
        baclofen.scroll_into_view_if_needed()
        shoot(page, "05-assessment")
    keep(shots)
    assert watched.problems == [], watched.problems
