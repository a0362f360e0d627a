"""Counting distinct reports per drug, per event, per pair and per stratum, in DuckDB.

The counting convention (openEBGM `processRaw()`): every count is of *distinct reports*,
so a report listing a drug twice counts once; E = n_drug × n_event / n_reports, and with
strata E = Σ_s n_drug,s × n_event,s / n_s over every combination of the stratum columns.
A long table is one row per report × drug × event (extra rows are harmless).

DuckDB reads CSV and Parquet itself, streaming and on both cores; nothing is downloaded
at run time (the sqlite and postgres extensions are not used).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
from numpy.typing import NDArray

from medsafe.errors import Invalid


@dataclass(frozen=True, slots=True)
class Columns:
    report: str = "id"
    drug: str = "drug"
    event: str = "event"
    strata: tuple[str, ...] = ()


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


def count_file(path: Path, columns: Columns = Columns()) -> PairCounts:
    """Count a long CSV or Parquet table."""
    if not path.exists():
        raise Invalid(f"{path}: no such file", where="--input")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".gz"):
        raise Invalid(f"{path}: expected a .csv or .parquet file", where="--input")
    with duckdb.connect() as connection:
        reader = "read_parquet" if suffix == ".parquet" else "read_csv"
        options = "" if suffix == ".parquet" else ", header = true, all_varchar = true"
        try:
            connection.execute(f"CREATE VIEW source AS SELECT * FROM {reader}("
                               f"{_literal(path)}{options})")
            found = {row[0] for row in connection.execute("DESCRIBE source").fetchall()}
        except duckdb.Error as error:
            raise Invalid(f"{path}: cannot be read: {error}", where="--input") from None
        missing = [c for c in (columns.report, columns.drug, columns.event, *columns.strata)
                   if c not in found]
        if missing:
            raise Invalid(f"{path}: no column {', '.join(missing)} (columns: "
                          f"{', '.join(sorted(found))})", where="--input")
        return _count(connection, columns)


def count_vaers(folder: Path, *, until: date | None = None) -> PairCounts:
    """Count a VAERS year (the *VAERSDATA.csv, *VAERSVAX.csv and *VAERSSYMPTOMS.csv files
    of a folder): the drug is the vaccine type code (VAX_TYPE, e.g. RV), the event each
    symptom term (SYMPTOM1-5), joined by VAERS_ID; `until` keeps only the reports
    received (RECVDATE) on or before that day."""
    data = _one(folder, "*VAERSDATA.csv")
    vax = _one(folder, "*VAERSVAX.csv")
    symptoms = _one(folder, "*VAERSSYMPTOMS.csv")
    with duckdb.connect() as connection:
        try:
            connection.execute(f"""
                CREATE VIEW source AS
                WITH vaccines AS (
                    SELECT DISTINCT VAERS_ID AS id, VAX_TYPE AS drug
                    FROM read_csv({_literal(vax)}, header = true, all_varchar = true)),
                terms AS (
                    SELECT VAERS_ID AS id,
                           unnest([SYMPTOM1, SYMPTOM2, SYMPTOM3, SYMPTOM4, SYMPTOM5]) AS event
                    FROM read_csv({_literal(symptoms)}, header = true, all_varchar = true))
                SELECT vaccines.id, vaccines.drug, terms.event,
                       strptime(reports.RECVDATE, '%m/%d/%Y')::DATE AS received
                FROM vaccines JOIN terms USING (id)
                JOIN read_csv({_literal(data)}, header = true, all_varchar = true) reports
                  ON reports.VAERS_ID = vaccines.id
                WHERE terms.event IS NOT NULL AND terms.event <> ''""")
            return _count(connection, Columns("id", "drug", "event"), until=until,
                          date_column="received")
        except duckdb.Error as error:
            raise Invalid(f"{folder}: not a VAERS folder: {error}", where="--input") from None


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise Invalid(f"{folder}: expected one {pattern} file, found {len(found)}",
                      where="--input")
    return found[0]


def _literal(path: Path) -> str:
    """A path as an SQL string literal (DuckDB views take no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def received_range(folder: Path) -> tuple[date, date]:
    """The first and last day a VAERS folder's reports were received."""
    data = _one(folder, "*VAERSDATA.csv")
    with duckdb.connect() as connection:
        found = connection.execute(
            f"SELECT min(d), max(d) FROM (SELECT strptime(RECVDATE, '%m/%d/%Y')::DATE AS d "
            f"FROM read_csv({_literal(data)}, header = true, all_varchar = true))").fetchone()
    if found is None or found[0] is None:
        raise Invalid(f"{folder}: no report has a received date", where="--input")
    return found[0], found[1]


def _count(connection: duckdb.DuckDBPyConnection, columns: Columns, *,
           until: date | None = None, date_column: str | None = None) -> PairCounts:
    report, drug, event = (_quote(c) for c in (columns.report, columns.drug, columns.event))
    strata = [_quote(c) for c in columns.strata]
    until_clause = ""
    if until is not None and date_column is not None:
        until_clause = f"AND {_quote(date_column)} <= DATE '{until.isoformat()}'"
    stratum = " || '|' || ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in strata) \
        if strata else "''"
    connection.execute(f"""
        CREATE TEMP TABLE rows AS
        SELECT DISTINCT CAST({report} AS VARCHAR) AS report, CAST({drug} AS VARCHAR) AS drug,
               CAST({event} AS VARCHAR) AS event, {stratum} AS stratum
        FROM source
        WHERE {report} IS NOT NULL AND {drug} IS NOT NULL AND {event} IS NOT NULL
        {until_clause}""")
    total = connection.execute("SELECT count(DISTINCT report) FROM rows").fetchone()
    n_reports = int(total[0]) if total else 0
    if n_reports == 0:
        raise Invalid("the input holds no report with a drug and an event", where="--input")
    # A report belongs to one stratum (its first, if the data disagree).
    connection.execute("""
        CREATE TEMP TABLE report_stratum AS
        SELECT report, min(stratum) AS stratum FROM rows GROUP BY report""")
    connection.execute("""
        CREATE TEMP TABLE per_stratum AS
        SELECT stratum, count(*) AS n FROM report_stratum GROUP BY stratum""")
    connection.execute("""
        CREATE TEMP TABLE drug_stratum AS
        SELECT d.drug, s.stratum, count(*) AS n
        FROM (SELECT DISTINCT report, drug FROM rows) d JOIN report_stratum s USING (report)
        GROUP BY d.drug, s.stratum""")
    connection.execute("""
        CREATE TEMP TABLE event_stratum AS
        SELECT v.event, s.stratum, count(*) AS n
        FROM (SELECT DISTINCT report, event FROM rows) v JOIN report_stratum s USING (report)
        GROUP BY v.event, s.stratum""")
    result = connection.execute("""
        WITH pairs AS (
            SELECT drug, event, count(DISTINCT report) AS n FROM rows GROUP BY drug, event),
        expected AS (
            SELECT p.drug, p.event, sum(d.n * v.n / s.n) AS e
            FROM pairs p
            JOIN drug_stratum d ON d.drug = p.drug
            JOIN event_stratum v ON v.event = p.event AND v.stratum = d.stratum
            JOIN per_stratum s ON s.stratum = d.stratum
            GROUP BY p.drug, p.event),
        drugs AS (SELECT drug, count(DISTINCT report) AS n FROM rows GROUP BY drug),
        events AS (SELECT event, count(DISTINCT report) AS n FROM rows GROUP BY event)
        SELECT p.drug, p.event, p.n, x.e, d.n AS n_drug, v.n AS n_event
        FROM pairs p JOIN expected x USING (drug, event)
        JOIN drugs d USING (drug) JOIN events v USING (event)
        ORDER BY p.drug, p.event""").fetchnumpy()
    return PairCounts(
        drug=np.asarray(result["drug"], dtype=object),
        event=np.asarray(result["event"], dtype=object),
        n=np.asarray(result["n"], dtype=np.float64), e=np.asarray(result["e"], np.float64),
        n_drug=np.asarray(result["n_drug"], dtype=np.float64),
        n_event=np.asarray(result["n_event"], dtype=np.float64), n_reports=n_reports)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

