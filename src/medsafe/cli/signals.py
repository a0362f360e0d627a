"""`medsafe signals run|trend`: every drug-event pair of a report table, scored; one pair
over time.

The statistics modules (NumPy, SciPy, DuckDB) are imported inside the commands, so that
every other `medsafe` command starts without them."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from medsafe.cli.errors import reported_errors
from medsafe.errors import Invalid

if TYPE_CHECKING:
    from medsafe.signals.stats import Prior

app = typer.Typer(help="Signal detection: disproportionality over report tables.",
                  no_args_is_help=True)
err = Console(stderr=True, highlight=False)


@app.command(name="run")
def run(
    input_path: Annotated[Path, typer.Option("--input", help="a long CSV or Parquet table "
                                             "(one row per report, drug and event), or a "
                                             "VAERS folder")],
    out: Annotated[Path, typer.Option(help="where to write every pair's statistics (.csv)")],
    input_format: Annotated[str, typer.Option(
        help="table (CSV or Parquet, by extension) or vaers (VAX_TYPE x symptom)")] = "table",
    id_col: Annotated[str, typer.Option(help="the report id column")] = "id",
    drug_col: Annotated[str, typer.Option(help="the drug column")] = "drug",
    event_col: Annotated[str, typer.Option(help="the event column")] = "event",
    strata: Annotated[list[str] | None, typer.Option(
        help="a column to stratify the expected counts by (repeatable)")] = None,
    prior_in: Annotated[Path | None, typer.Option(
        help="use this prior (JSON with alpha1, beta1, alpha2, beta2, p) instead of "
        "fitting one")] = None,
    prior_out: Annotated[Path | None, typer.Option(help="write the prior used here")] = None,
) -> None:
    """Count distinct reports (DuckDB), fit the GPS prior, and score every pair with PRR,
    ROR, IC and EBGM; the `signal` column applies the default rule."""
    from medsafe.signals.counting import Columns, count_file, count_vaers
    from medsafe.signals.prior import fit_prior
    from medsafe.signals.score import score, write_csv

    with reported_errors():
        started = time.perf_counter()
        if input_format == "vaers":
            counts = count_vaers(input_path)
        elif input_format == "table":
            counts = count_file(input_path, Columns(id_col, drug_col, event_col,
                                                    tuple(strata or ())))
        else:
            raise Invalid(f"unknown input format '{input_format}' (table, vaers)",
                          where="--input-format")
        err.print(f"counted {counts.n.size:,} pairs in {counts.n_reports:,} reports "
                  f"({time.perf_counter() - started:.1f} s)")
        if prior_in is not None:
            prior, fitted = _read_prior(prior_in), None
        else:
            fitted = fit_prior(counts.n, counts.e)
            prior = fitted.prior
            err.print(f"fitted the prior: log-likelihood {fitted.loglik:.4f}; "
                      + "; ".join(fitted.notes)
                      + (f"; at a bound: {', '.join(fitted.at_bound)}" if fitted.at_bound
                         else ""))
        scores = score(counts, prior)
        write_csv(scores, out)
        if prior_out is not None:
            document: dict[str, object] = {**asdict(prior), "loglik": None, "converged": None}
            if fitted is not None:
                document.update(loglik=fitted.loglik, converged=fitted.converged,
                                n_star=fitted.n_star, at_bound=list(fitted.at_bound),
                                notes=list(fitted.notes))
            prior_out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    signals = int(scores.columns["signal"].sum())
    err.print(f"wrote {len(scores):,} pairs ({signals:,} candidate signals) to {out} in "
              f"{time.perf_counter() - started:.1f} s")


def _read_prior(path: Path) -> Prior:
    from medsafe.signals.stats import Prior

    try:
        given = json.loads(path.read_text(encoding="utf-8"))
        return Prior(*(float(given[k]) for k in ("alpha1", "beta1", "alpha2", "beta2", "p")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise Invalid(f"{path}: not a prior ({error})", where="--prior-in") from None


@app.command(name="trend")
def trend_command(
    input_path: Annotated[Path, typer.Option("--input", help="a VAERS folder")],
    drug: Annotated[str, typer.Option(help="the drug (for VAERS the VAX_TYPE, e.g. RV)")],
    event: Annotated[str, typer.Option(help="the event term, e.g. Intussusception")],
    out: Annotated[Path, typer.Option(help="where to write one row per period (.csv)")],
    input_format: Annotated[str, typer.Option(help="vaers (the only one so far)")] = "vaers",
    by: Annotated[str, typer.Option(help="month or quarter")] = "month",
) -> None:
    """The pair's statistics cumulatively by month or quarter of receipt, each period
    from the reports received by its end only (its prior too)."""
    from medsafe.signals.counting import count_vaers, received_range
    from medsafe.signals.trend import trend

    with reported_errors():
        if input_format != "vaers":
            raise Invalid(f"trends read VAERS folders so far, not '{input_format}'",
                          where="--input-format")
        if by not in ("month", "quarter"):
            raise Invalid(f"unknown period '{by}' (month, quarter)", where="--by")
        first, last = received_range(input_path)
        rows = trend(lambda day: count_vaers(input_path, until=day), first, last,
                     drug=drug, event=event, by=by)  # type: ignore[arg-type]
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("period", "n", "e", "prr", "ic025", "eb05", "signal",
                             "signal_by", "note"))
            for row in rows:
                writer.writerow((row.period, row.n, _cell(row.e), _cell(row.prr),
                                 _cell(row.ic025), _cell(row.eb05),
                                 "true" if row.signal else "false", row.signal_by, row.note))
    flagged = next((row.period for row in rows if row.signal), None)
    err.print(f"{drug} x {event}: {len(rows)} periods written to {out}; "
              + (f"first flagged in {flagged}" if flagged else "never flagged"))


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
