"""FDA's quarterly ASCII extracts (FAERS and legacy AERS) as a signal-detection input:
one quarter's folder, or a folder holding several quarters (each a subfolder, as FDA's
zip files unpack), read by DuckDB into the relation `source` that
`medsafe.signals.counting` counts.

What a row of `source` means:
- report: the case (FAERS caseid, AERS case), so a case sent in two quarters counts once.
  Legacy AERS case numbers were carried into FAERS (see `medsafe.interop.faers.mapping`),
  so quarters of both layouts can be read together.
- drug: the active ingredient (`prod_ai`, FAERS from 2014Q3) where given, else the drug
  name (`drugname`), upper-cased and trimmed. By default only the drugs the reporter
  suspected are kept: role_cod PS (primary suspect), SS (secondary suspect) and I
  (interacting); concomitant drugs (C) are left out. `drug_roles` chooses otherwise.
- event: the REAC preferred term (`pt`), trimmed, spelled as FDA wrote it (legacy AERS
  in upper case, the FAERS samples in sentence case).
- received: `fda_dt`, the day FDA received the version kept (YYYYMMDD; NULL otherwise).
- strata by name: `sex` (`sex`, AERS `gndr_cod`: M, F, anything else U), `age_group`
  (`age` in `age_cod` units, converted to years with the case model's factors, then the
  bands of `sources.AGE_GROUP_SQL`; no unit or a negative age is unknown), `year` (of
  received).

Which reports count: the latest version of each case across every quarter read, as the
case reader (`medsafe.interop.faers.reader`) chooses within one quarter. FAERS: the
highest caseversion, then the latest fda_dt, then the highest primaryid; legacy AERS (no
versions): the latest fda_dt, then the highest ISR; a FAERS version outranks an AERS one.
Cases on any deleted-case list (`DELETE*.txt`) found with any quarter read are dropped
from every quarter.

Reading: only DEMO, DRUG and REAC are read, each by DuckDB itself (streaming, in
parallel, parsing only the columns used): `$`-delimited, a header line, no quoting (a `"`
in a drug name is a character, not a quote), a trailing `$` accepted. Columns are found by
header name with `medsafe.interop.faers.layout`, so both layouts and the columns FDA added
over the years are handled where the case reader handles them. A row whose field count
differs from its header's is an error naming its line. A file is read as UTF-8 unless it
holds bytes that are not UTF-8, then as Latin-1 (the case reader falls back to
Windows-1252, which DuckDB cannot read; the two differ only in bytes 0x80-0x9F).

Each file is parsed once, into a temporary table that keeps only what is used: the
latest version of each case (one row a case), and the drugs and events of those versions
(DuckDB spills these tables to disk past its memory limit). `source` joins them, so a
trend, which counts once per period, does not parse the files again.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from medsafe.cases.model import PatientInfo
from medsafe.errors import Invalid
from medsafe.interop.faers.layout import FileLayout, QuarterFiles, find_quarter, read_header
from medsafe.interop.faers.mapping import AGE_UNITS, ROLES
from medsafe.interop.faers.reader import read_deleted_ids
from medsafe.signals.counting import stratum_names
from medsafe.signals.duckdb_engine import DuckDBEngine
from medsafe.signals.sources import AGE_GROUP_SQL, named_strata, sql_identifier, sql_literal

SUSPECT_ROLES: tuple[str, ...] = ("PS", "SS", "I")
"""The default drug roles: primary suspect, secondary suspect, interacting."""

YEARS_PER_AGE_UNIT: dict[str, float] = {
    code: PatientInfo(age=1.0, age_unit=unit).age_in_years() or 0.0
    for code, unit in AGE_UNITS.items()}
"""FDA's age_cod -> years per unit, from the case model so the two never disagree."""

LATEST_VERSION = """
    SELECT quarter, report_key, case_id, received, sex, age_years FROM (
        SELECT *, row_number() OVER (
            PARTITION BY case_id
            ORDER BY version DESC NULLS LAST, received DESC NULLS LAST,
                     key_number DESC NULLS LAST, quarter DESC) AS rank
        FROM faers_demo d
        WHERE coalesce(case_id, '') <> '' AND coalesce(report_key, '') <> ''
          AND NOT EXISTS (SELECT 1 FROM faers_deleted x WHERE x.case_id = d.case_id))
    WHERE rank = 1"""
"""One row per case: its latest version, unless the case was deleted. AERS rows have no
version (NULL), so a FAERS version of the same case outranks them."""

_DEMO_PATTERN = re.compile(r"^DEMO.*\.txt$", re.IGNORECASE)
_CHUNK = 1 << 22


@contextmanager
def _at_input() -> Iterator[None]:
    """Errors about the files are errors in --input; the file and line stay in the
    message."""
    try:
        yield
    except Invalid as error:
        if error.where == "--input":
            raise
        raise Invalid(error.message, where="--input") from None


def open_faers(engine: DuckDBEngine, path: Path, strata: Sequence[str] = (), *,
               drug_roles: Sequence[str] = SUSPECT_ROLES) -> None:
    """Define `source` over the quarter, or the quarters, at `path`."""
    chosen = named_strata(strata)
    roles = _roles(drug_roles)
    with _at_input():
        quarters = find_quarters(path)
        deleted = sorted({case for quarter in quarters for listing in quarter.deleted
                          for case in read_deleted_ids(listing)})
        demo = " UNION ALL ".join(_demo_sql(i, q) for i, q in enumerate(quarters))
        drug = " UNION ALL ".join(_drug_sql(i, q, roles) for i, q in enumerate(quarters))
        reac = " UNION ALL ".join(_reac_sql(i, q) for i, q in enumerate(quarters))
    engine.connection.execute("CREATE OR REPLACE TEMP TABLE faers_deleted AS "
                              "SELECT unnest(CAST(? AS VARCHAR[])) AS case_id", [deleted])
    engine.execute(f"CREATE OR REPLACE TEMP VIEW faers_demo AS {demo}")
    engine.execute(f"CREATE OR REPLACE TEMP VIEW faers_drug_rows AS {drug}")
    engine.execute(f"CREATE OR REPLACE TEMP VIEW faers_reac_rows AS {reac}")
    engine.create("faers_latest", LATEST_VERSION)
    for table, rows, column in (("faers_drug", "faers_drug_rows", "drug"),
                                ("faers_reac", "faers_reac_rows", "event")):
        engine.create(table, f"""
            SELECT l.case_id AS report, x.{column} FROM {rows} x
            JOIN faers_latest l ON x.quarter = l.quarter AND x.report_key = l.report_key""")
    expressions = {"sex": "l.sex",
                   "age_group": AGE_GROUP_SQL.format(age="l.age_years"),
                   "year": "CAST(year(l.received) AS VARCHAR)"}
    strata_sql = "".join(f", {expressions[name]} AS {column}"
                         for name, column in zip(chosen, stratum_names(len(chosen)),
                                                 strict=True))
    engine.execute(f"""
        CREATE OR REPLACE TEMP VIEW source AS
        SELECT d.report, d.drug, r.event, l.received{strata_sql}
        FROM faers_drug d JOIN faers_reac r USING (report)
        JOIN faers_latest l ON l.case_id = d.report""")


def find_quarters(path: Path) -> list[QuarterFiles]:
    """The quarter at `path` (its DEMO file in it or in its ascii/ subfolder), else every
    subfolder of `path` that is such a quarter."""
    if not path.is_dir():
        raise Invalid(f"{path}: not a folder (a FAERS quarter is a folder of $-delimited "
                      "files, DEMO, DRUG, REAC...; or give a folder of quarters)",
                      where="--input")
    folders = ([path] if _holds_demo(path) else
               sorted(p for p in path.iterdir() if p.is_dir() and _holds_demo(p)))
    if not folders:
        raise Invalid(f"{path}: not a FAERS folder: no DEMO*.txt file in it, in its ascii/ "
                      "folder, or in a quarter folder under it", where="--input")
    with _at_input():
        return [find_quarter(folder) for folder in folders]


def _holds_demo(folder: Path) -> bool:
    places = [folder, *(p for p in folder.iterdir()
                        if p.is_dir() and p.name.lower() == "ascii")]
    return any(p.is_file() and _DEMO_PATTERN.match(p.name)
               for place in places for p in place.iterdir())


def _roles(drug_roles: Sequence[str]) -> list[str]:
    roles = list(dict.fromkeys(role.strip().upper() for role in drug_roles))
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise Invalid(f"unknown drug role {', '.join(unknown) or '(none given)'} "
                      f"(FAERS role_cod: {', '.join(ROLES)})", where="drug_roles")
    return roles


# -- reading one file ------------------------------------------------------------------

def _file(quarter: QuarterFiles, kind: str,
          fields: Sequence[str]) -> tuple[str, dict[str, str | None]]:
    """DuckDB's reader of one file of the quarter, and the header name of each of
    `fields` in it (None where the file has no such column)."""
    path = quarter.files[kind]
    layout: FileLayout = quarter.layout.files[kind]
    header = read_header(path)
    positions = dict(zip((column.field for column in layout.columns),
                         layout.resolve(header, f"{path.name}:1"), strict=True))
    columns = "{" + ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in header) + "}"
    reader = (f"read_csv({sql_literal(path)}, delim = '$', header = true, "
              f"auto_detect = false, columns = {columns}, quote = '', escape = '', "
              f"encoding = '{_encoding(path)}')")
    return reader, {field: header[positions[field]] if positions[field] >= 0 else None
                    for field in fields}


def _trimmed(column: str | None) -> str:
    return f"trim({sql_identifier(column)})" if column else "CAST(NULL AS VARCHAR)"


def _demo_sql(quarter_index: int, quarter: QuarterFiles) -> str:
    reader, names = _file(quarter, "DEMO", ("key", "case", "version", "fda_dt", "age",
                                            "age_cod", "sex"))
    f = {field: _trimmed(name) for field, name in names.items()}
    version = ("CAST(NULL AS BIGINT)" if quarter.layout.era == "aers"
               else f"TRY_CAST({f['version']} AS BIGINT)")
    factor = ("CASE upper(" + f["age_cod"] + ") " + " ".join(
        f"WHEN '{code}' THEN {years!r}" for code, years in YEARS_PER_AGE_UNIT.items())
        + " END")
    age = f"TRY_CAST({f['age']} AS DOUBLE)"
    return f"""
        SELECT {quarter_index} AS quarter, {f['key']} AS report_key,
               {f['case']} AS case_id, {version} AS version,
               CAST(try_strptime({f['fda_dt']}, '%Y%m%d') AS DATE) AS received,
               TRY_CAST({f['key']} AS BIGINT) AS key_number,
               CASE upper({f['sex']}) WHEN 'M' THEN 'M' WHEN 'F' THEN 'F' ELSE 'U' END
                   AS sex,
               CASE WHEN {age} >= 0 THEN {age} * {factor} END AS age_years
        FROM {reader}"""


def _drug_sql(quarter_index: int, quarter: QuarterFiles, roles: Sequence[str]) -> str:
    reader, names = _file(quarter, "DRUG", ("key", "role_cod", "drugname", "prod_ai"))
    if names["drugname"] is None:
        raise Invalid(f"{quarter.files['DRUG']}: the header has no column drugname",
                      where="--input")
    f = {field: _trimmed(name) for field, name in names.items()}
    wanted = ", ".join(f"'{role}'" for role in roles)
    return f"""
        SELECT {quarter_index} AS quarter, {f['key']} AS report_key,
               upper(coalesce(nullif({f['prod_ai']}, ''), {f['drugname']})) AS drug
        FROM {reader}
        WHERE upper({f['role_cod']}) IN ({wanted})"""


def _reac_sql(quarter_index: int, quarter: QuarterFiles) -> str:
    reader, names = _file(quarter, "REAC", ("key", "pt"))
    f = {field: _trimmed(name) for field, name in names.items()}
    return f"""
        SELECT {quarter_index} AS quarter, {f['key']} AS report_key, {f['pt']} AS event
        FROM {reader}"""


def _encoding(path: Path) -> str:
    """utf-8, unless the file holds bytes that are not UTF-8: then latin-1. Plain ASCII
    chunks (the usual case) are skipped without decoding."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = False
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(_CHUNK):
                if pending or not chunk.isascii():
                    decoder.decode(chunk)
                    pending = bool(decoder.getstate()[0])
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


__all__ = ["SUSPECT_ROLES", "YEARS_PER_AGE_UNIT", "find_quarters", "open_faers"]
