"""Transition plans (care.transitions) and dose texts (care.doses), on plain values: a switch
away from baclofen never stops abruptly, titrations follow the label and the patient's
kidney and liver rules, cross-titrations share one day axis, and nothing is invented."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsafe.assessment.patient import Concept, ConditionEntry, LabResult, PatientRecord
from medsafe.care.doses import ParsedDose, parse_dose
from medsafe.care.model import DoseStep, TransitionPlan
from medsafe.care.transitions import plan_transition, split_taper
from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import TitrationStep

TODAY = date(2026, 11, 26)
CATALOG = Catalog.load()
SWITCH_TARGETS = [None, "tizanidine", "dantrolene", "diazepam", "botulinum-toxin-a"]


def patient(*, crcl: float = 90.0, conditions: tuple[str, ...] = ("Multiple sclerosis",),
            child_pugh: str | None = None) -> PatientRecord:
    labs = [LabResult("crcl", crcl), LabResult("alt", 20.0, upper_limit=40.0)]
    if child_pugh:
        labs.append(LabResult("child-pugh", None, category=child_pugh))
    return PatientRecord(id="p", birth_date=date(1975, 1, 1),
                         conditions=tuple(ConditionEntry(Concept(text=c)) for c in conditions),
                         labs=tuple(labs))


def from_baclofen(dose: str | None, to: str | None, record: PatientRecord | None = None,
                  catalog: Catalog = CATALOG) -> TransitionPlan:
    return plan_transition(catalog, from_ingredient="baclofen", current_dose_text=dose,
                           to_ingredient=to, patient=record or patient(), today=TODAY)


def assert_never_abrupt(plan: TransitionPlan) -> None:
    """Either the prescriber writes the taper, or the plan ends with a stop after at least
    two steps whose daily dose never rises."""
    if plan.needs_prescriber_steps:
        assert not plan.stop or plan.stop[-1].stop
        return
    *steps, last = plan.stop
    assert last.stop
    assert len(steps) >= 2
    daily = [s.daily_mg for s in steps]
    assert all(d is not None for d in daily)
    assert daily == sorted(daily, reverse=True)  # type: ignore[type-var]


def contiguous(steps: tuple[DoseStep, ...]) -> bool:
    return all(b.day == a.day + a.days for a, b in pairwise(steps)
               if a.days is not None)


# -- doses ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "dose_mg", "times"), [
    ("10 mg three times daily", 10, 3),
    ("20 mg four times daily", 20, 4),
    ("5 mg TID", 5, 3),
    ("2 mg every 8 hours", 2, 3),
    ("10 mg twice a day", 10, 2),
    ("5 mg at night", 5, 1),
    ("1.5 g four times daily", 1500, 4),
    ("10mg tds", 10, 3),
    ("5 mg b.i.d.", 5, 2),
    ("1000 mg (two 500 mg tablets) four times daily", 1000, 4),
])
def test_dose_texts_are_read_into_dose_and_frequency(text: str, dose_mg: float, times: int
                                                     ) -> None:
    assert parse_dose(text) == ParsedDose(dose_mg=dose_mg, times_per_day=times)


@pytest.mark.parametrize("text", [
    None, "", "10 mg", "as directed", "2 mg to 10 mg, 3 or 4 times daily",
    "2 mg every 6 to 8 hours as needed", "10 mg every 5 hours",
    "10 mg three times daily at night", "5 mg/5 mL, 10 mL three times daily",
    "10 mg tablets, 2 tablets three times daily", "1,000 mg twice daily",
    "10 mg (20 mg on bad days) three times daily", "25 mg three times daily then 20 mg",
    "200 units intramuscularly every 12 weeks",
])
def test_a_dose_text_that_does_not_state_one_dose_and_one_frequency_is_not_guessed(
    text: str | None,
) -> None:
    assert parse_dose(text) is None


# -- away from baclofen -------------------------------------------------------------------


@pytest.mark.parametrize("to", SWITCH_TARGETS)
@pytest.mark.parametrize("dose", ["5 mg three times daily", "10 mg three times daily",
                                  "20 mg four times daily", "25 mg twice daily",
                                  "5 mg once daily", "7.5 mg three times daily", "as directed",
                                  None])
def test_a_switch_away_from_baclofen_never_stops_abruptly(dose: str | None, to: str | None
                                                          ) -> None:
    plan = from_baclofen(dose, to)
    assert plan.kind in ("taper", "cross-titration")
    assert_never_abrupt(plan)
    assert any("abrupt" in c.lower() for c in plan.cautions)


def test_the_baclofen_taper_spreads_the_cited_period_and_says_the_split_is_medsafes() -> None:
    plan = from_baclofen("20 mg four times daily", None)
    assert plan.kind == "taper"
    assert not plan.needs_prescriber_steps
    assert [(s.dose_mg, s.times_per_day) for s in plan.stop[:-1]] == [
        (15, 4), (10, 4), (5, 4), (5, 3), (5, 2), (5, 1)]
    assert plan.stop[0].day == 0
    assert plan.stop[-1].day == 21  # the Swiss label's "about 3 weeks"
    assert plan.days == 21
    assert contiguous(plan.stop)
    assert any("Swissmedic" in s for s in plan.sources)
    assert any("medsafe's arithmetic, not the source's" in d for d in plan.derived)
    assert any("not recalled" in c for c in plan.cautions)


def test_a_dose_with_fewer_than_two_lower_steps_goes_to_the_prescriber() -> None:
    # 5 mg once daily is already one 5 mg tablet a day: no whole-strength step below it.
    plan = from_baclofen("5 mg once daily", "dantrolene")
    assert plan.needs_prescriber_steps
    assert plan.stop == ()
    assert plan.kind == "cross-titration"


@pytest.mark.parametrize("dose", ["as directed", "", None, "10 mg (20 mg if worse) TID"])
def test_an_unreadable_dose_needs_prescriber_steps_and_quotes_the_label(dose: str | None
                                                                        ) -> None:
    plan = from_baclofen(dose, "tizanidine")
    assert plan.needs_prescriber_steps
    assert plan.stop == ()
    baclofen = CATALOG.ingredients["baclofen"]
    assert baclofen.discontinuation is not None
    assert any(baclofen.discontinuation.text in c for c in plan.cautions)
    assert any("could not read the current dose" in c for c in plan.cautions)


def test_an_intrathecal_baclofen_taper_is_left_to_the_prescriber() -> None:
    plan = plan_transition(CATALOG, from_ingredient="baclofen",
                           current_dose_text="10 mg three times daily", to_ingredient=None,
                           patient=patient(), today=TODAY, from_route="intrathecal")
    assert plan.needs_prescriber_steps
    assert plan.stop == ()


# -- towards the new medicine -------------------------------------------------------------


def test_tizanidine_for_crcl_below_25_carries_the_cited_renal_text_and_holds_increases(
) -> None:
    plan = from_baclofen("10 mg three times daily", "tizanidine", patient(crcl=20.0))
    rule = CATALOG.ingredients["tizanidine"].renal[0]
    assert rule.dose is not None
    assert any(rule.dose in a and rule.source.cite() in a for a in plan.adjustments)
    assert rule.source.cite() in plan.sources
    first, *later = plan.start
    assert first.dose_mg == 2  # the label's start dose, kept
    assert first.days is None  # until the prescriber reviews
    assert later
    assert all(s.days is None for s in later)
    assert all((s.note or "").startswith("only after review (kidney/liver rule)") for s in later)
    assert any("waits for the prescriber's review" in d for d in plan.derived)


def test_tizanidine_with_normal_kidneys_follows_the_label_without_holds() -> None:
    plan = from_baclofen("10 mg three times daily", "tizanidine", patient(crcl=90.0))
    assert plan.adjustments == ()
    assert all("only after review" not in (s.note or "") for s in plan.start)
    assert plan.start[0].dose_mg == 2


def test_dantrolene_titration_is_the_labels_schedule_from_day_0() -> None:
    plan = from_baclofen("10 mg three times daily", "dantrolene")
    regimen = next(d for d in CATALOG.ingredients["dantrolene"].dosing if d.route == "oral")
    assert [(s.dose_mg, s.times_per_day, s.days) for s in plan.start] == [
        (t.dose_mg, t.times_per_day, t.days) for t in regimen.titration]
    assert regimen.source.cite() in plan.sources


def test_cross_titration_days_line_up() -> None:
    plan = from_baclofen("10 mg three times daily", "dantrolene")
    assert plan.kind == "cross-titration"
    assert plan.stop[0].day == plan.start[0].day == 0
    assert contiguous(plan.stop)
    assert contiguous(plan.start)
    taper_end = plan.stop[-1].day
    assert taper_end == 21
    # While the taper runs, the old daily dose goes down as the new one goes up.
    old = [s.daily_mg or 0.0 for s in plan.stop[:-1]]
    new = [s.daily_mg for s in plan.start if s.daily_mg is not None]
    assert old == sorted(old, reverse=True)
    assert new == sorted(new)
    assert any("start on day 0" in d for d in plan.derived)


def test_the_interaction_while_both_are_taken_is_a_cited_caution() -> None:
    plan = from_baclofen("10 mg three times daily", "diazepam")
    overlap = [c for c in plan.cautions if "both are taken" in c]
    assert len(overlap) == 1
    assert "diazepam tablets" in overlap[0]
    assert any("Drug Interactions" in s for s in plan.sources)


def test_a_rule_that_makes_the_new_medicine_unsafe_is_refused() -> None:
    # Dantrolene is contraindicated in active liver disease: such an option is critical
    # upstream and never proposed; asking for its plan is an error, not a plan.
    with pytest.raises(Invalid, match="not a safe choice"):
        from_baclofen("10 mg three times daily", "dantrolene",
                      patient(conditions=("Multiple sclerosis", "Active liver disease")))


def test_the_same_medicine_needs_no_transition() -> None:
    assert from_baclofen("10 mg three times daily", "baclofen") == TransitionPlan(kind="none")


def test_a_medicine_without_withdrawal_guidance_stops_on_day_0_and_says_so() -> None:
    plan = plan_transition(CATALOG, from_ingredient="dantrolene",
                           current_dose_text="25 mg three times daily",
                           to_ingredient="baclofen", patient=patient(), today=TODAY)
    assert plan.kind == "titration"
    assert plan.stop == (DoseStep(day=0, days=None, medicine="dantrolene",
                                  text="Stop Dantrolene", stop=True),)
    assert any("no statement on stopping" in c for c in plan.cautions)


def test_cited_numeric_taper_steps_win_over_the_period() -> None:
    # A test catalog whose baclofen carries invented numeric taper steps (not clinical
    # data: it only exercises the rule that a source's own steps come first).
    baclofen = CATALOG.ingredients["baclofen"]
    assert baclofen.discontinuation is not None
    steps = (TitrationStep(dose_mg=10, times_per_day=3, days=5),
             TitrationStep(dose_mg=5, times_per_day=3, days=5),
             TitrationStep(dose_mg=5, times_per_day=1, days=4))
    changed = baclofen.model_copy(update={
        "discontinuation": baclofen.discontinuation.model_copy(update={"taper": steps})})
    catalog = Catalog([changed if i.id == "baclofen" else i
                       for i in CATALOG.ingredients.values()],
                      CATALOG.classes.values(), CATALOG.conditions.values())
    plan = from_baclofen("20 mg three times daily", None, catalog=catalog)
    assert [(s.dose_mg, s.times_per_day, s.day, s.days) for s in plan.stop[:-1]] == [
        (10, 3, 0, 5), (5, 3, 5, 5), (5, 1, 10, 4)]
    assert plan.stop[-1].stop
    assert plan.stop[-1].day == 14
    assert plan.derived == ()  # the source's steps: nothing of medsafe's own
    assert_never_abrupt(plan)


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(units=st.integers(1, 40), times=st.integers(1, 6),
       unit_mg=st.sampled_from([0.5, 1.0, 2.0, 2.5, 4.0, 5.0, 10.0, 25.0]),
       over_days=st.integers(1, 90))
def test_a_split_taper_never_rises_ends_in_a_stop_and_fills_the_period(
    units: int, times: int, unit_mg: float, over_days: int,
) -> None:
    current = ParsedDose(dose_mg=units * unit_mg, times_per_day=times)
    steps = split_taper(current, over_days=over_days, unit_mg=unit_mg, medicine="x", name="X")
    if steps is None:
        return  # too few lower steps, or too short a period: the prescriber decides
    *lower, last = steps
    assert last.stop
    assert last.day == over_days
    assert len(lower) >= 2
    daily = [s.daily_mg or 0.0 for s in lower]
    assert daily[0] < current.daily_mg
    assert all(a > b for a, b in pairwise(daily))
    assert all(s.dose_mg is not None and s.dose_mg <= current.dose_mg for s in lower)
    assert all(s.times_per_day is not None and s.times_per_day <= times for s in lower)
    assert all(s.days is not None and s.days >= 1 for s in lower)
    assert contiguous(steps)
    assert lower[0].day == 0


@settings(max_examples=200, deadline=None)
@given(dose=st.sampled_from([2.5, 5, 7.5, 10, 15, 20, 25, 30]),
       times=st.sampled_from(["once daily", "twice daily", "three times daily",
                              "four times daily", "every 8 hours", "QID"]),
       to=st.sampled_from(SWITCH_TARGETS))
def test_random_baclofen_doses_always_get_a_non_increasing_taper_or_the_prescriber(
    dose: float, times: str, to: str | None,
) -> None:
    text = f"{dose:g} mg {times}"
    assert parse_dose(text) is not None
    assert_never_abrupt(from_baclofen(text, to))
