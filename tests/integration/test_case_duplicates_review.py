"""Probable duplicates on a real database: found, listed for a person, confirmed (merged,
master by completeness) or rejected, and never suggested twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from medsafe.cases import duplicate_review, service
from medsafe.cases.model import Drug
from medsafe.errors import Conflict, Forbidden
from medsafe.security.permissions import visible_cases
from tests.support.case_builder import case_report, reaction
from tests.support.databases import KINDS
from tests.support.world import World, world_on


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with world_on(request.param, tmp_path) as built:
        yield built


SMALL_STORE = 5.0


def _report(world: World, worldwide_id: str, **changes: Any) -> int:
    with world.container.uow() as uow:
        return service.report_case(uow, world.principals["dora-physician"],
                                   world.container.catalog,
                                   case_report(worldwide_id, **changes)).id


def _population(world: World) -> tuple[int, int]:
    """Twenty unrelated cases, and one re-reported copy of the first, slightly changed
    (age one year off, received two days later) and less complete (no lot, no
    narrative). Twenty-one cases hold little evidence per field, so the tests pass a
    threshold (SMALL_STORE) below the default for a 1% duplicate share (6.9 here)."""
    drugs = ["Baclofen 10 mg", "Tizanidine 4 mg", "Diazepam 5 mg", "Zyxoflamab"]
    terms = ["Seizure", "Somnolence", "Dizziness", "Nausea", "Rash"]
    first = 0
    for n in range(20):
        onset = f"2025-{1 + n % 12:02d}-{1 + n:02d}"
        made = _report(world, f"US-DUP-{n:03d}", received=date(2026, 1 + n % 12, 1 + n),
                       product=drugs[n % 4], reactions=(reaction(terms[n % 5], start=onset),),
                       patient=case_report().patient.model_copy(
                           update={"age": 20 + 3 * n, "initials": f"P{n}"}))
        first = first or made
    copy = _report(world, "US-DUP-COPY", received=date(2026, 1, 3), lots=(),
                   product="Baclofen 10 mg", reactions=(reaction("Seizure", start="2025-01-01"),),
                   narrative=None, patient=case_report().patient.model_copy(
                       update={"age": 21, "initials": "P0"}))
    return first, copy


def test_re_reported_copy_is_suggested_and_confirming_merges_into_the_more_complete(
        world: World) -> None:
    original, copy = _population(world)
    admin = world.principals["alice-admin"]
    with world.container.uow() as uow:
        found = duplicate_review.find_duplicates(uow, admin, threshold=SMALL_STORE)
    assert (found.cases, found.threshold) == (21, SMALL_STORE)
    with world.container.uow() as uow:
        pairs = duplicate_review.list_duplicates(uow, admin)
    assert [{p.case.id, p.other.id} for p in pairs][:1] == [{original, copy}]
    assert pairs[0].evidence["drugs"] > 0
    with world.container.uow() as uow:
        decided = duplicate_review.decide(uow, admin, world.container.catalog, pairs[0].id,
                                          confirm=True, reason="same patient, same event")
    assert decided.status == "confirmed"
    with world.container.uow() as uow:
        master = service.read_case(uow, admin, world.container.catalog, original)
        listed = [c.id for c in service.list_cases(uow, admin, limit=200)[0]
                  if c.worldwide_id.startswith("US-DUP")]
        held = uow.cases.get(copy, visible_cases(admin))
        merged_into = held.merged_into_id if held else None
    assert "US-DUP-COPY" in master.report.other_case_ids  # the link is kept
    assert master.case.status == "triage"
    assert merged_into == original
    assert copy in listed  # still listed under "all", but out of the open queues
    with world.container.uow() as uow:
        new = [c.id for c in service.list_cases(uow, admin, queue="new", limit=200)[0]]
    assert copy not in new
    with world.container.uow() as uow, pytest.raises(Conflict, match="merged into"):
        service.advance(uow, admin, copy, "accept")
    # Searching again suggests nothing already decided.
    with world.container.uow() as uow:
        again = duplicate_review.find_duplicates(uow, admin, threshold=SMALL_STORE)
    assert again.new == 0


def test_rejected_pair_is_not_suggested_again_and_cannot_be_decided_twice(
        world: World) -> None:
    _population(world)
    admin = world.principals["alice-admin"]
    with world.container.uow() as uow:
        duplicate_review.find_duplicates(uow, admin, threshold=SMALL_STORE)
    with world.container.uow() as uow:
        pair = duplicate_review.list_duplicates(uow, admin)[0]
    with world.container.uow() as uow:
        duplicate_review.decide(uow, admin, world.container.catalog, pair.id, confirm=False,
                                reason="twins")
    with world.container.uow() as uow, pytest.raises(Conflict, match="already rejected"):
        duplicate_review.decide(uow, admin, world.container.catalog, pair.id, confirm=True,
                                reason="changed my mind")
    with world.container.uow() as uow:
        assert duplicate_review.find_duplicates(uow, admin, threshold=SMALL_STORE).new == 0
        assert duplicate_review.list_duplicates(uow, admin) == []


def test_only_the_safety_team_reviews_duplicates(world: World) -> None:
    for who in ("dora-physician", "rita-regulator", "pat-patient"):
        with world.container.uow() as uow, pytest.raises(Forbidden):
            duplicate_review.find_duplicates(uow, world.principals[who])


def test_externally_indicated_copy_is_found_even_when_its_fields_differ(
        world: World) -> None:
    original = _report(world, "US-EXT-1")
    copy = _report(world, "US-EXT-2", other_case_ids=("US-EXT-1",), received=date(2026, 3, 1),
                   drugs=(Drug(id="d1", role="suspect", product_name="Something else"),))
    with world.container.uow() as uow:
        duplicate_review.find_duplicates(uow, world.principals["alice-admin"])
    with world.container.uow() as uow:
        pairs = duplicate_review.list_duplicates(uow, world.principals["alice-admin"])
    assert [{p.case.id, p.other.id} for p in pairs] == [{original, copy}]
    assert pairs[0].evidence["externally_indicated"] > 0
