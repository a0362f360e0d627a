"""The openFDA enforcement import on the real export: reading time, the free-text NDC
parser against openFDA's structured NDCs, what the lot parser finds, and samples for a
person to check. Prints figures; asserts nothing. Figures and verdicts are in
docs/recalls-openfda.md.

Reads ../shared/data/fda-enforcement/drug-enforcement-0001-of-0001.json.zip (12,504
records); says so and stops where it is absent.

The NDC measure. The reference is the `openfda` block, filled on 2,192 records. Per
record, P is the set of NDCs `find_ndcs` reads from product_description and code_info
(11 digits), S_pkg the block's package_ndc values that normalise to 11 digits and S_prod
the block's product NDCs (product_ndc, and the first nine digits of S_pkg).
- A parsed NDC is correct when it is in S_pkg, or its product (labeler and product, the
  first nine of its 11 digits) is in S_prod: the block lists every package of the SPL
  that openFDA matched, so a package the block lacks but whose product it lists is the
  same product. precision = correct parsed / all parsed.
- recall, three ways: per record (records where at least one parsed NDC is correct);
  per product (S_prod products found among the parsed NDCs' products, which understates
  because the block adds sibling products of the SPL that the text never names); and per
  printed NDC (block package NDCs printed verbatim in the text, the ones openFDA's own
  extractor took from it, found by the parser).
Caveat: openFDA builds the block from NDC-shaped strings of the same text
(FDA/openfda openfda/res/extract.py, annotate.py), so the measure says how well the
parser agrees with openFDA's extraction plus SPL lookup on records where that lookup
succeeded; it is no independent truth. The printed samples are the independent check.

Also: reading time of the whole file, the read -> write -> read round trip over it,
`ndc_from_gtin` against the block's `upc` values, lot counts, the mapping's counts.

    uv run python -m benchmarks.eval_openfda_parser [--sample 30] [--seed 2021] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import statistics
import time
import zipfile
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from medsafe.errors import Invalid
from medsafe.interop.openfda.lots import parse_code_info
from medsafe.interop.openfda.ndc import (
    find_ndcs,
    format_ndc,
    ndc10_candidates,
    ndc_from_gtin,
    normalise_ndc,
    normalise_product_ndc,
    product_of,
)
from medsafe.interop.openfda.reader import read_recalls
from medsafe.interop.openfda.writer import dump_enforcement
from medsafe.recalls.model import RecallRecord

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT.parent / "shared" / "data" / "fda-enforcement" / \
    "drug-enforcement-0001-of-0001.json.zip"
NDC_SHAPED = re.compile(r"\d{4,6}-\d{3,4}-\d{1,3}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not EXPORT.exists():
        print(f"skipped: {EXPORT} is absent (the openFDA export, see its SOURCE.md)")
        return

    seconds: list[float] = []
    cpu: list[float] = []
    records: tuple[RecallRecord, ...] = ()
    for _ in range(args.runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        records = read_recalls(EXPORT).records
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(f"read_recalls: {len(records)} records, {EXPORT.stat().st_size:,} bytes zipped; "
          f"wall best {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s; "
          f"CPU best {min(cpu):.2f} s; {args.runs} runs "
          f"(load average {os.getloadavg()[0]:.1f})")

    started = time.perf_counter()
    written = dump_enforcement(records, last_updated=date(2021, 4, 28))
    back = read_recalls(written).records
    same = sum(1 for a, b in zip(records, back, strict=True) if a == b)
    print(f"round trip read -> write -> read: {same}/{len(records)} records identical; "
          f"{len(written):,} bytes written; {time.perf_counter() - started:.2f} s")

    raw = raw_results()
    print()
    ndc_figures(raw)
    print()
    gtin_figures(raw)
    print()
    lot_figures(records)
    print()
    mapping_figures(records)
    rng = random.Random(args.seed)
    print()
    ndc_sample(raw, rng, args.sample)
    print()
    lot_sample(raw, records, rng, args.sample)


def raw_results() -> list[dict[str, Any]]:
    with zipfile.ZipFile(EXPORT) as archive:
        name = archive.namelist()[0]
        results: list[dict[str, Any]] = json.load(io.TextIOWrapper(
            archive.open(name), encoding="utf-8"))["results"]
    return results


def free_text(result: dict[str, Any]) -> str:
    return "\n".join(part for part in (result.get("product_description"),
                                       result.get("code_info"),
                                       result.get("more_code_info")) if part)


def structured(result: dict[str, Any]) -> tuple[set[str], set[str], list[str]]:
    """(S_pkg, S_prod, package values that do not normalise)."""
    block = result.get("openfda") or {}
    packages: set[str] = set()
    products: set[str] = set()
    odd: list[str] = []
    for value in block.get("package_ndc", []):
        try:
            packages.add(normalise_ndc(value))
        except Invalid:
            odd.append(value)
    for value in block.get("product_ndc", []):
        try:
            products.add(normalise_product_ndc(value))
        except Invalid:
            odd.append(value)
    products |= {product_of(ndc) for ndc in packages}
    return packages, products, odd


def ndc_figures(raw: list[dict[str, Any]]) -> None:
    with_block = [r for r in raw if (r.get("openfda") or {}).get("package_ndc")
                  or (r.get("openfda") or {}).get("product_ndc")]
    parsed_total = correct = records_hit = 0
    products_total = products_found = printed_total = printed_found = 0
    unnormalised = 0
    misses: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for result in with_block:
        text = free_text(result)
        packages, products, odd = structured(result)
        unnormalised += len(odd)
        parsed = find_ndcs(text)
        good = [n for n in parsed if n in packages or product_of(n) in products]
        parsed_total += len(parsed)
        correct += len(good)
        records_hit += bool(good)
        for ndc in parsed:
            if ndc not in good:
                wrong[wrong_kind(ndc, packages)] += 1
        if not good:
            misses[miss_kind(text, parsed)] += 1
        products_total += len(products)
        products_found += len(products & {product_of(n) for n in parsed})
        printed = {normalise_ndc(v) for v in (result.get("openfda") or {}).get(
            "package_ndc", []) if v in text and "-" in v}
        printed_total += len(printed)
        printed_found += len(printed & set(parsed))
    print(f"free-text NDCs against the openfda block ({len(with_block)} records with it):")
    print(f"  parsed {parsed_total} NDCs, {correct} correct: precision "
          f"{ratio(correct, parsed_total)}")
    print(f"  recall per record: {records_hit}/{len(with_block)} = "
          f"{ratio(records_hit, len(with_block))}")
    print(f"  recall per printed NDC: {printed_found}/{printed_total} = "
          f"{ratio(printed_found, printed_total)}")
    print(f"  recall per product (understated, see docstring): {products_found}/"
          f"{products_total} = {ratio(products_found, products_total)}")
    print(f"  block values that are not NDCs as printed (cut by openFDA's extractor): "
          f"{unnormalised}")
    print(f"  records with no correct NDC, by kind: {dict(misses.most_common())}")
    print(f"  parsed NDCs not in the block, by kind: {dict(wrong.most_common())}")
    everywhere = sum(1 for r in raw if find_ndcs(free_text(r)))
    text_only = sum(1 for r in raw if r not in with_block and find_ndcs(free_text(r)))
    print(f"  all {len(raw)} records: {everywhere} with at least one NDC in the text; "
          f"{text_only} of them have no openfda block")


def miss_kind(text: str, parsed: tuple[str, ...]) -> str:
    if parsed:
        return "parsed NDCs, none in the block"
    if re.search(r"NDC\s*[#:]?\s*\d{10}(?!\d)", text, re.IGNORECASE):
        return "ten undashed digits (ambiguous)"
    if NDC_SHAPED.search(text):
        return "NDC-shaped but no configuration (misprint)"
    if re.search(r"\b(UPC|GTIN|barcode)\b", text, re.IGNORECASE):
        return "only a UPC/GTIN"
    return "no NDC in the text"


def wrong_kind(ndc: str, packages: set[str]) -> str:
    labelers = {package[:5] for package in packages}
    return "same labeler as the block" if ndc[:5] in labelers else "other labeler"


def gtin_figures(raw: list[dict[str, Any]]) -> None:
    values = agree = unique = failed = 0
    for result in raw:
        block = result.get("openfda") or {}
        packages, _, _ = structured(result)
        for upc in block.get("upc", []):
            values += 1
            try:
                candidates = set(ndc10_candidates(ndc_from_gtin(upc)))
            except Invalid:
                failed += 1
                continue
            hits = candidates & packages
            agree += bool(hits)
            unique += len(hits) == 1
    print(f"ndc_from_gtin on openfda.upc: {values} values; {failed} refused; "
          f"{agree} give an NDC listed in the same record's package_ndc "
          f"({unique} with exactly one of the three readings listed)")


def lot_figures(records: Iterable[RecallRecord]) -> None:
    products = [p for r in records for p in r.products]
    lots = [lot for p in products for lot in p.lots]
    print(f"lots: {len(products)} products; {sum(1 for p in products if p.lots)} with lots, "
          f"{sum(p.all_lots for p in products)} say all lots, "
          f"{sum(1 for p in products if p.lots and p.all_lots)} both, "
          f"{sum(1 for p in products if not p.lots and not p.all_lots)} neither")
    print(f"  {len(lots)} lots; {sum(1 for lot in lots if lot.expiry)} "
          f"({ratio(sum(1 for lot in lots if lot.expiry), len(lots))}) with an expiry, "
          f"{sum(1 for lot in lots if lot.ndc)} "
          f"({ratio(sum(1 for lot in lots if lot.ndc), len(lots))}) tied to an NDC")


def mapping_figures(records: tuple[RecallRecord, ...]) -> None:
    print("mapping:")
    print("  state:", dict(Counter(r.state.value for r in records).most_common()))
    print("  class:", dict(Counter(str(r.classification) for r in records).most_common()))
    print("  initiative:", dict(Counter(r.initiative.value for r in records).most_common()))
    print(f"  reason category read: {sum(1 for r in records if r.reason_category)}; "
          f"NDCs on {sum(1 for r in records if r.ndcs)} records")


def ndc_sample(raw: list[dict[str, Any]], rng: random.Random, size: int) -> None:
    pool = [r for r in raw if not r.get("openfda") and find_ndcs(free_text(r))]
    chosen = rng.sample(pool, min(size, len(pool)))
    print(f"NDC sample: {len(chosen)} records without an openfda block (for a person "
          "to check):")
    for n, result in enumerate(chosen, start=1):
        text = " ".join(result["product_description"].split())
        found = ", ".join(format_ndc(ndc) for ndc in find_ndcs(free_text(result)))
        print(f"{n:3d}. {result['recall_number']}: [{found}]\n     {text[:400]}")


def lot_sample(raw: list[dict[str, Any]], records: tuple[RecallRecord, ...],
               rng: random.Random, size: int) -> None:
    indexes = rng.sample(range(len(raw)), min(size, len(raw)))
    print(f"lot sample: {len(indexes)} records (for a person to check):")
    for n, index in enumerate(indexes, start=1):
        product = records[index].products[0]
        info = parse_code_info(product.code_info)
        lots = "; ".join(f"{lot.number} exp {lot.expiry} ndc {lot.ndc}"
                         for lot in product.lots)
        flag = " ALL LOTS" if info.all_lots else ""
        code = " ".join((product.code_info or "").split())
        print(f"{n:3d}. {records[index].recall_number}:{flag} [{lots}]\n     {code[:400]}")


def ratio(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


if __name__ == "__main__":
    main()
