"""How a patient moves from the recalled medicine to another: a taper of the old one, a
titration of the new one, or both on one day axis (cross-titration).

Pure: no I/O. Every number in a plan is either a source's (the knowledge base's taper
steps, titration steps and dose rules, each cited in `sources`) or medsafe's arithmetic
on the patient's own dose, which `derived` says in words. Nothing is invented: where no
source gives a schedule, the plan says `needs_prescriber_steps` and quotes the label, and
the prescriber writes the steps.

The rules, in order, for the old medicine when its knowledge says abrupt stopping is
dangerous (never an abrupt stop):
1. the knowledge base's own taper steps, when they are numeric;
2. else a cited taper period: the current dose, stepped down one smallest strength per
   dose and then one dose a day fewer, spread evenly over the period;
3. else (or when the current dose text cannot be read) the prescriber writes the steps.
For the new medicine: its label titration for the chosen route and use, with the kidney
and liver rules that match the patient (matched by assessment's own code). A rule that
reduces the dose without a number keeps the start dose and holds every later increase
for the prescriber's review.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache

from medsafe.assessment.candidate import Candidate, profiles
from medsafe.assessment.checks import interactions, renal
from medsafe.assessment.context import PatientContext, build_context, match_medicine
from medsafe.assessment.dose import choose_regimen, plan
from medsafe.assessment.engine import choose_route
from medsafe.assessment.patient import Concept, PatientRecord
from medsafe.care.doses import ParsedDose, parse_dose
from medsafe.care.model import DoseStep, TransitionKind, TransitionPlan
from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import (
    Discontinuation,
    HepaticRule,
    Ingredient,
    RenalRule,
    Route,
    TitrationStep,
)

HELD = "only after review (kidney/liver rule)"
UNSAFE_ACTIONS = frozenset({"avoid", "contraindicated"})


def plan_transition(
    catalog: Catalog,
    *,
    from_ingredient: str,
    current_dose_text: str | None,
    to_ingredient: str | None,
    patient: PatientRecord | PatientContext,
    today: date,
    from_route: Route = "oral",
    to_route: Route | None = None,
) -> TransitionPlan:
    """The plan from `from_ingredient` (taken as `current_dose_text` by `from_route`) to
    `to_ingredient` (None: stop only). `patient` is the record the new medicine was
    assessed on (without the old medicine) or the engine's context for it; `to_route`
    defaults to the route the engine chooses for this patient.

    Raises `Invalid` when a kidney or liver rule says to avoid the new medicine: such an
    option has a critical finding and is never proposed, so a caller asking for it has
    skipped the assessment."""
    ctx = patient if isinstance(patient, PatientContext) else build_context(patient, catalog,
                                                                          today)
    old = catalog.ingredient(from_ingredient)
    if to_ingredient == old.id:
        return TransitionPlan(kind="none")
    stop = _stop_side(catalog, old.id, current_dose_text, from_route)
    if to_ingredient is None:
        return _assemble(stop, _Part().freeze())
    new = catalog.ingredient(to_ingredient)
    start = _start_plan(catalog, new, ctx, to_route)
    if stop.tapers:
        cautions, sources = _overlap(catalog, old, new, start.route, ctx)
        start.cautions[:0] = cautions
        start.sources.extend(sources)
    return _assemble(stop, start.freeze())


@dataclass(frozen=True, slots=True)
class _Side:
    """What one side of the plan (the old medicine's stop, the new one's start) gives."""

    steps: tuple[DoseStep, ...]
    adjustments: tuple[str, ...]
    cautions: tuple[str, ...]
    sources: tuple[str, ...]
    derived: tuple[str, ...]
    needs_steps: bool
    tapers: bool  # the old medicine is stepped down (or must be), not just stopped


class _Part:
    """A side being built (mutable, local to one call; `freeze` makes the `_Side`)."""

    def __init__(self) -> None:
        self.steps: list[DoseStep] = []
        self.adjustments: list[str] = []
        self.cautions: list[str] = []
        self.sources: list[str] = []
        self.derived: list[str] = []
        self.needs_steps = False
        self.tapers = False
        self.route: Route = "oral"

    def freeze(self) -> _Side:
        return _Side(tuple(self.steps), tuple(self.adjustments), tuple(self.cautions),
                     tuple(self.sources), tuple(self.derived), self.needs_steps, self.tapers)


# -- the old medicine -------------------------------------------------------------------


# The stop side depends only on the medicine, its dose text and route, which recur across
# the patients of one recall (a handful of regimens): memoised, bounded, keyed by catalog.
@lru_cache(maxsize=4096)
def _stop_side(catalog: Catalog, ingredient_id: str, dose_text: str | None,
               route: Route) -> _Side:
    return _stop_plan(catalog.ingredients[ingredient_id], dose_text, route).freeze()


def _stop_plan(old: Ingredient, dose_text: str | None, route: Route) -> _Part:
    part = _Part()
    disc = old.discontinuation
    if disc is None or not disc.abrupt_stop_dangerous:
        part.steps.append(DoseStep(day=0, days=None, medicine=old.id,
                                   text=f"Stop {old.name}", stop=True))
        if disc is None:
            part.cautions.append(f"medsafe holds no statement on stopping {old.name}; check "
                                 f"its label before stopping it.")
        else:
            part.cautions.append(f"{disc.text} ({disc.source.cite()})")
            part.sources.append(disc.source.cite())
        return part
    part.tapers = True
    part.cautions.append(f"Do not stop {old.name} abruptly: {disc.text} "
                         f"({disc.source.cite()})")
    part.sources.append(disc.source.cite())
    part.cautions.append(f"Every taper dose of {old.name} must come from a lot that is not "
                         f"recalled.")
    current = parse_dose(dose_text)
    if current is None:
        part.needs_steps = True
        part.cautions.append(f"medsafe could not read the current dose "
                             f"({dose_text or 'none recorded'!s}); the prescriber writes the "
                             f"taper steps.")
        return part
    if route != "oral":
        part.needs_steps = True
        part.cautions.append(f"medsafe plans tapers of oral doses only; the prescriber writes "
                             f"the {route} taper.")
        return part
    cited = _cited_steps(disc, current, old)
    if cited is not None:
        part.steps.extend(cited)
        return part
    if disc.taper_over_days is not None and disc.taper_source is not None:
        unit = smallest_strength_mg(old, route)
        over_days = disc.taper_over_days[1]  # the longer end: the slower taper
        steps = split_taper(current, over_days=over_days, unit_mg=unit, medicine=old.id,
                            name=old.name) if unit is not None else None
        if steps is not None:
            part.steps.extend(steps)
            part.cautions.append(f"{disc.taper_over_text} ({disc.taper_source.cite()})")
            part.sources.append(disc.taper_source.cite())
            part.derived.append(
                f"The {old.name} steps are medsafe's arithmetic, not the source's: the source "
                f"gives only the period ({_period(disc.taper_over_days)}); medsafe spread "
                f"{current.dose_mg:g} mg {current.times_per_day} times a day over "
                f"{over_days} days in equal stretches, lowering each dose by the smallest "
                f"strength ({unit:g} mg) and then taking one dose a day fewer.")
            return part
        part.cautions.append(f"{disc.taper_over_text} ({disc.taper_source.cite()})")
        part.sources.append(disc.taper_source.cite())
        part.derived.append(
            f"medsafe could not split {current.dose_mg:g} mg {current.times_per_day} times a "
            f"day into at least two lower steps of whole {old.name} strengths.")
    part.needs_steps = True
    for step in disc.taper:
        part.cautions.append(f"Source's taper step: {step.label()} ({disc.source.cite()})")
    part.cautions.append(f"No source gives {old.name} taper steps medsafe can apply; the "
                         f"prescriber writes them.")
    return part


def _cited_steps(disc: Discontinuation, current: ParsedDose, old: Ingredient
                 ) -> list[DoseStep] | None:
    """The source's own numeric taper steps below the current dose, then stop; None when
    the source's steps are not numbers (or fewer than two lie below the current dose)."""
    numeric = [s for s in disc.taper
               if s.dose_mg is not None and s.times_per_day is not None and s.days]
    if not numeric or len(numeric) != len(disc.taper):
        return None
    below = [s for s in numeric
             if s.dose_mg is not None and s.times_per_day is not None
             and s.dose_mg * s.times_per_day < current.daily_mg]
    if len(below) < 2:
        return None
    steps: list[DoseStep] = []
    day = 0
    for s in below:
        assert s.days is not None
        steps.append(DoseStep(day=day, days=s.days, medicine=old.id, text=_words(s),
                              dose_mg=s.dose_mg, times_per_day=s.times_per_day, note=s.note))
        day += s.days
    steps.append(DoseStep(day=day, days=None, medicine=old.id, text=f"Stop {old.name}",
                          stop=True))
    return steps


def smallest_strength_mg(ingredient: Ingredient, route: Route) -> float | None:
    """The smallest solid strength in mg on this route: the step a taper can move by
    without splitting tablets (no source here says which tablets may be split)."""
    strengths = [s.value for p in ingredient.products if p.route == route
                 for s in p.strengths if s.unit == "mg" and s.per is None]
    return min(strengths) if strengths else None


def split_taper(current: ParsedDose, *, over_days: int, unit_mg: float, medicine: str,
                name: str) -> tuple[DoseStep, ...] | None:
    """Step `current` down to a stop over `over_days` days: each dose lower by `unit_mg`
    at a time, then one dose a day fewer, in stretches of equal length (longer first
    when the days do not divide evenly). The first lower step starts on day 0; the stop
    falls on day `over_days`. None when the dose is not a whole number of units, or when
    fewer than two lower steps exist (the prescriber then decides)."""
    units = current.dose_mg / unit_mg
    if over_days < 2 or unit_mg <= 0 or abs(units - round(units)) > 1e-9 or round(units) < 1:
        return None
    levels = _levels(round(units), current.times_per_day)
    if len(levels) > over_days:
        levels = _thin(levels, over_days, round(units) * current.times_per_day)
    if len(levels) < 2:
        return None
    base, extra = divmod(over_days, len(levels))
    steps: list[DoseStep] = []
    day = 0
    for index, (dose_units, times) in enumerate(levels):
        days = base + (1 if index < extra else 0)
        dose_mg = round(dose_units * unit_mg, 6)
        steps.append(DoseStep(day=day, days=days, medicine=medicine,
                              text=f"{dose_mg:g} mg {_times_text(times)}",
                              dose_mg=dose_mg, times_per_day=times))
        day += days
    steps.append(DoseStep(day=day, days=None, medicine=medicine, text=f"Stop {name}",
                          stop=True))
    return tuple(steps)


def _levels(units: int, times: int) -> list[tuple[int, int]]:
    """Every step below (units, times): fewer units per dose at the same frequency down
    to one unit, then fewer doses a day. Daily totals strictly fall; neither the dose nor
    the frequency ever rises."""
    lower = [(u, times) for u in range(units - 1, 0, -1)]
    lower += [(1, t) for t in range(times - 1, 0, -1)]
    return lower


def _thin(levels: list[tuple[int, int]], count: int, daily_units: int
          ) -> list[tuple[int, int]]:
    """`count` of the levels, chosen so the daily dose falls by about equal amounts: the
    level nearest each equal fraction of the daily dose, always lower than the last."""
    chosen: list[tuple[int, int]] = []
    for k in range(count):
        target = daily_units * (count - k) / (count + 1)
        ceiling = chosen[-1][0] * chosen[-1][1] if chosen else daily_units
        candidates = [lv for lv in levels if lv[0] * lv[1] < ceiling]
        if not candidates:
            break
        chosen.append(min(candidates, key=lambda lv: (abs(lv[0] * lv[1] - target),
                                                      lv[0] * lv[1])))
    return chosen


def _times_text(times: int) -> str:
    return {1: "once daily", 2: "twice daily", 3: "three times daily",
            4: "four times daily"}.get(times, f"{times} times daily")


def _period(days: tuple[int, int]) -> str:
    return f"about {days[0]} days" if days[0] == days[1] else f"{days[0]} to {days[1]} days"


# -- the new medicine -------------------------------------------------------------------


def _start_plan(catalog: Catalog, new: Ingredient, ctx: PatientContext,
                route: Route | None) -> _Part:
    part = _Part()
    chosen = route or choose_route(new, ctx, catalog)
    part.route = chosen
    candidate = Candidate(new, chosen, profiles(catalog)[new.id])
    # The same matching as assessment.dose.plan (renal.matching_rules; hepatic rules by
    # shared state), so the plan adjusts for exactly the rules the findings name.
    rules: list[RenalRule | HepaticRule] = [
        *(r for r in renal.matching_rules(candidate, ctx) if r.action != "no-change"),
        *(r for r in candidate.view.hepatic
          if set(r.when) & ctx.hepatic_states and r.action != "no-change"),
    ]
    unsafe = [r for r in rules if r.action in UNSAFE_ACTIONS]
    if unsafe:
        raise Invalid(f"{new.name} ({chosen}) is not a safe choice for this patient: "
                      f"{unsafe[0].text} ({unsafe[0].source.cite()}). Such an option has a "
                      f"critical finding and is never proposed; choose another medicine.")
    regimen = choose_regimen(candidate, ctx, catalog)
    if regimen is None:
        part.needs_steps = True
        part.cautions.append(f"medsafe holds no {chosen} dosing for {new.name}; the "
                             f"prescriber writes the starting schedule.")
        return part
    part.sources.append(regimen.source.cite())
    dose_plan = plan(candidate, ctx, catalog)
    if dose_plan is not None:
        part.adjustments.extend(dose_plan.adjustments)
    held_by = [r for r in rules if r.action == "reduce-dose"]
    part.sources.extend(rule.source.cite() for rule in rules)
    part.steps.extend(_titration(new, regimen.start, regimen.titration, held_by))
    if held_by:
        part.derived.append(
            f"{new.name}: the start dose is the label's; every increase waits for the "
            f"prescriber's review because a kidney or liver rule reduces the dose without a "
            f"number medsafe could apply.")
    return part


def _titration(new: Ingredient, start: str, titration: tuple[TitrationStep, ...],
               held_by: list[RenalRule | HepaticRule]) -> list[DoseStep]:
    """The label's titration as steps from day 0. Held by a kidney or liver rule: the start
    dose runs until the prescriber's review and every later step waits for it (placed on
    the earliest day the label would allow)."""
    if not titration:
        note = _held_note(held_by) if held_by else None
        return [DoseStep(day=0, days=None, medicine=new.id, text=start, note=note)]
    steps: list[DoseStep] = []
    day = 0
    for index, step in enumerate(titration):
        days = step.days
        note = step.note
        if held_by:
            days = None
            note = (_joined(step.note, _held_note(held_by)) if index == 0
                    else f"{HELD}: {_rule_words(held_by)}")
        elif days is None and index + 1 < len(titration):
            note = _joined(step.note, "the label gives no interval before the next step")
        steps.append(DoseStep(day=day, days=days, medicine=new.id, text=_words(step),
                              dose_mg=step.dose_mg, times_per_day=step.times_per_day,
                              note=note))
        day += step.days or 0
    return steps


@lru_cache(maxsize=1024)
def _words(step: TitrationStep) -> str:
    """The step as the label states it; its note travels in DoseStep.note, not twice."""
    return step.model_copy(update={"note": None}).label()


def _joined(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _held_note(rules: list[RenalRule | HepaticRule]) -> str:
    return f"keep this dose until the prescriber reviews: {_rule_words(rules)}"


def _rule_words(rules: list[RenalRule | HepaticRule]) -> str:
    return "; ".join(f"{r.dose or r.text} ({r.source.cite()})" for r in rules)


def _overlap(catalog: Catalog, old: Ingredient, new: Ingredient, route: Route,
             ctx: PatientContext) -> tuple[list[str], list[str]]:
    """Cautions and their sources for the interaction between the old and the new medicine
    while both are taken (the taper overlaps the new medicine's start), found by the
    engine's own interaction check on the patient with only the old medicine."""
    taken = match_medicine(Concept(text=old.name), catalog)
    if taken is None:
        return [], []
    both = replace(ctx, medicines=(taken,), unrecognised_medicines=())
    candidate = Candidate(new, route, profiles(catalog)[new.id])
    cautions: list[str] = []
    sources: list[str] = []
    for finding in interactions.check(candidate, both, catalog):
        if finding.kind != "interaction":
            continue
        cite = finding.source.cite() if finding.source else None
        words = (f"While {old.name} is tapered and {new.name} started, both are taken "
                 f"({finding.severity}): {finding.summary}")
        cautions.append(f"{words} ({cite})" if cite else words)
        if cite:
            sources.append(cite)
    return cautions, sources


# -- both ---------------------------------------------------------------------------------


def _assemble(stop: _Side, start: _Side) -> TransitionPlan:
    tapering = stop.tapers
    starting = bool(start.steps) or start.needs_steps
    kind: TransitionKind
    if tapering and starting:
        kind = "cross-titration"
    elif tapering:
        kind = "taper"
    elif starting:
        kind = "titration"
    else:
        kind = "none"
    derived = [*stop.derived, *start.derived]
    if kind == "cross-titration":
        derived.append("Both schedules start on day 0, the day the plan starts: the taper of "
                       "the old medicine and the start of the new one overlap (medsafe's "
                       "alignment, not a source's).")
    return TransitionPlan(
        kind=kind,
        stop=stop.steps,
        start=start.steps,
        adjustments=_unique(list(start.adjustments)),
        cautions=_unique([*stop.cautions, *start.cautions]),
        sources=_unique([*stop.sources, *start.sources]),
        derived=_unique(derived),
        needs_prescriber_steps=stop.needs_steps or start.needs_steps,
    )


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def clear_cache() -> None:
    """Forget memoised stop plans (benchmarks measuring the cold path)."""
    _stop_side.cache_clear()
    _words.cache_clear()
