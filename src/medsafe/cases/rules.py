"""The case rules (pure): validity, seriousness, expectedness and the expedited-report
clock.

Sources:
- validity: ICH E2D and GVP Module VI.B.2 (a valid case has an identifiable reporter, an
  identifiable patient, a suspect drug and a suspected reaction);
- seriousness: ICH E2D / E2B(R3) E.i.3.2, plus FDA's "required intervention";
- expedited clock: 21 CFR 314.80(c)(1): a serious and unexpected case is reported to FDA
  within 15 calendar days of initial receipt, and a follow-up within 15 calendar days of
  receiving the new information. Day 0 is the day the minimum information first reached
  the organisation.

Expectedness compares each serious reaction with the suspect ingredient's own listed side
effects in the knowledge base (its cited label). A suspect the knowledge base does not
know is unexpected: without a label nothing can be "listed".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from medsafe.cases.model import CaseReport, Drug, Reaction
from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog


@dataclass(frozen=True, slots=True)
class ClockRule:
    """A regional expedited-reporting rule, kept as configuration."""

    region: str
    days: int
    citation: str
    calendar_days: bool = True


CLOCK_RULES: dict[str, ClockRule] = {
    "US": ClockRule("US", 15, "21 CFR 314.80(c)(1)(i)-(ii): 15 calendar days from initial "
                              "receipt; follow-ups 15 calendar days from new information"),
}
DEFAULT_REGION = "US"


def clock_rule(region: str) -> ClockRule:
    try:
        return CLOCK_RULES[region]
    except KeyError:
        raise Invalid(f"no expedited-reporting rule for region '{region}' "
                      f"(known: {', '.join(sorted(CLOCK_RULES))})", where="region") from None


def validity_problems(report: CaseReport) -> list[str]:
    """Why the case is not valid (empty when it is)."""
    problems: list[str] = []
    if not any(source.identifiable for source in report.primary_sources):
        problems.append("no identifiable reporter (a name, organisation or qualification)")
    if not report.patient.identifiable:
        problems.append("no identifiable patient (initials, age or age group, sex or date "
                        "of birth)")
    if not report.suspects:
        problems.append("no suspect drug")
    if not report.reactions:
        problems.append("no reaction")
    return problems


def seriousness_criteria(report: CaseReport) -> tuple[str, ...]:
    """The seriousness criteria met by any reaction, in E2B order, each once."""
    seen: dict[str, None] = {}
    for reaction in report.reactions:
        for criterion in reaction.seriousness.criteria():
            seen.setdefault(criterion)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Expectedness:
    drug_id: str
    reaction_id: str
    expected: bool
    why: str


def listed_terms(catalog: Catalog, drug: Drug) -> frozenset[str] | None:
    """The lower-cased side-effect terms (label words and preferred terms) listed for
    the drug's ingredient, or None when the knowledge base does not know the drug."""
    ingredient = catalog.ingredients.get(drug.ingredient_id) if drug.ingredient_id else None
    if ingredient is None:
        return None
    terms: set[str] = set()
    for effect in ingredient.side_effects:
        terms.add(effect.term.casefold())
        if effect.preferred_term:
            terms.add(effect.preferred_term.casefold())
    return frozenset(terms)


def expectedness(report: CaseReport, catalog: Catalog) -> list[Expectedness]:
    """Each suspect drug against each reaction."""
    verdicts: list[Expectedness] = []
    for drug in report.suspects:
        terms = listed_terms(catalog, drug)
        for reaction in report.reactions:
            verdicts.append(_verdict(drug, reaction, terms))
    return verdicts


def _verdict(drug: Drug, reaction: Reaction, terms: frozenset[str] | None) -> Expectedness:
    if terms is None:
        return Expectedness(drug.id, reaction.id, False,
                            f"{drug.product_name} is not in the knowledge base, so no "
                            "side effect is listed for it")
    names = {reaction.verbatim.casefold()}
    if reaction.coded is not None:
        names.add(reaction.coded.term.casefold())
    if names & terms:
        return Expectedness(drug.id, reaction.id, True,
                            f"{reaction.term} is listed for {drug.ingredient_id}")
    return Expectedness(drug.id, reaction.id, False,
                        f"{reaction.term} is not listed for {drug.ingredient_id}")


def serious_and_unexpected(report: CaseReport, catalog: Catalog) -> bool:
    """True when a serious reaction is unexpected for at least one suspect drug."""
    serious = {r.id for r in report.reactions if r.seriousness.serious}
    return any(v.reaction_id in serious and not v.expected
               for v in expectedness(report, catalog))


@dataclass(frozen=True, slots=True)
class Clock:
    """The expedited-report clock of one version: day 0 and the due day."""

    day_zero: date
    due: date
    rule: ClockRule


def clock_for(report: CaseReport, catalog: Catalog, rule: ClockRule, *,
              day_zero: date) -> Clock | None:
    """The clock a version starts, or None when it needs no expedited report (invalid,
    nullified, not serious, or every serious reaction expected). `day_zero` is the day
    the minimum information (for a follow-up: the significant new information) reached
    the organisation."""
    if report.nullified or validity_problems(report):
        return None
    if not serious_and_unexpected(report, catalog):
        return None
    return Clock(day_zero=day_zero, due=day_zero + timedelta(days=rule.days), rule=rule)


def significant_changes(previous: CaseReport, current: CaseReport) -> list[str]:
    """What makes a follow-up significant (it then gets its own clock): a new reaction, a
    new seriousness criterion, a new suspect drug, a worse outcome or a changed
    causality. Corrections of spelling or of non-medical fields are not."""
    changes: list[str] = []
    old_terms = {r.term.casefold() for r in previous.reactions}
    new_terms = sorted(r.term for r in current.reactions if r.term.casefold() not in old_terms)
    if new_terms:
        changes.append("new reaction: " + ", ".join(new_terms))
    new_criteria = sorted(set(seriousness_criteria(current))
                          - set(seriousness_criteria(previous)))
    if new_criteria:
        changes.append("new seriousness criterion: " + ", ".join(new_criteria))
    old_suspects = {d.product_name.casefold() for d in previous.suspects}
    new_suspects = sorted(d.product_name for d in current.suspects
                          if d.product_name.casefold() not in old_suspects)
    if new_suspects:
        changes.append("new suspect drug: " + ", ".join(new_suspects))
    if _fatal(current.reactions) and not _fatal(previous.reactions):
        changes.append("outcome now fatal")
    if set(current.causality) != set(previous.causality):
        changes.append("causality assessment changed")
    return changes


def _fatal(reactions: Iterable[Reaction]) -> bool:
    return any(r.outcome == "fatal" or r.seriousness.death for r in reactions)


def overdue(clocks: Sequence[tuple[str, date]], today: date) -> list[tuple[str, date]]:
    """The (case, due day) pairs whose due day has passed, most overdue first."""
    return sorted(((case, due) for case, due in clocks if due < today), key=lambda x: x[1])
