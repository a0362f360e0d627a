"""Text normalisation and whole-word phrase lookup for matching names in free text.

"Oxycodone HCl 5 mg tablet" must find "oxycodone"; "MS Contin" must not find the condition
"MS"; "Zanaflex" must find tizanidine whatever its case. Names are reduced to lower-case
words; a text matches a name when the name's words appear consecutively in the text's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_NON_WORD = re.compile(r"[^0-9a-z]+")
MAX_PHRASE_WORDS = 6


def words(text: str) -> tuple[str, ...]:
    """Lower-case alphanumeric words; accents and punctuation split words."""
    return tuple(w for w in _NON_WORD.split(text.casefold()) if w)


def normalise(text: str) -> str:
    return " ".join(words(text))


def find_phrases(text: str, index: Mapping[str, object]) -> list[str]:
    """Every key of `index` (normalised phrases) that occurs as whole words in `text`.

    Longer phrases win over the words inside them at the same position, so
    "botulinum toxin type a" is one hit, not also "a".
    """
    tokens = words(text)
    found: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        matched = 0
        for size in range(min(MAX_PHRASE_WORDS, n - i), 0, -1):
            phrase = " ".join(tokens[i : i + size])
            if phrase in index:
                found.append(phrase)
                matched = size
                break
        i += matched or 1
    return found


def phrase_keys(names: Iterable[str]) -> list[str]:
    """Normalised, non-empty phrases for a list of names, longest allowed length checked."""
    keys = []
    for name in names:
        key = normalise(name)
        if key and len(key.split()) <= MAX_PHRASE_WORDS:
            keys.append(key)
    return keys
