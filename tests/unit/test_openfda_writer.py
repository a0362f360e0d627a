"""medsafe's recalls written as openFDA enforcement JSON: read -> write -> read gives the
same records, own recalls come out in openFDA's shape, and what openFDA has no field for
is not invented into one."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medsafe.errors import Invalid
from medsafe.interop.openfda.reader import read_recalls
from medsafe.interop.openfda.writer import dump_enforcement, enforcement_document
from medsafe.recalls.model import (
    Depth,
    EffectivenessLevel,
    Firm,
    Initiative,
    PublicWarning,
    RecallClass,
    RecallDates,
    RecallLot,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.workflow import RecallKind, RecallState

SAMPLE = (Path(__file__).resolve().parents[3] / "shared" / "data" / "fda-enforcement"
          / "drug-enforcement-sample.json")
UPDATED = date(2026, 11, 26)

OWN = RecallRecord(
    recall_number="MS-2026-0001", event_id="900001", kind=RecallKind.RECALL,
    state=RecallState.NOTIFYING, classification=RecallClass.II,
    reason="two lots failed dissolution at 12 months", reason_category="Failed Dissolution "
    "Specifications",
    products=(RecallProduct(
        description="Baclofen Tablets USP, 10 mg, 100-count bottle, Rx only",
        ndcs=("00172409660", "00172409680"), quantity="12,400 bottles",
        lots=(RecallLot("BX2201", date(2027, 6, 30), "00172409660"),
              RecallLot("BX2202", date(2027, 7, 31), "00172409660"),
              RecallLot("BX9001", None, "00172409680"))),),
    firm=Firm(name="Example Pharma Inc.", address_1="1 Main St", city="Trenton",
              state="NJ", postal_code="08601", country="United States"),
    initiative=Initiative.FIRM_INITIATED, distribution_pattern="Nationwide",
    initial_notification="Letter", depth=Depth.CONSUMER,
    public_warning=PublicWarning.GENERAL, effectiveness_check=EffectivenessLevel.B,
    dates=RecallDates(initiated=date(2026, 10, 1), classified=date(2026, 10, 20),
                      reported=date(2026, 10, 28)))


def results(*records: RecallRecord) -> list[dict[str, Any]]:
    written: list[dict[str, Any]] = enforcement_document(records,
                                                         last_updated=UPDATED)["results"]
    return written


def round_trip(*records: RecallRecord) -> tuple[RecallRecord, ...]:
    return read_recalls(dump_enforcement(records, last_updated=UPDATED)).records


def test_the_real_sample_reads_writes_and_reads_back_the_same() -> None:
    if not SAMPLE.exists():
        pytest.skip("needs ../shared/data/fda-enforcement/drug-enforcement-sample.json")
    records = read_recalls(SAMPLE).records
    assert round_trip(*records) == records


def test_an_own_recall_comes_out_in_openfdas_shape() -> None:
    (result,) = results(OWN)
    assert result["recall_number"] == "MS-2026-0001"
    assert result["event_id"] == "900001"
    assert result["status"] == "Ongoing"
    assert result["classification"] == "Class II"
    assert result["voluntary_mandated"] == "Voluntary: Firm initiated"
    assert result["product_type"] == "Drugs"
    assert result["recall_initiation_date"] == "20261001"
    assert result["center_classification_date"] == "20261020"
    assert result["report_date"] == "20261028"
    assert "termination_date" not in result
    assert result["reason_for_recall"] == ("Failed Dissolution Specifications: two lots "
                                           "failed dissolution at 12 months")
    assert result["openfda"] == {"package_ndc": ["00172-4096-60", "00172-4096-80"],
                                 "product_ndc": ["00172-4096"]}
    assert result["code_info"] == ("NDC 00172-4096-60 Lot BX2201, Exp 06/30/2027; "
                                   "Lot BX2202, Exp 07/31/2027; NDC 00172-4096-80 Lot BX9001")


def test_an_own_recall_reads_back_with_its_lots_ndcs_and_dates() -> None:
    (back,) = round_trip(OWN)
    assert back.products[0].lots == OWN.products[0].lots
    assert back.products[0].ndcs == OWN.products[0].ndcs
    assert (back.dates, back.firm, back.classification, back.initiative) == (
        OWN.dates, OWN.firm, OWN.classification, OWN.initiative)
    assert back.reason_category == OWN.reason_category


def test_the_strategy_has_no_openfda_field_and_is_not_written() -> None:
    (result,) = results(OWN)
    text = json.dumps(result).lower()
    assert "depth" not in text
    assert "consumer" not in text
    assert "warning" not in text
    (back,) = round_trip(OWN)
    assert (back.depth, back.public_warning, back.effectiveness_check) == (None, None, None)
    assert set(result["openfda"]) == {"package_ndc", "product_ndc"}


@pytest.mark.parametrize(("state", "status"), [
    (RecallState.INITIATED, "Pending"), (RecallState.CLASSIFIED, "Ongoing"),
    (RecallState.PUBLISHED, "Ongoing"), (RecallState.IN_PROGRESS, "Ongoing"),
    (RecallState.COMPLETED, "Completed"), (RecallState.TERMINATION_REQUESTED, "Completed"),
    (RecallState.TERMINATED, "Terminated")])
def test_states_are_written_as_openfda_statuses(state: RecallState, status: str) -> None:
    assert results(replace(OWN, state=state))[0]["status"] == status


@pytest.mark.parametrize("changes", [
    {"state": RecallState.DETECTED}, {"state": RecallState.TRIAGED},
    {"kind": RecallKind.MARKET_WITHDRAWAL, "classification": None},
    {"kind": RecallKind.STOCK_RECOVERY}])
def test_what_is_not_a_recall_in_fdas_sense_is_not_exported(changes: dict[str, Any]) -> None:
    with pytest.raises(Invalid, match="MS-2026-0001"):
        results(replace(OWN, **changes))


def test_unknowns_are_written_as_openfda_writes_them() -> None:
    bare = replace(OWN, classification=None, initiative=Initiative.UNKNOWN,
                   recall_number=None, initial_notification=None,
                   dates=RecallDates(initiated=date(2026, 10, 1)),
                   products=(RecallProduct(description="Baclofen Tablets, all lots",
                                           all_lots=True),))
    (result,) = results(bare)
    assert result["classification"] == "Not Yet Classified"
    assert result["voluntary_mandated"] == ""
    assert result["recall_number"] == ""
    assert result["code_info"] == "All lots"
    assert result["openfda"] == {}
    assert "center_classification_date" not in result
    assert result["report_date"] == ""
    (back,) = round_trip(bare)
    assert back.classification is None
    assert back.recall_number is None
    assert back.products[0].all_lots
    assert back.products[0].lots == ()


def test_each_product_is_one_result_under_the_recall_number() -> None:
    second = RecallProduct(description="Baclofen Tablets USP, 20 mg", ndcs=("00172409760",))
    written = results(replace(OWN, products=(*OWN.products, second)))
    assert [r["recall_number"] for r in written] == ["MS-2026-0001"] * 2
    assert written[1]["openfda"]["package_ndc"] == ["00172-4097-60"]


def test_the_meta_carries_the_date_and_counts_and_no_fda_licence() -> None:
    meta = json.loads(dump_enforcement([OWN, OWN], last_updated=UPDATED))["meta"]
    assert meta == {"last_updated": "2026-11-26",
                    "results": {"skip": 0, "limit": 2, "total": 2}}


def test_text_outside_ascii_is_kept() -> None:
    named = replace(OWN, firm=replace(OWN.firm, name="Laboratorios Pérez S.A."))
    assert "Pérez".encode() in dump_enforcement([named], last_updated=UPDATED)
    assert round_trip(named)[0].firm.name == "Laboratorios Pérez S.A."
