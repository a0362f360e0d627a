"""A synthetic FAERS quarter of real size, for benchmarks: the seven `$`-delimited files
in the FAERS layout (headers as in ../shared/data/faers/ascii-samples/faers_ascii_2017q2),
deterministic for a seed, written with plain file writes.

Sizes: by default 400,000 DEMO rows, about 1.5 million DRUG rows (3.75 per report) and
1.2 million REAC rows (3 per report), the order of a FAERS quarter of the late 2010s; OUTC,
THER, INDI and RPSR rows in the proportions of the 2017Q2 sample (75, 142, 232 and 2 per
100 reports). About 4 % of the cases also appear in an older version (a follow-up received
in the same quarter), so the reader has versions to choose between. Rows are in
primaryid order, like FDA's files. Every name and term is made up; nothing is real data.

    uv run python -m benchmarks.faers_quarter FOLDER [--reports N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

HEADERS = {
    "DEMO": "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$"
            "rept_cod$auth_num$mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$"
            "wt_cod$rept_dt$to_mfr$occp_cod$reporter_country$occr_country",
    "DRUG": "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route$dose_vbm$"
            "cum_dose_chr$cum_dose_unit$dechal$rechal$lot_num$exp_dt$nda_num$dose_amt$"
            "dose_unit$dose_form$dose_freq",
    "REAC": "primaryid$caseid$pt$drug_rec_act",
    "OUTC": "primaryid$caseid$outc_cod",
    "RPSR": "primaryid$caseid$rpsr_cod",
    "THER": "primaryid$caseid$dsg_drug_seq$start_dt$end_dt$dur$dur_cod",
    "INDI": "primaryid$caseid$indi_drug_seq$indi_pt",
}
DRUGS_PER_REPORT = 3.75
REACTIONS_PER_REPORT = 3.0
OUTCOMES_PER_REPORT = 0.75
THER_PER_REPORT = 1.42
INDI_PER_REPORT = 2.32
RPSR_PER_REPORT = 0.02
FOLLOW_UP_SHARE = 0.04

_SYLLABLES = ("ra", "lo", "mi", "zan", "tor", "vel", "qui", "dex", "sol", "pra", "ne",
              "xi", "bu", "fen", "cal", "tri", "mab", "nib", "pril", "sar")
_ROUTES = ("Oral", "Oral", "Oral", "Unknown", "Subcutaneous", "Intravenous (not otherwise "
           "specified)", "Intramuscular", "Transdermal", "")
_UNITS = ("MG", "MG", "MG", "UG", "G", "IU", "DF", "")
_COUNTRIES = ("US", "US", "US", "US", "GB", "JP", "DE", "FR", "CA", "IT", "ES", "BR",
              "COUNTRY NOT SPECIFIED")


@dataclass(slots=True)
class QuarterCounts:
    """Data rows written per file, and the number of distinct cases."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HEADERS, 0))
    cases: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts))


def _count(rng: random.Random, mean: float) -> int:
    """A small count with the given mean: the whole part plus one with the remainder's
    probability, spread by a coin toss either way."""
    whole = int(mean)
    value = whole + (rng.random() < mean - whole)
    if value >= 1 and rng.random() < 0.5:
        value += rng.choice((-1, 1))
    return max(value, 0)


def _date(rng: random.Random, year_from: int, year_to: int, precision: float = 1.0) -> str:
    year = rng.randint(year_from, year_to)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    roll = rng.random()
    if roll < precision:
        return f"{year}{month:02d}{day:02d}"
    if roll < precision + (1 - precision) / 2:
        return f"{year}{month:02d}"
    return f"{year}"


class _Vocabulary:
    def __init__(self, rng: random.Random) -> None:
        self.ingredients = [_word(rng, rng.randint(3, 5)).upper() for _ in range(2500)]
        self.products = [(_word(rng, rng.randint(2, 4)).upper(), rng.choice(self.ingredients))
                         for _ in range(6000)]
        self.terms = [" ".join(_word(rng, rng.randint(2, 4)) for _ in range(rng.randint(1, 3)))
                      .capitalize() for _ in range(8000)]
        self.senders = [_word(rng, 3).upper() + " PHARMA" for _ in range(300)]


def _report(out: dict[str, list[str]], rng: random.Random, words: _Vocabulary, case: int,
            version: int, counts: QuarterCounts) -> None:
    primaryid = f"{case}{version}"
    ids = f"{primaryid}${case}"
    initial = _date(rng, 2016, 2016)
    fda = _date(rng, 2017, 2017)
    sender = rng.choice(words.senders) if rng.random() < 0.9 else ""
    age = str(rng.randint(1, 95)) if rng.random() < 0.6 else ""
    weight = f"{rng.uniform(40, 120):.1f}" if rng.random() < 0.2 else ""
    country = rng.choice(_COUNTRIES)
    out["DEMO"].append(
        f"{ids}${version}${'I' if version == 1 else 'F'}$"
        f"{_date(rng, 2010, 2016, 0.5) if rng.random() < 0.55 else ''}${fda}${initial}${fda}$"
        f"{rng.choice(('EXP', 'PER', 'EXP', 'DIR'))}$$"
        f"{'' if not sender else f'US-{sender}-{case}'}$"
        f"{sender}$${age}${'YR' if age else ''}${rng.choice(('', '', 'A', 'E'))}$"
        f"{rng.choice(('F', 'M', 'F', ''))}$Y${weight}${'KG' if weight else ''}${fda}$$"
        f"{rng.choice(('CN', 'MD', 'OT', 'PH', 'LW', ''))}${country}$"
        f"{country if len(country) == 2 else 'US'}")
    drugs = max(1, _count(rng, DRUGS_PER_REPORT))
    for seq in range(1, drugs + 1):
        name, ingredient = rng.choice(words.products)
        amount = str(rng.choice((5, 10, 20, 50, 100, 500))) if rng.random() < 0.45 else ""
        unit = rng.choice(_UNITS) if amount else ""
        out["DRUG"].append(
            f"{ids}${seq}${'PS' if seq == 1 else rng.choice(('SS', 'C', 'C', 'I'))}$"
            f"{name}${ingredient}$1${rng.choice(_ROUTES)}$"
            f"{f'{amount} {unit}, QD' if amount else 'UNK'}$$$"
            f"{rng.choice(('', 'U', 'Y', 'N', 'D'))}${rng.choice(('', '', 'U', 'N'))}$"
            f"{f'LOT{rng.randint(1000, 99999)}' if rng.random() < 0.1 else ''}$$"
            f"{rng.randint(10000, 99999) if rng.random() < 0.3 else ''}${amount}${unit}$$")
    counts.rows["DRUG"] += drugs
    therapies = min(drugs, _count(rng, THER_PER_REPORT))
    for seq in range(1, therapies + 1):
        out["THER"].append(f"{ids}${seq}${_date(rng, 2012, 2016, 0.6)}$"
                           f"{_date(rng, 2016, 2017, 0.6) if rng.random() < 0.4 else ''}$$")
    counts.rows["THER"] += therapies
    indications = min(drugs, _count(rng, INDI_PER_REPORT))
    for seq in range(1, indications + 1):
        out["INDI"].append(f"{ids}${seq}${rng.choice(words.terms)}")
    counts.rows["INDI"] += indications
    reactions = max(1, _count(rng, REACTIONS_PER_REPORT))
    for term in rng.sample(words.terms, reactions):
        out["REAC"].append(f"{ids}${term}$")
    counts.rows["REAC"] += reactions
    outcomes = min(7, _count(rng, OUTCOMES_PER_REPORT))
    for code in rng.sample(("OT", "HO", "DE", "LT", "DS", "RI", "CA"), outcomes):
        out["OUTC"].append(f"{ids}${code}")
    counts.rows["OUTC"] += outcomes
    if rng.random() < RPSR_PER_REPORT:
        out["RPSR"].append(f"{ids}${rng.choice(('HP', 'CSM', 'SDY', 'LIT', 'FGN'))}")
        counts.rows["RPSR"] += 1
    counts.rows["DEMO"] += 1


def write_synthetic_quarter(folder: Path, reports: int = 400_000, seed: int = 20172,
                            quarter: str = "17Q2") -> QuarterCounts:
    """Write the seven files of a synthetic quarter with `reports` DEMO rows into
    `folder` (created if needed); the same seed gives the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    words = _Vocabulary(rng)
    counts = QuarterCounts()
    handles: dict[str, TextIO] = {
        kind: (folder / f"{kind}{quarter}.txt").open("w", encoding="ascii", newline="\n")
        for kind in HEADERS}
    try:
        for kind, handle in handles.items():
            handle.write(HEADERS[kind] + "\n")
        out: dict[str, list[str]] = {kind: [] for kind in HEADERS}
        case = 10_000_000
        written = 0
        while written < reports:
            case += rng.randint(1, 7)
            versions = [1, 2] if rng.random() < FOLLOW_UP_SHARE and written + 1 < reports \
                else [rng.choice((1, 1, 1, 2, 3))]
            for version in versions:
                _report(out, rng, words, case, version, counts)
            written += len(versions)
            counts.cases += 1
            if len(out["DEMO"]) >= 20_000:
                _flush(out, handles)
        _flush(out, handles)
    finally:
        for handle in handles.values():
            handle.close()
    return counts


def _flush(out: dict[str, list[str]], handles: dict[str, TextIO]) -> None:
    for kind, lines in out.items():
        if lines:
            handles[kind].write("\n".join(lines) + "\n")
            lines.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reports", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=20172)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = write_synthetic_quarter(args.folder, args.reports, args.seed)
    per_file = ", ".join(f"{kind} {rows:,}" for kind, rows in counts.rows.items())
    print(f"{counts.total_rows:,} rows ({per_file}), {counts.cases:,} cases, "
          f"in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
