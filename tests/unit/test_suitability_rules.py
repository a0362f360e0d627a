"""The rules that turn findings into a suitability, tested on their own."""

from __future__ import annotations

import pytest

from medsafe.assessment.findings import SUMMARY_LIMIT, Finding, short, suitability_of


def finding(severity: str, *, contraindicated: bool = False) -> Finding:
    return Finding(kind="warning", severity=severity,  # type: ignore[arg-type]
                   summary="s", detail="d", rule="r", contraindicated=contraindicated)


def test_no_findings_is_recommended() -> None:
    assert suitability_of([]) == "recommended"


def test_info_findings_keep_it_recommended() -> None:
    assert suitability_of([finding("info"), finding("info")]) == "recommended"


def test_a_warning_makes_it_caution() -> None:
    assert suitability_of([finding("info"), finding("warning")]) == "caution"


def test_a_critical_finding_makes_it_avoid() -> None:
    assert suitability_of([finding("warning"), finding("critical")]) == "avoid"


def test_a_contraindication_wins_over_everything() -> None:
    findings = [finding("critical"), finding("critical", contraindicated=True), finding("info")]
    assert suitability_of(findings) == "contraindicated"


def test_a_contraindication_must_be_critical() -> None:
    with pytest.raises(ValueError, match="always critical"):
        finding("warning", contraindicated=True)


def test_summaries_must_be_shorter_than_the_cds_hooks_limit() -> None:
    with pytest.raises(ValueError, match="under 140"):
        Finding(kind="warning", severity="info", summary="x" * SUMMARY_LIMIT, detail="d",
                rule="r")


def test_short_trims_on_a_word_boundary() -> None:
    text = "word " * 60
    trimmed = short(text)
    assert len(trimmed) < SUMMARY_LIMIT
    assert trimmed.endswith("…")
    assert not trimmed[:-1].endswith(" ")
