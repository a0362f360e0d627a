"""Investigation use cases: open one (from a signal, a cluster of cases on some lots, or a
quality defect), gather the evidence, evaluate the hazard, refer it to an advisory
committee (members, declared conflicts, questions, votes, a recommendation), decide, close.

Each use case is one transaction: it loads the investigation, lets the pure code of
`recalls.investigation` take the step (which checks the state and that the step is signed
with an author and a reason), saves it, writes the step's audit event (entity
"investigation": action, author, reason, state before and after, detail) and commits.
Creating a recall from a decided investigation is `recalls.service.recall_from_investigation`.

Who may do what: investigations belong to the firm and the regulator (Part 7 gives
consignees no part in them), so admins, regulators and manufacturers run them; a
manufacturer sees and works on its own organisation's only. The references attached (the
signal, cases, detection runs) must exist and be visible to the caller.

The committee's membership may change (a member added, a conflict declared) only until
the first vote, so the quorum a vote was cast under stays the quorum it is counted under.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, select, true

from medsafe.errors import Invalid, InvalidTransition, NotFound
from medsafe.recalls import investigation as pure
from medsafe.recalls.inputs import (
    NewAnalysis,
    NewBenefitRisk,
    NewConflict,
    NewDecision,
    NewHazardEvaluation,
    NewInvestigation,
    NewLotTest,
    NewMember,
    NewRecommendation,
    NewReview,
    NewVote,
    Reasoned,
)
from medsafe.recalls.investigation import (
    Analysis,
    BenefitRisk,
    Choice,
    Committee,
    CommitteeRules,
    Decision,
    DecisionKind,
    DeclaredConflict,
    HazardEvaluation,
    Investigation,
    LotTest,
    Member,
    Origin,
    OriginKind,
    Question,
    Tally,
)
from medsafe.recalls.workflow import RecallClass
from medsafe.records import View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.permissions import visible_cases, visible_signals
from medsafe.security.principal import Principal
from medsafe.store.schema import InvestigationRow, RecallRow
from medsafe.store.uow import UnitOfWork

INVESTIGATORS = ("admin", "regulator", "manufacturer")
HISTORY_LIMIT = 1000


class MemberView(View):
    name: str
    conflicts: list[DeclaredConflict]
    waiver: str | None
    may_vote: bool


class CommitteeView(View):
    members: list[MemberView]
    questions: list[Question]
    waivers_allow_voting: bool
    quorum: int | None
    votes: list[pure.Vote]
    tallies: list[Tally]
    outcomes: dict[str, str]  # question -> yes, no, tie, no quorum
    recommendation: str | None


class InvestigationStep(View):
    at: datetime
    action: str
    by: str
    reason: str | None
    state_from: str | None
    state_to: str
    detail: str


class InvestigationView(View):
    id: int
    product: str
    origin: Origin
    state: str
    analysis: Analysis
    lots: list[str]
    lot_tests: list[LotTest]
    hazard: HazardEvaluation | None
    benefit_risk: BenefitRisk | None
    committee: CommitteeView | None
    decision: Decision | None
    recall_id: int | None  # the recall created from its decision
    next_actions: list[str]
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    history: list[InvestigationStep]  # oldest first; empty in lists


# -- opening -------------------------------------------------------------------------------

def open_investigation(uow: UnitOfWork, principal: Principal, spec: NewInvestigation
                       ) -> InvestigationView:
    require_role(principal, INVESTIGATORS, "open investigations")
    kind = OriginKind(spec.origin)
    if spec.signal_id is not None:
        _require_signals(uow, principal, [spec.signal_id])
    _require_cases(uow, principal, spec.case_ids)
    origin = Origin(kind=kind, signal_id=None if spec.signal_id is None
                    else str(spec.signal_id), case_ids=tuple(str(i) for i in spec.case_ids),
                    lots=tuple(spec.lots), description=spec.description)
    at = now()
    # The domain id is the row's; the pure step checks everything before the row exists.
    opened, step = pure.open_investigation("new", spec.product, origin,
                                           author=principal.username, reason=spec.reason,
                                           at=at)
    # The analysis starts with what the investigation was opened from.
    if kind is OriginKind.SIGNAL or kind is OriginKind.CASE_CLUSTER:
        opened = replace(opened, analysis=Analysis(signal_ids=_some(origin.signal_id),
                                                   case_ids=origin.case_ids))
    row = uow.investigations.add_new(opened, organisation_id=principal.organisation_id,
                                     by=principal.username, at=at)
    _audit(uow, principal, row.id, step)
    view = _view(uow, row, with_history=True)
    uow.created.append(view)
    uow.commit()
    return view


# -- the steps -----------------------------------------------------------------------------

def attach_analysis(uow: UnitOfWork, principal: Principal, investigation_id: int,
                    spec: NewAnalysis) -> InvestigationView:
    _require_signals(uow, principal, spec.signal_ids)
    _require_cases(uow, principal, spec.case_ids)
    for run_id in spec.run_ids:
        if uow.signals.run(run_id) is None:
            raise NotFound(f"no detection run {run_id}")
    analysis = Analysis(signal_ids=tuple(str(i) for i in spec.signal_ids),
                        case_ids=tuple(str(i) for i in spec.case_ids),
                        run_ids=tuple(str(i) for i in spec.run_ids), summary=spec.summary)
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.attach_analysis(inv, analysis, **signed))


def record_lot_test(uow: UnitOfWork, principal: Principal, investigation_id: int,
                    spec: NewLotTest) -> InvestigationView:
    test = LotTest(lot=spec.lot, test=spec.test, result=spec.result,
                   specification=spec.specification, passed=spec.passed,
                   tested_on=spec.tested_on)
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.add_lot_test(inv, test, **signed))


def evaluate_hazard(uow: UnitOfWork, principal: Principal, investigation_id: int,
                    spec: NewHazardEvaluation) -> InvestigationView:
    evaluation = HazardEvaluation(
        injuries_occurred=spec.injuries_occurred, injuries=spec.injuries,
        exposure_conditions=spec.exposure_conditions,
        populations_at_risk=tuple(spec.populations_at_risk), seriousness=spec.seriousness,
        likelihood=spec.likelihood, consequences=spec.consequences,
        proposed_class=RecallClass(spec.proposed_class) if spec.proposed_class else None)
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.evaluate_hazard(inv, evaluation, **signed))


def note_benefit_risk(uow: UnitOfWork, principal: Principal, investigation_id: int,
                      spec: NewBenefitRisk) -> InvestigationView:
    notes = BenefitRisk(condition_severity=spec.condition_severity,
                        alternatives=spec.alternatives, safety_profile=spec.safety_profile)
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.note_benefit_risk(inv, notes, **signed))


def open_review(uow: UnitOfWork, principal: Principal, investigation_id: int,
                spec: NewReview) -> InvestigationView:
    """Refer the investigation to an advisory committee."""
    committee = Committee(
        members=tuple(_member(m.name, m.conflicts, m.waiver) for m in spec.members),
        questions=tuple(Question(key=q.key, text=q.text) for q in spec.questions),
        rules=CommitteeRules(waivers_allow_voting=spec.waivers_allow_voting,
                             quorum=spec.quorum))
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.refer_to_committee(inv, committee, **signed))


def add_member(uow: UnitOfWork, principal: Principal, investigation_id: int,
               spec: NewMember) -> InvestigationView:
    member = _member(spec.name, spec.conflicts, spec.waiver)

    def add(committee: Committee) -> tuple[Committee, str]:
        return (replace(committee, members=(*committee.members, member)),
                f"member {member.name} added"
                + (f" ({len(member.conflicts)} conflicts declared)" if member.conflicts
                   else ""))

    return _membership(uow, principal, investigation_id, "add_member", spec.reason, add)


def declare_conflict(uow: UnitOfWork, principal: Principal, investigation_id: int,
                     spec: NewConflict) -> InvestigationView:
    conflict = DeclaredConflict(product=spec.product, nature=spec.nature)

    def declare(committee: Committee) -> tuple[Committee, str]:
        if spec.member not in {m.name for m in committee.members}:
            raise Invalid(f"'{spec.member}' is not a member of the committee",
                          where="member")
        members = tuple(replace(m, conflicts=(*m.conflicts, conflict))
                        if m.name == spec.member else m for m in committee.members)
        return (replace(committee, members=members),
                f"{spec.member} declared a conflict on {spec.product}")

    return _membership(uow, principal, investigation_id, "declare_conflict", spec.reason,
                       declare)


def cast_vote(uow: UnitOfWork, principal: Principal, investigation_id: int,
              spec: NewVote) -> InvestigationView:
    """Record a member's vote (the caller records it: the member or the chair)."""
    choice = Choice(spec.choice)
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.vote(inv, spec.member, spec.question, choice,
                                                 **signed))


def recommend(uow: UnitOfWork, principal: Principal, investigation_id: int,
              spec: NewRecommendation) -> InvestigationView:
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.recommend(inv, spec.recommendation, **signed))


def decide(uow: UnitOfWork, principal: Principal, investigation_id: int,
           spec: NewDecision) -> InvestigationView:
    decision = Decision(kind=DecisionKind(spec.kind), rationale=spec.rationale,
                        proposed_class=RecallClass(spec.proposed_class)
                        if spec.proposed_class else None)
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.decide(inv, decision, **signed))


def close_investigation(uow: UnitOfWork, principal: Principal, investigation_id: int,
                        spec: Reasoned) -> InvestigationView:
    return _step(uow, principal, investigation_id, spec.reason,
                 lambda inv, **signed: pure.close(inv, **signed))


# -- reading -------------------------------------------------------------------------------

def list_investigations(uow: UnitOfWork, principal: Principal, *, state: str | None = None,
                        offset: int = 0, limit: int = 50
                        ) -> tuple[list[InvestigationView], int]:
    """Newest first, each with its committee (the history is on the single view)."""
    require_role(principal, INVESTIGATORS, "read investigations")
    query = select(InvestigationRow).where(visible_investigations(principal))
    if state is not None:
        if state not in set(pure.InvestigationState):
            raise Invalid(f"unknown state '{state}' (states: "
                          f"{', '.join(pure.InvestigationState)})", where="state")
        query = query.where(InvestigationRow.state == state)
    rows, total = uow.investigations.page(query, offset, limit)
    return [_view(uow, row, with_history=False) for row in rows], total


def read_investigation(uow: UnitOfWork, principal: Principal, investigation_id: int
                       ) -> InvestigationView:
    return _view(uow, visible_investigation(uow, principal, investigation_id),
                 with_history=True)


def visible_investigations(principal: Principal) -> ColumnElement[bool]:
    """Admins and regulators see every investigation; a manufacturer its organisation's."""
    if principal.role in ("admin", "regulator"):
        return true()
    if principal.role == "manufacturer" and principal.organisation_id is not None:
        return InvestigationRow.organisation_id == principal.organisation_id
    return false()


def visible_investigation(uow: UnitOfWork, principal: Principal, investigation_id: int
                          ) -> InvestigationRow:
    require_role(principal, INVESTIGATORS, "work on investigations")
    row = uow.investigations.get(investigation_id, visible_investigations(principal))
    if row is None:
        raise NotFound(f"no investigation {investigation_id}")
    return row


# -- shared --------------------------------------------------------------------------------

Signed = Callable[..., pure.Outcome]


def _step(uow: UnitOfWork, principal: Principal, investigation_id: int, reason: str,
          take: Signed) -> InvestigationView:
    """Load, take the pure step signed by the caller, save, audit, commit."""
    row = visible_investigation(uow, principal, investigation_id)
    before = uow.investigations.load(row)
    after, step = take(before, author=principal.username, reason=reason, at=now())
    uow.investigations.save(row, before, after, by=principal.username, at=step.at)
    _audit(uow, principal, row.id, step)
    view = _view(uow, row, with_history=True)
    uow.commit()
    return view


def _membership(uow: UnitOfWork, principal: Principal, investigation_id: int, action: str,
                reason: str, change: Callable[[Committee], tuple[Committee, str]]
                ) -> InvestigationView:
    """A change to the committee's membership, allowed until the first vote."""
    def take(inv: Investigation, *, author: str, reason: str, at: datetime) -> pure.Outcome:
        committee = inv.committee
        if inv.state is not pure.InvestigationState.ADVISORY_REVIEW or committee is None:
            raise InvalidTransition(f"cannot '{action}' in investigation {inv.id} in state "
                                    f"'{inv.state}': only during the advisory review")
        if committee.votes or committee.recommendation is not None:
            raise InvalidTransition(f"cannot '{action}' in investigation {inv.id}: voting "
                                    "has started, so the committee's membership is fixed")
        if not author.strip() or not reason.strip():
            raise Invalid("every step needs its author and reason", where="step.reason")
        changed, detail = change(committee)  # Committee() checks names twice, etc.
        return (replace(inv, committee=changed),
                pure.Step(action, author, reason, at, inv.state, inv.state, detail))

    return _step(uow, principal, investigation_id, reason, take)


def _member(name: str, conflicts: Any, waiver: str | None) -> Member:
    return Member(name=name, conflicts=tuple(DeclaredConflict(product=c.product,
                                                              nature=c.nature)
                                             for c in conflicts), waiver=waiver)


def _some(value: str | None) -> tuple[str, ...]:
    return () if value is None else (value,)


def _require_signals(uow: UnitOfWork, principal: Principal, ids: list[int]) -> None:
    for signal_id in ids:
        if uow.signals.get(signal_id, visible_signals(principal)) is None:
            raise NotFound(f"no signal {signal_id}")


def _require_cases(uow: UnitOfWork, principal: Principal, ids: list[int]) -> None:
    for case_id in dict.fromkeys(ids):
        if uow.cases.get(case_id, visible_cases(principal)) is None:
            raise NotFound(f"no case {case_id}")


def _audit(uow: UnitOfWork, principal: Principal, investigation_id: int,
           step: pure.Step) -> None:
    audit.record(uow, principal, f"investigation.{step.action}", "investigation",
                 investigation_id,
                 {"state": [None if step.before is None else step.before.value,
                            step.after.value], "detail": step.detail},
                 reason=step.reason, at=step.at)


def _view(uow: UnitOfWork, row: InvestigationRow, *, with_history: bool
          ) -> InvestigationView:
    investigation = uow.investigations.load(row)
    committee = investigation.committee
    recall = uow.session.execute(select(RecallRow.id).where(
        RecallRow.investigation_id == row.id)).scalar_one_or_none()
    history: list[InvestigationStep] = []
    if with_history:
        events, _ = uow.audit_events.list(entity="investigation", entity_id=str(row.id),
                                          offset=0, limit=HISTORY_LIMIT)
        for event in reversed(events):
            changes = json.loads(event.changes)
            state_from, state_to = changes.get("state", [None, ""])
            history.append(InvestigationStep(
                at=aware(event.at), action=event.action.removeprefix("investigation."),
                by=event.actor, reason=event.reason, state_from=state_from,
                state_to=state_to, detail=str(changes.get("detail", ""))))
    return InvestigationView(
        id=row.id, product=investigation.product, origin=investigation.origin,
        state=investigation.state.value, analysis=investigation.analysis,
        lots=list(investigation.lots), lot_tests=list(investigation.lot_tests),
        hazard=investigation.hazard, benefit_risk=investigation.benefit_risk,
        committee=None if committee is None else _committee_view(committee,
                                                                 investigation.product),
        decision=investigation.decision, recall_id=recall,
        next_actions=list(pure.allowed(investigation.state)), opened_by=row.opened_by,
        opened_at=aware(row.opened_at), updated_at=aware(row.updated_at), history=history)


def _committee_view(committee: Committee, product: str) -> CommitteeView:
    tallies = [committee.tally(q.key, product) for q in committee.questions]
    return CommitteeView(
        members=[MemberView(name=m.name, conflicts=list(m.conflicts), waiver=m.waiver,
                            may_vote=committee.may_vote(m, product))
                 for m in committee.members],
        questions=list(committee.questions),
        waivers_allow_voting=committee.rules.waivers_allow_voting,
        quorum=committee.rules.quorum, votes=list(committee.votes), tallies=tallies,
        outcomes={t.question: t.outcome for t in tallies},
        recommendation=committee.recommendation)
