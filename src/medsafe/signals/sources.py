"""Inputs for DuckDB counting: each turns one kind of input into the relation `source`
with the columns `report`, `drug`, `event`, `received` (DATE or NULL) and `stratum_1`
... `stratum_k` (see `medsafe.signals.counting`).

- a long table: one CSV or Parquet file, a folder of them, or a glob (`*.parquet`);
  one row per report, drug and event (extra rows are harmless: counts are distinct);
- a VAERS folder (`*VAERSDATA.csv`, `*VAERSVAX.csv`, `*VAERSSYMPTOMS.csv`): the drug is
  the vaccine type code (VAX_TYPE, e.g. RV), the event each symptom term (SYMPTOM1-5);
- an Arrow table, as the case store is read (`report`, `drug`, `event`, `received` and
  stratum columns by name).

For VAERS, FAERS and the case store the strata are named: `sex`, `age_group` and `year`
(the year the report was received), in any combination.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Literal

import pyarrow as pa

from medsafe.errors import Invalid
from medsafe.signals.counting import Columns, stratum_names
from medsafe.signals.duckdb_engine import DuckDBEngine

NAMED_STRATA = ("sex", "age_group", "year")
TABLE_SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}

# Age bands for stratification (years). A choice of ours, not a clinical fact: wide
# enough that each stratum holds many reports, and under openEBGM's 10-level advice.
AGE_GROUP_SQL = """CASE
    WHEN {age} IS NULL THEN 'unknown'
    WHEN {age} < 18 THEN '0-17'
    WHEN {age} < 45 THEN '18-44'
    WHEN {age} < 65 THEN '45-64'
    WHEN {age} < 75 THEN '65-74'
    ELSE '75+' END"""


def guess_format(path: Path) -> Literal["vaers", "faers", "table"]:
    """A folder holding a VAERS year is `vaers`, one holding FAERS quarterly files
    (DEMO*.txt, in it or in its subfolders) is `faers`; anything else is a table."""
    if path.is_dir():
        if any(path.glob("*VAERSDATA.csv")):
            return "vaers"
        if any(p.name.upper().startswith("DEMO") and p.suffix.upper() == ".TXT"
               for p in path.rglob("*")):
            return "faers"
    return "table"


def table_format(path: Path, given: str | None = None) -> str:
    """csv or parquet: as given, else by the file's (or the folder's files') extension."""
    if given in ("csv", "parquet"):
        return given
    if given not in (None, "table"):
        raise Invalid(f"unknown table format '{given}' (csv, parquet)", where="--input-format")
    candidates = [path] if path.is_file() else _files(path)
    kinds = {TABLE_SUFFIXES.get(p.suffix.lower()) for p in candidates}
    if len(kinds) != 1 or None in kinds:
        raise Invalid(f"{path}: expected .csv or .parquet files; say which with "
                      "--input-format csv|parquet", where="--input")
    return str(kinds.pop())


def open_table(engine: DuckDBEngine, path: Path, columns: Columns,
               given_format: str | None = None) -> None:
    """A long CSV or Parquet table (a file, a folder of files, or a glob)."""
    kind = table_format(path, given_format)
    files = _pattern(path, kind)
    reader = (f"read_parquet({files})" if kind == "parquet" else
              f"read_csv({files}, header = true, all_varchar = true)")
    engine.execute(f"CREATE OR REPLACE TEMP VIEW raw_input AS SELECT * FROM {reader}")
    require_columns(path, engine.columns("raw_input"), columns)
    engine.execute(f"""
        CREATE OR REPLACE TEMP VIEW source AS
        SELECT {source_columns(columns, sql_identifier)}
        FROM raw_input""")


def require_columns(path: Path, found: Sequence[str], columns: Columns) -> None:
    """Refuse a table that lacks a column the options name."""
    wanted = [columns.report, columns.drug, columns.event, *columns.strata]
    if columns.received:
        wanted.append(columns.received)
    missing = [c for c in wanted if c not in found]
    if missing:
        raise Invalid(f"{path}: no column {', '.join(missing)} (its columns: "
                      f"{', '.join(found)}); name them with --id-col, --drug-col, "
                      "--event-col, --strata", where="--input")


def source_columns(columns: Columns, identifier: Callable[[str], str]) -> str:
    """The select list that maps a long table's columns onto `source`'s, in the SQL both
    engines read (`identifier` quotes a name as the engine wants)."""
    received = (f"TRY_CAST({identifier(columns.received)} AS DATE)" if columns.received
                else "CAST(NULL AS DATE)")
    strata = "".join(f", {identifier(c)} AS {name}"
                     for c, name in zip(columns.strata, stratum_names(len(columns.strata)),
                                        strict=True))
    return (f"{identifier(columns.report)} AS report, "
            f"CAST({identifier(columns.drug)} AS STRING) AS drug, "
            f"CAST({identifier(columns.event)} AS STRING) AS event, "
            f"{received} AS received{strata}")


def open_vaers(engine: DuckDBEngine, folder: Path, strata: Sequence[str] = ()) -> None:
    """A VAERS year, joined by VAERS_ID."""
    chosen = named_strata(strata)
    data = _one(folder, "*VAERSDATA.csv")
    vax = _one(folder, "*VAERSVAX.csv")
    symptoms = _one(folder, "*VAERSSYMPTOMS.csv")
    expressions = {"sex": "coalesce(nullif(reports.SEX, ''), 'U')",
                   "age_group": AGE_GROUP_SQL.format(age="TRY_CAST(reports.AGE_YRS AS DOUBLE)"),
                   "year": "CAST(year(received) AS VARCHAR)"}
    strata_sql = "".join(f", {expressions[name]} AS {column}"
                         for name, column in zip(chosen, stratum_names(len(chosen)),
                                                 strict=True))
    engine.execute(f"""
        CREATE OR REPLACE TEMP VIEW source AS
        WITH vaccines AS (
            SELECT DISTINCT VAERS_ID AS report, VAX_TYPE AS drug
            FROM read_csv({sql_literal(vax)}, header = true, all_varchar = true)),
        terms AS (
            SELECT VAERS_ID AS report,
                   unnest([SYMPTOM1, SYMPTOM2, SYMPTOM3, SYMPTOM4, SYMPTOM5]) AS event
            FROM read_csv({sql_literal(symptoms)}, header = true, all_varchar = true)),
        reports AS (
            SELECT *, TRY_CAST(strptime(RECVDATE, '%m/%d/%Y') AS DATE) AS received
            FROM read_csv({sql_literal(data)}, header = true, all_varchar = true))
        SELECT vaccines.report, vaccines.drug, terms.event, reports.received{strata_sql}
        FROM vaccines JOIN terms USING (report)
        JOIN reports ON reports.VAERS_ID = vaccines.report""")
    # A folder that is not VAERS fails here, with DuckDB's own words.
    engine.fetch("SELECT * FROM source LIMIT 1")


def open_arrow(engine: DuckDBEngine, table: pa.Table, strata: Sequence[str] = ()) -> None:
    """An Arrow table with columns report, drug, event, received and the named strata."""
    missing = [c for c in ("report", "drug", "event", *strata) if c not in table.column_names]
    if missing:
        raise Invalid(f"the table lacks {', '.join(missing)}", where="input")
    engine.connection.register("arrow_input", table)
    received = ("received" if "received" in table.column_names
                else "CAST(NULL AS DATE)")
    strata_sql = "".join(f", {sql_identifier(c)} AS {name}"
                         for c, name in zip(strata, stratum_names(len(strata)), strict=True))
    engine.execute(f"""
        CREATE OR REPLACE TEMP VIEW source AS
        SELECT report, CAST(drug AS VARCHAR) AS drug, CAST(event AS VARCHAR) AS event,
               CAST({received} AS DATE) AS received{strata_sql}
        FROM arrow_input""")


def named_strata(strata: Sequence[str]) -> list[str]:
    unknown = [s for s in strata if s not in NAMED_STRATA]
    if unknown:
        raise Invalid(f"unknown stratum {', '.join(unknown)} (this input offers "
                      f"{', '.join(NAMED_STRATA)})", where="--strata")
    return list(dict.fromkeys(strata))


def received_range(engine: DuckDBEngine) -> tuple[date, date]:
    """The first and last day the reports in `source` were received."""
    found = engine.connection.execute(
        "SELECT min(received), max(received) FROM source").fetchone()
    if found is None or found[0] is None or found[1] is None:
        raise Invalid("no report in the input has a received date (for a table, name "
                      "the column with --date-col)", where="--input")
    return found[0], found[1]


def _files(path: Path) -> list[Path]:
    """The table files a folder or a glob (`data/*.parquet`) names."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        if not found:
            raise Invalid(f"{path}: no .csv or .parquet file in it", where="--input")
        return found
    if any(mark in path.name for mark in "*?["):
        found = sorted(p for p in path.parent.glob(path.name) if p.is_file())
        if found:
            return found
    raise Invalid(f"{path}: no such file or folder", where="--input")


def table_files(path: Path, kind: str) -> list[Path]:
    """The files of a table (a file, a folder or a glob) that hold `kind` (csv or
    parquet); every engine reads the same ones."""
    if path.is_file():
        return [path]
    files = _files(path)
    return [p for p in files if TABLE_SUFFIXES.get(p.suffix.lower()) == kind] or files


def _pattern(path: Path, kind: str) -> str:
    """The SQL list of files DuckDB should read."""
    return "[" + ", ".join(sql_literal(p) for p in table_files(path, kind)) + "]"


def _one(folder: Path, pattern: str) -> Path:
    if not folder.is_dir():
        raise Invalid(f"{folder}: not a folder (a VAERS year is a folder of CSV files)",
                      where="--input")
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise Invalid(f"{folder}: expected one {pattern} file, found {len(found)}",
                      where="--input")
    return found[0]


def sql_literal(value: str | Path) -> str:
    """A text or a path as an SQL string literal (DuckDB views take no parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
