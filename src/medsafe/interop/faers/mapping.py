"""Maps the rows of one FAERS/AERS report to a `CaseReport` (pure: no I/O).

The reader hands over the report's DEMO row and its DRUG, REAC, OUTC, RPSR, THER and
INDI rows as tuples in `layout.FIELDS` order; this module turns codes into the case
model's words. Choices where the extract and the model do not line up one to one:

- identity: worldwide id `FAERS-{caseid}` (FDA's case number, for both layouts: legacy
  case numbers were carried into FAERS, ASC_NTS end note 2's example case 3078140 has
  primaryid 30781401); sender report id = primaryid or ISR; `mfr_num` and `auth_num` go
  to other_case_ids.
- report type: `study` when RPSR lists SDY (source: study), otherwise `spontaneous`.
  `rept_cod` (EXP 15-day expedited, PER periodic, 5DAY, 30DAY, DIR direct) says how the
  report reached FDA, not what kind of report it is (E2B C.1.3), so it does not change the
  type; the model has no field for it and it is not kept.
- dates: first received = init_fda_dt (FAERS); legacy AERS has no initial-receipt date,
  so it is the earliest fda_dt among the case's ISRs in the extract (the reader supplies
  it). Latest received = fda_dt. Partial dates (YYYY, YYYYMM) are kept as partial.
- reporter: one regulatory primary source with qualification from occp_cod and country
  from reporter_country when that is an ISO 3166 alpha-2 code (older extracts carry
  country names, and "COUNTRY NOT SPECIFIED": those are left empty).
- seriousness: OUTC gives the patient's outcomes for the whole report, not per reaction,
  so every reaction gets the same criteria. Reaction outcome (E.i.7) stays "unknown":
  an outcome DE says the patient died, not that each reaction was fatal.
- drugs: PS and SS are suspect, C concomitant, I interacting; prod_ai ingredients are
  split at `\\` (multi-ingredient products in the 2017Q2 sample, e.g.
  "SULFAMETHOXAZOLE\\TRIMETHOPRIM"); therapy start is the earliest THER start of the drug
  and end the end of its latest-starting THER row (empty = ongoing); INDI terms of the drug
  are joined with "; ". nda_num, lit_ref, drug_rec_act and dose frequency have no field in
  the case model and are not kept.
- ages above the model's bound of 200 in their own unit (e.g. 400 days) are restated in
  the smallest larger unit in which they fit, with PatientInfo.age_in_years' factors.

Values that cannot be read in optional fields (a date "20031399", weight "abc", a country
name) are left empty and counted in `dropped`; over-long text is cut to the model's bound,
and control characters (which the model refuses) in text become spaces, both counted in
`truncated`. Codes: FDA "ASC_NTS.DOC" for the FAERS Quarterly Data Extract
(revised June 2015), section C; see `layout` for where to read it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from medsafe.cases.model import (
    CONTROL,
    TEXT,
    AgeGroup,
    AgeUnit,
    CaseReport,
    Challenge,
    Coded,
    DrugRole,
    PatientInfo,
    PrimarySource,
    Qualification,
    Seriousness,
    Sex,
)
from medsafe.errors import Invalid
from medsafe.interop.faers.layout import FIELDS, Era

Row = tuple[str, ...]
Lines = Sequence[tuple[int, Row]]
"""Rows of one file for one report, each with its line number."""
Reject = Callable[[str, int, str], None]
"""Called with (file kind, line, reason) for a row that cannot be used."""


def _positions(kind: str) -> dict[str, int]:
    return {name: i for i, name in enumerate(FIELDS[kind])}


_D, _G = _positions("DEMO"), _positions("DRUG")
(D_KEY, D_CASE, D_VERSION, D_EVENT, D_FIRST, D_FDA, D_REPT, D_MFR_NUM, D_AUTH_NUM, D_SNDR,
 D_AGE, D_AGE_COD, D_AGE_GRP, D_SEX, D_WT, D_WT_COD, D_OCCP, D_REPORTER_COUNTRY,
 D_OCCR_COUNTRY, D_DEATH) = (_D[f] for f in FIELDS["DEMO"])
(G_SEQ, G_ROLE, G_NAME, G_AI, G_ROUTE, G_DOSE_VBM, G_DECHAL, G_RECHAL, G_LOT, G_NDA,
 G_DOSE_AMT, G_DOSE_UNIT) = (_G[f] for f in FIELDS["DRUG"][1:])

TERMINOLOGY = "MedDRA (as published in FAERS)"
"""FAERS publishes MedDRA preferred terms without codes or the MedDRA version."""

AGE_UNITS: dict[str, AgeUnit] = {
    "YR": "year", "DEC": "decade", "MON": "month", "WK": "week", "DY": "day", "HR": "hour"}
AGE_GROUPS: dict[str, AgeGroup] = {
    "N": "neonate", "I": "infant", "C": "child", "T": "adolescent", "A": "adult",
    "E": "elderly"}
SEXES: dict[str, Sex] = {"M": "male", "F": "female", "UNK": "unknown"}  # NS: left empty
QUALIFICATIONS: dict[str, Qualification] = {
    "MD": "physician", "PH": "pharmacist", "OT": "other_health_professional",
    "LW": "lawyer", "CN": "consumer"}
ROLES: dict[str, DrugRole] = {
    "PS": "suspect", "SS": "suspect", "C": "concomitant", "I": "interacting"}
CHALLENGES: dict[str, Challenge] = {
    "Y": "positive", "N": "negative", "U": "unknown", "D": "not_applicable"}
OUTCOMES = {"DE": "death", "LT": "life_threatening", "HO": "hospitalisation",
            "DS": "disability", "CA": "congenital_anomaly", "RI": "required_intervention",
            "OT": "other_medically_important"}
KG_PER_UNIT = {"KG": 1.0, "LBS": 0.45359237, "GMS": 0.001}
"""The avoirdupois pound is 0.45359237 kg exactly (international yard and pound, 1959)."""
STUDY_SOURCE = "SDY"
UNKNOWN_ROUTES = frozenset({"UNKNOWN", ""})

MAX_AGE = 200.0  # PatientInfo.age's bound, whatever the unit
# Years per unit, taken from the model so the two never disagree; smallest unit first.
_PER_YEAR = {unit: 1.0 / (PatientInfo(age=1.0, age_unit=unit).age_in_years() or 1.0)
             for unit in ("hour", "day", "week", "month", "year", "decade")}
_UNIT_ORDER = tuple(sorted(_PER_YEAR, key=lambda u: -_PER_YEAR[u]))

LIMITS = {"product_name": 250, "route": 60, "dose_unit": 50, "dose_text": TEXT,
          "indication": 250, "verbatim": 250, "sender_organisation": 100}


@lru_cache(maxsize=1 << 16)
def partial_date(raw: str) -> str | None:
    """YYYYMMDD, YYYYMM or YYYY as an ISO partial date; None when it is not a real date.
    Cached: a quarter repeats the same few thousand dates millions of times."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) not in (4, 6, 8):
        return None
    year = int(text[:4])
    if year == 0:
        return None
    if len(text) == 4:
        return text
    month = int(text[4:6])
    if not 1 <= month <= 12:
        return None
    if len(text) == 6:
        return f"{text[:4]}-{text[4:6]}"
    try:
        date(year, month, int(text[6:]))
    except ValueError:
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def full_date(raw: str) -> date | None:
    """A complete YYYYMMDD date, or None."""
    iso = partial_date(raw)
    return date.fromisoformat(iso) if iso is not None and len(iso) == 10 else None


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _country(raw: str) -> str | None:
    code = raw.strip().upper()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


class CaseMapper:
    """Builds CaseReports; holds the caches (terms, seriousness, reporters, patients:
    frozen models, shared between cases and not validated again) and the counts of values
    it had to drop or cut, for the reader's statistics."""

    CACHE_LIMIT = 1 << 17
    """Entries kept per cache before it is emptied, so memory stays bounded."""

    def __init__(self, era: Era) -> None:
        self.era = era
        self.dropped: Counter[str] = Counter()
        self.truncated: Counter[str] = Counter()
        self._coded: dict[str, Coded] = {}
        self._seriousness: dict[frozenset[str], Seriousness] = {}
        self._sources: dict[tuple[str, str], tuple[PrimarySource | None, tuple[str, ...]]] = {}
        self._patients: dict[Row, tuple[PatientInfo | None, tuple[str, ...]]] = {}

    # -- small helpers ---------------------------------------------------------------

    def _text(self, raw: str, field: str) -> str | None:
        """Trimmed text; control characters (which the model refuses) become spaces and
        text longer than the model's bound is cut, both counted in `truncated`."""
        value = raw.strip()
        if not value:
            return None
        if not value.isprintable() and CONTROL.search(value):
            value = CONTROL.sub(" ", value).strip()
            self.truncated[f"{field} (control characters)"] += 1
        limit = LIMITS.get(field, TEXT)
        if len(value) > limit:
            self.truncated[field] += 1
            value = value[:limit]
        return value or None

    def coded(self, term: str) -> Coded:
        """One shared Coded per preferred term."""
        found = self._coded.get(term)
        if found is None:
            found = self._coded[term] = Coded(term=term, terminology=TERMINOLOGY)
        return found

    def seriousness(self, outcomes: frozenset[str]) -> Seriousness:
        found = self._seriousness.get(outcomes)
        if found is None:
            found = self._seriousness[outcomes] = Seriousness(
                **{OUTCOMES[code]: True for code in outcomes})
        return found

    def _count(self, dropped: tuple[str, ...]) -> None:
        for name in dropped:
            self.dropped[name] += 1

    # -- the case --------------------------------------------------------------------

    def build(self, demo: Row, first_received: date, *, drugs: Lines, ther: Lines,
              indi: Lines, reac: Lines, outc: Lines, rpsr: Lines,
              reject: Reject) -> CaseReport:
        """The CaseReport of one report. `first_received` comes from the reader (it
        depends on the layout). Raises pydantic's ValidationError when the result breaks
        a bound of the model the mapping did not foresee; the reader reports it. Only
        fields with a value are passed: the model checks each field it is given."""
        latest = full_date(demo[D_FDA])
        if latest is None:  # the reader checked it; this keeps the type checker honest
            raise Invalid(f"fda_dt {demo[D_FDA]!r} is not a date")
        tree: dict[str, Any] = {
            "sender_report_id": demo[D_KEY].strip(),
            "worldwide_id": f"FAERS-{demo[D_CASE].strip()}",
            "first_received": first_received,
            "latest_received": latest,
        }
        if any(row[1].strip().upper() == STUDY_SOURCE for _, row in rpsr):
            tree["report_type"] = "study"
        sender = self._text(demo[D_SNDR], "sender_organisation")
        if sender:
            tree["sender_organisation"] = sender
        if demo[D_OCCR_COUNTRY].strip():
            country = _country(demo[D_OCCR_COUNTRY])
            if country:
                tree["occurrence_country"] = country
            else:
                self.dropped["occr_country"] += 1
        ids = tuple(dict.fromkeys(
            v for v in (demo[D_MFR_NUM].strip(), demo[D_AUTH_NUM].strip()) if v))
        if ids:
            tree["other_case_ids"] = ids
        source = self._source(demo[D_OCCP], demo[D_REPORTER_COUNTRY])
        if source is not None:
            tree["primary_sources"] = (source,)
        patient = self._patient(demo)
        if patient is not None:
            tree["patient"] = patient
        if reac:
            tree["reactions"] = self._reactions(reac, demo[D_EVENT],
                                                self._outcomes(outc, reject))
        if drugs:
            tree["drugs"] = self._drugs(drugs, ther, indi, reject)
        return CaseReport.model_validate(tree)

    def _source(self, occp: str, country: str) -> PrimarySource | None:
        """The reporter: one regulatory primary source, shared between cases with the
        same occupation and country."""
        found = self._sources.get((occp, country))
        if found is None:
            dropped: list[str] = []
            qualification = QUALIFICATIONS.get(occp.strip().upper())
            if occp.strip() and qualification is None:
                dropped.append("occp_cod")
            code = _country(country)
            if country.strip() and code is None:
                dropped.append("reporter_country")
            made = None if qualification is None and code is None else PrimarySource(
                qualification=qualification, country=code, regulatory=True)
            if len(self._sources) >= self.CACHE_LIMIT:
                self._sources.clear()
            found = self._sources[(occp, country)] = (made, tuple(dropped))
        self._count(found[1])
        return found[0]

    def _patient(self, demo: Row) -> PatientInfo | None:
        """The patient, shared between cases with the same raw values."""
        raw = (demo[D_AGE], demo[D_AGE_COD], demo[D_AGE_GRP], demo[D_SEX], demo[D_WT],
               demo[D_WT_COD], demo[D_DEATH])
        found = self._patients.get(raw)
        if found is None:
            if len(self._patients) >= self.CACHE_LIMIT:
                self._patients.clear()
            found = self._patients[raw] = self._new_patient(*raw)
        self._count(found[1])
        return found[0]

    def _new_patient(self, age_raw: str, age_cod: str, age_grp: str, sex_raw: str,
                     weight_raw: str, weight_cod: str,
                     death: str) -> tuple[PatientInfo | None, tuple[str, ...]]:
        dropped: list[str] = []
        fields: dict[str, Any] = {}
        for name, raw, table in (("age_group", age_grp, AGE_GROUPS), ("sex", sex_raw, SEXES)):
            code = raw.strip().upper()
            if code in table:
                fields[name] = table[code]
            elif code and code != "NS":  # NS "not specified" is no value
                dropped.append("age_grp" if name == "age_group" else "sex")
        age, unit = _age(age_raw, age_cod, dropped)
        if age is not None:
            fields["age"] = age
            if unit is not None:
                fields["age_unit"] = unit
        weight = _weight(weight_raw, weight_cod, dropped)
        if weight is not None:
            fields["weight_kg"] = weight
        if death.strip():
            died = partial_date(death)
            if died is None:
                dropped.append("death_dt")
            else:
                fields["died_on"] = died
        return (PatientInfo.model_validate(fields) if fields else None), tuple(dropped)

    def _outcomes(self, outc: Lines, reject: Reject) -> Seriousness:
        codes: set[str] = set()
        for line, row in outc:
            code = row[1].strip().upper()
            if code in OUTCOMES:
                codes.add(code)
            else:
                reject("OUTC", line, f"unknown outcome code {row[1]!r}")
        return self.seriousness(frozenset(codes))

    def _reactions(self, reac: Lines, event_dt: str,
                   seriousness: Seriousness) -> tuple[dict[str, Any], ...]:
        # FAERS gives outcomes per report, not per reaction: every reaction gets them all.
        start = partial_date(event_dt) if event_dt.strip() else None
        if event_dt.strip() and start is None:
            self.dropped["event_dt"] += 1
        reactions: list[dict[str, Any]] = []
        for _, row in reac:
            term = self._text(row[1], "verbatim")
            if term is None:
                self.dropped["pt"] += 1
                continue
            reaction = {"id": str(len(reactions) + 1), "verbatim": term,
                        "coded": self.coded(term), "seriousness": seriousness}
            if start is not None:
                reaction["start"] = start
            reactions.append(reaction)
        return tuple(reactions)

    def _drugs(self, drugs: Lines, ther: Lines, indi: Lines,
               reject: Reject) -> tuple[dict[str, Any], ...]:
        therapy = self._therapy(ther) if ther else {}
        indications: dict[str, list[str]] = {}
        for _, row in indi:
            term = row[2].strip()
            if term:
                indications.setdefault(row[1].strip(), []).append(term)
        out: list[dict[str, Any]] = []
        used: set[str] = set()
        for line, row in drugs:
            drug = self._drug(line, row, therapy, indications, reject)
            if drug is None:
                continue
            while drug["id"] in used:  # the model wants ids unique within the case
                drug["id"] += "+"
            used.add(drug["id"])
            out.append(drug)
        return tuple(out)

    def _date(self, raw: str, field: str) -> str | None:
        if not raw or raw.isspace():
            return None
        value = partial_date(raw)
        if value is None:
            self.dropped[field] += 1
        return value

    def _therapy(self, ther: Lines) -> dict[str, tuple[str | None, str | None]]:
        """drug_seq -> (start, end): the earliest start, and the end of the episode that
        started last (a drug stopped and restarted has one THER row per episode)."""
        episodes: dict[str, list[tuple[str | None, str | None]]] = {}
        for _, row in ther:
            episodes.setdefault(row[1].strip(), []).append(
                (self._date(row[2], "start_dt"), self._date(row[3], "end_dt")))
        result: dict[str, tuple[str | None, str | None]] = {}
        for seq, rows in episodes.items():
            if len(rows) == 1:
                result[seq] = rows[0]
                continue
            starts = [s for s, _ in rows if s]
            last = max(rows, key=lambda r: r[0] or "")
            result[seq] = (min(starts) if starts else None, last[1])
        return result

    def _challenge(self, drug: dict[str, Any], name: str, raw: str, field: str) -> None:
        code = CHALLENGES.get(raw.strip().upper())
        if code is not None:
            drug[name] = code
        elif raw.strip():
            self.dropped[field] += 1

    def _drug(self, line: int, row: Row, therapy: dict[str, tuple[str | None, str | None]],
              indications: dict[str, list[str]], reject: Reject) -> dict[str, Any] | None:
        seq = row[G_SEQ].strip()
        role = ROLES.get(row[G_ROLE].strip().upper())
        if not seq:
            reject("DRUG", line, "missing drug_seq")
            return None
        if role is None:
            reject("DRUG", line, f"unknown role_cod {row[G_ROLE]!r} (PS, SS, C or I)")
            return None
        name = self._text(row[G_NAME], "product_name") or self._text(row[G_AI],
                                                                      "product_name")
        if name is None:
            self.dropped["drugname"] += 1
            return None
        drug: dict[str, Any] = {"id": seq, "role": role, "product_name": name}
        if row[G_AI]:
            ingredients = tuple(i.strip() for i in row[G_AI].split("\\") if i.strip())
            if ingredients:
                drug["substances"] = ingredients
        if row[G_ROUTE]:
            route = self._text(row[G_ROUTE], "route")
            if route is not None and route.upper() not in UNKNOWN_ROUTES:
                drug["route"] = route
        if row[G_DOSE_VBM] and (text := self._text(row[G_DOSE_VBM], "dose_text")):
            drug["dose_text"] = text
        if row[G_DOSE_UNIT] and (unit := self._text(row[G_DOSE_UNIT], "dose_unit")):
            drug["dose_unit"] = unit
        if row[G_DOSE_AMT] and not row[G_DOSE_AMT].isspace():
            amount = _number(row[G_DOSE_AMT])
            if amount is None or amount < 0:
                self.dropped["dose_amt"] += 1
            else:
                drug["dose_value"] = amount
        if row[G_LOT] and (lot := row[G_LOT].strip()):
            drug["lot_numbers"] = (lot,)
        if therapy:
            start, end = therapy.get(seq, (None, None))
            if start is not None:
                drug["start"] = start
            if end is not None:
                drug["end"] = end
        if indications and (terms := indications.get(seq)):
            drug["indication"] = self._text("; ".join(dict.fromkeys(terms)), "indication")
        if row[G_DECHAL]:
            self._challenge(drug, "dechallenge", row[G_DECHAL], "dechal")
        if row[G_RECHAL]:
            self._challenge(drug, "rechallenge", row[G_RECHAL], "rechal")
        return drug


def _age(raw: str, raw_unit: str, dropped: list[str]) -> tuple[float | None, str | None]:
    """Age and unit; an age above the model's bound of 200 in its unit is restated in
    the smallest larger unit in which it fits."""
    if not raw.strip():
        return None, None
    age = _number(raw)
    unit = AGE_UNITS.get(raw_unit.strip().upper())
    if raw_unit.strip() and unit is None:
        dropped.append("age_cod")
    if age is None or age < 0:
        dropped.append("age")
        return None, None
    if age <= MAX_AGE:
        return age, unit
    if unit is not None:
        years = age / _PER_YEAR[unit]
        for larger in _UNIT_ORDER[_UNIT_ORDER.index(unit) + 1:]:
            restated = years * _PER_YEAR[larger]
            if restated <= MAX_AGE:
                return round(restated, 4), larger
    dropped.append("age")
    return None, None


def _weight(raw: str, raw_unit: str, dropped: list[str]) -> float | None:
    if not raw.strip():
        return None
    value = _number(raw)
    factor = KG_PER_UNIT.get(raw_unit.strip().upper())
    if value is None or factor is None:
        dropped.append("wt")
        return None
    kg = round(value * factor, 3)
    if not 0 < kg <= 700:  # PatientInfo.weight_kg's bounds
        dropped.append("wt")
        return None
    return kg
