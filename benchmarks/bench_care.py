"""Care at scale: alternatives proposed for every affected patient of a recall that
touches about 10,000 patients of the one-million-patient population, and the rate at
which diary entries are taken in.

    uv run python -m benchmarks.bench_care [--patients 1000000] [--database-url URL]
        [--keep | --existing] [--target 10000] [--plans 1000] [--entries 20000]

The population is built as benchmarks/bench_store builds it (the same functions), or
taken as a previous run kept it (`--existing`, with `--database-url`). Then:

1. the baclofen lots with the most patients are chosen until they reach `--target`
   patients; a recall of them is created by an administrator for their maker and taken
   to notifying at consumer depth (every affected patient gets a notice; timed, not the
   figure asked for);
2. `care.switching.propose_for_recall`: alternatives on each affected patient's own
   stored record, stored as reviews — target under 30 s; then again, when nothing changed
   (idempotent: it rewrites nothing);
3. `--plans` reviews decided by the patients' physicians (proposal 1; the decision's
   prescription change, plan, check-ins and messages, one transaction each);
4. diary ingestion: `--entries` entries over those plans with
   `monitoring_service.record_diary_many` (bulk, in batches of 2,000, every entry checked
   and every rule evaluated), and 200 entries one by one through `record_diary` (what the
   pages and the API do).

Prints figures (seconds, rates, peak memory, machine and load); asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, distinct, func, select

from benchmarks.bench_store import add_population_arguments, machine, population
from medsafe.care import monitoring, monitoring_service, switching
from medsafe.care.diary_inputs import BulkEntry, NewDiaryEntry
from medsafe.care.inputs import Decision
from medsafe.errors import MedsafeError
from medsafe.knowledge.catalog import Catalog
from medsafe.recalls import service
from medsafe.recalls.inputs import Classification, NewRecall, RecallStepInput, Strategy
from medsafe.records import now
from medsafe.security import accounts
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.migrate import upgrade
from medsafe.store.schema import (
    CareReview,
    Dispensing,
    Lot,
    MonitoringPlan,
    Product,
)
from medsafe.store.uow import UowFactory, uow_factory

BENCH_ADMIN = "bench-care-admin"


@dataclass(frozen=True)
class Chosen:
    maker_id: int
    product: str
    lots: list[str]
    patients: int


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def admin(uows: UowFactory) -> Principal:
    with uows() as uow:
        found = uow.users.by_username(BENCH_ADMIN)
        if found is not None:
            return accounts.principal_of(found)
        principal = accounts.create_user(uow, SYSTEM, username=BENCH_ADMIN,
                                         password="bench care admin 2026", role="admin",
                                         display_name="Benchmark administrator")
        uow.commit()
        return principal


def choose_lots(uows: UowFactory, target: int) -> Chosen:
    """Lots of one baclofen product, most patients first, until `target` patients."""
    with uows() as uow:
        rows = uow.session.execute(
            select(Lot.lot_number, Product.id, Product.name, Product.manufacturer_id,
                   func.count(distinct(Dispensing.patient_id)))
            .join(Product, Product.id == Lot.product_id)
            .join(Dispensing, Dispensing.lot_id == Lot.id)
            .where(Product.ingredient_id == "baclofen")
            .group_by(Lot.lot_number, Product.id, Product.name, Product.manufacturer_id)
            .order_by(func.count(distinct(Dispensing.patient_id)).desc())).all()
    best = rows[0][1]
    lots, total = [], 0
    for number, product_id, name, maker, patients in rows:
        if product_id != best:
            continue
        lots.append(number)
        total += patients
        product, maker_id = name, maker
        if total >= target:
            break
    return Chosen(maker_id, product, lots, total)


def recall_to_notifying(uows: UowFactory, boss: Principal, chosen: Chosen) -> int:
    with uows() as uow:
        detail = service.create_recall(uow, boss, NewRecall.model_validate({
            "reason_for_recall": f"Subpotent (benchmark): {len(chosen.lots)} lots",
            "products": [{"description": chosen.product,
                          "lots": [{"number": lot} for lot in chosen.lots]}],
            "firm_organisation_id": chosen.maker_id, "reason": "bench_care"}))
    recall_id = detail.summary.id
    for transition in ("triage", "initiate", "classify", "set_strategy", "publish",
                       "start_notifying"):
        with uows() as uow:
            if transition == "classify":
                service.classify(uow, boss, recall_id, Classification(
                    classification="II", reason="bench_care"))
            elif transition == "set_strategy":
                service.set_strategy(uow, boss, recall_id, Strategy(
                    depth="consumer", public_warning="none", effectiveness_check="C",
                    reason="bench_care"))
            else:
                service.take_step(uow, boss, recall_id, RecallStepInput.model_validate(
                    {"transition": transition, "reason": "bench_care"}))
    return recall_id


def propose(uows: UowFactory, boss: Principal, catalog: Catalog, recall_id: int,
            label: str) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    with uows() as uow:
        tally = switching.propose_for_recall(uow, boss, catalog, recall_id,
                                             today=now().date())
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label}: {tally.patients:,} patients in {wall:.1f} s (CPU {used:.1f} s; "
          f"{wall / max(tally.patients, 1) * 1000:.2f} ms a patient): {tally.created:,} new, "
          f"{tally.refreshed:,} refreshed, {tally.unchanged:,} unchanged, "
          f"{tally.without_proposals:,} without a safe alternative; {tally.batches} "
          f"batches; peak memory {peak_mb():,.0f} MB; load average {load()}")


def decide(uows: UowFactory, catalog: Catalog, recall_id: int, count: int) -> list[int]:
    """Proposal 1 decided by each patient's physician of record, for `count` reviews
    whose first proposal needs no prescriber-written steps; the plans started."""
    with uows() as uow:
        reviews = uow.session.execute(
            select(CareReview.id, CareReview.patient_id, CareReview.proposals)
            .where(CareReview.recall_id == recall_id, CareReview.state == "proposed")
            .order_by(CareReview.id)).all()
        physicians = {patient_id: accounts.principal_of(user) for patient_id, user in
                      uow.care_reviews.physicians_of_record(
                          [patient_id for _, patient_id, _ in reviews]).items()}
    started, done, refused = time.perf_counter(), 0, 0
    for review_id, patient_id, proposals in reviews:
        if done >= count:
            break
        first = proposals[0] if proposals else {}
        transition = first.get("transition") if isinstance(first, dict) else None
        if not isinstance(transition, dict) or transition.get("needs_prescriber_steps"):
            continue
        physician = physicians.get(patient_id)
        if physician is None:
            continue
        try:
            with uows() as uow:
                switching.decide(uow, physician, catalog, review_id, Decision(rank=1),
                                 today=now().date() - timedelta(days=30))
            done += 1
        except MedsafeError:
            refused += 1
    seconds = time.perf_counter() - started
    print(f"decisions: {done:,} in {seconds:.1f} s ({done / max(seconds, 1e-9):,.0f} a "
          f"second, one transaction each: prescription, plan, check-ins, messages)"
          + (f"; {refused} refused" if refused else ""))
    with uows() as uow:
        return list(uow.session.execute(
            select(MonitoringPlan.id).where(MonitoringPlan.recall_id == recall_id,
                                            MonitoringPlan.state == "active")
            .order_by(MonitoringPlan.id)).scalars())


def diaries(uows: UowFactory, plans: list[int], count: int, seed: int) -> None:
    settings = monitoring.load_settings()
    rng = random.Random(seed)
    today = now().date()
    with uows() as uow:
        starts: dict[int, date] = {}
        for plan_id, started_on in uow.session.execute(
                select(MonitoringPlan.id, MonitoringPlan.started_on)
                .where(MonitoringPlan.id.in_(plans))).all():
            starts[plan_id] = started_on
    entries: list[BulkEntry] = []
    per_plan = max(1, count // max(len(plans), 1))
    for plan_id in plans:
        start: date = starts[plan_id]
        # As the demo's diaries: symptoms low, sleep and mood good, a point either way
        # from one entry to the next; one entry in a hundred ticks a withdrawal sign.
        base = {item.id: (rng.randint(item.low, item.low + 3) if item.higher_is_worse
                          else rng.randint(item.high - 4, item.high - 1))
                for item in settings.diary_items}
        for step in range(per_plan):
            day = min(today, start + timedelta(days=step * max(1, 30 // per_plan)))
            scores = {key: max(settings.item(key).low,
                               min(settings.item(key).high, value + rng.randint(-1, 1)))
                      for key, value in base.items()}
            entries.append(BulkEntry(
                plan_id=plan_id, recorded_on=day, scores=scores,
                red_flags=(("hallucinations",) if rng.random() < 0.01 else ()),
                entered_by="bench_care"))
    entries = entries[:count]
    started, cpu = time.perf_counter(), time.process_time()
    totals = [0, 0, 0]
    for first in range(0, len(entries), 2_000):
        with uows() as uow:
            tally = monitoring_service.record_diary_many(uow, entries[first:first + 2_000],
                                                         today=today)
        totals[0] += tally.entries
        totals[1] += tally.alerts
        totals[2] += tally.messages
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"diary, in bulk: {totals[0]:,} entries over {len(plans):,} plans in {wall:.1f} s "
          f"= {totals[0] / max(wall, 1e-9):,.0f} entries a second (CPU {used:.1f} s); "
          f"{totals[1]:,} alerts, {totals[2]:,} messages to prescribers")
    boss = admin(uows)
    started = time.perf_counter()
    single = 0
    for index in range(200):
        plan_id = plans[index % len(plans)]
        with uows() as uow:
            monitoring_service.record_diary(uow, boss, plan_id, NewDiaryEntry(
                recorded_on=today, scores={"spasticity": rng.randint(0, 10)}), today=today)
        single += 1
    wall = time.perf_counter() - started
    print(f"diary, one by one (the pages' and API's path): {single} entries in {wall:.1f} s "
          f"= {single / wall:,.0f} a second")


def measure(engine: Engine, args: argparse.Namespace) -> None:
    upgrade(engine)
    uows = uow_factory(engine)
    catalog = Catalog.load()
    boss = admin(uows)
    chosen = choose_lots(uows, args.target)
    print(f"recall: {len(chosen.lots)} lots of {chosen.product} reaching "
          f"{chosen.patients:,} patients (dispensing counts)")
    started = time.perf_counter()
    recall_id = recall_to_notifying(uows, boss, chosen)
    print(f"recall {recall_id} taken to notifying at consumer depth in "
          f"{time.perf_counter() - started:.1f} s (notices queued for every patient)")
    propose(uows, boss, catalog, recall_id, "alternatives, first run")
    propose(uows, boss, catalog, recall_id, "alternatives, again (nothing changed)")
    plans = decide(uows, catalog, recall_id, args.plans)
    if plans:
        diaries(uows, plans, args.entries, args.seed)
    print(f"peak memory {peak_mb():,.0f} MB; load average {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_population_arguments(parser, "bench_care")
    parser.add_argument("--target", type=int, default=10_000,
                        help="patients the recall should touch")
    parser.add_argument("--plans", type=int, default=1_000,
                        help="reviews decided (plans started) for the diary figures")
    parser.add_argument("--entries", type=int, default=20_000,
                        help="diary entries taken in bulk")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with population(args) as engine:
        measure(engine, args)


if __name__ == "__main__":
    main()
