"""The web pages over HTTP, on SQLite and PostgreSQL: public pages with cited facts, login
and logout with CSRF protection, a home page per role, and patient pages that keep to the
same visibility rules as the API (another's record is a 404; contacts are not shown to a
regulator)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medsafe.api.app import create_app
from medsafe.bootstrap import Container
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import (
    CareRelationship,
    Organisation,
    Patient,
    PatientCondition,
    PatientContact,
    PatientMedication,
    PatientObservation,
)
from tests.support.web_client import csrf_of, log_in, login_token
from tests.support.world import PASSWORD

ANA = "PT-ANA0000001"  # dora-physician's patient, with multiple sclerosis, on oxycodone
BEN = "PT-BEN0000002"  # nobody's patient here but the admin's and the regulator's
ANA_EMAIL = "ana.example@example.org"


def seed(container: Container) -> None:
    """Personas and two patients, written as rows, as the brief for these tests asks."""
    moment = datetime.now(UTC)
    with container.uow() as uow:
        session = uow.session
        pharmacy = Organisation(kind="pharmacy", name="Riverside Pharmacy", country="GB",
                                created_at=moment)
        agency = Organisation(kind="regulator", name="Medicines Agency", country="GB",
                              created_at=moment)
        maker = Organisation(kind="manufacturer", name="Acme Generics", country="US",
                             created_at=moment)
        ana = Patient(pseudonym=ANA, birth_date=date(1974, 2, 20), sex="female",
                      avoid_side_effects=[], synthetic=True, created_at=moment)
        ben = Patient(pseudonym=BEN, birth_date=date(1961, 7, 2), sex="male",
                      avoid_side_effects=[], synthetic=False, created_at=moment)
        session.add_all([pharmacy, agency, maker, ana, ben])
        uow.flush()
        session.add_all([
            PatientCondition(patient_id=ana.id, text="Multiple sclerosis", severity="moderate",
                             active=True),
            PatientMedication(patient_id=ana.id, text="Oxycodone 5 mg tablet", active=True),
            PatientObservation(patient_id=ana.id, kind="egfr", value=48.0,
                               unit="mL/min/1.73m2", observed_on=date(2026, 1, 5)),
            PatientContact(patient_id=ana.id, full_name="Ana Example", email=ANA_EMAIL,
                           phone="+44 20 7946 0000", address="1 Example Street\nLondon"),
            PatientCondition(patient_id=ben.id, text="Spinal cord injury", active=True),
            PatientContact(patient_id=ben.id, full_name="Ben Example",
                           email="ben.example@example.org"),
        ])
        people = [
            ("alice-admin", "admin", None, None),
            ("rita-regulator", "regulator", agency.id, None),
            ("mo-manufacturer", "manufacturer", maker.id, None),
            ("phil-pharmacist", "pharmacist", pharmacy.id, None),
            ("dora-physician", "physician", None, None),
            ("pat-patient", "patient", None, ana.id),
        ]
        created = {}
        for username, role, organisation_id, patient_id in people:
            created[username] = accounts.create_user(
                uow, SYSTEM, username=username, password=PASSWORD, role=role,
                display_name=username.split("-")[0].title(), organisation_id=organisation_id,
                patient_id=patient_id)
        session.add(CareRelationship(patient_id=ana.id,
                                     physician_id=created["dora-physician"].user_id))
        uow.commit()


@pytest.fixture
def app(container: Container) -> FastAPI:
    seed(container)
    return create_app(container)


@pytest.fixture
def visitor(container: Container) -> Iterator[TestClient]:
    """An anonymous browser; public pages need no accounts, so none are seeded."""
    with TestClient(create_app(container)) as client:
        yield client








# -- public pages -------------------------------------------------------------------------------

def test_public_pages_render_without_login(visitor: TestClient) -> None:
    home = visitor.get("/")
    assert home.status_code == 200
    assert 'href="/drugs"' in home.text
    assert 'href="/login"' in home.text
    listing = visitor.get("/drugs")
    assert listing.status_code == 200
    for name in ("Baclofen", "Tizanidine", "Dantrolene"):
        assert name in listing.text


def test_a_medicine_page_cites_every_fact(visitor: TestClient) -> None:
    page = visitor.get("/drugs/baclofen")
    assert page.status_code == 200
    text = page.text
    assert "FDA label, baclofen tablets" in text
    for section in ("Strengths, forms and price", "What it treats", "How it works",
                    "Side effects", "Effects on sleep", "Interactions", "Kidney", "Liver",
                    "Warnings"):
        assert section in text
    assert "0,51 (currency not stated" in text
    assert "drowsiness" in text
    assert "10–63%" in text
    assert "badge unverified" in text  # secondary sources are marked, not hidden
    assert "Recall status" in text
    assert "No recall recorded." in text
    # One citation per run of statements from one source: never fewer than the sections.
    assert text.count('class="cite') >= 20


def test_the_search_filters_medicines_and_answers_htmx_with_a_fragment(
        visitor: TestClient) -> None:
    page = visitor.get("/drugs", params={"q": "zanaflex"})
    assert "Tizanidine" in page.text
    assert "Baclofen" not in page.text
    fragment = visitor.get("/drugs", params={"q": "multiple sclerosis"},
                           headers={"HX-Request": "true", "HX-Request-Type": "partial"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "Baclofen" in fragment.text
    assert "HX-Request" in fragment.headers["vary"]


def test_pages_carry_a_content_security_policy(visitor: TestClient) -> None:
    policy = visitor.get("/drugs").headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_a_medicine_found_by_brand_redirects_to_its_one_address(visitor: TestClient) -> None:
    reply = visitor.get("/drugs/Gablofen", follow_redirects=False)
    assert reply.status_code == 308
    assert reply.headers["location"] == "/drugs/baclofen"


def test_an_unknown_medicine_is_a_404_page(visitor: TestClient) -> None:
    reply = visitor.get("/drugs/no-such-medicine")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "Page not found" in reply.text


def test_a_browser_asking_for_a_missing_page_gets_a_page_and_the_api_keeps_problems(
        visitor: TestClient) -> None:
    page = visitor.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = visitor.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.headers["content-type"] == "application/problem+json"


# -- login, logout and CSRF ---------------------------------------------------------------------

def test_home_requires_login(visitor: TestClient) -> None:
    reply = visitor.get("/home", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Fhome"


def test_a_wrong_password_shows_an_error(app: FastAPI) -> None:
    visitor = TestClient(app)
    reply = visitor.post("/login", data={"username": "dora-physician",
                                         "password": "not the password",
                                         "csrf_token": login_token(visitor)})
    assert reply.status_code == 401
    assert "wrong username or password" in reply.text
    assert "medsafe_session" not in reply.cookies


def test_logging_in_sets_a_protected_session_cookie(app: FastAPI) -> None:
    client = TestClient(app)
    reply = client.post("/login", data={"username": "dora-physician", "password": PASSWORD,
                                        "csrf_token": login_token(client)},
                        follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/home"
    cookie = next(h for h in reply.headers.get_list("set-cookie")
                  if h.startswith("medsafe_session="))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # the test settings turn Secure off (plain http)


def test_the_login_form_refuses_a_post_without_its_token(visitor: TestClient) -> None:
    reply = visitor.post("/login", data={"username": "dora-physician", "password": PASSWORD})
    assert reply.status_code == 403
    assert "medsafe_session" not in reply.cookies


def test_a_login_token_from_another_browser_is_refused(app: FastAPI) -> None:
    attacker, victim = TestClient(app), TestClient(app)
    token = login_token(attacker)
    login_token(victim)  # the victim's own cookie differs from the attacker's token
    reply = victim.post("/login", data={"username": "dora-physician", "password": PASSWORD,
                                        "csrf_token": token})
    assert reply.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(app: FastAPI) -> None:
    client = log_in(app, "dora-physician")
    refused = client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/home", follow_redirects=False).status_code == 200  # still signed in
    wrong = client.post("/logout", data={"csrf_token": "not-the-token"},
                        follow_redirects=False)
    assert wrong.status_code == 403


def test_htmx_requests_may_send_the_csrf_token_as_a_header(app: FastAPI) -> None:
    client = log_in(app, "dora-physician")
    reply = client.post("/logout", headers={"X-CSRF-Token": csrf_of(client)},
                        follow_redirects=False)
    assert reply.status_code == 303
    assert client.get("/home", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(app: FastAPI) -> None:
    client = log_in(app, "dora-physician")
    cookie = client.cookies["medsafe_session"]
    reply = client.post("/logout", data={"csrf_token": csrf_of(client)},
                        follow_redirects=False)
    assert reply.status_code == 303
    assert client.get("/home", follow_redirects=False).status_code == 303
    # The old cookie is dead on the server too, not only forgotten by the browser.
    replay = TestClient(app, cookies={"medsafe_session": cookie})
    assert replay.get("/home", follow_redirects=False).status_code == 303


def test_login_only_returns_to_a_page_on_this_site(app: FastAPI) -> None:
    client = TestClient(app)
    reply = client.post("/login", data={"username": "dora-physician", "password": PASSWORD,
                                        "csrf_token": login_token(client),
                                        "next": "//evil.example/"}, follow_redirects=False)
    assert reply.headers["location"] == "/home"


@pytest.mark.parametrize(("username", "says", "links_to"), [
    ("alice-admin", "You administer this medsafe installation", "/patients"),
    ("rita-regulator", "contact details are never shown to you", "/patients"),
    ("mo-manufacturer", "Patient records are never shown to manufacturers", "/drugs"),
    ("phil-pharmacist", "Riverside Pharmacy", "/patients"),
    ("dora-physician", "the patients in your care", "/patients"),
    ("pat-patient", "See your own record", f"/patients/{ANA}"),
])
def test_each_role_has_its_own_home_page(app: FastAPI, username: str, says: str,
                                         links_to: str) -> None:
    page = log_in(app, username).get("/home")
    assert page.status_code == 200
    assert says.lower() in page.text.lower()
    assert f'href="{links_to}"' in page.text
    assert f"Signed in as <strong>{username}</strong>" in page.text


# -- patient pages ------------------------------------------------------------------------------

def test_a_patient_sees_only_their_own_record(app: FastAPI) -> None:
    client = log_in(app, "pat-patient")
    own = client.get(f"/patients/{ANA}")
    assert own.status_code == 200
    assert "Multiple sclerosis" in own.text
    other = client.get(f"/patients/{BEN}")
    assert other.status_code == 404
    assert BEN not in client.get("/patients").text
    assert client.get("/my-record").url.path == f"/patients/{ANA}"


def test_a_physician_sees_their_patients_and_not_others(app: FastAPI) -> None:
    client = log_in(app, "dora-physician")
    listing = client.get("/patients")
    assert ANA in listing.text
    assert BEN not in listing.text
    assert client.get(f"/patients/{BEN}").status_code == 404
    page = client.get(f"/patients/{ANA}")
    assert "Oxycodone 5 mg tablet" in page.text
    assert "eGFR" in page.text
    assert ANA_EMAIL in page.text  # a carer sees the contact details


def test_contacts_are_hidden_from_a_regulator(app: FastAPI) -> None:
    client = log_in(app, "rita-regulator")
    page = client.get(f"/patients/{ANA}")
    assert page.status_code == 200
    assert ANA_EMAIL not in page.text
    assert "Ana Example" not in page.text
    assert "not shown to your role" in page.text
    assert "1974-02-20" not in page.text  # the birth year only, never the birth date


def test_a_manufacturer_may_not_list_patients(app: FastAPI) -> None:
    reply = log_in(app, "mo-manufacturer").get("/patients")
    assert reply.status_code == 403
    assert reply.headers["content-type"].startswith("text/html")


def test_synthetic_records_are_labelled(app: FastAPI) -> None:
    client = log_in(app, "alice-admin")
    listing = client.get("/patients").text
    row = listing[listing.index(ANA):listing.index("</tr>", listing.index(ANA))]
    assert "synthetic" in row
    real = listing[listing.index(BEN):listing.index("</tr>", listing.index(BEN))]
    assert "synthetic" not in real
    assert "badge synthetic" in client.get(f"/patients/{ANA}").text
    assert "badge synthetic" in client.get(f"/patients/{ANA}/assess").text


def test_the_assess_view_shows_ranked_options_with_findings(app: FastAPI) -> None:
    page = log_in(app, "dora-physician").get(f"/patients/{ANA}/assess")
    assert page.status_code == 200
    text = page.text
    start = text.index('id="option-baclofen"')
    baclofen = text[start:text.index("</li>\n  ", start)]
    assert 'data-suitability="avoid"' in baclofen
    assert 'data-kind="interaction"' in baclofen
    assert "Oxycodone" in baclofen
    assert "respiratory depression" in baclofen
    assert "<details>" in baclofen
    assert "Source:" in baclofen
    assert "eGFR 48" in text


def test_assessing_a_patient_one_may_not_see_is_a_404(app: FastAPI) -> None:
    assert log_in(app, "dora-physician").get(f"/patients/{BEN}/assess").status_code == 404


def test_control_characters_are_refused_before_they_reach_the_database(app: FastAPI) -> None:
    visitor = TestClient(app)
    reply = visitor.post("/login", data={"username": "dora\x00", "password": PASSWORD,
                                         "csrf_token": login_token(visitor)})
    assert reply.status_code == 422
    signed_in = log_in(app, "alice-admin")
    assert signed_in.get("/patients/PT%00X").status_code == 422


def test_a_bad_page_number_is_a_422_page(app: FastAPI) -> None:
    reply = log_in(app, "alice-admin").get("/patients", params={"page": "zero"})
    assert reply.status_code == 422
    assert reply.headers["content-type"].startswith("text/html")
    assert "page" in reply.text
