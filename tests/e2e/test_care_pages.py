"""The care pages over HTTP, on SQLite and PostgreSQL, as the personas use them after a
consumer-depth recall of Mo Pharma's lot reached Pat: Dora sees medsafe's alternatives
for Pat, accepts one with its taper, and the plan starts; Pat keeps her diary on her own
page (a value off the scale is refused and nothing is written), a withdrawal sign raises
an urgent alert on Dora's plan page, and Pat reports the entry as a side effect in one
click. Nobody else reaches these pages."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy import func, select

from medsafe.care import switching
from medsafe.records import now
from medsafe.store.schema import CareAlert, DiaryEntry, MonitoringPlan
from tests.support.recalls import consumer_recall_notifying
from tests.support.web_client import csrf_of, log_in
from tests.support.world import World


def count(world: World, model: type[object]) -> int:
    with world.container.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(model)).scalar_one())


def proposed(world: World) -> int:
    """The recall's reviews proposed by the administrator; Pat's review id."""
    recall_id = consumer_recall_notifying(world)
    with world.container.uow() as uow:
        switching.propose_for_recall(uow, world.principals["alice-admin"],
                                     world.container.catalog, recall_id, today=now().date())
    with world.container.uow() as uow:
        found, _ = switching.list_reviews(uow, world.principals["dora-physician"],
                                          recall_id=recall_id)
    (review,) = found
    return review.id



def test_a_physician_accepts_an_alternative_and_the_patient_keeps_her_diary(
        world: World, app: FastAPI) -> None:
    review_id = proposed(world)
    dora = log_in(app, "dora-physician")
    desk = dora.get("/care")
    assert desk.status_code == 200
    assert f'data-review="{review_id}"' in desk.text
    page = dora.get(f"/care/reviews/{review_id}")
    assert page.status_code == 200
    assert 'id="proposal-1"' in page.text
    needs_steps = "the prescriber writes the steps" in page.text
    form: dict[str, str | list[str]] = {"csrf_token": csrf_of(dora), "rank": "1",
                                        "reason": "", "start_date": ""}
    if needs_steps:
        form.update({"taper_day": ["0", "7"], "taper_days": ["7", "7"],
                     "taper_dose_mg": ["5", "5"], "taper_times_per_day": ["2", "1"]})
    decided = dora.post(f"/care/reviews/{review_id}/decision", data=form,
                        follow_redirects=False)
    assert decided.status_code == 303, decided.text
    plan_path = decided.headers["location"]
    plan_id = int(re.fullmatch(r"/care/plans/(\d+)", plan_path).group(1))  # type: ignore[union-attr]
    assert count(world, MonitoringPlan) == 1

    pat = log_in(app, "pat-patient")
    mine = pat.get("/my-care")
    assert f'data-plan="{plan_id}"' in mine.text
    assert "Save the diary entry" in mine.text
    before = count(world, DiaryEntry)
    refused = pat.post(f"/care/plans/{plan_id}/diary", data={
        "csrf_token": csrf_of(pat), "recorded_on": now().date().isoformat(),
        "score-spasticity": "14"})
    assert refused.status_code == 422
    assert "spasticity" in refused.text
    assert count(world, DiaryEntry) == before
    saved = pat.post(f"/care/plans/{plan_id}/diary", data={
        "csrf_token": csrf_of(pat), "recorded_on": now().date().isoformat(),
        "score-spasticity": "9", "score-sleep_quality": "3", "red_flag": "hallucinations",
        "note": "I saw things that were not there last night"}, follow_redirects=True)
    assert saved.status_code == 200
    assert count(world, DiaryEntry) == before + 1
    with world.container.uow() as uow:
        urgent = uow.session.execute(select(func.count()).select_from(CareAlert).where(
            CareAlert.severity == "urgent")).scalar_one()
    assert urgent >= 1

    plan = dora.get(plan_path)
    assert 'data-severity="urgent"' in plan.text
    assert "<svg" in plan.text  # the diary's plot

    with world.container.uow() as uow:
        entry_id = uow.session.execute(select(DiaryEntry.id)).scalars().first()
    reported = pat.post(f"/care/diary/{entry_id}/case", data={"csrf_token": csrf_of(pat)},
                        follow_redirects=True)
    assert reported.status_code == 200
    with world.container.uow() as uow:
        case_id = uow.session.execute(select(DiaryEntry.case_id).where(
            DiaryEntry.id == entry_id)).scalar_one()
    assert case_id is not None
    again = pat.post(f"/care/diary/{entry_id}/case", data={"csrf_token": csrf_of(pat)})
    assert again.status_code == 409


def test_regulators_and_manufacturers_see_no_care_pages(world: World, app: FastAPI) -> None:
    review_id = proposed(world)
    for username in ("rita-regulator", "mo-manufacturer"):
        client = log_in(app, username)
        assert client.get(f"/care/reviews/{review_id}").status_code == 403
        assert client.get("/care").status_code == 403


def test_another_physician_does_not_find_the_review(world: World, app: FastAPI) -> None:
    review_id = proposed(world)
    olga = log_in(app, "olga-physician")
    assert olga.get(f"/care/reviews/{review_id}").status_code == 404


def test_the_pharmacist_sees_his_pharmacys_reviews_on_the_care_desk(
        world: World, app: FastAPI) -> None:
    review_id = proposed(world)
    phil = log_in(app, "phil-pharmacist")
    desk = phil.get("/care")
    assert desk.status_code == 200
    assert f'data-review="{review_id}"' in desk.text
    assert phil.get(f"/care/reviews/{review_id}").status_code == 200
    oscar = log_in(app, "oscar-pharmacist")
    assert f'data-review="{review_id}"' not in oscar.get("/care").text


def test_a_second_report_of_a_diary_entry_by_the_physician_says_which_case(
        world: World, app: FastAPI) -> None:
    review_id = proposed(world)
    dora = log_in(app, "dora-physician")
    form: dict[str, str | list[str]] = {
        "csrf_token": csrf_of(dora), "rank": "1",
        "reason": "the prescriber writes the taper", "start_date": "",
        "taper_day": ["0", "7"], "taper_days": ["7", "7"], "taper_dose_mg": ["5", "5"],
        "taper_times_per_day": ["2", "1"]}
    decided = dora.post(f"/care/reviews/{review_id}/decision", data=form,
                        follow_redirects=False)
    assert decided.status_code == 303, decided.text
    plan_id = int(decided.headers["location"].rsplit("/", 1)[1])
    entry = dora.post(f"/care/plans/{plan_id}/diary", data={
        "csrf_token": csrf_of(dora), "recorded_on": now().date().isoformat(),
        "red_flag": "seizures"}, follow_redirects=False)
    assert entry.status_code == 303, entry.text
    entry_id = int(entry.headers["location"].rsplit("-", 1)[1])
    first = dora.post(f"/care/diary/{entry_id}/case", data={"csrf_token": csrf_of(dora)},
                      follow_redirects=False)
    assert first.status_code == 303
    again = dora.post(f"/care/diary/{entry_id}/case", data={"csrf_token": csrf_of(dora)})
    assert again.status_code == 409
    assert "case" in again.text
    assert "Care of patients a recall touched" in again.text  # the desk, with the problem
