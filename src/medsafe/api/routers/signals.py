"""Signal management: detection runs over the case store, the candidate signals they
flag, their lifecycle steps, their case series and their trend.

Runs and signals are for admins, regulators and (for their own products) manufacturers;
steps and new runs for admins and regulators (see `signals.lifecycle`). A run honours
Idempotency-Key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from medsafe.api import idempotency
from medsafe.api.deps import ContainerDep, CurrentPrincipal, Paging
from medsafe.api.pagination import Page, page_of
from medsafe.api.routers import Id, as_json, id_query, text_query
from medsafe.cases.service import CaseSummary
from medsafe.records import Input, View
from medsafe.signals import management
from medsafe.signals.management import PairStatistics, RunView, SignalDetail, SignalSummary

router = APIRouter(prefix="/signals", tags=["signals"])

AxisName = Literal["ingredient", "product", "lot"]
StatusName = Literal["new", "validated", "refuted", "under_assessment", "closed"]
Criterion = Literal["EB05", "IC025", "PRR"]
Stratum = Literal["sex", "age_group", "year"]
Shape = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]


class GivenPrior(Input):
    """A GPS prior to use instead of fitting one (e.g. one fitted on a larger database):
    two gamma components (shape alpha, rate beta) mixed with weight p."""

    alpha1: Shape
    beta1: Shape
    alpha2: Shape
    beta2: Shape
    p: float = Field(gt=0, lt=1, allow_inf_nan=False)


class RunRequest(Input):
    axis: AxisName = Field(default="ingredient", description=(
        "the drug axis: the ingredient, the product, or the lot (product and lot number)"))
    within: str | None = Field(default=None, min_length=1, max_length=60,
                               pattern=r"^[a-z0-9][a-z0-9-]*$", description=(
        "count only the cases with this ingredient (an id such as 'baclofen') as a "
        "suspect: lots or products are then compared with each other"))
    strata: list[Stratum] = Field(default_factory=list, max_length=3, description=(
        "stratify the expected counts by these (sex, age group, year of receipt)"))
    prior: GivenPrior | None = Field(default=None, description=(
        "use this prior instead of fitting one to the case store"))


class StepRequest(Input):
    to: StatusName
    note: str | None = Field(default=None, min_length=1, max_length=management.MAX_NOTE,
                             description="required to refute (why) and to close (the "
                                         "conclusion)")


class TrendPoint(View):
    period: str
    n: int
    e: float | None
    prr: float | None
    ic025: float | None
    eb05: float | None
    signal: bool
    signal_by: str
    note: str


@router.get("/runs", response_model=Page[RunView])
def list_runs(app: ContainerDep, caller: CurrentPrincipal, paging: Paging) -> Page[RunView]:
    """Stored detection runs, newest first."""
    with app.uow() as uow:
        items, total = management.list_runs(uow, caller, offset=paging.offset,
                                            limit=paging.page_size)
    return page_of(items, total, paging)


@router.post("/runs", response_model=RunView, status_code=201)
def run_detection(request: Request, body: RunRequest, app: ContainerDep,
                  caller: CurrentPrincipal) -> JSONResponse:
    """Run detection over the case store on one drug axis (count, fit the prior unless
    one is given, score every pair) and store it; pairs it flags become new signals."""
    from medsafe.signals.stats import Prior

    prior = (Prior(body.prior.alpha1, body.prior.beta1, body.prior.alpha2, body.prior.beta2,
                   body.prior.p) if body.prior else None)
    return idempotency.create(
        request, body.model_dump_json().encode(), caller, app.uow,
        lambda uow: management.run_over_case_store(uow, caller, axis=body.axis,
                                                   within=body.within,
                                                   strata=tuple(body.strata), prior=prior),
        as_json)


@router.get("/runs/{run_id}", response_model=RunView)
def read_run(run_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> RunView:
    with app.uow() as uow:
        return management.read_run(uow, caller, run_id)


@router.get("/runs/{run_id}/pairs", response_model=Page[PairStatistics])
def run_pairs(run_id: Id, app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
              candidates_only: Annotated[bool, Query()] = False) -> Page[PairStatistics]:
    """Every pair the run scored (highest EB05 first), or only its candidate signals."""
    with app.uow() as uow:
        items, total = management.run_pairs(uow, caller, run_id,
                                            candidates_only=candidates_only,
                                            offset=paging.offset, limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("", response_model=Page[SignalSummary])
def list_signals(
    app: ContainerDep, caller: CurrentPrincipal, paging: Paging,
    status: Annotated[StatusName | None, Query()] = None,
    axis: Annotated[AxisName | None, Query()] = None,
    drug: Annotated[str | None, text_query(320, "part of the drug's name, any case")] = None,
    event: Annotated[str | None, text_query(250, "part of the event's name, any case")
                     ] = None,
    signal_by: Annotated[Criterion | None, Query(description="a criterion that fired")
                         ] = None,
    min_n: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
    run: Annotated[int | None, id_query("statistics of this run; only signals it scored")
                   ] = None,
) -> Page[SignalSummary]:
    """Candidate signals, highest EB05 first, with their statistics."""
    with app.uow() as uow:
        items, total = management.list_signals(
            uow, caller, status=status, axis=axis, drug=drug, event=event,
            signal_by=signal_by, min_n=min_n, run=run, offset=paging.offset,
            limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("/{signal_id}", response_model=SignalDetail)
def read_signal(signal_id: Id, app: ContainerDep, caller: CurrentPrincipal) -> SignalDetail:
    """A signal with its statistics, its history of steps and its case series' first
    page."""
    with app.uow() as uow:
        return management.read_signal(uow, caller, signal_id)


@router.get("/{signal_id}/cases", response_model=Page[CaseSummary])
def case_series(signal_id: Id, app: ContainerDep, caller: CurrentPrincipal,
                paging: Paging) -> Page[CaseSummary]:
    """The cases behind the signal's pair that the caller may see, newest first."""
    with app.uow() as uow:
        items, total = management.case_series(uow, caller, signal_id, offset=paging.offset,
                                              limit=paging.page_size)
    return page_of(items, total, paging)


@router.get("/{signal_id}/trend", response_model=list[TrendPoint])
def trend(signal_id: Id, app: ContainerDep, caller: CurrentPrincipal,
          by: Annotated[Literal["month", "quarter"], Query()] = "month") -> list[TrendPoint]:
    """The pair's statistics in the case store cumulatively by month or quarter of
    receipt, each period from the reports received by its end only."""
    with app.uow() as uow:
        rows = management.signal_trend(uow, caller, signal_id, by=by)
    return [TrendPoint(period=r.period, n=r.n, e=r.e, prr=r.prr, ic025=r.ic025, eb05=r.eb05,
                       signal=r.signal, signal_by=r.signal_by, note=r.note) for r in rows]


@router.post("/{signal_id}/steps", response_model=SignalSummary)
def take_step(signal_id: Id, body: StepRequest, app: ContainerDep,
              caller: CurrentPrincipal) -> SignalSummary:
    """Move the signal on: new -> validated or refuted (with why); validated ->
    under_assessment; under_assessment -> closed (with the conclusion)."""
    with app.uow() as uow:
        return management.advance(uow, caller, signal_id, body.to, note=body.note)
