"""The scan check and the dispensing block over HTTP, on SQLite and PostgreSQL: a scanned
pack (GS1 element string: GTIN, lot, expiry) is checked against open recalls and answered
with the recall and what to do; an expired pack says so; a scan that cannot be read is a
422 naming the application identifier; dispensing a recalled lot is a 409 naming the
recall and the lot unless the pharmacist gives a reason."""

from __future__ import annotations

from datetime import date
from typing import Any

from medsafe.interop.gs1 import GS, gtin_check_digit
from medsafe.recalls import service
from medsafe.security.principal import SYSTEM
from medsafe.supply import products, stock
from medsafe.supply.products import NewLot
from medsafe.supply.stock import StockLevel
from tests.support.recalls import mo_recall
from tests.support.world import World

SCANS = "/api/v1/scans"
NDC10 = "1234567890"  # Mo's baclofen, NDC 12345-678-90, as a GTIN carries it
GTIN = "003" + NDC10 + gtin_check_digit("003" + NDC10)  # GTIN-14, indicator 0


def recalled_lot(world: World, number: str) -> tuple[int, str]:
    """A lot of Mo's baclofen stocked at Phil's pharmacy and recalled (its id and the
    recall's number)."""
    with world.container.uow() as uow:
        lot_id = products.create_lot(uow, SYSTEM, world.ids["mo_product"],
                                     NewLot(lot_number=number, expiry=date(2031, 12, 31))).id
    with world.container.uow() as uow:
        stock.set_stock(uow, SYSTEM, world.ids["phil_pharmacy"], lot_id,
                        StockLevel(quantity=100))
    recall_id = mo_recall(world, lots=(number,)).summary.id
    with world.container.uow() as uow:
        recall_number = service.read_recall(uow, SYSTEM, recall_id).summary.recall_number
    assert recall_number is not None
    return lot_id, recall_number


def scan(world: World, element_string: str, role: str = "pharmacist") -> Any:
    return world.client.post(SCANS, json={"element_string": element_string},
                             headers=world.bearer(role))


def test_a_scanned_pack_of_a_recalled_lot_names_the_recall_and_what_to_do(
        world: World) -> None:
    _, number = recalled_lot(world, "SCAN-1")
    raw = f"]d201{GTIN}17311231" + f"10SCAN-1{GS}21SER0001"  # as a DataMatrix scanner sends it
    reply = scan(world, raw)
    assert reply.status_code == 200, reply.text
    found = reply.json()
    assert (found["gtin"], found["ndc"], found["lot"], found["serial"]) == \
        (GTIN, NDC10, "SCAN-1", "SER0001")
    assert found["recalled"] is True
    assert found["expired"] is False
    assert found["checked"]
    assert [r["recall_number"] for r in found["recalls"]] == [number]
    assert found["recalls"][0]["matched_by"] == "lot"
    assert found["product"] == "Baclofen 10 mg"
    assert any("Do not dispense" in line and number in line for line in found["advice"])


def test_a_patient_scanning_a_recalled_pack_is_told_to_keep_taking_it(world: World) -> None:
    _, number = recalled_lot(world, "SCAN-2")
    reply = scan(world, f"(01){GTIN}(17)311231(10)SCAN-2", role="patient")
    assert reply.status_code == 200, reply.text
    advice = " ".join(reply.json()["advice"])
    assert number in advice
    assert "Keep taking your medicine" in advice
    assert "Do not dispense" not in advice


def test_a_pack_under_no_recall_is_clear_and_an_expired_one_says_so(world: World) -> None:
    clear = scan(world, f"(01){GTIN}(17)311231(10)NOT-RECALLED")
    assert clear.status_code == 200, clear.text
    assert (clear.json()["recalled"], clear.json()["expired"]) == (False, False)
    assert "No open recall covers lot NOT-RECALLED" in clear.json()["advice"][0]
    expired = scan(world, f"(01){GTIN}(17)200131(10)NOT-RECALLED")
    assert expired.status_code == 200, expired.text
    assert expired.json()["expired"] is True
    assert expired.json()["expiry"] == "2020-01-31"
    assert any("expired on 2020-01-31" in line for line in expired.json()["advice"])


def test_a_gtin_without_an_ndc_is_answered_as_not_checked(world: World) -> None:
    european = "0400638133393"  # GTIN-14 of an EAN-13 from Germany: no "03", no NDC
    gtin = european + gtin_check_digit(european)
    reply = scan(world, f"(01){gtin}(10)L1")
    assert reply.status_code == 200, reply.text
    assert (reply.json()["checked"], reply.json()["recalled"]) == (False, False)
    assert "could not be checked" in reply.json()["advice"][0]


def test_a_scan_that_cannot_be_read_is_a_422_naming_the_identifier(world: World) -> None:
    wrong_check = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    for text, field in ((f"(01){wrong_check}(10)L1", "AI (01)"),
                        (f"(01){GTIN}(17)311231", "AI (10)"),  # no lot
                        (f"(01){GTIN}(17)311331(10)L1", "AI (17)"),  # month 13
                        (f"(01){GTIN}(99)X(10)L1", "AI (99)"),
                        ("(10)L1", "AI (01)")):
        reply = scan(world, text)
        assert reply.status_code == 422, (text, reply.text)
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["errors"][0]["field"] == field, reply.text
    for body in ({"element_string": ""}, {"element_string": "(01)\x00"}, {},
                 {"element_string": "x", "extra": 1}):
        reply = world.client.post(SCANS, json=body, headers=world.bearer("pharmacist"))
        assert reply.status_code == 422, (body, reply.text)


def test_anonymous_callers_cannot_scan(world: World) -> None:
    assert world.client.post(SCANS, json={"element_string": f"(01){GTIN}(10)L1"}
                             ).status_code == 401


def test_dispensing_a_recalled_lot_is_409_unless_the_pharmacist_says_why(
        world: World) -> None:
    lot_id, number = recalled_lot(world, "SCAN-3")
    body = {"patient": world.ids["cared"], "lot_id": lot_id, "quantity": 5}
    headers = world.bearer("pharmacist")
    refused = world.client.post("/api/v1/dispensings", json=body, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert number in refused.json()["detail"]
    assert "SCAN-3" in refused.json()["detail"]
    blank = world.client.post("/api/v1/dispensings", json={**body, "override_reason": " "},
                              headers=headers)
    assert blank.status_code == 422, blank.text
    given = world.client.post(
        "/api/v1/dispensings", json={**body, "override_reason": "no other lot in stock"},
        headers=headers)
    assert given.status_code == 201, given.text
    assert given.json()["lot_number"] == "SCAN-3"
    trail = world.client.get(
        f"/api/v1/audit?entity=dispensing&entity_id={given.json()['id']}",
        headers=world.bearer("admin"))
    assert trail.status_code == 200, trail.text
    override = [e for e in trail.json()["items"] if e["action"] == "dispensing.recall_override"]
    assert len(override) == 1
    assert override[0]["reason"] == "no other lot in stock"
    assert override[0]["changes"]["recalls"] == [number]
