"""The duplicate-review pages over HTTP, on SQLite and PostgreSQL: the admin sees a
suggested pair side by side with its evidence in words, confirms it with a reason and the
less complete case then says it was merged; a decision needs a reason; the search button
stores new pairs and says how many; only the safety team reviews, only with the CSRF
token, and a manufacturer sees only pairs of cases it may see.

One world per database kind for the whole module; each test reports its own cases, under
its own worldwide ids, and stores its own pairs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medsafe.cases import service
from medsafe.cases.model import CaseReport
from medsafe.store.schema import CaseDuplicate
from tests.support.case_builder import case_report, reaction
from tests.support.web_client import csrf_of, log_in
from tests.support.world import World

LIST = "/cases/duplicates"
EVIDENCE = {"age": 2.0, "sex": -3.2, "onset": 0.0, "drugs": 4.5, "reactions": 3.1,
            "dates": 0.0, "country": 0.4, "externally_indicated": 0.0}






def report(world: World, case: CaseReport) -> int:
    with world.container.uow() as uow:
        return service.report_case(uow, world.principals["dora-physician"],
                                   world.container.catalog, case).id


def original_and_copy(world: World, prefix: str, **changes: Any) -> tuple[int, int]:
    """A complete case and a later, less complete re-report of it (no lot, no
    narrative), so confirming the pair keeps the first and merges the copy."""
    original = report(world, case_report(f"US-DUPWEB-{prefix}", **changes))
    less: dict[str, Any] = {**changes, "lots": (), "narrative": None}
    copy = report(world, case_report(f"US-DUPWEB-{prefix}-COPY", received=date(2026, 10, 7),
                                     **less))
    return original, copy


def suggest(world: World, first: int, second: int, *, score: float = 9.9,
            evidence: Mapping[str, float] = EVIDENCE) -> int:
    """Store a suggested pair as the search would (lower case id first)."""
    low, high = sorted((first, second))
    with world.container.uow() as uow:
        pair = uow.cases.add(CaseDuplicate(case_id=low, other_case_id=high, score=score,
                                           evidence=json.dumps(dict(evidence)),
                                           status="suggested"))
        uow.commit()
        return pair.id


def pair_section(page: str, pair_id: int) -> str:
    """The part of the list showing this pair."""
    at = page.index(f'data-pair="{pair_id}"')
    return page[page.rindex("<section", 0, at):page.index("</section>", at)]


def decide(client: TestClient, pair_id: int, decision: str, reason: str,
           csrf: str | None = None) -> int:
    reply = client.post(f"{LIST}/{pair_id}/decision", follow_redirects=False,
                        data={"csrf_token": csrf_of(client) if csrf is None else csrf,
                              "decision": decision, "reason": reason})
    if reply.status_code == 303:
        assert reply.headers["location"] == LIST
    return reply.status_code


# -- reviewing -----------------------------------------------------------------------------

def test_the_admin_sees_a_suggested_pair_side_by_side_with_its_evidence_in_words(
        world: World, app: FastAPI) -> None:
    original, copy = original_and_copy(world, "SEE")
    pair = suggest(world, original, copy)
    admin = log_in(app, "alice-admin")
    page = admin.get(LIST)
    assert page.status_code == 200
    shown = pair_section(page.text, pair)
    assert f'href="/cases/{original}">US-DUPWEB-SEE<' in shown
    assert f'href="/cases/{copy}">US-DUPWEB-SEE-COPY<' in shown
    assert "score 9.9" in shown
    assert ('<th scope="row">Received</th><td>2026-10-05</td><td>2026-10-07</td>'
            in shown)  # side by side
    assert ('<th scope="row">Suspect</th><td>Baclofen 10 mg</td><td>Baclofen 10 mg</td>'
            in shown)
    assert '<th scope="row">First reaction</th><td>Seizure</td>' in shown
    assert "<li>age: agrees (+2.0)</li>" in shown
    assert "<li>sex: differs (\u22123.2)</li>" in shown
    assert "<li>onset date: not compared/missing</li>" in shown
    assert "<li>drugs: agrees (+4.5)</li>" in shown
    assert f'action="{LIST}/{pair}/decision"' in shown
    for status in ("suggested", "confirmed", "rejected"):
        assert f'href="{LIST}?status={status}"' in page.text
    assert admin.get(LIST, params={"status": "nonsense"}).status_code == 422


def test_confirming_a_pair_with_a_reason_merges_the_less_complete_case(
        world: World, app: FastAPI) -> None:
    original, copy = original_and_copy(world, "MERGE")
    pair = suggest(world, original, copy)
    admin = log_in(app, "alice-admin")
    assert decide(admin, pair, "confirm", "same patient, same seizure") == 303
    assert f'data-pair="{pair}"' not in admin.get(LIST).text
    confirmed = admin.get(LIST, params={"status": "confirmed"}).text
    assert f"merged into case {original}" in pair_section(confirmed, pair)
    merged = admin.get(f"/cases/{copy}").text
    assert f'Merged into <a href="/cases/{original}">case {original}</a>' in merged
    assert "Merged into" not in admin.get(f"/cases/{original}").text
    assert decide(admin, pair, "reject", "changed my mind") == 409  # decided already


def test_a_decision_needs_a_reason_and_rejecting_merges_nothing(
        world: World, app: FastAPI) -> None:
    original, copy = original_and_copy(world, "REJECT")
    pair = suggest(world, original, copy)
    admin = log_in(app, "alice-admin")
    refused = admin.post(f"{LIST}/{pair}/decision", data={
        "csrf_token": csrf_of(admin), "decision": "reject", "reason": "   "})
    assert refused.status_code == 422
    assert 'class="alert alert-error"' in refused.text
    assert f"Pair {pair}: give the reason for your decision" in refused.text
    assert f'action="{LIST}/{pair}/decision"' in pair_section(refused.text, pair)
    assert f'data-pair="{pair}"' not in admin.get(LIST, params={"status": "rejected"}).text
    assert decide(admin, pair, "reject", "twins, born the same day") == 303
    assert f'data-pair="{pair}"' in admin.get(LIST, params={"status": "rejected"}).text
    assert f'data-pair="{pair}"' not in admin.get(LIST).text
    for case in (original, copy):
        assert "Merged into" not in admin.get(f"/cases/{case}").text


def test_the_search_button_stores_new_pairs_and_says_how_many(
        world: World, app: FastAPI) -> None:
    # A rare drug and reaction, and the copy naming the original's id as one it had
    # elsewhere (E2B C.1.9.1.r.2): a pair any threshold flags.
    rare: dict[str, Any] = {"product": "Zyxoflamab 5 mg",
                            "reactions": (reaction("Agranulocytosis"),)}
    original = report(world, case_report("US-DUPWEB-FIND", **rare))
    copy = report(world, case_report("EU-DUPWEB-FIND", other_case_ids=("US-DUPWEB-FIND",),
                                     **rare))
    admin = log_in(app, "alice-admin")
    searched = admin.post(f"{LIST}/search", data={"csrf_token": csrf_of(admin)},
                          follow_redirects=False)
    assert searched.status_code == 303
    found = re.fullmatch(r"/cases/duplicates\?found=(\d+)", searched.headers["location"])
    assert found is not None
    new = int(found.group(1))
    assert new >= 1
    page = admin.get(searched.headers["location"]).text
    assert f"{new} new probable pair" in page
    assert re.search(rf'href="/cases/{original}">US-DUPWEB-FIND<.*?'
                     rf'href="/cases/{copy}">EU-DUPWEB-FIND<', page, re.DOTALL)
    again = admin.post(f"{LIST}/search", data={"csrf_token": csrf_of(admin)})
    assert "no new probable pairs" in again.text  # a pair is never suggested twice


# -- who may ------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["dora-physician", "rita-regulator"])
def test_roles_outside_the_safety_team_get_403_and_no_link(
        world: World, app: FastAPI, username: str) -> None:
    original, copy = original_and_copy(world, f"ROLE-{username.upper()}")
    pair = suggest(world, original, copy)
    someone = log_in(app, username)
    assert someone.get(LIST).status_code == 403
    csrf = csrf_of(someone)
    assert someone.post(f"{LIST}/search", data={"csrf_token": csrf}).status_code == 403
    assert decide(someone, pair, "confirm", "looks the same", csrf) == 403
    assert f'href="{LIST}"' not in someone.get("/cases").text
    admin = log_in(app, "alice-admin")
    assert f'href="{LIST}"' in admin.get("/cases").text
    assert f'action="{LIST}/{pair}/decision"' in pair_section(admin.get(LIST).text, pair)


def test_a_decision_or_search_without_the_csrf_token_is_refused(
        world: World, app: FastAPI) -> None:
    original, copy = original_and_copy(world, "CSRF")
    pair = suggest(world, original, copy)
    admin = log_in(app, "alice-admin")
    assert admin.post(f"{LIST}/{pair}/decision", data={"decision": "confirm",
                                                       "reason": "same"}).status_code == 403
    assert decide(admin, pair, "confirm", "same", csrf="forged") == 403
    assert admin.post(f"{LIST}/search", data={}).status_code == 403
    assert f'action="{LIST}/{pair}/decision"' in pair_section(admin.get(LIST).text, pair)
    assert "Merged into" not in admin.get(f"/cases/{copy}").text


def test_the_manufacturer_sees_only_pairs_of_cases_it_may_see(
        world: World, app: FastAPI) -> None:
    mo: dict[str, Any] = {"product_id": world.ids["mo_product"]}
    acme: dict[str, Any] = {"product": "Tizanidine 10 mg", "product_id": world.ids["acme_product"],
            "lots": ("ACME-001",)}
    own = suggest(world, *original_and_copy(world, "MAKER-MO", **mo))
    others = suggest(world, *original_and_copy(world, "MAKER-ACME", **acme))
    mixed = suggest(world, report(world, case_report("US-DUPWEB-MAKER-MIX-MO", **mo)),
                    report(world, case_report("US-DUPWEB-MAKER-MIX-ACME", **acme)))
    maker = log_in(app, "mo-manufacturer")
    page = maker.get(LIST)
    assert page.status_code == 200
    assert "US-DUPWEB-MAKER-MO" in pair_section(page.text, own)
    assert f'data-pair="{others}"' not in page.text
    assert f'data-pair="{mixed}"' not in page.text
    assert "US-DUPWEB-MAKER-ACME" not in page.text
    assert "US-DUPWEB-MAKER-MIX" not in page.text
    assert f'href="{LIST}"' in maker.get("/cases").text
    assert decide(maker, others, "confirm", "the same case") == 404
    admin_page = log_in(app, "alice-admin").get(LIST).text
    for pair in (own, others, mixed):
        assert f'action="{LIST}/{pair}/decision"' in pair_section(admin_page, pair)
