"""A printable letter as PDF, written by hand (pure: blocks of text in, bytes out).

Patients without e-mail get their notice on paper. A letter needs so little of PDF that a
new dependency would cost more than it gives: plain text in one typeface, wrapped to the
page, a few pages at most. This module writes PDF 1.4 (ISO 32000-1 reads it too):

- the three standard Type 1 fonts Helvetica, Helvetica-Bold and Helvetica-Oblique, which
  every reader has, so nothing is embedded; with WinAnsiEncoding (Windows-1252), text is
  written as single bytes and characters outside it are replaced by their nearest ASCII
  spelling ("≤" becomes "<=", "ő" becomes "o");
- line wrapping by the fonts' advance widths (Adobe's AFM metrics; accented letters have
  their base letter's width in Helvetica, so only the letters without one are listed);
- literal strings escaped (backslash, parentheses, control bytes in octal);
- uncompressed content streams, and a cross-reference table whose offsets are counted
  while the file is written.

What it does not do: images, tables, links, fonts beyond the three, right-to-left text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from medsafe.errors import Invalid

Style = Literal["title", "heading", "body", "strong", "bullet", "quote", "small"]
PageSize = Literal["A4", "Letter"]

PAGE_SIZES: dict[str, tuple[float, float]] = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}
MARGIN = 56.7  # 2 cm
FOOTER_SIZE = 8.5

# Advance widths in 1/1000 em for the printable ASCII characters 32-126, from Adobe's
# Helvetica and Helvetica-Bold AFM files (Helvetica-Oblique has Helvetica's widths).
_ASCII_REGULAR = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584)
_ASCII_BOLD = (
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584)
# The Windows-1252 characters above 127 that are not an ASCII letter with an accent:
# (regular, bold).
_UPPER: dict[str, tuple[int, int]] = {
    "€": (556, 556), "‚": (222, 278), "ƒ": (556, 556), "„": (333, 500), "…": (1000, 1000),
    "†": (556, 556), "‡": (556, 556), "ˆ": (333, 333), "‰": (1000, 1000), "‹": (333, 333),
    "Œ": (1000, 1000), "‘": (222, 278), "’": (222, 278), "“": (333, 500), "”": (333, 500),
    "•": (350, 350), "–": (556, 556), "—": (1000, 1000), "˜": (333, 333), "™": (1000, 1000),
    "›": (333, 333), "œ": (944, 944), "\u00a0": (278, 278), "¡": (333, 333), "¢": (556, 556),
    "£": (556, 556), "¤": (556, 556), "¥": (556, 556), "¦": (260, 280), "§": (556, 556),
    "¨": (333, 333), "©": (737, 737), "ª": (370, 370), "«": (556, 556), "¬": (584, 584),
    "\u00ad": (333, 333), "®": (737, 737), "¯": (333, 333), "°": (400, 400), "±": (584, 584),
    "²": (333, 333), "³": (333, 333), "´": (333, 333), "µ": (556, 611), "¶": (537, 556),
    "·": (278, 278), "¸": (333, 333), "¹": (333, 333), "º": (365, 365), "»": (556, 556),
    "¼": (834, 834), "½": (834, 834), "¾": (834, 834), "¿": (611, 611), "Æ": (1000, 1000),
    "Ð": (722, 722), "×": (584, 584), "Ø": (778, 778), "Þ": (667, 667), "ß": (611, 611),
    "æ": (889, 889), "ð": (556, 611), "÷": (584, 584), "ø": (611, 611), "þ": (556, 611),
}
# Characters outside Windows-1252 that have a plain spelling in it.
_SUBSTITUTES = {
    "≤": "<=", "≥": ">=", "≠": "!=", "→": "->", "←": "<-", "−": "-", "‐": "-", "‑": "-",
    "‒": "-", "―": "—", "′": "'", "″": '"', "\u2009": " ", "\u202f": " ", "\u2007": " ",
    "\u200b": "", "\ufeff": "", "✓": "v", "✔": "v", "✗": "x", "★": "*", "ı": "i", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H",
}

# The font resources of every page: name -> (BaseFont, bold widths?).
_FONTS = {"F1": ("Helvetica", False), "F2": ("Helvetica-Bold", True),
          "F3": ("Helvetica-Oblique", False)}


@dataclass(frozen=True, slots=True)
class _Look:
    font: str
    size: float
    indent: float = 0.0
    before: float = 0.0
    after: float = 5.0


_LOOKS: dict[str, _Look] = {
    "title": _Look("F2", 16.0, after=9.0),
    "heading": _Look("F2", 13.0, before=8.0, after=4.0),
    "body": _Look("F1", 11.5),
    "strong": _Look("F2", 11.5),
    "bullet": _Look("F1", 11.5, indent=16.0, after=3.0),
    "quote": _Look("F3", 11.0, indent=18.0),
    "small": _Look("F1", 9.0, after=3.0),
}


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph of the letter in one style. A newline in `text` starts a new line
    (an address); otherwise lines are wrapped to the page."""

    text: str
    style: Style = "body"

    def __post_init__(self) -> None:
        if self.style not in _LOOKS:
            raise Invalid(f"'{self.style}' is not a letter style ({', '.join(_LOOKS)})",
                          where="block.style")


def winansi(text: str) -> str:
    """`text` reduced to what Windows-1252 can show: characters outside it replaced by
    their plain spelling, by their letter without its accent, or by '?'; control
    characters (tabs, stray carriage returns) become spaces."""
    out: list[str] = []
    for char in text:
        if char == "\n":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") and char not in _SUBSTITUTES:
            out.append(" ")
        elif _encodable(char):
            out.append(char)
        elif char in _SUBSTITUTES:
            out.append(_SUBSTITUTES[char])
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char)
                            if _encodable(c) and not unicodedata.combining(c))
            out.append(plain or "?")
    return "".join(out)


def _encodable(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return (ord(char) >= 32 and ord(char) != 127) or char == "\n"


def char_width(char: str, *, bold: bool = False) -> int:
    """Advance width of one Windows-1252 character, in 1/1000 of the font size."""
    code = ord(char)
    if 32 <= code <= 126:
        return (_ASCII_BOLD if bold else _ASCII_REGULAR)[code - 32]
    if char in _UPPER:
        return _UPPER[char][1 if bold else 0]
    base = unicodedata.normalize("NFD", char)[0]
    if base != char and 32 <= ord(base) <= 126:
        return char_width(base, bold=bold)
    return char_width("?", bold=bold)


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Width in points of `text` (already Windows-1252) at `size` points."""
    return sum(char_width(c, bold=bold) for c in text) * size / 1000.0


def wrap(text: str, width: float, size: float, *, bold: bool = False) -> list[str]:
    """Lines of `text` no wider than `width` points: broken at spaces, and inside a word
    only when the word alone is wider than the line (a long link)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size, bold=bold) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while text_width(word, size, bold=bold) > width:
                cut = _fitting(word, width, size, bold)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _fitting(word: str, width: float, size: float, bold: bool) -> int:
    used = 0.0
    for index, char in enumerate(word):
        used += char_width(char, bold=bold) * size / 1000.0
        if used > width:
            return max(index, 1)
    return len(word)


def escape(text: str) -> bytes:
    """A PDF literal string's content: Windows-1252 bytes with backslash and parentheses
    escaped and any control byte written in octal."""
    out = bytearray()
    for byte in winansi(text).encode("cp1252"):
        if byte in (0x5C, 0x28, 0x29):
            out += b"\\" + bytes((byte,))
        elif byte < 32 or byte == 127:
            out += b"\\%03o" % byte
        else:
            out.append(byte)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _Line:
    font: str
    size: float
    x: float
    y: float
    text: str


def _layout(blocks: Sequence[Block], page: tuple[float, float]) -> list[list[_Line]]:
    width, height = page
    top, bottom = height - MARGIN, MARGIN + 2 * FOOTER_SIZE
    pages: list[list[_Line]] = [[]]
    y = top
    for number, block in enumerate(blocks):
        look = _LOOKS[block.style]
        bold = _FONTS[look.font][1]
        leading = look.size * 1.35
        text = winansi(block.text)
        lines = wrap(text, width - 2 * MARGIN - look.indent, look.size, bold=bold)
        if number and look.before:
            y -= look.before
        # Keep a heading with the first lines that follow it.
        needed = leading * (3 if block.style in ("title", "heading") else 1)
        for index, line in enumerate(lines):
            if y - (needed if index == 0 else leading) < bottom and pages[-1]:
                pages.append([])
                y = top
            y -= leading
            x = MARGIN + look.indent
            if block.style == "bullet" and index == 0:
                pages[-1].append(_Line(look.font, look.size, x - 10.0, y, "•"))
            if line:
                pages[-1].append(_Line(look.font, look.size, x, y, line))
        y -= look.after
    return pages


def render_pdf(blocks: Sequence[Block], *, title: str, page_size: PageSize = "A4",
               max_pages: int = 6, created: datetime | None = None) -> bytes:
    """The letter as a PDF file: `blocks` in order, wrapped to `page_size`, each page
    numbered "Page i of n" at its foot. Invalid when there is nothing to print, the page
    size is unknown, or the letter would run beyond `max_pages` (a letter to a patient
    that long is a mistake upstream, not something to print)."""
    if page_size not in PAGE_SIZES:
        raise Invalid(f"'{page_size}' is not a page size ({', '.join(PAGE_SIZES)})",
                      where="letter.page_size")
    if not any(block.text.strip() for block in blocks):
        raise Invalid("a letter needs some text", where="letter.blocks")
    page = PAGE_SIZES[page_size]
    pages = _layout(blocks, page)
    if len(pages) > max_pages:
        raise Invalid(f"the letter would have {len(pages)} pages; at most {max_pages}",
                      where="letter.blocks")
    streams = [_content(lines, number, len(pages), page)
               for number, lines in enumerate(pages, start=1)]
    return _document(streams, page, title, created)


def _content(lines: list[_Line], number: int, total: int, page: tuple[float, float]) -> bytes:
    footer = f"Page {number} of {total}"
    x = page[0] - MARGIN - text_width(footer, FOOTER_SIZE)
    every = [*lines, _Line("F1", FOOTER_SIZE, x, MARGIN, footer)]
    return b"".join(b"BT /%s %.2f Tf %.2f %.2f Td (%s) Tj ET\n"
                    % (line.font.encode(), line.size, line.x, line.y, escape(line.text))
                    for line in every)


def _document(streams: list[bytes], page: tuple[float, float], title: str,
              created: datetime | None) -> bytes:
    # Object numbers: 1 catalog, 2 page tree, 3-5 fonts, 6 info, then a page and its
    # content stream for each page.
    fonts = {name: 3 + index for index, name in enumerate(_FONTS)}
    first_page = 7
    kids = [first_page + 2 * index for index in range(len(streams))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 %.2f %.2f] >>"
        % (b" ".join(b"%d 0 R" % kid for kid in kids), len(kids), page[0], page[1]),
    ]
    for base_font, _bold in _FONTS.values():
        objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s "
                       b"/Encoding /WinAnsiEncoding >>" % base_font.encode())
    info = b"<< /Title (%s) /Producer (medsafe)" % escape(title)
    if created is not None:
        stamp = created.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")
        info += b" /CreationDate (%s)" % stamp.encode()
    objects.append(info + b" >>")
    resources = b"<< /Font << %s >> >>" % b" ".join(
        b"/%s %d 0 R" % (name.encode(), number) for name, number in fonts.items())
    for index, stream in enumerate(streams):
        content_number = first_page + 2 * index + 1
        objects.append(b"<< /Type /Page /Parent 2 0 R /Resources %s /Contents %d 0 R >>"
                       % (resources, content_number))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))

    # The header's second line is a comment of bytes above 127: it tells transfer tools
    # the file is binary (ISO 32000-1, 7.5.2).
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    # Each cross-reference entry is exactly 20 bytes, its end of line included.
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, xref))
    return bytes(out)
