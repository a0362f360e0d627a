"""Checks an incoming E2B(R3) message against FDA's rejection and warning rules.

Source: `fda_rejection_warning_rules.csv` (FDA FAERS E2B(R3) rules: error id, severity,
message) and, for maximum lengths, the "MAX LENGTH" column of `fda_icsr_data_elements.csv`;
both are shipped in `data/` (see data/SOURCE.md; originals in ../shared/data/e2b-examples)
and loaded lazily, on first use.

Only the rules about what medsafe models can be checked: a message has been read into a
`CaseReport` first, so a rule about an element the model does not keep (study numbers,
device data, parent data, test results …) cannot be. `implemented_rules()` lists the table
rules this module checks and `table_rules()` all of them, so coverage is reported as
"len(implemented_rules()) of len(table_rules())". Rules are identified by FDA's error id
(R0021, W0005 …); the one rule the table gives no id (C.1.11.2 required with C.1.11.1) by
its element; FDA's six generic messages (required element, invalid code, maximum length,
future date, date precision, full date precision) by GENERIC-* names.

Two of FDA's generic rules are enforced by the reader instead, because the model cannot
hold the bad value: an unknown code (GENERIC-CODE) and C.1.4/C.1.5 without a day
(GENERIC-PRECISION) make `read_e2b` refuse the file. They are listed here only when this
module checks them too (GENERIC-PRECISION is, for D.2.1).

medsafe adds a few consistency checks of its own (an end before its start, C.1.5 before
C.1.4); they are warnings, listed by `consistency_rules()`, and never counted as FDA's.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from medsafe.cases.model import SUSPECT_ROLES, CaseReport, Drug
from medsafe.errors import KnowledgeError
from medsafe.interop.e2b.hl7 import number_text
from medsafe.interop.e2b.reader import E2bMessage

DATA_DIR = Path(__file__).parent / "data"
RULES_FILE = DATA_DIR / "fda_rejection_warning_rules.csv"
ELEMENTS_FILE = DATA_DIR / "fda_icsr_data_elements.csv"

Severity = Literal["rejection", "warning"]

GENERIC_REQUIRED = "GENERIC-REQUIRED"
GENERIC_CODE = "GENERIC-CODE"
GENERIC_MAX_LENGTH = "GENERIC-MAX-LENGTH"
GENERIC_FUTURE = "GENERIC-FUTURE"
GENERIC_PRECISION = "GENERIC-PRECISION"
GENERIC_FULL_PRECISION = "GENERIC-FULL-PRECISION"
# How each generic row of the rules table starts (the table's own spelling).
_GENERIC_PREFIXES: tuple[tuple[str, str], ...] = (
    ("Generic error message for required data elements", GENERIC_REQUIRED),
    ("Generic error message for incorrect Observation Code Values", GENERIC_CODE),
    ("Generic error message for incorrect Max length", GENERIC_MAX_LENGTH),
    ("Generic error message for future Date and Time", GENERIC_FUTURE),
    ("Generic error message for inpresise full Date and Time", GENERIC_FULL_PRECISION),
    ("Generic error message for inpresise Date and Time", GENERIC_PRECISION),
)

POSTMARKET_BATCH = "ZZFDA"
PREMARKET_BATCH = "ZZFDA_PREMKT"
IND_RECEIVERS = frozenset({"CDER_IND", "CBER_IND"})
# R0071's message spells the receiver CDER_EXEMPT_BA_BE; its rule and N.2.r.3 say
# CDER_IND_EXEMPT_BA_BE. Both are accepted.
BA_BE_RECEIVERS = frozenset({"CDER_IND_EXEMPT_BA_BE", "CDER_EXEMPT_BA_BE"})
PREMARKET_RECEIVERS = IND_RECEIVERS | {"CDER_IND_EXEMPT_BA_BE"}
AGGREGATE = frozenset({"AGGREGATE", "AGGREGRATE"})  # the table spells it both ways


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of FDA's table (or one of medsafe's consistency checks)."""

    id: str
    element: str
    severity: Severity
    message: str  # FDA's error text; <Data Element Number> and <value> are placeholders
    business_rule: str = ""
    source: str = "FDA"


@dataclass(frozen=True, slots=True)
class Problem:
    """A rule the message breaks."""

    rule_id: str
    element: str
    severity: Severity
    message: str
    location: str | None = None  # e.g. "reaction r2", "drug d1", "primary source 1"

    @property
    def rejects(self) -> bool:
        return self.severity == "rejection"


# --- the tables -----------------------------------------------------------------------

def _read_csv(path: Path) -> list[list[str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle))
    except OSError as error:
        raise KnowledgeError(f"E2B rules table missing: {path} ({error})") from None


def _clean(text: str) -> str:
    return " ".join(text.split())


@cache
def table_rules() -> dict[str, Rule]:
    """Every rule of fda_rejection_warning_rules.csv, by id, in table order."""
    rows = _read_csv(RULES_FILE)
    rules: dict[str, Rule] = {}
    for row in rows:
        for prefix, rule_id in _GENERIC_PREFIXES:
            if row and row[0].startswith(prefix):
                rules[rule_id] = Rule(rule_id, "<Data Element Number>", "rejection",
                                      _clean(row[0].split(":", 1)[1]), _clean(prefix))
                break
    header = next((i for i, row in enumerate(rows) if row[:1] == ["DATA ELEMENT NUMBER"]),
                  None)
    if header is None or len(rules) != len(_GENERIC_PREFIXES):
        raise KnowledgeError(f"{RULES_FILE.name} is not the FDA rules table medsafe expects")
    element = ""
    for row in rows[header + 1:]:
        cells = [*row, *[""] * 9][:9]
        element = cells[0].strip() or element
        rejection, warning, error_id = cells[3].strip(), cells[4].strip(), cells[5].strip()
        if not (rejection or warning or error_id):
            continue
        rule_id = error_id or element
        rules[rule_id] = Rule(rule_id, element, "rejection" if rejection else "warning",
                              _clean(cells[6]), _clean(cells[2]))
    return rules


@cache
def max_lengths() -> dict[str, int]:
    """The maximum length of every element that has one in fda_icsr_data_elements.csv."""
    lengths: dict[str, int] = {}
    for row in _read_csv(ELEMENTS_FILE)[3:]:
        if len(row) > 4 and row[2].strip() and row[4].strip().isdigit():
            lengths[row[2].strip()] = int(row[4].strip())
    if "C.1.1" not in lengths:
        raise KnowledgeError(f"{ELEMENTS_FILE.name} is not the FDA element table medsafe "
                             "expects")
    return lengths


# --- the checks -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Context:
    message: E2bMessage
    today: date
    known_cases: Collection[str] | None

    @property
    def report(self) -> CaseReport:
        return self.message.report

    @property
    def postmarket(self) -> bool:
        return self.message.batch_receiver == POSTMARKET_BATCH

    @property
    def premarket(self) -> bool:
        return self.message.batch_receiver == PREMARKET_BATCH


_Check = Callable[[_Context], Iterable[Problem]]
_CHECKS: list[tuple[tuple[str, ...], _Check]] = []
_CONSISTENCY: dict[str, Rule] = {}


def _implements(*rule_ids: str) -> Callable[[_Check], _Check]:
    def register(check: _Check) -> _Check:
        _CHECKS.append((rule_ids, check))
        return check
    return register


def _problem(rule_id: str, *, element: str | None = None, value: str | None = None,
             location: str | None = None) -> Problem:
    rule = table_rules().get(rule_id) or _CONSISTENCY[rule_id]
    named = element or rule.element
    text = rule.message.replace("<Data Element Number>", named)
    if value is not None:
        text = text.replace("<value>", value)
    return Problem(rule_id, named, rule.severity, text, location)


@_implements("R0006", "R0007")
def _receivers(ctx: _Context) -> Iterator[Problem]:
    receiver = ctx.message.receiver_id
    if ctx.postmarket and receiver != "CDER":
        yield _problem("R0006")
    if ctx.premarket and receiver not in PREMARKET_RECEIVERS:
        yield _problem("R0007")


@_implements("R0100")
def _message_sender(ctx: _Context) -> Iterator[Problem]:
    # Checking each message against N.1.3 also catches senders that differ between
    # messages: at least one of them then differs from N.1.3.
    if ctx.message.sender_id != ctx.message.batch_sender:
        yield _problem("R0100")


@_implements("R0111", "R0112")
def _premarket_report_type(ctx: _Context) -> Iterator[Problem]:
    if not ctx.premarket:
        return
    receiver, report_type = ctx.message.receiver_id, ctx.report.report_type
    if receiver in BA_BE_RECEIVERS and report_type != "study":
        yield _problem("R0111")
    if receiver in IND_RECEIVERS and report_type in ("other", "unknown"):
        yield _problem("R0112")


@_implements("W0001")
def _aggregate_links(ctx: _Context) -> Iterator[Problem]:
    initials = (ctx.report.patient.initials or "").upper()
    if ctx.premarket and initials in AGGREGATE and not ctx.report.linked_reports:
        yield _problem("W0001")


@_implements("R0101", "C.1.11.2")
def _nullification(ctx: _Context) -> Iterator[Problem]:
    report = ctx.report
    if report.nullification is None:
        return
    if ctx.known_cases is not None and report.worldwide_id not in ctx.known_cases:
        yield _problem("R0101")  # an initial report cannot nullify or amend
    if report.nullification_reason is None:
        yield _problem("C.1.11.2")


@_implements("R0019", "R0020", "R0021")
def _primary_sources(ctx: _Context) -> Iterator[Problem]:
    regulatory = [s for s in ctx.report.primary_sources if s.regulatory]
    if not regulatory:
        yield _problem("R0021")
    for number, source in enumerate(ctx.report.primary_sources, 1):
        if not source.regulatory:
            continue
        if source.country is None:
            yield _problem("R0019", location=f"primary source {number}")
        if source.qualification is None:
            yield _problem("R0020", location=f"primary source {number}")


@_implements("R0022")
def _sender_organisation(ctx: _Context) -> Iterator[Problem]:
    sender_type = ctx.message.sender_type
    if (sender_type is not None and sender_type != "patient_or_consumer"
            and ctx.report.sender_organisation is None):
        yield _problem("R0022")


@_implements("R0029", "R0030")
def _age(ctx: _Context) -> Iterator[Problem]:
    patient = ctx.report.patient
    if patient.age_unit is not None and patient.age is None:
        yield _problem("R0029")
    if patient.age is not None and patient.age_unit is None:
        yield _problem("R0030")


@_implements("R0033", "R0034", "R0035")
def _medical_history(ctx: _Context) -> Iterator[Problem]:
    patient = ctx.report.patient
    for coded in patient.medical_history:
        if coded.terminology != "MedDRA":
            continue
        if coded.code is not None and coded.version is None:
            yield _problem("R0033", value=coded.code, location=f"medical history {coded.term}")
        if coded.version is not None and coded.code is None:
            yield _problem("R0034", location=f"medical history {coded.term}")
    if not patient.medical_history and patient.medical_history_text is None:
        yield _problem("R0035")


@_implements("R0041")
def _date_of_death(ctx: _Context) -> Iterator[Problem]:
    report = ctx.report
    if (report.report_type == "study" and ctx.message.receiver_id in IND_RECEIVERS
            and any(r.seriousness.death for r in report.reactions)
            and report.patient.died_on is None):
        yield _problem("R0041")


_REPORTABLE_ROLES = frozenset({"suspect", "interacting", "not_administered"})


@_implements("W0005", "R0069", "R0070", "R0071")
def _drug_roles(ctx: _Context) -> Iterator[Problem]:
    roles = [d.role for d in ctx.report.drugs]
    receiver = ctx.message.receiver_id
    # W0005 allows 4 only for a product with a malfunctioning device part; medsafe does
    # not model devices, so 4 is accepted (the message text lists 1, 3 or 4).
    if ctx.postmarket and roles and roles[0] not in _REPORTABLE_ROLES:
        yield _problem("W0005")
    if receiver == "CDER" and not _REPORTABLE_ROLES & set(roles):
        yield _problem("R0069")
    if ctx.report.report_type == "study" and receiver in IND_RECEIVERS and (
            "not_administered" in roles or not SUSPECT_ROLES & set(roles)):
        yield _problem("R0070")
    if (ctx.report.report_type == "study" and receiver in BA_BE_RECEIVERS
            and not _REPORTABLE_ROLES & set(roles)):
        yield _problem("R0071")


@_implements("R0075")
def _dose_unit(ctx: _Context) -> Iterator[Problem]:
    for drug in ctx.report.drugs:
        if drug.dose_value is not None and drug.dose_unit is None:
            yield _problem("R0075", location=f"drug {drug.id}")


@_implements(GENERIC_REQUIRED)
def _required(ctx: _Context) -> Iterator[Problem]:
    message, report = ctx.message, ctx.report
    headers = {"N.1.3": message.batch_sender, "N.1.4": message.batch_receiver,
               "N.1.5": message.batch_created, "N.2.r.2": message.sender_id,
               "N.2.r.3": message.receiver_id, "N.2.r.4": message.message_created,
               "C.1.2": message.report_created, "C.3.1": message.sender_type,
               "H.1": report.narrative}
    for element, value in headers.items():
        if value is None:
            yield _problem(GENERIC_REQUIRED, element=element)
    if not report.reactions:
        yield _problem(GENERIC_REQUIRED, element="E.i.2.1b")
    for reaction in report.reactions:
        coded = reaction.coded
        if coded is None or coded.code is None:
            yield _problem(GENERIC_REQUIRED, element="E.i.2.1b",
                           location=f"reaction {reaction.id}")
        elif coded.version is None:
            yield _problem(GENERIC_REQUIRED, element="E.i.2.1a",
                           location=f"reaction {reaction.id}")
    if not report.drugs:
        yield _problem(GENERIC_REQUIRED, element="G.k.2.2")


def _texts(message: E2bMessage) -> Iterator[tuple[str, str | None, str | None]]:
    """(element, value, location) for every text the element table bounds."""
    report, patient = message.report, message.report.patient
    yield from (("N.1.2", message.batch_id, None), ("N.1.3", message.batch_sender, None),
                ("N.1.4", message.batch_receiver, None),
                ("N.2.r.1", message.message_id, None), ("N.2.r.2", message.sender_id, None),
                ("N.2.r.3", message.receiver_id, None),
                ("C.1.1", report.sender_report_id, None),
                ("C.1.8.1", report.worldwide_id, None),
                ("C.1.11.2", report.nullification_reason, None),
                ("C.3.2", report.sender_organisation, None), ("H.1", report.narrative, None),
                ("H.4", report.sender_comment, None), ("D.1", patient.initials, None),
                ("D.7.2", patient.medical_history_text, None))
    yield from (("C.1.9.1.r.2", other, None) for other in report.other_case_ids)
    yield from (("C.1.10.r", linked, None) for linked in report.linked_reports)
    for element, number in (("D.2.2a", patient.age), ("D.3", patient.weight_kg),
                            ("D.4", patient.height_cm)):
        yield element, None if number is None else number_text(number), None
    for coded in patient.medical_history:
        yield "D.7.1.r.1b", coded.code, f"medical history {coded.term}"
        yield "D.7.1.r.1a", coded.version, f"medical history {coded.term}"
    for n, source in enumerate(report.primary_sources, 1):
        where = f"primary source {n}"
        yield from (("C.2.r.1.2", source.given_name, where),
                    ("C.2.r.1.4", source.family_name, where),
                    ("C.2.r.2.1", source.organisation, where))
    for reaction in report.reactions:
        where = f"reaction {reaction.id}"
        yield "E.i.1.2", reaction.verbatim, where
        if reaction.coded is not None:
            yield "E.i.2.1b", reaction.coded.code, where
            yield "E.i.2.1a", reaction.coded.version, where
    for drug in report.drugs:
        yield from _drug_texts(drug)
    for assessment in report.causality:
        where = f"drug {assessment.drug_id} / reaction {assessment.reaction_id}"
        yield from (("G.k.9.i.2.r.1", assessment.source, where),
                    ("G.k.9.i.2.r.2", assessment.method, where),
                    ("G.k.9.i.2.r.3", assessment.result, where))


def _drug_texts(drug: Drug) -> Iterator[tuple[str, str | None, str | None]]:
    where = f"drug {drug.id}"
    yield from (("G.k.2.2", drug.product_name, where), ("G.k.2.1.1b", drug.ndc, where),
                ("G.k.3.3", drug.manufacturer, where), ("G.k.4.r.8", drug.dose_text, where),
                ("G.k.4.r.1b", drug.dose_unit, where), ("G.k.4.r.10.1", drug.route, where),
                ("G.k.7.r.1", drug.indication, where))
    yield "G.k.4.r.1a", None if drug.dose_value is None else number_text(drug.dose_value), where
    yield from (("G.k.2.3.r.1", substance, where) for substance in drug.substances)
    yield from (("G.k.4.r.7", lot, where) for lot in drug.lot_numbers)


@_implements(GENERIC_MAX_LENGTH)
def _lengths(ctx: _Context) -> Iterator[Problem]:
    limits = max_lengths()
    for element, value, where in _texts(ctx.message):
        if value is not None and len(value) > limits[element]:
            yield _problem(GENERIC_MAX_LENGTH, element=element, location=where)


def _earliest(partial: str) -> date:
    """The first day a PartialDate can mean ("2022" -> 2022-01-01)."""
    parts = [int(x) for x in partial.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def _latest(partial: str) -> date:
    """The last day a PartialDate can mean ("2022-02" -> 2022-02-28)."""
    parts = [int(x) for x in partial.split("-")]
    if len(parts) == 3:
        return date(parts[0], parts[1], parts[2])
    if len(parts) == 1:
        return date(parts[0], 12, 31)
    following = date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
    return following - timedelta(days=1)


def _dates(message: E2bMessage) -> Iterator[tuple[str, date | None, str | None]]:
    """(element, earliest day meant, location) for every date the message carries."""
    report, patient = message.report, message.report.patient
    for element, stamp in (("N.1.5", message.batch_created),
                           ("N.2.r.4", message.message_created),
                           ("C.1.2", message.report_created)):
        yield element, None if stamp is None else stamp.date(), None
    yield "C.1.4", report.first_received, None
    yield "C.1.5", report.latest_received, None
    for element, partial in (("D.2.1", patient.birth_date), ("D.9.1", patient.died_on)):
        yield element, None if partial is None else _earliest(partial), None
    for reaction in report.reactions:
        for element, partial in (("E.i.4", reaction.start), ("E.i.5", reaction.end)):
            yield (element, None if partial is None else _earliest(partial),
                   f"reaction {reaction.id}")
    for drug in report.drugs:
        for element, partial in (("G.k.4.r.4", drug.start), ("G.k.4.r.5", drug.end)):
            yield element, None if partial is None else _earliest(partial), f"drug {drug.id}"


@_implements(GENERIC_FUTURE)
def _future(ctx: _Context) -> Iterator[Problem]:
    for element, day, where in _dates(ctx.message):
        if day is not None and day > ctx.today:
            yield _problem(GENERIC_FUTURE, element=element, location=where)


@_implements(GENERIC_PRECISION)
def _precision(ctx: _Context) -> Iterator[Problem]:
    # C.1.4 and C.1.5 cannot be imprecise here: the reader refuses them. D.2.1's minimum
    # precision is the day too (ICH business rule in the element table).
    birth = ctx.report.patient.birth_date
    if birth is not None and len(birth) < 10:
        yield _problem(GENERIC_PRECISION, element="D.2.1")


# --- medsafe's consistency checks -------------------------------------------------------

def _consistency(rule_id: str, element: str, message: str) -> Callable[[_Check], _Check]:
    _CONSISTENCY[rule_id] = Rule(rule_id, element, "warning", message,
                                 "a later date cannot come before the earlier one",
                                 source="medsafe")
    return _implements(rule_id)


def _before(end: str | None, start: str | None) -> bool:
    """True when `end` certainly lies before `start`, whatever their precision."""
    return end is not None and start is not None and _latest(end) < _earliest(start)


@_consistency("MEDSAFE-C.1.5-ORDER", "C.1.5", "C.1.5 is earlier than C.1.4")
def _received_order(ctx: _Context) -> Iterator[Problem]:
    if ctx.report.latest_received < ctx.report.first_received:
        yield _problem("MEDSAFE-C.1.5-ORDER")


@_consistency("MEDSAFE-E.i.5-ORDER", "E.i.5", "E.i.5 is earlier than E.i.4")
def _reaction_order(ctx: _Context) -> Iterator[Problem]:
    for reaction in ctx.report.reactions:
        if _before(reaction.end, reaction.start):
            yield _problem("MEDSAFE-E.i.5-ORDER", location=f"reaction {reaction.id}")


@_consistency("MEDSAFE-G.k.4.r.5-ORDER", "G.k.4.r.5", "G.k.4.r.5 is earlier than G.k.4.r.4")
def _drug_order(ctx: _Context) -> Iterator[Problem]:
    for drug in ctx.report.drugs:
        if _before(drug.end, drug.start):
            yield _problem("MEDSAFE-G.k.4.r.5-ORDER", location=f"drug {drug.id}")


@_consistency("MEDSAFE-D.9.1-ORDER", "D.9.1", "D.9.1 is earlier than D.2.1")
def _death_order(ctx: _Context) -> Iterator[Problem]:
    patient = ctx.report.patient
    if _before(patient.died_on, patient.birth_date):
        yield _problem("MEDSAFE-D.9.1-ORDER")


# --- public API -----------------------------------------------------------------------

def implemented_rules() -> tuple[Rule, ...]:
    """The rules of FDA's table this module checks, in table order."""
    table = table_rules()
    claimed = {rule_id for ids, _ in _CHECKS for rule_id in ids if rule_id not in _CONSISTENCY}
    unknown = claimed - table.keys()
    if unknown:
        raise KnowledgeError(f"E2B validation claims rules FDA's table does not have: "
                             f"{', '.join(sorted(unknown))}")
    return tuple(rule for rule_id, rule in table.items() if rule_id in claimed)


def consistency_rules() -> tuple[Rule, ...]:
    """medsafe's own checks (warnings), not counted among FDA's rules."""
    return tuple(_CONSISTENCY.values())


def validate_message(message: E2bMessage, *, today: date,
                     known_cases: Collection[str] | None = None) -> tuple[Problem, ...]:
    """Every problem of one message. `today` is the day future dates are judged against;
    `known_cases` are the worldwide case ids (C.1.8.1) already received, which tells an
    initial report from a follow-up (R0101); None means unknown, and R0101 is skipped."""
    ctx = _Context(message, today, known_cases)
    return tuple(problem for _, check in _CHECKS for problem in check(ctx))


def validate_batch(messages: Sequence[E2bMessage], *, today: date,
                   known_cases: Collection[str] | None = None) -> list[tuple[Problem, ...]]:
    """The problems of each message, in the batch's order (for `ack.acknowledgement`)."""
    return [validate_message(m, today=today, known_cases=known_cases) for m in messages]
