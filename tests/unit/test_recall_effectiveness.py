"""The effectiveness-check sample of §7.42(b)(3) and the dashboard's arithmetic (pure):
how many each level checks, that a draw is deterministic and order-blind, that a redraw
adds nothing and a larger population only tops the sample up, and the words of the
results."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.errors import Invalid
from medsafe.recalls.effectiveness import (
    Consignees,
    Dashboard,
    EffectivenessPolicy,
    FollowUps,
    Patients,
    SampleStatus,
    draw_sample,
    sample_size,
    share,
    top_up,
)
from medsafe.recalls.model import EffectivenessLevel

LEVELS = st.sampled_from(list(EffectivenessLevel))
SUBJECTS = st.sets(st.integers(min_value=1, max_value=10**9), max_size=300)
SEEDS = st.text(min_size=1, max_size=30)


@pytest.mark.parametrize(("level", "population", "expected"), [
    ("A", 0, 0), ("A", 1, 1), ("A", 437, 437),
    ("B", 0, 0), ("B", 1, 1), ("B", 4, 1), ("B", 5, 2), ("B", 100, 25), ("B", 101, 26),
    ("C", 0, 0), ("C", 1, 1), ("C", 10, 1), ("C", 11, 2), ("C", 30, 3), ("C", 1000, 100),
    ("D", 0, 0), ("D", 1, 1), ("D", 50, 1), ("D", 51, 2), ("D", 1000, 20),
    ("E", 0, 0), ("E", 1, 0), ("E", 10_000, 0),
])
def test_each_level_checks_its_share_rounded_up_with_at_least_one(
        level: str, population: int, expected: int) -> None:
    assert sample_size(level, population) == expected


def test_level_b_takes_the_configured_share_of_local_policy() -> None:
    assert sample_size("B", 200, EffectivenessPolicy(level_b_percent=10)) == 20
    assert sample_size("B", 200, EffectivenessPolicy(level_b_percent=100)) == 200
    assert sample_size("B", 200, EffectivenessPolicy(level_b_percent=33)) == 66


@pytest.mark.parametrize("percent", [0, 9, 101])
def test_a_level_b_share_outside_ten_to_a_hundred_percent_is_refused(percent: int) -> None:
    with pytest.raises(Invalid, match="between 10% and 100%"):
        EffectivenessPolicy(level_b_percent=percent)


def test_an_unknown_level_or_a_negative_population_is_refused() -> None:
    with pytest.raises(Invalid, match="not an effectiveness-check level"):
        sample_size("F", 10)
    with pytest.raises(Invalid, match="negative"):
        sample_size("A", -1)


@given(LEVELS, st.integers(min_value=0, max_value=10**7))
def test_a_sample_is_never_larger_than_its_population_and_empty_only_at_e_or_zero(
        level: EffectivenessLevel, population: int) -> None:
    size = sample_size(level, population)
    assert 0 <= size <= population
    assert (size == 0) == (population == 0 or level is EffectivenessLevel.E)


@given(st.integers(min_value=1, max_value=10**7))
def test_the_levels_never_check_fewer_as_they_go_from_a_to_e(population: int) -> None:
    sizes = [sample_size(level, population) for level in EffectivenessLevel]
    assert sizes == sorted(sizes, reverse=True)


@given(LEVELS, SUBJECTS, SEEDS, st.randoms(use_true_random=False))
def test_a_draw_is_the_same_whatever_order_the_subjects_come_in(
        level: EffectivenessLevel, subjects: set[int], seed: str,
        shuffler: random.Random) -> None:
    listed = sorted(subjects)
    shuffled = list(listed)
    shuffler.shuffle(shuffled)
    first = draw_sample(level, listed, seed)
    assert draw_sample(level, shuffled, seed) == first
    assert draw_sample(level, listed + listed, seed) == first  # duplicates count once
    assert len(first) == sample_size(level, len(subjects))
    assert set(first) <= subjects
    assert len(set(first)) == len(first)


def test_another_recall_number_draws_another_sample() -> None:
    subjects = range(1, 1001)
    one = draw_sample("C", subjects, "MS-0001-2026")
    other = draw_sample("C", subjects, "MS-0002-2026")
    assert len(one) == len(other) == 100
    assert one != other


def test_a_draw_needs_a_seed() -> None:
    with pytest.raises(Invalid, match="seed"):
        draw_sample("A", [1, 2], "")


@given(LEVELS, SUBJECTS, SEEDS)
def test_a_redraw_after_the_first_adds_nothing(level: EffectivenessLevel,
                                               subjects: set[int], seed: str) -> None:
    first = top_up(level, subjects, (), seed)
    assert first == draw_sample(level, subjects, seed)
    assert top_up(level, subjects, first, seed) == ()


@given(LEVELS, SUBJECTS, SUBJECTS, SEEDS)
def test_more_subjects_later_top_the_sample_up_and_keep_those_drawn(
        level: EffectivenessLevel, before: set[int], later: set[int], seed: str) -> None:
    first = top_up(level, before, (), seed)
    everyone = before | later
    added = top_up(level, everyone, first, seed)
    assert not set(added) & set(first)
    assert set(added) <= everyone
    assert len(first) + len(added) == max(len(first), sample_size(level, len(everyone)))


def test_shares_are_none_without_a_whole() -> None:
    assert share(3, 0) is None
    assert share(1, 4) == 0.25


def _board(level: EffectivenessLevel | None, samples: tuple[SampleStatus, ...]) -> Dashboard:
    return Dashboard(recall_id=1, recall_number="MS-0001-2026", as_of=date(2026, 11, 26),
                     level=level, level_percent=None if level is None else 10,
                     depth="consumer", correction=False,
                     consignees=Consignees(notified=4, responded=3, returned=30, on_hand=10),
                     patients=Patients(told=8, reached=6), follow_ups=FollowUps(1, 2, 3),
                     samples=samples, sample=())


def test_the_dashboard_counts_what_is_overdue_and_who_did_not_respond() -> None:
    board = _board(EffectivenessLevel.C, ())
    assert board.follow_ups.overdue == 6
    assert board.consignees.not_responded == 1
    assert board.consignees.response_rate == 0.75
    assert board.consignees.returned_share == 0.75
    assert board.patients.of_told(6) == 0.75


def test_the_results_say_the_level_and_each_kind_of_check() -> None:
    consignees = SampleStatus("consignee", population=4, target=1, drawn=1, checked=1,
                              outcomes=(("reached_and_acted", 1),))
    patients = SampleStatus("patient", population=8, target=1, drawn=1, checked=1,
                            outcomes=(("not_reached", 1),))
    board = _board(EffectivenessLevel.C, (consignees, patients))
    assert board.checks_made == 2
    text = board.results_text()
    assert text.startswith("Level C (10%)")
    assert "consignees: 1 of 1 drawn checked (target 1 of 4); 1 reached and acted" in text
    assert "patients: 1 of 1 drawn checked (target 1 of 8); 0 reached and acted, " \
           "0 reached but not acted, 1 not reached" in text
    assert _board(EffectivenessLevel.E, ()).results_text() == \
        "Level E: no effectiveness checks."
    assert "No effectiveness-check level" in _board(None, ()).results_text()
