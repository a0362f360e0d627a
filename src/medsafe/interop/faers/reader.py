"""Streams a FAERS or legacy AERS quarterly ASCII extract as `CaseReport`s, the latest
version of each case only, skipping cases on FDA's deletion list.

Which version is the latest:
- FAERS: the highest caseversion of the caseid (ties, which FDA's files should not have,
  go to the higher primaryid). FDA's FAQ for the Quarterly Data Extract (July 2020, Q1)
  says each submission of a case gets the next version number and "the latest version of
  a case represents the most current information".
- legacy AERS: each ISR is one version; the same FAQ says the latest ISR carried the most
  current information. The latest is the ISR with the latest fda_dt (the date FDA received
  it), ties going to the higher ISR number.

How memory stays bounded by the number of cases, not by the size of the files:
1. DEMO is read once to choose each case's latest report: a dict caseid -> (rank,
   report key, DEMO line) is the only thing kept (plus, for AERS, the earliest fda_dt).
2. Each other file is scanned once, cheaply (counting `$`, reading the key), to check its
   rows are well formed and to learn whether its reports come in DEMO's order. FDA's
   files do (the 2017Q2 sample is sorted by primaryid as text, not as a number, so the
   reader relies on DEMO's order, never on a numeric sort).
3. DEMO and the six files are then read together, like a merge join: for each chosen
   DEMO row the reader takes the rows of that report from each file, builds the case and
   yields it. A file whose reports are not in DEMO's order is the exception: its rows of
   chosen reports are grouped in memory (compact tuples) before the join, and the reader
   says so in `stats.unordered_files`.
Every file is thus read twice, and nothing is yielded before every row has been checked
for shape (column count, report key), so a malformed file fails before its first case.

Parsing: each line is split at `$`, which is what `csv.reader(delimiter="$",
quoting=csv.QUOTE_NONE)` does (no quoting, no escapes in these files) at a third of the
cost (1.0 s against 3.0 s for 1.5 million DRUG lines here). A trailing `$` (FDA ends lines
with one) gives an empty last field, which is accepted. Files are decoded as UTF-8 and any
byte that is not valid UTF-8 as Windows-1252 (the samples here are plain ASCII; older
extracts are single-byte text), so no file fails to decode.

Problems (a row with the wrong number of fields, a missing key, a required date that is
not a date, an unknown drug role or outcome code, a case the model rejects) are reported
as `RowProblem`s naming file and line. Without `keep_going` the first problem raises
`Invalid`; with it, problems go to `on_problem` and the row (or, for a DEMO row, the whole
case, so that an older version is never silently read instead) is skipped, until more
than `max_problems`, which raises `Invalid`.

Sources: FDA, FAQs for the FAERS Quarterly Data Extract (revised July 2020), Q1-Q2,
https://www.scribd.com/document/520684803/FAQs (also https://studylib.net/doc/15505049);
FDA "ASC_NTS.DOC" (see `layout`); FDA's deleted-case lists (`DELETEyyQq.txt`, one caseid
per line after a blank first line), e.g. cran/faersquarterlydata
tests/testthat/resources/deleted/DELETE21Q4.txt; the samples in
../shared/data/faers/ascii-samples.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from io import TextIOWrapper
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, Protocol

from pydantic import ValidationError

from medsafe.cases.model import CaseReport
from medsafe.errors import Invalid
from medsafe.interop.faers.layout import (
    KINDS,
    FileLayout,
    QuarterFiles,
    find_quarter,
    split_header,
)
from medsafe.interop.faers.mapping import (
    D_CASE,
    D_FDA,
    D_FIRST,
    D_KEY,
    D_VERSION,
    CaseMapper,
    Row,
    full_date,
)

_FALLBACK = "medsafe-faers-cp1252"


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode the bytes UTF-8 rejected as Windows-1252 (undefined bytes as U+FFFD)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start:error.end]
    return bytes(bad).decode("cp1252", errors="replace"), error.end


codecs.register_error(_FALLBACK, _cp1252_fallback)

PROGRESS_EVERY = 1 << 16
"""Lines between two progress calls."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that could not be used (or, for a DEMO row, the case it belongs to), and
    why."""

    file: str
    line: int
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class ReadStats:
    """What one pass over a quarter found."""

    reports: int = 0  # DEMO data rows
    cases: int = 0  # CaseReports yielded
    superseded: int = 0  # DEMO rows of a case that has a later version
    deleted: int = 0  # DEMO rows of cases on the deletion list
    rows: Counter[str] = field(default_factory=Counter)  # data rows per file kind
    unordered_files: list[str] = field(default_factory=list)  # joined in memory
    dropped: Counter[str] = field(default_factory=Counter)  # unreadable optional values
    truncated: Counter[str] = field(default_factory=Counter)  # text cut to the model


class _Source(Protocol):
    def take(self, position: int) -> list[tuple[int, Row]]: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    """A case's latest report so far, during the DEMO pass."""

    rank: tuple[int, int]  # FAERS (caseversion, primaryid); AERS (fda_dt, isr)
    key: str
    line: int
    first: str = ""  # AERS: earliest fda_dt (YYYYMMDD) among the case's reports


@dataclass(slots=True)
class _Plan:
    chosen: dict[str, int]  # report key -> its DEMO line
    first: dict[str, date]  # report key -> first received (AERS only)


def read_deleted_ids(path: Path) -> frozenset[str]:
    """The caseids in one of FDA's deleted-case lists: one number per line; blank lines
    (FDA's files start with one) are ignored."""
    ids: set[str] = set()
    with path.open(encoding="utf-8", errors=_FALLBACK, newline="") as handle:
        for number, line in enumerate(handle, 1):
            value = line.strip()
            if not value:
                continue
            if not (value.isascii() and value.isdigit()):
                raise Invalid(f"expected a caseid (digits), found {value[:40]!r}",
                              where=f"{path.name}:{number}")
            ids.add(value)
    return frozenset(ids)


class _File:
    """One file of the quarter: its header, how to cut a line into the fields the
    mapping wants, and the shape check."""

    def __init__(self, kind: str, path: Path, layout: FileLayout) -> None:
        self.kind = kind
        self.path = path
        self.name = path.name
        with self.open() as handle:
            header = split_header(handle.readline())
        if not header:
            raise Invalid("empty file: no header line", where=f"{self.name}:1")
        self.width = len(header)
        indices = layout.resolve(header, f"{self.name}:1")
        self.key_index = indices[0]
        # An absent optional column reads slot `width`, which holds "" in every row:
        # `fields` appends it, or the trailing `$` of FDA's lines already provides it.
        self.getter = itemgetter(*(i if i >= 0 else self.width for i in indices))
        self.size = path.stat().st_size

    def open(self, raw: BinaryIO | None = None) -> TextIOWrapper:
        """The file as text; pass the binary file to learn how far reading has got."""
        return TextIOWrapper(raw if raw is not None else self.path.open("rb"),
                             encoding="utf-8", errors=_FALLBACK, newline="")

    def shape_problem(self, parts: list[str]) -> str | None:
        """Why a line cut into `parts` is malformed, or None. More fields than the header
        are accepted when the extra ones are empty (a trailing `$`)."""
        count = len(parts)
        if count == self.width or (count > self.width and not any(parts[self.width:])):
            return None
        return f"expected {self.width} fields as in the header, found {count}"

    def fields(self, parts: list[str]) -> Row:
        if len(parts) == self.width:
            parts.append("")
        result: Row = self.getter(parts)
        return result


class _Ordered:
    """A file whose reports come in DEMO's order: rows are taken as the join advances."""

    def __init__(self, rows: Iterator[tuple[int, int, Row]]) -> None:
        self._rows = rows
        self._head = next(rows, None)

    def take(self, position: int) -> list[tuple[int, Row]]:
        out: list[tuple[int, Row]] = []
        head = self._head
        while head is not None and head[0] <= position:
            if head[0] == position:
                out.append((head[1], head[2]))
            head = next(self._rows, None)
        self._head = head
        return out


class _Grouped:
    """A file whose reports are not in DEMO's order: its rows of chosen reports, grouped
    by report before the join."""

    def __init__(self, rows: Iterator[tuple[int, int, Row]]) -> None:
        self._groups: dict[int, list[tuple[int, Row]]] = {}
        for position, line, row in rows:
            self._groups.setdefault(position, []).append((line, row))

    def take(self, position: int) -> list[tuple[int, Row]]:
        return self._groups.pop(position, [])


class FaersReader:
    """One quarter's reports as CaseReports: iterate it (each iteration reads the files
    afresh). `problems` and `stats` describe the last iteration."""

    def __init__(self, folder: Path, *, deleted_case_ids: Collection[str] = (),
                 on_problem: Callable[[RowProblem], None] | None = None,
                 max_problems: int = 100, keep_going: bool = False,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        self.quarter: QuarterFiles = find_quarter(folder)
        self.era = self.quarter.layout.era
        self.problems: list[RowProblem] = []
        self.stats = ReadStats()
        self._deleted = frozenset(str(i).strip() for i in deleted_case_ids)
        self._on_problem = on_problem
        self._max_problems = max_problems
        self._keep_going = keep_going
        self._on_progress = on_progress
        self._files = {kind: _File(kind, self.quarter.files[kind],
                                   self.quarter.layout.files[kind]) for kind in KINDS}
        self._total = 2 * sum(f.size for f in self._files.values())
        self._done = 0  # bytes of files read to the end in this iteration
        self._reading: dict[int, int] = {}  # bytes read so far of files being read

    # -- problems and progress ---------------------------------------------------------

    def _problem(self, file: str, line: int, reason: str) -> None:
        problem = RowProblem(file, line, reason)
        self.problems.append(problem)
        if self._on_problem is not None:
            self._on_problem(problem)
        if not self._keep_going:
            raise Invalid(reason, where=problem.where)
        if len(self.problems) > self._max_problems:
            raise Invalid(f"more than {self._max_problems} problems, the last: {reason}",
                          where=problem.where)

    def _progress(self) -> None:
        if self._on_progress is not None:
            done = self._done + sum(self._reading.values())
            self._on_progress(min(done, self._total), self._total)

    # -- the passes --------------------------------------------------------------------

    def __iter__(self) -> Iterator[CaseReport]:
        self.problems = []
        self.stats = ReadStats()
        self._done = 0
        self._reading = {}
        mapper = CaseMapper(self.era)
        plan = self._choose()
        sources: dict[str, _Source] = {}
        for kind in KINDS[1:]:
            ordered = self._check(self._files[kind], plan.chosen)
            if not ordered:
                self.stats.unordered_files.append(self._files[kind].name)
                sources[kind] = _Grouped(self._chosen_rows(self._files[kind], plan.chosen))
        for kind in KINDS[1:]:
            if kind not in sources:
                sources[kind] = _Ordered(self._chosen_rows(self._files[kind], plan.chosen))
        yield from self._join(plan, sources, mapper)
        self.stats.dropped = mapper.dropped
        self.stats.truncated = mapper.truncated

    def _lines(self, file: _File) -> Iterator[tuple[int, str]]:
        """(line number, line) of every data line that is not blank, with progress.
        Several files are read at once during the join, so each one's position is kept
        apart and the sum reported: the figure never goes back."""
        token = object()
        with file.path.open("rb") as raw, file.open(raw) as handle:
            handle.readline()
            for number, line in enumerate(handle, 2):
                if not number % PROGRESS_EVERY:
                    self._reading[id(token)] = min(raw.tell(), file.size)
                    self._progress()
                if line.isspace():
                    continue
                yield number, line
        self._reading.pop(id(token), None)
        self._done += file.size
        self._progress()

    def _choose(self) -> _Plan:
        """Pass over DEMO: the latest report of each case."""
        demo = self._files["DEMO"]
        entries: dict[str, _Entry] = {}
        broken: set[str] = set()
        for number, line in self._lines(demo):
            self.stats.reports += 1
            parts = line.rstrip("\r\n").split("$")
            shape = demo.shape_problem(parts)
            if shape is not None:
                self._problem(demo.name, number, shape)
                continue
            row = demo.fields(parts)
            key, case = row[D_KEY].strip(), row[D_CASE].strip()
            if not key or not case:
                self._problem(demo.name, number, "missing report key" if not key
                              else "missing case id")
                continue
            if case in self._deleted:
                self.stats.deleted += 1
                continue
            if case in broken:
                continue
            try:
                entry = self._entry(row, key, number)
            except Invalid as error:
                broken.add(case)
                entries.pop(case, None)
                self._problem(demo.name, number, f"case {case} skipped: {error.reason}")
                continue
            self._keep_latest(entries, case, entry, demo.name)
        return self._plan(entries, demo.name)

    def _entry(self, row: Row, key: str, line: int) -> _Entry:
        if not (key.isascii() and key.isdigit()):
            raise Invalid(f"report key {key!r} is not a number")
        fda = row[D_FDA].strip()
        if full_date(fda) is None:
            raise Invalid(f"fda_dt {row[D_FDA]!r} is not a date (YYYYMMDD)")
        if self.era == "aers":
            return _Entry((int(fda), int(key)), key, line, fda)
        version = row[D_VERSION].strip()
        if not (version.isascii() and version.isdigit()):
            raise Invalid(f"caseversion {row[D_VERSION]!r} is not a number")
        if full_date(row[D_FIRST]) is None:
            raise Invalid(f"init_fda_dt {row[D_FIRST]!r} is not a date (YYYYMMDD), so the "
                          "case has no first-received date")
        return _Entry((int(version), int(key)), key, line)

    def _keep_latest(self, entries: dict[str, _Entry], case: str, entry: _Entry,
                     file: str) -> None:
        old = entries.get(case)
        if old is None:
            entries[case] = entry
            return
        if old.rank == entry.rank:
            self._problem(file, entry.line,
                          f"case {case}: same version as line {old.line}; this row is skipped")
            return
        self.stats.superseded += 1
        latest = entry if entry.rank > old.rank else old
        first = min(old.first, entry.first)
        entries[case] = _Entry(latest.rank, latest.key, latest.line, first)

    def _plan(self, entries: Mapping[str, _Entry], file: str) -> _Plan:
        chosen: dict[str, int] = {}
        first: dict[str, date] = {}
        for case, entry in entries.items():
            if entry.key in chosen:
                self._problem(file, entry.line, f"report key {entry.key} of case {case} "
                              f"is also on line {chosen[entry.key]}; this case is skipped")
                continue
            chosen[entry.key] = entry.line
            if entry.first:
                day = full_date(entry.first)
                if day is not None:
                    first[entry.key] = day
        return _Plan(chosen, first)

    def _check(self, file: _File, chosen: Mapping[str, int]) -> bool:
        """Pass over one file: shape and key of every row, and whether the reports come
        in DEMO's order. Cheap: counts `$` and slices the key, splits only odd lines."""
        ordered = True
        last = -1
        fast_key = file.key_index == 0
        for number, line in self._lines(file):
            self.stats.rows[file.kind] += 1
            text = line.rstrip("\r\n")
            shape = (file.shape_problem(text.split("$"))
                     if text.count("$") + 1 != file.width else None)
            if shape is not None:
                self._problem(file.name, number, shape)
                continue
            key = (text[:text.find("$")] if fast_key
                   else text.split("$")[file.key_index]).strip()
            if not key:
                self._problem(file.name, number, "missing report key")
                continue
            position = chosen.get(key)
            if position is not None:
                if position < last:
                    ordered = False
                last = max(last, position)
        return ordered

    def _chosen_rows(self, file: _File,
                     chosen: Mapping[str, int]) -> Iterator[tuple[int, int, Row]]:
        """(DEMO line of the report, line, fields) of each well-formed row of a chosen
        report; malformed rows were reported by `_check`."""
        key_index = file.key_index
        width = file.width
        for number, line in self._lines(file):
            parts = line.rstrip("\r\n").split("$")
            if len(parts) < width:
                continue
            position = chosen.get(parts[key_index].strip())
            if position is None or (len(parts) != width and file.shape_problem(parts)):
                continue
            yield position, number, file.fields(parts)

    def _join(self, plan: _Plan, sources: Mapping[str, _Source],
              mapper: CaseMapper) -> Iterator[CaseReport]:
        demo = self._files["DEMO"]
        chosen = plan.chosen
        for number, line in self._lines(demo):
            parts = line.rstrip("\r\n").split("$")
            if (len(parts) <= demo.key_index
                    or chosen.get(parts[demo.key_index].strip()) != number):
                continue
            row = demo.fields(parts)
            groups = {kind: sources[kind].take(number) for kind in KINDS[1:]}
            report = self._build(mapper, row, number, plan, groups)
            if report is not None:
                self.stats.cases += 1
                yield report

    def _build(self, mapper: CaseMapper, row: Row, number: int, plan: _Plan,
               groups: Mapping[str, list[tuple[int, Row]]]) -> CaseReport | None:
        key = row[D_KEY].strip()
        first = plan.first.get(key) if self.era == "aers" else full_date(row[D_FIRST])
        if first is None:  # checked in the DEMO pass; kept for the type checker
            self._problem(self._files["DEMO"].name, number, "no first-received date")
            return None
        try:
            return mapper.build(row, first, drugs=groups["DRUG"], ther=groups["THER"],
                                indi=groups["INDI"], reac=groups["REAC"],
                                outc=groups["OUTC"], rpsr=groups["RPSR"],
                                reject=self._reject)
        except ValidationError as error:
            detail = error.errors()[0]
            place = ".".join(str(p) for p in detail["loc"])
            self._problem(self._files["DEMO"].name, number,
                          f"case {row[D_CASE].strip()} rejected by the case model: "
                          f"{place}: {detail['msg']}")
            return None

    def _reject(self, kind: str, line: int, reason: str) -> None:
        self._problem(self._files[kind].name, line, reason)


def read_faers(folder: Path, *, deleted_case_ids: Collection[str] = (),
               on_problem: Callable[[RowProblem], None] | None = None,
               max_problems: int = 100, keep_going: bool = False,
               on_progress: Callable[[int, int], None] | None = None,
               ) -> Iterator[CaseReport]:
    """The latest version of each case in the quarter at `folder` (the folder with the
    seven files, or the quarter folder holding `ascii/`). Folder errors (a missing file,
    an unknown layout) raise `Invalid` at once; row problems as the class describes.
    For problems and statistics afterwards, use `FaersReader` directly."""
    return iter(FaersReader(folder, deleted_case_ids=deleted_case_ids,
                            on_problem=on_problem, max_problems=max_problems,
                            keep_going=keep_going, on_progress=on_progress))


__all__ = ["FaersReader", "ReadStats", "RowProblem", "read_deleted_ids", "read_faers"]
