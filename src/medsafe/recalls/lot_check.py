"""Is this lot under an open recall? The question the dispensing block
(`supply.dispensing`) and the scan check (`POST /api/v1/scans`) both ask, answered once.

Open: a recall or a correction (§7.3(g): "removal or correction") that is not yet
completed, termination requested or terminated. From its detection on, a recall of a lot
blocks it: a firm that has found the defect has found it, and missing a recalled lot is
the worse mistake (`recalls.matching`). A market withdrawal does not block: it is not a
recall (§7.3(j): a minor violation FDA would not act on, or none, such as stock rotation),
and its life ends at triage (`recalls.workflow`), so nothing would ever lift a block it
set; a stock recovery never left the firm (§7.3(k)), so no pharmacy holds it.

A lot is covered by the matching rules of `recalls.matching`, applied to this one lot:
its product's NDC however the store writes it (or the NDC inside its GTIN), the lot number
compared by `lot_key`, the expiry only when both sides know it, "all lots" of an NDC, and
for a recalled product without an NDC its firm's own lots (rule 6: the recalling firm is
the lot's product's manufacturer).
The SQL (`RecallRepository.covering`) only finds candidates by lot key and NDC; the pure
match decides, so the block, the scan and the notices never disagree about a lot.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from medsafe.errors import Invalid
from medsafe.interop.gs1 import GS, parse_element_string
from medsafe.interop.openfda.ndc import format_ndc, ndc_from_gtin
from medsafe.recalls.matching import StoredLot, lot_key, match_many, recall_keys, stored_ndcs
from medsafe.recalls.workflow import RecallKind, RecallState
from medsafe.records import Input, View, check_text, now, require_role
from medsafe.security.principal import Principal
from medsafe.store.uow import UnitOfWork

BLOCKING_KINDS = (RecallKind.RECALL, RecallKind.CORRECTION)
CLOSED_STATES = (RecallState.COMPLETED, RecallState.TERMINATION_REQUESTED,
                 RecallState.TERMINATED)
OPEN_STATES = tuple(state for state in RecallState if state not in CLOSED_STATES)
SCANNERS = ("admin", "regulator", "manufacturer", "pharmacist", "physician", "patient")


class CoveringRecall(View):
    """An open recall that covers a lot, and how: by its lot number under an NDC ("lot"),
    because every lot of the NDC is recalled ("all lots"), or by its number among the
    recalling firm's own lots ("firm lot")."""

    recall_id: int
    recall_number: str
    kind: str
    state: str
    classification: str | None
    reason: str
    firm: str
    matched_by: str


def ndc_code(code_system: str, code: str) -> str | None:
    """A product code as `matching.stored_ndcs` reads it: an NDC as the store writes it,
    the ten NDC digits inside an NDC-based GTIN, or None (no NDC: no recall can name
    it)."""
    if code_system == "ndc":
        return code
    if code_system == "gtin":
        try:
            return ndc_from_gtin(code)
        except Invalid:
            return None
    return None


def covering_recalls(uow: UnitOfWork, code: str | None, lot_number: str,
                     expiry: date | None, manufacturer: str | None = None
                     ) -> list[CoveringRecall]:
    """The open recalls that cover this lot, oldest first. `code`: its product's code as
    `ndc_code` gives it (None: no NDC); `manufacturer`: the name of its product's maker,
    for the recalls of products without an NDC, which name their lots by firm
    (`matching` rule 6)."""
    key = lot_key(lot_number)
    rows = uow.recalls.covering(() if code is None else stored_ndcs(code), key,
                                kinds=[k.value for k in BLOCKING_KINDS],
                                states=[s.value for s in OPEN_STATES])
    if not rows:
        return []
    records = uow.recalls.records(rows)
    the_lot = StoredLot(lot_id=0, product_id=0, product_code=code or "", product_name="",
                        lot_number=lot_number, expiry=expiry, manufacturer=manufacturer)
    found = match_many({row.id: recall_keys(records[row.id]) for row in rows}, [the_lot])
    return [CoveringRecall(recall_id=row.id, recall_number=row.recall_number or f"#{row.id}",
                           kind=row.kind, state=row.state, classification=row.classification,
                           reason=row.reason, firm=row.firm_name,
                           matched_by=found[row.id][0].by)
            for row in rows if row.id in found]


def named(recalls: list[CoveringRecall]) -> str:
    """"recall MS-0001-2026 (Class II)" or "recalls A (Class I) and B (not classified)"."""
    parts = [f"{r.recall_number} ("
             + (f"Class {r.classification}" if r.classification else "not classified yet")
             + ")" for r in recalls]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"recall{'s' if len(parts) > 1 else ''} {listed}"


# -- the scan check ----------------------------------------------------------------------------

class NewScan(Input):
    element_string: str = Field(
        min_length=1, max_length=200,
        description="a GS1 element string as a scanner sends it (group separator, "
                    "U+001D, after a variable field) or as printed: (01)…(17)…(10)…")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        # The group separator is the FNC1 a scanner sends between fields: the one control
        # character an element string carries.
        if isinstance(value, str):
            check_text(value.replace(GS, ""))
        return value


class ScanCheck(View):
    gtin: str
    ndc: str | None  # the GTIN's ten NDC digits, unsegmented (their 5-4-2 is ambiguous)
    lot: str
    expiry: date | None
    serial: str | None
    product: str | None  # the store's name for a product with this NDC, if it has one
    checked: bool  # False: the GTIN carries no NDC, so no recall can be matched
    recalled: bool
    expired: bool
    recalls: list[CoveringRecall]
    advice: list[str]


def check_scan(uow: UnitOfWork, principal: Principal, scan: NewScan, *,
               today: date | None = None) -> ScanCheck:
    """Whether a scanned pack is under an open recall (and whether it has expired), with
    what to do. Invalid for a scan that cannot be read, or that has no lot."""
    require_role(principal, SCANNERS, "check a scanned pack")
    day = today or now().date()
    pack = parse_element_string(scan.element_string, today=day)
    if pack.lot is None:
        raise Invalid("the scan has no lot number, AI (10): recalls name lots, so a pack is "
                      "checked by its lot", where="AI (10)")
    try:
        ndc: str | None = ndc_from_gtin(pack.gtin)
    except Invalid:
        ndc = None
    recalls = covering_recalls(uow, ndc, pack.lot, pack.expiry)
    expired = pack.expiry is not None and pack.expiry < day
    product = None
    if ndc is not None:
        names = sorted({lot.product_name for lot in uow.affected.stored_lots(stored_ndcs(ndc))})
        product = names[0] if names else None
    return ScanCheck(gtin=pack.gtin, ndc=ndc, lot=pack.lot, expiry=pack.expiry,
                     serial=pack.serial, product=product, checked=ndc is not None,
                     recalled=bool(recalls), expired=expired, recalls=recalls,
                     advice=_advice(principal, pack.gtin, ndc, pack.lot, pack.expiry,
                                    recalls, expired))


def _advice(principal: Principal, gtin: str, ndc: str | None, lot: str, expiry: date | None,
            recalls: list[CoveringRecall], expired: bool) -> list[str]:
    patient = principal.role == "patient"
    advice: list[str] = []
    if recalls:
        if patient:
            # Never "just stop" (docs/recall-notices.md): the patient is sent to the
            # pharmacy, and keeps taking the medicine until switched.
            advice.append(f"This pack is from a batch under {named(recalls)}. Keep taking "
                          "your medicine unless your doctor or pharmacist tells you "
                          "otherwise, and call your pharmacy: they will give you a new "
                          "supply or a new medicine.")
        else:
            advice.append(f"Do not dispense or use this pack: lot {lot} is under "
                          f"{named(recalls)}. Quarantine it and follow the recall notice; "
                          "medsafe refuses this lot at dispensing.")
    if expired and expiry is not None:
        advice.append(f"This pack expired on {expiry.isoformat()}: "
                      + ("take it back to your pharmacy." if patient
                         else "do not dispense it."))
    if ndc is None:
        advice.append(f"GTIN {gtin} carries no NDC, and recalls are matched by NDC: this "
                      "pack could not be checked against recalls.")
    elif not recalls:
        readings = " or ".join(format_ndc(n) for n in stored_ndcs(ndc))
        advice.append(f"No open recall covers lot {lot} of this product (the GTIN's NDC "
                      f"digits {ndc}, read as {readings}).")
    return advice
