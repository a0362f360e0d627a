"""Real NDC product codes and lot numbers of muscle relaxants, taken from FDA recalls.

Source: the openFDA drug enforcement bulk export `drug-enforcement-0001-of-0001.json.zip`
(12,504 recall records, `meta.last_updated` 2021-04-28, SHA-256 2ee8b9b0…ac12b73), public
domain under CC0; provenance in `../shared/data/fda-enforcement/SOURCE.md`. The 97-record
sample next to it (`drug-enforcement-sample.json`) holds no muscle relaxant, so every entry
below comes from the full export. Each entry names the `recall_number` it came from: the NDC
and product are copied from `product_description`, the lot and expiry from `code_info`.
An expiry printed as a month ("Exp 6/20") is stored as the last day of that month.

What the export holds, searched in `product_description` for each ingredient:

- baclofen: no oral tablet or solution recall. Only compounded intrathecal mixtures, bulk
  powders for compounding, and one finished product: Gablofen intrathecal 50 mcg/mL
  (D-1742-2019), listed here.
- tizanidine, cyclobenzaprine, methocarbamol, carisoprodol: finished tablets with NDC and
  lot (listed). Records without a lot ("Pedigree" codes of a repackager, "All lots") are
  left out.
- diazepam: injections, a rectal gel and compounded products; no tablet. One injection
  recall is listed; the knowledge base has no diazepam injection, so the generator keeps it
  as a catalogue product only.
- dantrolene: bulk active ingredient only (no NDC, no lot) – nothing usable.
- botulinum toxin A: no recall in the export.

Where no real product exists (oral baclofen, dantrolene capsules, botulinum toxin, and the
oral strengths not recalled) the generator uses synthetic product codes with code system
"other" and the prefix "SYN-", never NDC-shaped codes: the obvious fake labeler 99999 is
not safe, because compounding pharmacies print "NDC 99999-…" placeholders on real products
(27 records of 6 firms in this same export, e.g. D-1447-2016), so a later recall import
could match a synthetic product against a real recall.

These lots expired between 2015 and 2021, before the population's two-year dispensing
window, so the synthetic population never dispenses them: they are catalogue entries that a
recall import can match by NDC and lot number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

SOURCE_FILE = "drug-enforcement-0001-of-0001.json.zip"
SOURCE_SHA256 = "2ee8b9b03461b17c3d761a63386be471fb1570988517415f9c4f32185ac12b73"


@dataclass(frozen=True, slots=True)
class RealLot:
    """One recalled lot of one real product, as the enforcement record prints it."""

    recall_number: str
    classification: str
    recalling_firm: str  # verbatim from the record
    labeler: str  # the firm the NDC labeler code belongs to, as the record names it
    ingredient_id: str  # medsafe knowledge-base id
    ndc: str  # package NDC as printed
    product: str
    strength: str
    form: str
    route: str
    lot_number: str
    expiry: date | None
    reason: str  # the FDA category that opens `reason_for_recall`


def _lot(recall: tuple[str, str, str, str], ingredient_id: str, ndc: str,
         product: tuple[str, str, str, str], lot_number: str, expiry: date | None,
         reason: str) -> RealLot:
    recall_number, classification, firm, labeler = recall
    name, strength, form, route = product
    return RealLot(recall_number=recall_number, classification=classification,
                   recalling_firm=firm, labeler=labeler, ingredient_id=ingredient_id, ndc=ndc,
                   product=name, strength=strength, form=form, route=route,
                   lot_number=lot_number, expiry=expiry, reason=reason)


_GABLOFEN = ("D-1742-2019", "Class II", "Piramal Critical Care, Inc.",
             "Piramal Critical Care, Inc.")
_GABLOFEN_PRODUCT = ("Gablofen (baclofen injection) 50 mcg/mL single-use syringe",
                     "50 mcg/mL", "injection (intrathecal)", "intrathecal")
_ASCEND = ("D-0173-2021", "Class II", "Ascend Laboratories LLC", "Ascend Laboratories, LLC")
_REDDY_2018 = ("D-1191-2018", "Class II", "Dr. Reddy's Laboratories, Inc.",
               "Dr. Reddy's Laboratories")
_REDDY_2013 = ("D-238-2013", "Class III", "Dr. Reddy'S Laboratories",
               "Dr. Reddy's Laboratories")
_TIZANIDINE_4 = ("Tizanidine tablets USP 4 mg, 150-count bottle", "4 mg", "tablet", "oral")
_APACE = ("D-1036-2017", "Class II", "Apace KY LLC", "AvKARE Inc")
_ENDO = ("D-0009-2019", "Class I", "Endo Pharmaceuticals, Inc.", "Endo Pharmaceuticals Inc.")
_ROBAXIN = ("Robaxin-750 (methocarbamol tablets USP) 750 mg, 100-count bottle", "750 mg",
            "tablet", "oral")
_GSMS = ("D-1426-2015", "Class III", "Golden State Medical Supply Inc.",
         "GSMS Incorporated")
_WATSON = ("D-397-2014", "Class II", "Watson Laboratories Inc", "Watson Pharma Ltd")
_WEST_WARD = ("D-150-2013", "Class II", "West-ward Pharmaceutical Corp.",
              "West-ward Pharmaceutical Corp.")
_CARISOPRODOL_WW = ("Carisoprodol tablets USP 350 mg, 500-count bottle", "350 mg", "tablet",
                    "oral")
_HOSPIRA = ("D-1359-2016", "Class II", "Hospira Inc.", "Hospira Inc.")
_DIAZEPAM_INJECTION = ("Diazepam injection USP 10 mg/2 mL (5 mg/mL, 2 mL)", "5 mg/mL",
                       "injection", "intravenous")

REAL_LOTS: tuple[RealLot, ...] = (
    _lot(_GABLOFEN, "baclofen", "66794-151-01", _GABLOFEN_PRODUCT, "2155-111",
         date(2020, 6, 30), "Failed Impurities/Degradation Specification"),
    _lot(_GABLOFEN, "baclofen", "66794-151-01", _GABLOFEN_PRODUCT, "2155-111A",
         date(2020, 6, 30), "Failed Impurities/Degradation Specification"),
    _lot(_ASCEND, "tizanidine", "67877-614-15",
         ("Tizanidine tablets USP 4 mg, 150-count bottle", "4 mg", "tablet", "oral"),
         "19143017", date(2021, 5, 31), "Failed Dissolution Specifications"),
    _lot(_REDDY_2018, "tizanidine", "55111-179-15",
         ("Tizanidine HCl tablets USP 2 mg, 150-count bottle", "2 mg", "tablet", "oral"),
         "T800304", date(2021, 3, 31), "Presence of Foreign Tablets/Capsules"),
    *(_lot(_REDDY_2013, "tizanidine", "55111-180-15", _TIZANIDINE_4, lot,
           date(2015, 9, 30), "Labeling Illegible")
      for lot in ("C208625", "C208984", "C209113", "C209369")),
    _lot(_REDDY_2013, "tizanidine", "55111-180-15", _TIZANIDINE_4, "C209680",
         date(2015, 10, 31), "Labeling Illegible"),
    _lot(_APACE, "cyclobenzaprine", "50268-0190-15",
         ("Cyclobenzaprine HCl tablets USP 5 mg, 50 unit-dose tablets", "5 mg", "tablet",
          "oral"),
         "16710", date(2018, 7, 31), "Labeling"),
    _lot(_ENDO, "methocarbamol", "52244-449-10", _ROBAXIN, "216702P1", date(2020, 9, 30),
         "Labeling: Incorrect Instructions"),
    _lot(_ENDO, "methocarbamol", "52244-449-10", _ROBAXIN, "220409P1", date(2021, 1, 31),
         "Labeling: Incorrect Instructions"),
    _lot(_GSMS, "methocarbamol", "60429-118-05",
         ("Methocarbamol tablets USP 500 mg, 500-count bottle", "500 mg", "tablet", "oral"),
         "GS007849", date(2017, 2, 28), "Presence of Foreign Substance"),
    _lot(_WATSON, "carisoprodol", "0591-5513-05",
         ("Carisoprodol tablets USP 350 mg, 500-count bottle", "350 mg", "tablet", "oral"),
         "244152A", date(2015, 1, 31), "Presence of Foreign Substance"),
    *(_lot(_WEST_WARD, "carisoprodol", "0143-1176-05", _CARISOPRODOL_WW, lot,
           date(2015, 10, 31), "Presence of Foreign Substance")
      for lot in ("69364A", "69365A", "69365B")),
    _lot(_HOSPIRA, "diazepam", "0409-1273-32", _DIAZEPAM_INJECTION, "52610LL",
         date(2016, 10, 1), "Crystallization"),
    _lot(_HOSPIRA, "diazepam", "0409-1273-32", _DIAZEPAM_INJECTION, "57660LL",
         date(2017, 3, 1), "Crystallization"),
)
"""Every real lot, grouped by product (NDC) in recall order."""


def real_products() -> dict[str, tuple[RealLot, ...]]:
    """The real lots grouped by package NDC, in first-seen order."""
    products: dict[str, list[RealLot]] = {}
    for lot in REAL_LOTS:
        products.setdefault(lot.ndc, []).append(lot)
    return {ndc: tuple(lots) for ndc, lots in products.items()}
