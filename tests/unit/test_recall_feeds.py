"""Public recall feeds: Atom 1.0 with the elements RFC 4287 requires, JSON Feed 1.1,
newest first, only published recalls, untrusted text escaped."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from medsafe.errors import Invalid
from medsafe.interop.recall_feeds import (
    ATOM,
    JSON_FEED_VERSION,
    PUBLIC_STATES,
    atom_feed,
    entry,
    json_feed,
)
from medsafe.recalls.model import (
    Firm,
    RecallClass,
    RecallDates,
    RecallLot,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.workflow import RecallKind, RecallState

BASE = "https://medsafe.example"
FEED = BASE + "/recalls/feed.atom"
HOME = BASE + "/recalls"
SAMPLE = (Path(__file__).resolve().parents[3] / "shared" / "data" / "fda-enforcement"
          / "drug-enforcement-sample.json")
A = f"{{{ATOM}}}"


def recall(number: str, reported: date, *, state: RecallState = RecallState.IN_PROGRESS,
           reason: str = "Failed dissolution specifications.",
           firm: str = "Mo Pharma Inc.") -> RecallRecord:
    return RecallRecord(
        recall_number=number, event_id="90001", kind=RecallKind.RECALL, state=state,
        classification=RecallClass.II, reason=reason, reason_category=None,
        products=(RecallProduct("Baclofen Tablets USP, 10 mg, 100-count bottles",
                                ndcs=("12345678901",), lots=(RecallLot("BX2201"),)),),
        firm=Firm(firm), dates=RecallDates(initiated=date(2026, 1, 5), reported=reported))


RECALLS = [recall("D-0001-2026", date(2026, 1, 20)),
           recall("D-0003-2026", date(2026, 2, 24), state=RecallState.TERMINATED),
           recall("D-0002-2026", date(2026, 2, 3), state=RecallState.PUBLISHED)]


def atom(records: list[RecallRecord]) -> etree._Element:
    document = atom_feed([entry(r, BASE) for r in records], feed_url=FEED, home_url=HOME)
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return etree.fromstring(document, etree.XMLParser(resolve_entities=False))


def one(parent: etree._Element, name: str) -> etree._Element:
    found = parent.findall(A + name)
    assert len(found) == 1, f"{parent.tag} has {len(found)} <{name}>"
    return found[0]


def is_rfc3339(text: str) -> bool:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None


def test_the_atom_feed_has_every_element_rfc_4287_requires() -> None:
    feed = atom(RECALLS)
    assert feed.tag == A + "feed"
    assert one(feed, "id").text == FEED
    assert one(feed, "title").text
    assert is_rfc3339(str(one(feed, "updated").text))
    assert one(one(feed, "author"), "name").text == "medsafe"
    links = {link.get("rel"): link.get("href") for link in feed.findall(A + "link")}
    assert links == {"self": FEED, "alternate": HOME}
    entries = feed.findall(A + "entry")
    assert len(entries) == 3
    for item in entries:
        assert one(item, "id").text == one(item, "link").get("href")
        assert str(one(item, "id").text).startswith(BASE + "/recalls/D-000")
        assert "Class II recall: Baclofen Tablets USP" in str(one(item, "title").text)
        assert is_rfc3339(str(one(item, "updated").text))
        assert one(item, "link").get("rel") == "alternate"
        assert one(item, "summary").get("type") == "text"
        assert "Failed dissolution specifications." in str(one(item, "summary").text)
        assert one(one(item, "author"), "name").text == "Mo Pharma Inc."
        assert {c.get("term") for c in item.findall(A + "category")} >= {"class-ii", "recall"}
    # The feed's updated is its newest entry's.
    assert one(feed, "updated").text == one(entries[0], "updated").text


def test_entries_come_newest_first_in_both_feeds() -> None:
    feed = atom(RECALLS)
    ids = [one(item, "id").text for item in feed.findall(A + "entry")]
    assert ids == [f"{BASE}/recalls/D-0003-2026", f"{BASE}/recalls/D-0002-2026",
                   f"{BASE}/recalls/D-0001-2026"]
    document = json.loads(json_feed([entry(r, BASE) for r in RECALLS], feed_url=FEED,
                                    home_url=HOME))
    assert [item["id"] for item in document["items"]] == ids
    assert document["items"][0]["date_modified"] == "2026-02-24T00:00:00Z"
    assert document["items"][0]["date_published"] == "2026-01-05T00:00:00Z"


def test_the_json_feed_follows_version_1_1_and_carries_the_recall() -> None:
    document = json.loads(json_feed([entry(r, BASE) for r in RECALLS], feed_url=FEED,
                                    home_url=HOME))
    assert document["version"] == JSON_FEED_VERSION == "https://jsonfeed.org/version/1.1"
    assert document["title"]
    assert document["feed_url"] == FEED
    assert document["home_page_url"] == HOME
    for item in document["items"]:
        assert item["id"] == item["url"]
        assert item["content_text"]
        assert item["authors"] == [{"name": "Mo Pharma Inc."}]
        recall_fields = item["_recall"]
        assert recall_fields["classification"] == "II"
        assert recall_fields["products"][0]["ndcs"] == ["12345678901"]
        assert recall_fields["products"][0]["lots"][0]["number"] == "BX2201"


def test_untrusted_text_is_escaped_in_both_feeds() -> None:
    hostile = ("Label mix-up <script>alert('x')</script> & ]]> \"quoted\"\x07 "
               "<!ENTITY boom SYSTEM 'file:///etc/passwd'>")
    record = recall("D-0009-2026", date(2026, 2, 1), reason=hostile, firm="<b>Firm</b> & Co")
    document = atom_feed([entry(record, BASE)], feed_url=FEED, home_url=HOME)
    assert b"<script>" not in document
    assert b"<b>" not in document
    parsed = etree.fromstring(document, etree.XMLParser(resolve_entities=False))
    item = one(parsed, "entry")
    summary = str(one(item, "summary").text)
    assert hostile.replace("\x07", "") in summary  # the text survives, as text
    assert one(one(item, "author"), "name").text == "<b>Firm</b> & Co"
    items = json.loads(json_feed([entry(record, BASE)], feed_url=FEED,
                                 home_url=HOME))["items"]
    assert hostile in items[0]["content_text"]
    assert items[0]["_recall"]["reason"] == hostile


def test_a_recall_that_is_not_published_never_goes_into_a_feed() -> None:
    for state in set(RecallState) - PUBLIC_STATES:
        with pytest.raises(Invalid, match="not published"):
            entry(recall("D-0004-2026", date(2026, 2, 1), state=state), BASE)


def test_an_entry_needs_a_number_and_a_date() -> None:
    numberless = dataclasses.replace(recall("x", date(2026, 2, 1)), recall_number=None,
                                     event_id=None)
    with pytest.raises(Invalid, match="recall number"):
        entry(numberless, BASE)
    undated = dataclasses.replace(recall("D-0005-2026", date(2026, 2, 1)),
                                  dates=RecallDates())
    with pytest.raises(Invalid, match="no date"):
        entry(undated, BASE)
    moment = datetime(2026, 2, 2, 10, 30, tzinfo=UTC)
    assert entry(undated, BASE, updated=moment).updated == moment
    with pytest.raises(Invalid, match="time zone"):
        entry(undated, BASE, updated=datetime(2026, 2, 2, 10, 30))
    with pytest.raises(Invalid, match="empty feed"):
        atom_feed([], feed_url=FEED, home_url=HOME)
    empty = etree.fromstring(atom_feed([], feed_url=FEED, home_url=HOME, updated=moment))
    assert one(empty, "updated").text == "2026-02-02T10:30:00Z"


def test_the_real_openfda_sample_makes_valid_feeds() -> None:
    if not SAMPLE.exists():
        pytest.skip("needs ../shared/data/fda-enforcement/drug-enforcement-sample.json")
    from medsafe.interop.openfda.reader import read_recalls

    records = [r for r in read_recalls(SAMPLE.read_bytes()).records
               if r.state in PUBLIC_STATES]
    assert records
    entries = [entry(r, BASE) for r in records]
    feed = etree.fromstring(atom_feed(entries, feed_url=FEED, home_url=HOME))
    assert len(feed.findall(A + "entry")) == len(records)
    assert len({one(item, "id").text for item in feed.findall(A + "entry")}) == len(records)
    document = json.loads(json_feed(entries, feed_url=FEED, home_url=HOME))
    assert len(document["items"]) == len(records)
    stamps = [item["date_modified"] for item in document["items"]]
    assert stamps == sorted(stamps, reverse=True)
