"""A GS1 element string as a scanner sends it from a drug pack's DataMatrix: the GTIN
(01), batch or lot (10), expiry date (17) and serial number (21).

Sources: GS1 General Specifications (Release 24.0, January 2024, and 25.0):
- §3.2 and the AI definitions of §3: AI (01) GTIN, 14 digits with a check digit (§3.3.2);
  AI (10) batch or lot number, up to 20 characters of character set 82; AI (17)
  expiration date, YYMMDD, where "if it is not necessary to specify the day, the field
  must be filled with two zeros" and the date is then "interpreted as the last day of
  the noted month"; AI (21) serial number, up to 20 characters of character set 82.
  The same definitions, machine-readable, are GS1's Barcode Syntax Dictionary
  (gs1/gs1-syntax-dictionary: "01 * N14,csum", "10 X..20", "17 * N6,yymmd0",
  "21 X..20").
- Figure 7.8.5-2 (7.8.4-2 before Release 25), element strings with predefined length:
  AIs 01 and 17 have a predefined length and need no separator; 10 and 21 are variable
  and end at an FNC1 (sent by scanners as the ASCII group separator, GS, 0x1D) or at the
  end of the data. A separator after a predefined-length field is tolerated.
- §7.9, the standard check digit: from the right, excluding the check digit, weights
  3, 1, 3, 1, …; the check digit brings the sum to a multiple of ten.
- Figure 7.11-1, character set 82: ! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z.
- §7.12, determination of century in dates: with YY the year and CY the current year's
  last two digits, YY − CY from 51 to 99 is last century, from −99 to −50 next century,
  otherwise this century. So `parse_element_string` takes `today`.
- Symbology identifiers (ISO/IEC 15424, listed in the General Specifications): "]d2" is
  GS1 DataMatrix; "]C1" GS1-128, "]Q3" GS1 QR Code and "]e0" GS1 DataBar carry the same
  element strings and are accepted too. A leading GS (the FNC1 in first position that
  some scanners transmit) is dropped.

Two forms are read: the raw string a scanner sends ("0103...17...10...<GS>21...") and
the human-readable one printed under the symbol ("(01)03...(17)...(10)...(21)...").
Any other AI is refused with `Invalid` (its value's length cannot be known without its
definition, so the rest of the string could not be read reliably).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from medsafe.errors import Invalid

GS = "\x1d"
GS1_SYMBOLOGIES = ("]d2", "]C1", "]Q3", "]e0")
_PREDEFINED = {"01": 14, "17": 6}
_VARIABLE_MAX = {"10": 20, "21": 20}
_NAMES = {"01": "GTIN", "10": "lot", "17": "expiry", "21": "serial"}
_CSET82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+$")
_HUMAN = re.compile(r"\((\d{2,4})\)([^()]*)")


@dataclass(frozen=True, slots=True)
class PackScan:
    """What a pack's element string says."""

    gtin: str
    lot: str | None = None
    expiry: date | None = None
    serial: str | None = None


def gtin_check_digit(body: str) -> str:
    """The check digit that completes `body` (a GTIN without its last digit), GS1 mod-10
    (§7.9): from the right, weights 3, 1, 3, 1, …; the digit tops the sum up to a ten."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin_check_digit_ok(digits: str) -> bool:
    """Whether the last digit of a GTIN (any length) is its check digit."""
    return gtin_check_digit(digits[:-1]) == digits[-1]


def parse_element_string(text: str, *, today: date) -> PackScan:
    """The GTIN, lot, expiry and serial of one scanned element string.

    Raises `Invalid` naming the AI and the problem: an AI other than 01, 10, 17 or 21, a
    GTIN with a wrong check digit, a date that does not exist, a value too long or with
    characters outside character set 82, an AI given twice, or no GTIN at all."""
    data = text.strip("\r\n")
    if data.startswith("]"):
        if data[:3] not in GS1_SYMBOLOGIES:
            raise Invalid(f"symbology identifier '{data[:3]}' is not a GS1 one "
                          f"({', '.join(GS1_SYMBOLOGIES)})", where="scan")
        data = data[3:]
    data = data.lstrip(GS)
    if not data:
        raise Invalid("the scan is empty", where="scan")
    pairs = _human_pairs(data) if data.startswith("(") else _raw_pairs(data)
    values: dict[str, str] = {}
    for ai, value in pairs:
        if ai in values:
            raise Invalid(f"AI ({ai}) appears twice", where=f"AI ({ai})")
        values[ai] = _checked(ai, value)
    if "01" not in values:
        raise Invalid("the scan has no GTIN, AI (01)", where="AI (01)")
    expiry = _expiry(values["17"], today) if "17" in values else None
    return PackScan(gtin=values["01"], lot=values.get("10"), expiry=expiry,
                    serial=values.get("21"))


def _human_pairs(data: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    position = 0
    for match in _HUMAN.finditer(data):
        if match.start() != position:
            raise Invalid(f"cannot read '{data[position:match.start()]}' in the "
                          "human-readable element string", where="scan")
        ai = match.group(1)
        _known(ai)
        pairs.append((ai, match.group(2).strip()))
        position = match.end()
    if position != len(data):
        raise Invalid(f"cannot read '{data[position:]}' in the human-readable element "
                      "string", where="scan")
    return pairs


def _raw_pairs(data: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(data):
        if data[position] == GS:
            position += 1
            continue
        ai = data[position:position + 2]
        _known(ai)
        start = position + 2
        if ai in _PREDEFINED:
            end = start + _PREDEFINED[ai]
            if end > len(data):
                raise Invalid(f"AI ({ai}) needs {_PREDEFINED[ai]} characters, the scan "
                              f"ends after {len(data) - start}", where=f"AI ({ai})")
        else:
            separator = data.find(GS, start)
            end = len(data) if separator < 0 else separator
        pairs.append((ai, data[start:end]))
        position = end
    return pairs


def _known(ai: str) -> None:
    if ai not in _NAMES:
        raise Invalid(f"AI ({ai}) is not understood here: a drug pack is read for "
                      "GTIN (01), lot (10), expiry (17) and serial (21)", where=f"AI ({ai})")


def _checked(ai: str, value: str) -> str:
    where = f"AI ({ai})"
    if ai in _PREDEFINED:
        length = _PREDEFINED[ai]
        if len(value) != length or not value.isascii() or not value.isdigit():
            raise Invalid(f"the {_NAMES[ai]} must be {length} digits, not '{value}'",
                          where=where)
        if ai == "01" and not gtin_check_digit_ok(value):
            raise Invalid(f"the check digit of GTIN {value} is wrong (expected "
                          f"{gtin_check_digit(value[:-1])})", where=where)
        return value
    if not value:
        raise Invalid(f"the {_NAMES[ai]} is empty", where=where)
    if len(value) > _VARIABLE_MAX[ai]:
        raise Invalid(f"the {_NAMES[ai]} has {len(value)} characters, at most "
                      f"{_VARIABLE_MAX[ai]} are allowed", where=where)
    if not _CSET82.match(value):
        raise Invalid(f"the {_NAMES[ai]} '{value}' has characters outside GS1 character "
                      "set 82", where=where)
    return value


def _expiry(yymmdd: str, today: date) -> date:
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    current = today.year % 100
    century = today.year - current
    difference = yy - current
    if 51 <= difference <= 99:
        century -= 100
    elif -99 <= difference <= -50:
        century += 100
    year = century + yy
    if not 1 <= month <= 12:
        raise Invalid(f"expiry {yymmdd} has month {month:02d}", where="AI (17)")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        return date(year, month, last)
    if day > last:
        raise Invalid(f"expiry {yymmdd} is not a date ({year}-{month:02d} has {last} days)",
                      where="AI (17)")
    return date(year, month, day)
