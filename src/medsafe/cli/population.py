"""`medsafe generate` (a synthetic population) and `medsafe demo` (the whole system on an
embedded database with the demo's population and accounts, FDA's real recalls, the story's
recall, and a local mail catcher the dispatcher delivers the notices to)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from medsafe.bootstrap import Container
from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.cli.serve import run_server
from medsafe.errors import Invalid
from medsafe.notify.channels import channels_from
from medsafe.notify.dispatcher import Dispatcher
from medsafe.notify.mail_catcher import DEFAULT_PORT as DEFAULT_MAIL_PORT
from medsafe.notify.mail_catcher import HOST as MAIL_HOST
from medsafe.notify.mail_catcher import Inbox, MailCatcher, start_catcher
from medsafe.population.care_story import tell_care_story
from medsafe.population.demo import (
    DEMO_PASSWORD,
    DemoLogin,
    create_demo_accounts,
    store_demo_signal_runs,
)
from medsafe.population.generator import DEFAULT_SEED, PopulationSummary, write_population
from medsafe.population.real_recalls import import_shipped_recalls, real_recall_reach
from medsafe.population.real_reports import import_shipped_reports
from medsafe.population.recall_story import tell_recall_story
from medsafe.store.schema import Patient

DEMO_PATIENTS = 3000
console = Console(soft_wrap=True)


def _load(container: Container, patients: int, seed: int) -> PopulationSummary:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("generating", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total or None,
                            description=f"generating {what}")

        return write_population(container.engine, patients, seed, on_progress=on_progress)


def _print_summary(summary: PopulationSummary) -> None:
    table = Table(title=f"synthetic population (seed {summary.spec.seed}, "
                        f"{summary.seconds:,.1f} s, {summary.method})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    table.add_row("all", f"{summary.rows:,}")
    console.print(table)
    console.print(f"digest sha256:{summary.sha256}", markup=False)


def generate(
    patients: Annotated[int, typer.Option(min=1, max=20_000_000,
                                          help="how many synthetic patients")] = DEMO_PATIENTS,
    seed: Annotated[int, typer.Option(help="same seed, same population")] = DEFAULT_SEED,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write a deterministic synthetic population (about 10 dispensing records per patient)
    into the configured database, migrating it first. Every record is marked synthetic."""
    with reported_errors():
        container = open_container(database_url, data_dir, migrate=True)
        summary = _load(container, patients, seed)
    _print_summary(summary)


def demo(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="a folder for the demo "
                                           "database")] = Path("medsafe-data"),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    patients: Annotated[int, typer.Option(min=100, max=200_000)] = DEMO_PATIENTS,
    reset: Annotated[bool, typer.Option("--reset", help="start again from an empty "
                                        "folder")] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after "
                                        "loading")] = True,
    mail_port: Annotated[int | None, typer.Option(
        "--mail-port", min=1, max=65535, help="the port of the demo's mail catcher on "
        f"127.0.0.1 (default {DEFAULT_MAIL_PORT}, or a free one if that is taken)")] = None,
) -> None:
    """Start the whole system on an embedded SQLite database with a synthetic population,
    FDA's real recalls, the story's recall and one demo account per role, on
    http://127.0.0.1:PORT; notices go to a local mail catcher (read them at /demo/mail)."""
    with reported_errors():
        if reset and data_dir.exists():
            if not (data_dir / "medsafe.sqlite3").exists() and any(data_dir.iterdir()):
                raise Invalid(f"{data_dir}: not a medsafe demo folder; refusing to delete it")
            shutil.rmtree(data_dir)
        catcher = start_catcher(Inbox.of(data_dir), mail_port)
    try:
        with reported_errors():
            container = open_container(None, data_dir, migrate=True,
                                       settings=_demo_settings(data_dir, port, catcher.port))
            logins = _load_demo(container, patients)
            _deliver_once(container, catcher)
        _print_logins(logins, port, serve)
        if serve:
            _serve_delivering(container)
    finally:
        catcher.stop()


def _demo_settings(data_dir: Path, port: int, mail_port: int) -> dict[str, object]:
    """Everything on this machine: the server, its links, and the mail, which goes to the
    catcher only (no relay, no login, and no webhooks, whatever the environment says)."""
    return {"host": "127.0.0.1", "port": port, "cookie_secure": False,
            "database_url": f"sqlite:///{(data_dir / 'medsafe.sqlite3').resolve()}",
            "public_base_url": f"http://127.0.0.1:{port}", "smtp_host": MAIL_HOST,
            "smtp_port": mail_port, "smtp_starttls": False, "smtp_user": None,
            "smtp_password": None, "webhook_secret": None,
            # CDS Hooks calls without a signed JWT, for trying the service from this
            # machine only: refused by the settings anywhere but a loopback address.
            "cds_allow_unsigned": True}


def _load_demo(container: Container, patients: int) -> list[DemoLogin]:
    """The population, the real reports and the signal runs (once, into an empty
    database), the accounts, FDA's recalls and the story's recall (each only what is
    not there yet)."""
    def say(line: str) -> None:
        console.print(f"  {line}", markup=False)

    with container.uow() as uow:
        existing = uow.session.execute(select(func.count()).select_from(Patient)).scalar_one()
    if existing == 0:
        data_dir = container.settings.data_dir
        console.print(f"loading a synthetic population of {patients:,} patients into "
                      f"{data_dir}/ …")
        _print_summary(_load(container, patients, DEFAULT_SEED))
        console.print("importing the real reports shipped in data/reports …")
        import_shipped_reports(container, say)
        console.print("signal detection over the case store …")
        store_demo_signal_runs(container.uow, say)
    else:
        console.print(f"using the existing demo database in {container.settings.data_dir}/ "
                      f"({existing:,} patients; --reset starts again)")
    with container.uow() as uow:
        logins = create_demo_accounts(uow)
        uow.commit()
    console.print("FDA's recalls (data/fda-enforcement) …")
    import_shipped_recalls(container.uow, say)
    reach = real_recall_reach(container.uow)
    say(f"matched against the population: {reach.matched:,} of {reach.recalls:,} recalls "
        f"match a stored lot; {reach.reaching_patients:,} reach "
        f"{reach.total.patients:,} patients ({reach.total.holders:,} pharmacies hold "
        f"stock, {reach.total.dispensers:,} dispensed)"
        + (f": {', '.join(reach.numbers)}" if reach.numbers else ""))
    console.print("the story's recall …")
    story = tell_recall_story(container.uow, container.catalog, say)
    say(f"investigation {story.investigation_id}; recall {story.recall_number}: "
        f"Class {story.classification}, {story.state}, {story.notices_queued:,} notices "
        "queued" + ("" if story.steps_taken else " (told already: nothing repeated)"))
    console.print("care of the recall's patients …")
    tell_care_story(container.uow, container.catalog, story.recall_id, say)
    return logins


def _dispatcher(container: Container) -> Dispatcher:
    settings = container.settings
    return Dispatcher(container.uow, lambda: channels_from(settings))


def _deliver_once(container: Container, catcher: MailCatcher) -> None:
    """Deliver what is due now, so that the story's notices are in the inbox before the
    server starts."""
    tally = _dispatcher(container).run(once=True)
    inbox = catcher.inbox
    console.print(f"mail: {tally.delivered:,} notices delivered now over SMTP to the demo's "
                  f"mail catcher on {MAIL_HOST}:{catcher.port}"
                  + (f" ({tally.retrying:,} to retry, {tally.dead:,} undeliverable)"
                     if tally.retrying or tally.dead else "")
                  + f"; its inbox ({inbox.folder}/) holds {inbox.count():,} messages to "
                  f"{len(inbox.recipients()):,} recipients", markup=False)


def _serve_delivering(container: Container) -> None:
    """Serve, with the dispatcher delivering in a background thread meanwhile; the
    server's Ctrl+C stops both."""
    dispatcher = _dispatcher(container)
    thread = threading.Thread(target=dispatcher.run, name="medsafe-demo-dispatcher",
                              daemon=True)
    thread.start()
    try:
        run_server(container)
    finally:
        dispatcher.stop()
        thread.join(timeout=30)


def _print_logins(logins: list[DemoLogin], port: int, serve: bool) -> None:
    table = Table(title=f"demo logins (password for all: {DEMO_PASSWORD})")
    table.add_column("username")
    table.add_column("role")
    table.add_column("who")
    for login in logins:
        table.add_row(login.username, login.role, login.who)
    console.print(table)
    console.print(f"medsafe demo: http://127.0.0.1:{port}/  (API: /api/v1, OpenAPI: "
                  "/openapi.json). Every patient and organisation here is synthetic; the "
                  "adverse-event reports are synthetic baclofen reports plus real public "
                  "FAERS, VAERS and FDA E2B example reports; the recalls are FDA's real "
                  "enforcement report plus the story's recall of two synthetic lots. "
                  f"Notices go to the demo's mail catcher: http://127.0.0.1:{port}/demo/mail "
                  "(as alice-admin). CDS Hooks: discovery at "
                  f"http://127.0.0.1:{port}/cds-services; unsigned calls are accepted for "
                  "this demo on 127.0.0.1 only (MEDSAFE_CDS_ALLOW_UNSIGNED; never in "
                  "production, and refused on any other address)."
                  + ("\nThe dispatcher delivers in the background. Press Ctrl+C to stop."
                     if serve else ""), markup=False)
