"""The Part 7 recall life cycle (pure): who may take each transition, in which order, for
which kind of action; status reports and the termination request."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medsafe.errors import Invalid, InvalidTransition
from medsafe.recalls.workflow import (
    BY_NAME,
    INITIATIONS,
    TRANSITIONS,
    Initiative,
    NotificationMethod,
    RecallKind,
    RecallState,
    Role,
    StatusReport,
    TerminationRequest,
    Transition,
    allowed,
    available,
    is_final,
    step,
    table_rows,
)

LEGAL = [(t, source, role, kind) for t in TRANSITIONS for source in t.sources
         for role in sorted(t.roles) for kind in sorted(t.kinds)]


def _id(case: tuple[Transition, RecallState, Role, RecallKind]) -> str:
    t, source, role, kind = case
    return f"{t.name}-{source}-{role}-{kind}"


@pytest.mark.parametrize("case", LEGAL, ids=[_id(c) for c in LEGAL])
def test_every_legal_transition_by_the_right_role_reaches_its_target(
        case: tuple[Transition, RecallState, Role, RecallKind]) -> None:
    transition, source, role, kind = case
    assert step(source, kind, transition.name, role) == (transition.target or source)
    assert transition.name in allowed(source, kind, role)


def test_a_firm_initiated_recall_walks_to_termination_with_the_right_roles() -> None:
    walk = [("triage", Role.FIRM), ("initiate", Role.FIRM), ("classify", Role.REGULATOR),
            ("set_strategy", Role.FIRM), ("publish", Role.REGULATOR),
            ("start_notifying", Role.FIRM), ("respond", Role.PHARMACY),
            ("report_progress", Role.FIRM), ("respond", Role.PHYSICIAN),
            ("report_progress", Role.FIRM), ("complete", Role.FIRM),
            ("request_termination", Role.FIRM), ("terminate", Role.REGULATOR)]
    state: str = RecallState.DETECTED
    seen = [state]
    for transition, role in walk:
        state = step(state, RecallKind.RECALL, transition, role)
        seen.append(state)
    assert seen == ["detected", "triaged", "initiated", "classified", "strategy_set",
                    "published", "notifying", "notifying", "in_progress", "in_progress",
                    "in_progress", "completed", "termination_requested", "terminated"]
    assert is_final(state, RecallKind.RECALL)


def test_recall_cannot_be_classified_by_the_firm() -> None:
    with pytest.raises(InvalidTransition) as refused:
        step("initiated", "recall", "classify", "firm")
    assert str(refused.value) == ("cannot 'classify' a recall in state 'initiated' as firm: "
                                  "only the regulator classifies; the firm has nothing to "
                                  "do now")


def test_classifying_before_initiation_as_the_firm_names_both_faults() -> None:
    with pytest.raises(InvalidTransition) as refused:
        step("detected", "recall", "classify", "firm")
    assert str(refused.value) == ("cannot 'classify' a recall in state 'detected' as firm: "
                                  "only the regulator classifies, and only after initiation "
                                  "(from 'initiated')")


WRONG_ROLE = [(t, source, role) for t in TRANSITIONS for source in t.sources
              for role in Role if role not in t.roles]


@pytest.mark.parametrize("case", WRONG_ROLE,
                         ids=[f"{t.name}-{s}-{r}" for t, s, r in WRONG_ROLE])
def test_a_transition_by_the_wrong_role_is_refused_naming_state_transition_and_role(
        case: tuple[Transition, RecallState, Role]) -> None:
    transition, source, role = case
    with pytest.raises(InvalidTransition) as refused:
        step(source, RecallKind.RECALL, transition.name, role)
    message = str(refused.value)
    assert message.startswith(f"cannot '{transition.name}' a recall in state '{source}' "
                              f"as {role}: only ")
    assert transition.does in message
    assert transition.name not in allowed(source, RecallKind.RECALL, role)


OUT_OF_ORDER = [(t, state, role) for t in TRANSITIONS for state in RecallState
                for role in sorted(t.roles)
                if state not in t.sources and not is_final(state, RecallKind.RECALL)]


@pytest.mark.parametrize("case", OUT_OF_ORDER,
                         ids=[f"{t.name}-{s}-{r}" for t, s, r in OUT_OF_ORDER])
def test_a_transition_out_of_order_is_refused_saying_where_it_comes_from(
        case: tuple[Transition, RecallState, Role]) -> None:
    transition, state, role = case
    with pytest.raises(InvalidTransition) as refused:
        step(state, RecallKind.RECALL, transition.name, role)
    message = str(refused.value)
    assert message.startswith(f"cannot '{transition.name}' a recall in state '{state}' "
                              f"as {role}: '{transition.name}' comes only {transition.when}")
    for source in transition.sources:
        assert f"'{source}'" in message
    # it tells the role what it may do instead
    assert ", ".join(allowed(state, RecallKind.RECALL, role)) in message


def test_initiation_records_who_started_the_recall() -> None:
    assert INITIATIONS == {"initiate": Initiative.FIRM_INITIATED,
                           "initiate_on_request": Initiative.FDA_REQUESTED,
                           "order_recall": Initiative.FDA_MANDATED}
    assert allowed("triaged", "recall", "firm") == ("initiate", "initiate_on_request")
    assert allowed("triaged", "recall", "regulator") == ("order_recall",)
    for name in INITIATIONS:
        assert BY_NAME[name].target == RecallState.INITIATED


@pytest.mark.parametrize("kind", [RecallKind.MARKET_WITHDRAWAL, RecallKind.STOCK_RECOVERY])
def test_a_market_withdrawal_or_stock_recovery_ends_at_triage_and_gets_no_class(
        kind: RecallKind) -> None:
    state = step("detected", kind, "triage", "firm")
    assert state == RecallState.TRIAGED
    assert is_final(state, kind)
    for role in Role:
        assert allowed(state, kind, role) == ()
    with pytest.raises(InvalidTransition, match=r"is not a recall: .*gets no class and ends "
                                                r"at triage") as refused:
        step(state, kind, "classify", "regulator")
    assert f"a {kind.replace('_', ' ')} in state 'triaged' as regulator" in str(refused.value)


def test_a_triaged_market_withdrawal_is_final_for_triage_too() -> None:
    with pytest.raises(InvalidTransition, match="'triaged' is final for a market withdrawal"):
        step("triaged", "market_withdrawal", "triage", "regulator")


def test_a_correction_follows_the_recall_path() -> None:
    for state, role in itertools.product(RecallState, Role):
        assert allowed(state, "correction", role) == allowed(state, "recall", role)


def test_allowed_lists_exactly_the_transitions_step_accepts() -> None:
    for state, kind, role, transition in itertools.product(RecallState, RecallKind, Role,
                                                           TRANSITIONS):
        permitted = transition.name in allowed(state, kind, role)
        try:
            step(state, kind, transition.name, role)
        except InvalidTransition:
            assert not permitted
        else:
            assert permitted


def test_available_shows_every_role_that_may_act_now() -> None:
    now = available("notifying", "recall")
    assert [t.name for t in now] == ["respond", "report_progress"]
    assert {role for t in now for role in t.roles} == {Role.FIRM, Role.PHARMACY,
                                                       Role.PHYSICIAN}


def test_the_regulator_may_refuse_termination_and_the_recall_goes_on() -> None:
    state = step("termination_requested", "recall", "refuse_termination", "regulator")
    assert state == RecallState.IN_PROGRESS
    assert "report_progress" in allowed(state, "recall", "firm")


def test_a_terminated_recall_is_final() -> None:
    assert is_final("terminated", "recall")
    for transition in TRANSITIONS:
        with pytest.raises(InvalidTransition, match="'terminated' is final for a recall"):
            step("terminated", "recall", transition.name, sorted(transition.roles)[0])


@pytest.mark.parametrize(("args", "names"), [
    (("reopened", "recall", "triage", "firm"), "'reopened' is not a recall state"),
    (("detected", "lawsuit", "triage", "firm"), "'lawsuit' is not a recall kind"),
    (("detected", "recall", "triage", "patient"), "'patient' is not a recall role"),
    (("detected", "recall", "reopen", "firm"), "'reopen' is not a recall transition"),
])
def test_unknown_input_is_refused_naming_it(args: tuple[str, str, str, str],
                                            names: str) -> None:
    with pytest.raises(InvalidTransition, match=names):
        step(*args)
    assert args[2] not in allowed(*args[:2], args[3])


def test_every_transition_cites_its_source_and_every_state_is_reachable() -> None:
    for transition in TRANSITIONS:
        assert transition.sections
        assert all(s.strip() for s in transition.sections)
        assert transition.roles
    reachable = {RecallState.DETECTED}
    frontier = [RecallState.DETECTED]
    while frontier:
        state = frontier.pop()
        for transition in available(state, "recall"):
            target = transition.target or state
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(RecallState)
    assert [row[1] for row in table_rows()] == [t.name for t in TRANSITIONS]


TABLE = {(source, t.name): t for t in TRANSITIONS for source in t.sources}


@given(kind=st.sampled_from(list(RecallKind)),
       moves=st.lists(st.tuples(st.sampled_from([t.name for t in TRANSITIONS]),
                                st.sampled_from(list(Role))), max_size=40))
def test_random_walks_stay_in_the_table_and_every_refusal_names_its_parts(
        kind: RecallKind, moves: list[tuple[str, Role]]) -> None:
    state = RecallState.DETECTED
    for name, role in moves:
        try:
            after = step(state, kind, name, role)
        except InvalidTransition as refused:
            message = str(refused)
            assert f"'{name}'" in message
            assert f"'{state}'" in message
            assert f" as {role}: " in message
            assert name not in allowed(state, kind, role)
            continue
        transition = TABLE[(state, name)]
        assert role in transition.roles
        assert kind in transition.kinds
        assert after == (transition.target or state)
        state = after
    if kind in (RecallKind.MARKET_WITHDRAWAL, RecallKind.STOCK_RECOVERY):
        assert state in (RecallState.DETECTED, RecallState.TRIAGED)


def _report(**changes: object) -> StatusReport:
    fields: dict[str, object] = {
        "as_of": date(2024, 3, 1), "consignees_notified": 40,
        "notified_on": date(2024, 2, 1), "methods": (NotificationMethod.LETTER,),
        "consignees_responding": 35, "quantity_on_hand": 1200, "non_responders": 5,
        "quantity_returned": 1100, "effectiveness_checks": 4,
        "effectiveness_results": "4 of 4 consignees confirmed removal"}
    fields.update(changes)
    return StatusReport(**fields)  # type: ignore[arg-type]


def test_a_status_report_holds_the_items_of_7_53() -> None:
    report = _report(estimated_completion=date(2024, 4, 1), non_responder_ids=("PH-7",))
    assert report.response_rate == pytest.approx(35 / 40)
    assert _report(consignees_notified=0, notified_on=None, methods=(),
                   consignees_responding=0, non_responders=0).response_rate is None


@pytest.mark.parametrize(("changes", "where"), [
    ({"quantity_returned": -1}, "status_report.quantity_returned"),
    ({"consignees_responding": 39}, "status_report.consignees_responding"),
    ({"notified_on": None}, "status_report.notified_on"),
    ({"methods": ()}, "status_report.methods"),
    ({"notified_on": date(2024, 3, 2)}, "status_report.notified_on"),
    ({"non_responder_ids": tuple(f"PH-{n}" for n in range(6))},
     "status_report.non_responder_ids"),
    ({"effectiveness_results": " "}, "status_report.effectiveness_results"),
])
def test_an_inconsistent_status_report_is_refused_naming_the_field(
        changes: dict[str, object], where: str) -> None:
    with pytest.raises(Invalid) as refused:
        _report(**changes)
    assert refused.value.where == where


def test_a_termination_request_needs_the_letter_the_latest_report_and_the_disposition(
        ) -> None:
    report = _report()
    request = TerminationRequest(date(2024, 5, 1), "The recall was effective: ...", report,
                                 "returned stock destroyed under witness")
    assert request.latest_report is report
    for changes, where in (({"written_request": ""}, "written_request"),
                           ({"disposition": "  "}, "disposition"),
                           ({"requested_on": date(2024, 2, 1)}, "latest_report")):
        fields: dict[str, object] = {"requested_on": date(2024, 5, 1),
                                     "written_request": "effective", "latest_report": report,
                                     "disposition": "destroyed", **changes}
        with pytest.raises(Invalid) as refused:
            TerminationRequest(**fields)  # type: ignore[arg-type]
        assert refused.value.where == f"termination_request.{where}"
