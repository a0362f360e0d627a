"""`medsafe recalls import-openfda|export|list|show|step`: FDA's enforcement report into
the store, medsafe's recalls out in the same JSON, and the recalls read and moved on from
the command line (the API and the pages are the main way; see docs/recalls.md).

Reading and listing act as an administrator, like the other store commands; `step` acts
as the user named by `--as`, in that user's Part 7 role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from medsafe.cli.common import DatabaseUrlOption, DataDirOption, active_user, open_container
from medsafe.cli.errors import reported_errors
from medsafe.errors import Invalid
from medsafe.recalls import service
from medsafe.recalls.inputs import Classification, RecallStepInput, Strategy
from medsafe.recalls.openfda_import import Progress as ImportProgress
from medsafe.recalls.service import RecallDetail
from medsafe.security.principal import SYSTEM, Principal
from medsafe.store.repositories.recalls import MEDSAFE, SOURCES
from medsafe.store.uow import UnitOfWork

app = typer.Typer(help="Recalls: FDA's enforcement report, medsafe's own recalls, their "
                       "Part 7 steps.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@contextmanager
def _progress() -> Iterator[ImportProgress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


@app.command(name="import-openfda")
def import_openfda(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=(
        "openFDA drug enforcement JSON (the bulk export or an API page), zipped or not"))],
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Load every record of FDA's enforcement report in one transaction: a malformed
    record fails the whole import and nothing is written. Importing the same file again
    changes nothing; a newer file updates the recalls FDA moved on."""
    from medsafe.interop.openfda.reader import iter_recalls
    from medsafe.recalls.openfda_import import import_openfda as load

    with reported_errors():
        container = open_container(database_url, data_dir, migrate=True)
        with container.uow() as uow, _progress() as progress:
            summary = load(uow, SYSTEM, iter_recalls(file), label=file.name,
                           progress=progress)
    superseded = (f"; {summary.superseded:,} earlier reports of a recall the file reports "
                  "again" if summary.superseded else "")
    console.print(
        f"{summary.label}: {summary.recalls:,} recalls loaded ({summary.records:,} records"
        f"{superseded}) in {summary.events:,} events: {summary.products:,} products, "
        f"{summary.lots:,} lots, {summary.ndcs:,} NDCs; {summary.new:,} new, "
        f"{summary.updated:,} updated, {summary.unchanged:,} unchanged "
        f"({summary.seconds:.1f} s)", markup=False, soft_wrap=True)


@app.command(name="export")
def export(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="the JSON file to write")],
    source: Annotated[str, typer.Option(help=f"whose recalls: {', '.join(SOURCES)}")
                      ] = MEDSAFE,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Write recalls as openFDA drug enforcement JSON (recalls and corrections that have
    been initiated; FDA's report lists nothing else)."""
    from medsafe.interop.openfda.writer import dump_enforcement

    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            records, left_out = service.records_for_export(uow, SYSTEM, source=source)
        data = dump_enforcement(records, last_updated=date.today())
        try:
            out.write_bytes(data)
        except OSError as error:
            raise Invalid(f"cannot write {out}: {error.strerror}", where=str(out)) from None
    skipped = f" ({left_out:,} not yet initiated or not recalls, left out)" if left_out else ""
    console.print(f"{len(records):,} recalls written to {out}{skipped}", markup=False,
                  soft_wrap=True)


@app.command(name="list")
def list_command(
    state: Annotated[str | None, typer.Option(help="only recalls in this state")] = None,
    source: Annotated[str | None, typer.Option(help=f"one of: {', '.join(SOURCES)}")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many to show")] = 50,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Recalls, newest first, with the soonest deadline of the open ones (local policy)."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            found, total = service.list_recalls(uow, SYSTEM, state=state, source=source,
                                                limit=limit)
    table = Table(title=f"recalls{f' {state}' if state else ''} ({total:,})")
    for column in ("id", "number", "class", "state", "firm", "product", "lots", "next due"):
        table.add_column(column)
    for recall in found:
        due = recall.deadlines[0] if recall.deadlines else None
        table.add_row(str(recall.id), recall.recall_number or "", recall.classification or "",
                      recall.state, recall.firm, recall.product[:60], str(recall.lots),
                      "" if due is None else
                      f"{due.action} {due.due:%Y-%m-%d}{' OVERDUE' if due.overdue else ''}")
    console.print(table)


@app.command(name="show")
def show(
    number: Annotated[str, typer.Argument(help="the recall number (or medsafe's id)")],
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """A recall: its products, lots, history and what may happen next."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            details = [service.read_recall(uow, SYSTEM, recall_id)
                       for recall_id in recall_ids(uow, SYSTEM, number)]
    for detail in details:
        _print_detail(detail)


@app.command(name="step")
def step(
    number: Annotated[str, typer.Argument(help="the recall number (or medsafe's id)")],
    transition: Annotated[str, typer.Argument(help="triage, initiate, initiate_on_request, "
                                              "order_recall, classify, set_strategy, "
                                              "publish, start_notifying, respond, complete, "
                                              "terminate, refuse_termination")],
    user: Annotated[str, typer.Option("--as", help="the username taking the step")],
    reason: Annotated[str, typer.Option(help="why (audited with the author)")],
    acting_as: Annotated[str | None, typer.Option(
        help="an administrator's Part 7 role: firm, regulator, pharmacy, physician")] = None,
    recall_class: Annotated[str | None, typer.Option("--class",
                                                     help="classify: I, II or III")] = None,
    depth: Annotated[str | None, typer.Option(help="set_strategy: wholesale, retail or "
                                                   "consumer")] = None,
    public_warning: Annotated[str | None, typer.Option(
        help="set_strategy: none, general or specialised")] = None,
    effectiveness_check: Annotated[str | None, typer.Option(
        help="set_strategy: the effectiveness-check level, A to E")] = None,
    patient_action: Annotated[str | None, typer.Option(
        help="set_strategy: what patient notices say to do with the medicine, keep_taking "
             "(the default) or stop_now (needs --stop-reason)")] = None,
    stop_reason: Annotated[str | None, typer.Option(
        help="set_strategy: with stop_now, the danger that makes stopping the right "
             "advice")] = None,
    plain_words: Annotated[str | None, typer.Option(
        help="set_strategy: the problem in words a patient follows")] = None,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Take one Part 7 step as a user (status reports and termination requests carry
    more than options can say: use the API)."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            principal = active_user(uow, user)
            (recall_id,) = recall_ids(uow, principal, number, one=True)
            common = {"reason": reason, "acting_as": acting_as}
            try:
                if transition == "classify":
                    moved = service.classify(uow, principal, recall_id,
                                             Classification.model_validate(
                                                 {"classification": recall_class, **common}))
                elif transition == "set_strategy":
                    moved = service.set_strategy(uow, principal, recall_id,
                                                 Strategy.model_validate({
                                                     "depth": depth,
                                                     "public_warning": public_warning,
                                                     "effectiveness_check":
                                                         effectiveness_check,
                                                     "patient_action": patient_action,
                                                     "stop_reason": stop_reason,
                                                     "plain_words": plain_words,
                                                     **common}))
                else:
                    moved = service.take_step(uow, principal, recall_id,
                                              RecallStepInput.model_validate(
                                                  {"transition": transition, **common}))
            except ValueError as error:  # pydantic's: an option missing or out of range
                raise Invalid(_first_error(error)) from None
    summary = moved.summary
    last = moved.history[-1]
    console.print(f"recall {summary.recall_number}: {last.transition} by {last.by} as "
                  f"{last.role}; now {summary.state}", markup=False)


def recall_ids(uow: UnitOfWork, principal: Principal, number: str, *, one: bool = False
         ) -> list[int]:
    if number.isdigit():
        return [int(number)]
    found = service.recall_ids(uow, principal, number)
    if one and len(found) > 1:
        raise Invalid(f"{len(found)} recalls carry the number {number} (FDA reused it "
                      f"across events); give medsafe's id: {', '.join(map(str, found))}")
    return found


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid')}"
    return str(error)


def _print_detail(detail: RecallDetail) -> None:
    summary, record = detail.summary, detail.record
    console.print(f"recall {summary.recall_number or '(no number)'} (id {summary.id}, "
                  f"{summary.source}): {summary.kind.replace('_', ' ')}, {summary.state}"
                  + (f", Class {summary.classification}" if summary.classification else ""),
                  markup=False)
    console.print(f"firm: {record.firm.name}; reason: {record.reason}", markup=False)
    if record.depth:
        console.print(f"strategy: depth {record.depth}, public warning "
                      f"{record.public_warning}, effectiveness check "
                      f"{record.effectiveness_check}", markup=False)
    if record.hazard:
        advice = record.hazard
        console.print(f"patient advice: {advice.action.value}"
                      + (f" ({advice.stop_reason})" if advice.stop_reason else "")
                      + (f"; in plain words: {advice.plain_words}"
                         if advice.plain_words else ""), markup=False)
    for product in record.products:
        console.print(f"product: {product.description[:200]}", markup=False)
        if product.ndcs:
            console.print(f"  NDCs: {', '.join(product.ndcs)}", markup=False)
        if product.all_lots:
            console.print("  all lots", markup=False)
        for lot in product.lots:
            console.print(f"  lot {lot.number}"
                          + (f", exp {lot.expiry.isoformat()}" if lot.expiry else "")
                          + (f", NDC {lot.ndc}" if lot.ndc else ""), markup=False)
    for deadline in summary.deadlines:
        console.print(f"due: {deadline.action} {deadline.due:%Y-%m-%d %H:%M}"
                      + (" OVERDUE" if deadline.overdue else ""), markup=False)
    for entry in detail.history:
        console.print(f"  {entry.at:%Y-%m-%d %H:%M} {entry.by} as {entry.role}: "
                      f"{entry.transition} {entry.state_from or '-'} -> {entry.state_to} "
                      f"({entry.reason})", markup=False)
    if summary.next_steps:
        console.print("next: " + "; ".join(f"{t.transition} ({' or '.join(t.roles)})"
                                           for t in summary.next_steps), markup=False)
