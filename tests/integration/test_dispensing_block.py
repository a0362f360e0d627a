"""The dispensing block on a real database (SQLite and PostgreSQL): a lot under an open
recall is refused with the recall's number and the lot; a pharmacist may dispense it with
a reason, audited as an override; without a reason it stays refused; once the recall is
terminated, or when it is a market withdrawal, the lot dispenses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from medsafe.errors import Conflict
from medsafe.recalls import service
from medsafe.recalls.inputs import (
    Classification,
    NewRecall,
    NewStatusReport,
    NewTerminationRequest,
    Strategy,
)
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import AuditEvent, Stock
from medsafe.supply import dispensing, products, stock
from medsafe.supply.dispensing import NewDispensing
from medsafe.supply.products import NewLot, NewProduct
from medsafe.supply.stock import StockLevel
from tests.support.databases import KINDS
from tests.support.recalls import mo_recall, step
from tests.support.world import World, world_on

UNITS = 1000


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("block")) as built:
        yield built


def lot_at_phil(world: World, number: str, expiry: date | None = date(2031, 12, 31)) -> int:
    """A new lot of Mo's baclofen, stocked at Phil's pharmacy."""
    with world.container.uow() as uow:
        lot_id = products.create_lot(uow, SYSTEM, world.ids["mo_product"],
                                     NewLot(lot_number=number, expiry=expiry)).id
    with world.container.uow() as uow:
        stock.set_stock(uow, SYSTEM, world.ids["phil_pharmacy"], lot_id,
                        StockLevel(quantity=UNITS))
    return lot_id


def dispense(world: World, lot_id: int, override: str | None = None
             ) -> dispensing.DispensingView:
    with world.container.uow() as uow:
        return dispensing.record_dispensing(uow, world.principals["phil-pharmacist"],
                                            NewDispensing(patient=world.ids["cared"],
                                                          lot_id=lot_id, quantity=10,
                                                          override_reason=override))


def on_hand(world: World, lot_id: int) -> int:
    with world.container.uow() as uow:
        return uow.session.execute(select(Stock.quantity).where(
            Stock.lot_id == lot_id, Stock.pharmacy_id == world.ids["phil_pharmacy"])
        ).scalar_one()


def number_of(world: World, recall_id: int) -> str:
    with world.container.uow() as uow:
        found = service.read_recall(uow, SYSTEM, recall_id).summary.recall_number
    assert found is not None
    return found


def test_a_lot_under_an_open_recall_is_refused_naming_the_recall_and_the_lot(
        world: World) -> None:
    lot_id = lot_at_phil(world, "BLK-1")
    recall_id = mo_recall(world, lots=("BLK-1",)).summary.id  # detected: already open
    with pytest.raises(Conflict) as refused:
        dispense(world, lot_id)
    message = str(refused.value)
    assert number_of(world, recall_id) in message
    assert "BLK-1" in message
    assert "override_reason" in message
    assert on_hand(world, lot_id) == UNITS  # nothing was dispensed


def test_the_lot_number_matches_as_recalls_print_it(world: World) -> None:
    lot_id = lot_at_phil(world, "BLK.2/A")  # stored with a dot and a slash
    mo_recall(world, lots=("Lot# BLK-2A",))
    with pytest.raises(Conflict):
        dispense(world, lot_id)


def test_an_override_with_a_reason_dispenses_and_is_audited(world: World) -> None:
    lot_id = lot_at_phil(world, "BLK-3")
    recall_id = mo_recall(world, lots=("BLK-3",)).summary.id
    given = dispense(world, lot_id, override="only supply for a patient who must not stop")
    assert given.lot_number == "BLK-3"
    assert on_hand(world, lot_id) == UNITS - 10
    number = number_of(world, recall_id)
    with world.container.uow() as uow:
        event = uow.session.execute(select(AuditEvent).where(
            AuditEvent.action == "dispensing.recall_override",
            AuditEvent.entity_id == str(given.id))).scalar_one()
        assert event.actor == "phil-pharmacist"
        assert event.reason == "only supply for a patient who must not stop"
        assert json.loads(event.changes)["recalls"] == [number]


def test_without_a_reason_the_override_is_refused(world: World) -> None:
    lot_id = lot_at_phil(world, "BLK-4")
    mo_recall(world, lots=("BLK-4",))
    with pytest.raises(ValidationError):
        NewDispensing(patient=world.ids["cared"], lot_id=lot_id, quantity=10,
                      override_reason="   ")  # blank after trimming
    with pytest.raises(Conflict):
        dispense(world, lot_id, override=None)
    assert on_hand(world, lot_id) == UNITS


def test_a_lot_of_a_terminated_recall_dispenses(world: World) -> None:
    lot_id = lot_at_phil(world, "BLK-5")
    recall_id = mo_recall(world, lots=("BLK-5",)).summary.id
    terminate(world, recall_id)
    assert dispense(world, lot_id).lot_number == "BLK-5"


def test_a_market_withdrawal_does_not_block(world: World) -> None:
    lot_id = lot_at_phil(world, "BLK-6")
    mo_recall(world, lots=("BLK-6",), kind="market_withdrawal")
    assert dispense(world, lot_id).lot_number == "BLK-6"


def test_every_lot_recalled_blocks_every_lot_and_another_expiry_month_does_not(
        world: World) -> None:
    lot_id = lot_at_phil(world, "BLK-7", expiry=date(2030, 5, 31))
    with world.container.uow() as uow:
        service.create_recall(uow, world.principals["mo-manufacturer"], NewRecall.model_validate({
            "reason_for_recall": "wrong lot printed", "reason": "found in release testing",
            "products": [{"description": "Baclofen 10 mg tablets", "ndcs": ["12345-678-90"],
                          "lots": [{"number": "BLK-7", "expiry": "2031-12-31"}]}]}))
    assert dispense(world, lot_id).lot_number == "BLK-7"  # same number, another expiry
    with world.container.uow() as uow:
        service.create_recall(uow, world.principals["mo-manufacturer"], NewRecall.model_validate({
            "reason_for_recall": "every lot", "reason": "formulation defect",
            "products": [{"description": "Baclofen 10 mg tablets", "ndcs": ["12345-678-90"],
                          "all_lots": True}]}))
    with pytest.raises(Conflict):
        dispense(world, lot_id)


def test_a_recall_naming_no_ndc_blocks_its_firms_own_lot_and_no_other_firms(
        world: World) -> None:
    """Matching rule 6: Mo's recall of lot BLK-8 of a product it codes otherwise (no NDC)
    blocks Mo's lot BLK-8, not Acme's lot of the same number."""
    with world.container.uow() as uow:
        mine = products.create_product(uow, SYSTEM, world.container.catalog, NewProduct(
            code_system="other", code="MO-BAC-5", name="Baclofen 5 mg",
            ingredient_id="baclofen", manufacturer_id=world.ids["mo_pharma"])).id
    with world.container.uow() as uow:
        lot_id = products.create_lot(uow, SYSTEM, mine, NewLot(lot_number="BLK-8")).id
    with world.container.uow() as uow:
        stock.set_stock(uow, SYSTEM, world.ids["phil_pharmacy"], lot_id,
                        StockLevel(quantity=UNITS))
    with world.container.uow() as uow:
        acme_lot = products.create_lot(uow, SYSTEM, world.ids["acme_product"],
                                       NewLot(lot_number="BLK-8")).id
    with world.container.uow() as uow:
        stock.set_stock(uow, SYSTEM, world.ids["other_pharmacy"], acme_lot,
                        StockLevel(quantity=UNITS))
    with world.container.uow() as uow:
        service.create_recall(uow, world.principals["mo-manufacturer"], NewRecall.model_validate({
            "reason_for_recall": "tablets crumble", "reason": "complaints",
            "products": [{"description": "Baclofen 5 mg", "lots": [{"number": "BLK-8"}]}]}))
    with pytest.raises(Conflict):
        dispense(world, lot_id)
    with world.container.uow() as uow:
        given = dispensing.record_dispensing(uow, world.principals["oscar-pharmacist"],
                                             NewDispensing(patient=world.ids["other"],
                                                           lot_id=acme_lot, quantity=10))
    assert given.lot_number == "BLK-8"


def terminate(world: World, recall_id: int) -> None:
    """Mo's recall taken by the firm and the regulator from detection to termination."""
    firm, regulator = "mo-manufacturer", "rita-regulator"
    step(world, firm, recall_id, "triage")
    step(world, firm, recall_id, "initiate")
    with world.container.uow() as uow:
        service.classify(uow, world.principals[regulator], recall_id,
                         Classification(classification="III", reason="evaluated"))
    with world.container.uow() as uow:
        service.set_strategy(uow, world.principals[firm], recall_id, Strategy(
            depth="wholesale", public_warning="none", effectiveness_check="A",
            reason="agreed"))
    step(world, regulator, recall_id, "publish")
    step(world, firm, recall_id, "start_notifying")
    with world.container.uow() as uow:
        service.file_status_report(uow, world.principals[firm], recall_id,
                                   NewStatusReport.model_validate({
                                       "as_of": date.today().isoformat(),
                                       "consignees_notified": 0, "reason": "all returned"}))
    step(world, firm, recall_id, "complete")
    with world.container.uow() as uow:
        service.request_termination(uow, world.principals[firm], recall_id,
                                    NewTerminationRequest.model_validate({
                                        "written_request": "effective",
                                        "disposition": "destroyed", "reason": "done"}))
    step(world, regulator, recall_id, "terminate")
