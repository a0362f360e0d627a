"""The knowledge base in memory, with the indexes the engine matches against.

Built once from the validated data files (`Catalog.load()` caches the shipped one). It
answers: which ingredient or interacting class does this medicine name or code denote,
which condition does this text or code denote, and which classes does a class sit in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from medsafe.errors import KnowledgeError, NotFound
from medsafe.knowledge import text as textmatch
from medsafe.knowledge.loader import DATA_DIR, load_all
from medsafe.knowledge.model import Condition, DrugClass, Ingredient

SYSTEMS = {
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "http://snomed.info/sct": "snomed",
    "http://loinc.org": "loinc",
    "http://www.whocc.no/atc": "atc",
    "http://hl7.org/fhir/sid/ndc": "ndc",
}


def system_name(system: str | None) -> str | None:
    """Our short name for a FHIR code system URI ('rxnorm', 'snomed', ...)."""
    if system is None:
        return None
    return SYSTEMS.get(system.rstrip("/"), system)


@dataclass(frozen=True, slots=True)
class DrugIdentity:
    """What a medicine name or code denotes.

    `classes` is closed upwards (an opioid is also a CNS depressant). `named_class` is set
    when the text names a class itself ("benzodiazepines"), which matters for allergies:
    an allergy to oxycodone is not an allergy to every CNS depressant.
    """

    name: str
    ingredient: str | None
    classes: frozenset[str]
    named_class: str | None = None

    def merged(self, other: DrugIdentity) -> DrugIdentity:
        return DrugIdentity(
            name=self.name,
            ingredient=self.ingredient or other.ingredient,
            classes=self.classes | other.classes,
            named_class=self.named_class or other.named_class,
        )


class Catalog:
    """Ingredients, interacting classes and conditions, indexed for matching."""

    def __init__(
        self,
        ingredients: Iterable[Ingredient],
        classes: Iterable[DrugClass],
        conditions: Iterable[Condition],
        valueset_codes: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.ingredients: dict[str, Ingredient] = {i.id: i for i in ingredients}
        self.classes: dict[str, DrugClass] = {c.id: c for c in classes}
        self.conditions: dict[str, Condition] = {c.id: c for c in conditions}
        self._ancestors = self._close_classes()
        self.drug_by_phrase: dict[str, DrugIdentity] = {}
        self.drug_by_code: dict[tuple[str, str], DrugIdentity] = {}
        self.condition_by_phrase: dict[str, str] = {}
        self.condition_by_code: dict[tuple[str, str], str] = {}
        self._index_drugs(valueset_codes or {})
        self._index_conditions()

    # -- construction ---------------------------------------------------------------------

    @staticmethod
    @cache
    def load(root: Path = DATA_DIR) -> Catalog:
        """The shipped knowledge base, loaded and validated once per process."""
        ingredients, classes, conditions = load_all(root)
        codes: dict[str, list[str]] = {}
        for drug_class in classes:
            for ref in drug_class.valuesets:
                codes.setdefault(drug_class.id, []).extend(
                    _valueset_codes(root / "valuesets" / ref.file)
                )
        return Catalog(ingredients, classes, conditions, codes)

    def _close_classes(self) -> dict[str, frozenset[str]]:
        parents: dict[str, set[str]] = {cid: set() for cid in self.classes}
        for drug_class in self.classes.values():
            for child in drug_class.includes:
                parents[child].add(drug_class.id)
        closed: dict[str, frozenset[str]] = {}

        def up(cid: str, trail: tuple[str, ...]) -> frozenset[str]:
            if cid in trail:
                raise KnowledgeError(f"classes include each other in a cycle: {(*trail, cid)}")
            if cid not in closed:
                result = {cid}
                for parent in parents.get(cid, ()):
                    result |= up(parent, (*trail, cid))
                closed[cid] = frozenset(result)
            return closed[cid]

        for cid in self.classes:
            up(cid, ())
        return closed

    def class_closure(self, class_ids: Iterable[str]) -> frozenset[str]:
        result: set[str] = set()
        for cid in class_ids:
            result |= self._ancestors.get(cid, frozenset((cid,)))
        return frozenset(result)

    def _add_phrase(self, phrase: str, identity: DrugIdentity) -> None:
        existing = self.drug_by_phrase.get(phrase)
        self.drug_by_phrase[phrase] = existing.merged(identity) if existing else identity

    def _add_code(self, system: str, code: str, identity: DrugIdentity) -> None:
        key = (system, code)
        existing = self.drug_by_code.get(key)
        self.drug_by_code[key] = existing.merged(identity) if existing else identity

    def _index_drugs(self, valueset_codes: Mapping[str, Iterable[str]]) -> None:
        for ing in self.ingredients.values():
            identity = DrugIdentity(ing.name, ing.id, self.class_closure(ing.classes))
            names = [ing.name, ing.id, *ing.synonyms, *ing.brand_names]
            for product in ing.products:
                names.extend(product.brand_names)
            for key in textmatch.phrase_keys(names):
                self._add_phrase(key, identity)
            for code in ing.codes:
                self._add_code(code.system, code.code, identity)
        for drug_class in self.classes.values():
            closure = self.class_closure([drug_class.id])
            named = DrugIdentity(drug_class.name, None, closure, named_class=drug_class.id)
            for key in textmatch.phrase_keys([drug_class.name, *drug_class.name_patterns]):
                self._add_phrase(key, named)
            for member in drug_class.members:
                identity = DrugIdentity(member.name, None, closure)
                for key in textmatch.phrase_keys([member.name, *member.brand_names]):
                    self._add_phrase(key, identity)
                for code in member.codes:
                    self._add_code(code.system, code.code, identity)
            for code_value in valueset_codes.get(drug_class.id, ()):
                self._add_code("rxnorm", code_value, DrugIdentity(drug_class.name, None, closure))
        # An ingredient's own identity must win its own name: a knowledge-base ingredient
        # listed as a class member (baclofen in skeletal-muscle-relaxants) keeps its id.

    def _index_conditions(self) -> None:
        for condition in self.conditions.values():
            for key in textmatch.phrase_keys([condition.name, *condition.synonyms]):
                self.condition_by_phrase.setdefault(key, condition.id)
            for code in condition.codes:
                self.condition_by_code[(code.system, code.code)] = condition.id

    # -- queries --------------------------------------------------------------------------

    def ingredient(self, name: str) -> Ingredient:
        """Find an ingredient by id, name, synonym or brand name (any case)."""
        if name in self.ingredients:
            return self.ingredients[name]
        for phrase in textmatch.find_phrases(name, self.drug_by_phrase):
            found = self.drug_by_phrase[phrase].ingredient
            if found:
                return self.ingredients[found]
        known = ", ".join(sorted(self.ingredients))
        raise NotFound(f"no ingredient called '{name}' in the knowledge base (known: {known})")

    def identify_drug_text(self, text: str) -> list[DrugIdentity]:
        return [self.drug_by_phrase[p] for p in textmatch.find_phrases(text, self.drug_by_phrase)]

    def identify_drug_code(self, system: str | None, code: str | None) -> DrugIdentity | None:
        name = system_name(system)
        if name is None or code is None:
            return None
        return self.drug_by_code.get((name, code))

    def identify_condition_text(self, text: str) -> list[str]:
        phrases = textmatch.find_phrases(text, self.condition_by_phrase)
        return [self.condition_by_phrase[p] for p in phrases]

    def identify_condition_code(self, system: str | None, code: str | None) -> str | None:
        name = system_name(system)
        if name is None or code is None:
            return None
        return self.condition_by_code.get((name, code))


def _valueset_codes(path: Path) -> list[str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return [str(item["code"]) for item in document["expansion"]["contains"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KnowledgeError(f"{path}: unreadable FHIR ValueSet expansion: {exc}") from exc
