"""`medsafe signals detect-cases|runs|list|show|advance`: detection over the case store,
stored, and the candidate signals it opens, moved through their lifecycle (as an
administrator, like the other store commands).

Plain functions with Typer options; `cli.signals` mounts them under `medsafe signals`.
The statistics are imported by the service only when a run computes."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.security.principal import SYSTEM
from medsafe.signals import management
from medsafe.signals.lifecycle import STATUSES
from medsafe.signals.management import CRITERIA, PairStatistics
from medsafe.store.repositories.signals import AXES

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

AxisOption = Annotated[str, typer.Option(help=f"the drug axis: {', '.join(AXES)}")]
Limit = Annotated[int, typer.Option(min=1, max=10_000, help="how many rows to show")]


def detect_cases(
    axis: AxisOption = "ingredient",
    within: Annotated[str | None, typer.Option(
        help="count only the cases with this ingredient as a suspect (e.g. baclofen), to "
             "compare its lots or products with each other")] = None,
    strata: Annotated[list[str] | None, typer.Option(
        help="stratify the expected counts by sex, age_group or year (repeatable)")] = None,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Run detection over the case store (the current version of each valid case, not
    nullified, not merged; suspect and interacting drugs) on one drug axis, store the run
    and open a new signal for each pair it flags. By lot, use --within: a lot stands out
    against its sister lots, not against every other medicine."""
    with reported_errors():
        started = time.perf_counter()
        container = open_container(database_url, data_dir, migrate=True)
        with container.uow() as uow:
            run = management.run_over_case_store(
                uow, SYSTEM, axis=axis, within=within, strata=tuple(strata or ()),
                progress=lambda line: err.print(line, markup=False))
    scope = f" within {within}" if within else ""
    console.print(f"run {run.id} ({run.axis}{scope}): {run.reports:,} reports, {run.pairs:,} pairs "
                  f"scored, {run.candidates:,} candidate signals, {run.new_signals:,} new "
                  f"signals ({time.perf_counter() - started:.1f} s)", markup=False)
    if run.notes:
        console.print(f"prior: {'; '.join(run.notes)}", markup=False)


def runs(
    limit: Limit = 20,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """The stored detection runs, newest first."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            found, total = management.list_runs(uow, SYSTEM, limit=limit)
    table = Table(title=f"detection runs ({total:,})")
    for column in ("id", "when", "input", "reports", "pairs", "candidates", "new", "prior"):
        table.add_column(column)
    for run in found:
        table.add_row(str(run.id), run.created_at.strftime("%Y-%m-%d %H:%M"),
                      f"{run.input} by {run.axis}"
                      + (f" within {run.parameters['within']}"
                         if run.parameters.get("within") else ""),
                      f"{run.reports:,}", f"{run.pairs:,}",
                      f"{run.candidates:,}", f"{run.new_signals:,}",
                      "given" if run.converged is None else
                      "fitted" if run.converged else "NOT CONVERGED")
    console.print(table)


def list_signals(
    status: Annotated[str | None, typer.Option(help=f"one of: {', '.join(STATUSES)}")] = None,
    axis: Annotated[str | None, typer.Option(help=f"one of: {', '.join(AXES)}")] = None,
    drug: Annotated[str | None, typer.Option(help="part of the drug's name")] = None,
    event: Annotated[str | None, typer.Option(help="part of the event's name")] = None,
    signal_by: Annotated[str | None, typer.Option(
        help=f"a criterion that fired: {', '.join(CRITERIA)}")] = None,
    min_n: Annotated[int | None, typer.Option(min=0, help="at least this many reports")
                     ] = None,
    run: Annotated[int | None, typer.Option(min=1, help="statistics of this run")] = None,
    limit: Limit = 50,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Candidate signals, highest EB05 first."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            found, total = management.list_signals(
                uow, SYSTEM, status=status, axis=axis, drug=drug, event=event,
                signal_by=signal_by, min_n=min_n, run=run, limit=limit)
    table = Table(title=f"signals ({total:,}; statistics of "
                        f"{f'run {run}' if run else 'the latest run scoring each'})")
    for column in ("id", "drug", "event", "status", "n", "e", "eb05", "ic025", "prr",
                   "signal by"):
        table.add_column(column)
    for signal in found:
        stats = signal.statistics
        table.add_row(str(signal.id), f"{signal.drug} ({signal.axis})", signal.event,
                      signal.status, *_numbers(stats), stats.signal_by if stats else "")
    console.print(table)


def show(
    signal_id: Annotated[int, typer.Argument(min=1, help="the signal's id")],
    cases: Annotated[int, typer.Option(min=0, max=10_000, help="case series rows to show")
                     ] = 20,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """One signal: its statistics, its history of steps, its case series."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            detail = management.read_signal(uow, SYSTEM, signal_id)
            series, total = management.case_series(uow, SYSTEM, signal_id, limit=cases)
    signal = detail.signal
    console.print(f"signal {signal.id}: {signal.drug} x {signal.event} ({signal.axis}), "
                  f"{signal.status}", markup=False)
    if signal.conclusion:
        console.print(f"conclusion: {signal.conclusion}", markup=False)
    stats = signal.statistics
    if stats is not None:
        console.print(f"run {stats.run_id}: " + ", ".join(
            f"{name} {value}" for name, value in zip(
                ("n", "e", "eb05", "ic025", "prr"), _numbers(stats), strict=True))
            + f"; signal by {stats.signal_by or 'none'}", markup=False)
    if signal.next_steps:
        console.print(f"next: {' or '.join(signal.next_steps)}", markup=False)
    for step in detail.history:
        console.print(f"  {step.at:%Y-%m-%d %H:%M} {step.by or ''}: {step.status_from} -> "
                      f"{step.status_to}" + (f" ({step.note})" if step.note else ""),
                      markup=False)
    table = Table(title=f"case series ({total:,})")
    for column in ("id", "worldwide id", "received", "suspect", "reaction", "serious"):
        table.add_column(column)
    for case in series:
        table.add_row(str(case.id), case.worldwide_id, case.latest_received.isoformat(),
                      case.primary_suspect, case.primary_term, "yes" if case.serious else "no")
    console.print(table)


def advance(
    signal_id: Annotated[int, typer.Argument(min=1, help="the signal's id")],
    to: Annotated[str, typer.Argument(help="validated, refuted, under_assessment or closed")],
    note: Annotated[str | None, typer.Option(
        help="why (required to refute) or the conclusion (required to close)")] = None,
    database_url: DatabaseUrlOption = None, data_dir: DataDirOption = None,
) -> None:
    """Move a signal to its next status."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        with container.uow() as uow:
            moved = management.advance(uow, SYSTEM, signal_id, to, note=note)
    console.print(f"signal {moved.id}: {moved.drug} x {moved.event} is now {moved.status}",
                  markup=False)


def _numbers(stats: PairStatistics | None) -> tuple[str, str, str, str, str]:
    if stats is None:
        return "", "", "", "", ""
    return (f"{stats.n:.0f}", _cell(stats.e), _cell(stats.eb05), _cell(stats.ic025),
            _cell(stats.prr))


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"
