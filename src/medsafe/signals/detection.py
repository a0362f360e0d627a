"""A detection run, from an input to every pair scored: count (DuckDB or Spark), fit the
prior, score. The command line, the case-store service and the benchmarks all go
through here."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from medsafe.errors import Invalid
from medsafe.signals import sources
from medsafe.signals.counting import Columns, Engine, PairCounts, count
from medsafe.signals.duckdb_engine import DuckDBEngine
from medsafe.signals.score import Scores, SliceSink, Thresholds, score
from medsafe.signals.stats import Prior

if TYPE_CHECKING:
    from medsafe.signals.prior import FittedPrior
    from medsafe.signals.trend import Period, TrendRow

InputFormat = Literal["csv", "parquet", "table", "vaers", "faers"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "vaers", "faers")
Progress = Callable[[str], None]
DEFAULT_RULE = Thresholds()


@dataclass(frozen=True, slots=True)
class InputSpec:
    """What to read: a path, its format, and for tables which columns mean what; for
    VAERS and FAERS the strata by name (sex, age_group, year)."""

    path: Path
    format: InputFormat = "table"
    columns: Columns = field(default_factory=Columns)
    strata: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {"input": str(self.path), "format": self.format}
        if self.format in ("csv", "parquet", "table"):
            described.update(id_col=self.columns.report, drug_col=self.columns.drug,
                             event_col=self.columns.event,
                             strata=list(self.columns.strata),
                             date_col=self.columns.received)
        else:
            described["strata"] = list(self.strata)
        return described


@dataclass(frozen=True, slots=True)
class Detection:
    input: str
    input_format: str
    parameters: dict[str, object]
    counts: PairCounts
    fitted: FittedPrior | None  # None when a given prior was used
    prior: Prior
    scores: Scores
    seconds: float


def open_input(engine: DuckDBEngine, spec: InputSpec) -> int:
    """Define `source` in a DuckDB engine; returns the number of stratum columns."""
    if spec.format == "table":
        spec = replace(spec, format=sources.guess_format(spec.path))
    if spec.format == "vaers":
        strata = sources.named_strata(spec.strata)
        sources.open_vaers(engine, spec.path, strata)
        return len(strata)
    if spec.format == "faers":
        from medsafe.signals.faers_source import open_faers

        strata = sources.named_strata(spec.strata)
        open_faers(engine, spec.path, strata)
        return len(strata)
    if spec.format in ("csv", "parquet", "table"):
        sources.open_table(engine, spec.path, spec.columns,
                           None if spec.format == "table" else spec.format)
        return len(spec.columns.strata)
    raise Invalid(f"unknown input format '{spec.format}' ({', '.join(FORMATS)})",
                  where="--input-format")


def count_input(spec: InputSpec, *, until: date | None = None) -> PairCounts:
    """Count an input with DuckDB."""
    with DuckDBEngine() as engine:
        return count(engine, open_input(engine, spec), until=until)


def count_arrow(table: pa.Table, strata: tuple[str, ...] = (), *,
                until: date | None = None) -> PairCounts:
    """Count an Arrow table (columns report, drug, event, received and `strata`)."""
    with DuckDBEngine() as engine:
        sources.open_arrow(engine, table, strata)
        return count(engine, len(strata), until=until)


def trend_input(spec: InputSpec, *, drug: str, event: str, by: Period = "month",
                thresholds: Thresholds = DEFAULT_RULE) -> list[TrendRow]:
    """One pair's statistics by month or quarter of receipt, cumulatively; the input is
    read once and each period counted from the reports received by its end."""
    with DuckDBEngine() as engine:
        return _trend(engine, open_input(engine, spec), drug, event, by, thresholds)


def trend_arrow(table: pa.Table, strata: tuple[str, ...] = (), *, drug: str, event: str,
                by: Period = "month", thresholds: Thresholds = DEFAULT_RULE
                ) -> list[TrendRow]:
    """trend_input over an Arrow table (columns report, drug, event, received and
    `strata`), as the case store is read."""
    with DuckDBEngine() as engine:
        sources.open_arrow(engine, table, strata)
        return _trend(engine, len(strata), drug, event, by, thresholds)


def _trend(engine: DuckDBEngine, strata: int, drug: str, event: str, by: Period,
           thresholds: Thresholds) -> list[TrendRow]:
    from medsafe.signals.trend import trend

    engine.create("source_once", "SELECT * FROM source")  # read once, counted per period
    engine.execute("CREATE OR REPLACE TEMP VIEW source AS SELECT * FROM source_once")
    first, last = sources.received_range(engine)
    return trend(lambda day: count(engine, strata, until=day), first, last,
                 drug=drug, event=event, by=by, thresholds=thresholds)


def detect(counter: Callable[[], PairCounts], *, input: str, input_format: str,
           parameters: dict[str, object], prior: Prior | None = None,
           thresholds: Thresholds = DEFAULT_RULE, progress: Progress | None = None,
           on_slice: SliceSink | None = None) -> Detection:
    """Count with `counter`, fit the prior (unless one is given) and score every pair,
    handing each scored slice to `on_slice` (a writer) as soon as it is ready."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    fitter = _import_in_background("medsafe.signals.prior") if prior is None else None
    counts = counter()
    say(f"counted {len(counts):,} pairs in {counts.n_reports:,} reports "
        f"({time.perf_counter() - started:.1f} s)")
    fitted = None
    if prior is None:
        if fitter is not None:
            fitter.join()
        from medsafe.signals.prior import fit_prior

        fitted = fit_prior(counts.n, counts.e)
        prior = fitted.prior
        say(f"fitted the prior ({time.perf_counter() - started:.1f} s): "
            + "; ".join(fitted.notes))
    scores = score(counts, prior, thresholds, on_slice=on_slice)
    say(f"scored every pair ({time.perf_counter() - started:.1f} s)")
    return Detection(input=input, input_format=input_format,
                     parameters={**parameters, "thresholds": thresholds.describe()},
                     counts=counts, fitted=fitted, prior=prior, scores=scores,
                     seconds=time.perf_counter() - started)


def _import_in_background(module: str) -> threading.Thread:
    """Import `module` while the main thread counts: DuckDB releases the GIL while it
    works, and SciPy's optimiser (for the prior) takes about a second to import."""
    thread = threading.Thread(target=importlib.import_module, args=(module,), daemon=True)
    thread.start()
    return thread


def detect_input(spec: InputSpec, *, engine: Literal["duckdb", "spark"] = "duckdb",
                 prior: Prior | None = None, thresholds: Thresholds = DEFAULT_RULE,
                 progress: Progress | None = None,
                 on_slice: SliceSink | None = None) -> Detection:
    def counter() -> PairCounts:
        if engine == "spark":
            from medsafe.signals.spark_engine import count_with_spark

            if progress is not None:
                progress("starting Spark (a JVM: about ten seconds) ...")
            return count_with_spark(spec)
        return count_input(spec)

    return detect(counter, input=str(spec.path), input_format=spec.format,
                  parameters={**spec.describe(), "engine": engine}, prior=prior,
                  thresholds=thresholds, progress=progress, on_slice=on_slice)


def detect_arrow(table: pa.Table, *, input: str, parameters: dict[str, object],
                 strata: tuple[str, ...] = (), thresholds: Thresholds = DEFAULT_RULE,
                 progress: Progress | None = None) -> Detection:
    """A run over an Arrow table, as the case store is read."""
    return detect(lambda: count_arrow(table, strata), input=input, input_format="cases",
                  parameters={**parameters, "strata": list(strata), "engine": "duckdb"},
                  thresholds=thresholds, progress=progress)


__all__ = ["Detection", "Engine", "InputSpec", "count_arrow", "count_input", "detect",
           "detect_arrow", "detect_input", "open_input", "trend_arrow", "trend_input"]
