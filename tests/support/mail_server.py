"""A real SMTP server for tests (aiosmtpd, in a thread on 127.0.0.1): it keeps every
message it accepts, can refuse chosen recipients, and can run a hook on each message."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HEADERS = BytesHeaderParser(policy=default_policy)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Recorder:
    """The server's handler. `refuse` maps a recipient to the reply its RCPT gets (e.g.
    "550 5.1.1 no such user"); `on_message(n)` runs after the n-th message is kept."""

    def __init__(self, *, refuse: dict[str, str] | None = None,
                 on_message: Callable[[int], None] | None = None) -> None:
        self.refuse = refuse or {}
        self.on_message = on_message
        self.contents: list[bytes] = []
        self.message_ids: list[str] = []
        self.connections: set[Any] = set()  # client (address, port): one per connection
        self.lock = threading.Lock()

    # aiosmtpd calls its handlers' hooks by these names.
    async def handle_RCPT(  # noqa: N802
            self, server: SMTP, session: Session, envelope: Envelope, address: str,
            rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
            self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message_id = str(HEADERS.parsebytes(content)["Message-ID"])
        with self.lock:
            self.contents.append(content)
            self.message_ids.append(message_id)
            self.connections.add(session.peer)
            count = len(self.message_ids)
        if self.on_message is not None:
            self.on_message(count)
        return "250 Message accepted for delivery"

    def received(self) -> list[str]:
        with self.lock:
            return list(self.message_ids)

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [message_from_bytes(content, policy=default_policy)
                    for content in self.contents]


@contextmanager
def smtp_server(recorder: Recorder, port: int | None = None) -> Iterator[int]:
    """Serve `recorder` on 127.0.0.1 until the block ends; yields the port."""
    chosen = port or free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=chosen)
    controller.start()
    try:
        yield chosen
    finally:
        controller.stop()
