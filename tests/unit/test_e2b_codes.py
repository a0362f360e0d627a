"""The E2B code tables agree with FDA's element table, and the shipped tables are FDA's."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest

from medsafe.errors import Invalid
from medsafe.interop.e2b import codes as c
from medsafe.interop.e2b.validation import ELEMENTS_FILE, RULES_FILE

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "e2b-examples"

NUMBERED: tuple[c.CodeTable[Any], ...] = (
    c.REPORT_TYPE, c.NULLIFICATION, c.QUALIFICATION, c.SENDER_TYPE, c.FIRST_SENDER, c.SEX,
    c.AGE_GROUP, c.OUTCOME, c.DRUG_ROLE, c.ACTION_TAKEN, c.RECHALLENGE)


def element_rows() -> dict[str, list[str]]:
    with ELEMENTS_FILE.open(encoding="utf-8-sig", newline="") as handle:
        return {row[2].strip(): row for row in list(csv.reader(handle))[3:]
                if len(row) > 29 and row[2].strip()}


@pytest.mark.parametrize("table", NUMBERED, ids=lambda t: t.element)
def test_numbered_codes_are_the_values_fda_allows(table: c.CodeTable[Any]) -> None:
    allowed = element_rows()[table.element][6]
    assert set(table.words) == set(re.findall(r"(\d+)\s*=", allowed))


@pytest.mark.parametrize("table", NUMBERED, ids=lambda t: t.element)
def test_code_systems_are_the_oids_fda_lists(table: c.CodeTable[Any]) -> None:
    row = element_rows()[table.element]
    assert table.code_system is not None
    # The "Code system OID" column, or the value's codeSystem in the "Xpath" column
    # (D.5 and D.2.3 name theirs only there).
    assert (table.code_system in row[29]
            or f"[@codeSystem='{table.code_system}']" in row[32])


def test_age_units_are_the_ucum_codes_fda_lists() -> None:
    allowed = element_rows()["D.2.2b"][6]
    assert set(c.AGE_UNIT.words) == set(re.findall(r"([\w.{}]+) \(", allowed))


def test_decade_is_read_in_the_ich_spelling_too() -> None:
    assert c.AGE_UNIT.word("{Decade}") == c.AGE_UNIT.word("10.a") == "decade"
    assert c.AGE_UNIT.code("decade") == "10.a"


def test_every_word_maps_back_to_its_code() -> None:
    for table in NUMBERED:
        for code, word in table.words.items():
            assert table.code(word) == code


def test_unknown_code_uses_fda_generic_message() -> None:
    with pytest.raises(Invalid, match=r"C\.1\.3 contains invalid value '9'") as refused:
        c.REPORT_TYPE.word("9", where="file.xml: C.1.3")
    assert refused.value.where == "file.xml: C.1.3"


def test_seriousness_codes_are_those_in_fda_xpaths() -> None:
    rows = element_rows()
    for criterion in c.SERIOUSNESS:
        xpath = rows[criterion.element][32]
        if criterion.element.startswith("FDA."):
            # FDA's XPath cell runs the code and two OIDs together; the code system is there.
            assert criterion.code_system in xpath
        else:
            assert f"code[@code='{criterion.code}'][@codeSystem='{criterion.code_system}']" \
                in xpath


@pytest.mark.parametrize("shipped", [ELEMENTS_FILE, RULES_FILE], ids=lambda p: p.name)
def test_shipped_tables_are_byte_copies_of_the_shared_data(shipped: Path) -> None:
    original = SHARED / shipped.name
    if not original.exists():
        pytest.skip(f"needs ../shared/data/e2b-examples/{shipped.name}")
    assert shipped.read_bytes() == original.read_bytes()
