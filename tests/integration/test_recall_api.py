"""The recall and investigation API over HTTP (SQLite and PostgreSQL): a recall from its
firm's report to publication, refusals as problem+json (409 naming the state, the
transition and the role; 403 for a role that takes no part; 422 for bad input), and an
investigation through its committee's vote to its recall."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.databases import KINDS
from tests.support.world import World, world_on

API = "/api/v1"


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp("recall-api")) as built:
        yield built


def post(world: World, role: str, path: str, body: dict[str, Any],
         headers: dict[str, str] | None = None) -> Any:
    client: TestClient = world.client
    return client.post(API + path, json=body, headers={**world.bearer(role),
                                                        **(headers or {})})


def get(world: World, role: str, path: str, **params: Any) -> Any:
    return world.client.get(API + path, params=params, headers=world.bearer(role))


def new_recall(world: World) -> dict[str, Any]:
    answer = post(world, "manufacturer", "/recalls", {
        "reason_for_recall": "Subpotent: assay 88% of label",
        "products": [{"description": "Baclofen 10 mg tablets", "ndcs": ["12345-678-90"],
                      "lots": [{"number": "MO-001", "expiry": "2031-12-31"}]}],
        "reason": "stability test failed"}, headers={"Idempotency-Key": f"r-{world.next()}"})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def steps(world: World, recall_id: int, *taken: tuple[str, str]) -> dict[str, Any]:
    answer: Any = None
    for role, transition in taken:
        answer = post(world, role, f"/recalls/{recall_id}/steps",
                      {"transition": transition, "reason": f"{role}: {transition}"})
        assert answer.status_code == 200, answer.text
    moved: dict[str, Any] = answer.json()
    return moved


def test_a_recall_goes_from_its_firm_to_publication_over_http(world: World) -> None:
    key = {"Idempotency-Key": f"once-{world.next()}"}
    body = {"reason_for_recall": "label mix-up",
            "products": [{"description": "Baclofen 10 mg tablets"}], "reason": "found"}
    first = post(world, "manufacturer", "/recalls", body, key)
    again = post(world, "manufacturer", "/recalls", body, key)
    assert first.status_code == again.status_code == 201
    assert first.json()["summary"]["id"] == again.json()["summary"]["id"]

    recall = new_recall(world)
    rid = recall["summary"]["id"]
    assert recall["record"]["products"][0]["ndcs"] == ["12345067890"]
    steps(world, rid, ("manufacturer", "triage"), ("manufacturer", "initiate"))
    classified = post(world, "regulator", f"/recalls/{rid}/classification",
                      {"classification": "II", "reason": "hazard evaluation"})
    assert classified.status_code == 200, classified.text
    strategy = post(world, "manufacturer", f"/recalls/{rid}/strategy",
                    {"depth": "retail", "public_warning": "specialised",
                     "effectiveness_check": "C", "reason": "pharmacies hold it"})
    assert strategy.status_code == 200, strategy.text
    assert get(world, "pharmacist", f"/recalls/{rid}").status_code == 404  # not public yet
    published = steps(world, rid, ("regulator", "publish"))
    assert published["summary"]["state"] == "published"
    listed = get(world, "pharmacist", "/recalls", state="published")
    assert listed.status_code == 200
    item = next(i for i in listed.json()["items"] if i["id"] == rid)
    assert {d["action"] for d in item["deadlines"]} >= {"remove_stock", "respond_to_firm"}
    assert "notify_patients" not in {d["action"] for d in item["deadlines"]}  # retail depth
    seen = get(world, "pharmacist", f"/recalls/{rid}").json()
    assert seen["my_steps"] == []  # nothing for a pharmacy until notices go out
    notified = steps(world, rid, ("manufacturer", "start_notifying"),
                     ("pharmacist", "respond"))
    assert [h["role"] for h in notified["history"][-2:]] == ["firm", "pharmacy"]
    report = post(world, "manufacturer", f"/recalls/{rid}/status-reports",
                  {"as_of": "2026-01-10", "consignees_notified": 3,
                   "notified_on": "2026-01-05", "methods": ["letter"],
                   "consignees_responding": 3, "reason": "first report"})
    assert report.status_code == 200, report.text
    assert report.json()["summary"]["state"] == "in_progress"


def test_a_refused_step_is_a_409_problem_naming_state_transition_and_role(
        world: World) -> None:
    rid = new_recall(world)["summary"]["id"]
    steps(world, rid, ("manufacturer", "triage"), ("manufacturer", "initiate"))
    refused = post(world, "manufacturer", f"/recalls/{rid}/classification",
                   {"classification": "III", "reason": "we think it is minor"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    detail = refused.json()["detail"]
    assert "cannot 'classify' a recall in state 'initiated' as firm" in detail
    early = post(world, "regulator", f"/recalls/{rid}/steps",
                 {"transition": "terminate", "reason": "too early"})
    assert early.status_code == 409
    assert "'terminate'" in early.json()["detail"]


def test_a_role_with_no_part_is_403_and_bad_input_422(world: World) -> None:
    rid = new_recall(world)["summary"]["id"]
    steps(world, rid, ("manufacturer", "triage"))
    patient = post(world, "patient", f"/recalls/{rid}/steps",
                   {"transition": "respond", "reason": "I have some"})
    assert patient.status_code == 403
    unknown = post(world, "manufacturer", f"/recalls/{rid}/steps",
                   {"transition": "classify", "reason": "data-carrying steps have their own"})
    assert unknown.status_code == 422
    no_reason = post(world, "manufacturer", f"/recalls/{rid}/steps",
                     {"transition": "initiate"})
    assert no_reason.status_code == 422
    assert any(e["field"].endswith("reason") for e in no_reason.json()["errors"])
    bad_ndc = post(world, "manufacturer", "/recalls", {
        "reason_for_recall": "x", "products": [{"description": "y", "ndcs": ["1234567890"]}],
        "reason": "z"})
    assert bad_ndc.status_code == 422
    assert "products.0.ndcs" in bad_ndc.json()["detail"]


def test_an_investigation_runs_through_its_committee_to_a_recall_over_http(
        world: World) -> None:
    opened = post(world, "manufacturer", "/investigations", {
        "product": "Baclofen 10 mg tablets", "origin": "quality_defect",
        "description": "tablets crumble", "lots": ["MO-001"], "reason": "complaints"})
    assert opened.status_code == 201, opened.text
    iid = opened.json()["id"]
    for path, body in (
            ("hazard", {"injuries_occurred": True, "injuries": "two falls",
                        "exposure_conditions": "short doses", "populations_at_risk":
                            ["people with spasticity"], "seriousness": "moderate",
                        "likelihood": "likely", "consequences": "withdrawal symptoms",
                        "proposed_class": "II"}),
            ("benefit-risk", {"condition_severity": "chronic spasticity",
                              "alternatives": "other lots, tizanidine",
                              "safety_profile": "well known"}),
            ("review", {"members": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                        "questions": [{"key": "recall", "text": "Recall the lot?"}]}),
            ("review/votes", {"member": "A", "question": "recall", "choice": "yes"}),
            ("review/votes", {"member": "B", "question": "recall", "choice": "yes"}),
            ("review/recommendation", {"recommendation": "recall MO-001"}),
            ("decision", {"kind": "recall", "rationale": "out of specification",
                          "proposed_class": "II"})):
        answer = post(world, "manufacturer", f"/investigations/{iid}/{path}",
                      {**body, "reason": f"step {path}"})
        assert answer.status_code == 200, (path, answer.text)
    twice = post(world, "manufacturer", f"/investigations/{iid}/review/votes",
                 {"member": "A", "question": "recall", "choice": "no", "reason": "again"})
    assert twice.status_code == 409
    shown = get(world, "regulator", f"/investigations/{iid}").json()
    assert shown["committee"]["outcomes"] == {"recall": "yes"}
    assert shown["decision"]["kind"] == "recall"
    assert get(world, "pharmacist", f"/investigations/{iid}").status_code == 403
    recall = post(world, "manufacturer", f"/investigations/{iid}/recall",
                  {"reason": "as decided"})
    assert recall.status_code == 201, recall.text
    assert recall.json()["summary"]["state"] == "triaged"
    listed = get(world, "regulator", "/investigations", state="decided").json()
    assert iid in [i["id"] for i in listed["items"]]
