"""The demo's mail catcher: a local SMTP server (aiosmtpd, in a thread) on 127.0.0.1 that
keeps every message it receives, and the inbox it keeps them in.

`medsafe demo` points the dispatcher's SMTP settings at it, so the notices a recall
causes are really sent over SMTP, and land here instead of with anyone: the catcher
relays nothing. Each message is one `.eml` file in the data folder's `mail/` (the bytes
as received, so a redelivered message is recognisable by its Message-ID), written under
a temporary name and renamed into place, so a reader never sees half a message. The file
names start with the time of receipt in nanoseconds, so their order is the order of
arrival. `/demo/mail` reads them back (docs/adr/0002-local-mail-catcher-for-the-demo.md).
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Any

from medsafe.errors import Invalid

MAIL_FOLDER = "mail"
"""The inbox's folder inside the data folder."""
DEFAULT_PORT = 1025
HOST = "127.0.0.1"
SUFFIX = ".eml"
_HEADERS = BytesHeaderParser(policy=default_policy)


@dataclass(frozen=True, slots=True)
class CaughtMessage:
    """One message as the inbox shows it."""

    name: str  # the file's name: the message's place in the inbox
    received_at: datetime
    subject: str
    to: str
    sender: str
    message_id: str
    text: str  # the plain-text body (the HTML alternative, if any, is not shown)


class Inbox:
    """The messages the catcher kept, one file each, in order of arrival."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, data_dir: Path) -> Inbox:
        """The demo's inbox in a data folder."""
        return cls(data_dir / MAIL_FOLDER)

    @property
    def exists(self) -> bool:
        return self.folder.is_dir()

    def keep(self, content: bytes) -> Path:
        """Store one received message; its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:  # two messages in the same nanosecond still get two names
            name = f"{time.time_ns():020d}-{next(self._sequence):06d}{SUFFIX}"
        final = self.folder / name
        partial = self.folder / f".{name}.part"
        partial.write_bytes(content)
        os.replace(partial, final)
        return final

    def names(self) -> list[str]:
        """Every kept message's file name, newest first."""
        if not self.exists:
            return []
        return sorted((p.name for p in self.folder.iterdir()
                       if p.suffix == SUFFIX and not p.name.startswith(".")), reverse=True)

    def count(self) -> int:
        return len(self.names())

    def messages(self, *, offset: int = 0, limit: int | None = None) -> list[CaughtMessage]:
        """The kept messages, newest first, read in full (`offset`, `limit`: a page)."""
        names = self.names()[offset:None if limit is None else offset + limit]
        return [self._read(name) for name in names]

    def recipients(self) -> dict[str, int]:
        """How many messages each To address received (headers only)."""
        found: dict[str, int] = {}
        for name in self.names():
            with (self.folder / name).open("rb") as handle:
                to = str(_HEADERS.parse(handle).get("To", ""))
            found[to] = found.get(to, 0) + 1
        return found

    def message_ids(self) -> list[str]:
        """Every kept message's Message-ID, newest first (a redelivery appears twice)."""
        ids: list[str] = []
        for name in self.names():
            with (self.folder / name).open("rb") as handle:
                ids.append(str(_HEADERS.parse(handle).get("Message-ID", "")))
        return ids

    def _read(self, name: str) -> CaughtMessage:
        message = message_from_bytes((self.folder / name).read_bytes(),
                                     policy=default_policy)
        assert isinstance(message, EmailMessage)  # the default policy makes EmailMessages
        nanoseconds = int(name.split("-", 1)[0])
        return CaughtMessage(
            name=name, received_at=datetime.fromtimestamp(nanoseconds / 1e9, UTC),
            subject=str(message.get("Subject", "")), to=str(message.get("To", "")),
            sender=str(message.get("From", "")),
            message_id=str(message.get("Message-ID", "")), text=_plain_text(message))


def _plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return ""
    content = body.get_content()
    return content if isinstance(content, str) else ""


class _Keeper:
    """aiosmtpd's handler: accepts every recipient and keeps every message."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    # aiosmtpd calls its handlers' hooks by this name.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any  # noqa: N802
                          ) -> str:
        self.inbox.keep(envelope.original_content or envelope.content or b"")
        return "250 Message accepted for delivery"


class MailCatcher:
    """The SMTP server, on HOST:`port`, keeping what it receives in `inbox`. Use it as a
    context manager, or start() and stop() it."""

    def __init__(self, inbox: Inbox, port: int = DEFAULT_PORT) -> None:
        from aiosmtpd.controller import Controller

        self.inbox = inbox
        self.port = port
        self._controller = Controller(_Keeper(inbox), hostname=HOST, port=port)
        self._running = False

    def start(self) -> MailCatcher:
        self.inbox.folder.mkdir(parents=True, exist_ok=True)  # an empty inbox is an inbox
        try:
            self._controller.start()
        except OSError as error:
            # The server thread gave up without closing its event loop: close it here.
            self._controller.stop(no_assert=True)
            self._controller.loop.close()
            if error.errno == errno.EADDRINUSE:
                raise Invalid(f"port {self.port} on {HOST} is in use: choose another for "
                              "the demo's mail catcher (--mail-port)",
                              where="mail_port") from None
            raise Invalid(f"the demo's mail catcher cannot listen on {HOST}:{self.port}: "
                          f"{error.strerror or error}", where="mail_port") from None
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def start_catcher(inbox: Inbox, port: int | None = None) -> MailCatcher:
    """A started catcher: on `port` when one is given; otherwise on DEFAULT_PORT, or on a
    free port when another program holds that one (a second demo, a mail tool)."""
    if port is not None:
        return MailCatcher(inbox, port).start()
    try:
        return MailCatcher(inbox, DEFAULT_PORT).start()
    except Invalid:
        return MailCatcher(inbox, _free_port()).start()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
