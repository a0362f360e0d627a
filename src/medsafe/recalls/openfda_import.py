"""Loading FDA's enforcement report (openFDA drug enforcement JSON, read by
`interop.openfda.reader`) into the store: one use case, one transaction.

Every record is read (and so validated) before anything is written: a malformed record
fails the whole import with the reader's `Invalid` naming it, and the store is left as it
was. Then the recalls are written in bulk, with their products, package NDCs and lots.

Identity and re-imports. An imported recall is known by its recall number within its event
(`store.repositories.recalls.source_key`; the three records without a number by their
event and product). Importing a file again is idempotent: a recall already held with the
same content is left alone, one whose content changed (FDA moved it on: a new status, a
termination date) is updated in place, keeping its id and its medsafe history, and a new
one is added. Recalls held but absent from the file are kept (a file may be one page of
the API). Within one file, a recall reported twice (the 2021 export has eight such pairs)
is loaded once, as its later report: the latest report date, then the later in the file.
A record whose number is one of medsafe's own recalls' is refused, naming it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date

from medsafe.errors import Conflict
from medsafe.recalls.model import RecallRecord
from medsafe.records import View, now, require_role
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.repositories.recalls import MEDSAFE, OPENFDA, content_hash, source_key
from medsafe.store.uow import UnitOfWork

IMPORTERS = ("admin", "regulator")
BATCH = 2_000  # recalls per bulk insert: the progress bar moves, memory stays bounded
Progress = Callable[[str, int, int | None], None]
"""(phase, done, total or None) — phases "reading" and "storing"."""


class ImportSummary(View):
    label: str
    records: int  # read from the file
    recalls: int  # distinct recalls in the file
    superseded: int  # earlier reports of a recall the file reports again
    events: int
    products: int
    lots: int
    ndcs: int
    new: int
    updated: int
    unchanged: int
    seconds: float


def import_openfda(uow: UnitOfWork, principal: Principal, records: Iterable[RecallRecord],
                   *, label: str, progress: Progress | None = None) -> ImportSummary:
    """Load `records` (e.g. `reader.iter_recalls(path)`) and commit; see the module
    docstring."""
    require_role(principal, IMPORTERS, "import FDA's enforcement report")
    started = time.perf_counter()
    say = progress or (lambda phase, done, total: None)
    read: list[RecallRecord] = []
    for record in records:  # the reader raises on a malformed record: nothing written yet
        read.append(record)
        if len(read) % 500 == 0:
            say("reading", len(read), None)
    say("reading", len(read), len(read))
    latest: dict[str, tuple[date, int, RecallRecord]] = {}
    for position, record in enumerate(read):
        key = source_key(record)
        rank = (record.dates.reported or date.min, position)
        if key not in latest or rank >= latest[key][:2]:
            latest[key] = (*rank, record)
    chosen = {key: record for key, (_, _, record) in latest.items()}
    ours = uow.recalls.numbered((r.recall_number for r in chosen.values()
                                 if r.recall_number), MEDSAFE)
    if ours:
        raise Conflict(f"{len(ours)} records carry the number of a recall medsafe runs "
                       f"itself ({', '.join(sorted(ours)[:5])}); an enforcement report does "
                       "not replace medsafe's own recalls")
    held = uow.recalls.imported()
    at = now()
    fresh: list[tuple[str, RecallRecord, str]] = []
    changed: list[tuple[int, RecallRecord]] = []
    for key, record in chosen.items():
        digest = content_hash(record)
        if key not in held:
            fresh.append((key, record, digest))
        elif held[key][1] != digest:
            changed.append((held[key][0], record))
    total, done = len(fresh) + len(changed), 0
    say("storing", 0, total)
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start:start + BATCH]
        uow.recalls.insert_records(
            [record for _, record, _ in batch],
            [{"source": OPENFDA, "source_key": key, "source_sha256": digest,
              "firm_organisation_id": None, "investigation_id": None,
              "created_by": principal.username, "created_at": at, "updated_at": at}
             for key, _, digest in batch])
        done += len(batch)
        say("storing", done, total)
    for start in range(0, len(changed), BATCH):
        batch_changes = changed[start:start + BATCH]
        uow.recalls.replace_records(batch_changes, {"updated_at": at})
        done += len(batch_changes)
        say("storing", done, total)
    products = [p for record in chosen.values() for p in record.products]
    summary = ImportSummary(
        label=label, records=len(read), recalls=len(chosen),
        superseded=len(read) - len(chosen),
        events=len({r.event_id for r in chosen.values()}), products=len(products),
        lots=sum(len(p.lots) for p in products), ndcs=sum(len(p.ndcs) for p in products),
        new=len(fresh), updated=len(changed),
        unchanged=len(chosen) - len(fresh) - len(changed),
        seconds=round(time.perf_counter() - started, 3))
    audit.record(uow, principal, "recall.import_openfda", "recall_import", label[:80],
                 summary.model_dump(exclude={"label", "seconds"}),
                 reason="FDA's enforcement report loaded", at=at)
    uow.commit()
    return summary.model_copy(update={"seconds": round(time.perf_counter() - started, 3)})
