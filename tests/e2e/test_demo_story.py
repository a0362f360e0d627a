"""`medsafe demo --no-serve` as a person runs it, twice on one folder (a small population):
the story's investigation and recall told through the services by the demo accounts,
FDA's real recalls imported and matched against the population, nothing repeated the
second time; and the demo's mail catcher keeping what the dispatcher sends over real SMTP,
listed at /demo/mail for administrators."""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Select, func, select
from typer.testing import CliRunner

from medsafe.api.app import create_app
from medsafe.bootstrap import Container, bootstrap
from medsafe.cli import app
from medsafe.config import load_settings
from medsafe.errors import Invalid
from medsafe.notify.channels import channels_from
from medsafe.notify.dispatcher import Dispatcher
from medsafe.notify.mail_catcher import DEFAULT_PORT, HOST, Inbox, MailCatcher, start_catcher
from medsafe.notify.message import Notice
from medsafe.population.demo import DEMO_PASSWORD, STORY_REACTION
from medsafe.population.generator import STORY_SPASTICITY_PER_LOT
from medsafe.population.real_recalls import ENFORCEMENT, real_recall_reach
from medsafe.recalls import investigation_service as investigations
from medsafe.recalls import service as recalls
from medsafe.security.accounts import principal_of
from medsafe.security.principal import Principal
from medsafe.store.repositories.recalls import MEDSAFE, OPENFDA
from medsafe.store.schema import (
    AuditEvent,
    CaseDrug,
    CaseReaction,
    InvestigationRow,
    RecallRow,
    RecallStep,
    User,
)
from tests.support.mail_server import free_port
from tests.support.web_client import log_in

ROOT = Path(__file__).resolve().parents[2]
RECALLED_LOTS = ROOT / "data" / "recalled-lots" / "recalled-lots.json"
runner = CliRunner()


@dataclass(frozen=True)
class Demo:
    folder: Path
    first: str  # what the first run printed
    second: str  # and the second
    container: Container

    def principal(self, username: str) -> Principal:
        with self.container.uow() as uow:
            return principal_of(uow.session.execute(
                select(User).where(User.username == username)).scalar_one())

    def count(self, query: Select[int]) -> int:
        with self.container.uow() as uow:
            return int(uow.session.execute(query).scalar_one())


def run_demo(folder: Path) -> str:
    result = runner.invoke(app, ["demo", "--data-dir", str(folder), "--patients", "300",
                                 "--no-serve", "--mail-port", str(free_port())])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo-story") / "demo"
    first = run_demo(folder)
    second = run_demo(folder)
    container = bootstrap(load_settings(
        data_dir=folder, cookie_secure=False,
        database_url=f"sqlite:///{(folder / 'medsafe.sqlite3').resolve()}"))
    try:
        yield Demo(folder, first, second, container)
    finally:
        container.engine.dispose()


def story_investigation(demo: Demo) -> investigations.InvestigationView:
    rita = demo.principal("rita-regulator")
    with demo.container.uow() as uow:
        found, total = investigations.list_investigations(uow, rita)
        assert total == 1
        return investigations.read_investigation(uow, rita, found[0].id)


def test_the_story_investigation_has_its_committee_votes_and_the_conflicted_member_did_not_vote(
        demo: Demo) -> None:
    investigation = story_investigation(demo)
    assert investigation.state == "decided"
    assert investigation.opened_by == "mo-manufacturer"
    assert len(investigation.lots) == 2
    assert set(investigation.origin.lots) == set(investigation.lots)
    # Detection by lot flagged both lots at this size: the investigation opens from the
    # signal, and its analysis holds both lots' signals and the run.
    assert investigation.origin.kind == "signal"
    assert len(investigation.analysis.signal_ids) == 2
    assert len(investigation.analysis.run_ids) == 1
    # The cluster: cases of the story's reaction, at least four on each lot (the
    # generator's promise).
    cluster = [int(i) for i in investigation.analysis.case_ids]
    with demo.container.uow() as uow:
        reported = uow.session.execute(
            select(CaseDrug.lot_number, func.count(CaseDrug.case_id.distinct()))
            .join(CaseReaction, CaseReaction.case_id == CaseDrug.case_id)
            .where(CaseDrug.case_id.in_(cluster), CaseReaction.term == STORY_REACTION)
            .group_by(CaseDrug.lot_number)).all()
    assert sum(count for _, count in reported) == len(cluster)
    assert {lot for lot, _ in reported} == set(investigation.lots)
    assert min(count for _, count in reported) >= STORY_SPASTICITY_PER_LOT
    assert {t.lot for t in investigation.lot_tests} == set(investigation.lots)
    assert all("SYNTHETIC" in t.test and not t.passed for t in investigation.lot_tests)
    assert investigation.hazard is not None
    assert investigation.hazard.proposed_class == "II"
    assert investigation.benefit_risk is not None
    committee = investigation.committee
    assert committee is not None
    assert len(committee.members) == 3
    barred = [m for m in committee.members if not m.may_vote]
    assert len(barred) == 1
    assert barred[0].conflicts
    voters = {v.member for v in committee.votes}
    assert barred[0].name not in voters
    assert voters == {m.name for m in committee.members if m.may_vote}
    assert len(committee.votes) == len(voters) * len(committee.questions)
    assert set(committee.outcomes.values()) == {"yes"}
    assert committee.recommendation is not None
    assert investigation.decision is not None
    assert investigation.decision.kind == "recall"
    assert investigation.decision.proposed_class == "II"
    authors = {step.action: step.by for step in investigation.history}
    assert authors["open"] == authors["decide"] == "mo-manufacturer"
    assert authors["refer_to_committee"] == authors["recommend"] == "rita-regulator"


def test_the_story_recall_of_the_two_lots_is_class_ii_published_and_notifying(
        demo: Demo) -> None:
    investigation = story_investigation(demo)
    assert investigation.recall_id is not None
    with demo.container.uow() as uow:
        detail = recalls.read_recall(uow, demo.principal("pat-patient"),
                                     investigation.recall_id)
    assert detail.summary.classification == "II"
    assert detail.summary.state == "notifying"
    assert detail.summary.depth == "consumer"
    assert detail.record.public_warning == "general"
    assert detail.record.effectiveness_check == "B"
    assert {lot.number for p in detail.record.products for lot in p.lots} \
        == set(investigation.lots)
    steps = [(s.transition, s.role, s.by) for s in detail.history]
    assert steps == [
        ("create", "firm", "mo-manufacturer"), ("triage", "firm", "mo-manufacturer"),
        ("initiate", "firm", "mo-manufacturer"),
        ("classify", "regulator", "rita-regulator"),
        ("set_strategy", "firm", "mo-manufacturer"),
        ("publish", "regulator", "rita-regulator"),
        ("start_notifying", "firm", "mo-manufacturer")]


def test_fdas_real_recalls_are_imported_and_some_reach_the_population(demo: Demo) -> None:
    if not ENFORCEMENT.exists():
        pytest.skip(f"needs FDA's enforcement report at {ENFORCEMENT}")
    loaded = re.search(r"([\d,]+) recalls loaded", demo.first)
    assert loaded is not None, demo.first
    held = demo.count(select(func.count()).select_from(RecallRow)
                      .where(RecallRow.source == OPENFDA))
    assert held == int(loaded.group(1).replace(",", "")) > 12_000
    reach = real_recall_reach(demo.container.uow)
    assert reach.matched > 0
    assert reach.reaching_patients > 0
    assert reach.total.patients > 0
    # The population carries the real lots of data/recalled-lots: the recalls that reach
    # its patients are among those.
    carried = {r["recall_number"] for r in json.loads(RECALLED_LOTS.read_text())["products"]}
    assert set(reach.numbers) <= carried
    assert f"{reach.total.patients:,} patients" in demo.first


def test_a_second_run_repeats_nothing(demo: Demo) -> None:
    assert "told already: nothing repeated" in demo.second
    assert "recalls already held" in demo.second
    assert demo.count(select(func.count()).select_from(InvestigationRow)) == 1
    assert demo.count(select(func.count()).select_from(RecallRow)
                      .where(RecallRow.source == MEDSAFE)) == 1
    transitions = demo.count(select(func.count(RecallStep.transition.distinct())))
    assert demo.count(select(func.count()).select_from(RecallStep)) == transitions
    votes = demo.count(select(func.count()).select_from(AuditEvent)
                       .where(AuditEvent.action == "investigation.vote"))
    committee = story_investigation(demo).committee
    assert committee is not None
    assert votes == len(committee.votes)


def test_the_demo_says_how_many_notices_it_delivered_to_how_many_recipients(
        demo: Demo) -> None:
    for output in (demo.first, demo.second):
        assert re.search(r"mail: [\d,]+ notices delivered now over SMTP to the demo's mail "
                         r"catcher on 127\.0\.0\.1:\d+; its inbox .* holds [\d,]+ messages "
                         r"to [\d,]+ recipients", output), output


@dataclass(frozen=True)
class Sent:
    notice: Notice
    message_id: str
    delivered: int


@pytest.fixture(scope="module")
def sent(demo: Demo) -> Sent:
    """One notice written to the demo's outbox, and the dispatcher run once against a mail
    catcher on the demo's inbox (real SMTP on 127.0.0.1)."""
    notice = Notice(channel="email", recipient="pharmacy-7@example.org",
                    subject="URGENT: DRUG RECALL (test notice)",
                    body_text="A test notice from the demo's dispatcher.", topic="test:mail",
                    audience="pharmacy")
    with demo.container.uow() as uow:
        message_id = uow.outbox.add(notice).message_id
        uow.commit()
    with MailCatcher(Inbox.of(demo.folder), free_port()) as catcher:
        settings = load_settings(database_url=demo.container.settings.database_url,
                                 smtp_host="127.0.0.1", smtp_port=catcher.port)
        tally = Dispatcher(demo.container.uow, lambda: channels_from(settings)).run(once=True)
    return Sent(notice, message_id, tally.delivered)


def test_the_mail_catcher_keeps_what_the_dispatcher_sends_over_smtp(demo: Demo,
                                                                    sent: Sent) -> None:
    inbox = Inbox.of(demo.folder)
    assert sent.delivered >= 1
    assert inbox.message_ids().count(sent.message_id) == 1
    [kept] = [m for m in inbox.messages() if m.message_id == sent.message_id]
    assert (kept.to, kept.subject) == (sent.notice.recipient, sent.notice.subject)
    assert sent.notice.body_text in kept.text
    assert inbox.recipients()[sent.notice.recipient] == 1


def test_the_demo_mail_page_lists_the_inbox_for_administrators_only(demo: Demo,
                                                                    sent: Sent) -> None:
    inbox = Inbox.of(demo.folder)
    web = create_app(demo.container)
    page = log_in(web, "alice-admin", DEMO_PASSWORD).get("/demo/mail")
    assert page.status_code == 200
    assert sent.message_id.strip("<>") in page.text
    assert sent.notice.subject in page.text
    assert f"{inbox.count():,} messages received" in page.text
    assert log_in(web, "phil-pharmacist", DEMO_PASSWORD).get("/demo/mail").status_code == 403


def test_the_demo_mail_page_is_not_found_outside_a_demo_folder(demo: Demo,
                                                                tmp_path: Path) -> None:
    elsewhere = bootstrap(load_settings(data_dir=tmp_path, cookie_secure=False,
                                        database_url=demo.container.settings.database_url))
    try:
        page = log_in(create_app(elsewhere), "alice-admin", DEMO_PASSWORD).get("/demo/mail")
    finally:
        elsewhere.engine.dispose()
    assert page.status_code == 404


def test_the_mail_catcher_refuses_a_taken_port_and_by_default_finds_a_free_one(
        tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "mail")
    with MailCatcher(inbox, free_port()) as first, pytest.raises(Invalid, match="is in use"):
        MailCatcher(inbox, first.port).start()
    with socket.socket() as holder:
        # SO_REUSEADDR as the catcher's own server sets it: without it this bind fails while
        # an earlier test's connection to the port lingers in TIME_WAIT, nothing listens,
        # and the catcher rightly takes the port.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # taken already: by another program, as wanted
            holder.bind((HOST, DEFAULT_PORT))
            holder.listen()
        catcher = start_catcher(inbox)
        try:
            assert catcher.port != DEFAULT_PORT
        finally:
            catcher.stop()


def test_the_demo_accepts_unsigned_cds_calls_on_loopback_only_and_says_so(
        demo: Demo, tmp_path: Path) -> None:
    from medsafe.cli.population import _demo_settings

    assert "unsigned calls are accepted for this demo on 127.0.0.1 only" in demo.first
    settings = load_settings(**{**_demo_settings(tmp_path, 8000, 1025), "data_dir": tmp_path})
    assert settings.cds_allow_unsigned
    assert settings.host == "127.0.0.1"
    with pytest.raises(Invalid, match="MEDSAFE_CDS_ALLOW_UNSIGNED"):
        load_settings(**{**_demo_settings(tmp_path, 8000, 1025), "data_dir": tmp_path,
                         "host": "0.0.0.0"})
