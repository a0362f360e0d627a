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
   yields it. A file whose reports are not in DEMO's order is the exception: before the
   join the reader notes where each of its rows of chosen reports is (byte offset, length
   and line: 24 bytes a row) and reads them back by position when the join needs them;
   `stats.unordered_files` names such files.
Every file is thus read twice, and nothing is yielded before every row has been checked
for shape (column count, report key) and every DEMO row for its required dates, so such
a malformed file fails before its first case; problems found while building a case (an
unknown drug role, a value the model refuses) surface as the join reaches them.

Parsing: each line is split at `$`, which is what `csv.reader(delimiter="$",
quoting=csv.QUOTE_NONE)` does (no quoting, no escapes in these files) at a third of the
cost (1.0 s against 3.0 s for 1.5 million DRUG lines on this machine). A trailing `$`
(the 2004Q1 sample's lines end with one) gives an empty last field, which is accepted.
Files are decoded as UTF-8 and any byte that is not valid UTF-8 as Windows-1252, so no
file fails to decode whichever of the two it is written in (the samples here are plain
ASCII, so which one FDA uses could not be checked on them).

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
from array import array
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

PROGRESS_MASK = (1 << 16) - 1
"""Progress is reported every 65,536 lines of each file."""

_Taken = list[tuple[int, Row]]
"""The rows of one report in one file, each with its line number."""


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
    unordered_files: list[str] = field(default_factory=list)  # joined by row position
    dropped: Counter[str] = field(default_factory=Counter)  # unreadable optional values
    truncated: Counter[str] = field(default_factory=Counter)  # text cut to the model


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
    """One file of the quarter: its header, where each field the mapping wants sits in a
    line, and the shape check."""

    def __init__(self, kind: str, path: Path, layout: FileLayout) -> None:
        self.kind = kind
        self.path = path
        self.name = path.name
        with path.open("rb") as raw, self.open(raw) as handle:
            header = split_header(handle.readline())
        if not header:
            raise Invalid("empty file: no header line", where=f"{self.name}:1")
        self.width = len(header)
        # Where each field sits; an absent optional column reads slot `width`, which
        # holds "" in every row (`pad` appends it, or a trailing `$` provides it).
        self.slots = tuple(i if i >= 0 else self.width
                           for i in layout.resolve(header, f"{self.name}:1"))
        self.key_index = self.slots[0]
        self.getter = itemgetter(*self.slots)
        self.size = path.stat().st_size

    @staticmethod
    def open(raw: BinaryIO) -> TextIOWrapper:
        return TextIOWrapper(raw, encoding="utf-8", errors=_FALLBACK, newline="")

    def shape_problem(self, parts: list[str]) -> str | None:
        """Why a line cut into `parts` is malformed, or None. More fields than the header
        are accepted when the extra ones are empty (a trailing `$`)."""
        count = len(parts)
        if count == self.width or (count > self.width and not any(parts[self.width:])):
            return None
        return f"expected {self.width} fields as in the header, found {count}"

    def pad(self, parts: list[str]) -> bool:
        """Make `parts` readable by `slots`; False when the line is malformed or blank
        (the shape check reported it)."""
        count = len(parts)
        if count == self.width:
            parts.append("")
            return True
        return count > self.width and not any(parts[self.width:])


class _Source(Protocol):
    def take(self, position: int) -> _Taken: ...

    def close(self) -> None: ...


class _Ordered:
    """A file whose reports come in DEMO's order, read alongside DEMO: `take` returns
    the rows of the report at a DEMO line, reading on until the next report."""

    def __init__(self, reader: FaersReader, file: _File, chosen: Mapping[str, int]) -> None:
        self._reader = reader
        self._file = file
        self._chosen = chosen
        self._raw = file.path.open("rb")
        self._text = file.open(self._raw)
        self._text.readline()
        self._lines = enumerate(self._text, 2)
        self._pending: tuple[int, int, list[str]] | None = None
        self._open = True

    def take(self, position: int) -> _Taken:
        out: _Taken = []
        file, getter, get = self._file, self._file.getter, self._chosen.get
        pending = self._pending
        if pending is not None:
            if pending[0] > position:
                return out
            self._pending = None
            if pending[0] == position:
                out.append((pending[1], getter(pending[2])))
        if not self._open:
            return out
        key_index = file.key_index
        for number, line in self._lines:
            if not number & PROGRESS_MASK:
                self._reader._tick(file, self._raw.tell())
            parts = line.rstrip("\r\n").split("$")
            if not file.pad(parts):
                continue
            at = get(parts[key_index])
            if at is None:
                at = get(parts[key_index].strip())
                if at is None:
                    continue
            if at == position:
                out.append((number, getter(parts)))
            elif at > position:
                self._pending = (at, number, parts)
                return out
        self.close()
        return out

    def close(self) -> None:
        if self._open:
            self._open = False
            self._text.close()
            self._reader._finish(self._file)


class _Grouped:
    """A file whose reports are not in DEMO's order. Before the join it notes where each
    row of a chosen report is (byte offset, length, line number: 24 bytes a row, grouped by
    report); `take` reads those rows back, one read each. Lines are split at "\\n" here
    (text passes also split at a lone "\\r", which FDA's files do not use)."""

    def __init__(self, reader: FaersReader, file: _File, chosen: Mapping[str, int]) -> None:
        self._file = file
        self._groups: dict[int, array[int]] = {}
        get, key_index = chosen.get, file.key_index
        with file.path.open("rb") as raw:
            offset = len(raw.readline())
            for number, line in enumerate(raw, 2):
                if not number & PROGRESS_MASK:
                    reader._tick(file, offset)
                key = line[:line.find(b"$")] if key_index == 0 else line.split(b"$")[key_index]
                at = get(key.decode("latin-1").strip())
                if at is not None:
                    group = self._groups.get(at)
                    if group is None:
                        group = self._groups[at] = array("q")
                    group.extend((offset, len(line), number))
                offset += len(line)
        reader._finish(file)
        self._raw = file.path.open("rb", buffering=0)

    def take(self, position: int) -> _Taken:
        group = self._groups.pop(position, None)
        if group is None:
            return []
        out: _Taken = []
        file, raw = self._file, self._raw
        for i in range(0, len(group), 3):
            raw.seek(group[i])
            parts = raw.read(group[i + 1]).decode("utf-8", errors=_FALLBACK).rstrip(
                "\r\n").split("$")
            if file.pad(parts):
                out.append((group[i + 2], file.getter(parts)))
        return out

    def close(self) -> None:
        self._groups.clear()
        self._raw.close()


@dataclass(slots=True)
class _Plan:
    chosen: dict[str, int]  # report key -> its DEMO line
    first: dict[str, date]  # report key -> first received (AERS only)


_Entry = tuple[int, int, str, int, str]
"""A case's latest report so far: rank (two ints: FAERS caseversion and primaryid, AERS
fda_dt and isr), report key, DEMO line, and for AERS the earliest fda_dt seen."""


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
        self._reading: dict[str, int] = {}  # bytes read so far of files being read

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

    def _tick(self, file: _File, position: int) -> None:
        """Progress while reading: several files are read at once during the join, so
        each one's position is kept apart and the sum reported (it never goes back)."""
        self._reading[file.kind] = min(position, file.size)
        if self._on_progress is not None:
            done = self._done + sum(self._reading.values())
            self._on_progress(min(done, self._total), self._total)

    def _finish(self, file: _File) -> None:
        self._reading.pop(file.kind, None)
        self._done += file.size
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
        ordered = {kind: self._check(self._files[kind], plan.chosen) for kind in KINDS[1:]}
        sources: dict[str, _Source] = {}
        try:
            for kind in KINDS[1:]:
                if not ordered[kind]:
                    self.stats.unordered_files.append(self._files[kind].name)
                    sources[kind] = _Grouped(self, self._files[kind], plan.chosen)
            for kind in KINDS[1:]:
                if ordered[kind]:
                    sources[kind] = _Ordered(self, self._files[kind], plan.chosen)
            yield from self._join(plan, sources, mapper)
        finally:
            for source in sources.values():
                source.close()
            self.stats.dropped = mapper.dropped
            self.stats.truncated = mapper.truncated

    def _choose(self) -> _Plan:
        """Pass over DEMO: the latest report of each case; every row's shape, key and
        required dates checked."""
        demo = self._files["DEMO"]
        key_at, case_at = demo.slots[D_KEY], demo.slots[D_CASE]
        entries: dict[str, _Entry] = {}
        broken: set[str] = set()
        deleted = self._deleted
        with demo.path.open("rb") as raw, demo.open(raw) as text:
            text.readline()
            for number, line in enumerate(text, 2):
                if not number & PROGRESS_MASK:
                    self._tick(demo, raw.tell())
                parts = line.rstrip("\r\n").split("$")
                if not demo.pad(parts):
                    if line.strip():
                        self.stats.reports += 1
                        self._problem(demo.name, number, demo.shape_problem(parts) or "")
                    continue
                self.stats.reports += 1
                key, case = parts[key_at].strip(), parts[case_at].strip()
                if not key or not case:
                    self._problem(demo.name, number,
                                  "missing report key" if not key else "missing case id")
                elif case in deleted:
                    self.stats.deleted += 1
                elif case not in broken:
                    self._consider(entries, broken, demo, parts, key, case, number)
        self._finish(demo)
        return self._plan(entries, demo.name)

    def _consider(self, entries: dict[str, _Entry], broken: set[str], demo: _File,
                  parts: list[str], key: str, case: str, number: int) -> None:
        """Keep the row if it is the case's latest so far; a row with a problem drops
        the whole case, so an older version is never read in its place."""
        try:
            entry = self._entry(demo, parts, key, number)
        except Invalid as error:
            broken.add(case)
            entries.pop(case, None)
            self._problem(demo.name, number, f"case {case} skipped: {error.reason}")
            return
        old = entries.get(case)
        if old is None:
            entries[case] = entry
            return
        if old[:2] == entry[:2]:
            self._problem(demo.name, number,
                          f"case {case}: same version as line {old[3]}; this row is skipped")
            return
        self.stats.superseded += 1
        latest = entry if entry[:2] > old[:2] else old
        entries[case] = (*latest[:4], min(old[4], entry[4]))

    def _entry(self, demo: _File, parts: list[str], key: str, number: int) -> _Entry:
        if not (key.isascii() and key.isdigit()):
            raise Invalid(f"report key {key!r} is not a number")
        fda = parts[demo.slots[D_FDA]].strip()
        if full_date(fda) is None:
            raise Invalid(f"fda_dt {fda!r} is not a date (YYYYMMDD)")
        if self.era == "aers":
            return int(fda), int(key), key, number, fda
        version = parts[demo.slots[D_VERSION]].strip()
        if not (version.isascii() and version.isdigit()):
            raise Invalid(f"caseversion {version!r} is not a number")
        if full_date(parts[demo.slots[D_FIRST]]) is None:
            raise Invalid(f"init_fda_dt {parts[demo.slots[D_FIRST]].strip()!r} is not a "
                          "date (YYYYMMDD), so the case has no first-received date")
        return int(version), int(key), key, number, ""

    def _plan(self, entries: Mapping[str, _Entry], file: str) -> _Plan:
        chosen: dict[str, int] = {}
        first: dict[str, date] = {}
        for case, (_, _, key, line, earliest) in entries.items():
            if key in chosen:
                self._problem(file, line, f"report key {key} of case {case} is also on "
                              f"line {chosen[key]}; this case is skipped")
                continue
            chosen[key] = line
            day = full_date(earliest) if earliest else None
            if day is not None:
                first[key] = day
        return _Plan(chosen, first)

    def _check(self, file: _File, chosen: Mapping[str, int]) -> bool:
        """Pass over one file: the shape and key of every row, and whether its reports
        come in DEMO's order. Cheap: it counts `$` and slices the key off the line; only
        odd lines are split."""
        ordered, last, rows = True, -1, 0
        dollars = file.width - 1
        get = chosen.get
        fast_key = file.key_index == 0
        with file.path.open("rb") as raw, file.open(raw) as text:
            text.readline()
            for number, line in enumerate(text, 2):
                if not number & PROGRESS_MASK:
                    self._tick(file, raw.tell())
                count = line.count("$")
                if count != dollars:  # a trailing `$` (FDA's lines end with one) is fine
                    bare = line.rstrip("\r\n")
                    if not (count == dollars + 1 and bare.endswith("$")):
                        if not bare.strip():
                            continue
                        shape = file.shape_problem(bare.split("$"))
                        if shape is not None:
                            rows += 1
                            self._problem(file.name, number, shape)
                            continue
                rows += 1
                key = line[:line.find("$")] if fast_key else line.split("$")[file.key_index]
                at = get(key)
                if at is None:
                    key = key.strip()
                    if not key:
                        self._problem(file.name, number, "missing report key")
                        continue
                    at = get(key)
                    if at is None:
                        continue
                if at < last:
                    ordered = False
                else:
                    last = at
        self._finish(file)
        self.stats.rows[file.kind] += rows
        return ordered

    def _join(self, plan: _Plan, sources: Mapping[str, _Source],
              mapper: CaseMapper) -> Iterator[CaseReport]:
        """DEMO again, with the other six files alongside: one case per chosen row."""
        demo = self._files["DEMO"]
        get, key_at, getter = plan.chosen.get, demo.key_index, demo.getter
        drug, ther, indi = sources["DRUG"], sources["THER"], sources["INDI"]
        reac, outc, rpsr = sources["REAC"], sources["OUTC"], sources["RPSR"]
        with demo.path.open("rb") as raw, demo.open(raw) as text:
            text.readline()
            for number, line in enumerate(text, 2):
                if not number & PROGRESS_MASK:
                    self._tick(demo, raw.tell())
                parts = line.rstrip("\r\n").split("$")
                if not demo.pad(parts) or get(parts[key_at].strip()) != number:
                    continue
                row: Row = getter(parts)
                report = self._build(mapper, row, number, plan, drug.take(number),
                                     ther.take(number), indi.take(number),
                                     reac.take(number), outc.take(number),
                                     rpsr.take(number))
                if report is not None:
                    self.stats.cases += 1
                    yield report
        self._finish(demo)

    def _build(self, mapper: CaseMapper, row: Row, number: int, plan: _Plan, drugs: _Taken,
               ther: _Taken, indi: _Taken, reac: _Taken, outc: _Taken,
               rpsr: _Taken) -> CaseReport | None:
        key = row[D_KEY].strip()
        first = plan.first.get(key) if self.era == "aers" else full_date(row[D_FIRST])
        if first is None:  # checked in the DEMO pass; kept for the type checker
            self._problem(self._files["DEMO"].name, number, "no first-received date")
            return None
        try:
            return mapper.build(row, first, drugs=drugs, ther=ther, indi=indi, reac=reac,
                                outc=outc, rpsr=rpsr, reject=self._reject)
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
