"""Suspected duplicate case reports, in the style of WHO-UMC's vigiMatch (pure).

Duplicates are separate, unlinked reports of one and the same case; they mislead case
review and distort disproportionality statistics (Tregunno et al., "Performance of
probabilistic method to detect duplicate individual case safety reports", Drug Saf
2014;37(4)). vigiMatch, the method UMC runs on VigiBase, scores a pair of reports on
patient age, sex, onset date, all the dates of the reports "even those mentioned in case
narratives", the adverse events and the medicines/vaccines, and an "externally
indicated" flag set when a case identifier of one report (E2B(R3) C.1.9.1.r.2) equals the
sender's report id (C.1.1) or worldwide id (C.1.8.1) of the other; it then groups the
pairs above a threshold by complete-link clustering and keeps, in each group, the report
with the best vigiGrade completeness as master (WHO-UMC, "Deduplication through
vigiMatch", support.who-umc.org/vigilyze/algorithms-used-in-vigilyze/
deduplication-through-vigimatch). Tregunno et al. add country of origin to the fields.

The score is the hit-miss model of Copas and Hilton as used for drug-safety data by
Norén, Orre, Bate and Edwards ("Duplicate detection in adverse drug reaction
surveillance", Data Min Knowl Disc 2007;14:305-328): every field adds its log likelihood
ratio, log P(observation | duplicates) / P(observation | random pair); a match on a rare
value is worth more than a match on a common one, a mismatch costs, and a value missing
from either report adds nothing. In the hit-miss model a report's value of a field is a
"hit" (the true value) or, with the field's miss rate, a "miss" (a value drawn at random
from the database), so with h the probability that a value is a hit:
    match on value k:  log(h^2 / p_k + 1 - h^2)        mismatch:  log(1 - h^2)
where p_k is the share of reports with value k. What is computed from the data and what
is assumed:
- from the data (`fit_weights`): the value frequencies p_k (sex, country), the
  distributions of ages and onset dates (how often a random report falls as close to a
  value as a candidate does), the share of reports listing each drug, each reaction and
  each other date, and how often two drugs or two reactions are listed together;
- assumed (`Assumptions`, stated there): the miss rates and the recording errors of true
  duplicates. Norén et al. estimated them from a set of confirmed duplicates; medsafe has
  none, so they are stated assumptions, set before the evaluation
  (docs/duplicates-evaluation.md) and not tuned to it.
Ages and dates use Norén et al.'s hit-miss mixture idea for numerical fields: a hit may
carry a small recording error (age one year off, onset a day off), so "close" is
evidence too, priced by how often random reports are that close.

Drugs and reactions are scored item by item: an item on both reports is evidence in
proportion to its rarity, an item on only one costs the assumed chance that a duplicate
omits it. Drug names one typo apart count as the same drug. Other dates (drug start and
end, reaction end, death, dates written in the narrative) count once: sharing any of
them, priced by how likely a random report is to mention one of them.

Correlated fields are not independent evidence (Norén et al. correct for them too, by a
method not reproduced here); medsafe's own approximations, each a chain rule:
- items reported together (injection-site erythema with injection-site swelling): each
  further shared item is priced by its frequency given the most strongly associated item
  already counted;
- a shared date is priced among the reports of a drug both list, when that is likelier
  (influenza vaccinations cluster in the autumn);
- when both reports give the same drug start date, the onset is priced as a time to
  onset, since the start date already counted (reports from one clinic's session share
  the date, and same-day reactions are common).

Not all n^2 pairs are scored: reports are grouped by blocking keys (onset date with a
drug, another date with a drug, a drug with two reactions, age with sex and a drug, any
case id), where a drug is its name or its substance, so a misspelt name still meets its
twin; only pairs that share a key held by at most `block_limit` reports (a sixth of it
for the weaker age and reaction keys) are scored. On the 12,249 VAERS 1999 reports this
scores about 180,000 pairs instead of 75 million. Versions of one case (same worldwide
id) are never paired: pass one version per case.

`completeness` is the vigiGrade completeness score (Bergvall, Norén, Lindquist, "vigiGrade:
a tool to identify well-documented individual case reports and highlight systematic data
quality issues", Drug Saf 2014;37(1):65-77): it starts at 1 and multiplies in a penalty
for each missing dimension: time-to-onset 50% (imprecise: 30% if the uncertainty exceeds
a month and it is unclear whether the drug came first, else 10%), indication 30%,
outcome 30%, sex 30%, age 30% (10% if only an age group), dose, country, primary
reporter, report type and free-text comments 10% each (penalties as tabulated from
Bergvall et al. in Pharmaceuticals 2022;15(9):1148, PMC9503115). Only structured data
count (vigiGrade's principle), so a dose in free text is no dose.
"""

from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import combinations

from medsafe.cases.model import CaseReport
from medsafe.errors import Invalid

FIELDS = ("age", "sex", "onset", "drugs", "reactions", "dates", "country",
          "externally_indicated")


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What the data cannot tell without confirmed duplicates: how two reports of one case
    differ. Each rate is our judgement of how spontaneous reports are re-sent (a second
    reporter, a manufacturer copy, an unlinked follow-up), not a published figure."""

    sex_miss: float = 0.02  # sex is rarely wrong, but "unknown" is missing, not wrong
    country_miss: float = 0.02
    age_miss: float = 0.05
    # Given that both ages are hits: same to VAERS's 0.1 year, within one step (a year,
    # or a month for infants), within two steps.
    age_error: tuple[float, float, float] = (0.75, 0.22, 0.03)
    onset_miss: float = 0.10
    # Given hits: same day, 1-3 days apart, 4-31 days apart (a month or day confused).
    onset_error: tuple[float, float, float] = (0.80, 0.12, 0.08)
    drug_omitted: float = 0.10  # chance a duplicate lacks one of the other's drugs
    reaction_omitted: float = 0.30  # reactions are coded afresh for each report
    date_unshared: float = 0.30  # both give other dates, yet none in common
    externally_indicated: float = 1e5  # likelihood ratio of an explicit id link


@dataclass(frozen=True, slots=True)
class Profile:
    """The fields of one report that matching reads, normalised once."""

    case_id: str
    ids: frozenset[str]
    other_ids: frozenset[str]
    age: float | None
    sex: str | None
    onset: int | None
    start: int | None  # first day of the earliest suspect drug, when a full date
    country: str | None
    drugs: frozenset[str]
    substances: frozenset[str]
    reactions: frozenset[str]
    dates: frozenset[int]


@dataclass(frozen=True, slots=True)
class Weights:
    """Frequencies fitted on a collection of reports, plus the assumptions."""

    n: int
    sex: Mapping[str, float]
    country: Mapping[str, float]
    ages: tuple[float, ...]
    onsets: tuple[int, ...]
    latencies: tuple[int, ...]  # onset minus drug start, in days
    drugs: Mapping[str, int]
    drug_pairs: Mapping[tuple[str, str], int]
    reactions: Mapping[str, int]
    reaction_pairs: Mapping[tuple[str, str], int]
    dates: Mapping[int, int]
    date_drugs: Mapping[tuple[int, str], int]  # reports with both that date and drug
    assumptions: Assumptions = field(default_factory=Assumptions)
    # Derived from the counts and assumptions by `fit_weights`: per item, the weight of
    # being on both reports (before the correction for items reported together) and of
    # being on only one.
    drug_weights: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    reaction_weights: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # Drug names one typo apart from each drug name seen (see `_one_typo_apart`).
    drug_twins: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PairScore:
    """A scored pair: `total` is the log likelihood ratio (natural log) that the two
    reports are duplicates; `per_field` says where it came from."""

    a: str
    b: str
    total: float
    per_field: Mapping[str, float]


# --- profiles --------------------------------------------------------------------------

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    start=1)}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})\s?{_MONTH}\s?'?(\d{{4}}|\d{{2}})\b", re.I)
MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s(\d{{1,2}}),?\s(\d{{4}})\b", re.I)
SLASHED = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")
ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def narrative_dates(text: str, received: date) -> set[date]:
    """Dates written in a narrative: 19OCT98, 12 Oct 1998, Oct 12, 1998, 11/2/98 (U.S.
    month first, else day first), 1998-10-12. A two-digit year takes the century that
    puts it no later than a year after the report was received."""
    found: set[date] = set()
    for day, month, year in DAY_MONTH_YEAR.findall(text):
        _add(found, _year(year, received), MONTHS[month[:3].lower()], int(day), received)
    for month, day, year in MONTH_DAY_YEAR.findall(text):
        _add(found, int(year), MONTHS[month[:3].lower()], int(day), received)
    for first, second, year in SLASHED.findall(text):
        y = _year(year, received)
        if not _add(found, y, int(first), int(second), received):
            _add(found, y, int(second), int(first), received)
    for year, month, day in ISO.findall(text):
        _add(found, int(year), int(month), int(day), received)
    return found


def _year(text: str, received: date) -> int:
    if len(text) == 4:
        return int(text)
    century = (received.year + 1) // 100 * 100
    year = century + int(text)
    return year if year <= received.year + 1 else year - 100


def _add(found: set[date], year: int, month: int, day: int, received: date) -> bool:
    try:
        when = date(year, month, day)
    except ValueError:
        return False
    if not 1900 <= year <= received.year + 1:
        return False
    found.add(when)
    return True


def _full_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text and len(text) == 10 else None


def normalise_name(text: str) -> str:
    """Drug names compared without case, spaces or punctuation."""
    return NOT_ALNUM.sub(" ", text.casefold()).strip()


def profile(report: CaseReport) -> Profile:
    """What matching reads from a report."""
    onsets = sorted(d for r in report.reactions if (d := _full_date(r.start)))
    onset = onsets[0] if onsets else None
    dates = {d for drug in report.drugs for d in (_full_date(drug.start), _full_date(drug.end))
             if d}
    dates |= {d for r in report.reactions if (d := _full_date(r.end))}
    if died := _full_date(report.patient.died_on):
        dates.add(died)
    if report.narrative:
        # The onset has its own field, so a narrative repeating it adds no other date.
        dates |= narrative_dates(report.narrative, report.first_received) - {onset}
    starts = sorted(d for drug in report.suspects if (d := _full_date(drug.start)))
    sex = report.patient.sex if report.patient.sex in ("male", "female") else None
    country = report.occurrence_country or next(
        (s.country for s in report.primary_sources if s.country), None)
    return Profile(
        case_id=report.worldwide_id,
        ids=frozenset({report.worldwide_id, report.sender_report_id}),
        other_ids=frozenset(report.other_case_ids),
        age=report.patient.age_in_years(), sex=sex,
        onset=onset.toordinal() if onset else None,
        start=starts[0].toordinal() if starts else None, country=country,
        drugs=frozenset(normalise_name(d.product_name) for d in report.suspects),
        substances=frozenset(normalise_name(s) for d in report.suspects
                             for s in d.substances),
        reactions=frozenset(r.term.casefold() for r in report.reactions),
        dates=frozenset(d.toordinal() for d in dates))


# --- fitting ---------------------------------------------------------------------------


def fit_weights(reports: Iterable[CaseReport],
                assumptions: Assumptions | None = None) -> Weights:
    """Frequencies from the reports themselves (one version per case)."""
    return _fit([profile(r) for r in reports], assumptions or Assumptions())


def _fit(profiles: Sequence[Profile], assumptions: Assumptions) -> Weights:
    n = max(len(profiles), 1)
    sexes = Counter(p.sex for p in profiles if p.sex)
    countries = Counter(p.country for p in profiles if p.country)
    drugs = Counter(d for p in profiles for d in p.drugs)
    reactions = Counter(t for p in profiles for t in p.reactions)
    return Weights(
        n=n, sex=_shares(sexes), country=_shares(countries),
        ages=tuple(sorted(p.age for p in profiles if p.age is not None)),
        onsets=tuple(sorted(p.onset for p in profiles if p.onset is not None)),
        latencies=tuple(sorted(p.onset - p.start for p in profiles
                               if p.onset is not None and p.start is not None)),
        drugs=drugs, drug_pairs=_pair_counts(p.drugs for p in profiles),
        reactions=reactions, reaction_pairs=_pair_counts(p.reactions for p in profiles),
        dates=Counter(d for p in profiles for d in p.dates),
        date_drugs=Counter((d, g) for p in profiles for d in p.dates for g in p.drugs),
        assumptions=assumptions,
        drug_weights=_item_weights(drugs, n, assumptions.drug_omitted),
        reaction_weights=_item_weights(reactions, n, assumptions.reaction_omitted),
        drug_twins=_twins(drugs))


def _twins(names: Iterable[str]) -> dict[str, frozenset[str]]:
    """For each name, the others one typo apart. Names one edit apart share a deletion
    key (the name with one character deleted, or the name itself), so only names sharing
    one are compared, never all pairs of names."""
    names = list(names)
    by_key: dict[str, set[str]] = {}
    for name in names:
        for key in _deletion_keys(name):
            by_key.setdefault(key, set()).add(name)
    return {name: frozenset(other for key in _deletion_keys(name) for other in by_key[key]
                            if other != name and _one_typo_apart(name, other))
            for name in names}


def _deletion_keys(name: str) -> set[str]:
    return {name, *(name[:i] + name[i + 1:] for i in range(len(name)))}


def _item_weights(counts: Mapping[str, int], n: int,
                  omitted: float) -> dict[str, tuple[float, float]]:
    return {item: _item_weight(count, n, omitted) for item, count in counts.items()}


@cache
def _unknown_item(n: int, omitted: float) -> tuple[float, float]:
    """The weights of an item the fitted reports never listed."""
    return _item_weight(0, n, omitted)


def _item_weight(count: int, n: int, omitted: float) -> tuple[float, float]:
    """(on both reports, on one only) for an item listed on `count` of `n` reports: a
    duplicate keeps it with probability 1 - omitted, a random report lists it with its
    share; a duplicate lacks it with probability `omitted`, a random report with 1 -
    share."""
    share = min(max(count, 1) / n, 1 - 1 / n)
    return max(math.log((1 - omitted) / share), 0.0), math.log(omitted / (1 - share))


def _shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {value: count / total for value, count in counts.items()}


def _pair_counts(sets: Iterable[frozenset[str]]) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for items in sets:
        counts.update(combinations(sorted(items), 2))
    return counts


# --- scoring ---------------------------------------------------------------------------


def score_pair(a: CaseReport, b: CaseReport, weights: Weights) -> PairScore:
    """The log likelihood ratio that `a` and `b` are duplicates, field by field."""
    scored = _score(_ready(profile(a), weights), _ready(profile(b), weights), weights)
    assert scored is not None  # without a floor every pair is scored
    return scored


Bins = tuple[float, float, float]
"""Shares of the fitted reports whose value falls in each bin (same, close, near) around
one value; they depend on that value only, so they are computed once per report."""
INFANT_AGE_EDGES = (0.05, 0.15, 0.35)  # VAERS gives infants' ages to 0.1 year (a month)
AGE_EDGES = (0.05, 1.05, 2.05)  # and older patients' by the year
DAY_EDGES = (0, 3, 31)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A profile with the parts of its scores that do not depend on the other report."""

    p: Profile
    age: tuple[float, Bins, Bins] | None  # age, bins with infant and with adult edges
    onset: tuple[int, Bins] | None
    latency: tuple[int, Bins] | None  # days from drug start to onset
    date_chance: float  # share of reports that mention one of its other dates
    # per drug: share of the reports listing that drug that mention one of its dates
    date_chance_given_drug: Mapping[str, float]
    drug_bound: float  # the most its drugs can add to a score


def _ready(p: Profile, w: Weights) -> _Ready:
    latency = p.onset - p.start if p.onset is not None and p.start is not None else None
    drug_unknown = _unknown_item(w.n, w.assumptions.drug_omitted)
    return _Ready(
        p=p,
        age=(p.age, _bins(w.ages, p.age, INFANT_AGE_EDGES), _bins(w.ages, p.age, AGE_EDGES))
        if p.age is not None else None,
        onset=(p.onset, _bins(w.onsets, p.onset, DAY_EDGES)) if p.onset is not None else None,
        latency=(latency, _bins(w.latencies, latency, DAY_EDGES))
        if latency is not None else None,
        date_chance=sum(w.dates.get(d, 1) for d in p.dates) / w.n,
        date_chance_given_drug={
            g: sum(w.date_drugs.get((d, g), 1) for d in p.dates) / max(w.drugs.get(g, 1), 1)
            for g in p.drugs} if p.dates else {},
        drug_bound=sum(w.drug_weights.get(d, drug_unknown)[0] for d in p.drugs))


def _bins(values: Sequence[float], centre: float, edges: tuple[float, float, float]) -> Bins:
    """Share of values v with |v - centre| in each bin: [0, e1], (e1, e2], (e2, e3]."""
    within = [bisect_right(values, centre + e) - bisect_left(values, centre - e)
              for e in edges]
    total = max(len(values), 1)
    return within[0] / total, (within[1] - within[0]) / total, (within[2] - within[1]) / total


def _score(ra: _Ready, rb: _Ready, w: Weights, floor: float = -math.inf) -> PairScore | None:
    """The pair's score, or None as soon as it is sure to stay below `floor`."""
    a, b, s = ra.p, rb.p, w.assumptions
    age = _age(ra, rb, w)
    sex = _categorical(a.sex, b.sex, w.sex, s.sex_miss, w.n)
    onset = _onset(ra, rb, w)
    dates = _dates(ra, rb, w)
    country = _categorical(a.country, b.country, w.country, s.country_miss, w.n)
    linked = (math.log(s.externally_indicated)
              if a.other_ids & b.ids or b.other_ids & a.ids else 0.0)
    known = age + sex + onset + dates + country + linked
    shared = a.reactions & b.reactions
    # Drugs and reactions can add at most what the reports could share (all of a's
    # drugs, since shared names are a's spelling; all shared reactions counted as
    # independent): most pairs stop here.
    bound = ra.drug_bound if a.drugs and b.drugs else 0.0
    if known + bound + _reaction_sums(shared, frozenset(), w)[0] < floor:
        return None
    drugs = _drugs(a.drugs, b.drugs, w)
    reactions = 0.0
    if a.reactions and b.reactions:
        independent, unshared = _reaction_sums(shared, a.reactions ^ b.reactions, w)
        if known + drugs + independent + unshared < floor:
            return None
        reactions = unshared + _shared_items(shared, w.reactions, w.reaction_pairs, w.n,
                                             s.reaction_omitted)
    total = known + drugs + reactions
    if total < floor:
        return None
    first, second = sorted((a.case_id, b.case_id))
    per_field = dict(zip(FIELDS, (age, sex, onset, drugs, reactions, dates, country, linked),
                         strict=True))
    return PairScore(first, second, total, per_field)


def _reaction_sums(shared: frozenset[str], unshared: frozenset[str],
                   w: Weights) -> tuple[float, float]:
    """(shared reactions' weights as if independent, weights of those on one report)."""
    unknown = _unknown_item(w.n, w.assumptions.reaction_omitted)
    weights = w.reaction_weights
    return (sum(weights.get(item, unknown)[0] for item in shared),
            sum(weights.get(item, unknown)[1] for item in unshared))


def _categorical(x: str | None, y: str | None, shares: Mapping[str, float], miss: float,
                 n: int) -> float:
    if x is None or y is None:
        return 0.0
    both_hit = (1 - miss) ** 2
    if x != y:
        return math.log(1 - both_hit)
    share = max(shares.get(x, 0.0), 1 / n)
    return math.log(both_hit / share + 1 - both_hit)


def _numeric(distance: float, x: Bins, y: Bins, edges: tuple[float, float, float],
             error: tuple[float, float, float], miss: float, n: int) -> float:
    """Hit-miss mixture for a numerical field: the bin of the distance (same, close,
    near), priced by how often a random report falls in that bin around either value."""
    both_hit = (1 - miss) ** 2
    for k, edge in enumerate(edges):
        if distance <= edge:
            random = max((x[k] + y[k]) / 2, 1 / n)
            return math.log(both_hit * error[k] / random + 1 - both_hit)
    return math.log(1 - both_hit)


def _age(a: _Ready, b: _Ready, w: Weights) -> float:
    if a.age is None or b.age is None:
        return 0.0
    (x, x_infant, x_adult), (y, y_infant, y_adult) = a.age, b.age
    s = w.assumptions
    if min(x, y) < 2:
        return _numeric(abs(x - y), x_infant, y_infant, INFANT_AGE_EDGES, s.age_error,
                        s.age_miss, w.n)
    return _numeric(abs(x - y), x_adult, y_adult, AGE_EDGES, s.age_error, s.age_miss, w.n)


def _onset(a: _Ready, b: _Ready, w: Weights) -> float:
    """Onset dates; when both reports give the same drug start date, which "dates"
    already counts, only the time to onset is new evidence, priced by how common that
    latency is (a reaction on the day of vaccination is common, so two same-day
    reactions after one clinic's session say little more than the clinic's date)."""
    s = w.assumptions
    if a.latency and b.latency and a.p.start == b.p.start:
        return _numeric(abs(a.latency[0] - b.latency[0]), a.latency[1], b.latency[1],
                        DAY_EDGES, s.onset_error, s.onset_miss, w.n)
    if a.onset is None or b.onset is None:
        return 0.0
    return _numeric(abs(a.onset[0] - b.onset[0]), a.onset[1], b.onset[1], DAY_EDGES,
                    s.onset_error, s.onset_miss, w.n)


Split = tuple[frozenset[str], frozenset[str], frozenset[str]]


def _matched_drugs(a: frozenset[str], b: frozenset[str],
                   twins: Mapping[str, frozenset[str]]) -> Split | None:
    """(shared, only in a, only in b), pairing names one typo apart as shared."""
    if not a or not b:
        return None
    if a == b:
        return a, frozenset(), frozenset()
    only_a, only_b = a - b, b - a
    if not only_a or not only_b:
        return a & b, only_a, only_b
    shared, left_a, left_b = set(a & b), set(only_a), set(only_b)
    for name in sorted(only_a):
        near = twins.get(name)
        # The fitted names' twins are precomputed; a name never seen is compared directly.
        twin = next((other for other in sorted(left_b)
                     if (other in near if near is not None and other in twins
                         else _one_typo_apart(name, other))), None)
        if twin is not None:
            shared.add(name)
            left_a.discard(name)
            left_b.discard(twin)
    return frozenset(shared), frozenset(left_a), frozenset(left_b)


def _one_typo_apart(x: str, y: str) -> bool:
    """One edit (insert, delete, substitute, swap of neighbours) apart, for names long
    enough that one letter does not make another product (at least 6 characters)."""
    if min(len(x), len(y)) < 6 or abs(len(x) - len(y)) > 1:
        return False
    if len(x) == len(y):
        diff = [i for i, (p, q) in enumerate(zip(x, y, strict=True)) if p != q]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]])
    short, long_ = (x, y) if len(x) < len(y) else (y, x)
    i = next((k for k, (p, q) in enumerate(zip(short, long_, strict=False)) if p != q),
             len(short))
    return short[i:] == long_[i + 1:]


def _drugs(a: frozenset[str], b: frozenset[str], w: Weights) -> float:
    split = _matched_drugs(a, b, w.drug_twins)
    if split is None:
        return 0.0
    shared, only_a, only_b = split
    omitted = w.assumptions.drug_omitted
    unknown = _unknown_item(w.n, omitted)
    return (_shared_items(shared, w.drugs, w.drug_pairs, w.n, omitted)
            + sum(w.drug_weights.get(d, unknown)[1] for d in (*only_a, *only_b)))


def _shared_items(shared: frozenset[str], counts: Mapping[str, int],
                  pairs: Mapping[tuple[str, str], int], n: int, omitted: float) -> float:
    """Evidence of the shared items: each item's chance of being kept by a duplicate
    against its chance of appearing on a random report, given the items already counted
    (chain rule, conditioning on the most strongly associated one)."""
    ordered = sorted(shared, key=lambda item: (counts.get(item, 0), item))
    score = 0.0
    for k, item in enumerate(ordered):
        share = max(counts.get(item, 0), 1) / n
        for earlier in ordered[:k]:
            together = pairs.get((earlier, item) if earlier < item else (item, earlier), 0)
            # Smoothed toward the item's own share when the earlier item is rare.
            share = max(share, (together + share) / (counts.get(earlier, 0) + 1))
        score += max(math.log((1 - omitted) / min(share, 1.0)), 0.0)
    return score


def _dates(a: _Ready, b: _Ready, w: Weights) -> float:
    """Other dates (vaccination, death, end, narrative): sharing any is evidence, priced
    by how likely a random report is to mention one of them."""
    if not a.p.dates or not b.p.dates:
        return 0.0
    unshared = w.assumptions.date_unshared
    # The likelier direction (b mentioning one of a's dates, or a one of b's) is the
    # cautious price of a shared date; and since reports of one vaccine cluster in time
    # (influenza in the autumn), so is the chance among reports of a drug both list.
    chance = max(a.date_chance, b.date_chance, 1 / w.n)
    for drug in a.p.drugs & b.p.drugs:
        chance = max(chance, a.date_chance_given_drug[drug], b.date_chance_given_drug[drug])
    chance = min(chance, 1 - 1 / w.n)
    if a.p.dates & b.p.dates:
        return max(math.log((1 - unshared) / chance), 0.0)
    return math.log(unshared / (1 - chance))


# --- candidates and clusters ----------------------------------------------------------


def prior_threshold(n_reports: int, expected_duplicate_pairs: float) -> float:
    """The score at which a pair is as likely duplicate as not, when about
    `expected_duplicate_pairs` of the n(n-1)/2 pairs are duplicates (prior odds)."""
    pairs = n_reports * (n_reports - 1) / 2
    return math.log(max(pairs, 1.0) / max(expected_duplicate_pairs, 1e-9))


WEAK_KEYS = frozenset({"age-sex-drug", "drug-reactions"})
"""Key kinds that are weaker evidence, so their blocks are capped at a sixth of the
limit: a block of k reports costs k^2/2 scored pairs."""


def blocking_keys(p: Profile) -> set[tuple[object, ...]]:
    """Keys a duplicate is likely to share with its twin; each survives a different
    change (a shifted onset, a missing age, a misspelt drug name - through the drug's
    substance -, a dropped reaction)."""
    drugs = p.drugs | p.substances
    keys: set[tuple[object, ...]] = {("id", i) for i in p.ids | p.other_ids}
    if p.onset is not None:
        keys.update(("onset-drug", p.onset, d) for d in drugs)
    for day in p.dates:
        keys.update(("date-drug", day, d) for d in drugs)
    if p.age is not None:
        age = round(p.age * 10) if p.age < 2 else round(p.age)
        keys.update(("age-sex-drug", p.age < 2, age, p.sex, d) for d in drugs)
    reactions = sorted(p.reactions)
    for first, second in combinations(reactions[:12], 2):
        keys.update(("drug-reactions", d, first, second) for d in drugs)
    return keys


def candidate_pairs(reports: Iterable[CaseReport], weights: Weights, threshold: float, *,
                    block_limit: int = 60) -> list[PairScore]:
    """Scored pairs at or above `threshold`, best first. Only pairs sharing a blocking key
    held by at most `block_limit` reports (a sixth of it for weak keys) are scored."""
    ready = {p.case_id: _ready(p, weights) for p in map(profile, reports)}
    found: list[PairScore] = []
    for a, b in _blocked_pairs((r.p for r in ready.values()), block_limit):
        scored = _score(ready[a], ready[b], weights, threshold)
        if scored is not None:
            found.append(scored)
    return sorted(found, key=lambda pair: (-pair.total, pair.a, pair.b))


def _blocked_pairs(profiles: Iterable[Profile], limit: int) -> set[tuple[str, str]]:
    blocks: dict[tuple[object, ...], list[str]] = {}
    for p in profiles:
        for key in blocking_keys(p):
            blocks.setdefault(key, []).append(p.case_id)
    pairs: set[tuple[str, str]] = set()
    weak_limit = max(limit // 6, 2)
    for key, members in blocks.items():
        if 1 < len(members) <= (weak_limit if key[0] in WEAK_KEYS else limit):
            pairs.update((x, y) if x < y else (y, x)
                         for x, y in combinations(members, 2) if x != y)
    return pairs


def clusters(pairs: Iterable[PairScore]) -> list[set[str]]:
    """Complete-link clusters of flagged pairs: a group forms only when every two of its
    reports were flagged, merging the best-linked groups first (vigiMatch's rule)."""
    link: dict[frozenset[int], float] = {}
    names: dict[str, int] = {}
    for pair in pairs:
        x, y = (names.setdefault(case, len(names)) for case in (pair.a, pair.b))
        if x != y:
            key = frozenset((x, y))
            link[key] = max(link.get(key, -math.inf), pair.total)
    members: dict[int, set[int]] = {i: {i} for i in names.values()}
    neighbours: dict[int, dict[int, float]] = {i: {} for i in names.values()}
    for key, score in link.items():
        x, y = tuple(key)
        neighbours[x][y] = neighbours[y][x] = score
    heap = [(-score, min(key), max(key)) for key, score in link.items()]
    heapq.heapify(heap)
    next_id = len(names)
    while heap:
        negative, x, y = heapq.heappop(heap)
        if x not in members or y not in members or neighbours[x].get(y) != -negative:
            continue  # stale: one side was merged since
        merged = next_id
        next_id += 1
        members[merged] = members.pop(x) | members.pop(y)
        # Complete link: the new group is linked to z only if both parts were, at the
        # weaker of the two links.
        neighbours[merged] = {}
        for z in set(neighbours[x]) & set(neighbours[y]) - {x, y}:
            score = min(neighbours[x][z], neighbours[y][z])
            neighbours[merged][z] = score
            neighbours[z][merged] = score
            heapq.heappush(heap, (-score, min(merged, z), max(merged, z)))
        for old in (x, y):
            for z in neighbours.pop(old):
                neighbours.get(z, {}).pop(old, None)
    by_index = {i: case for case, i in names.items()}
    groups = [{by_index[i] for i in group} for group in members.values() if len(group) > 1]
    return sorted(groups, key=lambda group: sorted(group))


# --- completeness, master, merge ------------------------------------------------------

UNINFORMATIVE = frozenset({"none", "unk", "unknown", "na", "n/a", "no", "nil", "-"})


def completeness(report: CaseReport) -> float:
    """vigiGrade completeness: 1 for a report documented on every dimension."""
    score = 1.0
    for penalty in _penalties(report):
        score *= 1 - penalty
    return score


def _penalties(report: CaseReport) -> list[float]:
    suspects = report.suspects
    patient = report.patient
    return [
        _time_to_onset_penalty(report),
        0.0 if any(d.indication for d in suspects) else 0.3,
        0.0 if any(r.outcome != "unknown" for r in report.reactions) else 0.3,
        0.0 if patient.sex in ("male", "female") else 0.3,
        0.0 if patient.age is not None else 0.1 if patient.age_group else 0.3,
        0.0 if any(d.dose_value is not None for d in suspects) else 0.1,
        0.0 if report.occurrence_country or any(s.country for s in report.primary_sources)
        else 0.1,
        0.0 if any(s.qualification for s in report.primary_sources) else 0.1,
        0.0 if report.report_type != "unknown" else 0.1,
        0.0 if _informative(report.narrative) or _informative(report.sender_comment)
        else 0.1,
    ]


def _bounds(text: str | None) -> tuple[date, date] | None:
    """First and last day a partial date can mean."""
    if not text:
        return None
    parts = [int(p) for p in text.split("-")]
    if len(parts) == 3:
        day = date(*parts)
        return day, day
    if len(parts) == 2:
        year, month = parts
        following = date(year + month // 12, month % 12 + 1, 1)
        return date(year, month, 1), date.fromordinal(following.toordinal() - 1)
    return date(parts[0], 1, 1), date(parts[0], 12, 31)


def _time_to_onset_penalty(report: CaseReport) -> float:
    """The best time-to-onset among suspect-reaction pairs: none when the dates say
    whether the drug came first, 10% or 30% (uncertainty over a month) when they leave
    it in doubt, 50% when a date is missing."""
    best = 0.5
    for drug in report.suspects:
        start = _bounds(drug.start)
        for reaction in report.reactions:
            onset = _bounds(reaction.start)
            if start is None or onset is None:
                continue
            earliest = (onset[0] - start[1]).days
            latest = (onset[1] - start[0]).days
            if earliest >= 0 or latest < 0:
                return 0.0
            best = min(best, 0.3 if latest - earliest > 31 else 0.1)
    return best


def _informative(text: str | None) -> bool:
    if not text:
        return False
    stripped = text.strip().casefold()
    return stripped not in UNINFORMATIVE and any(c.isalpha() for c in stripped)


def choose_master(reports: Sequence[CaseReport]) -> CaseReport:
    """The most complete report; ties go to the earliest received, then the lowest id."""
    if not reports:
        raise Invalid("no reports to choose a master from", where="reports")
    return min(reports, key=lambda r: (-round(completeness(r), 9), r.first_received,
                                       r.worldwide_id))


def merge(master: CaseReport, duplicates: Iterable[CaseReport]) -> CaseReport:
    """The master, unchanged except that it now lists the duplicates' ids (worldwide id
    and their own other ids) among its other case ids (C.1.9.1.r.2), so the link is kept
    and a later copy is externally indicated. Content is never merged: facts from two
    reports may describe two patients, and a person adjudicating the group edits the
    master if the duplicates add something."""
    own = {master.worldwide_id, master.sender_report_id}
    ids = list(master.other_case_ids)
    for duplicate in duplicates:
        for case_id in (duplicate.worldwide_id, *duplicate.other_case_ids):
            if case_id not in own and case_id not in ids:
                ids.append(case_id)
    return master.model_copy(update={"other_case_ids": tuple(ids)})
