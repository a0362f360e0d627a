"""A case store for signal detection tests, on top of the persona world: background
reports spread evenly over ten lots of Mo Pharma's baclofen and over common reactions
(the cluster's reaction among them, once per lot), some tizanidine reports, and a cluster
of one reaction on two of the lots, reported later in the year.

Everything is counted out, not random, so a test can say what the statistics must find
from how the store was built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa

from medsafe.cases.intake import Receipt, store_reports
from medsafe.cases.model import CaseReport
from medsafe.security.principal import SYSTEM
from medsafe.signals import management
from medsafe.signals.detection import count_arrow, detect
from medsafe.signals.stats import Prior
from medsafe.store.schema import Product
from medsafe.supply import products
from medsafe.supply.products import NewLot
from tests.support.case_builder import case_report, reaction
from tests.support.world import World, day

CLUSTER_EVENT = "Muscle spasticity"
BACKGROUND_EVENTS = ("Somnolence", "Dizziness", "Asthenia", "Nausea", "Fatigue",
                     "Headache", "Insomnia", "Constipation")
LOTS = 10
CLUSTER_LOTS = (3, 4)  # lot numbers MO-C03 and MO-C04
BACKGROUND_PER_LOT = 24
CLUSTER_PER_LOT = 7
TIZANIDINE_REPORTS = 60
FIRST_DAY = date(2025, 11, 1)
CLUSTER_FROM = date(2026, 7, 1)


@dataclass(frozen=True)
class Cluster:
    product_name: str
    lot_numbers: tuple[str, ...]  # every lot of the product, in order
    cluster_lots: tuple[str, ...]
    event: str
    cases: int  # how many cases were stored

    @property
    def cluster_lot_labels(self) -> set[str]:
        return {f"{self.product_name} lot {number}" for number in self.cluster_lots}


def lot_number(index: int) -> str:
    return f"MO-C{index:02d}"


def store_lot_cluster(world: World, prefix: str = "US-SIGNAL") -> Cluster:
    """Store the cluster world's cases (one transaction) and describe it."""
    container = world.container
    numbers = tuple(lot_number(i) for i in range(1, LOTS + 1))
    for number in numbers:
        with container.uow() as uow:
            products.create_lot(uow, SYSTEM, world.ids["mo_product"],
                                NewLot(lot_number=number, expiry=day("2031-12-31")))
    serial = iter(range(1, 100_000))
    reports: list[CaseReport] = []

    def add(product: str, product_id: int, lots: tuple[str, ...], event: str,
            received: date) -> None:
        reports.append(case_report(f"{prefix}-{next(serial):05d}", received=received,
                                   product=product, product_id=product_id, lots=lots,
                                   reactions=(reaction(event, serious=False,
                                                       start=received.isoformat()),)))

    mo_name, acme_name = product_name(world, "mo_product"), product_name(world, "acme_product")
    for index, number in enumerate(numbers, start=1):
        for k in range(BACKGROUND_PER_LOT):
            add(mo_name, world.ids["mo_product"], (number,),
                BACKGROUND_EVENTS[(index + k) % len(BACKGROUND_EVENTS)],
                FIRST_DAY + timedelta(days=(index * 7 + k * 11) % 240))
        add(mo_name, world.ids["mo_product"], (number,), CLUSTER_EVENT,
            FIRST_DAY + timedelta(days=index * 13))
        if index in CLUSTER_LOTS:
            for k in range(CLUSTER_PER_LOT):
                add(mo_name, world.ids["mo_product"], (number,), CLUSTER_EVENT,
                    CLUSTER_FROM + timedelta(days=k * 9 + index))
    for k in range(TIZANIDINE_REPORTS):
        add(acme_name, world.ids["acme_product"], ("ACME-001",),
            BACKGROUND_EVENTS[k % len(BACKGROUND_EVENTS)],
            FIRST_DAY + timedelta(days=(k * 5) % 300))
    with container.uow() as uow:
        store_reports(uow, SYSTEM, container.catalog, reports, Receipt(source="api"))
        uow.commit()
    return Cluster(product_name=mo_name, lot_numbers=numbers,
                   cluster_lots=tuple(lot_number(i) for i in CLUSTER_LOTS),
                   event=CLUSTER_EVENT, cases=len(reports))


GIVEN_PRIOR = Prior(0.2, 0.1, 2.0, 4.0, 1 / 3)  # openEBGM's vignette start: no fit needed


def fresh_signal(world: World, drug: str, *, event: str = "Test event",
                 axis: str = "drug") -> int:
    """A new signal on `drug` x `event`, from a stored run over a small table in which
    the pair has six reports and no other drug has the event (so every rule flags it).
    The run uses a given prior, so nothing is fitted."""
    rows = [(f"T-{drug}-{i}", drug, event) for i in range(6)]
    rows += [(f"B-{i}", f"background drug {i % 6}", f"background event {i % 5}")
             for i in range(60)]
    table = pa.table({"report": [r[0] for r in rows], "drug": [r[1] for r in rows],
                      "event": [r[2] for r in rows]})
    detection = detect(lambda: count_arrow(table), input="test table", input_format="csv",
                       parameters={"made_by": "tests.support.signal_world"},
                       prior=GIVEN_PRIOR)
    with world.container.uow() as uow:
        management.store_run(uow, SYSTEM, detection, axis=axis)
    with world.container.uow() as uow:
        found, _ = management.list_signals(uow, SYSTEM, axis=None, drug=drug, event=event,
                                           limit=200)
    return next(s.id for s in found if (s.axis, s.drug, s.event) == (axis, drug, event))


def product_name(world: World, key: str) -> str:
    """The name of one of the world's products (`mo_product`, `acme_product`)."""
    with world.container.uow() as uow:
        return uow.session.get_one(Product, world.ids[key]).name
