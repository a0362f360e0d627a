"""Trends: periods, and statistics computed from the reports received by each period's
end only."""

from __future__ import annotations

import csv
from datetime import date

from medsafe.signals.detection import InputSpec, trend_input
from medsafe.signals.trend import period_ends
from tests.support.shipped import VAERS_1999


def test_periods_are_whole_months_or_quarters() -> None:
    assert list(period_ends(date(1999, 11, 4), date(2000, 2, 1), "month")) == [
        ("1999-11", date(1999, 11, 30)), ("1999-12", date(1999, 12, 31)),
        ("2000-01", date(2000, 1, 31)), ("2000-02", date(2000, 2, 29))]
    assert [label for label, _ in period_ends(date(1999, 2, 1), date(2000, 1, 1),
                                              "quarter")] == [
        "1999-Q1", "1999-Q2", "1999-Q3", "1999-Q4", "2000-Q1"]


def reports_by_end_of(day: date) -> int:
    """RV x Intussusception reports received by `day`, counted straight from the CSVs."""
    received = {}
    with (VAERS_1999 / "1999VAERSDATA.csv").open(encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):
            month, dom, year = row["RECVDATE"].split("/")
            received[row["VAERS_ID"]] = date(int(year), int(month), int(dom))
    with (VAERS_1999 / "1999VAERSVAX.csv").open(encoding="latin-1", newline="") as handle:
        rotavirus = {row["VAERS_ID"] for row in csv.DictReader(handle)
                     if row["VAX_TYPE"] == "RV"}
    with (VAERS_1999 / "1999VAERSSYMPTOMS.csv").open(encoding="latin-1",
                                                     newline="") as handle:
        cases = {row["VAERS_ID"] for row in csv.DictReader(handle)
                 if "Intussusception" in [row[f"SYMPTOM{k}"] for k in range(1, 6)]}
    return sum(1 for r in rotavirus & cases if received[r] <= day)


def test_each_period_counts_only_the_reports_received_by_its_end() -> None:
    rows = trend_input(InputSpec(VAERS_1999, "vaers"), drug="RV", event="Intussusception",
                       by="quarter")
    ends = dict(period_ends(date(1990, 1, 1), date(2001, 1, 1),
                                                     "quarter"))
    assert [row.n for row in rows] == [reports_by_end_of(ends[row.period]) for row in rows]
    assert rows[-1].n == reports_by_end_of(date(2001, 1, 1))  # no report left out
    flagged = next(row.period for row in rows if row.signal)
    # RotaShield was withdrawn in October 1999; the pair is flagged before that.
    assert flagged < "1999-Q4"
