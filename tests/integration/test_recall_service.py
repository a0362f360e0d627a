"""Investigations and recalls on a real database (SQLite and PostgreSQL): the whole Part 7
path taken by the right roles, wrong roles and out-of-order steps refused naming the state,
the transition and the role, every step audited with author and reason, an investigation
through its committee's vote and decision to its recall, the domain objects stored and
loaded back unchanged, and FDA's enforcement report imported whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from medsafe.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from medsafe.interop.openfda.reader import iter_recalls, read_recalls
from medsafe.recalls import investigation_service as investigations
from medsafe.recalls import service
from medsafe.recalls.inputs import (
    Classification,
    NewDecision,
    NewHazardEvaluation,
    NewInvestigation,
    NewLotTest,
    NewMember,
    NewRecall,
    NewRecommendation,
    NewReview,
    NewStatusReport,
    NewTerminationRequest,
    NewVote,
    RecallFromInvestigation,
    RecallStepInput,
    Strategy,
)
from medsafe.recalls.investigation import HazardEvaluation
from medsafe.recalls.model import RecallClass
from medsafe.recalls.openfda_import import import_openfda
from medsafe.recalls.service import RecallDetail
from medsafe.security.audit import verify
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.schema import AuditEvent, RecallLotRow, RecallRow
from tests.support.databases import KINDS
from tests.support.recalls import (
    SAMPLE_RECORDS,
    enforcement_file,
    enforcement_record,
    malformed_file,
    mo_recall,
    sample_path,
    step,
)
from tests.support.world import World, world_on


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("recalls")) as built:
        yield built


def who(world: World, name: str) -> Principal:
    return world.principals[name]


def classify(world: World, name: str, recall_id: int, recall_class: str = "II",
             acting_as: str | None = None) -> RecallDetail:
    with world.container.uow() as uow:
        return service.classify(uow, who(world, name), recall_id, Classification.model_validate({
            "classification": recall_class, "acting_as": acting_as,
            "reason": f"health hazard evaluation: Class {recall_class}"}))


def strategy(world: World, name: str, recall_id: int) -> RecallDetail:
    with world.container.uow() as uow:
        return service.set_strategy(uow, who(world, name), recall_id, Strategy(
            depth="consumer", public_warning="general", effectiveness_check="B",
            reason="patients hold the lot at home"))


def status_report(world: World, name: str, recall_id: int, returned: int) -> RecallDetail:
    today = datetime.now(UTC).date()
    with world.container.uow() as uow:
        return service.file_status_report(uow, who(world, name), recall_id, NewStatusReport(
            as_of=today, consignees_notified=12, notified_on=today, methods=["letter",
                                                                          "email"],
            consignees_responding=10, quantity_on_hand=400, non_responders=2,
            quantity_returned=returned, effectiveness_checks=3,
            effectiveness_results="3 of 3 consignees checked had quarantined the lot",
            reason="fortnightly report to the regulator"))


def request_termination(world: World, name: str, recall_id: int) -> RecallDetail:
    with world.container.uow() as uow:
        return service.request_termination(uow, who(world, name), recall_id,
                                           NewTerminationRequest(
                                               written_request="All consignees responded; "
                                               "the recall was effective.",
                                               disposition="returned stock destroyed",
                                               reason="recall complete"))


def audit_events(world: World, entity: str, entity_id: int
                 ) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """(action, actor, reason, changes) of each event about the entity, oldest first."""
    with world.container.uow() as uow:
        return [(e.action, e.actor, e.reason, json.loads(e.changes))
                for e in uow.session.execute(select(AuditEvent).where(
                    AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
                    .order_by(AuditEvent.seq)).scalars()]


def recall_count(world: World) -> int:
    with world.container.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(RecallRow))
                   .scalar_one())


# -- the Part 7 path -----------------------------------------------------------------------

def test_the_whole_part7_path_is_taken_by_the_right_roles(world: World) -> None:
    recall = mo_recall(world).summary
    assert (recall.state, recall.source) == ("detected", "medsafe")
    assert recall.recall_number is not None
    assert recall.recall_number.startswith("MS-")
    rid = recall.id
    step(world, "mo-manufacturer", rid, "triage")
    initiated = step(world, "mo-manufacturer", rid, "initiate")
    assert initiated.record.initiative.value == "firm_initiated"
    classify(world, "rita-regulator", rid, "II")
    strategy(world, "mo-manufacturer", rid)
    published = step(world, "rita-regulator", rid, "publish")
    assert published.history[-1].detail["notices_queued"] == 0  # the notices work's hook
    step(world, "mo-manufacturer", rid, "start_notifying")
    step(world, "phil-pharmacist", rid, "respond", "quarantined 40 packs of MO-001")
    status_report(world, "mo-manufacturer", rid, returned=300)
    step(world, "mo-manufacturer", rid, "complete")
    request_termination(world, "mo-manufacturer", rid)
    step(world, "rita-regulator", rid, "refuse_termination", "two consignees never replied")
    status_report(world, "mo-manufacturer", rid, returned=400)
    step(world, "mo-manufacturer", rid, "complete")
    request_termination(world, "mo-manufacturer", rid)
    done = step(world, "rita-regulator", rid, "terminate", "all reasonable efforts made")

    today = datetime.now(UTC).date()
    record = done.record
    assert done.summary.state == "terminated"
    assert record.classification is RecallClass.II
    assert (record.depth, record.public_warning, record.effectiveness_check) == (
        "consumer", "general", "B")
    assert (record.dates.initiated, record.dates.classified, record.dates.reported,
            record.dates.terminated) == (today, today, today, today)
    assert [(h.transition, h.role, h.by) for h in done.history] == [
        ("create", "firm", "mo-manufacturer"), ("triage", "firm", "mo-manufacturer"),
        ("initiate", "firm", "mo-manufacturer"), ("classify", "regulator", "rita-regulator"),
        ("set_strategy", "firm", "mo-manufacturer"),
        ("publish", "regulator", "rita-regulator"),
        ("start_notifying", "firm", "mo-manufacturer"),
        ("respond", "pharmacy", "phil-pharmacist"),
        ("report_progress", "firm", "mo-manufacturer"), ("complete", "firm", "mo-manufacturer"),
        ("request_termination", "firm", "mo-manufacturer"),
        ("refuse_termination", "regulator", "rita-regulator"),
        ("report_progress", "firm", "mo-manufacturer"), ("complete", "firm", "mo-manufacturer"),
        ("request_termination", "firm", "mo-manufacturer"),
        ("terminate", "regulator", "rita-regulator")]
    assert [r.report.quantity_returned for r in done.status_reports] == [300, 400]
    assert done.status_reports[0].response_rate == pytest.approx(10 / 12)
    assert [t.status_report_id for t in done.termination_requests] == [
        r.id for r in done.status_reports]
    assert done.summary.next_steps == []
    assert done.my_steps == []


def test_every_recall_step_is_audited_with_its_author_and_reason(world: World) -> None:
    rid = mo_recall(world).summary.id
    step(world, "mo-manufacturer", rid, "triage", "a recall, not a withdrawal: assay fails")
    step(world, "mo-manufacturer", rid, "initiate", "we recall of our own volition")
    events = audit_events(world, "recall", rid)
    assert [event[:3] for event in events] == [
        ("recall.create", "mo-manufacturer", "stability test failed at 12 months"),
        ("recall.triage", "mo-manufacturer", "a recall, not a withdrawal: assay fails"),
        ("recall.initiate", "mo-manufacturer", "we recall of our own volition")]
    assert events[-1][3]["state"] == ["triaged", "initiated"]
    assert events[-1][3]["role"] == "firm"
    with world.container.uow() as uow:
        assert verify(uow).ok


def test_a_wrong_role_is_refused_naming_the_state_the_transition_and_the_role(
        world: World) -> None:
    rid = mo_recall(world).summary.id
    step(world, "mo-manufacturer", rid, "triage")
    step(world, "mo-manufacturer", rid, "initiate")
    with pytest.raises(InvalidTransition) as refused:
        classify(world, "mo-manufacturer", rid)
    message = str(refused.value)
    assert "'classify'" in message
    assert "'initiated'" in message
    assert "as firm" in message
    assert "only the regulator classifies" in message
    before = audit_events(world, "recall", rid)
    with world.container.uow() as uow:
        assert service.read_recall(uow, SYSTEM, rid).summary.state == "initiated"
    assert audit_events(world, "recall", rid) == before


def test_an_out_of_order_step_is_refused_naming_what_comes_first(world: World) -> None:
    rid = mo_recall(world).summary.id
    with pytest.raises(InvalidTransition) as refused:
        step(world, "rita-regulator", rid, "publish")
    message = str(refused.value)
    assert "cannot 'publish' a recall in state 'detected' as regulator" in message
    assert "from 'strategy_set'" in message


def test_a_consignee_cannot_triage_and_a_patient_takes_no_step(world: World) -> None:
    rid = mo_recall(world).summary.id
    with pytest.raises(NotFound):  # not published: a pharmacist does not see it yet
        step(world, "phil-pharmacist", rid, "triage")
    with pytest.raises(Forbidden, match="a patient takes no part in a recall"), \
            world.container.uow() as uow:
        service.take_step(uow, who(world, "pat-patient"), rid,
                          RecallStepInput(transition="respond", reason="x"))


def test_only_the_recalling_firm_acts_as_the_firm(world: World) -> None:
    with world.container.uow() as uow:
        acme = service.create_recall(uow, who(world, "alice-admin"), NewRecall.model_validate({
            "reason_for_recall": "label mix-up",
            "products": [{"description": "Tizanidine 4 mg", "ndcs": ["54321-876-09"]}],
            "firm_organisation_id": world.ids["acme"], "reason": "Acme reported it"}))
    rid = acme.summary.id
    assert acme.record.firm.name == "Acme Generics"
    with pytest.raises(NotFound):  # Mo does not see another firm's unpublished recall
        step(world, "mo-manufacturer", rid, "triage")
    for name, transition in (("alice-admin", "triage"), ("alice-admin", "initiate")):
        step(world, name, rid, transition)
    classify(world, "alice-admin", rid, "III", acting_as="regulator")
    strategy(world, "alice-admin", rid)
    step(world, "rita-regulator", rid, "publish")
    with pytest.raises(Forbidden, match="not the recalling firm"):
        step(world, "mo-manufacturer", rid, "start_notifying")


def test_an_administrator_acts_as_any_role_and_the_history_says_so(world: World) -> None:
    rid = mo_recall(world).summary.id
    step(world, "alice-admin", rid, "triage")  # firm or regulator: the firm by default
    step(world, "alice-admin", rid, "order_recall", acting_as="regulator")
    detail = classify(world, "alice-admin", rid, "I")  # only the regulator classifies
    assert [(h.transition, h.role, h.account_role) for h in detail.history[1:]] == [
        ("triage", "firm", "admin"), ("order_recall", "regulator", "admin"),
        ("classify", "regulator", "admin")]
    assert detail.record.initiative.value == "fda_mandated"
    with pytest.raises(InvalidTransition, match="as firm"):
        classify(world, "alice-admin", rid, "I", acting_as="firm")


def test_a_market_withdrawal_gets_no_class_and_ends_at_triage(world: World) -> None:
    rid = mo_recall(world, kind="market_withdrawal").summary.id
    triaged = step(world, "mo-manufacturer", rid, "triage")
    assert triaged.summary.next_steps == []
    with pytest.raises(InvalidTransition, match="a market withdrawal is not a recall"):
        step(world, "mo-manufacturer", rid, "initiate")


def test_a_termination_request_needs_a_status_report(world: World) -> None:
    rid = mo_recall(world).summary.id
    with pytest.raises(Invalid, match="has no status report"):
        request_termination(world, "mo-manufacturer", rid)


def test_a_published_recall_is_public_and_carries_its_deadlines(world: World) -> None:
    rid = mo_recall(world).summary.id
    for name, transition in (("mo-manufacturer", "triage"), ("mo-manufacturer", "initiate")):
        step(world, name, rid, transition)
    classify(world, "rita-regulator", rid, "I")
    strategy(world, "mo-manufacturer", rid)
    with world.container.uow() as uow:
        assert rid not in [r.id for r in service.list_recalls(
            uow, who(world, "phil-pharmacist"), limit=200)[0]]
    published = step(world, "rita-regulator", rid, "publish").history[-1].at
    with world.container.uow() as uow:
        listed, _ = service.list_recalls(uow, who(world, "phil-pharmacist"),
                                         state="published", limit=200,
                                         at=published + timedelta(hours=25))
    mine = next(r for r in listed if r.id == rid)
    due = {d.action: d for d in mine.deadlines}
    # DEFAULT_POLICY, Class I: stock off the shelves within 24 hours (local policy).
    assert due["remove_stock"].due == published + timedelta(hours=24)
    assert due["remove_stock"].overdue
    assert not due["return_stock"].overdue
    assert "notify_patients" in due  # consumer depth


# -- investigations ------------------------------------------------------------------------

def test_an_investigation_goes_through_its_committee_to_a_recall(world: World) -> None:
    rita, mo = who(world, "rita-regulator"), who(world, "mo-manufacturer")
    with world.container.uow() as uow:
        opened = investigations.open_investigation(uow, mo, NewInvestigation(
            product="Baclofen 10 mg tablets", origin="quality_defect",
            description="tablets crumble", lots=["MO-001", "MO-002"],
            reason="complaints from two pharmacies"))
    iid = opened.id
    assert opened.state == "open"
    hazard = NewHazardEvaluation(
        injuries_occurred=False, exposure_conditions="patients taking a crumbled dose",
        populations_at_risk=["people with multiple sclerosis"], seriousness="moderate",
        likelihood="remote", consequences="withdrawal symptoms if doses are short",
        proposed_class="II", reason="the evaluation of the hazard")
    with world.container.uow() as uow:
        investigations.record_lot_test(uow, mo, iid, NewLotTest.model_validate({
            "lot": "MO-001", "test": "hardness", "result": "2 kp",
            "specification": "4-8 kp", "passed": False, "tested_on": "2026-01-05",
            "reason": "retained samples"}))
    with world.container.uow() as uow:
        investigations.evaluate_hazard(uow, mo, iid, hazard)
    with world.container.uow() as uow:
        investigations.open_review(uow, mo, iid, NewReview.model_validate({
            "members": [{"name": "Dr Ada"}, {"name": "Dr Ben"},
                        {"name": "Dr Cy", "conflicts": [{"product": "Baclofen 10 mg tablets",
                                                         "nature": "consults for Mo"}]}],
            "questions": [{"key": "recall", "text": "Should the lots be recalled?"}],
            "reason": "independent advice before deciding"}))
    with world.container.uow() as uow:
        investigations.add_member(uow, mo, iid, NewMember(name="Dr Dee",
                                                          reason="a pharmacist's view"))
    for member, choice in (("Dr Ada", "yes"), ("Dr Ben", "yes"), ("Dr Dee", "no")):
        with world.container.uow() as uow:
            investigations.cast_vote(uow, mo, iid, NewVote(
                member=member, question="recall", choice=choice,  # type: ignore[arg-type]
                reason="recorded by the chair"))
    with pytest.raises(Forbidden, match="declared a conflict"), world.container.uow() as uow:
        investigations.cast_vote(uow, mo, iid, NewVote(member="Dr Cy", question="recall",
                                                       choice="yes", reason="chair"))
    with pytest.raises(InvalidTransition, match="membership is fixed"), \
            world.container.uow() as uow:
        investigations.add_member(uow, mo, iid, NewMember(name="Dr Eve", reason="late"))
    with world.container.uow() as uow:
        investigations.recommend(uow, mo, iid, NewRecommendation(
            recommendation="recall both lots", reason="2 to 1"))
    with world.container.uow() as uow:
        decided = investigations.decide(uow, rita, iid, NewDecision(
            kind="recall", rationale="lots out of specification", proposed_class="II",
            reason="the committee's advice and the tests agree"))
    committee = decided.committee
    assert committee is not None
    assert committee.outcomes == {"recall": "yes"}
    assert [m.may_vote for m in committee.members] == [True, True, False, True]
    assert decided.state == "decided"

    with world.container.uow() as uow:
        recall = service.recall_from_investigation(uow, mo, iid, RecallFromInvestigation(
            reason="the decision of the investigation"))
    assert recall.summary.state == "triaged"
    assert recall.summary.investigation_id == iid
    assert [lot.number for lot in recall.record.products[0].lots] == ["MO-001", "MO-002"]
    assert recall.record.firm.name == "Mo Pharma"
    assert [h.transition for h in recall.history] == ["create", "triage"]
    with pytest.raises(Conflict), world.container.uow() as uow:
        service.recall_from_investigation(uow, mo, iid, RecallFromInvestigation(
            reason="again"))

    with world.container.uow() as uow:
        shown = investigations.read_investigation(uow, rita, iid)
        row = uow.investigations.get(iid, investigations.visible_investigations(rita))
        assert row is not None
        loaded = uow.investigations.load(row)
    assert shown.recall_id == recall.summary.id
    assert loaded.hazard == HazardEvaluation(
        injuries_occurred=False, injuries="", exposure_conditions=hazard.exposure_conditions,
        populations_at_risk=("people with multiple sclerosis",), seriousness="moderate",
        likelihood="remote", consequences=hazard.consequences,
        proposed_class=RecallClass.II)
    assert loaded.committee is not None
    assert [(v.member, v.choice.value) for v in loaded.committee.votes] == [
        ("Dr Ada", "yes"), ("Dr Ben", "yes"), ("Dr Dee", "no")]
    assert loaded.committee.members[2].conflicts[0].nature == "consults for Mo"
    assert loaded.lots == ("MO-001", "MO-002")
    assert [(s.action, s.by) for s in shown.history] == [
        ("open", "mo-manufacturer"), ("add_lot_test", "mo-manufacturer"),
        ("evaluate_hazard", "mo-manufacturer"), ("refer_to_committee", "mo-manufacturer"),
        ("add_member", "mo-manufacturer"), ("vote", "mo-manufacturer"),
        ("vote", "mo-manufacturer"), ("vote", "mo-manufacturer"),
        ("recommend", "mo-manufacturer"), ("decide", "rita-regulator")]
    assert all(s.reason for s in shown.history)


def test_investigation_steps_out_of_order_and_by_others_are_refused(world: World) -> None:
    mo = who(world, "mo-manufacturer")
    with world.container.uow() as uow:
        iid = investigations.open_investigation(uow, mo, NewInvestigation(
            product="Baclofen 10 mg tablets", origin="quality_defect",
            description="discoloured tablets", reason="a pharmacist's report")).id
    with pytest.raises(InvalidTransition, match="cannot 'decide' investigation"), \
            world.container.uow() as uow:
        investigations.decide(uow, mo, iid, NewDecision(kind="no_action",
                                                        rationale="harmless",
                                                        reason="early"))
    with pytest.raises(Forbidden), world.container.uow() as uow:
        investigations.read_investigation(uow, who(world, "phil-pharmacist"), iid)
    with pytest.raises(NotFound, match="no signal 999999"), world.container.uow() as uow:
        investigations.open_investigation(uow, mo, NewInvestigation(
            product="Baclofen", origin="signal", signal_id=999999, reason="a signal"))


# -- openFDA import ------------------------------------------------------------------------

def test_the_sample_imports_round_trips_and_imports_again_without_change(
        world: World, tmp_path: Path) -> None:
    path = sample_path()
    with world.container.uow() as uow:
        first = import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)
    assert (first.records, first.recalls, first.new) == (SAMPLE_RECORDS,) * 3
    expected = read_recalls(path).records
    assert first.lots == sum(len(p.lots) for r in expected for p in r.products)
    with world.container.uow() as uow:
        stored, _ = service.records_for_export(uow, SYSTEM, source="openfda")
    assert sorted(stored, key=repr) == sorted(expected, key=repr)  # the store round trip

    total = recall_count(world)
    with world.container.uow() as uow:
        again = import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)
    assert (again.new, again.updated, again.unchanged) == (0, 0, SAMPLE_RECORDS)
    assert recall_count(world) == total

    raw = json.loads(path.read_text(encoding="utf-8"))
    moved = next(r for r in raw["results"] if r["status"] == "Ongoing")
    moved.update(status="Terminated", termination_date="20210420")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(raw), encoding="utf-8")
    with world.container.uow() as uow:
        before = service.recall_ids(uow, SYSTEM, moved["recall_number"])
        updated = import_openfda(uow, SYSTEM, iter_recalls(newer), label=newer.name)
    assert (updated.new, updated.updated) == (0, 1)
    with world.container.uow() as uow:
        assert service.recall_ids(uow, SYSTEM, moved["recall_number"]) == before
        detail = service.read_recall(uow, SYSTEM, before[0])
    assert detail.summary.state == "terminated"
    assert str(detail.record.dates.terminated) == "2021-04-20"


def test_a_file_with_one_malformed_record_leaves_the_store_untouched(
        world: World, tmp_path: Path) -> None:
    path = malformed_file(tmp_path / "bad.json", size=5, bad=3)
    with world.container.uow() as uow:
        events = uow.session.execute(select(func.count()).select_from(AuditEvent)).scalar()
    recalls = recall_count(world)
    with pytest.raises(Invalid) as refused, world.container.uow() as uow:
        import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)
    assert "record 3 (D-0004-2021), field report_date" in str(refused.value)
    assert recall_count(world) == recalls
    with world.container.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(AuditEvent)
                                   ).scalar() == events


def test_a_recall_reported_twice_in_a_file_is_loaded_once_as_its_later_report(
        world: World, tmp_path: Path) -> None:
    early = enforcement_record(901)
    late = {**early, "status": "Terminated", "termination_date": "20210601",
            "report_date": "20210203"}
    path = enforcement_file(tmp_path / "twice.json", [late, early])
    with world.container.uow() as uow:
        summary = import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)
    assert (summary.records, summary.recalls, summary.superseded) == (2, 1, 1)
    with world.container.uow() as uow:
        (rid,) = service.recall_ids(uow, SYSTEM, "D-0901-2021")
        detail = service.read_recall(uow, SYSTEM, rid)
        lot = uow.session.execute(select(RecallLotRow.lot_number, RecallLotRow.lot_key)
                                  .where(RecallLotRow.recall_id == rid)).one()
    assert detail.summary.state == "terminated"
    assert tuple(lot) == ("T0901", "T0901")


def test_an_import_does_not_replace_a_medsafe_recall(world: World, tmp_path: Path) -> None:
    ours = mo_recall(world).summary.recall_number
    assert ours is not None
    path = enforcement_file(tmp_path / "clash.json",
                            [enforcement_record(902, recall_number=ours)])
    with pytest.raises(Conflict, match=ours), world.container.uow() as uow:
        import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)


def test_an_imported_recall_is_stored_with_every_field(world: World, tmp_path: Path) -> None:
    raw: dict[str, Any] = enforcement_record(903, openfda={"package_ndc": ["12345-678-03"]},
                                             code_info="NDC 12345-678-03 Lot A1, "
                                                       "Exp 06/30/2023; Lot a-2")
    path = enforcement_file(tmp_path / "one.json", [raw])
    with world.container.uow() as uow:
        import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)
    (expected,) = read_recalls(path).records
    with world.container.uow() as uow:
        (rid,) = service.recall_ids(uow, SYSTEM, "D-0903-2021")
        detail = service.read_recall(uow, SYSTEM, rid)
        keys = uow.session.execute(select(RecallLotRow.lot_key)
                                   .where(RecallLotRow.recall_id == rid)
                                   .order_by(RecallLotRow.position)).scalars().all()
    assert detail.record == expected
    assert detail.record == replace(expected)  # a frozen record, equal field by field
    assert keys == ["A1", "A2"]
    assert detail.summary.source == "openfda"
