"""The recall life cycle after 21 CFR Part 7, Subpart C (pure): states, who may take each
transition, and the status reports and termination request the firm files on the way.

    detected -triage-> triaged -initiate | initiate_on_request | order_recall-> initiated
      -classify-> classified -set_strategy-> strategy_set -publish-> published
      -start_notifying-> notifying -report_progress-> in_progress (-report_progress-> ...)
      -complete-> completed -request_termination-> termination_requested
      -terminate-> terminated            (-refuse_termination-> back to in_progress)

Kinds (§7.3(g)-(k)):
- a *recall* follows the whole path;
- a *correction* (repair, relabelling, adjustment or inspection without removal) is a
  recall too (§7.3(g) reads "removal or correction") and follows the same path; it differs
  in what is done with the product, not in who decides what: its notices are marked
  "correction" (§7.49(b)), consignees keep the product and report it corrected, so its
  status reports count `quantity_corrected` rather than `quantity_returned` (§7.53);
- a *market withdrawal* (a minor violation FDA would not act on, or none, §7.3(j)) and a
  *stock recovery* (the product never left the firm's direct control, §7.3(k)) are not
  recalls: they get no class and end at triage.

Initiative (who starts the recall, recorded as openFDA's `voluntary_mandated`):
- `initiate`: the firm of its own volition (§7.46(a)) — "Voluntary: Firm initiated";
- `initiate_on_request`: the firm agreeing to the regulator's request (§7.45) — "Voluntary:
  FDA Requested". The request itself (a letter naming the violation, the class and the
  strategy) is a record the service keeps, not a state: until the firm agrees nothing is
  initiated, and if it refuses the regulator's remedy is court action (§7.40(c)), outside
  this machine;
- `order_recall`: the regulator, where a statute outside Part 7 lets it order a recall
  (FDA's Regulatory Procedures Manual ch. 7, 7-5-3) — "FDA Mandated".

Simplification: the machine follows the reference table's order. Part 7 lets a firm start
removing product before FDA's review of its classification and strategy (§7.46(b)), and an
FDA request already carries a class (§7.45); here the state still records the regulator's
classification, the agreed strategy and the publication one after another, because each is
a separate act with its own author, and the service may let a firm send its own notices
earlier.

The roles are the parties of Part 7: the recalling firm, the regulator (FDA), and the
consignees (§7.3, "consignee"): a pharmacy, or a physician who received the product. The
service layer maps accounts to these roles; this module only says which role may take which
transition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from medsafe.errors import Invalid, InvalidTransition


class RecallState(StrEnum):
    DETECTED = "detected"
    TRIAGED = "triaged"
    INITIATED = "initiated"
    CLASSIFIED = "classified"
    STRATEGY_SET = "strategy_set"
    PUBLISHED = "published"
    NOTIFYING = "notifying"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    TERMINATION_REQUESTED = "termination_requested"
    TERMINATED = "terminated"


class RecallKind(StrEnum):
    """What the action is (§7.3): a recall, a market withdrawal (a minor violation or
    none, not subject to legal action), a correction (repair, relabelling, adjustment
    in place), or a stock recovery (product never left the firm's direct control)."""

    RECALL = "recall"
    MARKET_WITHDRAWAL = "market_withdrawal"
    CORRECTION = "correction"
    STOCK_RECOVERY = "stock_recovery"


class RecallClass(StrEnum):
    """The class the regulator assigns (§7.3, §7.41(b)): I, a reasonable probability
    of serious adverse health consequences or death; II, temporary or medically reversible
    consequences, or a remote probability of serious ones; III, not likely to cause
    adverse health consequences."""

    I = "I"  # noqa: E741 - the class is called I
    II = "II"
    III = "III"


class Role(StrEnum):
    FIRM = "firm"
    REGULATOR = "regulator"
    PHARMACY = "pharmacy"
    PHYSICIAN = "physician"


class Initiative(StrEnum):
    """Who started the recall, as openFDA's `voluntary_mandated` records it: the firm on
    its own (§7.46), the firm at the regulator's request (§7.45), or by the regulator's
    order (a mandated recall); unknown when an imported report says nothing."""

    FIRM_INITIATED = "firm_initiated"
    FDA_REQUESTED = "fda_requested"
    FDA_MANDATED = "fda_mandated"
    UNKNOWN = "unknown"


RECALL_PATH: frozenset[RecallKind] = frozenset({RecallKind.RECALL, RecallKind.CORRECTION})
ALL_KINDS: frozenset[RecallKind] = frozenset(RecallKind)


@dataclass(frozen=True, slots=True)
class Transition:
    """One named step: from which states, to which, by whom, citing which sections.

    `does` completes "only the regulator ..." and `when` completes "and only ..." in a
    refusal, so each error reads as a sentence about this step. A `target` of None
    leaves the state where it was."""

    name: str
    sources: tuple[RecallState, ...]
    target: RecallState | None
    roles: frozenset[Role]
    sections: tuple[str, ...]
    does: str
    when: str
    kinds: frozenset[RecallKind] = RECALL_PATH


_FIRM = frozenset({Role.FIRM})
_REGULATOR = frozenset({Role.REGULATOR})
_FIRM_OR_REGULATOR = frozenset({Role.FIRM, Role.REGULATOR})
_CONSIGNEES = frozenset({Role.PHARMACY, Role.PHYSICIAN})
S = RecallState

TRANSITIONS: tuple[Transition, ...] = (
    Transition("triage", (S.DETECTED,), S.TRIAGED, _FIRM_OR_REGULATOR,
               ("§7.3(g)-(k)", "§7.46(d)"), "triages a problem",
               "once, when it is detected", ALL_KINDS),
    Transition("initiate", (S.TRIAGED,), S.INITIATED, _FIRM, ("§7.46(a)",),
               "initiates a recall of its own volition", "after triage"),
    Transition("initiate_on_request", (S.TRIAGED,), S.INITIATED, _FIRM, ("§7.45",),
               "initiates a recall at the regulator's request", "after triage"),
    Transition("order_recall", (S.TRIAGED,), S.INITIATED, _REGULATOR,
               ("RPM ch. 7, 7-5-3 (statutes outside Part 7)",),
               "orders a mandated recall", "after triage"),
    Transition("classify", (S.INITIATED,), S.CLASSIFIED, _REGULATOR,
               ("§7.41", "§7.46(b)"), "classifies", "after initiation"),
    Transition("set_strategy", (S.CLASSIFIED,), S.STRATEGY_SET, _FIRM_OR_REGULATOR,
               ("§7.42", "§7.46(b)"), "sets the strategy (the firm proposes, the "
               "regulator reviews)", "after classification"),
    Transition("publish", (S.STRATEGY_SET,), S.PUBLISHED, _REGULATOR, ("§7.50",),
               "publishes a recall in the Enforcement Report", "once its strategy is set"),
    Transition("start_notifying", (S.PUBLISHED,), S.NOTIFYING, _FIRM, ("§7.49",),
               "notifies its direct accounts", "after publication"),
    Transition("respond", (S.NOTIFYING, S.IN_PROGRESS), None, _CONSIGNEES,
               ("§7.49(a)", "§7.49(c)"), "responds to a recall notice as a consignee",
               "while the recall is notifying or in progress"),
    Transition("report_progress", (S.NOTIFYING, S.IN_PROGRESS), S.IN_PROGRESS, _FIRM,
               ("§7.53",), "reports progress", "once notices are going out"),
    Transition("complete", (S.IN_PROGRESS,), S.COMPLETED, _FIRM,
               ("§7.53", "openFDA status 'Completed'"),
               "declares its recall complete", "while it is in progress"),
    Transition("request_termination", (S.COMPLETED,), S.TERMINATION_REQUESTED, _FIRM,
               ("§7.55(b)",), "requests termination", "once the recall is completed"),
    Transition("terminate", (S.TERMINATION_REQUESTED,), S.TERMINATED, _REGULATOR,
               ("§7.55(a)",), "terminates a recall", "after the firm requests it"),
    Transition("refuse_termination", (S.TERMINATION_REQUESTED,), S.IN_PROGRESS,
               _REGULATOR, ("§7.55(a)",), "refuses termination (efforts not yet "
               "sufficient)", "after the firm requests it"),
)
"""The table. `respond` keeps the state where it was: a consignee's reply is recorded by
the service; it is the firm's status report that moves the recall to in progress."""

BY_NAME: dict[str, Transition] = {t.name: t for t in TRANSITIONS}
INITIATIONS: dict[str, Initiative] = {
    "initiate": Initiative.FIRM_INITIATED,
    "initiate_on_request": Initiative.FDA_REQUESTED,
    "order_recall": Initiative.FDA_MANDATED,
}
"""Which initiative each initiating transition records."""

_KIND_NOUN = {RecallKind.RECALL: "recall", RecallKind.MARKET_WITHDRAWAL: "market withdrawal",
              RecallKind.CORRECTION: "correction", RecallKind.STOCK_RECOVERY: "stock recovery"}
_KIND_END = {
    RecallKind.MARKET_WITHDRAWAL: "a market withdrawal is not a recall: it gets no class "
                                  "and ends at triage (§7.3(j))",
    RecallKind.STOCK_RECOVERY: "a stock recovery is not a recall: the product never left "
                               "the firm's control, so it gets no class and ends at triage "
                               "(§7.3(k))",
}
_ROLE_NOUN = {Role.FIRM: "the firm", Role.REGULATOR: "the regulator",
              Role.PHARMACY: "a pharmacy", Role.PHYSICIAN: "a physician"}


def step(state: str, kind: str, transition: str, role: str) -> RecallState:
    """The state after `role` takes `transition` on a `kind` in `state`; otherwise
    InvalidTransition naming the state, the transition, the role and why."""
    prefix = f"cannot '{transition}' a {_noun(kind)} in state '{state}' as {role}"
    parsed_state = _parse(RecallState, state, "recall state", prefix)
    parsed_kind = _parse(RecallKind, kind, "recall kind", prefix)
    parsed_role = _parse(Role, role, "recall role", prefix)
    found = BY_NAME.get(transition)
    if found is None:
        raise InvalidTransition(f"{prefix}: '{transition}' is not a recall transition "
                                f"(transitions: {', '.join(BY_NAME)})")
    reason = _refusal(parsed_state, parsed_kind, found, parsed_role)
    if reason is not None:
        raise InvalidTransition(f"{prefix}: {reason}")
    return parsed_state if found.target is None else found.target


def allowed(state: str, kind: str, role: str) -> tuple[str, ...]:
    """The transitions `role` may take now, in the table's order (empty for unknown
    input: nothing is allowed on something we do not know)."""
    try:
        parsed = RecallState(state), RecallKind(kind), Role(role)
    except ValueError:
        return ()
    return tuple(t.name for t in TRANSITIONS if _permits(*parsed, t))


def available(state: str, kind: str) -> tuple[Transition, ...]:
    """Every transition some role may take now, with its roles and sections (for pages
    that show what happens next and who does it)."""
    try:
        parsed_state, parsed_kind = RecallState(state), RecallKind(kind)
    except ValueError:
        return ()
    return tuple(t for t in TRANSITIONS
                 if parsed_state in t.sources and parsed_kind in t.kinds)


def is_final(state: str, kind: str) -> bool:
    """Nothing more happens: terminated, or a withdrawal or stock recovery once triaged."""
    return not available(state, kind)


def _permits(state: RecallState, kind: RecallKind, role: Role,
             transition: Transition) -> bool:
    return state in transition.sources and kind in transition.kinds \
        and role in transition.roles


def _refusal(state: RecallState, kind: RecallKind, transition: Transition,
             role: Role) -> str | None:
    """Why `role` may not take `transition` now, or None when it may."""
    if _permits(state, kind, role, transition):
        return None
    if kind not in transition.kinds:
        return _KIND_END.get(kind, f"a {_noun(kind)} has no '{transition.name}'")
    if is_final(state, kind):
        return f"'{state}' is final for a {_noun(kind)}"
    who = " or ".join(_ROLE_NOUN[r] for r in Role if r in transition.roles)
    sources = " or ".join(f"'{s}'" for s in transition.sources)
    role_ok, state_ok = role in transition.roles, state in transition.sources
    if not role_ok and not state_ok:
        return f"only {who} {transition.does}, and only {transition.when} (from {sources})"
    if not role_ok:
        reason = f"only {who} {transition.does}"
    else:
        reason = f"'{transition.name}' comes only {transition.when} (from {sources})"
    now = [t.name for t in TRANSITIONS if _permits(state, kind, role, t)]
    then = f"may now: {', '.join(now)}" if now else "has nothing to do now"
    return f"{reason}; {_ROLE_NOUN[role]} {then}"


def _noun(kind: str) -> str:
    try:
        return _KIND_NOUN[RecallKind(kind)]
    except ValueError:
        return f"'{kind}'"


_E = TypeVar("_E", bound=StrEnum)


def _parse(enum: type[_E], value: str, what: str, prefix: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise InvalidTransition(f"{prefix}: '{value}' is not a {what} ({what}s: "
                                f"{', '.join(enum)})") from None


class NotificationMethod(StrEnum):
    """How consignees were told (openFDA's `initial_firm_notification` values; §7.49(b)
    names letters, telegrams and telephone calls confirmed in writing)."""

    LETTER = "letter"
    TELEPHONE = "telephone"
    PRESS_RELEASE = "press_release"
    EMAIL = "email"
    FAX = "fax"
    VISIT = "visit"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A recall status report, with the items §7.53 lists (summarised from secondary
    sources, see the reference): consignees notified (how many, when, how); consignees
    that responded and the quantity they had on hand when the notice arrived; those that
    did not respond (FDA may ask for their identity); the quantity returned, or corrected
    for a correction; the effectiveness checks made and their results; the estimated
    completion."""

    as_of: date
    consignees_notified: int
    notified_on: date | None
    methods: tuple[NotificationMethod, ...]
    consignees_responding: int
    quantity_on_hand: int
    non_responders: int
    quantity_returned: int = 0
    quantity_corrected: int = 0
    effectiveness_checks: int = 0
    effectiveness_results: str = ""
    estimated_completion: date | None = None
    non_responder_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("consignees_notified", "consignees_responding", "quantity_on_hand",
                     "non_responders", "quantity_returned", "quantity_corrected",
                     "effectiveness_checks"):
            if getattr(self, name) < 0:
                raise Invalid(f"must not be negative, got {getattr(self, name)}",
                              where=f"status_report.{name}")
        _require(self.consignees_responding + self.non_responders
                 <= self.consignees_notified, "status_report.consignees_responding",
                 f"{self.consignees_responding} responding and {self.non_responders} not "
                 f"responding is more than the {self.consignees_notified} notified")
        if self.consignees_notified:
            _require(self.notified_on is not None, "status_report.notified_on",
                     "the date consignees were notified is required once any were")
            _require(bool(self.methods), "status_report.methods",
                     "how consignees were notified is required once any were")
        _require(self.notified_on is None or self.notified_on <= self.as_of,
                 "status_report.notified_on", f"{self.notified_on} is after the report's "
                 f"date {self.as_of}")
        _require(len(self.non_responder_ids) <= self.non_responders,
                 "status_report.non_responder_ids",
                 f"{len(self.non_responder_ids)} named non-responders but only "
                 f"{self.non_responders} counted")
        _require(self.effectiveness_checks == 0 or bool(self.effectiveness_results.strip()),
                 "status_report.effectiveness_results",
                 f"{self.effectiveness_checks} effectiveness checks made but no results")

    @property
    def response_rate(self) -> float | None:
        """The share of notified consignees that responded (None before any notice)."""
        if not self.consignees_notified:
            return None
        return self.consignees_responding / self.consignees_notified


@dataclass(frozen=True, slots=True)
class TerminationRequest:
    """The firm's request to end its recall (§7.55(b)): a written request stating the
    recall was effective, with the latest status report and how the product was disposed
    of (destroyed, reconditioned, relabelled...)."""

    requested_on: date
    written_request: str
    latest_report: StatusReport
    disposition: str

    def __post_init__(self) -> None:
        _require(bool(self.written_request.strip()), "termination_request.written_request",
                 "the written request is required (§7.55(b))")
        _require(bool(self.disposition.strip()), "termination_request.disposition",
                 "the disposition of the recalled product is required (§7.55(b))")
        _require(self.latest_report.as_of <= self.requested_on,
                 "termination_request.latest_report",
                 f"the status report of {self.latest_report.as_of} is dated after the "
                 f"request of {self.requested_on}")


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise Invalid(message, where=where)


def table_rows() -> Sequence[tuple[str, str, str, str, str]]:
    """(from states, transition, to state, who, sections) for every transition, for the
    documentation and the pages."""
    return [(" / ".join(t.sources), t.name, str(t.target or "(stays)"),
             " or ".join(r for r in Role if r in t.roles), ", ".join(t.sections))
            for t in TRANSITIONS]
