"""Group commit of CDS Hooks calls (api.cds_group_commit) on SQLite and PostgreSQL: calls
that arrive together share one transaction, yet each keeps its own outcome: a replay
refuses that call alone, and a call whose rows cannot be written fails alone."""

from __future__ import annotations

import asyncio
import fcntl
import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import InstrumentedAttribute

from medsafe.api.cds_group_commit import (
    CallRows,
    FileLock,
    GroupCommit,
    write_together,
    writers_lock_for,
)
from medsafe.bootstrap import Container
from medsafe.interop.cds_hooks import service
from medsafe.interop.cds_hooks.replay import PendingJti
from medsafe.interop.cds_hooks.requests import parse_hook_request
from medsafe.interop.cds_hooks.security import RequestRejected, Rule
from medsafe.store.schema import CdsCard, CdsJti
from tests.support.fhir_stub import (
    BACLOFEN,
    OXYCODONE,
    draft_order,
    hook_request,
    patient_resources,
    prefetch_of,
)

EHR = "https://ehr.example.org"
T = 1_800_000_000.0
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def answer(container: Container) -> service.Answer:
    """A real answer (baclofen ordered for a patient on oxycodone): one critical card,
    with a card id of its own."""
    definition = service.service_named("medsafe-order-sign")
    document = hook_request("order-sign", [draft_order(BACLOFEN)], prefetch=prefetch_of(
        patient_resources(medicines=(OXYCODONE,))))
    found = service.answer(container.catalog, definition,
                           parse_hook_request(document, service_hook="order-sign"),
                           today=date(2026, 11, 26), now=NOW)
    assert found.cards
    return found


def call(container: Container, jti: str | None = None) -> CallRows:
    pending = PendingJti()
    pending.remember(EHR, jti or str(uuid.uuid4()), until=T + 60, now=T)
    return CallRows(pending, answer(container))


def count(container: Container, column: InstrumentedAttribute[int]) -> int:
    with container.uow() as uow:
        return int(uow.session.execute(select(func.count(column))).scalar_one())


def commits(container: Container) -> list[int]:
    seen: list[int] = []
    event.listen(container.engine, "commit", lambda _connection: seen.append(1))
    return seen


def test_calls_written_together_share_one_commit(container: Container) -> None:
    calls = [call(container) for _ in range(5)]
    seen = commits(container)
    write_together(container.uow, calls)
    assert len(seen) == 1
    assert [c.error for c in calls] == [None] * 5
    assert all(c.pending.recorded for c in calls)
    assert count(container, CdsJti.id) == 5
    assert count(container, CdsCard.id) == sum(len(c.answer.cards) for c in calls
                                               if c.answer)


def test_a_replay_among_them_is_refused_alone(container: Container) -> None:
    write_together(container.uow, [call(container, jti="used")])
    calls = [call(container), call(container, jti="used"), call(container)]
    write_together(container.uow, calls)
    first, replayed, last = calls
    assert first.error is None
    assert last.error is None
    assert isinstance(replayed.error, RequestRejected)
    assert replayed.error.rule is Rule.REPLAY
    assert not replayed.pending.recorded
    assert count(container, CdsJti.id) == 3  # "used" once, and the two others
    assert count(container, CdsCard.id) == 3  # one card per answer; none for the replay


def test_the_same_jti_twice_in_one_commit_refuses_the_second(container: Container) -> None:
    calls = [call(container, jti="twice"), call(container), call(container, jti="twice")]
    seen = commits(container)
    write_together(container.uow, calls)
    assert len(seen) == 1  # no fallback: the shared transaction went through
    assert calls[0].error is None
    assert calls[1].error is None
    assert isinstance(calls[2].error, RequestRejected)
    assert count(container, CdsJti.id) == 2
    assert count(container, CdsCard.id) == 2


def test_jtis_of_expired_tokens_are_pruned_with_a_batch_when_asked(
        container: Container) -> None:
    write_together(container.uow, [call(container, jti="old")])  # held until T + 60
    later = call(container)
    later.pending.now = T + 120  # the old token can no longer be accepted
    write_together(container.uow, [later], prune=True)
    with container.uow() as uow:
        held = set(uow.session.execute(select(CdsJti.jti)).scalars())
    assert held == {later.pending.jti}


def test_the_service_calls_prune_expired_jtis_themselves(container: Container) -> None:
    write_together(container.uow, [call(container, jti="old")])
    writes = GroupCommit(container.uow)  # its first batch is due a pruning
    later = call(container)
    later.pending.now = T + 120
    asyncio.run(writes.commit(later.pending, later.answer))
    assert count(container, CdsJti.id) == 1


def test_a_call_whose_rows_cannot_be_written_fails_alone(container: Container) -> None:
    good = call(container)
    stored = call(container)
    write_together(container.uow, [stored])
    clash = call(container)
    clash.answer = stored.answer  # the same card ids again: the unique index refuses
    later = call(container)
    write_together(container.uow, [good, clash, later])
    assert good.error is None
    assert later.error is None
    assert clash.error is not None
    assert not clash.pending.recorded
    # good, stored, later: their jtis and cards; nothing of the clashing call.
    assert count(container, CdsJti.id) == 3
    assert count(container, CdsCard.id) == 3


@pytest.mark.parametrize("on_loop", [False, True], ids=["writer-thread", "event-loop"])
def test_concurrent_calls_each_return_once_their_rows_are_committed(
        container: Container, on_loop: bool) -> None:
    writes = GroupCommit(container.uow, on_loop=on_loop)
    calls = [call(container) for _ in range(12)]
    calls.append(call(container, jti=calls[0].pending.jti))  # a replay of the first
    seen = commits(container)

    async def all_of_them() -> list[BaseException | None]:
        outcomes = await asyncio.gather(*(writes.commit(c.pending, c.answer)
                                          for c in calls), return_exceptions=True)
        return list(outcomes)

    outcomes = asyncio.run(all_of_them())
    assert outcomes[:12] == [None] * 12
    assert isinstance(outcomes[12], RequestRejected)
    assert count(container, CdsJti.id) == 12
    assert count(container, CdsCard.id) == 12
    if on_loop:  # every call reached its write in the same turn of the loop
        assert len(seen) == 1


def test_a_call_after_the_writer_went_idle_is_written_by_a_new_one(
        container: Container) -> None:
    writes = GroupCommit(container.uow, idle_seconds=0)  # ends after every batch
    first, second = call(container), call(container)

    async def one_after_the_other() -> None:
        await writes.commit(first.pending, first.answer)
        await writes.commit(second.pending, second.answer)

    asyncio.run(one_after_the_other())
    assert count(container, CdsJti.id) == 2


@pytest.mark.parametrize("on_loop", [False, True], ids=["writer-thread", "event-loop"])
def test_a_writers_lock_that_cannot_be_taken_fails_the_calls_instead_of_hanging(
        container: Container, tmp_path: Path, on_loop: bool) -> None:
    writes = GroupCommit(container.uow, lock=tmp_path / "missing" / "db.cds-writers.lock",
                         on_loop=on_loop)
    rows = call(container)
    with pytest.raises(FileNotFoundError):
        asyncio.run(writes.commit(rows.pending, rows.answer))
    assert not rows.pending.recorded
    assert count(container, CdsJti.id) == 0


def test_on_the_loop_a_batch_waits_for_another_writer_on_the_thread_not_the_loop(
        container: Container, tmp_path: Path) -> None:
    path = tmp_path / "medsafe.sqlite3.cds-writers.lock"
    writes = GroupCommit(container.uow, lock=path, on_loop=True)
    rows = call(container)
    other_process = FileLock(path)

    async def while_another_writes() -> None:
        assert other_process.try_acquire()
        task = asyncio.create_task(writes.commit(rows.pending, rows.answer))
        for _ in range(3):
            await asyncio.sleep(0)  # the loop keeps running: its turn's write moved on
        assert not task.done()  # waiting for the lock, in the writer thread
        other_process.release()
        await task

    asyncio.run(while_another_writes())
    assert rows.pending.recorded
    assert count(container, CdsJti.id) == 1


def test_the_writers_lock_excludes_every_other_holder_until_released(
        tmp_path: Path) -> None:
    path = tmp_path / "medsafe.sqlite3.cds-writers.lock"
    other = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        with FileLock(path), pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once released
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)


def test_only_a_sqlite_file_gets_a_writers_lock() -> None:
    assert writers_lock_for("/data/medsafe.sqlite3") == Path(
        "/data/medsafe.sqlite3.cds-writers.lock")
    assert writers_lock_for(":memory:") is None
    assert writers_lock_for(None) is None
