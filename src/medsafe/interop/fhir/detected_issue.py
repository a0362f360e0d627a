"""The problems medsafe's decision support raised in an EHR, on which the prescriber
acted, as R4 `DetectedIssue`: read, and search by patient (`GET /fhir/DetectedIssue`).

Sources: hl7.org/fhir/R4/detectedissue.html (status, code, severity high | moderate |
low, patient, identifiedDateTime, author, implicated, detail, reference, mitigation with
action (CodeableConcept), date and author; in R4 the patient is `patient`, R5 renamed it
`subject`); CDS Hooks 2.0 "Feedback" (`HL7/cds-hooks` input/pagecontent/index.md: a card
is accepted, with the suggestions taken, or overridden, with an optional reason Coding and
the user's comment); the stored cards and feedback: interop/cds_hooks/cards.py (the
DetectedIssue each card offered, kept as R4 JSON in `cds_cards.detected_issue`) and
interop/cds_hooks/feedback.py (`cds_feedback`; a card may get feedback more than once, and
the latest outcome counts, as in the override report).

Which cards: those the EHR reported feedback on, accepted or overridden. A card nobody
answered is not a detected issue anyone acted on (CDS Hooks clients do not report
ignored cards), so it is left out.

The mapping: the stored DetectedIssue of the card, as it was offered, with
- `id` the card's uuid, and `identifier` (system `urn:medsafe:cds-card`) the same;
- `author` naming the medsafe CDS service that raised it (a display: medsafe serves no
  Device resource);
- one more `mitigation`, dated when the prescriber acted: for an accepted card the
  action `accepted` with the suggestions taken; for an overridden card the action
  `overridden`, with the override reason's Coding as sent by the EHR, and its words and
  the user's comment as text. An override is not a risk-reducing action in the strict
  sense of R4's mitigation, but it is what the prescriber decided about the issue, and
  the reason (e.g. "patient already monitored") is often a mitigating factor, which R4
  allows mitigation to record;
- the extension `cds-outcome` (valueCode accepted | overridden) under medsafe's
  extension base, so a reader can filter without parsing the mitigation.

Who may read them (object level: what the caller may not see is not found): the card
names the EHR's patient (`Patient/<id>`). Administrators read every one; a patient, and
the pharmacists and physicians of a patient (`security.permissions.visible_patients`),
read those whose EHR patient id is that patient's medsafe pseudonym (the EHR knows the
patient by medsafe's pseudonym, as the demo's EHR does). Cards about a patient medsafe
does not know are for administrators only. Regulators and manufacturers may not read
prescribers' decisions about single patients at all (403): the override report gives
them nothing per patient either. This is local policy, labelled so.

The reading half (`read_issue`, `search_issues`) is a CDS use case that lives here for
now: it belongs beside interop/cds_hooks/feedback.py (or in its repository).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.detectedissue import DetectedIssue
from sqlalchemy import ColumnElement, String, func, literal, select, true

from medsafe.errors import NotFound
from medsafe.interop.fhir.adverse_event import EXTENSION_BASE
from medsafe.interop.fhir.search import validated
from medsafe.records import aware, require_role
from medsafe.security.permissions import visible_patients
from medsafe.security.principal import Principal
from medsafe.store.schema import CdsCard, CdsFeedback, Patient
from medsafe.store.uow import UnitOfWork

CARD_SYSTEM = "urn:medsafe:cds-card"
OUTCOME_SYSTEM = "urn:medsafe:cds-outcome"
OUTCOME_EXTENSION = EXTENSION_BASE + "cds-outcome"
READERS = ("admin", "patient", "pharmacist", "physician")
OUTCOME_DISPLAY = {"accepted": "Accepted by the prescriber",
                   "overridden": "Overridden by the prescriber"}


@dataclass(frozen=True, slots=True)
class CardFacts:
    """A stored card: what the mapping needs of it."""

    uuid: str
    service_id: str
    detected_issue: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FeedbackFacts:
    """The latest feedback on a card."""

    outcome: str  # accepted overridden
    accepted: tuple[str, ...]
    reason_system: str | None
    reason_code: str | None
    reason_display: str | None
    comment: str | None
    at: datetime


def to_detected_issue(card: CardFacts, feedback: FeedbackFacts) -> dict[str, Any]:
    """The card's DetectedIssue with what the prescriber did, as valid R4 JSON."""
    issue = dict(card.detected_issue)
    issue.pop("id", None)
    issue.update({
        "resourceType": "DetectedIssue",
        "id": card.uuid,
        "extension": [*issue.get("extension", []),
                      {"url": OUTCOME_EXTENSION, "valueCode": feedback.outcome}],
        "identifier": [{"system": CARD_SYSTEM, "value": card.uuid}],
        "author": {"display": f"medsafe CDS service {card.service_id}"},
        "mitigation": [*issue.get("mitigation", []), _mitigation(feedback)],
    })
    return validated(DetectedIssue, issue)


def _mitigation(feedback: FeedbackFacts) -> dict[str, Any]:
    codings = [{"system": OUTCOME_SYSTEM, "code": feedback.outcome,
                "display": OUTCOME_DISPLAY.get(feedback.outcome, feedback.outcome)}]
    if feedback.outcome == "accepted":
        taken = ", ".join(feedback.accepted) or "none named"
        text = f"The prescriber accepted the card (suggestions taken: {taken})"
    else:
        if feedback.reason_code:
            codings.append({key: value for key, value in (
                ("system", feedback.reason_system), ("code", feedback.reason_code),
                ("display", feedback.reason_display)) if value})
        reason = feedback.reason_display or feedback.reason_code or "no reason given"
        text = f"The prescriber overrode the card: {reason}"
    if feedback.comment:
        text += f". Comment: {feedback.comment}"
    return {"action": {"coding": codings, "text": text},
            "date": aware(feedback.at).isoformat()}


# -- reading (a CDS use case; see the module docstring) ----------------------------------------

def read_issue(uow: UnitOfWork, principal: Principal, issue_id: str) -> dict[str, Any]:
    """One acted-on card as a DetectedIssue; NotFound when there is no such card, nobody
    acted on it, or it is about a patient the caller may not see."""
    require_role(principal, READERS, "read detected issues about patients")
    found = _rows(uow, principal, CdsCard.uuid == issue_id, offset=0, limit=1)
    if not found:
        raise NotFound(f"no DetectedIssue {issue_id}")
    return found[0]


def search_issues(uow: UnitOfWork, principal: Principal, patients: frozenset[str] | None,
                  *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of the acted-on cards the caller may see, newest first, for any of
    `patients` (medsafe pseudonyms, matched against the EHR's `Patient/<id>`; None: every
    patient), and how many there are in all."""
    require_role(principal, READERS, "read detected issues about patients")
    which: ColumnElement[bool] = (
        CdsCard.patient_ref.in_([f"Patient/{p}" for p in sorted(patients)])
        if patients is not None else true())
    total = uow.session.execute(
        select(func.count()).select_from(CdsCard)
        .where(CdsCard.id.in_(select(CdsFeedback.card_id)), _visible(principal), which)
    ).scalar_one()
    if limit == 0 or offset >= total:
        return [], total
    return _rows(uow, principal, which, offset=offset, limit=limit), total


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.role == "admin":
        return true()
    refs = select(literal("Patient/", String) + Patient.pseudonym).where(
        visible_patients(principal))
    return CdsCard.patient_ref.in_(refs)


def _rows(uow: UnitOfWork, principal: Principal, which: ColumnElement[bool], *,
          offset: int, limit: int) -> list[dict[str, Any]]:
    latest = (select(CdsFeedback.card_id, func.max(CdsFeedback.id).label("last_id"))
              .group_by(CdsFeedback.card_id).subquery())
    query = (select(CdsCard, CdsFeedback)
             .join(latest, latest.c.card_id == CdsCard.id)
             .join(CdsFeedback, CdsFeedback.id == latest.c.last_id)
             .where(_visible(principal), which)
             .order_by(CdsCard.created_at.desc(), CdsCard.id.desc())
             .offset(offset).limit(limit))
    return [_issue(card, feedback) for card, feedback in uow.session.execute(query).all()]


def _issue(card: CdsCard, feedback: CdsFeedback) -> dict[str, Any]:
    accepted: Sequence[str] = feedback.accepted_suggestions or []
    return to_detected_issue(
        CardFacts(uuid=card.uuid, service_id=card.service_id,
                  detected_issue=dict(card.detected_issue)),
        FeedbackFacts(outcome=feedback.outcome, accepted=tuple(accepted),
                      reason_system=feedback.reason_system, reason_code=feedback.reason_code,
                      reason_display=feedback.reason_display, comment=feedback.comment,
                      at=feedback.outcome_at))
