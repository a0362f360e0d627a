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
name) are left empty and counted in `dropped`; over-long text is cut to the model's bound
and counted in `truncated`. Codes: FDA "ASC_NTS.DOC" for the FAERS Quarterly Data Extract
(revised June 2015), section C; see `layout` for where to read it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from medsafe.cases.model import TEXT, CaseReport, Coded, PatientInfo, Seriousness
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

AGE_UNITS = {"YR": "year", "DEC": "decade", "MON": "month", "WK": "week", "DY": "day",
             "HR": "hour"}
AGE_GROUPS = {"N": "neonate", "I": "infant", "C": "child", "T": "adolescent", "A": "adult",
              "E": "elderly"}
SEXES = {"M": "male", "F": "female", "UNK": "unknown"}  # NS "not specified": left empty
QUALIFICATIONS = {"MD": "physician", "PH": "pharmacist", "OT": "other_health_professional",
                  "LW": "lawyer", "CN": "consumer"}
ROLES = {"PS": "suspect", "SS": "suspect", "C": "concomitant", "I": "interacting"}
CHALLENGES = {"Y": "positive", "N": "negative", "U": "unknown", "D": "not_applicable"}
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
    """Builds CaseReports; holds the caches (terms, seriousness) and the counts of
    values it had to drop or cut, for the reader's statistics."""

    def __init__(self, era: Era) -> None:
        self.era = era
        self.dropped: Counter[str] = Counter()
        self.truncated: Counter[str] = Counter()
        self._coded: dict[str, Coded] = {}
        self._seriousness: dict[frozenset[str], Seriousness] = {}

    # -- small helpers ---------------------------------------------------------------

    def _text(self, raw: str, field: str) -> str | None:
        value = raw.strip()
        if not value:
            return None
        limit = LIMITS.get(field)
        if limit is not None and len(value) > limit:
            self.truncated[field] += 1
            return value[:limit]
        return value

    def _code(self, raw: str, table: dict[str, str], field: str) -> str | None:
        code = raw.strip().upper()
        if not code:
            return None
        value = table.get(code)
        if value is None:
            self.dropped[field] += 1
        return value

    def _partial(self, raw: str, field: str) -> str | None:
        if not raw.strip():
            return None
        value = partial_date(raw)
        if value is None:
            self.dropped[field] += 1
        return value

    def coded(self, term: str) -> Coded:
        """One shared Coded per preferred term (frozen, so sharing is safe)."""
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

    # -- the case --------------------------------------------------------------------

    def build(self, demo: Row, first_received: date, *, drugs: Lines, ther: Lines,
              indi: Lines, reac: Lines, outc: Lines, rpsr: Lines,
              reject: Reject) -> CaseReport:
        """The CaseReport of one report. `first_received` comes from the reader (it
        depends on the layout). Raises pydantic's ValidationError when the result breaks
        a bound of the model the mapping did not foresee; the reader reports it."""
        latest = full_date(demo[D_FDA])
        if latest is None:  # the reader checked it; this keeps the type checker honest
            raise Invalid(f"fda_dt {demo[D_FDA]!r} is not a date")
        sources = {row[1].strip().upper() for _, row in rpsr}
        outcomes = frozenset(self._outcomes(outc, reject))
        tree: dict[str, Any] = {
            "sender_report_id": demo[D_KEY].strip(),
            "worldwide_id": f"FAERS-{demo[D_CASE].strip()}",
            "report_type": "study" if STUDY_SOURCE in sources else "spontaneous",
            "first_received": first_received,
            "latest_received": latest,
            "sender_organisation": self._text(demo[D_SNDR], "sender_organisation"),
            "occurrence_country": self._optional_country(demo[D_OCCR_COUNTRY], "occr_country"),
            "other_case_ids": tuple(dict.fromkeys(
                v for v in (demo[D_MFR_NUM].strip(), demo[D_AUTH_NUM].strip()) if v)),
            "primary_sources": self._sources(demo),
            "patient": self._patient(demo),
            "reactions": self._reactions(reac, demo[D_EVENT], outcomes),
            "drugs": self._drugs(drugs, ther, indi, reject),
        }
        return CaseReport.model_validate(tree)

    def _optional_country(self, raw: str, field: str) -> str | None:
        if not raw.strip():
            return None
        code = _country(raw)
        if code is None:
            self.dropped[field] += 1
        return code

    def _sources(self, demo: Row) -> tuple[dict[str, Any], ...]:
        qualification = self._code(demo[D_OCCP], QUALIFICATIONS, "occp_cod")
        country = self._optional_country(demo[D_REPORTER_COUNTRY], "reporter_country")
        if qualification is None and country is None:
            return ()
        return ({"qualification": qualification, "country": country, "regulatory": True},)

    def _patient(self, demo: Row) -> dict[str, Any]:
        patient: dict[str, Any] = {
            "age_group": self._code(demo[D_AGE_GRP], AGE_GROUPS, "age_grp"),
            "sex": self._code(demo[D_SEX], SEXES, "sex") if demo[D_SEX].strip().upper() != "NS"
            else None,
            "weight_kg": self._weight(demo[D_WT], demo[D_WT_COD]),
            "died_on": self._partial(demo[D_DEATH], "death_dt"),
        }
        patient["age"], patient["age_unit"] = self._age(demo[D_AGE], demo[D_AGE_COD])
        return patient

    def _age(self, raw: str, raw_unit: str) -> tuple[float | None, str | None]:
        if not raw.strip():
            return None, None
        age = _number(raw)
        unit = self._code(raw_unit, AGE_UNITS, "age_cod")
        if age is None or age < 0:
            self.dropped["age"] += 1
            return None, None
        if age <= MAX_AGE:
            return age, unit
        if unit is not None:
            years = age / _PER_YEAR[unit]
            for larger in _UNIT_ORDER[_UNIT_ORDER.index(unit) + 1:]:
                restated = years * _PER_YEAR[larger]
                if restated <= MAX_AGE:
                    return round(restated, 4), larger
        self.dropped["age"] += 1
        return None, None

    def _weight(self, raw: str, raw_unit: str) -> float | None:
        if not raw.strip():
            return None
        value = _number(raw)
        factor = KG_PER_UNIT.get(raw_unit.strip().upper())
        if value is None or factor is None:
            self.dropped["wt"] += 1
            return None
        kg = round(value * factor, 3)
        if not 0 < kg <= 700:  # PatientInfo.weight_kg's bounds
            self.dropped["wt"] += 1
            return None
        return kg

    def _outcomes(self, outc: Lines, reject: Reject) -> set[str]:
        codes: set[str] = set()
        for line, row in outc:
            code = row[1].strip().upper()
            if code in OUTCOMES:
                codes.add(code)
            else:
                reject("OUTC", line, f"unknown outcome code {row[1]!r}")
        return codes

    def _reactions(self, reac: Lines, event_dt: str,
                   outcomes: frozenset[str]) -> tuple[dict[str, Any], ...]:
        # FAERS gives outcomes per report, not per reaction: every reaction gets them all.
        seriousness = self.seriousness(outcomes)
        start = self._partial(event_dt, "event_dt")
        reactions: list[dict[str, Any]] = []
        for _, row in reac:
            term = self._text(row[1], "verbatim")
            if term is None:
                self.dropped["pt"] += 1
                continue
            reactions.append({"id": str(len(reactions) + 1), "verbatim": term,
                              "coded": self.coded(term), "start": start,
                              "seriousness": seriousness})
        return tuple(reactions)

    def _drugs(self, drugs: Lines, ther: Lines, indi: Lines,
               reject: Reject) -> tuple[dict[str, Any], ...]:
        therapy = self._therapy(ther)
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

    def _therapy(self, ther: Lines) -> dict[str, tuple[str | None, str | None]]:
        """drug_seq -> (start, end): the earliest start, and the end of the episode that
        started last (a drug stopped and restarted has one THER row per episode)."""
        episodes: dict[str, list[tuple[str | None, str | None]]] = {}
        for _, row in ther:
            episodes.setdefault(row[1].strip(), []).append(
                (self._partial(row[2], "start_dt"), self._partial(row[3], "end_dt")))
        result: dict[str, tuple[str | None, str | None]] = {}
        for seq, rows in episodes.items():
            starts = [s for s, _ in rows if s]
            last = max(rows, key=lambda r: r[0] or "")
            result[seq] = (min(starts) if starts else None, last[1])
        return result

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
        ingredients = tuple(i.strip() for i in row[G_AI].split("\\") if i.strip())
        name = self._text(row[G_NAME], "product_name") or (
            self._text(row[G_AI], "product_name"))
        if name is None:
            self.dropped["drugname"] += 1
            return None
        route = self._text(row[G_ROUTE], "route")
        start, end = therapy.get(seq, (None, None))
        terms = indications.get(seq)
        dose_value = _number(row[G_DOSE_AMT]) if row[G_DOSE_AMT].strip() else None
        if row[G_DOSE_AMT].strip() and (dose_value is None or dose_value < 0):
            self.dropped["dose_amt"] += 1
            dose_value = None
        return {
            "id": seq, "role": role, "product_name": name, "substances": ingredients,
            "route": None if route is None or route.upper() in UNKNOWN_ROUTES else route,
            "dose_text": self._text(row[G_DOSE_VBM], "dose_text"),
            "dose_value": dose_value,
            "dose_unit": self._text(row[G_DOSE_UNIT], "dose_unit"),
            "lot_numbers": (row[G_LOT].strip(),) if row[G_LOT].strip() else (),
            "start": start, "end": end,
            "indication": self._text("; ".join(dict.fromkeys(terms)), "indication")
            if terms else None,
            "dechallenge": self._code(row[G_DECHAL], CHALLENGES, "dechal"),
            "rechallenge": self._code(row[G_RECHAL], CHALLENGES, "rechal"),
        }
