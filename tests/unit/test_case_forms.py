"""The report forms: a patient's plain words and ticks, and a clinician's fuller report,
each becoming an E2B-shaped case coded through the lay lexicon."""

from __future__ import annotations

from datetime import date
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from medsafe.cases.forms import (
    CAUSALITY,
    CAUSALITY_METHOD,
    HOW_IT_ENDED,
    SIDE_EFFECT_CHOICES,
    ClinicianReport,
    PatientReport,
    SideEffectChoice,
    choice_term,
    clinician_case,
    code_term,
    patient_case,
)
from medsafe.cases.model import CaseReport
from medsafe.cases.rules import seriousness_criteria, validity_problems
from medsafe.cases.terminology import LAY_LEXICON, LayLexicon
from medsafe.errors import Invalid

TODAY = date(2026, 10, 10)


@pytest.fixture(scope="module")
def lexicon() -> LayLexicon:
    return LayLexicon.load()


def patient_form(**fields: Any) -> PatientReport:
    values: dict[str, Any] = {"medicine": "baclofen 10 mg", "lot": "MO-001",
                              "what_happened": "I feel sleepy and dizzy", "age": 54}
    values.update(fields)
    return PatientReport.model_validate(values)


def clinician_form(**fields: Any) -> ClinicianReport:
    values: dict[str, Any] = {
        "qualification": "pharmacist", "initials": "JD", "age": 54, "sex": "female",
        "weight_kg": 70.5,
        "reactions": [
            {"term": "Somnolence", "onset": "2026-10-02", "outcome": "recovering",
             "seriousness": ["hospitalisation"]},
            {"term": "fell over in the kitchen", "onset": "2026-10", "outcome": "recovered"},
        ],
        "drugs": [
            {"role": "suspect", "name": "Baclofen 10 mg", "lot": "MO-001",
             "dose": "10 mg three times a day", "route": "oral", "action_taken": "withdrawn",
             "dechallenge": "positive", "rechallenge": "not_applicable"},
            {"role": "concomitant", "name": "Metformin 500 mg"},
        ],
        "narrative": "Drowsy for a week after a new pack; admitted after a fall.",
        "causality": "probable",
    }
    values.update(fields)
    return ClinicianReport.model_validate(values)


def terms(case: CaseReport) -> list[str | None]:
    return [r.coded.term if r.coded else None for r in case.reactions]


# -- the patient's form ------------------------------------------------------------------

def test_plain_words_sleepy_and_dizzy_become_somnolence_and_dizziness(
        lexicon: LayLexicon) -> None:
    case = patient_case(patient_form(), lexicon, today=TODAY)
    assert terms(case) == ["Somnolence", "Dizziness"]
    assert {r.verbatim for r in case.reactions} == {"I feel sleepy and dizzy"}
    assert all(r.coded is not None and r.coded.terminology == LAY_LEXICON
               and r.coded.version == lexicon.version for r in case.reactions)


@pytest.mark.parametrize(("key", "preferred_term"), [
    ("drowsiness", "Somnolence"), ("dizziness", "Dizziness"), ("nausea", "Nausea"),
    ("stomach_upset", "Abdominal discomfort"), ("sleep_changes", "Sleep disorder"),
    ("allergic_reaction", "Hypersensitivity"), ("confusion", "Confusional state"),
    ("mood_changes", "Mood altered"), ("muscle_weakness", "Muscular weakness"),
])
def test_each_side_effect_the_article_names_is_coded_to_a_faers_preferred_term(
        lexicon: LayLexicon, key: str, preferred_term: str) -> None:
    case = patient_case(patient_form(what_happened=None, side_effects=[key]), lexicon,
                        today=TODAY)
    assert terms(case) == [preferred_term]


def test_every_tick_box_is_offered_codes_through_the_lexicon_and_covers_the_article(
        lexicon: LayLexicon) -> None:
    assert [c.key for c in SIDE_EFFECT_CHOICES] == list(get_args(SideEffectChoice))
    codes = [choice_term(choice, lexicon).term for choice in SIDE_EFFECT_CHOICES]
    assert len(set(codes)) == len(codes)  # no two boxes mean the same term
    # The seven groups of the seed article's "Potential side effects of Baclofen".
    assert {c.group for c in SIDE_EFFECT_CHOICES} == {
        "Drowsiness and dizziness", "Nausea and other stomach upset", "Sleep changes",
        "Allergic reactions", "Confusion or mood changes", "Muscle weakness"}


def test_a_ticked_side_effect_already_in_the_words_is_reported_once(
        lexicon: LayLexicon) -> None:
    case = patient_case(patient_form(side_effects=["drowsiness", "muscle_weakness",
                                                   "drowsiness"]), lexicon, today=TODAY)
    assert terms(case) == ["Somnolence", "Dizziness", "Muscular weakness"]
    assert case.reactions[2].verbatim == "Muscle weakness"
    assert [r.id for r in case.reactions] == ["r1", "r2", "r3"]


def test_words_the_lexicon_does_not_know_are_kept_uncoded_and_the_case_is_still_valid(
        lexicon: LayLexicon) -> None:
    words = "my toenails turned blue"
    case = patient_case(patient_form(what_happened=words), lexicon, today=TODAY)
    assert [(r.verbatim, r.coded) for r in case.reactions] == [(words, None)]
    assert validity_problems(case) == []


def test_unknown_words_stay_beside_the_ticked_side_effects(lexicon: LayLexicon) -> None:
    case = patient_case(patient_form(what_happened="my toenails turned blue",
                                     side_effects=["nausea"]), lexicon, today=TODAY)
    assert terms(case) == [None, "Nausea"]


@pytest.mark.parametrize(("who", "valid"), [
    ({"age": 54}, True), ({"age": None, "sex": "female"}, True),
    ({"age": None, "sex": None}, False)])
def test_a_report_with_the_medicine_and_lot_is_valid_once_age_or_sex_is_given(
        lexicon: LayLexicon, who: dict[str, Any], valid: bool) -> None:
    case = patient_case(patient_form(**who), lexicon, today=TODAY)
    assert case.drugs[0].product_name == "baclofen 10 mg"
    assert case.drugs[0].lot_numbers == ("MO-001",)
    assert case.suspects == case.drugs
    problems = validity_problems(case)
    assert (problems == []) is valid
    if not valid:
        assert problems == ["no identifiable patient (initials, age or age group, sex or "
                            "date of birth)"]


def test_a_patient_report_is_a_consumer_report_received_today_with_a_minted_id(
        lexicon: LayLexicon) -> None:
    first = patient_case(patient_form(), lexicon, today=TODAY)
    second = patient_case(patient_form(), lexicon, today=TODAY)
    assert first.reporter_qualification() == "consumer"
    assert first.primary_sources[0].country == "US"
    assert first.first_received == first.latest_received == TODAY
    assert first.worldwide_id.startswith("US-MEDSAFE-")
    assert first.worldwide_id != second.worldwide_id
    assert first.sender_report_id == first.worldwide_id
    assert first.narrative == "I feel sleepy and dizzy"
    assert first.patient.age == 54
    assert first.patient.age_unit == "year"


def test_plain_seriousness_boxes_become_seriousness_criteria(lexicon: LayLexicon) -> None:
    assert not patient_case(patient_form(), lexicon, today=TODAY).serious
    case = patient_case(patient_form(went_to_hospital=True, life_threatening=True,
                                     disability=True), lexicon, today=TODAY)
    assert seriousness_criteria(case) == ("life_threatening", "hospitalisation",
                                          "disability")


@pytest.mark.parametrize(("answer", "outcome"),
                         [(answer, said[1]) for answer, said in HOW_IT_ENDED.items()])
def test_how_it_ended_becomes_the_e2b_outcome_and_the_start_date_the_onset(
        lexicon: LayLexicon, answer: str, outcome: str) -> None:
    case = patient_case(patient_form(how_it_ended=answer, started_on="2026-10-01"), lexicon,
                        today=TODAY)
    assert {r.outcome for r in case.reactions} == {outcome}
    assert {r.start for r in case.reactions} == {"2026-10-01"}


def test_a_report_needs_words_or_a_ticked_side_effect() -> None:
    with pytest.raises(ValidationError, match="tell us what happened"):
        patient_form(what_happened=None, side_effects=[])


def test_a_start_date_in_the_future_is_refused(lexicon: LayLexicon) -> None:
    with pytest.raises(Invalid, match="in the future") as raised:
        patient_case(patient_form(started_on="2026-10-11"), lexicon, today=TODAY)
    assert raised.value.where == "started_on"


@pytest.mark.parametrize("change", [
    {"colour": "blue"}, {"age": "54"}, {"went_to_hospital": "yes"},
    {"side_effects": ["hiccups"]}, {"medicine": ""}, {"what_happened": "x" * 2001},
    {"country": "usa"}, {"how_it_ended": "better"}, {"medicine": "bac\x00lofen"}])
def test_the_patient_form_refuses_unknown_fields_loose_types_and_unbounded_text(
        change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        patient_form(**change)


def test_long_words_stay_whole_in_the_narrative_and_are_cut_in_the_verbatim(
        lexicon: LayLexicon) -> None:
    words = "I feel sleepy " + "and it goes on " * 100
    case = patient_case(patient_form(what_happened=words.strip()), lexicon, today=TODAY)
    assert case.narrative == words.strip()
    assert len(case.reactions[0].verbatim) == 250
    assert case.reactions[0].verbatim.endswith("…")


# -- the clinician's form ----------------------------------------------------------------

def test_a_clinician_report_keeps_each_reaction_with_onset_outcome_and_seriousness(
        lexicon: LayLexicon) -> None:
    case = clinician_case(clinician_form(), lexicon, today=TODAY)
    first, second = case.reactions
    assert (first.verbatim, first.start, first.outcome) == ("Somnolence", "2026-10-02",
                                                            "recovering")
    assert first.coded is not None
    assert first.coded.term == "Somnolence"
    assert first.seriousness.criteria() == ("hospitalisation",)
    assert (second.start, second.outcome, second.seriousness.serious) == ("2026-10",
                                                                          "recovered", False)
    assert second.coded is not None
    assert second.coded.term == "Fall"
    assert validity_problems(case) == []
    assert case.reporter_qualification() == "pharmacist"


def test_a_clinician_report_keeps_drug_roles_lots_and_challenges(
        lexicon: LayLexicon) -> None:
    case = clinician_case(clinician_form(), lexicon, today=TODAY)
    suspect, other = case.drugs
    assert (suspect.role, suspect.lot_numbers, suspect.dose_text, suspect.route) == (
        "suspect", ("MO-001",), "10 mg three times a day", "oral")
    assert (suspect.action_taken, suspect.dechallenge, suspect.rechallenge) == (
        "withdrawn", "positive", "not_applicable")
    assert (other.role, other.lot_numbers) == ("concomitant", ())
    assert case.patient.initials == "JD"
    assert case.patient.weight_kg == 70.5


def test_the_causality_opinion_applies_to_each_suspect_and_each_reaction(
        lexicon: LayLexicon) -> None:
    case = clinician_case(clinician_form(), lexicon, today=TODAY)
    assert [(c.drug_id, c.reaction_id) for c in case.causality] == [("d1", "r1"),
                                                                     ("d1", "r2")]
    assert {(c.method, c.result) for c in case.causality} == {(CAUSALITY_METHOD,
                                                               CAUSALITY["probable"])}
    assert clinician_case(clinician_form(causality=None), lexicon,
                          today=TODAY).causality == ()


def test_a_clinician_term_is_coded_exactly_or_from_its_one_mention_else_left_for_a_person(
        lexicon: LayLexicon) -> None:
    exact = code_term("somnolence", lexicon)
    assert exact is not None
    assert exact.term == "Somnolence"
    one = code_term("marked drowsiness", lexicon)
    assert one is not None
    assert one.term == "Somnolence"
    assert code_term("drowsy and dizzy", lexicon) is None
    assert code_term("hepatic steatosis", lexicon) is None


def test_a_clinician_onset_in_the_future_is_refused_at_its_precision(
        lexicon: LayLexicon) -> None:
    later = clinician_form(reactions=[{"term": "Somnolence", "onset": "2026-11"}])
    with pytest.raises(Invalid) as raised:
        clinician_case(later, lexicon, today=TODAY)
    assert raised.value.where == "reactions[0].onset"
    this_month = clinician_form(reactions=[{"term": "Somnolence", "onset": "2026-10"}])
    assert clinician_case(this_month, lexicon, today=TODAY).reactions[0].start == "2026-10"


@pytest.mark.parametrize("change", [
    {"reactions": []}, {"drugs": []}, {"qualification": "consumer"},
    {"reactions": [{"term": "Somnolence", "onset": "2026-02-30"}]},
    {"drugs": [{"name": "Baclofen", "role": "not_administered"}]},
    {"weight_kg": 0}, {"causality": "likely"}, {"initials": "J" * 11}])
def test_the_clinician_form_refuses_what_a_case_cannot_hold(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        clinician_form(**change)
