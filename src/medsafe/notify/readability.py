"""How hard a text is to read (pure): the Flesch-Kincaid grade level, with a syllable
count by rule. Patient notices are written to be followed by a reader of about eighth
grade (US school years) or below; the tests measure them with this.

Flesch-Kincaid (Kincaid et al., 1975): 0.39 · words/sentences + 11.8 · syllables/words
− 15.59. The formula is simple; the syllable count is where tools differ. Ours counts vowel
groups and corrects for the common silent endings. On a list of words of our notices and
some known hard ones with their dictionary counts (tests/unit/test_recall_notices.py) it is
right on 65 of 71; the misses ("idea", "science") count one short, which lowers a grade
by a fraction at most on notice text, where such words are rare.
"""

from __future__ import annotations

import re

from medsafe.errors import Invalid

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|\n+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")
# Vowel pairs said as two syllables (pi-a-no, ra-di-o, ac-tu-al); "io" before n is one
# (na-tion).
_SPLIT_VOWELS = re.compile(r"ia|io(?!n)|ua|uo|iu|ii")
_SOUNDED_ES = ("ses", "xes", "zes", "ches", "shes", "ces", "ges")


def syllables(word: str) -> int:
    """Syllables in an English word: vowel groups, less a silent final e (take) and the
    silent -ed (stopped) and -es (takes) endings, plus vowel pairs said apart (ra-di-o) and
    a vowel before -ing (be-ing). A number counts as one."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 1 if word.strip() else 0
    count = len(_VOWEL_GROUP.findall(w))
    if len(w) > 2 and w.endswith("e") and not w.endswith(("le", "ee", "ye", "ie", "oe")):
        count -= 1
    if _silent_ending(w):
        count -= 1
    count += len(_SPLIT_VOWELS.findall(w))
    if re.search(r"[aeiouy]ing$", w):
        count += 1
    return max(1, count)


def _silent_ending(w: str) -> bool:
    if len(w) <= 3 or w[-3] in "aeiouy":
        return False
    if w.endswith("ed"):
        return w[-3] not in "td"  # stopped, recalled; but want-ed, need-ed
    return w.endswith("es") and not w.endswith(_SOUNDED_ES)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """Sentences end at . ! or ? before a space, or at a line break: a list item or a
    heading is a sentence of its own."""
    return [s for s in _SENTENCE_END.split(text) if _WORD.search(s)]


def reading_grade(text: str) -> float:
    """The Flesch-Kincaid grade level of `text`; Invalid when it has no words."""
    found = words(text)
    if not found:
        raise Invalid("no words to measure", where="text")
    total = sum(syllables(w) for w in found)
    return 0.39 * len(found) / len(sentences(text)) + 11.8 * total / len(found) - 15.59
