"""The life of a candidate signal (pure), after EU GVP Module IX's signal management
process (detection, validation, assessment, a conclusion):

    new -> validated -> under_assessment -> closed (with a conclusion)
       \\-> refuted

A detection run creates a signal, `new`, for each drug-event pair it flags that has none
yet. A person validates it (the evidence is worth assessing) or refutes it (it is not,
and says why); a validated signal is assessed and closed with a conclusion. Refuted and
closed signals stay as they are: a later run that flags the pair again updates their
statistics, and the page shows it, but re-opening is a new decision not modelled here.

Who may do what:
- read runs, signals and their case series: the safety team and the regulator (admin,
  regulator, manufacturer; a manufacturer only the signals about its own products, see
  `security.permissions.visible_signals`); patients and clinicians never (signals are
  statistics over other people's reports, made for pharmacovigilance staff);
- run detection over the case store: admins and regulators. A run reads every case in
  the store, including cases a manufacturer may not see, and creates signals everyone
  with a right to them then works on;
- take a step: admins and regulators. A signal has one status shared by everyone who
  reads it, so one party must own the decision; that is the regulator, whose database the
  store is, not the maker of the product (a maker refuting a signal about its own
  product in the shared record is a conflict of interest). Manufacturers see the status,
  the history and the conclusion of the signals about their products, and run their own
  assessment with their case series.
"""

from __future__ import annotations

from typing import Literal, get_args

from medsafe.errors import InvalidTransition

Status = Literal["new", "validated", "refuted", "under_assessment", "closed"]
STATUSES: tuple[str, ...] = get_args(Status)
NEXT: dict[str, tuple[Status, ...]] = {
    "new": ("validated", "refuted"),
    "validated": ("under_assessment",),
    "under_assessment": ("closed",),
    "refuted": (),
    "closed": (),
}
NEEDS_NOTE: frozenset[str] = frozenset({"refuted", "closed"})
"""A refutation says why the evidence is not worth assessing; closing states the
conclusion. Other steps may carry a note."""

READERS = ("admin", "regulator", "manufacturer")
RUNNERS = ("admin", "regulator")
DECIDERS = ("admin", "regulator")


def next_status(status: str, to: str, note: str | None) -> Status:
    """The status `to`, if a signal in `status` may go there with this note; otherwise
    InvalidTransition naming the state and what is allowed from it."""
    if to not in STATUSES:
        raise InvalidTransition(f"'{to}' is not a signal status (statuses: "
                                f"{', '.join(STATUSES)})")
    allowed = NEXT.get(status, ())
    target = next((s for s in allowed if s == to), None)
    if target is None:
        then = f"only to {' or '.join(allowed)}" if allowed else "it is final"
        raise InvalidTransition(f"a {status.replace('_', ' ')} signal cannot become "
                                f"{to.replace('_', ' ')}: {then}")
    if target in NEEDS_NOTE and not (note and note.strip()):
        what = "the conclusion" if target == "closed" else "why it is refuted"
        raise InvalidTransition(f"a signal becomes {target} only with a note stating {what}")
    return target


def steps_from(status: str) -> tuple[Status, ...]:
    """Where a signal in `status` may go next."""
    return NEXT.get(status, ())


def is_final(status: str) -> bool:
    return not NEXT.get(status, ())
