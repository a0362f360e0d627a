"""`medsafe audit verify|show`: the hash-chained audit trail."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.security import audit as audit_trail
from medsafe.store.schema import AuditEvent

app = typer.Typer(help="The audit trail: who did what, when, chained by hashes.",
                  no_args_is_help=True)


@app.command(name="verify")
def verify_command(database_url: DatabaseUrlOption = None,
                   data_dir: DataDirOption = None) -> None:
    """Recompute every hash and link; exit 1 if any event was changed, deleted or moved."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            result = audit_trail.verify(uow)
    console = Console()
    if result.ok:
        console.print(f"audit trail intact: {result.events:,} events verified")
        return
    console.print(f"[bold red]audit trail BROKEN[/]: {len(result.problems)} problem(s) in "
                  f"{result.events:,} events")
    for problem in result.problems:
        console.print(f"  - {problem}", markup=False)
    raise typer.Exit(1)


@app.command(name="show")
def show_command(
    entity: Annotated[str | None, typer.Option(help="only this entity type, e.g. patient")] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="only this entity id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show the newest audit events, optionally for one entity."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if entity:
            query = query.where(AuditEvent.entity == entity)
        if entity_id:
            query = query.where(AuditEvent.entity_id == entity_id)
        with container.uow() as uow:
            events = list(uow.session.execute(query).scalars())
    table = Table(title="audit events, newest first")
    for column in ("#", "when (UTC)", "who", "action", "entity", "change", "reason"):
        table.add_column(column)
    for event in events:
        table.add_row(str(event.seq), event.at.strftime("%Y-%m-%d %H:%M:%S"), event.actor,
                      event.action, f"{event.entity} {event.entity_id}", event.changes[:80],
                      event.reason or "")
    Console().print(table)
