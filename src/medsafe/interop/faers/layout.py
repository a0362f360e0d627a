"""The two layouts of FDA's quarterly ASCII extracts, and finding a quarter's files.

FDA publishes each quarter of its adverse-event database as seven `$`-delimited text
files with a header line: DEMO (one row per report), DRUG, REAC, OUTC, RPSR, THER and
INDI (zero or more rows per report). Two layouts exist:

- legacy AERS (to 2012Q3): reports keyed by `isr`, cases by `case`; one ISR per report,
  a follow-up is a new ISR of the same case;
- FAERS (from 2012Q4): reports keyed by `primaryid`, cases by `caseid` with a
  `caseversion`; THER and INDI name their drug sequence `dsg_drug_seq`/`indi_drug_seq`.

The layout is recognised from the DEMO header (`primaryid` or `isr`), never from the file
name; file names are matched without regard to case (`DEMO04Q1.TXT`, `DEMO17Q2.txt`).
Columns are found by header name, so columns FDA added over the years (`prod_ai` and
`drug_rec_act` from the 2014Q3 extract, per ASC_NTS) are read when present and empty when
absent, and the patient's sex is read from `sex` (2017Q2 sample) or `gndr_cod` (2004Q1
sample).

Sources: FDA, "ASC_NTS.DOC" file for the FAERS Quarterly Data Extract (revised June
2015), sections B (file descriptions), C (data elements) and E end note 2 (drug_seq), as
reproduced at https://id.scribd.com/document/352795880/ASC-NTS and in NBER's per-file
notes (e.g. https://www.nber.org/fda/faers/2015/desc/demo2015q3/desc.txt,
https://papers.nber.org/fda/faers/2007/desc/demo2007q2/desc.txt for the legacy fields);
the headers of the two real samples in ../shared/data/faers/ascii-samples
(aers_ascii_2004q1, faers_ascii_2017q2; see SOURCE.md there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from medsafe.errors import Invalid

Era = Literal["faers", "aers"]
KINDS: tuple[str, ...] = ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI")
"""The seven files of a quarter, DEMO first."""

FIELDS: dict[str, tuple[str, ...]] = {
    "DEMO": ("key", "case", "version", "event_dt", "first_dt", "fda_dt", "rept_cod",
             "mfr_num", "auth_num", "mfr_sndr", "age", "age_cod", "age_grp", "sex", "wt",
             "wt_cod", "occp_cod", "reporter_country", "occr_country", "death_dt"),
    "DRUG": ("key", "drug_seq", "role_cod", "drugname", "prod_ai", "route", "dose_vbm",
             "dechal", "rechal", "lot_num", "nda_num", "dose_amt", "dose_unit"),
    "REAC": ("key", "pt"),
    "OUTC": ("key", "outc_cod"),
    "RPSR": ("key", "rpsr_cod"),
    "THER": ("key", "drug_seq", "start_dt", "end_dt"),
    "INDI": ("key", "drug_seq", "indi_pt"),
}
"""The fields the reader takes from each file, in the order of the tuples it builds; the
same in both layouts (a field the layout lacks reads as empty)."""

MEANINGS: dict[str, str] = {
    "key": "the report: FAERS primaryid (caseid followed by caseversion) or AERS isr",
    "case": "the case: FAERS caseid or AERS case; versions of a case share it",
    "version": "FAERS caseversion: 1 for the initial version, then 2, 3, ...",
    "event_dt": "date the adverse event occurred or began (YYYY, YYYYMM or YYYYMMDD)",
    "first_dt": "FAERS init_fda_dt: date FDA received the first version of the case",
    "fda_dt": "date FDA received this version (AERS: this ISR)",
    "rept_cod": "type of report: EXP expedited (15-day), PER periodic, DIR direct, "
                "5DAY, 30DAY",
    "mfr_num": "manufacturer's unique report identifier",
    "auth_num": "regulatory authority's case report number",
    "mfr_sndr": "coded name of the manufacturer (or organisation) sending the report",
    "age": "patient's age at the event, in age_cod units",
    "age_cod": "age unit: DEC decade, YR year, MON month, WK week, DY day, HR hour",
    "age_grp": "age group: N neonate, I infant, C child, T adolescent, A adult, E elderly",
    "sex": "patient's sex: M, F, UNK (AERS gndr_cod, also NS not specified)",
    "wt": "patient's weight, in wt_cod units",
    "wt_cod": "weight unit: KG kilograms, LBS pounds, GMS grams",
    "occp_cod": "reporter's occupation: MD physician, PH pharmacist, OT other "
                "health-professional, LW lawyer, CN consumer",
    "reporter_country": "country of the reporter",
    "occr_country": "country where the event occurred",
    "death_dt": "AERS: date of the patient's death",
    "drug_seq": "the drug within the report; THER and INDI rows link to DRUG by it",
    "role_cod": "drug's role: PS primary suspect, SS secondary suspect, C concomitant, "
                "I interacting",
    "drugname": "product name (valid trade name, else verbatim)",
    "prod_ai": "product active ingredient(s), FAERS from 2014Q3",
    "route": "route of administration",
    "dose_vbm": "verbatim dose, frequency and route as entered on the report",
    "dechal": "dechallenge: Y positive, N negative, U unknown, D does not apply",
    "rechal": "rechallenge: Y positive, N negative, U unknown, D does not apply",
    "lot_num": "lot number as reported",
    "nda_num": "NDA number",
    "dose_amt": "amount of drug reported (FAERS)",
    "dose_unit": "unit of dose_amt (FAERS)",
    "pt": "MedDRA preferred term of the event",
    "outc_cod": "patient outcome: DE death, LT life-threatening, HO hospitalisation, "
                "DS disability, CA congenital anomaly, RI required intervention, "
                "OT other serious (important medical event)",
    "rpsr_cod": "report source: FGN foreign, SDY study, LIT literature, CSM consumer, "
                "HP health professional, UF user facility, CR company representative, "
                "DT distributor, OTH other",
    "start_dt": "date therapy with the drug started (or re-started)",
    "end_dt": "date therapy with the drug stopped",
    "indi_pt": "MedDRA preferred term of the indication for the drug",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a file: the header names it goes by in this layout (lower case, the
    first one present wins) and whether a file without it is unusable."""

    field: str
    headers: tuple[str, ...]
    required: bool = False


@dataclass(frozen=True, slots=True)
class FileLayout:
    kind: str
    columns: tuple[Column, ...]  # in FIELDS[kind] order; the report key first

    def resolve(self, header: Sequence[str], where: str) -> tuple[int, ...]:
        """The header position of each column, -1 for an absent optional one."""
        position = {name: i for i, name in reversed(list(enumerate(header)))}
        found: list[int] = []
        for column in self.columns:
            index = next((position[h] for h in column.headers if h in position), -1)
            if index < 0 and column.required:
                raise Invalid(f"the header has no column {' or '.join(column.headers)}",
                              where=where)
            found.append(index)
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Layout:
    era: Era
    description: str
    files: Mapping[str, FileLayout]


def _file(kind: str, spec: Mapping[str, tuple[str, ...]], required: set[str]) -> FileLayout:
    """A file layout from field -> header names; fields missing from `spec` have no column
    in this layout (they read as empty)."""
    return FileLayout(kind, tuple(
        Column(field, spec.get(field, ()), field in required) for field in FIELDS[kind]))


def _build(era: Era, description: str, key: str, case: str,
           demo: Mapping[str, tuple[str, ...]], drug: Mapping[str, tuple[str, ...]],
           ther_seq: str, indi_seq: str,
           demo_required: set[str]) -> Layout:
    same = {name: (name,) for name in MEANINGS}
    files = {
        "DEMO": _file("DEMO", {"key": (key,), "case": (case,), **demo},
                      {"key", "case"} | demo_required),
        "DRUG": _file("DRUG", {"key": (key,), **drug}, {"key", "drug_seq", "role_cod"}),
        "REAC": _file("REAC", {"key": (key,), "pt": same["pt"]}, {"key", "pt"}),
        "OUTC": _file("OUTC", {"key": (key,), "outc_cod": same["outc_cod"]},
                      {"key", "outc_cod"}),
        "RPSR": _file("RPSR", {"key": (key,), "rpsr_cod": same["rpsr_cod"]},
                      {"key", "rpsr_cod"}),
        "THER": _file("THER", {"key": (key,), "drug_seq": (ther_seq,),
                               "start_dt": same["start_dt"], "end_dt": same["end_dt"]},
                      {"key", "drug_seq"}),
        "INDI": _file("INDI", {"key": (key,), "drug_seq": (indi_seq,),
                               "indi_pt": same["indi_pt"]}, {"key", "drug_seq", "indi_pt"}),
    }
    return Layout(era, description, files)


_COMMON_DEMO: dict[str, tuple[str, ...]] = {name: (name,) for name in (
    "event_dt", "fda_dt", "rept_cod", "mfr_num", "mfr_sndr", "age", "age_cod", "wt",
    "wt_cod", "occp_cod", "reporter_country")}
_COMMON_DRUG: dict[str, tuple[str, ...]] = {name: (name,) for name in (
    "drug_seq", "role_cod", "drugname", "route", "dose_vbm", "dechal", "rechal", "lot_num",
    "nda_num")}

FAERS = _build(
    "faers", "FAERS (2012Q4 on): primaryid/caseid/caseversion", "primaryid", "caseid",
    _COMMON_DEMO | {"version": ("caseversion",), "first_dt": ("init_fda_dt",),
                    "auth_num": ("auth_num",), "age_grp": ("age_grp",),
                    "sex": ("sex", "gndr_cod"), "occr_country": ("occr_country",)},
    _COMMON_DRUG | {"prod_ai": ("prod_ai",), "dose_amt": ("dose_amt",),
                    "dose_unit": ("dose_unit",)},
    "dsg_drug_seq", "indi_drug_seq", {"version", "fda_dt", "first_dt"})
AERS = _build(
    "aers", "legacy AERS (to 2012Q3): isr/case", "isr", "case",
    _COMMON_DEMO | {"sex": ("gndr_cod", "sex"), "death_dt": ("death_dt",)},
    _COMMON_DRUG, "drug_seq", "drug_seq", {"fda_dt"})
LAYOUTS: dict[Era, Layout] = {"faers": FAERS, "aers": AERS}


def split_header(line: str) -> list[str]:
    """Header names in lower case. A trailing `$` (FDA's files end every line with one)
    gives an empty last name, which is dropped; so is a byte-order mark."""
    names = [name.strip().lower() for name in line.lstrip("\ufeff").rstrip("\r\n").split("$")]
    while names and not names[-1]:
        names.pop()
    return names


def detect_era(header: Sequence[str], where: str) -> Era:
    """FAERS when the DEMO header has `primaryid`, legacy AERS when it has `isr`."""
    if "primaryid" in header:
        return "faers"
    if "isr" in header:
        return "aers"
    raise Invalid("not a FAERS or AERS DEMO file: the header has neither primaryid nor isr",
                  where=where)


@dataclass(frozen=True, slots=True)
class QuarterFiles:
    """The seven files of one quarter, its layout, and any deleted-case lists beside it."""

    folder: Path
    layout: Layout
    files: Mapping[str, Path]
    deleted: tuple[Path, ...] = ()


def _matching(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))


def _subfolders(folder: Path, name: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() == name)


def _data_folder(folder: Path) -> Path:
    """The folder itself when it holds a DEMO file, else its `ascii` subfolder (FDA's zip
    files unpack to ASCII/ or ascii/)."""
    if _matching(folder, _PATTERNS["DEMO"]):
        return folder
    for sub in _subfolders(folder, "ascii"):
        if _matching(sub, _PATTERNS["DEMO"]):
            return sub
    return folder


_PATTERNS = {kind: re.compile(rf"^{kind}.*\.txt$", re.IGNORECASE) for kind in KINDS}
_DELETED = re.compile(r"^DELETE.*\.txt$", re.IGNORECASE)


def find_deleted_files(folder: Path) -> tuple[Path, ...]:
    """FDA's deleted-case lists (`DELETE*.txt`) in the folder, in a `deleted` folder
    beside or inside it."""
    places = [folder, *_subfolders(folder, "deleted")]
    if folder.parent != folder:
        places += _subfolders(folder.parent, "deleted")
    return tuple(dict.fromkeys(p for place in places for p in _matching(place, _DELETED)))


def read_header(path: Path) -> list[str]:
    with path.open(encoding="latin-1", newline="") as handle:
        line = handle.readline()
    if not line.strip():
        raise Invalid("empty file: no header line", where=f"{path.name}:1")
    return split_header(line)


def find_quarter(folder: Path) -> QuarterFiles:
    """The quarter in `folder` (or its `ascii` subfolder): exactly one file of each kind,
    names matched without regard to case; the layout from the DEMO header."""
    if not folder.is_dir():
        raise Invalid("not a folder", where=str(folder))
    data = _data_folder(folder)
    files: dict[str, Path] = {}
    for kind in KINDS:
        found = _matching(data, _PATTERNS[kind])
        if not found:
            raise Invalid(f"no {kind}*.txt file (a quarter has seven: {', '.join(KINDS)})",
                          where=str(data))
        if len(found) > 1:
            raise Invalid(f"more than one {kind} file: {', '.join(p.name for p in found)}",
                          where=str(data))
        files[kind] = found[0]
    era = detect_era(read_header(files["DEMO"]), f"{files['DEMO'].name}:1")
    return QuarterFiles(data, LAYOUTS[era], files, find_deleted_files(data))
