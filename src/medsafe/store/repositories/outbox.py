"""The outbox: notices written in a use case's own transaction, claimed and marked by the
dispatcher.

Claiming is safe with several dispatchers at once. On PostgreSQL the due rows are picked
with FOR UPDATE SKIP LOCKED, so two claims never wait for, nor take, each other's rows;
on SQLite the transaction holds the database's write lock (BEGIN IMMEDIATE) and the lease
is set in the same single statement that picks the rows. Either way a claimed row carries
a lease (`claimed_until`): nobody else claims it until the lease runs out, which is also
how the messages of a dispatcher that died come back.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from medsafe.notify.message import Failure, Notice, Outgoing, new_ack_token, new_message_id
from medsafe.store.schema import OutboxMessage

OUTGOING_COLUMNS = (OutboxMessage.id, OutboxMessage.message_id, OutboxMessage.channel,
                    OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body_text,
                    OutboxMessage.body_html, OutboxMessage.headers, OutboxMessage.ack_token,
                    OutboxMessage.topic, OutboxMessage.audience, OutboxMessage.created_at,
                    OutboxMessage.attempts)


@cache
def this_host() -> str:
    """The machine's name for Message-IDs (a system call, no DNS lookup)."""
    return socket.gethostname()


@dataclass(frozen=True, slots=True)
class TopicCount:
    topic: str
    status: str
    messages: int
    acknowledged: int


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OutboxRepository:
    """Not a row `Repository`: writers hand it notices, and it makes the rows."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writers ---------------------------------------------------------------------------

    def add(self, notice: Notice, *, at: datetime | None = None) -> OutboxMessage:
        """Stage one notice in the caller's transaction: it is delivered only if the use
        case commits, and vanishes with it if it rolls back. Flushed, so its id is known."""
        row = OutboxMessage(**self._values(notice, at or datetime.now(UTC)))
        self.session.add(row)
        self.session.flush()
        return row

    def add_all(self, notices: Iterable[Notice], *, at: datetime | None = None) -> int:
        """Stage many notices (a recall's fan-out) with one multi-row INSERT; how many."""
        moment = at or datetime.now(UTC)
        rows = [self._values(notice, moment) for notice in notices]
        if rows:
            self.session.execute(insert(OutboxMessage), rows)
        return len(rows)

    def _values(self, notice: Notice, at: datetime) -> dict[str, Any]:
        return {
            "message_id": new_message_id(this_host()),
            "channel": notice.channel,
            "recipient": notice.recipient,
            "subject": notice.subject,
            "body_text": notice.body_text,
            "body_html": notice.body_html,
            "headers": dict(notice.headers),
            "ack_token": new_ack_token() if notice.acknowledge else None,
            "acknowledged_at": None,
            "topic": notice.topic,
            "audience": notice.audience,
            "created_at": at,
            "status": "pending",
            "attempts": 0,
            "available_at": at,
            "claimed_until": None,
            "delivered_at": None,
            "last_error": None,
        }

    # -- the dispatcher --------------------------------------------------------------------

    def claim_due(self, limit: int, *, now: datetime, lease: timedelta) -> list[Outgoing]:
        """Take up to `limit` due messages (pending, their time come, no live lease),
        oldest first, and lease them until `now + lease`: one statement."""
        table = OutboxMessage
        due = (select(table.id)
               .where(table.status == "pending", table.available_at <= now,
                      or_(table.claimed_until.is_(None), table.claimed_until <= now))
               .order_by(table.available_at, table.id)
               .limit(limit))
        if self.session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        chosen = due.cte("due")
        claim = (update(table).where(table.id == chosen.c.id)
                 .values(claimed_until=now + lease)
                 .returning(*OUTGOING_COLUMNS)
                 .execution_options(synchronize_session=False))
        rows = self.session.execute(claim).all()
        messages = [Outgoing(id=r.id, message_id=r.message_id, channel=r.channel,
                             recipient=r.recipient, subject=r.subject,
                             body_text=r.body_text, body_html=r.body_html,
                             headers=dict(r.headers or {}), ack_token=r.ack_token,
                             topic=r.topic, audience=r.audience,
                             created_at=_aware(r.created_at), attempts=r.attempts)
                    for r in rows]
        messages.sort(key=lambda m: m.id)
        return messages

    def mark_delivered(self, ids: Sequence[int], *, at: datetime) -> None:
        """The channel accepted these: delivered, whatever happened to them meanwhile (a
        message another dispatcher gave up on was still delivered)."""
        if ids:
            self.session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                .values(status="delivered", delivered_at=at, claimed_until=None)
                .execution_options(synchronize_session=False))

    def mark_failed(self, failures: Sequence[Failure], *, at: datetime) -> None:
        """Record failed attempts: each message back to pending with its next attempt
        time (the lease given up), or dead (its `available_at` then says when it died).
        A message meanwhile delivered stays delivered."""
        table = cast(Table, OutboxMessage.__table__)
        statement = (update(table)
                     .where(table.c.id == bindparam("b_id"), table.c.status == "pending")
                     .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
                             available_at=bindparam("b_next"), claimed_until=None,
                             last_error=bindparam("b_error")))
        rows = [{"b_id": f.id, "b_attempts": f.attempts, "b_next": f.next_attempt or at,
                 "b_status": "pending" if f.next_attempt is not None else "dead",
                 "b_error": f.error} for f in failures]
        if rows:
            self.session.execute(statement, rows)

    def release(self, ids: Sequence[int], *, available_at: datetime | None = None) -> None:
        """Give up the lease on messages not tried (a stop, a channel that is down),
        without counting an attempt; optionally not before `available_at`."""
        if not ids:
            return
        values: dict[str, Any] = {"claimed_until": None}
        if available_at is not None:
            values["available_at"] = available_at
        self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
            .values(**values).execution_options(synchronize_session=False))

    def renew(self, ids: Sequence[int], *, until: datetime) -> None:
        """Extend the lease on messages still in hand."""
        if ids:
            self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
                .values(claimed_until=until).execution_options(synchronize_session=False))

    # -- acknowledgements ------------------------------------------------------------------

    def by_ack_token(self, token: str) -> OutboxMessage | None:
        return self.session.execute(
            select(OutboxMessage).where(OutboxMessage.ack_token == token)).scalar_one_or_none()

    def acknowledge(self, token: str, *, at: datetime) -> tuple[OutboxMessage, bool] | None:
        """Record the acknowledgement once: (the message, whether this call recorded it),
        or None for an unknown token. Two at the same moment: one of them records it."""
        result = self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.ack_token == token, OutboxMessage.acknowledged_at.is_(None))
            .values(acknowledged_at=at).execution_options(synchronize_session=False))
        first = isinstance(result, CursorResult) and result.rowcount == 1
        row = self.by_ack_token(token)
        if row is None:
            return None
        self.session.refresh(row)
        return row, first

    # -- status ----------------------------------------------------------------------------

    def counts(self) -> list[TopicCount]:
        """Messages by topic and status, with how many were acknowledged."""
        rows = self.session.execute(
            select(OutboxMessage.topic, OutboxMessage.status, func.count(),
                   func.count(OutboxMessage.acknowledged_at))
            .group_by(OutboxMessage.topic, OutboxMessage.status)
            .order_by(OutboxMessage.topic, OutboxMessage.status)).all()
        return [TopicCount(topic, status, int(n), int(acked)) for topic, status, n, acked
                in rows]

    def failing(self, status: str, limit: int) -> list[OutboxMessage]:
        """Messages with failed attempts in this status (dead, or pending a retry),
        latest first, with their last error."""
        return list(self.session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.status == status, OutboxMessage.attempts > 0)
            .order_by(OutboxMessage.available_at.desc(), OutboxMessage.id.desc())
            .limit(limit)).scalars())
