"""The JWT replay check in the database, shared by every `medsafe serve` worker process.

CDS Hooks 2.0 asks the service to refuse a `jti` it has seen before. With several worker
processes (each with its own memory) an in-memory store would let a captured request be
replayed on another worker, and a restart would forget every jti. Here each jti is one
row of `cds_jtis` with the moment its token stops being acceptable; the unique (issuer,
jti) makes the check atomic across processes (`CdsRepository.remember_jti`).

One short transaction per signed request, before the request is acted on (so a replayed
request never reaches the EHR's FHIR server or the card store). Rows of expired tokens
are deleted at most once every `prune_every_seconds` per process, by the index on their
expiry, in the same transaction: no background job, and no cost on most requests.
Unlike the in-memory store there is no capacity limit: tokens live at most an hour (the
verifier's `max_lifetime_seconds`), so the table holds at most an hour of requests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from medsafe.interop.cds_hooks.security import replayed
from medsafe.store.uow import UnitOfWork, UowFactory

DEFAULT_PRUNE_EVERY_SECONDS = 60.0


class DatabaseJtiStore:
    """A `security.ReplayStore` on the database of the unit-of-work factory."""

    def __init__(self, uow: UowFactory, *,
                 prune_every_seconds: float = DEFAULT_PRUNE_EVERY_SECONDS) -> None:
        self._uow = uow
        self._prune_every = prune_every_seconds
        self._next_prune = 0.0
        self._lock = threading.Lock()

    def remember(self, issuer: str, jti: str, *, until: float, now: float) -> None:
        with self._lock:
            prune = now >= self._next_prune
            if prune:
                self._next_prune = now + self._prune_every
        with self._uow() as uow:
            if prune:
                uow.cds.forget_expired_jtis(now)
            if not uow.cds.remember_jti(issuer, jti, until=until, now=now):
                raise replayed(jti)
            uow.commit()


class PendingJti:
    """A `security.ReplayStore` for one request whose jti is to be recorded later, in the
    transaction that stores what the request produced: one write transaction per CDS
    call instead of two. `remember` only notes the jti; `record` (inside that
    transaction) or `record_alone` (a transaction of its own) writes it, raising
    RequestRejected (replay) when it is held already, which rolls the transaction back.

    Whoever uses it must record the jti on every path once the token has been verified,
    failures included, and before the request causes anything outside medsafe (a read
    from the EHR's FHIR server): `api.routers.cds_hooks` does."""

    def __init__(self) -> None:
        self.issuer: str | None = None
        self.jti: str | None = None
        self.until = 0.0
        self.now = 0.0
        self.recorded = False

    def remember(self, issuer: str, jti: str, *, until: float, now: float) -> None:
        self.issuer, self.jti, self.until, self.now = issuer, jti, until, now

    def record(self, uow: UnitOfWork) -> None:
        """Write the jti in `uow`'s transaction (nothing for an unsigned request); the
        caller sets `recorded` once that transaction has committed."""
        if record_together(uow, [self]):
            assert self.jti is not None
            raise replayed(self.jti)

    def held(self) -> tuple[str, str, float] | None:
        """(issuer, jti, until) still to be written; None for an unsigned request or
        one already recorded."""
        if self.issuer is None or self.jti is None or self.recorded:
            return None
        return self.issuer, self.jti, self.until

    def record_alone(self, factory: UowFactory) -> None:
        """Write the jti in a transaction of its own."""
        if self.held() is None:
            return
        with factory() as uow:
            self.record(uow)
            uow.commit()
        self.recorded = True


def record_together(uow: UnitOfWork, pending: Sequence[PendingJti]) -> list[PendingJti]:
    """Write several calls' jtis in `uow`'s transaction with one statement; the calls
    whose jti is a replay (held already, or named twice among them: the first one
    counts). The caller sets `recorded` on the others once the transaction commits."""
    first: dict[tuple[str, str], tuple[PendingJti, float]] = {}
    replays: list[PendingJti] = []
    for call in pending:
        held = call.held()
        if held is None:
            continue
        issuer, jti, until = held
        if (issuer, jti) in first:
            replays.append(call)
        else:
            first[issuer, jti] = call, until
    if first:
        recorded = uow.cds.remember_jtis(
            [(issuer, jti, until) for (issuer, jti), (_, until) in first.items()],
            now=min(call.now for call, _ in first.values()))
        replays += [call for key, (call, _) in first.items() if key not in recorded]
    return replays
