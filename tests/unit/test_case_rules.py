"""The pure case rules: validity, seriousness, expectedness, the expedited clock,
follow-up significance, version classification and the workflow's transitions."""

from __future__ import annotations

from datetime import date

import pytest

from medsafe.cases.model import Causality, Drug, PatientInfo, PrimarySource, Seriousness
from medsafe.cases.rules import (
    CLOCK_RULES,
    clock_for,
    clock_rule,
    expectedness,
    seriousness_criteria,
    significant_changes,
    validity_problems,
)
from medsafe.cases.versions import classify, content_hash
from medsafe.cases.workflow import after_follow_up, next_status
from medsafe.errors import Conflict, Invalid, InvalidTransition
from medsafe.knowledge.catalog import Catalog
from tests.support.case_builder import case_report, reaction

US = CLOCK_RULES["US"]


def baclofen(**changes: object) -> Drug:
    return Drug.model_validate({"id": "d1", "role": "suspect", "product_name": "Baclofen",
                                "ingredient_id": "baclofen", **changes})


def test_a_complete_report_is_valid() -> None:
    assert validity_problems(case_report()) == []


@pytest.mark.parametrize(("change", "reason"), [
    ({"primary_sources": ()}, "reporter"),
    ({"primary_sources": (PrimarySource(country="US"),)}, "reporter"),
    ({"patient": PatientInfo()}, "patient"),
    ({"drugs": (baclofen(role="concomitant"),)}, "suspect"),
    ({"reactions": ()}, "reaction"),
])
def test_each_missing_minimum_criterion_is_named(change: dict[str, object],
                                                 reason: str) -> None:
    problems = validity_problems(case_report().model_copy(update=change))
    assert len(problems) == 1
    assert reason in problems[0]


def test_a_masked_reporter_known_to_the_sender_is_identifiable() -> None:
    report = case_report().model_copy(update={
        "primary_sources": (PrimarySource(withheld=True),)})
    assert validity_problems(report) == []


def test_seriousness_criteria_are_listed_once_in_e2b_order() -> None:
    first = reaction("Seizure").model_copy(update={"seriousness": Seriousness(
        hospitalisation=True, death=True)})
    second = reaction("Coma", key="r2").model_copy(update={"seriousness": Seriousness(
        life_threatening=True, hospitalisation=True)})
    report = case_report(reactions=(first, second))
    assert seriousness_criteria(report) == ("death", "hospitalisation", "life_threatening")
    assert report.serious


def test_expectedness_uses_the_ingredients_listed_side_effects(catalog: Catalog) -> None:
    report = case_report(reactions=(reaction("Somnolence"), reaction("Seizure", key="r2")))
    report = report.model_copy(update={"drugs": (baclofen(),)})
    verdicts = {v.reaction_id: v.expected for v in expectedness(report, catalog)}
    assert verdicts == {"r1": True, "r2": False}


def test_clock_runs_fifteen_calendar_days_from_day_zero_for_serious_unexpected(
        catalog: Catalog) -> None:
    report = case_report(reactions=(reaction("Seizure"),))
    clock = clock_for(report, catalog, US, day_zero=date(2026, 12, 20))
    assert clock is not None
    assert clock.due == date(2027, 1, 4)  # calendar days, across the year's end


def test_no_clock_for_non_serious_expected_invalid_or_nullified(catalog: Catalog) -> None:
    day = date(2026, 1, 1)
    expected = case_report(reactions=(reaction("Somnolence"),)).model_copy(
        update={"drugs": (baclofen(),)})
    not_serious = case_report(reactions=(reaction("Seizure", serious=False),))
    invalid = case_report().model_copy(update={"primary_sources": ()})
    nullified = case_report(nullification="nullified")
    for report in (expected, not_serious, invalid, nullified):
        assert clock_for(report, catalog, US, day_zero=day) is None


def test_an_unknown_region_is_refused_with_the_known_ones() -> None:
    with pytest.raises(Invalid, match="known: US"):
        clock_rule("XX")


def test_significant_changes_name_what_is_new() -> None:
    before = case_report()
    after = case_report(reactions=(reaction("Seizure"), reaction("Coma", key="r2",
                                                                 outcome="fatal")))
    after = after.model_copy(update={"causality": (Causality(
        drug_id="d1", reaction_id="r1", source="reporter", method="WHO-UMC",
        result="probable"),)})
    assert significant_changes(before, after) == [
        "new reaction: Coma", "outcome now fatal", "causality assessment changed"]
    assert significant_changes(before, before.model_copy(update={"narrative": "typo"})) == []


def test_versions_are_classified_by_content_and_dates() -> None:
    held = case_report(latest=date(2026, 10, 9))
    hashes = frozenset({content_hash(held)})
    assert classify(held, None, frozenset()).kind == "initial"
    assert classify(held, held, hashes).kind == "same"
    newer = case_report(latest=date(2026, 10, 10), narrative="more")
    assert classify(newer, held, hashes).kind == "follow_up"
    retracted = case_report(latest=date(2026, 10, 10), nullification="nullified")
    assert classify(retracted, held, hashes).kind == "nullification"
    with pytest.raises(Conflict, match="earlier"):
        classify(case_report(latest=date(2026, 10, 8), narrative="old"), held, hashes)


def test_workflow_moves_step_by_step_and_names_illegal_steps() -> None:
    status = "triage"
    for step, target in (("accept", "data_entry"), ("start_review", "medical_review"),
                         ("approve", "ready_to_submit"), ("submit", "submitted")):
        status = next_status(status, step, valid=True)
        assert status == target
    with pytest.raises(InvalidTransition, match="only from data_entry"):
        next_status("triage", "start_review", valid=True)
    with pytest.raises(InvalidTransition, match="invalid case"):
        next_status("data_entry", "start_review", valid=False)


def test_a_follow_up_reopens_a_case_except_under_review() -> None:
    assert after_follow_up("submitted") == "triage"
    assert after_follow_up("medical_review") == "medical_review"
