"""`medsafe signals run|trend`: every drug-event pair of a report table, scored; one pair
over time.

The statistics modules (NumPy, SciPy, DuckDB) are imported inside the commands, so that
every other `medsafe` command starts without them."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from medsafe.cli.errors import reported_errors
from medsafe.cli.lazy import Registry, lazy_group
from medsafe.errors import Invalid

if TYPE_CHECKING:
    from medsafe.signals.detection import Detection, InputFormat
    from medsafe.signals.stats import Prior

# Signal management works on the database: imported only when one of these runs.
STORE_COMMANDS: Registry = {
    name: ("medsafe.cli.signal_management", function) for name, function in (
        ("detect-cases", "detect_cases"), ("runs", "runs"), ("list", "list_signals"),
        ("show", "show"), ("advance", "advance"))}

app = typer.Typer(help="Signal detection: disproportionality over report tables and the "
                  "case store; candidate signals and their lifecycle.",
                  no_args_is_help=True, cls=lazy_group(STORE_COMMANDS))
err = Console(stderr=True, highlight=False)


@app.command(name="run")
def run(
    input_path: Annotated[Path, typer.Option(
        "--input", help="a long CSV or Parquet table (one row per report, drug and event; "
        "a file, a folder of files or a glob), a VAERS folder or a FAERS quarterly ASCII "
        "folder")],
    out: Annotated[Path, typer.Option(help="where to write every pair's statistics "
                                      "(.csv or .parquet)")],
    input_format: Annotated[str, typer.Option(
        help="csv, parquet, vaers (VAX_TYPE x symptom) or faers; default: by extension")
    ] = "table",
    id_col: Annotated[str, typer.Option(help="tables: the report id column")] = "id",
    drug_col: Annotated[str, typer.Option(help="tables: the drug column")] = "drug",
    event_col: Annotated[str, typer.Option(help="tables: the event column")] = "event",
    date_col: Annotated[str | None, typer.Option(
        help="tables: the column with the day each report was received")] = None,
    strata: Annotated[list[str] | None, typer.Option(
        help="stratify the expected counts by this column (repeatable; for VAERS and "
        "FAERS: sex, age_group, year)")] = None,
    engine: Annotated[str, typer.Option(help="duckdb (in process) or spark "
                                        "(needs medsafe[spark])")] = "duckdb",
    prior_in: Annotated[Path | None, typer.Option(
        help="use this prior (JSON with alpha1, beta1, alpha2, beta2, p) instead of "
        "fitting one")] = None,
    prior_out: Annotated[Path | None, typer.Option(help="write the prior used here "
                                                   "(JSON)")] = None,
    eb05: Annotated[float, typer.Option(help="signal when EB05 >= this")] = 2.0,
    ic025: Annotated[float, typer.Option(help="signal when IC025 > this (and n >= min-n)")
                     ] = 0.0,
    prr: Annotated[float, typer.Option(help="signal when PRR >= this with chi2 and n")
                   ] = 2.0,
    chi2: Annotated[float, typer.Option(help="... and Yates chi-square >= this")] = 4.0,
    min_n: Annotated[int, typer.Option(help="the n the IC and PRR criteria need")] = 3,
) -> None:
    """Count distinct reports (DuckDB or Spark), fit the GPS prior, and score every pair
    with PRR, ROR, IC and EBGM; `signal` applies the rule, `signal_by` says which
    criteria fired."""
    from medsafe.signals.counting import Columns
    from medsafe.signals.detection import InputSpec, detect_input
    from medsafe.signals.score import ScoresWriter, Thresholds

    with reported_errors():
        if engine not in ("duckdb", "spark"):
            raise Invalid(f"unknown engine '{engine}' (duckdb, spark)", where="--engine")
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise Invalid(f"{out}: write .csv or .parquet", where="--out")
        given = tuple(strata or ())
        spec = InputSpec(input_path, _format(input_format),
                         Columns(id_col, drug_col, event_col, given, date_col), given)
        thresholds = Thresholds(eb05, ic025, prr, chi2, min_n)
        prior = _read_prior(prior_in) if prior_in is not None else None
        with _progress() as say, ScoresWriter(out) as writer:
            detection = detect_input(spec, engine=engine,  # type: ignore[arg-type]
                                     prior=prior, thresholds=thresholds, progress=say,
                                     on_slice=writer.write)
        if prior_out is not None:
            _write_prior(prior_out, detection)
    fitted = detection.fitted
    if fitted is not None:
        err.print(f"prior: log-likelihood {fitted.loglik:.4f} (all cells with n >= "
                  f"{fitted.n_star}); " + "; ".join(fitted.notes)
                  + (f"; at a bound: {', '.join(fitted.at_bound)}" if fitted.at_bound
                     else ""))
    signals = int(detection.scores.columns["signal"].sum())
    err.print(f"wrote {len(detection.scores):,} pairs ({signals:,} candidate signals) to "
              f"{out} in {detection.seconds:.1f} s")


def _format(given: str) -> InputFormat:
    from medsafe.signals.detection import FORMATS

    if given != "table" and given not in FORMATS:
        raise Invalid(f"unknown input format '{given}' ({', '.join(FORMATS)})",
                      where="--input-format")
    return given  # type: ignore[return-value]


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A spinner naming the current phase, and each finished phase on its own line."""
    with err.status("counting ...") as status:
        def say(message: str) -> None:
            err.print(message)
            status.update(_next_phase(message))

        yield say


def _next_phase(finished: str) -> str:
    if finished.startswith("starting"):
        return "counting on Spark ..."
    if finished.startswith("counted"):
        return "fitting the prior ..."
    if finished.startswith("fitted"):
        return "scoring ..."
    return "writing ..."


def _write_prior(path: Path, detection: Detection) -> None:
    document: dict[str, object] = {**asdict(detection.prior), "loglik": None,
                                   "converged": None}
    fitted = detection.fitted
    if fitted is not None:
        document.update(loglik=fitted.loglik, converged=fitted.converged,
                        n_star=fitted.n_star, at_bound=list(fitted.at_bound),
                        squashed=fitted.squashed, notes=list(fitted.notes))
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise Invalid(f"{path}: cannot be written ({error})", where="--prior-out") from None


def _read_prior(path: Path) -> Prior:
    from medsafe.signals.stats import Prior

    try:
        given = json.loads(path.read_text(encoding="utf-8"))
        return Prior(*(float(given[k]) for k in ("alpha1", "beta1", "alpha2", "beta2", "p")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise Invalid(f"{path}: not a prior ({error})", where="--prior-in") from None


@app.command(name="trend")
def trend_command(
    input_path: Annotated[Path, typer.Option(
        "--input", help="a long CSV or Parquet table with a received-date column, a VAERS "
        "folder or a FAERS folder")],
    drug: Annotated[str, typer.Option(help="the drug (for VAERS the VAX_TYPE, e.g. RV)")],
    event: Annotated[str, typer.Option(help="the event term, e.g. Intussusception")],
    out: Annotated[Path, typer.Option(help="where to write one row per period (.csv)")],
    input_format: Annotated[str, typer.Option(
        help="csv, parquet, vaers or faers; default: by extension")] = "table",
    by: Annotated[str, typer.Option(help="month or quarter")] = "month",
    id_col: Annotated[str, typer.Option(help="tables: the report id column")] = "id",
    drug_col: Annotated[str, typer.Option(help="tables: the drug column")] = "drug",
    event_col: Annotated[str, typer.Option(help="tables: the event column")] = "event",
    date_col: Annotated[str, typer.Option(
        help="tables: the column with the day each report was received")] = "received",
    strata: Annotated[list[str] | None, typer.Option(
        help="stratify the expected counts by this column (repeatable)")] = None,
) -> None:
    """The pair's statistics cumulatively by month or quarter of receipt, each period
    from the reports received by its end only (its prior too)."""
    from medsafe.signals.counting import Columns
    from medsafe.signals.detection import InputSpec, trend_input

    with reported_errors():
        if by not in ("month", "quarter"):
            raise Invalid(f"unknown period '{by}' (month, quarter)", where="--by")
        given = tuple(strata or ())
        spec = InputSpec(input_path, _format(input_format),
                         Columns(id_col, drug_col, event_col, given, date_col), given)
        with err.status("counting each period ..."):
            rows = trend_input(spec, drug=drug, event=event, by=by)  # type: ignore[arg-type]
        try:
            with out.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(("period", "n", "e", "prr", "ic025", "eb05", "signal",
                                 "signal_by", "note"))
                for row in rows:
                    writer.writerow((row.period, row.n, _cell(row.e), _cell(row.prr),
                                     _cell(row.ic025), _cell(row.eb05),
                                     "true" if row.signal else "false", row.signal_by,
                                     row.note))
        except OSError as error:
            raise Invalid(f"{out}: cannot be written ({error})", where="--out") from None
    flagged = next((row.period for row in rows if row.signal), None)
    err.print(f"{drug} x {event}: {len(rows)} periods written to {out}; "
              + (f"first flagged in {flagged}" if flagged else "never flagged"))


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
