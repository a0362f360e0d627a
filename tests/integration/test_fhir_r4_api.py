"""FHIR R4 over HTTP on a real database (SQLite and PostgreSQL): the CapabilityStatement,
AdverseEvent search by patient and date with paging, recall notices as Communication,
decision-support cards the prescriber acted on as DetectedIssue, and refusals as
OperationOutcome. Every reply is parsed with the R4B models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import BaseModel
from sqlalchemy import select

from medsafe.cases import service as cases
from medsafe.interop.cds_hooks import feedback
from medsafe.interop.cds_hooks.cards import Card
from medsafe.recalls import patient_notices
from medsafe.records import patients
from medsafe.records.patients import ContactDetails, NewCareLink, NewPatient
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import OutboxMessage, Patient, RecallPatientNotice, RecallRow
from medsafe.supply import dispensing
from medsafe.supply.dispensing import NewDispensing
from tests.support.case_builder import case_report, reaction
from tests.support.databases import KINDS
from tests.support.recalls import consumer_recall_notifying
from tests.support.world import World, world_on


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("fhir-r4")) as built:
        yield built


def get(world: World, url: str, role: str | None = "admin") -> Any:
    return world.client.get(url, headers=world.bearer(role) if role else {})


def bundle(reply: Any) -> dict[str, Any]:
    """A searchset reply, checked with the R4B Bundle model and each entry's resource with
    its own model; the JSON, for plain reading."""
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/fhir+json"
    found: dict[str, Any] = reply.json()
    assert Bundle.model_validate(found).type == "searchset"
    for item in found.get("entry", []):
        MODELS[item["resource"]["resourceType"]].model_validate(item["resource"])
    return found


def resources(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["resource"] for item in found.get("entry", [])]


def ids(found: dict[str, Any]) -> list[str]:
    return [str(resource["id"]) for resource in resources(found)]


def link(found: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in found["link"] if item["relation"] == relation),
                None)


def read(world: World, url: str, role: str | None = "admin") -> dict[str, Any]:
    """A read reply, checked with the model of its resource type; the JSON."""
    reply = get(world, url, role)
    assert reply.status_code == 200, reply.text
    resource: dict[str, Any] = reply.json()
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


def outcome(reply: Any, status: int) -> dict[str, Any]:
    """The one issue of an OperationOutcome reply with this status."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/fhir+json"
    OperationOutcome.model_validate(reply.json())
    issue: dict[str, Any] = reply.json()["issue"][0]
    return issue


MODELS: dict[str, type[BaseModel]] = {
    "AdverseEvent": AdverseEvent, "Bundle": Bundle, "Communication": Communication,
    "DetectedIssue": DetectedIssue}


def patient_key(world: World, pseudonym: str) -> int:
    with world.container.uow() as uow:
        return uow.session.execute(
            select(Patient.id).where(Patient.pseudonym == pseudonym)).scalar_one()


def reported(world: World, pseudonym: str | None, *starts: str, by: str = "alice-admin"
             ) -> int:
    """A case about the patient (None: no known patient) with one reaction per start
    date, reported through the case service; its id."""
    n = world.next()
    reactions = tuple(reaction(term, key=f"r{i}", start=start) for i, (term, start) in
                      enumerate(zip(("Seizure", "Somnolence", "Fall"), starts, strict=False),
                                start=1))
    with world.container.uow() as uow:
        stored = cases.report_case(
            uow, world.principals[by], world.container.catalog,
            case_report(f"US-FHIR-R4-{n:04d}", reactions=reactions),
            patient_id=patient_key(world, pseudonym) if pseudonym else None)
    return stored.id


# -- metadata ----------------------------------------------------------------------------------

def test_metadata_is_an_r4_capability_statement_anyone_may_read(world: World) -> None:
    reply = get(world, "/fhir/metadata", role=None)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/fhir+json"
    statement: dict[str, Any] = reply.json()
    CapabilityStatement.model_validate(statement)
    assert (statement["fhirVersion"], statement["kind"], statement["format"]) == \
        ("4.0.1", "instance", ["json"])
    rest = statement["rest"][0]
    assert rest["mode"] == "server"
    declared = {r["type"]: ({i["code"] for i in r["interaction"]},
                            {p["name"]: p["type"] for p in r.get("searchParam", [])})
                for r in rest["resource"]}
    assert declared["AdverseEvent"] == ({"create", "read", "search-type"},
                                        {"patient": "reference", "subject": "reference",
                                         "date": "date"})
    assert declared["Communication"] == ({"read", "search-type"}, {"patient": "reference"})


# -- AdverseEvent search -------------------------------------------------------------------------

def test_searching_by_patient_finds_only_that_patients_events_pointing_at_the_patient(
        world: World) -> None:
    cared, other = world.ids["cared"], world.ids["other"]
    mine = reported(world, cared, "2026-02-10")
    reported(world, other, "2026-02-11")
    found = bundle(get(world, f"/fhir/AdverseEvent?patient={cared}&_count=100"))
    assert str(mine) in ids(found)
    assert {r["subject"]["reference"] for r in resources(found)} == {f"Patient/{cared}"}
    assert found["total"] == len(ids(found))
    entry = next(e for e in found["entry"] if e["resource"]["id"] == str(mine))
    assert entry["search"]["mode"] == "match"
    assert entry["fullUrl"].endswith(f"/fhir/AdverseEvent/{mine}")
    same = bundle(get(world, f"/fhir/AdverseEvent?subject=Patient/{cared}&_count=100"))
    assert same["total"] == found["total"]


def test_a_caller_finds_only_the_cases_the_case_service_lets_them_see(world: World) -> None:
    cared, other = world.ids["cared"], world.ids["other"]
    reported(world, other, "2026-03-01")  # Olga's patient: not Dora's, Pat's or Phil's
    for role in ("physician", "patient", "pharmacist"):
        assert bundle(get(world, f"/fhir/AdverseEvent?patient={other}", role))["total"] == 0
    assert bundle(get(world, f"/fhir/AdverseEvent?patient={other}"))["total"] >= 1
    # A manufacturer may see no patient, so a search by patient finds nothing for it.
    assert bundle(get(world, f"/fhir/AdverseEvent?patient={cared}",
                      "manufacturer"))["total"] == 0
    # The regulator sees every case, de-identified: the patient's initials are withheld.
    reported(world, cared, "2026-03-02")
    seen = bundle(get(world, f"/fhir/AdverseEvent?patient={cared}&_count=100", "regulator"))
    assert seen["total"] >= 1
    for resource in resources(seen):
        contained = {c["id"]: c for c in resource["contained"]}
        assert "name" not in contained["patient"]
    # Without a patient, the physician sees her own patient's cases and no one else's.
    for query in ("_count=100", "date=ge2000&_count=100"):  # found in SQL, and by reading
        everything = bundle(get(world, f"/fhir/AdverseEvent?{query}", "physician"))
        assert resources(everything)
        assert {r["subject"]["reference"] for r in resources(everything)} <= \
            {f"Patient/{cared}", "#patient"}


def test_a_date_range_keeps_only_the_events_that_began_in_it(world: World) -> None:
    cared = world.ids["cared"]
    january = reported(world, cared, "2025-01-15")
    april = reported(world, cared, "2025-04")  # a partial date: the whole of April
    someone_else = reported(world, world.ids["other"], "2025-01-16")
    found = bundle(get(world, f"/fhir/AdverseEvent?patient={cared}"
                              "&date=ge2025-01-01&date=le2025-03-31&_count=100"))
    assert str(january) in ids(found)
    assert str(april) not in ids(found)
    assert str(someone_else) not in ids(found)
    assert {r["subject"]["reference"] for r in resources(found)} == {f"Patient/{cared}"}
    assert all("2025-01-01" <= r["date"] < "2025-04" for r in resources(found))
    in_april = bundle(get(world, f"/fhir/AdverseEvent?patient={cared}&date=2025-04"))
    assert ids(in_april) == [str(april)]
    # 2025-04-10 lies within April, but "April" is not wholly within that day.
    day = bundle(get(world, f"/fhir/AdverseEvent?patient={cared}&date=eq2025-04-10"))
    assert day["total"] == 0


def test_a_case_with_two_reactions_is_two_entries_each_readable_on_its_own(
        world: World) -> None:
    patient = new_patient(world)
    case_id = reported(world, patient, "2026-05-01", "2026-05-03")
    found = bundle(get(world, f"/fhir/AdverseEvent?patient={patient}"))
    assert ids(found) == [f"{case_id}-1", f"{case_id}-2"]
    assert found["total"] == 2
    second = read(world, f"/fhir/AdverseEvent/{case_id}-2")
    assert second["event"]["coding"][0]["display"] == "Somnolence"
    assert read(world, f"/fhir/AdverseEvent/{case_id}")["type"] == "collection"
    missing = outcome(get(world, f"/fhir/AdverseEvent/{case_id}-3"), 404)
    assert missing["code"] == "not-found"
    dated = bundle(get(world, f"/fhir/AdverseEvent?patient={patient}&date=ge2026-05-02"))
    assert ids(dated) == [f"{case_id}-2"]


def test_pages_follow_next_links_until_every_match_was_seen_once(world: World) -> None:
    patient = new_patient(world)
    made = {str(reported(world, patient, f"2026-06-0{day}")) for day in range(1, 6)}
    url: str | None = f"/fhir/AdverseEvent?patient={patient}&_count=2"
    seen: list[str] = []
    pages = 0
    while url is not None:
        page = bundle(get(world, url))
        assert page["total"] == 5
        assert len(ids(page)) <= 2
        assert link(page, "self") is not None
        seen.extend(ids(page))
        url = link(page, "next")
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))
    middle = bundle(get(world, f"/fhir/AdverseEvent?patient={patient}&_count=2&_offset=2"))
    assert parse_qs(urlsplit(link(middle, "previous") or "").query)["_offset"] == ["0"]
    just_total = bundle(get(world, f"/fhir/AdverseEvent?patient={patient}&_count=0"))
    assert (just_total["total"], "entry" in just_total) == (5, False)


def test_count_is_bounded_by_the_server(world: World) -> None:
    page = bundle(get(world, "/fhir/AdverseEvent?_count=100000"))
    assert parse_qs(urlsplit(link(page, "self") or "").query)["_count"] == ["100"]
    assert len(ids(page)) <= 100


@pytest.mark.parametrize(("query", "code", "words"), [
    ("name=x", "not-supported", "no search parameter 'name'"),
    ("patient:missing=true", "not-supported", "modifier"),
    ("date=ap2026-01-01", "not-supported", "'ap'"),
    ("date=2026-13-01", "invalid", "not a calendar date"),
    ("date=yesterday", "invalid", "not a date"),
    ("date=ge2026-01-01T10:00:00Z", "invalid", "not a date"),
    ("_count=-1", "invalid", "whole number"),
    ("patient=", "invalid", "needs a value"),
])
def test_a_search_medsafe_cannot_run_is_a_400_operation_outcome(
        world: World, query: str, code: str, words: str) -> None:
    issue = outcome(get(world, f"/fhir/AdverseEvent?{query}"), 400)
    assert (issue["severity"], issue["code"]) == ("error", code)
    assert words in issue["diagnostics"]


def test_searching_needs_a_signed_in_caller(world: World) -> None:
    assert outcome(get(world, "/fhir/AdverseEvent", role=None), 401)["code"] == "login"


# -- Communication -------------------------------------------------------------------------------

def new_patient(world: World, email: str | None = None) -> str:
    """A patient of Dora and Phil's pharmacy, with an e-mail address when given."""
    with world.container.uow() as uow:
        pseudonym = patients.register_patient(uow, SYSTEM, NewPatient(
            birth_date=date(1970, 1, 1), sex="female", synthetic=True,
            contact=ContactDetails(full_name="Eve Example", email=email))).pseudonym
    for care in (NewCareLink(physician="dora-physician"),
                 NewCareLink(pharmacy_id=world.ids["phil_pharmacy"])):
        with world.container.uow() as uow:
            patients.link_care(uow, SYSTEM, pseudonym, care)
    return pseudonym


def notices_of(world: World, recall_id: int) -> dict[str, int]:
    with world.container.uow() as uow:
        rows = uow.session.execute(
            select(Patient.pseudonym, RecallPatientNotice.id)
            .join(Patient, Patient.id == RecallPatientNotice.patient_id)
            .where(RecallPatientNotice.recall_id == recall_id)).all()
    return {str(pseudonym): int(notice_id) for pseudonym, notice_id in rows}


@pytest.fixture(scope="module")
def recall(world: World) -> dict[str, Any]:
    """A consumer-depth recall of Mo Pharma's lot MO-001: Pat (no e-mail) gets a letter,
    Eve (e-mail, given the lot at Phil's pharmacy) an e-mail."""
    eve = new_patient(world, email=f"eve-{world.next()}@example.org")
    with world.container.uow() as uow:
        dispensing.record_dispensing(uow, world.principals["phil-pharmacist"], NewDispensing(
            patient=eve, lot_id=world.ids["mo_lot"], quantity=30))
    recall_id = consumer_recall_notifying(world)
    with world.container.uow() as uow:
        number = uow.session.execute(select(RecallRow.recall_number)
                                     .where(RecallRow.id == recall_id)).scalar_one()
    notices = notices_of(world, recall_id)
    return {"id": recall_id, "number": number, "eve": eve, "pat": world.ids["cared"],
            "letter": notices[world.ids["cared"]], "email": notices[eve]}


def test_a_letter_to_a_patient_reads_as_an_in_progress_mailed_communication(
        world: World, recall: dict[str, Any]) -> None:
    letter = read(world, f"/fhir/Communication/{recall['letter']}", "patient")
    assert letter["status"] == "in-progress"
    assert letter["medium"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
        "code": "MAILWRIT", "display": "mail"}
    assert letter["category"][0]["coding"][0]["code"] == "notification"  # keep taking it
    assert letter["subject"]["reference"] == f"Patient/{recall['pat']}"
    assert letter["recipient"] == [letter["subject"]]
    assert letter["about"][0]["identifier"]["value"] == recall["number"]
    assert "sent" in letter
    assert "received" not in letter
    assert any("baclofen" in p["contentString"].lower() for p in letter["payload"])


def test_an_e_mail_is_in_progress_until_delivered_and_complete_once_acknowledged(
        world: World, recall: dict[str, Any]) -> None:
    url = f"/fhir/Communication/{recall['email']}"
    queued = read(world, url, "pharmacist")
    assert (queued["status"], queued["medium"][0]["coding"][0]["code"], "sent" in queued) \
        == ("in-progress", "EMAILWRIT", False)
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with world.container.uow() as uow:
        message = uow.session.execute(
            select(OutboxMessage.id).join(
                RecallPatientNotice, RecallPatientNotice.outbox_message_id == OutboxMessage.id)
            .where(RecallPatientNotice.id == recall["email"])).scalar_one()
        uow.outbox.mark_delivered([message], at=at)
        uow.commit()
    delivered = read(world, url, "physician")
    assert delivered["status"] == "completed"
    assert datetime.fromisoformat(delivered["sent"]) == at
    with world.container.uow() as uow:
        patient_notices.acknowledge_mine(uow, world.principals["pat-patient"],
                                         recall["letter"])
    acknowledged = read(world, f"/fhir/Communication/{recall['letter']}", "patient")
    assert acknowledged["status"] == "completed"
    assert "received" in acknowledged


def test_notices_are_searched_by_patient_and_only_by_those_who_care_for_them(
        world: World, recall: dict[str, Any]) -> None:
    mine = bundle(get(world, "/fhir/Communication", "patient"))
    assert str(recall["letter"]) in ids(mine)
    assert {r["subject"]["reference"] for r in resources(mine)} == {f"Patient/{recall['pat']}"}
    eve = bundle(get(world, f"/fhir/Communication?patient={recall['eve']}", "pharmacist"))
    assert (ids(eve), eve["total"]) == ([str(recall["email"])], 1)
    # Pat may not see Eve's notice, not even by asking for it.
    assert bundle(get(world, f"/fhir/Communication?patient={recall['eve']}",
                      "patient"))["total"] == 0
    assert outcome(get(world, f"/fhir/Communication/{recall['email']}", "patient"),
                   404)["code"] == "not-found"
    for role in ("regulator", "manufacturer"):
        refused = outcome(get(world, f"/fhir/Communication?patient={recall['eve']}", role),
                          403)
        assert refused["code"] == "forbidden"
        assert get(world, f"/fhir/Communication/{recall['email']}", role).status_code == 403


def test_an_unknown_communication_is_a_not_found_outcome(world: World) -> None:
    assert outcome(get(world, "/fhir/Communication/999999"), 404)["code"] == "not-found"
    unknown = outcome(get(world, "/fhir/Communication?status=completed"), 400)
    assert unknown["code"] == "not-supported"


# -- DetectedIssue -------------------------------------------------------------------------------

SERVICE = "medsafe-order-sign"


def card_about(world: World, patient_ref: str, *, rule: str = "interaction.cns-depressants"
               ) -> str:
    """A card the order-sign service returned about `patient_ref` (stored as the service
    stores it), with one suggestion; its uuid."""
    uuid = f"00000000-0000-4000-8000-{world.next():012d}"
    issue = {
        "resourceType": "DetectedIssue", "status": "final",
        "code": {"coding": [{"system": "urn:medsafe:cds-rule", "code": rule,
                             "display": "interaction"}],
                 "text": "Baclofen with oxycodone: sedation adds up"},
        "severity": "high", "patient": {"reference": patient_ref},
        "identifiedDateTime": "2026-11-20T10:00:00+00:00",
        "implicated": [{"display": "baclofen 10 mg"}, {"display": "oxycodone"}],
        "detail": "Both depress the central nervous system.",
        "mitigation": [{"action": {"text": f"Shown to the prescriber as medsafe CDS card "
                                           f"{uuid}"},
                        "date": "2026-11-20T10:00:00+00:00"}],
    }
    card = Card(uuid=uuid, rule=rule, indicator="critical",
                summary="Baclofen with oxycodone: sedation adds up", detected_issue=issue,
                suggestion_ids=(f"{uuid}-swap",), document={})
    with world.container.uow() as uow:
        uow.cds.add_cards(SERVICE, f"hook-{uuid}", patient_ref, [card],
                          created_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        uow.commit()
    return uuid


def feedback_on(world: World, uuid: str, outcome: str, **item: Any) -> None:
    with world.container.uow() as uow:
        feedback.record_feedback(uow, SERVICE, {"feedback": [{
            "card": uuid, "outcome": outcome, "outcomeTimestamp": "2026-11-20T10:01:00Z",
            **item}]}, now=datetime(2026, 11, 20, 10, 1, 5, tzinfo=UTC))


def test_an_overridden_card_reads_as_a_detected_issue_with_the_reason(world: World) -> None:
    uuid = card_about(world, f"Patient/{world.ids['cared']}")
    feedback_on(world, uuid, "overridden", overrideReason={
        "reason": {"system": "urn:medsafe:cds-override-reason", "code": "monitored",
                   "display": "Patient is being monitored"},
        "userComment": "sees me weekly"})
    issue = read(world, f"/fhir/DetectedIssue/{uuid}", "physician")
    DetectedIssue.model_validate(issue)
    assert (issue["id"], issue["severity"], issue["patient"]["reference"]) == \
        (uuid, "high", f"Patient/{world.ids['cared']}")
    decided = issue["mitigation"][-1]
    assert [c["code"] for c in decided["action"]["coding"]] == ["overridden", "monitored"]
    assert "Patient is being monitored" in decided["action"]["text"]
    assert "sees me weekly" in decided["action"]["text"]
    assert {"url": "https://medsafe.example/fhir/StructureDefinition/cds-outcome",
            "valueCode": "overridden"} in issue["extension"]


def test_the_latest_feedback_counts_and_an_accepted_card_names_the_suggestion(
        world: World) -> None:
    uuid = card_about(world, f"Patient/{world.ids['cared']}")
    feedback_on(world, uuid, "overridden")
    feedback_on(world, uuid, "accepted", acceptedSuggestions=[{"id": f"{uuid}-swap"}])
    issue = read(world, f"/fhir/DetectedIssue/{uuid}", "pharmacist")
    decided = issue["mitigation"][-1]
    assert decided["action"]["coding"][0]["code"] == "accepted"
    assert f"{uuid}-swap" in decided["action"]["text"]
    assert len(issue["mitigation"]) == 2  # as offered, and the one decision that counts


def test_a_card_nobody_acted_on_is_no_detected_issue(world: World) -> None:
    uuid = card_about(world, f"Patient/{world.ids['cared']}")
    assert outcome(get(world, f"/fhir/DetectedIssue/{uuid}"), 404)["code"] == "not-found"
    found = bundle(get(world, f"/fhir/DetectedIssue?patient={world.ids['cared']}"
                              "&_count=100"))
    assert uuid not in ids(found)


def test_detected_issues_are_searched_by_patient_by_those_who_may_see_the_patient(
        world: World) -> None:
    cared, other = world.ids["cared"], world.ids["other"]
    mine = card_about(world, f"Patient/{cared}")
    theirs = card_about(world, f"Patient/{other}")
    stranger = card_about(world, "Patient/ehr-0042")  # a patient medsafe does not know
    for uuid in (mine, theirs, stranger):
        feedback_on(world, uuid, "overridden")
    for role in ("physician", "pharmacist", "patient"):
        found = bundle(get(world, "/fhir/DetectedIssue?_count=100", role))
        assert mine in ids(found)
        assert {r["patient"]["reference"] for r in resources(found)} == {f"Patient/{cared}"}
        hidden = outcome(get(world, f"/fhir/DetectedIssue/{theirs}", role), 404)
        assert hidden["code"] == "not-found"
    by_patient = bundle(get(world, f"/fhir/DetectedIssue?patient={other}"))
    assert ids(by_patient) == [theirs]
    everything = bundle(get(world, "/fhir/DetectedIssue?_count=100"))
    assert {mine, theirs, stranger} <= set(ids(everything))
    for role in ("regulator", "manufacturer"):
        assert outcome(get(world, "/fhir/DetectedIssue", role), 403)["code"] == "forbidden"
        assert get(world, f"/fhir/DetectedIssue/{mine}", role).status_code == 403


def test_metadata_declares_detected_issue_read_and_search_by_patient(world: World) -> None:
    statement = get(world, "/fhir/metadata", role=None).json()
    resource = next(r for r in statement["rest"][0]["resource"]
                    if r["type"] == "DetectedIssue")
    assert {i["code"] for i in resource["interaction"]} == {"read", "search-type"}
    assert [p["name"] for p in resource["searchParam"]] == ["patient"]
