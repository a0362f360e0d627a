"""Reading openFDA drug enforcement JSON: the real 97-record sample
(../shared/data/fda-enforcement), small records for each quirk, and each kind of
malformed input, which fails the whole read naming record, recall number and field."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medsafe.errors import Invalid
from medsafe.interop.openfda.reader import iter_recalls, read_recalls, reason_category
from medsafe.recalls.model import Initiative, RecallClass, RecallRecord
from medsafe.recalls.workflow import RecallKind, RecallState

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "fda-enforcement"
SAMPLE = SHARED / "drug-enforcement-sample.json"

# A real record (D-1110-2015), its openfda block shortened.
BASE: dict[str, Any] = {
    "address_1": "119 Creamery Road", "address_2": "",
    "center_classification_date": "20150528", "city": "North Blenheim",
    "classification": "Class II", "code_info": "Lot BP18181301, Exp. Date  02/29/2016",
    "country": "United States", "distribution_pattern": "Indiana", "event_id": "71331",
    "initial_firm_notification": "Letter", "more_code_info": None,
    "openfda": {"package_ndc": ["64679-904-02", "10544-522-20"],
                "product_ndc": ["64679-904", "10544-522"]},
    "postal_code": "12131",
    "product_description": "Clarithromycin Tablets, USP, 500 mg, 20 Tablets, Rx Only, "
                           "Repackaged By: Blenheim Pharmacal Inc. North Blenheim, NY 12131, "
                           "NDC 10544-522-20, MFG: 64679-904-02",
    "product_quantity": "50 bottles", "product_type": "Drugs",
    "reason_for_recall": "cGMP Deviations; products being recalled in response to a "
                         "recall notice from the manufacturer",
    "recall_initiation_date": "20150522", "recall_number": "D-1110-2015",
    "recalling_firm": "Blenheim Pharmacal, Inc.", "report_date": "20150603", "state": "NY",
    "status": "Terminated", "termination_date": "20160115",
    "voluntary_mandated": "Voluntary: Firm initiated"}


def document(*results: Any, **top: Any) -> bytes:
    return json.dumps({"meta": {"last_updated": "2021-04-28",
                                "results": {"skip": 0, "limit": len(results),
                                            "total": len(results)}},
                       "results": list(results), **top}).encode()


def record(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is ...:
            raw.pop(key)
        else:
            raw[key] = value
    return raw


def one(**changes: Any) -> RecallRecord:
    (only,) = read_recalls(document(record(**changes))).records
    return only


def zipped(data: bytes, *names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names or ("drug-enforcement-0001-of-0001.json",):
            archive.writestr(name, data)
    return buffer.getvalue()


# -- the real sample ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample() -> bytes:
    if not SAMPLE.exists():
        pytest.skip("needs ../shared/data/fda-enforcement/drug-enforcement-sample.json")
    return SAMPLE.read_bytes()


def test_the_real_sample_reads_whole_with_its_meta(sample: bytes) -> None:
    read = read_recalls(sample)
    raw = json.loads(sample)["results"]
    assert len(read.records) == len(raw) == 97
    assert read.meta.last_updated == date(2021, 4, 28)
    assert read.meta.total == 97
    assert [r.recall_number for r in read.records] == [x["recall_number"] or None
                                                      for x in raw]


def test_every_status_class_and_initiative_of_the_sample_maps(sample: bytes) -> None:
    records = read_recalls(sample).records
    raw = json.loads(sample)["results"]
    for made, given in zip(records, raw, strict=True):
        assert made.state is {"Terminated": RecallState.TERMINATED,
                              "Ongoing": RecallState.IN_PROGRESS,
                              "Completed": RecallState.COMPLETED}[given["status"]]
        assert made.classification is {"Class I": RecallClass.I, "Class II": RecallClass.II,
                                       "Class III": RecallClass.III,
                                       "Not Yet Classified": None}[given["classification"]]
        assert made.initiative is {"Voluntary: Firm initiated": Initiative.FIRM_INITIATED,
                                   "Voluntary: Firm Initiated": Initiative.FIRM_INITIATED,
                                   "FDA Mandated": Initiative.FDA_MANDATED,
                                   "": Initiative.UNKNOWN}[given["voluntary_mandated"]]
        assert made.kind is RecallKind.RECALL
        assert made.dates.reported == date(int(given["report_date"][:4]),
                                           int(given["report_date"][4:6]),
                                           int(given["report_date"][6:]))
        assert made.products[0].description == given["product_description"].strip()


def test_the_sample_is_the_same_zipped_unzipped_from_a_path_or_bytes(
        sample: bytes, tmp_path: Path) -> None:
    path = tmp_path / "sample.json.zip"
    path.write_bytes(zipped(sample))
    assert read_recalls(path).records == read_recalls(sample).records == \
        read_recalls(zipped(sample)).records == tuple(iter_recalls(str(SAMPLE)))


def test_structured_ndcs_of_the_sample_are_eleven_digits_and_cover_the_text(
        sample: bytes) -> None:
    records = read_recalls(sample).records
    with_block = [r for r, x in zip(records, json.loads(sample)["results"], strict=True)
                  if x["openfda"].get("package_ndc")]
    assert with_block
    for made in with_block:
        assert made.ndcs
        assert all(len(n) == 11 and n.isdigit() for n in made.ndcs)


# -- quirks --------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "state"), [
    ("Ongoing", RecallState.IN_PROGRESS), ("On-Going", RecallState.IN_PROGRESS),
    ("ongoing ", RecallState.IN_PROGRESS), ("Completed", RecallState.COMPLETED),
    ("Terminated", RecallState.TERMINATED), ("Pending", RecallState.INITIATED)])
def test_status_spellings_map_to_states(status: str, state: RecallState) -> None:
    assert one(status=status).state is state


@pytest.mark.parametrize(("given", "initiative"), [
    ("Voluntary: Firm initiated", Initiative.FIRM_INITIATED),
    ("Voluntary: Firm Initiated", Initiative.FIRM_INITIATED),
    ("Voluntary: FDA Requested", Initiative.FDA_REQUESTED),
    ("FDA Mandated", Initiative.FDA_MANDATED), ("", Initiative.UNKNOWN)])
def test_voluntary_or_mandated_is_read_whatever_its_case(
        given: str, initiative: Initiative) -> None:
    assert one(voluntary_mandated=given).initiative is initiative


def test_a_recall_not_yet_classified_has_no_class_and_may_have_no_number() -> None:
    made = one(classification="Not Yet Classified", recall_number="",
               center_classification_date=...)
    assert made.classification is None
    assert made.recall_number is None
    assert made.dates.classified is None


def test_dates_are_read_and_empty_strings_are_none() -> None:
    made = one(address_2="", state="  ", product_quantity="", termination_date=None)
    assert made.dates.initiated == date(2015, 5, 22)
    assert made.dates.classified == date(2015, 5, 28)
    assert made.dates.reported == date(2015, 6, 3)
    assert made.dates.terminated is None
    assert made.firm.address_2 is None
    assert made.firm.state is None
    assert made.products[0].quantity is None


def test_the_record_maps_onto_the_recall_model() -> None:
    made = one()
    product = made.products[0]
    assert (made.recall_number, made.event_id) == ("D-1110-2015", "71331")
    assert made.firm.name == "Blenheim Pharmacal, Inc."
    assert made.firm.postal_code == "12131"
    assert made.initial_notification == "Letter"
    assert made.distribution_pattern == "Indiana"
    assert (made.depth, made.public_warning, made.effectiveness_check) == (None, None, None)
    assert product.ndcs == ("64679090402", "10544052220")
    assert [(lot.number, lot.expiry) for lot in product.lots] == [
        ("BP18181301", date(2016, 2, 29))]
    assert product.code_info == "Lot BP18181301, Exp. Date  02/29/2016"


def test_without_a_structured_block_ndcs_come_from_the_free_text() -> None:
    made = one(openfda={})
    assert made.products[0].ndcs == ("10544052220", "64679090402")
    assert one(openfda=...).products[0].ndcs == ("10544052220", "64679090402")


def test_text_ndcs_fill_in_what_openfdas_extractor_cut() -> None:
    # openFDA's extractor cuts 11 undashed digits to 10 ("0090431916"): not an NDC.
    made = one(openfda={"package_ndc": ["0090431916"]},
               product_description="Tablet, Distributed by: Major, NDC 00904319160.")
    assert made.products[0].ndcs == ("00904319160",)


def test_more_code_info_is_joined_to_code_info() -> None:
    made = one(code_info="Lot A123, Exp 01/2020;", more_code_info="Lot B456, Exp 02/2020")
    assert [lot.number for lot in made.products[0].lots] == ["A123", "B456"]


@pytest.mark.parametrize(("reason", "category"), [
    ("CGMP Deviations: tablets made without validation", "CGMP Deviations"),
    ("Lack of Assurance of Sterility", None),
    ("Labeling: Label Mixup; bottles labeled as 10 mg contain 20 mg", "Labeling"),
    ("The firm received seven reports. Investigation found: cracked vials", None)])
def test_the_fda_category_is_the_text_before_the_colon(
        reason: str, category: str | None) -> None:
    assert reason_category(reason) == category
    assert one(reason_for_recall=reason).reason_category == category


# -- malformed -----------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"status": "Closed"}, "status", "'Closed' is none of"),
    ({"classification": "Class IV"}, "classification", "none of"),
    ({"voluntary_mandated": "Maybe"}, "voluntary_mandated", "none of"),
    ({"report_date": "2015-06-03"}, "report_date", "not a YYYYMMDD date"),
    ({"recall_initiation_date": "20150231"}, "recall_initiation_date", "not a date"),
    ({"product_description": "  "}, "product_description", "required"),
    ({"reason_for_recall": ...}, "reason_for_recall", "required"),
    ({"event_id": "71-331"}, "event_id", "digits"),
    ({"product_type": "Devices"}, "product_type", "'Devices'"),
    ({"city": 12131}, "city", "must be text"),
    ({"termination_date": 20160115}, "termination_date", "must be text"),
    ({"openfda": ["64679-904-02"]}, "openfda", "must be an object"),
    ({"openfda": {"package_ndc": "64679-904-02"}}, "openfda.package_ndc", "list of text"),
])
def test_a_malformed_record_names_its_index_recall_number_and_field(
        changes: dict[str, Any], field: str, message: str) -> None:
    bad = document(record(recall_number="D-0001-2020"), record(**changes))
    with pytest.raises(Invalid, match=message) as caught:
        read_recalls(bad)
    assert caught.value.where == f"record 1 (D-1110-2015), field {field}"


def test_a_record_that_is_not_an_object_is_named_by_its_index() -> None:
    with pytest.raises(Invalid, match="must be a JSON object") as caught:
        read_recalls(document(record(), ["D-1"]))
    assert caught.value.where == "record 1"


def test_a_bad_record_at_the_end_fails_the_whole_read() -> None:
    good = [record(recall_number=f"D-{n:04d}-2020") for n in range(50)]
    data = document(*good, record(status="Closed"))
    with pytest.raises(Invalid, match="record 50"):
        read_recalls(data)
    # Streaming yields the good ones first: its caller must load in one transaction.
    streamed: list[RecallRecord] = []
    with pytest.raises(Invalid):
        streamed.extend(iter_recalls(data))
    assert len(streamed) == 50


@pytest.mark.parametrize(("data", "message"), [
    (document(record())[:-30], "not valid JSON"),
    (b'{"meta": {}}', "no 'results' array"),
    (b'{"results": [], "meta": {}} trailing', "unexpected data"),
    (b'[{"recall_number": "D-1"}]', "expected '{'"),
    (b'{"results": [' + json.dumps(record()).encode() + b',]}', "not valid JSON"),
    ("{\"results\": []}".encode("utf-16"), "not UTF-8"),
    (zipped(b'{"results": []}', "a.json", "b.json"), "2 JSON files"),
    (b"PK\x03\x04 not really a zip", "damaged"),
])
def test_a_broken_file_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        read_recalls(data)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="cannot read"):
        read_recalls(tmp_path / "absent.json")


def test_an_empty_results_array_reads_as_no_records() -> None:
    read = read_recalls(b'{"meta": {"last_updated": "2021-04-28"}, "results": []}')
    assert read.records == ()
    assert read.meta.last_updated == date(2021, 4, 28)


def test_results_may_come_before_meta() -> None:
    data = json.dumps({"results": [record()], "meta": {"last_updated": "2020-01-02"}})
    read = read_recalls(data.encode())
    assert len(read.records) == 1
    assert read.meta.last_updated == date(2020, 1, 2)
