"""The acknowledgement page over HTTP, on SQLite and PostgreSQL: opening the link (as a
mail scanner does) acknowledges nothing, the button does, once; pressing it again says
when it was done; an unknown link is a 404 page."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from medsafe.notify.message import Notice, new_ack_token
from medsafe.store.schema import AuditEvent, OutboxMessage
from tests.support.web_client import csrf_of, log_in
from tests.support.world import World

SUBJECT = "Important: your baclofen tablets (lot MO-001)"


def new_notice(world: World) -> tuple[str, str]:
    """A patient notice in the outbox: (its ack token, its Message-ID)."""
    with world.container.uow() as uow:
        row = uow.outbox.add(Notice(
            channel="email", recipient="pat@example.org", subject=SUBJECT,
            body_text="Keep taking baclofen until your pharmacist switches you.",
            topic="recall:D-0001-2026", audience="patient"))
        uow.commit()
        assert row.ack_token is not None
        return row.ack_token, row.message_id


def acknowledged_at(world: World, token: str) -> datetime | None:
    with world.container.uow() as uow:
        return uow.session.execute(select(OutboxMessage.acknowledged_at)
                                   .where(OutboxMessage.ack_token == token)).scalar_one()


def audit_events(world: World, message_id: str) -> int:
    with world.container.uow() as uow:
        return int(uow.session.execute(
            select(func.count()).select_from(AuditEvent)
            .where(AuditEvent.action == "notice.acknowledge",
                   AuditEvent.entity_id == message_id)).scalar_one())


def test_opening_the_link_shows_the_notice_and_acknowledges_nothing(
        world: World, app: FastAPI) -> None:
    token, _ = new_notice(world)
    client = TestClient(app)
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = client.get(f"/notices/ack/{token}")
        assert page.status_code == 200
        assert SUBJECT in page.text
        assert f'action="/notices/ack/{token}"' in page.text
        assert "I have read this notice" in page.text
    assert acknowledged_at(world, token) is None
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_the_button_acknowledges_once_and_pressing_it_again_is_fine(
        world: World, app: FastAPI) -> None:
    token, message_id = new_notice(world)
    client = TestClient(app)
    before = datetime.now(UTC)
    first = client.post(f"/notices/ack/{token}")
    assert first.status_code == 200
    assert "your acknowledgement was recorded" in first.text
    recorded = acknowledged_at(world, token)
    assert recorded is not None
    assert recorded.replace(tzinfo=UTC) >= before.replace(microsecond=0)

    second = client.post(f"/notices/ack/{token}")
    assert second.status_code == 200
    assert "already acknowledged on" in second.text
    assert acknowledged_at(world, token) == recorded
    assert audit_events(world, message_id) == 1

    later = client.get(f"/notices/ack/{token}")
    assert "already acknowledged on" in later.text
    assert "I have read this notice" not in later.text


def test_an_unknown_link_is_a_not_found_page(app: FastAPI) -> None:
    client = TestClient(app)
    for reply in (client.get(f"/notices/ack/{new_ack_token()}"),
                  client.post(f"/notices/ack/{new_ack_token()}"),
                  client.get("/notices/ack/not-a-token")):
        assert reply.status_code == 404
        assert "text/html" in reply.headers["content-type"]
        assert "no notice has this acknowledgement link" in reply.text


def test_a_signed_in_browser_acknowledges_with_its_csrf_token(
        world: World, app: FastAPI) -> None:
    token, _ = new_notice(world)
    client = log_in(app, "pat-patient")
    forged = client.post(f"/notices/ack/{token}")
    assert forged.status_code == 403
    assert acknowledged_at(world, token) is None
    page = client.get(f"/notices/ack/{token}")
    assert 'name="csrf_token"' in page.text
    done = client.post(f"/notices/ack/{token}", data={"csrf_token": csrf_of(client)})
    assert done.status_code == 200
    assert acknowledged_at(world, token) is not None
