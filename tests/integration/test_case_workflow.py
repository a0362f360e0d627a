"""Case intake and processing on a real database: versions, idempotency, clocks,
inboxes, the workflow with its review lock, de-identification and line listings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from medsafe.cases import listing, service
from medsafe.cases.model import CaseReport, Drug
from medsafe.errors import Conflict, Forbidden, InvalidTransition, NotFound
from medsafe.security.principal import Principal
from tests.support.case_builder import case_report, reaction
from tests.support.databases import KINDS
from tests.support.world import World, world_on

TODAY = date(2026, 10, 10)


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per database for the module: each test uses worldwide ids of its own and
    looks only at its own cases in the shared inboxes."""
    with world_on(request.param, tmp_path_factory.mktemp("cases")) as built:
        yield built


def report(world: World, who: str, case: CaseReport) -> service.CaseSummary:
    with world.container.uow() as uow:
        return service.report_case(uow, world.principals[who], world.container.catalog,
                                   case)


def read(world: World, who: str, reference: str | int) -> service.CaseDetail:
    with world.container.uow() as uow:
        return service.read_case(uow, world.principals[who], world.container.catalog,
                                 reference)


def step(world: World, who: str | Principal, case_id: int, name: str) -> service.CaseSummary:
    principal = world.principals[who] if isinstance(who, str) else who
    with world.container.uow() as uow:
        return service.advance(uow, principal, case_id, name, reason="test")


def queue(world: World, who: str, name: str, prefix: str = "US-TEST-") -> list[str]:
    """The worldwide ids in an inbox that start with `prefix`, in inbox order."""
    with world.container.uow() as uow:
        cases, _ = service.list_cases(uow, world.principals[who], queue=name, today=TODAY,
                                      limit=200)
    return [c.worldwide_id for c in cases if c.worldwide_id.startswith(prefix)]


def test_serious_unexpected_case_is_due_fifteen_calendar_days_after_day_zero(
        world: World) -> None:
    case = report(world, "dora-physician", case_report())
    assert case.valid
    assert case.serious
    assert case.expedited
    assert case.day_zero == date(2026, 10, 5)
    assert case.due_on == date(2026, 10, 20)
    assert case.status == "triage"


def test_listed_side_effect_of_a_known_drug_is_expected_and_needs_no_expedited_report(
        world: World) -> None:
    # Somnolence is listed on the baclofen label the knowledge base cites.
    case = report(world, "dora-physician",
                  case_report("US-TEST-EXP", reactions=(reaction("Somnolence"),)))
    assert case.serious
    assert not case.expedited
    assert case.due_on is None
    detail = read(world, "alice-admin", case.id)
    assert [e.expected for e in detail.expectedness] == [True]


def test_a_product_the_knowledge_base_does_not_know_is_unexpected(world: World) -> None:
    case = report(world, "dora-physician", case_report(
        "US-TEST-UNK", product="Zyxoflamab", reactions=(reaction("Somnolence"),)))
    assert case.expedited
    detail = read(world, "alice-admin", case.id)
    assert detail.expectedness[0].expected is False
    assert "not in the knowledge base" in detail.expectedness[0].why


def test_invalid_case_lists_every_missing_minimum_criterion(world: World) -> None:
    empty = case_report("US-TEST-INV").model_copy(update={
        "primary_sources": (), "drugs": (), "reactions": (),
        "patient": case_report().patient.model_copy(
            update={"initials": None, "age": None, "age_unit": None, "sex": None,
                    "birth_date": None})})
    case = report(world, "dora-physician", empty)
    assert not case.valid
    assert len(case.invalid_reasons) == 4
    assert "US-TEST-INV" in queue(world, "alice-admin", "invalid")
    step(world, "alice-admin", case.id, "accept")
    with pytest.raises(InvalidTransition, match="invalid case"):
        step(world, "alice-admin", case.id, "start_review")


def test_same_report_twice_is_one_case_and_one_version(world: World) -> None:
    first = report(world, "dora-physician", case_report("US-TEST-TWICE"))
    again = report(world, "dora-physician", case_report("US-TEST-TWICE"))
    assert again.id == first.id
    assert again.version == 1
    assert len(read(world, "alice-admin", first.id).versions) == 1


def test_follow_up_with_same_worldwide_id_makes_a_new_version_and_keeps_history(
        world: World) -> None:
    first = report(world, "dora-physician", case_report("US-TEST-FU"))
    follow_up = case_report("US-TEST-FU", latest=date(2026, 10, 12),
                            reactions=(reaction("Seizure"),
                                       reaction("Pyrexia", key="r2")))
    second = report(world, "dora-physician", follow_up)
    assert second.id == first.id
    assert second.version == 2
    detail = read(world, "alice-admin", first.id)
    assert [v.kind for v in detail.versions] == ["initial", "follow_up"]
    assert detail.versions[1].significant
    assert detail.versions[1].changes == ["new reaction: Pyrexia"]
    # The significant follow-up has its own 15 days from its date of latest information.
    assert second.day_zero == date(2026, 10, 12)
    assert second.due_on == date(2026, 10, 27)
    with world.container.uow() as uow:
        old = service.read_version(uow, world.principals["alice-admin"], first.id, 1)
    assert [r.term for r in old.reactions] == ["Seizure"]


def test_follow_up_without_significant_news_keeps_the_running_clock(world: World) -> None:
    first = report(world, "dora-physician", case_report("US-TEST-MINOR"))
    second = report(world, "dora-physician", case_report(
        "US-TEST-MINOR", latest=date(2026, 10, 8), narrative="Spelling corrected."))
    assert second.version == 2
    assert second.due_on == first.due_on


def test_report_older_than_the_version_held_is_a_conflict_naming_both_dates(
        world: World) -> None:
    report(world, "dora-physician", case_report("US-TEST-OLD", latest=date(2026, 10, 9)))
    with pytest.raises(Conflict, match=r"2026-10-06.*2026-10-09"):
        report(world, "dora-physician", case_report(
            "US-TEST-OLD", latest=date(2026, 10, 6), narrative="older"))


def test_nullification_retracts_the_case_from_every_open_queue(world: World) -> None:
    case = report(world, "dora-physician", case_report("US-TEST-NULL"))
    assert case.due_on is not None
    nullified = report(world, "dora-physician", case_report(
        "US-TEST-NULL", latest=date(2026, 10, 7), nullification="nullified",
        nullification_reason="sent in error"))
    assert nullified.nullified
    assert nullified.due_on is None
    assert nullified.version == 2
    for name in ("new", "serious", "due_soon", "overdue"):
        assert "US-TEST-NULL" not in queue(world, "alice-admin", name)


def test_inbox_queues_sort_cases_by_due_day(world: World) -> None:
    before = _triage_load(world)
    report(world, "dora-physician", case_report("US-Q-LATE", received=date(2026, 9, 1)))
    report(world, "dora-physician", case_report("US-Q-SOON", received=date(2026, 9, 28)))
    assert queue(world, "alice-admin", "overdue", "US-Q-") == ["US-Q-LATE"]
    assert queue(world, "alice-admin", "due_soon", "US-Q-") == ["US-Q-SOON"]
    assert queue(world, "alice-admin", "new", "US-Q-") == ["US-Q-LATE", "US-Q-SOON"]
    cases, due_soon, overdue = _triage_load(world)
    assert (cases - before[0], due_soon - before[1], overdue - before[2]) == (2, 1, 1)


def _triage_load(world: World) -> tuple[int, int, int]:
    with world.container.uow() as uow:
        load = service.workload(uow, world.principals["alice-admin"], TODAY)
    found = [(w.cases, w.due_soon, w.overdue) for w in load if w.status == "triage"]
    return found[0] if found else (0, 0, 0)


def test_case_is_locked_while_under_medical_review(world: World) -> None:
    case = report(world, "dora-physician", case_report("US-TEST-LOCK"))
    step(world, "alice-admin", case.id, "accept")
    step(world, "alice-admin", case.id, "start_review")
    with world.container.uow() as uow, pytest.raises(Conflict, match="locked"):
        service.correct(uow, world.principals["alice-admin"], world.container.catalog,
                        case.id, case_report("US-TEST-LOCK", narrative="edit"),
                        reason="typo")
    # A follow-up is never refused: it is stored and flagged for the reviewer.
    follow_up = report(world, "dora-physician", case_report(
        "US-TEST-LOCK", latest=date(2026, 10, 9), reactions=(
            reaction("Seizure"), reaction("Coma", key="r2"))))
    assert follow_up.status == "medical_review"
    assert follow_up.follow_up_pending
    assert read(world, "alice-admin", case.id).locked_by == "alice-admin"
    step(world, "alice-admin", case.id, "approve")
    submitted = step(world, "alice-admin", case.id, "submit")
    assert submitted.status == "submitted"
    assert not submitted.follow_up_pending


def test_illegal_step_names_the_state_and_the_step(world: World) -> None:
    case = report(world, "dora-physician", case_report("US-TEST-STEP"))
    with pytest.raises(InvalidTransition, match="cannot approve a case in triage"):
        step(world, "alice-admin", case.id, "approve")
    with pytest.raises(InvalidTransition, match="not a case step"):
        step(world, "alice-admin", case.id, "teleport")


def test_only_the_safety_team_processes_cases(world: World) -> None:
    case = report(world, "dora-physician", case_report("US-TEST-ROLE"))
    for who in ("dora-physician", "rita-regulator", "pat-patient", "phil-pharmacist"):
        with pytest.raises(Forbidden):
            step(world, who, case.id, "accept")


def test_manufacturer_sees_only_de_identified_cases_about_its_own_products(
        world: World) -> None:
    mine = report(world, "dora-physician", case_report(
        "US-TEST-MO", product_id=world.ids["mo_product"], lots=("MO-001",)))
    theirs = report(world, "dora-physician", case_report(
        "US-TEST-ACME", product="Tizanidine 10 mg", product_id=world.ids["acme_product"],
        lots=("ACME-001",)))
    detail = read(world, "mo-manufacturer", mine.id)
    assert detail.de_identified
    assert detail.report.patient.initials is None
    assert detail.report.patient.birth_date is None
    assert detail.report.patient.age == 54  # age and sex stay for the safety review
    assert all(s.given_name is None for s in detail.report.primary_sources)
    assert "JD" not in (detail.report.narrative or "")
    with pytest.raises(NotFound):
        read(world, "mo-manufacturer", theirs.id)
    assert "US-TEST-MO" in queue(world, "mo-manufacturer", "all")
    assert "US-TEST-ACME" not in queue(world, "mo-manufacturer", "all")
    # The lot number on the case is linked to medsafe's own lot.
    with world.container.uow() as uow:
        lots = [(d.lot_number, d.lot_id) for d in uow.cases.drugs(mine.id)
                if d.role == "suspect"]
    assert lots == [("MO-001", world.ids["mo_lot"])]
    # The reporting physician sees the full case.
    assert read(world, "dora-physician", mine.id).report.patient.initials == "JD"


def test_patient_reports_only_about_themself_and_reads_only_own_cases(world: World) -> None:
    mine = report(world, "pat-patient", case_report("US-TEST-PAT"))
    assert read(world, "pat-patient", mine.id).report.patient.initials == "JD"
    other = report(world, "dora-physician", case_report("US-TEST-NOTPAT"))
    with pytest.raises(NotFound):
        read(world, "pat-patient", other.id)


def test_line_listing_lists_cases_about_an_ingredient_in_a_period(world: World) -> None:
    # A period of its own (2025), so the module's other cases stay out of it.
    report(world, "dora-physician", case_report("US-TEST-LL1", received=date(2025, 9, 2)))
    report(world, "dora-physician", case_report("US-TEST-LL2", received=date(2025, 10, 2)))
    report(world, "dora-physician", case_report(
        "US-TEST-LL3", received=date(2025, 9, 3), product="Zyxoflamab"))
    with world.container.uow() as uow:
        text = listing.line_listing(uow, world.principals["rita-regulator"],
                                    start=date(2025, 9, 1), end=date(2025, 9, 30),
                                    ingredient_id="baclofen")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["worldwide_id"] for r in rows] == ["US-TEST-LL1"]
    assert rows[0]["suspect_drugs"] == "Baclofen 10 mg"
    assert rows[0]["lots"] == "LOT-1"
    assert rows[0]["serious"] == "yes"
    assert rows[0]["criteria"] == "hospitalisation"
    assert rows[0]["age"] == "54"
    assert rows[0]["sex"] == "female"


def test_every_case_step_is_audited_with_author_and_reason(world: World) -> None:
    case = report(world, "dora-physician", case_report("US-TEST-AUD"))
    step(world, "alice-admin", case.id, "accept")
    with world.container.uow() as uow:
        from medsafe.records import list_audit_events
        events, _ = list_audit_events(uow, world.principals["alice-admin"], entity="case",
                                      entity_id=str(case.id))
    assert [(e.action, e.actor, e.reason) for e in reversed(events)] == [
        ("case.initial", "dora-physician", None), ("case.accept", "alice-admin", "test")]


def test_recognised_drug_names_link_the_case_to_the_knowledge_base(world: World) -> None:
    case = report(world, "dora-physician", case_report("US-TEST-RX").model_copy(update={
        "drugs": (Drug(id="d1", role="suspect", product_name="LIORESAL INTRATHECAL",
                       substances=("BACLOFEN",)),)}))
    with world.container.uow() as uow:
        assert [d.ingredient_id for d in uow.cases.drugs(case.id)] == ["baclofen"]
    assert case.due_on == date(2026, 10, 5) + timedelta(days=15)


def test_a_report_for_someone_elses_case_is_refused_and_nothing_is_written(
        world: World) -> None:
    theirs = report(world, "dora-physician", case_report("US-TEST-THEIRS"))
    with pytest.raises(NotFound):
        report(world, "pat-patient", case_report(
            "US-TEST-THEIRS", latest=date(2026, 10, 9), narrative="not mine to change"))
    assert [v.version for v in read(world, "alice-admin", theirs.id).versions] == [1]
