"""Reads the public VAERS CSV files into `CaseReport`s (pure apart from reading the files;
streaming: one report at a time).

VAERS publishes each year as three files joined by `VAERS_ID` (VAERS Data Use Guide,
CDC/FDA, revised September 2021, sections 4 and 5; copy at
vdocuments.net/vaers-data-use-guide.html): `<year>VAERSDATA.csv` (one row per report),
`<year>VAERSSYMPTOMS.csv` (up to five MedDRA terms and their MedDRA versions per row,
more rows when a report has more terms) and `<year>VAERSVAX.csv` (one row per vaccine
given). The test data are ../shared/data/vaers-1999 (its SOURCE.md: 12,249 reports).

Mapping (E2B(R3) element in brackets; form items from the VAERS-1 form, OMB 0910-0308):
- C.1.8.1 worldwide id "VAERS-<VAERS_ID>"; C.1.1 sender's id VAERS_ID; C.1.3
  "spontaneous" (VAERS is a passive reporting system); C.1.4 and C.1.5 RECVDATE (the
  public file has one receipt date per report); C.3.3.1 "VAERS (CDC/FDA)";
- C.1.9.1.r.2 other case ids: SPLTTYPE, the manufacturer or immunization-project report
  number, when present;
- E.i.9 occurrence country: STATE is "the state ... where the vaccine was given" (VAERS
  paper-form instructions, items 1 and 2). Any U.S. state, DC or territory maps to "US"
  (ISO 3166-2:US lists the territories among the subdivisions of the United States, and
  VAERS is the U.S. system); a blank STATE, or any other code (later files use "FR" for
  foreign reports), leaves the country unknown;
- D patient: AGE_YRS (age at vaccination, years), SEX F/M/U, DATEDIED (D.9.1); D.7.2
  medical history: HISTORY ("chronic or long-standing health conditions") and CUR_ILL
  ("illnesses at time of vaccination"), which E2B puts in the same element;
- E.i reactions: one per distinct term of the SYMPTOMS file, coded in the terminology
  "MedDRA (as published in VAERS)" with the version from SYMPTOMVERSIONn (the 1999 file
  mixes 8.10 with a few re-coded terms in later versions, so the version is per term);
  the verbatim is the term too, because VAERS publishes no reporter's words per term.
  VAERS gives seriousness, outcome and onset once per report, so every reaction carries
  them: E.i.3.2 from DIED (death), L_THREAT (life-threatening), HOSPITAL or X_STAY
  (hospitalisation or its prolongation), DISABLE (disability) and, in files that have
  it, BIRTH_DEFECT (congenital anomaly); E.i.7 "fatal" when DIED is Y, else RECOVD
  Y/N/U (form item 9 "Patient recovered") as recovered/not recovered/unknown; E.i.4
  start ONSET_DATE;
- G.k drugs: each VAX row is a suspect drug: VAX_NAME (product), VAX_TYPE (the vaccine
  type code, e.g. "MMR", kept as the substance: it names the antigens and is what VAERS
  analyses group by), VAX_MANU, VAX_LOT (G.k.4.r.7), VAX_ROUTE, VAX_DOSE (form item 13
  "No. previous doses", kept in the dosage text with VAX_SITE) and VAX_DATE (start);
  OTHER_MEDS, free text, is one concomitant drug named as reported (G.k.2.2 is "as
  reported by the primary source"), unless it only says none or unknown;
- H.1 narrative: SYMPTOM_TEXT, unchanged.

ER_VISIT ("required emergency room/doctor visit", form item 8) is not a seriousness
criterion of ICH E2D or 21 CFR 600.80, so it marks nothing serious; the case model has no
field for it and it is not kept. Nor are RPT_DATE, HOSPDAYS, NUMDAYS, LAB_DATA,
PRIOR_VAX, V_ADMINBY and V_FUNDBY (no element in the case model).

The reporter. The VAERS form asks who completed it and their relation to the patient
(vaccine provider, patient/parent, manufacturer, other), and VAERS uses those details
for duplicate checks and follow-up, but they "will be redacted from public data sets"
(VAERS online help, vaers.hhs.gov/esub/help). So each report has one primary source,
known to VAERS and withheld (`PrimarySource.withheld`, E2B's nullFlavor MSK), with no
qualification (none is published) and the country of vaccination: identifiable in E2D's
sense (VAERS can follow it up), without inventing who it was.
(`CaseReport.reporter_qualification()` calls such reports consumer reports, by GVP's
default for a missing qualification; that is a convention, not a fact about VAERS.)

Files are read as UTF-8 where a line is valid UTF-8, else as Windows-1252 (then
Latin-1): the 1999 files are plain ASCII, and decoding line by line keeps one odd byte
from stopping a whole import. Memory grows with the number of reports (the vaccine and
symptom rows wait, keyed by VAERS_ID, for their DATA row), never with anything else.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from medsafe.cases.model import (
    CaseReport,
    Coded,
    Drug,
    Outcome,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
    Sex,
)
from medsafe.errors import Invalid

T = TypeVar("T")
ProblemCallback = Callable[[Invalid], None]
"""Told of each row skipped (with `where` = "file:line") when `keep_going` is set."""
ProgressCallback = Callable[[int, int, str], None]
"""(bytes read, total bytes of the three files, file being read)."""

TERMINOLOGY = "MedDRA (as published in VAERS)"
SENDER = "VAERS (CDC/FDA)"
PROGRESS_EVERY = 1000  # rows between progress calls

DATA_COLUMNS = ("VAERS_ID", "RECVDATE", "STATE", "AGE_YRS", "SEX", "SYMPTOM_TEXT", "DIED",
                "DATEDIED", "L_THREAT", "HOSPITAL", "X_STAY", "DISABLE", "RECOVD",
                "VAX_DATE", "ONSET_DATE", "OTHER_MEDS", "CUR_ILL", "HISTORY", "SPLTTYPE")
VAX_COLUMNS = ("VAERS_ID", "VAX_TYPE", "VAX_MANU", "VAX_LOT", "VAX_ROUTE", "VAX_SITE",
               "VAX_NAME")
SYMPTOM_COLUMNS = ("VAERS_ID", "SYMPTOM1", "SYMPTOMVERSION1")

# U.S. states, DC and the territories (USPS codes), as they appear in STATE.
US_STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL",
    "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE",
    "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD",
    "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP",
    "UM"})
SEXES: dict[str, Sex | None] = {"F": "female", "M": "male", "U": "unknown", "": None}
RECOVERY: dict[str, Outcome] = {"Y": "recovered", "N": "not_recovered", "U": "unknown",
                                "": "unknown"}
FLAGS = {"Y": True, "N": False, "U": False, "": False}
# VAERS's own words for "not known" in coded vaccine columns.
UNKNOWN_MANUFACTURER = "UNKNOWN MANUFACTURER"
UNKNOWN_CODES = frozenset({"", "UN", "UNK"})
# OTHER_MEDS answers that name no medicine (the commonest values of the 1999 file).
NO_MEDICINE = frozenset({"none", "unk", "unknown", "na", "n/a", "no", "un", "none known"})
DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
ID = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class _Vaccine:
    where: str
    type: str
    manufacturer: str
    lot: str
    dose: str
    route: str
    site: str
    name: str


@dataclass(frozen=True, slots=True)
class _Term:
    where: str
    term: str
    version: str | None


@dataclass(slots=True)
class _Problems:
    """Counts skipped rows and decides when to stop."""

    keep_going: bool
    max_problems: int
    on_problem: ProblemCallback | None
    count: int = 0

    def report(self, problem: Invalid) -> None:
        if not self.keep_going:
            raise problem
        self.count += 1
        if self.on_problem is not None:
            self.on_problem(problem)
        if self.count > self.max_problems:
            raise Invalid(f"more than {self.max_problems} malformed rows; stopped",
                          where=problem.where)


@dataclass(slots=True)
class _Progress:
    total: int
    callback: ProgressCallback | None
    done: int = 0
    rows: int = 0

    def advance(self, size: int, name: str, *, force: bool = False) -> None:
        self.done += size
        self.rows += 1
        if self.callback is not None and (force or self.rows % PROGRESS_EVERY == 0):
            self.callback(self.done, self.total, name)


@dataclass(slots=True)
class _Folder:
    data: Path
    vax: Path
    symptoms: Path
    waiting_vax: dict[str, list[_Vaccine]] = field(default_factory=dict)
    waiting_terms: dict[str, list[_Term]] = field(default_factory=dict)


def read_vaers(folder: Path, *, on_problem: ProblemCallback | None = None,
               max_problems: int = 100, keep_going: bool = False,
               on_progress: ProgressCallback | None = None) -> Iterator[CaseReport]:
    """Yield one `CaseReport` per report of a VAERS folder, in DATA-file order.

    A malformed row raises `Invalid` (where = "file:line") unless `keep_going` is set;
    then it is skipped, passed to `on_problem`, and `Invalid` is raised only when more
    than `max_problems` rows were skipped. A missing file or column always raises."""
    files = _find_files(folder)
    problems = _Problems(keep_going, max_problems, on_problem)
    progress = _Progress(sum(p.stat().st_size for p in (files.data, files.vax,
                                                       files.symptoms)), on_progress)
    files.waiting_vax = _read_vaccines(files.vax, problems, progress)
    files.waiting_terms = _read_terms(files.symptoms, problems, progress)
    seen: set[str] = set()
    for where, row in _rows(files.data, DATA_COLUMNS, progress):
        report = _report(where, row, files, seen, problems)
        if report is not None:
            yield report
    _report_orphans(files, problems)


def _find_files(folder: Path) -> _Folder:
    if not folder.is_dir():
        raise Invalid("not a folder", where=str(folder))
    found: dict[str, Path] = {}
    for suffix in ("VAERSDATA.csv", "VAERSVAX.csv", "VAERSSYMPTOMS.csv"):
        wanted = suffix.upper()
        # Later releases add NonDomestic<...> files, a separate set of reports.
        matches = sorted(p for p in folder.iterdir() if p.name.upper().endswith(wanted)
                         and not p.name.upper().endswith("NONDOMESTIC" + wanted))
        if len(matches) != 1:
            raise Invalid(f"expected one file named <year>{suffix}, found "
                          f"{len(matches)}", where=str(folder))
        found[suffix] = matches[0]
    return _Folder(found["VAERSDATA.csv"], found["VAERSVAX.csv"],
                   found["VAERSSYMPTOMS.csv"])


def _decoded(path: Path, progress: _Progress) -> Iterator[str]:
    """The file's lines as text, counting bytes for the progress callback."""
    with path.open("rb") as raw:
        for line in raw:
            progress.advance(len(line), path.name)
            yield _decode(line)
    progress.advance(0, path.name, force=True)


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            return line.decode("latin-1")


def _rows(path: Path, required: Iterable[str],
          progress: _Progress) -> Iterator[tuple[str, dict[str, str]]]:
    """(file:line, row) for each record; the line is where the record starts."""
    reader = csv.reader(_decoded(path, progress))
    header = next(reader, None)
    if header is None:
        raise Invalid("empty file", where=path.name)
    header = [name.strip().upper() for name in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise Invalid(f"missing column(s) {', '.join(missing)}", where=f"{path.name}:1")
    last_line = reader.line_num
    while True:
        where = f"{path.name}:{last_line + 1}"
        try:
            record = next(reader, None)
        except csv.Error as error:
            last_line = reader.line_num
            yield where, {"": f"unreadable CSV ({error})"}
            continue
        if record is None:
            return
        last_line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            yield where, {"": f"expected {len(header)} fields, found {len(record)}"}
            continue
        yield where, {name: cell.strip() for name, cell in zip(header, record, strict=True)}


def _vaers_id(where: str, row: dict[str, str]) -> str:
    if "" in row:
        raise Invalid(row[""], where=where)
    value = row["VAERS_ID"]
    if not ID.fullmatch(value):
        raise Invalid(f"VAERS_ID {value!r} is not a number", where=where)
    return value.lstrip("0") or "0"


def _read_vaccines(path: Path, problems: _Problems,
                   progress: _Progress) -> dict[str, list[_Vaccine]]:
    waiting: dict[str, list[_Vaccine]] = {}
    for where, row in _rows(path, VAX_COLUMNS, progress):
        try:
            vaers_id = _vaers_id(where, row)
            if not (row["VAX_NAME"] or row["VAX_TYPE"]):
                raise Invalid("vaccine has neither VAX_NAME nor VAX_TYPE", where=where)
        except Invalid as problem:
            problems.report(problem)
            continue
        # Later files call the previous-doses column VAX_DOSE_SERIES.
        dose = row.get("VAX_DOSE", row.get("VAX_DOSE_SERIES", ""))
        waiting.setdefault(vaers_id, []).append(_Vaccine(
            where, row["VAX_TYPE"], row["VAX_MANU"], row["VAX_LOT"], dose, row["VAX_ROUTE"],
            row["VAX_SITE"], row["VAX_NAME"]))
    return waiting


def _read_terms(path: Path, problems: _Problems,
                progress: _Progress) -> dict[str, list[_Term]]:
    waiting: dict[str, list[_Term]] = {}
    for where, row in _rows(path, SYMPTOM_COLUMNS, progress):
        try:
            vaers_id = _vaers_id(where, row)
        except Invalid as problem:
            problems.report(problem)
            continue
        terms = waiting.setdefault(vaers_id, [])
        for n in range(1, 6):
            term = row.get(f"SYMPTOM{n}", "")
            if term:
                terms.append(_Term(where, term, row.get(f"SYMPTOMVERSION{n}") or None))
    return waiting


def _report(where: str, row: dict[str, str], files: _Folder, seen: set[str],
            problems: _Problems) -> CaseReport | None:
    try:
        vaers_id = _vaers_id(where, row)
        if vaers_id in seen:
            raise Invalid(f"VAERS_ID {vaers_id} appears twice in the DATA file", where=where)
        seen.add(vaers_id)
        vaccines = files.waiting_vax.pop(vaers_id, [])
        terms = files.waiting_terms.pop(vaers_id, [])
        return _case(where, vaers_id, row, vaccines, terms)
    except Invalid as problem:
        problems.report(problem)
    except ValidationError as error:
        problems.report(Invalid(_first_error(error), where=where))
    return None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    return f"{path}: {first['msg']}" if path else str(first["msg"])


def _report_orphans(files: _Folder, problems: _Problems) -> None:
    """Vaccine and symptom rows whose report is not in the DATA file: one problem per
    report and file, at its first row."""
    orphans = [(vaccines[0].where, vaers_id)
               for vaers_id, vaccines in files.waiting_vax.items()]
    orphans += [(terms[0].where, vaers_id) for vaers_id, terms in files.waiting_terms.items()
                if terms]
    for where, vaers_id in sorted(orphans):
        problems.report(Invalid(f"VAERS_ID {vaers_id} is not in {files.data.name}",
                                where=where))


def _case(where: str, vaers_id: str, row: dict[str, str], vaccines: list[_Vaccine],
          terms: list[_Term]) -> CaseReport:
    received = _date(where, row, "RECVDATE")
    if received is None:
        raise Invalid("RECVDATE is empty", where=where)
    country = "US" if row["STATE"].upper() in US_STATES else None
    return CaseReport(
        sender_report_id=vaers_id, worldwide_id=f"VAERS-{vaers_id}",
        report_type="spontaneous", first_received=received, latest_received=received,
        sender_organisation=SENDER, occurrence_country=country,
        other_case_ids=(row["SPLTTYPE"],) if row["SPLTTYPE"] else (),
        primary_sources=(PrimarySource(withheld=True, country=country),),
        patient=_patient(where, row), reactions=_reactions(where, row, terms, country),
        drugs=_drugs(where, row, vaccines), narrative=row["SYMPTOM_TEXT"] or None)


def _date(where: str, row: dict[str, str], column: str) -> date | None:
    value = row.get(column, "")
    if not value:
        return None
    match = DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError
        month, day, year = (int(part) for part in match.groups())
        return date(year, month, day)
    except ValueError:
        raise Invalid(f"{column} {value!r} is not a date MM/DD/YYYY", where=where) from None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _choice(where: str, row: dict[str, str], column: str, choices: dict[str, T]) -> T:
    value = row.get(column, "").upper()
    if value not in choices:
        raise Invalid(f"{column} {row.get(column)!r} is not one of "
                      f"{', '.join(repr(k) for k in choices if k)}", where=where)
    return choices[value]


def _patient(where: str, row: dict[str, str]) -> PatientInfo:
    age: float | None = None
    if row["AGE_YRS"]:
        try:
            age = float(row["AGE_YRS"])
        except ValueError:
            raise Invalid(f"AGE_YRS {row['AGE_YRS']!r} is not a number",
                          where=where) from None
    return PatientInfo(
        age=age, age_unit="year" if age is not None else None,
        sex=_choice(where, row, "SEX", SEXES),
        medical_history_text=_history(row["HISTORY"], row["CUR_ILL"]),
        died_on=_iso(_date(where, row, "DATEDIED")))


def _history(history: str, current_illness: str) -> str | None:
    parts = [history] if history else []
    if current_illness:
        parts.append(f"Illness at time of vaccination: {current_illness}")
    return "\n".join(parts) or None


def _reactions(where: str, row: dict[str, str], terms: list[_Term],
               country: str | None) -> tuple[Reaction, ...]:
    died = _choice(where, row, "DIED", FLAGS)
    seriousness = Seriousness(
        death=died, life_threatening=_choice(where, row, "L_THREAT", FLAGS),
        hospitalisation=(_choice(where, row, "HOSPITAL", FLAGS)
                         or _choice(where, row, "X_STAY", FLAGS)),
        disability=_choice(where, row, "DISABLE", FLAGS),
        congenital_anomaly=_choice(where, row, "BIRTH_DEFECT", FLAGS))
    outcome: Outcome = "fatal" if died else _choice(where, row, "RECOVD", RECOVERY)
    onset = _iso(_date(where, row, "ONSET_DATE"))
    reactions: list[Reaction] = []
    seen: set[str] = set()
    for term in terms:
        # A term listed twice (13 reports in 1999) is one reaction; the first version wins.
        if term.term.casefold() in seen:
            continue
        seen.add(term.term.casefold())
        reactions.append(Reaction(
            id=f"R{len(reactions) + 1}", verbatim=term.term,
            coded=Coded(term=term.term, terminology=TERMINOLOGY, version=term.version),
            start=onset, seriousness=seriousness, outcome=outcome, country=country))
    return tuple(reactions)


def _drugs(where: str, row: dict[str, str], vaccines: list[_Vaccine]) -> tuple[Drug, ...]:
    given = _iso(_date(where, row, "VAX_DATE"))
    drugs = [_vaccine(n, vaccine, given) for n, vaccine in enumerate(vaccines, start=1)]
    other = row["OTHER_MEDS"]
    if other and other.casefold() not in NO_MEDICINE:
        drugs.append(Drug(id="C1", role="concomitant", product_name=_clip(other, 250)))
    return tuple(drugs)


def _vaccine(n: int, vaccine: _Vaccine, given: str | None) -> Drug:
    dose = []
    if vaccine.dose:
        dose.append(f"previous doses: {vaccine.dose}")
    if vaccine.site.upper() not in UNKNOWN_CODES:
        dose.append(f"site: {vaccine.site}")
    manufacturer = vaccine.manufacturer
    return Drug(
        id=f"V{n}", role="suspect", product_name=_clip(vaccine.name or vaccine.type, 250),
        substances=(vaccine.type,) if vaccine.type else (),
        manufacturer=(_clip(manufacturer, 100) if manufacturer
                      and manufacturer.upper() != UNKNOWN_MANUFACTURER else None),
        lot_numbers=(vaccine.lot,) if vaccine.lot else (),
        dose_text="; ".join(dose) or None,
        route=vaccine.route if vaccine.route.upper() not in UNKNOWN_CODES else None,
        start=given)


def _clip(text: str, limit: int) -> str:
    """Text within a model bound; the cut is marked so nobody takes it for the whole."""
    return text if len(text) <= limit else text[:limit - 1] + "…"
