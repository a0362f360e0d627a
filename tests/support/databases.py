"""Real databases for tests: a fresh SQLite file, or a fresh schema in the PostgreSQL
named by MEDSAFE_TEST_POSTGRES_URL. Never a mock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "MEDSAFE_TEST_POSTGRES_URL"
KINDS = ("sqlite", "postgresql")


def postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set: under CI=true PostgreSQL tests must run")
        pytest.skip(f"{POSTGRES_ENV} is not set; PostgreSQL tests skipped")
    return url


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL to an empty database of this kind, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'medsafe-test.sqlite3'}"
        return
    base = postgres_url()
    assert base is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_psycopg(base))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(_psycopg(base)).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _psycopg(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)
