"""A drug-event pair's statistics over time: cumulative by month or quarter, by the day
each report was received. Each period is computed from the reports received up to its
end only, its prior included (never the future), so a person sees when the pair first
crossed the thresholds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np

from medsafe.errors import Invalid
from medsafe.signals.counting import PairCounts
from medsafe.signals.prior import FitFailed, fit_prior
from medsafe.signals.score import Thresholds, score

Period = Literal["month", "quarter"]


@dataclass(frozen=True, slots=True)
class TrendRow:
    period: str  # YYYY-MM or YYYY-Qn
    n: int
    e: float | None
    prr: float | None
    ic025: float | None
    eb05: float | None
    signal: bool
    signal_by: str
    note: str


def period_ends(first: date, last: date, by: Period) -> Iterator[tuple[str, date]]:
    """(label, last day) of each month or quarter from `first` to `last`."""
    months = 1 if by == "month" else 3
    year, month = first.year, first.month if by == "month" else 3 * ((first.month - 1) // 3) + 1
    while date(year, month, 1) <= last:
        last_month = month + months - 1  # a quarter starts in month 1, 4, 7 or 10
        following = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
        label = (f"{year}-{month:02d}" if by == "month"
                 else f"{year}-Q{(month - 1) // 3 + 1}")
        yield label, following - timedelta(days=1)
        month += months
        if month > 12:
            year, month = year + 1, month - 12


def trend(counter: Callable[[date], PairCounts], first: date, last: date, *, drug: str,
          event: str, by: Period = "month",
          thresholds: Thresholds | None = None) -> list[TrendRow]:
    """`counter(day)` counts the reports received up to `day`."""
    rule = thresholds or Thresholds()
    if by not in ("month", "quarter"):
        raise Invalid(f"unknown period '{by}' (month, quarter)", where="--by")
    rows: list[TrendRow] = []
    for label, end in period_ends(first, last, by):
        counts = counter(end)
        found = counts.find(drug, event)
        if found is None:
            rows.append(TrendRow(label, 0, None, None, None, None, False, "",
                                 "no report of the pair yet"))
            continue
        try:
            fitted = fit_prior(counts.n, counts.e)
        except FitFailed as error:
            rows.append(TrendRow(label, int(counts.n[found]), float(counts.e[found]),
                                 None, None, None, False, "",
                                 f"prior not fitted: {error.message}"))
            continue
        # The prior needs every pair; the statistics only this one.
        row = score(counts.take(np.array([found])), fitted.prior, rule).row(drug, event)
        rows.append(TrendRow(label, int(_number(row, "n")), _number(row, "e"),
                             _number(row, "prr"), _number(row, "ic025"),
                             _number(row, "eb05"), bool(row["signal"]),
                             str(row["signal_by"]),
                             "; ".join(fitted.notes)
                             + (f"; at a bound: {', '.join(fitted.at_bound)}"
                                if fitted.at_bound else "")))
    return rows


def _number(row: dict[str, object], key: str) -> float:
    value = row[key]
    return float(value) if isinstance(value, (int, float)) else float("nan")
