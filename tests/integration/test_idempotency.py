"""Idempotency-Key on creating POSTs: a retried request creates one record and gets the
first reply again; the same key with another body is a 409; racing retries create one
record between them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from medsafe.store.schema import Dispensing, IdempotencyRecord, Patient, Stock
from tests.support.databases import KINDS
from tests.support.world import World, world_on


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per database for the module; each test uses keys and names of its own."""
    with world_on(request.param, tmp_path_factory.mktemp("idempotency")) as built:
        yield built


def rows(world: World, statement: Any) -> int:
    with world.container.uow() as uow:
        return int(uow.session.execute(statement).scalar_one())


def keyed(world: World, role: str, key: str) -> dict[str, str]:
    return {**world.bearer(role), "Idempotency-Key": key}


def test_the_same_key_and_body_twice_creates_one_record_and_replays_the_reply(
        world: World) -> None:
    body = {"kind": "clinic", "name": "Riverside Clinic", "country": "GB"}
    first = world.client.post("/api/v1/organisations", json=body,
                              headers=keyed(world, "admin", "clinic-1"))
    second = world.client.post("/api/v1/organisations", json=body,
                               headers=keyed(world, "admin", "clinic-1"))
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    listed = world.client.get("/api/v1/organisations?name=Riverside",
                              headers=world.bearer("admin")).json()
    assert listed["total"] == 1


def test_a_retried_dispensing_takes_from_stock_once(world: World) -> None:
    body = {"patient": world.ids["cared"], "lot_id": world.ids["mo_lot"], "quantity": 7}
    on_hand = select(Stock.quantity).where(Stock.lot_id == world.ids["mo_lot"],
                                           Stock.pharmacy_id == world.ids["phil_pharmacy"])
    before = rows(world, on_hand)
    replies = [world.client.post("/api/v1/dispensings", json=body,
                                 headers=keyed(world, "pharmacist", "counter-42"))
               for _ in range(3)]
    assert [r.status_code for r in replies] == [201, 201, 201]
    assert len({r.json()["id"] for r in replies}) == 1
    assert rows(world, on_hand) == before - 7


def test_the_same_key_with_another_body_is_a_409_problem(world: World) -> None:
    path = f"/api/v1/patients/{world.ids['cared']}/medications"
    first = world.client.post(path, json={"text": "Ibuprofen 200 mg"},
                              headers=keyed(world, "physician", "med-1"))
    other = world.client.post(path, json={"text": "Paracetamol 500 mg"},
                              headers=keyed(world, "physician", "med-1"))
    assert first.status_code == 201
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert "med-1" in other.json()["detail"]


def test_keys_belong_to_their_user(world: World) -> None:
    path = f"/api/v1/patients/{world.ids['cared']}/medications"
    mine = world.client.post(path, json={"text": "Ibuprofen 200 mg"},
                             headers=keyed(world, "physician", "shared-key"))
    theirs = world.client.post(path, json={"text": "Ibuprofen 200 mg"},
                               headers=keyed(world, "pharmacist", "shared-key"))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_without_a_key_every_post_creates(world: World) -> None:
    path = f"/api/v1/patients/{world.ids['cared']}/allergies"
    ids = {world.client.post(path, json={"text": "Latex"},
                             headers=world.bearer("physician")).json()["id"]
           for _ in range(2)}
    assert len(ids) == 2


def test_a_failed_request_leaves_its_key_unused(world: World) -> None:
    body = {"patient": world.ids["cared"], "lot_id": world.ids["mo_lot"]}
    too_many = world.client.post("/api/v1/dispensings", json={**body, "quantity": 100_000},
                                 headers=keyed(world, "pharmacist", "try-again"))
    assert too_many.status_code == 409  # more than the pharmacy holds
    assert rows(world, select(func.count()).select_from(IdempotencyRecord)
                .where(IdempotencyRecord.key == "try-again")) == 0
    retried = world.client.post("/api/v1/dispensings", json={**body, "quantity": 2},
                                headers=keyed(world, "pharmacist", "try-again"))
    assert retried.status_code == 201


def test_an_overlong_key_is_a_422_naming_the_header(world: World) -> None:
    reply = world.client.post("/api/v1/organisations", json={"kind": "clinic", "name": "X"},
                              headers=keyed(world, "admin", "k" * 201))
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "Idempotency-Key"


def test_concurrent_requests_with_one_key_create_one_record(world: World) -> None:
    patients_before = rows(world, select(func.count()).select_from(Patient))
    dispensings_before = rows(world, select(func.count()).select_from(Dispensing))
    replies: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def register(key: str, path: str, body: dict[str, Any], role: str) -> None:
        try:
            start.wait()
            replies.append(world.client.post(path, json=body, headers=keyed(world, role, key)))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    patient = ("race-patient", "/api/v1/patients", {"birth_date": "1990-03-04"}, "physician")
    dispensed = ("race-dispensing", "/api/v1/dispensings",
                 {"patient": world.ids["cared"], "lot_id": world.ids["mo_lot"], "quantity": 1},
                 "pharmacist")
    threads = [threading.Thread(target=register, args=args)
               for args in (patient, dispensed) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.status_code for r in replies) == [201] * 6
    by_path: dict[str, set[str]] = {}
    for reply in replies:
        by_path.setdefault(reply.request.url.path, set()).add(reply.text)
    assert all(len(texts) == 1 for texts in by_path.values()), by_path
    assert rows(world, select(func.count()).select_from(Patient)) == patients_before + 1
    assert rows(world, select(func.count()).select_from(Dispensing)) == dispensings_before + 1
