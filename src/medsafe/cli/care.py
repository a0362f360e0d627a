"""`medsafe care propose|follow-up`: alternatives for a recall's patients, and the daily
follow-up of monitoring plans (missed check-ins, finished plans)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from medsafe.care import monitoring_service, switching
from medsafe.cli.common import DatabaseUrlOption, DataDirOption, active_user, open_container
from medsafe.cli.errors import reported_errors
from medsafe.cli.recalls import recall_ids
from medsafe.records import now
from medsafe.store.migrate import is_current

app = typer.Typer(help="Care of the patients a recall touched: alternatives and monitoring.",
                  no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command(name="propose")
def propose(
    number: Annotated[str, typer.Argument(help="the recall's number or medsafe id")],
    user: Annotated[str, typer.Option("--as", help="who proposes: an administrator (all "
                                      "patients), a pharmacist or a physician (their own)")],
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Propose alternatives on each affected patient's own record, for every patient of
    the recall's notices in the user's scope. Safe to run again: decided reviews are left
    alone, undecided ones refreshed."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        is_current(container.engine, raise_if_not=True)
        with container.uow() as uow:
            principal = active_user(uow, user)
            (recall_id,) = recall_ids(uow, principal, number, one=True)
        with Progress(TextColumn("proposing"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task("proposing", total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            with container.uow() as uow:
                tally = switching.propose_for_recall(uow, principal, container.catalog,
                                                     recall_id, today=now().date(),
                                                     progress=update)
        container.engine.dispose()
    console.print(f"recall {number}: {tally.patients:,} patients; {tally.created:,} new "
                  f"reviews, {tally.refreshed:,} refreshed, {tally.unchanged:,} unchanged, "
                  f"{tally.decided:,} already decided; {tally.without_proposals:,} without a "
                  f"safe alternative (the prescriber decides)", markup=False)


@app.command(name="follow-up")
def follow_up(database_url: DatabaseUrlOption = None,
              data_dir: DataDirOption = None) -> None:
    """Follow up missed check-ins (an alert, a reminder to the patient, a note to the
    prescriber) and end finished plans. Run it daily; a second run the same day writes
    nothing."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        is_current(container.engine, raise_if_not=True)
        with container.uow() as uow:
            tally = monitoring_service.follow_up(uow, today=now().date())
        container.engine.dispose()
    console.print(f"{tally.missed:,} missed check-ins followed up ({tally.reminders:,} "
                  f"reminders to patients, {tally.prescriber_notes:,} notes to prescribers); "
                  f"{tally.done_late:,} found answered; {tally.ended:,} plans ended",
                  markup=False)
