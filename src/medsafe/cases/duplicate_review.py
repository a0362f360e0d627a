"""Probable duplicates, for a person to confirm (the scoring is `cases.duplicates`).

- `find_duplicates` scores the current version of every open case the caller may see
  (nullified and merged cases are left out), and stores each pair at or above the
  threshold as `suggested`; a pair already decided is never suggested again.
- `decide` confirms or rejects a pair. Confirming merges it: the more complete report
  (vigiGrade completeness, `choose_master`) stays the case, and gets a version that lists
  the other's ids among its other case ids (C.1.9.1.r.2); the other case is marked
  merged into it and leaves every queue and every statistic. Its versions are kept.

The threshold defaults to the score at which a pair is as likely duplicate as not when
about 1% of the cases have one duplicate (`prior_threshold`), the evaluation's setting
(docs/duplicates-evaluation.md: recall 78% on injected VAERS copies, precision on real
pairs about a third, because related reports - twins, one clinic's session - score high).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from medsafe.cases.duplicates import (
    candidate_pairs,
    choose_master,
    fit_weights,
    merge,
    prior_threshold,
)
from medsafe.cases.intake import Receipt, store_reports
from medsafe.cases.model import CaseReport
from medsafe.cases.service import SAFETY_TEAM, CaseSummary, summary
from medsafe.errors import Conflict, NotFound
from medsafe.knowledge.catalog import Catalog
from medsafe.records import View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.permissions import visible_cases
from medsafe.security.principal import Principal
from medsafe.store.schema import Case, CaseDuplicate, CaseVersion
from medsafe.store.uow import UnitOfWork

DUPLICATE_SHARE = 0.01


class DuplicatePair(View):
    id: int
    score: float
    evidence: dict[str, float]
    status: str
    case: CaseSummary
    other: CaseSummary
    decided_at: datetime | None


class SearchResult(View):
    cases: int
    threshold: float
    found: int
    new: int


def find_duplicates(uow: UnitOfWork, principal: Principal, *,
                    threshold: float | None = None) -> SearchResult:
    """Score the open cases the caller may see and store the new probable pairs."""
    require_role(principal, SAFETY_TEAM, "search for duplicates")
    rows = uow.session.execute(
        select(Case.id, Case.worldwide_id, CaseVersion.payload)
        .join(CaseVersion, (CaseVersion.case_id == Case.id)
              & (CaseVersion.version == Case.version))
        .where(visible_cases(principal), Case.nullified.is_(False),
               Case.merged_into_id.is_(None))).all()
    ids = {row[1]: row[0] for row in rows}
    reports = [CaseReport.model_validate_json(row[2]) for row in rows]
    limit = (threshold if threshold is not None
             else prior_threshold(len(reports), DUPLICATE_SHARE * len(reports)))
    pairs = candidate_pairs(reports, fit_weights(reports), limit) if len(reports) > 1 else []
    known = uow.cases.known_pairs()
    added = 0
    for pair in pairs:
        first, second = sorted((ids[pair.a], ids[pair.b]))
        if (first, second) in known:
            continue
        uow.cases.add(CaseDuplicate(
            case_id=first, other_case_id=second, score=round(pair.total, 3),
            evidence=json.dumps({k: round(v, 3) for k, v in pair.per_field.items()}),
            status="suggested"), flush=False)
        added += 1
    audit.record(uow, principal, "cases.find_duplicates", "cases", "duplicates",
                 {"cases": len(reports), "threshold": round(limit, 3), "found": len(pairs),
                  "new": added})
    uow.commit()
    return SearchResult(cases=len(reports), threshold=round(limit, 3), found=len(pairs),
                        new=added)


def list_duplicates(uow: UnitOfWork, principal: Principal, *,
                    status: Literal["suggested", "confirmed", "rejected"] = "suggested",
                    limit: int = 50) -> list[DuplicatePair]:
    """Pairs with this status whose two cases the caller may both see, best first."""
    require_role(principal, SAFETY_TEAM, "review duplicates")
    found: list[DuplicatePair] = []
    for pair in uow.cases.duplicate_pairs(status):
        view = _view(uow, principal, pair)
        if view is not None:
            found.append(view)
            if len(found) >= limit:
                break
    return found


def decide(uow: UnitOfWork, principal: Principal, catalog: Catalog, pair_id: int, *,
           confirm: bool, reason: str) -> DuplicatePair:
    """Confirm (and merge) or reject a suggested pair; the reason is kept."""
    require_role(principal, SAFETY_TEAM, "decide on duplicates")
    pair = uow.cases.duplicate_pair(pair_id)
    view = _view(uow, principal, pair) if pair is not None else None
    if pair is None or view is None:
        raise NotFound(f"no duplicate pair {pair_id}")
    if pair.status != "suggested":
        raise Conflict(f"pair {pair_id} was already {pair.status}")
    pair.status = "confirmed" if confirm else "rejected"
    pair.decided_by_id = principal.user_id or None
    pair.decided_at = now()
    changes: dict[str, object] = {"status": ["suggested", pair.status]}
    if confirm:
        master_id, duplicate_id = _merge(uow, principal, catalog, pair.case_id,
                                         pair.other_case_id)
        changes.update(master=master_id, merged=duplicate_id)
    audit.record(uow, principal, f"case.duplicate_{pair.status}", "case_duplicate", pair.id,
                 changes, reason=reason)
    uow.commit()
    decided = _view(uow, principal, pair)
    assert decided is not None
    return decided


def _merge(uow: UnitOfWork, principal: Principal, catalog: Catalog, first: int,
           second: int) -> tuple[int, int]:
    reports = {case_id: _current(uow, case_id) for case_id in (first, second)}
    master = choose_master(list(reports.values()))
    master_id = next(i for i, r in reports.items() if r.worldwide_id == master.worldwide_id)
    duplicate_id = second if master_id == first else first
    merged = merge(master, [reports[duplicate_id]])
    if merged != master:
        # A version that records the link, without sending the master back to triage.
        store_reports(uow, principal, catalog, [merged],
                      Receipt(source="api", reopens=False))
    uow.cases.update_case(duplicate_id, {"merged_into_id": master_id, "updated_at": now()})
    return master_id, duplicate_id


def _current(uow: UnitOfWork, case_id: int) -> CaseReport:
    case = uow.session.get(Case, case_id)
    version = uow.cases.version(case_id, case.version) if case else None
    if version is None:
        raise NotFound(f"no case {case_id}")
    return CaseReport.model_validate_json(version.payload)


def _view(uow: UnitOfWork, principal: Principal, pair: CaseDuplicate) -> DuplicatePair | None:
    visible = visible_cases(principal)
    case = uow.cases.get(pair.case_id, visible)
    other = uow.cases.get(pair.other_case_id, visible)
    if case is None or other is None:
        return None
    return DuplicatePair(id=pair.id, score=pair.score, evidence=json.loads(pair.evidence),
                         status=pair.status, case=summary(case), other=summary(other),
                         decided_at=aware(pair.decided_at) if pair.decided_at else None)
