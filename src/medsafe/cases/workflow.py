"""The case-processing workflow (pure), after the workflows of Argus and Vault Safety:

    triage -> data_entry -> medical_review -> ready_to_submit -> submitted
                 ^               |
                 +---- return ---+

A case is locked while under medical review: nobody edits it until the reviewer approves
it or returns it to data entry. A follow-up never waits (no report is ever lost): it is
stored as a new version at once, and the case goes back to triage, except under review,
where it is flagged for the reviewer instead.

`external` cases (from national databases such as FAERS and VAERS) are held for signal
detection only and never enter the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from medsafe.errors import InvalidTransition

Status = Literal["triage", "data_entry", "medical_review", "ready_to_submit", "submitted",
                 "external"]
STATUSES: tuple[str, ...] = get_args(Status)
Step = Literal["accept", "start_review", "return", "approve", "submit"]
STEPS: tuple[str, ...] = get_args(Step)


@dataclass(frozen=True, slots=True)
class Transition:
    source: Status
    target: Status
    needs_valid: bool = False


TRANSITIONS: dict[Step, Transition] = {
    "accept": Transition("triage", "data_entry"),
    "start_review": Transition("data_entry", "medical_review", needs_valid=True),
    "return": Transition("medical_review", "data_entry"),
    "approve": Transition("medical_review", "ready_to_submit", needs_valid=True),
    "submit": Transition("ready_to_submit", "submitted", needs_valid=True),
}
LOCKED: frozenset[str] = frozenset({"medical_review"})


def next_status(status: str, step: str, *, valid: bool) -> Status:
    """The status after `step`, or InvalidTransition naming the state and the step."""
    if step not in TRANSITIONS:
        raise InvalidTransition(f"'{step}' is not a case step (steps: {', '.join(STEPS)})")
    transition = TRANSITIONS[step]
    if transition.source != status:
        raise InvalidTransition(f"cannot {step.replace('_', ' ')} a case in {status}: "
                                f"only from {transition.source}")
    if transition.needs_valid and not valid:
        raise InvalidTransition(f"cannot {step.replace('_', ' ')} an invalid case: fix "
                                "its validity problems first")
    return transition.target


def after_follow_up(status: str) -> Status:
    """Where a case goes when a follow-up arrives."""
    return "medical_review" if status in LOCKED else "triage"


def is_locked(status: str) -> bool:
    return status in LOCKED
