"""A candidate medicine for one patient: the ingredient and the route chosen for them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from medsafe.knowledge.model import Ingredient, Route

INJECTION_ROUTES: frozenset[str] = frozenset(
    {"intrathecal", "intramuscular", "intravenous", "injection-other"}
)


@dataclass(frozen=True, slots=True)
class Candidate:
    ingredient: Ingredient
    route: Route

    @property
    def id(self) -> str:
        return self.ingredient.id

    @property
    def name(self) -> str:
        return self.ingredient.name


R = TypeVar("R")


def for_route(items: Iterable[R], route: str) -> list[R]:
    """Items that apply to this route: those with no `routes` or listing it."""
    result = []
    for item in items:
        routes: tuple[str, ...] = getattr(item, "routes", ())
        if not routes or route in routes:
            result.append(item)
    return result
