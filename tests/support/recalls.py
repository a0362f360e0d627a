"""Recalls for tests: FDA's enforcement sample (../shared/data, skipped where absent), a
malformed enforcement file made from small records, and a medsafe recall of Mo Pharma's
baclofen lot started by its firm, through the service like any caller would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medsafe.recalls import service
from medsafe.recalls.inputs import NewRecall, RecallStepInput
from medsafe.recalls.service import RecallDetail
from tests.support.world import World

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "fda-enforcement"
SAMPLE = SHARED / "drug-enforcement-sample.json"
SAMPLE_RECORDS = 97


def sample_path() -> Path:
    if not SAMPLE.exists():
        pytest.skip("needs ../shared/data/fda-enforcement/drug-enforcement-sample.json")
    return SAMPLE


def enforcement_record(number: int, **changes: Any) -> dict[str, Any]:
    """One openFDA drug enforcement result, as FDA's export writes it."""
    record: dict[str, Any] = {
        "recall_number": f"D-{number:04d}-2021", "event_id": str(87000 + number),
        "status": "Ongoing", "classification": "Class II", "product_type": "Drugs",
        "voluntary_mandated": "Voluntary: Firm initiated",
        "initial_firm_notification": "Letter", "recalling_firm": "Test Pharma Inc.",
        "address_1": "1 Test Road", "address_2": "", "city": "Testville", "state": "NJ",
        "postal_code": "08000", "country": "United States",
        "product_description": f"Testamine Tablets, 10 mg, 100 count bottle, "
                               f"NDC 12345-678-{number % 100:02d}",
        "product_quantity": "1,000 bottles", "code_info": f"Lot #: T{number:04d}, Exp 06/2023",
        "reason_for_recall": "CGMP Deviations: tablets out of specification",
        "distribution_pattern": "Nationwide in the USA", "recall_initiation_date": "20210104",
        "center_classification_date": "20210120", "report_date": "20210127",
        "openfda": {},
    }
    record.update(changes)
    return record


def enforcement_file(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"meta": {"last_updated": "2021-04-28",
                                         "results": {"skip": 0, "limit": len(records),
                                                     "total": len(records)}},
                                "results": records}), encoding="utf-8")
    return path


def malformed_file(path: Path, *, size: int = 5, bad: int = 3) -> Path:
    """`size` good records but the one at index `bad`, whose report date is no date."""
    records = [enforcement_record(n) for n in range(1, size + 1)]
    records[bad]["report_date"] = "20211345"
    return enforcement_file(path, records)


def mo_recall(world: World, *, lots: tuple[str, ...] = ("MO-001",),
              kind: str = "recall") -> RecallDetail:
    """A recall of Mo Pharma's baclofen lots, started by its firm (detected)."""
    with world.container.uow() as uow:
        return service.create_recall(uow, world.principals["mo-manufacturer"],
                                     NewRecall.model_validate({
                                         "kind": kind,
                                         "reason_for_recall": "Subpotent: assay 88% of label",
                                         "products": [{
                                             "description": "Baclofen 10 mg tablets",
                                             "ndcs": ["12345-678-90"],
                                             "lots": [{"number": lot, "expiry": "2031-12-31",
                                                       "ndc": "12345-678-90"}
                                                      for lot in lots]}],
                                         "reason": "stability test failed at 12 months"}))


def step(world: World, who: str, recall_id: int, transition: str,
         reason: str | None = None, acting_as: str | None = None) -> RecallDetail:
    with world.container.uow() as uow:
        return service.take_step(uow, world.principals[who], recall_id,
                                 RecallStepInput.model_validate({
                                     "transition": transition, "acting_as": acting_as,
                                     "reason": reason or f"{who} takes {transition}"}))


# -- recalls and investigations at a given stage (the permission matrix's fresh records) ----

RECALL_PATH = (("triage", "triaged"), ("initiate", "initiated"), ("classify", "classified"),
               ("set_strategy", "strategy_set"), ("publish", "published"),
               ("start_notifying", "notifying"), ("report_progress", "in_progress"),
               ("complete", "completed"))


def recall_at(world: World, state: str) -> int:
    """A fresh recall of Mo Pharma's lot, taken by an administrator (in the role each step
    belongs to) up to `state`."""
    from medsafe.recalls.inputs import Classification, NewStatusReport, Strategy

    admin = world.principals["alice-admin"]
    recall_id = mo_recall(world).summary.id
    for transition, reached in RECALL_PATH:
        if state == "detected":
            break
        with world.container.uow() as uow:
            if transition == "classify":
                service.classify(uow, admin, recall_id, Classification(
                    classification="II", reason="matrix"))
            elif transition == "set_strategy":
                service.set_strategy(uow, admin, recall_id, Strategy(
                    depth="retail", public_warning="none", effectiveness_check="C",
                    reason="matrix"))
            elif transition == "report_progress":
                service.file_status_report(uow, admin, recall_id, NewStatusReport.model_validate(
                    {"as_of": "2026-01-10", "consignees_notified": 0, "reason": "matrix"}))
            else:
                service.take_step(uow, admin, recall_id, RecallStepInput.model_validate(
                    {"transition": transition, "reason": "matrix"}))
        if reached == state:
            break
    return recall_id


def investigation_at(world: World, state: str, *, who: str = "mo-manufacturer",
                     decision: str = "no_action") -> int:
    """A fresh investigation of Mo's product opened by `who`, taken up to `state`: open,
    hazard_evaluated, advisory_review (3 members, no votes), voted (2 of 3 voted yes),
    decided (with `decision`)."""
    from medsafe.recalls import investigation_service as investigations
    from medsafe.recalls.inputs import (
        NewDecision,
        NewHazardEvaluation,
        NewInvestigation,
        NewReview,
        NewVote,
    )

    principal = world.principals[who]
    with world.container.uow() as uow:
        iid = investigations.open_investigation(uow, principal, NewInvestigation(
            product="Baclofen 10 mg", origin="quality_defect", description="crumbling",
            lots=["MO-001"], reason="matrix")).id
    if state == "open":
        return iid
    with world.container.uow() as uow:
        investigations.evaluate_hazard(uow, principal, iid, NewHazardEvaluation(
            injuries_occurred=False, exposure_conditions="short doses",
            populations_at_risk=["adults"], seriousness="moderate", likelihood="remote",
            consequences="symptoms return", proposed_class="II", reason="matrix"))
    if state == "decided":
        with world.container.uow() as uow:
            investigations.decide(uow, principal, iid, NewDecision.model_validate({
                "kind": decision, "rationale": "matrix", "reason": "matrix",
                "proposed_class": "II" if decision == "recall" else None}))
        return iid
    if state == "hazard_evaluated":
        return iid
    with world.container.uow() as uow:
        investigations.open_review(uow, principal, iid, NewReview.model_validate({
            "members": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
            "questions": [{"key": "q", "text": "Recall?"}], "reason": "matrix"}))
    if state == "voted":
        for member in ("A", "B"):
            with world.container.uow() as uow:
                investigations.cast_vote(uow, principal, iid, NewVote(
                    member=member, question="q", choice="yes", reason="matrix"))
    return iid


def consumer_recall_notifying(world: World, lots: tuple[str, ...] = ("MO-001",)) -> int:
    """A recall of Mo Pharma's lot at consumer depth, taken by an administrator to
    notifying: every patient who received the lot has a notice (Pat: a letter, since the
    world's patients have no e-mail address)."""
    from medsafe.recalls.inputs import Classification, Strategy

    admin = world.principals["alice-admin"]
    recall_id = mo_recall(world, lots=lots).summary.id
    for transition in ("triage", "initiate", "classify", "set_strategy", "publish",
                       "start_notifying"):
        with world.container.uow() as uow:
            if transition == "classify":
                service.classify(uow, admin, recall_id, Classification(
                    classification="II", reason="subpotent tablets"))
            elif transition == "set_strategy":
                service.set_strategy(uow, admin, recall_id, Strategy(
                    depth="consumer", public_warning="none", effectiveness_check="C",
                    reason="patients must be told"))
            else:
                service.take_step(uow, admin, recall_id, RecallStepInput.model_validate(
                    {"transition": transition, "reason": f"admin takes {transition}"}))
    return recall_id
