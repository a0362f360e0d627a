"""Safe alternatives for one patient whose medicine is recalled, on the patient's own record.

Pure: no I/O. The order is the issue's: first the same medicine from lots the pharmacy
holds that are not recalled (when the engine finds nothing critical about the medicine for
this patient), then the other medicines the label indicates for one of the patient's
conditions, in the assessment engine's ranking. Never an option with a critical finding.

The engine assesses the record *without* the recalled medicine (at the end of the switch
the patient no longer takes it), so the old medicine raises no duplicate-therapy or
interaction finding against its replacement; the interaction while both are taken during
a cross-titration goes into the transition's cautions instead, cited
(`care.transitions`).

Cost: one `assess` call per patient over a handful of candidates (the engine memoises
findings per medicine), plus one transition plan per proposal; the benchmark's budget is
about a millisecond per patient.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from medsafe.assessment.candidate import Candidate, profiles
from medsafe.assessment.checks.indication import (
    STATUS_RANK,
    STATUS_WORDS,
    statement_for,
    treated_conditions,
)
from medsafe.assessment.context import PatientContext, identify_conditions, match_medicine
from medsafe.assessment.engine import Option, assess
from medsafe.assessment.findings import Finding, in_sentence
from medsafe.assessment.patient import PatientRecord
from medsafe.care.doses import parse_dose
from medsafe.care.model import FindingNote, Proposal, TransitionPlan
from medsafe.care.transitions import plan_transition
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import IndicationStatus

# Label statements that support giving the drug for the condition. "not-established",
# "not-recommended" and "not-effective" do not: they never make a drug a candidate.
SUPPORTING: frozenset[IndicationStatus] = frozenset({"indicated", "adjunct", "may-be-of-value"})
_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zµ]+)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StockLot:
    """A lot the patient's pharmacy holds."""

    lot_number: str
    product_id: int
    ingredient_id: str
    strength: str | None
    route: str | None
    expiry: date | None
    quantity: int


def propose(
    record: PatientRecord,
    catalog: Catalog,
    *,
    recalled_ingredient: str,
    recalled_lots: frozenset[str],
    current_dose_text: str | None,
    stock: Sequence[StockLot],
    today: date,
    limit: int = 5,
) -> tuple[Proposal, ...]:
    """At most `limit` proposals for this patient, ranked from 1. Deterministic: the same
    record, stock and day give the same proposals in the same order."""
    recalled = catalog.ingredient(recalled_ingredient).id
    without = _without(record, recalled, catalog)
    conditions: set[str] = set()
    for entry in without.conditions:
        conditions |= identify_conditions(entry.concept, catalog)
    supported = _supported(catalog)
    others = sorted({i for c in conditions for i in supported.get(c, ())} - {recalled})
    assessment = assess(without, catalog, today=today, drugs=[recalled, *others])
    ctx = assessment.context
    proposals: list[Proposal] = []
    same = assessment.option(recalled)
    if not _critical(same) and limit > 0:
        lots = usable_lots(stock, recalled, recalled_lots, current_dose_text, today,
                           default_route=same.candidate.route)
        if lots:
            proposals.append(_same_medicine(1, same, lots, current_dose_text))
    for option in assessment.options:
        if len(proposals) >= limit:
            break
        if option.candidate.id == recalled or _critical(option):
            continue
        transition = plan_transition(
            catalog, from_ingredient=recalled, current_dose_text=current_dose_text,
            to_ingredient=option.candidate.id, patient=ctx, today=today,
            to_route=option.candidate.route)
        proposals.append(_switch(len(proposals) + 1, option, transition, catalog, ctx))
    return tuple(proposals)


def _critical(option: Option) -> bool:
    return any(f.severity == "critical" for f in option.findings)


def _without(record: PatientRecord, ingredient: str, catalog: Catalog) -> PatientRecord:
    """The record without its entries of `ingredient` (the patient will not take it once
    the switch is done)."""
    kept = tuple(
        entry for entry in record.medications
        if (matched := match_medicine(entry.concept, catalog)) is None
        or ingredient not in matched.ingredients
    )
    if len(kept) == len(record.medications):
        return record
    return PatientRecord(
        id=record.id, birth_date=record.birth_date, sex=record.sex,
        conditions=record.conditions, medications=kept, allergies=record.allergies,
        labs=record.labs, pregnant=record.pregnant, preferences=record.preferences,
        symptom_severity=record.symptom_severity,
    )


_SUPPORTED: weakref.WeakKeyDictionary[Catalog, dict[str, frozenset[str]]] = (
    weakref.WeakKeyDictionary())


def _supported(catalog: Catalog) -> dict[str, frozenset[str]]:
    """Condition id -> ingredients whose label supports them for it on some route (the
    specific statement, or the generic spasticity statement for a cause of spasticity,
    exactly as the indication check reads the label). Built once per catalog."""
    found = _SUPPORTED.get(catalog)
    if found is not None:
        return found
    index: dict[str, set[str]] = {}
    for ing in catalog.ingredients.values():
        profile = profiles(catalog)[ing.id]
        for route in sorted({p.route for p in ing.products}):
            candidate = Candidate(ing, route, profile)
            for cid in catalog.conditions:
                statement = statement_for(candidate, cid, catalog, route)
                if statement is not None and statement.status in SUPPORTING:
                    index.setdefault(cid, set()).add(ing.id)
    built = {cid: frozenset(ids) for cid, ids in index.items()}
    _SUPPORTED[catalog] = built
    return built


# -- the same medicine from other lots -------------------------------------------------


def usable_lots(stock: Sequence[StockLot], ingredient: str, recalled_lots: frozenset[str],
                current_dose_text: str | None, today: date, *, default_route: str
                ) -> tuple[StockLot, ...]:
    """The lots of one product that can replace the recalled ones: same ingredient and
    route, not recalled, in stock, and with an expiry date after today (a lot with no
    expiry on record cannot be shown to be in date, so it is not offered). The product is
    the one with the patient's strength when there is one (the recalled lots' strength, or
    else the strength the dose text names), then the one with most units; its lots come
    earliest expiry first."""
    recalled_stock = [s for s in stock
                      if s.ingredient_id == ingredient and s.lot_number in recalled_lots]
    routes = {s.route for s in recalled_stock if s.route} or {default_route}
    strengths = {k for s in recalled_stock if (k := _strength_key(s.strength)) is not None}
    if not strengths and (dose := parse_dose(current_dose_text)) is not None:
        strengths = {(dose.dose_mg, "mg")}
    usable = [
        s for s in stock
        if s.ingredient_id == ingredient and s.lot_number not in recalled_lots
        and s.quantity > 0 and s.expiry is not None and s.expiry > today
        and s.route in routes
    ]
    if not usable:
        return ()
    units: dict[int, int] = {}
    for lot in usable:
        units[lot.product_id] = units.get(lot.product_id, 0) + lot.quantity
    best = min(usable, key=lambda s: (_strength_key(s.strength) not in strengths,
                                      -units[s.product_id], s.product_id))
    chosen = [s for s in usable if s.product_id == best.product_id]
    chosen.sort(key=lambda s: (s.expiry or date.max, s.lot_number))
    return tuple(chosen)


def _strength_key(strength: str | None) -> tuple[float, str] | None:
    """'10 mg' and '10mg' are one strength; 'g' is turned into mg."""
    if not strength:
        return None
    match = _STRENGTH.match(strength)
    if match is None:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit == "g":
        return value * 1000, "mg"
    return value, unit


def _same_medicine(rank: int, option: Option, lots: tuple[StockLot, ...],
                   current_dose_text: str | None) -> Proposal:
    first = lots[0]
    strength = f"{first.strength}, " if first.strength else ""
    numbers = tuple(lot.lot_number for lot in lots)
    reasons = [
        f"The same medicine from lots that are not recalled: {', '.join(numbers)} "
        f"({strength}{sum(lot.quantity for lot in lots)} units in stock at the pharmacy).",
        f"No critical finding for {option.candidate.name} on this patient's record; "
        f"suitability: {option.suitability}.",
        "Keep the current dose: no switch, no taper.",
    ]
    dose = option.dose
    return Proposal(
        rank=rank, kind="same-medicine", ingredient_id=option.candidate.id,
        ingredient_name=option.candidate.name, route=first.route or option.candidate.route,
        suitability=option.suitability, findings=_notes(option.findings),
        dose_start=current_dose_text or (dose.start if dose else None),
        dose_titration=(), dose_max_daily=dose.max_daily if dose else None,
        dose_source=None if current_dose_text else (dose.source if dose else None),
        transition=TransitionPlan(kind="none"), reasons=tuple(reasons),
        lots=numbers, product_id=first.product_id,
    )


# -- another medicine -------------------------------------------------------------------


def _switch(rank: int, option: Option, transition: TransitionPlan, catalog: Catalog,
            ctx: PatientContext) -> Proposal:
    dose = option.dose
    return Proposal(
        rank=rank, kind="switch", ingredient_id=option.candidate.id,
        ingredient_name=option.candidate.name, route=option.candidate.route,
        suitability=option.suitability, findings=_notes(option.findings),
        dose_start=dose.start if dose else None,
        dose_titration=dose.titration if dose else (),
        dose_max_daily=dose.max_daily if dose else None,
        dose_source=dose.source if dose else None,
        transition=transition, reasons=_reasons(option, catalog, ctx),
    )


def _reasons(option: Option, catalog: Catalog, ctx: PatientContext) -> tuple[str, ...]:
    """Why it ranks where it does, in the engine's own order of keys: suitability, label
    support for the patient's condition, then fewer and milder findings."""
    reasons = [f"Ranked {option.rank} by the assessment engine on this patient's record "
               f"(suitability, then label support, then fewer and milder findings); "
               f"suitability: {option.suitability}."]
    candidate = option.candidate
    labelled = [(cid, statement) for cid in treated_conditions(ctx, catalog, candidate)
                if (statement := statement_for(candidate, cid, catalog)) is not None]
    if labelled:
        cid, statement = max(labelled, key=lambda pair: STATUS_RANK[pair[1].status])
        reasons.append(
            f"Label: {candidate.name} ({candidate.route}) {STATUS_WORDS[statement.status]} "
            f"{in_sentence(catalog.conditions[cid].name)} ({statement.source.cite()}).")
    counts = {s: sum(f.severity == s for f in option.findings) for s in ("warning", "info")}
    reasons.append(f"Findings: {counts['warning']} warning(s), {counts['info']} for "
                   f"information, none critical.")
    return tuple(reasons)


def _notes(findings: tuple[Finding, ...]) -> tuple[FindingNote, ...]:
    return tuple(
        FindingNote(severity=f.severity, kind=f.kind, summary=f.summary, rule=f.rule,
                    source=f.source.cite() if f.source else None)
        for f in findings
    )
