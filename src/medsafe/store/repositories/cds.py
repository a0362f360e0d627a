"""The cards the CDS Hooks services returned and the EHRs' feedback on them, and the
override report counted per rule in SQL (interop.cds_hooks.feedback)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, TextClause, case, func, insert, select, text

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import CdsCard, CdsFeedback

if TYPE_CHECKING:
    from medsafe.interop.cds_hooks.cards import Card


@dataclass(frozen=True, slots=True)
class RuleCounts:
    rule_id: str
    shown: int
    accepted: int
    overridden: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    rule_id: str
    system: str | None
    code: str | None
    display: str | None
    count: int


# The replay check is one statement for all the CDS Hooks calls committed together
# (api.cds_group_commit): INSERT ... ON CONFLICT ... DO UPDATE ... WHERE ... RETURNING,
# which SQLite 3.35+ and PostgreSQL 9.5+ both speak; the rows it returns are the jtis now
# held, the others are replays. The unique (issuer, jti) decides; a row left by an
# expired token is taken over (its expiry moved on) instead of counting as a replay.
# ON CONFLICT rather than catching the unique violation: on PostgreSQL a failed INSERT
# aborts the whole transaction. Written as text, one statement per batch size, rather
# than built and cache-keyed by SQLAlchemy on every call.
MOST_JTIS_PER_STATEMENT = 64


@cache
def _remember_jtis(count: int) -> TextClause:
    values = ", ".join(f"(:issuer{i}, :jti{i}, :until{i})" for i in range(count))
    return text(
        f"INSERT INTO cds_jtis (issuer, jti, held_until) VALUES {values} "
        "ON CONFLICT (issuer, jti) DO UPDATE SET held_until = excluded.held_until "
        "WHERE cds_jtis.held_until <= :now RETURNING issuer, jti")


@dataclass(frozen=True, slots=True)
class CardResponse:
    """The cards of one CDS Hooks response, to be stored."""

    service_id: str
    hook_instance: str
    patient_ref: str
    cards: Sequence[Card]
    created_at: datetime


_FORGET_JTIS = text("DELETE FROM cds_jtis WHERE held_until <= :now")


class CdsRepository(Repository):
    def remember_jti(self, issuer: str, jti: str, *, until: float, now: float) -> bool:
        """Record a JWT jti as used until `until` (epoch seconds); False when a token that
        is still live holds it already (a replay). Safe across processes."""
        return bool(self.remember_jtis([(issuer, jti, until)], now=now))

    def remember_jtis(self, held: Sequence[tuple[str, str, float]], *, now: float
                      ) -> set[tuple[str, str]]:
        """Record several (issuer, jti, until) at once; the (issuer, jti) now held. Those
        missing are replays. Each (issuer, jti) at most once per call (PostgreSQL
        refuses to update one row twice in a statement)."""
        recorded: set[tuple[str, str]] = set()
        for start in range(0, len(held), MOST_JTIS_PER_STATEMENT):
            part = held[start:start + MOST_JTIS_PER_STATEMENT]
            values: dict[str, object] = {"now": now}
            for i, (issuer, jti, until) in enumerate(part):
                values |= {f"issuer{i}": issuer, f"jti{i}": jti, f"until{i}": until}
            rows = self.session.execute(_remember_jtis(len(part)), values)
            recorded |= {(str(issuer), str(jti)) for issuer, jti in rows}
        return recorded

    def forget_expired_jtis(self, now: float) -> int:
        """Delete the jtis of tokens that can no longer be accepted (by the index on their
        expiry); how many."""
        result = self.session.execute(_FORGET_JTIS, {"now": now})
        return int(getattr(result, "rowcount", 0) or 0)

    def add_cards(self, service_id: str, hook_instance: str, patient_ref: str,
                  cards: Sequence[Card], *, created_at: datetime) -> None:
        self.add_responses([CardResponse(service_id, hook_instance, patient_ref, cards,
                                         created_at)])

    def add_responses(self, responses: Sequence[CardResponse]) -> None:
        """The cards of several responses in one Core INSERT (the hook call is
        latency-bound; the ORM's bulk path costs more and nothing here needs it)."""
        rows = [{"uuid": card.uuid, "service_id": r.service_id,
                 "hook_instance": r.hook_instance, "patient_ref": r.patient_ref,
                 "rule_id": card.rule, "indicator": card.indicator, "summary": card.summary,
                 "suggestion_ids": list(card.suggestion_ids),
                 "detected_issue": card.detected_issue, "created_at": r.created_at}
                for r in responses for card in r.cards]
        if rows:
            self.session.execute(insert(cast(Table, CdsCard.__table__)), rows)

    def cards_by_uuid(self, service_id: str, uuids: Sequence[str]) -> dict[str, CdsCard]:
        if not uuids:
            return {}
        rows = self.session.execute(
            select(CdsCard).where(CdsCard.service_id == service_id,
                                  CdsCard.uuid.in_(set(uuids)))).scalars()
        return {row.uuid: row for row in rows}

    def add_feedback(self, rows: Sequence[CdsFeedback]) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def counts_by_rule(self) -> list[RuleCounts]:
        """Per rule: cards shown, and cards whose latest feedback accepted or overrode
        them (cards nobody answered count as shown only: the specification says ignored
        cards are not reported)."""
        latest = (select(CdsFeedback.card_id, func.max(CdsFeedback.id).label("last_id"))
                  .group_by(CdsFeedback.card_id).subquery())
        outcome = (select(CdsFeedback.card_id, CdsFeedback.outcome)
                   .join(latest, CdsFeedback.id == latest.c.last_id).subquery())
        query = (select(CdsCard.rule_id, func.count(CdsCard.id),
                        func.count(case((outcome.c.outcome == "accepted", 1))),
                        func.count(case((outcome.c.outcome == "overridden", 1))))
                 .outerjoin(outcome, outcome.c.card_id == CdsCard.id)
                 .group_by(CdsCard.rule_id).order_by(CdsCard.rule_id))
        return [RuleCounts(rule, int(shown), int(accepted), int(overridden))
                for rule, shown, accepted, overridden in self.session.execute(query)]

    def override_reasons(self) -> list[ReasonCount]:
        """How often each reason was given when a card of each rule was overridden (the
        latest feedback of each card)."""
        latest = (select(func.max(CdsFeedback.id).label("last_id"))
                  .group_by(CdsFeedback.card_id).subquery())
        query = (select(CdsCard.rule_id, CdsFeedback.reason_system, CdsFeedback.reason_code,
                        func.max(CdsFeedback.reason_display), func.count(CdsFeedback.id))
                 .join(CdsCard, CdsCard.id == CdsFeedback.card_id)
                 .where(CdsFeedback.id.in_(select(latest.c.last_id)),
                        CdsFeedback.outcome == "overridden")
                 .group_by(CdsCard.rule_id, CdsFeedback.reason_system,
                           CdsFeedback.reason_code)
                 .order_by(CdsCard.rule_id, func.count(CdsFeedback.id).desc(),
                           CdsFeedback.reason_code))
        return [ReasonCount(rule, system, code, display, int(n))
                for rule, system, code, display, n in self.session.execute(query)]
