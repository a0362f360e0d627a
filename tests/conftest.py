"""Shared fixtures. Personas and builders live in tests/support."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medsafe.assessment.engine import Assessment, assess
from medsafe.bootstrap import Container, bootstrap
from medsafe.config import Settings
from medsafe.interop.fhir.patient_bundle import parse_bundle
from medsafe.knowledge.catalog import Catalog
from tests.support.databases import KINDS, fresh_database

# Every vignette is assessed on this fixed day, so ages never drift with the calendar.
ASSESSMENT_DAY = date(2026, 11, 26)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


def assess_bundle(bundle: dict[str, Any], catalog: Catalog,
                  drugs: list[str] | None = None) -> Assessment:
    return assess(parse_bundle(bundle), catalog, today=ASSESSMENT_DAY, drugs=drugs)


@pytest.fixture(params=KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite, and PostgreSQL when MEDSAFE_TEST_POSTGRES_URL is set."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """The whole composition root on a freshly migrated database."""
    settings = Settings(environment="test", data_dir=tmp_path, database_url=database_url,
                        cookie_secure=False)
    built = bootstrap(settings, migrate=True)
    try:
        yield built
    finally:
        built.engine.dispose()
