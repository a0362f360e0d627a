"""What medsafe's FHIR R4 server declares (the CapabilityStatement) and the pure pieces
behind it: the search parameters it takes and refuses, date comparisons over partial
dates, searchset paging links, a recall notice as a Communication, and a decision-support card
the prescriber acted on as a DetectedIssue. No I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.operationoutcome import OperationOutcome

from medsafe.interop.fhir.capability import INTERACTIONS, capability_statement
from medsafe.interop.fhir.communication import NoticeFacts, to_communication
from medsafe.interop.fhir.detected_issue import CardFacts, FeedbackFacts, to_detected_issue
from medsafe.interop.fhir.search import (
    MAX_COUNT,
    SEARCH_PARAMS,
    DateRange,
    SearchRefused,
    date_matches,
    parse_date,
    parse_search,
    refusal,
    searchset,
)
from medsafe.recalls.patient_notices import OwnNotice

BASE = "https://medsafe.example/fhir"


def declared(resources: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    statement = capability_statement(BASE, resources)
    CapabilityStatement.model_validate(statement)
    return {r["type"]: r for r in statement["rest"][0]["resource"]}


# -- the CapabilityStatement -------------------------------------------------------------------

def test_the_statement_is_valid_r4_for_fhir_4_0_1_served_as_json_by_this_instance() -> None:
    statement = capability_statement(BASE, ("AdverseEvent", "Communication"))
    parsed = CapabilityStatement.model_validate(statement)
    assert (parsed.fhirVersion, parsed.kind, parsed.format, parsed.status) == \
        ("4.0.1", "instance", ["json"], "active")
    assert statement["rest"][0]["mode"] == "server"
    assert statement["implementation"]["url"] == BASE


def test_only_the_resources_served_are_declared() -> None:
    assert set(declared(("AdverseEvent", "Communication"))) == {"AdverseEvent",
                                                                 "Communication"}
    assert "DetectedIssue" not in declared(("AdverseEvent",))
    assert "DetectedIssue" in declared(tuple(INTERACTIONS))


def test_each_resource_declares_its_interactions_and_the_parameters_the_parser_takes() -> None:
    for name, resource in declared(tuple(INTERACTIONS)).items():
        assert [i["code"] for i in resource["interaction"]] == list(INTERACTIONS[name])
        params = {p["name"]: p["type"] for p in resource.get("searchParam", [])}
        assert params == {p.name: p.type for p in SEARCH_PARAMS[name]}
        for param in params:  # every declared parameter is one the parser accepts
            value = "ge2026-01-01" if params[param] == "date" else "PT-ABCDEFGHJK"
            parse_search(name, [(param, value)])


def test_adverse_event_declares_the_hl7_subject_and_date_and_its_own_patient() -> None:
    params = {p["name"]: p for p in declared(("AdverseEvent",))["AdverseEvent"]["searchParam"]}
    assert params["subject"]["definition"] == \
        "http://hl7.org/fhir/SearchParameter/AdverseEvent-subject"
    assert params["date"]["definition"] == "http://hl7.org/fhir/SearchParameter/AdverseEvent-date"
    assert "definition" not in params["patient"]  # R4 has no AdverseEvent-patient


# -- reading a search --------------------------------------------------------------------------

def test_a_patient_is_named_by_pseudonym_reference_or_absolute_url() -> None:
    for value in ("PT-ABCDEFGHJK", "Patient/PT-ABCDEFGHJK",
                  "https://ehr.example/fhir/Patient/PT-ABCDEFGHJK"):
        assert parse_search("AdverseEvent", [("patient", value)]).patients == \
            frozenset({"PT-ABCDEFGHJK"})


def test_a_subject_that_is_not_a_patient_matches_nothing() -> None:
    assert parse_search("AdverseEvent", [("subject", "Group/1")]).patients == frozenset()


def test_patients_listed_with_commas_match_any_and_repeated_parameters_all() -> None:
    either = parse_search("Communication", [("patient", "PT-A,PT-B")])
    assert either.patients == frozenset({"PT-A", "PT-B"})
    both = parse_search("Communication", [("patient", "PT-A,PT-B"), ("patient", "PT-B")])
    assert both.patients == frozenset({"PT-B"})


def test_count_defaults_and_is_capped_and_offset_is_read() -> None:
    assert parse_search("AdverseEvent", []).count == 20
    capped = parse_search("AdverseEvent", [("_count", "5000"), ("_offset", "40")])
    assert (capped.count, capped.offset) == (MAX_COUNT, 40)


@pytest.mark.parametrize(("pairs", "code"), [
    ([("code", "x")], "not-supported"),
    ([("date", "ge2026-01-01")], "not-supported"),  # Communication has no date here
    ([("patient:identifier", "x")], "not-supported"),
    ([("_format", "xml")], "not-supported"),
    ([("_count", "ten")], "invalid"),
    ([("_offset", "-3")], "invalid"),
    ([("patient", "Patient/not a pseudonym")], "invalid"),
])
def test_what_cannot_be_searched_is_refused_with_its_issue_code(
        pairs: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(SearchRefused) as refused:
        parse_search("Communication", pairs)
    assert refused.value.code == code
    reply = refusal(refused.value)
    OperationOutcome.model_validate(reply)
    assert reply["issue"][0]["code"] == code


# -- dates -------------------------------------------------------------------------------------

def test_a_partial_date_is_the_range_of_days_it_covers() -> None:
    assert DateRange.of("2026") == DateRange(date(2026, 1, 1), date(2027, 1, 1))
    assert DateRange.of("2026-12") == DateRange(date(2026, 12, 1), date(2027, 1, 1))
    assert DateRange.of("2026-02-28") == DateRange(date(2026, 2, 28), date(2026, 3, 1))


@pytest.mark.parametrize(("criterion", "value", "expected"), [
    ("2026-03-14", "2026-03-14", True),
    ("2026-03", "2026-03-14", True),  # March contains the 14th
    ("2026-03-14", "2026-03", False),  # the 14th does not contain March
    ("ne2026-03-14", "2026-03-15", True),
    ("ge2026-03-14", "2026-03-14", True),
    ("ge2026-03-14", "2026-03-13", False),
    ("ge2026-03-14", "2026-03", True),  # March reaches past the 14th
    ("gt2026-03-14", "2026-03-14", False),
    ("le2026-03-14", "2026-03-14", True),
    ("le2026-03-14", "2026-03-15", False),
    ("lt2026-03-14", "2026-03", True),  # March begins before the 14th
    ("sa2026-03", "2026-04-01", True),
    ("sa2026-03", "2026-03-31", False),
    ("eb2026-03", "2026-02-28", True),
    ("eb2026-03", "2026", False),
])
def test_date_prefixes_compare_ranges_as_r4_search_says(
        criterion: str, value: str, expected: bool) -> None:
    assert date_matches([parse_date(criterion)], value) is expected


def test_a_range_is_two_dates_that_must_both_hold_and_no_date_never_matches() -> None:
    first_quarter = [parse_date("ge2026-01-01"), parse_date("le2026-03-31")]
    assert date_matches(first_quarter, "2026-02-10")
    assert not date_matches(first_quarter, "2026-04-01")
    assert not date_matches(first_quarter, None)
    assert date_matches([], None)


# -- searchset paging --------------------------------------------------------------------------

def event(n: int) -> dict[str, Any]:
    return {"resourceType": "Communication", "id": str(n), "status": "completed"}


def links(bundle: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    return {item["relation"]: parse_qs(urlsplit(item["url"]).query) for item in bundle["link"]}


def test_a_middle_page_links_to_itself_the_first_the_previous_and_the_next() -> None:
    search = parse_search("Communication", [("patient", "PT-A"), ("_count", "2"),
                                            ("_offset", "2")])
    page = searchset(search, BASE, [event(3), event(4)], total=5)
    Bundle.model_validate(page)
    assert (page["type"], page["total"]) == ("searchset", 5)
    found = links(page)
    assert {relation: query["_offset"] for relation, query in found.items()} == \
        {"self": ["2"], "first": ["0"], "previous": ["0"], "next": ["4"]}
    assert found["next"]["patient"] == ["PT-A"]
    assert page["entry"][0]["fullUrl"] == f"{BASE}/Communication/3"
    assert page["entry"][0]["search"] == {"mode": "match"}


def test_the_last_page_has_no_next_and_an_empty_one_no_entries() -> None:
    search = parse_search("Communication", [("_count", "2"), ("_offset", "4")])
    last = searchset(search, BASE, [event(5)], total=5)
    assert "next" not in links(last)
    empty = searchset(parse_search("Communication", []), BASE, [], total=0)
    Bundle.model_validate(empty)
    assert "entry" not in empty
    assert set(links(empty)) == {"self", "first"}


# -- a recall notice as a Communication --------------------------------------------------------

def notice(channel: str, *, acknowledged: datetime | None = None) -> OwnNotice:
    return OwnNotice(id=7, recall_id=3, recall_number="MS-2026-0001", medicine="Baclofen 10 mg",
                     lots=["MO-001"], received_on=[date(2026, 11, 1)],
                     subject="Recall of your baclofen", text=["Keep taking it.", "Call us."],
                     sent_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC), channel=channel,
                     acknowledged_at=acknowledged)


def communication(channel: str = "email", delivery: str | None = "pending",
                  delivered_at: datetime | None = None, stop_now: bool = False,
                  acknowledged: datetime | None = None) -> dict[str, Any]:
    resource = to_communication(NoticeFacts(
        notice=notice(channel, acknowledged=acknowledged), pseudonym="PT-ABCDEFGHJK",
        delivery=delivery, delivered_at=delivered_at, stop_now=stop_now))
    Communication.model_validate(resource)
    return resource


def test_an_e_mail_the_outbox_gave_up_on_is_stopped_with_the_reason() -> None:
    dead = communication(delivery="dead")
    assert dead["status"] == "stopped"
    assert "could not be delivered" in dead["statusReason"]["text"]
    assert "sent" not in dead


def test_a_delivered_e_mail_is_completed_and_sent_when_it_was_delivered() -> None:
    at = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    delivered = communication(delivery="delivered", delivered_at=at)
    assert delivered["status"] == "completed"
    assert datetime.fromisoformat(delivered["sent"]) == at


def test_a_letter_is_in_progress_until_the_patient_acknowledges_it() -> None:
    letter = communication("letter", delivery=None)
    assert (letter["status"], letter["medium"][0]["coding"][0]["code"]) == \
        ("in-progress", "MAILWRIT")
    assert datetime.fromisoformat(letter["sent"]) == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    read = communication("letter", delivery=None,
                         acknowledged=datetime(2026, 11, 5, 10, 0, tzinfo=UTC))
    assert read["status"] == "completed"
    assert read["received"].startswith("2026-11-05T10:00:00")


def test_a_recall_that_says_stop_now_is_an_alert_and_otherwise_a_notification() -> None:
    assert communication(stop_now=True)["category"][0]["coding"][0]["code"] == "alert"
    assert communication()["category"][0]["coding"][0]["code"] == "notification"


def test_the_notice_is_about_its_recall_and_carries_its_words() -> None:
    resource = communication()
    assert resource["about"][0]["identifier"] == {"system": "urn:medsafe:recall-number",
                                                  "value": "MS-2026-0001"}
    assert resource["topic"]["text"] == "Recall of your baclofen"
    assert [p["contentString"] for p in resource["payload"]] == ["Keep taking it.",
                                                                 "Call us."]
    assert resource["subject"] == {"reference": "Patient/PT-ABCDEFGHJK"}


# -- a card the prescriber acted on as a DetectedIssue ------------------------------------------

OFFERED: dict[str, Any] = {
    "resourceType": "DetectedIssue", "status": "final",
    "code": {"coding": [{"system": "urn:medsafe:cds-rule", "code": "rule-1"}]},
    "severity": "moderate", "patient": {"reference": "Patient/PT-ABCDEFGHJK"},
    "mitigation": [{"action": {"text": "Shown as card c-1"}}]}


def acted(outcome: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"outcome": outcome, "accepted": (), "reason_system": None,
                              "reason_code": None, "reason_display": None, "comment": None,
                              "at": datetime(2026, 11, 20, 10, 1, tzinfo=UTC)}
    fields.update(changes)
    issue = to_detected_issue(CardFacts(uuid="c-1", service_id="medsafe-order-sign",
                                        detected_issue=OFFERED), FeedbackFacts(**fields))
    DetectedIssue.model_validate(issue)
    return issue


def test_an_override_without_a_reason_says_so_and_keeps_the_offered_issue() -> None:
    issue = acted("overridden")
    assert issue["mitigation"][0] == OFFERED["mitigation"][0]
    assert issue["mitigation"][1]["action"]["text"] == \
        "The prescriber overrode the card: no reason given"
    assert [c["code"] for c in issue["mitigation"][1]["action"]["coding"]] == ["overridden"]
    assert (issue["id"], issue["identifier"][0]["value"]) == ("c-1", "c-1")
    assert issue["author"]["display"] == "medsafe CDS service medsafe-order-sign"


def test_an_override_reason_is_kept_as_the_ehr_coded_it() -> None:
    issue = acted("overridden", reason_system="urn:ehr:reasons", reason_code="benefit",
                  reason_display="Benefit outweighs risk", comment="palliative")
    action = issue["mitigation"][1]["action"]
    assert action["coding"][1] == {"system": "urn:ehr:reasons", "code": "benefit",
                                   "display": "Benefit outweighs risk"}
    assert action["text"] == ("The prescriber overrode the card: Benefit outweighs risk. "
                              "Comment: palliative")
    assert issue["mitigation"][1]["date"].startswith("2026-11-20T10:01:00")


def test_an_accepted_card_names_the_suggestions_taken() -> None:
    issue = acted("accepted", accepted=("s-swap",))
    assert issue["mitigation"][1]["action"]["text"] == \
        "The prescriber accepted the card (suggestions taken: s-swap)"
    assert issue["extension"] == [{
        "url": "https://medsafe.example/fhir/StructureDefinition/cds-outcome",
        "valueCode": "accepted"}]
