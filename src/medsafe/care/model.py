"""The vocabulary of care, shared by the pure rules (alternatives, transitions,
monitoring) and the service that stores them. Plain immutable values; no I/O.

Everything clinical in here comes from the knowledge base with its citation (the
proposal's findings and dose plan, the transition's steps and sources) or from the
monitoring configuration (`care/data/monitoring.yaml`), whose thresholds are local policy
and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

ProposalKind = Literal["same-medicine", "switch"]
TransitionKind = Literal["none", "taper", "titration", "cross-titration"]
AlertSeverity = Literal["warning", "urgent"]


@dataclass(frozen=True, slots=True)
class DoseStep:
    """One stretch of a schedule: from `day` (0 = the day the plan starts) for `days`
    days (None: until the prescriber reviews), `medicine` (ingredient id) at `dose_mg`
    `times_per_day`, or `text` where the source gives no number. `stop` marks the last
    step of a medicine that ends (the taper's end)."""

    day: int
    days: int | None
    medicine: str
    text: str
    dose_mg: float | None = None
    times_per_day: int | None = None
    note: str | None = None
    stop: bool = False

    @property
    def daily_mg(self) -> float | None:
        if self.dose_mg is None or self.times_per_day is None:
            return None
        return self.dose_mg * self.times_per_day


@dataclass(frozen=True, slots=True)
class TransitionPlan:
    """How the patient moves from the recalled medicine to the chosen one: nothing to do
    (another lot of the same medicine), a taper of the old one, a titration of the new
    one, or both overlapping (cross-titration). `sources` cite every fact used;
    `derived` says what medsafe computed itself (e.g. splitting a cited taper period into
    equal steps) so that no arithmetic passes for a label statement."""

    kind: TransitionKind
    stop: tuple[DoseStep, ...] = ()  # the old medicine, down to its stop
    start: tuple[DoseStep, ...] = ()  # the new medicine, up to its target
    adjustments: tuple[str, ...] = ()  # kidney and liver adjustments applied, cited
    cautions: tuple[str, ...] = ()  # e.g. the interaction while both are taken, cited
    sources: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    needs_prescriber_steps: bool = False  # no cited schedule: the prescriber writes it

    @property
    def days(self) -> int | None:
        """Days until the last bounded step ends (None when a step runs until review)."""
        ends = [s.day + s.days for s in (*self.stop, *self.start) if s.days is not None]
        return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class FindingNote:
    """A finding as a proposal keeps it (care stores proposals as JSON)."""

    severity: str
    kind: str
    summary: str
    rule: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Proposal:
    """One alternative for one patient, ranked: first the same medicine from lots that are
    not recalled (where stock holds some), then other medicines the label indicates for
    the patient's condition, in the assessment engine's order. Never one with a critical
    finding."""

    rank: int
    kind: ProposalKind
    ingredient_id: str
    ingredient_name: str
    route: str
    suitability: str
    findings: tuple[FindingNote, ...]
    dose_start: str | None
    dose_titration: tuple[str, ...]
    dose_max_daily: str | None
    dose_source: str | None
    transition: TransitionPlan
    reasons: tuple[str, ...]
    lots: tuple[str, ...] = ()  # same-medicine: lot numbers in stock, not recalled
    product_id: int | None = None


@dataclass(frozen=True, slots=True)
class DiaryItem:
    """One thing the diary asks about, on a stated scale. `higher_is_worse` is False for
    sleep quality and mood, where a high score is good."""

    id: str
    label: str
    question: str
    low: int
    high: int
    low_means: str
    high_means: str
    higher_is_worse: bool
    scale: str  # the scale's name and citation


@dataclass(frozen=True, slots=True)
class RedFlag:
    """A sign that needs urgent attention, with the medicines whose withdrawal it warns of
    (empty: any) and its citation."""

    id: str
    label: str
    question: str
    medicines: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A diary entry as the rules see it."""

    day: date
    scores: dict[str, int] = field(default_factory=dict)
    red_flags: tuple[str, ...] = ()
    temperature_c: float | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    rule_id: str
    severity: AlertSeverity
    message: str
