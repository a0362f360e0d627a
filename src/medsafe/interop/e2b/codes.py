"""E2B(R3) code tables: the codes in the XML <-> the words of `medsafe.cases.model`.

Every table's codes and its code-system OID come from the "VALUES ALLOWED" and "Code system
OID" columns of `fda_icsr_data_elements.csv` (FDA's E2B(R3) regional data-elements table,
../shared/data/e2b-examples, shipped in `data/`); `tests/unit/test_e2b_codes.py` checks the
tables against that column. The observation codes (which `<code code=…>` carries which
element) come from the table's "Xpath" column and from FDA's example instances
FAERS2022Scenario1-3.xml.

Notes:
- D.2.2b: FDA's table lists the decade as UCUM "10.a"; the ICH IG (12 April 2013, D.2.2b)
  writes "{Decade}". Both are read; "10.a" is written.
- D.5: the table allows the nullFlavors MSK, UNK, ASKU, NASK; nullFlavor UNK is read as the
  model's "unknown" (and written back as UNK), the other nullFlavors as no value.
- FDA.E.i.3.2h (required intervention) is code 7 of FDA's code system
  2.16.840.1.113883.3.989.5.1.2.2.1.3, as in FDA's example instances (the table's XPath for
  it is garbled: "726" and two OIDs run together).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from medsafe.cases.model import (
    ActionTaken,
    AgeGroup,
    AgeUnit,
    Challenge,
    DrugRole,
    Outcome,
    Qualification,
    ReportType,
    Sex,
)
from medsafe.errors import Invalid

W = TypeVar("W", bound=str)

# Code systems (OIDs) named in fda_icsr_data_elements.csv.
ICH_OBSERVATION = "2.16.840.1.113883.3.989.2.1.1.19"  # ICH observation codes
ICH_ORGANIZER = "2.16.840.1.113883.3.989.2.1.1.20"  # organizer categories
ICH_CHARACTERISTIC = "2.16.840.1.113883.3.989.2.1.1.23"  # investigation characteristics
ICH_RELATED = "2.16.840.1.113883.3.989.2.1.1.22"  # related investigations (C.1.8.2, C.2.r)
ICH_SOURCE_ROLE = "2.16.840.1.113883.3.989.2.1.1.21"  # author roles (H.2, H.3, H.4, G.k.7.r)
FDA_OBSERVATION = "2.16.840.1.113883.3.989.5.1.2.2.1.3"  # FDA.E.i.3.2h, FDA.C.1.12
NCI_THESAURUS = "2.16.840.1.113883.3.26.1.1"  # FDA.D.11, FDA.D.12, FDA.C.1.12 codes
MEDDRA = "2.16.840.1.113883.6.163"
NDC = "2.16.840.1.113883.6.69"  # G.k.2.1.1b MPID as NDC (FDA)
ISO_COUNTRY = "1.0.3166.1.2.2"
ISO_SEX = "1.0.5218"
INTERACTION = "2.16.840.1.113883.1.6"
TRIGGER_EVENT = "2.16.840.1.113883.1.18"

# Instance-identifier roots (the "Code system OID" column of N.*, C.1.*).
ROOT_BATCH = "2.16.840.1.113883.3.989.2.1.3.22"  # N.1.2
ROOT_BATCH_SENDER = "2.16.840.1.113883.3.989.2.1.3.13"  # N.1.3
ROOT_BATCH_RECEIVER = "2.16.840.1.113883.3.989.2.1.3.14"  # N.1.4
ROOT_MESSAGE = "2.16.840.1.113883.3.989.2.1.3.1"  # N.2.r.1 and C.1.1
ROOT_MESSAGE_SENDER = "2.16.840.1.113883.3.989.2.1.3.11"  # N.2.r.2
ROOT_MESSAGE_RECEIVER = "2.16.840.1.113883.3.989.2.1.3.12"  # N.2.r.3
ROOT_WORLDWIDE = "2.16.840.1.113883.3.989.2.1.3.2"  # C.1.8.1 and C.1.10.r
ROOT_OTHER_CASE = "2.16.840.1.113883.3.989.2.1.3.3"  # C.1.9.1.r.2
# Acknowledgement roots (ICH IG section 4, as in FDA's R3ack-*.ack).
ROOT_ACK_BATCH = "2.16.840.1.113883.3.989.2.1.3.20"  # ACK.M.1
ROOT_ACK_LOCAL_REPORT = "2.16.840.1.113883.3.989.2.1.3.19"  # ACK.B.r.2
ROOT_ACK_MESSAGE_SENDER = "2.16.840.1.113883.3.989.2.1.3.15"  # ACK.B.r.4
ROOT_ACK_MESSAGE_RECEIVER = "2.16.840.1.113883.3.989.2.1.3.16"  # ACK.B.r.3
ROOT_ACK_BATCH_SENDER = "2.16.840.1.113883.3.989.2.1.3.17"  # ACK.M.2
ROOT_ACK_BATCH_RECEIVER = "2.16.840.1.113883.3.989.2.1.3.18"  # ACK.M.3
ROOT_ACK_LOCAL_MESSAGE = "2.16.840.1.113883.3.989.2.1.3.21"  # ACK.A.2
ACK_KEYWORDS = "2.16.840.1.113883.3.989.2.1.1.24"  # attentionLine keyWordText codes


@dataclass(frozen=True)
class CodeTable(Generic[W]):
    """One E2B element's codes and the model's words for them."""

    element: str
    code_system: str | None
    words: Mapping[str, W]
    aliases: Mapping[str, W] = field(default_factory=dict)
    """Codes accepted on reading besides `words` (written as the `words` code)."""

    def word(self, code: str, *, where: str | None = None) -> W:
        """The model's word for a code; FDA's generic message when the code is unknown."""
        found = self.words.get(code, self.aliases.get(code))
        if found is None:
            raise Invalid(f"{self.element} contains invalid value '{code}' (allowed: "
                          f"{', '.join(self.words)})", where=where)
        return found

    def code(self, word: str) -> str:
        for code, known in self.words.items():
            if known == word:
                return code
        raise ValueError(f"no {self.element} code for '{word}'")


REPORT_TYPE: CodeTable[ReportType] = CodeTable(
    "C.1.3", "2.16.840.1.113883.3.989.2.1.1.2",
    {"1": "spontaneous", "2": "study", "3": "other", "4": "unknown"})
NULLIFICATION: CodeTable[str] = CodeTable(
    "C.1.11.1", "2.16.840.1.113883.3.989.2.1.1.5", {"1": "nullified", "2": "amended"})
QUALIFICATION: CodeTable[Qualification] = CodeTable(
    "C.2.r.4", "2.16.840.1.113883.3.989.2.1.1.6",
    {"1": "physician", "2": "pharmacist", "3": "other_health_professional", "4": "lawyer",
     "5": "consumer"})
SENDER_TYPE: CodeTable[str] = CodeTable(
    "C.3.1", "2.16.840.1.113883.3.989.2.1.1.7",
    {"1": "pharmaceutical_company", "2": "regulatory_authority", "3": "health_professional",
     "4": "regional_pharmacovigilance_centre", "5": "who_collaborating_centre",
     "6": "other", "7": "patient_or_consumer"})
FIRST_SENDER: CodeTable[str] = CodeTable(
    "C.1.8.2", "2.16.840.1.113883.3.989.2.1.1.3", {"1": "regulator", "2": "other"})
SEX: CodeTable[Sex] = CodeTable("D.5", ISO_SEX, {"1": "male", "2": "female"})
AGE_UNIT: CodeTable[AgeUnit] = CodeTable(
    "D.2.2b", None,
    {"a": "year", "mo": "month", "wk": "week", "d": "day", "h": "hour", "10.a": "decade"},
    aliases={"{Decade}": "decade", "{decade}": "decade"})
AGE_GROUP: CodeTable[AgeGroup] = CodeTable(
    "D.2.3", "2.16.840.1.113883.3.989.2.1.1.9",
    {"0": "foetus", "1": "neonate", "2": "infant", "3": "child", "4": "adolescent",
     "5": "adult", "6": "elderly"})
OUTCOME: CodeTable[Outcome] = CodeTable(
    "E.i.7", "2.16.840.1.113883.3.989.2.1.1.11",
    {"1": "recovered", "2": "recovering", "3": "not_recovered",
     "4": "recovered_with_sequelae", "5": "fatal", "0": "unknown"})
DRUG_ROLE: CodeTable[DrugRole] = CodeTable(
    "G.k.1", "2.16.840.1.113883.3.989.2.1.1.13",
    {"1": "suspect", "2": "concomitant", "3": "interacting", "4": "not_administered"})
ACTION_TAKEN: CodeTable[ActionTaken] = CodeTable(
    "G.k.8", "2.16.840.1.113883.3.989.2.1.1.15",
    {"1": "withdrawn", "2": "dose_reduced", "3": "dose_increased", "4": "dose_not_changed",
     "0": "unknown", "9": "not_applicable"})
RECHALLENGE: CodeTable[Challenge] = CodeTable(
    "G.k.9.i.4", "2.16.840.1.113883.3.989.2.1.1.16",
    {"1": "positive", "2": "negative", "3": "unknown", "4": "not_applicable"})
"""1 = rechallenge done, reaction recurred; 2 = done, did not recur; 3 = done, outcome
unknown; 4 = no rechallenge done, recurrence not applicable."""

@dataclass(frozen=True, slots=True)
class SeriousnessCode:
    element: str
    field: str  # the `Seriousness` field
    code: str
    code_system: str
    display: str  # the displayName FDA's examples give the observation code


SERIOUSNESS: tuple[SeriousnessCode, ...] = (
    SeriousnessCode("E.i.3.2a", "death", "34", ICH_OBSERVATION, "resultsInDeath"),
    SeriousnessCode("E.i.3.2b", "life_threatening", "21", ICH_OBSERVATION,
                    "isLifeThreatening"),
    SeriousnessCode("E.i.3.2c", "hospitalisation", "33", ICH_OBSERVATION,
                    "requiresInpatientHospitalization"),
    SeriousnessCode("E.i.3.2d", "disability", "35", ICH_OBSERVATION,
                    "resultsInPersistentOrSignificantDisability"),
    SeriousnessCode("E.i.3.2e", "congenital_anomaly", "12", ICH_OBSERVATION,
                    "congenitalAnomalyBirthDefect"),
    SeriousnessCode("E.i.3.2f", "other_medically_important", "26", ICH_OBSERVATION,
                    "otherMedicallyImportantCondition"),
    SeriousnessCode("FDA.E.i.3.2h", "required_intervention", "7", FDA_OBSERVATION,
                    "requiredIntervention"),
)

# Observation codes in ICH_OBSERVATION (the "Xpath" column of the element table).
OBS_AGE = "3"  # D.2.2
OBS_AGE_GROUP = "4"  # D.2.3
OBS_AUTOPSY = "5"  # D.9.3
OBS_WEIGHT = "7"  # D.3
OBS_COMMENT = "10"  # H.2, H.4, D.7.1.r.5
OBS_DIAGNOSIS = "15"  # H.3.r
OBS_HEIGHT = "17"  # D.4
OBS_HISTORY_TEXT = "18"  # D.7.2
OBS_INDICATION = "19"  # G.k.7.r
OBS_DRUG_ROLE = "20"  # G.k.1
OBS_OUTCOME = "27"  # E.i.7
OBS_REACTION = "29"  # E.i
OBS_TRANSLATION = "30"  # E.i.1.2
OBS_RECURRENCE = "31"  # G.k.9.i.4
OBS_CAUSALITY = "39"  # G.k.9.i.2.r
OBS_DOCUMENTS = "1"  # C.1.6.1
OBS_EXPEDITED = "23"  # C.1.7
# Organizer categories (ICH_ORGANIZER).
ORG_MEDICAL_HISTORY = "1"  # D.7
ORG_DRUG_HISTORY = "2"  # D.8
ORG_DRUGS = "4"  # G.k
# Investigation characteristics (ICH_CHARACTERISTIC).
CHAR_REPORT_TYPE = "1"  # C.1.3
CHAR_OTHER_CASE_IDS = "2"  # C.1.9.1
CHAR_NULLIFICATION = "3"  # C.1.11.1
CHAR_NULLIFICATION_REASON = "4"  # C.1.11.2
# Related investigations (ICH_RELATED).
REL_INITIAL_REPORT = "1"  # C.1.8.2
REL_SOURCE_REPORT = "2"  # C.2.r
# Author roles (ICH_SOURCE_ROLE).
ROLE_SENDER = "1"  # H.3, H.4
ROLE_REPORTER = "3"  # H.2, G.k.7.r
