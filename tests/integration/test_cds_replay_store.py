"""The CDS Hooks replay check in the database (interop.cds_hooks.replay), on SQLite and
PostgreSQL: what every `medsafe serve` worker process shares, so a jti used on one
worker is refused on another and after a restart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from medsafe.bootstrap import Container
from medsafe.interop.cds_hooks.replay import DatabaseJtiStore, PendingJti
from medsafe.interop.cds_hooks.security import RequestRejected, Rule
from medsafe.store.schema import CdsJti

EHR = "https://ehr.example.org"
T = 1_800_000_000.0


def rows(container: Container) -> int:
    with container.uow() as uow:
        return int(uow.session.execute(select(func.count(CdsJti.id))).scalar_one())


def replay_refused(call: Callable[[], None]) -> None:
    with pytest.raises(RequestRejected) as caught:
        call()
    assert caught.value.rule is Rule.REPLAY


def test_a_jti_used_through_one_worker_is_refused_through_another(
        container: Container) -> None:
    first, second = DatabaseJtiStore(container.uow), DatabaseJtiStore(container.uow)
    first.remember(EHR, "j-1", until=T + 60, now=T)
    replay_refused(lambda: second.remember(EHR, "j-1", until=T + 60, now=T + 1))
    second.remember("https://other-ehr.example", "j-1", until=T + 60, now=T + 1)
    assert rows(container) == 2


def test_a_jti_whose_token_has_expired_may_be_used_again(container: Container) -> None:
    store = DatabaseJtiStore(container.uow, prune_every_seconds=3600)
    store.remember(EHR, "j-1", until=T + 60, now=T)
    store.remember(EHR, "j-1", until=T + 200, now=T + 60)  # past its hold: taken over
    replay_refused(lambda: store.remember(EHR, "j-1", until=T + 300, now=T + 100))


def test_expired_jtis_are_pruned_at_most_once_per_interval(container: Container) -> None:
    store = DatabaseJtiStore(container.uow, prune_every_seconds=60)
    store.remember(EHR, "old", until=T + 10, now=T)  # prunes (nothing yet)
    store.remember(EHR, "young", until=T + 500, now=T + 30)  # not due: old stays
    assert rows(container) == 2
    store.remember(EHR, "new", until=T + 500, now=T + 61)  # due: old goes
    assert rows(container) == 2
    with container.uow() as uow:
        held = set(uow.session.execute(select(CdsJti.jti)).scalars())
    assert held == {"young", "new"}


def test_a_pending_jti_is_written_with_the_transaction_that_records_it(
        container: Container) -> None:
    pending = PendingJti()
    pending.remember(EHR, "deferred", until=T + 60, now=T)
    with container.uow() as uow:
        pending.record(uow)  # rolled back: never committed
    assert rows(container) == 0
    pending.record_alone(container.uow)
    assert pending.recorded
    assert rows(container) == 1
    again = PendingJti()
    again.remember(EHR, "deferred", until=T + 60, now=T + 1)
    replay_refused(lambda: again.record_alone(container.uow))
    assert not again.recorded


def test_an_unsigned_request_has_no_jti_to_record(container: Container) -> None:
    PendingJti().record_alone(container.uow)
    assert rows(container) == 0
