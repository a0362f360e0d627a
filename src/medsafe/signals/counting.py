"""Counting distinct reports per drug, per event, per pair and per stratum, written once
in the SQL that DuckDB and Spark SQL share, and run by either engine.

The counting convention (openEBGM `processRaw()`): every count is of *distinct reports*,
so a report listing a drug twice counts once; E = n_drug × n_event / n_reports, and with
strata E = Σ_s n_drug,s × n_event,s / n_s over every combination of the stratum columns
(a report belongs to one stratum: its first, in text order, if its rows disagree).

Every input is first turned into one relation named `source` by the engine's reader
(`medsafe.signals.sources` for DuckDB, `medsafe.signals.spark_engine` for Spark), with
the columns `report`, `drug`, `event`, `received` (a DATE, NULL where unknown) and
`stratum_1` ... `stratum_k` for the k stratum columns asked for. The steps below then
only use SQL both engines read the same way: SELECT DISTINCT, GROUP BY, JOIN ... USING,
count, sum, min, coalesce, CAST(... AS STRING), CAST(... AS INT), concat_ws and
row_number() OVER (ORDER BY ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from medsafe.errors import Invalid


@dataclass(frozen=True, slots=True)
class Columns:
    """Which columns of a long table hold the report id, the drug, the event, the day
    the report was received (optional), and the strata."""

    report: str = "id"
    drug: str = "drug"
    event: str = "event"
    strata: tuple[str, ...] = ()
    received: str | None = None


@dataclass(frozen=True, slots=True)
class PairCounts:
    """One entry per drug-event pair with at least one report."""

    drug: NDArray[np.object_]
    event: NDArray[np.object_]
    n: NDArray[np.float64]
    e: NDArray[np.float64]
    n_drug: NDArray[np.float64]
    n_event: NDArray[np.float64]
    n_reports: int

    def __len__(self) -> int:
        return int(self.n.size)

    def find(self, drug: str, event: str) -> int | None:
        """The position of the pair `drug` x `event`, or None when it has no report."""
        found = np.flatnonzero((self.drug == drug) & (self.event == event))
        return int(found[0]) if found.size else None

    def take(self, positions: NDArray[np.intp]) -> PairCounts:
        """The pairs at `positions`, with the margins and the report total unchanged."""
        return PairCounts(self.drug[positions], self.event[positions], self.n[positions],
                          self.e[positions], self.n_drug[positions], self.n_event[positions],
                          self.n_reports)


class Engine(Protocol):
    """What the counting needs of an SQL engine."""

    def create(self, name: str, sql: str) -> None:
        """Compute `sql` and keep the result as the temporary relation `name`."""

    def fetch(self, sql: str) -> Mapping[str, NDArray[np.generic]]:
        """Run `sql` and return its columns as NumPy arrays."""


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    sql: str


def stratum_names(strata: int) -> list[str]:
    """The names the readers give the stratum columns in `source`."""
    return [f"stratum_{i}" for i in range(1, strata + 1)]


def counting_steps(strata: int, until: date | None = None) -> list[Step]:
    """The counting, step by step, over the relation `source` with `strata` stratum
    columns."""
    stratum = ("concat_ws('|', " + ", ".join(
        f"coalesce(CAST({c} AS STRING), '')" for c in stratum_names(strata)) + ")"
        if strata else "''")
    until_clause = f" AND received <= DATE '{until.isoformat()}'" if until else ""
    kept = (f"FROM source WHERE report IS NOT NULL AND drug IS NOT NULL AND event IS NOT NULL"
            f" AND drug <> '' AND event <> ''{until_clause}")
    # Drugs and events are numbered in text order first, so the distinct-report counting,
    # the joins and the final sort work on integers rather than on millions of strings
    # (about half the counting time), and the pairs still come out in text order.
    return [
        Step("drug_code", "SELECT drug, CAST(row_number() OVER (ORDER BY drug) - 1 AS INT) "
                          f"AS code FROM (SELECT DISTINCT drug {kept}) d"),
        Step("event_code", "SELECT event, CAST(row_number() OVER (ORDER BY event) - 1 AS INT) "
                           f"AS code FROM (SELECT DISTINCT event {kept}) v"),
        Step("report_drug_event", "SELECT DISTINCT k.report, d.code AS drug, v.code AS event "
                                  f"FROM (SELECT report, drug, event {kept}) k "
                                  "JOIN drug_code d ON d.drug = k.drug "
                                  "JOIN event_code v ON v.event = k.event"),
        Step("report_stratum", f"SELECT report, min({stratum}) AS stratum {kept} "
                               "GROUP BY report"),
        Step("stratum_size", "SELECT stratum, count(*) AS n FROM report_stratum "
                             "GROUP BY stratum"),
        Step("drug_stratum", "SELECT drug, stratum, count(*) AS n FROM "
                             "(SELECT DISTINCT report, drug FROM report_drug_event) d "
                             "JOIN report_stratum USING (report) GROUP BY drug, stratum"),
        Step("event_stratum", "SELECT event, stratum, count(*) AS n FROM "
                              "(SELECT DISTINCT report, event FROM report_drug_event) v "
                              "JOIN report_stratum USING (report) GROUP BY event, stratum"),
        Step("pair", "SELECT drug, event, count(*) AS n FROM report_drug_event "
                     "GROUP BY drug, event"),
    ]


# E per pair: with one stratum the products of the margins; with several, the sum over
# the strata in which both the drug and the event were reported (elsewhere the term is 0).
EXPECTED_UNSTRATIFIED = """
    SELECT p.drug, p.event, p.n, CAST(d.n AS DOUBLE) * v.n / s.n AS e,
           d.n AS n_drug, v.n AS n_event
    FROM pair p JOIN drug_stratum d ON d.drug = p.drug
    JOIN event_stratum v ON v.event = p.event
    CROSS JOIN stratum_size s
    ORDER BY p.drug, p.event"""

EXPECTED_STRATIFIED = """
    SELECT p.drug, p.event, p.n, x.e, m.n_drug, w.n_event
    FROM pair p
    JOIN (SELECT p.drug, p.event, sum(CAST(d.n AS DOUBLE) * v.n / s.n) AS e
          FROM pair p
          JOIN drug_stratum d ON d.drug = p.drug
          JOIN event_stratum v ON v.event = p.event AND v.stratum = d.stratum
          JOIN stratum_size s ON s.stratum = d.stratum
          GROUP BY p.drug, p.event) x ON x.drug = p.drug AND x.event = p.event
    JOIN (SELECT drug, sum(n) AS n_drug FROM drug_stratum GROUP BY drug) m
      ON m.drug = p.drug
    JOIN (SELECT event, sum(n) AS n_event FROM event_stratum GROUP BY event) w
      ON w.event = p.event
    ORDER BY p.drug, p.event"""


def count(engine: Engine, strata: int = 0, *,
          until: date | None = None) -> PairCounts:
    """Count the relation `source` that `engine` holds."""
    for step in counting_steps(strata, until):
        engine.create(step.name, step.sql)
    total = engine.fetch("SELECT count(*) AS n FROM report_stratum")["n"]
    n_reports = int(total[0]) if len(total) else 0
    if n_reports == 0:
        raise Invalid("the input holds no report with a drug and an event"
                      + (f" received by {until.isoformat()}" if until else ""),
                      where="--input")
    result = engine.fetch(EXPECTED_STRATIFIED if strata else EXPECTED_UNSTRATIFIED)
    drugs = engine.fetch("SELECT drug FROM drug_code ORDER BY code")["drug"]
    events = engine.fetch("SELECT event FROM event_code ORDER BY code")["event"]
    return PairCounts(
        drug=np.asarray(drugs, dtype=object)[np.asarray(result["drug"], dtype=np.intp)],
        event=np.asarray(events, dtype=object)[np.asarray(result["event"], dtype=np.intp)],
        n=np.asarray(result["n"], dtype=np.float64),
        e=np.asarray(result["e"], dtype=np.float64),
        n_drug=np.asarray(result["n_drug"], dtype=np.float64),
        n_event=np.asarray(result["n_event"], dtype=np.float64), n_reports=n_reports)
