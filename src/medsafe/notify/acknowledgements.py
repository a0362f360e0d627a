"""Acknowledging a notice through its link.

The link's token is the only credential: whoever holds the notice may acknowledge it,
signed in or not. Reading the notice behind a token changes nothing (mail scanners open
links to look at them); acknowledging is a separate step, recorded once, audited, and
harmless to repeat.
"""

from __future__ import annotations

from datetime import datetime

from medsafe.errors import NotFound
from medsafe.notify.message import ACK_TOKEN
from medsafe.records import View, aware, now
from medsafe.security import audit
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import OutboxMessage
from medsafe.store.uow import UnitOfWork

UNKNOWN = "no notice has this acknowledgement link (check that the whole link was copied)"


class NoticeToAcknowledge(View):
    subject: str
    sent_on: datetime  # when the notice was written
    acknowledged_at: datetime | None
    just_acknowledged: bool = False  # this request recorded it


def read(uow: UnitOfWork, token: str) -> NoticeToAcknowledge:
    """The notice behind an acknowledgement token; NotFound for an unknown one."""
    return _view(_message(uow, token))


def acknowledge(uow: UnitOfWork, token: str) -> NoticeToAcknowledge:
    """Record that the notice was acknowledged, the first time only; later calls say
    when it was."""
    if not ACK_TOKEN.fullmatch(token):
        raise NotFound(UNKNOWN)
    at = now()
    found = uow.outbox.acknowledge(token, at=at)
    if found is None:
        raise NotFound(UNKNOWN)
    row, first = found
    if first:
        # A recall's patient notice sent as this message is acknowledged with it.
        uow.recall_notices.acknowledged(row.id, at)
        audit.record(uow, SYSTEM, "notice.acknowledge", "notice", row.message_id,
                     {"topic": row.topic, "audience": row.audience},
                     reason="acknowledged through the notice's link")
    uow.commit()
    return _view(row, just_acknowledged=first)


def _message(uow: UnitOfWork, token: str) -> OutboxMessage:
    row = uow.outbox.by_ack_token(token) if ACK_TOKEN.fullmatch(token) else None
    if row is None:
        raise NotFound(UNKNOWN)
    return row


def _view(row: OutboxMessage, *, just_acknowledged: bool = False) -> NoticeToAcknowledge:
    return NoticeToAcknowledge(
        subject=row.subject, sent_on=aware(row.created_at),
        acknowledged_at=None if row.acknowledged_at is None else aware(row.acknowledged_at),
        just_acknowledged=just_acknowledged)
