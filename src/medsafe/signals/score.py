"""Scoring every drug-event pair: all statistics, and the candidate-signal rule.

The default rule (configurable) marks a pair when any of these holds, and says which in
`signal_by`: EB05 >= 2; IC025 > 0 with N >= 3; PRR >= 2 with chi-square >= 4 and N >= 3
(the criteria named in ../shared/reference/signal-detection.md §1 and the issue).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from pyarrow import compute, csv, parquet

from medsafe.errors import Invalid
from medsafe.signals.counting import PairCounts
from medsafe.signals.stats import Prior, TwoByTwo, ebgm, ic, prr, ror

COLUMNS = ("drug", "event", "n", "e", "prr", "prr_lo", "prr_hi", "chi2", "ror", "ror_lo",
           "ror_hi", "ic", "ic025", "ic975", "ebgm", "eb05", "eb95", "signal", "signal_by")

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


def score(counts: PairCounts, prior: Prior, thresholds: Thresholds = Thresholds()) -> Scores:
    table = TwoByTwo.of(counts.n, counts.n_drug, counts.n_event, counts.n_reports)
    ratio, ratio_lo, ratio_hi, chi2 = prr(table)
    odds, odds_lo, odds_hi = ror(table)
    info, info_lo, info_hi = ic(counts.n, counts.e)
    gm, gm05, gm95 = ebgm(counts.n, counts.e, prior)
    by_eb = gm05 >= thresholds.eb05
    by_ic = (info_lo > thresholds.ic025) & (counts.n >= thresholds.min_n)
    by_prr = ((ratio >= thresholds.prr) & (chi2 >= thresholds.chi2)
              & (counts.n >= thresholds.min_n))
    names = SIGNAL_BY[by_eb.astype(np.int8) + 2 * by_ic + 4 * by_prr]
    return Scores({
        "drug": counts.drug, "event": counts.event, "n": counts.n, "e": counts.e,
        "prr": ratio, "prr_lo": ratio_lo, "prr_hi": ratio_hi, "chi2": chi2, "ror": odds,
        "ror_lo": odds_lo, "ror_hi": odds_hi, "ic": info, "ic025": info_lo,
        "ic975": info_hi, "ebgm": gm, "eb05": gm05, "eb95": gm95,
        "signal": by_eb | by_ic | by_prr, "signal_by": names})


def to_arrow(scores: Scores) -> pa.Table:
    """Every pair as an Arrow table, in COLUMNS order."""
    return pa.table({name: scores.columns[name] for name in COLUMNS})


def write_scores(scores: Scores, path: Path) -> None:
    """Every pair, one row each, in COLUMNS order: Parquet for .parquet, else CSV (full
    precision; `inf` where a ratio has a zero denominator, empty where a limit cannot be
    formed)."""
    table = to_arrow(scores)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            parquet.write_table(table, path, compression="zstd")
        elif suffix == ".csv":
            csv.write_csv(_with_nan_as_null(table), path)
        else:
            raise Invalid(f"{path}: write .csv or .parquet", where="--out")
    except OSError as error:
        raise Invalid(f"{path}: cannot be written ({error})", where="--out") from None


def _with_nan_as_null(table: pa.Table) -> pa.Table:
    """CSV readers differ on 'nan'; an empty cell means 'not computable' to all of them."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if pa.types.is_floating(column.type):
            column = compute.if_else(compute.is_nan(column), None, column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)
