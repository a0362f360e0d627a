"""The dispatcher against real servers, on SQLite and PostgreSQL: an SMTP server
(aiosmtpd) and a local HTTP server for webhooks, including servers that refuse, fail,
go away and come back."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random

from sqlalchemy import select

from medsafe.bootstrap import Container
from medsafe.notify.channels import Channel
from medsafe.notify.channels.smtp import SmtpChannel, SmtpConfig
from medsafe.notify.channels.webhook import WebhookChannel, WebhookConfig
from medsafe.notify.dispatcher import Dispatcher
from medsafe.notify.message import Notice, RetryPolicy
from medsafe.store.schema import OutboxMessage
from tests.support.mail_server import Recorder, free_port, smtp_server

BASE_URL = "https://medsafe.example.org"
SECRET = "webhook-secret-for-tests-0123456789"
POLICY = RetryPolicy(base_seconds=60, cap_seconds=600, max_attempts=4)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class Clock:
    """The dispatcher's clock, moved by the test instead of waiting for backoffs."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def email_channel(port: int) -> SmtpChannel:
    return SmtpChannel(SmtpConfig(host="127.0.0.1", port=port, sender="recalls@medsafe.test",
                                  public_base_url=BASE_URL, timeout=10))


def dispatcher(container: Container, channels: dict[str, Channel], clock: Clock,
               batch: int = 100) -> Dispatcher:
    return Dispatcher(container.uow, lambda: channels, batch=batch, policy=POLICY,
                      clock=clock, rng=Random(42))


def write(container: Container, notices: list[Notice]) -> None:
    with container.uow() as uow:
        uow.outbox.add_all(notices, at=T0)
        uow.commit()


def mail(count: int, *, to: str = "patient{i}@example.org", html: bool = False
         ) -> list[Notice]:
    return [Notice(channel="email", recipient=to.format(i=i),
                   subject=f"Your baclofen medicine: notice {i}",
                   body_text="Keep taking baclofen until your pharmacist switches you.",
                   body_html=("<html><body><p>Keep taking baclofen until your pharmacist "
                              "switches you.</p></body></html>") if html else None,
                   topic="recall:D-0001-2026", audience="patient") for i in range(count)]


def rows(container: Container) -> list[OutboxMessage]:
    with container.uow() as uow:
        found = list(uow.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
                     .scalars())
        uow.session.expunge_all()
    return found


# -- e-mail ----------------------------------------------------------------------------------

def test_every_notice_arrives_once_with_its_message_id_and_ack_link(
        container: Container) -> None:
    write(container, mail(30, html=True))
    recorder = Recorder()
    clock = Clock()
    with smtp_server(recorder) as port:
        channel = email_channel(port)
        tally = dispatcher(container, {"email": channel}, clock).run(once=True)
    stored = rows(container)
    assert tally.delivered == 30
    assert sorted(recorder.received()) == sorted(r.message_id for r in stored)
    assert {r.status for r in stored} == {"delivered"}
    assert len(recorder.connections) == 1, "one connection carries the whole batch"
    by_id = {r.message_id: r for r in stored}
    for email in recorder.messages():
        row = by_id[str(email["Message-ID"])]
        link = f"{BASE_URL}/notices/ack/{row.ack_token}"
        assert str(email["To"]) == row.recipient
        assert str(email["Subject"]) == row.subject
        assert str(email["Auto-Submitted"]) == "auto-generated"
        text = email.get_body(("plain",))
        html = email.get_body(("html",))
        assert text is not None
        assert html is not None
        assert link in text.get_content()
        assert f'href="{link}"' in html.get_content()


def test_several_connections_share_a_batch_and_each_notice_goes_once(
        container: Container) -> None:
    write(container, mail(400))
    recorder = Recorder()
    with smtp_server(recorder) as port:
        worker = Dispatcher(container.uow, lambda: {"email": email_channel(port)},
                            connections=4, batch=100, policy=POLICY, clock=Clock())
        tally = worker.run(once=True)
    received = recorder.received()
    assert tally.delivered == len(received) == len(set(received)) == 400
    assert set(received) == {r.message_id for r in rows(container)}
    assert 1 < len(recorder.connections) <= 4


def test_a_refused_recipient_is_dead_and_a_busy_one_is_tried_again(
        container: Container) -> None:
    write(container, mail(3))
    recorder = Recorder(refuse={"patient0@example.org": "550 5.1.1 No such user",
                                "patient1@example.org": "451 4.3.0 Mailbox busy"})
    clock = Clock()
    with smtp_server(recorder) as port:
        tally = dispatcher(container, {"email": email_channel(port)}, clock).run(once=True)
    gone, busy, fine = rows(container)
    assert (tally.delivered, tally.dead, tally.retrying) == (1, 1, 1)
    assert (gone.status, gone.attempts) == ("dead", 1)
    assert gone.last_error is not None
    assert "550" in gone.last_error
    assert (busy.status, busy.attempts) == ("pending", 1)
    assert busy.last_error is not None
    assert "451" in busy.last_error
    assert busy.available_at.replace(tzinfo=UTC) >= T0 + timedelta(seconds=30)
    assert fine.status == "delivered"
    assert recorder.received() == [fine.message_id]


def test_mail_waits_while_the_server_is_down_and_goes_when_it_is_back(
        container: Container) -> None:
    write(container, mail(10))
    port = free_port()
    clock = Clock()
    channels: dict[str, Channel] = {"email": email_channel(port)}
    down = dispatcher(container, channels, clock).run(once=True)
    assert (down.delivered, down.retrying, down.given_back) == (0, 1, 9)
    waiting = rows(container)
    assert {r.status for r in waiting} == {"pending"}
    # Only the message actually tried counts an attempt; the others wait as long.
    assert sorted(r.attempts for r in waiting) == [0] * 9 + [1]
    assert len({r.available_at for r in waiting}) == 1
    assert waiting[0].available_at.replace(tzinfo=UTC) > T0

    recorder = Recorder()
    with smtp_server(recorder, port):
        clock.advance(seconds=20)  # not yet due (the first backoff is 30 to 60 s)
        assert dispatcher(container, channels, clock).run(once=True).delivered == 0
        clock.advance(minutes=10)
        back = dispatcher(container, channels, clock).run(once=True)
    assert back.delivered == 10
    assert sorted(recorder.received()) == sorted(r.message_id for r in rows(container))


def test_a_connection_the_server_dropped_is_opened_again(container: Container) -> None:
    write(container, mail(4))
    port = free_port()
    clock = Clock()
    channel = email_channel(port)
    first, second = Recorder(), Recorder()
    worker = dispatcher(container, {"email": channel}, clock, batch=2)
    with smtp_server(first, port):
        assert worker.run_batch() == 2
    # The channel still holds its connection to the server that has gone; a new one
    # listens on the same port.
    with smtp_server(second, port):
        assert worker.run_batch() == 2
    worker.close()
    assert len(first.received()) == 2
    assert len(second.received()) == 2
    assert channel.connections == 2
    assert {r.status for r in rows(container)} == {"delivered"}


def test_a_stop_finishes_the_message_in_hand_and_gives_the_rest_back(
        container: Container) -> None:
    write(container, mail(20))
    clock = Clock()
    stopper: list[Dispatcher] = []
    recorder = Recorder(on_message=lambda n: stopper[0].stop() if n == 5 else None)
    with smtp_server(recorder) as port:
        worker = dispatcher(container, {"email": email_channel(port)}, clock)
        stopper.append(worker)
        tally = worker.run()  # polling: only the stop ends it
    stored = rows(container)
    assert (tally.delivered, tally.given_back) == (5, 15)
    assert sorted(r.message_id for r in stored if r.status == "delivered") == sorted(
        recorder.received())
    untried = [r for r in stored if r.status == "pending"]
    assert len(untried) == 15
    assert all(r.claimed_until is None and r.attempts == 0 for r in untried)


# -- webhooks --------------------------------------------------------------------------------

@dataclass
class Hook:
    """A webhook receiver: answers each path from its script (then 200), checks every
    signature, and keeps the Message-IDs of the requests it answered 2xx."""

    script: dict[str, list[int]] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    requests: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, body: bytes, signature: str, message_id: str) -> int:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        with self.lock:
            self.requests += 1
            if not hmac.compare_digest(expected, signature):
                self.bad_signatures += 1
                return 401
            if json.loads(body)["message_id"] != message_id:
                return 400
            queue = self.script.get(path, [])
            status = queue.pop(0) if queue else 200
            if 200 <= status < 300:
                self.accepted.append(message_id)
            return status


@contextmanager
def webhook_server(hook: Hook) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = hook.answer(self.path, body, self.headers["X-Medsafe-Signature"] or "",
                                 self.headers["X-Medsafe-Message-Id"] or "")
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "120")
            if status in (301, 302):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def hooks(base: str, paths: list[str]) -> list[Notice]:
    return [Notice(channel="webhook", recipient=base + path, subject="Recall D-0001-2026",
                   body_text="Lots A1 and A2 of baclofen 10 mg are recalled.",
                   topic="recall:D-0001-2026", audience="pharmacy") for path in paths]


def webhook_channel() -> WebhookChannel:
    return WebhookChannel(WebhookConfig(secret=SECRET, public_base_url=BASE_URL, timeout=10))


def test_webhooks_are_signed_and_carry_the_message_id(container: Container) -> None:
    hook = Hook()
    with webhook_server(hook) as base:
        write(container, hooks(base, [f"/pharmacy/{i}" for i in range(5)]))
        tally = dispatcher(container, {"webhook": webhook_channel()}, Clock()).run(once=True)
    assert tally.delivered == 5
    assert hook.bad_signatures == 0
    assert sorted(hook.accepted) == sorted(r.message_id for r in rows(container))


def test_a_webhook_that_fails_and_recovers_gets_every_notice(container: Container) -> None:
    hook = Hook(script={"/flaky": [503, 500, 502]})
    clock = Clock()
    with webhook_server(hook) as base:
        write(container, hooks(base, ["/flaky"] * 6))
        for _ in range(4):
            dispatcher(container, {"webhook": webhook_channel()}, clock).run(once=True)
            clock.advance(minutes=15)
    stored = rows(container)
    assert {r.status for r in stored} == {"delivered"}
    assert sorted(hook.accepted) == sorted(r.message_id for r in stored)
    assert sum(r.attempts for r in stored) == 3  # the three failures, each counted once
    assert hook.requests == 9


def test_webhook_replies_decide_between_dead_and_later(container: Container) -> None:
    hook = Hook(script={"/gone": [410], "/busy": [429], "/slow": [408], "/moved": [302],
                        "/ok": [204]})
    clock = Clock()
    with webhook_server(hook) as base:
        write(container, hooks(base, ["/gone", "/busy", "/slow", "/moved", "/ok"]))
        dispatcher(container, {"webhook": webhook_channel()}, clock).run(once=True)
    gone, busy, slow, moved, ok = rows(container)
    assert (gone.status, gone.last_error) == ("dead", "HTTP 410")
    assert (busy.status, busy.last_error) == ("pending", "HTTP 429")
    assert busy.available_at.replace(tzinfo=UTC) >= T0 + timedelta(seconds=120)  # Retry-After
    assert (slow.status, slow.last_error) == ("pending", "HTTP 408")
    assert (moved.status, moved.last_error) == ("pending", "HTTP 302")  # not followed
    assert ok.status == "delivered"
    assert hook.requests == 5


def test_webhooks_wait_while_no_secret_is_configured(container: Container) -> None:
    write(container, hooks("http://127.0.0.1:9", ["/a", "/b"]))
    tally = dispatcher(container, {"email": email_channel(free_port())}, Clock()).run(
        once=True)
    first, second = rows(container)
    assert (tally.retrying, tally.given_back) == (1, 1)
    assert first.last_error is not None
    assert "MEDSAFE_WEBHOOK_SECRET" in first.last_error
    assert second.status == first.status == "pending"
