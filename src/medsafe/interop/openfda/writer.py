"""medsafe's recalls as openFDA drug enforcement JSON: the same envelope (`meta`,
`results`) and field names as FDA's export, so tools that read openFDA read ours.

One result per product (FDA gives each product its own recall number; a medsafe recall
with several products gives several results under its number and event). The mapping is
the reader's (`reader`) turned around:
- state -> status: INITIATED -> "Pending" (a recall not yet classified); CLASSIFIED,
  STRATEGY_SET, PUBLISHED, NOTIFYING and IN_PROGRESS -> "Ongoing" (the export's spelling);
  COMPLETED and TERMINATION_REQUESTED -> "Completed" (FDA has not terminated it yet);
  TERMINATED -> "Terminated". DETECTED and TRIAGED are not recalls yet, and a market
  withdrawal or stock recovery is not a recall (§7.3) and is not in FDA's enforcement
  report: exporting one raises `Invalid`.
- class None -> "Not Yet Classified"; initiative -> "Voluntary: Firm initiated",
  "Voluntary: FDA Requested", "FDA Mandated", or "" when unknown.
- dates -> YYYYMMDD; a missing center_classification_date or termination_date is left
  out (as FDA's export does), other missing text is "".
- reason_for_recall: the reason, with the category in front ("Category: reason") when the
  reason does not already start with it.
- code_info: the firm's own text when the product has it; otherwise written from the lots
  ("All lots" and/or "NDC 12345-6789-01 Lot A1, Exp 06/30/2022; Lot A2").
- openfda: {"package_ndc": [...], "product_ndc": [...]} from the product's NDCs (5-4-2
  and 5-4 with hyphens), or {} when it has none. openFDA fills the rest of that block
  (brand and generic names, RxCUI, SPL ids) from its own SPL harmonisation; medsafe does
  not have those facts and does not invent them.
Depth, public warning and effectiveness-check level have no openFDA field and are not
written. `meta` carries `last_updated` and the counts, and no disclaimer, terms or licence
of FDA's: this is medsafe's data, not FDA's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from medsafe.errors import Invalid
from medsafe.interop.openfda.ndc import format_ndc
from medsafe.recalls.model import Initiative, RecallClass, RecallLot, RecallProduct, RecallRecord
from medsafe.recalls.workflow import RecallKind, RecallState

STATUS = {RecallState.INITIATED: "Pending", RecallState.CLASSIFIED: "Ongoing",
          RecallState.STRATEGY_SET: "Ongoing", RecallState.PUBLISHED: "Ongoing",
          RecallState.NOTIFYING: "Ongoing", RecallState.IN_PROGRESS: "Ongoing",
          RecallState.COMPLETED: "Completed",
          RecallState.TERMINATION_REQUESTED: "Completed",
          RecallState.TERMINATED: "Terminated"}
CLASSIFICATION = {RecallClass.I: "Class I", RecallClass.II: "Class II",
                  RecallClass.III: "Class III", None: "Not Yet Classified"}
VOLUNTARY_MANDATED = {Initiative.FIRM_INITIATED: "Voluntary: Firm initiated",
                      Initiative.FDA_REQUESTED: "Voluntary: FDA Requested",
                      Initiative.FDA_MANDATED: "FDA Mandated", Initiative.UNKNOWN: ""}
EXPORTED_KINDS = (RecallKind.RECALL, RecallKind.CORRECTION)


def enforcement_document(records: Iterable[RecallRecord], *,
                         last_updated: date) -> dict[str, Any]:
    """The whole openFDA-shaped document for `records`."""
    results = [result for record in records for result in openfda_results(record)]
    return {"meta": {"last_updated": last_updated.isoformat(),
                     "results": {"skip": 0, "limit": len(results), "total": len(results)}},
            "results": results}


def dump_enforcement(records: Iterable[RecallRecord], *, last_updated: date) -> bytes:
    """The document as UTF-8 JSON bytes, ready to be written to a file."""
    document = enforcement_document(records, last_updated=last_updated)
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def openfda_results(record: RecallRecord) -> list[dict[str, Any]]:
    """One openFDA result per product of `record`."""
    where = f"recall {record.recall_number or '(no number)'}"
    if record.kind not in EXPORTED_KINDS:
        raise Invalid(f"a {record.kind.value.replace('_', ' ')} is not a recall and is not "
                      "in FDA's enforcement report", where=where)
    if record.state not in STATUS:
        raise Invalid(f"a recall in state '{record.state.value}' has not been initiated "
                      "yet and is not exported", where=where)
    return [_result(record, product) for product in record.products]


def _result(record: RecallRecord, product: RecallProduct) -> dict[str, Any]:
    firm, dates = record.firm, record.dates
    result: dict[str, Any] = {
        "recall_number": record.recall_number or "",
        "event_id": record.event_id or "",
        "status": STATUS[record.state],
        "classification": CLASSIFICATION[record.classification],
        "product_type": "Drugs",
        "voluntary_mandated": VOLUNTARY_MANDATED[record.initiative],
        "initial_firm_notification": record.initial_notification or "",
        "recalling_firm": firm.name,
        "address_1": firm.address_1 or "",
        "address_2": firm.address_2 or "",
        "city": firm.city or "",
        "state": firm.state or "",
        "postal_code": firm.postal_code or "",
        "country": firm.country or "",
        "product_description": product.description,
        "product_quantity": product.quantity or "",
        "code_info": product.code_info if product.code_info is not None
        else _code_info(product),
        "reason_for_recall": _reason(record),
        "distribution_pattern": record.distribution_pattern or "",
        "recall_initiation_date": _yyyymmdd(dates.initiated),
        "report_date": _yyyymmdd(dates.reported),
        "openfda": _openfda(product),
    }
    if dates.classified is not None:
        result["center_classification_date"] = _yyyymmdd(dates.classified)
    if dates.terminated is not None:
        result["termination_date"] = _yyyymmdd(dates.terminated)
    return result


def _reason(record: RecallRecord) -> str:
    category = record.reason_category
    if category is None or record.reason.startswith(category):
        return record.reason
    return f"{category}: {record.reason}"


def _code_info(product: RecallProduct) -> str:
    parts = ["All lots"] if product.all_lots else []
    groups: dict[str | None, list[RecallLot]] = {}
    for lot in product.lots:
        groups.setdefault(lot.ndc, []).append(lot)
    for ndc, lots in groups.items():
        listed = "; ".join(_lot_text(lot) for lot in lots)
        parts.append(f"NDC {format_ndc(ndc)} {listed}" if ndc is not None else listed)
    return "; ".join(parts)


def _lot_text(lot: RecallLot) -> str:
    if lot.expiry is None:
        return f"Lot {lot.number}"
    return f"Lot {lot.number}, Exp {lot.expiry:%m/%d/%Y}"


def _openfda(product: RecallProduct) -> dict[str, list[str]]:
    if not product.ndcs:
        return {}
    packages = [format_ndc(ndc) for ndc in product.ndcs]
    products = list(dict.fromkeys(package[:10] for package in packages))
    return {"package_ndc": packages, "product_ndc": products}


def _yyyymmdd(day: date | None) -> str:
    return "" if day is None else f"{day:%Y%m%d}"
