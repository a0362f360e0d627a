"""The assessment as a stable JSON-ready document (documented in docs/assessment-json.md).

Field names here are a public contract: add fields, never rename or remove them.
"""

from __future__ import annotations

from typing import Any

from medsafe import __version__
from medsafe.assessment.engine import Assessment, Option
from medsafe.assessment.findings import Finding

SCHEMA_VERSION = 1


def finding_document(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "severity": finding.severity,
        "summary": finding.summary,
        "detail": finding.detail,
        "with": list(finding.with_),
        "source": finding.source.cite() if finding.source else None,
        "source_verified": finding.source.verified if finding.source else None,
        "contraindicated": finding.contraindicated,
        "rule": finding.rule,
    }


def option_document(option: Option) -> dict[str, Any]:
    dose = option.dose
    return {
        "drug": option.candidate.id,
        "name": option.candidate.name,
        "family": option.candidate.ingredient.family,
        "route": option.candidate.route,
        "suitability": option.suitability,
        "rank": option.rank,
        "findings": [finding_document(f) for f in option.findings],
        "dose": None if dose is None else {
            "route": dose.route,
            "use": dose.use,
            "start": dose.start,
            "titration": list(dose.titration),
            "max_daily": dose.max_daily,
            "max_duration_days": dose.max_duration_days,
            "adjustments": list(dose.adjustments),
            "notes": list(dose.notes),
            "source": dose.source,
        },
        "monitoring": list(option.monitoring),
    }


def assessment_document(assessment: Assessment) -> dict[str, Any]:
    ctx = assessment.context
    kidney = None
    if ctx.kidney is not None:
        kidney = {"measure": ctx.kidney.measure, "value": ctx.kidney.value,
                  "unit": "mL/min" if ctx.kidney.measure == "crcl" else "mL/min/1.73m2"}
    return {
        "schema": SCHEMA_VERSION,
        "medsafe": __version__,
        "patient": {
            "id": ctx.record.id,
            "age": ctx.age,
            "sex": ctx.record.sex,
            "conditions": sorted(ctx.condition_ids),
            "symptom_severity": ctx.severity,
            "medicines": [
                {"as_recorded": m.label,
                 "ingredients": sorted(m.ingredients),
                 "classes": sorted(m.classes)}
                for m in ctx.medicines
            ],
            "unrecognised_medicines": list(ctx.unrecognised_medicines),
            "allergies": sorted(ctx.allergy_ingredients | ctx.allergy_classes),
            "unrecognised_allergies": list(ctx.unrecognised_allergies),
            "kidney": kidney,
            "on_dialysis": ctx.on_dialysis,
            "liver": sorted(ctx.hepatic_states),
            "pregnant": ctx.pregnant,
            "preferences": {
                "route": ctx.preferences.route,
                "avoid_side_effects": list(ctx.preferences.avoid_side_effects),
            },
        },
        "options": [option_document(o) for o in assessment.options],
    }
