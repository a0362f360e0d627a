"""Runs the Alembic migrations shipped in `store/migrations` (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from medsafe.errors import Invalid

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind `engine` to `revision` (default: the newest)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def is_current(engine: Engine, *, raise_if_not: bool = False) -> bool:
    """Is the database at the newest schema? Optionally refuse with a clear message."""
    found = current_revision(engine)
    ok = found == head_revision()
    if not ok and raise_if_not:
        where = engine.url.render_as_string(hide_password=True)
        raise Invalid(f"database {where} is at schema {found or 'empty'}, this medsafe needs "
                      f"{head_revision()}: run `medsafe db upgrade`")
    return ok
