"""A candidate medicine for one patient: the ingredient, the route chosen for them, and
the facts about the ingredient that every check needs, derived once per catalog.

The derived `Profile` exists for speed: the engine assesses thousands of patients a
second, so class closures, interaction indexes and per-route fact lists are computed once
per ingredient instead of once per check.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import (
    Caution,
    Contraindication,
    HepaticRule,
    Indication,
    Ingredient,
    Interaction,
    LabelWarning,
    RenalRule,
    Route,
    SideEffect,
)

INJECTION_ROUTES: frozenset[str] = frozenset(
    {"intrathecal", "intramuscular", "intravenous", "injection-other"}
)

R = TypeVar("R")


def for_route(items: Iterable[R], route: str) -> tuple[R, ...]:
    """Items that apply to this route: those with no `routes` or listing it."""
    return tuple(
        item for item in items
        if not getattr(item, "routes", ()) or route in getattr(item, "routes", ())
    )


@dataclass(frozen=True, slots=True)
class RouteView:
    """An ingredient's facts that apply to one route."""

    indications: tuple[Indication, ...]
    contraindications: tuple[Contraindication, ...]
    cautions: tuple[Caution, ...]
    warnings: tuple[LabelWarning, ...]
    renal: tuple[RenalRule, ...]
    hepatic: tuple[HepaticRule, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    classes: frozenset[str]  # closed upwards
    interactions_by_class: Mapping[str, tuple[Interaction, ...]]
    interactions_by_ingredient: Mapping[str, tuple[Interaction, ...]]
    contraindicated_classes: Mapping[str, Contraindication]
    sedation: SideEffect | None  # the most frequent daytime-sleepiness side effect
    insomnia: SideEffect | None
    hypersensitivity: Contraindication | None
    routes: Mapping[str, RouteView]
    monitoring: tuple[str, ...]
    labelled_conditions: frozenset[str]  # conditions the label has a statement about


def _most_frequent(effects: Iterable[SideEffect]) -> SideEffect | None:
    ordered = sorted(effects, key=lambda s: max(s.frequency.high_pct or 0.0,
                                                 s.frequency.low_pct or 0.0), reverse=True)
    return ordered[0] if ordered else None


def _group(items: Iterable[tuple[str, Interaction]]) -> dict[str, tuple[Interaction, ...]]:
    grouped: dict[str, list[Interaction]] = {}
    for key, item in items:
        grouped.setdefault(key, []).append(item)
    return {key: tuple(values) for key, values in grouped.items()}


def build_profile(ing: Ingredient, catalog: Catalog) -> Profile:
    routes = {p.route for p in ing.products} | {d.route for d in ing.dosing}
    return Profile(
        classes=catalog.class_closure(ing.classes),
        interactions_by_class=_group((ix.with_class, ix) for ix in ing.interactions
                                     if ix.with_class),
        interactions_by_ingredient=_group((ix.with_ingredient, ix) for ix in ing.interactions
                                          if ix.with_ingredient),
        contraindicated_classes={ci.drug_class: ci for ci in ing.contraindications
                                 if ci.drug_class},
        sedation=_most_frequent(s for s in ing.side_effects
                                if s.affects_sleep == "daytime-sleepiness"),
        insomnia=_most_frequent(s for s in ing.side_effects if s.affects_sleep == "insomnia"),
        hypersensitivity=next((c for c in ing.contraindications if c.hypersensitivity), None),
        routes={
            route: RouteView(
                indications=for_route(ing.indications, route),
                contraindications=for_route(ing.contraindications, route),
                cautions=for_route(ing.cautions, route),
                warnings=for_route(ing.warnings, route),
                renal=for_route(ing.renal, route),
                hepatic=for_route(ing.hepatic, route),
            )
            for route in routes
        },
        monitoring=tuple(f"{m.what} ({m.when})" for m in ing.monitoring),
        labelled_conditions=frozenset(s.condition for s in ing.indications),
    )


_PROFILES: weakref.WeakKeyDictionary[Catalog, dict[str, Profile]] = weakref.WeakKeyDictionary()


def profiles(catalog: Catalog) -> dict[str, Profile]:
    """Profiles of every ingredient in the catalog, built on first use."""
    found = _PROFILES.get(catalog)
    if found is None:
        found = {ing.id: build_profile(ing, catalog) for ing in catalog.ingredients.values()}
        _PROFILES[catalog] = found
    return found


@dataclass(frozen=True, slots=True)
class Candidate:
    ingredient: Ingredient
    route: Route
    profile: Profile

    @property
    def id(self) -> str:
        return self.ingredient.id

    @property
    def name(self) -> str:
        return self.ingredient.name

    @property
    def view(self) -> RouteView:
        return self.profile.routes[self.route]
