"""Who a recall reaches, on SQLite and PostgreSQL: a small store of pharmacies, a clinic,
stock and dispensings. A recall of two lots finds exactly the organisations that hold or
dispensed them and the patients who received them — never a pharmacy that did not receive
them (the first complaint about recall systems: alerts about products never received)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from medsafe.bootstrap import Container
from medsafe.recalls.matching import RecallKeys, product_keys
from medsafe.recalls.model import RecallLot, RecallProduct
from medsafe.store.repositories.affected import AffectedRepository
from medsafe.store.schema import (
    Dispensing,
    Lot,
    Organisation,
    Patient,
    Product,
    Stock,
    User,
)
from medsafe.store.uow import UnitOfWork

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

# D-0173-2021 as the openFDA reader gives it, with a second lot added as a pharmacy
# system might print it.
TWO_LOTS = RecallProduct(
    description="Tizanidine Tablets, USP 4mg, Rx Only, 150 Tablets per Bottle, Distributed "
                "by: Ascend Laboratories, LLC Parsippany, NJ 07054, NDC: 67877-614-15.",
    ndcs=("67877061415",),
    lots=(RecallLot(number="19143017", expiry=date(2021, 5, 31), ndc="67877061415"),
          RecallLot(number="19143018-A")))


@dataclass(frozen=True)
class Store:
    """Ids of the store's rows, by what they are for."""

    orgs: dict[str, int]
    patients: dict[str, int]
    lots: dict[str, int]
    prescribers: dict[str, int]


def add(uow: UnitOfWork, row: object) -> int:
    uow.session.add(row)
    uow.session.flush()
    return int(row.id)  # type: ignore[attr-defined]


def build_store(uow: UnitOfWork) -> Store:
    orgs = {key: add(uow, Organisation(kind=kind, name=name, country="US", created_at=NOW))
            for key, kind, name in (
                ("maker", "manufacturer", "Ascend Laboratories (test)"),
                ("other_maker", "manufacturer", "Dr. Reddy's (test)"),
                ("holder", "pharmacy", "Holder Pharmacy"),
                ("dispenser", "pharmacy", "Dispenser Pharmacy"),
                ("bystander", "pharmacy", "Bystander Pharmacy"),
                ("clinic", "clinic", "Spasticity Clinic"))}
    prescribers = {key: add(uow, User(username=key, display_name=name, role="physician",
                                      password_hash="!", active=True, created_at=NOW))
                   for key, name in (("dr-ada", "Dr Ada"), ("dr-ben", "Dr Ben"))}
    patients = {key: add(uow, Patient(pseudonym=key, synthetic=True, created_at=NOW,
                                      avoid_side_effects=[]))
                for key in ("P-1", "P-2", "P-3", "P-4")}
    recalled = add(uow, Product(code="67877-614-15", code_system="ndc", name="Tizanidine 4 mg",
                                ingredient_id="tizanidine", manufacturer_id=orgs["maker"]))
    sibling = add(uow, Product(code="67877061405", code_system="ndc", name="Tizanidine 4 mg, "
                               "500-count", ingredient_id="tizanidine",
                               manufacturer_id=orgs["maker"]))
    other = add(uow, Product(code="55111-180-15", code_system="ndc", name="Tizanidine 4 mg",
                             ingredient_id="tizanidine", manufacturer_id=orgs["other_maker"]))
    synthetic = add(uow, Product(code="SYN-TIZ04", code_system="other", name="Tizanidine",
                                 ingredient_id="tizanidine", manufacturer_id=orgs["maker"]))
    lots = {key: add(uow, Lot(product_id=product, lot_number=number, expiry=expiry))
            for key, product, number, expiry in (
                ("recalled_1", recalled, "19143017", date(2021, 5, 15)),
                ("recalled_2", recalled, "LOT 19143018A", None),
                ("next_lot", recalled, "19143019", date(2021, 8, 31)),
                ("similar_number", recalled, "19143017-B", date(2021, 5, 31)),
                ("same_number_other_expiry", recalled, "19143-017", date(2021, 7, 31)),
                ("sibling_same_number", sibling, "19143017", date(2021, 5, 31)),
                ("other_same_number", other, "19143017", date(2021, 5, 31)),
                ("synthetic_same_number", synthetic, "19143017", None))}
    for pharmacy, lot, quantity in (
            ("holder", "recalled_1", 40), ("holder", "next_lot", 100),
            ("dispenser", "recalled_2", 0),  # all dispensed: empty shelf, patients have it
            ("clinic", "recalled_2", 5),
            ("bystander", "next_lot", 90), ("bystander", "sibling_same_number", 30),
            ("bystander", "other_same_number", 60), ("bystander", "synthetic_same_number", 10)):
        add(uow, Stock(pharmacy_id=orgs[pharmacy], lot_id=lots[lot], quantity=quantity,
                       updated_at=NOW))
    product_of = {"recalled_1": recalled, "recalled_2": recalled, "next_lot": recalled,
                  "sibling_same_number": sibling, "other_same_number": other,
                  "synthetic_same_number": synthetic}
    for patient, lot, pharmacy, prescriber, day in (
            ("P-1", "recalled_1", "holder", "dr-ada", date(2026, 3, 1)),
            ("P-1", "recalled_1", "holder", "dr-ada", date(2026, 3, 31)),
            ("P-2", "recalled_2", "dispenser", "dr-ben", date(2026, 4, 2)),
            ("P-3", "next_lot", "bystander", "dr-ben", date(2026, 5, 5)),
            ("P-4", "other_same_number", "bystander", "dr-ada", date(2026, 5, 6)),
            ("P-4", "sibling_same_number", "bystander", "dr-ada", date(2026, 6, 6)),
            ("P-3", "synthetic_same_number", "bystander", "dr-ben", date(2026, 6, 7))):
        add(uow, Dispensing(patient_id=patients[patient], product_id=product_of[lot],
                            lot_id=lots[lot], quantity=90, dispensed_on=day,
                            pharmacy_id=orgs[pharmacy], prescriber_id=prescribers[prescriber]))
    uow.commit()
    return Store(orgs=orgs, patients=patients, lots=lots, prescribers=prescribers)


@pytest.fixture
def store(container: Container) -> Store:
    with container.uow() as uow:
        return build_store(uow)


def test_a_recall_of_two_lots_reaches_exactly_their_holders_and_recipients(
        container: Container, store: Store) -> None:
    with container.uow() as uow:
        found = AffectedRepository(uow.session).affected(product_keys(TWO_LOTS))
    assert {(lot.lot_id, lot.ndc, lot.by, lot.recalled_as) for lot in found.lots} == {
        (store.lots["recalled_1"], "67877061415", "lot", "19143017"),
        (store.lots["recalled_2"], "67877061415", "lot", "19143018-A")}
    assert [(h.name, h.kind, h.lot_id, h.quantity) for h in found.holders] == [
        ("Holder Pharmacy", "pharmacy", store.lots["recalled_1"], 40),
        ("Spasticity Clinic", "clinic", store.lots["recalled_2"], 5)]
    assert [(r.pseudonym, r.lot_id, r.dispensed_on, r.quantity, r.pharmacy_name,
             r.prescriber_name) for r in found.recipients] == [
        ("P-1", store.lots["recalled_1"], date(2026, 3, 1), 90, "Holder Pharmacy", "Dr Ada"),
        ("P-1", store.lots["recalled_1"], date(2026, 3, 31), 90, "Holder Pharmacy", "Dr Ada"),
        ("P-2", store.lots["recalled_2"], date(2026, 4, 2), 90, "Dispenser Pharmacy",
         "Dr Ben")]
    assert found.patient_ids == {store.patients["P-1"], store.patients["P-2"]}
    assert found.prescriber_ids == {store.prescribers["dr-ada"], store.prescribers["dr-ben"]}
    # Told: who holds a lot and who dispensed one; the bystander holds the same product
    # and the same lot number of other products, and is not told.
    assert found.pharmacy_ids == {store.orgs["holder"], store.orgs["dispenser"],
                                  store.orgs["clinic"]}


def test_a_recall_of_all_lots_reaches_every_lot_of_its_ndc_however_the_store_writes_it(
        container: Container, store: Store) -> None:
    every = RecallProduct(description="Tizanidine 4 mg, 500-count, NDC 67877-614-05",
                          ndcs=("67877061405",), all_lots=True)
    with container.uow() as uow:
        found = AffectedRepository(uow.session).affected(product_keys(every))
    assert [(lot.lot_id, lot.by) for lot in found.lots] == [
        (store.lots["sibling_same_number"], "all lots")]
    assert [h.name for h in found.holders] == ["Bystander Pharmacy"]
    assert found.patient_ids == {store.patients["P-4"]}


def test_a_recall_that_names_no_stored_product_reaches_no_one(
        container: Container, store: Store) -> None:
    elsewhere = RecallProduct(description="Baclofen 10 mg, NDC 0832-1024-00",
                              ndcs=("00832102400",),
                              lots=(RecallLot(number="19143017"),))
    with container.uow() as uow:
        found = AffectedRepository(uow.session).affected(product_keys(elsewhere))
    assert (found.lots, found.holders, found.recipients) == ((), (), ())


def test_many_recalls_at_once_find_and_count_what_each_finds_alone(
        container: Container, store: Store) -> None:
    recalls = {
        "two lots": product_keys(TWO_LOTS),
        "all lots": product_keys(RecallProduct(description="NDC 67877-614-05",
                                               ndcs=("67877061405",), all_lots=True)),
        "other firm": product_keys(RecallProduct(
            description="NDC 55111-180-15", ndcs=("55111018015",),
            lots=(RecallLot(number="19143017", expiry=date(2021, 5, 31)),))),
        "nothing": RecallKeys(),
    }
    with container.uow() as uow:
        repository = AffectedRepository(uow.session)
        alone = {name: repository.affected(keys) for name, keys in recalls.items()}
        matched = repository.match_many(recalls)
        each, total = repository.reach(matched)
        again = repository.match_many(recalls)  # the temporary tables are gone: no clash
    assert matched == again
    assert {name: {lot.lot_id for lot in lots} for name, lots in matched.items()} == {
        name: {lot.lot_id for lot in found.lots} for name, found in alone.items()
        if found.lots}
    for name, reach in each.items():
        found = alone[name]
        assert (reach.lots, reach.holders, reach.dispensers, reach.patients) == (
            len(found.lots), len({h.organisation_id for h in found.holders}),
            len({r.pharmacy_id for r in found.recipients}), len(found.patient_ids)), name
    # All together each patient and organisation once: P-4 is reached by two recalls.
    assert (total.lots, total.holders, total.dispensers, total.patients) == (4, 3, 3, 3)


def test_the_batch_runs_again_after_a_committed_transaction(
        container: Container, store: Store) -> None:
    keys = {1: product_keys(TWO_LOTS)}
    with container.uow() as uow:
        first = AffectedRepository(uow.session).match_many(keys)
        uow.commit()
    with container.uow() as uow:
        assert AffectedRepository(uow.session).match_many(keys) == first
