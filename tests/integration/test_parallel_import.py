"""The two-process import stores exactly what the one-process import stores, and a
reading failure in the other process stores nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from medsafe.bootstrap import Container
from medsafe.cases.imports import import_reports
from medsafe.cases.parallel_import import ReaderSpec, import_folder
from medsafe.errors import Invalid
from medsafe.interop.faers.reader import read_faers
from medsafe.security.principal import SYSTEM
from medsafe.store.schema import Case, CaseDrug, CaseReaction, CaseVersion

FAERS = (Path(__file__).resolve().parents[2] / "data" / "reports" / "faers"
         / "faers_ascii_2017q2")


def stored(container: Container) -> set[tuple[object, ...]]:
    with container.uow() as uow:
        cases = uow.session.execute(
            select(Case.worldwide_id, Case.status, Case.valid, Case.serious,
                   CaseVersion.sha256)
            .join(CaseVersion, CaseVersion.case_id == Case.id)).all()
        drugs = uow.session.execute(
            select(Case.worldwide_id, CaseDrug.drug_key, CaseDrug.ingredient_id,
                   CaseDrug.lot_number).join(Case, Case.id == CaseDrug.case_id)).all()
        reactions = uow.session.execute(
            select(Case.worldwide_id, CaseReaction.term)
            .join(Case, Case.id == CaseReaction.case_id)).all()
    return {("case", *row) for row in cases} | {("drug", *row) for row in drugs} | {
        ("reaction", *row) for row in reactions}


def test_two_processes_store_what_one_process_stores(container: Container,
                                                     tmp_path: Path) -> None:
    serial = import_reports(container.uow, SYSTEM, container.catalog, read_faers(FAERS),
                            source="faers", label="serial")
    once = stored(container)
    again = import_folder(container.uow, SYSTEM, container.catalog,
                          ReaderSpec("faers", FAERS), label="parallel")
    assert (again.new, again.same) == (0, serial.new)  # the same reports, already held
    assert stored(container) == once
    with container.uow() as uow:  # and into an empty store, the same rows
        uow.session.query(CaseVersion).delete()
        uow.session.query(CaseDrug).delete()
        uow.session.query(CaseReaction).delete()
        uow.session.query(Case).delete()
        uow.commit()
    fresh = import_folder(container.uow, SYSTEM, container.catalog,
                          ReaderSpec("faers", FAERS), label="parallel")
    assert fresh.new == serial.new
    assert stored(container) == once


def test_a_malformed_row_in_the_other_process_stores_nothing(container: Container,
                                                             tmp_path: Path) -> None:
    quarter = tmp_path / "quarter"
    shutil.copytree(FAERS, quarter)
    demo = next((quarter / "ascii").glob("DEMO*"))
    demo.chmod(0o644)
    with demo.open("a", encoding="latin-1") as handle:
        handle.write("1$2$3\n")
    with pytest.raises(Invalid, match="DEMO"):
        import_folder(container.uow, SYSTEM, container.catalog,
                      ReaderSpec("faers", quarter), label="broken")
    with container.uow() as uow:
        assert uow.session.query(Case).count() == 0
