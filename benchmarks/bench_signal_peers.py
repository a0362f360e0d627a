"""The Python peer on the same data and machine: vigipy 3.5.1's GPS (and PRR, ROR, BCPNN),
whole process, for honest ratios against `benchmarks.bench_signals`.

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install vigipy==3.5.1 pyarrow
    uv run python -m benchmarks.bench_signal_peers [--python /tmp/peer-venv/bin/python]
        [--rows 5e6] [--runs 3] [--methods gps,prr,ror,bcpnn] [--folder DIR] [--seed 5]

vigipy is not a medsafe dependency: it lives in its own virtual environment, and each run
is a fresh process of that environment's Python (this module again, with `--once`), so
the time is the whole pipeline as a user would run it: start Python, import pandas and
vigipy, read the long table (pandas; pyarrow for Parquet), keep each (report, drug, event)
once, count reports per pair, build vigipy's container (`convert`), run the method with
its defaults, and write every pair it scored to Parquet. The data are the FAERS 2022Q3
extract (when present) and the synthetic tables of `benchmarks.signal_data` (the same
files `bench_signals` reads, generated if missing). Wall time, CPU time and peak RSS of
the peer's process alone (os.wait4), median of `--runs`; the child's own stage times are
printed with the first run. Prints figures, asserts nothing.

openEBGM (R) is not re-measured here: no R on this machine. Its figures in
../shared/reference/signal-detection.md §7 were measured on a machine like this one.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PEER_PYTHON = Path("/tmp/peer-venv/bin/python")
METHODS = ("gps", "prr", "ror", "bcpnn")


def peer_once(method: str, source: str, columns: list[str], out: Path) -> None:
    """One whole vigipy pipeline, in the peer's environment; prints a JSON line. Only the
    standard library is imported at module level, so this runs where medsafe is not."""
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = round(now - clock, 2)
        clock = now

    pandas = importlib.import_module("pandas")
    vigipy = importlib.import_module("vigipy")
    stage("import")
    _, drug, event = columns
    if source.endswith(".csv"):
        table = pandas.read_csv(source, usecols=columns, dtype=str)
    else:
        files = sorted(glob.glob(source))
        table = pandas.concat([pandas.read_parquet(f, columns=columns) for f in files],
                              ignore_index=True)
    stage("read")
    # Distinct reports per pair, as medsafe counts them (vigipy's marginals stay sums of
    # cells: that is its own convention).
    table = table.drop_duplicates(columns)
    cells = table.groupby([drug, event], observed=True).size().reset_index(name="count")
    del table
    container = vigipy.convert(cells, product_label=drug, count_label="count",
                               ae_label=event)
    stage("count")
    result = getattr(vigipy, method)(container)
    stage(method)
    result.all_signals.to_parquet(out, index=False)
    stage("write")
    print(json.dumps({"stages": stages, "cells": len(cells),
                      "pairs": len(result.all_signals), "signals": int(result.num_signals),
                      "convergence": str(result.params.get("convergence", ""))}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", type=Path, default=PEER_PYTHON,
                        help="the Python of the environment vigipy is installed in")
    parser.add_argument("--rows", default="5e6", help="synthetic table sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="where the tables are kept")
    parser.add_argument("--no-faers", action="store_true", help="skip the FAERS extract")
    parser.add_argument("--once", nargs=6, help=argparse.SUPPRESS,
                        metavar=("METHOD", "SOURCE", "ID", "DRUG", "EVENT", "OUT"))
    args = parser.parse_args()
    if args.once is not None:
        method, source, *columns, out = args.once
        peer_once(method, source, columns, Path(out))
        return
    compare(args)


def compare(args: argparse.Namespace) -> None:
    # Imported here: the --once path runs in the peer's environment, without medsafe's.
    from benchmarks.bench_signals import FAERS_EXTRACT, ROOT, machine, measured
    from benchmarks.signal_data import default_folder, ensure_table

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not args.python.exists():
        raise SystemExit(f"{args.python}: no such Python; create the peer environment first "
                         "(see this module's docstring)")
    print(machine())
    version = measured([str(args.python), "-c", "import vigipy; print(vigipy.__version__)"])
    print(f"peer: vigipy {version.stdout.strip()} in {args.python.parent.parent}")
    datasets: list[tuple[str, str, list[str], int]] = []
    if not args.no_faers and FAERS_EXTRACT.exists():
        with FAERS_EXTRACT.open("rb") as lines:
            rows = sum(1 for _ in lines) - 1  # less the header; no field spans lines
        datasets.append(("FAERS 2022Q3 extract", str(FAERS_EXTRACT),
                         ["CASEID", "DRUG", "AE"], rows))
    for size in args.rows.split(","):
        rows = int(float(size))
        folder = (args.folder / f"rows-{rows}-seed-{args.seed}" if args.folder
                  else default_folder(rows, args.seed))
        table = ensure_table(folder, rows, args.seed)
        datasets.append((f"synthetic {rows / 1e6:g} M", table.input,
                         ["id", "drug", "event"], rows))
    summary = []
    for name, source, columns, rows in datasets:
        for method in args.methods.split(","):
            print(f"\n{name} ({rows:,} rows), vigipy {method}: {source}")
            runs = []
            for number in range(1, args.runs + 1):
                with tempfile.TemporaryDirectory(prefix="medsafe-peer-") as work:
                    usage = measured([str(args.python), "-m", "benchmarks.bench_signal_peers",
                                      "--once", method, source, *columns,
                                      str(Path(work) / "scores.parquet")], cwd=ROOT)
                found = json.loads(usage.stdout.strip().splitlines()[-1])
                runs.append(usage)
                print(f"  run {number}: {usage.wall:.2f} s wall, {usage.cpu:.2f} s CPU, "
                      f"peak RSS {usage.peak_mb:,.0f} MB, load average {usage.load:.1f}; "
                      f"{found['cells']:,} cells, {found['pairs']:,} pairs scored, "
                      f"{found['signals']:,} signals"
                      + (f", fit: {found['convergence']}" if found["convergence"] else ""))
                if number == 1:
                    print("    stages (s): " + ", ".join(
                        f"{k} {v}" for k, v in found["stages"].items()))
            wall = statistics.median(r.wall for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            peak = max(r.peak_mb for r in runs)
            print(f"  median of {len(runs)}: {wall:.2f} s wall, {cpu:.2f} s CPU; highest "
                  f"peak RSS {peak:,.0f} MB")
            summary.append((name, method, rows, wall, cpu, peak))
    print("\nvigipy 3.5.1, whole process (medians):")
    print(f"  {'data':<22} {'method':<6} {'rows':>12} {'wall s':>8} {'CPU s':>8} "
          f"{'s/M rows':>9} {'peak MB':>8}")
    for name, method, rows, wall, cpu, peak in summary:
        print(f"  {name:<22} {method:<6} {rows:>12,} {wall:>8.2f} {cpu:>8.2f} "
              f"{wall / rows * 1e6:>9.2f} {peak:>8,.0f}")
    print(machine())


if __name__ == "__main__":
    main()
