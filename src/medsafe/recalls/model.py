"""The recall record (pure): what a recall is about and where it stands, after 21 CFR
Part 7 and the fields of FDA's enforcement report (openFDA drug enforcement schema,
../shared/reference/recall-and-cases.md §2).

One record per recall number. FDA gives each recalled product its own recall number
(D-0121-2021) and groups them by recall event (event_id); a medsafe recall may name
several products under one number, so `products` is a tuple (an openFDA record has one).

What the enforcement report does not carry is None here, never guessed: the recall
strategy of §7.42 (depth, public warning, effectiveness-check level) is FDA's and the
firm's working data and is not published in openFDA; a recall FDA has not classified yet
has no class. Nor does it carry the patient advice (`Hazard`): that is medsafe's, given
by the firm with the strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from medsafe.errors import Invalid
from medsafe.recalls.workflow import Initiative, RecallClass, RecallKind, RecallState

# The enums the workflow defines are part of the record too, and importable from here.
__all__ = [
    "Depth", "EffectivenessLevel", "Firm", "Hazard", "Initiative", "PatientAction",
    "PublicWarning", "RecallClass", "RecallDates", "RecallKind", "RecallLot", "RecallProduct",
    "RecallRecord", "RecallState"
]


class Depth(StrEnum):
    """How far down the distribution chain the recall goes (§7.42(b)(1))."""

    WHOLESALE = "wholesale"
    RETAIL = "retail"
    CONSUMER = "consumer"


class PublicWarning(StrEnum):
    """§7.42(b)(2): none, general (news media), or specialised (trade press, health
    professionals)."""

    NONE = "none"
    GENERAL = "general"
    SPECIALISED = "specialised"


class EffectivenessLevel(StrEnum):
    """§7.42(b)(3): share of consignees checked. A all, B more than 10% and fewer than
    all, C 10%, D 2%, E none."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


def _check_ndc(ndc: str, where: str) -> None:
    if len(ndc) != 11 or not ndc.isascii() or not ndc.isdigit():
        raise Invalid(f"'{ndc}' is not an NDC of 11 digits", where=where)


@dataclass(frozen=True, slots=True)
class RecallLot:
    """One recalled lot: its number, expiry date, and the product NDC it is a lot of
    (11 digits) when known."""

    number: str
    expiry: date | None = None
    ndc: str | None = None

    def __post_init__(self) -> None:
        if not self.number.strip():
            raise Invalid("a lot number cannot be empty", where="lot")
        if self.ndc is not None:
            _check_ndc(self.ndc, "lot.ndc")


@dataclass(frozen=True, slots=True)
class RecallProduct:
    """One recalled product: how the report describes it, its package NDCs (11 digits),
    the quantity as written, its lots, and whether every lot is recalled. `code_info`
    keeps the firm's own words about lots and dates, which the lots are read from."""

    description: str
    ndcs: tuple[str, ...] = ()
    quantity: str | None = None
    lots: tuple[RecallLot, ...] = ()
    all_lots: bool = False
    code_info: str | None = None

    def __post_init__(self) -> None:
        if not self.description.strip():
            raise Invalid("a product needs a description", where="product.description")
        for ndc in self.ndcs:
            _check_ndc(ndc, "product.ndcs")


@dataclass(frozen=True, slots=True)
class Firm:
    """The recalling firm and its address."""

    name: str
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise Invalid("the recalling firm needs a name", where="firm.name")


@dataclass(frozen=True, slots=True)
class RecallDates:
    """Initiation (the firm first told the public or consignees), FDA centre
    classification, report (FDA's enforcement report), termination."""

    initiated: date | None = None
    classified: date | None = None
    reported: date | None = None
    terminated: date | None = None


class PatientAction(StrEnum):
    """What the patient is told to do with the medicine itself.

    KEEP_TAKING is the default: a recalled lot is replaced or the patient switched by the
    prescriber or pharmacist, never stopped by the patient alone. STOP_NOW is for a hazard
    that is itself worse than stopping (contamination with a danger to life): it must be
    chosen explicitly, with the reason.
    """

    KEEP_TAKING = "keep_taking"
    STOP_NOW = "stop_now"


@dataclass(frozen=True, slots=True)
class Hazard:
    """What the patient notices say about the hazard beyond the recall's reason: the
patient advice the firm gives with its strategy (issue 6 §3).

    `stop_reason` is required with STOP_NOW and names the danger that makes stopping the
    right advice. `plain_words` is the problem in words a patient follows, written by the
    firm or the pharmacist; without them the patient notice quotes the recall's reason.
    """

    action: PatientAction = PatientAction.KEEP_TAKING
    stop_reason: str | None = None
    plain_words: str | None = None

    def __post_init__(self) -> None:
        if self.action is PatientAction.STOP_NOW and not (self.stop_reason or "").strip():
            raise Invalid("telling patients to stop needs the reason the hazard gives",
                          where="hazard.stop_reason")
        if self.action is PatientAction.KEEP_TAKING and self.stop_reason is not None:
            raise Invalid("a stop reason only goes with the action stop_now",
                          where="hazard.stop_reason")
        if self.plain_words is not None and not self.plain_words.strip():
            raise Invalid("plain words, when given, cannot be empty", where="hazard.plain_words")

    @property
    def stop(self) -> bool:
        return self.action is PatientAction.STOP_NOW


@dataclass(frozen=True, slots=True)
class RecallRecord:
    """A recall: identity, kind and state, class, reason, products and lots, the firm,
    who started it, how it was announced, its strategy, its dates, and the patient advice
    its hazard calls for."""

    recall_number: str | None
    event_id: str | None
    kind: RecallKind
    state: RecallState
    classification: RecallClass | None
    reason: str
    reason_category: str | None
    products: tuple[RecallProduct, ...]
    firm: Firm
    initiative: Initiative = Initiative.UNKNOWN
    distribution_pattern: str | None = None
    initial_notification: str | None = None
    depth: Depth | None = None
    public_warning: PublicWarning | None = None
    effectiveness_check: EffectivenessLevel | None = None
    dates: RecallDates = field(default_factory=RecallDates)
    # The patient advice of the strategy; None until the firm gives one (openFDA carries
    # none), and then the notices give the default, `Hazard()`: keep taking it.
    hazard: Hazard | None = None

    def __post_init__(self) -> None:
        if not self.products:
            raise Invalid("a recall names at least one product", where="products")
        if not self.reason.strip():
            raise Invalid("a recall needs a reason", where="reason")
        if self.kind is RecallKind.MARKET_WITHDRAWAL and self.classification is not None:
            raise Invalid("a market withdrawal is not a recall and gets no class (§7.3)",
                          where="classification")

    @property
    def ndcs(self) -> tuple[str, ...]:
        """Every package NDC of every product, in order, once each."""
        return tuple(dict.fromkeys(ndc for product in self.products for ndc in product.ndcs))
