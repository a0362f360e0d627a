"""Intake benchmark: a FAERS-size quarter (synthetic, FAERS layout, written by
`benchmarks.faers_quarter`) imported into a fresh SQLite database through the same path
as `medsafe cases import-faers`, and the E2B(R3) import rate on FDA's example files.

Prints rows/s, cases/s, wall time and peak RSS (this process, and the reading process).
By default the import reads in a second process, as `medsafe cases import-faers` does;
`--one-process` measures the single-process path for comparison.

Target (issue 4): a FAERS-size quarter
(about 400,000 reports, 1.5 million drug rows, 1.2 million reaction rows) in under 3
minutes into SQLite, peak memory under 1 GB.

    uv run python -m benchmarks.bench_intake [--reports 400000] [--work DIR]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.faers_quarter import write_synthetic_quarter
from medsafe.bootstrap import bootstrap
from medsafe.cases.exchange import receive_e2b
from medsafe.cases.imports import import_reports
from medsafe.cases.parallel_import import ReaderSpec, import_folder
from medsafe.config import Settings
from medsafe.interop.faers.reader import FaersReader
from medsafe.security.principal import SYSTEM

E2B = Path(__file__).resolve().parents[1] / "data" / "reports" / "e2b-examples"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def faers(reports: int, work: Path, *, parallel: bool) -> None:
    quarter = work / f"quarter-{reports}"
    if not (quarter / "DEMO.txt").exists() and not any(quarter.glob("DEMO*")):
        started = time.perf_counter()
        write_synthetic_quarter(quarter, reports=reports)
        print(f"wrote the synthetic quarter in {time.perf_counter() - started:.0f} s")
    rows = sum(sum(1 for _ in path.open("rb")) - 1 for path in quarter.glob("*.txt"))
    database = work / "intake.db"
    database.unlink(missing_ok=True)
    container = bootstrap(Settings(environment="test", data_dir=work,
                                   database_url=f"sqlite:///{database}"), migrate=True)
    started = time.perf_counter()
    if parallel:
        summary = import_folder(container.uow, SYSTEM, container.catalog,
                                ReaderSpec("faers", quarter), label=str(quarter))
    else:
        summary = import_reports(container.uow, SYSTEM, container.catalog,
                                 iter(FaersReader(quarter)), source="faers",
                                 label=str(quarter))
    seconds = time.perf_counter() - started
    how = "two processes" if parallel else "one process"
    size = database.stat().st_size / 2**20
    print(f"FAERS quarter into SQLite ({how}): {summary.new:,} cases from {rows:,} rows in "
          f"{seconds:.0f} s = {rows / seconds:,.0f} rows/s, {summary.new / seconds:,.0f} "
          f"cases/s; database {size:,.0f} MiB; peak RSS {peak_rss_mib():,.0f} MiB here, "
          f"{children_peak_rss_mib():,.0f} MiB in the reading process")
    container.engine.dispose()


def e2b(work: Path, repeats: int = 20) -> None:
    if not E2B.exists():
        print("E2B: skipped, needs data/reports/e2b-examples")
        return
    from medsafe.interop.e2b.reader import read_e2b

    files = sorted(E2B.glob("FAERS2022Scenario*.xml"))
    data = [path.read_bytes() for path in files]
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for blob, path in zip(data, files, strict=True):
            read_e2b(blob, source_name=path.name)
        timings.append(time.perf_counter() - started)
    per_file = statistics.median(timings) / len(files)
    print(f"E2B(R3) parse and map: median {per_file * 1000:.1f} ms per file "
          f"({1 / per_file:,.0f} files/s; files of {sum(map(len, data)) // len(data):,} bytes)")
    e2b_into_store(work, data[0])


def e2b_into_store(work: Path, example: bytes, files: int = 300) -> None:
    """The whole intake of one file: read, check against FDA's rules, store as a new case
    (each copy gets a worldwide id of its own), acknowledge; one transaction per file."""
    database = work / "e2b.db"
    database.unlink(missing_ok=True)
    container = bootstrap(Settings(environment="test", data_dir=work,
                                   database_url=f"sqlite:///{database}"), migrate=True)
    original = b'extension="US-APHARMA-8744554B"'
    assert original in example
    copies = [example.replace(original, f'extension="US-BENCH-{n:06d}"'.encode())
              for n in range(files)]
    started = time.perf_counter()
    for n, blob in enumerate(copies):
        receive_e2b(container.uow, SYSTEM, container.catalog, blob, name=f"{n}.xml")
    seconds = time.perf_counter() - started
    print(f"E2B(R3) intake into SQLite (read, FDA rules, store, acknowledge): {files} files "
          f"in {seconds:.1f} s = {files / seconds:,.0f} files/s")
    container.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=400_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--one-process", action="store_true",
                        help="read and write in this process (the import without a reader "
                        "process, for comparison)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = arguments.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        e2b(work)
        faers(arguments.reports, work, parallel=not arguments.one_process)


if __name__ == "__main__":
    main()
