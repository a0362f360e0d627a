"""The Alembic migrations create exactly the schema in store/schema.py, on both databases,
and `medsafe db upgrade` is repeatable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from medsafe.bootstrap import Container
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
