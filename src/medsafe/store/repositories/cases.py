"""Adverse-event cases: the case rows, their versions and the drug and reaction index of
each case's current version. Bulk imports write through Core `INSERT … RETURNING` in
batches (hundreds of thousands of cases from one FAERS quarter); single cases go through
the same path with a batch of one."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from medsafe.store.repositories.base import Repository
from medsafe.store.schema import (
    Case,
    CaseDrug,
    CaseDuplicate,
    CaseReaction,
    CaseSubmission,
    CaseVersion,
)

Row = dict[str, Any]


class CaseRepository(Repository):
    def get(self, case_id: int, visible: ColumnElement[bool]) -> Case | None:
        return self.session.execute(
            select(Case).where(Case.id == case_id, visible)).scalar_one_or_none()

    def by_worldwide_id(self, worldwide_id: str,
                        visible: ColumnElement[bool] | None = None) -> Case | None:
        query = select(Case).where(Case.worldwide_id == worldwide_id)
        if visible is not None:
            query = query.where(visible)
        return self.session.execute(query).scalar_one_or_none()

    def ids_by_worldwide_id(self, worldwide_ids: Collection[str],
                            visible: ColumnElement[bool] | None = None) -> dict[str, int]:
        if not worldwide_ids:
            return {}
        query = select(Case.worldwide_id, Case.id).where(Case.worldwide_id.in_(worldwide_ids))
        if visible is not None:
            query = query.where(visible)
        rows = self.session.execute(query).all()
        return {row[0]: row[1] for row in rows}

    def versions(self, case_id: int) -> Sequence[CaseVersion]:
        return self.session.execute(select(CaseVersion).where(CaseVersion.case_id == case_id)
                                    .order_by(CaseVersion.version)).scalars().all()

    def version(self, case_id: int, version: int) -> CaseVersion | None:
        return self.session.execute(select(CaseVersion).where(
            CaseVersion.case_id == case_id, CaseVersion.version == version)).scalar_one_or_none()

    def hashes(self, case_id: int) -> frozenset[str]:
        return frozenset(self.session.execute(
            select(CaseVersion.sha256).where(CaseVersion.case_id == case_id)).scalars())

    def insert_cases(self, rows: Sequence[Row]) -> list[int]:
        """Insert case rows; their new ids, in the order of `rows`.

        The ids are assigned here, after the largest id held, and the rows go through
        the driver's executemany on the Core table: several times faster than
        `INSERT … RETURNING` row by row, which matters for a FAERS quarter. The table is
        locked first on PostgreSQL so that two imports cannot take the same ids (SQLite
        transactions here already hold the database's write lock)."""
        if not rows:
            return []
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE"))
        largest = self.session.execute(select(func.max(Case.id))).scalar() or 0
        ids = list(range(largest + 1, largest + 1 + len(rows)))
        self.session.execute(insert(_table('cases')),
                             [{**row, "id": i} for i, row in zip(ids, rows, strict=True)])
        return ids

    def insert_versions(self, rows: Sequence[Row]) -> None:
        if rows:
            self.session.execute(insert(_table('case_versions')), list(rows))

    def insert_index(self, drugs: Sequence[Row], reactions: Sequence[Row]) -> None:
        if drugs:
            self.session.execute(insert(_table('case_drugs')), list(drugs))
        if reactions:
            self.session.execute(insert(_table('case_reactions')), list(reactions))

    def replace_index(self, case_id: int, drugs: Sequence[Row],
                      reactions: Sequence[Row]) -> None:
        """Point the drug and reaction index at a new current version."""
        self.session.execute(delete(CaseDrug).where(CaseDrug.case_id == case_id))
        self.session.execute(delete(CaseReaction).where(CaseReaction.case_id == case_id))
        self.insert_index(drugs, reactions)

    def update_case(self, case_id: int, values: Mapping[str, Any]) -> None:
        self.session.execute(update(Case).where(Case.id == case_id).values(**values))
        self.session.expire_all()

    def drugs(self, case_id: int) -> Sequence[CaseDrug]:
        return self.session.execute(select(CaseDrug).where(CaseDrug.case_id == case_id)
                                    .order_by(CaseDrug.id)).scalars().all()

    def page(self, query: Select[Case], offset: int, limit: int
             ) -> tuple[list[Case], int]:
        return self._scalar_page(query, (Case.due_on.asc().nulls_last(), Case.id.desc()),
                                 offset, limit)

    def workload(self, visible: ColumnElement[bool], today: date, soon: date
                 ) -> list[tuple[str, int, int, int]]:
        """Per status: cases, due within `soon`, overdue (open cases only for dues)."""
        open_due = Case.due_on.is_not(None) & (Case.status != "submitted")
        rows = self.session.execute(
            select(Case.status, func.count(),
                   func.sum((open_due & (Case.due_on >= today) & (Case.due_on <= soon))
                            .cast(Integer)),
                   func.sum((open_due & (Case.due_on < today)).cast(Integer)))
            .where(visible, Case.merged_into_id.is_(None)).group_by(Case.status)).all()
        return [(row[0], int(row[1]), int(row[2] or 0), int(row[3] or 0)) for row in rows]

    # Submissions and acknowledgements
    def add_submission(self, submission: CaseSubmission) -> CaseSubmission:
        return self.add(submission)

    def submission_by_message(self, message_id: str) -> CaseSubmission | None:
        return self.session.execute(select(CaseSubmission).where(
            CaseSubmission.message_id == message_id)).scalar_one_or_none()

    def pending_submissions(self) -> Sequence[CaseSubmission]:
        return self.session.execute(select(CaseSubmission).where(
            CaseSubmission.ack_status == "pending").order_by(CaseSubmission.sent_at)
        ).scalars().all()

    def submissions(self, case_id: int) -> Sequence[CaseSubmission]:
        return self.session.execute(select(CaseSubmission).where(
            CaseSubmission.case_id == case_id).order_by(CaseSubmission.id)).scalars().all()

    # Duplicates
    def duplicate_pairs(self, status: str | None = None) -> Sequence[CaseDuplicate]:
        query = select(CaseDuplicate).order_by(CaseDuplicate.score.desc())
        if status is not None:
            query = query.where(CaseDuplicate.status == status)
        return self.session.execute(query).scalars().all()

    def duplicate_pair(self, pair_id: int) -> CaseDuplicate | None:
        return self.session.get(CaseDuplicate, pair_id)

    def known_pairs(self) -> set[tuple[int, int]]:
        return {(row[0], row[1]) for row in self.session.execute(
            select(CaseDuplicate.case_id, CaseDuplicate.other_case_id)).all()}


def _table(name: str) -> Table:
    """The Core table, so bulk inserts skip the ORM's per-row bookkeeping."""
    return Case.metadata.tables[name]
