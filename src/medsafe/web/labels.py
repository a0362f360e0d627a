"""Words people read for the engine's and the knowledge base's fixed vocabularies.

The ids stay the contract (`may-be-of-value`, `daytime-sleepiness`); these are only how a
page says them. An id missing here is shown as itself, never hidden.
"""

from __future__ import annotations

SUITABILITY = {
    "recommended": "Recommended",
    "caution": "Use with caution",
    "avoid": "Avoid",
    "contraindicated": "Contraindicated",
}

SEVERITY = {"info": "Info", "warning": "Warning", "critical": "Critical"}

INDICATION_STATUS = {
    "indicated": "indicated",
    "adjunct": "indicated as an add-on only",
    "may-be-of-value": "may be of some value",
    "not-established": "efficacy not established",
    "not-recommended": "not recommended",
    "not-effective": "not effective / not indicated",
}

# How an indication status reads as a verdict: the labels' nuances must not be flattened
# into "treats"; a page shows the positive and negative statements apart.
POSITIVE_STATUSES = frozenset({"indicated", "adjunct", "may-be-of-value"})

SLEEP_EFFECT = {
    "daytime-sleepiness": "daytime sleepiness",
    "insomnia": "trouble sleeping (insomnia)",
    "sleep-quality": "changes in sleep quality",
}

RULE_ACTION = {
    "no-change": "no change needed",
    "caution": "use with caution",
    "reduce-dose": "reduce the dose",
    "avoid": "avoid",
    "contraindicated": "contraindicated",
}

HEPATIC_STATE = {
    "child-pugh-a": "Child-Pugh A",
    "child-pugh-b": "Child-Pugh B",
    "child-pugh-c": "Child-Pugh C",
    "active-liver-disease": "active liver disease",
    "transaminases-over-3x-uln": "ALT/AST over 3 × upper limit of normal",
}

LAB_KIND = {
    "egfr": "eGFR",
    "crcl": "Creatinine clearance",
    "creatinine": "Serum creatinine",
    "alt": "ALT",
    "ast": "AST",
    "bilirubin": "Bilirubin",
    "child-pugh": "Child-Pugh class",
}

FINDING_KIND = {
    "interaction": "Interaction",
    "duplicate-therapy": "Duplicate therapy",
    "contraindication": "Contraindication",
    "allergy": "Allergy",
    "renal": "Kidney",
    "hepatic": "Liver",
    "pregnancy": "Pregnancy",
    "age": "Age",
    "sleep": "Sleep",
    "indication": "Indication",
    "route-preference": "Route preference",
    "tolerability-preference": "Side-effect preference",
    "warning": "Label warning",
    "monitoring": "Monitoring",
    "missing-data": "Missing data",
}

ROLE = {
    "admin": "Administrator",
    "regulator": "Regulator",
    "manufacturer": "Manufacturer",
    "pharmacist": "Pharmacist",
    "physician": "Physician",
    "patient": "Patient",
}


def say(table: dict[str, str], key: str | None) -> str:
    """The label for `key`, or the key itself when the table has none."""
    if key is None:
        return ""
    return table.get(key, key)
