"""The deterministic synthetic population: organisations, prescribers, patients with
spasticity, their medicines, products with lots, stock, two years of dispensing, and
labelled synthetic baclofen adverse-event reports.

Two halves:

- `generate(patients, seed)` yields `RowBatch`es (table, columns, row tuples) in
  foreign-key order. It is pure apart from its own seeded `random.Random`s: the same
  arguments give the same rows, byte for byte. It streams: patients are made in blocks of
  `PATIENTS_PER_BLOCK`, each block with its own generator seeded from (seed, block), so
  memory stays bounded at any population size.
- `write_population(engine, patients, seed)` bulk-loads those batches into SQLite or
  PostgreSQL in one transaction, with pre-assigned ids (no round trips), and records one
  audit event naming the generator, the seed, the counts and a SHA-256 digest of the rows.

Every record is synthetic: patients and reports carry `synthetic = true`, organisation and
user names end in "(synthetic)", synthetic products have code system "other" and codes
starting "SYN-", synthetic lots start "SYN-", e-mail addresses use the reserved
example.org domain and phone numbers the fictional 555-01xx range. The only real data are
the recalled products and lots of `real_codes` (NDCs, lot numbers, labelers). Where a real
product has a synthetic twin (same ingredient, strength, form and route), pharmacies
receive some of its real lots in place of the twin's synthetic lots, as a pharmacy
dispenses whichever generic it stocks: patients are dispensed them, so matching the real
recalls finds real holders and recipients. Those lots are stored without an expiry: they
really expired years before the dispensing window, and a lot dispensed after its expiry
would contradict the dispensing rule (supply/dispensing.py refuses an expired lot). The
real lots no one dispenses keep the expiry the recall prints.

The story the demo tells lives in the reports: a few hundred background baclofen reports
(drowsiness, dizziness, weakness, ...), plus a cluster of 12–20 reports of worsening
spasticity and lack of effect on two consecutive lots of one baclofen 10 mg product
(sub-potent tablets), which signal detection by lot should find.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import random
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import IO, Any, BinaryIO, Generic, Literal, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.schema import AddConstraint, DropConstraint

from medsafe.errors import Conflict
from medsafe.knowledge.catalog import Catalog
from medsafe.population.case_reports import REPORT_COLUMNS, store_synthetic_reports
from medsafe.population.real_codes import RealLot, real_lots, real_products
from medsafe.security.audit import record
from medsafe.security.principal import SYSTEM
from medsafe.store.engine import more_memory_for_bulk_load
from medsafe.store.schema import Base
from medsafe.store.uow import uow_factory

GENERATOR = "medsafe.population.generator"
GENERATOR_VERSION = 5  # 2: reports become E2B-shaped cases through case intake
# 3: each story lot has at least four spasticity reports
# 4: real recalled lots stocked and dispensed in place of some synthetic lots
# 5: pharmacies, clinics, pharmacists and physicians have e-mail addresses (example.org)
REPORTS = "case_reports"
"""The batch of synthetic adverse-event reports (not a table: they are stored as cases)."""
DEFAULT_SEED = 20261126
DEFAULT_END = date(2026, 10, 31)
"""The last day of the dispensing window. Fixed, never today's date, so that the same seed
gives the same population whenever it runs."""
WINDOW_DAYS = 730
PATIENTS_PER_BLOCK = 1000
"""Patients per generation block. Part of the definition of the output (each block has its
own random generator), so changing it changes every population."""

Row = tuple[Any, ...]
ProgressCallback = Callable[[int, int, str], None]
Method = Literal["auto", "copy", "executemany", "core"]

# Columns each table is written with, in foreign-key order (parents first).
COLUMNS: dict[str, tuple[str, ...]] = {
    "organisations": ("id", "kind", "name", "country", "created_at", "email"),
    "users": ("id", "username", "display_name", "role", "organisation_id", "patient_id",
              "password_hash", "active", "created_at", "email"),
    "products": ("id", "code", "code_system", "name", "ingredient_id", "strength", "form",
                 "route", "manufacturer_id"),
    "lots": ("id", "product_id", "lot_number", "expiry"),
    "stock": ("id", "pharmacy_id", "lot_id", "quantity", "updated_at"),
    "patients": ("id", "pseudonym", "birth_date", "sex", "pregnant", "preferred_route",
                 "avoid_side_effects", "symptom_severity", "synthetic", "created_at"),
    "patient_contacts": ("patient_id", "full_name", "email", "phone", "address"),
    "patient_conditions": ("id", "patient_id", "text", "code_system", "code", "severity",
                           "active"),
    "patient_observations": ("id", "patient_id", "kind", "value", "unit", "upper_limit",
                             "category", "observed_on"),
    "patient_medications": ("id", "patient_id", "text", "rxnorm", "active"),
    "care_relationships": ("id", "patient_id", "physician_id", "pharmacy_id"),
    "prescriptions": ("id", "patient_id", "prescriber_id", "ingredient_id", "product_id",
                      "dose_text", "status", "start_date", "end_date", "reason"),
    "dispensings": ("id", "patient_id", "product_id", "lot_id", "quantity", "dispensed_on",
                    "pharmacy_id", "prescriber_id", "prescription_id"),
    REPORTS: REPORT_COLUMNS,
}
ID_TABLES = tuple(t for t, cols in COLUMNS.items() if cols[0] == "id")
PATIENT_TABLES = ("patients", "patient_contacts", "patient_conditions",
                  "patient_observations", "patient_medications", "care_relationships",
                  "prescriptions", "dispensings")
BULK_TABLES = PATIENT_TABLES[1:]
"""Tables whose secondary indexes (and, on PostgreSQL, foreign keys) are dropped during the
load and rebuilt after it: building an index once from sorted data is several times faster
than maintaining it row by row, and PostgreSQL validates a re-added foreign key with one
join instead of one trigger call per row."""

PLACEHOLDER_PASSWORD = "!synthetic"
"""Never a valid argon2 hash, so no generated account can log in; the demo command creates
the accounts people use."""
SYNTHETIC = " (synthetic)"
EMAIL_DOMAIN = "example.org"
"""Reserved for examples (RFC 2606): a notice sent to it reaches nobody."""


# ---------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True, slots=True)
class RowBatch:
    table: str
    columns: tuple[str, ...]
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class PopulationSpec:
    patients: int
    seed: int = DEFAULT_SEED
    end: date = DEFAULT_END
    pharmacies: int = 40
    clinics: int = 15

    @property
    def physicians(self) -> int:
        """About 50 patients per physician, at least 20 physicians."""
        return max(20, math.ceil(self.patients / 50))

    @property
    def window_start(self) -> date:
        return self.end - timedelta(days=WINDOW_DAYS - 1)


@dataclass(frozen=True, slots=True)
class PopulationSummary:
    spec: PopulationSpec
    counts: dict[str, int]
    sha256: str
    seconds: float
    method: str
    id_offsets: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


class Digest:
    """Counts and SHA-256 of a stream of batches: for each batch, the table name, a newline
    and the pickle (protocol 5) of its list of row tuples. Pickle rather than a text form
    because it is several times faster for dates; the digest is reproducible with the same
    generator version and Python minor version."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.counts: dict[str, int] = dict.fromkeys(COLUMNS, 0)

    def add(self, batch: RowBatch, payload: bytes | None = None) -> None:
        """Count and hash a batch; `payload` is its pickle when the caller has it."""
        self._sha.update(batch.table.encode() + b"\n")
        self._sha.update(payload if payload is not None else _pickled(batch))
        self.counts[batch.table] += len(batch.rows)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _pickled(batch: RowBatch) -> bytes:
    return pickle.dumps(batch.rows, protocol=5)


def digest_of(batches: Iterator[RowBatch]) -> tuple[dict[str, int], str]:
    """Counts and digest of a population without a database (for tests and checks)."""
    tally = Digest()
    for batch in batches:
        tally.add(batch)
    return tally.counts, tally.hexdigest()


# ---------------------------------------------------------------------------------------
# Static vocabulary. Condition texts match names or synonyms in knowledge/data/conditions.yaml;
# medicine names are members of knowledge classes where one exists.

FIRST_NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie",
               "Avery", "Riley", "Quinn", "Rowan", "Harper", "Elliot", "Sasha", "Noor",
               "Amal", "Kai", "Leila", "Tomas", "Ines", "Mateo", "Freya", "Oskar", "Priya",
               "Ravi", "Mei", "Jun", "Ada", "Emil", "Lena", "Hugo", "Iris", "Nils", "Zara",
               "Omar", "Lucia", "Felix", "Maya", "Theo")
LAST_NAMES = ("Ashdown", "Birchley", "Calloway", "Dunmore", "Ellery", "Fairholm", "Greaves",
              "Hartwell", "Ingleby", "Jessop", "Kettering", "Lindqvist", "Marchetti",
              "Northcott", "Okafor", "Pennington", "Quayle", "Rosenthal", "Sandoval",
              "Thackeray", "Underhill", "Valdes", "Whitcombe", "Yardley", "Zielinski",
              "Abernethy", "Brightman", "Castellan", "Delacroix", "Eastwood", "Fenwick",
              "Goldberg", "Holloway", "Iqbal", "Janssen", "Kowalczyk", "Lachance", "Moreau",
              "Nakamura", "Oyelaran")
TOWNS = ("Ashford Vale", "Brookmere", "Castlebridge", "Dunhollow", "Eastwick Green",
         "Fernleigh", "Glenmarsh", "Harrowgate", "Ivybridge Falls", "Juniper Bay",
         "Kingsholm", "Larkspur", "Millbrook", "Northfield", "Oakhurst", "Pinecrest",
         "Queensbury Heath", "Riverton", "Stonebridge", "Thornbury")
STREETS = ("Elm", "Maple", "Station", "Mill", "Church", "Park", "Orchard", "Willow", "Bridge",
           "Meadow")

SPASTICITY = {
    # condition key: (share of patients, [(weight, text, snomed code)])
    "ms": (0.55, ((50, "Multiple sclerosis", "24700007"),
                  (20, "Relapsing-remitting multiple sclerosis", "24700007"),
                  (20, "Secondary progressive multiple sclerosis", "24700007"),
                  (10, "Primary progressive multiple sclerosis", "24700007"))),
    "sci": (0.25, ((50, "Spinal cord injury", None), (25, "Paraplegia", None),
                   (15, "Tetraplegia", None), (10, "Transverse myelitis", None))),
    "cp": (0.20, ((60, "Cerebral palsy", None), (25, "Spastic cerebral palsy", None),
                  (15, "Spastic diplegia", None))),
}
"""SNOMED codes only where conditions.yaml marks them verified (cerebral palsy's code there
comes from a community guide and is not verified)."""


@dataclass(frozen=True, slots=True)
class _Comorbidity:
    key: str
    texts: tuple[str, ...]
    code: str | None = None


COMORBIDITIES = {
    "sleep-apnoea": _Comorbidity("sleep-apnoea", ("Obstructive sleep apnoea",)),
    "insomnia": _Comorbidity("insomnia", ("Insomnia", "Chronic insomnia")),
    "ckd3": _Comorbidity("ckd3", ("Chronic kidney disease stage 3",)),
    "ckd4": _Comorbidity("ckd4", ("Chronic kidney disease stage 4",)),
    "liver": _Comorbidity("liver", ("Non-alcoholic fatty liver disease",
                                    "Chronic hepatitis C")),
    "depression": _Comorbidity("depression", ("Depression", "Major depressive disorder"),
                               "35489007"),
    "epilepsy": _Comorbidity("epilepsy", ("Epilepsy",), "84757009"),
    "diabetes": _Comorbidity("diabetes", ("Type 2 diabetes mellitus",)),
    # Common in these patients but not in the knowledge base: stored as free text only.
    "hypertension": _Comorbidity("hypertension", ("Essential hypertension",)),
    "bladder": _Comorbidity("bladder", ("Neurogenic bladder",)),
}

# Co-medication: (text, RxNorm ingredient code where the knowledge base gives a verified one).
Medicine = tuple[str, str | None]
OPIOIDS: tuple[tuple[int, Medicine], ...] = (
    (35, ("Oxycodone 5 mg tablet", "7804")), (45, ("Tramadol 50 mg tablet", "10689")),
    (10, ("Morphine sulfate 10 mg modified-release tablet", "7052")),
    (10, ("Codeine phosphate 30 mg tablet", "2670")))
GABAPENTINOIDS: tuple[tuple[int, Medicine], ...] = (
    (65, ("Gabapentin 300 mg capsule", None)), (35, ("Pregabalin 75 mg capsule", None)))
ANTIDEPRESSANTS: tuple[tuple[int, Medicine], ...] = (
    (30, ("Sertraline 50 mg tablet", None)), (20, ("Citalopram 20 mg tablet", None)),
    (15, ("Escitalopram 10 mg tablet", None)), (10, ("Fluoxetine 20 mg capsule", None)),
    (15, ("Duloxetine 60 mg capsule", None)), (10, ("Amitriptyline 10 mg tablet", None)))
ANTIHYPERTENSIVES: tuple[tuple[int, Medicine], ...] = (
    (35, ("Lisinopril 10 mg tablet", None)), (30, ("Amlodipine 5 mg tablet", None)),
    (20, ("Losartan 50 mg tablet", None)), (15, ("Hydrochlorothiazide 25 mg tablet", None)))
ANTIEPILEPTICS: tuple[tuple[int, Medicine], ...] = (
    (60, ("Levetiracetam 500 mg tablet", None)), (40, ("Lamotrigine 100 mg tablet", None)))


@dataclass(frozen=True, slots=True)
class _ProductSpec:
    key: str
    maker: str  # manufacturer key
    ingredient_id: str
    name: str
    strength: str
    form: str
    route: str
    shelf_days: int = 1095


@dataclass(frozen=True, slots=True)
class _Maker:
    key: str
    name: str


MAKERS = (
    # The baclofen maker of the demo story: two of its lots turn out sub-potent.
    _Maker("ALD", "Aldervale Pharmaceuticals" + SYNTHETIC),
    _Maker("BRW", "Brightwater Generics" + SYNTHETIC),
    _Maker("COB", "Cobalt Ridge Laboratories" + SYNTHETIC),
)
STORY_PRODUCT = "ALD-BAC10"
"""The product whose two consecutive lots carry the quality defect of the demo story."""


def _oral_product(key: str, ingredient: str, label: str, strength: str,
            form: str = "tablet") -> _ProductSpec:
    return _ProductSpec(key=key, maker=key.split("-")[0], ingredient_id=ingredient,
                        name=f"{label} {strength} {form}", strength=strength, form=form,
                        route="oral")


PRODUCTS: tuple[_ProductSpec, ...] = (
    # Baclofen: 5/10/20 mg (US tablets) and 10/25 mg (as the seed article lists them).
    _oral_product("ALD-BAC05", "baclofen", "Baclofen", "5 mg"),
    _oral_product("ALD-BAC10", "baclofen", "Baclofen", "10 mg"),
    _oral_product("ALD-BAC20", "baclofen", "Baclofen", "20 mg"),
    _oral_product("ALD-BAC25", "baclofen", "Baclofen", "25 mg"),
    _oral_product("BRW-BAC10", "baclofen", "Baclofen", "10 mg"),
    _oral_product("BRW-BAC20", "baclofen", "Baclofen", "20 mg"),
    _oral_product("BRW-TIZ02", "tizanidine", "Tizanidine", "2 mg"),
    _oral_product("BRW-TIZ04", "tizanidine", "Tizanidine", "4 mg"),
    _oral_product("BRW-DZP02", "diazepam", "Diazepam", "2 mg"),
    _oral_product("BRW-DZP05", "diazepam", "Diazepam", "5 mg"),
    _oral_product("BRW-DZP10", "diazepam", "Diazepam", "10 mg"),
    _oral_product("BRW-CAR350", "carisoprodol", "Carisoprodol", "350 mg"),
    _oral_product("COB-DAN025", "dantrolene", "Dantrolene sodium", "25 mg", "capsule"),
    _oral_product("COB-DAN050", "dantrolene", "Dantrolene sodium", "50 mg", "capsule"),
    _oral_product("COB-DAN100", "dantrolene", "Dantrolene sodium", "100 mg", "capsule"),
    _oral_product("COB-MET500", "methocarbamol", "Methocarbamol", "500 mg"),
    _oral_product("COB-MET750", "methocarbamol", "Methocarbamol", "750 mg"),
    _oral_product("COB-CYC05", "cyclobenzaprine", "Cyclobenzaprine hydrochloride", "5 mg"),
    _oral_product("COB-CYC10", "cyclobenzaprine", "Cyclobenzaprine hydrochloride", "10 mg"),
    _ProductSpec(key="COB-BTA100", maker="COB", ingredient_id="botulinum-toxin-a",
                 name="Botulinum toxin type A 100 units powder for injection (vial)",
                 strength="100 units", form="powder for solution for injection (vial)",
                 route="intramuscular", shelf_days=730),
)
PRODUCT_INDEX = {p.key: i for i, p in enumerate(PRODUCTS)}


@dataclass(frozen=True, slots=True)
class _Regimen:
    product: str
    quantity: int  # units per fill
    supply_days: int
    dose_text: str


def _oral(product: str, strength: str, per_day: int, how: str,
          supply_days: int = 30) -> _Regimen:
    return _Regimen(product, per_day * supply_days, supply_days, f"{strength} {how}")


REGIMENS: dict[str, tuple[tuple[int, _Regimen], ...]] = {
    "baclofen": (
        (10, _oral("ALD-BAC05", "5 mg", 3, "three times daily")),
        (22, _oral("ALD-BAC10", "10 mg", 3, "three times daily")),
        (8, _oral("ALD-BAC10", "10 mg", 4, "four times daily")),
        (12, _oral("BRW-BAC10", "10 mg", 3, "three times daily")),
        (10, _oral("ALD-BAC20", "20 mg", 3, "three times daily")),
        (5, _oral("ALD-BAC20", "20 mg", 4, "four times daily")),
        (6, _oral("BRW-BAC20", "20 mg", 3, "three times daily")),
        (5, _oral("ALD-BAC25", "25 mg", 3, "three times daily")),
        (4, _oral("ALD-BAC25", "25 mg", 2, "twice daily")),
    ),
    "tizanidine": (
        (30, _oral("BRW-TIZ02", "2 mg", 3, "three times daily")),
        (50, _oral("BRW-TIZ04", "4 mg", 3, "three times daily")),
        (20, _oral("BRW-TIZ04", "4 mg", 2, "twice daily")),
    ),
    "dantrolene": (
        (30, _oral("COB-DAN025", "25 mg", 1, "once daily")),
        (30, _oral("COB-DAN025", "25 mg", 3, "three times daily")),
        (30, _oral("COB-DAN050", "50 mg", 3, "three times daily")),
        (10, _oral("COB-DAN100", "100 mg", 3, "three times daily")),
    ),
    "diazepam": (
        (30, _oral("BRW-DZP02", "2 mg", 3, "three times daily")),
        (40, _oral("BRW-DZP05", "5 mg", 1, "at night")),
        (20, _oral("BRW-DZP05", "5 mg", 3, "three times daily")),
        (10, _oral("BRW-DZP10", "10 mg", 1, "at night")),
    ),
    "botulinum-toxin-a": (
        (100, _Regimen("COB-BTA100", 2, 84,
                       "200 units intramuscularly into affected muscles every 12 weeks")),
    ),
    "methocarbamol": (
        (50, _oral("COB-MET750", "750 mg", 4, "four times daily")),
        (50, _oral("COB-MET500", "1000 mg (two 500 mg tablets)", 8, "four times daily")),
    ),
    "cyclobenzaprine": (
        (60, _oral("COB-CYC05", "5 mg", 3, "three times daily", 14)),
        (40, _oral("COB-CYC10", "10 mg", 3, "three times daily", 14)),
    ),
    "carisoprodol": ((100, _oral("BRW-CAR350", "350 mg", 3, "three times daily", 14)),),
}
PRIMARY: tuple[tuple[float, str], ...] = (
    (62, "baclofen"), (18, "tizanidine"), (5, "dantrolene"), (5, "diazepam"),
    (6, "botulinum-toxin-a"), (4, "methocarbamol"))
"""Main therapy for spasticity. Cyclobenzaprine and carisoprodol treat acute muscle spasm,
not spasticity: they appear only as short add-on courses."""
INDICATION = {"ms": "multiple sclerosis", "sci": "spinal cord injury",
              "cp": "cerebral palsy"}
STOP_REASONS = ("drowsiness", "dizziness", "muscle weakness", "nausea",
                "inadequate response", "patient preference")

# Lot sizing: a real lot of tablets serves a few thousand fills. Scaling the number of lots
# with the population keeps "all patients who received lot X" a few thousand rows, as in
# life, instead of a tenth of the population.
FILLS_PER_LOT = 3000
EXPECTED_FILLS_PER_THERAPY = 10
MIN_LOTS_PER_PRODUCT = 16
LEAD_DAYS = 730  # lots are released from two years before the window, so shelves are full
MAX_SHELF_GAP_DAYS = 600  # longest a pharmacy waits for its next lot of a product
MIN_PHARMACIES_PER_LOT = 3
SUBSTITUTE_EVERY = 3
"""At most one in this many of a product's lots released in the window is a real lot."""


# ---------------------------------------------------------------------------------------
# Small helpers. The hot paths draw with `rng.random()` directly: it is several times
# cheaper than `randrange` and `choice`, and a million patients make ~10^8 draws.

T = TypeVar("T")


class _Choice(Generic[T]):
    """A weighted choice prepared once: one random number and a bisection per draw."""

    def __init__(self, weighted: Iterable[tuple[float, T]]) -> None:
        pairs = list(weighted)
        self.values = [value for _, value in pairs]
        self.weights = [weight for weight, _ in pairs]
        self.cumulative = list(accumulate(self.weights))
        self.total = self.cumulative[-1]
        self.last = len(pairs) - 1

    def __call__(self, rng: random.Random) -> T:
        index = bisect_right(self.cumulative, rng.random() * self.total)
        return self.values[min(index, self.last)]

    def shares(self) -> list[tuple[T, float]]:
        """Each value with its probability."""
        return [(value, weight / self.total)
                for value, weight in zip(self.values, self.weights, strict=True)]


def _below(rng: random.Random, n: int) -> int:
    """A whole number in [0, n)."""
    return int(rng.random() * n)


def _one_of(rng: random.Random, options: Sequence[T]) -> T:
    return options[int(rng.random() * len(options))]


class _Days:
    """Shared `date` objects for every day the population can name (births ninety-odd
    years back to expiries after the end): a list lookup instead of building a date per
    row, and equal dates are the same object, which keeps the pickle digest fast."""

    def __init__(self, end: date) -> None:
        self.first = end.toordinal() - 92 * 366
        self.cache = [date.fromordinal(o) for o in range(self.first, end.toordinal() + 1200)]

    def __call__(self, ordinal: int) -> date:
        return self.cache[ordinal - self.first]


class _Ids:
    """Pre-assigned integer ids: table offset (the largest id already there) plus a
    running number, so inserts need no round trip to learn their keys."""

    def __init__(self, offsets: Mapping[str, int]) -> None:
        self.next: dict[str, int] = {t: offsets.get(t, 0) + 1 for t in ID_TABLES}

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


Receipt = tuple[int, int, int, int]  # patient id, product id, lot id, day (ordinal)


@dataclass(slots=True)
class _Reservoir:
    """A uniform sample of fixed size from a stream (Algorithm R), for picking reporters
    of adverse events without keeping every dispensing in memory."""

    size: int
    rng: random.Random
    items: list[Receipt] = field(default_factory=list)
    seen: int = 0

    def offer(self, item: Receipt) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = int(self.rng.random() * self.seen)
        if slot < self.size:
            self.items[slot] = item


# ---------------------------------------------------------------------------------------
# Reference data: organisations, users, products, lots, shelves and stock


@dataclass(slots=True)
class _Shelf:
    """The lots one pharmacy received of one product, by release day, and the product
    each lot is of (the synthetic product, or a real one stocked in its place)."""

    days: list[int] = field(default_factory=list)
    lots: list[int] = field(default_factory=list)
    products: list[int] = field(default_factory=list)


Substitute = tuple[int, RealLot]  # a real lot, and the id of its real product


@dataclass(slots=True)
class _Reference:
    batches: list[RowBatch]
    pharmacy_ids: list[int]
    physician_ids: list[int]
    product_ids: dict[str, int]
    shelves: list[list[_Shelf]]  # [product index][pharmacy index]
    lot_numbers: dict[int, str]
    story_lots: tuple[int, int]


class _ReferenceBuilder:
    def __init__(self, spec: PopulationSpec, ids: _Ids, days: _Days) -> None:
        self.spec = spec
        self.ids = ids
        self.days = days
        self.rng = random.Random(f"{spec.seed}:reference")
        self.created = datetime.combine(spec.end, datetime.min.time(), tzinfo=UTC)
        self.rows: dict[str, list[Row]] = {t: [] for t in COLUMNS}

    def build(self) -> _Reference:
        makers = self._manufacturers()
        self._organisation("wholesaler", "Northline Wholesale" + SYNTHETIC)
        self._organisation("wholesaler", "Harbour Medical Supply" + SYNTHETIC)
        pharmacies = [self._organisation("pharmacy", self._pharmacy_name(i),
                                         email=f"pharmacy-{i + 1:02d}@{EMAIL_DOMAIN}")
                      for i in range(self.spec.pharmacies)]
        clinics = [self._organisation("clinic", self._clinic_name(i),
                                      email=f"clinic-{i + 1:02d}@{EMAIL_DOMAIN}")
                   for i in range(self.spec.clinics)]
        self._organisation("regulator", "National Medicines Agency" + SYNTHETIC)
        physicians = self._physicians(clinics)
        self._pharmacists(pharmacies)
        product_ids = self._products(makers)
        substitutes = _substitutes(self._real_products())
        shelves, lot_numbers, story = self._lots_and_stock(product_ids, pharmacies,
                                                           substitutes)
        batches = [RowBatch(t, COLUMNS[t], rows) for t, rows in self.rows.items() if rows]
        return _Reference(batches=batches, pharmacy_ids=pharmacies,
                          physician_ids=physicians, product_ids=product_ids,
                          shelves=shelves, lot_numbers=lot_numbers, story_lots=story)

    def _organisation(self, kind: str, name: str, country: str = "US",
                      email: str | None = None) -> int:
        org_id = self.ids.take("organisations")
        self.rows["organisations"].append((org_id, kind, name, country, self.created, email))
        return org_id

    def _manufacturers(self) -> dict[str, int]:
        return {m.key: self._organisation("manufacturer", m.name) for m in MAKERS}

    def _pharmacy_name(self, index: int) -> str:
        town = TOWNS[index % len(TOWNS)]
        return f"{town} Pharmacy {index + 1:02d}{SYNTHETIC}"

    def _clinic_name(self, index: int) -> str:
        kind = ("Neurology Clinic", "Rehabilitation Centre", "Spasticity Service")[index % 3]
        return f"{TOWNS[(index * 7) % len(TOWNS)]} {kind} {index + 1:02d}{SYNTHETIC}"

    def _person_name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _user(self, username: str, display: str, role: str, organisation: int) -> int:
        # Pharmacists and physicians are written to at the reserved domain, by username.
        user_id = self.ids.take("users")
        self.rows["users"].append((user_id, username, display + SYNTHETIC, role, organisation,
                                   None, PLACEHOLDER_PASSWORD, True, self.created,
                                   f"{username}@{EMAIL_DOMAIN}"))
        return user_id

    def _physicians(self, clinics: list[int]) -> list[int]:
        return [self._user(f"dr-{i + 1:04d}", f"Dr {self._person_name()}", "physician",
                           clinics[i % len(clinics)])
                for i in range(self.spec.physicians)]

    def _pharmacists(self, pharmacies: list[int]) -> None:
        for i, pharmacy in enumerate(pharmacies):
            self._user(f"ph-{i + 1:04d}", f"{self._person_name()}, pharmacist", "pharmacist",
                       pharmacy)

    def _products(self, makers: dict[str, int]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for p in PRODUCTS:
            ids[p.key] = product_id = self.ids.take("products")
            self.rows["products"].append((product_id, f"SYN-{p.key}", "other", p.name,
                                          p.ingredient_id, p.strength, p.form, p.route,
                                          makers[p.maker]))
        return ids

    def _lots_and_stock(self, product_ids: dict[str, int], pharmacies: list[int],
                        substitutes: Mapping[str, list[Substitute]]
                        ) -> tuple[list[list[_Shelf]], dict[int, str], tuple[int, int]]:
        """Each product's lots, released in turn to a few pharmacies each, a few of them
        real lots of a real twin (`_substitution_slots`); then the real lots no one
        received, as catalogue entries with the expiry their recall prints."""
        shelves = [[_Shelf() for _ in pharmacies] for _ in PRODUCTS]
        lot_numbers: dict[int, str] = {}
        story: list[int] = []
        for index, product in enumerate(PRODUCTS):
            releases = self._release_days(product)
            per_lot = self._pharmacies_per_lot(len(releases))
            real = substitutes.get(product.key, [])
            # The story's product keeps only synthetic lots, so its two lots stay as they are.
            slots = [] if product.key == STORY_PRODUCT else self._substitution_slots(
                releases, len(real))
            placed = dict(zip(slots, real, strict=False))
            lot_ids = []
            for n, release in enumerate(releases):
                lot_ids.append(lot_id := self.ids.take("lots"))
                if n in placed:
                    lot_product, lot = placed[n]
                    lot_numbers[lot_id] = lot.lot_number
                    self.rows["lots"].append((lot_id, lot_product, lot.lot_number, None))
                else:
                    lot_product = product_ids[product.key]
                    lot_numbers[lot_id] = number = f"SYN-{product.key}-{n + 1:05d}"
                    expiry = self.days(release + product.shelf_days)
                    self.rows["lots"].append((lot_id, lot_product, number, expiry))
                for k in range(per_lot):
                    shelf = shelves[index][(n * per_lot + k) % len(pharmacies)]
                    shelf.days.append(release)
                    shelf.lots.append(lot_id)
                    shelf.products.append(lot_product)
            if product.key == STORY_PRODUCT:
                story = self._story_lots(releases, lot_ids)
            self._catalogue_lots(real[len(placed):])
        self._catalogue_lots(substitutes.get("", []))
        self._stock(shelves, pharmacies)
        return shelves, lot_numbers, (story[0], story[1])

    def _release_days(self, product: _ProductSpec) -> list[int]:
        """Evenly spaced release days from LEAD_DAYS before the window to its end."""
        expected = self.spec.patients * _product_share(product.key) * EXPECTED_FILLS_PER_THERAPY
        span = LEAD_DAYS + WINDOW_DAYS
        lots = max(MIN_LOTS_PER_PRODUCT, math.ceil(expected * span / WINDOW_DAYS
                                                   / FILLS_PER_LOT))
        first = self.spec.window_start.toordinal() - LEAD_DAYS
        return [first + (i * span) // lots for i in range(lots)]

    def _pharmacies_per_lot(self, lots: int) -> int:
        """Enough pharmacies per lot that each pharmacy gets a new lot at least every
        MAX_SHELF_GAP_DAYS; few enough that a recall reaches only some of them."""
        interval = (LEAD_DAYS + WINDOW_DAYS) / lots
        wanted = math.ceil(self.spec.pharmacies * interval / MAX_SHELF_GAP_DAYS)
        return min(self.spec.pharmacies, max(MIN_PHARMACIES_PER_LOT, wanted))

    def _catalogue_lots(self, lots: list[Substitute]) -> None:
        for lot_product, lot in lots:
            self.rows["lots"].append((self.ids.take("lots"), lot_product, lot.lot_number,
                                      lot.expiry))

    def _substitution_slots(self, releases: list[int], wanted: int) -> list[int]:
        """Where real lots take a synthetic lot's place, the first real lot first: among
        the releases inside the window that leave a month of dispensing before its end,
        evenly spread from the newest back (so the newest is still on shelves at the end
        and its pharmacies hold stock), at most one in SUBSTITUTE_EVERY (so at demo size
        the synthetic product keeps most of its lots)."""
        start = self.spec.window_start.toordinal()
        last = self.spec.end.toordinal() - 30
        candidates = [n for n, day in enumerate(releases) if start <= day <= last]
        slots = min(wanted, len(candidates) // SUBSTITUTE_EVERY)
        return [candidates[len(candidates) - 1 - (i * len(candidates)) // slots]
                for i in range(slots)]

    def _story_lots(self, releases: list[int], lot_ids: list[int]) -> list[int]:
        """Two consecutive lots, the first released about eight months before the end, so
        that their reports arrive in the last months of the window."""
        cutoff = self.spec.end.toordinal() - 240
        n = max(i for i, day in enumerate(releases) if day <= cutoff)
        return [lot_ids[n], lot_ids[n + 1]]

    def _stock(self, shelves: list[list[_Shelf]], pharmacies: list[int]) -> None:
        """One stock row per lot a pharmacy received: what is left at the end of the
        window (only the lot on the shelf then has any)."""
        end = self.spec.end.toordinal()
        for per_pharmacy in shelves:
            for pharmacy_index, shelf in enumerate(per_pharmacy):
                current = bisect_right(shelf.days, end) - 1
                for n, (day, lot_id) in enumerate(zip(shelf.days, shelf.lots, strict=True)):
                    if day > end:
                        continue
                    left = self.rng.randrange(100, 3000) if n == current else 0
                    until = shelf.days[n + 1] if n < current else end
                    updated = datetime.combine(self.days(until), datetime.min.time(),
                                               tzinfo=UTC)
                    self.rows["stock"].append((self.ids.take("stock"),
                                               pharmacies[pharmacy_index], lot_id, left,
                                               updated))

    def _real_products(self) -> dict[str, int]:
        """The recalled real products (their labelers as manufacturers), by NDC; their
        lots come with the synthetic ones (`_lots_and_stock`)."""
        labelers: dict[str, int] = {}
        ids: dict[str, int] = {}
        for ndc, lots in real_products().items():
            first = lots[0]
            if first.labeler not in labelers:
                labelers[first.labeler] = self._organisation("manufacturer", first.labeler)
            ids[ndc] = product_id = self.ids.take("products")
            self.rows["products"].append((product_id, ndc, "ndc", first.product,
                                          first.ingredient_id, first.strength, first.form,
                                          first.route, labelers[first.labeler]))
        return ids


def _twin(lot: RealLot) -> str | None:
    """The synthetic product a real lot can stand in for: same ingredient, strength, form
    and route."""
    for product in PRODUCTS:
        if (product.ingredient_id, product.strength, product.form, product.route) == (
                lot.ingredient_id, lot.strength, lot.form, lot.route):
            return product.key
    return None


def _substitutes(real_ids: Mapping[str, int]) -> dict[str, list[Substitute]]:
    """The real lots by the synthetic product they can stand in for, the first lot of each
    recall before the second of any (so that at small sizes, where only a few are placed,
    as many recalls as possible reach patients). The real lots without a twin are under
    the key "": catalogue entries only."""
    ranked: dict[str, list[tuple[int, int, Substitute]]] = {}
    seen: dict[str, int] = {}
    for order, lot in enumerate(real_lots()):
        rank = seen[lot.recall_number] = seen.get(lot.recall_number, -1) + 1
        ranked.setdefault(_twin(lot) or "", []).append(
            (rank, order, (real_ids[lot.ndc], lot)))
    return {key: [substitute for _, _, substitute in sorted(lots, key=lambda x: x[:2])]
            for key, lots in ranked.items()}


def _product_share(product_key: str) -> float:
    """Expected share of patients on a product, as main therapy or add-on: sizes its
    lots."""
    total_primary = sum(w for w, _ in PRIMARY)
    share = 0.0
    for weight, primary in PRIMARY:
        add_on_share = sum(chance * _regimen_share(add_on, product_key)
                           for add_on, chance in ADD_ON_CHOICE[primary].shares())
        share += weight / total_primary * (_regimen_share(primary, product_key)
                                           + ADD_ON_RATE * add_on_share)
    return share


def _regimen_share(ingredient: str, product_key: str) -> float:
    regimens = REGIMENS[ingredient]
    return sum(w for w, r in regimens if r.product == product_key) / sum(w for w, _ in regimens)


# ---------------------------------------------------------------------------------------
# Patients

CONDITION_CHOICE = _Choice((share, key) for key, (share, _) in SPASTICITY.items())
CONDITION_TEXT = {key: _Choice((w, (t, c)) for w, t, c in texts)
                  for key, (_, texts) in SPASTICITY.items()}
SEVERITY_CHOICE = _Choice(((30, "mild"), (50, "moderate"), (20, "severe")))
FEMALE_SHARE = {"ms": 0.72, "sci": 0.22, "cp": 0.45}
AGE_SHAPE = {"ms": (22, 88, 50), "sci": (18, 90, 42), "cp": (18, 80, 30)}  # low, high, mode
ROUTE_CHOICE: _Choice[str | None] = _Choice(((90, None), (8, "oral"), (2, "injection")))
AVOID_CHOICE: _Choice[tuple[str, ...]] = _Choice((
    (82, ()), (12, ("drowsiness",)), (4, ("dizziness",)), (2, ("drowsiness", "weakness"))))
PRIMARY_CHOICE = _Choice(PRIMARY)
REGIMEN_CHOICE = {ingredient: _Choice(options) for ingredient, options in REGIMENS.items()}
SWITCHABLE = {"baclofen": "tizanidine", "tizanidine": "baclofen"}
SWITCH_RATE = 0.08
ADD_ON_RATE = 0.18
STARTED_BEFORE_WINDOW = 0.10
STOP_RATE = 0.45
PHONE_AREAS = (202, 312, 415, 617, 720)


def _add_on_choice(primary: str) -> _Choice[str]:
    """A second drug: diazepam at night, a short course for spasms, or the other oral
    antispastic."""
    options = [(35.0, "diazepam"), (8.0, "cyclobenzaprine"), (2.0, "carisoprodol"),
               (25.0, "tizanidine") if primary == "baclofen" else (30.0, "baclofen")]
    return _Choice((w, i) for w, i in options if i != primary)


ADD_ON_CHOICE = {primary: _add_on_choice(primary) for _, primary in PRIMARY}


def _comorbidity_chances(condition: str, older: bool) -> tuple[tuple[str, float], ...]:
    """How likely each other condition is, by spasticity cause and age (60 or more)."""
    return (
        ("sleep-apnoea", 0.18 if condition == "sci" else 0.09),
        ("insomnia", 0.14),
        ("ckd3", 0.12 if older else 0.04),
        ("ckd4", 0.02 if older else 0.003),
        ("liver", 0.03),
        ("depression", 0.30 if condition == "ms" else 0.18),
        ("epilepsy", 0.30 if condition == "cp" else 0.02),
        ("diabetes", 0.16 if older else 0.05),
        ("hypertension", 0.45 if older else 0.12),
        ("bladder", 0.30 if condition in ("ms", "sci") else 0.05),
    )


COMORBIDITY_CHANCES = {(c, older): _comorbidity_chances(c, older)
                       for c in SPASTICITY for older in (False, True)}


@dataclass(slots=True)
class _Person:
    id: int
    age: int
    sex: str
    condition: str
    severity: str
    comorbidities: tuple[str, ...]
    physician: int
    pharmacy: int  # index into reference.pharmacy_ids


@dataclass(slots=True)
class _Therapy:
    ingredient: str
    regimen: _Regimen
    start: int  # ordinal
    stop: int | None  # ordinal; None = still taking it
    reason: str


class _PatientFactory:
    """Makes the rows of one block of patients. Holds the reservoirs of baclofen receipts
    that the adverse-event reports are drawn from once all blocks are done."""

    def __init__(self, spec: PopulationSpec, ref: _Reference, ids: _Ids, days: _Days,
                 reports: int) -> None:
        self.spec = spec
        self.ref = ref
        self.ids = ids
        self.days = days
        self.start = spec.window_start.toordinal()
        self.end = spec.end.toordinal()
        self.created = datetime.combine(spec.end, datetime.min.time(), tzinfo=UTC)
        sampler = random.Random(f"{spec.seed}:reservoir")
        self.baclofen_receipts = _Reservoir(size=reports, rng=sampler)
        self.story_receipts = {lot: _Reservoir(size=80, rng=sampler)
                               for lot in ref.story_lots}
        self.baclofen_products = {ref.product_ids[p.key] for p in PRODUCTS
                                  if p.ingredient_id == "baclofen"}

    def block(self, number: int) -> list[RowBatch]:
        rng = random.Random(f"{self.spec.seed}:patients:{number}")
        first = number * PATIENTS_PER_BLOCK
        last = min(self.spec.patients, first + PATIENTS_PER_BLOCK)
        rows: dict[str, list[Row]] = {t: [] for t in PATIENT_TABLES}
        for local in range(first, last):
            self._patient(rng, local, rows)
        return [RowBatch(t, COLUMNS[t], rows[t]) for t in PATIENT_TABLES if rows[t]]

    def _patient(self, rng: random.Random, local: int, rows: dict[str, list[Row]]) -> None:
        person = self._person(rng)
        rows["patients"].append(self._patient_row(rng, person, local))
        rows["patient_contacts"].append(self._contact_row(rng, person))
        self._conditions(rng, person, rows["patient_conditions"])
        self._observations(rng, person, rows["patient_observations"])
        self._medications(rng, person, rows["patient_medications"])
        self._care(person, rows["care_relationships"])
        for therapy in self._therapies(rng, person):
            self._treat(rng, person, therapy, rows)

    # -- who the patient is

    def _person(self, rng: random.Random) -> _Person:
        condition = CONDITION_CHOICE(rng)
        low, high, mode = AGE_SHAPE[condition]
        age = max(18, min(90, round(rng.triangular(low, high, mode))))
        chances = COMORBIDITY_CHANCES[condition, age >= 60]
        found = tuple(key for key, chance in chances if rng.random() < chance)
        if "ckd4" in found:
            found = tuple(key for key in found if key != "ckd3")
        return _Person(id=self.ids.take("patients"), age=age,
                       sex="female" if rng.random() < FEMALE_SHARE[condition] else "male",
                       condition=condition, severity=SEVERITY_CHOICE(rng),
                       comorbidities=found, physician=_one_of(rng, self.ref.physician_ids),
                       pharmacy=_below(rng, len(self.ref.pharmacy_ids)))

    def _patient_row(self, rng: random.Random, person: _Person, local: int) -> Row:
        # Born within the year before the age-th birthday, so the age at the end is exact.
        birthday = _years_before(self.spec.end, person.age).toordinal()
        birth = birthday - _below(rng, 365)
        pregnant = None
        if person.sex == "female":
            pregnant = person.age <= 45 and rng.random() < 0.01
        return (person.id, f"P-{local + 1:07d}", self.days(birth), person.sex, pregnant,
                ROUTE_CHOICE(rng), AVOID_CHOICE(rng), person.severity, True, self.created)

    def _contact_row(self, rng: random.Random, person: _Person) -> Row:
        first, last = _one_of(rng, FIRST_NAMES), _one_of(rng, LAST_NAMES)
        # example.org is reserved (RFC 2606): a notice sent to it reaches nobody.
        email = (f"{first}.{last}.{person.id}@{EMAIL_DOMAIN}".lower()
                 if rng.random() < 0.7 else None)
        # 555-0100 to 555-0199 are reserved for fiction in the North American plan.
        phone = (f"+1-{_one_of(rng, PHONE_AREAS)}-555-01{_below(rng, 100):02d}"
                 if rng.random() < 0.9 else None)
        address = None
        if rng.random() < 0.8:
            address = (f"{1 + _below(rng, 199)} {_one_of(rng, STREETS)} Street, "
                       f"{_one_of(rng, TOWNS)}")
        return (person.id, f"{first} {last}", email, phone, address)

    def _conditions(self, rng: random.Random, person: _Person, out: list[Row]) -> None:
        text, code = CONDITION_TEXT[person.condition](rng)
        out.append((self.ids.take("patient_conditions"), person.id, text,
                    "snomed" if code else None, code, person.severity, True))
        for key in person.comorbidities:
            comorbidity = COMORBIDITIES[key]
            out.append((self.ids.take("patient_conditions"), person.id,
                        _one_of(rng, comorbidity.texts),
                        "snomed" if comorbidity.code else None, comorbidity.code, None, True))

    def _observations(self, rng: random.Random, person: _Person, out: list[Row]) -> None:
        liver = "liver" in person.comorbidities
        kidneys = "ckd3" in person.comorbidities or "ckd4" in person.comorbidities
        if kidneys or rng.random() < 0.85:
            out.append((self.ids.take("patient_observations"), person.id, "egfr",
                        self._egfr(rng, person), "mL/min/1.73m2", None, None,
                        self.days(self.end - _below(rng, 365))))
        if liver or rng.random() < 0.4:
            day = self.days(self.end - _below(rng, 365))
            alt = rng.uniform(60, 200) if liver else rng.uniform(8, 45)
            ast = rng.uniform(50, 180) if liver else rng.uniform(10, 40)
            out.append((self.ids.take("patient_observations"), person.id, "alt",
                        float(round(alt)), "U/L", 40.0, None, day))
            out.append((self.ids.take("patient_observations"), person.id, "ast",
                        float(round(ast)), "U/L", 40.0, None, day))

    @staticmethod
    def _egfr(rng: random.Random, person: _Person) -> float:
        if "ckd4" in person.comorbidities:
            return float(15 + _below(rng, 15))
        if "ckd3" in person.comorbidities:
            return float(30 + _below(rng, 30))
        value = 110 - 0.7 * max(0, person.age - 30) + rng.gauss(0, 10)
        return float(round(max(60.0, min(130.0, value))))

    def _medications(self, rng: random.Random, person: _Person, out: list[Row]) -> None:
        for name, rxnorm in _co_medication(rng, person):
            active = rng.random() < 0.92
            out.append((self.ids.take("patient_medications"), person.id, name, rxnorm,
                        active))

    def _care(self, person: _Person, out: list[Row]) -> None:
        """One relationship with the physician, one with the pharmacy."""
        pharmacy_id = self.ref.pharmacy_ids[person.pharmacy]
        out.append((self.ids.take("care_relationships"), person.id, person.physician, None))
        out.append((self.ids.take("care_relationships"), person.id, None, pharmacy_id))

    # -- what they take for spasticity, and what the pharmacy hands over

    def _therapies(self, rng: random.Random, person: _Person) -> list[_Therapy]:
        primary = PRIMARY_CHOICE(rng)
        if primary == "dantrolene" and "liver" in person.comorbidities:
            primary = "baclofen"  # dantrolene is contraindicated in active liver disease
        first = self._therapy(rng, person, primary, self._start_day(rng))
        therapies = [first]
        room_to_switch = first.start < self.end - 150
        if primary in SWITCHABLE and room_to_switch and rng.random() < SWITCH_RATE:
            therapies.append(self._switch(rng, person, first))
        elif rng.random() < ADD_ON_RATE:
            add_on = ADD_ON_CHOICE[primary](rng)
            therapies.append(self._therapy(
                rng, person, add_on, self._start_day(rng),
                f"add-on for spasticity due to {INDICATION[person.condition]}"))
        return therapies

    def _start_day(self, rng: random.Random) -> int:
        """Some long-term users who started before the window; most start during it."""
        if rng.random() < STARTED_BEFORE_WINDOW:
            return self.start - 30 - _below(rng, 970)
        return self.start + _below(rng, WINDOW_DAYS - 20)

    def _therapy(self, rng: random.Random, person: _Person, ingredient: str, start: int,
                 reason: str | None = None) -> _Therapy:
        regimen = REGIMEN_CHOICE[ingredient](rng)
        stop = None
        if regimen.supply_days < 30:
            stop = start + regimen.supply_days * (1 + _below(rng, 3))  # a short course
        elif rng.random() < STOP_RATE:
            # Stopped after at least a month inside the window: many stop for side effects.
            stop = max(start, self.start) + 30 + _below(rng, 470)
        why = reason or f"spasticity due to {INDICATION[person.condition]}"
        return _Therapy(ingredient, regimen, start, stop, why)

    def _switch(self, rng: random.Random, person: _Person, first: _Therapy) -> _Therapy:
        """Stop the first drug part-way and start the other one a few days later (the
        first started at least 150 days before the end, so there is room)."""
        low = max(first.start, self.start) + 30
        stop = low + _below(rng, self.end - 60 - low)
        first.stop = stop
        first.reason = f"stopped: {_one_of(rng, STOP_REASONS)}"
        return self._therapy(rng, person, SWITCHABLE[first.ingredient],
                             stop + 1 + _below(rng, 14), f"switched from {first.ingredient}")

    def _treat(self, rng: random.Random, person: _Person, therapy: _Therapy,
               rows: dict[str, list[Row]]) -> None:
        product_id = self.ref.product_ids[therapy.regimen.product]
        prescription_id = self.ids.take("prescriptions")
        stop = therapy.stop if therapy.stop is not None and therapy.stop <= self.end else None
        rows["prescriptions"].append((
            prescription_id, person.id, person.physician, therapy.ingredient, product_id,
            therapy.regimen.dose_text, "active" if stop is None else "stopped",
            self.days(therapy.start), None if stop is None else self.days(stop),
            therapy.reason))
        dispensings = rows["dispensings"]
        before = len(dispensings)
        self._dispense(rng, person, therapy, prescription_id, dispensings)
        if product_id in self.baclofen_products and len(dispensings) > before:
            self._remember_baclofen(rng, dispensings[before:])

    def _dispense(self, rng: random.Random, person: _Person, therapy: _Therapy,
                  prescription_id: int, out: list[Row]) -> None:
        """Refills every supply period, sometimes a few days late, inside the window, each
        from the lot on the shelf of the pharmacy that day (of the product that lot is of).
        The hot loop of the generator: locals only."""
        regimen = therapy.regimen
        supply, quantity = regimen.supply_days, regimen.quantity
        chance = rng.random
        day = therapy.start if therapy.start >= self.start else self.start + int(
            chance() * supply)
        last = self.end if therapy.stop is None else min(therapy.stop, self.end)
        shelves = self.ref.shelves[PRODUCT_INDEX[regimen.product]]
        pharmacy_ids, dates, first_day = self.ref.pharmacy_ids, self.days.cache, self.days.first
        row_id = self.ids.next["dispensings"]
        while day <= last:
            pharmacy = person.pharmacy
            if chance() < 0.03:  # now and then a fill at another pharmacy
                pharmacy = int(chance() * len(shelves))
            shelf = shelves[pharmacy]
            on_shelf = bisect_right(shelf.days, day) - 1
            # The product is the lot's: a real twin stocked in place of the prescribed one.
            out.append((row_id, person.id, shelf.products[on_shelf], shelf.lots[on_shelf],
                        quantity, dates[day - first_day], pharmacy_ids[pharmacy],
                        person.physician, prescription_id))
            row_id += 1
            day += supply - 1 + int(chance() ** 2 * 21)  # refills 0–20 days late, mean 7
        self.ids.next["dispensings"] = row_id

    def _remember_baclofen(self, rng: random.Random, rows: list[Row]) -> None:
        """Offer one of the patient's baclofen fills to the background sample, and their
        first fill of each story lot to that lot's sample."""
        receipts = [(row[1], row[2], row[3], row[5].toordinal()) for row in rows]
        self.baclofen_receipts.offer(_one_of(rng, receipts))
        offered: set[int] = set()
        for receipt in receipts:
            lot = receipt[2]
            if lot in self.story_receipts and lot not in offered:
                offered.add(lot)
                self.story_receipts[lot].offer(receipt)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


MEDICINE_GROUPS = {name: _Choice(options) for name, options in (
    ("opioid", OPIOIDS), ("gabapentinoid", GABAPENTINOIDS),
    ("antidepressant", ANTIDEPRESSANTS), ("antihypertensive", ANTIHYPERTENSIVES),
    ("antiepileptic", ANTIEPILEPTICS))}


def _co_medication(rng: random.Random, person: _Person) -> list[Medicine]:
    """Other medicines, by condition and age, in proportions typical of these patients."""
    has = person.comorbidities
    sci = person.condition == "sci"
    groups = (
        ("opioid", 0.30 if sci else 0.13),
        ("gabapentinoid", 0.45 if sci else 0.28),
        ("antidepressant", 0.85 if "depression" in has else 0.10),
        ("antihypertensive", 0.80 if "hypertension" in has else 0.03),
        ("antiepileptic", 0.75 if "epilepsy" in has else 0.0),
    )
    found = [MEDICINE_GROUPS[group](rng) for group, chance in groups if rng.random() < chance]
    singles: tuple[tuple[float, Medicine], ...] = (
        (0.40 if "insomnia" in has else 0.03, ("Zolpidem 10 mg tablet", None)),
        (0.80 if "diabetes" in has else 0.0, ("Metformin 500 mg tablet", None)),
        (0.30 if person.age >= 55 else 0.05, ("Atorvastatin 20 mg tablet", None)),
        (0.12, ("Omeprazole 20 mg capsule", None)),
        (0.60 if "bladder" in has else 0.02, ("Oxybutynin 5 mg tablet", None)),
        (0.12 if person.condition == "ms" else 0.0,
         ("Fampridine 10 mg prolonged-release tablet", None)),
        (0.03, ("Clonazepam 0.5 mg tablet", None)),
        (0.01, ("Ciprofloxacin 500 mg tablet", "2551")),
        (0.005, ("Fluvoxamine 50 mg tablet", "42355")),
    )
    found.extend(medicine for chance, medicine in singles if rng.random() < chance)
    return found


# ---------------------------------------------------------------------------------------
# Adverse-event reports


@dataclass(frozen=True, slots=True)
class _Reaction:
    weight: float
    term: str  # FAERS / MedDRA preferred-term name
    lay: str
    serious: bool = False


BACKGROUND_REACTIONS = (
    _Reaction(30, "Somnolence", "very sleepy during the day"),
    _Reaction(14, "Dizziness", "dizzy, especially when standing up"),
    _Reaction(12, "Asthenia", "legs feel weak"),
    _Reaction(5, "Muscular weakness", "muscles feel weaker than before"),
    _Reaction(10, "Nausea", "feeling sick after the tablets"),
    _Reaction(6, "Fatigue", "tired all the time"),
    _Reaction(5, "Confusional state", "muddled and confused", serious=True),
    _Reaction(5, "Headache", "headaches"),
    _Reaction(4, "Insomnia", "trouble sleeping"),
    _Reaction(3, "Hypotension", "low blood pressure, felt faint"),
    _Reaction(3, "Constipation", "constipated"),
    _Reaction(2, "Pollakiuria", "needing to pass urine often"),
    _Reaction(1, "Drug withdrawal syndrome",
              "ran out of tablets; hallucinations and high temperature", serious=True),
    _Reaction(1, "Seizure", "had a seizure", serious=True),
)
STORY_REACTIONS = (
    _Reaction(65, "Muscle spasticity", "spasms and stiffness much worse since the new pack"),
    _Reaction(25, "Drug ineffective", "the tablets do not seem to work any more"),
    _Reaction(10, "Product quality issue",
              "several patients say tablets from this lot work less well than before"),
)
STORY_SPASTICITY_PER_LOT = 4
BACKGROUND_CHOICE = _Choice((r.weight, r) for r in BACKGROUND_REACTIONS)
STORY_CHOICE = _Choice((r.weight, r) for r in STORY_REACTIONS)
REPORTER_CHOICE = _Choice(((50, "patient"), (25, "physician"), (25, "pharmacist")))


class _ReportFactory:
    def __init__(self, spec: PopulationSpec, ref: _Reference, ids: _Ids, days: _Days,
                 strengths: Mapping[int, str]) -> None:
        self.spec = spec
        self.ref = ref
        self.ids = ids
        self.days = days
        self.strengths = strengths
        self.end = spec.end.toordinal()
        self.rng = random.Random(f"{spec.seed}:adverse-events")

    def reports(self, background: list[Receipt],
                story: Mapping[int, list[Receipt]]) -> list[Row]:
        rows = [self._report(receipt, BACKGROUND_CHOICE(self.rng)) for receipt in background]
        rows.extend(self._story(story))
        rows.sort(key=lambda row: row[9])  # by day received, as they would arrive (stable)
        # Numbered in order of arrival; case intake turns them into cases.
        return [(number, *row[1:]) for number, row in enumerate(rows, start=1)]

    def _story(self, story: Mapping[int, list[Receipt]]) -> list[Row]:
        """12–20 reports of lost effect on the two sub-potent lots, a patient once. On
        each lot at least STORY_SPASTICITY_PER_LOT of them report worsening spasticity,
        so that the one side effect clusters on both lots (the demo story), the rest as
        drawn."""
        wanted = self.rng.randint(12, 20)
        per_lot = [wanted - wanted // 2, wanted // 2]
        rows: list[Row] = []
        reported: set[int] = set()
        for count, lot in zip(per_lot, self.ref.story_lots, strict=True):
            receipts = [r for r in story[lot] if r[0] not in reported]
            chosen = self.rng.sample(receipts, min(count, len(receipts)))
            for index, receipt in enumerate(chosen):
                reported.add(receipt[0])
                reaction = (STORY_REACTIONS[0] if index < STORY_SPASTICITY_PER_LOT
                            else STORY_CHOICE(self.rng))
                rows.append(self._report(receipt, reaction, onset_within=(3, 25)))
        return rows

    def _report(self, receipt: Receipt, reaction: _Reaction,
                onset_within: tuple[int, int] = (1, 20)) -> Row:
        patient_id, product_id, lot_id, dispensed = receipt
        # Never before the dispensing, never after the end of the window.
        onset = min(self.end, dispensed + self.rng.randint(*onset_within))
        received = min(self.end, onset + self.rng.randint(1, 45))
        reporter = ("pharmacist" if reaction.term == "Product quality issue"
                    else REPORTER_CHOICE(self.rng))
        lot_number = self.ref.lot_numbers[lot_id]
        narrative = (f"SYNTHETIC report made by {GENERATOR} (seed {self.spec.seed}); not a "
                     f"real person or event. Reporter ({reporter}): {reaction.lay}. Baclofen "
                     f"{self.strengths[product_id]} tablets, lot {lot_number}, dispensed "
                     f"{self.days(dispensed).isoformat()}.")
        return (0, patient_id, product_id, lot_id, "baclofen", reaction.lay, reaction.term,
                reaction.serious, self.days(onset), self.days(received), reporter,
                narrative)


def background_report_count(patients: int) -> int:
    """A few hundred for the demo's few thousand patients; never more than 400."""
    return min(400, max(50, patients // 10))


# ---------------------------------------------------------------------------------------
# The generator


def generate(patients: int, seed: int = DEFAULT_SEED, *, end: date = DEFAULT_END,
             id_offsets: Mapping[str, int] | None = None) -> Iterator[RowBatch]:
    """The population's rows, in foreign-key order: the reference data, then one batch per
    patient table per block of 1,000 patients (about 10k dispensings), then the reports.

    `id_offsets` maps a table to the largest id already in it (default 0): generated ids
    follow it. Same arguments, same rows.
    """
    if patients < 1:
        raise ValueError("a population needs at least one patient")
    spec = PopulationSpec(patients=patients, seed=seed, end=end)
    ids = _Ids(id_offsets or {})
    days = _Days(end)
    reference = _ReferenceBuilder(spec, ids, days).build()
    yield from reference.batches
    factory = _PatientFactory(spec, reference, ids, days,
                              background_report_count(patients))
    for block in range(math.ceil(patients / PATIENTS_PER_BLOCK)):
        yield from factory.block(block)
    strengths = {reference.product_ids[p.key]: p.strength for p in PRODUCTS}
    reports = _ReportFactory(spec, reference, ids, days, strengths).reports(
        factory.baclofen_receipts.items,
        {lot: r.items for lot, r in factory.story_receipts.items()})
    if reports:
        yield RowBatch(REPORTS, COLUMNS[REPORTS], reports)


# ---------------------------------------------------------------------------------------
# The writer


class _Sink(Protocol):
    def write(self, batch: RowBatch) -> None: ...


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


class _Converters:
    """Per-column value conversion with the dialect's own bind processors (how SQLAlchemy
    stores a date or a timestamp in SQLite, a list as JSON), memoised: those values repeat
    heavily. Only types whose processor changes the value are converted; the Boolean and
    Float processors merely check a value the generator already made a bool or a float."""

    def __init__(self, connection: Connection, types: tuple[type[Any], ...]) -> None:
        self.dialect = connection.dialect
        self.types = types
        self._plans: dict[str, list[tuple[int, _Memo]]] = {}

    def _plan(self, table: str, columns: tuple[str, ...]) -> list[tuple[int, _Memo]]:
        plan = self._plans.get(table)
        if plan is None:
            plan = self._plans[table] = []
            for index, name in enumerate(columns):
                column_type = _table(table).c[name].type
                if not isinstance(column_type, self.types):
                    continue
                processor = column_type.dialect_impl(self.dialect).bind_processor(self.dialect)
                if processor is not None:
                    plan.append((index, _Memo(processor)))
        return plan

    def convert(self, batch: RowBatch) -> Sequence[Row]:
        rows: Sequence[Row] = batch.rows
        for index, memo in self._plan(batch.table, batch.columns):
            get = memo.__getitem__
            rows = [(*row[:index], get(row[index]), *row[index + 1:]) for row in rows]
        return rows


class _Memo(dict[Any, Any]):
    """A processor's results by input value (inputs are hashable: the generator makes
    JSON lists tuples)."""

    def __init__(self, processor: Callable[[Any], Any]) -> None:
        super().__init__()
        self.processor = processor

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.processor(key)
        return value


class _ExecutemanySink:
    """The Core `insert(table)` compiled once per table for this dialect, run through the
    driver's executemany on converted rows: the statement SQLAlchemy would send, without
    building and processing a dict per row. Measured on SQLite, 50k patients: 251k rows/s
    against 84k for `connection.execute(insert(table), dicts)`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.converters = _Converters(connection, (Date, DateTime, JSON))
        self._statements: dict[str, tuple[str, list[str] | None]] = {}

    def _statement(self, batch: RowBatch) -> tuple[str, list[str] | None]:
        """The SQL, and for named parameter styles the parameter names in row order."""
        found = self._statements.get(batch.table)
        if found is None:
            compiled = insert(_table(batch.table)).compile(
                dialect=self.connection.dialect, column_keys=list(batch.columns))
            if compiled.positional and list(compiled.positiontup or ()) != list(batch.columns):
                raise ValueError(f"{batch.table}: the INSERT orders its columns differently")
            names = None if compiled.positional else list(batch.columns)
            found = self._statements[batch.table] = (str(compiled), names)
        return found

    def write(self, batch: RowBatch) -> None:
        sql, names = self._statement(batch)
        rows = self.converters.convert(batch)
        if names is None:
            self.connection.exec_driver_sql(sql, list(rows))
        else:
            self.connection.exec_driver_sql(sql, [dict(zip(names, row, strict=True))
                                                  for row in rows])


class _CoreSink:
    """Plain `connection.execute(insert(table), [dict, ...])`: the portable baseline."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def write(self, batch: RowBatch) -> None:
        params = [dict(zip(batch.columns, row, strict=True)) for row in batch.rows]
        self.connection.execute(insert(_table(batch.table)), params)


class _CopySink:
    """PostgreSQL binary COPY FROM STDIN through psycopg, in the load's transaction. With
    the column types declared up front psycopg encodes every value in C. Measured, 50k
    patients: 261k rows/s, against 41k for executemany and 34k for Core insert() (and on
    dispensings alone 660k rows/s, twice text COPY)."""

    def __init__(self, connection: Connection) -> None:
        self.driver = _driver_connection(connection)

    def write(self, batch: RowBatch) -> None:
        sql = f"COPY {batch.table} ({', '.join(batch.columns)}) FROM STDIN (FORMAT BINARY)"
        types = [_copy_type(_table(batch.table).c[name].type) for name in batch.columns]
        with self.driver.cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in batch.rows:
                copy.write_row(row)


def _copy_type(column_type: Any) -> str:
    """The PostgreSQL type psycopg should encode a column's values as."""
    if isinstance(column_type, DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    for kind, name in COPY_TYPES:
        if isinstance(column_type, kind):
            return name
    raise ValueError(f"no COPY type for {column_type!r}")


COPY_TYPES: tuple[tuple[type[Any], str], ...] = (
    (Boolean, "bool"), (BigInteger, "int8"), (Integer, "int4"), (Float, "float8"),
    (Date, "date"), (JSON, "json"), (String, "text"))


def _driver_connection(connection: Connection) -> Any:
    """The DBAPI connection under SQLAlchemy's (psycopg or sqlite3), same transaction."""
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection has no driver connection")
    return driver


def _sink(connection: Connection, method: Method) -> tuple[_Sink, str]:
    postgres = connection.dialect.name == "postgresql"
    chosen = ("copy" if postgres else "executemany") if method == "auto" else method
    if chosen == "copy":
        if not postgres:
            raise ValueError("COPY needs PostgreSQL")
        return _CopySink(connection), chosen
    if chosen == "executemany":
        return _ExecutemanySink(connection), chosen
    return _CoreSink(connection), chosen


def _id_offsets(connection: Connection) -> dict[str, int]:
    offsets = {}
    for table in ID_TABLES:
        largest = connection.execute(text(f"SELECT max(id) FROM {table}")).scalar()
        offsets[table] = int(largest or 0)
    return offsets


def _refuse_second_population(connection: Connection) -> None:
    """Pseudonyms and usernames would collide; a second population needs a fresh database."""
    found = connection.execute(
        text("SELECT 1 FROM patients WHERE pseudonym = 'P-0000001'")).first()
    if found is not None:
        raise Conflict("this database already holds a synthetic population; generate into "
                       "a fresh database")


def _bulk_indexes() -> list[Index]:
    return [ix for name in BULK_TABLES for ix in sorted(_table(name).indexes,
                                                        key=lambda i: str(i.name))]


def _bulk_foreign_keys() -> list[ForeignKeyConstraint]:
    return [fk for name in BULK_TABLES for fk in sorted(_table(name).foreign_key_constraints,
                                                        key=lambda f: str(f.name))]


@contextmanager
def _bulk_load_mode(connection: Connection, on_progress: ProgressCallback) -> Iterator[None]:
    """Drop the secondary indexes (and PostgreSQL foreign keys) of the patient tables for
    the load and rebuild them afterwards, all inside the load's transaction: a failure
    rolls the schema back with the data."""
    postgres = connection.dialect.name == "postgresql"
    indexes = _bulk_indexes()
    foreign_keys = _bulk_foreign_keys() if postgres else []
    with more_memory_for_bulk_load(connection):
        for fk in foreign_keys:
            connection.execute(DropConstraint(fk))
        for index in indexes:
            index.drop(connection, checkfirst=True)
        yield
        steps = len(indexes) + len(foreign_keys)
        for done, index in enumerate(indexes, start=1):
            index.create(connection)
            on_progress(done, steps, "rebuilding indexes")
        for done, fk in enumerate(foreign_keys, start=len(indexes) + 1):
            connection.execute(AddConstraint(fk))
            on_progress(done, steps, "checking foreign keys")


def _ignore_progress(done: int, total: int, what: str) -> None:
    """The default progress callback."""


# -- generation in a second process
#
# Generating and pickling (for the digest) cost about as much CPU as the database spends
# storing the rows, so for big populations a producer process does them while this one
# writes. The producer is a fresh interpreter running this module (not multiprocessing,
# whose "spawn" re-imports the caller's main script and whose "fork" is unsafe in a
# process with threads). It writes each batch as a header line "<table> <bytes>\n" and
# the pickle of its rows, which is also what the digest hashes, so the digest is the same
# whichever process generated the rows. The pipe's buffer bounds the memory in flight.

PARALLEL_FROM_PATIENTS = 20_000
"""Below this a second process costs more to start than it saves."""


def _pickled_batches(spec: PopulationSpec, offsets: Mapping[str, int]
                     ) -> Iterator[tuple[RowBatch, bytes]]:
    for batch in generate(spec.patients, spec.seed, end=spec.end, id_offsets=offsets):
        yield batch, _pickled(batch)


def _produce(arguments: str, out: BinaryIO) -> None:
    """The producer's body: every batch, then the line "done 0"."""
    given = json.loads(arguments)
    spec = PopulationSpec(patients=given["patients"], seed=given["seed"],
                          end=date.fromisoformat(given["end"]))
    for batch, payload in _pickled_batches(spec, given["offsets"]):
        out.write(f"{batch.table} {len(payload)}\n".encode())
        out.write(payload)
    out.write(b"done 0\n")
    out.flush()


@contextmanager
def _produced_elsewhere(spec: PopulationSpec, offsets: dict[str, int]
                        ) -> Iterator[Iterator[tuple[RowBatch, bytes]]]:
    arguments = json.dumps({"patients": spec.patients, "seed": spec.seed,
                            "end": spec.end.isoformat(), "offsets": offsets})
    command = [sys.executable, "-m", "medsafe.population.generator", "--produce", arguments]
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors) as producer:
        try:
            assert producer.stdout is not None
            yield _received(producer.stdout, producer, errors)
        finally:
            if producer.poll() is None:
                producer.kill()
            producer.wait()


def _received(stream: IO[bytes], producer: subprocess.Popen[bytes], errors: IO[bytes]
              ) -> Iterator[tuple[RowBatch, bytes]]:
    while True:
        header = stream.readline().split()
        if len(header) != 2:
            producer.wait()
            errors.seek(0)
            last_lines = errors.read().decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError("the population generator process failed: "
                               + (" | ".join(last_lines) or f"exit {producer.returncode}"))
        table, size = header[0].decode(), int(header[1])
        if table == "done":
            return
        payload = stream.read(size)
        yield RowBatch(table, COLUMNS[table], pickle.loads(payload)), payload


def _batches(spec: PopulationSpec, offsets: dict[str, int], parallel: bool | None
             ) -> AbstractContextManager[Iterator[tuple[RowBatch, bytes]]]:
    if parallel is None:
        parallel = spec.patients >= PARALLEL_FROM_PATIENTS
    if parallel:
        return _produced_elsewhere(spec, offsets)
    return nullcontext(_pickled_batches(spec, offsets))


def write_population(engine: Engine, patients: int, seed: int = DEFAULT_SEED, *,
                     end: date = DEFAULT_END, on_progress: ProgressCallback | None = None,
                     method: Method = "auto", parallel: bool | None = None
                     ) -> PopulationSummary:
    """Generate a population into `engine`'s database in one transaction, with one audit
    event naming the generator, the seed, the counts and the rows' SHA-256 digest.

    `method`: "copy" (PostgreSQL binary COPY, the default there), "executemany" (the
    compiled Core INSERT through the driver's executemany, the default elsewhere) or
    "core" (`connection.execute(insert(table), dicts)`). `parallel`: generate in a second
    process (default: from PARALLEL_FROM_PATIENTS patients). Afterwards the tables are
    analysed so the planner knows their sizes.
    """
    progress = on_progress or _ignore_progress
    started = time.perf_counter()
    spec = PopulationSpec(patients=patients, seed=seed, end=end)
    with uow_factory(engine)() as uow:
        connection = uow.session.connection()
        _refuse_second_population(connection)
        offsets = _id_offsets(connection)
        sink, chosen = _sink(connection, method)
        tally = Digest()
        reports: list[Row] = []
        with _bulk_load_mode(connection, progress), _batches(spec, offsets,
                                                            parallel) as batches:
            for batch, payload in batches:
                if batch.table == REPORTS:
                    reports.extend(batch.rows)  # stored as cases once the load is done
                else:
                    sink.write(batch)
                tally.add(batch, payload)
                _report_progress(progress, batch, tally, spec)
        store_synthetic_reports(uow, Catalog.load(), seed, reports)
        digest = tally.hexdigest()
        record(uow, SYSTEM, "population.generate", "population", f"seed-{seed}",
               changes=_audit_changes(spec, tally.counts, digest, offsets, chosen),
               reason="bulk load of a synthetic population; every record is synthetic")
        uow.commit()
    analyse(engine, progress)
    return PopulationSummary(spec=spec, counts=tally.counts, sha256=digest,
                             seconds=time.perf_counter() - started, method=chosen,
                             id_offsets=offsets)


def _report_progress(progress: ProgressCallback, batch: RowBatch, tally: Digest,
                     spec: PopulationSpec) -> None:
    if batch.table in PATIENT_TABLES:
        progress(tally.counts["patients"], spec.patients, "patients")
    elif batch.table == REPORTS:
        progress(len(batch.rows), len(batch.rows), "adverse-event reports")
    else:
        progress(0, spec.patients, "reference data")


def _audit_changes(spec: PopulationSpec, counts: Mapping[str, int], digest: str,
                   offsets: Mapping[str, int], method: str) -> dict[str, Any]:
    return {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "seed": spec.seed,
        "patients": spec.patients, "window": [spec.window_start.isoformat(),
                                              spec.end.isoformat()],
        "counts": dict(counts), "sha256": digest, "method": method,
        "id_offsets": {t: n for t, n in offsets.items() if n},
    }


def analyse(engine: Engine, on_progress: ProgressCallback | None = None) -> None:
    """Refresh planner statistics after a bulk load. PostgreSQL also gets VACUUM, which
    sets the visibility map so that the recall query can be answered from the index."""
    progress = on_progress or _ignore_progress
    tables = ("patients", *BULK_TABLES)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for done, table in enumerate(tables, start=1):
                connection.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
                progress(done, len(tables), "analysing")
        return
    with engine.begin() as connection:
        # A sample is enough for SQLite's planner and keeps ANALYZE fast on 10M rows.
        connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
        connection.exec_driver_sql("ANALYZE")
        connection.exec_driver_sql("PRAGMA analysis_limit = 0")
    with engine.connect() as connection:
        # Fold the load's write-ahead log into the database file and shrink it.
        _driver_connection(connection).execute("PRAGMA wal_checkpoint(TRUNCATE)")
    progress(1, 1, "analysing")


if __name__ == "__main__" and sys.argv[1:2] == ["--produce"]:
    _produce(sys.argv[2], sys.stdout.buffer)
