"""Scoring every drug-event pair: all statistics, and the candidate-signal rule.

The default rule (configurable) marks a pair when any of these holds, and says which in
`signal_by`: EB05 >= 2; IC025 > 0 with N >= 3; PRR >= 2 with chi-square >= 4 and N >= 3
(the criteria named in ../shared/reference/signal-detection.md §1 and the issue).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from pyarrow import compute, csv, parquet

from medsafe.errors import Invalid
from medsafe.signals.counting import PairCounts
from medsafe.signals.stats import Prior, TwoByTwo, ebgm, ic, prr, ror

COLUMNS = ("drug", "event", "n", "e", "prr", "prr_lo", "prr_hi", "chi2", "ror", "ror_lo",
           "ror_hi", "ic", "ic025", "ic975", "ebgm", "eb05", "eb95", "signal", "signal_by")

SCHEMA = pa.schema([(name, pa.string() if name in ("drug", "event", "signal_by")
                     else pa.bool_() if name == "signal" else pa.float64())
                    for name in COLUMNS])
SLICE = 1 << 18  # pairs per slice: large enough that the per-slice overhead is noise
SliceSink = Callable[[Mapping[str, NDArray[np.generic]]], None]

# signal_by for each combination of the three criteria, indexed by EB05 + 2 IC025 + 4 PRR.
SIGNAL_BY = np.array(["+".join(name for bit, name in ((1, "EB05"), (2, "IC025"), (4, "PRR"))
                                if code & bit) for code in range(8)], dtype=object)


@dataclass(frozen=True, slots=True)
class Thresholds:
    eb05: float = 2.0
    ic025: float = 0.0
    prr: float = 2.0
    chi2: float = 4.0
    min_n: int = 3

    def describe(self) -> dict[str, float | int]:
        return {"eb05": self.eb05, "ic025": self.ic025, "prr": self.prr, "chi2": self.chi2,
                "min_n": self.min_n}


@dataclass(frozen=True, slots=True)
class Scores:
    columns: dict[str, NDArray[np.generic]]

    def __len__(self) -> int:
        return len(self.columns["drug"])

    def row(self, drug: str, event: str) -> dict[str, object]:
        found = np.nonzero((self.columns["drug"] == drug) & (self.columns["event"] == event))[0]
        if found.size == 0:
            raise Invalid(f"no pair {drug} x {event}", where="pair")
        return {name: values[found[0]].item() if hasattr(values[found[0]], "item")
                else values[found[0]] for name, values in self.columns.items()}


def score(counts: PairCounts, prior: Prior, thresholds: Thresholds = Thresholds(), *,
          workers: int | None = None, on_slice: SliceSink | None = None,
          slice_size: int = SLICE) -> Scores:
    """Every statistic for every pair of `counts`.

    The pairs are scored in slices on `workers` threads (default: one per core): the
    work is NumPy and SciPy loops, which run without Python's global lock, so the slices
    run in parallel; each pair's numbers do not depend on how the table was sliced.
    `on_slice` receives each scored slice, in order, as soon as it is ready, so a writer
    can write one while the next are scored. At most two slices per thread are in
    flight, and each finished slice is copied into the result's columns at once, so the
    memory beyond the result stays a few slices whatever the table's size."""
    size = len(counts)
    slices = [slice(start, min(start + slice_size, size))
              for start in range(0, size, slice_size)]
    threads = max(1, min(workers or os.cpu_count() or 1, len(slices)))
    # The columns the counts already hold are shared, not copied.
    shared: dict[str, NDArray[np.generic]] = {
        "drug": counts.drug, "event": counts.event, "n": counts.n, "e": counts.e}
    filled: dict[str, NDArray[np.generic]] = {}

    def keep(part: slice, scored: Mapping[str, NDArray[np.generic]]) -> None:
        if on_slice is not None:
            on_slice(scored)
        for name, values in scored.items():
            if name not in shared:
                if name not in filled:
                    filled[name] = np.empty(size, dtype=values.dtype)
                filled[name][part] = values

    with ThreadPoolExecutor(threads) as pool:
        pending: deque[tuple[slice, Future[dict[str, NDArray[np.generic]]]]] = deque()
        for part in slices:
            pending.append((part, pool.submit(_score_slice, counts, prior, thresholds, part)))
            if len(pending) >= 2 * threads:
                done, future = pending.popleft()
                keep(done, future.result())
        while pending:
            done, future = pending.popleft()
            keep(done, future.result())
    if not filled:  # no pairs: the columns' types from an empty slice
        keep(slice(0, 0), _score_slice(counts, prior, thresholds, slice(0, 0)))
    return Scores({name: shared[name] if name in shared else filled[name]
                   for name in COLUMNS})


def _score_slice(counts: PairCounts, prior: Prior, thresholds: Thresholds,
                 part: slice) -> dict[str, NDArray[np.generic]]:
    n, e = counts.n[part], counts.e[part]
    table = TwoByTwo.of(n, counts.n_drug[part], counts.n_event[part], counts.n_reports)
    ratio, ratio_lo, ratio_hi, chi2 = prr(table)
    odds, odds_lo, odds_hi = ror(table)
    info, info_lo, info_hi = ic(n, e)
    gm, gm05, gm95 = ebgm(n, e, prior)
    by_eb = gm05 >= thresholds.eb05
    by_ic = (info_lo > thresholds.ic025) & (n >= thresholds.min_n)
    by_prr = (ratio >= thresholds.prr) & (chi2 >= thresholds.chi2) & (n >= thresholds.min_n)
    names = SIGNAL_BY[by_eb.astype(np.int8) + 2 * by_ic + 4 * by_prr]
    return {
        "drug": counts.drug[part], "event": counts.event[part], "n": n, "e": e,
        "prr": ratio, "prr_lo": ratio_lo, "prr_hi": ratio_hi, "chi2": chi2, "ror": odds,
        "ror_lo": odds_lo, "ror_hi": odds_hi, "ic": info, "ic025": info_lo,
        "ic975": info_hi, "ebgm": gm, "eb05": gm05, "eb95": gm95,
        "signal": by_eb | by_ic | by_prr, "signal_by": names}


def to_arrow(columns: Mapping[str, NDArray[np.generic]]) -> pa.Table:
    """Scored pairs as an Arrow table, in COLUMNS order and SCHEMA's types."""
    return pa.table([pa.array(columns[field.name], type=field.type) for field in SCHEMA],
                    schema=SCHEMA)


class ScoresWriter:
    """Writes scored pairs, slice by slice as they are scored, to `path`: Parquet for
    .parquet, CSV for .csv (full precision; `inf` where a ratio has a zero denominator,
    empty where a limit cannot be formed).

    The rows go to a temporary file beside `path`, renamed over it only when the block
    ends without an error, so a failed run never leaves a half-written table behind."""

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise Invalid(f"{path}: write .csv or .parquet", where="--out")
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._writer: parquet.ParquetWriter | csv.CSVWriter | None = None

    def __enter__(self) -> ScoresWriter:
        return self

    def write(self, columns: Mapping[str, NDArray[np.generic]]) -> None:
        table = to_arrow(columns)
        with self._as_invalid():
            if self._writer is None:
                self._writer = (parquet.ParquetWriter(self._partial, SCHEMA, compression="zstd")
                                if self.path.suffix.lower() == ".parquet"
                                else csv.CSVWriter(self._partial, SCHEMA))
            if isinstance(self._writer, csv.CSVWriter):
                table = _with_nan_as_null(table)
            self._writer.write_table(table)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None and self._writer is None:
            self.write({name: np.array([], dtype=object if field.type == pa.string()
                                       else bool if field.type == pa.bool_() else float)
                        for name, field in zip(COLUMNS, SCHEMA, strict=True)})
        with self._as_invalid():
            if self._writer is not None:
                self._writer.close()
            if kind is None:
                os.replace(self._partial, self.path)
            else:
                self._partial.unlink(missing_ok=True)

    @contextmanager
    def _as_invalid(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise Invalid(f"{self.path}: cannot be written ({error})", where="--out") from None


def write_scores(scores: Scores, path: Path) -> None:
    """Every pair of `scores`, one row each, in COLUMNS order (see ScoresWriter)."""
    with ScoresWriter(path) as writer:
        writer.write(scores.columns)


def _with_nan_as_null(table: pa.Table) -> pa.Table:
    """CSV readers differ on 'nan'; an empty cell means 'not computable' to all of them."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if pa.types.is_floating(column.type):
            column = compute.if_else(compute.is_nan(column), None, column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)
