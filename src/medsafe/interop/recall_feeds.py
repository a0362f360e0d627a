"""Public recall feeds: Atom 1.0 (RFC 4287) and JSON Feed 1.1 (jsonfeed.org/version/1.1).

Only published recalls go into a feed (FDA publishes a recall in its Enforcement Report,
§7.50, and may hold back some drug recalls until patients can consult their physician):
a record in an earlier state is refused, so a caller's slip cannot leak an unpublished
recall. Entries come newest first. Every text in a recall is someone else's words (the
firm's reason, FDA's product description), so it is only ever written as text: lxml
escapes it in Atom, `json` in JSON Feed, and characters XML cannot carry are dropped.

An entry's id is its public page's URL (`{base_url}/recalls/{number}`), which stays the
same for the life of the recall. `updated` is the latest date the record carries
(initiation, classification, report, termination) unless the caller knows a later change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast
from urllib.parse import quote

from lxml import etree

from medsafe.errors import Invalid
from medsafe.recalls.model import RecallRecord
from medsafe.recalls.workflow import RecallState

ATOM = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
RECALL_PATH = "/recalls/"
PUBLIC_STATES = frozenset({RecallState.PUBLISHED, RecallState.NOTIFYING,
                           RecallState.IN_PROGRESS, RecallState.COMPLETED,
                           RecallState.TERMINATION_REQUESTED, RecallState.TERMINATED})
# XML 1.0 allows tab, newline, carriage return and the characters from U+0020 on, except
# the surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SUMMARY_LONGEST = 1000


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One published recall as a feed shows it."""

    record: RecallRecord
    url: str
    updated: datetime
    published: datetime | None


def entry(record: RecallRecord, base_url: str, updated: datetime | None = None) -> FeedEntry:
    """The feed entry of a published recall. Invalid for a recall that is not public yet,
    has no number to link to, or carries no date at all (and none is given)."""
    reference = record.recall_number or record.event_id
    if record.state not in PUBLIC_STATES:
        raise Invalid(f"recall {reference or '(no number)'} is {record.state.value}, not "
                      "published: it cannot go into a public feed", where="recall.state")
    if not reference:
        raise Invalid("a recall in a feed needs a recall number or an event id",
                      where="recall.recall_number")
    dates = [d for d in (record.dates.initiated, record.dates.classified,
                         record.dates.reported, record.dates.terminated) if d is not None]
    if updated is None:
        if not dates:
            raise Invalid(f"recall {reference} carries no date; give the time it was last "
                          "changed", where="recall.dates")
        updated = _midnight(max(dates))
    elif updated.tzinfo is None:
        raise Invalid("must carry a time zone", where="updated")
    first = record.dates.initiated or record.dates.reported
    url = base_url.rstrip("/") + RECALL_PATH + quote(reference, safe="")
    return FeedEntry(record, url, updated, _midnight(first) if first else None)


def newest_first(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    return sorted(entries, key=lambda e: (e.updated, e.url), reverse=True)


# -- Atom ------------------------------------------------------------------------------------

def atom_feed(entries: Iterable[FeedEntry], *, feed_url: str, home_url: str,
              title: str = "medsafe: drug recalls", publisher: str = "medsafe",
              updated: datetime | None = None) -> bytes:
    """An Atom 1.0 document (UTF-8 bytes): feed id (its own URL), title, updated (the
    newest entry's unless given), self and alternate links, author; each entry with id,
    title, updated, published where known, link, summary, author (the recalling firm)
    and categories (class, state)."""
    ordered = newest_first(entries)
    stamp = updated or (ordered[0].updated if ordered else None)
    if stamp is None:
        raise Invalid("an empty feed needs the time it was last updated", where="updated")
    # The None key makes Atom the default namespace; lxml-stubs types nsmap keys as str.
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap=cast("dict[str, str]", {None: ATOM}))
    _text(feed, "id", feed_url)
    _text(feed, "title", title)
    _text(feed, "updated", _rfc3339(stamp))
    _link(feed, feed_url, "self", "application/atom+xml")
    _link(feed, home_url, "alternate", "text/html")
    _text(etree.SubElement(feed, f"{{{ATOM}}}author"), "name", publisher)
    _text(feed, "generator", "medsafe")
    for item in ordered:
        record = item.record
        node = etree.SubElement(feed, f"{{{ATOM}}}entry")
        _text(node, "id", item.url)
        _text(node, "title", entry_title(record))
        _text(node, "updated", _rfc3339(item.updated))
        if item.published is not None:
            _text(node, "published", _rfc3339(item.published))
        _link(node, item.url, "alternate", "text/html")
        _text(node, "summary", summary(record)).set("type", "text")
        _text(etree.SubElement(node, f"{{{ATOM}}}author"), "name", record.firm.name)
        for term in _tags(record):
            etree.SubElement(node, f"{{{ATOM}}}category", term=_clean(term))
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="utf-8",
                                pretty_print=True))


def _text(parent: etree._Element, name: str, value: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{ATOM}}}{name}")
    child.text = _clean(value)
    return child


def _link(parent: etree._Element, href: str, rel: str, media_type: str) -> None:
    etree.SubElement(parent, f"{{{ATOM}}}link", href=_clean(href), rel=rel, type=media_type)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


# -- JSON Feed -------------------------------------------------------------------------------

def json_feed(entries: Iterable[FeedEntry], *, feed_url: str, home_url: str,
              title: str = "medsafe: drug recalls", publisher: str = "medsafe") -> str:
    """A JSON Feed 1.1 document. Each item carries, besides the standard fields, the
    recall itself under `_recall` (JSON Feed's extension convention: keys that start
    with an underscore), so a machine can read class, lots and NDCs without parsing
    the summary."""
    items = [{
        "id": item.url,
        "url": item.url,
        "title": entry_title(item.record),
        "summary": summary(item.record),
        "content_text": summary(item.record, longest=None),
        "date_modified": _rfc3339(item.updated),
        **({"date_published": _rfc3339(item.published)} if item.published else {}),
        "authors": [{"name": item.record.firm.name}],
        "tags": list(_tags(item.record)),
        "_recall": recall_fields(item.record),
    } for item in newest_first(entries)]
    document = {"version": JSON_FEED_VERSION, "title": title, "home_page_url": home_url,
                "feed_url": feed_url, "language": "en", "authors": [{"name": publisher}],
                "items": items}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def recall_fields(record: RecallRecord) -> dict[str, Any]:
    """The recall's public facts as plain JSON values."""
    return {
        "recall_number": record.recall_number, "event_id": record.event_id,
        "kind": record.kind.value, "state": record.state.value,
        "classification": record.classification.value if record.classification else None,
        "reason": record.reason, "recalling_firm": record.firm.name,
        "depth": record.depth.value if record.depth else None,
        "distribution_pattern": record.distribution_pattern,
        "dates": {name: _iso(value) for name, value in (
            ("initiated", record.dates.initiated), ("classified", record.dates.classified),
            ("reported", record.dates.reported), ("terminated", record.dates.terminated))},
        "products": [{
            "description": product.description, "ndcs": list(product.ndcs),
            "quantity": product.quantity, "all_lots": product.all_lots,
            "lots": [{"number": lot.number, "expiry": _iso(lot.expiry), "ndc": lot.ndc}
                     for lot in product.lots],
        } for product in record.products],
    }


# -- shared ----------------------------------------------------------------------------------

def entry_title(record: RecallRecord) -> str:
    """"Class II recall: Baclofen Tablets USP, 10 mg … (D-0001-2026)"."""
    kind = record.kind.value.replace("_", " ")
    head = f"Class {record.classification.value} {kind}" if record.classification else (
        kind.capitalize())
    description = " ".join(record.products[0].description.split())
    if len(description) > 90:
        description = description[:90].rsplit(" ", 1)[0] + "…"
    more = f" and {len(record.products) - 1} more" if len(record.products) > 1 else ""
    return f"{head}: {description}{more} ({record.recall_number or record.event_id})"


def summary(record: RecallRecord, longest: int | None = SUMMARY_LONGEST) -> str:
    """Plain text: who recalls what, why, which lots, and where it stands."""
    lots = [lot.number for product in record.products for lot in product.lots]
    all_lots = any(product.all_lots for product in record.products)
    parts = [f"Recalling firm: {record.firm.name}.", f"Reason: {' '.join(record.reason.split())}"]
    if all_lots:
        parts.append("Lots: all lots.")
    elif lots:
        parts.append(f"Lots: {', '.join(lots)}.")
    parts.append(f"Status: {record.state.value.replace('_', ' ')}.")
    text = " ".join(parts)
    if longest is not None and len(text) > longest:
        text = text[:longest - 1] + "…"
    return text


def _tags(record: RecallRecord) -> Sequence[str]:
    tags = [record.kind.value.replace("_", "-"), record.state.value.replace("_", "-")]
    if record.classification is not None:
        tags.insert(0, f"class-{record.classification.value.lower()}")
    return tags


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
