"""Scoring every drug-event pair: all statistics, and the candidate-signal rule.

The default rule (configurable) marks a pair when any of these holds, and says which in
`signal_by`: EB05 >= 2; IC025 > 0 with N >= 3; PRR >= 2 with chi-square >= 4 and N >= 3
(the criteria named in ../shared/reference/signal-detection.md §1 and the issue).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from medsafe.errors import Invalid
from medsafe.signals.counting import PairCounts
from medsafe.signals.stats import Prior, TwoByTwo, ebgm, ic, prr, ror

COLUMNS = ("drug", "event", "n", "e", "prr", "prr_lo", "prr_hi", "chi2", "ror", "ror_lo",
           "ror_hi", "ic", "ic025", "ic975", "ebgm", "eb05", "eb95", "signal", "signal_by")


@dataclass(frozen=True, slots=True)
class Thresholds:
    eb05: float = 2.0
    ic025: float = 0.0
    prr: float = 2.0
    chi2: float = 4.0
    min_n: int = 3


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
    names = np.array(["", "EB05"], dtype=object)[by_eb.astype(int)]
    names = _join(names, np.array(["", "IC025"], dtype=object)[by_ic.astype(int)])
    names = _join(names, np.array(["", "PRR"], dtype=object)[by_prr.astype(int)])
    return Scores({
        "drug": counts.drug, "event": counts.event, "n": counts.n, "e": counts.e,
        "prr": ratio, "prr_lo": ratio_lo, "prr_hi": ratio_hi, "chi2": chi2, "ror": odds,
        "ror_lo": odds_lo, "ror_hi": odds_hi, "ic": info, "ic025": info_lo,
        "ic975": info_hi, "ebgm": gm, "eb05": gm05, "eb95": gm95,
        "signal": by_eb | by_ic | by_prr, "signal_by": names})


def _join(left: NDArray[np.object_], right: NDArray[np.object_]) -> NDArray[np.object_]:
    both = (left != "") & (right != "")
    return np.asarray(np.where(both, left + "+" + right, left + right), dtype=object)


def write_csv(scores: Scores, path: Path) -> None:
    """All pairs, one row each, in COLUMNS order; numbers to 6 significant digits."""
    if path.suffix.lower() != ".csv":
        raise Invalid(f"{path}: only .csv output is built so far", where="--out")
    columns = [scores.columns[name] for name in COLUMNS]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in zip(*columns, strict=True):
            writer.writerow([_cell(value) for value in row])


def _cell(value: object) -> object:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return value
