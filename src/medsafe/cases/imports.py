"""Bulk imports of national report databases (FAERS quarters, VAERS years) into the case
store, in one transaction: the whole folder is imported or nothing is (a reader's
`keep_going` decides whether a malformed row fails the folder or is skipped and
counted). One audit event records what was imported, from where, and the counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from medsafe.cases.intake import Prepared, Receipt, Source, prepared_from, store_prepared
from medsafe.cases.model import CaseReport
from medsafe.knowledge.catalog import Catalog
from medsafe.records import require_role
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.engine import more_memory_for_bulk_load
from medsafe.store.uow import UowFactory

IMPORTERS = ("admin",)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    source: str
    label: str
    new: int
    follow_ups: int
    nullified: int
    same: int

    @property
    def stored(self) -> int:
        return self.new + self.follow_ups + self.nullified


def import_reports(uow_factory: UowFactory, principal: Principal, catalog: Catalog,
                   reports: Iterable[CaseReport], *, source: Source, label: str,
                   problems: Callable[[], int] = lambda: 0,
                   on_batch: Callable[[int], None] | None = None) -> ImportSummary:
    """Store every report from one import, then commit once. `problems` tells how many
    rows the reader skipped (recorded in the audit event)."""
    receipt = Receipt(source=source)
    return import_prepared(uow_factory, principal, catalog,
                           prepared_from(reports, catalog, receipt, principal), receipt,
                           label=label, problems=problems, on_batch=on_batch)


def import_prepared(uow_factory: UowFactory, principal: Principal, catalog: Catalog,
                    prepared: Iterable[Prepared], receipt: Receipt, *, label: str,
                    problems: Callable[[], int] = lambda: 0,
                    on_batch: Callable[[int], None] | None = None) -> ImportSummary:
    """`import_reports` for reports prepared here or in another process: one transaction,
    a larger page cache while it loads, and one audit event with the counts."""
    require_role(principal, IMPORTERS, "import report databases")
    with uow_factory() as uow:
        with more_memory_for_bulk_load(uow.session.connection()):
            tally = store_prepared(uow, principal, catalog, prepared, receipt,
                                   on_batch=on_batch)
        summary = ImportSummary(source=receipt.source, label=label, new=tally.new,
                                follow_ups=tally.follow_ups, nullified=tally.nullified,
                                same=tally.same)
        audit.record(uow, principal, "cases.import", "import", label[:80], {
            "source": receipt.source, "new": tally.new, "follow_ups": tally.follow_ups,
            "nullified": tally.nullified, "same": tally.same,
            "skipped_rows": problems()})
        uow.commit()
    return summary
