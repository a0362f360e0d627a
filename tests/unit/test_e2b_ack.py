"""Acknowledgements: FDA's two examples read correctly, and medsafe's own read back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from lxml import etree

from medsafe.cases.model import (
    CaseReport,
    Coded,
    Drug,
    PatientInfo,
    PrimarySource,
    Reaction,
)
from medsafe.errors import Invalid
from medsafe.interop.e2b.ack import (
    acknowledgement,
    batch_rejection,
    read_acknowledgement,
)
from medsafe.interop.e2b.hl7 import NS
from medsafe.interop.e2b.reader import E2bMessage
from medsafe.interop.e2b.validation import Problem, validate_batch
from tests.support.shipped import E2B_EXAMPLES

SHARED = E2B_EXAMPLES
CREATED = datetime(2024, 6, 2, 8, 0, tzinfo=UTC)
EDT = timezone(timedelta(hours=-4))


def fda_ack(name: str) -> bytes:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs data/reports/e2b-examples/{name}")
    return path.read_bytes()


def test_reads_fda_positive_acknowledgement() -> None:
    ack = read_acknowledgement(fda_ack("R3ack-positive.ack"), source_name="pos.ack")
    assert (ack.code, ack.accepted) == ("AA", True)
    assert ack.ack_id == "33439257"
    assert ack.batch_id == "FAERS2022Scenario1-4069-a2dd-08002b30309d"
    assert (ack.sender, ack.receiver) == ("ZZFDA", "4567AB89012")
    assert ack.created == datetime(2022, 8, 11, 13, 50, 30, tzinfo=EDT)
    assert ack.local_message_number == "427032"
    assert ack.details == ("message successfully processed, no further action",)
    [message] = ack.messages
    assert (message.code, message.accepted) == ("CA", True)
    assert message.local_report_number == "19426648"
    assert (message.sender, message.receiver) == ("CDER", "4567AB89012")
    assert message.details == ("Report Loaded Successfully",)
    # FDA names the message as "<N.2.r.1> <C.1.1>"; either identifies it.
    assert message.refers_to("21ec1492-3aea-4069-a2ab-08002b30309d")
    assert message.refers_to("US-APHARMA-8744554B")
    assert not message.refers_to("US-APHARMA-8744554")


def test_reads_fda_negative_acknowledgement() -> None:
    ack = read_acknowledgement(fda_ack("R3ack-negative.ack"))
    assert (ack.code, ack.accepted) == ("AE", False)
    assert ack.batch_id == "FAERS2022Scenario2-4069-a2dd-08002b30309d"
    assert ack.details == ("some ICSR message(s) need further action",)
    [message] = ack.messages
    assert (message.code, message.accepted) == ("CR", False)
    assert message.message_id == "US-APHARMA-7644554"
    [detail] = message.details
    assert "FDA.C.1.7.1 is Mandatory" in detail
    assert "Patient Ethnicity Code (FDA.D.12) must be provided" in detail


def message(number: int) -> E2bMessage:
    report = CaseReport(
        sender_report_id=f"US-MEDSAFE-{number}", worldwide_id=f"US-MEDSAFE-{number}",
        first_received=date(2024, 3, 1), latest_received=date(2024, 3, 1),
        sender_organisation="Partner Pharma",
        primary_sources=(PrimarySource(qualification="physician", country="US",
                                       regulatory=True),),
        patient=PatientInfo(initials="AB", medical_history_text="None"),
        reactions=(Reaction(id="r1", verbatim="rash", coded=Coded(
            term="Rash", code="10037844", terminology="MedDRA", version="26.1")),),
        drugs=(Drug(id="d1", role="suspect", product_name="Baclofen"),),
        narrative="Rash.")
    return E2bMessage(batch_id="THEIR-BATCH-7", batch_sender="PARTNER",
                      batch_receiver="MEDSAFE", batch_created=datetime(2024, 6, 1, tzinfo=UTC),
                      message_id=f"US-MEDSAFE-{number}", sender_id="PARTNER",
                      receiver_id="MEDSAFE", message_created=datetime(2024, 6, 1, tzinfo=UTC),
                      report_created=datetime(2024, 6, 1, tzinfo=UTC),
                      sender_type="pharmaceutical_company", report=report)


REJECTION = Problem("R0021", "C.2.r.5", "rejection",
                    "At least one reporter must be provided with C.2.r.5 = 1")
WARNING = Problem("W0005", "G.k.1", "warning", "The first product reported does not have "
                  "G.k.1 with Observation Code Value of 1, 3 or 4.")


def test_all_accepted_gives_aa_and_ca() -> None:
    messages = [message(1), message(2)]
    ack = read_acknowledgement(acknowledgement(messages, [(), (WARNING,)], ack_id="ACK-1",
                                               created=CREATED))
    assert ack.code == "AA"
    assert [m.code for m in ack.messages] == ["CA", "CA"]
    assert ack.messages[1].details == (WARNING.message,)
    assert ack.batch_id == "THEIR-BATCH-7"
    assert (ack.sender, ack.receiver) == ("MEDSAFE", "PARTNER")
    assert ack.batch_transmitted == datetime(2024, 6, 1, tzinfo=UTC)
    assert [m.message_id for m in ack.messages] == ["US-MEDSAFE-1", "US-MEDSAFE-2"]


def test_a_rejected_message_gives_ae_and_cr_with_the_error_texts() -> None:
    messages = [message(1), message(2)]
    ack = read_acknowledgement(acknowledgement(messages, [(REJECTION, WARNING), ()],
                                               ack_id="ACK-2", created=CREATED))
    assert ack.code == "AE"
    assert [m.code for m in ack.messages] == ["CR", "CA"]
    assert ack.messages[0].details == (REJECTION.message, WARNING.message)


def test_acknowledges_what_validation_found() -> None:
    messages = [message(1), dataclasses.replace(message(2), report=message(2).report.model_copy(
        update={"narrative": None}))]
    problems = validate_batch(messages, today=date(2024, 6, 2))
    ack = read_acknowledgement(acknowledgement(messages, problems, ack_id="ACK-3",
                                               created=CREATED))
    assert [m.code for m in ack.messages] == ["CA", "CR"]
    assert "Data value required for tag H.1" in ack.messages[1].details


def test_acknowledgement_has_fda_structure() -> None:
    root = etree.fromstring(acknowledgement([message(1)], [()], ack_id="ACK-4",
                                            created=CREATED))
    assert root.tag == f"{{{NS}}}MCCI_IN200101UV01"
    assert [etree.QName(e).localname for e in root] == [
        "id", "creationTime", "responseModeCode", "interactionId", "MCCI_IN000002UV01",
        "receiver", "sender", "attentionLine", "attentionLine", "acknowledgement"]


def test_long_error_texts_are_cut_to_ack_b_r_7_length() -> None:
    long = dataclasses.replace(REJECTION, message="x" * 400)
    ack = read_acknowledgement(acknowledgement([message(1)], [(long,)], ack_id="A",
                                               created=CREATED))
    assert len(ack.messages[0].details[0]) == 250


def test_unreadable_batch_gets_ar_without_messages() -> None:
    ack = read_acknowledgement(batch_rejection("not well-formed XML", ack_id="ACK-5",
                                               created=CREATED, batch_id="THEIR-BATCH-8"))
    assert (ack.code, ack.messages, ack.details) == ("AR", (), ("not well-formed XML",))
    assert ack.batch_id == "THEIR-BATCH-8"
    unknown = read_acknowledgement(batch_rejection("DOCTYPE", ack_id="ACK-6",
                                                   created=CREATED))
    assert unknown.batch_id is None


def test_problem_lists_must_match_the_messages() -> None:
    with pytest.raises(Invalid, match="2 messages but 1 problem lists"):
        acknowledgement([message(1), message(2)], [()], ack_id="A", created=CREATED)
    with pytest.raises(Invalid, match="batch_rejection"):
        acknowledgement([], [], ack_id="A", created=CREATED)


def test_unknown_acknowledgement_code_is_refused() -> None:
    document = acknowledgement([message(1)], [()], ack_id="A", created=CREATED).replace(
        b'typeCode="AA"', b'typeCode="ZZ"')
    with pytest.raises(Invalid, match=r"ACK\.A\.4 contains invalid value 'ZZ'") as refused:
        read_acknowledgement(document, source_name="odd.ack")
    assert refused.value.where == "odd.ack"


def test_an_icsr_batch_is_not_an_acknowledgement() -> None:
    with pytest.raises(Invalid, match="not an E2B\\(R3\\) acknowledgement"):
        read_acknowledgement(b'<MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"/>')
