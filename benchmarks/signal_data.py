"""A synthetic FAERS-like long table for the signal benchmarks: one row per report × drug ×
event, with the stratum columns sex and age_group and the date each report was received,
written as Parquet files in one folder. Deterministic for a seed; every name is made up.

Shape (the figures the brief gives and ../shared/reference/signal-detection.md §5):
- 6,000 drugs and 15,000 event terms (FAERS has about 4-8 thousand drugs and 10-20
  thousand PTs in use), each drawn with Zipf-like frequencies (probability ∝ 1/rank).
- Drugs per report: one in 52 % of reports, otherwise 2 + a geometric count, so the
  median is 1 and the mean 3.2 (FAERS: median 1, mean 3.18). Events per report: a
  geometric count with mean 3 overall (54 M reaction rows for 18 M reports, reference
  §5), rising with the report's number of drugs so that a report has about 20 rows on
  average (the issue's 400 M report-drug-event rows for 20 M reports). A drug or term
  drawn twice for one report is kept once, so every row is a distinct (report, drug,
  event); what remains (5 M rows, seed 5): 3.05 drugs (median 1), 2.85 events and 17
  rows per report.
- Events depend on drugs, as in real reports: each drug has a profile of 40 terms (drawn
  Zipf-like), and 40 % of a report's event draws come from the profile of one of its
  drugs, the rest from all terms. This gives the table many mild associations (the
  prior's second component has something to fit) and slightly fewer distinct pairs
  than independent draws (1.81 M rather than 1.90 M at 5 M rows).
- PLANTED pairs on top: a report with the planted drug also gets the planted event with
  the given probability, so the output has known signals (weak to strong) to find.
- Sex and age group per report in made-up proportions; the received date rises with the
  report id, over as many days as FAERS needs for that many rows (about 26 M rows a year:
  77.4 M report-drug-PT counts for 2021Q1-2023Q4, reference §5), ending 2023-12-31.

Generated in chunks of reports with NumPy (memory stays bounded whatever the size) and
written with pyarrow.parquet, the names dictionary-encoded, in row groups of at most 2 M
rows and a new file every `rows_per_file` rows (default 10 M).

    uv run python -m benchmarks.signal_data FOLDER [--rows 5e6] [--seed 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

DRUGS = 6_000
EVENTS = 15_000
ZIPF_EXPONENT = 1.0
SINGLE_DRUG_SHARE = 0.52
MEAN_DRUGS = 3.2
MEAN_EVENTS = 3.0
ROWS_PER_REPORT = 20.0
ROWS_PER_YEAR = 26e6
LAST_DAY = date(2023, 12, 31)
SEXES = ("F", "M", "U")
SEX_SHARES = (0.58, 0.37, 0.05)
AGE_GROUPS = ("0-17", "18-44", "45-64", "65-74", "75+", "unknown")
AGE_SHARES = (0.06, 0.22, 0.27, 0.14, 0.11, 0.20)
PROFILE_SIZE = 40
PROFILE_SHARE = 0.4
REPORTS_PER_CHUNK = 200_000
MARKER = ".complete"  # written last, so a half-written table is never reused


@dataclass(frozen=True, slots=True)
class Planted:
    """A drug-event pair with a real association: `rate` of the drug's reports also list
    the event."""

    drug: str
    event: str
    rate: float


@dataclass(frozen=True, slots=True)
class Table:
    """What was written (also the marker's content)."""

    folder: str
    rows: int
    seed: int
    reports: int
    drugs_used: int
    events_used: int
    files: int
    bytes: int
    seconds: float
    first_day: str
    last_day: str
    planted: tuple[Planted, ...]

    @property
    def input(self) -> str:
        """The path to give `medsafe signals run --input`: the file, or a glob over the
        folder's files."""
        if self.files == 1:
            return str(Path(self.folder) / _file_name(0))
        return str(Path(self.folder) / "*.parquet")


def drug_name(rank: int) -> str:
    return f"DRUG{rank:05d}"


def event_name(rank: int) -> str:
    return f"EVENT{rank:05d}"


# Planted pairs: drug and event ranks spread from common to rare, rates from strong to
# weak, so some pairs are easy and some hard to find.
PLANTED = tuple(
    Planted(drug_name(d), event_name(e), r) for d, e, r in (
        (3, 40, 0.02), (8, 120, 0.05), (15, 7, 0.03), (25, 900, 0.10), (40, 300, 0.20),
        (60, 2_500, 0.05), (90, 55, 0.08), (150, 1_500, 0.30), (250, 4_000, 0.15),
        (400, 200, 0.10), (600, 8_000, 0.25), (900, 650, 0.20), (1_300, 12_000, 0.40),
        (2_000, 3_300, 0.30), (3_000, 90, 0.50), (4_500, 6_000, 0.50)))


def default_folder(rows: int, seed: int) -> Path:
    """Where the benchmarks keep a table unless told otherwise (shared between them)."""
    return Path(tempfile.gettempdir()) / "medsafe-signal-tables" / f"rows-{rows}-seed-{seed}"


def ensure_table(folder: Path, rows: int, seed: int,
                 rows_per_file: int = 10_000_000) -> Table:
    """The table in `folder`, written unless a complete one of that size and seed is
    there already."""
    marker = folder / MARKER
    if marker.exists():
        found = json.loads(marker.read_text())
        if found.get("rows") == rows and found.get("seed") == seed:
            found["planted"] = tuple(Planted(**p) for p in found["planted"])
            return Table(**found)
        marker.unlink()
    return write_table(folder, rows, seed, rows_per_file)


def write_table(folder: Path, rows: int, seed: int, rows_per_file: int) -> Table:
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    days = max(91, round(rows / ROWS_PER_YEAR * 365.25))
    expected_reports = 0.0  # set from the first chunk's rows per report
    model = _Model.of(seed)
    drug_names = pa.array([drug_name(r) for r in range(1, DRUGS + 1)], pa.string())
    event_names = pa.array([event_name(r) for r in range(1, EVENTS + 1)], pa.string())
    drugs_seen = np.zeros(DRUGS, dtype=bool)
    events_seen = np.zeros(EVENTS, dtype=bool)
    written = reports = files = in_file = 0
    writer: pq.ParquetWriter | None = None
    chunk = 0
    try:
        while written < rows:
            rng = np.random.default_rng([seed, chunk])
            part = _chunk(rng, reports, model)
            if chunk == 0:
                expected_reports = rows / (part.report.size / REPORTS_PER_CHUNK)
            part = _cut(part, rows - written)
            drugs_seen[part.drug] = True
            events_seen[part.event] = True
            if writer is None or in_file >= rows_per_file:
                if writer is not None:
                    writer.close()
                writer = pq.ParquetWriter(folder / _file_name(files), _SCHEMA)
                files, in_file = files + 1, 0
            writer.write_table(_arrow(part, drug_names, event_names, days,
                                      expected_reports), row_group_size=1 << 21)
            written += part.report.size
            in_file += part.report.size
            reports = int(part.report[-1]) + 1
            chunk += 1
    finally:
        if writer is not None:
            writer.close()
    first = LAST_DAY - timedelta(days=days - 1)
    table = Table(
        folder=str(folder), rows=rows, seed=seed, reports=reports,
        drugs_used=int(drugs_seen.sum()), events_used=int(events_seen.sum()), files=files,
        bytes=sum(p.stat().st_size for p in folder.glob("*.parquet")),
        seconds=round(time.perf_counter() - started, 1), first_day=first.isoformat(),
        last_day=LAST_DAY.isoformat(), planted=PLANTED)
    (folder / MARKER).write_text(json.dumps(asdict(table)))
    return table


def _drug_count_moments() -> tuple[float, float, float]:
    """p of the geometric part of the drug count (1 with SINGLE_DRUG_SHARE, else
    1 + geometric(p)), and the count's first two moments."""
    extra = 1 - SINGLE_DRUG_SHARE
    tail_mean = (MEAN_DRUGS - SINGLE_DRUG_SHARE) / extra  # 1 + 1/p
    p = 1 / (tail_mean - 1)
    tail_square = (1 - p) / p**2 + tail_mean**2
    return p, MEAN_DRUGS, SINGLE_DRUG_SHARE + extra * tail_square


def _events_given_drugs() -> tuple[float, float]:
    """a, b with E[events | k drugs] = a + b·k, E[events] = MEAN_EVENTS and
    E[drugs × events] = ROWS_PER_REPORT."""
    _, mean, square = _drug_count_moments()
    b = (ROWS_PER_REPORT - MEAN_EVENTS * mean) / (square - mean**2)
    return MEAN_EVENTS - b * mean, b


_P_MORE_DRUGS = _drug_count_moments()[0]
_EVENTS_BASE, _EVENTS_PER_DRUG = _events_given_drugs()


@dataclass(frozen=True, slots=True)
class _Rows:
    report: NDArray[np.int64]
    drug: NDArray[np.int32]
    event: NDArray[np.int32]
    sex: NDArray[np.int8]
    age: NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class _Model:
    """What every chunk draws from: the Zipf-like frequencies, each drug's event profile
    and the planted pairs (as indices)."""

    drug_cdf: NDArray[np.float64]
    event_cdf: NDArray[np.float64]
    profiles: NDArray[np.int64]
    planted_drugs: NDArray[np.int64]
    planted_events: NDArray[np.int64]
    planted_rates: NDArray[np.float64]

    @classmethod
    def of(cls, seed: int) -> _Model:
        event_cdf = _zipf_cdf(EVENTS)
        rng = np.random.default_rng([seed, 1 << 40])
        profiles = np.searchsorted(event_cdf, rng.random((DRUGS, PROFILE_SIZE)),
                                   side="right")
        return cls(drug_cdf=_zipf_cdf(DRUGS), event_cdf=event_cdf, profiles=profiles,
                   planted_drugs=np.array([int(p.drug[4:]) - 1 for p in PLANTED]),
                   planted_events=np.array([int(p.event[5:]) - 1 for p in PLANTED]),
                   planted_rates=np.array([p.rate for p in PLANTED]))


def _chunk(rng: np.random.Generator, first_report: int, model: _Model) -> _Rows:
    """REPORTS_PER_CHUNK reports, crossed into rows (report, drug, event)."""
    count = REPORTS_PER_CHUNK
    drug_counts = np.where(rng.random(count) < SINGLE_DRUG_SHARE, 1,
                           1 + rng.geometric(_P_MORE_DRUGS, count))
    event_counts = rng.geometric(1 / (_EVENTS_BASE + _EVENTS_PER_DRUG * drug_counts))
    local = np.arange(count, dtype=np.int64)
    drug_report = np.repeat(local, drug_counts)
    drugs = np.searchsorted(model.drug_cdf, rng.random(drug_report.size), side="right")
    drug_report, drugs = _distinct(drug_report, drugs, DRUGS)
    event_report = np.repeat(local, event_counts)
    events = np.searchsorted(model.event_cdf, rng.random(event_report.size), side="right")
    # A share of the event draws come from the profile of one of the report's drugs.
    drugs_of = np.bincount(drug_report, minlength=count)
    first_drug = np.cumsum(drugs_of) - drugs_of
    from_profile = rng.random(events.size) < PROFILE_SHARE
    whose = event_report[from_profile]
    chosen = drugs[first_drug[whose] + (rng.random(whose.size) * drugs_of[whose]).astype(
        np.int64)]
    events[from_profile] = model.profiles[chosen, rng.integers(0, PROFILE_SIZE, whose.size)]
    # Planted associations: the drug's reports gain the event at the pair's rate.
    for drug, event, rate in zip(model.planted_drugs, model.planted_events,
                                 model.planted_rates, strict=True):
        having = drug_report[drugs == drug]
        gained = having[rng.random(having.size) < rate]
        event_report = np.concatenate([event_report, gained])
        events = np.concatenate([events, np.full(gained.size, event)])
    event_report, events = _distinct(event_report, events, EVENTS)
    # Cross each report's drugs with its events; both lists are sorted by report.
    per_report_events = np.bincount(event_report, minlength=count)
    event_start = np.concatenate([[0], np.cumsum(per_report_events)[:-1]])
    repeat = per_report_events[drug_report]
    row_report = np.repeat(drug_report, repeat)
    block_start = np.cumsum(repeat) - repeat
    offset = np.arange(row_report.size) - np.repeat(block_start, repeat)
    row_event = events[np.repeat(event_start[drug_report], repeat) + offset]
    sex = rng.choice(len(SEXES), size=count, p=SEX_SHARES).astype(np.int8)
    age = rng.choice(len(AGE_GROUPS), size=count, p=AGE_SHARES).astype(np.int8)
    return _Rows(report=row_report + first_report,
                 drug=np.repeat(drugs, repeat).astype(np.int32),
                 event=row_event.astype(np.int32),
                 sex=sex[row_report], age=age[row_report])


def _distinct(report: NDArray[np.int64], item: NDArray[np.int64],
              items: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each (report, item) once, sorted by report."""
    keys = np.unique(report * items + item)
    return keys // items, keys % items


def _cut(part: _Rows, room: int) -> _Rows:
    """The chunk's whole reports that fit in `room` rows (at least one report)."""
    if part.report.size <= room:
        return part
    last = part.report[room - 1]
    end = int(np.searchsorted(part.report, last, side="right"))
    return _Rows(part.report[:end], part.drug[:end], part.event[:end], part.sex[:end],
                 part.age[:end])


_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("drug", pa.dictionary(pa.int32(), pa.string())),
    ("event", pa.dictionary(pa.int32(), pa.string())),
    ("sex", pa.dictionary(pa.int8(), pa.string())),
    ("age_group", pa.dictionary(pa.int8(), pa.string())),
    ("received", pa.date32()),
])


def _arrow(part: _Rows, drug_names: pa.StringArray, event_names: pa.StringArray, days: int,
           expected_reports: float) -> pa.Table:
    # Reports arrive in id order, spread evenly over the period.
    day = np.minimum((part.report / expected_reports * days).astype(np.int32), days - 1)
    first = (LAST_DAY - timedelta(days=days - 1) - date(1970, 1, 1)).days
    return pa.table({
        "id": pa.array(part.report, pa.int64()),
        "drug": pa.DictionaryArray.from_arrays(part.drug, drug_names),
        "event": pa.DictionaryArray.from_arrays(part.event, event_names),
        "sex": pa.DictionaryArray.from_arrays(part.sex, pa.array(SEXES)),
        "age_group": pa.DictionaryArray.from_arrays(part.age, pa.array(AGE_GROUPS)),
        "received": pa.array(day + first, pa.int32()).cast(pa.date32()),
    }, schema=_SCHEMA)


def _zipf_cdf(size: int) -> NDArray[np.float64]:
    weights = 1 / np.arange(1, size + 1, dtype=np.float64) ** ZIPF_EXPONENT
    cdf: NDArray[np.float64] = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


def _file_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rows", type=float, default=5e6)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rows-per-file", type=float, default=10e6)
    args = parser.parse_args()
    table = ensure_table(args.folder, int(args.rows), args.seed, int(args.rows_per_file))
    print(json.dumps({k: v for k, v in asdict(table).items() if k != "planted"}))


if __name__ == "__main__":
    main()
