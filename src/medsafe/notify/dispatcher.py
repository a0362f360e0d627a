"""The dispatcher: claims a batch of due outbox messages, delivers them through their
channels over a few connections at once, and records the outcomes.

At least once: a message is marked delivered only after its channel accepted it. The
outcomes of a batch are recorded together, in one transaction after the batch (and
along the way when a batch outlasts half its lease, so that the lease never runs out
under a live dispatcher). One commit per batch instead of one per message is part of
what reaches the fan-out rate (docs/notify.md has the figures); its price is that a
dispatcher killed mid-batch has delivered up to a batch of messages without recording
it, and they are delivered again once their lease runs out. Each carries its
Message-ID, so the recipient recognises the second copy.

Delivery waits mostly on the server's replies (four round trips a message over SMTP),
so a batch is shared by `connections` lanes, each with channels (and so connections) of
its own, taking the next message as it finishes one. The database is touched only by
the thread that runs the dispatcher.

A stop asked for (SIGTERM, SIGINT) lets each lane finish the message in hand, records
everything, and gives the untried messages back at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random

from medsafe.notify.channels import Channel
from medsafe.notify.message import (
    Failure,
    Outcome,
    Outgoing,
    RetryPolicy,
    failure,
    short_error,
)
from medsafe.store.uow import UowFactory

Clock = Callable[[], datetime]
Channels = Mapping[str, Channel]
log = logging.getLogger("medsafe.notify")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Tally:
    """What a dispatcher has done so far."""

    delivered: int = 0
    retrying: int = 0  # failed, to be tried again later
    dead: int = 0
    given_back: int = 0  # claimed but not tried (a stop, a channel that was down)
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Messages delivered per second since the start."""
        return self.delivered / max(self.seconds, 1e-9)


@dataclass
class _Outcomes:
    """Outcomes not yet recorded."""

    delivered: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    later: dict[datetime | None, list[int]] = field(default_factory=dict)  # untried, when

    def give_back(self, message_id: int, when: datetime | None) -> None:
        self.later.setdefault(when, []).append(message_id)


class _Batch:
    """A claimed batch shared by the lanes: who takes which message, what came of it."""

    def __init__(self, messages: list[Outgoing]) -> None:
        self.waiting = deque(messages)
        self.in_hand: set[int] = set()
        self.outcomes = _Outcomes()
        self.down: dict[str, datetime] = {}  # a channel that could not be reached: when again
        self.lock = threading.Lock()

    def take(self, stopping: bool) -> Outgoing | None:
        """The next message to deliver; None when there is none (or a stop was asked
        for: then the untried ones are given back)."""
        with self.lock:
            while self.waiting:
                message = self.waiting.popleft()
                if stopping:
                    self.outcomes.give_back(message.id, None)
                elif message.channel in self.down:
                    self.outcomes.give_back(message.id, self.down[message.channel])
                else:
                    self.in_hand.add(message.id)
                    return message
            return None

    def finish(self, message: Outgoing, result: Outcome, failed: Failure | None) -> None:
        with self.lock:
            self.in_hand.discard(message.id)
            if failed is None:
                self.outcomes.delivered.append(message.id)
                return
            self.outcomes.failures.append(failed)
            if result.channel_down and failed.next_attempt is not None:
                self.down.setdefault(message.channel, failed.next_attempt)

    def collect(self) -> tuple[_Outcomes, list[int]]:
        """The outcomes so far (handed over, to be recorded) and the messages not done."""
        with self.lock:
            done, self.outcomes = self.outcomes, _Outcomes()
            return done, [m.id for m in self.waiting] + sorted(self.in_hand)


class Dispatcher:
    def __init__(self, uow: UowFactory, channels: Callable[[], Channels], *,
                 connections: int = 1, batch: int = 100,
                 lease: timedelta = timedelta(seconds=60), policy: RetryPolicy | None = None,
                 clock: Clock = utc_now, rng: Random | None = None,
                 progress: Callable[[Tally], None] | None = None) -> None:
        """`channels` makes one lane's channels (called once per lane, `connections`
        lanes); `clock` and `rng` are the time and the jitter (tests fix them)."""
        if batch < 1 or connections < 1 or lease <= timedelta(0):
            raise ValueError("a dispatcher needs a batch and connections of at least 1 and "
                             "a positive lease")
        self.uow = uow
        self.batch = batch
        self.lease = lease
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.rng = rng or Random()
        self.progress = progress
        self.tally = Tally()
        self._make_channels = channels
        self._lanes: list[Channels] = []
        self._connections = connections
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the dispatcher to stop after the messages in hand (safe from a signal
        handler or another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, once: bool = False, for_seconds: float | None = None,
            poll_seconds: float = 2.0) -> Tally:
        """Deliver batch after batch. `once`: until nothing is due, then return;
        otherwise poll every `poll_seconds` until stopped or `for_seconds` have passed."""
        deadline = None if for_seconds is None else time.monotonic() + for_seconds
        try:
            while not self.stopping:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self.run_batch():
                    continue
                self.close()  # idle: hold no connection open
                if once:
                    break
                pause = poll_seconds if deadline is None else min(
                    poll_seconds, deadline - time.monotonic())
                self._stop.wait(max(pause, 0.0))
        finally:
            self.close()
        return self.tally

    def run_batch(self) -> int:
        """Claim one batch of due messages, deliver it, record the outcomes; returns how
        many messages were claimed (0: nothing is due)."""
        with self.uow() as uow:
            claimed = uow.outbox.claim_due(self.batch, now=self.clock(), lease=self.lease)
            uow.commit()
        if not claimed:
            return 0
        batch = _Batch(claimed)
        pool = self._ready_pool()
        lanes = [pool.submit(self._lane, batch, channels) for channels in self._lanes]
        recorded_at = time.monotonic()
        pending: set[Future[None]] = set(lanes)
        while pending:
            finished, pending = wait(pending, timeout=self.lease.total_seconds() / 4,
                                     return_when=FIRST_EXCEPTION)
            for lane in finished:
                lane.result()  # a lane's own failure (a bug) surfaces here
            if pending and time.monotonic() - recorded_at > self.lease.total_seconds() / 2:
                self._record(*batch.collect())
                recorded_at = time.monotonic()
        self._record(batch.collect()[0])
        self.tally.batches += 1
        if self.progress is not None:
            self.progress(self.tally)
        return len(claimed)

    def close(self) -> None:
        """Close every lane's connections and stop its thread (both come back when
        needed)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        for channels in self._lanes:
            for channel in channels.values():
                channel.close()

    def _ready_pool(self) -> ThreadPoolExecutor:
        if not self._lanes:
            self._lanes = [self._make_channels() for _ in range(self._connections)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._connections,
                                            thread_name_prefix="medsafe-notify")
        return self._pool

    def _lane(self, batch: _Batch, channels: Channels) -> None:
        while (message := batch.take(self.stopping)) is not None:
            result = _deliver(channels, message)
            failed = None if result.delivered else failure(
                message, result, now=self.clock(), policy=self.policy, rng=self.rng)
            batch.finish(message, result, failed)

    def _record(self, outcomes: _Outcomes, renew: list[int] | None = None) -> None:
        now = self.clock()
        with self.uow() as uow:
            uow.outbox.mark_delivered(outcomes.delivered, at=now)
            uow.outbox.mark_failed(outcomes.failures, at=now)
            for when, ids in outcomes.later.items():
                uow.outbox.release(ids, available_at=when)
            if renew:
                uow.outbox.renew(renew, until=now + self.lease)
            uow.commit()
        self.tally.delivered += len(outcomes.delivered)
        self.tally.retrying += sum(f.next_attempt is not None for f in outcomes.failures)
        self.tally.dead += sum(f.next_attempt is None for f in outcomes.failures)
        self.tally.given_back += sum(len(ids) for ids in outcomes.later.values())


def _deliver(channels: Channels, message: Outgoing) -> Outcome:
    channel = channels.get(message.channel)
    if channel is None:
        return Outcome.retry(f"no {message.channel} channel is configured"
                             + (" (set MEDSAFE_WEBHOOK_SECRET)"
                                if message.channel == "webhook" else ""), channel_down=True)
    try:
        return channel.send(message)
    except Exception as error:
        # A channel's own bug must not stop every other notice: the message waits (and
        # dies after its attempts) with the error to read in `notify status`.
        log.exception("delivering %s failed unexpectedly", message.message_id)
        return Outcome.retry(f"unexpected: {short_error(error)}")
