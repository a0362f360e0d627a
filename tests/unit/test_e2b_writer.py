"""Writing E2B(R3) batches: FDA's examples survive a round trip, and so does every field
the model has."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from lxml import etree

from medsafe.cases.model import (
    CaseReport,
    Causality,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
    Seriousness,
)
from medsafe.errors import Invalid
from medsafe.interop.e2b.hl7 import NS
from medsafe.interop.e2b.reader import E2bMessage, read_e2b
from medsafe.interop.e2b.writer import write_e2b
from tests.support.case_builder import case_report
from tests.support.shipped import E2B_EXAMPLES

SHARED = E2B_EXAMPLES
SCENARIOS = ("FAERS2022Scenario1.xml", "FAERS2022Scenario2.xml", "FAERS2022Scenario3.xml")
CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def original(name: str) -> E2bMessage:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs data/reports/e2b-examples/{name}")
    [message] = read_e2b(path.read_bytes(), source_name=name)
    return message


def rewritten(message: E2bMessage) -> E2bMessage:
    document = write_e2b([message.report], batch_id=message.batch_id,
                         sender_id=message.sender_id or "S",
                         receiver_id=message.receiver_id or "R",
                         created=message.report_created or CREATED)
    [again] = read_e2b(document, source_name="rewritten.xml")
    return again


@pytest.mark.parametrize("name", SCENARIOS)
def test_fda_example_survives_read_write_read(name: str) -> None:
    first = original(name)
    assert rewritten(first).report == first.report


def _reactions(m: E2bMessage, attribute: str) -> list[Any]:
    return [getattr(r, attribute) for r in m.report.reactions]


def _drugs(m: E2bMessage, *attributes: str) -> list[tuple[Any, ...]]:
    return [tuple(getattr(d, a) for a in attributes) for d in m.report.drugs]


# The elements the brief lists, as the reader finds them.
KEPT: dict[str, Callable[[E2bMessage], Any]] = {
    "C.1.1": lambda m: m.report.sender_report_id,
    "C.1.2": lambda m: m.report_created,
    "C.1.3": lambda m: m.report.report_type,
    "C.1.4": lambda m: m.report.first_received,
    "C.1.5": lambda m: m.report.latest_received,
    "C.1.8.1": lambda m: m.report.worldwide_id,
    "C.1.11": lambda m: (m.report.nullification, m.report.nullification_reason),
    "C.2.r": lambda m: m.report.primary_sources,
    "D.1": lambda m: m.report.patient.initials,
    "D.2": lambda m: (m.report.patient.birth_date, m.report.patient.age,
                      m.report.patient.age_unit, m.report.patient.age_group),
    "D.5": lambda m: m.report.patient.sex,
    "D.7": lambda m: (m.report.patient.medical_history,
                      m.report.patient.medical_history_text),
    "E.i.1": lambda m: _reactions(m, "verbatim"),
    "E.i.2.1": lambda m: _reactions(m, "coded"),
    "E.i.3.2": lambda m: _reactions(m, "seriousness"),
    "E.i.4": lambda m: _reactions(m, "start"),
    "E.i.5": lambda m: _reactions(m, "end"),
    "E.i.7": lambda m: _reactions(m, "outcome"),
    "G.k.1": lambda m: _drugs(m, "role"),
    "G.k.2": lambda m: _drugs(m, "product_name", "substances", "ndc"),
    "G.k.4.r": lambda m: _drugs(m, "dose_value", "dose_unit", "dose_text", "route", "start",
                                "end", "lot_numbers"),
    "G.k.4.r.7": lambda m: _drugs(m, "lot_numbers"),
    "G.k.9.i": lambda m: (m.report.causality, _drugs(m, "rechallenge")),
    "H.1": lambda m: m.report.narrative,
}


@pytest.mark.parametrize("element", sorted(KEPT))
@pytest.mark.parametrize("name", SCENARIOS)
def test_written_fda_example_keeps_element(name: str, element: str) -> None:
    first = original(name)
    assert KEPT[element](rewritten(first)) == KEPT[element](first)


def test_fda_examples_have_lots_and_causality_to_keep() -> None:
    # The element comparisons above are only worth something if the values are there.
    first = original("FAERS2022Scenario1.xml")
    assert any(d.lot_numbers for d in first.report.drugs)
    assert first.report.causality
    assert first.report.primary_sources


# --- every field the model has ---------------------------------------------------------

R1, R2 = "0f8fad5b-d9cb-469f-a165-70867728950e", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
D1, D2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7", "9b2f3f5e-1c3a-4a3e-8f5e-0a1b2c3d4e5f"


def full_report() -> CaseReport:
    return CaseReport(
        sender_report_id="US-MEDSAFE-2024-0001", worldwide_id="US-MEDSAFE-2024-0001",
        report_type="study", first_received=date(2024, 3, 1),
        latest_received=date(2024, 4, 2), sender_organisation="Medsafe Pharma",
        occurrence_country="US", other_case_ids=("EU-EMA-123", "JP-PMDA-9"),
        linked_reports=("US-MEDSAFE-2023-0042",), nullification="amended",
        nullification_reason="Corrected onset date",
        primary_sources=(
            PrimarySource(given_name="Ada", family_name="Lovelace", organisation="City Clinic",
                          qualification="physician", country="GB", regulatory=True),
            PrimarySource(qualification="consumer", country="US")),
        patient=PatientInfo(initials="PQ", age=7.5, age_unit="decade", age_group="elderly",
                            sex="male", weight_kg=81.3, height_cm=178, birth_date="1950",
                            medical_history=(Coded(term="Hypertension", code="10020772",
                                                   terminology="MedDRA", version="26.1"),),
                            medical_history_text="Hypertension since 2001",
                            died_on="2024-03-28"),
        reactions=(
            Reaction(id=R1, verbatim="fits", coded=Coded(
                term="Seizure", code="10039906", terminology="MedDRA", version="26.1"),
                start="2024-02-27", end="2024-03", seriousness=Seriousness(
                    death=True, hospitalisation=True, required_intervention=True),
                outcome="fatal", country="US"),
            Reaction(id=R2, verbatim="rash", coded=Coded(
                term="rash", code="10037844", terminology="MedDRA", version="26.1"),
                outcome="recovered_with_sequelae", country="US")),
        drugs=(
            Drug(id=D1, role="suspect", product_name="Baclofen 10 mg tablets",
                 substances=("BACLOFEN",), ndc="0172-4096", manufacturer="Maker Inc",
                 lot_numbers=("LOT-A1", "LOT-B2"), dose_text="10 mg three times a day",
                 dose_value=10, dose_unit="mg", route="Oral", start="2024-01",
                 end="2024-02-28", indication="Spasticity", action_taken="withdrawn",
                 rechallenge="positive"),
            Drug(id=D2, role="interacting", product_name="Tizanidine",
                 action_taken="not_applicable", rechallenge="not_applicable")),
        causality=(Causality(drug_id=D1, reaction_id=R1, source="Reporter",
                             method="Global introspection", result="Related"),
                   Causality(drug_id=D2, reaction_id=R2, source="Sender", method="WHO-UMC",
                             result="Possible")),
        narrative="A man in his eighth decade had fits on baclofen and died.",
        sender_comment="Causal role of baclofen plausible.",
        sender_diagnosis="Baclofen toxicity")


def write(*reports: CaseReport) -> bytes:
    return write_e2b(list(reports), batch_id="MEDSAFE-B-1", sender_id="MEDSAFE",
                     receiver_id="CDER", created=CREATED)


def test_every_field_of_the_model_survives_write_then_read() -> None:
    report = full_report()
    [message] = read_e2b(write(report))
    assert message.report == report


def test_batch_and_message_headers_are_written() -> None:
    [message] = read_e2b(write(full_report()))
    assert (message.batch_id, message.batch_sender, message.batch_receiver) == (
        "MEDSAFE-B-1", "MEDSAFE", "CDER")
    assert (message.sender_id, message.receiver_id) == ("MEDSAFE", "CDER")
    assert message.batch_created == message.message_created == message.report_created \
        == CREATED
    assert message.message_id == full_report().sender_report_id  # ACK.B.r.1 = N.2.r.1 = C.1.1


def test_batch_has_fda_structure_and_namespaces() -> None:
    report = full_report()
    second = report.model_copy(update={"sender_report_id": "US-MEDSAFE-2024-0002"})
    root = etree.fromstring(write(report, second))
    assert root.tag == f"{{{NS}}}MCCI_IN200100UV01"
    assert root.nsmap[None] == NS
    assert [etree.QName(e).localname for e in root][:5] == [
        "id", "creationTime", "responseModeCode", "interactionId", "name"]
    assert len(root.findall(f"{{{NS}}}PORR_IN049016UV")) == 2
    assert [etree.QName(e).localname for e in root][-2:] == ["receiver", "sender"]
    assert [m.report.sender_report_id for m in read_e2b(etree.tostring(root))] == [
        "US-MEDSAFE-2024-0001", "US-MEDSAFE-2024-0002"]


def test_ids_that_are_not_uuids_become_stable_uuids() -> None:
    report = full_report().model_copy(update={
        "reactions": tuple(r.model_copy(update={"id": f"r{n}"})
                           for n, r in enumerate(full_report().reactions, 1)),
        "drugs": tuple(d.model_copy(update={"id": f"d{n}"})
                       for n, d in enumerate(full_report().drugs, 1)),
        "causality": (Causality(drug_id="d1", reaction_id="r1", source="Reporter",
                                method="Global introspection", result="Related"),)})
    [first] = read_e2b(write(report))
    [second] = read_e2b(write(report))
    ids = [d.id for d in first.report.drugs] + [r.id for r in first.report.reactions]
    assert all(uuid.UUID(i) for i in ids)
    assert ids == [d.id for d in second.report.drugs] + [r.id for r in second.report.reactions]
    assessment = first.report.causality[0]
    assert (assessment.drug_id, assessment.reaction_id) == (
        first.report.drugs[0].id, first.report.reactions[0].id)


def test_case_occurrence_country_is_written_on_reactions_without_one() -> None:
    report = full_report().model_copy(update={"reactions": tuple(
        r.model_copy(update={"country": None}) for r in full_report().reactions)})
    [message] = read_e2b(write(report))
    assert [r.country for r in message.report.reactions] == ["US", "US"]
    assert message.report.occurrence_country == "US"


def test_terms_from_other_terminologies_are_not_written_as_meddra() -> None:
    reaction = Reaction(id=R1, verbatim="felt sleepy", coded=Coded(
        term="Somnolence", terminology="FAERS preferred term"))
    report = full_report().model_copy(update={"reactions": (reaction,), "causality": ()})
    [message] = read_e2b(write(report))
    assert message.report.reactions[0].coded is None
    assert message.report.reactions[0].verbatim == "felt sleepy"


def test_two_reports_with_the_same_c_1_1_are_refused() -> None:
    with pytest.raises(Invalid, match=r"share C\.1\.1"):
        write(full_report(), full_report())


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(Invalid, match="at least one report"):
        write()


def test_reporter_known_to_the_sender_but_withheld_round_trips_as_masked_name() -> None:
    report = case_report("US-MSK-1").model_copy(update={
        "primary_sources": (PrimarySource(withheld=True, country="US"),)})
    xml = write_e2b([report], batch_id="B-MSK", sender_id="S", receiver_id="R",
                    created=datetime(2026, 11, 26, tzinfo=UTC))
    assert b'nullFlavor="MSK"' in xml
    back = read_e2b(xml)[0].report
    assert back.primary_sources == report.primary_sources
