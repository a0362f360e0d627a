"""The notice a writer hands to the outbox, and the pure rules of its delivery: the
Message-ID, the acknowledgement link, the outcome of one attempt and the retry schedule.

No I/O here: the outbox repository stores notices, the channels send them, the
dispatcher runs the loop. See docs/notify.md.
"""

from __future__ import annotations

import html
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Literal, get_args
from urllib.parse import urlsplit

from medsafe.errors import Invalid

ChannelName = Literal["email", "webhook"]
CHANNELS: tuple[str, ...] = get_args(ChannelName)
Status = Literal["pending", "delivered", "dead"]
STATUSES: tuple[str, ...] = get_args(Status)

ACK_PATH = "/notices/ack/"
ACK_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
AUDIENCE = re.compile(r"[a-z][a-z_-]{0,19}")
# RFC 5322 header field names are printable ASCII without the colon; we keep to the
# conventional letters, digits and hyphens.
HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,75}")
# The headers the channels write themselves: a writer must not replace them.
RESERVED_HEADERS = frozenset({"message-id", "date", "from", "to", "cc", "bcc", "subject",
                              "sender", "reply-to", "mime-version", "content-type",
                              "content-transfer-encoding", "auto-submitted"})
# ASCII addresses only: the SMTP channel does not speak SMTPUTF8.
EMAIL = re.compile(r"[!#-'*+\-/-9=?A-Z^-~.]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
HOST_SAFE = re.compile(r"[^A-Za-z0-9.-]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # includes CR and LF: no header injection
CONTROL_IN_BODY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs, newlines allowed


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one recipient, as a use case writes it to the outbox.

    `topic` is a short reference the writer chooses (e.g. "recall:D-0123-2021") to count
    and find a fan-out's messages; `audience` says who the recipient is (pharmacy,
    prescriber, patient, …). With `acknowledge`, the message carries a link the recipient
    opens to confirm they have read it.
    """

    channel: ChannelName
    recipient: str
    subject: str
    body_text: str
    topic: str
    audience: str
    body_html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    acknowledge: bool = True

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise Invalid(f"must be one of {', '.join(CHANNELS)}, not '{self.channel}'",
                          where="notice.channel")
        check_recipient(self.channel, self.recipient)
        _one_line(self.subject, "notice.subject", 500)
        _one_line(self.topic, "notice.topic", 100)
        if not AUDIENCE.fullmatch(self.audience):
            raise Invalid("must be a short lower-case word such as pharmacy, prescriber or "
                          f"patient, not '{self.audience}'", where="notice.audience")
        for name, body in (("body_text", self.body_text), ("body_html", self.body_html)):
            if body is not None and (not body.strip() or CONTROL_IN_BODY.search(body)):
                raise Invalid("must be non-empty text without control characters",
                              where=f"notice.{name}")
        for name, value in self.headers.items():
            if not HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
                raise Invalid(f"'{name}' is not a header a notice may set",
                              where="notice.headers")
            _one_line(value, f"notice.headers.{name}", 900)
        object.__setattr__(self, "headers", dict(self.headers))


def _one_line(text: str, where: str, longest: int) -> None:
    if not text.strip() or len(text) > longest or CONTROL.search(text):
        raise Invalid(f"must be one line of 1 to {longest} characters", where=where)


def check_recipient(channel: str, recipient: str) -> None:
    """An e-mail address for e-mail, an http(s) URL for a webhook; Invalid otherwise."""
    if channel == "email":
        if len(recipient) > 254 or not EMAIL.fullmatch(recipient):
            raise Invalid(f"'{recipient}' is not an e-mail address", where="notice.recipient")
        return
    parts = urlsplit(recipient)
    # Only http(s): urllib would also open file: and ftp: URLs, which a webhook must never.
    if (parts.scheme not in ("http", "https") or not parts.hostname or len(recipient) > 2000
            or CONTROL.search(recipient) or " " in recipient):
        raise Invalid(f"'{recipient}' is not an http or https URL", where="notice.recipient")


# -- identities ------------------------------------------------------------------------------

def message_id_host(hostname: str) -> str:
    """The right-hand side of our Message-IDs: the machine's name, reduced to the
    characters RFC 5322's dot-atom allows (and without empty labels)."""
    labels = [label for label in HOST_SAFE.sub("", hostname).split(".") if label]
    return ".".join(labels) or "medsafe.localhost"


def new_message_id(host: str) -> str:
    """A globally unique RFC 5322 Message-ID, `<32 hex digits@host>`, made once when the
    notice is written so that every delivery of it carries the same one."""
    return f"<{uuid.uuid4().hex}@{message_id_host(host)}>"


def new_ack_token() -> str:
    """A random, URL-safe acknowledgement token (256 bits)."""
    return secrets.token_urlsafe(32)


def ack_url(base_url: str, token: str) -> str:
    """The link a recipient opens to acknowledge a notice."""
    if not ACK_TOKEN.fullmatch(token):
        raise Invalid("not an acknowledgement token", where="ack_token")
    return base_url.rstrip("/") + ACK_PATH + token


def ack_footer(url: str) -> str:
    return f"Please confirm that you have read this notice:\n{url}\n"


def with_ack_link(body_text: str, body_html: str | None, url: str | None
                  ) -> tuple[str, str | None]:
    """The bodies as they are sent: with the acknowledgement link added at the end when
    the notice asks for one. The HTML gets it as a paragraph inside its body element."""
    if url is None:
        return body_text, body_html
    text = body_text.rstrip("\n") + "\n\n-- \n" + ack_footer(url)
    if body_html is None:
        return text, None
    link = html.escape(url, quote=True)
    paragraph = (f'<p>Please confirm that you have read this notice: '
                 f'<a href="{link}">{link}</a></p>')
    closing = body_html.lower().rfind("</body>")
    if closing == -1:
        return text, body_html + "\n" + paragraph
    return text, body_html[:closing] + paragraph + "\n" + body_html[closing:]


# -- delivery --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed outbox message, as the channels see it."""

    id: int
    message_id: str
    channel: str
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    headers: Mapping[str, str]
    ack_token: str | None
    topic: str
    audience: str
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to. `permanent`: retrying cannot help (the server
    refused the recipient for good). `channel_down`: the channel itself could not be
    reached, so the other messages for it need not be tried now either."""

    delivered: bool
    error: str | None = None
    permanent: bool = False
    channel_down: bool = False
    retry_after: float | None = None  # seconds, when the server said so

    @classmethod
    def ok(cls) -> Outcome:
        return cls(delivered=True)

    @classmethod
    def retry(cls, error: str, *, channel_down: bool = False,
              retry_after: float | None = None) -> Outcome:
        return cls(delivered=False, error=error, channel_down=channel_down,
                   retry_after=retry_after)

    @classmethod
    def dead(cls, error: str) -> Outcome:
        return cls(delivered=False, error=error, permanent=True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap, then dead.

    After the n-th failed attempt the next one waits between half and all of
    min(cap, base · 2^(n-1)) seconds ("equal jitter": messages that failed together do not
    come back together, and none comes back sooner than half the step). With the defaults
    the waits grow 15 s, 30 s, 1 min, … up to 30 min, and the 12th failure, about two and a
    half hours after the first, makes the message dead.
    """

    base_seconds: float = 15.0
    cap_seconds: float = 1800.0
    max_attempts: int = 12

    def __post_init__(self) -> None:
        if not (0 < self.base_seconds <= self.cap_seconds) or self.max_attempts < 1:
            raise Invalid("a retry policy needs 0 < base <= cap and at least one attempt")

    def delay(self, failures: int, rng: Random) -> float:
        """Seconds to wait after the `failures`-th failed attempt (1 for the first)."""
        step = min(self.cap_seconds, self.base_seconds * 2.0 ** min(max(failures, 1) - 1, 60))
        return step / 2 + rng.uniform(0, step / 2)

    def after_failure(self, failures: int, outcome: Outcome, rng: Random) -> float | None:
        """Seconds until the next attempt after this failure, or None: the message is dead
        (a permanent refusal, or the last attempt allowed)."""
        if outcome.permanent or failures >= self.max_attempts:
            return None
        wait = self.delay(failures, rng)
        if outcome.retry_after is not None:
            # A server that asks for a pause gets it, up to the cap.
            wait = max(wait, min(outcome.retry_after, self.cap_seconds))
        return wait


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt, as the outbox records it: the failures so far (this one
    included), why, and when to try next (None: dead)."""

    id: int
    attempts: int
    error: str
    next_attempt: datetime | None


def failure(message: Outgoing, outcome: Outcome, *, now: datetime, policy: RetryPolicy,
            rng: Random) -> Failure:
    """What a failed attempt at `message` comes to under `policy`."""
    attempts = message.attempts + 1
    wait = policy.after_failure(attempts, outcome, rng)
    return Failure(id=message.id, attempts=attempts, error=outcome.error or "failed",
                   next_attempt=None if wait is None else now + timedelta(seconds=wait))


def short_error(error: BaseException | str, limit: int = 500) -> str:
    """An error as one line for `last_error`."""
    text = error if isinstance(error, str) else (f"{type(error).__name__}: {error}"
                                                 if str(error) else type(error).__name__)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
