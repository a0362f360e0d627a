"""A patient's own recall notices, read and acknowledged in medsafe while signed in.

The notice's e-mail link acknowledges too (notify/acknowledgements.py): both ways record
the same acknowledgement, once, and an e-mailed notice acknowledged here has its message
marked acknowledged as well, so the recall's figures count it once whichever way came
first. A letter (the patient had no e-mail address) is acknowledged here or by the
pharmacy's phone call. Notices the pharmacy has not decided to send (proposed) or
declined were never sent, so the patient does not see them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Select, select

from medsafe.errors import NotFound
from medsafe.records import View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.principal import Principal
from medsafe.store.schema import OutboxMessage, RecallPatientNotice, RecallRow
from medsafe.store.uow import UnitOfWork

SENT = ("queued", "letter", "acknowledged")


class OwnNotice(View):
    id: int
    recall_id: int
    recall_number: str
    medicine: str
    lots: list[str]
    received_on: list[date]
    subject: str
    text: list[str]  # paragraphs, as the notice was written
    sent_at: datetime
    channel: str  # email letter
    acknowledged_at: datetime | None


def my_notices(uow: UnitOfWork, principal: Principal) -> list[OwnNotice]:
    """The signed-in patient's notices, newest first."""
    patient_id = _patient(principal)
    rows = uow.session.execute(
        _joined().where(RecallPatientNotice.patient_id == patient_id,
                        RecallPatientNotice.state.in_(SENT))
        .order_by(RecallPatientNotice.created_at.desc(), RecallPatientNotice.id.desc())).all()
    return [_view(notice, number or "", message) for notice, number, message in rows]


def acknowledge_mine(uow: UnitOfWork, principal: Principal, notice_id: int) -> OwnNotice:
    """Acknowledge one of the patient's own notices (the first time only; repeating it
    changes nothing). Another patient's notice, or one never sent, is not found."""
    patient_id = _patient(principal)
    found = uow.session.execute(
        _joined().where(RecallPatientNotice.id == notice_id,
                        RecallPatientNotice.patient_id == patient_id,
                        RecallPatientNotice.state.in_(SENT))).one_or_none()
    if found is None:
        raise NotFound(f"no notice {notice_id} for you")
    notice, found_number, message = found
    number = found_number or ""
    if notice.state != "acknowledged":
        at = now()
        if message is not None and message.ack_token is not None:
            uow.outbox.acknowledge(message.ack_token, at=at)
        notice.state, notice.acknowledged_at = "acknowledged", at
        audit.record(uow, principal, "notice.acknowledge", "recall_patient_notice",
                     notice.id, {"recall": number, "channel": _channel(notice)},
                     reason="acknowledged by the patient, signed in")
        uow.flush()
    view = _view(notice, number, message)
    uow.commit()
    return view


def _patient(principal: Principal) -> int:
    require_role(principal, ("patient",), "read your own recall notices")
    if principal.patient_id is None:
        raise NotFound("this account is not linked to a patient record")
    return principal.patient_id


def _joined() -> Select[RecallPatientNotice, str | None, OutboxMessage]:
    return (select(RecallPatientNotice, RecallRow.recall_number, OutboxMessage)
            .join(RecallRow, RecallRow.id == RecallPatientNotice.recall_id)
            .outerjoin(OutboxMessage,
                       OutboxMessage.id == RecallPatientNotice.outbox_message_id))


def _channel(notice: RecallPatientNotice) -> str:
    return "email" if notice.outbox_message_id is not None else "letter"


def _view(notice: RecallPatientNotice, number: str, message: OutboxMessage | None
          ) -> OwnNotice:
    if message is not None:
        subject = message.subject
        # The e-mail's footer carries the acknowledgement link: the page has its own button.
        body = message.body_text.split("\n-- \n")[0]
        text = [p.strip() for p in body.split("\n\n") if p.strip()]
    else:
        letter = notice.letter or {}
        subject = str(letter.get("subject", f"Recall {number}"))
        blocks = letter.get("blocks", [])
        text = [str(block[1]) for block in blocks] if isinstance(blocks, list) else []
    acknowledged = notice.acknowledged_at
    return OwnNotice(
        id=notice.id, recall_id=notice.recall_id, recall_number=number,
        medicine=notice.medicine, lots=sorted({lot for lot, _ in notice.received}),
        received_on=[date.fromisoformat(day) for _, day in notice.received],
        subject=subject, text=text, sent_at=aware(notice.created_at),
        channel=_channel(notice),
        acknowledged_at=None if acknowledged is None else aware(acknowledged))
