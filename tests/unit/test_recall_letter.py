"""The printable letter: a PDF written by hand, checked by reading its structure back and
by poppler's pdftotext and pdfinfo (Debian package poppler-utils), which must find every
word and no syntax error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime

import pytest

from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog
from medsafe.notify.letter import (
    MARGIN,
    PAGE_SIZES,
    Block,
    char_width,
    escape,
    render_pdf,
    text_width,
    winansi,
    wrap,
)
from medsafe.recalls.model import (
    Depth,
    Firm,
    RecallClass,
    RecallLot,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.notices import AffectedPatient, Contact, Received, patient_notice
from medsafe.recalls.workflow import RecallKind, RecallState

RECORD = RecallRecord(
    recall_number="D-0101-2026", event_id="90001", kind=RecallKind.RECALL,
    state=RecallState.NOTIFYING, classification=RecallClass.II,
    reason="Subpotent drug (assay at 12 months: 88.1%) \\ out of specification.",
    reason_category=None,
    products=(RecallProduct("Baclofen Tablets USP, 10 mg", ndcs=("12345678901",),
                            lots=(RecallLot("BX2201"),)),),
    firm=Firm("Mo Pharma Inc."), depth=Depth.CONSUMER)
PATIENT = AffectedPatient(
    "p1", Contact("Zoë Ångström-O'Neil", address=("2 Elm Road", "Springfield IL 62701")),
    "Baclofen 10 mg tablets", (Received("BX2201", date(2026, 2, 1)),),
    Contact("Main Street Pharmacy", phone="555-0100", address=("1 Main Street",)),
    route="oral")


def tool(name: str) -> str:
    """A poppler tool, or a skip (a failure under CI=true, where it must be installed)."""
    path = shutil.which(name)
    if path is None:
        reason = f"'{name}' is not installed (Debian package poppler-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: under CI=true the letter must be read back")
        pytest.skip(reason)
    return path


def poppler(name: str, pdf: bytes, *args: str) -> str:
    """Run a poppler tool on `pdf`; its output, after checking it complained of nothing."""
    done = subprocess.run([tool(name), *args, "-", "-"] if name == "pdftotext"
                          else [tool(name), *args, "-"],
                          input=pdf, capture_output=True, check=True, timeout=60)
    assert done.stderr == b"", done.stderr  # poppler reports every syntax error here
    return done.stdout.decode("utf-8")


def flat(text: str) -> str:
    return " ".join(text.split())


def letter(catalog: Catalog) -> bytes:
    notice = patient_notice(RECORD, PATIENT, catalog, letter=True, today=date(2026, 3, 2))
    return notice.pdf(created=datetime(2026, 3, 2, 9, 30, tzinfo=UTC))


def test_pdftotext_reads_every_sentence_of_the_patient_letter_back(catalog: Catalog) -> None:
    notice = patient_notice(RECORD, PATIENT, catalog, letter=True, today=date(2026, 3, 2))
    text = flat(poppler("pdftotext", notice.pdf()))
    for block in notice.blocks:
        assert flat(winansi(block.text)) in text, block.text
    # Accents inside Windows-1252 survive; the label warning is there word for word.
    assert "Zoë Ångström-O'Neil" in text
    warning = next(w for w in catalog.ingredient("baclofen").warnings
                   if w.id == "abrupt-withdrawal")
    assert flat(warning.text) in text
    assert "(assay at 12 months: 88.1%) \\ out of specification." in text
    assert "Page 1 of 1" in text


@pytest.mark.parametrize("size", ["A4", "Letter"])
def test_pdfinfo_sees_a_pdf_1_4_of_the_asked_page_size(catalog: Catalog, size: str) -> None:
    notice = patient_notice(RECORD, PATIENT, catalog, letter=True)
    info = poppler("pdfinfo", notice.pdf(page_size=size))  # type: ignore[arg-type]
    width, height = PAGE_SIZES[size]
    assert re.search(rf"Page size:\s+{width:g} x {height:g} pts", info), info
    assert re.search(r"PDF version:\s+1\.4", info)
    assert re.search(r"Pages:\s+1\n", info)
    assert f"Title:           {notice.subject}" in info


def test_the_cross_reference_table_points_at_every_object(catalog: Catalog) -> None:
    pdf = letter(catalog)
    assert pdf.startswith(b"%PDF-1.4\n%")
    assert pdf.endswith(b"%%EOF\n")
    start = int(re.findall(rb"startxref\n(\d+)\n%%EOF", pdf)[-1])
    assert pdf[start:start + 5] == b"xref\n"
    header = re.match(rb"xref\n0 (\d+)\n", pdf[start:])
    assert header is not None
    count = int(header.group(1))
    table = pdf[start + header.end():start + header.end() + 20 * count]
    entries = [table[i:i + 20] for i in range(0, len(table), 20)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry)
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    assert re.search(rb"trailer\n<< /Size %d /Root 1 0 R" % count, pdf)
    # Each content stream's /Length is its length in bytes.
    for length, body in re.findall(rb"<< /Length (\d+) >>\nstream\n(.*?)\nendstream", pdf,
                                   flags=re.DOTALL):
        assert int(length) == len(body)
    assert b"/CreationDate (D:20260302093000Z)" in pdf


def test_a_long_letter_runs_onto_numbered_pages_and_a_too_long_one_is_refused() -> None:
    blocks = [Block("A long letter", "title")]
    blocks += [Block(f"Paragraph {n}: " + "words that fill the line " * 12) for n in range(40)]
    pdf = render_pdf(blocks, title="Long")
    pages = int(re.findall(r"Pages:\s+(\d+)", poppler("pdfinfo", pdf))[0])
    assert 3 <= pages <= 6
    text = poppler("pdftotext", pdf)
    assert f"Page {pages} of {pages}" in text
    assert "Paragraph 39:" in text
    with pytest.raises(Invalid, match="at most 2"):
        render_pdf(blocks, title="Long", max_pages=2)


def test_text_is_escaped_and_reduced_to_winansi() -> None:
    assert escape("a (b) \\ c") == b"a \\(b\\) \\\\ c"
    assert escape("tab\there") == b"tab here"
    assert escape("≤ 5 mg → 2 mg") == b"<= 5 mg -> 2 mg"
    assert escape("Łódź – café €") == "Lódz – café €".encode("cp1252")
    assert escape("漢") == b"?"
    pdf = render_pdf([Block("Unbalanced ) ( \\ and ≤ 5 – fine")], title="(")
    assert "Unbalanced ) ( \\ and <= 5 – fine" in poppler("pdftotext", pdf)


def test_wrapped_lines_fit_between_the_margins() -> None:
    width = PAGE_SIZES["A4"][0] - 2 * MARGIN
    text = "Keep taking your medicine until your doctor switches you. " * 20
    lines = wrap(text, width, 11.5)
    assert len(lines) > 5
    assert all(text_width(line, 11.5) <= width for line in lines)
    assert " ".join(lines).split() == text.split()  # no word lost or broken
    link = "https://medsafe.example/notices/ack/" + "x" * 200
    pieces = wrap(link, width, 9.0)
    assert "".join(pieces) == link
    assert all(text_width(piece, 9.0) <= width for piece in pieces)


def test_widths_come_from_the_helvetica_metrics() -> None:
    assert char_width(" ") == 278
    assert char_width("m") == 833
    assert char_width("m", bold=True) == 889
    assert char_width("é") == char_width("e")  # accented letters share their base width
    assert char_width("—") == 1000


def test_an_empty_letter_or_an_unknown_page_size_is_refused() -> None:
    with pytest.raises(Invalid, match="some text"):
        render_pdf([Block("  ")], title="Nothing")
    with pytest.raises(Invalid, match="page size"):
        render_pdf([Block("x")], title="x", page_size="A5")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="style"):
        Block("x", "shout")  # type: ignore[arg-type]
