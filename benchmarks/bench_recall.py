"""Recall matching at scale: every openFDA recall matched against the stock and dispensing
records of the synthetic population, and one recall matched with its affected patients
listed.

    uv run python -m benchmarks.bench_recall [--patients 1000000] [--database-url URL]
        [--keep | --existing] [--runs 5] [--enforcement FILE]

The population is built as benchmarks/bench_store builds it (the same functions): by
default one million patients (about ten million dispensing records) in a new SQLite file
in a temporary folder, deleted afterwards; with a PostgreSQL URL in a fresh schema
(`--schema`, default bench_recall). `--keep` keeps it, `--existing` measures a kept one.
The recalls are read with medsafe's openFDA reader from the 12,504-record export in
../shared/data/fda-enforcement.

Prints (medians of --runs runs, the first run apart when it differs, since it also pays
for reading pages into the database's cache):
- reading the export and building the recalls' matching keys;
- matching all recalls at once (AffectedRepository.match_many: the lots each recall
  concerns) and counting what they reach (reach: holders, dispensing pharmacies,
  patients, per recall and all together) — target under 2 minutes;
- how many recalls matched a stored lot, how many reach patients, and which;
- one recall matched with its holders and every dispensing to its patients listed
  (AffectedRepository.affected), for each recall that reaches patients, and for recalls
  that match nothing (the usual case) — target under 1 s.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy import Engine

from benchmarks.bench_store import add_population_arguments, machine, population
from medsafe.interop.openfda.reader import read_recalls
from medsafe.recalls.matching import Affected, AffectedLot, Reach, RecallKeys, recall_keys
from medsafe.recalls.model import RecallRecord
from medsafe.store.repositories.affected import AffectedRepository
from medsafe.store.uow import uow_factory

ENFORCEMENT = (Path(__file__).resolve().parents[2] / "shared" / "data" / "fda-enforcement"
               / "drug-enforcement-0001-of-0001.json.zip")
T = TypeVar("T")


def timed(runs: int, work: Callable[[], T]) -> tuple[T, list[float]]:
    """The result of the last run and every run's seconds."""
    seconds: list[float] = []
    result: T | None = None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return cast(T, result), seconds


def figures(seconds: list[float], unit: str = "s") -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    values = [s * scale for s in seconds]
    text = f"median {statistics.median(values):,.2f} {unit}"
    if len(values) > 1:
        text += f" (first {values[0]:,.2f}, min {min(values):,.2f}, max {max(values):,.2f})"
    return text


def read_keys(path: Path) -> tuple[list[RecallRecord], dict[int, RecallKeys]]:
    started = time.perf_counter()
    records = list(read_recalls(path).records)
    reading = time.perf_counter() - started
    started = time.perf_counter()
    keys = {index: recall_keys(record) for index, record in enumerate(records)}
    keying = time.perf_counter() - started
    lots = sum(len(k.lots) for k in keys.values())
    every = sum(1 for k in keys.values() if k.all_lots)
    no_ndc = sum(1 for r in records if not any(p.ndcs for p in r.products))
    no_key = sum(1 for k in keys.values() if not k.ndcs)
    print(f"read {len(records):,} recalls in {reading:.1f} s; keys in {keying:.2f} s: "
          f"{lots:,} (NDC, lot) keys, {every:,} recalls of all lots of their NDCs; "
          f"{no_key:,} recalls give no key ({no_ndc:,} name no NDC, the others no lot); "
          f"{sum(len(k.unmatchable) for k in keys.values()):,} lot numbers without an NDC")
    return records, keys


@dataclass(frozen=True)
class AllMatched:
    matched: dict[int, list[AffectedLot]]
    each: dict[int, Reach]
    total: Reach
    matching: float  # seconds in match_many
    reaching: float  # seconds in reach


def match_all(engine: Engine, keys: dict[int, RecallKeys]) -> AllMatched:
    with uow_factory(engine)() as uow:
        repository = AffectedRepository(uow.session)
        started = time.perf_counter()
        matched = repository.match_many(keys)
        middle = time.perf_counter()
        each, total = repository.reach(matched)
        return AllMatched(matched, each, total, middle - started,
                          time.perf_counter() - middle)


def affected_one(engine: Engine, keys: RecallKeys) -> Affected:
    with uow_factory(engine)() as uow:
        found = AffectedRepository(uow.session).affected(keys)
        # Listing the patients is part of the answer: their pseudonyms, once each.
        sorted({(r.pseudonym, r.patient_id) for r in found.recipients})
        return found


def measure(engine: Engine, records: list[RecallRecord], keys: dict[int, RecallKeys],
            runs: int) -> None:
    runs_all = [match_all(engine, keys) for _ in range(runs)]
    last = runs_all[-1]
    matched, each, total = last.matched, last.each, last.total
    print(f"all {len(keys):,} recalls matched at once: "
          f"{figures([r.matching + r.reaching for r in runs_all])}; of which match_many "
          f"{figures([r.matching for r in runs_all])}, reach "
          f"{figures([r.reaching for r in runs_all])}")
    reaching = {i: r for i, r in each.items() if r.patients}
    print(f"  {len(matched):,} recalls match a stored lot ({total.lots:,} lots); "
          f"{len(reaching):,} reach patients: {total.patients:,} patients, "
          f"{total.holders:,} pharmacies holding stock, {total.dispensers:,} that "
          f"dispensed; {sum(1 for i in matched if not each[i].patients):,} match only "
          "lots no one holds or received")
    for index in sorted(matched, key=lambda i: (-each[i].patients, i)):
        record, reach = records[index], each[index]
        by = sorted({lot.by for lot in matched[index]})
        print(f"    {record.recall_number} ({record.classification or 'unclassified'}, "
              f"{', '.join(by)}): {reach.lots} lots, {reach.holders} holders, "
              f"{reach.dispensers} dispensers, {reach.patients:,} patients")
    print(f"one recall matched and its patients listed (AffectedRepository.affected), "
          f"{runs} runs each:")
    medians: list[float] = []
    for index in sorted(reaching, key=lambda i: (-each[i].patients, i)):
        found, seconds = timed(runs, partial(affected_one, engine, keys[index]))
        medians.append(statistics.median(seconds))
        print(f"  {records[index].recall_number}: {len(found.patient_ids):,} patients, "
              f"{len(found.recipients):,} dispensings, {len(found.holders)} holdings: "
              f"{figures(seconds, 'ms')}")
    unmatched = [i for i in keys if i not in matched and keys[i].ndcs][:20]
    misses: list[float] = []
    for index in unmatched:
        _, seconds = timed(runs, partial(affected_one, engine, keys[index]))
        misses.append(statistics.median(seconds))
    if medians:
        print(f"  over the {len(medians)} recalls that reach patients: median of medians "
              f"{statistics.median(medians) * 1000:,.1f} ms, slowest "
              f"{max(medians) * 1000:,.1f} ms")
    if misses:
        print(f"  {len(misses)} recalls that match nothing: median of medians "
              f"{statistics.median(misses) * 1000:,.2f} ms, slowest "
              f"{max(misses) * 1000:,.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_population_arguments(parser, "bench_recall")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--enforcement", type=Path, default=ENFORCEMENT,
                        help="openFDA drug enforcement JSON, zipped or not")
    args = parser.parse_args()
    if not args.enforcement.exists():
        raise SystemExit(f"{args.enforcement} is not here: the benchmark matches the real "
                         "openFDA recalls")
    print(f"machine: {machine()}")
    records, keys = read_keys(args.enforcement)
    with population(args) as engine:
        # As bench_store: a long-lived server freezes its start-up objects, and a full
        # collection inside a timed run would be noise, not matching.
        gc.collect()
        gc.freeze()
        measure(engine, records, keys, args.runs)


if __name__ == "__main__":
    main()
