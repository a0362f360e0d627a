"""The knowledge files load, and a malformed one fails loudly with file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from medsafe.errors import KnowledgeError
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.loader import DATA_DIR, load_all, load_ingredient

EXPECTED_INGREDIENTS = {
    "baclofen", "tizanidine", "dantrolene", "diazepam", "methocarbamol", "cyclobenzaprine",
    "carisoprodol", "botulinum-toxin-a",
}


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def test_the_shipped_knowledge_base_loads_all_eight_ingredients() -> None:
    ingredients, classes, conditions = load_all()
    assert {i.id for i in ingredients} == EXPECTED_INGREDIENTS
    assert classes
    assert conditions


def test_a_wrong_type_names_file_line_and_field(data_copy: Path) -> None:
    path = data_copy / "ingredients" / "baclofen.yaml"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("family:"))
    lines[index] = "family: painkiller"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(KnowledgeError) as caught:
        load_ingredient(path)
    message = str(caught.value)
    assert f"baclofen.yaml:{index + 1}:" in message
    assert "family" in message


def test_a_missing_source_is_refused(data_copy: Path) -> None:
    path = data_copy / "ingredients" / "baclofen.yaml"
    document = yaml.safe_load(path.read_text())
    del document["mechanism"]["source"]  # a statement without its source
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(KnowledgeError, match=r"baclofen\.yaml:\d+: mechanism\.source"):
        load_ingredient(path)


def test_an_unknown_key_is_refused(data_copy: Path) -> None:
    path = data_copy / "ingredients" / "baclofen.yaml"
    path.write_text(path.read_text() + "maximum_fun: 3\n")
    with pytest.raises(KnowledgeError, match=r"baclofen\.yaml:\d+: maximum_fun: Extra inputs"):
        load_ingredient(path)


def test_invalid_yaml_names_the_line(data_copy: Path) -> None:
    path = data_copy / "ingredients" / "baclofen.yaml"
    path.write_text("id: baclofen\nname: [unclosed\n")
    with pytest.raises(KnowledgeError, match=r"baclofen\.yaml:\d+: not valid YAML"):
        load_ingredient(path)


def test_a_reference_to_an_unknown_class_is_refused(data_copy: Path) -> None:
    path = data_copy / "ingredients" / "baclofen.yaml"
    text = path.read_text().replace("classes: [skeletal-muscle-relaxants",
                                    "classes: [no-such-class", 1)
    assert "no-such-class" in text
    path.write_text(text)
    with pytest.raises(KnowledgeError, match="unknown id 'no-such-class'"):
        load_all(data_copy)


def test_file_name_must_equal_id(data_copy: Path) -> None:
    source = data_copy / "ingredients" / "baclofen.yaml"
    target = data_copy / "ingredients" / "baclofen-copy.yaml"
    target.write_text(source.read_text())
    with pytest.raises(KnowledgeError, match="must equal the file name"):
        load_ingredient(target)


def test_catalog_finds_an_ingredient_by_brand_name_in_any_case(catalog: Catalog) -> None:
    assert catalog.ingredient("GABLOFEN").id == "baclofen"
    assert catalog.ingredient("zanaflex").id == "tizanidine"
