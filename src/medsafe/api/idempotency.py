"""`Idempotency-Key` on POSTs that create: the same key and body twice creates one record
and replays the first reply; the same key with another body is a 409.

The record is stored inside the use case's own transaction (`UnitOfWork.before_commit`),
so a reply is remembered exactly when what it describes was created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from medsafe.errors import Conflict, Invalid
from medsafe.security.accounts import now
from medsafe.security.principal import Principal
from medsafe.store.schema import IdempotencyRecord
from medsafe.store.uow import UnitOfWork, UowFactory

HEADER = "Idempotency-Key"
MAX_KEY = 200


def request_fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def create(request: Request, body: bytes, principal: Principal, uows: UowFactory,
           use_case: Callable[[UnitOfWork], Any], shape: Callable[[Any], dict[str, Any]],
           status_code: int = 201) -> JSONResponse:
    """Run a creating use case under the request's Idempotency-Key (if any)."""
    key = request.headers.get(HEADER)
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise Invalid(f"{HEADER}: 1 to {MAX_KEY} characters", where=HEADER)
    fingerprint = request_fingerprint(request, body)
    try:
        with uows() as uow:
            if key is not None:
                replay = _replay(uow, principal, key, fingerprint)
                if replay is not None:
                    return replay
            reply: dict[str, Any] = {}

            def remember() -> None:
                if key is not None:
                    uow.session.add(IdempotencyRecord(
                        user_id=principal.user_id, key=key, request_hash=fingerprint,
                        status_code=status_code, response_body=json.dumps(reply),
                        created_at=now()))

            uow.before_commit(lambda: reply.update(shape(uow.created[-1])))
            uow.before_commit(remember)
            use_case(uow)
    except IntegrityError:
        # Another request with the same key won the race: reply as it did.
        if key is None:
            raise
        with uows() as uow:
            replay = _replay(uow, principal, key, fingerprint)
        if replay is None:
            raise
        return replay
    return JSONResponse(reply, status_code=status_code)


def _replay(uow: UnitOfWork, principal: Principal, key: str, fingerprint: str
            ) -> JSONResponse | None:
    record = uow.session.execute(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == principal.user_id,
                                        IdempotencyRecord.key == key)
    ).scalar_one_or_none()
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise Conflict(f"{HEADER} '{key}' was already used with a different request")
    return JSONResponse(json.loads(record.response_body), status_code=record.status_code,
                        headers={"Idempotent-Replayed": "true"})
