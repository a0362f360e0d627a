"""Real NDC product codes and lot numbers of muscle relaxants, taken from FDA recalls:
read from `data/recalled-lots/recalled-lots.json`, whose SOURCE.md says which records of
the openFDA drug enforcement export (12,504 records, 2021-04-28, public domain under CC0)
they come from and how they were picked.

What the export holds, searched in `product_description` for each ingredient:

- baclofen: no oral tablet or solution recall. Only compounded intrathecal mixtures, bulk
  powders for compounding, and one finished product: Gablofen intrathecal 50 mcg/mL
  (D-1742-2019), listed here.
- tizanidine, methocarbamol, carisoprodol: finished tablets with NDC and lot (listed where
  the record also has a structured NDC). Records without a lot ("Pedigree" codes of a
  repackager, "All lots") are left out.
- diazepam: injections, a rectal gel and compounded products; no tablet. One injection
  recall is listed; the knowledge base has no diazepam injection, so the generator keeps
  it as a catalogue product only.
- dantrolene: bulk active ingredient and an injection only – nothing the patients take.
- botulinum toxin A: no recall in the export.

Where no real product exists (oral baclofen, dantrolene capsules, botulinum toxin, and the
oral strengths not recalled) the generator uses synthetic product codes with code system
"other" and the prefix "SYN-", never NDC-shaped codes: the obvious fake labeler 99999 is
not safe, because compounding pharmacies print "NDC 99999-…" placeholders on real products
(27 records of 6 firms in this same export, e.g. D-1447-2016), so a recall import could
match a synthetic product against a real recall.

Which real lots the population dispenses is the generator's business (`generator.py`):
those of a product with a synthetic twin of the same ingredient, strength, form and route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = (Path(__file__).resolve().parents[3] / "data" / "recalled-lots"
             / "recalled-lots.json")
SOURCE_FILE = "drug-enforcement-0001-of-0001.json.zip"
SOURCE_SHA256 = "2ee8b9b03461b17c3d761a63386be471fb1570988517415f9c4f32185ac12b73"


@dataclass(frozen=True, slots=True)
class RealLot:
    """One recalled lot of one real product, as the enforcement record prints it."""

    recall_number: str
    classification: str
    recalling_firm: str  # verbatim from the record
    labeler: str  # the firm the label names as labeler or distributor
    ingredient_id: str  # medsafe knowledge-base id
    ndc: str  # package NDC as printed
    product: str
    strength: str
    form: str
    route: str
    lot_number: str
    expiry: date | None
    reason: str  # the FDA category that opens `reason_for_recall`


@cache
def real_lots() -> tuple[RealLot, ...]:
    """Every real lot, product by product in the file's order."""
    try:
        document = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{DATA_FILE} is missing: the synthetic population lists the real recalled "
            "lots it holds, and runs from a checkout of medsafe with its data/ folder"
        ) from None
    return tuple(lot for entry in document["products"] for lot in _lots(entry))


def _lots(entry: dict[str, Any]) -> list[RealLot]:
    return [RealLot(recall_number=entry["recall_number"],
                    classification=entry["classification"],
                    recalling_firm=entry["recalling_firm"], labeler=entry["labeler"],
                    ingredient_id=entry["ingredient_id"], ndc=entry["ndc"],
                    product=entry["name"], strength=entry["strength"], form=entry["form"],
                    route=entry["route"], lot_number=lot["number"],
                    expiry=date.fromisoformat(lot["expiry"]) if lot["expiry"] else None,
                    reason=entry["reason"])
            for lot in entry["lots"]]


def real_products() -> dict[str, tuple[RealLot, ...]]:
    """The real lots grouped by package NDC, in first-seen order."""
    products: dict[str, list[RealLot]] = {}
    for lot in real_lots():
        products.setdefault(lot.ndc, []).append(lot)
    return {ndc: tuple(lots) for ndc, lots in products.items()}
