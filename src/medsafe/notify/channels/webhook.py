"""Webhooks: a POST of the notice as JSON (urllib.request), signed.

The receiver checks `X-Medsafe-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact
body bytes under the shared secret (MEDSAFE_WEBHOOK_SECRET), and recognises a
redelivery by `X-Medsafe-Message-Id` (also in the body). The body is the same for every
delivery of a message. Replies classify as: 2xx delivered; 4xx dead, except 408 and 429
which retry (after Retry-After seconds, when given); anything else, a redirect included
(a POST is not followed to another address), retry later.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any

from medsafe import __version__
from medsafe.errors import Invalid
from medsafe.notify.channels import link_for
from medsafe.notify.message import Outcome, Outgoing, check_recipient, short_error

SIGNATURE_HEADER = "X-Medsafe-Signature"
MESSAGE_ID_HEADER = "X-Medsafe-Message-Id"
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secret: str
    public_base_url: str
    timeout: float = 10.0


def payload(message: Outgoing, ack_link: str | None) -> bytes:
    """The JSON body: the notice and its acknowledgement link, keys sorted, UTF-8."""
    document = {
        "message_id": message.message_id,
        "topic": message.topic,
        "audience": message.audience,
        "subject": message.subject,
        "text": message.body_text,
        "html": message.body_html,
        "headers": dict(message.headers),
        "ack_url": ack_link,
        "created_at": message.created_at.isoformat(),
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def outcome_for_status(status: int, retry_after: str | None = None) -> Outcome:
    if 200 <= status < 300:
        return Outcome.ok()
    error = f"HTTP {status}"
    if 400 <= status < 500 and status not in RETRY_STATUSES:
        return Outcome.dead(error)
    seconds = retry_after.strip() if retry_after else ""
    # Retry-After may also be an HTTP date; only the number of seconds is honoured.
    return Outcome.retry(error, retry_after=float(seconds) if seconds.isdigit() else None)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: Message, newurl: str) -> None:
        return None  # the 3xx reply itself becomes the outcome


class WebhookChannel:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self._opener = urllib.request.build_opener(_NoRedirects)

    def send(self, message: Outgoing) -> Outcome:
        try:
            check_recipient("webhook", message.recipient)  # never a file: or ftp: URL
        except Invalid as error:
            return Outcome.dead(error.message)
        body = payload(message, link_for(message, self.config.public_base_url))
        request = urllib.request.Request(message.recipient, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"medsafe/{__version__}",
            MESSAGE_ID_HEADER: message.message_id,
            SIGNATURE_HEADER: signature(self.config.secret, body),
        })
        try:
            with self._opener.open(request, timeout=self.config.timeout) as reply:
                status: int = reply.status
        except urllib.error.HTTPError as error:
            retry_after: Any = error.headers.get("Retry-After") if error.headers else None
            error.close()
            return outcome_for_status(error.code, retry_after)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            return Outcome.retry(short_error(error))
        return outcome_for_status(status)

    def close(self) -> None:
        """Nothing is held between messages (one connection per POST)."""
