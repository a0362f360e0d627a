"""The peers on the same data and machine: vigipy 3.5.1's GPS (and PRR, ROR, BCPNN) and
openEBGM 0.9.1 (R), whole process, for honest ratios against `benchmarks.bench_signals`.

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install vigipy==3.5.1 pyarrow
    apt-get install -y r-base-core r-cran-data.table r-cran-ggplot2 r-cran-jsonlite
    R CMD INSTALL -l /tmp/R-lib <openEBGM 0.9.1 source>
    uv run python -m benchmarks.bench_signal_peers [--peer vigipy,openebgm]
        [--python /tmp/peer-venv/bin/python] [--rscript Rscript] [--r-lib /tmp/R-lib]
        [--openebgm-fit default,explore] [--rows 5e6] [--runs 3]
        [--methods gps,prr,ror,bcpnn] [--folder DIR] [--seed 5] [--no-faers] [--caers]
        [--agree]

Neither peer is a medsafe dependency: each lives in its own environment, and each run is a
fresh process (os.wait4 measures it alone: wall time, CPU time, peak RSS; medians of
`--runs`; the child's own stage times are printed with the first run). The data are the
FAERS 2022Q3 extract (when present) and the synthetic tables of `benchmarks.signal_data`
(the same files `bench_signals` reads, generated if missing), and with `--caers` openEBGM's
own CAERS 2012 table. Prints figures, asserts nothing.

vigipy: this module again in the peer's Python (`--once`): start Python, import pandas and
vigipy, read the long table (pandas; pyarrow for Parquet), keep each (report, drug, event)
once, count reports per pair, build vigipy's container (`convert`), run the method with its
defaults, write every pair it scored to Parquet.

openEBGM: `Rscript benchmarks/peers/openebgm_run.R` with the library `--r-lib` (openEBGM
0.9.1 built from its CRAN source; CRAN itself is out of reach here, R and data.table come
from Debian): data.table::fread, processRaw (distinct reports per pair, openEBGM's own
expected counts), autoSquash, autoHyper with vignette 04's five starts, ebScores with the
5th and 95th percentiles, fwrite every pair. `--openebgm-fit` picks what happens when
autoHyper fails (it does on the FAERS extract): `default` records the failure and scores
nothing; `em` falls back to openEBGM's hyperEM; `zeroes` to what autoHyper's error message
advises, a refit with every zero cell (not attempted past 2e7 cells); `explore` to
exploreHypers and its best convergent start (autoHyper without its agreement rule; its
20,000-point limit raised when autoSquash leaves more, as at 10 M rows). R has no Parquet
reader here (no arrow package), so for a Parquet table a CSV copy of its three columns is
written once with DuckDB, beside the Parquet files, and R reads that; vigipy and medsafe
read the Parquet.

`--agree` checks numbers instead of timing them: on each data set, one openEBGM run (the
last `--openebgm-fit` variant) and two `medsafe signals run`s, one fitting its own prior and
one given openEBGM's (`--prior-in`); it prints both priors with the full-data truncated
log-likelihood of each (medsafe's `log_likelihood` on openEBGM's N and E), and how far N, E,
EBGM, EB05 and EB95 differ pair by pair under the same prior.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEER_PYTHON = Path("/tmp/peer-venv/bin/python")
METHODS = ("gps", "prr", "ror", "bcpnn")
PEERS = ("vigipy", "openebgm")
R_LIB = Path("/tmp/R-lib")
OPENEBGM_SCRIPT = Path(__file__).resolve().parent / "peers" / "openebgm_run.R"
OPENEBGM_FITS = ("default", "em", "zeroes", "explore")
CSV_COPY = "openebgm-input.csv"
CAERS = (Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "caers-openebgm"
         / "caers.csv")


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
    parser.add_argument("--peer", default=",".join(PEERS),
                        help="which peers, comma-separated: vigipy, openebgm")
    parser.add_argument("--python", type=Path, default=PEER_PYTHON,
                        help="the Python of the environment vigipy is installed in")
    parser.add_argument("--rscript", default="Rscript", help="the Rscript to run openEBGM")
    parser.add_argument("--r-lib", type=Path, default=R_LIB,
                        help="the R library openEBGM is installed in")
    parser.add_argument("--openebgm-fit", default="default,explore",
                        help="openEBGM variants, comma-separated: " + ", ".join(OPENEBGM_FITS))
    parser.add_argument("--rows", default="5e6",
                        help="synthetic table sizes, comma-separated ('' for none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS), help="vigipy's methods")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="where the tables are kept")
    parser.add_argument("--no-faers", action="store_true", help="skip the FAERS extract")
    parser.add_argument("--caers", action="store_true",
                        help="add CAERS 2012 (openEBGM's own data set), when present")
    parser.add_argument("--agree", action="store_true",
                        help="compare openEBGM's and medsafe's numbers instead of timing")
    parser.add_argument("--once", nargs=6, help=argparse.SUPPRESS,
                        metavar=("METHOD", "SOURCE", "ID", "DRUG", "EVENT", "OUT"))
    args = parser.parse_args()
    if args.once is not None:
        method, source, *columns, out = args.once
        peer_once(method, source, columns, Path(out))
        return
    compare(args)


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    source: str  # what medsafe and vigipy read (CSV or Parquet)
    csv: str  # what R reads: the source itself, or a CSV copy of a Parquet table
    columns: tuple[str, str, str]  # report id, drug, event
    rows: int


@dataclass(frozen=True, slots=True)
class Variant:
    """One peer configuration, run `--runs` times on each data set."""

    peer: str
    label: str  # e.g. "vigipy gps", "openEBGM em"
    setting: str  # vigipy's method or openEBGM's --fit


def compare(args: argparse.Namespace) -> None:
    # Imported here: the --once path runs in the peer's environment, without medsafe's.
    from benchmarks.bench_signals import FAERS_EXTRACT, ROOT, machine, measured

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    print(machine())
    variants = peer_variants(args)
    datasets = data_sets(args, FAERS_EXTRACT)
    if args.agree:
        for dataset in datasets:
            agree(args, [v for v in variants if v.peer == "openebgm"][-1], dataset)
        return
    summary: list[tuple[str, Variant, int, float, float, float, str]] = []
    for dataset in datasets:
        for variant in variants:
            print(f"\n{dataset.name} ({dataset.rows:,} rows), {variant.label}: "
                  f"{dataset.csv if variant.peer == 'openebgm' else dataset.source}")
            walls, cpus, peaks, outcome = [], [], [], ""
            for number in range(1, args.runs + 1):
                with tempfile.TemporaryDirectory(prefix="medsafe-peer-") as work:
                    command = peer_command(args, variant, dataset, Path(work))
                    usage = measured(command, cwd=ROOT)
                found: dict[str, Any] = json.loads(usage.stdout.strip().splitlines()[-1])
                walls.append(usage.wall)
                cpus.append(usage.cpu)
                peaks.append(usage.peak_mb)
                outcome = describe(variant, found)
                print(f"  run {number}: {usage.wall:.2f} s wall, {usage.cpu:.2f} s CPU, "
                      f"peak RSS {usage.peak_mb:,.0f} MB, load average {usage.load:.1f}; "
                      f"{outcome}")
                if number == 1:
                    print("    stages (s): " + ", ".join(
                        f"{k} {v}" for k, v in found["stages"].items()))
                    for line in fit_lines(found):
                        print(f"    {line}")
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            print(f"  median of {len(walls)}: {wall:.2f} s wall, {cpu:.2f} s CPU; highest "
                  f"peak RSS {max(peaks):,.0f} MB")
            summary.append((dataset.name, variant, dataset.rows, wall, cpu, max(peaks),
                            outcome))
    print("\nthe peers, whole process (medians):")
    print(f"  {'data':<22} {'peer':<20} {'rows':>11} {'wall s':>8} {'CPU s':>8} "
          f"{'s/M rows':>9} {'peak MB':>8}  outcome")
    for name, variant, rows, wall, cpu, peak, outcome in summary:
        print(f"  {name:<22} {variant.label:<20} {rows:>11,} {wall:>8.2f} {cpu:>8.2f} "
              f"{wall / rows * 1e6:>9.2f} {peak:>8,.0f}  {outcome}")
    print(machine())


def peer_variants(args: argparse.Namespace) -> list[Variant]:
    """The configurations asked for, each after checking its environment is there; stops
    with the setup step when one is missing."""
    from benchmarks.bench_signals import measured

    variants: list[Variant] = []
    for peer in args.peer.split(","):
        if peer == "vigipy":
            if not args.python.exists():
                raise SystemExit(f"{args.python}: no such Python; create the peer "
                                 "environment first (see this module's docstring)")
            version = measured([str(args.python), "-c",
                                "import vigipy; print(vigipy.__version__)"])
            print(f"peer: vigipy {version.stdout.strip()} in {args.python.parent.parent}")
            variants += [Variant("vigipy", f"vigipy {m}", m) for m in args.methods.split(",")]
        elif peer == "openebgm":
            rscript = shutil.which(args.rscript)
            if rscript is None:
                raise SystemExit(f"{args.rscript}: no Rscript; install R first (see this "
                                 "module's docstring)")
            version = measured([rscript, "-e", f'.libPaths(c("{args.r_lib}", .libPaths())); '
                                'cat(R.version.string, "| openEBGM", '
                                'format(packageVersion("openEBGM")), "| data.table", '
                                'format(packageVersion("data.table")))'])
            print(f"peer: {version.stdout.strip()} ({rscript}, library {args.r_lib})")
            for fit in args.openebgm_fit.split(","):
                if fit not in OPENEBGM_FITS:
                    raise SystemExit(f"--openebgm-fit {fit}: one of {', '.join(OPENEBGM_FITS)}")
                variants.append(Variant("openebgm", f"openEBGM {fit}", fit))
        else:
            raise SystemExit(f"--peer {peer}: one of {', '.join(PEERS)}")
    return variants


def data_sets(args: argparse.Namespace, faers: Path) -> list[Dataset]:
    from benchmarks.signal_data import default_folder, ensure_table

    datasets: list[Dataset] = []
    if args.caers and CAERS.exists():
        with CAERS.open("rb") as lines:
            rows = sum(1 for _ in lines) - 1
        datasets.append(Dataset("CAERS 2012", str(CAERS), str(CAERS), ("id", "var1", "var2"),
                                rows))
    if not args.no_faers and faers.exists():
        with faers.open("rb") as lines:
            rows = sum(1 for _ in lines) - 1  # less the header; no field spans lines
        datasets.append(Dataset("FAERS 2022Q3 extract", str(faers), str(faers),
                                ("CASEID", "DRUG", "AE"), rows))
    wants_r = "openebgm" in args.peer.split(",")
    for size in filter(None, args.rows.split(",")):
        rows = int(float(size))
        folder = (args.folder / f"rows-{rows}-seed-{args.seed}" if args.folder
                  else default_folder(rows, args.seed))
        table = ensure_table(folder, rows, args.seed)
        columns = ("id", "drug", "event")
        csv = str(csv_copy(table.input, Path(table.folder), columns)) if wants_r else ""
        datasets.append(Dataset(f"synthetic {rows / 1e6:g} M", table.input, csv, columns,
                                rows))
    return datasets


def csv_copy(source: str, folder: Path, columns: tuple[str, ...]) -> Path:
    """A CSV of a Parquet table's columns, for R (no Parquet reader there); written once
    beside the table, renamed into place when complete, reused afterwards."""
    import duckdb

    target = folder / CSV_COPY
    if target.exists():
        return target
    started = time.perf_counter()
    partial = folder / f".{CSV_COPY}.{os.getpid()}"
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT {', '.join(columns)} FROM read_parquet('{source}')) "
                           f"TO '{partial}' (HEADER, DELIMITER ',')")
    partial.rename(target)
    print(f"CSV copy for R: {target}, {target.stat().st_size / 1e6:,.0f} MB, written in "
          f"{time.perf_counter() - started:.1f} s")
    return target


def peer_command(args: argparse.Namespace, variant: Variant, dataset: Dataset,
                 work: Path) -> list[str]:
    if variant.peer == "vigipy":
        return [str(args.python), "-m", "benchmarks.bench_signal_peers", "--once",
                variant.setting, dataset.source, *dataset.columns,
                str(work / "scores.parquet")]
    report, drug, event = dataset.columns
    return [args.rscript, str(OPENEBGM_SCRIPT), "--input", dataset.csv, "--id", report,
            "--drug", drug, "--event", event, "--out", str(work / "scores.csv"),
            "--fit", variant.setting, "--lib", str(args.r_lib)]


def agree(args: argparse.Namespace, variant: Variant, dataset: Dataset) -> None:
    """openEBGM's scores and prior beside medsafe's, on one data set."""
    import duckdb

    from benchmarks.bench_signals import ROOT, measured
    from medsafe.signals.prior import log_likelihood
    from medsafe.signals.stats import Prior

    print(f"\n{dataset.name}: openEBGM ({variant.label}) against medsafe")
    with tempfile.TemporaryDirectory(prefix="medsafe-agree-") as folder:
        work = Path(folder)
        found = json.loads(measured(peer_command(args, variant, dataset, work),
                                    cwd=ROOT).stdout.strip().splitlines()[-1])
        for line in fit_lines(found):
            print(f"  openEBGM {line}")
        fitted = [a for a in found["attempts"] if a["status"] == "converged"]
        if not fitted:
            print("  openEBGM fitted no prior, so there is nothing to compare")
            return
        theta = fitted[-1]["estimates"]
        theirs = Prior(theta["alpha1"], theta["beta1"], theta["alpha2"], theta["beta2"],
                       theta["P"])
        (work / "openebgm-prior.json").write_text(json.dumps(
            {"alpha1": theirs.alpha1, "beta1": theirs.beta1, "alpha2": theirs.alpha2,
             "beta2": theirs.beta2, "p": theirs.p}))
        report, drug, event = dataset.columns
        medsafe = [sys.executable, "-m", "medsafe", "signals", "run", "--input",
                   dataset.source, "--id-col", report, "--drug-col", drug, "--event-col",
                   event]
        measured([*medsafe, "--out", str(work / "own.parquet"), "--prior-out",
                  str(work / "own-prior.json")], cwd=ROOT)
        measured([*medsafe, "--out", str(work / "same.parquet"), "--prior-in",
                  str(work / "openebgm-prior.json")], cwd=ROOT)
        own = json.loads((work / "own-prior.json").read_text())
        ours = Prior(own["alpha1"], own["beta1"], own["alpha2"], own["beta2"], own["p"])
        with duckdb.connect() as connection:
            connection.execute(f"CREATE VIEW o AS SELECT * FROM read_csv('{work}/scores.csv')")
            connection.execute(f"CREATE VIEW s AS SELECT * FROM '{work}/same.parquet'")
            connection.execute(f"CREATE VIEW m AS SELECT * FROM '{work}/own.parquet'")
            counts = connection.execute("SELECT N, E FROM o").fetchnumpy()
            same = connection.execute("""
                SELECT count(*), count(s.drug), max(abs(o.N - s.n)), max(abs(o.E - s.e) / s.e),
                       max(abs(o.EBGM - s.ebgm)), max(abs(o.QUANT_05 - s.eb05)),
                       max(abs(o.QUANT_95 - s.eb95)),
                       count(*) FILTER (WHERE (o.QUANT_05 >= 2) <> (s.eb05 >= 2))
                FROM o LEFT JOIN s ON o.var1 = s.drug AND o.var2 = s.event""").fetchone()
            own_fit = connection.execute("""
                SELECT max(abs(o.EBGM - m.ebgm)), median(abs(o.EBGM - m.ebgm)),
                       max(abs(o.QUANT_05 - m.eb05)), median(abs(o.QUANT_05 - m.eb05)),
                       count(*) FILTER (WHERE o.QUANT_05 >= 2),
                       count(*) FILTER (WHERE m.eb05 >= 2),
                       count(*) FILTER (WHERE (o.QUANT_05 >= 2) <> (m.eb05 >= 2))
                FROM o JOIN m ON o.var1 = m.drug AND o.var2 = m.event""").fetchone()
    if same is None or own_fit is None:
        raise SystemExit("the comparison queries returned nothing")
    for who, prior in (("openEBGM", theirs), ("medsafe", ours)):
        print(f"  {who:<8} prior: alpha1 {prior.alpha1:.6g}, beta1 {prior.beta1:.6g}, "
              f"alpha2 {prior.alpha2:.6g}, beta2 {prior.beta2:.6g}, P {prior.p:.6g}; "
              f"full-data log-likelihood (N >= 1) "
              f"{log_likelihood(prior, counts['N'], counts['E']):.4f}")
    print(f"  medsafe's own prior file: converged {own['converged']}, at bound "
          f"{own.get('at_bound')}, log-likelihood {own['loglik']:.4f}")
    pairs, matched, n_diff, e_diff, ebgm, eb05, eb95, flags = same
    print(f"  same prior (openEBGM's, given to medsafe): {matched:,} of {pairs:,} pairs "
          f"matched; N differs by at most {n_diff:g}, E by {e_diff:.1e} (relative); "
          f"EBGM by at most {ebgm:.4f}, EB05 by {eb05:.4f}, EB95 by {eb95:.4f} (openEBGM "
          f"rounds to 0.01); EB05 >= 2 decided differently for {flags:,} pairs")
    ebgm_max, ebgm_median, eb05_max, eb05_median, theirs_flagged, ours_flagged, differ = (
        own_fit)
    print(f"  each its own prior: EBGM differs by at most {ebgm_max:.4f} (median "
          f"{ebgm_median:.4f}), EB05 by at most {eb05_max:.4f} (median {eb05_median:.4f}); "
          f"EB05 >= 2: openEBGM {theirs_flagged:,} pairs, medsafe {ours_flagged:,}, "
          f"decided differently for {differ:,}")


def describe(variant: Variant, found: dict[str, Any]) -> str:
    """One run's outcome in a few words."""
    if variant.peer == "vigipy":
        return (f"{found['cells']:,} cells, {found['pairs']:,} pairs scored, "
                f"{found['signals']:,} signals"
                + (f", fit: {found['convergence']}" if found["convergence"] else ""))
    fits = " then ".join(f"{a['fitter']} {a['status']}" for a in found["attempts"])
    return (f"{found['cells']:,} pairs, {found['squashed_points']:,} squashed points; "
            f"{fits}; {found['scored']:,} pairs scored, {found['eb05_at_least_2']:,} with "
            f"EB05 >= 2")


def fit_lines(found: dict[str, Any]) -> list[str]:
    """What each of openEBGM's fit attempts did (nothing for vigipy)."""
    lines = []
    for attempt in found.get("attempts", []):
        details = ", ".join(
            f"{k} {format_value(v)}" for k, v in attempt.items() if k not in ("fitter",
                                                                               "status"))
        lines.append(f"{attempt['fitter']}: {attempt['status']}; {details}")
    return lines


def format_value(value: object) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "[" + "; ".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("\n", " ")


if __name__ == "__main__":
    main()
