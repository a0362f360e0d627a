"""Duplicate detection (vigiMatch-style hit-miss scores), clusters, vigiGrade-style
completeness, master choice and merge, on small populations built here."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest

from medsafe.cases.duplicates import (
    PairScore,
    Weights,
    candidate_pairs,
    choose_master,
    clusters,
    completeness,
    fit_weights,
    merge,
    narrative_dates,
    prior_threshold,
    score_pair,
)
from medsafe.cases.model import CaseReport, Drug, PatientInfo, PrimarySource, Reaction
from medsafe.errors import Invalid

VACCINES = ["VARIVAX", "MMR II", "ENGERIX-B", "FLUZONE", "TRIPEDIA", "POLIOVAX"]
TERMS = ["Pyrexia", "Rash", "Urticaria", "Injection site pain", "Headache", "Syncope",
         "Vomiting", "Seizure", "Arthralgia", "Myalgia", "Pruritus", "Cough"]


def case(case_id: str, *, age: float | None = 30.0, sex: str | None = "female",
         onset: str | None = "1999-03-02", given: str | None = "1999-03-01",
         drugs: tuple[str, ...] = ("VARIVAX",), reactions: tuple[str, ...] = ("Rash",),
         narrative: str | None = None, received: date = date(1999, 4, 1),
         other_ids: tuple[str, ...] = (), **extra: object) -> CaseReport:
    return CaseReport(
        sender_report_id=case_id, worldwide_id=f"W-{case_id}", first_received=received,
        latest_received=received, occurrence_country="US", other_case_ids=other_ids,
        patient=PatientInfo(age=age, age_unit="year" if age is not None else None,
                            sex=sex),
        reactions=tuple(Reaction(id=f"R{n}", verbatim=t, start=onset)
                        for n, t in enumerate(reactions)),
        drugs=tuple(Drug(id=f"D{n}", role="suspect", product_name=d, start=given)
                    for n, d in enumerate(drugs)),
        narrative=narrative, **extra)


def population(n: int = 400, seed: int = 5) -> list[CaseReport]:
    """Unrelated reports: random ages, sexes, dates, vaccines and reactions."""
    rng = random.Random(seed)
    start = date(1999, 1, 1)
    reports = []
    for k in range(n):
        given = start + timedelta(days=rng.randrange(300))
        onset = given + timedelta(days=rng.choice((0, 0, 1, 1, 2, 5, 10)))
        reports.append(case(
            f"P{k}", age=round(rng.uniform(0, 90), 1), sex=rng.choice(("female", "male")),
            onset=onset.isoformat(), given=given.isoformat(),
            drugs=tuple(rng.sample(VACCINES, rng.choice((1, 1, 2)))),
            reactions=tuple(rng.sample(TERMS, rng.choice((1, 2, 3))))))
    return reports


@pytest.fixture(scope="module")
def crowd() -> list[CaseReport]:
    return population()


@pytest.fixture(scope="module")
def weights(crowd: list[CaseReport]) -> Weights:
    return fit_weights(crowd)


def copy_of(report: CaseReport, new_id: str, **changes: object) -> CaseReport:
    return report.model_copy(update={"sender_report_id": new_id,
                                     "worldwide_id": f"W-{new_id}", **changes})


# --- scores ----------------------------------------------------------------------------


def test_a_re_sent_report_scores_far_above_unrelated_pairs(
        crowd: list[CaseReport], weights: Weights) -> None:
    twin = score_pair(crowd[0], copy_of(crowd[0], "X"), weights)
    unrelated = [score_pair(crowd[i], crowd[i + 1], weights).total for i in range(1, 100)]
    assert twin.total > max(unrelated) + 5
    assert twin.total > 0 > sorted(unrelated)[len(unrelated) // 2]


def test_the_total_is_the_sum_of_the_fields(crowd: list[CaseReport],
                                            weights: Weights) -> None:
    scored = score_pair(crowd[3], crowd[4], weights)
    assert set(scored.per_field) == {"age", "sex", "onset", "drugs", "reactions", "dates",
                                     "country", "externally_indicated"}
    assert scored.total == pytest.approx(sum(scored.per_field.values()))


def test_a_match_on_a_rare_value_weighs_more_than_on_a_common_one() -> None:
    reports = [case(f"F{k}", sex="female") for k in range(90)]
    reports += [case(f"M{k}", sex="male") for k in range(10)]
    weights = fit_weights(reports)
    women = score_pair(reports[0], reports[1], weights).per_field["sex"]
    men = score_pair(reports[90], reports[91], weights).per_field["sex"]
    assert men > women > 0


def test_a_mismatch_costs_and_a_missing_value_adds_nothing(weights: Weights) -> None:
    base = case("A", sex="female")
    assert score_pair(base, case("B", sex="male"), weights).per_field["sex"] < 0
    assert score_pair(base, case("C", sex=None), weights).per_field["sex"] == 0
    assert score_pair(base, case("D", age=None), weights).per_field["age"] == 0
    assert score_pair(base, case("E", onset=None), weights).per_field["onset"] == 0


def test_an_age_one_year_off_is_weaker_evidence_than_the_same_age(weights: Weights) -> None:
    base = case("A", age=40.0, onset=None, given=None)
    same = score_pair(base, case("B", age=40.0, onset=None, given=None), weights)
    close = score_pair(base, case("C", age=41.0, onset=None, given=None), weights)
    far = score_pair(base, case("D", age=70.0, onset=None, given=None), weights)
    assert same.per_field["age"] > close.per_field["age"] > 0 > far.per_field["age"]


def test_an_onset_a_day_off_still_counts(crowd: list[CaseReport], weights: Weights) -> None:
    original = crowd[10]
    reaction = original.reactions[0]
    moved = (date.fromisoformat(reaction.start or "") + timedelta(days=1)).isoformat()
    shifted = copy_of(original, "X", reactions=tuple(
        r.model_copy(update={"start": moved}) for r in original.reactions))
    assert score_pair(original, shifted, weights).per_field["onset"] > 0


def test_other_case_id_naming_the_other_report_is_externally_indicated(
        weights: Weights) -> None:
    first = case("A")
    linked = case("B", other_ids=("W-A",), age=55.0, sex="male")
    unlinked = case("C", other_ids=("MFR-1",), age=55.0, sex="male")
    assert score_pair(first, linked, weights).per_field["externally_indicated"] > 10
    assert score_pair(first, unlinked, weights).per_field["externally_indicated"] == 0
    # either direction, and by the sender's own id as well
    assert score_pair(case("D", other_ids=("A",)), first,
                      weights).per_field["externally_indicated"] > 10


def test_a_misspelt_drug_still_counts_as_the_same_drug(weights: Weights) -> None:
    base = case("A", drugs=("ENGERIX-B",))
    misspelt = score_pair(base, case("B", drugs=("ENGREIX-B",)), weights)
    other = score_pair(base, case("C", drugs=("FLUZONE",)), weights)
    assert misspelt.per_field["drugs"] > 0 > other.per_field["drugs"]


def test_reactions_always_reported_together_are_not_double_evidence() -> None:
    # "Pruritus" and "Urticaria" always come together here; "Syncope" and "Cough" never
    # do, though each is as rare.
    reports = [case(f"T{k}", reactions=("Pruritus", "Urticaria")) for k in range(10)]
    reports += [case(f"S{k}", reactions=("Syncope",)) for k in range(10)]
    reports += [case(f"C{k}", reactions=("Cough",)) for k in range(10)]
    reports += [case(f"H{k}", reactions=("Headache",)) for k in range(70)]
    weights = fit_weights(reports)
    together = score_pair(case("A", reactions=("Pruritus", "Urticaria")),
                          case("B", reactions=("Pruritus", "Urticaria")), weights)
    apart = score_pair(case("A", reactions=("Syncope", "Cough")),
                       case("B", reactions=("Syncope", "Cough")), weights)
    one = score_pair(case("A", reactions=("Syncope",)), case("B", reactions=("Syncope",)),
                     weights)
    assert apart.per_field["reactions"] == pytest.approx(2 * one.per_field["reactions"])
    assert together.per_field["reactions"] < 1.2 * one.per_field["reactions"]


def test_a_shared_date_from_the_narrative_is_evidence(weights: Weights) -> None:
    first = case("A", given=None, narrative="pt recv vax 19OCT98 & exp rash")
    second = case("B", given=None, narrative="Vaccinated on 10/19/1998; rash next day.")
    third = case("C", given=None, narrative="vaccinated 3/4/99")
    assert score_pair(first, second, weights).per_field["dates"] > 0
    assert score_pair(first, third, weights).per_field["dates"] < 0


def test_narrative_dates_are_read_in_the_usual_formats() -> None:
    text = ("pt recv vax 19OCT98 & 22 Oct 1998; seen 11/2/98, again on Nov 30, 1998 "
            "and 1998-12-01; 31/12/98 written day first; 13/13/98 is no date")
    assert narrative_dates(text, date(1999, 1, 4)) == {
        date(1998, 10, 19), date(1998, 10, 22), date(1998, 11, 2), date(1998, 11, 30),
        date(1998, 12, 1), date(1998, 12, 31)}


def test_a_two_digit_year_is_never_after_the_report_was_received() -> None:
    assert narrative_dates("born 1JAN45, seen 2FEB01", date(2001, 3, 1)) == {
        date(1945, 1, 1), date(2001, 2, 2)}


# --- candidates ------------------------------------------------------------------------


def test_candidate_pairs_find_the_re_sent_reports_and_nothing_else(
        crowd: list[CaseReport]) -> None:
    copies = [copy_of(crowd[k], f"X{k}", narrative="re-sent by another reporter")
              for k in (2, 50, 120)]
    reports = crowd + copies
    weights = fit_weights(reports)
    found = candidate_pairs(reports, weights, prior_threshold(len(reports), 3))
    assert {(p.a, p.b) for p in found} == {
        (f"W-P{k}", f"W-X{k}") for k in (2, 50, 120)}
    assert [p.total for p in found] == sorted((p.total for p in found), reverse=True)


def test_early_stopping_drops_no_pair_that_reaches_the_threshold(
        crowd: list[CaseReport]) -> None:
    misspelt = copy_of(crowd[7], "X7", drugs=tuple(
        d.model_copy(update={"product_name": d.product_name[::-1]}) for d in crowd[7].drugs))
    reports = [*crowd, copy_of(crowd[5], "X5"), misspelt]
    weights = fit_weights(reports)
    every = candidate_pairs(reports, weights, -math.inf)
    for threshold in (0.0, 3.0, 8.0):
        expected = [(p.a, p.b) for p in every if p.total >= threshold]
        found = candidate_pairs(reports, weights, threshold)
        assert sorted((p.a, p.b) for p in found) == sorted(expected)


def test_two_versions_of_one_case_are_not_a_pair(weights: Weights) -> None:
    first = case("A")
    follow_up = first.model_copy(update={"latest_received": date(1999, 5, 1)})
    assert candidate_pairs([first, follow_up], weights, -math.inf) == []


def test_prior_threshold_is_where_posterior_odds_are_even() -> None:
    # 1,000 reports make 499,500 pairs; if 500 are duplicates the prior odds are 1:998
    assert prior_threshold(1000, 500) == pytest.approx(math.log(499_500 / 500))


# --- clusters --------------------------------------------------------------------------


def flagged(*pairs: tuple[str, str, float]) -> list[PairScore]:
    return [PairScore(a, b, score, {}) for a, b, score in pairs]


def test_a_chain_of_flags_is_not_a_cluster_without_every_pair() -> None:
    groups = clusters(flagged(("A", "B", 20.0), ("B", "C", 15.0)))
    assert groups == [{"A", "B"}]


def test_a_cluster_forms_when_every_pair_is_flagged() -> None:
    groups = clusters(flagged(("A", "B", 20.0), ("B", "C", 15.0), ("A", "C", 14.0),
                              ("D", "E", 30.0)))
    assert groups == [{"A", "B", "C"}, {"D", "E"}]


def test_the_best_linked_groups_merge_first() -> None:
    # C is flagged with A and with D, but A and D are not: C joins its stronger side.
    groups = clusters(flagged(("A", "B", 25.0), ("A", "C", 24.0), ("B", "C", 23.0),
                              ("C", "D", 30.0)))
    assert groups == [{"A", "B"}, {"C", "D"}]


# --- completeness, master, merge -------------------------------------------------------


def documented(case_id: str = "A", **changes: object) -> CaseReport:
    """A report with every vigiGrade dimension documented."""
    report = case(case_id, narrative="Rash on both arms the day after vaccination.",
                  primary_sources=(PrimarySource(qualification="physician", country="US"),))
    drugs = tuple(d.model_copy(update={"indication": "prophylaxis", "dose_value": 0.5,
                                       "dose_unit": "mL"}) for d in report.drugs)
    reactions = tuple(r.model_copy(update={"outcome": "recovered"}) for r in report.reactions)
    return report.model_copy(update={"drugs": drugs, "reactions": reactions, **changes})


def test_a_fully_documented_report_is_complete() -> None:
    assert completeness(documented()) == 1.0


def test_missing_time_to_onset_halves_completeness() -> None:
    report = documented()
    no_start = report.model_copy(update={"drugs": tuple(
        d.model_copy(update={"start": None}) for d in report.drugs)})
    assert completeness(no_start) == pytest.approx(0.5)


def test_missing_age_and_sex_cost_more_than_half() -> None:
    report = documented(patient=PatientInfo())
    assert completeness(report) == pytest.approx(0.7 * 0.7)
    assert completeness(report) < 0.5


def test_an_onset_known_only_to_the_month_costs_by_its_uncertainty() -> None:
    report = documented()
    def with_dates(start: str, onset: str) -> CaseReport:
        return report.model_copy(update={
            "drugs": tuple(d.model_copy(update={"start": start}) for d in report.drugs),
            "reactions": tuple(r.model_copy(update={"start": onset})
                               for r in report.reactions)})
    assert completeness(with_dates("1999-03-10", "1999-03")) == pytest.approx(0.9)
    assert completeness(with_dates("1999", "1999-06-01")) == pytest.approx(0.7)
    assert completeness(with_dates("1999-03-01", "1999-03")) == 1.0  # order is certain


def test_the_master_is_the_most_complete_then_the_earliest_then_the_lowest_id() -> None:
    full, thin = documented("B"), case("A")
    assert choose_master([thin, full]) is full
    early = documented("C", first_received=date(1999, 1, 1))
    assert choose_master([full, early]) is early
    assert choose_master([documented("Z"), documented("Y")]).sender_report_id == "Y"


def test_choosing_from_nothing_is_invalid() -> None:
    with pytest.raises(Invalid):
        choose_master([])


def test_merge_keeps_the_master_and_records_the_duplicates_ids() -> None:
    master = documented("A", other_case_ids=("MFR-1",))
    duplicate = case("B", other_ids=("MFR-2", "W-A"))
    merged = merge(master, [duplicate])
    assert merged.other_case_ids == ("MFR-1", "W-B", "MFR-2")
    assert merged.model_copy(update={"other_case_ids": master.other_case_ids}) == master
