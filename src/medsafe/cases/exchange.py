"""E2B(R3) exchange: receiving ICSR files (checked against FDA's rules, acknowledged),
exporting a case, and tracking medsafe's own outbound messages and their
acknowledgements.

Receiving: a file is read safely (no entities, bounded size and depth), every message is
checked against the FDA rejection and warning rules medsafe implements, messages without
a rejection are stored as cases or versions (same worldwide id), and an acknowledgement
is produced in FDA's shape: AA when every message was accepted, AE when some were
rejected (CR, with the rules' texts), AR when the file could not be read at all. One
file, one transaction.

Sending: submitting a case (the workflow's last step) writes its current version as an
E2B(R3) batch and records it as pending; the receiver's acknowledgement, once loaded,
marks it accepted or rejected with the reasons. A submission still pending after
`ACK_OVERDUE_DAYS` is overdue: a local policy, not a regulation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from medsafe.cases.intake import ImportTally, Receipt, store_reports
from medsafe.cases.outbound import DEFAULT_RECEIVER, SENDER_ID, current_report
from medsafe.cases.rules import DEFAULT_REGION
from medsafe.cases.service import SAFETY_TEAM, find_case, sees_identities
from medsafe.errors import Conflict, Forbidden, Invalid, NotFound
from medsafe.interop.e2b import (
    acknowledgement,
    batch_rejection,
    read_acknowledgement,
    read_e2b,
    validate_batch,
    write_e2b,
)
from medsafe.interop.e2b.validation import Problem
from medsafe.knowledge.catalog import Catalog
from medsafe.records import aware, now, require_role
from medsafe.security import audit
from medsafe.security.permissions import visible_cases
from medsafe.security.principal import Principal
from medsafe.store.schema import CaseSubmission
from medsafe.store.uow import UnitOfWork, UowFactory

ACK_OVERDUE_DAYS = 2
IMPORTERS = ("admin", "regulator", "manufacturer")
NOT_YOURS = Problem("MEDSAFE-CASE", "C.1.8.1", "rejection",
                    "C.1.8.1: a case with this worldwide unique case id is held for another "
                    "organisation; it cannot take a version from this sender")


@dataclass(frozen=True, slots=True)
class MessageResult:
    message_id: str
    worldwide_id: str
    accepted: bool
    problems: tuple[str, ...]  # "R0011 (rejection): …"


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    name: str
    acknowledgement: bytes
    results: tuple[MessageResult, ...]
    tally: ImportTally

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.results)


def receive_e2b(uow_factory: UowFactory, principal: Principal, catalog: Catalog,
                data: bytes, *, name: str, today: date | None = None,
                region: str = DEFAULT_REGION) -> ReceivedFile:
    """Read, check, store and acknowledge one E2B(R3) file. A file that cannot be read is
    refused whole (Invalid, nothing stored); `batch_rejection` gives its AR reply."""
    require_role(principal, IMPORTERS, "import E2B files")
    day = today or now().date()
    messages = read_e2b(data, source_name=name)
    with uow_factory() as uow:
        ids = {m.report.worldwide_id for m in messages}
        known = set(uow.cases.ids_by_worldwide_id(ids))
        hidden = known - set(uow.cases.ids_by_worldwide_id(ids, visible_cases(principal)))
        problems = [(*found, *([NOT_YOURS] if m.report.worldwide_id in hidden else []))
                    for m, found in zip(messages, validate_batch(messages, today=day,
                                                                 known_cases=known),
                                        strict=True)]
        results = tuple(MessageResult(
            message_id=m.message_id, worldwide_id=m.report.worldwide_id,
            accepted=not any(p.rejects for p in found),
            problems=tuple(f"{p.rule_id} ({p.severity}): {p.message}" for p in found))
            for m, found in zip(messages, problems, strict=True))
        accepted = [m.report for m, r in zip(messages, results, strict=True) if r.accepted]
        tally = store_reports(uow, principal, catalog, accepted,
                              Receipt(source="e2b", region=region,
                                      reported_by_id=principal.user_id or None),
                              keep=True)
        ack = acknowledgement(messages, problems, ack_id=f"ACK-{uuid.uuid4()}",
                              created=now())
        audit.record(uow, principal, "cases.import_e2b", "import", name[:80], {
            "messages": len(messages), "accepted": len(accepted),
            "rejected": len(messages) - len(accepted), "new": tally.new,
            "follow_ups": tally.follow_ups, "same": tally.same})
        uow.commit()
    return ReceivedFile(name=name, acknowledgement=ack, results=results, tally=tally)


def refusal(name: str, error: Invalid) -> bytes:
    """The AR acknowledgement of a file that could not be read."""
    return batch_rejection(f"{name}: {error.reason}", ack_id=f"ACK-{uuid.uuid4()}",
                           created=now())


def export_e2b(uow: UnitOfWork, principal: Principal, reference: str | int, *,
               receiver: str = DEFAULT_RECEIVER) -> bytes:
    """The case's current version as an E2B(R3) batch. Only callers who see identities
    export: an ICSR for a regulator carries them."""
    row = find_case(uow, principal, reference)
    if not sees_identities(principal, row):
        raise Forbidden(f"an E2B(R3) export carries the patient's and reporter's "
                        f"identities, which a {principal.role} may not see")
    return write_e2b([current_report(uow, row)], batch_id=f"MEDSAFE-B-{uuid.uuid4()}",
                     sender_id=SENDER_ID, receiver_id=receiver, created=now())


def record_acknowledgement(uow: UnitOfWork, principal: Principal, data: bytes, *,
                           name: str) -> CaseSubmission:
    """Load the receiver's acknowledgement of one of medsafe's submissions."""
    require_role(principal, SAFETY_TEAM, "record acknowledgements")
    ack = read_acknowledgement(data, source_name=name)
    submission = uow.cases.submission_by_message(ack.batch_id or "")
    if submission is None:
        raise NotFound(f"{name}: acknowledges batch '{ack.batch_id}', which medsafe did not "
                       "send")
    if submission.ack_status != "pending":
        raise Conflict(f"batch {ack.batch_id} was already acknowledged "
                       f"({submission.ack_status})")
    accepted = ack.accepted and all(m.accepted for m in ack.messages)
    details = [*ack.details, *(d for m in ack.messages for d in m.details)]
    submission.ack_status = "accepted" if accepted else "rejected"
    submission.ack_detail = "; ".join(details) or None
    submission.ack_at = now()
    audit.record(uow, principal, "case.acknowledged", "case", submission.case_id,
                 {"message": submission.message_id, "ack": ack.code,
                  "status": submission.ack_status}, reason=submission.ack_detail)
    uow.commit()
    return submission


def overdue_acknowledgements(uow: UnitOfWork, principal: Principal,
                             moment: datetime | None = None) -> list[CaseSubmission]:
    require_role(principal, SAFETY_TEAM, "see submissions")
    cutoff = (moment or now()) - timedelta(days=ACK_OVERDUE_DAYS)
    return [s for s in uow.cases.pending_submissions() if aware(s.sent_at) < cutoff]
