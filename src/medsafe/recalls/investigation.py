"""An investigation (pure): from a signal, a cluster of cases on some lots, or a quality
defect, to a decision: no action, a label change, a market withdrawal, or a recall.

    open -evaluate_hazard-> hazard_evaluated -refer_to_committee-> advisory_review
      hazard_evaluated | advisory_review -decide-> decided -close-> closed

While it is open (before the decision) the investigator attaches the data analysis (signal,
case and detection-run ids, by reference), the lots' test results and benefit–risk notes,
and may revise the health-hazard evaluation. The health-hazard evaluation asks the
questions FDA asks when it classifies a recall (21 CFR 7.41(a)): have injuries already
occurred; could existing conditions expose people to the hazard; which segments of the
population are at risk; how serious is the hazard; how likely; what are the immediate or
long-range consequences. It proposes a class; the class itself is the regulator's to assign
(see `workflow.classify`).

The advisory committee is our own addition. Part 7 has no such step (the firm initiates a
recall; FDA classifies it through its own health-hazard evaluation); the article medsafe
started from describes one. So it is an optional advisory step of whoever runs the
investigation, the firm or the regulator: members with their declared conflicts, questions,
each member's vote, and a recommendation the decision may follow or not (it is advice).
Who may vote is a rule, `CommitteeRules`, modelled on FDA's own advisory committees, where
a member with a financial interest in the matter may not take part unless a waiver is
granted (18 U.S.C. §208; FD&C Act §712, 21 U.S.C. 379d-1). Our committee is not one of
those, so the rule is configurable; by default a member who declared a conflict on the
product does not vote, waiver or not.

Every action returns the new investigation and a `Step` (action, author, reason, time,
state before and after, a one-line detail), so the service can write its audit event in the
same transaction. Every step needs an author and a reason. Who may investigate (the firm
and the regulator) is the service's to enforce.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from medsafe.errors import Conflict, Forbidden, Invalid, InvalidTransition
from medsafe.recalls.workflow import RecallClass, RecallKind


class InvestigationState(StrEnum):
    OPEN = "open"
    HAZARD_EVALUATED = "hazard_evaluated"
    ADVISORY_REVIEW = "advisory_review"
    DECIDED = "decided"
    CLOSED = "closed"


class OriginKind(StrEnum):
    SIGNAL = "signal"
    CASE_CLUSTER = "case_cluster"
    QUALITY_DEFECT = "quality_defect"


def _text(value: str, where: str, what: str) -> None:
    if not value.strip():
        raise Invalid(f"{what} is required", where=where)


@dataclass(frozen=True, slots=True)
class Origin:
    """What opened the investigation: a signal (its id), a cluster of cases on some lots
    (the case ids and the lots), or a quality defect (what was found, on which lots)."""

    kind: OriginKind
    signal_id: str | None = None
    case_ids: tuple[str, ...] = ()
    lots: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind is OriginKind.SIGNAL and not (self.signal_id or "").strip():
            raise Invalid("an investigation from a signal names the signal",
                          where="origin.signal_id")
        if self.kind is OriginKind.CASE_CLUSTER:
            if not self.case_ids:
                raise Invalid("a cluster of cases names its cases", where="origin.case_ids")
            if not self.lots:
                raise Invalid("a cluster of cases on lots names the lots", where="origin.lots")
        if self.kind is OriginKind.QUALITY_DEFECT:
            _text(self.description, "origin.description", "what the defect is")


@dataclass(frozen=True, slots=True)
class Analysis:
    """The data analysis, by reference: the signals, the case series and the detection
    runs the investigator relied on, and what they show."""

    signal_ids: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    summary: str = ""

    def merged(self, more: Analysis) -> Analysis:
        """Both sets of references, each once in the order first attached; the newer
        summary when it has one."""
        return Analysis(_union(self.signal_ids, more.signal_ids),
                        _union(self.case_ids, more.case_ids),
                        _union(self.run_ids, more.run_ids), more.summary or self.summary)


def _union(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


@dataclass(frozen=True, slots=True)
class LotTest:
    """One test of one lot against its specification."""

    lot: str
    test: str
    result: str
    specification: str
    passed: bool
    tested_on: date

    def __post_init__(self) -> None:
        for name in ("lot", "test", "result", "specification"):
            _text(getattr(self, name), f"lot_test.{name}", f"the {name}")


@dataclass(frozen=True, slots=True)
class HazardEvaluation:
    """The health-hazard evaluation, with the factors of 21 CFR 7.41(a), and the class it
    proposes (None: no hazard that warrants a recall class)."""

    injuries_occurred: bool
    injuries: str
    exposure_conditions: str
    populations_at_risk: tuple[str, ...]
    seriousness: str
    likelihood: str
    consequences: str
    proposed_class: RecallClass | None

    def __post_init__(self) -> None:
        if self.injuries_occurred:
            _text(self.injuries, "hazard.injuries", "which injuries occurred")
        _text(self.exposure_conditions, "hazard.exposure_conditions",
              "the conditions that could expose people (§7.41(a)(2))")
        if not any(p.strip() for p in self.populations_at_risk):
            raise Invalid("name the segments of the population at risk (§7.41(a)(3))",
                          where="hazard.populations_at_risk")
        _text(self.seriousness, "hazard.seriousness", "the seriousness (§7.41(a)(4))")
        _text(self.likelihood, "hazard.likelihood", "the likelihood (§7.41(a)(5))")
        _text(self.consequences, "hazard.consequences",
              "the immediate or long-range consequences (§7.41(a)(6))")


@dataclass(frozen=True, slots=True)
class BenefitRisk:
    """Benefit–risk notes: how severe the treated condition is, what alternatives there
    are, and the product's overall safety profile."""

    condition_severity: str
    alternatives: str
    safety_profile: str

    def __post_init__(self) -> None:
        _text(self.condition_severity, "benefit_risk.condition_severity",
              "the severity of the condition")
        _text(self.alternatives, "benefit_risk.alternatives", "the available alternatives")
        _text(self.safety_profile, "benefit_risk.safety_profile",
              "the overall safety profile")


class Choice(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


@dataclass(frozen=True, slots=True)
class DeclaredConflict:
    product: str
    nature: str


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    conflicts: tuple[DeclaredConflict, ...] = ()
    waiver: str | None = None
    """A written waiver, when one was granted; it counts only if the rules honour it."""

    def conflicted_on(self, product: str) -> bool:
        wanted = product.strip().casefold()
        return any(c.product.strip().casefold() == wanted for c in self.conflicts)


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    text: str


@dataclass(frozen=True, slots=True)
class Vote:
    member: str
    question: str
    choice: Choice


@dataclass(frozen=True, slots=True)
class CommitteeRules:
    """Who may vote and how many make a quorum.

    `waivers_allow_voting`: a conflicted member with a written waiver votes (as FDA may
    grant under 18 U.S.C. §208(b) and 21 U.S.C. 379d-1); off by default. `quorum`: how
    many eligible members must vote (an abstention counts as present) for a question to be
    decided; None means more than half of the eligible members (our default, not taken
    from a source)."""

    waivers_allow_voting: bool = False
    quorum: int | None = None

    def __post_init__(self) -> None:
        if self.quorum is not None and self.quorum < 1:
            raise Invalid(f"a quorum must be at least 1, got {self.quorum}",
                          where="committee.rules.quorum")


@dataclass(frozen=True, slots=True)
class Tally:
    question: str
    yes: int
    no: int
    abstain: int
    eligible: int
    quorum: int

    @property
    def quorate(self) -> bool:
        return self.yes + self.no + self.abstain >= self.quorum

    @property
    def outcome(self) -> str:
        """'yes', 'no', 'tie', or 'no quorum'; abstentions count for the quorum only."""
        if not self.quorate:
            return "no quorum"
        if self.yes == self.no:
            return "tie"
        return "yes" if self.yes > self.no else "no"


@dataclass(frozen=True, slots=True)
class Committee:
    members: tuple[Member, ...]
    questions: tuple[Question, ...]
    rules: CommitteeRules = field(default_factory=CommitteeRules)
    votes: tuple[Vote, ...] = ()
    recommendation: str | None = None

    def __post_init__(self) -> None:
        if not self.members:
            raise Invalid("a committee has members", where="committee.members")
        if not self.questions:
            raise Invalid("a committee is asked at least one question",
                          where="committee.questions")
        for what, names in (("member", [m.name for m in self.members]),
                            ("question", [q.key for q in self.questions])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise Invalid(f"{what} {', '.join(twice)} listed twice",
                              where=f"committee.{what}s")

    def may_vote(self, member: Member, product: str) -> bool:
        if not member.conflicted_on(product):
            return True
        return self.rules.waivers_allow_voting and bool((member.waiver or "").strip())

    def eligible(self, product: str) -> tuple[Member, ...]:
        return tuple(m for m in self.members if self.may_vote(m, product))

    def cast(self, member_name: str, question: str, choice: Choice,
             product: str) -> Committee:
        """The committee with this vote added; a conflicted member is Forbidden, an
        unknown member or question Invalid, a second vote on a question a Conflict."""
        member = next((m for m in self.members if m.name == member_name), None)
        if member is None:
            raise Invalid(f"'{member_name}' is not a member of the committee",
                          where="vote.member")
        if question not in {q.key for q in self.questions}:
            raise Invalid(f"'{question}' is not one of the committee's questions",
                          where="vote.question")
        if not self.may_vote(member, product):
            raise Forbidden(f"{member_name} declared a conflict on {product} and may not "
                            "vote on it" + ("" if self.rules.waivers_allow_voting
                                            else " (the rules do not honour waivers)"))
        if any(v.member == member_name and v.question == question for v in self.votes):
            raise Conflict(f"{member_name} has already voted on '{question}'")
        return replace(self, votes=(*self.votes, Vote(member_name, question, choice)))

    def tally(self, question: str, product: str) -> Tally:
        eligible = len(self.eligible(product))
        counted = [v.choice for v in self.votes if v.question == question]
        quorum = self.rules.quorum if self.rules.quorum is not None else eligible // 2 + 1
        return Tally(question, counted.count(Choice.YES), counted.count(Choice.NO),
                     counted.count(Choice.ABSTAIN), eligible, quorum)


class DecisionKind(StrEnum):
    NO_ACTION = "no_action"
    LABEL_CHANGE = "label_change"
    MARKET_WITHDRAWAL = "market_withdrawal"
    RECALL = "recall"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome. A recall proposes a class (the regulator assigns it); nothing else
    has one (a market withdrawal gets no class, §7.3(j))."""

    kind: DecisionKind
    rationale: str
    proposed_class: RecallClass | None = None

    def __post_init__(self) -> None:
        _text(self.rationale, "decision.rationale", "the rationale")
        if self.kind is DecisionKind.RECALL and self.proposed_class is None:
            raise Invalid("a recall decision proposes a class (I, II or III)",
                          where="decision.proposed_class")
        if self.kind is not DecisionKind.RECALL and self.proposed_class is not None:
            raise Invalid(f"a {self.kind.replace('_', ' ')} has no recall class",
                          where="decision.proposed_class")

    @property
    def recall_kind(self) -> RecallKind | None:
        """The kind of recall record this decision opens, if any."""
        return {DecisionKind.RECALL: RecallKind.RECALL,
                DecisionKind.MARKET_WITHDRAWAL: RecallKind.MARKET_WITHDRAWAL}.get(self.kind)


@dataclass(frozen=True, slots=True)
class Step:
    """What happened, for the audit trail."""

    action: str
    author: str
    reason: str
    at: datetime
    before: InvestigationState | None
    after: InvestigationState
    detail: str


@dataclass(frozen=True, slots=True)
class Investigation:
    id: str
    product: str
    origin: Origin
    state: InvestigationState = InvestigationState.OPEN
    analysis: Analysis = field(default_factory=Analysis)
    lot_tests: tuple[LotTest, ...] = ()
    hazard: HazardEvaluation | None = None
    benefit_risk: BenefitRisk | None = None
    committee: Committee | None = None
    decision: Decision | None = None

    @property
    def lots(self) -> tuple[str, ...]:
        """Every lot the investigation concerns: the origin's and the tested ones."""
        return _union(self.origin.lots, (t.lot for t in self.lot_tests))


Outcome = tuple[Investigation, Step]

_GATHERING = (InvestigationState.OPEN, InvestigationState.HAZARD_EVALUATED,
              InvestigationState.ADVISORY_REVIEW)
_DECIDABLE = (InvestigationState.HAZARD_EVALUATED, InvestigationState.ADVISORY_REVIEW)
MOVES: dict[str, tuple[tuple[InvestigationState, ...], InvestigationState | None]] = {
    "attach_analysis": (_GATHERING, None),
    "add_lot_test": (_GATHERING, None),
    "note_benefit_risk": (_GATHERING, None),
    "evaluate_hazard": ((InvestigationState.OPEN, InvestigationState.HAZARD_EVALUATED),
                        InvestigationState.HAZARD_EVALUATED),
    "refer_to_committee": ((InvestigationState.HAZARD_EVALUATED,),
                           InvestigationState.ADVISORY_REVIEW),
    "vote": ((InvestigationState.ADVISORY_REVIEW,), None),
    "recommend": ((InvestigationState.ADVISORY_REVIEW,), None),
    "decide": (_DECIDABLE, InvestigationState.DECIDED),
    "close": ((InvestigationState.DECIDED,), InvestigationState.CLOSED),
}
"""Each action: the states it may be taken from, and the state it leads to (None: it
stays). `evaluate_hazard` again in hazard_evaluated revises the evaluation."""


def allowed(state: str) -> tuple[str, ...]:
    """The actions open in `state`, in the order above."""
    return tuple(name for name, (sources, _) in MOVES.items() if state in sources)


def open_investigation(investigation_id: str, product: str, origin: Origin, *, author: str,
                       reason: str, at: datetime) -> Outcome:
    _text(investigation_id, "investigation.id", "an id")
    _text(product, "investigation.product", "the product")
    _signed(author, reason)
    investigation = Investigation(id=investigation_id, product=product, origin=origin)
    return investigation, Step("open", author, reason, at, None, investigation.state,
                               f"opened from {origin.kind.replace('_', ' ')}")


def attach_analysis(investigation: Investigation, analysis: Analysis, *, author: str,
                    reason: str, at: datetime) -> Outcome:
    target = _move(investigation, "attach_analysis", author, reason)
    detail = (f"{len(analysis.signal_ids)} signals, {len(analysis.case_ids)} cases, "
              f"{len(analysis.run_ids)} runs")
    return _done(replace(investigation, analysis=investigation.analysis.merged(analysis)),
                 "attach_analysis", investigation.state, target, author, reason, at, detail)


def add_lot_test(investigation: Investigation, test: LotTest, *, author: str, reason: str,
                 at: datetime) -> Outcome:
    target = _move(investigation, "add_lot_test", author, reason)
    detail = (f"lot {test.lot}: {test.test} {test.result} against {test.specification}, "
              f"{'pass' if test.passed else 'FAIL'}")
    return _done(replace(investigation, lot_tests=(*investigation.lot_tests, test)),
                 "add_lot_test", investigation.state, target, author, reason, at, detail)


def note_benefit_risk(investigation: Investigation, notes: BenefitRisk, *, author: str,
                      reason: str, at: datetime) -> Outcome:
    target = _move(investigation, "note_benefit_risk", author, reason)
    return _done(replace(investigation, benefit_risk=notes), "note_benefit_risk",
                 investigation.state, target, author, reason, at, "benefit-risk notes")


def evaluate_hazard(investigation: Investigation, evaluation: HazardEvaluation, *,
                    author: str, reason: str, at: datetime) -> Outcome:
    target = _move(investigation, "evaluate_hazard", author, reason)
    proposed = (f"proposes Class {evaluation.proposed_class}" if evaluation.proposed_class
                else "proposes no class")
    revised = "revised: " if investigation.hazard is not None else ""
    return _done(replace(investigation, hazard=evaluation), "evaluate_hazard",
                 investigation.state, target, author, reason, at, revised + proposed)


def refer_to_committee(investigation: Investigation, committee: Committee, *, author: str,
                       reason: str, at: datetime) -> Outcome:
    target = _move(investigation, "refer_to_committee", author, reason)
    if committee.votes or committee.recommendation:
        raise InvalidTransition(f"cannot 'refer_to_committee' investigation "
                                f"{investigation.id}: a committee starts without votes or "
                                "a recommendation")
    eligible = len(committee.eligible(investigation.product))
    return _done(replace(investigation, committee=committee), "refer_to_committee",
                 investigation.state, target, author, reason, at,
                 f"{len(committee.members)} members ({eligible} may vote), "
                 f"{len(committee.questions)} questions")


def vote(investigation: Investigation, member: str, question: str, choice: Choice, *,
         author: str, reason: str, at: datetime) -> Outcome:
    """Record one member's vote (`author` is who records it: the member or the chair)."""
    target = _move(investigation, "vote", author, reason)
    committee = _committee(investigation)
    if committee.recommendation is not None:
        raise InvalidTransition(f"cannot 'vote' in investigation {investigation.id}: the "
                                "committee has already recommended")
    cast = committee.cast(member, question, choice, investigation.product)
    return _done(replace(investigation, committee=cast), "vote", investigation.state,
                 target, author, reason, at, f"{member} voted {choice} on '{question}'")


def recommend(investigation: Investigation, recommendation: str, *, author: str,
              reason: str, at: datetime) -> Outcome:
    """The committee's recommendation, once every question has a quorum."""
    target = _move(investigation, "recommend", author, reason)
    _text(recommendation, "committee.recommendation", "the recommendation")
    committee = _committee(investigation)
    tallies = [committee.tally(q.key, investigation.product) for q in committee.questions]
    short = [t for t in tallies if not t.quorate]
    if short:
        raise InvalidTransition(
            f"cannot 'recommend' in investigation {investigation.id}: no quorum on "
            + "; ".join(f"'{t.question}' ({t.yes + t.no + t.abstain} of {t.quorum} "
                        "needed voted)" for t in short))
    outcomes = ", ".join(f"'{t.question}' {t.outcome} {t.yes}-{t.no}-{t.abstain}"
                         for t in tallies)
    return _done(replace(investigation,
                         committee=replace(committee, recommendation=recommendation)),
                 "recommend", investigation.state, target, author, reason, at, outcomes)


def decide(investigation: Investigation, decision: Decision, *, author: str, reason: str,
           at: datetime) -> Outcome:
    """The decision, after the hazard evaluation and, when a committee was asked, after
    its recommendation (which it may depart from: the committee advises)."""
    target = _move(investigation, "decide", author, reason)
    committee = investigation.committee
    if investigation.state is InvestigationState.ADVISORY_REVIEW and (
            committee is None or committee.recommendation is None):
        raise InvalidTransition(f"cannot 'decide' investigation {investigation.id} in state "
                                "'advisory_review': the committee has not recommended yet")
    detail = decision.kind.replace("_", " ")
    if decision.proposed_class is not None:
        detail += f", proposed Class {decision.proposed_class}"
    return _done(replace(investigation, decision=decision), "decide", investigation.state,
                 target, author, reason, at, detail)


def close(investigation: Investigation, *, author: str, reason: str,
          at: datetime) -> Outcome:
    target = _move(investigation, "close", author, reason)
    return _done(investigation, "close", investigation.state, target, author, reason, at,
                 "closed")


def _signed(author: str, reason: str) -> None:
    _text(author, "step.author", "the author of every step")
    _text(reason, "step.reason", "the reason for every step")


def _move(investigation: Investigation, action: str, author: str,
          reason: str) -> InvestigationState:
    """The state after `action`, or InvalidTransition naming the investigation, its state
    and the action; the step must be signed with an author and a reason."""
    sources, target = MOVES[action]
    state = investigation.state
    if state not in sources:
        then = ", ".join(allowed(state)) or "nothing (it is closed)"
        raise InvalidTransition(
            f"cannot '{action}' investigation {investigation.id} in state '{state}': only "
            f"from {' or '.join(repr(str(s)) for s in sources)}; now possible: {then}")
    _signed(author, reason)
    return target or state


def _committee(investigation: Investigation) -> Committee:
    if investigation.committee is None:  # advisory_review is entered only with one
        raise InvalidTransition(f"investigation {investigation.id} has no committee")
    return investigation.committee


def _done(investigation: Investigation, action: str, before: InvestigationState,
          after: InvestigationState, author: str, reason: str, at: datetime,
          detail: str) -> Outcome:
    return (replace(investigation, state=after),
            Step(action, author, reason, at, before, after, detail))
