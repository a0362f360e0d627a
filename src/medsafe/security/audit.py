"""The audit trail: append-only, hash-chained, written in the same transaction as the
change it records.

Canonical serialisation (what the hash covers), documented in docs/audit.md:

    canonical = JSON of {"seq", "at", "actor", "action", "entity", "entity_id",
                         "changes", "reason", "prev_hash"}
                with keys sorted, separators (",", ":"), UTF-8, no ASCII escaping;
                "at" as UTC ISO 8601 with microseconds and a trailing "Z";
                "changes" as the stored canonical JSON text of the change.
    hash = SHA-256(canonical) in lower-case hex

The first event's prev_hash is the genesis hash, 64 zeros. Each writer locks the single
`audit_head` row before appending, and `seq`/`prev_hash` are unique, so concurrent writers
queue up instead of forking the chain. `verify` recomputes every hash and link and reports
a changed, deleted, inserted or reordered event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from medsafe.security.principal import Principal
from medsafe.store.schema import AuditEvent, AuditHead
from medsafe.store.uow import UnitOfWork

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc_text(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def event_hash(*, seq: int, at: datetime, actor: str, action: str, entity: str,
               entity_id: str, changes: str, reason: str | None, prev_hash: str) -> str:
    canonical = canonical_json({
        "seq": seq, "at": _utc_text(at), "actor": actor, "action": action,
        "entity": entity, "entity_id": entity_id, "changes": changes, "reason": reason,
        "prev_hash": prev_hash,
    })
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for every field whose value changed."""
    fields = set(before) | set(after)
    return {f: [before.get(f), after.get(f)] for f in sorted(fields)
            if before.get(f) != after.get(f)}


def record(uow: UnitOfWork, actor: Principal, action: str, entity: str, entity_id: object,
           changes: Mapping[str, Any] | None = None, reason: str | None = None,
           at: datetime | None = None) -> AuditEvent:
    """Append one event in the caller's transaction. Locks the chain head until commit."""
    session = uow.session
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    # Microsecond precision survives both SQLite text and PostgreSQL timestamptz.
    changes_text = canonical_json(dict(changes or {}))
    seq = head.seq + 1
    digest = event_hash(seq=seq, at=moment, actor=actor.username, action=action,
                        entity=entity, entity_id=str(entity_id), changes=changes_text,
                        reason=reason, prev_hash=head.hash)
    event = AuditEvent(seq=seq, at=moment, actor=actor.username, action=action, entity=entity,
                       entity_id=str(entity_id), changes=changes_text, reason=reason,
                       prev_hash=head.hash, hash=digest)
    session.add(event)
    head.seq = seq
    head.hash = digest
    session.flush()
    return event


@dataclass(frozen=True, slots=True)
class Verification:
    events: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _events(uow: UnitOfWork) -> Iterator[AuditEvent]:
    result = uow.session.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(
        yield_per=5000))
    yield from result.scalars()


def verify(uow: UnitOfWork) -> Verification:
    problems: list[str] = []
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    for event in _events(uow):
        count += 1
        if event.seq != expected_seq:
            problems.append(f"event {event.seq}: expected sequence number {expected_seq} "
                            "(an event is missing or was inserted)")
            expected_seq = event.seq
        if event.prev_hash != expected_prev:
            problems.append(f"event {event.seq}: does not link to the event before it "
                            "(deleted, inserted or reordered)")
        recomputed = event_hash(seq=event.seq, at=event.at, actor=event.actor,
                                action=event.action, entity=event.entity,
                                entity_id=event.entity_id, changes=event.changes,
                                reason=event.reason, prev_hash=event.prev_hash)
        if recomputed != event.hash:
            problems.append(f"event {event.seq}: content does not match its hash (changed)")
        expected_prev = event.hash
        expected_seq += 1
    head = uow.session.get(AuditHead, 1)
    if head is None:
        problems.append("the chain head is missing")
    elif head.hash != expected_prev or head.seq != expected_seq - 1:
        problems.append(f"the chain head (event {head.seq}) does not match the last event "
                        f"(event {expected_seq - 1}): events were deleted from the end")
    return Verification(events=count, problems=tuple(problems))
