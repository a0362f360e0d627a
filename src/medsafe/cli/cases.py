"""`medsafe cases …`: import national report databases and E2B(R3) files, export a case
as E2B(R3), list inboxes and show cases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from medsafe.cases import service
from medsafe.cases.imports import ImportSummary
from medsafe.cases.parallel_import import ReaderSpec, import_folder
from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.security.principal import SYSTEM

app = typer.Typer(help="Adverse-event cases: import, export, inboxes.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

KeepGoing = Annotated[bool, typer.Option(
    "--keep-going", help="skip malformed rows (reported with file and line, up to "
    "--max-problems) instead of failing the whole import")]
MaxProblems = Annotated[int, typer.Option(min=0, max=1_000_000,
                                          help="with --keep-going: give up after this many")]


@contextmanager
def _bytes_progress(what: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(TextColumn(what), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as progress:
        task = progress.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update


def _print_summary(summary: ImportSummary, problems: list[str]) -> None:
    console.print(f"{summary.label}: {summary.new:,} new cases, {summary.follow_ups:,} "
                  f"follow-ups, {summary.nullified:,} nullified, {summary.same:,} already held")
    if problems:
        err.print(f"{len(problems):,} malformed rows skipped; the first:")
        for problem in problems[:10]:
            err.print(f"  {problem}", markup=False)


@app.command(name="import-faers")
def import_faers(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                           help="a FAERS or legacy AERS quarterly ASCII folder")],
    deleted: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="FDA's list of deleted case ids to leave out")] = None,
    keep_going: KeepGoing = False, max_problems: MaxProblems = 100,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Import the latest version of each case of a FAERS quarter (held for signal
    detection, outside the workflow). Reading runs in a second process."""
    from medsafe.interop.faers.reader import read_deleted_ids

    with reported_errors():
        gone = read_deleted_ids(deleted) if deleted else frozenset()
    _import(ReaderSpec("faers", folder, gone, keep_going, max_problems), database_url,
            data_dir)


@app.command(name="import-vaers")
def import_vaers(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                           help="a folder with one year's VAERS CSV files")],
    keep_going: KeepGoing = False, max_problems: MaxProblems = 100,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Import a VAERS year (DATA, SYMPTOMS and VAX files), held for signal detection.
    Reading runs in a second process."""
    _import(ReaderSpec("vaers", folder, frozenset(), keep_going, max_problems), database_url,
            data_dir)


def _import(spec: ReaderSpec, database_url: str | None, data_dir: Path | None) -> None:
    """One folder, in one transaction, with a progress bar and the skipped rows listed."""
    problems: list[str] = []
    with reported_errors():
        container = open_container(database_url, data_dir, migrate=True)
        with _bytes_progress(f"reading {spec.folder.name}") as progress:
            summary = import_folder(container.uow, SYSTEM, container.catalog, spec,
                                    label=str(spec.folder), on_problem=problems.append,
                                    on_progress=progress)
    _print_summary(summary, problems)


@app.command(name="list")
def list_command(
    queue: Annotated[str, typer.Option(help=f"one of: {', '.join(service.QUEUES)}")] = "all",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """An inbox, due first (as an administrator)."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            cases, total = service.list_cases(uow, SYSTEM, queue=queue, limit=limit)
    table = Table(title=f"cases: {queue} ({total:,})")
    for column in ("id", "worldwide id", "received", "suspect", "reaction", "serious",
                   "valid", "status", "due"):
        table.add_column(column)
    for case in cases:
        table.add_row(str(case.id), case.worldwide_id, case.first_received.isoformat(),
                      case.primary_suspect, case.primary_term,
                      "yes" if case.serious else "no", "yes" if case.valid else "NO",
                      case.status, case.due_on.isoformat() if case.due_on else "")
    console.print(table)


@app.command(name="show")
def show_command(
    case: Annotated[str, typer.Argument(help="medsafe case id or worldwide unique case id")],
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """One case with its versions, as JSON."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            detail = service.read_case(uow, SYSTEM, container.catalog, case)
    console.print_json(detail.model_dump_json())


@app.command(name="import-e2b")
def import_e2b(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False,
                                                help="E2B(R3) XML files (ICH or FDA flavour)")],
    ack_dir: Annotated[Path | None, typer.Option(
        file_okay=False, help="write each file's acknowledgement here as NAME.ack")] = None,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Import E2B(R3) files: each checked against FDA's rules, stored as cases (a known
    worldwide id makes a new version) and acknowledged. Exit 1 if any message or file
    was rejected."""
    from medsafe.cases.exchange import receive_e2b, refusal
    from medsafe.errors import Invalid

    rejected = False
    with reported_errors():
        container = open_container(database_url, data_dir, migrate=True)
        for path in files:
            try:
                received = receive_e2b(container.uow, SYSTEM, container.catalog,
                                       path.read_bytes(), name=path.name,
                                       region=container.settings.case_region)
            except Invalid as error:
                rejected = True
                err.print(f"{path.name}: refused: {error.reason}", markup=False)
                _write_ack(ack_dir, path, refusal(path.name, error))
                continue
            _write_ack(ack_dir, path, received.acknowledgement)
            tally = received.tally
            console.print(f"{path.name}: {received.accepted}/{len(received.results)} messages "
                          f"accepted; {tally.new} new cases, {tally.follow_ups} follow-ups, "
                          f"{tally.nullified} nullified, {tally.same} already held")
            for result in received.results:
                rejected |= not result.accepted
                for problem in result.problems:
                    err.print(f"  {result.worldwide_id}: {problem}", markup=False)
    if rejected:
        raise typer.Exit(1)


def _write_ack(ack_dir: Path | None, path: Path, ack: bytes) -> None:
    if ack_dir is not None:
        ack_dir.mkdir(parents=True, exist_ok=True)
        (ack_dir / f"{path.stem}.ack").write_bytes(ack)


@app.command(name="export-e2b")
def export_e2b(
    case: Annotated[str, typer.Argument(help="medsafe case id or worldwide unique case id")],
    receiver: Annotated[str, typer.Option(help="N.2.r.3 message receiver")] = "CDER",
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Write the case's current version as E2B(R3) XML on standard output."""
    from medsafe.cases.exchange import export_e2b as export

    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            xml = export(uow, SYSTEM, case, receiver=receiver)
    typer.echo(xml.decode(), nl=False)


@app.command(name="record-ack")
def record_ack(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="an acknowledgement (MCCI_IN200101UV01)")],
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Record the receiver's acknowledgement of one of medsafe's submissions."""
    from medsafe.cases.exchange import record_acknowledgement

    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            submission = record_acknowledgement(uow, SYSTEM, file.read_bytes(),
                                                name=file.name)
            status, detail = submission.ack_status, submission.ack_detail
    console.print(f"{file.name}: submission {status}" + (f": {detail}" if detail else ""))


@app.command(name="find-duplicates")
def find_duplicates(
    threshold: Annotated[float | None, typer.Option(
        min=0, max=100, help="flag pairs scoring at least this (default: as likely "
        "duplicate as not when about 1% of cases have one)")] = None,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Score every open case for probable duplicates (vigiMatch-style) and list the new
    pairs for review."""
    from medsafe.cases.duplicate_review import find_duplicates as search

    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            result = search(uow, SYSTEM, threshold=threshold)
    console.print(f"{result.cases:,} open cases scored at threshold {result.threshold}: "
                  f"{result.found:,} probable pairs, {result.new:,} new for review")


@app.command(name="duplicates")
def duplicates_command(
    status: Annotated[str, typer.Option(help="suggested, confirmed or rejected")] = "suggested",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """The probable duplicate pairs, best first, with the evidence per field."""
    from medsafe.cases.duplicate_review import list_duplicates

    if status not in ("suggested", "confirmed", "rejected"):
        err.print("medsafe: error: --status must be suggested, confirmed or rejected")
        raise typer.Exit(2)
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            pairs = list_duplicates(uow, SYSTEM, status=status,  # type: ignore[arg-type]
                                    limit=limit)
    table = Table(title=f"duplicate pairs: {status}")
    for column in ("pair", "score", "case", "other", "suspect", "reaction", "evidence"):
        table.add_column(column)
    for pair in pairs:
        evidence = ", ".join(f"{k} {v:+.1f}" for k, v in pair.evidence.items()
                             if abs(v) >= 0.05)
        table.add_row(str(pair.id), f"{pair.score:.1f}", pair.case.worldwide_id,
                      pair.other.worldwide_id, pair.case.primary_suspect,
                      pair.case.primary_term, evidence)
    console.print(table)


@app.command(name="decide-duplicate")
def decide_duplicate(
    pair: Annotated[int, typer.Argument(min=1, help="the pair's number")],
    confirm: Annotated[bool, typer.Option("--confirm/--reject",
                                          help="the same case (merge) or not")],
    reason: Annotated[str, typer.Option(help="why; kept in the audit trail")],
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Confirm a pair (the more complete case stays, the other is merged into it) or
    reject it."""
    from medsafe.cases.duplicate_review import decide

    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            decided = decide(uow, SYSTEM, container.catalog, pair, confirm=confirm,
                             reason=reason)
    console.print(f"pair {decided.id}: {decided.status}")


@app.command(name="line-listing")
def line_listing_command(
    start: Annotated[str, typer.Option("--from", help="first day received, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="last day received, YYYY-MM-DD")],
    ingredient: Annotated[str | None, typer.Option(help="an ingredient id, e.g. baclofen")]
    = None,
    product: Annotated[int | None, typer.Option(min=1, help="a medsafe product id")] = None,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """A periodic line listing (CSV on standard output) of the cases about an ingredient
    or product first received in the period."""
    from datetime import date

    from medsafe.cases.listing import line_listing
    from medsafe.errors import Invalid

    with reported_errors():
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError as error:
            raise Invalid(f"{error}; expected YYYY-MM-DD", where="--from/--to") from None
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            text = line_listing(uow, SYSTEM, start=first, end=last, ingredient_id=ingredient,
                                product_id=product)
    typer.echo(text, nl=False)
