"""Reads the knowledge data files and validates them against the typed model.

A malformed file must fail loudly and point at the spot: the error names the file, the
line and the field (``ingredients/baclofen.yaml:42: dosing.0.max_daily_mg: ...``). YAML is
parsed twice for that: once as a node tree that remembers line numbers, once as data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from medsafe.errors import KnowledgeError
from medsafe.knowledge.model import Condition, DrugClass, Ingredient

DATA_DIR = Path(__file__).parent / "data"

M = TypeVar("M", bound=BaseModel)


def _line_of(node: yaml.Node | None, path: Sequence[int | str]) -> int | None:
    """Follow a pydantic error location through the YAML node tree; 1-based line."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key_node, value_node in node.value:
                if key_node.value == key:
                    found = value_node
                    best = key_node.start_mark.line + 1
                    break
            if found is None:
                return best
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return best
            node = node.value[key]
            best = node.start_mark.line + 1
        else:
            return best
    return best


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeError(f"{path}: cannot read knowledge file: {exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise KnowledgeError(f"{path}:{line}: not valid YAML: {exc.problem}") from exc
    return data, node


def _validate(model: type[M], data: Any, node: yaml.Node | None, path: Path,
              prefix: Sequence[int | str] = ()) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [*prefix, *first["loc"]]
        line = _line_of(node, loc)
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more errors)" if exc.error_count() > 1 else ""
        raise KnowledgeError(f"{path}:{line}: {field}: {first['msg']}{more}") from exc


N = TypeVar("N", Ingredient, DrugClass)


def _load_named(model: type[N], path: Path) -> N:
    """A file holding one record whose id is the file's name."""
    data, node = _read_yaml(path)
    record = _validate(model, data, node, path)
    if record.id != path.stem:
        raise KnowledgeError(
            f"{path}:{_line_of(node, ['id'])}: id: '{record.id}' must equal the file name"
        )
    return record


def load_ingredient(path: Path) -> Ingredient:
    return _load_named(Ingredient, path)


def load_class(path: Path) -> DrugClass:
    return _load_named(DrugClass, path)


def load_conditions(path: Path) -> tuple[Condition, ...]:
    data, node = _read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("conditions"), list):
        raise KnowledgeError(f"{path}:1: conditions: expected a list under 'conditions:'")
    items: list[Condition] = []
    for index, item in enumerate(data["conditions"]):
        items.append(_validate(Condition, item, node, path, prefix=("conditions", index)))
    return tuple(items)


def _yaml_files(folder: Path) -> Iterable[Path]:
    return sorted(folder.glob("*.yaml"))


def load_all(root: Path = DATA_DIR) -> tuple[
    tuple[Ingredient, ...], tuple[DrugClass, ...], tuple[Condition, ...]
]:
    """Load and validate every file; raise `KnowledgeError` naming the first problem."""
    ingredients = tuple(load_ingredient(p) for p in _yaml_files(root / "ingredients"))
    classes = tuple(load_class(p) for p in _yaml_files(root / "classes"))
    conditions = load_conditions(root / "conditions.yaml")
    if not ingredients:
        raise KnowledgeError(f"{root / 'ingredients'}: no ingredient files found")
    _check_references(ingredients, classes, conditions, root)
    return ingredients, classes, conditions


def _check_references(
    ingredients: tuple[Ingredient, ...],
    classes: tuple[DrugClass, ...],
    conditions: tuple[Condition, ...],
    root: Path,
) -> None:
    """Every id a file mentions must exist: a typo must not silently disable a rule."""
    condition_ids = {c.id for c in conditions}
    class_ids = {c.id for c in classes}
    ingredient_ids = {i.id for i in ingredients}
    for duplicates, kind in ((conditions, "condition"), (classes, "class")):
        seen: set[str] = set()
        for item in duplicates:
            if item.id in seen:
                raise KnowledgeError(f"{root}: duplicate {kind} id '{item.id}'")
            seen.add(item.id)
    for drug_class in classes:
        for included in drug_class.includes:
            if included not in class_ids:
                raise KnowledgeError(
                    f"{root / 'classes' / (drug_class.id + '.yaml')}: includes: "
                    f"unknown class '{included}'"
                )
        for valueset in drug_class.valuesets:
            if not (root / "valuesets" / valueset.file).is_file():
                raise KnowledgeError(
                    f"{root / 'classes' / (drug_class.id + '.yaml')}: valuesets: "
                    f"missing file '{valueset.file}'"
                )
    for ing in ingredients:
        where = root / "ingredients" / f"{ing.id}.yaml"
        wanted: list[tuple[str, str, set[str]]] = []
        wanted += [("classes", c, class_ids) for c in ing.classes]
        wanted += [("first_line_for", c, condition_ids) for c in ing.first_line_for]
        wanted += [("indications", i.condition, condition_ids) for i in ing.indications]
        wanted += [("cautions", c.condition, condition_ids) for c in ing.cautions]
        wanted += [("related", r, ingredient_ids) for r in ing.related]
        for ci in ing.contraindications:
            if ci.condition:
                wanted.append(("contraindications", ci.condition, condition_ids))
            if ci.drug_class:
                wanted.append(("contraindications", ci.drug_class, class_ids))
        for ix in ing.interactions:
            if ix.with_class:
                wanted.append(("interactions", ix.with_class, class_ids))
            if ix.with_ingredient:
                wanted.append(("interactions", ix.with_ingredient, ingredient_ids))
        for field, ref, known in wanted:
            if ref not in known:
                raise KnowledgeError(f"{where}: {field}: unknown id '{ref}'")
