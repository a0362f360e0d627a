"""Reading E2B(R3) batches: FDA's three example ICSRs, and what the reader refuses."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from lxml import etree

from medsafe.cases.model import (
    CaseReport,
    Causality,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
)
from medsafe.errors import Invalid
from medsafe.interop.e2b import codes as c
from medsafe.interop.e2b.hl7 import date_to_ts, parse_number, partial_date_to_ts
from medsafe.interop.e2b.reader import E2bMessage, read_e2b
from medsafe.interop.e2b.validation import ELEMENTS_FILE
from medsafe.interop.e2b.writer import write_e2b
from tests.support.shipped import E2B_EXAMPLES

SHARED = E2B_EXAMPLES
SCENARIOS = ("FAERS2022Scenario1.xml", "FAERS2022Scenario2.xml", "FAERS2022Scenario3.xml")


def fda_file(name: str) -> bytes:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs data/reports/e2b-examples/{name}")
    return path.read_bytes()


def fda_message(name: str) -> E2bMessage:
    messages = read_e2b(fda_file(name), source_name=name)
    assert len(messages) == 1
    return messages[0]


# --- FDA's XPaths as an independent oracle -------------------------------------------

_STEP = re.compile(r"(?<![@\w.:'\-])([A-Za-z_]\w*)(?=\s*(?:\[|/|\]|$))")


def fda_xpath(element: str) -> str:
    """The element's XPath from FDA's table, made namespace-aware; repeat markers
    ([r], [i], [k]) removed so every repetition is selected."""
    with ELEMENTS_FILE.open(encoding="utf-8-sig", newline="") as handle:
        rows = {row[2].strip(): row[32] for row in list(csv.reader(handle))[3:]
                if len(row) > 32 and row[2].strip()}
    xpath = re.sub(r"\[(r|i|k)\]", "", rows[element])
    return _STEP.sub(r"h:\1", xpath)


def raw_values(document: bytes, element: str) -> list[str]:
    found = etree.fromstring(document).xpath(
        fda_xpath(element), namespaces={"h": "urn:hl7-org:v3",
                                        "xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    assert isinstance(found, list)
    return [str(v).strip() for v in found]


def _codes(values: list[str | None]) -> list[str]:
    return [v for v in values if v is not None]


ORACLE: dict[str, Callable[[E2bMessage], list[str]]] = {
    "N.1.2": lambda m: [m.batch_id],
    "N.1.3": lambda m: _codes([m.batch_sender]),
    "N.1.4": lambda m: _codes([m.batch_receiver]),
    "N.2.r.1": lambda m: [m.message_id],
    "N.2.r.2": lambda m: _codes([m.sender_id]),
    "N.2.r.3": lambda m: _codes([m.receiver_id]),
    "C.1.1": lambda m: [m.report.sender_report_id],
    "C.1.3": lambda m: [c.REPORT_TYPE.code(m.report.report_type)],
    "C.1.8.1": lambda m: [m.report.worldwide_id],
    "C.2.r.1.2": lambda m: _codes([s.given_name for s in m.report.primary_sources]),
    "C.2.r.1.4": lambda m: _codes([s.family_name for s in m.report.primary_sources]),
    "C.2.r.3": lambda m: _codes([s.country for s in m.report.primary_sources]),
    "C.2.r.4": lambda m: [c.QUALIFICATION.code(s.qualification)
                          for s in m.report.primary_sources if s.qualification],
    "C.3.2": lambda m: _codes([m.report.sender_organisation]),
    "D.1": lambda m: _codes([m.report.patient.initials]),
    "D.2.3": lambda m: [c.AGE_GROUP.code(g) for g in [m.report.patient.age_group] if g],
    "D.5": lambda m: [c.SEX.code(s) for s in [m.report.patient.sex] if s],
    "D.7.2": lambda m: _codes([m.report.patient.medical_history_text]),
    "E.i.1.2": lambda m: [r.verbatim for r in m.report.reactions],
    "E.i.2.1a": lambda m: _codes([r.coded.version for r in m.report.reactions if r.coded]),
    "E.i.2.1b": lambda m: _codes([r.coded.code for r in m.report.reactions if r.coded]),
    "E.i.3.2d": lambda m: ["true" for r in m.report.reactions if r.seriousness.disability],
    "E.i.3.2f": lambda m: ["true" for r in m.report.reactions
                           if r.seriousness.other_medically_important],
    "E.i.4": lambda m: [partial_date_to_ts(r.start) for r in m.report.reactions if r.start],
    "E.i.7": lambda m: [c.OUTCOME.code(r.outcome) for r in m.report.reactions],
    "E.i.9": lambda m: _codes([r.country for r in m.report.reactions]),
    "G.k.2.2": lambda m: [d.product_name for d in m.report.drugs],
    "G.k.2.3.r.1": lambda m: [s for d in m.report.drugs for s in d.substances],
    "G.k.3.3": lambda m: _codes([d.manufacturer for d in m.report.drugs]),
    "G.k.4.r.7": lambda m: [lot for d in m.report.drugs for lot in d.lot_numbers],
    "G.k.7.r.1": lambda m: _codes([d.indication for d in m.report.drugs]),
    "G.k.8": lambda m: [c.ACTION_TAKEN.code(d.action_taken) for d in m.report.drugs
                        if d.action_taken],
    "H.1": lambda m: _codes([m.report.narrative]),
    "H.4": lambda m: _codes([m.report.sender_comment]),
}


@pytest.mark.parametrize("element", sorted(ORACLE))
@pytest.mark.parametrize("name", SCENARIOS)
def test_reader_agrees_with_fda_xpaths(name: str, element: str) -> None:
    document = fda_file(name)
    assert ORACLE[element](fda_message(name)) == raw_values(document, element)


@pytest.mark.parametrize("element", sorted(ORACLE))
def test_oracle_elements_are_present_in_fda_examples(element: str) -> None:
    # So that no oracle comparison above is two empty lists everywhere.
    assert any(raw_values(fda_file(name), element) for name in SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_dates_agree_with_fda_xpaths(name: str) -> None:
    document, message = fda_file(name), fda_message(name)
    report, patient = message.report, message.report.patient
    assert [v[:8] for v in raw_values(document, "C.1.4")] == [
        date_to_ts(report.first_received)]
    assert [v[:8] for v in raw_values(document, "C.1.5")] == [
        date_to_ts(report.latest_received)]
    assert raw_values(document, "D.2.1") == [partial_date_to_ts(patient.birth_date or "")]
    assert [parse_number(v) for v in raw_values(document, "D.2.2a")] == [patient.age]
    assert raw_values(document, "D.2.2b") == [c.AGE_UNIT.code(patient.age_unit or "year")]


# --- what the FDA examples hold beyond single values -----------------------------------

def test_reaction_and_drug_ids_are_the_xml_ids_and_causality_links_them() -> None:
    report = fda_message("FAERS2022Scenario1.xml").report
    document = etree.fromstring(fda_file("FAERS2022Scenario1.xml"))
    ns = {"h": "urn:hl7-org:v3"}
    drug_ids = document.xpath("//h:organizer[h:code/@code='4']/h:component/"
                              "h:substanceAdministration/h:id/@root", namespaces=ns)
    assert [d.id for d in report.drugs] == drug_ids
    links = document.xpath("//h:causalityAssessment[h:code/@code='39']", namespaces=ns)
    assert isinstance(links, list)
    expected = [(link.xpath("string(h:subject2//h:id/@root)", namespaces=ns),
                 link.xpath("string(h:subject1//h:id/@root)", namespaces=ns))
                for link in links if isinstance(link, etree._Element)]
    assert [(a.drug_id, a.reaction_id) for a in report.causality] == expected
    assert {r.id for r in report.reactions} >= {a.reaction_id for a in report.causality}


def test_causality_keeps_source_method_and_result() -> None:
    report = fda_message("FAERS2022Scenario3.xml").report
    assessed = {(a.source, a.method, a.result) for a in report.causality}
    assert ("Sponsor", "FDA", "Suspected") in assessed
    assert all(a.source and a.method and a.result for a in report.causality)


def test_roles_follow_g_k_1() -> None:
    roles = [d.role for d in fda_message("FAERS2022Scenario1.xml").report.drugs]
    assert roles == ["suspect", "suspect", "concomitant"]


def test_coded_term_is_meddra_with_the_reporter_words_when_the_file_names_no_llt() -> None:
    reaction = fda_message("FAERS2022Scenario1.xml").report.reactions[0]
    assert reaction.coded is not None
    assert reaction.coded.terminology == "MedDRA"
    assert reaction.coded.term == reaction.verbatim


def test_seriousness_nullflavor_ni_is_not_a_criterion() -> None:
    reaction = fda_message("FAERS2022Scenario1.xml").report.reactions[1]
    assert reaction.seriousness.criteria() == ("other_medically_important",)


def test_device_part_lot_is_not_the_drug_lot() -> None:
    document = fda_file("FAERS2022Scenario2.xml")
    assert b"4577BN2-product-2-device1" in document
    lots = {lot for d in fda_message("FAERS2022Scenario2.xml").report.drugs
            for lot in d.lot_numbers}
    assert "4577BN2-product-2-device1" not in lots


def test_c_1_4_with_a_time_gives_the_day_and_c_1_2_keeps_the_offset() -> None:
    message = fda_message("FAERS2022Scenario1.xml")
    assert message.report.first_received == date(2022, 6, 14)
    assert message.report_created == datetime(2014, 7, 14, 15, 16, 17,
                                              tzinfo=timezone(timedelta(hours=-5)))


def test_all_three_examples_carry_the_same_worldwide_case() -> None:
    ids = {fda_message(name).report.worldwide_id for name in SCENARIOS}
    assert len(ids) == 1


def test_sender_type_is_read_from_c_3_1() -> None:
    assert fda_message("FAERS2022Scenario1.xml").sender_type == "pharmaceutical_company"


# --- crafted files: what cannot be mapped is refused, naming the element ---------------

def minimal(**changes: object) -> bytes:
    report = CaseReport(
        sender_report_id="US-MEDSAFE-1", worldwide_id="US-MEDSAFE-1",
        first_received=date(2024, 3, 1), latest_received=date(2024, 3, 2),
        primary_sources=(PrimarySource(qualification="pharmacist", country="US",
                                       regulatory=True),),
        patient=PatientInfo(initials="AB", sex="female"),
        reactions=(Reaction(id="0f8fad5b-d9cb-469f-a165-70867728950e", verbatim="rash",
                            start="2024-02"),),
        drugs=(Drug(id="7c9e6679-7425-40de-944b-e07fc1f90ae7", role="suspect",
                    product_name="Baclofen 10 mg"),),
        narrative="Rash after baclofen.")
    if changes:
        report = report.model_copy(update=changes)
    return write_e2b([report], batch_id="B-1", sender_id="MEDSAFE", receiver_id="CDER",
                     created=datetime(2024, 3, 2, 9, 30, tzinfo=UTC))


def test_minimal_file_reads_back() -> None:
    message = read_e2b(minimal(), source_name="mini.xml")[0]
    assert message.report.reactions[0].start == "2024-02"
    assert message.report.patient.sex == "female"
    assert message.batch_receiver == "CDER"


def test_unknown_report_type_code_names_file_element_and_location() -> None:
    document = minimal().replace(b'code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.2"',
                                 b'code="9" codeSystem="2.16.840.1.113883.3.989.2.1.1.2"')
    with pytest.raises(Invalid) as refused:
        read_e2b(document, source_name="bad.xml")
    assert refused.value.where == "bad.xml: C.1.3"
    assert "C.1.3 contains invalid value '9'" in refused.value.message
    assert "investigationCharacteristic" in refused.value.message
    assert "message 1" in refused.value.message


def test_first_received_without_a_day_is_refused() -> None:
    document = minimal().replace(b'<low value="20240301"/>', b'<low value="202403"/>')
    with pytest.raises(Invalid, match="minimum precision of CCYYMMDD") as refused:
        read_e2b(document, source_name="bad.xml")
    assert refused.value.where == "bad.xml: C.1.4"


def test_impossible_date_is_refused() -> None:
    document = minimal(patient=PatientInfo(initials="AB", birth_date="2001-02-03")).replace(
        b'value="20010203"', b'value="20230230"')
    with pytest.raises(Invalid, match="day is out of range") as refused:
        read_e2b(document, source_name="bad.xml")
    assert refused.value.where == "bad.xml: D.2.1"


def test_causality_pointing_at_an_unknown_reaction_is_refused() -> None:
    report = read_e2b(minimal())[0].report
    with_link = report.model_copy(update={"causality": (Causality(
        drug_id=report.drugs[0].id, reaction_id=report.reactions[0].id, source="Reporter",
        method="Global introspection", result="Related"),)})
    document = write_e2b([with_link], batch_id="B", sender_id="S", receiver_id="CDER",
                         created=datetime(2024, 3, 2, tzinfo=UTC))
    broken = document.replace(b'<adverseEffectReference classCode="OBS" moodCode="EVN">\n'
                              b'                      <id root="0f8fad5b',
                              b'<adverseEffectReference classCode="OBS" moodCode="EVN">\n'
                              b'                      <id root="aaaaaaaa')
    assert broken != document
    with pytest.raises(Invalid, match="refers to reaction") as refused:
        read_e2b(broken, source_name="bad.xml")
    assert refused.value.where == "bad.xml: G.k.9.i.1"


def test_drug_without_a_role_is_refused() -> None:
    document = re.sub(rb"<component typeCode=\"COMP\">\s*<causalityAssessment.*?"
                      rb"</causalityAssessment>\s*</component>", b"", minimal(), flags=re.S)
    with pytest.raises(Invalid, match="has no role") as refused:
        read_e2b(document, source_name="bad.xml")
    assert refused.value.where == "bad.xml: G.k.1"


def test_value_the_model_refuses_names_the_element() -> None:
    document = minimal().replace(b'<code code="US" codeSystem="1.0.3166.1.2.2"/>',
                                 b'<code code="usa" codeSystem="1.0.3166.1.2.2"/>', 1)
    with pytest.raises(Invalid, match="country") as refused:
        read_e2b(document, source_name="bad.xml")
    assert refused.value.where == "bad.xml: C.2.r.3"


def test_missing_values_with_nullflavor_are_none() -> None:
    document = minimal().replace(b"<name>AB</name>", b'<name nullFlavor="MSK"/>').replace(
        b'<administrativeGenderCode code="2" codeSystem="1.0.5218"/>',
        b'<administrativeGenderCode nullFlavor="ASKU"/>')
    patient = read_e2b(document)[0].report.patient
    assert patient.initials is None
    assert patient.sex is None


def test_sex_nullflavor_unk_is_unknown() -> None:
    document = minimal().replace(
        b'<administrativeGenderCode code="2" codeSystem="1.0.5218"/>',
        b'<administrativeGenderCode nullFlavor="UNK"/>')
    assert read_e2b(document)[0].report.patient.sex == "unknown"


def test_reactions_without_xml_ids_get_ids_by_order() -> None:
    document = re.sub(rb'<id root="0f8fad5b[^"]*"/>', b"", minimal())
    assert [r.id for r in read_e2b(document)[0].report.reactions] == ["r1"]


def test_a_file_that_is_not_an_icsr_batch_is_refused() -> None:
    with pytest.raises(Invalid, match="not an E2B\\(R3\\) ICSR batch") as refused:
        read_e2b(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>', source_name="cda.xml")
    assert refused.value.where == "cda.xml: N.1"


def test_a_batch_without_messages_is_refused() -> None:
    empty = re.sub(rb"<PORR_IN049016UV>.*</PORR_IN049016UV>", b"", minimal(), flags=re.S)
    with pytest.raises(Invalid, match="carries no ICSR message"):
        read_e2b(empty)
