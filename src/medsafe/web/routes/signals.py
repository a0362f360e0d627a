"""Signal pages, for the safety team and the regulator (admin, regulator, manufacturer;
others get the 403 page, a manufacturer only the signals about its own products).

- `/signals?status=…&axis=…&drug=…&event=…&criterion=…&min_n=…&run=…`: the candidate
  signals, highest EB05 first, filtered by a plain GET form (works without JavaScript)
  and paged like the case inbox.
- `/signals/runs`: the stored detection runs, newest first, and for admins and
  regulators a button that runs detection over the case store on a drug axis
  (`POST /signals/runs`).
- `/signals/runs/{id}`: one run: what it read, its parameters and prior, and the scatter
  of EB05 against N with the signals it scored as a table beside it.
- `/signals/{id}?by=month|quarter`: one signal: its statistics in the latest run that
  scored it, its lifecycle steps with a form per step the caller may take
  (`POST /signals/{id}/steps`), its history, its case series, and, when asked (`by`, or
  the part alone at `/signals/{id}/trend` for htmx), the trend of EB05 and IC025 over the
  case store.

Thin: `medsafe.signals.management` decides who may do what and does the work; the
charts are `medsafe.web.charts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup

from medsafe.errors import Invalid
from medsafe.security.principal import Principal
from medsafe.signals import management
from medsafe.signals.lifecycle import NEEDS_NOTE, RUNNERS, STATUSES
from medsafe.signals.management import CRITERIA, MAX_NOTE, RunView, SignalSummary
from medsafe.store.repositories.signals import AXES
from medsafe.store.uow import UnitOfWork
from medsafe.web import charts
from medsafe.web.routes.cases import WORDS as CASE_WORDS
from medsafe.web.routing import PageRoute, is_partial
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

if TYPE_CHECKING:
    from medsafe.signals.trend import TrendRow

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
SCATTER_LIMIT = 20_000
"""The most pairs one scatter draws, highest EB05 first: a run over a national database
scores hundreds of thousands, and what matters is at the top."""
RUN_SIGNALS_SHOWN = 100
MAX_ID = 2**31 - 1
CASE_STORE_FORMAT = "cases"  # a run over the case store (`detection.detect_arrow`)

Period = Literal["month", "quarter"]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Filter = Annotated[str, Query(max_length=200)]

STATUS = {"new": "New", "validated": "Validated", "refuted": "Refuted",
          "under_assessment": "Under assessment", "closed": "Closed"}
STEP = {"validated": "Validate", "refuted": "Refute",
        "under_assessment": "Start the assessment", "closed": "Close with a conclusion"}
NOTE_LABEL = {"refuted": "Why it is refuted (required, kept in the history)",
              "closed": "Conclusion (required, kept with the signal)"}
AXIS = {"ingredient": "Ingredient", "product": "Product", "lot": "Lot"}
CRITERION = {"EB05": "EB05 at or above its threshold",
             "IC025": "IC025 above its threshold, with enough reports",
             "PRR": "PRR and chi-square at or above theirs, with enough reports"}
PERIOD = {"month": "By month", "quarter": "By quarter"}
PERIODS: tuple[Period, ...] = ("quarter", "month")
WORDS: dict[str, Mapping[str, object]] = {
    "status": STATUS, "step": STEP, "note": NOTE_LABEL, "axis": AXIS, "criterion": CRITERION,
    "period": PERIOD, "case": CASE_WORDS}


def pair_label(drug: str, event: str) -> str:
    return f"{drug} × {event}"


def shown(value: float | None) -> str:
    """A statistic as the pages print it; one that cannot be formed is a dash."""
    return "—" if value is None or not math.isfinite(value) else charts.number_label(value)


def _chosen(value: str) -> str | None:
    return value.strip() or None


def _whole(value: str, where: str) -> int | None:
    """A whole number typed into a filter box; text that is not one is a mistake shown
    on the page (422), never silently ignored."""
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_ID:
        raise Invalid(f"'{text}' is not a whole number of at least 0", where=where)
    return int(text)


def _thresholds(run: RunView) -> Mapping[str, float]:
    found = run.parameters.get("thresholds", {})
    return found if isinstance(found, dict) else {}


# -- the signals table -------------------------------------------------------------------------

@router.get("/signals")
def signals_page(request: Request, caller: SignedIn, status: Filter = "", axis: Filter = "",
                 drug: Filter = "", event: Filter = "", criterion: Filter = "",
                 min_n: Filter = "", run: Filter = "",
                 page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    filters = {"status": status.strip(), "axis": axis.strip(), "drug": drug.strip(),
               "event": event.strip(), "criterion": criterion.strip(),
               "min_n": min_n.strip(), "run": run.strip()}
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    with container.uow() as uow:
        found, total = management.list_signals(
            uow, caller.principal, status=_chosen(status), axis=_chosen(axis),
            drug=_chosen(drug), event=_chosen(event), signal_by=_chosen(criterion),
            min_n=_whole(min_n, "min_n"), run=_whole(run, "run"),
            offset=(page - 1) * size, limit=size)
    active = {key: value for key, value in filters.items() if value}
    first = (page - 1) * size + 1
    return render(request, "signals.html", {
        "signals": found, "total": total, "page": page,
        "pages": max(1, math.ceil(total / size)), "first": first,
        "last": first + len(found) - 1, "filters": filters,
        "query": urlencode(active), "filtered": bool(active), "words": WORDS, "shown": shown,
        "statuses": STATUSES, "axes": AXES, "criteria": CRITERIA,
    })


# -- runs -------------------------------------------------------------------------------------

@router.get("/signals/runs")
def runs_page(request: Request, caller: SignedIn,
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    with container.uow() as uow:
        runs, total = management.list_runs(uow, caller.principal, offset=(page - 1) * size,
                                           limit=size)
    return render(request, "signal_runs.html", {
        "runs": runs, "total": total, "page": page, "pages": max(1, math.ceil(total / size)),
        "may_run": caller.principal.role in RUNNERS, "axes": AXES, "words": WORDS, "shown": shown,
    })


@router.post("/signals/runs")
def run_detection(request: Request, caller: SignedIn,
                  axis: Annotated[str, Form(max_length=20)] = "ingredient") -> Response:
    """Detection over the case store on one drug axis, stored (its CSRF token was checked
    by the route before this runs); then the run's own page."""
    with container_of(request).uow() as uow:
        run = management.run_over_case_store(uow, caller.principal, axis=axis)
    return RedirectResponse(f"/signals/runs/{run.id}", status_code=303)


@router.get("/signals/runs/{run_id}")
def run_page(request: Request, caller: SignedIn, run_id: Id) -> Response:
    principal = caller.principal
    with container_of(request).uow() as uow:
        run = management.read_run(uow, principal, run_id)
        pairs, scored = management.run_pairs(uow, principal, run_id, limit=SCATTER_LIMIT)
        signals, signal_total = management.list_signals(uow, principal, run=run_id,
                                                        limit=SCATTER_LIMIT)
    pages = {(s.drug, s.event): f"/signals/{s.id}" for s in signals}
    threshold = float(_thresholds(run).get("eb05", 2.0))
    scatter = charts.scatter([
        charts.ScatterPoint(pair_label(p.drug, p.event), p.n,
                            p.eb05 if p.eb05 is not None else math.nan, p.signal,
                            pages.get((p.drug, p.event)))
        for p in pairs], threshold=threshold, key=f"run-{run.id}-scatter")
    return render(request, "signal_run.html", {
        "run": run, "scatter": Markup(scatter.svg), "summary": scatter.summary,
        "drawn": len(pairs), "scored": scored, "signals": signals[:RUN_SIGNALS_SHOWN],
        "signal_total": signal_total, "thresholds": _thresholds(run), "words": WORDS,
        "shown": shown,
    })


# -- one signal -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TrendView:
    by: Period
    rows: Sequence[TrendRow]
    svg: Markup
    summary: str


def _trend(uow: UnitOfWork, principal: Principal, signal: SignalSummary, run: RunView,
           by: Period) -> TrendView:
    rows = management.signal_trend(uow, principal, signal.id, by=by)
    thresholds = _thresholds(run)
    chart = charts.trend(rows, pair=pair_label(signal.drug, signal.event),
                         eb05_threshold=float(thresholds.get("eb05", 2.0)),
                         ic025_threshold=float(thresholds.get("ic025", 0.0)),
                         key=f"signal-{signal.id}-trend")
    return TrendView(by, rows, Markup(chart.svg), chart.summary)


def _signal_page(request: Request, principal: Principal, signal_id: int, *,
                 by: Period | None, page: int, problems: Sequence[str] = (),
                 status: int = 200, typed: Mapping[str, str] | None = None) -> Response:
    container = container_of(request)
    size = min(PAGE_SIZE, container.settings.page_size_max)
    with container.uow() as uow:
        detail = management.read_signal(uow, principal, signal_id)
        signal = detail.signal
        cases, cases_total = (detail.cases, detail.cases_total) if page == 1 else \
            management.case_series(uow, principal, signal_id, offset=(page - 1) * size,
                                   limit=size)
        run = management.read_run(uow, principal, signal.latest_run_id)
        over_case_store = run.input_format == CASE_STORE_FORMAT
        trend = (_trend(uow, principal, signal, run, by)
                 if over_case_store and by is not None else None)
    first = (page - 1) * size + 1
    return render(request, "signal.html", {
        "s": signal, "st": signal.statistics, "label": pair_label(signal.drug, signal.event),
        "history": detail.history, "cases": cases, "cases_total": cases_total,
        "page": page, "pages": max(1, math.ceil(cases_total / size)), "first": first,
        "last": first + len(cases) - 1, "run": run, "thresholds": _thresholds(run),
        "over_case_store": over_case_store, "trend": trend, "periods": PERIODS,
        "problems": problems, "typed": typed or {}, "needs_note": NEEDS_NOTE,
        "max_note": MAX_NOTE, "words": WORDS, "shown": shown,
    }, status=status)


@router.get("/signals/{signal_id}")
def signal_page(request: Request, caller: SignedIn, signal_id: Id,
                by: Annotated[Period | None, Query()] = None,
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    """The trend is computed (a prior fitted per period) only when `by` asks for it, so
    that opening a signal is quick; its links fetch it with htmx, or ask for this page
    with `by` without JavaScript."""
    return _signal_page(request, caller.principal, signal_id, by=by, page=page)


@router.get("/signals/{signal_id}/trend")
def signal_trend(request: Request, caller: SignedIn, signal_id: Id,
                 by: Annotated[Period, Query()] = "quarter") -> Response:
    """The trend part of the signal page, for htmx; a browser visiting it goes to the
    whole page with the trend in it."""
    if not is_partial(request):
        return RedirectResponse(f"/signals/{signal_id}?by={by}#trend-title", status_code=303)
    principal = caller.principal
    with container_of(request).uow() as uow:
        signal = management.read_signal(uow, principal, signal_id).signal
        run = management.read_run(uow, principal, signal.latest_run_id)
        if run.input_format != CASE_STORE_FORMAT:
            raise Invalid(f"signal {signal_id}'s latest run read {run.input}, not the case "
                          "store", where="signal")
        trend = _trend(uow, principal, signal, run, by)
    return render(request, "_signal_trend.html", {
        "s": signal, "trend": trend, "periods": PERIODS, "words": WORDS, "shown": shown})


@router.post("/signals/{signal_id}/steps")
def take_step(request: Request, caller: SignedIn, signal_id: Id,
              to: Annotated[str, Form(max_length=40)],
              note: Annotated[str, Form(max_length=MAX_NOTE)] = "") -> Response:
    """One lifecycle step. A refutation or a closing without its note comes back to the
    page with the mistake and what was typed (422) when the caller may take that step;
    any other refusal is the service's (403 for a role that may not decide, 409 for a
    step the signal's status does not allow)."""
    principal = caller.principal
    if to in NEEDS_NOTE and not note.strip():
        with container_of(request).uow() as uow:
            allowed = management.read_signal(uow, principal, signal_id).signal.next_steps
        if to in allowed:
            what = "why it is refuted" if to == "refuted" else "the conclusion"
            return _signal_page(request, principal, signal_id, by=None, page=1,
                                status=422, typed={to: note},
                                problems=[f"{STEP.get(to, to)}: state {what}; nothing was "
                                          "changed"])
    with container_of(request).uow() as uow:
        moved: SignalSummary = management.advance(uow, principal, signal_id, to,
                                                  note=note.strip() or None)
    return RedirectResponse(f"/signals/{moved.id}", status_code=303)
