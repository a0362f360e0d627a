"""The engine's checks, one module per area. Each check is a function

    check(candidate: Candidate, ctx: PatientContext, catalog: Catalog) -> Sequence[Finding]

listed in `ALL_CHECKS`; the engine runs them in that order. A check never raises for
unusual patient data: it reports what it cannot judge as a `missing-data` finding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from medsafe.assessment.candidate import Candidate
from medsafe.assessment.checks import (
    allergy,
    conditions,
    hepatic,
    indication,
    interactions,
    population,
    preferences,
    renal,
    sleep,
    warnings,
)
from medsafe.assessment.context import PatientContext
from medsafe.assessment.findings import Finding
from medsafe.knowledge.catalog import Catalog

Check = Callable[[Candidate, PatientContext, Catalog], Sequence[Finding]]

ALL_CHECKS: tuple[Check, ...] = (
    indication.check,
    conditions.check,
    allergy.check,
    interactions.check,
    renal.check,
    hepatic.check,
    population.check,
    sleep.check,
    preferences.check,
    warnings.check,
)
