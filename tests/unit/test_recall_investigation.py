"""An investigation (pure): open -> hazard evaluated -> (advisory review) -> decided ->
closed, each step signed with author and reason; the committee's conflicts, votes, quorum
and recommendation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.errors import Conflict, Forbidden, Invalid, InvalidTransition
from medsafe.recalls import investigation as inv
from medsafe.recalls.investigation import (
    MOVES,
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
    InvestigationState,
    LotTest,
    Member,
    Origin,
    OriginKind,
    Question,
)
from medsafe.recalls.workflow import RecallClass, RecallKind

T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
PRODUCT = "baclofen 10 mg tablets"
ORIGIN = Origin(OriginKind.CASE_CLUSTER, case_ids=("C-1", "C-2", "C-3"),
                lots=("BX2301", "BX2302"))
HAZARD = HazardEvaluation(
    injuries_occurred=True, injuries="three reports of the event on the two lots",
    exposure_conditions="tablets from the lots are in pharmacy stock and in patients' homes",
    populations_at_risk=("patients taking the product long term",),
    seriousness="reports describe hospital admission", likelihood="not yet estimated",
    consequences="immediate", proposed_class=RecallClass.II)
SIGN: dict[str, Any] = {"author": "investigator@regulator", "reason": "per SOP 12"}


def _at(hours: int) -> dict[str, Any]:
    return {**SIGN, "at": T0 + timedelta(hours=hours)}


def _opened() -> Investigation:
    opened, _ = inv.open_investigation("INV-1", PRODUCT, ORIGIN, **_at(0))
    return opened


def _evaluated() -> Investigation:
    evaluated, _ = inv.evaluate_hazard(_opened(), HAZARD, **_at(1))
    return evaluated


def _committee(rules: CommitteeRules | None = None, *, waiver: str | None = None
               ) -> Committee:
    members = (Member("Dr A"), Member("Dr B"), Member("Dr C"),
               Member("Dr D", (DeclaredConflict(PRODUCT.upper(), "consultancy fees"),),
                      waiver=waiver))
    questions = (Question("q1", "Do the data show a lot-specific hazard?"),
                 Question("q2", "Should the lots be recalled?"))
    return Committee(members, questions, rules or CommitteeRules())


def _in_review(rules: CommitteeRules | None = None, *, waiver: str | None = None
               ) -> Investigation:
    referred, _ = inv.refer_to_committee(_evaluated(), _committee(rules, waiver=waiver),
                                         **_at(2))
    return referred


def _votes(investigation: Investigation, votes: list[tuple[str, str, Choice]]
           ) -> Investigation:
    for member, question, choice in votes:
        investigation, _ = inv.vote(investigation, member, question, choice, **_at(3))
    return investigation


def test_an_investigation_with_a_committee_goes_from_open_to_closed_each_step_signed(
        ) -> None:
    steps = []
    investigation, step = inv.open_investigation("INV-1", PRODUCT, ORIGIN, **_at(0))
    steps.append(step)
    moves: list[Callable[[Investigation, dict[str, Any]], inv.Outcome]] = [
        lambda i, sign: inv.attach_analysis(
            i, Analysis(signal_ids=("S-9",), case_ids=("C-1", "C-2"), run_ids=("R-4",),
                        summary="IC025 > 0 by lot"), **sign),
        lambda i, sign: inv.add_lot_test(
            i, LotTest("BX2301", "assay", "87%", "95-105%", False, date(2024, 6, 1)), **sign),
        lambda i, sign: inv.note_benefit_risk(
            i, BenefitRisk("chronic spasticity", "other muscle relaxants",
                           "well characterised"), **sign),
        lambda i, sign: inv.evaluate_hazard(i, HAZARD, **sign),
        lambda i, sign: inv.refer_to_committee(i, _committee(), **sign)]
    for move in moves:
        investigation, step = move(investigation, _at(len(steps)))
        steps.append(step)
    for member, choice in (("Dr A", Choice.YES), ("Dr B", Choice.YES),
                           ("Dr C", Choice.ABSTAIN)):
        for question in ("q1", "q2"):
            investigation, step = inv.vote(investigation, member, question, choice,
                                           **_at(len(steps)))
            steps.append(step)
    investigation, step = inv.recommend(investigation, "recall both lots", **_at(20))
    steps.append(step)
    investigation, step = inv.decide(
        investigation, Decision(DecisionKind.RECALL, "lots out of specification",
                                RecallClass.II), **_at(21))
    steps.append(step)
    investigation, step = inv.close(investigation, **_at(22))
    steps.append(step)

    assert investigation.state is InvestigationState.CLOSED
    assert [s.after for s in steps if s.before != s.after] == [
        "open", "hazard_evaluated", "advisory_review", "decided", "closed"]
    assert all(s.author == SIGN["author"] and s.reason == SIGN["reason"] for s in steps)
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    assert steps[-3].detail == "'q1' yes 2-0-1, 'q2' yes 2-0-1"
    assert "FAIL" in steps[2].detail
    assert investigation.lots == ("BX2301", "BX2302")
    assert investigation.analysis.case_ids == ("C-1", "C-2")
    assert investigation.decision is not None
    assert investigation.decision.recall_kind is RecallKind.RECALL
    assert investigation.committee is not None
    assert investigation.committee.recommendation == "recall both lots"


def test_a_decision_may_follow_the_hazard_evaluation_without_a_committee() -> None:
    decided, step = inv.decide(_evaluated(), Decision(DecisionKind.LABEL_CHANGE,
                                                      "add the event to the label"),
                               **_at(2))
    assert decided.state is InvestigationState.DECIDED
    assert (step.before, step.after) == ("hazard_evaluated", "decided")
    assert decided.committee is None


def test_the_hazard_evaluation_may_be_revised_before_the_decision() -> None:
    revised, step = inv.evaluate_hazard(
        _evaluated(), replace(HAZARD, proposed_class=RecallClass.I), **_at(2))
    assert revised.state is InvestigationState.HAZARD_EVALUATED
    assert revised.hazard is not None
    assert revised.hazard.proposed_class is RecallClass.I
    assert step.detail == "revised: proposes Class I"


@pytest.mark.parametrize(("action", "state"), [
    ("decide", "open"), ("close", "hazard_evaluated"), ("vote", "hazard_evaluated"),
    ("refer_to_committee", "open"), ("evaluate_hazard", "decided"),
    ("attach_analysis", "closed")])
def test_an_action_out_of_order_is_refused_naming_the_investigation_state_and_action(
        action: str, state: str) -> None:
    investigation = Investigation("INV-7", PRODUCT, ORIGIN, state=InvestigationState(state))
    calls = {
        "decide": lambda: inv.decide(investigation, Decision(DecisionKind.NO_ACTION, "x"),
                                     **_at(1)),
        "close": lambda: inv.close(investigation, **_at(1)),
        "vote": lambda: inv.vote(investigation, "Dr A", "q1", Choice.YES, **_at(1)),
        "refer_to_committee": lambda: inv.refer_to_committee(investigation, _committee(),
                                                             **_at(1)),
        "evaluate_hazard": lambda: inv.evaluate_hazard(investigation, HAZARD, **_at(1)),
        "attach_analysis": lambda: inv.attach_analysis(investigation, Analysis(), **_at(1)),
    }
    with pytest.raises(InvalidTransition) as refused:
        calls[action]()
    assert str(refused.value).startswith(
        f"cannot '{action}' investigation INV-7 in state '{state}': only from ")
    assert ", ".join(inv.allowed(state)) in str(refused.value) or state == "closed"


def test_nothing_is_possible_once_closed() -> None:
    assert inv.allowed("closed") == ()
    with pytest.raises(InvalidTransition, match=r"now possible: nothing \(it is closed\)"):
        inv.close(Investigation("INV-8", PRODUCT, ORIGIN, state=InvestigationState.CLOSED),
                  **_at(1))


def test_no_decision_under_advisory_review_before_the_committee_recommends() -> None:
    with pytest.raises(InvalidTransition, match="the committee has not recommended yet"):
        inv.decide(_in_review(), Decision(DecisionKind.RECALL, "r", RecallClass.II),
                   **_at(5))


@pytest.mark.parametrize(("author", "reason", "where"), [
    ("", "why", "step.author"), ("someone", "  ", "step.reason")])
def test_every_step_needs_an_author_and_a_reason(author: str, reason: str,
                                                 where: str) -> None:
    with pytest.raises(Invalid) as refused:
        inv.evaluate_hazard(_opened(), HAZARD, author=author, reason=reason, at=T0)
    assert refused.value.where == where


def test_a_member_with_a_declared_conflict_on_the_product_cannot_vote() -> None:
    review = _in_review(waiver="granted by the chair")
    with pytest.raises(Forbidden, match="Dr D declared a conflict on baclofen .* may not "
                                        r"vote on it \(the rules do not honour waivers\)"):
        inv.vote(review, "Dr D", "q1", Choice.YES, **_at(3))
    assert review.committee is not None
    assert [m.name for m in review.committee.eligible(PRODUCT)] == ["Dr A", "Dr B", "Dr C"]


def test_a_waiver_lets_a_conflicted_member_vote_only_when_the_rules_say_so() -> None:
    rules = CommitteeRules(waivers_allow_voting=True)
    voted = _votes(_in_review(rules, waiver="written waiver W-12"), [("Dr D", "q1",
                                                                      Choice.NO)])
    assert voted.committee is not None
    assert voted.committee.tally("q1", PRODUCT).no == 1
    with pytest.raises(Forbidden):
        inv.vote(_in_review(rules), "Dr D", "q1", Choice.NO, **_at(3))


def test_a_conflict_on_another_product_does_not_bar_a_member() -> None:
    member = Member("Dr E", (DeclaredConflict("tizanidine", "speaker fees"),))
    committee = Committee((member,), (Question("q1", "?"),))
    assert committee.may_vote(member, PRODUCT)


def test_a_member_votes_once_per_question_and_only_on_its_questions() -> None:
    review = _votes(_in_review(), [("Dr A", "q1", Choice.YES)])
    with pytest.raises(Conflict, match="Dr A has already voted on 'q1'"):
        inv.vote(review, "Dr A", "q1", Choice.NO, **_at(4))
    with pytest.raises(Invalid, match="'Dr Z' is not a member"):
        inv.vote(review, "Dr Z", "q1", Choice.NO, **_at(4))
    with pytest.raises(Invalid, match="'q9' is not one of the committee's questions"):
        inv.vote(review, "Dr A", "q9", Choice.NO, **_at(4))


def test_the_committee_recommends_only_with_a_quorum_on_every_question() -> None:
    # three may vote (Dr D is conflicted): the default quorum is two
    review = _votes(_in_review(), [("Dr A", "q1", Choice.YES), ("Dr B", "q1", Choice.NO),
                                   ("Dr A", "q2", Choice.YES)])
    with pytest.raises(InvalidTransition, match=r"no quorum on 'q2' \(1 of 2 needed voted\)"):
        inv.recommend(review, "recall", **_at(5))
    review = _votes(review, [("Dr C", "q2", Choice.ABSTAIN)])
    recommended, step = inv.recommend(review, "recall", **_at(6))
    assert step.detail == "'q1' tie 1-1-0, 'q2' yes 1-0-1"
    with pytest.raises(InvalidTransition, match="has already recommended"):
        inv.vote(recommended, "Dr C", "q1", Choice.YES, **_at(7))


def test_a_configured_quorum_replaces_the_majority_of_eligible_members() -> None:
    review = _votes(_in_review(CommitteeRules(quorum=3)),
                    [("Dr A", "q1", Choice.NO), ("Dr B", "q1", Choice.NO)])
    assert review.committee is not None
    tally = review.committee.tally("q1", PRODUCT)
    assert (tally.eligible, tally.quorum, tally.quorate, tally.outcome) == (3, 3, False,
                                                                             "no quorum")
    tally = _votes(review, [("Dr C", "q1", Choice.YES)]).committee.tally(  # type: ignore[union-attr]
        "q1", PRODUCT)
    assert tally.outcome == "no"
    with pytest.raises(Invalid):
        CommitteeRules(quorum=0)


def test_a_committee_is_referred_fresh_and_well_formed() -> None:
    with pytest.raises(Invalid, match="member Dr A listed twice"):
        Committee((Member("Dr A"), Member("Dr A")), (Question("q1", "?"),))
    with pytest.raises(Invalid):
        Committee((), (Question("q1", "?"),))
    used = Committee((Member("Dr A"),), (Question("q1", "?"),),
                     votes=(inv.Vote("Dr A", "q1", Choice.YES),))
    with pytest.raises(InvalidTransition, match="starts without votes"):
        inv.refer_to_committee(_evaluated(), used, **_at(2))


@pytest.mark.parametrize(("origin", "where"), [
    ({"kind": OriginKind.SIGNAL}, "origin.signal_id"),
    ({"kind": OriginKind.CASE_CLUSTER, "lots": ("L1",)}, "origin.case_ids"),
    ({"kind": OriginKind.CASE_CLUSTER, "case_ids": ("C-1",)}, "origin.lots"),
    ({"kind": OriginKind.QUALITY_DEFECT, "lots": ("L1",)}, "origin.description"),
])
def test_an_origin_names_what_opened_the_investigation(origin: dict[str, Any],
                                                       where: str) -> None:
    with pytest.raises(Invalid) as refused:
        Origin(**origin)
    assert refused.value.where == where


@pytest.mark.parametrize("factor", ["exposure_conditions", "seriousness", "likelihood",
                                    "consequences", "populations_at_risk", "injuries"])
def test_the_hazard_evaluation_answers_every_factor_of_7_41(factor: str) -> None:
    fields: dict[str, Any] = {
        "injuries_occurred": HAZARD.injuries_occurred, "injuries": HAZARD.injuries,
        "exposure_conditions": HAZARD.exposure_conditions,
        "populations_at_risk": HAZARD.populations_at_risk,
        "seriousness": HAZARD.seriousness, "likelihood": HAZARD.likelihood,
        "consequences": HAZARD.consequences, "proposed_class": HAZARD.proposed_class}
    fields[factor] = ("  ",) if factor == "populations_at_risk" else " "
    with pytest.raises(Invalid) as refused:
        HazardEvaluation(**fields)
    assert refused.value.where == f"hazard.{factor}"


def test_only_a_recall_decision_carries_a_class_and_opens_a_recall_record() -> None:
    with pytest.raises(Invalid, match="proposes a class"):
        Decision(DecisionKind.RECALL, "r")
    with pytest.raises(Invalid, match="a market withdrawal has no recall class"):
        Decision(DecisionKind.MARKET_WITHDRAWAL, "minor", RecallClass.III)
    assert Decision(DecisionKind.MARKET_WITHDRAWAL, "minor").recall_kind is \
        RecallKind.MARKET_WITHDRAWAL
    assert Decision(DecisionKind.NO_ACTION, "no hazard").recall_kind is None


def test_attached_analyses_keep_each_reference_once() -> None:
    first = Analysis(signal_ids=("S-1",), case_ids=("C-1", "C-2"), summary="first")
    merged = first.merged(Analysis(case_ids=("C-2", "C-3"), run_ids=("R-1",)))
    assert merged == Analysis(("S-1",), ("C-1", "C-2", "C-3"), ("R-1",), "first")


ACTIONS = sorted(MOVES)


def _attempt(investigation: Investigation, action: str) -> inv.Outcome:
    arguments: dict[str, Any] = {
        "attach_analysis": Analysis(case_ids=("C-9",)),
        "add_lot_test": LotTest("BX2301", "assay", "99%", "95-105%", True, date(2024, 6, 1)),
        "note_benefit_risk": BenefitRisk("s", "a", "p"),
        "evaluate_hazard": HAZARD, "refer_to_committee": _committee(),
        "decide": Decision(DecisionKind.NO_ACTION, "no hazard found"),
    }
    if action == "vote":
        return inv.vote(investigation, "Dr A", "q1", Choice.YES, **_at(1))
    if action == "recommend":
        return inv.recommend(investigation, "no action", **_at(1))
    if action == "close":
        return inv.close(investigation, **_at(1))
    function = getattr(inv, action)
    outcome: inv.Outcome = function(investigation, arguments[action], **_at(1))
    return outcome


@given(st.lists(st.sampled_from(ACTIONS), max_size=25))
def test_random_actions_move_only_as_the_table_says_and_refusals_name_their_parts(
        actions: list[str]) -> None:
    investigation = _opened()
    for action in actions:
        before = investigation.state
        refusal = None
        try:
            investigation, step = _attempt(investigation, action)
        except InvalidTransition as refused:
            refusal = str(refused)
        except (Conflict, Forbidden):  # a second vote by the same member: not a move
            continue
        if refusal is not None:
            assert f"'{action}'" in refusal
            assert "INV-1" in refusal
            assert investigation.state is before
            continue
        sources, target = MOVES[action]
        assert before in sources
        assert investigation.state == (target or before)
        assert (step.action, step.before, step.after) == (action, before,
                                                          investigation.state)
