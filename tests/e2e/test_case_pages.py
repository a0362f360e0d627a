"""The case pages over HTTP, on SQLite and PostgreSQL: a patient reports a side effect in
plain words and the safety team finds it coded in its inbox; a clinician reports with the
fuller form; a manufacturer sees only its own products' cases, de-identified; an invalid
case shows why; workflow buttons move a case and refuse a request without its CSRF token.

One world per database kind for the whole module (building it is the slow part); each test
reports its own cases, under its own worldwide ids."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi import FastAPI

from medsafe.cases import service
from medsafe.cases.model import CaseReport, PatientInfo
from medsafe.cases.service import CaseSummary
from medsafe.cases.terminology import LAY_LEXICON
from tests.support.case_builder import case_report, reaction
from tests.support.web_client import csrf_of, log_in
from tests.support.world import World

CASE_ID = re.compile(r'class="case-id">([A-Z]{2}-MEDSAFE-[0-9A-F]{16})<')






def report(world: World, who: str, case: CaseReport) -> CaseSummary:
    with world.container.uow() as uow:
        return service.report_case(uow, world.principals[who], world.container.catalog,
                                   case)


def row_of(page: str, marker: str) -> str:
    """The table row holding `marker`."""
    at = page.index(marker)
    return page[page.rindex("<tr", 0, at):page.index("</tr>", at)]


def plain_form(csrf: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "csrf_token": csrf, "medicine": "Baclofen 10 mg", "lot": "MO-001",
        "what_happened": "I feel sleepy and dizzy", "side_effects": ["muscle_weakness"],
        "started_on": "2026-11-20", "how_it_ended": "getting_better", "age": "52",
        "sex": "female", "country": "US"}
    form.update(changes)
    return form


# -- reporting ---------------------------------------------------------------------------

def test_a_patient_reports_in_plain_words_and_the_admin_finds_it_coded_in_the_inbox(
        app: FastAPI) -> None:
    patient = log_in(app, "pat-patient")
    blank = patient.get("/report")
    assert blank.status_code == 200
    assert "In your own words" in blank.text
    assert "Drowsiness (sleepy during the day)" in blank.text
    assert 'name="sex"' in blank.text
    assert '<option value="female" selected>' in blank.text  # from the patient's record
    sent = patient.post("/report", data=plain_form(csrf_of(patient)))
    assert sent.status_code == 200, sent.text
    assert "Thank you for your report" in sent.text
    found = CASE_ID.search(sent.text)
    assert found is not None
    worldwide_id = found.group(1)
    assert "recorded as <strong>Somnolence</strong>" in sent.text

    admin = log_in(app, "alice-admin")
    inbox = admin.get("/cases", params={"queue": "new"})
    assert inbox.status_code == 200
    line = row_of(inbox.text, worldwide_id)
    assert "Somnolence" in line
    assert "Baclofen 10 mg" in line
    case_link = re.search(r'href="/cases/(\d+)">' + worldwide_id, inbox.text)
    assert case_link is not None
    page = admin.get(f"/cases/{case_link.group(1)}")
    assert page.status_code == 200
    somnolence = row_of(page.text, "<strong>Somnolence</strong>")
    assert "I feel sleepy and dizzy" in somnolence
    assert LAY_LEXICON.replace(">", "&gt;") in somnolence  # the terminology, escaped
    assert "Muscular weakness" in page.text
    assert "MO-001" in page.text
    assert "Consumer or patient" in page.text
    assert "case.initial" in page.text  # the admin reads the audit trail


def test_the_same_form_sent_twice_is_one_case(app: FastAPI) -> None:
    patient = log_in(app, "pat-patient")
    token = re.search(r'name="submission" value="([^"]+)"', patient.get("/report").text)
    assert token is not None
    form = plain_form(csrf_of(patient), submission=token.group(1))
    first, second = patient.post("/report", data=form), patient.post("/report", data=form)
    ids = [CASE_ID.search(reply.text) for reply in (first, second)]
    assert ids[0] is not None
    assert ids[1] is not None
    assert ids[0].group(1) == ids[1].group(1)
    admin = log_in(app, "alice-admin")
    page = admin.get(f"/cases/{ids[0].group(1)}")
    assert page.status_code == 200
    assert page.text.count("case.initial") == 1  # one case, one version
    another = re.search(r'name="submission" value="([^"]+)"', patient.get("/report").text)
    assert another is not None
    assert another.group(1) != token.group(1)  # every form gets a token of its own


def test_a_patient_form_with_mistakes_comes_back_with_them_and_what_was_typed(
        app: FastAPI) -> None:
    patient = log_in(app, "pat-patient")
    reply = patient.post("/report", data=plain_form(
        csrf_of(patient), what_happened="", side_effects=[],
        medicine="Baclofen <b>10</b> mg"))
    assert reply.status_code == 422
    assert 'class="alert alert-error"' in reply.text
    assert "tell us what happened" in reply.text
    assert 'value="Baclofen &lt;b&gt;10&lt;/b&gt; mg"' in reply.text
    assert "<b>10</b>" not in reply.text
    assert 'value="MO-001"' in reply.text
    too_old = patient.post("/report", data=plain_form(csrf_of(patient), age="two hundred"))
    assert too_old.status_code == 422
    assert "Age: Input should be a valid integer" in too_old.text
    future = patient.post("/report", data=plain_form(csrf_of(patient),
                                                     started_on="2999-01-01"))
    assert future.status_code == 422
    assert "When it started: 2999-01-01 is in the future" in future.text


def test_words_medsafe_cannot_code_are_kept_escaped_for_a_person_to_code(
        app: FastAPI) -> None:
    patient = log_in(app, "pat-patient")
    words = "<script>alert(1)</script> my toenails turned blue"
    sent = patient.post("/report", data=plain_form(csrf_of(patient), what_happened=words,
                                                   side_effects=[]))
    assert sent.status_code == 200
    assert "<script>alert(1)</script>" not in sent.text
    assert "&lt;script&gt;" in sent.text
    assert "a member of our safety team will read your words" in sent.text


def test_a_clinician_reports_reactions_drugs_and_causality(app: FastAPI) -> None:
    physician = log_in(app, "dora-physician")
    blank = physician.get("/report")
    assert blank.status_code == 200
    assert 'action="/report/clinician"' in blank.text
    sent = physician.post("/report/clinician", data={
        "csrf_token": csrf_of(physician), "qualification": "physician", "country": "US",
        "initials": "AB", "age": "61", "age_unit": "year", "sex": "male",
        "weight_kg": "80.5", "narrative": "Drowsy after the new pack.",
        "causality": "probable",
        "reaction_term": ["marked drowsiness", "fell over", ""],
        "reaction_onset": ["2026-11-02", "2026-11", ""],
        "reaction_outcome": ["recovering", "recovered", "unknown"],
        "reaction_serious": ["1:hospitalisation"],
        "drug_role": ["suspect", "concomitant", "concomitant"],
        "drug_name": ["Baclofen 10 mg", "Metformin 500 mg", ""],
        "drug_lot": ["MO-001", "", ""], "drug_dose": ["10 mg tds", "", ""],
        "drug_route": ["oral", "", ""], "drug_action": ["withdrawn", "", ""],
        "drug_dechallenge": ["positive", "", ""], "drug_rechallenge": ["", "", ""]})
    assert sent.status_code == 200, sent.text
    assert "Report received" in sent.text
    link = re.search(r'href="/cases/(\d+)">Open the case', sent.text)
    assert link is not None
    page = physician.get(f"/cases/{link.group(1)}").text
    fall = row_of(page, "<th scope=\"row\">fell over</th>")
    assert "<strong>Fall</strong>" in fall
    assert "Hospitalisation" in fall
    assert "Probable/Likely" in page
    assert ">AB<" in page  # the reporter sees their own case identified
    assert "Withdrawn" in page
    assert "Audit trail" not in page  # a physician does not read the audit trail


def test_a_seriousness_box_ticked_on_an_empty_row_is_a_mistake_not_dropped(
        app: FastAPI) -> None:
    pharmacist = log_in(app, "phil-pharmacist")
    reply = pharmacist.post("/report/clinician", data={
        "csrf_token": csrf_of(pharmacist), "qualification": "pharmacist", "age": "40",
        "reaction_term": ["Somnolence", ""], "reaction_onset": ["", ""],
        "reaction_outcome": ["unknown", "unknown"], "reaction_serious": ["1:death"],
        "drug_role": ["suspect"], "drug_name": ["Baclofen 10 mg"]})
    assert reply.status_code == 422
    assert "ticked on reaction row 2, which names no reaction" in reply.text
    assert 'value="Somnolence"' in reply.text


def test_a_patient_may_not_use_the_health_professionals_form(app: FastAPI) -> None:
    patient = log_in(app, "pat-patient")
    assert patient.get("/report", params={"form": "clinician"}).status_code == 403
    reply = patient.post("/report/clinician", data={"csrf_token": csrf_of(patient)})
    assert reply.status_code == 403


# -- the inbox and the case page ----------------------------------------------------------

def test_the_manufacturer_sees_its_case_de_identified_and_not_another_makers(
        world: World, app: FastAPI) -> None:
    own = report(world, "dora-physician", case_report(
        "US-WEB-MO-1", product_id=world.ids["mo_product"]))
    other = report(world, "dora-physician", case_report(
        "US-WEB-ACME-1", product="Tizanidine 10 mg", product_id=world.ids["acme_product"],
        lots=("ACME-001",)))
    maker = log_in(app, "mo-manufacturer")
    page = maker.get(f"/cases/{own.id}")
    assert page.status_code == 200
    text = page.text
    assert "Shown de-identified" in text
    assert "The narrative is withheld" in text
    assert "had a seizure two days after" not in text
    assert "<dt>Initials</dt>" not in text
    assert "1972-03-01" not in text  # the birth date
    assert "Dora" not in text  # the reporter's name
    assert "Audit trail" not in text
    assert 'action="/cases/' in text  # the manufacturer's safety team may process it
    assert maker.get(f"/cases/{other.id}").status_code == 404
    assert maker.get("/cases/US-WEB-ACME-1").status_code == 404
    inbox = maker.get("/cases", params={"queue": "all"}).text
    assert "US-WEB-MO-1" in inbox
    assert "US-WEB-ACME-1" not in inbox


def test_an_invalid_case_shows_its_reasons(world: World, app: FastAPI) -> None:
    invalid = report(world, "dora-physician", case_report("US-WEB-INV-1",
                                                          patient=PatientInfo()))
    admin = log_in(app, "alice-admin")
    inbox = admin.get("/cases", params={"queue": "invalid"}).text
    assert "no identifiable patient" in row_of(inbox, "US-WEB-INV-1")
    page = admin.get(f"/cases/{invalid.id}").text
    assert "no identifiable patient (initials, age or age group, sex or date of birth)" in page
    admin.post(f"/cases/{invalid.id}/steps/accept", data={"csrf_token": csrf_of(admin)})
    page = admin.get(f"/cases/{invalid.id}").text
    assert "Not yet: fix the case&#39;s validity problems first." in page


def test_the_inbox_has_a_tab_per_queue_marks_overdue_and_managers_see_the_workload(
        world: World, app: FastAPI) -> None:
    late = report(world, "dora-physician", case_report("US-WEB-LATE-1"))
    assert late.due_on is not None
    regulator = log_in(app, "rita-regulator")
    page = regulator.get("/cases", params={"queue": "overdue"})
    assert page.status_code == 200
    for queue in service.QUEUES:
        assert f'href="/cases?queue={queue}"' in page.text
    assert 'aria-current="page"' in page.text
    assert "Workload" in page.text
    if late.due_on < date.today():
        assert "overdue" in row_of(page.text, "US-WEB-LATE-1")
    physician = log_in(app, "dora-physician").get("/cases")
    assert physician.status_code == 200
    assert "Workload" not in physician.text
    assert regulator.get("/cases", params={"queue": "nonsense"}).status_code == 422


def test_a_workflow_button_moves_the_case_and_the_trail_records_it(
        world: World, app: FastAPI) -> None:
    case = report(world, "dora-physician", case_report(
        "US-WEB-FLOW-1", reactions=(reaction("Somnolence"),)))
    admin = log_in(app, "alice-admin")
    page = admin.get(f"/cases/{case.id}").text
    assert f'action="/cases/{case.id}/steps/accept"' in page
    moved = admin.post(f"/cases/{case.id}/steps/accept",
                       data={"csrf_token": csrf_of(admin), "reason": "complete enough"},
                       follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/cases/{case.id}"
    page = admin.get(f"/cases/{case.id}").text
    assert '<dd class="case-status">Data entry' in page
    assert f'action="/cases/{case.id}/steps/start_review"' in page
    accept = row_of(page, "case.accept")
    assert "triage → data_entry" in accept
    assert "complete enough" in accept
    again = admin.post(f"/cases/{case.id}/steps/accept", data={"csrf_token": csrf_of(admin)})
    assert again.status_code == 409  # no longer in triage


def test_a_step_or_a_report_without_the_csrf_token_is_refused(
        world: World, app: FastAPI) -> None:
    case = report(world, "dora-physician", case_report("US-WEB-CSRF-1"))
    admin = log_in(app, "alice-admin")
    refused = admin.post(f"/cases/{case.id}/steps/accept", data={}, follow_redirects=False)
    assert refused.status_code == 403
    wrong = admin.post(f"/cases/{case.id}/steps/accept", data={"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert '<dd class="case-status">Triage' in admin.get(f"/cases/{case.id}").text
    patient = log_in(app, "pat-patient")
    assert patient.post("/report", data=plain_form("")).status_code == 403


def test_roles_outside_the_safety_team_get_no_workflow_buttons(
        world: World, app: FastAPI) -> None:
    case = report(world, "dora-physician", case_report("US-WEB-RO-1"))
    regulator = log_in(app, "rita-regulator")
    page = regulator.get(f"/cases/{case.id}").text
    assert "/steps/" not in page
    assert "Audit trail" in page
    assert regulator.post(f"/cases/{case.id}/steps/accept",
                          data={"csrf_token": csrf_of(regulator)}).status_code == 403


@pytest.mark.parametrize(("username", "links_to"), [
    ("pat-patient", "/report"), ("dora-physician", "/report"), ("phil-pharmacist", "/report"),
    ("alice-admin", "/cases"), ("rita-regulator", "/cases"), ("mo-manufacturer", "/cases")])
def test_the_home_page_links_each_role_to_its_case_pages(app: FastAPI, username: str,
                                                         links_to: str) -> None:
    assert f'href="{links_to}"' in log_in(app, username).get("/home").text
