"""Group commit for the CDS Hooks calls of one server process.

Every signed CDS call writes once: its token's jti (the replay check) and the cards it
answered with (for feedback and the override report), in one transaction, before the
reply leaves. Done one call at a time, that transaction and the hand-off to a thread and
back cost about as much CPU as the engine's whole review (benchmarks/bench_cds.py). Calls
that arrive together are what an EHR's ordering screens produce under load, so here they
share one transaction: one thread takes every call waiting, writes each call's jti and
cards, commits once, and wakes each call's coroutine. A call still replies only after
its own rows are committed; nothing is acknowledged that could be lost.

Each call keeps its own outcome: a replayed jti refuses that call alone (its cards are
not written; `INSERT ... ON CONFLICT` leaves the transaction usable for the others). When
the shared transaction fails as a whole, it is rolled back and every call of it is
written again in a transaction of its own, so one bad call cannot fail its neighbours.

Where the batch is written depends on the database. PostgreSQL: on one writer thread
per process, which takes every call waiting, so that the event loop never waits on the
network. SQLite: on the event loop itself, once per turn of the loop, with the calls that
reached their write in that turn; the write is local and takes a fraction of a
millisecond, less than handing each call to a thread and back (benchmarks/bench_cds.py:
p50 at 10 clients 9.0 -> 7.0 ms, CPU 1.43 -> 1.28 ms a call). Only when the writers' lock
below is free at once: when another process is writing, the batch goes to the writer
thread, so the event loop never waits on another process. (A long write of another kind
holding SQLite's own lock, a bulk job's, still makes the loop wait in SQLite's busy
handler, as any SQLite write on the loop would.)

SQLite has one writer at a time, and a connection that finds its lock taken sleeps in
SQLite's busy handler, 1, 2, 5, 10 ... ms at a time, each try racing the other processes'
next transactions. With `medsafe serve --workers`, those sleeps were the slowest calls
(p99 over 50 ms at 10 clients). So on SQLite the writers of all processes first queue on
an exclusive lock of a file beside the database (`FileLock`, flock(2)): the kernel wakes
the next writer the moment the lock is free, and SQLite's own lock is then found free.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from medsafe.interop.cds_hooks import service
from medsafe.interop.cds_hooks.replay import PendingJti, record_together
from medsafe.interop.cds_hooks.security import replayed
from medsafe.store.uow import UnitOfWork, UowFactory

# Enough to take every call one process has in flight at once, small enough that one
# transaction stays short.
MOST_CALLS_PER_COMMIT = 64
# The jtis of expired tokens are deleted at most this often per process, in a batch's
# transaction (by the index on their expiry): the table holds about an hour of calls.
PRUNE_EVERY_SECONDS = 60.0
# A writer thread with nothing to write for this long ends (the next call starts another),
# so that an application no longer used (a test's) does not keep one waiting forever.
IDLE_SECONDS = 60.0


@dataclass(slots=True)
class CallRows:
    """What one call writes: its jti and, when it has them, its cards. `error` is set
    when they could not be written (a replay, a failed transaction)."""

    pending: PendingJti
    answer: service.Answer | None
    error: BaseException | None = field(default=None)


def write_together(uow: UowFactory, calls: Sequence[CallRows], *,
                   prune: bool = False) -> None:
    """Every call's rows in one transaction, in two statements (the jtis, the cards);
    each call's outcome in its `error`. When that transaction fails, each call is
    written again in a transaction of its own. `prune`: first delete the jtis of tokens
    that can no longer be accepted (by the calls' clock)."""
    try:
        with uow() as shared:
            if prune and calls:
                shared.cds.forget_expired_jtis(min(call.pending.now for call in calls))
            _add(shared, calls)
            shared.commit()
    except Exception:  # the shared transaction failed: each call on its own
        for call in calls:
            call.error = None
            try:
                with uow() as alone:
                    _add(alone, [call])
                    alone.commit()
            except Exception as error:  # handed to the waiting call, which re-raises it
                call.error = error
    for call in calls:
        if call.error is None:
            call.pending.recorded = True


def _add(uow: UnitOfWork, calls: Sequence[CallRows]) -> None:
    """The calls' rows in `uow`'s transaction; a replay is that call's error only, and
    its cards are not written."""
    replays = {id(pending) for pending in record_together(uow, [c.pending for c in calls])}
    for call in calls:
        if id(call.pending) in replays:
            assert call.pending.jti is not None
            call.error = replayed(call.pending.jti)
    service.store_answers(uow, [call.answer for call in calls
                                if call.answer is not None and call.error is None])


@dataclass(slots=True)
class _Waiting:
    rows: CallRows
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


class FileLock:
    """An exclusive flock(2) on a file, held by one thread of one process at a time
    (each thread opening its own descriptor). The file is created if need be and never
    holds data. As a context manager it waits for the lock; `try_acquire` does not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, *, wait: bool = False) -> bool:
        """Take the lock; without `wait`, False at once when someone else holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Waiting blocks without the interpreter lock.
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> FileLock:
        self.try_acquire(wait=True)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def writers_lock_for(database_file: str | None) -> Path | None:
    """Where the CDS writers of one SQLite database file queue: beside the file. None
    for PostgreSQL or an in-memory database (nothing to queue on)."""
    if not database_file or database_file == ":memory:":
        return None
    return Path(f"{database_file}.cds-writers.lock")


class GroupCommit:
    """`await writes.commit(pending, answer)`: the call's jti and cards, committed.
    `lock`: a file the writers of every process queue on before writing (SQLite).
    `on_loop`: write on the event loop, once per turn (SQLite), rather than on the
    writer thread (PostgreSQL); a turn's calls still go to the thread when another
    process holds `lock`."""

    def __init__(self, uow: UowFactory, *, most_per_commit: int = MOST_CALLS_PER_COMMIT,
                 lock: Path | None = None, on_loop: bool = False,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self._uow = uow
        self._lock = lock
        self._on_loop = on_loop
        self._idle_seconds = idle_seconds
        self._most = most_per_commit
        self._next_prune = 0.0
        self._prune_lock = threading.Lock()
        self._waiting: deque[_Waiting] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        # on_loop: the calls waiting for the next turn of each event loop (an application
        # normally has one loop; a test client may run another).
        self._this_turn: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}

    async def commit(self, pending: PendingJti, answer: service.Answer | None) -> None:
        """Write `pending`'s jti (a replay raises its RequestRejected here) and, when
        given, `answer`'s cards; return once they are committed."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(CallRows(pending, answer), loop, loop.create_future())
        if self._on_loop:
            this_turn = self._this_turn.get(loop)
            if this_turn is None:
                self._this_turn[loop] = this_turn = []
                loop.call_soon(self._write_this_turn, loop)
            this_turn.append(waiting)
        else:
            self._to_thread([waiting])
        await waiting.done

    def _write_this_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        """This turn's calls, written on the loop when the writers' lock is free now;
        when another process is writing, they go to the writer thread, which waits for
        it: the loop never waits on another process."""
        batch = self._this_turn.pop(loop, [])
        lock = None if self._lock is None else FileLock(self._lock)
        try:
            free = lock is None or lock.try_acquire()
        except OSError as error:  # the lock file cannot be opened: nothing written
            for waiting in batch:
                waiting.rows.error = error
                _settle(waiting)
            return
        if not free:
            self._to_thread(batch)
            return
        try:
            for start in range(0, len(batch), self._most):
                part = batch[start:start + self._most]
                write_together(self._uow, [waiting.rows for waiting in part],
                               prune=self._prune_due())
                for waiting in part:
                    _settle(waiting)
        finally:
            if lock is not None:
                lock.release()

    def _to_thread(self, batch: list[_Waiting]) -> None:
        with self._wake:
            self._waiting.extend(batch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="medsafe-cds-commit")
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._waiting:
                    self._wake.wait(timeout=self._idle_seconds)
                if not self._waiting:  # idle: the thread ends, the next call starts one
                    self._thread = None
                    return
                batch = [self._waiting.popleft()
                         for _ in range(min(self._most, len(self._waiting)))]
            self._write(batch)
            for waiting in batch:
                with suppress(RuntimeError):  # its event loop has closed: nobody waits
                    waiting.loop.call_soon_threadsafe(_settle, waiting)

    def _prune_due(self) -> bool:
        now = time.monotonic()
        with self._prune_lock:
            if now < self._next_prune:
                return False
            self._next_prune = now + PRUNE_EVERY_SECONDS
            return True

    def _write(self, batch: list[_Waiting]) -> None:
        rows = [waiting.rows for waiting in batch]
        try:
            with nullcontext() if self._lock is None else FileLock(self._lock):
                write_together(self._uow, rows, prune=self._prune_due())
        except Exception as error:  # the lock file could not be opened: nothing written
            for call in rows:
                call.error = error


def _settle(waiting: _Waiting) -> None:
    if waiting.done.cancelled():
        return  # the client went away; its rows are written all the same
    if waiting.rows.error is not None:
        waiting.done.set_exception(waiting.rows.error)
    else:
        waiting.done.set_result(None)
