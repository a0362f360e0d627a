"""HL7 v3 data types as E2B(R3) uses them: namespaces, TS dates, PQ numbers, element paths.

Pure helpers shared by the E2B reader, writer, validation and acknowledgement modules.

Sources: ICH E2B(R3) Implementation Guide, Appendix II (date/time format
`CCYY[MM[DD[hh[mm[ss[.SSSS]]]]]][+/-ZZzz]`) and the "DATA TYPE" / "Xpath" columns of
`fda_icsr_data_elements.csv` (../shared/data/e2b-examples, shipped in `data/`).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from lxml import etree

NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI}}}type"

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?"
                 r"([+-]\d{4})?$")


def q(tag: str) -> str:
    """The Clark name of an HL7 v3 element: q("id") == "{urn:hl7-org:v3}id"."""
    return f"{{{NS}}}{tag}"


def child(parent: etree._Element, tag: str, text: str | None = None,
          **attributes: str) -> etree._Element:
    """Append an HL7 v3 element: `xsi_type=` sets xsi:type, other keywords attributes."""
    element = etree.SubElement(parent, q(tag))
    for name, value in attributes.items():
        element.set(XSI_TYPE if name == "xsi_type" else name, value)
    if text is not None:
        element.text = text
    return element


def p(path: str) -> str:
    """A child path in the HL7 namespace for ElementPath: p("a/b") == "{ns}a/{ns}b"."""
    return "/".join(q(step) for step in path.split("/"))


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def location(element: etree._Element) -> str:
    """An XPath-ish location for error messages, e.g.
    /MCCI_IN200100UV01/PORR_IN049016UV[1]/controlActProcess/subject/investigationEvent."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        name = local_name(node)
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def _ts_parts(value: str) -> tuple[list[int], str | None]:
    match = _TS.match(value.strip())
    if match is None:
        raise ValueError(f"'{value}' is not an HL7 date/time (CCYY[MM[DD[hhmmss]]][+ZZzz])")
    numbers = [int(g) for g in match.groups()[:6] if g is not None]
    return numbers, match.group(7)


def ts_precision(value: str) -> int:
    """How many of year, month, day, hour, minute, second the value gives (1 to 6)."""
    return len(_ts_parts(value)[0])


def ts_to_partial_date(value: str) -> str:
    """HL7 TS to the model's PartialDate: 2022 -> "2022", 202203 -> "2022-03",
    20220315101010-0500 -> "2022-03-15" (the time is dropped: the model keeps days)."""
    numbers, _ = _ts_parts(value)
    year, month, day = [*numbers, 0, 0][:3]
    if len(numbers) == 1:
        return f"{year:04d}"
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} out of range in '{value}'")
    if len(numbers) == 2:
        return f"{year:04d}-{month:02d}"
    return date(year, month, day).isoformat()  # raises for 2023-02-30


def ts_to_date(value: str) -> date:
    """A TS that must name a day (C.1.4, C.1.5: minimum precision CCYYMMDD)."""
    if ts_precision(value) < 3:
        raise ValueError(f"'{value}' does not contain minimum precision of CCYYMMDD")
    return date.fromisoformat(ts_to_partial_date(value))


def ts_to_datetime(value: str) -> datetime:
    """A TS as a datetime; missing parts are the start of the period, the offset (if any)
    becomes the timezone."""
    numbers, offset = _ts_parts(value)
    year, month, day, hour, minute, second = [*numbers, *[1, 1, 0, 0, 0][len(numbers) - 1:]]
    tz = None
    if offset is not None:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return datetime(year, month, day, hour, minute, second, tzinfo=tz)


def partial_date_to_ts(value: str) -> str:
    return value.replace("-", "")


def date_to_ts(value: date) -> str:
    return value.strftime("%Y%m%d")


def datetime_to_ts(value: datetime) -> str:
    """CCYYMMDDhhmmss, with the +/-ZZzz offset when the datetime knows its timezone."""
    return value.strftime("%Y%m%d%H%M%S%z")


def number_text(value: float) -> str:
    """A PQ value as E2B writes numbers: 48 not 48.0, 0.25 as is, never an exponent."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")  # shortest round-trip digits, no exponent


def parse_number(text: str) -> float:
    """A numeric E2B value (a period for decimals, no commas: ICH IG D.3)."""
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text.strip()):
        raise ValueError(f"'{text}' is not a number")
    return float(text)
