"""The public drug pages' read side: search and the shapes the templates show.

Pure: it reads the in-memory `Catalog` and returns plain values. Every clinical value keeps
its `Source` next to it so a template cannot show one without the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Ingredient, Price, Product, RenalRule, Source, Statement
from medsafe.web.labels import POSITIVE_STATUSES

T = TypeVar("T")
MAX_QUERY = 100
NOT_STATED = "not stated"


@dataclass(frozen=True, slots=True)
class Cited(Generic[T]):
    """Consecutive statements that share one source, shown together and then cited once."""

    items: tuple[T, ...]
    source: Source


def cited_groups(items: Iterable[T], source_of: Callable[[T], Source]) -> list[Cited[T]]:
    """Group consecutive items with the same source (a side-effect table from one label
    section is one group, cited once under it; a change of source starts a new group)."""
    groups: list[Cited[T]] = []
    run: list[T] = []
    current: Source | None = None
    for item in items:
        source = source_of(item)
        if current is not None and source != current:
            groups.append(Cited(tuple(run), current))
            run = []
        run.append(item)
        current = source
    if current is not None:
        groups.append(Cited(tuple(run), current))
    return groups


@dataclass(frozen=True, slots=True)
class DrugRow:
    """One line of the medicines list."""

    id: str
    name: str
    brands: tuple[str, ...]
    forms: tuple[str, ...]
    category: Statement
    tags: tuple[str, ...]


def brand_names(ing: Ingredient) -> tuple[str, ...]:
    names = list(ing.brand_names)
    for product in ing.products:
        names.extend(b for b in product.brand_names if b not in names)
    return tuple(names)


def strengths(product: Product) -> str:
    return ", ".join(s.label() for s in product.strengths)


def forms(ing: Ingredient) -> tuple[str, ...]:
    """'tablet: 5 mg, 10 mg, 20 mg' per form, strengths merged across products."""
    by_form: dict[str, list[str]] = {}
    for product in ing.products:
        labels = by_form.setdefault(product.form, [])
        labels.extend(s.label() for s in product.strengths if s.label() not in labels)
    return tuple(f"{form}: {', '.join(labels)}" for form, labels in by_form.items())


def drug_row(ing: Ingredient) -> DrugRow:
    return DrugRow(ing.id, ing.name, brand_names(ing), forms(ing), ing.category, ing.tags)


def treats(ing: Ingredient, catalog: Catalog) -> tuple[str, ...]:
    """Condition names the labels support (indicated, add-on, or 'may be of value')."""
    names: list[str] = []
    for indication in ing.indications:
        name = catalog.conditions[indication.condition].name
        if indication.status in POSITIVE_STATUSES and name not in names:
            names.append(name)
    return tuple(names)


def search(catalog: Catalog, query: str | None) -> list[Ingredient]:
    """Ingredients whose name, synonym, brand, tag, category or supported condition
    contains `query` (any case); all of them, by name, when the query is empty."""
    ingredients = sorted(catalog.ingredients.values(), key=lambda i: i.name.casefold())
    wanted = (query or "").strip().casefold()[:MAX_QUERY]
    if not wanted:
        return ingredients

    def matches(ing: Ingredient) -> bool:
        haystack = [ing.id, ing.name, *ing.synonyms, *brand_names(ing), *ing.tags,
                    ing.category.text, *treats(ing, catalog)]
        return any(wanted in text.casefold() for text in haystack)

    return [ing for ing in ingredients if matches(ing)]


def price_text(price: Price) -> str:
    """The price exactly as the source states it, saying plainly what it leaves out."""
    currency = ("currency not stated" if price.currency == NOT_STATED
                else f"currency {price.currency}")
    pack = "pack not stated" if price.pack == NOT_STATED else f"per {price.pack}"
    market = "market not stated" if price.market == NOT_STATED else f"market {price.market}"
    return f"{price.amount} ({currency}; {pack}; {market})"


def renal_band(rule: RenalRule) -> str:
    """'eGFR or CrCl below 60 mL/min' for a rule's kidney-function band."""
    if rule.dialysis and rule.min is None and rule.max is None:
        return "on dialysis"
    measure = {"egfr": "eGFR", "crcl": "CrCl", "either": "eGFR or CrCl"}[rule.measure]
    if rule.min is not None and rule.max is not None:
        band = f"{measure} {rule.min:g} to below {rule.max:g} mL/min"
    elif rule.max is not None:
        band = f"{measure} below {rule.max:g} mL/min"
    else:
        band = f"{measure} {rule.min:g} mL/min or more"
    return band + (" or on dialysis" if rule.dialysis else "")


def related(ing: Ingredient, catalog: Catalog) -> Sequence[Ingredient]:
    return [catalog.ingredients[i] for i in ing.related if i in catalog.ingredients]
