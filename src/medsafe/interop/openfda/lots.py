"""Lot numbers and expiry dates out of an enforcement record's `code_info` (and its
continuation `more_code_info`): free text written by each recalling firm its own way.

What the text looks like (read over the 12,504 records of the 2021 export):
- labelled lists: "Lot #: 7194739, Exp. 06/25/2020; 7214841, Exp. Date 07/17/2020",
  "Lot Numbers: 20151706@45 BUD: 12/14/2015", "Lots: a) 22738 Exp. 07/2020 and b) …",
  "Lot 470 exp. 04/13, 471 exp. 06/13", "Batch Numbers 6749, 6909";
- bare lists: "03202013@31", "17374 12/19  18196 8/20" (lot, then its expiry),
  "GLBG001 Exp.12/14, GLBG008 Exp. 06/15";
- several lots sharing one date: "Lot #: 1095213, 1095214, Exp Apr-13; 1097733, …";
- whole ranges: "All lots", "All lots remaining within expiry", "All lot codes of product
  prepared between 02/22/2016 and 09/14/2016 … Known kit lot code: 05182016@51, …";
- other codes that are not lots: "Rx #'s: 0387683 0393065 …" (prescription numbers),
  "Service Code 2K5284", "Product Code: 6002-D", "UPC 814832013523", "Stock No: 1086",
  "Pedigree: AD30180_1" (a repackager's code, not the manufacturer's lot);
- NDCs: "NDC 0591-2167-30 1196936A, 1238463A NDC 0591-2167-19 1196934M …".

How it is read: the text is cut into tokens (phrases such as "All lots", labels, expiry
markers, dates, NDCs, codes, words, separators) and walked once:
- a code (letters, digits and @ : / + _ . - # inside, at least one digit; three or more
  characters if it is all digits) is a lot, unless it follows a label of another kind of
  code (that label holds until a lot label, an expiry, an NDC, a ";" or the end of a
  sentence), or it is a quantity ("30CT", "2.5MG", "48-count", "300" before "mg"; at
  most four digits, so "040606L" stays a lot), a decimal, a fraction or a date range;
  capital letters alone ("SKG", "RHB") are a lot only when a date or "Exp" follows;
- compounders' unit labels "Lot: 11/06/18 5007 82761S Exp. 4/5/2019" (date, unit
  number, lot) give the lot only: the date and the four-digit number are not read;
- an expiry marker ("Exp", "Exp. Date", "Expiry", "Expiration Date", "BUD", "Beyond Use
  Date", "Use by", "Discard by", "discard date") and the date after it give every lot read
  since the last expiry that one expiry; a bare date right after a lot does the same
  ("17374 12/19"); other dates (before any lot, "between 03/24/2015 and …") tie to nothing;
  an expiry that is no date ("BUD: 10/1//2015", "exp. 0/2015") leaves its lots without
  one rather than giving them the next lot's;
- a lot's NDC is the NDC the text named last before it, when the text starts with an NDC
  and names one before each group of lots; otherwise, when the text and the product name
  exactly one NDC, that one; otherwise unknown;
- "all lots" is said when a phrase such as "All lots", "All lot codes", "All products",
  "All units", "all codes" or "All Sterile Compounded Products" appears; lots listed next
  to it are still read.
Dates: US order (month first) unless the first number cannot be a month ("exp
20-06-2021"); "06/2022", "Apr-13", "NOV 21", "May: 2020" and "2019-DEC" are months; a
two-digit year is 20YY. An expiry given as a month is the last day of that month: USP
General Chapter <7> Labeling, "If an expiration date is stated only in terms of the
month and the year, then the intended expiration date is the last day of the stated
month" (USP announcement of the corrected chapter, uspnf.com node 73171, 2019). A
beyond-use date (BUD) of a compounded product is kept as the expiry: it is the date after
which the product must not be used. `more_code_info` continues `code_info` after a cut
(in the two records that have it the cut loses characters), so it is joined with a
separator and a token broken at the cut may be read as a short lot.

benchmarks/eval_openfda_parser.py reports how many records give lots, expiries and "all
lots"; docs/recalls-openfda.md has a hand-checked sample.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from medsafe.interop.openfda.ndc import find_ndcs
from medsafe.recalls.model import RecallLot

_MONTHS = {name: number for number, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
     ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
     ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")), start=1) for name in names}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|" \
         r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_EDGE_L = r"(?<![\w@/\-])(?<!\d\.)"
_EDGE_R = r"(?![\w@/\-]|\.\d)"

_TOKENS = re.compile(
    rf"""
    (?=[^\s,()\[\]]|\n)  # no token starts with a blank or a bracket: fail fast there
    (?:(?P<all>\ball\b(?:\s+(?:of\s+the\s+)?[a-z-]+){{0,2}}?\s+
        (?:lot\s+(?:codes?|numbers?)|lots?|codes|products?|units|batch(?:es)?)\b
      |\blots?\s*[:\#]?\s*all\b|^all\s*$)
  | (?P<ndc>(?<![A-Za-z])NDC\s*(?:'?s|\#s?|No\.?)?\s*[:\#.,\-]?\s*
        (?:\d{{4,6}}-\d{{3,4}}-\d{{1,2}}|\d{{11}})(?![\w\-])
      |{_EDGE_L}\d{{4,5}}-\d{{3,4}}-\d{{1,2}}(?![\w\-]))
  | (?P<expiry>(?<![A-Za-z])(?:exp(?:iry|iration|ires|ire|\.)?(?![a-z])(?:\s*dates?)?
        |bud(?![a-z])|beyond[\s-]use(?:\s+dates?)?|use\s+(?:by|before)
        |discard(?:\s+(?:by|after|date))?|best\s+by)\s*[:\#.\-]?\s*(?:[:\-]\s*)?
        (?P<spaced>\d{{1,2}}(?:\s+\d{{1,2}})?/?\s+\d{{4}}(?!\d))?)
  | (?P<date>{_EDGE_L}(?:
        \d{{1,2}}[/\-.]\d{{1,2}}[/\-.](?:\d{{4}}|\d{{2}})
      | \d{{4}}[/\-]\d{{1,2}}[/\-]\d{{1,2}}
      | \d{{1,2}}[\s\-]{_MONTH}\.?[\s\-,]+(?:\d{{4}}|\d{{2}})
      | \d{{1,2}}{_MONTH}\d{{4}}
      | {_MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}}
      | \d{{4}}\s+{_MONTH}\s*\d{{1,2}}
      | {_MONTH}\.?[\s\-,:/]*(?:\d{{4}}|\d{{2}})
      | \d{{4}}[\s\-/]{_MONTH}
      | \d{{1,2}}[/\-]\d{{4}}
      | \d{{1,2}}/\d{{2}}
    ){_EDGE_R})
  | (?P<lotlabel>(?<![A-Za-z])(?:lots?|batch(?:es)?|control)(?![a-z])
        (?:\s*(?:\#\s*'?s|\#|numbers?|nos?\.?|codes?|no\.?\s*\#)(?![a-z]))*\s*[:\#.\-]*)
  | (?P<otherlabel>(?<![A-Za-z])(?:upc|ean|gtin|bar\s*code|rx(?![a-z])\s*(?:\#\s*'?s?)?
        |prescriptions?|items?(?![a-z])|product\s+(?:code|number|no\.?|\#)
        |service\s+code|stock\s+(?:no\.?|number|\#)|catalog(?:ue)?|cat(?:\.|\s+\#)
        |ref(?![a-z])|model|part\s*(?:\#|no\.?|number)|sku|serial(?:\s+numbers?)?
        |pedigree|order(?:\s+(?:no\.?|number|\#))?|invoice|drug\s+number|mfr\s+item
        |material|pack(?:age)?\s+code|case\s+code|kit\s+code)(?![a-z])\s*[:\#.\-]*)
  | (?P<word>[A-Za-z]+(?![A-Za-z0-9@:/+_.\-\#]))
  | (?P<code>[A-Za-z0-9][A-Za-z0-9@:/+_.\-\#]*)
  | (?P<stop>;|\n|\.(?=\s|$)))
    """, re.IGNORECASE | re.VERBOSE)
_DIGIT = re.compile(r"\d")

# A quantity has a short number ("30CT", "2.5MG", "500g", "48-count"); "040606L" is a lot.
_QUANTITY = re.compile(
    r"^\d{1,4}(?:[.,]\d+)?(?:/\d+(?:[.,]\d+)?)*-?(?:count|ct|mg|mcg|ml|g|gm|kg|l|lb|oz|%|"
    r"tabs?|tablets?|caps?|capsules?|units?|iu|meq|mmol|cc|vials?|bottles?|x|pk|pack|pcs|"
    r"days?)$", re.IGNORECASE)
_UNIT_AFTER = re.compile(
    r"\s*(?:-\s*)?(?:count|ct|mg|mcg|ml|g|gm|kg|l|lb|oz|%|tabs?|tablets?|caps?|capsules?|"
    r"units?|iu|meq|mmol|cc|vials?|bottles?|x|pk|pack|days?|doses?|bags?|syringes?|cartons?|"
    r"cases?)(?![A-Za-z])", re.IGNORECASE)
_UNIT_FIRST = re.compile(r"^(?:mg|mcg|ml|g|oz|units?|iu|meq)/", re.IGNORECASE)
_TRAILING = ".:-/#,"
_LETTERS_LOT = re.compile(r"^[A-Z]{2,10}$")
_DATE_NEXT = re.compile(r"(?:[\s,;]+(?:and\s+)?[A-Z]{2,10}(?![A-Za-z]))*[\s,;]*"
                        r"(?:(?i:exp|bud|use\s+by)|\d{1,2}/\d{2,4}(?![\w/]))")
_DATE_LIKE = re.compile(r"^[\d/\-.]*/[\d/\-.]*$")
_DECIMAL = re.compile(r"^\d*[.,]\d+$")
# Compounders' unit labels (Avella, 207 times): "Lot: 11/06/18 5007 82761S Exp. 4/5/2019",
# the date and a four-digit number of the unit (often a clock time), then the lot.
_STAMP = re.compile(r"^\d{4}$")
_NEXT_CODE = re.compile(r"\s+[A-Za-z0-9]")
_STAMP_NEXT = re.compile(r"\s+\d{4}\s+[A-Za-z0-9]")
# Repackagers' records start with the product: "OMEGA-3 FATTY ACID Capsule, 1000 mg has the
# following codes: Pedigree: …". The product name is not a code.
_PRODUCT_FIRST = re.compile(r"^.*?\bhas\s+the\s+following\s+codes?\b", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What `code_info` says about lots."""

    lots: tuple[RecallLot, ...]
    all_lots: bool


def parse_code_info(code_info: str | None, more_code_info: str | None = None, *,
                    product_ndcs: tuple[str, ...] = ()) -> CodeInfo:
    """Lots (with expiry and NDC where the text ties them) and the "all lots" flag.

    `product_ndcs` are the product's NDCs from elsewhere in the record (11 digits); when
    there is exactly one NDC in all, every lot belongs to it."""
    text = _PRODUCT_FIRST.sub("", "; ".join(part for part in (code_info, more_code_info)
                                            if part)).strip()
    reader = _Reader()
    for match in _TOKENS.finditer(text):
        reader.take(match, text)
    ndcs_in_text = find_ndcs(text)
    only = set(ndcs_in_text) | set(product_ndcs)
    single = next(iter(only)) if len(only) == 1 else None
    lots: dict[str, RecallLot] = {}
    for number, expiry, ndc in reader.lots:
        lot = RecallLot(number=number, expiry=expiry,
                        ndc=ndc if ndc is not None and reader.ndc_first else single)
        lots.setdefault(f"{number}|{lot.ndc}|{expiry}", lot)
    return CodeInfo(lots=tuple(lots.values()), all_lots=reader.all_lots)


class _Reader:
    """The walk over the tokens: which lots, their expiries and NDCs."""

    def __init__(self) -> None:
        self.lots: list[tuple[str, date | None, str | None]] = []
        self.pending: list[int] = []  # lots waiting for an expiry
        self.all_lots = False
        self.other = False  # inside the scope of a non-lot label
        self.expecting_expiry = False  # an expiry marker came without its date
        self.last_was_lot = False
        self.last_was_date = False
        self.ndc: str | None = None
        self.ndc_first: bool | None = None  # did an NDC come before the first lot?
        self.ndc_run: list[str] = []  # NDCs named since the last lot

    def take(self, match: re.Match[str], text: str) -> None:
        kind = match.lastgroup
        value = match.group()
        was_lot, self.last_was_lot = self.last_was_lot, False
        was_date, self.last_was_date = self.last_was_date, kind == "date"
        if kind == "all":
            self.all_lots = True
            self.other = False
        elif kind == "ndc":
            self._ndc(value)
        elif kind == "expiry":
            self.other = False
            self.expecting_expiry = True
            spaced = match.group("spaced")
            if spaced:  # "exp. date 08 2020", "EXP 13 10 2020"
                self._date(_date(spaced.replace("/", " ")), was_lot)
        elif kind == "date":
            if _STAMP_NEXT.match(text, match.end()):
                return  # "4/23/18 1020 81525P": when a unit was made, not an expiry
            self._date(_date(value), was_lot)
        elif kind == "lotlabel":
            self.other = False
        elif kind == "otherlabel":
            self.other = True
        elif kind == "stop":
            self.other = False
        elif kind == "word":
            # A lot of capital letters only ("SKG, Exp 08/21", "SAP 1/20") is taken when a
            # date or an expiry follows it at once: a word of the text is not.
            if not self.other and _LETTERS_LOT.match(value) \
                    and _DATE_NEXT.match(text, match.end()):
                self._lot(value)
        elif kind == "code" and not self.other:
            if self.expecting_expiry and _DATE_LIKE.match(value):
                # A misprinted date after "Exp" ("BUD: 10/1//2015") is still that
                # expiry: the lots before it are not given the next one.
                self.pending = []
                self.expecting_expiry = False
            elif was_date and _STAMP.match(value) and _NEXT_CODE.match(text, match.end()):
                return  # "Lot: 4/19/17 1445 248-86361S": date and number of the unit
            elif self._is_lot(match, text):
                self._lot(value.rstrip(_TRAILING))

    def _lot(self, number: str) -> None:
        if self.ndc_first is None:
            self.ndc_first = self.ndc is not None
        self.ndc_run = []
        self.pending.append(len(self.lots))
        self.lots.append((number, None, self.ndc))
        self.last_was_lot = True

    def _date(self, when: date | None, was_lot: bool) -> None:
        if self.pending and (self.expecting_expiry or was_lot):
            for index in self.pending:
                number, _, ndc = self.lots[index]
                self.lots[index] = (number, when, ndc)
            self.pending = []
        self.expecting_expiry = False

    def _ndc(self, value: str) -> None:
        self.other = False
        found = find_ndcs(value) or find_ndcs(value.replace(" ", ""))
        if not found:
            return
        # Two NDCs with no lot between them ("NDC a & NDC b Lot x"): the lots that
        # follow cannot be given to one of them.
        self.ndc_run.append(found[0])
        self.ndc = found[0] if len(set(self.ndc_run)) == 1 else None

    @staticmethod
    def _is_lot(match: re.Match[str], text: str) -> bool:
        value = match.group().rstrip(_TRAILING)
        if not _DIGIT.search(value):
            return False
        if _DATE_LIKE.match(value) or _DECIMAL.match(value):
            return False  # ranges "07/15/15-10/12/15", fractions "1/2", decimals "0.5"
        if value.isdigit() and len(value) < 3:
            return False
        if len(value) < 2 or _QUANTITY.match(value) or _UNIT_FIRST.match(value):
            return False
        return not (value.replace(".", "").replace(",", "").isdigit()
                    and _UNIT_AFTER.match(text, match.end()))


@lru_cache(maxsize=8192)  # the same few thousand dates recur across records
def _date(text: str) -> date | None:
    """The date a token names (a month names its last day), None if it names none."""
    lowered = text.lower().replace(".", " ").replace(",", " ").replace(":", " ")
    words = re.findall(r"[a-z]+|\d+", lowered)
    names = [w for w in words if w.isalpha()]
    numbers = [int(w) for w in words if w.isdigit()]
    widths = [len(w) for w in words if w.isdigit()]
    try:
        if names:
            month = _MONTHS.get(names[0])
            if month is None:
                return None
            if len(numbers) == 1:
                return _month_end(_year(numbers[0]), month)
            if len(numbers) == 2:  # "2021 AUG 31"; "22-Sep-15", "June 30, 2020"
                year, day = numbers if widths[0] == 4 else (numbers[1], numbers[0])
                return date(_year(year), month, day)
            return None
        if len(numbers) == 2:  # 06/2022, 6/20
            month, year = numbers
            if widths[0] == 4:
                return None
            return _month_end(_year(year), month) if 1 <= month <= 12 else None
        if len(numbers) == 3:
            if widths[0] == 4:  # 2020-05-31
                return date(numbers[0], numbers[1], numbers[2])
            first, second, year = numbers
            if first > 12:  # day first: 20-06-2021
                first, second = second, first
            return date(_year(year), first, second)
    except ValueError:
        return None
    return None


def _year(number: int) -> int:
    return number + 2000 if number < 100 else number


def _month_end(year: int, month: int) -> date | None:
    if not 1 <= month <= 12:
        return None
    return date(year, month, calendar.monthrange(year, month)[1])
