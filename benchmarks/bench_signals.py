"""Signal detection, whole process: `medsafe signals run` (count, fit the prior, score every
pair, write) on FAERS-like tables of 1 M to 100 M report-drug-event rows.

    uv run python -m benchmarks.bench_signals [--rows 1e6,5e6,10e6] [--runs 3]
        [--folder DIR] [--seed 5] [--strata] [--engine duckdb] [--out-format parquet]
        [--faers ../shared/data/faers/pvlrt/faers22q3raw.csv] [--no-faers]
        [--no-console-script]

The tables come from `benchmarks.signal_data` (Zipf-like drugs and events, several of each
per report, planted associations), written once as Parquet under the temporary directory
(`--folder` to choose; reused by later runs, a marker written last). Each run is a fresh
`python -m medsafe signals run --input … --out …/scores.parquet --prior-out …/prior.json`
process, measured through os.wait4: wall time, CPU time (user + system) and peak RSS of
that process alone. For every table: the median of `--runs` runs, then one more run
through the `medsafe` console script; the pairs, candidate signals, planted pairs found
and the prior's converged flag are read from the outputs. The real FAERS 2022Q3 extract
(CASEID, DRUG, AE) is run the same way when it is present. Ends with how the time grows
with size (seconds per million rows). The machine's load average is printed with every
run: the machine is shared, so CPU time is the steadier measure. 400 M rows on request
(`--rows 4e8`). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.signal_data import Table, default_folder, ensure_table

ROOT = Path(__file__).resolve().parent.parent
FAERS_EXTRACT = ROOT.parent / "shared" / "data" / "faers" / "pvlrt" / "faers22q3raw.csv"


@dataclass(frozen=True, slots=True)
class Dataset:
    """An input for `medsafe signals run`: its path and the options naming its columns."""

    name: str
    input: str
    options: tuple[str, ...]
    rows: int
    reports: int
    table: Table | None = None


@dataclass(frozen=True, slots=True)
class Run:
    wall: float
    cpu: float
    peak_mb: float
    load: float
    pairs: int
    signals: int
    converged: object
    planted_found: int
    stderr: str


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    one, five, fifteen = os.getloadavg()
    return (f"machine: {platform.machine()}, nproc {os.cpu_count()}, {memory:.1f} GiB "
            f"memory, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
            f"load average {one:.1f} {five:.1f} {fifteen:.1f}")


@dataclass(frozen=True, slots=True)
class Usage:
    """One child process's own wall time, CPU time (user + system) and peak RSS."""

    wall: float
    cpu: float
    peak_mb: float
    load: float  # the one-minute load average when it started
    stdout: str
    stderr: str


def measured(command: list[str], cwd: Path | None = None) -> Usage:
    """Run a command and measure that process alone: os.wait4 returns its own rusage,
    not that of every child this process ever had. Stops the benchmark if it fails."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdout=output, stderr=errors, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        output.seek(0)
        errors.seek(0)
        stdout = output.read().decode("utf-8", "replace")
        stderr = errors.read().decode("utf-8", "replace")
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)}\nexited {child.returncode}:\n{stderr}")
    return Usage(wall=wall, cpu=usage.ru_utime + usage.ru_stime,
                 peak_mb=usage.ru_maxrss / 1024, load=load, stdout=stdout, stderr=stderr)


def run_once(command: list[str], out: Path, prior: Path, table: Table | None) -> Run:
    """One `medsafe signals run` process, measured, and what it wrote."""
    usage = measured(command)
    pairs, signals, planted = read_scores(out, table)
    converged = json.loads(prior.read_text()).get("converged") if prior.exists() else None
    return Run(wall=usage.wall, cpu=usage.cpu, peak_mb=usage.peak_mb, load=usage.load,
               pairs=pairs, signals=signals, converged=converged, planted_found=planted,
               stderr=usage.stderr)


def read_scores(out: Path, table: Table | None) -> tuple[int, int, int]:
    """Pairs, candidate signals and planted pairs marked as signals, from the output."""
    reader = "read_parquet" if out.suffix == ".parquet" else "read_csv"
    source = f"{reader}('{out}')"
    with duckdb.connect() as connection:
        found = connection.execute(
            f"SELECT count(*), count(*) FILTER (WHERE signal) FROM {source}").fetchone()
        pairs, signals = (int(found[0]), int(found[1])) if found else (0, 0)
        planted = 0
        if table is not None:
            wanted = ", ".join(f"('{p.drug}', '{p.event}')" for p in table.planted)
            hit = connection.execute(
                f"SELECT count(*) FROM {source} s JOIN (VALUES {wanted}) p(drug, event) "
                f"ON s.drug = p.drug AND s.event = p.event WHERE s.signal").fetchone()
            planted = int(hit[0]) if hit else 0
    return pairs, signals, planted


def command_for(program: list[str], dataset: Dataset, out: Path, prior: Path,
                args: argparse.Namespace) -> list[str]:
    command = [*program, "signals", "run", "--input", dataset.input, *dataset.options,
               "--out", str(out), "--prior-out", str(prior)]
    if args.engine:
        command += ["--engine", args.engine]
    return command


def measure(dataset: Dataset, args: argparse.Namespace) -> list[Run]:
    print(f"\n{dataset.name}: {dataset.rows:,} rows, {dataset.reports:,} reports — "
          f"{dataset.input}")
    console_script = Path(sys.executable).parent / "medsafe"
    programs = [[sys.executable, "-m", "medsafe"]] * args.runs
    if console_script.exists() and not args.no_console_script:
        programs.append([str(console_script)])
    runs: list[Run] = []
    for number, program in enumerate(programs, start=1):
        with tempfile.TemporaryDirectory(prefix="medsafe-bench-") as work:
            out = Path(work) / f"scores.{args.out_format}"
            prior = Path(work) / "prior.json"
            run = run_once(command_for(program, dataset, out, prior, args), out, prior,
                           dataset.table)
        how = "python -m medsafe" if len(program) > 1 else "medsafe console script"
        planted = (f", planted pairs flagged {run.planted_found}/{len(dataset.table.planted)}"
                   if dataset.table is not None else "")
        print(f"  run {number} ({how}): {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, "
              f"peak RSS {run.peak_mb:,.0f} MB, load average {run.load:.1f}; "
              f"{run.pairs:,} pairs, {run.signals:,} candidate signals{planted}, "
              f"prior converged {run.converged}")
        if number == 1:
            for line in run.stderr.strip().splitlines():
                print(f"    | {line}")
        if len(program) > 1:
            runs.append(run)
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    print(f"  median of {len(runs)}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
          f"{dataset.rows / wall / 1e6:.2f} M rows/s; highest peak RSS "
          f"{max(r.peak_mb for r in runs):,.0f} MB")
    return runs


def synthetic(rows: int, args: argparse.Namespace) -> Dataset:
    folder = (args.folder / f"rows-{rows}-seed-{args.seed}" if args.folder
              else default_folder(rows, args.seed))
    table = ensure_table(folder, rows, args.seed)
    print(f"table {rows:,} rows: {table.reports:,} reports, {table.drugs_used:,} drugs and "
          f"{table.events_used:,} events in use, {table.files} file(s), "
          f"{table.bytes / 1e6:,.0f} MB, received {table.first_day} to {table.last_day}, "
          f"written in {table.seconds} s")
    options = ("--strata", "sex", "--strata", "age_group") if args.strata else ()
    return Dataset(name=f"synthetic {rows / 1e6:g} M", input=table.input, options=options,
                   rows=rows, reports=table.reports, table=table)


def faers_extract(path: Path) -> Dataset:
    with duckdb.connect() as connection:
        found = connection.execute(
            f"SELECT count(*), count(DISTINCT CASEID) FROM read_csv('{path}')").fetchone()
    rows, reports = (int(found[0]), int(found[1])) if found else (0, 0)
    return Dataset(name="FAERS 2022Q3 extract", input=str(path),
                   options=("--id-col", "CASEID", "--drug-col", "DRUG", "--event-col", "AE"),
                   rows=rows, reports=reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1e6,5e6,10e6",
                        help="comma-separated table sizes in rows (e.g. 1e6,5e6,1e8)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="where the tables are kept")
    parser.add_argument("--strata", action="store_true",
                        help="stratify the expected counts by sex and age group")
    parser.add_argument("--engine", help="pass --engine to the pipeline (duckdb, spark)")
    parser.add_argument("--out-format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--no-console-script", action="store_true",
                        help="skip the extra run through the medsafe console script")
    parser.add_argument("--no-faers", action="store_true", help="skip the FAERS extract")
    parser.add_argument("--faers", type=Path, default=FAERS_EXTRACT,
                        help="the FAERS 2022Q3 extract; skipped when absent")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print(machine())
    if shutil.which("medsafe") is None and not (Path(sys.executable).parent / "medsafe").exists():
        print("(no medsafe console script beside this Python: runs use python -m medsafe)")
    datasets: list[Dataset] = []
    if args.no_faers:
        pass
    elif args.faers.exists():
        datasets.append(faers_extract(args.faers))
    else:
        print(f"{args.faers}: not present, skipped")
    datasets += [synthetic(int(float(size)), args) for size in args.rows.split(",")]
    summary = [(dataset, measure(dataset, args)) for dataset in datasets]
    print("\nhow time grows with size (medians):")
    print(f"  {'data':<22} {'rows':>12} {'reports':>11} {'pairs':>11} {'wall s':>8} "
          f"{'CPU s':>8} {'s/M rows':>9} {'peak MB':>8}")
    for dataset, runs in summary:
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        print(f"  {dataset.name:<22} {dataset.rows:>12,} {dataset.reports:>11,} "
              f"{runs[0].pairs:>11,} {wall:>8.2f} {cpu:>8.2f} "
              f"{wall / dataset.rows * 1e6:>9.2f} {max(r.peak_mb for r in runs):>8,.0f}")
    print(machine())


if __name__ == "__main__":
    main()
