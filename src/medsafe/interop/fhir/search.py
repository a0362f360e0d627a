"""FHIR R4 search on medsafe's /fhir endpoints: which parameters each resource takes, how
a query string is read (and refused), how dates are compared, and the `searchset` Bundle
a search answers with, with its paging links: pure, no I/O. At the end, the AdverseEvent
search itself (a use case over the store; see the note there).

Sources: hl7.org/fhir/R4/search.html (the date type and its prefixes eq ne gt lt ge le
sa eb ap, where a date given to a precision is the range of instants it covers, and the
result parameter `_count`); hl7.org/fhir/R4/bundle.html (a searchset carries `total`,
`link` with relations self / first / previous / next, and per entry `fullUrl` and
`search.mode` "match"); hl7.org/fhir/R4/http.html (the search-type interaction). The R4
search parameter registry names AdverseEvent's `subject` and `date`
(AdverseEvent.subject, AdverseEvent.date), Communication's `patient` and DetectedIssue's
`patient`; R4 has no `patient` parameter for AdverseEvent (R5 added one), so medsafe
declares its own, with the same meaning as `subject=Patient/<id>`.

What is refused, and how (strict handling, so a client learns that a filter was not
applied, rather than the lenient "ignore what you do not know" the specification also
allows): an unknown parameter, a modifier
(`patient:missing`), a comparison medsafe does not do (`ap`) or a list of dates is
`not-supported`; a malformed value (a date that is not a date, `_count=-1`) is `invalid`.
Both are 400 with an OperationOutcome, built here by `refusal`.

`_count` is bounded by `MAX_COUNT` and defaults to `DEFAULT_COUNT` (configurable local
policy, not a FHIR rule: the specification lets the server return fewer). Paging is by
`_offset` (medsafe's own parameter, as FHIR leaves the paging mechanism to the server);
`next` and `previous` links carry it, so a client follows links and never builds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from pydantic import BaseModel
from sqlalchemy import Select, and_, func, select

from medsafe.cases import service as case_service
from medsafe.cases.model import CaseReport
from medsafe.errors import Invalid, NotFound
from medsafe.interop.fhir.adverse_event import case_to_fhir
from medsafe.records import require_role
from medsafe.security.permissions import visible_cases, visible_patients
from medsafe.security.principal import Principal
from medsafe.store.schema import Case, CaseReaction, CaseVersion, Patient
from medsafe.store.uow import UnitOfWork

DEFAULT_COUNT = 20
"""Entries on a page when the client gives no `_count` (configurable local policy)."""
MAX_COUNT = 100
"""The most entries a page holds, whatever `_count` asks (configurable local policy): a
page of AdverseEvents parses one stored case report per entry."""
MAX_OFFSET = 1_000_000
MAX_PATIENTS = 20
"""The most patients one `patient` parameter may list (comma-separated, any of them)."""

ParamType = Literal["reference", "date", "token"]
IssueCode = Literal["not-supported", "invalid"]


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter a resource takes: as the CapabilityStatement declares it, so
    the statement and the parser cannot disagree."""

    name: str
    type: ParamType
    documentation: str
    definition: str | None = None  # the HL7 SearchParameter it implements, when it does


_HL7 = "http://hl7.org/fhir/SearchParameter/"
_PATIENT_DOC = ("The patient, by medsafe pseudonym: `PT-...`, `Patient/PT-...` or an "
                "absolute URL ending so; a comma-separated list matches any of them")

SEARCH_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "AdverseEvent": (
        SearchParam("patient", "reference", _PATIENT_DOC + " (medsafe's own parameter: R4 "
                    "has only `subject` for AdverseEvent)"),
        SearchParam("subject", "reference", "Subject impacted by event: Patient/<pseudonym>",
                    _HL7 + "AdverseEvent-subject"),
        SearchParam("date", "date", "When the event occurred (AdverseEvent.date, the "
                    "reaction's start); repeat it for a range: date=ge2026-01-01&"
                    "date=le2026-03-31", _HL7 + "AdverseEvent-date"),
    ),
    "Communication": (
        SearchParam("patient", "reference", _PATIENT_DOC, _HL7 + "Communication-patient"),
    ),
    "DetectedIssue": (
        SearchParam("patient", "reference", _PATIENT_DOC, _HL7 + "clinical-patient"),
    ),
}
"""The search parameters each searchable resource takes (besides `RESULT_PARAMS`)."""

RESULT_PARAMS = ("_count", "_offset", "_format")
_JSON_FORMATS = ("json", "application/json", "application/fhir+json")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DATE = re.compile(r"(?P<prefix>[a-z]{2})?(?P<value>[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?)")
Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"]
_PREFIXES: tuple[Prefix, ...] = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


class SearchRefused(Invalid):
    """A search medsafe will not run, with the OperationOutcome issue code it answers
    with (400): `not-supported` for what medsafe does not do, `invalid` for a bad value."""

    def __init__(self, message: str, *, code: IssueCode, where: str) -> None:
        super().__init__(message, where=where)
        self.code = code


# -- dates ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DateRange:
    """A date as precise as it was given ("2026", "2026-03", "2026-03-14") is the range of
    days it covers: [first, after) with `after` the day after the last."""

    first: date
    after: date

    @classmethod
    def of(cls, text: str) -> DateRange:
        """The range of a partial date; ValueError when it is not a calendar date."""
        parts = [int(part) for part in text.split("-")]
        if len(parts) == 1:
            return cls(date(parts[0], 1, 1), date(parts[0] + 1, 1, 1))
        if len(parts) == 2:
            first = date(parts[0], parts[1], 1)
            after = (date(parts[0] + 1, 1, 1) if parts[1] == 12
                     else date(parts[0], parts[1] + 1, 1))
            return cls(first, after)
        day = date(parts[0], parts[1], parts[2])
        return cls(day, day + timedelta(days=1))


@dataclass(frozen=True, slots=True)
class DateCriterion:
    """One `date` parameter: a prefix and the range of the date it names."""

    prefix: Prefix
    range: DateRange

    def matches(self, target: DateRange) -> bool:
        """R4 search.html, date prefixes, with both values as ranges: eq when the search
        range contains the target's; gt/lt when the target reaches above/below the search
        range; ge/le are gt/lt or eq; sa/eb when the target starts after/ends before it."""
        s, t = self.range, target
        equal = s.first <= t.first and t.after <= s.after
        rule = {"eq": equal, "ne": not equal,
                "gt": t.after > s.after, "lt": t.first < s.first,
                "ge": t.after > s.after or equal, "le": t.first < s.first or equal,
                "sa": t.first >= s.after, "eb": t.after <= s.first}
        return rule[self.prefix]


def parse_date(text: str, name: str = "date") -> DateCriterion:
    """`ge2026-01-01` and the like. A time of day is refused: the dates medsafe searches
    on (a reaction's start) are days at most."""
    if "," in text:
        raise SearchRefused(f"a list of dates ('{text}') is not supported; repeat the "
                            f"parameter for a range instead ({name}=ge...&{name}=le...)",
                            code="not-supported", where=name)
    found = _DATE.fullmatch(text)
    if found is None:
        raise SearchRefused(f"'{text}' is not a date: expected an optional prefix "
                            f"({', '.join(_PREFIXES)}) and YYYY, YYYY-MM or YYYY-MM-DD",
                            code="invalid", where=name)
    prefix = found["prefix"] or "eq"
    if prefix == "ap":
        raise SearchRefused("the prefix 'ap' (approximately) is not supported; use ge and "
                            "le for a range", code="not-supported", where=name)
    if prefix not in _PREFIXES:
        raise SearchRefused(f"unknown prefix '{prefix}' (prefixes: {', '.join(_PREFIXES)})",
                            code="invalid", where=name)
    try:
        target = DateRange.of(found["value"])
    except ValueError:
        raise SearchRefused(f"'{found['value']}' is not a calendar date", code="invalid",
                            where=name) from None
    chosen: Prefix = next(p for p in _PREFIXES if p == prefix)
    return DateCriterion(chosen, target)


def date_matches(criteria: Sequence[DateCriterion], value: str | None) -> bool:
    """Whether a stored partial date meets every criterion (repeated parameters AND). A
    resource without the date matches no date criterion, as the specification says."""
    if not criteria:
        return True
    if value is None:
        return False
    try:
        target = DateRange.of(value[:10])
    except ValueError:
        return False
    return all(criterion.matches(target) for criterion in criteria)


# -- the query string -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Search:
    """A search as medsafe runs it. `patients` None: any patient; a set: one of these
    pseudonyms (empty: none can match, e.g. `subject=Group/1`)."""

    resource_type: str
    patients: frozenset[str] | None
    dates: tuple[DateCriterion, ...]
    count: int
    offset: int
    criteria: tuple[tuple[str, str], ...]  # the parameters as given, to rebuild links


def parse_search(resource_type: str, pairs: Iterable[tuple[str, str]]) -> Search:
    """Read a query string (as (name, value) pairs, repeats kept) for `resource_type`.
    Raises SearchRefused for anything medsafe does not do or cannot read."""
    allowed = {param.name: param for param in SEARCH_PARAMS[resource_type]}
    patients: frozenset[str] | None = None
    dates: list[DateCriterion] = []
    count, offset = DEFAULT_COUNT, 0
    criteria: list[tuple[str, str]] = []
    for raw_name, value in pairs:
        name, _, modifier = raw_name.partition(":")
        if name not in allowed and name not in RESULT_PARAMS:
            known = ", ".join([*allowed, *RESULT_PARAMS])
            raise SearchRefused(f"{resource_type} has no search parameter '{name}' here "
                                f"(supported: {known})", code="not-supported", where=name)
        if modifier:
            raise SearchRefused(f"the modifier ':{modifier}' is not supported on '{name}'",
                                code="not-supported", where=raw_name)
        if name == "_count":
            count = min(_integer(value, name, 0, None), MAX_COUNT)
            continue
        if name == "_offset":
            offset = _integer(value, name, 0, MAX_OFFSET)
            continue
        if name == "_format":
            if value not in _JSON_FORMATS:
                raise SearchRefused(f"only JSON is served ({', '.join(_JSON_FORMATS)})",
                                    code="not-supported", where=name)
            continue
        if not value:
            raise SearchRefused(f"'{name}' needs a value", code="invalid", where=name)
        criteria.append((name, value))
        if allowed[name].type == "date":
            dates.append(parse_date(value, name))
        else:
            named = _patients(value, name)
            patients = named if patients is None else patients & named
    return Search(resource_type, patients, tuple(dates), count, offset, tuple(criteria))


def _integer(text: str, name: str, low: int, high: int | None) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise SearchRefused(f"'{text}' is not a whole number of at least {low}",
                            code="invalid", where=name)
    number = int(text)
    if number < low or (high is not None and number > high):
        raise SearchRefused(f"{number} is out of range ({low} to {high})", code="invalid",
                            where=name)
    return number


def _patients(value: str, name: str) -> frozenset[str]:
    """Pseudonyms from `PT-X`, `Patient/PT-X` or `https://host/fhir/Patient/PT-X`, comma-
    separated. A reference to another resource type names no patient: it matches none."""
    items = value.split(",")
    if len(items) > MAX_PATIENTS:
        raise SearchRefused(f"at most {MAX_PATIENTS} patients in one '{name}'",
                            code="invalid", where=name)
    found: set[str] = set()
    for item in items:
        parts = item.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] != "Patient":
            continue  # e.g. subject=Group/1: no AdverseEvent of medsafe has that subject
        if not _ID.fullmatch(parts[-1]):
            raise SearchRefused(f"'{item}' is not a patient reference (a pseudonym such "
                                "as PT-ABCDEFGHJK, or Patient/<pseudonym>)",
                                code="invalid", where=name)
        found.add(parts[-1])
    return frozenset(found)


# -- the answer -------------------------------------------------------------------------------

def searchset(search: Search, base: str, resources: Sequence[dict[str, Any]],
              total: int) -> dict[str, Any]:
    """The searchset Bundle of one page: `resources` (already valid R4 JSON) as matches,
    `total` the number of matches across all pages, links self and first, and previous
    and next where there are such pages. `base` is the server's FHIR base URL."""
    links = [("self", search.offset), ("first", 0)]
    if search.offset > 0 and search.count > 0:
        links.append(("previous", max(0, search.offset - search.count)))
    if search.count > 0 and search.offset + search.count < total:
        links.append(("next", search.offset + search.count))
    bundle = {
        "resourceType": "Bundle", "type": "searchset", "total": total,
        "link": [{"relation": relation, "url": page_url(search, base, offset)}
                 for relation, offset in links],
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                   "search": {"mode": "match"}} for r in resources],
    }
    if not resources:
        del bundle["entry"]
    return validated(Bundle, bundle)


def page_url(search: Search, base: str, offset: int) -> str:
    query = [*search.criteria, ("_count", str(search.count)), ("_offset", str(offset))]
    return f"{base}/{search.resource_type}?{urlencode(query)}"


def refusal(error: SearchRefused) -> dict[str, Any]:
    """The OperationOutcome of a refused search (answered with 400)."""
    return validated(OperationOutcome, {
        "resourceType": "OperationOutcome",
        # The parameter is named in the diagnostics: `expression` is for FHIRPaths into a
        # resource, which a query parameter is not.
        "issue": [{"severity": "error", "code": error.code,
                   "diagnostics": error.message}]})


def validated(model: type[BaseModel], document: dict[str, Any]) -> dict[str, Any]:
    """Our own output checked against the R4 model and returned as FHIR JSON. A failure is
    a bug in medsafe (it raises pydantic's ValidationError: a 500, logged)."""
    parsed = model.model_validate(document)
    result: dict[str, Any] = json.loads(parsed.model_dump_json())
    return result


# -- the AdverseEvent search (a cases use case that lives here for now) -----------------------
# It belongs in cases/service.py beside `list_cases`; it uses that module's visibility
# (`visible_cases`) and de-identification (`sees_identities`, `de_identified`) unchanged,
# so a search shows exactly the cases, and the parts of them, that a read would.

_BATCH = 500


def search_adverse_events(uow: UnitOfWork, principal: Principal, search: Search
                          ) -> tuple[list[dict[str, Any]], int]:
    """One page of AdverseEvents (one per reaction, in case then reaction order) of the
    cases the caller may see, and how many match in all. External cases (FAERS, VAERS)
    are left out, as the `all` inbox leaves them out.

    Without a date the page is found in SQL over the reaction index; with one, every
    candidate case's stored report is read, since a reaction's start (a partial date) is
    not indexed: fine for one patient's cases, slow for a date over the whole store."""
    require_role(principal, case_service.READERS, "search cases")
    shown = (select(Case.id).outerjoin(Patient, and_(Patient.id == Case.patient_id,
                                                     visible_patients(principal)))
             .where(visible_cases(principal), Case.status != "external"))
    if search.patients is not None:
        shown = shown.where(Patient.pseudonym.in_(sorted(search.patients)))
    if search.dates:
        matches = _dated_matches(uow, shown, search.dates)
        total, page = len(matches), matches[search.offset:search.offset + search.count]
    else:
        reactions = (select(CaseReaction.case_id, CaseReaction.id)
                     .where(CaseReaction.case_id.in_(shown)))
        total = uow.session.execute(
            select(func.count()).select_from(reactions.subquery())).scalar_one()
        rows = uow.session.execute(
            reactions.order_by(CaseReaction.case_id, CaseReaction.id)
            .offset(search.offset).limit(search.count)).all() if search.count else []
        page = _positions(uow, [(case_id, reaction_id) for case_id, reaction_id in rows])
    return _events(uow, principal, page), total


def _dated_matches(uow: UnitOfWork, shown: Select[int],
                   dates: Sequence[DateCriterion]) -> list[tuple[int, int]]:
    """(case id, 0-based reaction index) of every reaction whose start meets `dates`."""
    matches: list[tuple[int, int]] = []
    last = 0
    while True:
        batch = uow.session.execute(
            select(Case.id, CaseVersion.payload)
            .join(CaseVersion, and_(CaseVersion.case_id == Case.id,
                                    CaseVersion.version == Case.version))
            .where(Case.id.in_(shown), Case.id > last).order_by(Case.id).limit(_BATCH)).all()
        for case_id, payload in batch:
            # The canonical JSON of a CaseReport: reading two keys needs no full parse.
            reactions = json.loads(payload).get("reactions", [])
            matches.extend((case_id, n) for n, reaction in enumerate(reactions)
                           if date_matches(dates, reaction.get("start")))
        if len(batch) < _BATCH:
            return matches
        last = batch[-1][0]


def _positions(uow: UnitOfWork, rows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(case id, reaction index) for index rows: the index holds a case's reactions in the
    report's order, one row each."""
    cases = sorted({case_id for case_id, _ in rows})
    order: dict[int, list[int]] = {}
    for case_id, reaction_id in uow.session.execute(
            select(CaseReaction.case_id, CaseReaction.id)
            .where(CaseReaction.case_id.in_(cases))
            .order_by(CaseReaction.case_id, CaseReaction.id)).all():
        order.setdefault(case_id, []).append(reaction_id)
    return [(case_id, order[case_id].index(reaction_id)) for case_id, reaction_id in rows]


def _events(uow: UnitOfWork, principal: Principal,
            page: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    built: dict[int, list[dict[str, Any]]] = {}
    for case_id in dict.fromkeys(case_id for case_id, _ in page):
        report, reference = case_report(uow, principal, case_id)
        built[case_id] = adverse_events(report, str(case_id), reference)
    return [built[case_id][n] for case_id, n in page if n < len(built[case_id])]


def case_report(uow: UnitOfWork, principal: Principal,
                case_id: int) -> tuple[CaseReport, str | None]:
    """A visible case's current report, de-identified as `read_case` would show it, and
    its `patient_reference`."""
    row = case_service.find_case(uow, principal, case_id)
    version = uow.cases.version(row.id, row.version)
    if version is None:
        raise NotFound(f"case {row.id} has no version {row.version}")
    report = CaseReport.model_validate_json(version.payload)
    if not case_service.sees_identities(principal, row):
        report = case_service.de_identified(report)
    return report, patient_reference(uow, principal, row)


def patient_reference(uow: UnitOfWork, principal: Principal, row: Case) -> str | None:
    """`Patient/<pseudonym>` when the case is about a patient the caller may see (so the
    AdverseEvent's subject is the patient a `patient` search names); None otherwise, and
    the subject stays the contained, de-identified patient."""
    if row.patient_id is None:
        return None
    pseudonym = uow.session.execute(
        select(Patient.pseudonym).where(Patient.id == row.patient_id,
                                        visible_patients(principal))).scalar_one_or_none()
    return None if pseudonym is None else f"Patient/{pseudonym}"


def adverse_events(report: CaseReport, case_id: str,
                   patient_reference: str | None) -> list[dict[str, Any]]:
    """The case's AdverseEvents, one per reaction in order (ids `<case>`, or `<case>-<n>`
    when there are several), each valid R4 JSON."""
    written = case_to_fhir(report, case_id=case_id, patient_reference=patient_reference)
    if written["resourceType"] == "Bundle":
        return [entry["resource"] for entry in written.get("entry", [])]
    return [written]
