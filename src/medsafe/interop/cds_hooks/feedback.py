"""CDS Hooks 2.0 feedback (`POST {base}/cds-services/{id}/feedback`): what the prescriber
did with each card, stored; and the override report per rule.

Feedback body (CDS Hooks 2.0 "Feedback"): `{"feedback": [{card, outcome, acceptedSuggestions,
overrideReason, outcomeTimestamp}]}`; `outcome` is accepted | overridden;
`acceptedSuggestions` (a list of `{id}`) is required when accepted; `overrideReason`
(`{reason: Coding, userComment}`) may come with overridden. Ignored cards are not
reported by the client, so the report's override rate is overridden / shown, with the
number of cards nobody answered beside it.

All items of one request are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from medsafe.errors import Invalid, NotFound
from medsafe.interop.cds_hooks.service import service_named
from medsafe.store.schema import CdsFeedback
from medsafe.store.uow import UnitOfWork

OUTCOMES = ("accepted", "overridden")
MOST_ITEMS = 100
LONGEST_COMMENT = 2_000


@dataclass(frozen=True, slots=True)
class _Item:
    card: str
    outcome: str
    accepted: tuple[str, ...]
    reason: Mapping[str, Any] | None
    comment: str | None
    at: datetime


def record_feedback(uow: UnitOfWork, service_id: str, document: Any, *,
                    now: datetime) -> int:
    """Store every feedback item of one request; the number stored. NotFound for a card
    this service never returned; Invalid for a malformed item (nothing is stored)."""
    service = service_named(service_id)
    items = _items(document)
    cards = uow.cds.cards_by_uuid(service.id, [item.card for item in items])
    rows = []
    for index, item in enumerate(items):
        card = cards.get(item.card)
        if card is None:
            raise NotFound(f"feedback[{index}].card: no card {item.card!r} was returned by "
                           f"{service.id}")
        unknown = sorted(set(item.accepted) - set(card.suggestion_ids))
        if unknown:
            raise Invalid(f"{', '.join(unknown)}: not suggestions of card {item.card}",
                          where=f"feedback[{index}].acceptedSuggestions")
        reason = item.reason or {}
        rows.append(CdsFeedback(
            card_id=card.id, outcome=item.outcome, accepted_suggestions=list(item.accepted),
            reason_system=reason.get("system"), reason_code=reason.get("code"),
            reason_display=reason.get("display"), comment=item.comment,
            outcome_at=item.at, received_at=now))
    uow.cds.add_feedback(rows)
    uow.commit()
    return len(rows)


def _items(document: Any) -> list[_Item]:
    if not isinstance(document, dict) or not isinstance(document.get("feedback"), list):
        raise Invalid("expected {\"feedback\": [...]}", where="feedback")
    raw = document["feedback"]
    if not raw or len(raw) > MOST_ITEMS:
        raise Invalid(f"send 1 to {MOST_ITEMS} feedback items", where="feedback")
    return [_item(entry, f"feedback[{index}]") for index, entry in enumerate(raw)]


def _item(entry: Any, where: str) -> _Item:
    if not isinstance(entry, dict):
        raise Invalid("expected an object", where=where)
    card = entry.get("card")
    if not isinstance(card, str) or not 0 < len(card) <= 36:
        raise Invalid("required: the uuid of the card", where=f"{where}.card")
    outcome = entry.get("outcome")
    if outcome not in OUTCOMES:
        raise Invalid(f"{outcome!r}: must be accepted or overridden", where=f"{where}.outcome")
    accepted: list[str] = []
    suggestions = entry.get("acceptedSuggestions")
    if outcome == "accepted":
        if not isinstance(suggestions, list) or not suggestions:
            raise Invalid("required when the outcome is accepted: [{\"id\": ...}]",
                          where=f"{where}.acceptedSuggestions")
        for suggestion in suggestions:
            sid = suggestion.get("id") if isinstance(suggestion, dict) else None
            if not isinstance(sid, str) or not sid:
                raise Invalid("each accepted suggestion needs its id",
                              where=f"{where}.acceptedSuggestions")
            accepted.append(sid)
    elif suggestions:
        raise Invalid("only an accepted card has accepted suggestions",
                      where=f"{where}.acceptedSuggestions")
    reason, comment = _override_reason(entry.get("overrideReason"), outcome, where)
    return _Item(card, outcome, tuple(accepted), reason, comment,
                 _timestamp(entry.get("outcomeTimestamp"), f"{where}.outcomeTimestamp"))


def _override_reason(value: Any, outcome: str, where: str
                     ) -> tuple[Mapping[str, Any] | None, str | None]:
    if value is None:
        return None, None
    if outcome != "overridden":
        raise Invalid("only an overridden card has an override reason",
                      where=f"{where}.overrideReason")
    if not isinstance(value, dict):
        raise Invalid("expected {reason, userComment}", where=f"{where}.overrideReason")
    reason = value.get("reason")
    if reason is not None:
        if not isinstance(reason, dict) or not isinstance(reason.get("code"), str):
            raise Invalid("a Coding with its code", where=f"{where}.overrideReason.reason")
        for name, limit in (("system", 200), ("code", 100), ("display", 200)):
            text = reason.get(name)
            if text is not None and (not isinstance(text, str) or len(text) > limit):
                raise Invalid(f"a string of at most {limit} characters",
                              where=f"{where}.overrideReason.reason.{name}")
    comment = value.get("userComment")
    if comment is not None and (not isinstance(comment, str)
                                or len(comment) > LONGEST_COMMENT):
        raise Invalid(f"a string of at most {LONGEST_COMMENT} characters",
                      where=f"{where}.overrideReason.userComment")
    return reason, comment


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise Invalid("required: when the prescriber acted (ISO 8601 with a time zone)",
                      where=where)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{value[:40]!r} is not an ISO 8601 date-time", where=where) from None
    if moment.tzinfo is None:
        raise Invalid("give the time zone (e.g. 2026-11-26T09:30:00Z)", where=where)
    return moment


# ------------------------------------------------------------------------ the report

def override_report(uow: UnitOfWork) -> dict[str, Any]:
    """Per rule: cards shown, accepted, overridden, not answered, the override rate
    (overridden / shown) and the reasons given, most frequent first."""
    reasons: dict[str, list[dict[str, Any]]] = {}
    for reason in uow.cds.override_reasons():
        reasons.setdefault(reason.rule_id, []).append(
            {"system": reason.system, "code": reason.code, "display": reason.display,
             "count": reason.count})
    rules: list[dict[str, Any]] = []
    for counts in uow.cds.counts_by_rule():
        answered = counts.accepted + counts.overridden
        rules.append({
            "rule": counts.rule_id, "shown": counts.shown, "accepted": counts.accepted,
            "overridden": counts.overridden, "unanswered": counts.shown - answered,
            "override_rate": round(counts.overridden / counts.shown, 4) if counts.shown
            else None,
            "reasons": reasons.get(counts.rule_id, []),
        })
    rules.sort(key=lambda r: (-float(r["override_rate"] or 0.0), -int(r["shown"]),
                              str(r["rule"])))
    return {"rules": rules}
