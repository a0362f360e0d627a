"""Store scale: load a synthetic population into a fresh database and time the recall
query "all patients who received lot X".

    uv run python -m benchmarks.bench_store [--patients 1000000] [--database-url URL]

Default: one million patients (about ten million dispensing records) into a new SQLite
file in a temporary folder, deleted afterwards. With a PostgreSQL URL the population goes
into a fresh schema (`--schema`, default bench_store) that is dropped afterwards. Prints
the machine, the load time and rows per second, the database size, and the median and p99
latency of the recall query over 100 random lots (target: under 50 ms on both databases).
Prints figures, asserts nothing.

After the measurement as the schema and engine stand, the query is timed written with a
primary-key lookup per patient instead of a join, then again with a proposal applied to
the benchmark's own database (skip with --no-proposals): on PostgreSQL an index
patients (id) INCLUDE (pseudonym), on SQLite PRAGMA mmap_size.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.engine import make_url

from medsafe.population.generator import Method, PopulationSummary, write_population
from medsafe.store.engine import make_engine
from medsafe.store.migrate import upgrade

RECALL_QUERY = text(
    "SELECT p.id, p.pseudonym FROM (SELECT DISTINCT patient_id FROM dispensings "
    "WHERE lot_id = :lot) AS d JOIN patients p ON p.id = d.patient_id")
"""All patients who received lot X, with their pseudonyms. DISTINCT before the join: a
patient gets the same lot several times, and looking each one up once is cheaper."""
RECALL_QUERY_LOOKUP = text(
    "SELECT d.patient_id, (SELECT p.pseudonym FROM patients p WHERE p.id = d.patient_id) "
    "FROM (SELECT DISTINCT patient_id FROM dispensings WHERE lot_id = :lot) AS d")
"""The same answer with one primary-key lookup per patient written into the query, so the
planner has no join to choose: PostgreSQL cannot switch to scanning every patient when it
overestimates a lot (it does so for some lots with the join above)."""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; load average {load}")


@contextmanager
def fresh_database(url: str | None, schema: str, keep: bool) -> Iterator[Engine]:
    """A new, migrated database: a SQLite file in a temporary folder (or the file the
    URL names, which must not exist yet), or a new PostgreSQL schema."""
    if url is not None and make_url(url).get_backend_name() == "postgresql":
        with _postgres_schema(url, schema, keep) as engine:
            upgrade(engine)
            yield engine
        return
    folder = None
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
        url = f"sqlite:///{folder / 'medsafe.sqlite'}"
    database = make_url(url).database
    if database and Path(database).exists():
        raise SystemExit(f"{database} exists: the benchmark needs a fresh database")
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        if folder is not None and not keep:
            shutil.rmtree(folder)


@contextmanager
def existing_database(url: str | None, schema: str) -> Iterator[Engine]:
    """A database a previous run kept (--keep): left as it is afterwards."""
    if url is None:
        raise SystemExit("--existing needs --database-url")
    if make_url(url).get_backend_name() == "postgresql":
        in_schema = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        url = in_schema.render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _postgres_schema(url: str, schema: str, keep: bool) -> Iterator[Engine]:
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # Every connection of the benchmark's engine works in the new schema.
    in_schema = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(in_schema.render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        if not keep:
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def load(engine: Engine, patients: int, seed: int, method: Method) -> PopulationSummary:
    marks: dict[str, int] = {}
    started = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        step = (10 * done) // max(total, 1)
        if marks.get(what) != step:
            marks[what] = step
            print(f"  {time.perf_counter() - started:7.1f} s  {what}: {done:,}/{total:,}",
                  flush=True)

    return write_population(engine, patients, seed, on_progress=progress, method=method)


def database_size(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return _postgres_size(connection)
    database = engine.url.database or ""
    files = [Path(database + suffix) for suffix in ("", "-wal", "-shm")]
    size = sum(f.stat().st_size for f in files if f.exists())
    return f"SQLite file {size / 2**20:,.0f} MiB ({database})"


def _postgres_size(connection: Connection) -> str:
    whole = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    tables = connection.execute(text(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar()
    dispensings = connection.execute(
        text("SELECT pg_total_relation_size('dispensings')")).scalar()
    return (f"schema tables with indexes {int(tables or 0) / 2**20:,.0f} MiB "
            f"(dispensings {int(dispensings or 0) / 2**20:,.0f} MiB); whole database "
            f"{int(whole or 0) / 2**20:,.0f} MiB")


def sample_lots(engine: Engine, lots: int, seed: int) -> tuple[list[int], int]:
    """`lots` random lots among those dispensed at least once, and how many there are."""
    with engine.connect() as connection:
        candidates = [row[0] for row in connection.execute(
            text("SELECT DISTINCT lot_id FROM dispensings ORDER BY lot_id"))]
    return random.Random(seed).sample(candidates, min(lots, len(candidates))), len(candidates)


def time_recall(connection: Connection, lots: list[int], label: str,
                query: TextClause = RECALL_QUERY) -> None:
    """Run the recall query once per lot, twice over: the first pass also pays for
    bringing pages into the database's cache, the second shows the steady state. Prints
    the figures of each pass and the plan."""
    explain = "EXPLAIN " if connection.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    plan = connection.execute(text(explain + str(query)), {"lot": lots[0]}).fetchall()
    print(f"  {label}:")
    for name in ("first pass", "second pass"):
        timings: list[float] = []
        sizes: list[int] = []
        for lot in lots:
            started = time.perf_counter_ns()
            rows = connection.execute(query, {"lot": lot}).fetchall()
            timings.append((time.perf_counter_ns() - started) / 1e6)
            sizes.append(len(rows))
        print(f"    {name}: median {statistics.median(timings):.2f} ms, p95 "
              f"{percentile(timings, 95):.2f} ms, p99 {percentile(timings, 99):.2f} ms, max "
              f"{max(timings):.2f} ms (patients per lot: median "
              f"{statistics.median(sizes):,.0f}, max {max(sizes):,})")
    print("    plan: " + " | ".join(str(row[-1]).strip() for row in plan))


def recall_latency(engine: Engine, lots: int, seed: int, proposals: bool,
                   freeze: bool) -> None:
    chosen, dispensed = sample_lots(engine, lots, seed)
    print(f"recall query over {len(chosen)} random lots (of {dispensed:,} dispensed):")
    if freeze:
        # Without this a full pass of Python's cyclic collector over every object alive
        # since start-up lands inside a few queries and makes the p99 (20-90 ms more at a
        # million patients). A long-running server freezes them after start-up likewise.
        gc.collect()
        gc.freeze()
        print("  (Python's garbage collector: objects from start-up frozen; --no-gc-freeze "
              "to see the difference)")
    with engine.connect() as connection:
        time_recall(connection, chosen, "as the schema and engine are")
        time_recall(connection, chosen, "as they are, one lookup per patient in the query",
                    RECALL_QUERY_LOOKUP)
    if not proposals:
        return
    if engine.dialect.name == "postgresql":
        _try_covering_index(engine, chosen)
    else:
        _try_memory_mapping(engine, chosen)


def _try_covering_index(engine: Engine, lots: list[int]) -> None:
    """A proposed schema change, tried on the benchmark's own copy: the pseudonym in an
    index on patients(id), so each patient is an index-only lookup and the planner keeps
    the nested loop instead of switching to a scan of all patients."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_patients_id_pseudonym "
            "ON patients (id) INCLUDE (pseudonym)")
        connection.exec_driver_sql("VACUUM (ANALYZE) patients")
        time_recall(connection, lots,
                    "with the proposed index patients (id) INCLUDE (pseudonym)")
        # Leave a kept database as the schema defines it.
        connection.exec_driver_sql("DROP INDEX ix_patients_id_pseudonym")
        connection.exec_driver_sql("ANALYZE patients")


def _try_memory_mapping(engine: Engine, lots: list[int]) -> None:
    """A proposed engine setting, tried on one connection: SQLite reads the file through a
    memory map instead of a read() call per page missing from its 2 MB page cache."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA mmap_size = 1073741824")
        time_recall(connection, lots, "with the proposed PRAGMA mmap_size = 1 GiB")


def add_population_arguments(parser: argparse.ArgumentParser, schema: str) -> None:
    """The options of a benchmark that runs on the synthetic population (`population`)."""
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: a new SQLite file in a temp folder)")
    parser.add_argument("--schema", default=schema,
                        help="PostgreSQL schema to create, fill and drop")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--method", default="auto",
                        choices=("auto", "copy", "executemany", "core"))
    parser.add_argument("--keep", action="store_true",
                        help="keep the database (SQLite file or schema) afterwards")
    parser.add_argument("--existing", action="store_true",
                        help="only measure on a database loaded before with --keep")


@contextmanager
def population(args: argparse.Namespace) -> Iterator[Engine]:
    """The benchmark's database (options of `add_population_arguments`): a fresh one with
    the population loaded, or with --existing one kept from an earlier run. Prints the
    database, the load and the size."""
    database = (existing_database(args.database_url, args.schema) if args.existing
                else fresh_database(args.database_url, args.schema, args.keep))
    with database as engine:
        print(f"database: {engine.dialect.name} {server_version(engine)}")
        if not args.existing:
            print(f"loading {args.patients:,} patients (seed {args.seed}):")
            report_load(load(engine, args.patients, args.seed, cast(Method, args.method)))
        print(f"size: {database_size(engine)}")
        yield engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_population_arguments(parser, "bench_store")
    parser.add_argument("--lots", type=int, default=100, help="lots to time the query on")
    parser.add_argument("--no-proposals", action="store_true",
                        help="skip timing the query with the proposed index / engine setting")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="time the query without freezing Python's collector first")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with population(args) as engine:
        recall_latency(engine, args.lots, args.seed, not args.no_proposals,
                       not args.no_gc_freeze)
        print(f"machine after the run: load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def server_version(engine: Engine) -> str:
    query = "SELECT version()" if engine.dialect.name == "postgresql" else (
        "SELECT sqlite_version()")
    with engine.connect() as connection:
        return str(connection.execute(text(query)).scalar())


def report_load(summary: PopulationSummary) -> None:
    print(f"loaded {summary.rows:,} rows in {summary.seconds:.1f} s: "
          f"{summary.rows / summary.seconds:,.0f} rows/s (method {summary.method}, "
          f"analyse included)")
    print("  " + ", ".join(f"{table} {count:,}" for table, count in summary.counts.items()))
    print(f"  sha256 {summary.sha256}")


if __name__ == "__main__":
    main()
