"""Shared fixtures. Personas and builders live in tests/support."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from medsafe.assessment.engine import Assessment, assess
from medsafe.interop.fhir.patient_bundle import parse_bundle
from medsafe.knowledge.catalog import Catalog

# Every vignette is assessed on this fixed day, so ages never drift with the calendar.
ASSESSMENT_DAY = date(2026, 11, 26)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


def assess_bundle(bundle: dict[str, Any], catalog: Catalog,
                  drugs: list[str] | None = None) -> Assessment:
    return assess(parse_bundle(bundle), catalog, today=ASSESSMENT_DAY, drugs=drugs)
