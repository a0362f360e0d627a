"""Duplicate detection on real VAERS 1999 with injected re-reports; prints its figures.

Reads ../shared/data/vaers-1999 (or the copy in data/reports) with
`medsafe.interop.vaers`, adds a re-reported copy of
`--copies` randomly chosen real reports (new VAERS id, received 1-60 days later, no
manufacturer number, and small realistic changes: age a step off or missing, onset a
day off or missing, a reaction dropped or added, a vaccine name misspelt, the narrative
reworded with abbreviations written out and dates written another way), fits the
weights on everything, runs `candidate_pairs`, and prints:
- recall: the share of injected (original, copy) pairs flagged;
- the number of flagged pairs, of which injected, real-real, and copy-other;
- the same at a few other thresholds, so the choice of threshold is visible;
- a seeded sample of flagged real-real pairs for a person to judge (both ids, age, sex,
  onset, vaccines, symptoms and the first 100 characters of each narrative).
Deterministic for a given seed. Verdicts on the sample are in docs/duplicates-evaluation.md.

    uv run python -m benchmarks.eval_duplicates [--seed 1999] [--copies 300]
        [--threshold T] [--sample 30]
"""

from __future__ import annotations

import argparse
import random
import re
import time
from datetime import date, timedelta
from pathlib import Path

from medsafe.cases.duplicates import (
    PairScore,
    candidate_pairs,
    clusters,
    fit_weights,
    prior_threshold,
)
from medsafe.cases.model import CaseReport, Drug, Reaction
from medsafe.interop.vaers import read_vaers

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "vaers-1999"
DATA = SHARED if SHARED.exists() else ROOT / "data" / "reports" / "vaers-1999"  # same files
COPY_IDS_FROM = 900_000
ABBREVIATIONS = {
    "pt": "patient", "w/": "with ", "p/": "after ", "vax": "vaccine", "devel": "developed",
    "exp": "experienced", "sz": "seizure", "hx": "history", "tx": "treated",
    "dx": "diagnosed", "c/o": "complained of", "recv": "received", "adm": "admitted",
    "hosp": "hospital", "approx": "approximately", "ER": "emergency room",
}
ABBREVIATION = re.compile(r"(?<![A-Za-z])(" + "|".join(
    re.escape(k) for k in sorted(ABBREVIATIONS, key=len, reverse=True)) + r")(?![A-Za-z])")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
COMPACT_DATE = re.compile(r"\b(\d{1,2})(" + "|".join(MONTHS) + r")(\d{2})\b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1999)
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=None,
                        help="default: the prior threshold for 1%% of reports duplicated")
    parser.add_argument("--sample", type=int, default=30)
    args = parser.parse_args()

    started = time.perf_counter()
    real = list(read_vaers(DATA))
    read_seconds = time.perf_counter() - started
    rng = random.Random(args.seed)
    terms = [r.term for report in real for r in report.reactions]
    originals = rng.sample(real, args.copies)
    copies = [re_report(original, COPY_IDS_FROM + n, rng, terms)
              for n, original in enumerate(originals)]
    injected = {tuple(sorted((o.worldwide_id, c.worldwide_id)))
                for o, c in zip(originals, copies, strict=True)}
    reports = real + copies

    threshold = (args.threshold if args.threshold is not None
                 else round(prior_threshold(len(reports), len(reports) / 100), 1))
    started = time.perf_counter()
    weights = fit_weights(reports)
    fitted = time.perf_counter()
    lowest = min(threshold, 10.0)
    flagged_all = candidate_pairs(reports, weights, lowest)
    matched = time.perf_counter()

    print(f"VAERS 1999: {len(real)} real reports + {len(copies)} injected copies "
          f"(seed {args.seed}); read in {read_seconds:.1f} s")
    print(f"fit_weights {fitted - started:.1f} s; candidate_pairs {matched - fitted:.1f} s "
          f"(threshold {lowest:g})")
    print(f"prior threshold, if 1% of reports had one duplicate: "
          f"{prior_threshold(len(reports), len(reports) / 100):.1f}; used: {threshold:g}")
    print()
    print("threshold  recall  flagged  injected  real-real  copy-other")
    for level in sorted({10.0, 12.0, 14.0, 16.0, 18.0, threshold}):
        if level < lowest:
            continue
        flagged = [p for p in flagged_all if p.total >= level]
        hits, real_real, copy_other = split(flagged, injected)
        print(f"{level:9g}  {hits / len(injected):6.1%}  {len(flagged):7d}  "
              f"{hits:8d}  {real_real:9d}  {copy_other:10d}")
    flagged = [p for p in flagged_all if p.total >= threshold]
    hits, real_real, copy_other = split(flagged, injected)
    groups = clusters(flagged)
    print()
    print(f"at threshold {threshold:g}: recall {hits}/{len(injected)} = "
          f"{hits / len(injected):.1%}; flagged {len(flagged)} pairs ({hits} injected, "
          f"{real_real} real-real, {copy_other} copy-other); {len(groups)} clusters, "
          f"largest {max((len(g) for g in groups), default=0)}")
    found = {(p.a, p.b) for p in flagged}
    print(f"missed injected pairs: {len(injected - found)}")
    print("recall by change:", "; ".join(
        f"{change} {hits}/{total}" for change, (hits, total) in
        recall_by_change(originals, copies, found).items()))

    by_id = {r.worldwide_id: r for r in reports}
    real_pairs = [p for p in flagged if not is_copy(p.a) and not is_copy(p.b)]
    sample = random.Random(args.seed).sample(real_pairs, min(args.sample, len(real_pairs)))
    print()
    print(f"sample of {len(sample)} flagged real-real pairs (seed {args.seed}), best first:")
    for n, pair in enumerate(sorted(sample, key=lambda p: -p.total), start=1):
        print()
        contributions = ", ".join(f"{k} {v:+.1f}" for k, v in pair.per_field.items() if v)
        print(f"{n:2d}. score {pair.total:.1f} ({contributions})")
        for case_id in (pair.a, pair.b):
            print("    " + describe(by_id[case_id]))


def split(flagged: list[PairScore], injected: set[tuple[str, ...]]) -> tuple[int, int, int]:
    hits = sum(1 for p in flagged if (p.a, p.b) in injected)
    real_real = sum(1 for p in flagged if not is_copy(p.a) and not is_copy(p.b))
    return hits, real_real, len(flagged) - hits - real_real


def recall_by_change(originals: list[CaseReport], copies: list[CaseReport],
                     found: set[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """(found, injected) per kind of change, read off each copy against its original."""
    counts: dict[str, list[int]] = {}
    for original, copy in zip(originals, copies, strict=True):
        hit = tuple(sorted((original.worldwide_id, copy.worldwide_id))) in found
        for change in changes(original, copy):
            tally = counts.setdefault(change, [0, 0])
            tally[0] += hit
            tally[1] += 1
    return {change: (hits, total) for change, (hits, total) in sorted(counts.items())}


def changes(original: CaseReport, copy: CaseReport) -> list[str]:
    def onset(report: CaseReport) -> str | None:
        return report.reactions[0].start if report.reactions else None

    age = ("same" if copy.patient.age == original.patient.age
           else "missing" if copy.patient.age is None else "step off")
    day = ("same" if onset(copy) == onset(original)
           else "missing" if onset(copy) is None else "a day off")
    count = len(copy.reactions) - len(original.reactions)
    reactions = "same" if count == 0 else "one dropped" if count < 0 else "one added"
    names = [d.product_name for d in original.drugs] != [d.product_name for d in copy.drugs]
    given = any(d.start for d in original.suspects)
    return [f"age {age}", f"onset {day}", f"reactions {reactions}",
            "vaccine misspelt" if names else "vaccine names same",
            "original has a vaccination date" if given else "original has no vaccination date"]


def is_copy(case_id: str) -> bool:
    return int(case_id.removeprefix("VAERS-")) >= COPY_IDS_FROM


def describe(report: CaseReport) -> str:
    onset = next((r.start for r in report.reactions if r.start), None)
    vaccines = "; ".join(d.product_name for d in report.suspects)
    symptoms = ", ".join(r.term for r in report.reactions)
    narrative = (report.narrative or "")[:100]
    return (f"{report.worldwide_id} received {report.first_received} age "
            f"{report.patient.age} sex {report.patient.sex} onset {onset} "
            f"state-country {report.occurrence_country} | {vaccines} | {symptoms} | "
            f"{narrative!r}")


# --- re-reports ------------------------------------------------------------------------


def re_report(original: CaseReport, new_id: int, rng: random.Random,
              terms: list[str]) -> CaseReport:
    """A second report of the same case, as another reporter might send it."""
    patient = original.patient.model_copy(update={"age": changed_age(original, rng)})
    if patient.age is None:
        patient = patient.model_copy(update={"age_unit": None})
    return original.model_copy(update={
        "sender_report_id": str(new_id), "worldwide_id": f"VAERS-{new_id}",
        "first_received": original.first_received + timedelta(days=rng.randint(1, 60)),
        "latest_received": original.latest_received + timedelta(days=rng.randint(1, 60)),
        "other_case_ids": (), "patient": patient,
        "reactions": changed_reactions(original, rng, terms),
        "drugs": changed_drugs(original.drugs, rng),
        "narrative": reworded(original.narrative, original.first_received, rng),
    })


def changed_age(original: CaseReport, rng: random.Random) -> float | None:
    age = original.patient.age
    choice = rng.choice(("same", "step", "missing"))
    if age is None or choice == "same":
        return age
    if choice == "missing":
        return None
    step = 0.1 if age < 2 else 1.0  # infants' ages are given in months
    return round(max(age + rng.choice((-step, step)), 0.0), 1)


def changed_reactions(original: CaseReport, rng: random.Random,
                      terms: list[str]) -> tuple[Reaction, ...]:
    reactions = list(original.reactions)
    shift = rng.choice(("same", "day", "missing"))
    if shift != "same":
        reactions = [r.model_copy(update={"start": shifted(r.start, rng) if shift == "day"
                                          else None}) for r in reactions]
    change = rng.choice(("same", "drop", "add"))
    if change == "drop" and len(reactions) > 1:
        reactions.pop(rng.randrange(len(reactions)))
    elif change == "add" and reactions:
        present = {r.term for r in reactions}
        term = next(t for t in iter(lambda: rng.choice(terms), None) if t not in present)
        coded = reactions[0].coded.model_copy(update={"term": term}) \
            if reactions[0].coded else None
        reactions.append(reactions[0].model_copy(update={
            "id": f"R{len(reactions) + 1}", "verbatim": term, "coded": coded}))
    return tuple(reactions)


def shifted(start: str | None, rng: random.Random) -> str | None:
    if start is None or len(start) != 10:
        return start
    return (date.fromisoformat(start) + timedelta(days=rng.choice((-1, 1)))).isoformat()


def changed_drugs(drugs: tuple[Drug, ...], rng: random.Random) -> tuple[Drug, ...]:
    suspects = [n for n, d in enumerate(drugs) if d.is_suspect and len(d.product_name) >= 6]
    if not suspects or rng.random() < 0.5:
        return drugs
    n = rng.choice(suspects)
    name = drugs[n].product_name
    letters = [i for i in range(len(name) - 1) if name[i].isalpha() and name[i + 1].isalpha()]
    if not letters:
        return drugs
    i = rng.choice(letters)
    typo = (name[:i] + name[i + 1] + name[i] + name[i + 2:] if rng.random() < 0.5
            else name[:i] + name[i + 1:])
    changed = list(drugs)
    changed[n] = drugs[n].model_copy(update={"product_name": typo})
    return tuple(changed)


def reworded(text: str | None, received: date, rng: random.Random) -> str | None:
    """Abbreviations written out, 19OCT98 written 10/19/1998, clauses in another order."""
    if not text:
        return text

    def long_date(match: re.Match[str]) -> str:
        year = int(match.group(3))
        year += 1900 if 1900 + year <= received.year + 1 else 2000
        return f"{MONTHS.index(match.group(2)) + 1}/{int(match.group(1))}/{year}"

    text = COMPACT_DATE.sub(long_date, text)
    text = ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group(1)], text)
    clauses = [c.strip() for c in text.split(";") if c.strip()]
    if len(clauses) > 1:
        k = rng.randrange(1, len(clauses))
        clauses = clauses[k:] + clauses[:k]
    return ". ".join(clauses)


if __name__ == "__main__":
    main()
