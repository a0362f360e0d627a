"""Findings, their fixed vocabulary, and the rule that turns findings into a suitability."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from medsafe.knowledge.model import Source

FindingKind = Literal[
    "interaction",
    "duplicate-therapy",
    "contraindication",
    "allergy",
    "renal",
    "hepatic",
    "pregnancy",
    "age",
    "sleep",
    "indication",
    "route-preference",
    "tolerability-preference",
    "warning",
    "monitoring",
    "missing-data",
]
FindingSeverity = Literal["info", "warning", "critical"]
Suitability = Literal["recommended", "caution", "avoid", "contraindicated"]

FINDING_KINDS: tuple[str, ...] = get_args(FindingKind)
SEVERITIES: tuple[str, ...] = get_args(FindingSeverity)
SUITABILITIES: tuple[str, ...] = get_args(Suitability)
SUMMARY_LIMIT = 140  # CDS Hooks card summaries must be shorter than this


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a clinician should know about giving this drug to this patient.

    `rule` is a stable id ("interaction/baclofen/opioids") so feedback on a finding can be
    counted per rule. `contraindicated` marks an absolute contraindication (a contraindicated
    interaction, an allergy, a labelled contraindication).
    """

    kind: FindingKind
    severity: FindingSeverity
    summary: str
    detail: str
    rule: str
    source: Source | None = None
    with_: tuple[str, ...] = ()
    contraindicated: bool = False

    def __post_init__(self) -> None:
        if len(self.summary) >= SUMMARY_LIMIT:
            raise ValueError(f"finding summary must be under {SUMMARY_LIMIT} characters: "
                             f"{self.summary!r}")
        if self.contraindicated and self.severity != "critical":
            raise ValueError("a contraindication is always critical")


def short(text: str, limit: int = SUMMARY_LIMIT - 1) -> str:
    """Trim a generated summary to the limit on a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def in_sentence(name: str) -> str:
    """A condition name as it reads mid-sentence: 'Acute painful musculoskeletal
    condition' becomes 'acute painful …'; 'Parkinson's disease' and 'MS' stay as they are."""
    first = name.split(" ", 1)[0]
    if len(first) > 1 and first[1:].islower() and not first.endswith("'s"):
        return name[0].lower() + name[1:]
    return name


def suitability_of(findings: Iterable[Finding]) -> Suitability:
    """The stated rules, in order:

    1. any absolute contraindication (labelled contraindication, contraindicated
       interaction, allergy) -> contraindicated;
    2. any other critical finding -> avoid;
    3. any warning -> caution;
    4. otherwise (only info findings, or none) -> recommended.
    """
    worst: Suitability = "recommended"
    for finding in findings:
        if finding.contraindicated:
            return "contraindicated"
        if finding.severity == "critical":
            worst = "avoid"
        elif finding.severity == "warning" and worst == "recommended":
            worst = "caution"
    return worst


SEVERITY_WEIGHT = {"info": 1, "warning": 10, "critical": 100}
SUITABILITY_ORDER = {s: i for i, s in enumerate(("recommended", "caution", "avoid",
                                                   "contraindicated"))}
