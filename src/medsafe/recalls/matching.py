"""Which lots of the store a recall concerns: the keys a recall is matched by, the match
itself, and what it finds (lots, who holds them, who received them). Pure: the SQL that
feeds it is `store/repositories/affected.py`; docs/recalls-matching.md explains the rules
and the figures.

The rules:

1. NDC. Both sides as 11 digits, 5-4-2 (`interop/openfda/ndc.py`). A stored product code
   (code system 'ndc') is written the way people write it: 4-4-2, 5-3-2, 5-4-1 or 5-4-2
   with hyphens, or digits alone. A hyphenated code, or 11 digits, is one NDC. Ten digits
   without hyphens can be read three ways (4-4-2, 5-3-2, 5-4-1), and that product is
   matched under each reading: a wrong reading would also need the recall to name that
   other NDC, and (unless every lot is recalled) the same lot number. Products with a GTIN
   or another code system are not matched.
2. Lot number. Compared by `lot_key`: Unicode NFKC, upper case, a leading label taken off
   ("LOT", "LOT NO.", "LOT #", "LOT:", "BATCH", "#"; "LOT" counts as a label only when a
   separator or a digit follows it, so "LOTUS1" keeps its letters), then letters A-Z and
   digits only: spaces, hyphens, dots, slashes, '#', '@' and the like are left out.
   Firms print one lot as "2155-111" on a recall and a pharmacy system may hold
   "2155111" or "lot 2155-111". Leading zeros are kept ("0123" is not "123"). Two
   different lots that differ only in punctuation, under one NDC, would both be matched;
   missing a recalled lot is the worse mistake.
3. Which NDC a recalled lot belongs to: the NDC the recall ties to it when it ties one
   (the text names an NDC before each group of lots); otherwise every NDC of the recalled
   product. openFDA's structured NDC block also lists sibling packages a recall may not
   concern (see `interop/openfda/reader.py`), so a lot tied to one NDC is not matched under
   the siblings.
4. Expiry is optional. A recalled lot and a stored lot with the same NDC and lot key are
   the same lot unless both expiries are known and fall in different months: a month
   printed on a recall stands for its last day (USP <7>), while a store may hold the
   day printed on the pack, so days within one month are not told apart. Each expiry a
   recall gives a number is a key of its own, and a stored lot matches any of them (one
   recall may print one number with two expiries, D-1238-2014).
5. "All lots": every stored lot of each NDC of the recalled product.
6. A recalled product with no NDC is matched by its firm: a lot number alone is not unique
   across firms, but a firm's own lot numbers name its own lots. Its lots are looked for
   among the lots of the products whose manufacturer is the store organisation named as
   the recalling firm (names compared without case); this is how medsafe's own recalls of
   lots held in its store (codes that are no NDC) find them. Without such an organisation
   they are reported as unmatchable rather than guessed at, and "all lots" without an NDC
   matches nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeVar

from medsafe.errors import Invalid
from medsafe.interop.openfda.ndc import ndc10_candidates, normalise_ndc
from medsafe.recalls.model import RecallProduct, RecallRecord

K = TypeVar("K", bound=Hashable)

# A leading label: "LOT" or "BATCH" (and plurals) before a separator or a digit, with an
# optional "NO"/"NUMBER", or a lone '#'.
_LABEL = re.compile(
    r"^(?:(?:LOTS?|BATCH(?:ES)?)(?=[\s:#.\-\d])[\s:#.\-]*"
    r"(?:(?:NO|NUMBERS?|NUM)(?![A-Z0-9])[\s:#.\-]*)?|#[\s:]*)")
_NOT_KEPT = re.compile(r"[^0-9A-Z]")
_HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2212"


# -- keys ------------------------------------------------------------------------------------

def lot_key(number: str) -> str:
    """The form two lot numbers are compared in (rule 2). Empty when nothing is left."""
    text = unicodedata.normalize("NFKC", number).upper().strip()
    return _NOT_KEPT.sub("", _LABEL.sub("", text, count=1))


def same_expiry(recalled: date | None, stored: date | None) -> bool:
    """Whether two expiries allow the lots to be one (rule 4): yes when either is unknown,
    otherwise when they fall in the same month."""
    if recalled is None or stored is None:
        return True
    return (recalled.year, recalled.month) == (stored.year, stored.month)


def stored_ndcs(code: str) -> tuple[str, ...]:
    """The 11-digit NDCs a stored product code may stand for (rule 1): one, three for ten
    digits without hyphens, none for a code that is no NDC."""
    text = code.strip()
    if not any(h in text for h in _HYPHENS) and len(text) == 10 and text.isascii() \
            and text.isdigit():
        return ndc10_candidates(text)
    try:
        return (normalise_ndc(text),)
    except Invalid:
        return ()


def ndc_spellings(ndc11: str) -> tuple[str, ...]:
    """Every way a store may write this NDC as a product code: 5-4-2 with and without
    hyphens, and where a segment starts with the zero that pads it, the ten-digit
    configuration it came from (4-4-2, 5-3-2, 5-4-1) with and without hyphens. The inverse
    of `stored_ndcs`, for looking products up by code in SQL."""
    if len(ndc11) != 11 or not ndc11.isascii() or not ndc11.isdigit():
        raise Invalid(f"'{ndc11}' is not an NDC of 11 digits", where="ndc")
    labeler, product, package = ndc11[:5], ndc11[5:9], ndc11[9:]
    shapes = [(labeler, product, package)]
    if labeler[0] == "0":
        shapes.append((labeler[1:], product, package))
    if product[0] == "0":
        shapes.append((labeler, product[1:], package))
    if package[0] == "0":
        shapes.append((labeler, product, package[1:]))
    spellings = [form for parts in shapes for form in ("-".join(parts), "".join(parts))]
    return tuple(dict.fromkeys(spellings))


@dataclass(frozen=True, slots=True)
class LotKey:
    """One recalled lot under one NDC: the NDC, the lot's key, the number as the recall
    writes it, and its expiry if the recall gives one."""

    ndc: str
    key: str
    number: str
    expiry: date | None


@dataclass(frozen=True, slots=True)
class FirmLotKey:
    """One recalled lot of a product with no NDC (rule 6): the recalling firm's name as
    compared (case folded), the lot's key, the number as printed, its expiry."""

    firm: str
    key: str
    number: str
    expiry: date | None


@dataclass(frozen=True, slots=True)
class RecallKeys:
    """What a recall is matched by: its lots (each under its NDC), the NDCs whose every lot
    is recalled, the lots of products without an NDC (by firm), and the lot numbers that
    cannot be matched (nothing left of the number)."""

    lots: tuple[LotKey, ...] = ()
    all_lots: frozenset[str] = frozenset()
    unmatchable: tuple[str, ...] = ()
    firm_lots: tuple[FirmLotKey, ...] = ()

    @property
    def firms(self) -> frozenset[str]:
        """The firms whose products' lots are looked up by number."""
        return frozenset(lot.firm for lot in self.firm_lots)

    @property
    def ndcs(self) -> frozenset[str]:
        """Every NDC the stored products are looked up by."""
        return frozenset(lot.ndc for lot in self.lots) | self.all_lots

    def __add__(self, other: RecallKeys) -> RecallKeys:
        return RecallKeys(lots=tuple(dict.fromkeys(self.lots + other.lots)),
                          all_lots=self.all_lots | other.all_lots,
                          unmatchable=self.unmatchable + other.unmatchable,
                          firm_lots=tuple(dict.fromkeys(self.firm_lots + other.firm_lots)))


def product_keys(product: RecallProduct, firm: str | None = None) -> RecallKeys:
    """The keys of one recalled product (rules 3, 5 and 6); `firm` is the recalling firm's
    name, for the lots of a product without an NDC."""
    lots: list[LotKey] = []
    firm_lots: list[FirmLotKey] = []
    unmatchable: list[str] = []
    by_firm = firm.strip().casefold() if firm and firm.strip() else None
    for lot in product.lots:
        key = lot_key(lot.number)
        ndcs = (lot.ndc,) if lot.ndc is not None else product.ndcs
        if key and not ndcs and by_firm:
            firm_lots.append(FirmLotKey(firm=by_firm, key=key, number=lot.number,
                                        expiry=lot.expiry))
            continue
        if not key or not ndcs:
            unmatchable.append(lot.number)
            continue
        lots.extend(LotKey(ndc=ndc, key=key, number=lot.number, expiry=lot.expiry)
                    for ndc in ndcs)
    return RecallKeys(lots=tuple(dict.fromkeys(lots)),
                      all_lots=frozenset(product.ndcs) if product.all_lots else frozenset(),
                      unmatchable=tuple(unmatchable), firm_lots=tuple(firm_lots))


def recall_keys(recall: RecallRecord) -> RecallKeys:
    """The keys of every product of a recall."""
    keys = RecallKeys()
    for product in recall.products:
        keys = keys + product_keys(product, recall.firm.name)
    return keys


# -- the match -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredLot:
    """A lot of the store as the match reads it: ids, its product's code and name, its
    number and expiry as stored."""

    lot_id: int
    product_id: int
    product_code: str
    product_name: str
    lot_number: str
    expiry: date | None
    manufacturer: str | None = None  # the maker's name, for rule 6


@dataclass(frozen=True, slots=True)
class AffectedLot:
    """A stored lot a recall concerns, the NDC it was matched under (empty when matched
    by firm), and why: its lot number ("lot", with the number as the recall writes it),
    every lot of its NDC ("all lots"), or its number among the recalling firm's lots
    ("firm lot", rule 6)."""

    lot_id: int
    product_id: int
    ndc: str
    product_code: str
    product_name: str
    lot_number: str
    expiry: date | None
    by: Literal["lot", "all lots", "firm lot"]
    recalled_as: str | None = None


def match(keys: RecallKeys, stored: Iterable[StoredLot]) -> list[AffectedLot]:
    """The stored lots one recall concerns, in the order they come."""
    return match_many({0: keys}, stored).get(0, [])


def match_many(keys: Mapping[K, RecallKeys], stored: Iterable[StoredLot]
               ) -> dict[K, list[AffectedLot]]:
    """The stored lots each recall concerns (recalls that match nothing are left out). The
    keys of every recall are indexed once, so each stored lot is looked up once, whatever
    the number of recalls."""
    by_lot: dict[tuple[str, str], list[tuple[K, LotKey]]] = {}
    by_ndc: dict[str, list[K]] = {}
    by_firm: dict[tuple[str, str], list[tuple[K, FirmLotKey]]] = {}
    for name, recall in keys.items():
        for lot in recall.lots:
            by_lot.setdefault((lot.ndc, lot.key), []).append((name, lot))
        for ndc in recall.all_lots:
            by_ndc.setdefault(ndc, []).append(name)
        for firm_lot in recall.firm_lots:
            by_firm.setdefault((firm_lot.firm, firm_lot.key), []).append((name, firm_lot))
    found: dict[K, dict[int, AffectedLot]] = {}
    for row in stored:
        key = lot_key(row.lot_number)
        if row.manufacturer is not None:
            for name, firm_lot in by_firm.get((row.manufacturer.strip().casefold(), key), ()):
                if same_expiry(firm_lot.expiry, row.expiry):
                    found.setdefault(name, {}).setdefault(
                        row.lot_id, _affected(row, "", "firm lot", firm_lot.number))
        for ndc in stored_ndcs(row.product_code):
            for name in by_ndc.get(ndc, ()):
                found.setdefault(name, {}).setdefault(
                    row.lot_id, _affected(row, ndc, "all lots", None))
            for name, lot in by_lot.get((ndc, key), ()):
                if same_expiry(lot.expiry, row.expiry):
                    found.setdefault(name, {}).setdefault(
                        row.lot_id, _affected(row, ndc, "lot", lot.number))
    return {name: list(lots.values()) for name, lots in found.items()}


def _affected(row: StoredLot, ndc: str, by: Literal["lot", "all lots", "firm lot"],
              recalled_as: str | None) -> AffectedLot:
    return AffectedLot(lot_id=row.lot_id, product_id=row.product_id, ndc=ndc,
                       product_code=row.product_code, product_name=row.product_name,
                       lot_number=row.lot_number, expiry=row.expiry, by=by,
                       recalled_as=recalled_as)


# -- who is affected -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Holder:
    """A pharmacy or clinic with units of an affected lot on hand (quantity above zero)."""

    organisation_id: int
    name: str
    kind: str
    lot_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Recipient:
    """One dispensing of an affected lot: to whom, by which pharmacy, on whose
    prescription, when, how much."""

    patient_id: int
    pseudonym: str
    lot_id: int
    dispensed_on: date
    quantity: int
    pharmacy_id: int
    pharmacy_name: str
    prescriber_id: int | None
    prescriber_name: str | None


@dataclass(frozen=True, slots=True)
class Affected:
    """Everything one recall reaches in the store."""

    lots: tuple[AffectedLot, ...]
    holders: tuple[Holder, ...]
    recipients: tuple[Recipient, ...]

    @property
    def patient_ids(self) -> frozenset[int]:
        return frozenset(r.patient_id for r in self.recipients)

    @property
    def pharmacy_ids(self) -> frozenset[int]:
        """Who must be told: the pharmacies and clinics holding an affected lot, and those
        that dispensed one (their patients have it even when their shelves are empty)."""
        return (frozenset(h.organisation_id for h in self.holders)
                | frozenset(r.pharmacy_id for r in self.recipients))

    @property
    def prescriber_ids(self) -> frozenset[int]:
        return frozenset(r.prescriber_id for r in self.recipients
                         if r.prescriber_id is not None)


@dataclass(frozen=True, slots=True)
class Reach:
    """How far a recall (or several) reaches, counted: lots, organisations holding them,
    organisations that dispensed them, patients who received them."""

    lots: int
    holders: int
    dispensers: int
    patients: int
