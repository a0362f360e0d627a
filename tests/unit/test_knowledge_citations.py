"""Every clinical fact carries its source, and label-cited numbers are in the label text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import Cited, Ingredient, SideEffect, Source

LABELS = Path(__file__).resolve().parents[2] / "data" / "labels"
LABEL_FILES = {
    "FDA label, baclofen tablets (openFDA record": "baclofen/baclofen.json",
    "FDA label, cyclobenzaprine": "cyclobenzaprine/cyclobenzaprine.json",
    "FDA label, diazepam": "diazepam/diazepam.json",
}


def walk(value: object) -> Iterator[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from walk(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from walk(item)


def cited_facts(catalog: Catalog) -> list[Cited]:
    models: list[BaseModel] = [*catalog.ingredients.values(), *catalog.classes.values()]
    return [m for root in models for m in walk(root) if isinstance(m, Cited)]


def test_every_clinical_fact_has_a_document_and_section(catalog: Catalog) -> None:
    facts = cited_facts(catalog)
    assert len(facts) > 200, "the knowledge base should hold hundreds of cited facts"
    missing = [f for f in facts if not f.source.document.strip() or not f.source.section.strip()]
    assert missing == []


def test_every_ingredient_section_that_is_clinical_is_cited(catalog: Catalog) -> None:
    # Fields of Ingredient that hold clinical statements must be Cited models, so that
    # the type system (not goodwill) guarantees a source.
    clinical = ["category", "mechanism", "indications", "products", "dosing", "renal",
                "hepatic", "contraindications", "cautions", "warnings", "side_effects",
                "interactions", "pregnancy", "older_adults", "older_adult_dose", "monitoring",
                "discontinuation", "renally_cleared", "hepatotoxic"]
    for ingredient in catalog.ingredients.values():
        for name in clinical:
            value = getattr(ingredient, name)
            items = value if isinstance(value, tuple) else ([value] if value else [])
            for item in items:
                assert isinstance(item, Cited), f"{ingredient.id}.{name} is not cited"


def test_unverified_sources_say_so_when_cited(catalog: Catalog) -> None:
    unverified = [f.source for f in cited_facts(catalog) if not f.source.verified]
    assert unverified, "the reference notes mark some facts as secondary"
    for source in unverified:
        assert "not verified" in source.cite()


def _label_text(source: Source, section: str) -> str | None:
    for prefix, relative in LABEL_FILES.items():
        if source.document.startswith(prefix):
            document = json.loads((LABELS / relative).read_text())
            return str(document["sections"].get(section, ""))
    return None


def _side_effects(ingredient: Ingredient) -> list[SideEffect]:
    return list(ingredient.side_effects)


@pytest.mark.parametrize("ingredient_id", ["baclofen", "cyclobenzaprine"])
def test_label_cited_side_effect_frequencies_appear_in_the_label(
    catalog: Catalog, ingredient_id: str
) -> None:
    checked = 0
    for effect in _side_effects(catalog.ingredients[ingredient_id]):
        text = _label_text(effect.source, "adverse_reactions")
        if text is None:
            continue
        for number in re.findall(r"\d+(?:\.\d+)?", effect.frequency.text):
            assert number in text, (
                f"{ingredient_id} {effect.term}: {number} (from '{effect.frequency.text}') "
                "is not in the label's ADVERSE REACTIONS text"
            )
        checked += 1
    assert checked >= 5


def test_baclofen_label_maximum_dose_is_the_labels(catalog: Catalog) -> None:
    baclofen = catalog.ingredients["baclofen"]
    oral = next(d for d in baclofen.dosing if d.route == "oral")
    assert oral.max_daily_mg == 80
    label = _label_text(oral.source, "dosage_and_administration")
    if label is not None:
        assert "80 mg daily" in label
