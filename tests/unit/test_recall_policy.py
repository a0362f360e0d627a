"""Recall deadlines as local policy (pure): durations per class and action, due times and
overdue flags, parsed from configuration with errors that name the place."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from medsafe.errors import Invalid
from medsafe.recalls.policy import (
    DEFAULT_POLICY,
    PolicyAction,
    RecallPolicy,
    deadlines,
    parse_duration,
    parse_policy,
)
from medsafe.recalls.workflow import RecallClass

RECEIVED = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def test_class_i_stock_is_due_off_the_shelves_within_the_configured_24_hours() -> None:
    policy = parse_policy({"classes": {"I": {"remove_stock": "24h"}}})
    [removal] = deadlines(policy, RecallClass.I, RECEIVED,
                          now=RECEIVED + timedelta(hours=23))
    assert removal.action is PolicyAction.REMOVE_STOCK
    assert removal.due == RECEIVED + timedelta(hours=24)
    assert not removal.overdue
    [late] = deadlines(policy, RecallClass.I, RECEIVED,
                       now=RECEIVED + timedelta(hours=25))
    assert late.overdue


def test_an_action_done_in_time_is_neither_overdue_nor_late_and_one_done_after_is_late(
        ) -> None:
    now = RECEIVED + timedelta(days=20)
    done = {PolicyAction.REMOVE_STOCK: RECEIVED + timedelta(hours=2),
            PolicyAction.RESPOND_TO_FIRM: RECEIVED + timedelta(days=3)}
    by_action = {d.action: d for d in deadlines(DEFAULT_POLICY, RecallClass.I,
                                                RECEIVED, now, done)}
    assert not by_action[PolicyAction.REMOVE_STOCK].overdue
    assert not by_action[PolicyAction.REMOVE_STOCK].late
    assert by_action[PolicyAction.RESPOND_TO_FIRM].late
    assert not by_action[PolicyAction.RESPOND_TO_FIRM].overdue
    assert by_action[PolicyAction.NOTIFY_PATIENTS].overdue
    assert by_action[PolicyAction.NOTIFY_PATIENTS].done_at is None


def test_deadlines_come_soonest_first_and_the_worse_class_has_the_shorter_clocks() -> None:
    for recall_class in RecallClass:
        dues = [d.due for d in deadlines(DEFAULT_POLICY, recall_class, RECEIVED, RECEIVED)]
        assert dues == sorted(dues)
    for worse, milder in itertools.pairwise(RecallClass):
        for action, duration in DEFAULT_POLICY.deadlines[milder].items():
            assert DEFAULT_POLICY.deadlines[worse][action] <= duration


def test_a_recall_not_yet_classified_is_timed_as_the_policy_assumes() -> None:
    timed = deadlines(DEFAULT_POLICY, None, RECEIVED, RECEIVED)
    assert {d.recall_class for d in timed} == {RecallClass.I}
    assert all(d.assumed_class for d in timed)
    lenient = RecallPolicy(DEFAULT_POLICY.deadlines, unclassified_as=RecallClass.III)
    assert {d.recall_class for d in deadlines(lenient, None, RECEIVED, RECEIVED)} == {
        RecallClass.III}


def test_only_the_actions_asked_for_are_timed() -> None:
    timed = deadlines(DEFAULT_POLICY, RecallClass.II, RECEIVED, RECEIVED,
                      actions=[PolicyAction.REMOVE_STOCK, PolicyAction.RETURN_STOCK])
    assert [d.action for d in timed] == [PolicyAction.REMOVE_STOCK, PolicyAction.RETURN_STOCK]


def test_a_class_iii_recall_asks_no_patient_notice_by_default() -> None:
    actions = {d.action for d in deadlines(DEFAULT_POLICY, RecallClass.III, RECEIVED,
                                           RECEIVED)}
    assert PolicyAction.NOTIFY_PATIENTS not in actions


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(Invalid) as refused:
        deadlines(DEFAULT_POLICY, RecallClass.I, RECEIVED.replace(tzinfo=None),
                  RECEIVED)
    assert refused.value.where == "received_at"


def test_a_policy_parses_from_yaml_and_replaces_the_defaults_as_a_whole() -> None:
    policy = parse_policy(yaml.safe_load("""
        unclassified_as: Class II
        classes:
          I: {remove_stock: 4h, notify_patients: 1d, return_stock: 2w}
          Class II: {remove_stock: 90min, respond_to_firm: null}
    """))
    assert policy.unclassified_as is RecallClass.II
    assert policy.deadlines[RecallClass.I] == {
        PolicyAction.REMOVE_STOCK: timedelta(hours=4),
        PolicyAction.NOTIFY_PATIENTS: timedelta(days=1),
        PolicyAction.RETURN_STOCK: timedelta(weeks=2)}
    assert policy.deadlines[RecallClass.II] == {
        PolicyAction.REMOVE_STOCK: timedelta(minutes=90)}
    assert deadlines(policy, RecallClass.III, RECEIVED, RECEIVED) == ()
    assert parse_policy({}).deadlines == {}


@pytest.mark.parametrize(("data", "where", "says"), [
    ([1, 2], "recall_deadlines", "expected a mapping"),
    ({"class": {}}, "recall_deadlines", "unknown key class"),
    ({"unclassified_as": "IV"}, "recall_deadlines.unclassified_as", "not a recall class"),
    ({"classes": ["I"]}, "recall_deadlines.classes", "expected a mapping"),
    ({"classes": {"IV": {}}}, "recall_deadlines.classes.IV", "not a recall class"),
    ({"classes": {"I": {}, "class i": {}}}, "recall_deadlines.classes.class i",
     "given twice"),
    ({"classes": {"I": "24h"}}, "recall_deadlines.classes.I", "expected a mapping"),
    ({"classes": {"I": {"recall_stock": "24h"}}}, "recall_deadlines.classes.I.recall_stock",
     "unknown action 'recall_stock'"),
    ({"classes": {"I": {"remove_stock": 24}}}, "recall_deadlines.classes.I.remove_stock",
     "24 is not a duration"),
    ({"classes": {"I": {"remove_stock": "1 day"}}},
     "recall_deadlines.classes.I.remove_stock", "'1 day' is not a duration"),
    ({"classes": {"I": {"remove_stock": "0h"}}}, "recall_deadlines.classes.I.remove_stock",
     "zero"),
])
def test_a_bad_policy_is_refused_naming_the_place(data: Any, where: str, says: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_policy(data)
    assert refused.value.where == where
    assert says in refused.value.reason


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", timedelta(hours=24)), (" 3 d ", timedelta(days=3)), ("2w", timedelta(weeks=2)),
    ("45min", timedelta(minutes=45))])
def test_durations_take_a_whole_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "x") == expected
