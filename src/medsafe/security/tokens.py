"""Opaque random tokens: only their SHA-256 is stored, so a database leak reveals none."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "ms_"


def new_token() -> tuple[str, str]:
    """(token to give out, hash to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
