"""E-mail over SMTP (smtplib): one connection carries message after message, and is
opened again when the server has dropped it.

Each message is plain text with an optional HTML alternative, and carries its stored
Message-ID and its creation time as Date, so that a redelivery is the same message
byte for byte and a mail client shows it once. Replies classify as: accepted, delivered;
a 5xx refusal of the recipient or the content, dead; anything else (4xx, a dropped
connection, a server that cannot be reached, our own sender refused), retry later.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime
from functools import lru_cache

from medsafe.config import Settings
from medsafe.notify.channels import link_for
from medsafe.notify.message import Outcome, Outgoing, message_id_host, short_error, with_ack_link


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    public_base_url: str
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
                   public_base_url=settings.public_base_url, starttls=settings.smtp_starttls,
                   user=settings.smtp_user, password=settings.smtp_password)


# CRLF line ends, as RFC 5321 requires (smtplib sends bytes as they are, and relays now
# refuse bare newlines).
WIRE = compat32.clone(linesep="\r\n")


def render_email(message: Outgoing, *, sender: str, public_base_url: str) -> bytes:
    """The e-mail for a claimed message, with its acknowledgement link, as sent.

    Built with the `email.mime` classes under the compat32 policy, the bodies encoded
    with binascii's quoted-printable: about a tenth of the time `EmailMessage` under the
    SMTP policy takes (1.4 ms a message, measured), which alone would hold the dispatcher
    under its target rate."""
    text, html = with_ack_link(message.body_text, message.body_html,
                               link_for(message, public_base_url))
    email: MIMENonMultipart | MIMEMultipart = _text_part(text, "plain")
    if html is not None:
        # A boundary of our own, fixed by the Message-ID: a redelivery is the same bytes,
        # and "=_" never occurs in quoted-printable text, so it cannot collide.
        boundary = "=_" + hashlib.sha256(message.message_id.encode()).hexdigest()[:40]
        email = MIMEMultipart("alternative", boundary=boundary)
        email.attach(_text_part(text, "plain"))
        email.attach(_text_part(html, "html"))
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(message.created_at)
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = _header("Subject", message.subject)
    # RFC 3834: an automatic message; out-of-office replies are not sent back to it.
    email["Auto-Submitted"] = "auto-generated"
    for name, value in message.headers.items():
        email[name] = _header(name, value)
    return email.as_bytes(policy=WIRE)


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """UTF-8, quoted-printable: readable in the raw, 7-bit safe, no line over 76."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


@lru_cache(maxsize=256)  # a fan-out repeats its subject thousands of times
def _header(name: str, value: str) -> str:
    """ASCII as it is (folded if long); anything else RFC 2047-encoded."""
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name=name).encode()


class SmtpChannel:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._connection: smtplib.SMTP | None = None
        self.connections = 0  # opened so far (tests and progress read it)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        # Our own name for EHLO: smtplib would otherwise look it up in DNS (getfqdn).
        connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout,
                                  local_hostname=message_id_host(socket.gethostname()))
        try:
            connection.ehlo()
            if config.starttls:
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if config.user:
                connection.login(config.user, config.password or "")
        except BaseException:
            _quietly_close(connection)
            raise
        self.connections += 1
        return connection

    def send(self, message: Outgoing) -> Outcome:
        payload = render_email(message, sender=self.config.sender,
                               public_base_url=self.config.public_base_url)
        # A connection kept from an earlier message may have been closed by the server
        # meanwhile: then one fresh connection is tried before the attempt counts as failed.
        for reused in (self._connection is not None, False):
            if self._connection is None:
                try:
                    self._connection = self._connect()
                except (smtplib.SMTPException, OSError) as error:
                    return Outcome.retry(f"cannot use the SMTP server {self.config.host}:"
                                         f"{self.config.port}: {short_error(error)}",
                                         channel_down=True)
            try:
                self._connection.sendmail(self.config.sender, [message.recipient], payload)
                return Outcome.ok()
            except smtplib.SMTPRecipientsRefused as error:
                code, reply = next(iter(error.recipients.values()), (450, b""))
                return _refusal(code, reply, "recipient refused")
            except smtplib.SMTPDataError as error:
                return _refusal(error.smtp_code, error.smtp_error, "message refused")
            except smtplib.SMTPSenderRefused as error:
                # Our own address: every message would fail alike, so none is dead for it.
                return Outcome.retry(f"sender {error.sender} refused: {error.smtp_code} "
                                     f"{_text(error.smtp_error)}", channel_down=True)
            except (smtplib.SMTPServerDisconnected, ConnectionError) as error:
                self.close()
                if not reused:
                    return Outcome.retry(short_error(error), channel_down=True)
            except (smtplib.SMTPException, OSError) as error:
                self.close()
                return Outcome.retry(short_error(error), channel_down=True)
        raise AssertionError("unreachable: the second try always returns")

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(connection)


def _refusal(code: int, reply: bytes | str, what: str) -> Outcome:
    detail = f"{what}: {code} {_text(reply)}"
    return Outcome.dead(detail) if code >= 500 else Outcome.retry(detail)


def _text(reply: bytes | str) -> str:
    return short_error(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)


def _quietly_close(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        connection.close()
