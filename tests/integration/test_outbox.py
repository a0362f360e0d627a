"""The outbox on SQLite and PostgreSQL: written and rolled back with the use case that
writes it, claimed under a lease, never handed to two claimers at once, retried with
backoff until dead, acknowledged once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from sqlalchemy import func, select

from medsafe.bootstrap import Container
from medsafe.errors import Conflict
from medsafe.notify.message import Notice, Outcome, RetryPolicy, failure
from medsafe.security import audit
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import AuditEvent, OutboxMessage
from medsafe.store.uow import UnitOfWork

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def notices(count: int, topic: str = "recall:D-0001-2026") -> list[Notice]:
    return [Notice(channel="email", recipient=f"pharmacy{i}@example.org",
                   subject="Recall of baclofen 10 mg, lots A1 and A2",
                   body_text="Quarantine lots A1 and A2 and reply to this notice.",
                   topic=topic, audience="pharmacy") for i in range(count)]


def publish_recall(uow: UnitOfWork, recipients: int, *, fail: bool) -> None:
    """A use case in miniature: its audit event and its notices in one transaction."""
    audit.record(uow, SYSTEM, "recall.publish", "recall", "D-0001-2026")
    uow.outbox.add_all(notices(recipients), at=T0)
    if fail:
        raise Conflict("the recall changed meanwhile")
    uow.commit()


def outbox_size(container: Container) -> int:
    with container.uow() as uow:
        return int(uow.session.execute(select(func.count(OutboxMessage.id))).scalar_one())


def write(container: Container, count: int, *, at: datetime = T0) -> list[int]:
    with container.uow() as uow:
        ids = [uow.outbox.add(n, at=at).id for n in notices(count)]
        uow.commit()
    return ids


def test_notices_are_rolled_back_with_the_use_case_that_wrote_them(
        container: Container) -> None:
    with pytest.raises(Conflict), container.uow() as uow:
        publish_recall(uow, 50, fail=True)
    assert outbox_size(container) == 0
    with container.uow() as uow:
        assert uow.session.execute(select(func.count(AuditEvent.seq))).scalar_one() == 0

    with container.uow() as uow:
        publish_recall(uow, 50, fail=False)
    assert outbox_size(container) == 50
    with container.uow() as uow:
        assert uow.session.execute(select(func.count(AuditEvent.seq))).scalar_one() == 1


def test_each_notice_gets_its_own_message_id_and_ack_token_when_written(
        container: Container) -> None:
    with container.uow() as uow:
        uow.outbox.add_all(notices(20), at=T0)
        uow.outbox.add(Notice(channel="webhook", recipient="https://hooks.example.org/r",
                              subject="FYI", body_text="No reply needed.", topic="info",
                              audience="pharmacy", acknowledge=False), at=T0)
        uow.commit()
    with container.uow() as uow:
        rows = uow.session.execute(select(
            OutboxMessage.message_id, OutboxMessage.ack_token, OutboxMessage.channel,
            OutboxMessage.status, OutboxMessage.attempts)).all()
    assert len({r.message_id for r in rows}) == 21
    assert len({r.ack_token for r in rows if r.ack_token}) == 20
    assert [r.ack_token for r in rows if r.channel == "webhook"] == [None]
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}


def test_a_claimed_message_is_leased_until_the_lease_runs_out(container: Container) -> None:
    [only] = write(container, 1)
    with container.uow() as uow:
        [claimed] = uow.outbox.claim_due(10, now=T0, lease=LEASE)
        uow.commit()
    assert claimed.id == only
    with container.uow() as uow:
        assert uow.outbox.claim_due(10, now=T0 + LEASE - timedelta(seconds=1), lease=LEASE) == []
        [again] = uow.outbox.claim_due(10, now=T0 + LEASE, lease=LEASE)
        uow.commit()
    assert again.message_id == claimed.message_id


def test_a_message_is_not_due_before_its_time(container: Container) -> None:
    write(container, 3, at=T0 + timedelta(hours=1))
    with container.uow() as uow:
        assert uow.outbox.claim_due(10, now=T0, lease=LEASE) == []
        assert len(uow.outbox.claim_due(10, now=T0 + timedelta(hours=1), lease=LEASE)) == 3


def test_claims_take_the_oldest_due_messages_first_up_to_the_batch(
        container: Container) -> None:
    late = write(container, 5, at=T0 + timedelta(minutes=1))
    early = write(container, 5, at=T0)
    with container.uow() as uow:
        first = uow.outbox.claim_due(7, now=T0 + timedelta(minutes=2), lease=LEASE)
        uow.commit()
    assert [m.id for m in first] == sorted(early + late[:2])


def test_two_claimers_at_once_never_get_the_same_message(container: Container) -> None:
    everything = set(write(container, 600))
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def claimer(mine: list[int]) -> None:
        try:
            start.wait()
            while True:
                with container.uow() as uow:
                    batch = uow.outbox.claim_due(25, now=T0, lease=LEASE)
                    uow.commit()
                if not batch:
                    return
                mine.extend(m.id for m in batch)
        except BaseException as error:  # reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=claimer, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert set(taken[0]).isdisjoint(taken[1])
    assert len(taken[0]) + len(taken[1]) == len(everything)
    assert set(taken[0]) | set(taken[1]) == everything
    assert taken[0], "both claimers should have had a share"
    assert taken[1], "both claimers should have had a share"


def test_a_claim_skips_the_rows_another_open_claim_holds(container: Container) -> None:
    """PostgreSQL: FOR UPDATE SKIP LOCKED, so a second dispatcher neither waits for the
    first one's transaction nor takes its rows. (SQLite has one writer at a time.)"""
    if container.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: a second claim waits for the first")
    write(container, 10)
    with container.uow() as first:
        held = first.outbox.claim_due(4, now=T0, lease=LEASE)  # not committed yet
        with container.uow() as second:
            other = second.outbox.claim_due(100, now=T0, lease=LEASE)
            second.commit()
        first.commit()
    assert len(held) == 4
    assert len(other) == 6
    assert {m.id for m in held}.isdisjoint(m.id for m in other)


def test_a_failed_message_backs_off_and_is_dead_after_the_last_attempt(
        container: Container) -> None:
    policy = RetryPolicy(base_seconds=60, cap_seconds=600, max_attempts=3)
    rng = Random(11)
    write(container, 1)
    now = T0
    for attempt in (1, 2, 3):
        with container.uow() as uow:
            [message] = uow.outbox.claim_due(1, now=now, lease=LEASE)
            assert message.attempts == attempt - 1
            failed = failure(message, Outcome.retry(f"451 busy ({attempt})"), now=now,
                             policy=policy, rng=rng)
            uow.outbox.mark_failed([failed], at=now)
            uow.commit()
        with container.uow() as uow:
            row = uow.session.execute(select(OutboxMessage)).scalar_one()
            assert row.attempts == attempt
            assert row.last_error == f"451 busy ({attempt})"
            assert row.claimed_until is None
            if attempt < 3:
                assert row.status == "pending"
                assert failed.next_attempt is not None
                # not due again before its backoff, due after it
                assert uow.outbox.claim_due(1, now=now, lease=LEASE) == []
                now = failed.next_attempt
            else:
                assert row.status == "dead"
        assert (failed.next_attempt is None) == (attempt == 3)
    with container.uow() as uow:
        assert uow.outbox.claim_due(1, now=now + timedelta(days=30), lease=LEASE) == []
        [dead] = uow.outbox.failing("dead", 10)
        assert uow.outbox.failing("pending", 10) == []
        assert dead.last_error == "451 busy (3)"


def test_delivered_messages_are_not_claimed_again(container: Container) -> None:
    write(container, 5)
    with container.uow() as uow:
        batch = uow.outbox.claim_due(5, now=T0, lease=LEASE)
        uow.outbox.mark_delivered([m.id for m in batch[:3]], at=T0)
        uow.outbox.release([m.id for m in batch[3:]])
        uow.commit()
    with container.uow() as uow:
        back = uow.outbox.claim_due(10, now=T0, lease=LEASE)
        statuses = sorted(uow.session.execute(select(OutboxMessage.status)).scalars())
    assert [m.id for m in back] == [m.id for m in batch[3:]]
    assert all(m.attempts == 0 for m in back)  # given back, not failed
    assert statuses == ["delivered"] * 3 + ["pending"] * 2


def test_a_renewed_lease_keeps_the_message_claimed(container: Container) -> None:
    write(container, 1)
    with container.uow() as uow:
        [message] = uow.outbox.claim_due(1, now=T0, lease=LEASE)
        uow.outbox.renew([message.id], until=T0 + 3 * LEASE)
        uow.commit()
    with container.uow() as uow:
        assert uow.outbox.claim_due(1, now=T0 + 2 * LEASE, lease=LEASE) == []


def test_an_acknowledgement_is_recorded_once(container: Container) -> None:
    write(container, 1)
    with container.uow() as uow:
        token = uow.session.execute(select(OutboxMessage.ack_token)).scalar_one()
        assert token is not None
        found = uow.outbox.acknowledge(token, at=T0)
        uow.commit()
    assert found is not None
    assert found[1] is True
    with container.uow() as uow:
        again = uow.outbox.acknowledge(token, at=T0 + timedelta(hours=1))
        missing = uow.outbox.acknowledge("x" * 43, at=T0)
        uow.commit()
    assert again is not None
    row, first = again
    assert first is False
    assert row.acknowledged_at is not None
    assert row.acknowledged_at.replace(tzinfo=UTC) == T0
    assert missing is None


def test_counts_by_topic_and_status_with_acknowledgements(container: Container) -> None:
    with container.uow() as uow:
        uow.outbox.add_all(notices(4, topic="recall:A"), at=T0)
        uow.outbox.add_all(notices(2, topic="recall:B"), at=T0)
        uow.commit()
    with container.uow() as uow:
        batch = uow.outbox.claim_due(3, now=T0, lease=LEASE)
        uow.outbox.mark_delivered([m.id for m in batch], at=T0)
        token = uow.session.get_one(OutboxMessage, batch[0].id).ack_token
        assert token is not None
        uow.outbox.acknowledge(token, at=T0)
        uow.commit()
    with container.uow() as uow:
        counts = {(c.topic, c.status): (c.messages, c.acknowledged)
                  for c in uow.outbox.counts()}
    assert counts == {("recall:A", "delivered"): (3, 1), ("recall:A", "pending"): (1, 0),
                      ("recall:B", "pending"): (2, 0)}
