"""FAERS reader speed and memory: read a synthetic quarter of FAERS size into CaseReports.

    uv run python -m benchmarks.bench_faers_reader [--reports 400000] [--runs 3]

Writes the quarter with `benchmarks.faers_quarter` into a folder under the temporary
directory (kept and reused by later runs; `--folder` to choose it), then reads it `--runs`
times, each time in a fresh Python process so that its peak RSS is the reader's alone
(interpreter and imports included; the baseline after imports is printed too). Prints the
median wall and CPU time, rows per second (all seven files), cases per second and the
highest peak RSS. The machine's load average is printed with the figures: on a shared
machine the CPU time is the steadier measure. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.faers_quarter import write_synthetic_quarter

MARKER = ".complete"  # written last, so a half-written quarter is never reused


def ensure_quarter(folder: Path, reports: int, seed: int) -> dict[str, object]:
    marker = folder / MARKER
    if marker.exists():
        summary: dict[str, object] = json.loads(marker.read_text())
        if summary.get("reports") == reports and summary.get("seed") == seed:
            return summary
    started = time.perf_counter()
    counts = write_synthetic_quarter(folder, reports, seed)
    summary = {"reports": reports, "seed": seed, "rows": counts.rows,
               "total_rows": counts.total_rows, "cases": counts.cases,
               "seconds": round(time.perf_counter() - started, 1),
               "bytes": sum(p.stat().st_size for p in folder.glob("*.txt"))}
    marker.write_text(json.dumps(summary))
    return summary


def read_once(folder: Path) -> None:
    """One measured read, in this process; prints a JSON line."""
    from medsafe.interop.faers import FaersReader

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reader = FaersReader(folder)
    wall, cpu = time.perf_counter(), time.process_time()
    cases = sum(1 for _ in reader)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = reader.stats.reports + sum(reader.stats.rows.values())
    print(json.dumps({"wall": wall, "cpu": cpu, "cases": cases, "rows": rows,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "baseline_mb": baseline / 1024,
                      "unordered": reader.stats.unordered_files,
                      "problems": len(reader.problems)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=20172)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--once", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once is not None:
        read_once(args.once)
        return
    folder = args.folder or (Path(tempfile.gettempdir())
                             / f"medsafe-faers-synthetic-{args.reports}-{args.seed}")
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    quarter = ensure_quarter(folder, args.reports, args.seed)
    print(f"quarter: {folder} — {quarter['total_rows']:,} rows "
          f"({quarter['rows']}), {quarter['cases']:,} cases, "
          f"{int(str(quarter['bytes'])) / 1e6:.0f} MB, written in {quarter['seconds']} s")
    runs = []
    for number in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_faers_reader", "--once", str(folder)],
            check=True, capture_output=True, text=True)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(f"run {number}: {run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU, "
              f"{run['cases']:,} cases, peak RSS {run['peak_mb']:.0f} MB "
              f"(after imports {run['baseline_mb']:.0f} MB), load average {load:.1f}, "
              f"unordered files {run['unordered']}, problems {run['problems']}")
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    rows, cases = runs[0]["rows"], runs[0]["cases"]
    print(f"median: {wall:.1f} s wall ({rows / wall:,.0f} rows/s, {cases / wall:,.0f} "
          f"cases/s); {cpu:.1f} s CPU ({rows / cpu:,.0f} rows/s, {cases / cpu:,.0f} "
          f"cases/s); peak RSS {max(r['peak_mb'] for r in runs):.0f} MB")


if __name__ == "__main__":
    main()
