"""`medsafe notify run|status`: deliver the outbox's notices, and see what waits in it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.notify.channels import channels_from
from medsafe.notify.dispatcher import Dispatcher, Tally
from medsafe.records import aware
from medsafe.store.migrate import is_current

app = typer.Typer(help="Notices: deliver the outbox by e-mail and webhook, and see what "
                       "waits in it.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command(name="run")
def run(
    once: Annotated[bool, typer.Option(
        "--once", help="deliver what is due now, then exit (default: keep polling)")] = False,
    batch: Annotated[int, typer.Option(
        min=1, max=10_000, help="messages claimed at a time; a crash may deliver up to a "
        "batch twice")] = 100,
    for_seconds: Annotated[float | None, typer.Option(
        "--for-seconds", min=0, help="stop after this many seconds")] = None,
    connections: Annotated[int, typer.Option(
        min=1, max=64, help="messages delivered at once, each lane over a connection of its "
        "own")] = 4,
    lease: Annotated[float, typer.Option(
        min=0.1, help="seconds a claimed batch stays reserved; a dispatcher's messages come "
        "back this long after it died")] = 60.0,
    poll: Annotated[float, typer.Option(
        min=0.01, help="seconds between looks at the outbox when nothing is due")] = 2.0,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Deliver the notices that are due: e-mail over SMTP (MEDSAFE_SMTP_*), webhooks
    signed with MEDSAFE_WEBHOOK_SECRET. SIGTERM or Ctrl-C finishes the message in hand,
    records everything and exits."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        is_current(container.engine, raise_if_not=True)
        settings = container.settings
        err.print(f"delivering to SMTP {settings.smtp_host}:{settings.smtp_port}"
                  + (", webhooks" if settings.webhook_secret else
                     " (webhooks off: MEDSAFE_WEBHOOK_SECRET is not set)"), markup=False)
        dispatcher = Dispatcher(container.uow, lambda: channels_from(settings),
                                connections=connections, batch=batch,
                                lease=timedelta(seconds=lease), progress=_Progress())
        with _stopped_by_signals(dispatcher):
            tally = dispatcher.run(once=once, for_seconds=for_seconds, poll_seconds=poll)
        container.engine.dispose()
    console.print(f"{_line(tally)} in {tally.seconds:.1f} s"
                  + (" (stopped)" if dispatcher.stopping else ""), markup=False)


@app.command(name="status")
def status(
    failing: Annotated[int, typer.Option(
        min=0, max=1000, help="dead messages, and messages waiting for a retry, to list")
    ] = 20,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Messages by topic and status (with how many were acknowledged); the dead ones and
    those waiting for a retry, with their last error."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        is_current(container.engine, raise_if_not=True)
        with container.uow() as uow:
            counts = uow.outbox.counts()
            lists = {state: [(m.message_id, m.topic, m.recipient, str(m.attempts),
                              f"{aware(m.available_at):%Y-%m-%d %H:%M:%S}", m.last_error or "")
                             for m in uow.outbox.failing(state, failing)]
                     for state in ("dead", "pending")} if failing else {}
    table = Table(title=f"outbox ({sum(c.messages for c in counts):,} messages)")
    for column in ("topic", "status", "messages", "acknowledged"):
        table.add_column(column, justify="right" if column in ("messages", "acknowledged")
                         else "left")
    for count in counts:
        table.add_row(count.topic, count.status, f"{count.messages:,}",
                      f"{count.acknowledged:,}")
    console.print(table)
    for state, title, when in (("dead", "dead messages", "died"),
                               ("pending", "waiting for a retry", "next attempt")):
        if lists.get(state):
            listing = Table(title=f"{title} (latest first)")
            for column in ("message id", "topic", "recipient", "attempts", f"{when} (UTC)",
                           "last error"):
                listing.add_column(column)
            for row in lists[state]:
                listing.add_row(*row)
            console.print(listing)


class _Progress:
    """A line on stderr at most once a second while delivering."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, tally: Tally) -> None:
        if time.monotonic() - self._last >= 1.0:
            self._last = time.monotonic()
            err.print(f"{_line(tally)} ({tally.rate:,.0f}/s)", markup=False)


def _line(tally: Tally) -> str:
    return (f"delivered {tally.delivered:,}, retrying {tally.retrying:,}, dead {tally.dead:,}"
            + (f", given back {tally.given_back:,}" if tally.given_back else ""))


@contextmanager
def _stopped_by_signals(dispatcher: Dispatcher) -> Iterator[None]:
    """SIGTERM and SIGINT ask the dispatcher to stop after the message in hand; a second
    one acts as usual (Ctrl-C twice interrupts at once)."""
    defaults = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}

    def stop(number: int, _frame: FrameType | None) -> None:
        which = signal.Signals(number)
        err.print(f"{which.name}: stopping after the message in hand", markup=False)
        dispatcher.stop()
        signal.signal(which, defaults[which])

    for number in defaults:
        signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in defaults.items():
            signal.signal(number, handler)
