"""Reads of recalls for the pages: the published recalls anyone may see, one recall
number's public records, the open recalls of one medicine, and the recalls that concern
one pharmacy with its own stock, patients and responses (docs/recalls.md).

Each takes a unit of work (and the caller where who asks matters), applies the service's
own visibility clause and states, and returns plain values; the SQL is the recall
repository's (`uow.recalls`), the matching `recalls.matching` over `uow.affected`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from medsafe.knowledge.catalog import Catalog
from medsafe.recalls import notices as texts
from medsafe.recalls import notifying, service
from medsafe.recalls.matching import (
    Affected,
    AffectedLot,
    Holder,
    Recipient,
    lot_key,
    recall_keys,
    stored_ndcs,
)
from medsafe.recalls.model import RecallRecord
from medsafe.recalls.service import RecallStepView, RecallSummary
from medsafe.recalls.workflow import Role
from medsafe.records import aware, require_role
from medsafe.security.principal import Principal
from medsafe.store.repositories.affected import NDC_SYSTEM
from medsafe.store.schema import RecallRow
from medsafe.store.uow import UnitOfWork

OPEN_STATES = service.CLOCK_STATES
"""Open: published and not yet completed, the states in which the deadlines run."""
PUBLIC_STATES = service.PUBLIC_STATES
PHARMACISTS = ("pharmacist",)
MAX_NDCS = 5_000
"""NDCs of one pharmacy listed in SQL; beyond, every open recall is a candidate (far
below the bound-parameter limits of either database)."""
LISTED = 100
"""Proposals, letters and open tasks listed per recall on a pharmacy's page (the counts
are whole)."""
CONSIGNEE_AUDIENCES = ("pharmacy", "clinic")


# -- the public's ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Published:
    """A recall as the public sees it: its record, and when it last changed."""

    id: int
    source: str
    record: RecallRecord
    updated: datetime


def published_recalls(uow: UnitOfWork, *, classification: str | None, offset: int,
                      limit: int) -> tuple[list[Published], int]:
    """Published recalls of one class (or all), newest report first, for anyone."""
    rows, total = uow.recalls.published_page(PUBLIC_STATES, classification, offset, limit)
    return _published(uow, rows), total


def published_by_number(uow: UnitOfWork, number: str) -> list[Published]:
    """The published records of a recall number, newest first; a recall without a number
    is known by its event (the feeds link it so)."""
    return _published(uow, uow.recalls.published_by_number(PUBLIC_STATES, number))


def any_published(uow: UnitOfWork) -> bool:
    return uow.recalls.any_in(PUBLIC_STATES)


def open_recalls_of(uow: UnitOfWork, catalog: Catalog, ingredient_id: str) -> list[Published]:
    """The open recalls (published, not yet completed) whose products name this medicine,
    newest first. A recall names the medicines the catalog finds in its products'
    descriptions, as `notices.ingredients_of` reads it; only the descriptions are read
    for all open recalls (FDA's report holds thousands), and only the recalls found are
    loaded whole."""
    ids = {recall_id for recall_id, text in uow.recalls.descriptions(OPEN_STATES)
           if ingredient_id in _named_ingredients(catalog, text)}
    return _published(uow, uow.recalls.newest_of(ids))


@lru_cache(maxsize=65_536)
def _named_ingredients(catalog: Catalog, description: str) -> frozenset[str]:
    """The knowledge-base ingredients a product description names. Kept per process:
    descriptions do not change, and the catalog is loaded once."""
    return frozenset(i.ingredient for i in catalog.identify_drug_text(description)
                     if i.ingredient is not None)


def _published(uow: UnitOfWork, rows: Sequence[RecallRow]) -> list[Published]:
    records = uow.recalls.records(rows)
    return [Published(row.id, row.source, records[row.id], aware(row.updated_at))
            for row in rows]


# -- a pharmacy's ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StockLine:
    lot: AffectedLot
    on_hand: int
    dispensed_to: int  # patients this pharmacy gave the lot to


@dataclass(frozen=True, slots=True)
class PatientLine:
    """One dispensing of an affected lot by this pharmacy."""

    pseudonym: str
    lot: AffectedLot
    dispensed_on: date
    quantity: int
    prescriber: str | None


@dataclass(frozen=True, slots=True)
class PharmacyRecall:
    """One open recall as the pharmacy that holds or dispensed its lots sees it."""

    summary: RecallSummary
    record: RecallRecord
    stock: Sequence[StockLine]
    patients: Sequence[PatientLine]  # this pharmacy's dispensings of the lots
    responses: Sequence[RecallStepView]  # this pharmacy's responses to the notice
    may_respond: bool
    told: Told


@dataclass(frozen=True, slots=True)
class Told:
    """Who the recall has told at this pharmacy, as the notices tables record it: the
    notice to the pharmacy itself (when written, when acknowledged through its link),
    its patients' notices by state, the proposals waiting for its decision, the letters it
    may print, and its phone-call tasks."""

    notice_sent: datetime | None
    notice_acknowledged: datetime | None
    counts: Mapping[str, int]  # notice states, "by_letter", "tasks_open", "tasks_done"
    proposals: Sequence[notifying.PatientNoticeView]  # waiting, first LISTED
    letters: Sequence[notifying.PatientNoticeView]  # sent on paper, first LISTED
    tasks: Sequence[notifying.TaskView]  # open, first LISTED

    @property
    def patients_told(self) -> int:
        return sum(self.counts.get(state, 0) for state in ("queued", "letter", "acknowledged"))


def recalls_for_pharmacy(uow: UnitOfWork, principal: Principal) -> list[PharmacyRecall]:
    """The open recalls the caller's pharmacy holds or dispensed an affected lot of, each
    with only this pharmacy's stock, patients and responses, newest first.

    The candidates are chosen in SQL by what the pharmacy holds or dispensed: recalls
    naming one of its NDCs (matching rules 1, 3, 5) and recalls by the maker of one of its
    lots that name that lot's number without an NDC (rule 6). They are matched at once
    (`match_many`); the holders and recipients of the matched lots are then kept to this
    pharmacy's."""
    require_role(principal, PHARMACISTS, "see a pharmacy's recalls")
    pharmacy = principal.organisation_id
    if pharmacy is None:
        return []
    ndcs: set[str] = set()
    firm_lots: set[tuple[str, str]] = set()
    for system, code, number, maker in uow.recalls.pharmacy_lots(pharmacy):
        if system == NDC_SYSTEM:
            ndcs.update(stored_ndcs(code))
        if maker is not None and maker.strip():
            firm_lots.add((maker.strip().casefold(), lot_key(number)))
    rows = uow.recalls.for_consignee(service.visible_recalls(principal), OPEN_STATES,
                                     ndcs=ndcs if len(ndcs) <= MAX_NDCS else None,
                                     firm_lots=firm_lots)
    records = uow.recalls.records(rows)
    matched = uow.affected.match_many({row.id: recall_keys(records[row.id]) for row in rows})
    lot_ids = sorted({lot.lot_id for lots in matched.values() for lot in lots})
    holders = [h for h in uow.affected.holders(lot_ids) if h.organisation_id == pharmacy]
    recipients = [r for r in uow.affected.recipients(lot_ids) if r.pharmacy_id == pharmacy]
    me = uow.organisations.get(pharmacy)
    address = notifying.usable_address(me.email) if me is not None else None
    found = []
    for row in rows:
        mine = _concerning(matched.get(row.id, []), holders, recipients)
        if mine is None:
            continue
        detail = service.read_recall(uow, principal, row.id)
        found.append(PharmacyRecall(
            summary=detail.summary, record=detail.record,
            stock=_stock(mine), patients=_patients(mine),
            responses=_responses_of(uow, detail.history, pharmacy),
            may_respond="respond" in detail.my_steps,
            told=_told(uow, principal, row.id, detail.record, address)))
    return found


def _told(uow: UnitOfWork, principal: Principal, recall_id: int, record: RecallRecord,
          address: str | None) -> Told:
    """See `Told`; `address` is the pharmacy's usable e-mail address (its notice went
    there, if anywhere)."""
    pharmacy = principal.organisation_id
    assert pharmacy is not None  # a pharmacist's (checked by the caller)
    sent: datetime | None = None
    acknowledged: datetime | None = None
    if address is not None and (record.recall_number or record.event_id):
        messages = uow.recall_notices.consignee_messages(
            texts.topic(record), CONSIGNEE_AUDIENCES, address)
        if messages:
            sent = aware(messages[0][0])
            acks = [aware(at) for _, at in messages if at is not None]
            acknowledged = min(acks) if acks else None
    proposals, _ = notifying.list_proposals(uow, principal, recall_id=recall_id,
                                            limit=LISTED)
    letters = [notice for state in ("letter", "acknowledged")
               for notice in notifying.list_patient_notices(
                   uow, principal, recall_id=recall_id, state=state, limit=LISTED)[0]
               if notice.channel == "letter"]
    tasks, _ = notifying.list_tasks(uow, principal, recall_id=recall_id, open_only=True,
                                    limit=LISTED)
    return Told(notice_sent=sent, notice_acknowledged=acknowledged,
                counts=uow.recall_notices.standing(recall_id, pharmacy),
                proposals=proposals, letters=letters[:LISTED], tasks=tasks)


def _concerning(lots: Sequence[AffectedLot], holders: Iterable[Holder],
                recipients: Iterable[Recipient]) -> Affected | None:
    """The recall's affected lots with this pharmacy's holdings and dispensings of them;
    None when it holds and dispensed none."""
    ids = {lot.lot_id for lot in lots}
    held = tuple(h for h in holders if h.lot_id in ids)
    given = tuple(r for r in recipients if r.lot_id in ids)
    if not held and not given:
        return None
    return Affected(lots=tuple(lots), holders=held, recipients=given)


def _stock(affected: Affected) -> list[StockLine]:
    """Per affected lot the pharmacy holds or dispensed (`affected` holds only its own):
    units on hand and how many patients it gave the lot to."""
    lines = []
    for lot in affected.lots:
        on_hand = sum(h.quantity for h in affected.holders if h.lot_id == lot.lot_id)
        patients = {r.patient_id for r in affected.recipients if r.lot_id == lot.lot_id}
        if on_hand or patients:
            lines.append(StockLine(lot, on_hand, len(patients)))
    return lines


def _patients(affected: Affected) -> list[PatientLine]:
    lots = {lot.lot_id: lot for lot in affected.lots}
    return [PatientLine(r.pseudonym, lots[r.lot_id], r.dispensed_on, r.quantity,
                        r.prescriber_name)
            for r in sorted(affected.recipients,
                            key=lambda r: (r.dispensed_on, r.pseudonym), reverse=True)]


def _responses_of(uow: UnitOfWork, history: Sequence[RecallStepView],
                  pharmacy: int) -> list[RecallStepView]:
    """The `respond` steps taken by this pharmacy's staff."""
    found = []
    for step in history:
        if step.transition == "respond" and step.role == Role.PHARMACY.value:
            user = uow.users.by_username(step.by)
            if user is not None and user.organisation_id == pharmacy:
                found.append(step)
    return found
