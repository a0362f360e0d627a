"""Close monitoring (pure): the diary's scales and their validation, red flags that escalate
urgently on a baclofen plan, thresholds and trends that warn, the check-in schedule and
its windows, and settings files whose errors name the field."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from medsafe.care.model import Entry
from medsafe.care.monitoring import (
    MonitoringSettings,
    check_in_dates,
    done_by,
    evaluate,
    load_settings,
    missed,
    parse_settings,
    plan_end,
    validate_entry,
)
from medsafe.errors import Invalid

START = date(2026, 3, 2)
TAPER = frozenset({"baclofen", "tizanidine"})  # stopping baclofen, starting tizanidine
NO_BACLOFEN = frozenset({"cyclobenzaprine", "tizanidine"})


@pytest.fixture(scope="module")
def settings() -> MonitoringSettings:
    return load_settings()


def _data(settings: MonitoringSettings) -> dict[str, Any]:
    """The shipped settings as plain data, to change one thing and parse again."""
    return settings.model_dump(mode="python")


def _day(n: int) -> date:
    return START + timedelta(days=n)


def _ids(alerts: tuple[Any, ...]) -> list[str]:
    return [a.rule_id for a in alerts]


# -- the diary and its validation ---------------------------------------------------------

def test_the_diary_asks_the_issues_eight_items_each_on_a_stated_0_to_10_scale(
        settings: MonitoringSettings) -> None:
    assert [i.id for i in settings.diary_items] == [
        "drowsiness", "insomnia", "sleep_quality", "dizziness", "weakness", "spasticity",
        "mood", "confusion"]
    for item in settings.diary_items:
        assert (item.low, item.high) == (0, 10)
        assert "0–10" in item.scale
        assert item.low_means
        assert item.high_means
        assert item.question.endswith("?")
    assert "Farrar" in settings.item("spasticity").scale
    assert "Snyder" in settings.item("sleep_quality").scale
    assert "medsafe's choice" in settings.item("dizziness").scale
    assert {i.id for i in settings.diary_items if not i.higher_is_worse} == {
        "sleep_quality", "mood"}


def test_an_out_of_range_score_is_invalid_naming_the_item_and_its_range(
        settings: MonitoringSettings) -> None:
    with pytest.raises(Invalid) as caught:
        validate_entry({"dizziness": 11}, [], None, settings)
    assert caught.value.where == "scores.dizziness"
    assert "Dizziness" in caught.value.reason
    assert "0–10" in caught.value.reason
    assert "11" in caught.value.reason


def test_an_unknown_diary_item_is_invalid_and_the_known_items_are_listed(
        settings: MonitoringSettings) -> None:
    with pytest.raises(Invalid) as caught:
        validate_entry({"pain": 3}, [], None, settings)
    assert caught.value.where == "scores.pain"
    assert "unknown diary item 'pain'" in caught.value.reason
    assert "spasticity" in caught.value.reason


def test_every_bad_field_of_an_entry_is_named_at_once(settings: MonitoringSettings) -> None:
    with pytest.raises(Invalid) as caught:
        validate_entry({"mood": -1, "drowsiness": 4, "weakness": True},
                       ["hallucinations", "headache"], 50.0, settings)
    assert caught.value.where == "scores.mood, scores.weakness, red_flags, temperature_c"
    reason = caught.value.reason
    assert "unknown red flag 'headache'" in reason
    assert "not a plausible body temperature" in reason
    assert "30–45" in reason
    assert "True is not a whole number" in reason


def test_a_valid_entry_passes_validation(settings: MonitoringSettings) -> None:
    validate_entry({"spasticity": 0, "sleep_quality": 10}, ["seizures"], 36.8, settings)
    validate_entry({}, [], None, settings)


# -- red flags --------------------------------------------------------------------------

def test_every_red_flag_of_baclofen_withdrawal_is_there_with_its_label_citation(
        settings: MonitoringSettings) -> None:
    flags = {f.id: f for f in settings.red_flags}
    assert list(flags) == ["high-fever", "altered-mental-state", "rebound-spasticity",
                           "muscle-rigidity", "hallucinations", "seizures"]
    for flag in flags.values():
        assert flag.medicines == ("baclofen",)
    assert "WARNINGS (b) Abrupt Drug Withdrawal" in flags["seizures"].source
    assert "BOXED WARNING" in flags["muscle-rigidity"].source
    assert "00d3e846-dd92-448d-9ab8-6a07be823cc1" in flags["high-fever"].source


def test_a_red_flag_on_a_baclofen_taper_escalates_urgently_and_cites_the_label(
        settings: MonitoringSettings) -> None:
    entry = Entry(_day(3), {"spasticity": 4}, red_flags=("hallucinations",))
    [alert] = evaluate(entry, [], medicines=TAPER, settings=settings)
    assert alert.severity == "urgent"
    assert alert.rule_id == "red-flag:hallucinations"
    assert "Hallucinations" in alert.message
    assert "baclofen withdrawal" in alert.message
    assert "REMEDYREPACK" in alert.message


def test_the_same_red_flag_on_a_plan_without_baclofen_reaches_the_prescriber_but_not_urgently(
        settings: MonitoringSettings) -> None:
    entry = Entry(_day(3), red_flags=("hallucinations",))
    [alert] = evaluate(entry, [], medicines=NO_BACLOFEN, settings=settings)
    assert alert.severity == "warning"
    assert "does not involve" in alert.message


def test_a_temperature_at_the_fever_threshold_counts_as_high_fever_without_the_box_ticked(
        settings: MonitoringSettings) -> None:
    assert settings.fever is not None
    threshold = settings.fever.at_least_c
    [alert] = evaluate(Entry(_day(3), temperature_c=threshold), [], medicines=TAPER,
                       settings=settings)
    assert (alert.rule_id, alert.severity) == ("red-flag:high-fever", "urgent")
    assert f"{threshold:g} °C" in alert.message
    assert evaluate(Entry(_day(3), temperature_c=threshold - 0.1), [], medicines=TAPER,
                    settings=settings) == ()


def test_fever_ticked_and_measured_gives_one_alert_not_two(
        settings: MonitoringSettings) -> None:
    entry = Entry(_day(3), red_flags=("high-fever",), temperature_c=39.2)
    alerts = evaluate(entry, [], medicines=TAPER, settings=settings)
    assert _ids(alerts) == ["red-flag:high-fever"]


# -- thresholds and trends ----------------------------------------------------------------

def test_a_score_at_the_threshold_warns_and_one_below_does_not(
        settings: MonitoringSettings) -> None:
    [alert] = evaluate(Entry(_day(3), {"drowsiness": 8}), [], medicines=TAPER,
                       settings=settings)
    assert (alert.rule_id, alert.severity) == ("severe-symptom:drowsiness", "warning")
    assert "Drowsiness rated 8 of 10" in alert.message
    assert evaluate(Entry(_day(3), {"drowsiness": 7}), [], medicines=TAPER,
                    settings=settings) == ()


def test_a_low_score_warns_where_high_is_good(settings: MonitoringSettings) -> None:
    alerts = evaluate(Entry(_day(3), {"mood": 2, "sleep_quality": 3}), [], medicines=TAPER,
                      settings=settings)
    assert _ids(alerts) == ["poor-sleep-or-mood:mood"]


def test_a_rise_of_three_points_since_the_first_entry_warns(
        settings: MonitoringSettings) -> None:
    history = [Entry(_day(0), {"spasticity": 2}), Entry(_day(3), {"spasticity": 3})]
    alerts = evaluate(Entry(_day(7), {"spasticity": 5}), history, medicines=TAPER,
                      settings=settings)
    assert _ids(alerts) == ["worse-since-start:spasticity"]
    assert "3 points worse" in alerts[0].message
    assert "2 on 2026-03-02" in alerts[0].message


def test_a_sudden_rise_since_the_last_entry_warns_only_within_its_window(
        settings: MonitoringSettings) -> None:
    history = [Entry(_day(0), {"dizziness": 4}), Entry(_day(5), {"dizziness": 2})]
    [alert] = evaluate(Entry(_day(8), {"dizziness": 5}), history, medicines=TAPER,
                       settings=settings)
    assert alert.rule_id == "worse-since-last:dizziness"
    late = evaluate(Entry(_day(13), {"dizziness": 5}), history, medicines=TAPER,
                    settings=settings)
    assert late == ()  # 8 days after the last entry: outside the 7-day window


def test_one_change_against_one_reference_entry_is_reported_once(
        settings: MonitoringSettings) -> None:
    history = [Entry(_day(0), {"weakness": 1})]  # both the first and the latest entry
    alerts = evaluate(Entry(_day(3), {"weakness": 5}), history, medicines=TAPER,
                      settings=settings)
    assert _ids(alerts) == ["worse-since-start:weakness"]


def test_sleep_quality_falling_counts_as_worse_and_rising_does_not(
        settings: MonitoringSettings) -> None:
    history = [Entry(_day(0), {"sleep_quality": 8})]
    [alert] = evaluate(Entry(_day(3), {"sleep_quality": 5}), history, medicines=TAPER,
                       settings=settings)
    assert alert.rule_id == "worse-since-start:sleep_quality"
    assert "3 points worse" in alert.message
    better = [Entry(_day(0), {"sleep_quality": 3})]
    assert evaluate(Entry(_day(3), {"sleep_quality": 9}), better, medicines=TAPER,
                    settings=settings) == ()


def test_urgent_alerts_come_first_and_the_order_is_the_configurations(
        settings: MonitoringSettings) -> None:
    history = [Entry(_day(0), {"confusion": 0, "spasticity": 1})]
    entry = Entry(_day(3), {"spasticity": 9, "confusion": 6},
                  red_flags=("seizures", "rebound-spasticity"), temperature_c=38.5)
    alerts = evaluate(entry, history, medicines=TAPER, settings=settings)
    assert _ids(alerts) == [
        "red-flag:high-fever", "red-flag:rebound-spasticity", "red-flag:seizures",
        "severe-symptom:spasticity", "confusion:confusion",
        "worse-since-start:spasticity", "worse-since-start:confusion"]
    assert evaluate(entry, history, medicines=TAPER, settings=settings) == alerts


# -- the schedule -------------------------------------------------------------------------

def test_the_default_schedule_is_3_days_1_week_2_weeks_and_1_month(
        settings: MonitoringSettings) -> None:
    assert settings.check_in_days == (3, 7, 14, 30)
    assert check_in_dates(START, settings) == (_day(3), _day(7), _day(14), _day(30))
    assert plan_end(START, settings) == _day(30 + settings.grace_days_after)


def test_an_entry_in_the_window_answers_the_check_in(settings: MonitoringSettings) -> None:
    due = _day(7)
    before, grace = settings.window_days_before, settings.grace_days_after
    assert done_by(due, due - timedelta(days=before), settings)
    assert done_by(due, due + timedelta(days=grace), settings)
    assert not done_by(due, due - timedelta(days=before + 1), settings)
    assert not done_by(due, due + timedelta(days=grace + 1), settings)


def test_a_check_in_is_missed_only_after_its_grace(settings: MonitoringSettings) -> None:
    due = _day(7)
    last_day = due + timedelta(days=settings.grace_days_after)
    assert not missed(due, [], last_day, settings)
    assert missed(due, [], last_day + timedelta(days=1), settings)
    assert not missed(due, [last_day], last_day + timedelta(days=1), settings)
    assert missed(due, [_day(3), last_day + timedelta(days=1)],
                  last_day + timedelta(days=1), settings)


# -- settings files -------------------------------------------------------------------------

def test_a_malformed_settings_file_names_the_file_and_the_field(
        settings: MonitoringSettings) -> None:
    data = _data(settings)
    data["check_in_days"] = [3, "a week"]
    with pytest.raises(Invalid) as caught:
        parse_settings(data, where="site/monitoring.yaml")
    assert caught.value.where == "site/monitoring.yaml: check_in_days.1"
    assert "integer" in caught.value.reason


def test_an_unknown_key_is_named_with_the_keys_allowed_there(
        settings: MonitoringSettings) -> None:
    data = _data(settings)
    data["rules"][0]["above"] = 7
    with pytest.raises(Invalid) as caught:
        parse_settings(data, where="m.yaml")
    assert caught.value.where == "m.yaml: rules.0.above"
    assert "unknown key" in caught.value.reason
    assert "at_least" in caught.value.reason
    data = _data(settings)
    data["diary_items"][2]["colour"] = "blue"
    with pytest.raises(Invalid) as caught:
        parse_settings(data, where="m.yaml")
    assert caught.value.where == "m.yaml: diary_items.2.colour"
    assert "higher_is_worse" in caught.value.reason


@pytest.mark.parametrize(("change", "field", "expected"), [
    (lambda d: d["rules"][0].update(items=["pain"]), "rules.0.items", "unknown item 'pain'"),
    (lambda d: d["rules"][0].update(at_least=11), "rules.0.at_least", "outside the scale"),
    (lambda d: d["rules"][0].update(at_most=2), "rules.0",
     "exactly one of at_least or at_most"),
    (lambda d: d["rules"][4].update(within_days=None), "rules.4", "needs within_days"),
    (lambda d: d["rules"][0].update(message="{label} is {colour}"), "rules.0",
     "unknown field {colour}"),
    (lambda d: d["rules"][1].update(id="severe-symptom"), "rules.1.id", "given twice"),
    (lambda d: d["fever"].update(red_flag="fever"), "fever.red_flag",
     "unknown red flag 'fever'"),
    (lambda d: d.update(grace_days_after=4), "check_in_days", "overlap"),
    (lambda d: d.update(check_in_days=[7, 3]), "check_in_days", "increasing order"),
    (lambda d: d["red_flags"][0].update(source=""), "red_flags.0.source", "needs its source"),
    (lambda d: d["diary_items"][0].update(low=10), "diary_items.0.low",
     "low (10) must be below high"),
])
def test_inconsistent_settings_are_refused_naming_the_field_and_what_is_allowed(
        settings: MonitoringSettings, change: Any, field: str, expected: str) -> None:
    data = _data(settings)
    change(data)
    with pytest.raises(Invalid) as caught:
        parse_settings(data, where="m.yaml")
    assert caught.value.where == f"m.yaml: {field}"
    assert expected in caught.value.reason


def test_a_site_may_replace_the_policy_numbers(settings: MonitoringSettings) -> None:
    data = _data(settings)
    data.update(check_in_days=[2, 10], window_days_before=0, grace_days_after=1)
    data["fever"]["at_least_c"] = 38.5
    site = parse_settings(data)
    assert check_in_dates(START, site) == (_day(2), _day(10))
    assert evaluate(Entry(_day(2), temperature_c=38.2), [], medicines=TAPER,
                    settings=site) == ()


def test_the_start_of_an_item_is_the_first_entry_that_scored_it(
        settings: MonitoringSettings) -> None:
    history = [Entry(_day(0), {"mood": 7}), Entry(_day(3), {"mood": 7, "confusion": 1})]
    alerts = evaluate(Entry(_day(14), {"confusion": 4}), history, medicines=TAPER,
                      settings=settings)
    assert _ids(alerts) == ["worse-since-start:confusion"]
    assert "1 on 2026-03-05" in alerts[0].message
