"""Recall notices (pure): the §7.49 notice to pharmacies and prescribers, the plain-language
patient notice that never says "just stop", its reading grade, the phone-call task, and
the depth rule for who among the patients is told."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

import pytest

from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog
from medsafe.knowledge.model import LabelWarning
from medsafe.notify.message import with_ack_link
from medsafe.notify.readability import reading_grade, sentences, syllables, words
from medsafe.recalls.matching import Affected, AffectedLot, Holder, Recipient
from medsafe.recalls.model import (
    Depth,
    Firm,
    RecallClass,
    RecallDates,
    RecallLot,
    RecallProduct,
    RecallRecord,
)
from medsafe.recalls.notices import (
    AffectedPatient,
    Composed,
    Consignee,
    Contact,
    Hazard,
    HeldLot,
    PatientAction,
    Received,
    affected_patients,
    consignee_notice,
    format_ndc,
    held_lots,
    marking,
    patient_notice,
    phone_call_task,
    plan_patient_notices,
    prescriber_notice,
    topic,
    withdrawal_caution,
)
from medsafe.recalls.workflow import RecallKind, RecallState

TODAY = date(2026, 3, 2)
LOT_A = RecallLot("BX2201", date(2027, 6, 30), "12345678901")
LOT_B = RecallLot("BX2202", date(2027, 7, 31))
PHARMACY = Contact("Main Street Pharmacy", email="rx@main.example", phone="555-0100",
                   address=("1 Main Street", "Springfield"))
STOP = Hazard(PatientAction.STOP_NOW,
              stop_reason="Microbial contamination that can cause a life-threatening "
                          "infection.")


def recall(classification: RecallClass | None = RecallClass.II, *,
           depth: Depth | None = Depth.CONSUMER, kind: RecallKind = RecallKind.RECALL,
           description: str = "Baclofen Tablets USP, 10 mg, 100-count bottles, Rx only",
           reason: str = "Subpotent drug: out-of-specification assay results at the "
                         "12-month stability time point.") -> RecallRecord:
    return RecallRecord(
        recall_number="D-0101-2026", event_id="90001", kind=kind,
        state=RecallState.NOTIFYING, classification=classification, reason=reason,
        reason_category=None,
        products=(RecallProduct(description, ndcs=("12345678901",),
                                quantity="12,000 bottles", lots=(LOT_A, LOT_B)),),
        firm=Firm("Mo Pharma Inc.", city="Newark", state="NJ"), depth=depth,
        dates=RecallDates(initiated=date(2026, 2, 20)))


def patient(key: str = "p1", *, email: str | None = "ann@example.org",
            received: tuple[Received, ...] = (Received("BX2201", date(2026, 2, 1)),),
            medicine: str = "Baclofen 10 mg tablets", ingredient: str | None = None,
            route: str | None = "oral") -> AffectedPatient:
    return AffectedPatient(key, Contact("Ann Lee", email=email, phone="555-0199",
                                        address=("2 Elm Road", "Springfield")),
                           medicine, received, PHARMACY, ingredient=ingredient, route=route,
                           label=f"Patient {key}")


def label_warning(catalog: Catalog, ingredient: str, warning_id: str) -> LabelWarning:
    return next(w for w in catalog.ingredient(ingredient).warnings if w.id == warning_id)


def flat(text: str) -> str:
    """Text with its line wrapping undone."""
    return " ".join(text.split())


# -- never "just stop" -----------------------------------------------------------------------

def test_the_baclofen_patient_notice_says_keep_taking_it_and_quotes_the_label_warning(
        catalog: Catalog) -> None:
    warning = label_warning(catalog, "baclofen", "abrupt-withdrawal")
    notice = patient_notice(recall(), patient(), catalog)
    text = flat(notice.text)
    assert "Keep taking your Baclofen 10 mg tablets. Do not stop on your own." in text
    assert "Keep taking this one until they do." in text
    assert "Stop using" not in text
    # The clinical words are the catalog's, with the catalog's source, not ours.
    assert flat(warning.text) in text
    assert flat(warning.source.cite()) in text
    assert "FDA label" in warning.source.cite()
    assert flat(warning.text) in flat(notice.html)


def test_the_quoted_warning_is_the_one_the_knowledge_base_ties_to_abrupt_stopping(
        catalog: Catalog) -> None:
    baclofen = catalog.ingredient("baclofen")
    oral = withdrawal_caution(baclofen, "oral")
    assert oral is not None
    assert baclofen.discontinuation is not None
    assert baclofen.discontinuation.abrupt_stop_dangerous
    assert oral.text == label_warning(catalog, "baclofen", "abrupt-withdrawal").text
    assert oral.citation == baclofen.discontinuation.source.cite()
    # No label warning with that source applies to the intrathecal route: the
    # discontinuation statement itself is quoted, with its own citation.
    intrathecal = withdrawal_caution(baclofen, "intrathecal")
    assert intrathecal is not None
    assert intrathecal.text == baclofen.discontinuation.text
    assert intrathecal.citation == baclofen.discontinuation.source.cite()
    # An ingredient whose entry says nothing about abrupt stopping gets no caution.
    methocarbamol = catalog.ingredient("methocarbamol")
    assert methocarbamol.discontinuation is None
    assert withdrawal_caution(methocarbamol) is None


def test_a_medicine_without_a_withdrawal_warning_is_kept_but_nothing_clinical_is_quoted(
        catalog: Catalog) -> None:
    record = recall(description="Methocarbamol Tablets USP, 500 mg, 100-count bottles")
    notice = patient_notice(record, patient(medicine="Methocarbamol 500 mg tablets"),
                            catalog)
    text = flat(notice.text)
    assert "Keep taking your Methocarbamol 500 mg tablets." in text
    assert "The drug label says" not in text
    assert "Source:" not in text
    assert "dangerous" not in text


def test_a_hazard_that_says_stop_tells_the_patient_to_stop_the_batch_and_not_go_without(
        catalog: Catalog) -> None:
    warning = label_warning(catalog, "baclofen", "abrupt-withdrawal")
    notice = patient_notice(recall(RecallClass.I), patient(), catalog, STOP)
    text = flat(notice.text)
    assert "Stop using the Baclofen 10 mg tablets from this batch now." in text
    assert flat(str(STOP.stop_reason)) in text
    assert "Call Main Street Pharmacy at 555-0100 today." in text
    assert "Do not go without baclofen." in text
    assert flat(warning.text) in text
    assert "Keep taking your" not in text


def test_stopping_must_be_chosen_with_its_reason_and_keeping_on_takes_none() -> None:
    assert Hazard().action is PatientAction.KEEP_TAKING
    with pytest.raises(Invalid, match="stop_reason"):
        Hazard(PatientAction.STOP_NOW)
    with pytest.raises(Invalid, match="stop_reason"):
        Hazard(PatientAction.STOP_NOW, stop_reason="  ")
    with pytest.raises(Invalid, match="stop_reason"):
        Hazard(stop_reason="contaminated")


def test_the_ingredient_is_the_one_named_or_found_in_the_medicine_or_product_text(
        catalog: Catalog) -> None:
    vague = recall(description="Muscle relaxant tablets, 10 mg, 100-count bottles")
    warning = flat(label_warning(catalog, "baclofen", "abrupt-withdrawal").text)

    def says(record: RecallRecord, who: AffectedPatient) -> str:
        return flat(patient_notice(record, who, catalog).text)

    assert warning not in says(vague, patient(medicine="Muscle tablets 10 mg"))
    assert warning in says(vague, patient(medicine="Muscle tablets 10 mg",
                                          ingredient="baclofen"))
    assert warning in says(vague, patient(medicine="Ozobax oral solution"))  # a brand name
    assert warning in says(recall(), patient(medicine="Muscle tablets 10 mg"))


def test_the_professionals_are_told_not_to_stop_patients_abruptly(catalog: Catalog) -> None:
    warning = flat(label_warning(catalog, "baclofen", "abrupt-withdrawal").text)
    for notice in (consignee_notice(recall(), Consignee(PHARMACY), catalog),
                   prescriber_notice(recall(), Contact("Dr Dora Kim"), [patient()], catalog)):
        text = flat(notice.text)
        assert "Do not tell patients to stop." in text
        assert "Baclofen must not be stopped abruptly." in text
        assert warning in text


# -- §7.49: marking and content --------------------------------------------------------------

@pytest.mark.parametrize(("classification", "expected"), [
    (RecallClass.I, "URGENT: DRUG RECALL"),
    (RecallClass.II, "URGENT: DRUG RECALL"),
    (RecallClass.III, "DRUG RECALL"),
    (None, "URGENT: DRUG RECALL"),  # not classified yet: it may be Class I
])
def test_the_notice_is_marked_drug_recall_and_urgent_for_class_i_and_ii(
        catalog: Catalog, classification: RecallClass | None, expected: str) -> None:
    notice = consignee_notice(recall(classification), Consignee(PHARMACY), catalog)
    assert marking(recall(classification)) == expected
    assert notice.subject.startswith(expected + ":")
    assert notice.text.startswith(expected + "\n")
    assert f"<h1>{expected}</h1>" in notice.html
    patient_title = patient_notice(recall(classification), patient(), catalog).subject
    assert patient_title.startswith("Urgent:" if "URGENT" in expected else "Important:")


def test_a_correction_is_marked_as_one_and_a_stock_recovery_is_never_noticed(
        catalog: Catalog) -> None:
    assert marking(recall(RecallClass.I, kind=RecallKind.CORRECTION)) == (
        "URGENT: DRUG CORRECTION")
    with pytest.raises(Invalid, match="stock recovery"):
        consignee_notice(recall(None, kind=RecallKind.STOCK_RECOVERY), Consignee(PHARMACY),
                         catalog)


def test_the_pharmacy_notice_carries_what_7_49_asks_for(catalog: Catalog) -> None:
    record = recall()
    notice = consignee_notice(record, Consignee(PHARMACY, (HeldLot("BX2201", 40, 12),)),
                              catalog)
    text = flat(notice.text)
    # Product, size, lot and code.
    assert record.products[0].description in text
    assert "NDC 12345-6789-01" in text
    assert "Lot BX2201, expiry 2027-06-30" in text
    assert "Lot BX2202, expiry 2027-07-31" in text
    # Reason and hazard.
    assert record.reason in text
    assert "Class II" in text
    assert "temporary or reversible harm" in text
    # Instructions: quarantine, dispensing, patients at this depth, sub-recall.
    assert "quarantine every unit at once" in text
    assert "Check your dispensing records for these lots." in text
    assert "goes to the patient (consumer) level" in text
    assert "pass this notice on (21 CFR 7.49)" in text
    # What matching found for this pharmacy.
    assert "Lot BX2201: 40 units on hand; dispensed to 12 patients." in text
    # How to reply: the outbox appends the acknowledgement link.
    assert "Confirm that you received this notice with the link at the end" in text
    sent_text, sent_html = with_ack_link(notice.text, notice.html,
                                         "https://medsafe.example/notices/ack/" + "t" * 43)
    assert sent_text.rstrip().endswith("t" * 43)
    assert sent_html is not None
    assert sent_html.index("notices/ack/") < sent_html.index("</body>")


def test_the_depth_decides_what_the_pharmacy_is_told_about_patients(
        catalog: Catalog) -> None:
    said = {depth: flat(consignee_notice(recall(depth=depth), Consignee(PHARMACY),
                                         catalog).text)
            for depth in (*Depth, None)}
    assert "every patient who received these lots" in said[Depth.CONSUMER]
    assert "you decide which of them to tell" in said[Depth.RETAIL]
    assert "goes to the wholesale level" in said[Depth.WHOLESALE]
    assert "depth is not set yet" in said[None]


def test_a_pharmacy_is_shown_only_the_lots_that_concern_it(catalog: Catalog) -> None:
    notice = consignee_notice(recall(), Consignee(PHARMACY), catalog, lots=[LOT_B])
    assert "BX2202" in notice.text
    assert "BX2201" not in notice.text
    assert "lot BX2202 –" in notice.subject
    with pytest.raises(Invalid, match="none of these lots"):
        consignee_notice(recall(), Consignee(PHARMACY), catalog,
                         lots=[RecallLot("ELSEWHERE")])


def test_the_prescriber_notice_names_the_patients_who_received_the_lots(
        catalog: Catalog) -> None:
    patients = [patient("p1"),
                patient("p2", received=(Received("BX2202", date(2026, 1, 15)),
                                        Received("BX2201", date(2026, 2, 10))))]
    notice = prescriber_notice(recall(), Contact("Dr Dora Kim"), patients, catalog)
    text = flat(notice.text)
    assert notice.audience == "prescriber"
    assert "2 of your patients received" in notice.subject
    assert ("Patient p1: Baclofen 10 mg tablets, lot BX2201 on 1 February 2026, from Main "
            "Street Pharmacy.") in text
    assert "Patient p2: Baclofen 10 mg tablets, lot BX2202 on 15 January 2026; lot BX2201 "\
           "on 10 February 2026" in text
    assert "arrange the same medicine from a lot that is not recalled" in text
    assert "Ann Lee" not in text  # the label the service chose, not the name
    with pytest.raises(Invalid, match="at least one patient"):
        prescriber_notice(recall(), Contact("Dr Dora Kim"), [], catalog)


def test_untrusted_words_are_escaped_in_the_html(catalog: Catalog) -> None:
    record = recall(reason="Label mix-up <script>alert('x')</script> & more")
    for notice in (consignee_notice(record, Consignee(PHARMACY), catalog),
                   patient_notice(record, patient(), catalog)):
        assert "<script>" not in notice.html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in notice.html
        assert "<script>alert('x')</script>" in notice.text  # plain text stays as written


def test_a_composed_notice_becomes_an_outbox_message(catalog: Catalog) -> None:
    record = recall()
    notice = patient_notice(record, patient(), catalog)
    message = notice.to_notice("email", "ann@example.org", topic(record))
    assert message.topic == "recall:D-0101-2026"
    assert message.audience == "patient"
    assert message.subject == notice.subject
    assert message.body_text == notice.text
    assert message.body_html == notice.html
    assert message.acknowledge


def test_ndcs_print_in_their_5_4_2_form() -> None:
    assert format_ndc("12345678901") == "12345-6789-01"
    assert format_ndc("123") == "123"


# -- plain language --------------------------------------------------------------------------

def patient_variants(catalog: Catalog) -> dict[str, Composed]:
    long_firm = dataclasses.replace(
        recall(RecallClass.I),
        firm=Firm("Consolidated International Pharmaceutical Manufacturing Laboratories, "
                  "Incorporated"))
    return {
        "baclofen, e-mail": patient_notice(recall(), patient(), catalog),
        "baclofen, letter": patient_notice(recall(), patient(email=None), catalog,
                                           letter=True, today=TODAY),
        "baclofen, stop now": patient_notice(recall(RecallClass.I), patient(), catalog, STOP),
        "baclofen, two lots": patient_notice(
            recall(), patient(received=(Received("BX2201", date(2026, 1, 3)),
                                        Received("BX2202", date(2026, 2, 3)))), catalog),
        "plain words": patient_notice(recall(RecallClass.III), patient(), catalog,
                                      Hazard(plain_words="Some tablets have less medicine "
                                                         "in them than they should.")),
        "methocarbamol": patient_notice(
            recall(description="Methocarbamol Tablets USP, 750 mg"),
            patient(medicine="Methocarbamol 750 mg tablets"), catalog),
        "long firm name, class I": patient_notice(long_firm, patient(), catalog),
    }


def test_every_patient_notice_reads_at_grade_8_or_below(catalog: Catalog) -> None:
    grades = {name: reading_grade(notice.own_words)
              for name, notice in patient_variants(catalog).items()}
    assert all(grade <= 8.0 for grade in grades.values()), grades


def test_the_measured_words_are_ours_not_the_quotations(catalog: Catalog) -> None:
    notice = patient_notice(recall(), patient(), catalog)
    warning = label_warning(catalog, "baclofen", "abrupt-withdrawal")
    assert "Keep taking your" in notice.own_words
    assert "Hallucinations" not in notice.own_words
    assert recall().reason not in notice.own_words
    assert flat(warning.text) in flat(notice.text)


def test_flesch_kincaid_follows_its_formula() -> None:
    # 6 words of one syllable in 1 sentence.
    assert reading_grade("The cat sat on the mat.") == pytest.approx(
        0.39 * 6 / 1 + 11.8 * 6 / 6 - 15.59)
    # 12 words, 2 sentences, 17 syllables (con-tin-ue: 3, sup-ply: 2, phar-ma-cy: 3).
    text = "Please continue the tablets. Your pharmacy will give you a new supply."
    assert len(words(text)) == 12
    assert len(sentences(text)) == 2
    assert sum(syllables(w) for w in words(text)) == 17
    assert reading_grade(text) == pytest.approx(0.39 * 12 / 2 + 11.8 * 17 / 12 - 15.59)
    hard = ("Hallucinations and seizures have occurred on abrupt withdrawal of baclofen; "
            "except for serious adverse reactions, the dose should be reduced slowly when "
            "the drug is discontinued.")
    assert reading_grade(hard) > 12 > 8 > reading_grade(text)
    with pytest.raises(Invalid):
        reading_grade("... !")


# Syllable counts as dictionaries divide the words: words our notices use, and some that
# counting by rule gets wrong.
DICTIONARY = {
    "the": 1, "medicine": 3, "medicines": 3, "pharmacist": 3, "pharmacy": 3, "recalled": 2,
    "recall": 2, "taking": 2, "keep": 1, "stop": 1, "stopped": 1, "doctor": 2, "batch": 1,
    "dangerous": 3, "label": 2, "seizures": 2, "hallucinations": 5, "abrupt": 2,
    "withdrawal": 3, "baclofen": 3, "tablets": 2, "number": 2, "supply": 2, "switches": 2,
    "unwell": 2, "emergency": 4, "because": 2, "people": 2, "bottle": 2, "takes": 1,
    "gave": 1, "came": 1, "reason": 2, "being": 2, "patient": 2, "information": 4,
    "notice": 2, "please": 1, "message": 2, "letter": 2, "phone": 1, "today": 2,
    "every": 3, "serious": 3, "problems": 2, "wanted": 2, "used": 1, "maker": 2,
    "company": 3, "safe": 1, "little": 2, "released": 2, "again": 2, "given": 2,
    "before": 2, "until": 2, "once": 1, "cause": 1, "contamination": 5, "infection": 3,
    "threatening": 3, "dissolution": 4, "acknowledged": 3, "questions": 2, "going": 2,
    "idea": 3, "area": 3, "quiet": 2, "science": 2, "create": 2, "video": 3,
}


def test_syllable_counts_agree_with_the_dictionary_on_most_words() -> None:
    wrong = {w: (n, syllables(w)) for w, n in DICTIONARY.items() if syllables(w) != n}
    assert len(wrong) / len(DICTIONARY) <= 0.1, wrong
    assert syllables("2026") == 1


# -- who among the patients is told ----------------------------------------------------------

def test_at_consumer_depth_every_affected_patient_is_notified() -> None:
    patients = [patient(f"p{i}", received=(Received("BX2201", TODAY - timedelta(days=400)),))
                for i in range(5)]
    plan = plan_patient_notices(recall(RecallClass.III, depth=Depth.CONSUMER), patients,
                                today=TODAY)
    assert plan.notify == tuple(patients)
    assert plan.proposals == ()


@pytest.mark.parametrize("depth", [Depth.RETAIL, Depth.WHOLESALE])
def test_at_retail_or_wholesale_depth_medsafe_proposes_and_the_pharmacist_decides(
        depth: Depth) -> None:
    recent = patient("recent", received=(Received("BX2201", TODAY - timedelta(days=10)),))
    old = patient("old", received=(Received("BX2202", TODAY - timedelta(days=200)),))
    plan = plan_patient_notices(recall(RecallClass.II, depth=depth), [old, recent],
                                today=TODAY)
    assert plan.notify == ()  # nobody is notified without the pharmacist's decision
    by_key = {p.patient.key: p for p in plan.proposals}
    assert [p.patient.key for p in plan.proposals] == ["recent", "old"]
    assert by_key["recent"].notify
    assert "10 days ago" in by_key["recent"].reasons[0]
    assert not by_key["old"].notify
    assert "200 days ago" in by_key["old"].reasons[0]


def test_a_class_i_or_stop_hazard_proposes_every_patient_at_retail_depth() -> None:
    old = patient("old", received=(Received("BX2202", TODAY - timedelta(days=300)),))
    class_i = plan_patient_notices(recall(RecallClass.I, depth=Depth.RETAIL), [old],
                                   today=TODAY)
    assert class_i.proposals[0].notify
    assert class_i.proposals[0].reasons[0].startswith("Class I")
    stop = plan_patient_notices(recall(RecallClass.III, depth=Depth.RETAIL), [old], STOP,
                                today=TODAY)
    assert stop.proposals[0].notify
    assert "stop" in stop.proposals[0].reasons[0]


def test_patient_notices_wait_for_the_depth_and_list_each_patient_once() -> None:
    with pytest.raises(Invalid, match="depth"):
        plan_patient_notices(recall(depth=None), [patient()], today=TODAY)
    with pytest.raises(Invalid, match="once"):
        plan_patient_notices(recall(), [patient("p1"), patient("p1")], today=TODAY)


# -- the phone call --------------------------------------------------------------------------

def test_a_patient_without_e_mail_gets_a_phone_call_task_with_the_same_words(
        catalog: Catalog) -> None:
    who = patient(email=None)
    task = phone_call_task(recall(), who, catalog)
    letter = patient_notice(recall(), who, catalog, letter=True)
    assert task.patient_key == "p1"
    assert task.phone == "555-0199"
    assert task.title == "Call Ann Lee about recalled Baclofen 10 mg tablets"
    script = flat(task.script)
    assert script.startswith("Call Ann Lee on 555-0199 about recalled Baclofen 10 mg "
                             "tablets (lot BX2201, recall D-0101-2026).")
    assert "Keep taking your Baclofen 10 mg tablets. Do not stop on your own." in script
    assert flat(label_warning(catalog, "baclofen", "abrupt-withdrawal").text) in script
    assert "Check that they know to keep taking it until they are switched." in script
    assert "Record the outcome in medsafe" in script
    # The script says what the letter says, without the letter's reply instruction.
    start = [b.text for b in letter.blocks].index("What is wrong")
    ours = [b.text for b in letter.blocks[start:] if b.style in ("body", "bullet")
            and not b.text.startswith("Please call")]
    assert len(ours) > 5
    assert all(flat(sentence) in script for sentence in ours)
    unreachable = phone_call_task(recall(), dataclasses.replace(
        who, contact=Contact("Ann Lee")), catalog)
    assert unreachable.phone is None
    assert "No telephone number is on file" in unreachable.script


def test_subjects_are_one_line(catalog: Catalog) -> None:
    record = recall(description="Baclofen\nTablets " + "very long words " * 30)
    for notice in (consignee_notice(record, Consignee(PHARMACY), catalog),
                   prescriber_notice(record, Contact("Dr Kim"), [patient()], catalog),
                   patient_notice(record, patient(), catalog)):
        assert not re.search(r"[\r\n]", notice.subject)
        assert len(notice.subject) <= 300


# -- from what matching found ----------------------------------------------------------------

def matched() -> Affected:
    def lot(lot_id: int, number: str) -> AffectedLot:
        return AffectedLot(lot_id=lot_id, product_id=7, ndc="12345678901",
                           product_code="12345-6789-01", product_name="Baclofen 10 mg tablet",
                           lot_number=number, expiry=None, by="lot", recalled_as=number)

    def got(patient_id: int, lot_id: int, day: date, pharmacy_id: int) -> Recipient:
        return Recipient(patient_id=patient_id, pseudonym=f"PT-{patient_id}", lot_id=lot_id,
                         dispensed_on=day, quantity=30, pharmacy_id=pharmacy_id,
                         pharmacy_name=f"Pharmacy {pharmacy_id}", prescriber_id=5,
                         prescriber_name="Dr Dora Kim")

    return Affected(
        lots=(lot(1, "BX2201"), lot(2, "BX2202")),
        holders=(Holder(organisation_id=10, name="Pharmacy 10", kind="pharmacy", lot_id=1,
                        quantity=40),),
        recipients=(got(100, 1, date(2026, 1, 5), 10), got(100, 2, date(2026, 2, 5), 11),
                    got(101, 1, date(2026, 1, 9), 10)))


def test_what_matching_found_at_a_pharmacy_becomes_its_held_lots() -> None:
    assert held_lots(matched(), 10) == (HeldLot("BX2201", 40, 2),)
    assert held_lots(matched(), 11) == (HeldLot("BX2202", 0, 1),)
    assert held_lots(matched(), 99) == ()


def test_matched_dispensings_become_one_affected_patient_each(catalog: Catalog) -> None:
    contacts = {100: Contact("Ann Lee", email="ann@example.org")}
    found = affected_patients(matched(), contacts, {11: PHARMACY}, {7: "baclofen"})
    assert [p.key for p in found] == ["100", "101"]
    ann, other = found
    assert ann.contact.name == "Ann Lee"
    assert ann.received == (Received("BX2201", date(2026, 1, 5)),
                            Received("BX2202", date(2026, 2, 5)))
    assert ann.pharmacy == PHARMACY  # the latest dispensing's pharmacy
    assert ann.ingredient == "baclofen"
    assert ann.shown_as == "PT-100"
    assert other.contact.name == "PT-101"  # no contact on file: named by pseudonym
    assert other.pharmacy.name == "Pharmacy 10"
    plan = plan_patient_notices(recall(), found, today=TODAY)
    assert len(plan.notify) == 2
    text = flat(patient_notice(recall(), ann, catalog).text)
    assert "on 5 January 2026 and 5 February 2026" in text
    assert ("It came from batches that are being recalled. The batch numbers are BX2201 "
            "and BX2202.") in text
