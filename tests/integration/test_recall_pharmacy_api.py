"""A pharmacy's part of a recall over the API, on SQLite and PostgreSQL: its patient
notices and proposals of a recall, approving or declining a proposal, the letter of a
notice sent on paper, and the outcome of a phone call (`recalls.notifying`).

Each test takes a fresh retail recall of Mo's lot MO-001 to the notifying step: Phil's
pharmacy dispensed that lot to Pat (`cared`), so the recall leaves a proposal to tell Pat
with Phil's pharmacy, and none with Oscar's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from medsafe.records import patients
from medsafe.records.patients import ContactDetails
from medsafe.security import accounts
from tests.support.databases import KINDS
from tests.support.recalls import recall_at
from tests.support.world import World, world_on

API = "/api/v1"


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("pharmacy-api")) as built:
        with built.container.uow() as uow:
            built.tokens["oscar"] = accounts.issue_token(
                uow, built.principals["oscar-pharmacist"], 60).token
            uow.commit()
        yield built


def call(world: World, method: str, path: str, who: str = "pharmacist",
         **kwargs: Any) -> Any:
    return world.client.request(method, API + path, headers=world.bearer(who), **kwargs)


def proposal_of(world: World, recall_id: int) -> dict[str, Any]:
    reply = call(world, "GET", f"/recalls/{recall_id}/patient-notices?state=proposed")
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    assert len(items) == 1, items
    return items[0]


def without_email(world: World) -> None:
    """Pat has a telephone and no e-mail address (a letter, then)."""
    with world.container.uow() as uow:
        patients.update_contacts(uow, world.principals["alice-admin"], world.ids["cared"],
                                 ContactDetails(full_name="Pat Example",
                                                phone="+44 20 7946 0000"))


def test_a_pharmacist_lists_the_proposals_of_a_recall_and_declines_one_with_a_reason(
        world: World) -> None:
    recall_id = recall_at(world, "notifying")
    proposal = proposal_of(world, recall_id)
    assert proposal["patient"] == world.ids["cared"]
    assert proposal["pharmacy_id"] == world.ids["phil_pharmacy"]
    assert proposal["recall_id"] == recall_id
    url = f"/recall-notices/{proposal['id']}/decision"
    unsaid = call(world, "POST", url, json={"decision": "decline", "reason": "  "})
    assert unsaid.status_code == 422
    assert unsaid.headers["content-type"] == "application/problem+json"
    assert "reason" in {e["field"] for e in unsaid.json()["errors"]}, unsaid.json()
    declined = call(world, "POST", url, json={"decision": "decline", "reason": "moved abroad"})
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert (body["state"], body["reason"], body["decided_by"]) == (
        "declined", "moved abroad", "phil-pharmacist")
    assert call(world, "GET", f"/recalls/{recall_id}/patient-notices?state=proposed"
                ).json()["items"] == []
    assert call(world, "POST", url, json={"decision": "approve"}).status_code == 409


def test_an_approved_proposal_is_a_letter_to_print_and_a_call_to_make(world: World) -> None:
    without_email(world)
    recall_id = recall_at(world, "notifying")
    notice_id = proposal_of(world, recall_id)["id"]
    assert call(world, "GET", f"/recall-notices/{notice_id}/letter").status_code == 409
    approved = call(world, "POST", f"/recall-notices/{notice_id}/decision",
                    json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    assert (approved.json()["state"], approved.json()["channel"]) == ("letter", "letter")
    letter = call(world, "GET", f"/recall-notices/{notice_id}/letter")
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert letter.content.startswith(b"%PDF-")
    tasks = call(world, "GET", f"/recalls/{recall_id}/tasks").json()["items"]
    assert [(t["kind"], t["patient"], t["done_at"]) for t in tasks] == [
        ("phone_call", world.ids["cared"], None)]
    outcome = f"/recall-tasks/{tasks[0]['id']}/outcome"
    unanswered = call(world, "POST", outcome, json={"outcome": "no_answer"})
    assert unanswered.status_code == 200, unanswered.text
    assert unanswered.json()["done_at"] is None  # try again the next working day
    reached = call(world, "POST", outcome, json={"outcome": "reached", "note": "told"})
    assert reached.status_code == 200, reached.text
    assert reached.json()["done_by"] == "phil-pharmacist"
    assert call(world, "GET", f"/recalls/{recall_id}/tasks").json()["items"] == []
    done = call(world, "GET", f"/recalls/{recall_id}/tasks?open_only=false").json()["items"]
    assert [t["outcome"] for t in done] == ["reached"]
    acknowledged = call(world, "GET",
                        f"/recalls/{recall_id}/patient-notices?state=acknowledged")
    assert [n["id"] for n in acknowledged.json()["items"]] == [notice_id]
    assert call(world, "POST", outcome, json={"outcome": "reached"}).status_code == 409


def test_an_unknown_outcome_or_decision_is_refused_naming_the_field(world: World) -> None:
    without_email(world)
    recall_id = recall_at(world, "notifying")
    notice_id = proposal_of(world, recall_id)["id"]
    wrong = call(world, "POST", f"/recall-notices/{notice_id}/decision",
                 json={"decision": "maybe"})
    assert wrong.status_code == 422
    assert "decision" in {e["field"] for e in wrong.json()["errors"]}
    call(world, "POST", f"/recall-notices/{notice_id}/decision", json={"decision": "approve"})
    task = call(world, "GET", f"/recalls/{recall_id}/tasks").json()["items"][0]
    shouted = call(world, "POST", f"/recall-tasks/{task['id']}/outcome",
                   json={"outcome": "shouted"})
    assert shouted.status_code == 422
    assert "outcome" in {e["field"] for e in shouted.json()["errors"]}


def test_another_pharmacy_can_neither_see_nor_act_on_a_pharmacys_notices(
        world: World) -> None:
    without_email(world)
    recall_id = recall_at(world, "notifying")
    notice_id = proposal_of(world, recall_id)["id"]
    call(world, "POST", f"/recall-notices/{notice_id}/decision", json={"decision": "approve"})
    task_id = call(world, "GET", f"/recalls/{recall_id}/tasks").json()["items"][0]["id"]
    assert call(world, "GET", f"/recalls/{recall_id}/patient-notices", "oscar"
                ).json()["items"] == []
    assert call(world, "GET", f"/recalls/{recall_id}/tasks", "oscar").json()["items"] == []
    for method, path, body in (
            ("GET", f"/recall-notices/{notice_id}/letter", None),
            ("POST", f"/recall-notices/{notice_id}/decision",
             {"decision": "decline", "reason": "not ours"}),
            ("POST", f"/recall-tasks/{task_id}/outcome", {"outcome": "reached"})):
        reply = call(world, method, path, "oscar", json=body)
        assert reply.status_code == 404, (path, reply.text)
        assert reply.headers["content-type"] == "application/problem+json"
    still = call(world, "GET", f"/recalls/{recall_id}/tasks").json()["items"]
    assert [t["done_at"] for t in still] == [None]
