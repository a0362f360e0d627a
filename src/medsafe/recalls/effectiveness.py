"""How well a recall is working (pure): the effectiveness-check sample of its level, and
the numbers of its dashboard (issue 7 §3; docs/recalls.md).

Levels (§7.42(b)(3), `model.EffectivenessLevel`; summarised in
../shared/reference/recall-and-cases.md from library.raps.org/postmarket-requirements/53,
a secondary source not yet checked against the eCFR text): the share of consignees whose
receipt of the notice and action on it is checked. A: all of them; B: more than 10% and
fewer than all, the share left to the strategy; C: 10%; D: 2%; E: none.

What is medsafe's own, and local policy, not regulation:
- the share for level B (`EffectivenessPolicy.level_b_percent`, 25% by default);
- rounding: a share is rounded up to whole subjects, and a population that is not empty
  always gets at least one check at levels B, C and D (a 2% check of 30 consignees that
  checks nobody would check nothing);
- checking patients as well as consignees at consumer depth (the recall reached them), at
  the same level, as a population of its own.

The sample is drawn by ranking each subject by a hash of the recall's seed (its number)
and the subject, and taking the `sample_size` lowest ranks: the same recall draws the same
subjects whatever order they are listed in. A redraw (`top_up`) adds only what the level
asks for beyond the subjects drawn, the lowest ranks not drawn yet: drawing twice adds
nothing, and a subject once drawn (perhaps checked already) stays drawn when more
consignees are notified later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from medsafe.errors import Invalid
from medsafe.recalls.model import EffectivenessLevel

SubjectKind = Literal["consignee", "patient"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = get_args(SubjectKind)
CheckMethod = Literal["visit", "phone", "letter", "email"]
CHECK_METHODS: tuple[CheckMethod, ...] = get_args(CheckMethod)
"""How a check is made: §7.42(b)(3) names personal visits, telephone calls and letters;
e-mail is medsafe's own addition (its notices go by e-mail)."""
CheckOutcome = Literal["reached_and_acted", "reached_not_acted", "not_reached"]
CHECK_OUTCOMES: tuple[CheckOutcome, ...] = get_args(CheckOutcome)

DEFAULT_LEVEL_B_PERCENT = 25
"""Local policy: the share of consignees a level-B recall checks (any whole percentage
from 10 to 100 may be configured)."""


@dataclass(frozen=True, slots=True)
class EffectivenessPolicy:
    """Local, configurable policy for the sample (see the module docstring)."""

    level_b_percent: int = DEFAULT_LEVEL_B_PERCENT

    def __post_init__(self) -> None:
        if not 10 <= self.level_b_percent <= 100:
            raise Invalid(f"level B checks between 10% and 100% of consignees, not "
                          f"{self.level_b_percent}%", where="policy.level_b_percent")


DEFAULT_POLICY = EffectivenessPolicy()


def sample_size(level: EffectivenessLevel | str, population: int,
                policy: EffectivenessPolicy = DEFAULT_POLICY) -> int:
    """How many of `population` subjects a recall of `level` checks: A all; B the
    policy's share; C 10%; D 2%; E none. Shares are rounded up, with at least one check
    when there is anyone to check. Integer arithmetic: 10% of 30 is exactly 3."""
    if population < 0:
        raise Invalid(f"a population cannot be negative, got {population}",
                      where="population")
    chosen = _level(level)
    if population == 0 or chosen is EffectivenessLevel.E:
        return 0
    if chosen is EffectivenessLevel.A:
        return population
    percent = {EffectivenessLevel.B: policy.level_b_percent, EffectivenessLevel.C: 10,
               EffectivenessLevel.D: 2}[chosen]
    return min(population, max(1, -(-population * percent // 100)))


def percent_of(level: EffectivenessLevel | str,
               policy: EffectivenessPolicy = DEFAULT_POLICY) -> int:
    """The share of the level, in percent (for the report's words)."""
    return {EffectivenessLevel.A: 100, EffectivenessLevel.B: policy.level_b_percent,
            EffectivenessLevel.C: 10, EffectivenessLevel.D: 2,
            EffectivenessLevel.E: 0}[_level(level)]


def rank(seed: str, subject: int) -> str:
    """A subject's place in the recall's draw: a hash of the seed and the subject."""
    return hashlib.sha256(f"{seed}\x00{subject}".encode()).hexdigest()


def draw_sample(level: EffectivenessLevel | str, subjects: Iterable[int], seed: str,
                policy: EffectivenessPolicy = DEFAULT_POLICY) -> tuple[int, ...]:
    """The subjects to check, in the order they were drawn: the `sample_size` lowest
    ranks under `seed` (duplicates counted once). Deterministic: the same seed and
    subjects give the same sample, in any order they are given."""
    if not seed:
        raise Invalid("a draw needs a seed (the recall's number)", where="seed")
    unique = set(subjects)
    size = sample_size(level, len(unique), policy)
    return tuple(sorted(unique, key=lambda subject: rank(seed, subject))[:size])


def top_up(level: EffectivenessLevel | str, subjects: Iterable[int], drawn: Iterable[int],
           seed: str, policy: EffectivenessPolicy = DEFAULT_POLICY) -> tuple[int, ...]:
    """The subjects to add to those already `drawn` so that the sample has the size the
    level asks for of the population now: the lowest ranks not drawn yet. Nothing when the
    sample is already as large (a redraw is idempotent); a subject once drawn is never
    taken back, since its check may have been made."""
    unique, already = set(subjects), set(drawn)
    missing = sample_size(level, len(unique | already), policy) - len(already)
    if missing <= 0:
        return ()
    fresh = sorted(unique - already, key=lambda subject: rank(seed, subject))
    return tuple(fresh[:missing])


def _level(level: EffectivenessLevel | str) -> EffectivenessLevel:
    try:
        return EffectivenessLevel(level)
    except ValueError:
        raise Invalid(f"'{level}' is not an effectiveness-check level (levels: "
                      f"{', '.join(EffectivenessLevel)})", where="effectiveness_check") from None


# -- the dashboard's numbers -------------------------------------------------------------------

def share(part: int, whole: int) -> float | None:
    """`part` of `whole` as a fraction (None where there is no whole to divide)."""
    return None if whole <= 0 else part / whole


@dataclass(frozen=True, slots=True)
class Consignees:
    """The pharmacies and clinics the recall notified (§7.49), and what they did. A
    consignee responded when its notice's acknowledgement link was used or its staff took
    the `respond` step. Quantities are units of the recall's stored lots: returned through
    `record_return`, and still on hand in the stock of whoever holds them."""

    notified: int = 0
    responded: int = 0
    first_notified_on: date | None = None
    returned: int = 0
    on_hand: int = 0
    non_responders: tuple[str, ...] = ()  # their names, for §7.53

    @property
    def not_responded(self) -> int:
        return self.notified - self.responded

    @property
    def response_rate(self) -> float | None:
        return share(self.responded, self.notified)

    @property
    def returned_share(self) -> float | None:
        """Units returned of those returned and still on hand."""
        return share(self.returned, self.returned + self.on_hand)


@dataclass(frozen=True, slots=True)
class Patients:
    """The recall's patients, from their notices and from care.

    `affected`: a notice of any state; `told`: told by e-mail or letter (queued, letter or
    acknowledged); `reached`: acknowledged, or their e-mail was delivered, or their letter
    was sent (medsafe cannot know a letter arrived; its phone call is counted with the
    follow-ups while it is open); `switched`: the prescriber decided on their care review;
    `in_monitoring`: an active monitoring plan of the recall."""

    affected: int = 0
    told: int = 0
    reached: int = 0
    acknowledged: int = 0
    proposed: int = 0  # waiting for the pharmacist's decision (retail, wholesale depth)
    declined: int = 0
    switched: int = 0
    in_monitoring: int = 0
    with_open_alerts: int = 0
    open_alerts: int = 0
    urgent_alerts: int = 0

    def of_told(self, count: int) -> float | None:
        return share(count, self.told)


@dataclass(frozen=True, slots=True)
class FollowUps:
    """What is overdue: check-ins missed and not followed up, check-ins still due after
    their day, and phone calls to patients the pharmacies have not made."""

    missed_check_ins: int = 0
    late_check_ins: int = 0
    open_phone_calls: int = 0

    @property
    def overdue(self) -> int:
        return self.missed_check_ins + self.late_check_ins + self.open_phone_calls


@dataclass(frozen=True, slots=True)
class SampleLine:
    """One subject of the effectiveness-check sample and its check, if made."""

    check_id: int
    kind: SubjectKind
    label: str  # the pharmacy's name; a patient's pseudonym or "a patient of <pharmacy>"
    drawn_on: date
    method: CheckMethod | None = None
    outcome: CheckOutcome | None = None
    checked_on: date | None = None
    checked_by: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SampleStatus:
    """Where the effectiveness checks stand for one kind of subject."""

    kind: SubjectKind
    population: int
    target: int  # what the level asks for of the population now
    drawn: int
    checked: int
    outcomes: tuple[tuple[CheckOutcome, int], ...]

    @property
    def to_draw(self) -> int:
        return max(0, self.target - self.drawn)

    def count(self, outcome: CheckOutcome) -> int:
        return dict(self.outcomes).get(outcome, 0)


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A recall's effectiveness, as of a day (see the parts)."""

    recall_id: int
    recall_number: str
    as_of: date
    level: EffectivenessLevel | None
    level_percent: int | None
    depth: str | None
    correction: bool  # a correction counts units corrected, not returned (§7.53)
    consignees: Consignees
    patients: Patients
    follow_ups: FollowUps
    samples: tuple[SampleStatus, ...]
    sample: tuple[SampleLine, ...]
    pharmacy_id: int | None = None  # a pharmacist's view: this pharmacy's part only

    @property
    def checks_made(self) -> int:
        return sum(status.checked for status in self.samples)

    def results_text(self) -> str:
        """The effectiveness checks' results in words, for the status report."""
        if self.level is None:
            return "No effectiveness-check level set in the strategy."
        if self.level is EffectivenessLevel.E:
            return "Level E: no effectiveness checks."
        parts = [f"Level {self.level.value} ({self.level_percent}%)"]
        for status in self.samples:
            if not status.population:
                continue
            kind = "consignees" if status.kind == "consignee" else "patients"
            parts.append(
                f"{kind}: {status.checked} of {status.drawn} drawn checked (target "
                f"{status.target} of {status.population}); "
                f"{status.count('reached_and_acted')} reached and acted, "
                f"{status.count('reached_not_acted')} reached but not acted, "
                f"{status.count('not_reached')} not reached")
        return "; ".join(parts) + "."
