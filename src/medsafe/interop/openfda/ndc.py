"""National Drug Codes: one code normalised to 11 digits, NDCs found in free text, and the
NDC a GTIN carries.

The NDC is three segments, labeler-product-package, ten digits in one of three
configurations, 4-4-2, 5-3-2 or 5-4-1 (21 CFR 207.33(b) as it stood for these records).
HIPAA transactions use 11 digits, 5-4-2; FDA's rule for the conversion is to pad the short
segment with a leading zero (so 0781-3182-73 is 00781-3182-73, 12345-678-90 is
12345-0678-90 and 12345-6789-0 is 12345-6789-00); an 11-digit 5-4-2 code is already
normal (OHDSI, "Converting NDC"; rxkinetics.com/code128.html). medsafe stores NDCs as
those 11 digits, without hyphens: `format_ndc` adds them back for people.

Ten digits without hyphens are ambiguous (1234567890 may be 01234-5678-90, 12345-0678-90
or 12345-6789-00), so `normalise_ndc` refuses them and `ndc10_candidates` lists the three
readings for a caller that can check them against known codes.

Free text (`find_ndcs`). openFDA's enforcement reports print NDCs in many ways; these
were counted in product_description of the 12,504 records of the 2021 export:
"NDC 12345-678-90" (and "NDC:", "NDC#", "NDC #", "NDC No."), bare dashed codes in lists
("NDC: a) 55289-274-79, b) 55289-274-02"), "MFG: 64679-904-02", and 11 digits without
hyphens after "NDC" ("NDC 00904513559"). What is taken:
- a dashed code of a real configuration (4-4-2, 5-3-2, 5-4-1, or 5-4-2), standing alone
  (no letter, digit or hyphen touching it, except "NDC" itself: "NDC55111-466-01",
  "NDC-52544-295-28"), wherever it is, unless a word just before it says it is another
  kind of number (item, catalogue, product or service code, stock, serial, model, part,
  order, UPC, phone): shapes such as 5031-440-03 (4-3-2) or 1-866-901-3784 are not
  configurations and are never taken. After "Lot" it is still taken: "Lot numbers:
  0378-7110-35 AD48…" (D-0585-2016) is Mylan's NDC followed by its lots. A 5-digit
  labeler printed with a sixth, leading zero ("NDC 054365-400-11", CareFusion) is read
  without it;
- 11 digits without hyphens, only right after "NDC";
What is left: ten digits without hyphens (ambiguous, see above), NDCs inside UPC/GTIN
numbers (their layout is ambiguous the same way; see `ndc_from_gtin`), product-only
codes ("NDC 58575-340": 5-3 also fits a ZIP+4 such as 37409-0219), and misprints
("NDC 073-3019-11"). benchmarks/eval_openfda_parser.py measures the result.

GTINs (`ndc_from_gtin`). A US drug package's UPC-A (GTIN-12) is "3", the ten NDC digits
and a check digit; written as a GTIN-13 it is "03" + NDC + check, and as a GTIN-14 an
indicator digit (the packaging level), "03", the NDC and a check digit. Sources: the
National Drug Code article of Wikipedia (copy at articles.gourt.com: "barcoded with a
Universal Product Code that begins with a 3 (UPC-A) or 03 (EAN-13). The remainder of the
numbers are the NDC number, plus the check digit"); R. Celeste, "Depicting an NDC within
a GTIN", RxTrace, January 2012 (GS1 US turns the FDA labeler code into the GS1 company
prefix); openFDA's own RES extractor, which reads UPCs such as "3 0603-7039-39 7"
(FDA/openfda openfda/res/extract.py). GS1 US's own guideline text was not reachable from
here, so nothing beyond that layout is assumed: the ten digits come back unsegmented.
In the 2021 export every `openfda.upc` value read this way gives an NDC listed in the same
record's `openfda.package_ndc` (benchmarks/eval_openfda_parser.py counts it).
"""

from __future__ import annotations

import re

from medsafe.errors import Invalid
from medsafe.interop.gs1 import gtin_check_digit_ok

# Segment lengths of the ten-digit configurations, and the 11-digit form, each with the
# padding that makes it 5-4-2.
_SHAPES = {(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)}
_PRODUCT_SHAPES = {(4, 4), (5, 3), (5, 4)}
_HYPHENS = "\\-\u2010\u2011\u2012\u2013\u2014\u2212"  # printed hyphens and dashes
_DASH = f"[{_HYPHENS}]"
_HYPHEN_CHARS = _HYPHENS.replace("\\", "")
_PREFIX = re.compile(r"^\s*NDC\s*(?:#|No\.?|number|code)?\s*[:#.]?\s*", re.IGNORECASE)

# A dashed code standing alone: not touched by a word character or another hyphen, except
# "NDC" written against it ("NDC55111-466-01", "NDC-52544-295-28"). A labeler written
# with one zero too many ("NDC 054365-400-11", the 5-digit labeler padded as if it were
# 4 digits) is read without it.
_DASHED = re.compile(rf"(?=\d)(?:(?<=NDC)|(?<=ndc)|(?<=NDC-)|(?<![\w{_HYPHENS}]))"
                     rf"(\d{{4,6}}){_DASH}"
                     rf"(\d{{3,4}}){_DASH}(\d{{1,2}})(?![\w{_HYPHENS}]|\.\d)")
# Eleven digits right after "NDC" (and its punctuation).
_UNDASHED = re.compile(r"(?=[Nn])(?<![A-Za-z])NDC\s*(?:#|No\.?)?\s*[:#.]?\s*(\d{11})(?!\d)",
                       re.IGNORECASE)
# Words that make the code after them something other than an NDC (up to a few words
# back, so "Product Code: 75901-1205-35" and "Lot #: 12345-678-90" are both left).
_NOT_NDC_BEFORE = re.compile(
    r"(?:\b(?:item|catalog(?:ue)?|cat|ref|serial|model|part|order|"
    r"sku|service\s+code|product\s+code|product\s+(?:no|number)|stock\s+(?:no|number)|"
    r"mfr\s+item|upc|gtin|ean|barcode|phone|tel|fax|zip)\b)[\s#:.]*(?:no\.?|number|"
    r"numbers|code|#)?[\s#:.]*$",
    re.IGNORECASE)


def normalise_ndc(text: str) -> str:
    """One package NDC as written, as 11 digits (5-4-2, no hyphens).

    Accepts 4-4-2, 5-3-2, 5-4-1 and 5-4-2 with hyphens, 11 digits without, and a leading
    "NDC", "NDC:", "NDC #" or "NDC No.". Raises `Invalid` otherwise, naming why.
    """
    body = _PREFIX.sub("", text.strip()).strip()
    parts = re.split(_DASH, body)
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise Invalid(f"'{text}' is not an NDC: only digits and hyphens may follow 'NDC'")
    if len(parts) == 1:
        if len(body) == 11:
            return body
        if len(body) == 10:
            raise Invalid(f"'{text}' is ambiguous: ten digits without hyphens may be 4-4-2, "
                          "5-3-2 or 5-4-1")
        raise Invalid(f"'{text}' is not an NDC: it has {len(body)} digits, not 10 or 11")
    shape = tuple(len(part) for part in parts)
    if len(parts) != 3 or shape not in _SHAPES:
        raise Invalid(f"'{text}' is not an NDC: segments {'-'.join(map(str, shape))} are "
                      "none of 4-4-2, 5-3-2, 5-4-1 or 5-4-2")
    labeler, product, package = parts
    return labeler.zfill(5) + product.zfill(4) + package.zfill(2)


def normalise_product_ndc(text: str) -> str:
    """A product NDC (labeler-product, as openFDA's `product_ndc`), as 9 digits (5-4)."""
    parts = re.split(_DASH, _PREFIX.sub("", text.strip()).strip())
    shape = tuple(len(part) for part in parts)
    if not all(part.isascii() and part.isdigit() for part in parts) \
            or shape not in _PRODUCT_SHAPES:
        raise Invalid(f"'{text}' is not a product NDC (4-4, 5-3 or 5-4)")
    return parts[0].zfill(5) + parts[1].zfill(4)


def product_of(ndc11: str) -> str:
    """The product part (labeler and product, 9 digits) of an 11-digit NDC."""
    return ndc11[:9]


def format_ndc(ndc11: str) -> str:
    """An 11-digit NDC as people write it: 5-4-2 with hyphens."""
    if len(ndc11) != 11 or not ndc11.isdigit():
        raise Invalid(f"'{ndc11}' is not an 11-digit NDC")
    return f"{ndc11[:5]}-{ndc11[5:9]}-{ndc11[9:]}"


def ndc10_candidates(ndc10: str) -> tuple[str, str, str]:
    """The three 11-digit NDCs ten undashed digits may stand for: read as 4-4-2, 5-3-2
    and 5-4-1, in that order."""
    if len(ndc10) != 10 or not ndc10.isdigit():
        raise Invalid(f"'{ndc10}' is not ten digits")
    return ("0" + ndc10,
            ndc10[:5] + "0" + ndc10[5:],
            ndc10[:9] + "0" + ndc10[9:])


def find_ndcs(text: str) -> tuple[str, ...]:
    """The package NDCs in free text, as 11 digits, in order of first appearance."""
    found: dict[str, int] = {}
    # Cheap tests first: most free text has no hyphen of any kind, or no "NDC".
    dashed = _DASHED.finditer(text) if any(h in text for h in _HYPHEN_CHARS) else ()
    for match in dashed:
        labeler, product, package = match.groups()
        if len(labeler) == 6 and labeler.startswith("0"):
            labeler = labeler[1:]
        if (len(labeler), len(product), len(package)) not in _SHAPES \
                or _NOT_NDC_BEFORE.search(text[max(0, match.start() - 40):match.start()]):
            continue
        found.setdefault(labeler.zfill(5) + product.zfill(4) + package.zfill(2),
                         match.start())
    undashed = _UNDASHED.finditer(text) if "NDC" in text.upper() else ()
    for match in undashed:
        found.setdefault(match.group(1), match.start(1))
    return tuple(sorted(found, key=found.__getitem__))


def ndc_from_gtin(gtin: str) -> str:
    """The ten NDC digits (unsegmented) a US drug GTIN carries: GTIN-12 "3" + NDC + check,
    GTIN-13 "03" + NDC + check, GTIN-14 indicator + "03" + NDC + check.

    Raises `Invalid` for a GTIN of another length, a wrong check digit, or one that does
    not carry an NDC (not "03" after padding to 14 digits)."""
    digits = gtin.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (12, 13, 14):
        raise Invalid(f"'{gtin}' is not a GTIN-12, -13 or -14")
    if not gtin_check_digit_ok(digits):
        raise Invalid(f"the check digit of GTIN '{gtin}' is wrong")
    padded = digits.zfill(14)
    if padded[1:3] != "03":
        raise Invalid(f"GTIN '{gtin}' does not carry an NDC (an NDC-based GTIN has '03' "
                      "after the indicator digit)")
    return padded[3:13]
