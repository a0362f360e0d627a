"""Probable duplicate cases, for the safety team (admin, manufacturer) to confirm or reject.

- `/cases/duplicates?status=suggested|confirmed|rejected`: the pairs, best score first,
  both cases side by side, and the evidence per field in words ("age: agrees (+2.0)"),
  one tab per status.
- `POST /cases/duplicates/search`: scores the open cases at the default threshold and
  comes back to the list with how many new pairs it stored (`?found=N`: the pages have
  no flash messages).
- `POST /cases/duplicates/{pair_id}/decision`: confirms (merges) or rejects one pair, with
  a reason for the audit trail. Without a reason the list comes back with the mistake
  (422) and nothing is decided.

Thin: `medsafe.cases.duplicate_review` does the work and decides who may (a 403 page for
other roles) and which pairs the caller sees (both cases visible to them). What the
evidence means is `medsafe.cases.duplicates`: each field adds its log likelihood ratio
in the hit-miss model of Norén et al. (Data Min Knowl Disc 2007;14:305-328), positive
when the reports agree, negative when they differ, nothing when either lacks the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from medsafe.cases import duplicate_review
from medsafe.cases.duplicates import FIELDS
from medsafe.cases.service import SAFETY_TEAM
from medsafe.records import require_role
from medsafe.security.principal import Principal
from medsafe.web.routes.cases import WORDS
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAIRS_SHOWN = 100
"""The most pairs one page shows; deciding on them brings the next ones up."""
MAX_PAIR_ID = 2**31 - 1
REASON_TEXT = 1000
"""As long as a reason may be (the API's `DuplicateDecision.reason` bound)."""

PairStatus = Literal["suggested", "confirmed", "rejected"]
Decision = Literal["confirm", "reject"]
PairId = Annotated[int, Path(ge=1, le=MAX_PAIR_ID, description="the pair's number")]

TABS: tuple[PairStatus, ...] = ("suggested", "confirmed", "rejected")
TAB_LABEL = {"suggested": "To review", "confirmed": "Confirmed duplicates",
             "rejected": "Not duplicates"}
FIELD_LABEL = {"age": "age", "sex": "sex", "onset": "onset date", "drugs": "drugs",
               "reactions": "reactions", "dates": "other dates", "country": "country",
               "externally_indicated": "linked by case id"}


def evidence_words(evidence: Mapping[str, float]) -> list[tuple[str, str]]:
    """Each field's contribution in words, in the scorer's field order: ("age",
    "agrees (+2.0)"), ("sex", "differs (−3.2)"); a field that added nothing was not
    compared, because one of the reports lacks it."""
    known = [field for field in FIELDS if field in evidence]
    rest = sorted(set(evidence) - set(FIELDS))  # a field a later scorer adds still shows
    return [(FIELD_LABEL.get(field, field.replace("_", " ")), _said(evidence[field]))
            for field in (*known, *rest)]


def _said(value: float) -> str:
    if value == 0:
        return "not compared/missing"
    # A tiny weight keeps two decimals, so it never reads as a misleading "+0.0".
    places = 1 if abs(value) >= 0.05 else 2
    number = f"{abs(value):.{places}f}"
    return f"agrees (+{number})" if value > 0 else f"differs (\u2212{number})"


def _page(request: Request, principal: Principal, status: PairStatus, *,
          found: int | None = None, problems: Sequence[str] = (),
          http_status: int = 200) -> Response:
    with container_of(request).uow() as uow:
        pairs = duplicate_review.list_duplicates(uow, principal, status=status,
                                                 limit=PAIRS_SHOWN)
    return render(request, "duplicates.html", {
        "pairs": pairs, "status": status, "tabs": TABS, "tab_label": TAB_LABEL,
        "evidence": {pair.id: evidence_words(pair.evidence) for pair in pairs},
        "found": found, "problems": problems, "shown": PAIRS_SHOWN, "words": WORDS,
        "reason_text": REASON_TEXT,
    }, status=http_status)


@router.get("/cases/duplicates")
def duplicates_page(request: Request, caller: SignedIn,
                    status: Annotated[PairStatus, Query()] = "suggested",
                    found: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
                    ) -> Response:
    require_role(caller.principal, SAFETY_TEAM, "review duplicates")
    return _page(request, caller.principal, status, found=found)


@router.post("/cases/duplicates/search")
def search(request: Request, caller: SignedIn) -> Response:
    """Score the open cases the caller may see (its CSRF token was checked by the route
    before this runs)."""
    with container_of(request).uow() as uow:
        result = duplicate_review.find_duplicates(uow, caller.principal)
    return RedirectResponse(f"/cases/duplicates?found={result.new}", status_code=303)


@router.post("/cases/duplicates/{pair_id}/decision")
def decide(request: Request, caller: SignedIn, pair_id: PairId,
           decision: Annotated[Decision, Form()],
           reason: Annotated[str, Form(max_length=REASON_TEXT)] = "") -> Response:
    """Confirm (merge into the more complete case) or reject one pair."""
    principal = caller.principal
    require_role(principal, SAFETY_TEAM, "decide on duplicates")
    if not reason.strip():
        return _page(request, principal, "suggested", http_status=422, problems=[
            f"Pair {pair_id}: give the reason for your decision (it is kept in the audit "
            "trail); nothing was decided"])
    container = container_of(request)
    with container.uow() as uow:
        duplicate_review.decide(uow, principal, container.catalog, pair_id,
                                confirm=decision == "confirm", reason=reason.strip())
    return RedirectResponse("/cases/duplicates", status_code=303)
