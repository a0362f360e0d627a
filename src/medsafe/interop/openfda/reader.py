"""Reads openFDA drug enforcement JSON (the bulk export or an API page: `meta` and
`results`), zipped or not, from a path or bytes, into `RecallRecord`s.

Streaming: the document is decoded once, then the top level is walked by hand and each
element of `results` is decoded by the standard library's JSON decoder on its own, so one
raw record at a time exists as Python objects (the 19.7 MB export is never a 12,504-item
list of dicts). `iter_recalls` yields records as it goes; an `Invalid` may then come after
some records were yielded, so a caller that stores them must do so in one transaction
and roll back on error. `read_recalls` checks the whole file before returning any record:
a malformed record fails the whole read, which never half-loads.

Validation (each problem is an `Invalid` whose `where` names the record's index in
`results`, its recall number and the field): a record must be an object; its text
fields must be strings (null is accepted where the export uses it: more_code_info,
termination_date); status, classification, product_description, reason_for_recall,
recalling_firm and event_id (digits) are required; product_type, when present, is
"Drugs"; dates are YYYYMMDD and real dates; status, classification and
voluntary_mandated take the values below (case and surrounding blanks aside).

The mapping, and the quirks it absorbs (counts in the 2021 export, 12,504 records):
- status -> state: "Ongoing" (3,211) and the docs' spelling "On-Going" -> IN_PROGRESS;
  "Completed" (233) -> COMPLETED; "Terminated" (9,060) -> TERMINATED; "Pending"
  (documented as "determined to be recalls, but … in the process of being classified",
  FDA/open.fda.gov pages/drug/enforcement/_fields.yaml; absent from this export) ->
  INITIATED. The export is not perfectly consistent (3 Completed records carry a
  termination date, 1 Terminated record has none): status and dates are kept as given.
- classification: "Class I/II/III" -> I/II/III; "Not Yet Classified" (3) -> None.
- voluntary_mandated: "Voluntary: Firm initiated" (11,901) and "…Firm Initiated" (562)
  -> FIRM_INITIATED; "Voluntary: FDA Requested" -> FDA_REQUESTED; "FDA Mandated" (29) ->
  FDA_MANDATED; empty (12) -> UNKNOWN.
- kind: RECALL. FDA's enforcement report lists recalls (removals and corrections); a
  market withdrawal is not a recall and is not classified (§7.3).
- empty strings (and blanks) -> None; `recall_number` may be empty (3 records, the
  not-yet-classified ones) and is then None; dates "YYYYMMDD" -> date.
- reason_category: the words before the first colon of reason_for_recall, when that part
  is short (at most 100 characters) and not a sentence ("CGMP Deviations: …"); 7,274
  records have a colon; the rest have no category (None).
- product: description, quantity, `code_info` (joined with `more_code_info`, which
  continues it) and the lots read from it (`lots.parse_code_info`).
- NDCs: the structured `openfda.package_ndc` when the block is filled (2,192 records),
  normalised to 11 digits, followed by any NDC the free text (product_description, then
  code_info) names that the block lacks; otherwise the NDCs of the free text. The block
  is openFDA's harmonisation: its extractor takes NDC-shaped strings from the same free
  text and adds every package of the SPL they match (FDA/openfda openfda/res/extract.py
  and annotate.py), so it also lists sibling packages the recall may not concern, and
  its extractor cuts 11 undashed digits to 10, which cannot be normalised (156 values);
  the text NDCs put back what that cut loses.
- depth, public warning and effectiveness-check level: None; openFDA does not publish
  the recall strategy.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from medsafe.errors import Invalid
from medsafe.interop.openfda.lots import parse_code_info
from medsafe.interop.openfda.ndc import find_ndcs, normalise_ndc
from medsafe.recalls.model import (
    Firm,
    Initiative,
    RecallClass,
    RecallDates,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.workflow import RecallKind, RecallState

Source = str | os.PathLike[str] | bytes

STATES = {"ongoing": RecallState.IN_PROGRESS, "on-going": RecallState.IN_PROGRESS,
          "completed": RecallState.COMPLETED, "terminated": RecallState.TERMINATED,
          "pending": RecallState.INITIATED}
CLASSES: dict[str, RecallClass | None] = {
    "class i": RecallClass.I, "class ii": RecallClass.II, "class iii": RecallClass.III,
    "not yet classified": None}
INITIATIVES = {"voluntary: firm initiated": Initiative.FIRM_INITIATED,
               "voluntary: fda requested": Initiative.FDA_REQUESTED,
               "fda mandated": Initiative.FDA_MANDATED, "": Initiative.UNKNOWN}
REQUIRED = ("event_id", "status", "classification", "product_description",
            "reason_for_recall", "recalling_firm")
TEXT_FIELDS = ("recall_number", "event_id", "status", "classification", "product_type",
               "voluntary_mandated", "initial_firm_notification", "recalling_firm",
               "address_1", "address_2", "city", "state", "postal_code", "country",
               "product_description", "product_quantity", "code_info", "more_code_info",
               "reason_for_recall", "distribution_pattern", "recall_initiation_date",
               "center_classification_date", "report_date", "termination_date")
NULLABLE = frozenset({"more_code_info", "termination_date", "center_classification_date"})
_WHITESPACE = re.compile(r"[ \t\n\r]*")
T = TypeVar("T")
_CATEGORY_MAX = 100


@dataclass(frozen=True, slots=True)
class EnforcementMeta:
    """The file's `meta`: when openFDA last updated the data and how many records."""

    last_updated: date | None
    total: int | None
    disclaimer: str | None


@dataclass(frozen=True, slots=True)
class EnforcementFile:
    """A whole file: its meta and every record, read only if every record is valid."""

    meta: EnforcementMeta
    records: tuple[RecallRecord, ...]


def read_recalls(source: Source) -> EnforcementFile:
    """Every record of the file, or `Invalid` for the first malformed one (nothing is
    returned then)."""
    reader = _Document(_text(source))
    records = tuple(reader.records())
    return EnforcementFile(meta=reader.meta(), records=records)


def iter_recalls(source: Source) -> Iterator[RecallRecord]:
    """The records one at a time; see the module docstring about errors mid-way."""
    yield from _Document(_text(source)).records()


def recall_from_openfda(raw: Mapping[str, Any], index: int = 0) -> RecallRecord:
    """One openFDA result object as a RecallRecord (`index` names it in errors)."""
    return _Record(raw, index).record()


# -- the document --------------------------------------------------------------------------

def _text(source: Source) -> str:
    data = source if isinstance(source, bytes) else _read(Path(source))
    if data[:4] == b"PK\x03\x04":
        data = _unzip(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Invalid(f"the file is not UTF-8 (byte {error.start})", where="file") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise Invalid(f"cannot read {path}: {error.strerror}", where=str(path)) from None


def _unzip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist()
                       if not info.is_dir() and info.filename.lower().endswith(".json")]
            if len(members) != 1:
                raise Invalid(f"the zip holds {len(members)} JSON files; one is expected",
                              where="file")
            return archive.read(members[0])
    except zipfile.BadZipFile as error:
        raise Invalid(f"the zip is damaged: {error}", where="file") from None


class _Document:
    """Walks the top level of the JSON text; decodes each value with `raw_decode`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder()
        self.top: dict[str, Any] = {}
        self.seen_results = False

    def records(self) -> Iterator[RecallRecord]:
        for index, raw in enumerate(self._results()):
            yield _Record(raw, index).record()

    def meta(self) -> EnforcementMeta:
        meta = self.top.get("meta")
        if not isinstance(meta, dict):
            return EnforcementMeta(last_updated=None, total=None, disclaimer=None)
        updated = meta.get("last_updated")
        results = meta.get("results")
        total = results.get("total") if isinstance(results, dict) else None
        disclaimer = meta.get("disclaimer")
        return EnforcementMeta(
            last_updated=_iso_date(updated) if isinstance(updated, str) else None,
            total=total if isinstance(total, int) else None,
            disclaimer=disclaimer if isinstance(disclaimer, str) else None)

    def _results(self) -> Generator[Any, None, None]:
        position = self._expect(self._skip(0), "{")
        position = self._skip(position)
        if self._at(position) == "}":
            position += 1
        else:
            while True:
                key, position = self._decode(position)
                if not isinstance(key, str):
                    raise self._error(position, "an object key must be a string")
                position = self._expect(self._skip(position), ":")
                position = self._skip(position)
                if key == "results":
                    self.seen_results = True
                    position = yield from self._array(position)
                else:
                    self.top[key], position = self._decode(position)
                position = self._skip(position)
                if self._at(position) == ",":
                    position = self._skip(position + 1)
                    continue
                position = self._expect(position, "}")
                break
        if self._skip(position) != len(self.text):
            raise self._error(self._skip(position), "unexpected data after the document")
        if not self.seen_results:
            raise Invalid("the document has no 'results' array", where="file")

    def _array(self, position: int) -> Generator[Any, None, int]:
        position = self._skip(self._expect(position, "["))
        if self._at(position) == "]":
            return position + 1
        while True:
            value, position = self._decode(position)
            yield value
            position = self._skip(position)
            if self._at(position) == ",":
                position = self._skip(position + 1)
                continue
            return self._expect(position, "]")

    def _decode(self, position: int) -> tuple[Any, int]:
        try:
            return self.decoder.raw_decode(self.text, position)
        except json.JSONDecodeError as error:
            raise self._error(error.pos, error.msg) from None

    def _skip(self, position: int) -> int:
        match = _WHITESPACE.match(self.text, position)
        return match.end() if match else position

    def _at(self, position: int) -> str:
        return self.text[position:position + 1]

    def _expect(self, position: int, char: str) -> int:
        if self._at(position) != char:
            found = self._at(position) or "the end"
            raise self._error(position, f"expected '{char}', found '{found}'")
        return position + 1

    def _error(self, position: int, message: str) -> Invalid:
        line = self.text.count("\n", 0, position) + 1
        column = position - self.text.rfind("\n", 0, position)
        return Invalid(f"not valid JSON: {message}", where=f"line {line} column {column}")


# -- one record ----------------------------------------------------------------------------

class _Record:
    """Validation and mapping of one raw result."""

    def __init__(self, raw: Any, index: int) -> None:
        self.index = index
        if not isinstance(raw, dict):
            raise Invalid(f"a record must be a JSON object, not {type(raw).__name__}",
                          where=f"record {index}")
        self.raw: Mapping[str, Any] = raw
        # Each text field once, stripped, blank as None.
        self.texts = {name: value.strip() or None for name, value in raw.items()
                      if isinstance(value, str)}
        self.label = self.texts.get("recall_number") or "no recall number"

    def record(self) -> RecallRecord:
        for name in TEXT_FIELDS:
            value = self.raw.get(name)
            if value is None and (name in NULLABLE or name not in self.raw):
                continue
            if not isinstance(value, str):
                raise self.invalid(name, f"must be text, not {type(value).__name__}")
        for name in REQUIRED:
            if self.text(name) is None:
                raise self.invalid(name, "is missing or empty; it is required")
        event_id = self.text("event_id") or ""
        if not event_id.isascii() or not event_id.isdigit():
            raise self.invalid("event_id", f"must be digits, not '{event_id}'")
        product_type = self.text("product_type")
        if product_type is not None and product_type != "Drugs":
            raise self.invalid("product_type", f"is '{product_type}'; this reader takes "
                                               "drug enforcement reports ('Drugs')")
        reason = self.text("reason_for_recall") or ""
        try:
            return RecallRecord(
                recall_number=self.text("recall_number"),
                event_id=event_id,
                kind=RecallKind.RECALL,
                state=self.choice("status", STATES),
                classification=self.choice("classification", CLASSES),
                reason=reason,
                reason_category=reason_category(reason),
                products=(self.product(),),
                firm=Firm(name=self.text("recalling_firm") or "",
                          address_1=self.text("address_1"),
                          address_2=self.text("address_2"), city=self.text("city"),
                          state=self.text("state"), postal_code=self.text("postal_code"),
                          country=self.text("country")),
                initiative=self.choice("voluntary_mandated", INITIATIVES),
                distribution_pattern=self.text("distribution_pattern"),
                initial_notification=self.text("initial_firm_notification"),
                dates=RecallDates(initiated=self.date("recall_initiation_date"),
                                  classified=self.date("center_classification_date"),
                                  reported=self.date("report_date"),
                                  terminated=self.date("termination_date")))
        except Invalid as error:
            if error.where and error.where.startswith("record "):
                raise
            raise self.invalid(error.where or "record", error.reason) from None

    def product(self) -> RecallProduct:
        description = self.text("product_description") or ""
        code_info = "; ".join(part for part in (self.text("code_info"),
                                                self.text("more_code_info")) if part)
        named = find_ndcs(description)
        ndcs = dict.fromkeys(self.structured_ndcs())
        ndcs.update(dict.fromkeys(named + find_ndcs(code_info)))
        lots = parse_code_info(code_info or None, product_ndcs=named)
        return RecallProduct(description=description, ndcs=tuple(ndcs),
                             quantity=self.text("product_quantity"), lots=lots.lots,
                             all_lots=lots.all_lots, code_info=code_info or None)

    def structured_ndcs(self) -> list[str]:
        block = self.raw.get("openfda")
        if block is None:
            return []
        if not isinstance(block, dict):
            raise self.invalid("openfda", f"must be an object, not {type(block).__name__}")
        packages = block.get("package_ndc", [])
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise self.invalid("openfda.package_ndc", "must be a list of text")
        found: list[str] = []
        for package in packages:
            try:
                found.append(normalise_ndc(package))
            except Invalid:
                continue  # openFDA's cut undashed codes; the free text is read as well
        return found

    def text(self, name: str) -> str | None:
        return self.texts.get(name)

    def choice(self, name: str, values: Mapping[str, T]) -> T:
        given = " ".join((self.text(name) or "").lower().split())
        if given not in values:
            raise self.invalid(name, f"'{self.text(name)}' is none of "
                                     f"{', '.join(repr(v) for v in values if v)}")
        return values[given]

    def date(self, name: str) -> date | None:
        value = self.text(name)
        if value is None:
            return None
        if len(value) != 8 or not value.isascii() or not value.isdigit():
            raise self.invalid(name, f"'{value}' is not a YYYYMMDD date")
        try:
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            raise self.invalid(name, f"'{value}' is not a date") from None

    def invalid(self, field: str, message: str) -> Invalid:
        return Invalid(message, where=f"record {self.index} ({self.label}), field {field}")


def reason_category(reason: str) -> str | None:
    """FDA's category before the colon of a reason ("CGMP Deviations: …"), if any."""
    head, colon, _ = reason.partition(":")
    head = head.strip()
    if not colon or not head or len(head) > _CATEGORY_MAX or ". " in head:
        return None
    return head


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
