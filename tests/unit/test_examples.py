"""The shipped example patients say what the README says they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medsafe.assessment.engine import Assessment
from medsafe.knowledge.catalog import Catalog
from tests.conftest import assess_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def assess_example(name: str, catalog: Catalog) -> Assessment:
    return assess_bundle(json.loads((EXAMPLES / name).read_text()), catalog)


def kinds(assessment: Assessment, drug: str) -> set[tuple[str, str]]:
    return {(f.kind, f.severity) for f in assessment.option(drug).findings}


def test_there_are_at_least_four_examples() -> None:
    assert len(list(EXAMPLES.glob("*.json"))) >= 4


def test_ms_spasticity_recommends_baclofen_first(catalog: Catalog) -> None:
    assessment = assess_example("ms-spasticity.json", catalog)
    first = assessment.options[0]
    assert (first.candidate.id, first.suitability) == ("baclofen", "recommended")
    assert assessment.option("cyclobenzaprine").suitability == "avoid"


def test_ms_on_oxycodone_shows_opioid_interactions_and_sleep(catalog: Catalog) -> None:
    assessment = assess_example("ms-on-oxycodone.json", catalog)
    assert ("interaction", "critical") in kinds(assessment, "baclofen")
    assert ("sleep", "warning") in kinds(assessment, "baclofen")
    assert ("tolerability-preference", "warning") in kinds(assessment, "baclofen")
    assert assessment.option("diazepam").suitability == "avoid"
    assert ("route-preference", "warning") in kinds(assessment, "botulinum-toxin-a")


def test_sci_patient_gets_renal_sleep_and_age_findings(catalog: Catalog) -> None:
    assessment = assess_example("sci-kidney-sleep-apnoea.json", catalog)
    baclofen = kinds(assessment, "baclofen")
    assert {("renal", "warning"), ("sleep", "warning"), ("age", "warning")} <= baclofen
    assert ("renal", "warning") in kinds(assessment, "tizanidine")
    assert assessment.option("diazepam").suitability == "contraindicated"


def test_cp_patient_on_fluvoxamine(catalog: Catalog) -> None:
    assessment = assess_example("cp-on-fluvoxamine.json", catalog)
    assert assessment.option("tizanidine").suitability == "contraindicated"
    baclofen = assessment.option("baclofen")
    assert baclofen.candidate.route == "oral"
    assert ("indication", "critical") in kinds(assessment, "baclofen")
    assert any("intrathecal" in f.detail for f in baclofen.findings if f.kind == "indication")
    assert ("pregnancy", "warning") in kinds(assessment, "baclofen")


def test_back_pain_on_phenelzine(catalog: Catalog) -> None:
    assessment = assess_example("back-pain-on-phenelzine.json", catalog)
    cyclobenzaprine = assessment.option("cyclobenzaprine")
    assert cyclobenzaprine.suitability == "contraindicated"
    assert any(f.kind == "interaction" and f.contraindicated for f in cyclobenzaprine.findings)
    assert ("hepatic", "critical") in kinds(assessment, "cyclobenzaprine")
    assert assessment.option("dantrolene").suitability == "contraindicated"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_every_example_has_findings_under_the_summary_limit(name: str, catalog: Catalog) -> None:
    assessment = assess_example(name, catalog)
    assert all(len(f.summary) < 140 for o in assessment.options for f in o.findings)
