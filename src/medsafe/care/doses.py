"""Read a prescription's dose text: how many mg per dose, how many doses a day.

A taper is arithmetic on the patient's current dose, so the dose must be read exactly or
not at all. `parse_dose` accepts one amount (mg, g or mcg) and one frequency ("three times
daily", "TID", "every 8 hours", "at night"); anything else (a range, "as needed", two
amounts, an interval that does not divide the day) gives None and the prescriber writes
the steps. It never guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_AMOUNT = re.compile(
    r"(?<![\w.])(\d+(?:[.,]\d+)?)\s*(mg|milligrams?|g|grams?|mcg|micrograms?|µg)\b",
    re.IGNORECASE)
_UNIT_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0,
            "grams": 1000.0, "mcg": 0.001, "microgram": 0.001, "micrograms": 0.001,
            "µg": 0.001}
_WORDS = {"once": 1, "one time": 1, "twice": 2, "two times": 2, "three times": 3,
          "thrice": 3, "four times": 4, "five times": 5, "six times": 6}
_ABBREVIATIONS = {"qd": 1, "od": 1, "bid": 2, "bd": 2, "tid": 3, "tds": 3,
                  "qid": 4, "qds": 4}
_PER_DAY = r"(?:a|per|each|every|/)\s*day|daily|a\s+24[- ]hours?"
_TIMES_PER_DAY = re.compile(
    rf"\b(once|one time|twice|two times|three times|thrice|four times|five times|six times|"
    rf"(\d)\s*(?:times|x))\s*(?:{_PER_DAY})\b", re.IGNORECASE)
_EVERY_HOURS = re.compile(r"\b(?:every|q)\s*(\d+)\s*(?:hours?|hrs?|h)\b", re.IGNORECASE)
_ABBREVIATION = re.compile(r"\b(q\.?d|o\.?d|b\.?i\.?d|b\.?d|t\.?i\.?d|t\.?d\.?s|q\.?i\.?d|"
                           r"q\.?d\.?s)\b\.?", re.IGNORECASE)
_ONCE = re.compile(r"\b(?:at night|at bedtime|nightly|every night|each night|"
                   r"every morning|each morning|in the morning|once daily|daily)\b",
                   re.IGNORECASE)
# Words that make a dose conditional or open-ended: never a basis for arithmetic.
_UNCERTAIN = re.compile(r"\b(?:as needed|as required|prn|p\.r\.n|if needed|when needed|"
                        r"up to|or|to|-|–|range|variable|titrat\w*|taper\w*|then)\b",
                        re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^()]*\)")
# Left over after the amount and the frequency, these mean the amount is not the dose
# ("5 mg/5 mL, 10 mL", "10 mg tablets, 2 tablets", "half a tablet").
_OTHER_QUANTITY = re.compile(r"\d|/|\b(?:ml|millilitres?|milliliters?|teaspoons?|tsp|drops?|"
                             r"two|three|four|five|six|half|quarter|double)\b|½|¼",
                             re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedDose:
    """One dose of `dose_mg`, taken `times_per_day` times a day."""

    dose_mg: float
    times_per_day: int

    @property
    def daily_mg(self) -> float:
        return self.dose_mg * self.times_per_day


@lru_cache(maxsize=4096)  # a recall's patients share a handful of dose texts
def parse_dose(text: str | None) -> ParsedDose | None:
    """The dose and frequency `text` states, or None when it does not state exactly one of
    each (then nothing may be computed from it)."""
    if not text:
        return None
    plain = _PARENTHESES.sub(" ", text)
    if "(" in plain or ")" in plain:
        return None
    amounts = _AMOUNT.findall(plain)
    if len(amounts) != 1:
        return None
    dose_mg = _mg(*amounts[0])
    if dose_mg is None or dose_mg <= 0:
        return None
    # A parenthesis may explain the dose ("1000 mg (two 500 mg tablets)"): kept only when
    # its count times its amount is the dose; any other amount in it may be an alternative.
    for aside in _PARENTHESES.findall(text):
        if _AMOUNT.search(aside) and not _explains(aside, dose_mg):
            return None
    rest = _AMOUNT.sub(" ", plain)
    if _UNCERTAIN.search(_dashes_between_words(rest)):
        return None
    found = _frequency(rest)
    if found is None:
        return None
    times, left = found
    if _OTHER_QUANTITY.search(left):
        return None
    return ParsedDose(dose_mg=round(dose_mg, 6), times_per_day=times)


def _mg(number: str, unit: str) -> float | None:
    if "," in number and len(number.split(",")[1]) == 3:
        return None  # "1,000 mg": a thousands comma or a decimal one? Not ours to guess.
    return float(number.replace(",", ".")) * _UNIT_MG[unit.lower()]


_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_EXPLAINED = re.compile(r"^\s*\(\s*(\d|one|two|three|four|five|six)\s*(?:x\s*)?"
                        r"(\d+(?:[.,]\d+)?)\s*(mg|g|mcg)\s*(?:tablets?|capsules?|tabs?|caps?)?"
                        r"\s*\)\s*$", re.IGNORECASE)


def _explains(aside: str, dose_mg: float) -> bool:
    """True when `aside` reads "(two 500 mg tablets)" and two times 500 mg is the dose."""
    match = _EXPLAINED.match(aside)
    if match is None:
        return False
    count = _COUNT_WORDS.get(match.group(1).lower()) or int(match.group(1))
    each = _mg(match.group(2), match.group(3))
    return each is not None and abs(count * each - dose_mg) < 1e-9


def _dashes_between_words(text: str) -> str:
    """'24-hour' is one word, not a range; a dash between numbers or spaced is a range."""
    return re.sub(r"(?<=\w)-(?=\w)", "", text)


def _frequency(text: str) -> tuple[int, str] | None:
    """Doses a day from the one frequency expression in `text`, and the text without it;
    None when there is none or more than one kind (which would be contradictory)."""
    found: set[int] = set()
    for match in _TIMES_PER_DAY.finditer(text):
        word = match.group(1).lower()
        found.add(int(match.group(2)) if match.group(2) else _WORDS[" ".join(word.split())])
        text = text.replace(match.group(0), " ")
    for match in _EVERY_HOURS.finditer(text):
        hours = int(match.group(1))
        if hours == 0 or 24 % hours:
            return None  # "every 5 hours" does not make whole doses a day
        found.add(24 // hours)
        text = text.replace(match.group(0), " ")
    for match in _ABBREVIATION.finditer(text):
        found.add(_ABBREVIATIONS[match.group(1).replace(".", "").lower()])
        text = text.replace(match.group(0), " ")
    for match in _ONCE.finditer(text):
        found.add(1)
        text = text.replace(match.group(0), " ")
    if len(found) != 1:
        return None
    times = found.pop()
    return (times, text) if 1 <= times <= 6 else None
