"""The real recalls the demo ships (`data/fda-enforcement`, see its SOURCE.md): FDA's
drug enforcement report, imported through the same use case as `medsafe recalls
import-openfda`, and matched against the demo's population, which carries some of their
real NDCs and lot numbers (`data/recalled-lots`), so that matching finds real holders and
real recipients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from medsafe.recalls.matching import Reach, recall_keys
from medsafe.recalls.openfda_import import ImportSummary, import_openfda
from medsafe.security.principal import SYSTEM
from medsafe.store.repositories.recalls import OPENFDA
from medsafe.store.schema import RecallRow
from medsafe.store.uow import UowFactory

ENFORCEMENT = (Path(__file__).resolve().parents[3] / "data" / "fda-enforcement"
               / "drug-enforcement-0001-of-0001.json.zip")


@dataclass(frozen=True, slots=True)
class RealRecallReach:
    """How far FDA's recalls reach into the store."""

    recalls: int  # imported recalls held
    matched: int  # those that match a stored lot
    reaching_patients: int  # those that reach a patient who received a matched lot
    numbers: tuple[str, ...]  # the recall numbers that reach patients, most patients first
    total: Reach  # all of them together, each organisation and patient once


def import_shipped_recalls(uows: UowFactory, say: Callable[[str], None] = lambda _: None,
                           path: Path = ENFORCEMENT) -> ImportSummary | None:
    """Import the shipped export unless the store already holds imported recalls (the
    import is one transaction, so holding any means holding the file); None when it was
    not imported (held already, or medsafe runs without the checkout's data folder)."""
    from medsafe.interop.openfda.reader import iter_recalls

    with uows() as uow:
        held = uow.session.execute(select(func.count()).select_from(RecallRow)
                                   .where(RecallRow.source == OPENFDA)).scalar_one()
    if held:
        say(f"FDA's enforcement report: {held:,} recalls already held")
        return None
    if not path.exists():
        say(f"no shipped enforcement report at {path}; skipping the real recalls")
        return None
    with uows() as uow:
        summary = import_openfda(uow, SYSTEM, iter_recalls(path), label=path.name)
    say(f"FDA's enforcement report {summary.label}: {summary.recalls:,} recalls loaded "
        f"({summary.records:,} records) in {summary.events:,} events, {summary.lots:,} lots, "
        f"{summary.ndcs:,} NDCs ({summary.seconds:.1f} s)")
    return summary


def real_recall_reach(uows: UowFactory) -> RealRecallReach:
    """Every imported recall matched against the store at once (`uow.affected`'s batch
    form), and what they reach."""
    with uows() as uow:
        rows = list(uow.session.execute(
            select(RecallRow).where(RecallRow.source == OPENFDA).order_by(RecallRow.id))
            .scalars())
        records = uow.recalls.records(rows)
        numbers = {row.id: row.recall_number or f"#{row.id}" for row in rows}
        matched = uow.affected.match_many({recall_id: recall_keys(record)
                                           for recall_id, record in records.items()})
        each, total = uow.affected.reach(matched)
    reaching = sorted((recall_id for recall_id, reach in each.items() if reach.patients),
                      key=lambda recall_id: (-each[recall_id].patients, numbers[recall_id]))
    return RealRecallReach(recalls=len(rows), matched=len(matched),
                           reaching_patients=len(reaching),
                           numbers=tuple(numbers[i] for i in reaching), total=total)
