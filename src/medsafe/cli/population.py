"""`medsafe generate` (a synthetic population) and `medsafe demo` (the whole system on an
embedded database with the demo's population and accounts)."""

from __future__ import annotations

import shutil
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
from medsafe.population.demo import (
    DEMO_PASSWORD,
    DemoLogin,
    create_demo_accounts,
    store_demo_signal_runs,
)
from medsafe.population.generator import DEFAULT_SEED, PopulationSummary, write_population
from medsafe.population.real_reports import import_shipped_reports
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
) -> None:
    """Start the whole system on an embedded SQLite database with a synthetic population
    and one demo account per role, on http://127.0.0.1:PORT."""
    with reported_errors():
        if reset and data_dir.exists():
            if not (data_dir / "medsafe.sqlite3").exists() and any(data_dir.iterdir()):
                raise Invalid(f"{data_dir}: not a medsafe demo folder; refusing to delete it")
            shutil.rmtree(data_dir)
        container = open_container(
            None, data_dir, migrate=True,
            settings={"host": "127.0.0.1", "port": port, "cookie_secure": False,
                      "database_url": f"sqlite:///{(data_dir / 'medsafe.sqlite3').resolve()}"},
        )
        with container.uow() as uow:
            existing = uow.session.execute(select(func.count()).select_from(Patient)).scalar_one()
        if existing == 0:
            console.print(f"loading a synthetic population of {patients:,} patients into "
                          f"{data_dir}/ …")
            _print_summary(_load(container, patients, DEFAULT_SEED))
            console.print("importing the real reports shipped in data/reports …")
            import_shipped_reports(container, lambda line: console.print(f"  {line}",
                                                                         markup=False))
            console.print("signal detection over the case store …")
            store_demo_signal_runs(container.uow, lambda line: console.print(f"  {line}",
                                                                             markup=False))
        else:
            console.print(f"using the existing demo database in {data_dir}/ "
                          f"({existing:,} patients; --reset starts again)")
        with container.uow() as uow:
            logins = create_demo_accounts(uow)
            uow.commit()
    _print_logins(logins, port)
    if serve:
        run_server(container)


def _print_logins(logins: list[DemoLogin], port: int) -> None:
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
                  "FAERS, VAERS and FDA E2B example reports."
                  "\nPress Ctrl+C to stop.", markup=False)
