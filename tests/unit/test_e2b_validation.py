"""FDA's rejection and warning rules: which are implemented, and that each one fires."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from medsafe.cases.model import (
    CaseReport,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
)
from medsafe.interop.e2b.reader import E2bMessage, read_e2b
from medsafe.interop.e2b.validation import (
    RULES_FILE,
    Problem,
    consistency_rules,
    implemented_rules,
    table_rules,
    validate_batch,
    validate_message,
)
from tests.support.shipped import E2B_EXAMPLES

SHARED = E2B_EXAMPLES
DOCS = Path(__file__).resolve().parents[2] / "docs" / "e2b.md"
TODAY = date(2024, 6, 1)
STAMP = datetime(2024, 4, 2, 12, 0, tzinfo=UTC)


def report() -> CaseReport:
    return CaseReport(
        sender_report_id="US-MEDSAFE-1", worldwide_id="US-MEDSAFE-1",
        first_received=date(2024, 3, 1), latest_received=date(2024, 4, 1),
        sender_organisation="Medsafe Pharma",
        primary_sources=(PrimarySource(qualification="physician", country="US",
                                       regulatory=True),),
        patient=PatientInfo(initials="AB", age=40, age_unit="year", sex="female",
                            birth_date="1984-01-02", medical_history_text="None"),
        reactions=(Reaction(id="r1", verbatim="rash", start="2024-02-01", coded=Coded(
            term="Rash", code="10037844", terminology="MedDRA", version="26.1")),),
        drugs=(Drug(id="d1", role="suspect", product_name="Baclofen", dose_value=10,
                    dose_unit="mg", start="2024-01"),),
        narrative="Rash on baclofen.")


def message(**changes: object) -> E2bMessage:
    base = E2bMessage(batch_id="B-1", batch_sender="SENDER", batch_receiver="ZZFDA",
                      batch_created=STAMP, message_id="US-MEDSAFE-1", sender_id="SENDER",
                      receiver_id="CDER", message_created=STAMP, report_created=STAMP,
                      sender_type="pharmaceutical_company", report=report())
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def with_report(**changes: object) -> E2bMessage:
    return message(report=report().model_copy(update=changes))


def with_patient(**changes: object) -> E2bMessage:
    return with_report(patient=report().patient.model_copy(update=changes))


def with_drug(**changes: object) -> E2bMessage:
    return with_report(drugs=(report().drugs[0].model_copy(update=changes),))


def premarket(receiver: str, **report_changes: object) -> E2bMessage:
    return message(batch_receiver="ZZFDA_PREMKT", receiver_id=receiver,
                   report=report().model_copy(update=report_changes))


def ids(found: Collection[Problem]) -> set[str]:
    return {p.rule_id for p in found}


# rule id -> (a message breaking it, the known cases to validate with)
TRIGGERS: dict[str, tuple[Callable[[], E2bMessage], Collection[str] | None]] = {
    "R0006": (lambda: message(receiver_id="CBER"), None),
    "R0007": (lambda: message(batch_receiver="ZZFDA_PREMKT"), None),
    "R0100": (lambda: message(sender_id="SOMEONE-ELSE"), None),
    "R0111": (lambda: premarket("CDER_IND_EXEMPT_BA_BE"), None),
    "R0112": (lambda: premarket("CDER_IND", report_type="other"), None),
    "W0001": (lambda: premarket("CDER_IND", report_type="study", patient=PatientInfo(
        initials="AGGREGATE", medical_history_text="None")), None),
    "R0101": (lambda: with_report(nullification="nullified", nullification_reason="dup"),
              frozenset()),
    "C.1.11.2": (lambda: with_report(nullification="amended"), None),
    "R0019": (lambda: with_report(primary_sources=(PrimarySource(
        qualification="physician", regulatory=True),)), None),
    "R0020": (lambda: with_report(primary_sources=(PrimarySource(
        country="US", given_name="Ann", regulatory=True),)), None),
    "R0021": (lambda: with_report(primary_sources=(PrimarySource(
        qualification="physician", country="US"),)), None),
    "R0022": (lambda: with_report(sender_organisation=None), None),
    "R0029": (lambda: with_patient(age=None), None),
    "R0030": (lambda: with_patient(age_unit=None), None),
    "R0033": (lambda: with_patient(medical_history=(Coded(
        term="Asthma", code="10003553", terminology="MedDRA"),)), None),
    "R0034": (lambda: with_patient(medical_history=(Coded(
        term="Asthma", terminology="MedDRA", version="26.1"),)), None),
    "R0035": (lambda: with_patient(medical_history_text=None), None),
    "R0041": (lambda: premarket("CDER_IND", report_type="study", reactions=(
        report().reactions[0].model_copy(update={"seriousness": Seriousness(death=True)}),)),
              None),
    "W0005": (lambda: with_report(drugs=(
        Drug(id="d1", role="concomitant", product_name="Metformin"),
        Drug(id="d2", role="suspect", product_name="Baclofen"))), None),
    "R0069": (lambda: with_drug(role="concomitant"), None),
    "R0070": (lambda: premarket("CDER_IND", report_type="study", drugs=(
        Drug(id="d1", role="not_administered", product_name="Placebo"),
        Drug(id="d2", role="suspect", product_name="Baclofen"))), None),
    "R0071": (lambda: premarket("CDER_IND_EXEMPT_BA_BE", report_type="study", drugs=(
        Drug(id="d1", role="concomitant", product_name="Metformin"),)), None),
    "R0075": (lambda: with_drug(dose_unit=None), None),
    "GENERIC-REQUIRED": (lambda: with_report(narrative=None), None),
    "GENERIC-MAX-LENGTH": (lambda: with_drug(manufacturer="M" * 61), None),
    "GENERIC-FUTURE": (lambda: with_report(reactions=(
        report().reactions[0].model_copy(update={"start": "2024-07"}),)), None),
    "GENERIC-PRECISION": (lambda: with_patient(birth_date="1984"), None),
    "MEDSAFE-C.1.5-ORDER": (lambda: with_report(latest_received=date(2024, 2, 1)), None),
    "MEDSAFE-E.i.5-ORDER": (lambda: with_report(reactions=(
        report().reactions[0].model_copy(update={"end": "2024-01"}),)), None),
    "MEDSAFE-G.k.4.r.5-ORDER": (lambda: with_drug(end="2023"), None),
    "MEDSAFE-D.9.1-ORDER": (lambda: with_patient(died_on="1983-12"), None),
}


def test_the_clean_message_breaks_no_rule() -> None:
    assert validate_message(message(), today=TODAY, known_cases={"US-MEDSAFE-1"}) == ()


@pytest.mark.parametrize("rule_id", sorted(TRIGGERS))
def test_rule_fires_on_a_message_that_breaks_it(rule_id: str) -> None:
    build, known = TRIGGERS[rule_id]
    assert rule_id in ids(validate_message(build(), today=TODAY, known_cases=known))


def test_every_implemented_rule_has_a_firing_test() -> None:
    claimed = {r.id for r in implemented_rules()} | {r.id for r in consistency_rules()}
    assert claimed == set(TRIGGERS)


def _csv_rule_ids() -> set[str]:
    """The rule ids straight from FDA's table: error ids, the element of the one rule
    without an id, and the six generic messages."""
    with RULES_FILE.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    found: set[str] = set()
    element = ""
    header = next(i for i, row in enumerate(rows) if row[:1] == ["DATA ELEMENT NUMBER"])
    for row in rows[header + 1:]:
        element = row[0].strip() or element
        if row[5].strip():
            found.add(row[5].strip())
        elif row[3].strip() or row[4].strip():
            found.add(element)
    generic = sum(1 for row in rows[:header] if row[0].startswith("Generic error message"))
    assert generic == 6
    return found


def test_implemented_rule_ids_exist_in_fda_table() -> None:
    table = table_rules()
    specific = _csv_rule_ids()
    assert len(table) == len(specific) + 6
    for rule in implemented_rules():
        assert rule.id in table
        assert rule.id in specific or rule.id.startswith("GENERIC-")
        assert rule.source == "FDA"


def test_consistency_checks_are_not_counted_as_fda_rules() -> None:
    fda = {r.id for r in implemented_rules()}
    assert fda.isdisjoint({r.id for r in consistency_rules()})
    assert all(r.severity == "warning" for r in consistency_rules())


def test_docs_state_the_coverage_the_code_implements() -> None:
    text = DOCS.read_text(encoding="utf-8")
    implemented, total = len(implemented_rules()), len(table_rules())
    assert f"{implemented} of {total}" in text
    for rule in implemented_rules():
        assert re.search(rf"`{re.escape(rule.id)}`", text), rule.id


def test_problem_carries_fda_severity_and_message() -> None:
    [problem] = validate_message(TRIGGERS["R0021"][0](), today=TODAY)
    assert problem.severity == "rejection"
    assert problem.message == "At least one reporter must be provided with C.2.r.5 = 1"
    assert problem.rejects


def test_warnings_do_not_reject() -> None:
    found = validate_message(TRIGGERS["W0005"][0](), today=TODAY)
    assert [(p.rule_id, p.severity, p.rejects) for p in found] == [
        ("W0005", "warning", False)]


def test_generic_messages_name_the_element_and_where() -> None:
    found = validate_message(TRIGGERS["GENERIC-MAX-LENGTH"][0](), today=TODAY)
    [problem] = [p for p in found if p.rule_id == "GENERIC-MAX-LENGTH"]
    assert problem.message == "Maximum length exceeds for tag G.k.3.3"
    assert problem.location == "drug d1"


def test_nullification_is_only_judged_initial_when_the_known_cases_are_given() -> None:
    build, _ = TRIGGERS["R0101"]
    assert "R0101" not in ids(validate_message(build(), today=TODAY))
    assert "R0101" not in ids(validate_message(build(), today=TODAY,
                                               known_cases={"US-MEDSAFE-1"}))


def test_partial_dates_are_compared_at_their_precision() -> None:
    same_month = with_report(reactions=(report().reactions[0].model_copy(
        update={"start": "2024-02-10", "end": "2024-02"}),))
    assert validate_message(same_month, today=TODAY, known_cases={"US-MEDSAFE-1"}) == ()
    this_year = with_report(reactions=(report().reactions[0].model_copy(
        update={"start": "2024"}),))
    assert "GENERIC-FUTURE" not in ids(validate_message(this_year, today=TODAY))


@pytest.mark.parametrize("name", ["FAERS2022Scenario1.xml", "FAERS2022Scenario2.xml",
                                  "FAERS2022Scenario3.xml"])
def test_fda_examples_break_no_implemented_rule(name: str) -> None:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs data/reports/e2b-examples/{name}")
    messages = read_e2b(path.read_bytes(), source_name=name)
    assert validate_batch(messages, today=TODAY) == [()]
