"""A recall's notice to a patient as an R4 `Communication`, and the reading of those
notices for `GET /fhir/Communication` (read, and search by patient).

Sources: hl7.org/fhir/R4/communication.html (status from EventStatus, required;
`category` from the CommunicationCategory code system
http://terminology.hl7.org/CodeSystem/communication-category: alert, notification,
reminder, instruction; `medium` from v3 ParticipationMode
http://terminology.hl7.org/CodeSystem/v3-ParticipationMode: EMAILWRIT "email",
MAILWRIT "mail"; `subject` and `recipient` the Patient; `about` any resource the
communication is about; `sent`, `received`; `payload.contentString`); the notices
themselves: recalls/notifying.py and recalls/patient_notices.py.

Which notices: only those sent (`patient_notices.SENT`: e-mailed, a letter, or already
acknowledged). A proposal the pharmacist has not approved, or declined, was never
communicated, so it is no Communication (the patient's own page leaves them out too).

The mapping:
- status: `completed` when the e-mail was delivered or the patient acknowledged the
  notice; `in-progress` while the e-mail waits in the outbox, and for a letter (it is
  printed on demand and followed by the pharmacy's phone call, so medsafe does not know
  it arrived until the patient acknowledges it); `stopped` when the outbox gave up
  delivering the e-mail (with a status reason);
- category: `alert` when the recall tells patients to stop using the medicine now (they
  must act), `notification` otherwise (keep taking it until switched). Read from the
  recall as it is now: a notice sent before the firm changed its advice is categorised
  by the new advice (the notice does not store which advice it carried);
- medium: EMAILWRIT for an e-mail, MAILWRIT for a letter;
- subject and recipient: `Patient/<pseudonym>`; `about`: the recall, by its number
  (a logical reference: medsafe serves no FHIR resource for a recall);
- sent: the e-mail's delivery time; for a letter the time it was issued (what the
  patient's own page shows as sent). received: when the patient acknowledged it;
- topic: the notice's subject line; payload: its paragraphs, as written.

Who may read them (object level, so a notice the caller may not see is not found): the
patient themself, pharmacists and physicians of a patient they may see
(`security.permissions.visible_patients`: the patient's pharmacy by care relationship or
dispensing, the patient's physician by care relationship), and administrators.
Regulators and manufacturers may not read patients' notices at all (403).

The reading half (`read_notice`, `search_notices`) is a recalls use case that lives here
for now: it belongs in recalls/patient_notices.py, next to `my_notices`, whose `_joined`
query and `_view` text reading it reuses rather than copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.communication import Communication
from sqlalchemy import ColumnElement, func, select, true

from medsafe.errors import NotFound
from medsafe.interop.fhir.search import validated
from medsafe.recalls import patient_notices
from medsafe.recalls.patient_notices import SENT, OwnNotice
from medsafe.records import aware, require_role
from medsafe.security.permissions import visible_patients
from medsafe.security.principal import Principal
from medsafe.store.schema import OutboxMessage, Patient, RecallPatientNotice, RecallRow
from medsafe.store.uow import UnitOfWork

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
MEDIUM_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
RECALL_SYSTEM = "urn:medsafe:recall-number"
NOTICE_SYSTEM = "urn:medsafe:recall-patient-notice"
MEDIA = {"email": ("EMAILWRIT", "email"), "letter": ("MAILWRIT", "mail")}
READERS = ("admin", "patient", "pharmacist", "physician")


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """What the mapping needs about one sent notice."""

    notice: OwnNotice
    pseudonym: str
    delivery: str | None  # the e-mail's outbox status: pending delivered dead; None: letter
    delivered_at: datetime | None
    stop_now: bool  # the recall tells patients to stop using the medicine now


def to_communication(facts: NoticeFacts) -> dict[str, Any]:
    """The notice as a valid R4 Communication (JSON)."""
    notice = facts.notice
    code, display = MEDIA[notice.channel]
    status, reason = _status(facts)
    sent = facts.delivered_at if notice.channel == "email" else notice.sent_at
    patient = {"reference": f"Patient/{facts.pseudonym}"}
    category = ("alert", "Alert") if facts.stop_now else ("notification", "Notification")
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": str(notice.id),
        "identifier": [{"system": NOTICE_SYSTEM, "value": str(notice.id)}],
        "status": status,
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category[0],
                                  "display": category[1]}]}],
        "medium": [{"coding": [{"system": MEDIUM_SYSTEM, "code": code, "display": display}]}],
        "subject": patient,
        "recipient": [patient],
        "topic": {"text": notice.subject},
        "about": [{"identifier": {"system": RECALL_SYSTEM, "value": notice.recall_number},
                   "display": f"Recall {notice.recall_number}: {notice.medicine}"}],
        "payload": [{"contentString": paragraph} for paragraph in notice.text],
    }
    if reason is not None:
        resource["statusReason"] = {"text": reason}
    if sent is not None:
        resource["sent"] = aware(sent).isoformat()
    if notice.acknowledged_at is not None:
        resource["received"] = notice.acknowledged_at.isoformat()
    if not notice.recall_number:
        del resource["about"][0]["identifier"]
    if not notice.text:
        del resource["payload"]
    return validated(Communication, resource)


def _status(facts: NoticeFacts) -> tuple[str, str | None]:
    if facts.notice.acknowledged_at is not None or facts.delivery == "delivered":
        return "completed", None
    if facts.delivery == "dead":
        return "stopped", "the e-mail could not be delivered; the pharmacy follows up"
    return "in-progress", None


# -- reading (a recalls use case; see the module docstring) ------------------------------------

def read_notice(uow: UnitOfWork, principal: Principal, notice_id: int) -> dict[str, Any]:
    """One sent notice as a Communication; NotFound when it does not exist, was never
    sent, or is about a patient the caller may not see."""
    require_role(principal, READERS, "read patients' recall notices")
    rows = _facts(uow, principal, RecallPatientNotice.id == notice_id, offset=0, limit=1)
    if not rows:
        raise NotFound(f"no Communication {notice_id}")
    return to_communication(rows[0])


def search_notices(uow: UnitOfWork, principal: Principal, patients: frozenset[str] | None,
                   *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the sent notices the caller may see, newest first, for any of
    `patients` (pseudonyms; None: every patient), and how many there are in all."""
    require_role(principal, READERS, "read patients' recall notices")
    which: ColumnElement[bool] = (Patient.pseudonym.in_(sorted(patients))
                                  if patients is not None else true())
    total = uow.session.execute(
        select(func.count()).select_from(RecallPatientNotice)
        .join(Patient, Patient.id == RecallPatientNotice.patient_id)
        .where(RecallPatientNotice.state.in_(SENT), visible_patients(principal), which)
    ).scalar_one()
    if limit == 0 or offset >= total:
        return [], total
    return [to_communication(facts) for facts in
            _facts(uow, principal, which, offset=offset, limit=limit)], total


def _facts(uow: UnitOfWork, principal: Principal, which: ColumnElement[bool], *,
           offset: int, limit: int) -> list[NoticeFacts]:
    query = (select(RecallPatientNotice, RecallRow.recall_number, OutboxMessage,
                    Patient.pseudonym, RecallRow.patient_action)
             .join(RecallRow, RecallRow.id == RecallPatientNotice.recall_id)
             .join(Patient, Patient.id == RecallPatientNotice.patient_id)
             .outerjoin(OutboxMessage,
                        OutboxMessage.id == RecallPatientNotice.outbox_message_id)
             .where(RecallPatientNotice.state.in_(SENT), visible_patients(principal), which)
             .order_by(RecallPatientNotice.created_at.desc(), RecallPatientNotice.id.desc())
             .offset(offset).limit(limit))
    found: list[NoticeFacts] = []
    for notice, number, message, pseudonym, action in uow.session.execute(query).all():
        # `_view` is how the patient's own page reads a notice's text (the e-mail without
        # its acknowledgement footer, or the letter's blocks): one reading for both.
        view = patient_notices._view(notice, number or "", message)
        found.append(NoticeFacts(
            notice=view, pseudonym=pseudonym,
            delivery=message.status if message is not None else None,
            delivered_at=message.delivered_at if message is not None else None,
            stop_now=action == "stop_now"))
    return found
