"""Pluggable terminologies for coding reactions, and medsafe's built-in lay lexicon.

A reaction is coded against a *terminology* (E2B(R3) E.i.2.1: MedDRA in regulatory
exchange). MedDRA is licensed by the MSSO and must never ship with medsafe (DESIGN.md;
../shared/reference/recall-and-cases.md §4, "Licensing risk"), so coding goes through the
`Terminology` protocol and a registry, and medsafe ships only `LayLexicon`: a small list,
`data/lay_lexicon.yaml`, that maps the words patients use ("sleepy", "threw up") to
preferred-term *names* as they appear in the public-domain FAERS data in
../shared/data/faers (REAC files, `faers22q3raw.csv`, the mddc/pvlrt tables). It carries no
MedDRA codes; each `Coded` it returns names the lexicon and its version, so a lay-coded term
is never mistaken for a MedDRA-coded one.

Plugging in a licensed MedDRA (or any other terminology)
-------------------------------------------------------
Write a class with the four members of `Terminology` (`name`, `version`, `lookup`,
`suggest`) over your own licensed release, e.g. one that reads the LLT and PT files of your
MedDRA distribution and returns `Coded(term=<PT name>, code=<PT code>, terminology="MedDRA",
version="27.0")`. Register it once at start-up::

    from medsafe.cases.terminology import terminology_registry
    terminology_registry.register(MyMedDRA("/licensed/meddra/27.0"))

and fetch it by name where reactions are coded: ``terminology_registry.get("MedDRA")``.
Name it `MEDDRA` ("MedDRA") so the FHIR and E2B adapters use MedDRA's own code-system URI
and OID for its codes. The lay lexicon is always available as `LAY_LEXICON`.

Matching in the lay lexicon is case-insensitive; hyphens, punctuation and runs of spaces
count as one space; the longest phrase wins, and `extract` finds every phrase in a sentence
("I feel sleepy and dizzy" -> Somnolence, Dizziness). It does not understand negation
("not dizzy" still yields Dizziness): its output is a suggestion for a person to confirm.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medsafe.cases.model import Coded
from medsafe.errors import Conflict, Invalid, KnowledgeError, NotFound

MEDDRA = "MedDRA"
"""The name a plugged-in MedDRA terminology must carry (adapters key MedDRA's URIs on it)."""

LAY_LEXICON = "medsafe lay lexicon -> FAERS preferred term"
"""The name of the built-in lexicon, as its `Coded.terminology`."""

LAY_LEXICON_FILE = Path(__file__).parent / "data" / "lay_lexicon.yaml"

MAX_TEXT = 10_000
"""Longest text `extract` reads: a report narrative, not a document."""


@runtime_checkable
class Terminology(Protocol):
    """What medsafe needs from a terminology to code a reaction."""

    @property
    def name(self) -> str:
        """Unique name; becomes `Coded.terminology` (e.g. "MedDRA")."""
        ...

    @property
    def version(self) -> str | None:
        """Release in use; becomes `Coded.version` (e.g. "27.0")."""
        ...

    def lookup(self, text: str) -> Coded | None:
        """The term `text` names exactly (ignoring case and spacing), or None."""
        ...

    def suggest(self, text: str, limit: int = 10) -> list[Coded]:
        """Up to `limit` candidate terms for `text`, best first."""
        ...


# --- Text normalisation -------------------------------------------------------------------

# A word is a run of letters or digits, possibly joined by apostrophes ("can't"); everything
# else (spaces, hyphens, commas) separates words. So "Light-headed" == "light headed".
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def words(text: str) -> tuple[str, ...]:
    """The normalised words of `text`: case-folded, punctuation and spacing dropped."""
    return tuple(_WORD.findall(text.casefold().translate(_APOSTROPHES)))


# --- The lexicon file -----------------------------------------------------------------------

class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pt: str = Field(min_length=1, max_length=250)
    found_in: str = Field(min_length=1, description="file under ../shared/data naming the PT")
    lay: tuple[str, ...] = ()


class _LexiconFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    version: str = Field(min_length=1, max_length=20)
    entries: tuple[_Entry, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One preferred term, the file that attests its name, and the phrases that map to it."""

    term: str
    found_in: str
    phrases: tuple[str, ...]


class LayLexicon:
    """The built-in plain-language lexicon (see the module docstring)."""

    def __init__(self, name: str, version: str, entries: Iterable[LexiconEntry]) -> None:
        self._name = name
        self._version = version
        self.entries: tuple[LexiconEntry, ...] = tuple(entries)
        self._by_words: dict[tuple[str, ...], str] = {}
        for entry in self.entries:
            # The PT name matches itself, so "Somnolence" typed by a clinician is found too.
            for phrase in (entry.term, *entry.phrases):
                key = words(phrase)
                if not key:
                    raise KnowledgeError(f"phrase {phrase!r} ({entry.term}) "
                                         f"has no words")
                other = self._by_words.get(key)
                if other is not None:
                    raise KnowledgeError(f"phrase {phrase!r} maps to both "
                                         f"{other!r} and {entry.term!r}")
                self._by_words[key] = entry.term
        self._longest = max(len(key) for key in self._by_words)

    @classmethod
    def load(cls, path: Path = LAY_LEXICON_FILE) -> LayLexicon:
        """Read and check a lexicon file; `KnowledgeError` names the file and the problem."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KnowledgeError(f"{path}: cannot read lay lexicon: {exc}") from exc
        except yaml.YAMLError as exc:
            raise KnowledgeError(f"{path}: not valid YAML: {exc}") from exc
        try:
            parsed = _LexiconFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise KnowledgeError(f"{path}: {field}: {first['msg']}") from exc
        try:
            return cls(parsed.name, parsed.version,
                       (LexiconEntry(e.pt, e.found_in, e.lay) for e in parsed.entries))
        except KnowledgeError as exc:
            raise KnowledgeError(f"{path}: {exc.message}") from exc

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._version

    def terms(self) -> tuple[str, ...]:
        """Every preferred-term name the lexicon can return."""
        return tuple(entry.term for entry in self.entries)

    def _coded(self, term: str) -> Coded:
        return Coded(term=term, code=None, terminology=self._name, version=self._version)

    def lookup(self, text: str) -> Coded | None:
        term = self._by_words.get(words(text))
        return self._coded(term) if term is not None else None

    def extract(self, text: str) -> list[Coded]:
        """Every term named in `text`, in the order first mentioned, each once.

        Scans left to right; at each word the longest phrase starting there wins, and the
        scan resumes after it, so "muscle weakness" is Muscular weakness, not Asthenia.
        """
        if len(text) > MAX_TEXT:
            raise Invalid(f"text is longer than {MAX_TEXT:,} characters", where="text")
        tokens = words(text)
        found: dict[str, None] = {}
        i = 0
        while i < len(tokens):
            for size in range(min(self._longest, len(tokens) - i), 0, -1):
                term = self._by_words.get(tokens[i:i + size])
                if term is not None:
                    found.setdefault(term)
                    i += size
                    break
            else:
                i += 1
        return [self._coded(term) for term in found]

    def suggest(self, text: str, limit: int = 10) -> list[Coded]:
        """Candidates for `text`, best first: an exact phrase, then the terms `extract`
        finds in it, then terms with a phrase that starts with it (for type-ahead), then
        terms with a phrase that contains it."""
        if limit < 1:
            raise Invalid(f"limit must be at least 1, got {limit}", where="limit")
        query = words(text)
        if not query:
            return []
        ranked: dict[str, None] = {}
        exact = self._by_words.get(query)
        if exact is not None:
            ranked.setdefault(exact)
        for coded in self.extract(text):
            ranked.setdefault(coded.term)
        joined = " ".join(query)
        starts = [term for key, term in self._by_words.items() if " ".join(key).startswith(joined)]
        inside = [term for key, term in self._by_words.items() if joined in " ".join(key)]
        for term in (*sorted(starts), *sorted(inside)):
            ranked.setdefault(term)
        return [self._coded(term) for term in list(ranked)[:limit]]


# --- The registry ---------------------------------------------------------------------------

class TerminologyRegistry:
    """Terminologies by name. The lay lexicon is built in and loaded on first use."""

    def __init__(self, builtins: dict[str, Callable[[], Terminology]] | None = None) -> None:
        self._builtins: dict[str, Callable[[], Terminology]] = (
            dict(builtins) if builtins is not None else {LAY_LEXICON: LayLexicon.load})
        self._registered: dict[str, Terminology] = {}

    def register(self, terminology: Terminology, *, replace: bool = False) -> None:
        """Make `terminology` available under its name. Registering a second one under a
        taken name is refused unless `replace` (a new MedDRA release replacing the old)."""
        if not isinstance(terminology, Terminology):
            raise Invalid("not a terminology: it needs name, version, lookup and suggest",
                          where="terminology")
        name = terminology.name
        if not name or not name.strip():
            raise Invalid("a terminology needs a non-empty name", where="terminology.name")
        if not replace and (name in self._registered or name in self._builtins):
            raise Conflict(f"a terminology named {name!r} is already registered")
        self._registered[name] = terminology

    def get(self, name: str) -> Terminology:
        found = self._registered.get(name)
        if found is not None:
            return found
        builtin = self._builtins.get(name)
        if builtin is None:
            raise NotFound(f"no terminology named {name!r} (known: {', '.join(self.names())})")
        self._registered[name] = loaded = builtin()
        return loaded

    def names(self) -> tuple[str, ...]:
        return tuple(sorted({*self._builtins, *self._registered}))


terminology_registry = TerminologyRegistry()
"""The process-wide registry: register a licensed terminology here at start-up."""
