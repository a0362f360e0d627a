"""The CAERS table openEBGM publishes its example on (../shared/data/caers-openebgm),
counted by hand in plain Python, independently of medsafe's DuckDB counting: distinct
reports per product, per event and per pair."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CAERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "caers-openebgm" / "caers.csv"
# openEBGM vignette 04's hyperparameters (caers-openebgm/SOURCE.md).
PUBLISHED_PRIOR = {"alpha1": 3.25379356, "beta1": 0.39988854, "alpha2": 2.02612692,
                   "beta2": 1.90807970, "p": 0.06534557}


@dataclass(frozen=True)
class CaersCounts:
    reports: int
    by_drug: dict[str, int]
    by_event: dict[str, int]
    by_pair: dict[tuple[str, str], int]


def caers_counts() -> CaersCounts:
    reports: set[str] = set()
    drugs: dict[str, set[str]] = defaultdict(set)
    events: dict[str, set[str]] = defaultdict(set)
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    with CAERS.open(newline="") as handle:
        for row in csv.DictReader(handle):
            reports.add(row["id"])
            drugs[row["var1"]].add(row["id"])
            events[row["var2"]].add(row["id"])
            pairs[row["var1"], row["var2"]].add(row["id"])
    return CaersCounts(len(reports), {k: len(v) for k, v in drugs.items()},
                       {k: len(v) for k, v in events.items()},
                       {k: len(v) for k, v in pairs.items()})
