"""The signal lifecycle (pure): new -> validated or refuted; validated -> under
assessment -> closed with a conclusion; refuted and closed are final."""

from __future__ import annotations

import pytest

from medsafe.errors import InvalidTransition
from medsafe.signals.lifecycle import (
    DECIDERS,
    NEXT,
    READERS,
    RUNNERS,
    STATUSES,
    is_final,
    next_status,
    steps_from,
)


def test_a_new_signal_is_validated_then_assessed_then_closed_with_a_conclusion() -> None:
    status = "new"
    for target, note in (("validated", None), ("under_assessment", "assessing"),
                         ("closed", "no new risk: the label already lists it")):
        status = next_status(status, target, note)
        assert status == target
    assert is_final(status)


def test_a_new_signal_may_be_refuted_with_a_reason_and_stays_refuted() -> None:
    assert next_status("new", "refuted", "all cases describe a known, labelled effect") \
        == "refuted"
    assert is_final("refuted")
    assert steps_from("refuted") == ()


@pytest.mark.parametrize("target", ["refuted", "closed"])
def test_refuting_or_closing_without_a_note_is_refused(target: str) -> None:
    source = "new" if target == "refuted" else "under_assessment"
    for note in (None, "", "   "):
        with pytest.raises(InvalidTransition, match="only with a note"):
            next_status(source, target, note)


def test_a_signal_cannot_skip_validation() -> None:
    with pytest.raises(InvalidTransition, match="only to validated or refuted"):
        next_status("new", "under_assessment", None)
    with pytest.raises(InvalidTransition, match="only to validated or refuted"):
        next_status("new", "closed", "conclusion")


def test_a_closed_signal_is_final() -> None:
    for target in STATUSES:
        with pytest.raises(InvalidTransition, match="it is final"):
            next_status("closed", target, "note")


def test_an_unknown_status_is_named_in_the_refusal() -> None:
    with pytest.raises(InvalidTransition, match="'reopened' is not a signal status"):
        next_status("closed", "reopened", None)


def test_every_status_but_the_final_ones_leads_somewhere_and_every_target_is_a_status(
        ) -> None:
    assert set(NEXT) == set(STATUSES)
    for status, targets in NEXT.items():
        assert set(targets) <= set(STATUSES)
        assert is_final(status) == (status in ("refuted", "closed"))


def test_only_the_safety_team_and_the_regulator_read_and_only_regulators_decide() -> None:
    for role in ("patient", "pharmacist", "physician"):
        assert role not in READERS
    assert set(DECIDERS) == set(RUNNERS) == {"admin", "regulator"}
    assert set(DECIDERS) < set(READERS)
