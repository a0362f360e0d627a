"""Hostile XML is refused before medsafe reads a single case from it."""

from __future__ import annotations

import time

import pytest

from medsafe.errors import Invalid
from medsafe.interop.e2b import read_acknowledgement, read_e2b
from medsafe.interop.e2b.safe_xml import MAX_BYTES, parse_xml

ROOT = b'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3">'
END = b"</MCCI_IN200100UV01>"

EXTERNAL_ENTITY = (b'<?xml version="1.0"?>\n'
                   b'<!DOCTYPE MCCI_IN200100UV01 [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                   + ROOT + b"<id extension=\"&xxe;\"/>" + END)

BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
                  + b"".join(b' <!ENTITY lol%d "%s">\n' % (n, b"".join(
                      [b"&lol%d;" % (n - 1) if n > 1 else b"&lol;"] * 10))
                      for n in range(1, 10))
                  + b"]>\n<lolz>&lol9;</lolz>")


def test_external_entity_is_refused_and_never_resolved() -> None:
    with pytest.raises(Invalid) as refused:
        read_e2b(EXTERNAL_ENTITY, source_name="evil.xml")
    assert refused.value.where == "evil.xml"
    assert "declares entities (DOCTYPE)" in refused.value.message
    assert "root:" not in refused.value.message  # nothing of /etc/passwd leaked


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(Invalid, match=r"declares entities \(DOCTYPE\)"):
        parse_xml(BILLION_LAUGHS, source_name="lol.xml")
    assert time.perf_counter() - started < 1.0


def test_doctype_hidden_in_utf16_is_refused_after_parsing() -> None:
    document = ('<?xml version="1.0" encoding="UTF-16"?>'
                '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>').encode("utf-16")
    with pytest.raises(Invalid, match=r"declares entities \(DOCTYPE\)"):
        parse_xml(document)


def test_document_type_without_entities_is_refused_too() -> None:
    with pytest.raises(Invalid, match="DOCTYPE"):
        parse_xml(b'<!DOCTYPE x SYSTEM "http://example.invalid/x.dtd"><x/>')


def test_ten_thousand_levels_of_nesting_are_refused() -> None:
    deep = ROOT + b"<a>" * 10_000 + b"</a>" * 10_000 + END
    with pytest.raises(Invalid, match="nested deeper than the limit of 100") as refused:
        read_e2b(deep, source_name="deep.xml")
    assert refused.value.where == "deep.xml"


def test_nesting_just_past_the_limit_is_refused_with_its_depth() -> None:
    nested = b"<a>" * 101 + b"</a>" * 101
    with pytest.raises(Invalid, match="nested 101 levels deep, deeper than the limit of 100"):
        parse_xml(nested)
    assert parse_xml(b"<a>" * 100 + b"</a>" * 100).tag == "a"


def test_oversized_document_is_refused_before_parsing() -> None:
    big = ROOT + b" " * MAX_BYTES + END
    with pytest.raises(Invalid, match="more than the 52,428,800-byte limit") as refused:
        read_e2b(big, source_name="big.xml")
    assert refused.value.where == "big.xml"


def test_size_limit_is_configurable() -> None:
    document = b"<x>" + b"y" * 2_000 + b"</x>"
    with pytest.raises(Invalid, match="more than the 1,000-byte limit"):
        parse_xml(document, max_bytes=1_000)
    assert parse_xml(document, max_bytes=10_000).tag == "x"


def test_malformed_xml_is_refused_with_the_parser_message() -> None:
    with pytest.raises(Invalid, match="not well-formed XML") as refused:
        read_e2b(ROOT + b"<id>", source_name="broken.xml")
    assert refused.value.where == "broken.xml"


def test_empty_file_is_refused() -> None:
    with pytest.raises(Invalid, match="it is empty"):
        read_e2b(b"  \n")


def test_acknowledgements_get_the_same_protection() -> None:
    with pytest.raises(Invalid, match="DOCTYPE"):
        read_acknowledgement(EXTERNAL_ENTITY.replace(b"MCCI_IN200100UV01",
                                                     b"MCCI_IN200101UV01"))
