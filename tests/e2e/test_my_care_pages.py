"""The patient's own care page over HTTP, on SQLite and PostgreSQL: Pat sees the recall
notice about the lot she received and acknowledges it once; nobody else sees or
acknowledges it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import func, select

from medsafe.store.schema import AuditEvent, RecallPatientNotice
from tests.support.recalls import consumer_recall_notifying
from tests.support.web_client import csrf_of, log_in
from tests.support.world import World


@dataclass(frozen=True)
class Told:
    id: int
    state: str
    acknowledged_at: datetime | None


def pats_notice(world: World, recall_id: int) -> Told:
    with world.container.uow() as uow:
        patient_id = world.principals["pat-patient"].patient_id
        row = uow.session.execute(select(RecallPatientNotice).where(
            RecallPatientNotice.recall_id == recall_id,
            RecallPatientNotice.patient_id == patient_id)).scalar_one()
        return Told(row.id, row.state, row.acknowledged_at)


def test_a_patient_reads_her_recall_notice_and_acknowledges_it_once(
        world: World, app: FastAPI) -> None:
    recall_id = consumer_recall_notifying(world)
    notice = pats_notice(world, recall_id)
    client = log_in(app, "pat-patient")
    page = client.get("/my-care")
    assert page.status_code == 200
    assert f'id="notice-{notice.id}"' in page.text
    assert "MO-001" in page.text
    assert "I have read this notice" in page.text
    for _ in range(2):  # pressing twice records it once
        done = client.post(f"/my-care/notices/{notice.id}/acknowledge",
                           data={"csrf_token": csrf_of(client)},
                           follow_redirects=True)
        assert done.status_code == 200
        assert "You acknowledged this notice" in done.text
    stored = pats_notice(world, recall_id)
    assert stored.state == "acknowledged"
    assert stored.acknowledged_at is not None
    with world.container.uow() as uow:
        events = uow.session.execute(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "notice.acknowledge",
            AuditEvent.entity_id == str(notice.id))).scalar_one()
    assert events == 1


def test_nobody_else_acknowledges_a_patients_notice(world: World, app: FastAPI) -> None:
    recall_id = consumer_recall_notifying(world)
    notice = pats_notice(world, recall_id)
    client = log_in(app, "dora-physician")
    page = client.get("/my-care")
    assert page.status_code == 403
    refused = client.post(f"/my-care/notices/{notice.id}/acknowledge",
                          data={"csrf_token": csrf_of(client)})
    assert refused.status_code == 403
    assert pats_notice(world, recall_id).acknowledged_at is None
