"""Property-based tests over generated patients: the engine never crashes, never
recommends a drug with a critical finding, and the suitability always follows from the
findings by the stated rules."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medsafe.assessment.findings import SUITABILITY_ORDER, SUMMARY_LIMIT, suitability_of
from medsafe.errors import Invalid
from medsafe.interop.fhir.patient_bundle import parse_bundle, parse_bundle_text
from medsafe.knowledge.catalog import Catalog
from tests.conftest import assess_bundle
from tests.support.fhir_builder import PatientBundle

CATALOG = Catalog.load()
CONDITION_WORDS = sorted({s for c in CATALOG.conditions.values() for s in (c.name, *c.synonyms)})
DRUG_WORDS = sorted(
    {i.name for i in CATALOG.ingredients.values()}
    | {m.name for c in CATALOG.classes.values() for m in c.members}
    | {b for i in CATALOG.ingredients.values() for b in i.brand_names}
)
RXNORM_CODES = sorted({code for (system, code) in CATALOG.drug_by_code if system == "rxnorm"})
SIDE_EFFECT_WORDS = ["drowsiness", "dizziness", "nausea", "insomnia", "weakness", "confusion"]

def _fhir_string(text: str) -> bool:
    """FHIR strings match [ \r\n\t\\S]+: no other whitespace, and not blank."""
    return bool(text.strip()) and all(c in " \r\n\t" or not c.isspace() for c in text)


free_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
                    min_size=1, max_size=30).filter(_fhir_string)
any_text = st.text(max_size=30)
condition_text = st.one_of(st.sampled_from(CONDITION_WORDS), free_text)
drug_text = st.one_of(st.sampled_from(DRUG_WORDS), free_text)


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    year = draw(st.integers(1900, 2026))
    builder = PatientBundle(
        birth_date=draw(st.one_of(st.none(), st.just(f"{year}-06-15"))),
        gender=draw(st.sampled_from([None, "female", "male", "other", "unknown"])),
    )
    for text in draw(st.lists(condition_text, max_size=4)):
        builder.condition(text, severity=draw(st.sampled_from([None, "mild", "moderate",
                                                               "severe"])))
    for text in draw(st.lists(drug_text, max_size=6)):
        code = draw(st.one_of(st.none(), st.sampled_from(RXNORM_CODES)))
        builder.medication(text, rxnorm=code, request=draw(st.booleans()),
                           status=draw(st.sampled_from(["active", "stopped", "on-hold"])))
    for text in draw(st.lists(drug_text, max_size=2)):
        builder.allergy(text)
    if draw(st.booleans()):
        builder.egfr(draw(st.floats(0, 250, allow_nan=False)))
    if draw(st.booleans()):
        builder.crcl(draw(st.floats(0, 300, allow_nan=False)))
    if draw(st.booleans()):
        builder.alt(draw(st.floats(0, 2000, allow_nan=False)), upper=40)
    if draw(st.booleans()):
        builder.child_pugh(draw(st.sampled_from(["A", "B", "C"])))
    if draw(st.booleans()):
        builder.pregnant(draw(st.booleans()))
    if draw(st.booleans()):
        builder.prefers_route(draw(st.sampled_from(["oral", "injection"])))
    for word in draw(st.lists(st.sampled_from(SIDE_EFFECT_WORDS), max_size=2)):
        builder.avoids(word)
    return builder.build()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles())
def test_the_engine_never_recommends_a_drug_with_a_critical_finding(
    bundle: dict[str, Any],
) -> None:
    assessment = assess_bundle(bundle, CATALOG)
    assert [o.rank for o in assessment.options] == list(range(1, len(CATALOG.ingredients) + 1))
    order = [SUITABILITY_ORDER[o.suitability] for o in assessment.options]
    assert order == sorted(order), "options are ranked by suitability first"
    for option in assessment.options:
        severities = {f.severity for f in option.findings}
        assert option.suitability == suitability_of(option.findings)
        if option.suitability == "recommended":
            assert severities <= {"info"}
        if any(f.contraindicated for f in option.findings):
            assert option.suitability == "contraindicated"
        for finding in option.findings:
            assert len(finding.summary) < SUMMARY_LIMIT
            assert finding.detail


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), any_text),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(any_text, children, max_size=4)),
    max_leaves=20,
))
def test_any_json_is_either_a_patient_or_a_clear_invalid_error(document: object) -> None:
    message = None
    try:
        parse_bundle_text(json.dumps(document))
    except Invalid as error:
        message = str(error)
    if message is not None:
        assert message
        assert "\n" not in message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.sampled_from(["resourceType", "status", "code", "valueQuantity",
                                   "birthDate", "gender", "clinicalStatus"]), any_text)
def test_a_corrupted_bundle_never_crashes_the_parser(
    bundle: dict[str, Any], field: str, junk: str
) -> None:
    for entry in bundle["entry"]:
        if field in entry["resource"]:
            entry["resource"][field] = junk
    try:
        record = parse_bundle(bundle)
    except Invalid:
        return
    assess_bundle(bundle, CATALOG)
    assert record is not None
