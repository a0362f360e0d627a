"""Outbound E2B(R3) messages: what submitting a case sends, recorded as pending until
the receiver acknowledges it (`cases.exchange` reads the acknowledgement)."""

from __future__ import annotations

import uuid

from medsafe.cases.model import CaseReport
from medsafe.interop.e2b import write_e2b
from medsafe.records import now
from medsafe.store.schema import Case, CaseSubmission
from medsafe.store.uow import UnitOfWork

SENDER_ID = "MEDSAFE"
DEFAULT_RECEIVER = "CDER"  # FDA's receiver id for drug ICSRs in its example files


def record_submission(uow: UnitOfWork, row: Case, *,
                      receiver: str = DEFAULT_RECEIVER) -> CaseSubmission:
    """Write the outbound message for the case's current version (not committed: the
    workflow step that submits commits it)."""
    batch_id = f"MEDSAFE-B-{uuid.uuid4()}"
    message = write_e2b([current_report(uow, row)], batch_id=batch_id, sender_id=SENDER_ID,
                        receiver_id=receiver, created=now())
    return uow.cases.add_submission(CaseSubmission(
        case_id=row.id, version=row.version, message_id=batch_id, receiver=receiver,
        sent_at=now(), message=message.decode(), ack_status="pending"))


def current_report(uow: UnitOfWork, row: Case) -> CaseReport:
    version = uow.cases.version(row.id, row.version)
    assert version is not None
    return CaseReport.model_validate_json(version.payload)
