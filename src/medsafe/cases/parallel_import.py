"""Bulk imports on two cores: a second process reads the national database's files and
prepares each report's rows (parsing, the case model's validation, drug recognition, the
case rules, the JSON payload), while this process writes them. Both are about half the
work of a FAERS quarter, so the import takes about half the time.

The producer is a fresh interpreter (the "spawn" start method, never "fork": this
process may hold threads and open database connections). It sends batches of plain
rows through a bounded queue, which bounds the memory in flight; problems, progress and
errors travel the same way. The import is still one transaction: if the producer fails,
nothing is stored.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medsafe.cases.imports import IMPORTERS, ImportSummary, import_prepared
from medsafe.cases.intake import Prepared, Receipt, prepared_from
from medsafe.cases.model import CaseReport
from medsafe.errors import Invalid, MedsafeError
from medsafe.interop.faers.reader import read_faers
from medsafe.interop.vaers import read_vaers
from medsafe.knowledge.catalog import Catalog
from medsafe.records import require_role
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.uow import UowFactory

BATCH = 1000
QUEUE_BATCHES = 8  # at most this many batches in flight (about 20 MB for FAERS)
POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """What the producer reads: picklable, so it can cross to the other process."""

    kind: Literal["faers", "vaers"]
    folder: Path
    deleted_case_ids: frozenset[str] = frozenset()
    keep_going: bool = False
    max_problems: int = 100


def import_folder(uow_factory: UowFactory, principal: Principal, catalog: Catalog,
                  spec: ReaderSpec, *, label: str,
                  on_problem: Callable[[str], None] | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Import one folder of a national database, reading in a second process."""
    require_role(principal, IMPORTERS, "import report databases")
    context = multiprocessing.get_context("spawn")
    channel: Any = context.Queue(maxsize=QUEUE_BATCHES)
    producer = context.Process(target=produce, args=(spec, channel), daemon=True,
                               name=f"medsafe-{spec.kind}-reader")
    producer.start()
    problems: list[str] = []

    def note(problem: str) -> None:
        problems.append(problem)
        if on_problem:
            on_problem(problem)

    try:
        return import_prepared(uow_factory, principal, catalog,
                               _received(channel, producer, note, on_progress or _ignore),
                               Receipt(source=spec.kind), label=label,
                               problems=lambda: len(problems))
    finally:
        if producer.is_alive():
            producer.kill()
        producer.join()
        channel.close()


def _received(channel: Any, producer: Any, note: Callable[[str], None],
              progress: Callable[[int, int], None]) -> Iterator[Prepared]:
    while True:
        try:
            message = channel.get(timeout=POLL_SECONDS)
        except queues.Empty:
            if not producer.is_alive():
                raise MedsafeError(f"the reading process stopped unexpectedly (exit code "
                                   f"{producer.exitcode})") from None
            continue
        kind = message[0]
        if kind == "batch":
            yield from message[1]
        elif kind == "progress":
            progress(message[1], message[2])
        elif kind == "problem":
            note(message[1])
        elif kind == "invalid":
            raise Invalid(message[1], where=message[2])
        elif kind == "failed":
            raise MedsafeError(f"the reading process failed: {message[1]}")
        else:  # "done"
            return


def produce(spec: ReaderSpec, channel: Any) -> None:
    """The producer's body (in the second process)."""
    try:
        reports = _reader(spec, lambda text: channel.put(("problem", text)),
                          _Throttled(channel))
        batch: list[Prepared] = []
        # SYSTEM: versions from a national database are recorded by no user.
        for item in prepared_from(reports, Catalog.load(), Receipt(source=spec.kind), SYSTEM):
            batch.append(item)
            if len(batch) >= BATCH:
                channel.put(("batch", batch))
                batch = []
        channel.put(("batch", batch))
        channel.put(("done",))
    except Invalid as error:
        channel.put(("invalid", error.reason, error.where))
    except Exception as error:  # anything else: told to the parent, which fails loudly
        channel.put(("failed", f"{type(error).__name__}: {error}"))


class _Throttled:
    """Progress sent at most once per percent, not once per line."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 0
        if percent != self.last or done == total:
            self.last = percent
            self.channel.put(("progress", done, total))


def _reader(spec: ReaderSpec, problem: Callable[[str], None],
            progress: Callable[[int, int], None]) -> Iterator[CaseReport]:
    if spec.kind == "faers":
        return read_faers(spec.folder, deleted_case_ids=spec.deleted_case_ids,
                          keep_going=spec.keep_going, max_problems=spec.max_problems,
                          on_problem=lambda p: problem(f"{p.where}: {p.reason}"),
                          on_progress=progress)
    return read_vaers(spec.folder, keep_going=spec.keep_going,
                      max_problems=spec.max_problems,
                      on_problem=lambda error: problem(error.message),
                      on_progress=lambda done, total, _: progress(done, total))


def _ignore(done: int, total: int) -> None:
    """The default progress callback."""
