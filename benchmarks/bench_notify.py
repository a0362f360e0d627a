"""Notice fan-out: how fast the dispatcher empties a durable outbox into a local SMTP
server.

    uv run python -m benchmarks.bench_notify [--notices 10000] [--runs 3] [--batch 100 ...]
                                             [--connections 4 ...]

Each run writes the notices into the outbox of a fresh database (one transaction, as a
recall's fan-out does), then times `Dispatcher.run(once=True)` delivering every one of them
to aiosmtpd (a real SMTP server, in its own process so that it does not share our
interpreter; `--server-delay` makes it answer each message later, like a relay on
another machine) and recording every outcome. Default: a SQLite file in a temporary folder;
also PostgreSQL, in a fresh schema, when MEDSAFE_TEST_POSTGRES_URL (or --postgres-url)
is set. Prints the median of the runs in notices per second (target: 500/s) for each
batch size and number of connections; a batch is also the most copies a crash can
cause. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Engine, func, select

from benchmarks.bench_store import fresh_database, machine, server_version
from medsafe.notify.channels.smtp import SmtpChannel, SmtpConfig
from medsafe.notify.dispatcher import Dispatcher
from medsafe.notify.message import Notice
from medsafe.store.schema import OutboxMessage
from medsafe.store.uow import uow_factory

TARGET = 500.0


class SlowSink:
    """An aiosmtpd handler that discards every message after `delay_ms` milliseconds: a
    relay farther away than this machine's loopback."""

    def __init__(self, delay_ms: float) -> None:
        self.delay = delay_ms / 1000

    @classmethod
    def from_cli(cls, parser: argparse.ArgumentParser, *args: str) -> SlowSink:
        return cls(float(args[0]) if args else 0.0)

    async def handle_DATA(self, server: object, session: object,  # noqa: N802
                          envelope: object) -> str:
        await asyncio.sleep(self.delay)
        return "250 OK"


@contextmanager
def smtp_sink(port: int, delay_ms: float) -> Iterator[None]:
    """aiosmtpd in a child process, accepting and discarding every message."""
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "benchmarks.bench_notify.SlowSink",
         "-l", f"127.0.0.1:{port}", str(delay_ms)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _accepts(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the aiosmtpd server did not start")
            time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def notices(count: int) -> list[Notice]:
    return [Notice(channel="email", recipient=f"patient{i:06d}@example.org",
                   subject="Your baclofen tablets are being recalled",
                   body_text="Keep taking baclofen until your pharmacist or prescriber "
                             "switches you to another medicine: stopping it suddenly is "
                             "dangerous. Your pharmacy will contact you this week.",
                   topic="recall:BENCH", audience="patient") for i in range(count)]


def one_run(engine: Engine, count: int, batch: int, connections: int, port: int
            ) -> tuple[float, float]:
    """(seconds to write the outbox, seconds to deliver it all)."""
    uow = uow_factory(engine)
    started = time.perf_counter()
    with uow() as unit:
        unit.outbox.add_all(notices(count))
        unit.commit()
    written = time.perf_counter() - started
    config = SmtpConfig(host="127.0.0.1", port=port, sender="bench@medsafe.test",
                        public_base_url="https://medsafe.example.org")
    dispatcher = Dispatcher(uow, lambda: {"email": SmtpChannel(config)},
                            connections=connections, batch=batch, lease=timedelta(seconds=60))
    started = time.perf_counter()
    tally = dispatcher.run(once=True)
    delivered = time.perf_counter() - started
    with uow() as unit:
        done = unit.session.execute(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.status == "delivered")).scalar_one()
    if tally.delivered != count or done != count:
        raise SystemExit(f"only {done:,} of {count:,} delivered: {tally}")
    return written, delivered


def measure(url: str | None, label: str, count: int, runs: int,
            settings: list[tuple[int, int]], port: int) -> None:
    for batch, connections in settings:
        writes, rates = [], []
        version = ""
        for run in range(runs):
            with fresh_database(url, f"bench_notify_{run}", keep=False) as engine:
                version = server_version(engine).split(" on ")[0]
                written, delivered = one_run(engine, count, batch, connections, port)
            writes.append(count / written)
            rates.append(count / delivered)
            print(f"  {label} batch {batch}, {connections} connections, run {run + 1}: "
                  f"wrote {count / written:,.0f}/s, delivered {count / delivered:,.0f}/s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        median = statistics.median(rates)
        print(f"{label} ({version}), batch {batch}, {connections} connections: "
              f"{median:,.0f} notices/s delivered "
              f"(median of {runs}; runs {', '.join(f'{r:,.0f}' for r in rates)}), "
              f"outbox written at {statistics.median(writes):,.0f}/s; "
              f"{'meets' if median >= TARGET else 'MISSES'} the {TARGET:.0f}/s target; "
              f"a crash may send up to {batch} copies", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, action="append",
                        help="batch size (repeatable; default 100)")
    parser.add_argument("--connections", type=int, action="append",
                        help="SMTP connections at once (repeatable; default 4)")
    parser.add_argument("--port", type=int, default=8625, help="the SMTP server's port")
    parser.add_argument("--server-delay", type=float, default=0.0, metavar="MS",
                        help="the SMTP server answers each message this much later (a "
                             "relay that is not on this machine)")
    parser.add_argument("--postgres-url", default=os.environ.get("MEDSAFE_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    settings = [(batch, connections) for batch in args.batch or [100]
                for connections in args.connections or [4]]
    print(f"machine: {machine()}")
    print(f"{args.notices:,} notices, aiosmtpd on 127.0.0.1:{args.port} in its own process, "
          f"answering each message {args.server_delay:g} ms late")
    with smtp_sink(args.port, args.server_delay):
        if not args.no_sqlite:
            measure(None, "SQLite file", args.notices, args.runs, settings, args.port)
        if args.postgres_url:
            measure(args.postgres_url, "PostgreSQL", args.notices, args.runs, settings,
                    args.port)


if __name__ == "__main__":
    main()
