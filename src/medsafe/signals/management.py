"""Signal management (issue 5 §3): a detection run is stored with its input, parameters
and results; the pairs it flags become candidate signals that people move through their
lifecycle (`signals.lifecycle`), each step audited, with the case series behind the pair.

The use cases. Each takes the unit of work and the principal asking, checks who may do
it, and returns frozen views (`records.View`, pydantic: attribute access, JSON-ready),
never ORM rows; those that write commit.

    store_run(uow, principal, detection, *, axis) -> RunView
    run_over_case_store(uow, principal, *, axis="ingredient", within=None, strata=(),
                        thresholds=None, prior=None) -> RunView
    list_runs(uow, principal, *, offset=0, limit=50) -> tuple[list[RunView], int]
    read_run(uow, principal, run_id) -> RunView
    run_pairs(uow, principal, run_id, *, candidates_only=False, offset=0, limit=500)
        -> tuple[list[PairStatistics], int]          (every pair: the EB05 x N scatter)
    list_signals(uow, principal, *, status=None, axis=None, drug=None, event=None,
                 signal_by=None, min_n=None, run=None, offset=0, limit=50)
        -> tuple[list[SignalSummary], int]
    read_signal(uow, principal, signal_id) -> SignalDetail
    advance(uow, principal, signal_id, to, *, note=None) -> SignalSummary
    case_series(uow, principal, signal_id, *, offset=0, limit=50)
        -> tuple[list[CaseSummary], int]
    signal_trend(uow, principal, signal_id, *, by="month") -> list[TrendRow]

A signal's statistics are those of its pair in the latest run that scored it (or in the
run asked for); `drug` and `event` filters match a part of the name, any case;
`signal_by` is one criterion (EB05, IC025 or PRR) that fired. The case series is the
cases now in the store with the pair (their current version), as the caller may see
them, de-identified as the case service shows them.

The statistics (NumPy, SciPy, DuckDB, Arrow) are imported only by the functions that
compute, so that the API and the other commands start without them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from medsafe.cases.service import CaseSummary, summary
from medsafe.errors import Conflict, Invalid, NotFound
from medsafe.records import View, aware, now, require_role
from medsafe.security import audit
from medsafe.security.audit import canonical_json
from medsafe.security.permissions import visible_cases, visible_pair_drugs, visible_signals
from medsafe.security.principal import Principal
from medsafe.signals.lifecycle import DECIDERS, READERS, RUNNERS, STATUSES, next_status, steps_from
from medsafe.store.repositories.signals import AXES, case_ids_with, case_store_table
from medsafe.store.schema import Case, Signal, SignalPair, SignalRun
from medsafe.store.uow import UnitOfWork

if TYPE_CHECKING:
    from medsafe.signals.detection import Detection
    from medsafe.signals.score import Thresholds
    from medsafe.signals.stats import Prior
    from medsafe.signals.trend import Period, TrendRow

CRITERIA = ("EB05", "IC025", "PRR")
STATISTICS = ("n", "e", "prr", "prr_lo", "prr_hi", "chi2", "ror", "ror_lo", "ror_hi", "ic",
              "ic025", "ic975", "ebgm", "eb05", "eb95")
CASE_STORE = "case store"
MAX_NOTE = 4000
HISTORY_LIMIT = 1000
# What the longest names may be, as the signal tables hold them.
MAX_DRUG, MAX_EVENT, MAX_AXIS = 320, 250, 20


class RunView(View):
    id: int
    input: str
    input_format: str
    axis: str
    parameters: dict[str, Any]
    prior: dict[str, Any]  # alpha1, beta1, alpha2, beta2, p, loglik, converged, notes …
    loglik: float | None
    converged: bool | None
    notes: list[str]
    reports: int
    pairs: int
    candidates: int
    new_signals: int
    created_by: str | None  # withheld from manufacturers: regulators' staff are not named
    created_at: datetime
    seconds: float


class PairStatistics(View):
    """One scored pair of one run. A statistic that cannot be formed is None, and so is
    an infinite ratio (a zero cell) in JSON."""

    run_id: int
    drug: str
    event: str
    n: float
    e: float
    prr: float | None
    prr_lo: float | None
    prr_hi: float | None
    chi2: float | None
    ror: float | None
    ror_lo: float | None
    ror_hi: float | None
    ic: float | None
    ic025: float | None
    ic975: float | None
    ebgm: float | None
    eb05: float | None
    eb95: float | None
    signal: bool
    signal_by: str


class SignalSummary(View):
    id: int
    axis: str
    drug: str
    event: str
    status: str
    conclusion: str | None
    first_run_id: int
    latest_run_id: int
    created_at: datetime
    updated_at: datetime
    statistics: PairStatistics | None  # in the latest run that scored it, or the run asked
    next_steps: list[str]  # the statuses this caller may move it to now


class SignalStep(View):
    at: datetime
    by: str | None  # withheld from manufacturers
    status_from: str
    status_to: str
    note: str | None
    run_id: int | None  # the run whose statistics the decision saw
    evidence: dict[str, Any]  # n, eb05, ic025, prr, signal_by at the time


class SignalDetail(View):
    signal: SignalSummary
    history: list[SignalStep]  # oldest first
    cases: list[CaseSummary]  # the first page of the case series
    cases_total: int


# -- runs ----------------------------------------------------------------------------------

def store_run(uow: UnitOfWork, principal: Principal, detection: Detection, *,
              axis: str) -> RunView:
    """Store a detection run with every pair it scored, open a `new` signal for each
    pair it flags that has none on this axis yet, and commit."""
    require_role(principal, RUNNERS, "store detection runs")
    if not 1 <= len(axis) <= MAX_AXIS:
        raise Invalid(f"a drug axis is 1 to {MAX_AXIS} characters", where="axis")
    columns = detection.scores.columns
    _check_lengths(columns["drug"], MAX_DRUG, "drug")
    _check_lengths(columns["event"], MAX_EVENT, "event")
    fitted = detection.fitted
    prior: dict[str, Any] = {"alpha1": detection.prior.alpha1, "beta1": detection.prior.beta1,
                             "alpha2": detection.prior.alpha2, "beta2": detection.prior.beta2,
                             "p": detection.prior.p, "fitted": fitted is not None}
    if fitted is not None:
        prior.update(loglik=fitted.loglik, converged=fitted.converged, n_star=fitted.n_star,
                     agreeing=fitted.agreeing, at_bound=list(fitted.at_bound),
                     notes=list(fitted.notes))
    candidates = int(sum(bool(flag) for flag in columns["signal"]))
    run = uow.signals.add_run(SignalRun(
        input=detection.input[:500], input_format=detection.input_format[:20], axis=axis,
        parameters=canonical_json(detection.parameters), prior=canonical_json(prior),
        loglik=fitted.loglik if fitted else None,
        converged=fitted.converged if fitted else None,
        notes="; ".join(fitted.notes) if fitted and fitted.notes else None,
        reports=int(detection.counts.n_reports), pairs=len(detection.scores),
        candidates=candidates, created_by=principal.username, created_at=now(),
        seconds=float(detection.seconds)))
    uow.signals.insert_pairs(run.id, {"drug": columns["drug"], "event": columns["event"],
                                      **{name: columns[name] for name in STATISTICS},
                                      "signal": columns["signal"],
                                      "signal_by": columns["signal_by"]})
    created = uow.signals.open_new_signals(run.id, axis, run.created_at)
    audit.record(uow, principal, "signal.run", "signal_run", run.id,
                 {"input": run.input, "input_format": run.input_format, "axis": axis,
                  "reports": run.reports, "pairs": run.pairs, "candidates": candidates,
                  "new_signals": created})
    view = _run_view(principal, run, created)
    uow.created.append(view)
    uow.commit()
    return view


def run_over_case_store(uow: UnitOfWork, principal: Principal, *, axis: str = "ingredient",
                        within: str | None = None, strata: tuple[str, ...] = (),
                        thresholds: Thresholds | None = None, prior: Prior | None = None,
                        progress: Callable[[str], None] | None = None) -> RunView:
    """Count the case store (the current version of each valid case that is neither
    nullified nor merged; suspect and interacting drugs named per `axis`), fit the prior
    (unless one is given: a small store cannot fit five parameters well), score every
    pair, and store the run.

    `within` an ingredient, only the cases with it as a suspect are counted. That is how
    lots are best compared: a lot of baclofen against the other baclofen lots. Against
    the whole store (mostly other medicines, or vaccines) every lot of a drug shows the
    drug's own side effects as disproportionate, and a quality defect of a few lots is
    lost among them."""
    from medsafe.signals.detection import count_arrow, detect
    from medsafe.signals.score import Thresholds
    from medsafe.signals.sources import named_strata

    require_role(principal, RUNNERS, "run signal detection")
    if axis not in AXES:
        raise Invalid(f"unknown drug axis '{axis}' (axes: {', '.join(AXES)})", where="axis")
    wanted = tuple(named_strata(strata))
    table = case_store_table(uow.session, axis, within=within)
    if table.num_rows == 0:
        about = f" with {within} as a suspect" if within else " with a suspect drug"
        raise Invalid(f"the case store holds no valid case{about} and a reaction: nothing "
                      "to count", where="case store")
    uow.release()  # counting and fitting take seconds: not while holding the database
    # detect_arrow's parameters, with a given prior too.
    detection = detect(
        lambda: count_arrow(table, wanted), input=CASE_STORE, input_format="cases",
        parameters={"axis": axis, "within": within, "drugs": "suspect and interacting",
                    "cases": "current version of each valid case, not nullified, not merged",
                    "strata": list(wanted), "engine": "duckdb"},
        prior=prior, thresholds=thresholds or Thresholds(), progress=progress)
    return store_run(uow, principal, detection, axis=axis)


def list_runs(uow: UnitOfWork, principal: Principal, *, offset: int = 0, limit: int = 50
              ) -> tuple[list[RunView], int]:
    """Newest first."""
    require_role(principal, READERS, "read detection runs")
    rows, total = uow.signals.runs(offset, limit)
    created = uow.signals.new_signal_counts([row.id for row in rows])
    return [_run_view(principal, row, created.get(row.id, 0)) for row in rows], total


def read_run(uow: UnitOfWork, principal: Principal, run_id: int) -> RunView:
    require_role(principal, READERS, "read detection runs")
    row = _run(uow, run_id)
    return _run_view(principal, row, uow.signals.new_signal_counts([row.id]).get(row.id, 0))


def run_pairs(uow: UnitOfWork, principal: Principal, run_id: int, *,
              candidates_only: bool = False, offset: int = 0, limit: int = 500
              ) -> tuple[list[PairStatistics], int]:
    """The pairs a run scored (highest EB05 first), as the caller may see them."""
    require_role(principal, READERS, "read detection runs")
    row = _run(uow, run_id)
    pairs, total = uow.signals.pairs(
        row.id, visible_pair_drugs(principal, row.axis, SignalPair.drug),
        candidates_only=candidates_only, offset=offset, limit=limit)
    return [_pair_view(pair) for pair in pairs], total


# -- signals -------------------------------------------------------------------------------

def list_signals(uow: UnitOfWork, principal: Principal, *, status: str | None = None,
                 axis: str | None = None, drug: str | None = None, event: str | None = None,
                 signal_by: str | None = None, min_n: float | None = None,
                 run: int | None = None, offset: int = 0, limit: int = 50
                 ) -> tuple[list[SignalSummary], int]:
    """The signals the caller may see, highest EB05 first."""
    require_role(principal, READERS, "read signals")
    in_run = _run(uow, run) if run is not None else None
    scored_in = SignalPair.run_id == (in_run.id if in_run else Signal.latest_run_id)
    joined = and_(scored_in, SignalPair.drug == Signal.drug, SignalPair.event == Signal.event)
    query = select(Signal, SignalPair).where(visible_signals(principal))
    query = (query.join(SignalPair, joined).where(Signal.axis == in_run.axis) if in_run
             else query.outerjoin(SignalPair, joined))
    if status is not None:
        if status not in STATUSES:
            raise Invalid(f"unknown status '{status}' (statuses: {', '.join(STATUSES)})",
                          where="status")
        query = query.where(Signal.status == status)
    if axis is not None:
        if axis not in AXES:
            raise Invalid(f"unknown drug axis '{axis}' (axes: {', '.join(AXES)})",
                          where="axis")
        query = query.where(Signal.axis == axis)
    if drug:
        query = query.where(func.lower(Signal.drug).contains(drug.lower(), autoescape=True))
    if event:
        query = query.where(func.lower(Signal.event).contains(event.lower(), autoescape=True))
    if signal_by is not None:
        if signal_by not in CRITERIA:
            raise Invalid(f"unknown criterion '{signal_by}' (criteria: {', '.join(CRITERIA)})",
                          where="signal_by")
        query = query.where(SignalPair.signal_by.contains(signal_by, autoescape=True))
    if min_n is not None:
        query = query.where(SignalPair.n >= min_n)
    rows, total = uow.signals.page(query, offset, limit)
    return [_signal_view(principal, signal, pair) for signal, pair in rows], total


def read_signal(uow: UnitOfWork, principal: Principal, signal_id: int) -> SignalDetail:
    """A signal with its statistics, its history of steps and its case series."""
    require_role(principal, READERS, "read signals")
    signal = _signal(uow, principal, signal_id)
    events, _ = uow.audit_events.list(entity="signal", entity_id=str(signal.id), offset=0,
                                      limit=HISTORY_LIMIT)
    history = [_step_view(principal, event.at, event.actor, json.loads(event.changes),
                          event.reason) for event in reversed(events)]
    cases, total = _case_series(uow, principal, signal, 0, 50)
    return SignalDetail(signal=_signal_view(principal, signal, _latest_pair(uow, signal)),
                        history=history, cases=cases, cases_total=total)


def advance(uow: UnitOfWork, principal: Principal, signal_id: int, to: str, *,
            note: str | None = None) -> SignalSummary:
    """One step of the lifecycle (validated, refuted, under_assessment, closed); closing
    stores the note as the signal's conclusion. Audited with the statistics the decision
    saw, and committed."""
    require_role(principal, DECIDERS, "decide on signals")
    signal = _signal(uow, principal, signal_id)
    note = note.strip() if note else None
    if note and len(note) > MAX_NOTE:
        raise Invalid(f"a note is at most {MAX_NOTE:,} characters", where="note")
    before = signal.status
    target = next_status(before, to, note)
    values: dict[str, Any] = {"status": target, "updated_at": now()}
    if target == "closed":
        values["conclusion"] = note
    if not uow.signals.move(signal.id, before, values):
        raise Conflict(f"signal {signal.id} changed while this step was taken; reload it")
    pair = _latest_pair(uow, signal)
    evidence: dict[str, object] = {}
    if pair is not None:
        evidence = {key: _finite(getattr(pair, key)) for key in ("n", "eb05", "ic025", "prr")}
        evidence["signal_by"] = pair.signal_by
    audit.record(uow, principal, f"signal.{target}", "signal", signal.id,
                 {"status": [before, target], "run": signal.latest_run_id,
                  "evidence": evidence}, reason=note)
    refreshed = _signal(uow, principal, signal.id)
    view = _signal_view(principal, refreshed, pair)
    uow.commit()
    return view


def case_series(uow: UnitOfWork, principal: Principal, signal_id: int, *, offset: int = 0,
                limit: int = 50) -> tuple[list[CaseSummary], int]:
    """The cases behind a signal's pair that the caller may see, newest first."""
    require_role(principal, READERS, "read signals")
    return _case_series(uow, principal, _signal(uow, principal, signal_id), offset, limit)


def signal_trend(uow: UnitOfWork, principal: Principal, signal_id: int, *,
                 by: Period = "month") -> list[TrendRow]:
    """The signal's pair in the case store, cumulatively by month or quarter of receipt,
    each period from the reports received by its end only (its prior too), counted as
    the latest run counted (its `within` and strata)."""
    from medsafe.signals.detection import trend_arrow

    require_role(principal, READERS, "read signals")
    signal = _signal(uow, principal, signal_id)
    if signal.axis not in AXES:
        raise Invalid(f"signal {signal.id} was not found in the case store", where="signal")
    parameters = json.loads(_run(uow, signal.latest_run_id).parameters)
    strata = tuple(str(s) for s in parameters.get("strata", ()))
    table = case_store_table(uow.session, signal.axis, within=parameters.get("within"))
    drug, event = signal.drug, signal.event
    uow.release()  # counting each period takes seconds: not while holding the database
    if table.num_rows == 0:
        return []
    return trend_arrow(table, strata, drug=drug, event=event, by=by)


# -- shared --------------------------------------------------------------------------------

def _run(uow: UnitOfWork, run_id: int) -> SignalRun:
    row = uow.signals.run(run_id)
    if row is None:
        raise NotFound(f"no detection run {run_id}")
    return row


def _signal(uow: UnitOfWork, principal: Principal, signal_id: int) -> Signal:
    row = uow.signals.get(signal_id, visible_signals(principal))
    if row is None:
        raise NotFound(f"no signal {signal_id}")
    return row


def _latest_pair(uow: UnitOfWork, signal: Signal) -> SignalPair | None:
    return uow.signals.pair(signal.latest_run_id, signal.drug, signal.event)


def _case_series(uow: UnitOfWork, principal: Principal, signal: Signal, offset: int,
                 limit: int) -> tuple[list[CaseSummary], int]:
    if signal.axis not in AXES:
        return [], 0
    query = select(Case).where(Case.id.in_(case_ids_with(signal.axis, signal.drug,
                                                          signal.event)),
                               visible_cases(principal))
    rows, total = uow.signals.cases(query, offset, limit)
    return [summary(row) for row in rows], total


def _check_lengths(values: Any, limit: int, what: str) -> None:
    longest = max((str(v) for v in values), key=len, default="")
    if len(longest) > limit:
        raise Invalid(f"a {what} name is longer than {limit} characters: "
                      f"'{longest[:60]}…'", where=what)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _names_actors(principal: Principal) -> bool:
    return principal.role in DECIDERS


def _run_view(principal: Principal, row: SignalRun, created: int) -> RunView:
    return RunView(
        id=row.id, input=row.input, input_format=row.input_format, axis=row.axis,
        parameters=json.loads(row.parameters), prior=json.loads(row.prior),
        loglik=row.loglik, converged=row.converged,
        notes=row.notes.split("; ") if row.notes else [], reports=row.reports,
        pairs=row.pairs, candidates=row.candidates, new_signals=created,
        created_by=row.created_by if _names_actors(principal) else None,
        created_at=aware(row.created_at), seconds=row.seconds)


def _pair_view(pair: SignalPair) -> PairStatistics:
    return PairStatistics(
        run_id=pair.run_id, drug=pair.drug, event=pair.event, n=pair.n, e=pair.e,
        signal=pair.signal, signal_by=pair.signal_by,
        **{name: _finite(getattr(pair, name)) for name in STATISTICS if name not in ("n", "e")})


def _signal_view(principal: Principal, signal: Signal, pair: SignalPair | None
                 ) -> SignalSummary:
    steps = list(steps_from(signal.status)) if principal.role in DECIDERS else []
    return SignalSummary(
        id=signal.id, axis=signal.axis, drug=signal.drug, event=signal.event,
        status=signal.status, conclusion=signal.conclusion, first_run_id=signal.first_run_id,
        latest_run_id=signal.latest_run_id, created_at=aware(signal.created_at),
        updated_at=aware(signal.updated_at),
        statistics=_pair_view(pair) if pair is not None else None, next_steps=steps)


def _step_view(principal: Principal, at: datetime, actor: str, changes: dict[str, Any],
               note: str | None) -> SignalStep:
    before, after = changes.get("status", ["", ""])
    return SignalStep(at=aware(at), by=actor if _names_actors(principal) else None,
                      status_from=before, status_to=after, note=note,
                      run_id=changes.get("run"), evidence=changes.get("evidence", {}))
