"""Case intake: every report, whatever way it arrives (form, API, E2B, FHIR, FAERS,
VAERS, the demo population), is stored here, as a new case or as a new version of the
case it belongs to.

- Idempotent: a report whose worldwide id and content are already held is the same
  report sent twice, and nothing is written (the API's idempotency keys cover reports
  without a worldwide id of their own, which get one minted here).
- Day 0 is E2B's: C.1.4, the day the sender first received the minimum information,
  starts the expedited clock of a serious and unexpected case, and C.1.5, the date of
  the most recent information, starts the clock of a significant follow-up. A report
  typed into medsafe's own form is first received on the day it is typed.
- National databases (FAERS, VAERS) are `external`: held for signal detection, outside
  the workflow and without clocks, since their reporting obligations were someone
  else's.
- Bulk imports insert new cases in batches through Core; follow-ups within them take the
  single-case path. One audit event records each import, and one each single intake.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from medsafe.cases.model import CaseReport, Drug
from medsafe.cases.prepare import Judgement, judge, recognise_drugs
from medsafe.cases.rules import DEFAULT_REGION, ClockRule, clock_rule
from medsafe.cases.versions import Kind, classify, payload_hash
from medsafe.cases.workflow import after_follow_up
from medsafe.errors import Conflict
from medsafe.knowledge.catalog import Catalog
from medsafe.records import now
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.uow import UnitOfWork

Source = Literal["form", "api", "e2b", "fhir", "faers", "vaers", "population"]
EXTERNAL_SOURCES: frozenset[str] = frozenset({"faers", "vaers"})
BATCH = 2000


@dataclass(frozen=True, slots=True)
class Receipt:
    """How a batch of reports arrived."""

    source: Source
    region: str = DEFAULT_REGION
    patient_id: int | None = None  # the patient record the report is about, if known
    reported_by_id: int | None = None
    synthetic: bool = False
    patients: Mapping[str, int] = field(default_factory=dict)
    """Patient records by worldwide id, for a batch about several known patients."""
    reopens: bool = True
    """A version from outside (a follow-up) sends the case back to triage; one the safety
    team makes itself (a correction during data entry, a merge) leaves it where it is."""

    @property
    def external(self) -> bool:
        return self.source in EXTERNAL_SOURCES

    def rule(self) -> ClockRule:
        return clock_rule(self.region)

    def patient_of(self, report: CaseReport) -> int | None:
        return self.patients.get(report.worldwide_id, self.patient_id)


@dataclass(frozen=True, slots=True)
class Stored:
    case_id: int
    worldwide_id: str
    version: int
    kind: Kind


@dataclass(slots=True)
class ImportTally:
    new: int = 0
    follow_ups: int = 0
    nullified: int = 0
    same: int = 0
    stored: list[Stored] = field(default_factory=list)

    def add(self, stored: Stored) -> None:
        self.stored.append(stored)
        if stored.kind == "initial":
            self.new += 1
        elif stored.kind == "follow_up":
            self.follow_ups += 1
        elif stored.kind == "nullification":
            self.nullified += 1
        else:
            self.same += 1


def mint_worldwide_id(country: str = "US") -> str:
    """A worldwide unique case id for a report medsafe is the first to receive, in E2B's
    country-sender-number pattern."""
    return f"{country}-MEDSAFE-{uuid.uuid4().hex[:16].upper()}"


def form_worldwide_id(secret: str, user_id: int, submission: str, country: str = "US") -> str:
    """The worldwide id of a report typed into a form, derived from the form's one-time
    submission token and the signed-in user: the same form sent twice (a double click, a
    browser retry) is the same case, and nobody can aim a token at another user's case."""
    digest = hmac.new(secret.encode(), f"{user_id}:{submission}".encode(), hashlib.sha256)
    return f"{country}-MEDSAFE-{digest.hexdigest()[:16].upper()}"


def store_reports(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                  reports: Iterable[CaseReport], receipt: Receipt, *,
                  keep: bool = False,
                  on_batch: Callable[[int], None] | None = None) -> ImportTally:
    """Store reports (without committing: the caller decides, so an import can be all or
    nothing). `keep`: remember each stored case in the tally (single intakes want it,
    bulk imports of 400,000 cases do not)."""
    return store_prepared(uow, principal, catalog,
                          prepared_from(reports, catalog, receipt, principal), receipt,
                          keep=keep, on_batch=on_batch)


def prepared_from(reports: Iterable[CaseReport], catalog: Catalog, receipt: Receipt,
                  principal: Principal) -> Iterator[Prepared]:
    """Each report prepared as a new case, its drugs recognised first."""
    rule = receipt.rule()
    moment = now()
    recorded_by = principal.user_id or None
    for report in reports:
        yield prepare(recognise_drugs(report, catalog), catalog, rule, receipt, recorded_by,
                      moment)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A report's rows as a new case, computed without the database, so that a bulk
    import can prepare them in another process: the case row (without its id), its first
    version (without the case id) and its drug and reaction index."""

    worldwide_id: str
    case: dict[str, Any]
    version: dict[str, Any]
    drugs: list[dict[str, Any]]
    reactions: list[dict[str, Any]]

    def report(self) -> CaseReport:
        return CaseReport.model_validate_json(self.version["payload"])


def prepare(report: CaseReport, catalog: Catalog, rule: ClockRule, receipt: Receipt,
            recorded_by: int | None, moment: datetime) -> Prepared:
    """The rows of `report` (its drugs already recognised) as a new case."""
    judged = judge(report, catalog, rule,
                   clock_starts=None if receipt.external else report.first_received)
    drugs, reactions = index_rows(report)
    return Prepared(report.worldwide_id, _case_row(report, judged, receipt, moment),
                    _version_row(1, "initial", True, (), report, receipt, recorded_by,
                                 moment), drugs, reactions)


def store_prepared(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                   prepared: Iterable[Prepared], receipt: Receipt, *, keep: bool = False,
                   on_batch: Callable[[int], None] | None = None) -> ImportTally:
    """`store_reports` for reports already prepared (here or in another process), in
    batches: each batch looks up which worldwide ids are held with one query."""
    tally = ImportTally()
    rule = receipt.rule()
    for batch in _batches(prepared):
        _store_prepared_batch(uow, principal, catalog, batch, receipt, rule, tally, keep)
        if on_batch:
            on_batch(len(batch))
    return tally


def _batches(items: Iterable[Prepared]) -> Iterator[tuple[Prepared, ...]]:
    """Tuples of up to BATCH items (`itertools.batched` arrives only in Python 3.12)."""
    iterator = iter(items)
    while batch := tuple(itertools.islice(iterator, BATCH)):
        yield batch


def _store_prepared_batch(uow: UnitOfWork, principal: Principal, catalog: Catalog,
                          prepared: Sequence[Prepared], receipt: Receipt, rule: ClockRule,
                          tally: ImportTally, keep: bool) -> None:
    held = uow.cases.ids_by_worldwide_id({p.worldwide_id for p in prepared})
    fresh: dict[str, Prepared] = {}
    later: list[Prepared] = []
    for item in prepared:
        if item.worldwide_id in held or item.worldwide_id in fresh:
            later.append(item)
        else:
            fresh[item.worldwide_id] = item
    for stored in _insert_new(uow, list(fresh.values())):
        _count(tally, stored, keep)
    for item in later:
        _count(tally, _arrive(uow, principal, catalog, item.report(), receipt, rule), keep)


def _count(tally: ImportTally, stored: Stored, keep: bool) -> None:
    tally.add(stored)
    if not keep:
        tally.stored.clear()


def _insert_new(uow: UnitOfWork, prepared: Sequence[Prepared]) -> list[Stored]:
    if not prepared:
        return []
    ids = uow.cases.insert_cases([p.case for p in prepared])
    versions: list[dict[str, Any]] = []
    drugs: list[dict[str, Any]] = []
    reactions: list[dict[str, Any]] = []
    for case_id, item in zip(ids, prepared, strict=True):
        versions.append({**item.version, "case_id": case_id})
        drugs.extend({**row, "case_id": case_id} for row in item.drugs)
        reactions.extend({**row, "case_id": case_id} for row in item.reactions)
    uow.cases.insert_versions(versions)
    uow.cases.insert_index(_link_lots(uow, drugs), reactions)
    return [Stored(i, p.worldwide_id, 1, "initial") for i, p in zip(ids, prepared, strict=True)]


def _arrive(uow: UnitOfWork, principal: Principal, catalog: Catalog, report: CaseReport,
            receipt: Receipt, rule: ClockRule) -> Stored:
    """A report for a case already held: the same report again, a follow-up or a
    nullification."""
    case = uow.cases.by_worldwide_id(report.worldwide_id)
    if case is None:  # never: a batch inserts its new cases before their follow-ups
        raise Conflict(f"case {report.worldwide_id} vanished during the import")
    latest_row = uow.cases.version(case.id, case.version)
    assert latest_row is not None
    latest = CaseReport.model_validate_json(latest_row.payload)
    arrival = classify(report, latest, uow.cases.hashes(case.id))
    if arrival.kind == "same":
        return Stored(case.id, case.worldwide_id, case.version, "same")
    version = case.version + 1
    moment = now()
    if arrival.significant and not receipt.external:
        clock_starts: date | None = report.latest_received
    elif case.status != "submitted":
        clock_starts = case.day_zero
    else:
        clock_starts = None  # the obligation was met and nothing significant is new
    judgement = judge(report, catalog, rule, clock_starts=clock_starts)
    values = _judged_columns(judgement)
    values.update(version=version, latest_received=report.latest_received,
                  qualification=report.reporter_qualification(), updated_at=moment,
                  nullified=report.nullified)
    if report.nullified:
        values.update(expedited=False, due_on=None, day_zero=None)
    if case.status != "external" and receipt.reopens:
        values["status"] = after_follow_up(case.status)
        values["follow_up_pending"] = case.status == "medical_review"
    uow.cases.insert_versions([{**_version_row(version, arrival.kind, arrival.significant,
                                               arrival.changes, report, receipt,
                                               principal.user_id or None, moment),
                                "case_id": case.id}])
    drugs, reactions = index_rows(report)
    uow.cases.replace_index(
        case.id, _link_lots(uow, [{**row, "case_id": case.id} for row in drugs]),
        [{**row, "case_id": case.id} for row in reactions])
    uow.cases.update_case(case.id, values)
    if not receipt.external:
        audit.record(uow, principal, f"case.{arrival.kind}", "case", case.id,
                     {"worldwide_id": case.worldwide_id, "version": version,
                      "changes": list(arrival.changes)})
    return Stored(case.id, case.worldwide_id, version, arrival.kind)


def _judged_columns(j: Judgement) -> dict[str, Any]:
    return {"valid": j.valid, "invalid_reasons": "; ".join(j.invalid_reasons) or None,
            "serious": j.serious, "expedited": j.expedited, "day_zero": j.day_zero,
            "due_on": j.due_on, "primary_term": j.primary_term,
            "primary_suspect": j.primary_suspect}


def _case_row(report: CaseReport, j: Judgement, receipt: Receipt,
              moment: Any) -> dict[str, Any]:
    row = _judged_columns(j)
    row.update(
        worldwide_id=report.worldwide_id,
        status="external" if receipt.external else "triage",
        version=1, source=receipt.source, patient_id=receipt.patient_of(report),
        reported_by_id=receipt.reported_by_id,
        qualification=report.reporter_qualification(), nullified=report.nullified,
        first_received=report.first_received, latest_received=report.latest_received,
        locked_by_id=None, follow_up_pending=False, merged_into_id=None,
        synthetic=receipt.synthetic, updated_at=moment)
    return row


def _version_row(version: int, kind: str, significant: bool, changes: Sequence[str],
                 report: CaseReport, receipt: Receipt, recorded_by: int | None,
                 moment: datetime) -> dict[str, Any]:
    payload = report.model_dump_json()
    return {"version": version, "kind": kind,
            "significant": significant, "changes": "; ".join(changes) or None,
            "received_on": report.latest_received, "sha256": payload_hash(payload),
            "payload": payload, "source": receipt.source,
            "recorded_at": moment, "recorded_by_id": recorded_by}


def index_rows(report: CaseReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The drug rows (one per lot) and reaction rows of a version, without the case id;
    a drug's lot is linked to a medsafe lot at insert (`_link_lots`)."""
    drugs = [{"drug_key": drug.id, "role": drug.role, "product_name": drug.product_name[:250],
              "ingredient_id": drug.ingredient_id, "product_id": drug.product_id,
              "lot_number": lot_number, "lot_id": None}
             for drug in report.drugs
             for lot_number in _lot_numbers(drug)]
    reactions = [{"reaction_key": r.id, "term": r.term[:250],
                  "code": r.coded.code if r.coded else None,
                  "terminology": r.coded.terminology if r.coded else None,
                  "terminology_version": r.coded.version if r.coded else None,
                  "serious": r.seriousness.serious} for r in report.reactions]
    return drugs, reactions


def _lot_numbers(drug: Drug) -> list[str | None]:
    """One index row per lot number, or one without a lot."""
    return [n[:60] for n in drug.lot_numbers] or [None]


def _link_lots(uow: UnitOfWork, drugs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Link each lot number to the medsafe lot it names, where the drug names a medsafe
    product (a lot number alone is not unique across products)."""
    wanted: dict[int, set[str]] = {}
    for row in drugs:
        if row["product_id"] is not None and row["lot_number"]:
            wanted.setdefault(row["product_id"], set()).add(row["lot_number"])
    found = {(product, number): lot for product, numbers in wanted.items()
             for number, lot in uow.products.lot_ids(product, numbers).items()}
    for row in drugs:
        row["lot_id"] = found.get((row["product_id"], row["lot_number"]))
    return drugs
