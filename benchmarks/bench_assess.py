"""Assessment speed: assessments per second and p99 latency, in-process, one core.

The patient is already parsed (a `PatientRecord`) and has 10 medicines; every call
assesses all 8 candidates, matching included. Separately: the time to parse and
normalise a 16-resource FHIR Bundle. Targets (issue 2): >= 2,000 assessments/s and
p99 < 2 ms; prints figures, asserts nothing.

    uv run python -m benchmarks.bench_assess [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date

from tests.support.fhir_builder import PatientBundle

from medsafe.assessment.context import build_context
from medsafe.assessment.engine import assess, clear_caches
from medsafe.interop.fhir.patient_bundle import parse_bundle, parse_bundle_text
from medsafe.knowledge.catalog import Catalog

TODAY = date(2026, 11, 26)
MEDICINES = [
    ("Oxycodone 5 mg tablet", "7804"),
    ("Lisinopril 10 mg tablet", None),
    ("Sertraline 50 mg tablet", None),
    ("Metformin 500 mg tablet", None),
    ("Zolpidem 10 mg tablet", None),
    ("Omeprazole 20 mg capsule", None),
    ("Ciprofloxacin 500 mg tablet", "2551"),
    ("Atorvastatin 20 mg tablet", None),
    ("Gabapentin 300 mg capsule", None),
    ("Tramadol 50 mg tablet", "10689"),
]


def ten_medicine_bundle() -> dict[str, object]:
    builder = (PatientBundle(birth_date="1961-02-03", gender="female")
               .condition("Multiple sclerosis", severity="moderate")
               .condition("Obstructive sleep apnoea"))
    for text, code in MEDICINES:
        builder.medication(text, rxnorm=code)
    return builder.egfr(48).alt(35).prefers_route("oral").build()


def sixteen_resource_bundle() -> dict[str, object]:
    builder = (PatientBundle(birth_date="1961-02-03", gender="female")
               .condition("Multiple sclerosis", severity="moderate")
               .condition("Obstructive sleep apnoea")
               .condition("Insomnia"))
    for text, code in MEDICINES[:7]:
        builder.medication(text, rxnorm=code)
    bundle = builder.egfr(48).alt(35).ast(30).allergy("Penicillin").avoids("drowsiness").build()
    assert len(bundle["entry"]) == 16
    return bundle


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = parser.parse_args()
    catalog = Catalog.load()
    record = parse_bundle(ten_medicine_bundle())
    assert len(record.medications) == 10
    for _ in range(200):  # warm up
        assess(record, catalog, today=TODAY)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print("assessment of 8 candidates, patient with 10 medicines (already parsed):")
    for label, cold in (("warm (memoised drug and drug-pair findings)", False),
                        ("cold (memos cleared before every assessment)", True)):
        latencies: list[float] = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            if cold:
                clear_caches()
            start = time.perf_counter_ns()
            result = assess(record, catalog, today=TODAY)
            latencies.append((time.perf_counter_ns() - start) / 1e6)
        assert len(result.options) == 8
        total_s = sum(latencies) / 1000
        print(f"  {label}:")
        print(f"    runs: {len(latencies):,}  throughput: {len(latencies) / total_s:,.0f} "
              f"assessments/s (one core)")
        print(f"    latency p50: {statistics.median(latencies):.3f} ms  "
              f"p99: {percentile(latencies, 99):.3f} ms  max: {max(latencies):.3f} ms")

    text = json.dumps(sixteen_resource_bundle())
    parse_times: list[float] = []
    for _ in range(20):
        parse_bundle_text(text)
    deadline = time.perf_counter() + args.seconds / 2
    while time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        parsed = parse_bundle_text(text)
        build_context(parsed, catalog, TODAY)
        parse_times.append((time.perf_counter_ns() - start) / 1e6)
    print(f"parse + normalise a 16-resource FHIR Bundle ({len(text):,} bytes JSON):")
    print(f"  runs: {len(parse_times):,}  p50: {statistics.median(parse_times):.3f} ms  "
          f"p99: {percentile(parse_times, 99):.3f} ms")


if __name__ == "__main__":
    main()
