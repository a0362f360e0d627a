"""Deadlines a hospital or pharmacy sets itself for acting on a recall (pure).

These are local policy, not regulation. Part 7 gives consignees no deadline: a recall
communication asks them to stop distribution and act on its instructions at once (§7.49(a)),
and the firm's recall strategy, not the law, sets the pace. Web pages that quote fixed
figures ("Class I stock off the shelves within 24 hours", "notify 80% of patients") cite no
regulation (see the reference, recall-and-cases.md §1). So each site configures its own
durations per recall class and action; `DEFAULT_POLICY` is an example of such a policy, to
be replaced, not a standard.

A clock starts when the site receives the recall notice. A recall not yet classified is
timed as `unclassified_as` (by default Class I: until the regulator says otherwise, the
site treats the hazard as the worst one; a site may choose otherwise).

Configuration (YAML or any mapping), parsed by `parse_policy`:

    unclassified_as: I
    classes:
      I:   {remove_stock: 24h, respond_to_firm: 2d, notify_prescribers: 48h,
            notify_patients: 72h, return_stock: 14d}
      II:  {remove_stock: 72h, ...}
      III: {remove_stock: 7d}

Durations are a whole number and a unit: `min`, `h`, `d` or `w`. An action a class does
not list has no deadline for that class; `classes` replaces the defaults as a whole (every
class it leaves out has no deadlines), so a site's file says all it means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from medsafe.errors import Invalid
from medsafe.recalls.workflow import RecallClass


class PolicyAction(StrEnum):
    """What a site does about a recall, each with its own clock."""

    REMOVE_STOCK = "remove_stock"
    RESPOND_TO_FIRM = "respond_to_firm"
    NOTIFY_PRESCRIBERS = "notify_prescribers"
    NOTIFY_PATIENTS = "notify_patients"
    RETURN_STOCK = "return_stock"


Durations = Mapping[PolicyAction, timedelta]


@dataclass(frozen=True, slots=True)
class RecallPolicy:
    """How long a site gives itself for each action, per recall class."""

    deadlines: Mapping[RecallClass, Durations] = field(default_factory=dict)
    unclassified_as: RecallClass = RecallClass.I

    def durations(self, recall_class: RecallClass | None) -> Durations:
        return self.deadlines.get(recall_class or self.unclassified_as, {})


_H, _D = timedelta(hours=1), timedelta(days=1)
DEFAULT_POLICY = RecallPolicy(deadlines={
    RecallClass.I: {
        PolicyAction.REMOVE_STOCK: 24 * _H, PolicyAction.RESPOND_TO_FIRM: 2 * _D,
        PolicyAction.NOTIFY_PRESCRIBERS: 48 * _H, PolicyAction.NOTIFY_PATIENTS: 72 * _H,
        PolicyAction.RETURN_STOCK: 14 * _D},
    RecallClass.II: {
        PolicyAction.REMOVE_STOCK: 72 * _H, PolicyAction.RESPOND_TO_FIRM: 5 * _D,
        PolicyAction.NOTIFY_PRESCRIBERS: 7 * _D, PolicyAction.NOTIFY_PATIENTS: 14 * _D,
        PolicyAction.RETURN_STOCK: 30 * _D},
    RecallClass.III: {
        PolicyAction.REMOVE_STOCK: 7 * _D, PolicyAction.RESPOND_TO_FIRM: 10 * _D,
        PolicyAction.RETURN_STOCK: 30 * _D},
})
"""An example of local policy (not regulation, see the module docstring): the worse the
hazard, the shorter the clocks; a Class III recall asks no notice to prescribers or
patients by default."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """One action's clock for one recall at one site, as of `now`."""

    action: PolicyAction
    due: datetime
    done_at: datetime | None
    overdue: bool
    """Not done and the due time has passed."""
    late: bool
    """Done, but after the due time."""
    recall_class: RecallClass
    assumed_class: bool
    """The recall is not classified yet; `recall_class` is the policy's assumption."""


def deadlines(policy: RecallPolicy, recall_class: RecallClass | None, received_at: datetime,
              now: datetime, done: Mapping[PolicyAction, datetime] | None = None,
              actions: Iterable[PolicyAction] | None = None) -> tuple[Deadline, ...]:
    """The due time of each action the policy times for this recall's class (or only of
    `actions`, when the service knows some do not apply, e.g. no patient notices at
    wholesale depth), whether it is overdue at `now` or was done late, soonest first."""
    for name, moment in (("received_at", received_at), ("now", now),
                         *((f"done.{a}", t) for a, t in (done or {}).items())):
        if moment.tzinfo is None:
            raise Invalid("a time without a time zone cannot be compared safely; give "
                          "an aware datetime (UTC)", where=name)
    used = recall_class or policy.unclassified_as
    wanted = None if actions is None else set(actions)
    result = []
    for action, duration in policy.durations(recall_class).items():
        if wanted is not None and action not in wanted:
            continue
        due = received_at + duration
        done_at = (done or {}).get(action)
        result.append(Deadline(action=action, due=due, done_at=done_at,
                               overdue=done_at is None and now > due,
                               late=done_at is not None and done_at > due,
                               recall_class=used, assumed_class=recall_class is None))
    return tuple(sorted(result, key=lambda d: (d.due, d.action)))


_DURATION = re.compile(r"^\s*(\d+)\s*(min|h|d|w)\s*$")
_UNITS = {"min": timedelta(minutes=1), "h": _H, "d": _D, "w": timedelta(weeks=1)}


def parse_duration(text: object, where: str) -> timedelta:
    """'24h', '3d', '2w', '90min' -> a positive timedelta; anything else is Invalid."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise Invalid(f"{text!r} is not a duration: give a whole number and a unit "
                      "(min, h, d or w), e.g. '24h'", where=where)
    amount = int(match.group(1))
    if amount == 0:
        raise Invalid("a deadline of zero leaves no time to act", where=where)
    return amount * _UNITS[match.group(2)]


def parse_class(text: object, where: str) -> RecallClass:
    """'I', 'II', 'III' (also 'Class II', any case, as openFDA spells it)."""
    if isinstance(text, str):
        bare = text.strip().upper().removeprefix("CLASS").strip()
        for recall_class in RecallClass:
            if bare == recall_class.value:
                return recall_class
    raise Invalid(f"{text!r} is not a recall class (I, II or III)", where=where)


def parse_policy(data: object, where: str = "recall_deadlines") -> RecallPolicy:
    """A policy from configuration (see the module docstring); Invalid names the place."""
    if not isinstance(data, Mapping):
        raise Invalid("expected a mapping with 'classes' and optionally 'unclassified_as'",
                      where=where)
    unknown = sorted(str(key) for key in data if key not in ("classes", "unclassified_as"))
    if unknown:
        raise Invalid(f"unknown key {', '.join(unknown)} (keys: classes, unclassified_as)",
                      where=where)
    unclassified = parse_class(data.get("unclassified_as", "I"), f"{where}.unclassified_as")
    classes = data.get("classes", {})
    if not isinstance(classes, Mapping):
        raise Invalid("expected a mapping from class (I, II, III) to actions",
                      where=f"{where}.classes")
    parsed: dict[RecallClass, Durations] = {}
    for key, actions in classes.items():
        at = f"{where}.classes.{key}"
        recall_class = parse_class(key, at)
        if recall_class in parsed:
            raise Invalid(f"class {recall_class} is given twice", where=at)
        parsed[recall_class] = _parse_actions({} if actions is None else actions, at)
    return RecallPolicy(deadlines=parsed, unclassified_as=unclassified)


def _parse_actions(actions: object, where: str) -> Durations:
    if not isinstance(actions, Mapping):
        raise Invalid("expected a mapping from action to duration", where=where)
    known = ", ".join(PolicyAction)
    parsed: dict[PolicyAction, timedelta] = {}
    for key, value in actions.items():
        try:
            action = PolicyAction(key)
        except ValueError:
            raise Invalid(f"unknown action {key!r} (actions: {known})",
                          where=f"{where}.{key}") from None
        if value is not None:  # an explicit null: no deadline for this action
            parsed[action] = parse_duration(value, f"{where}.{key}")
    return parsed
