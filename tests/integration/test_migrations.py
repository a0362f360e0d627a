"""The Alembic migrations create exactly the schema in store/schema.py, on both databases,
and `medsafe db upgrade` is repeatable."""

from __future__ import annotations

from datetime import date

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from medsafe.bootstrap import Container
from medsafe.cases.model import CaseReport
from medsafe.store.engine import make_engine
from medsafe.store.migrate import current_revision, head_revision, upgrade
from medsafe.store.schema import Base


def test_migrations_match_the_declared_schema(container: Container) -> None:
    with container.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrading_twice_changes_nothing(container: Container) -> None:
    upgrade(container.engine)
    assert current_revision(container.engine) == head_revision()


def test_reports_of_the_old_table_become_synthetic_cases_on_upgrade(database_url: str) -> None:
    """Migration 0003 converts each row of 0001's adverse_event_reports into a case."""
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO organisations (id, kind, name, created_at) VALUES "
                "(1, 'manufacturer', 'Aldervale', '2026-01-01 00:00:00')",
                "INSERT INTO products (id, code, code_system, name, ingredient_id, strength, "
                "manufacturer_id) VALUES (1, 'SYN-1', 'other', 'Baclofen 10 mg tablets', "
                "'baclofen', '10 mg', 1)",
                "INSERT INTO lots (id, product_id, lot_number) VALUES (1, 1, 'SYN-LOT-1')",
                "INSERT INTO patients (id, pseudonym, birth_date, sex, avoid_side_effects, "
                "synthetic, created_at) VALUES (1, 'P-0000001', '1970-05-01', 'female', "
                "'[]', true, '2026-01-01 00:00:00')",
                "INSERT INTO adverse_event_reports (id, patient_id, product_id, lot_id, "
                "ingredient_id, reaction, preferred_term, serious, onset_on, received_on, "
                "reporter, narrative, synthetic) VALUES (7, 1, 1, 1, 'baclofen', 'sleepy', "
                "'Somnolence', false, '2026-03-01', '2026-03-04', 'patient', "
                "'SYNTHETIC report', true)",
            ):
                connection.execute(text(statement))
        upgrade(engine)
        with engine.connect() as connection:
            assert not inspect(connection).has_table("adverse_event_reports")
            case = connection.execute(text(
                "SELECT c.id, c.synthetic, c.patient_id, c.source, c.first_received, d.lot_id, "
                "r.term FROM cases c JOIN case_drugs d ON d.case_id = c.id "
                "JOIN case_reactions r ON r.case_id = c.id")).one()
            payload = connection.execute(text(
                "SELECT payload FROM case_versions WHERE case_id = :id"),
                {"id": case[0]}).scalar_one()
        synthetic, patient, source, received, lot, term = case[1:]
        assert bool(synthetic)
        assert (patient, source, lot, term) == (1, "population", 1, "Somnolence")
        assert str(received) == date(2026, 3, 4).isoformat()
        report = CaseReport.model_validate_json(payload)
        assert report.narrative == "SYNTHETIC report"
        assert report.patient.sex == "female"
        assert report.drugs[0].lot_numbers == ("SYN-LOT-1",)
    finally:
        engine.dispose()
