"""E2B(R3) exchange on a real database: FDA's three example files make one case with
versions, every file is acknowledged, rejected messages and hostile files store nothing,
a case exports and re-imports unchanged, and submissions track their acknowledgements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from medsafe.cases import exchange, service
from medsafe.errors import Forbidden, Invalid, NotFound
from medsafe.interop.e2b import acknowledgement, read_acknowledgement, read_e2b
from medsafe.interop.e2b.validation import Problem
from medsafe.security.principal import SYSTEM
from tests.support.case_builder import case_report
from tests.support.databases import KINDS
from tests.support.shipped import E2B_EXAMPLES
from tests.support.world import World, world_on

EXAMPLES = E2B_EXAMPLES
pytestmark = pytest.mark.skipif(not EXAMPLES.exists(),
                                reason="needs data/reports/e2b-examples")


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with world_on(request.param, tmp_path) as built:
        yield built


def receive(world: World, name: str, data: bytes | None = None) -> exchange.ReceivedFile:
    blob = data if data is not None else (EXAMPLES / name).read_bytes()
    return exchange.receive_e2b(world.container.uow, SYSTEM, world.container.catalog, blob,
                                name=name)


def count_cases(world: World) -> int:
    with world.container.uow() as uow:
        return service.list_cases(uow, SYSTEM, queue="all")[1]


def test_fdas_three_examples_make_one_case_with_three_versions(world: World) -> None:
    results = [receive(world, f"FAERS2022Scenario{n}.xml") for n in (1, 2, 3)]
    assert [(r.tally.new, r.tally.follow_ups) for r in results] == [(1, 0), (0, 1), (0, 1)]
    for result in results:
        ack = read_acknowledgement(result.acknowledgement)
        assert ack.code == "AA"
        assert [m.code for m in ack.messages] == ["CA"]
    worldwide = results[0].results[0].worldwide_id
    with world.container.uow() as uow:
        detail = service.read_case(uow, SYSTEM, world.container.catalog, worldwide)
    assert [v.kind for v in detail.versions] == ["initial", "follow_up", "follow_up"]
    assert [str(v.received_on) for v in detail.versions] == [
        "2022-06-14", "2022-06-15", "2022-06-15"]
    # The same file again is the same report: acknowledged, nothing new stored.
    again = receive(world, "FAERS2022Scenario3.xml")
    assert again.tally.same == 1
    assert count_cases(world) == 1


def test_message_breaking_an_fda_rejection_rule_is_refused_with_reasons(world: World) -> None:
    original = (EXAMPLES / "FAERS2022Scenario1.xml").read_bytes()
    future = original.replace(b'<availabilityTime value="20220614101010-0500"/>',
                              b'<availabilityTime value="20990614"/>')
    assert future != original
    result = receive(world, "future.xml", future)
    assert not result.results[0].accepted
    assert any("C.1.5" in p for p in result.results[0].problems)
    ack = read_acknowledgement(result.acknowledgement)
    assert ack.code == "AE"
    assert ack.messages[0].code == "CR"
    assert any("C.1.5" in d for d in ack.messages[0].details)
    assert count_cases(world) == 0


@pytest.mark.parametrize("hostile", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    b']><r>&b;</r>',
    b"<r>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</r>",
], ids=["external-entity", "entity-expansion", "deep-nesting"])
def test_hostile_xml_is_refused_and_nothing_is_stored(world: World, hostile: bytes) -> None:
    with pytest.raises(Invalid, match=r"hostile\.xml") as refused:
        receive(world, "hostile.xml", hostile)
    assert count_cases(world) == 0
    ack = read_acknowledgement(exchange.refusal("hostile.xml", refused.value))
    assert ack.code == "AR"


def test_exported_case_reimports_to_the_same_report(world: World, tmp_path: Path) -> None:
    receive(world, "FAERS2022Scenario1.xml")
    with world.container.uow() as uow:
        case = service.list_cases(uow, SYSTEM)[0][0]
        xml = exchange.export_e2b(uow, SYSTEM, case.worldwide_id)
        held = service.read_case(uow, SYSTEM, world.container.catalog, case.id).report
    exported = read_e2b(xml)[0].report
    assert exported == held


def test_submission_is_pending_until_the_receivers_acknowledgement(world: World) -> None:
    case = _submittable(world, "US-ACK-1")
    with world.container.uow() as uow:
        detail = service.read_case(uow, SYSTEM, world.container.catalog, case)
    assert [s.ack_status for s in detail.submissions] == ["pending"]
    sent = _sent_message(world, case)
    messages = read_e2b(sent)
    assert messages[0].report.worldwide_id == "US-ACK-1"
    accepted = acknowledgement(messages, [()], ack_id="FDA-ACK-1", created=datetime.now())
    with world.container.uow() as uow:
        assert exchange.record_acknowledgement(uow, SYSTEM, accepted,
                                               name="a.ack").ack_status == "accepted"


def test_rejected_acknowledgement_keeps_the_receivers_reasons(world: World) -> None:
    case = _submittable(world, "US-ACK-2")
    messages = read_e2b(_sent_message(world, case))
    problem = Problem("R0011", "C.1.7", "rejection", "C.1.7 contains invalid value NI")
    rejected = acknowledgement(messages, [(problem,)], ack_id="FDA-ACK-2",
                               created=datetime.now())
    with world.container.uow() as uow:
        submission = exchange.record_acknowledgement(uow, SYSTEM, rejected, name="r.ack")
    assert submission.ack_status == "rejected"
    assert "C.1.7 contains invalid value NI" in (submission.ack_detail or "")


def test_acknowledgement_of_a_batch_medsafe_never_sent_is_refused(world: World) -> None:
    with world.container.uow() as uow, pytest.raises(NotFound, match="did not send"):
        exchange.record_acknowledgement(uow, SYSTEM,
                                        (EXAMPLES / "R3ack-positive.ack").read_bytes(),
                                        name="R3ack-positive.ack")


def test_pending_submission_becomes_overdue_after_the_policy_days(world: World) -> None:
    _submittable(world, "US-ACK-3")
    later = datetime.now().astimezone() + timedelta(days=exchange.ACK_OVERDUE_DAYS, hours=1)
    with world.container.uow() as uow:
        assert exchange.overdue_acknowledgements(uow, SYSTEM) == []
        overdue = exchange.overdue_acknowledgements(uow, SYSTEM, later)
        assert [s.version for s in overdue] == [1]


def _submittable(world: World, worldwide_id: str) -> int:
    """A case reported, accepted, reviewed, approved and submitted; its id."""
    with world.container.uow() as uow:
        case = service.report_case(uow, world.principals["dora-physician"],
                                   world.container.catalog, case_report(worldwide_id))
    for step in ("accept", "start_review", "approve", "submit"):
        with world.container.uow() as uow:
            service.advance(uow, world.principals["alice-admin"], case.id, step)
    return case.id


def _sent_message(world: World, case_id: int) -> bytes:
    with world.container.uow() as uow:
        return uow.cases.submissions(case_id)[0].message.encode()


def test_export_is_refused_to_callers_who_may_not_see_identities(world: World) -> None:
    case = _submittable(world, "US-ACK-4")
    with world.container.uow() as uow, pytest.raises(Forbidden, match="identities"):
        exchange.export_e2b(uow, world.principals["rita-regulator"], case)


def test_e2b_over_http_replies_with_its_acknowledgement(world: World) -> None:
    sent = world.client.post("/api/v1/cases/e2b",
                             content=(EXAMPLES / "FAERS2022Scenario1.xml").read_bytes(),
                             headers={"Content-Type": "application/xml",
                                      "X-Filename": "FAERS2022Scenario1.xml",
                                      **world.bearer("admin")})
    assert sent.status_code == 200
    assert sent.headers["content-type"] == "application/xml"
    assert read_acknowledgement(sent.content).code == "AA"
    refused = world.client.post("/api/v1/cases/e2b", content=b"<not-e2b",
                                headers={"Content-Type": "application/xml",
                                         **world.bearer("admin")})
    assert refused.status_code == 422
    assert read_acknowledgement(refused.content).code == "AR"
    case = world.client.get("/api/v1/cases", headers=world.bearer("admin")).json()["items"][0]
    exported = world.client.get(f"/api/v1/cases/{case['id']}/e2b",
                                headers=world.bearer("admin"))
    assert read_e2b(exported.content)[0].report.worldwide_id == case["worldwide_id"]


def test_manufacturer_cannot_add_a_version_to_a_case_it_may_not_see(world: World) -> None:
    receive(world, "FAERS2022Scenario1.xml")  # held by the admin's import, no Mo product
    follow_up = (EXAMPLES / "FAERS2022Scenario2.xml").read_bytes()
    result = exchange.receive_e2b(world.container.uow, world.principals["mo-manufacturer"],
                                  world.container.catalog, follow_up, name="s2.xml")
    assert not result.results[0].accepted
    assert any("another organisation" in p for p in result.results[0].problems)
    assert read_acknowledgement(result.acknowledgement).messages[0].code == "CR"
    with world.container.uow() as uow:
        held = service.read_case(uow, SYSTEM, world.container.catalog,
                                 result.results[0].worldwide_id)
    assert len(held.versions) == 1
