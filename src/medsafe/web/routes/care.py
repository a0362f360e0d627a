"""Care pages: the patient's own space (recall notices to acknowledge, the plan, the
symptom and sleep diary with its plot) and the care team's (alternatives to decide, plans
to watch, alerts to resolve).

Thin: every page calls the care and notice services (`medsafe.care.switching`,
`medsafe.care.monitoring_service`, `medsafe.recalls.patient_notices`), which decide who
sees what; a record the caller may not see is a 404 page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from medsafe.care import monitoring, monitoring_service, switching
from medsafe.care.diary_inputs import (
    NewDiaryCase,
    NewDiaryEntry,
    PlanDetail,
    PrescriberOverview,
    Series,
)
from medsafe.care.inputs import Decision
from medsafe.errors import Invalid
from medsafe.knowledge.catalog import Catalog
from medsafe.recalls import patient_notices
from medsafe.records import now
from medsafe.security.principal import Principal
from medsafe.web import charts, queries
from medsafe.web.routes.recalls import (
    Id,
    Refused,
    answered,
    optional,
    text_of,
    validated,
    when,
    whole_number,
)
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FIELDS = {"rank": "Proposal", "reason": "Reason", "ingredient": "Medicine",
          "dose_text": "Starting dose", "taper_steps": "Taper steps", "start_date": "Start on",
          "recorded_on": "Day", "scores": "Scores", "red_flags": "Signs",
          "temperature_c": "Temperature", "note": "Note", "day": "From day", "days": "Days",
          "dose_mg": "Dose", "times_per_day": "Times a day"}


def _names(catalog: Catalog) -> dict[str, str]:
    return {key: ing.name for key, ing in catalog.ingredients.items()}


def _chart(series: Sequence[Series], check_in_days: Sequence[int]) -> tuple[Markup, str]:
    chart = charts.diary([
        charts.DiarySeries(s.label, s.low, s.high, s.higher_is_worse,
                           tuple((p.since_start, p.value) for p in s.points))
        for s in series], check_in_days=check_in_days)
    return Markup(chart.svg), chart.summary


def _common(request: Request) -> dict[str, Any]:
    return {"names": _names(container_of(request).catalog), "when": when,
            "settings": monitoring.load_settings(), "today": now().date()}


# -- the patient's own space ----------------------------------------------------------------

@router.get("/my-care")
def my_care(request: Request, caller: SignedIn) -> Response:
    return _my_care(request, caller.principal)


def _my_care(request: Request, principal: Principal, *, problems: Sequence[str] = (),
             status: int = 200) -> Response:
    with container_of(request).uow() as uow:
        notices = patient_notices.my_notices(uow, principal)
        me = queries.whoami(uow, principal)
        assert me.own_pseudonym is not None  # my_notices refuses anyone but a patient
        mine = monitoring_service.patient_overview(uow, principal, me.own_pseudonym)
    series: list[Series] = []
    days: list[int] = []
    for plan in mine.plans[:1]:  # the newest plan's diary is plotted
        detail = _detail(request, principal, plan.id)
        series, days = detail.series, plan.check_in_days
    svg, summary = _chart(series, days)
    return render(request, "my_care.html", {
        "notices": notices, "monitoring": mine, "problems": problems, "chart_svg": svg,
        "chart_summary": summary, **_common(request)}, status=status)


def _detail(request: Request, principal: Principal, plan_id: int) -> PlanDetail:
    with container_of(request).uow() as uow:
        return monitoring_service.plan_detail(uow, principal, plan_id)


@router.post("/my-care/notices/{notice_id}/acknowledge")
async def acknowledge_notice(request: Request, caller: SignedIn, notice_id: Id) -> Response:
    principal = caller.principal

    def take() -> str:
        with container_of(request).uow() as uow:
            patient_notices.acknowledge_mine(uow, principal, notice_id)
        return f"/my-care#notice-{notice_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _my_care(
        request, principal, problems=problems, status=status))


# -- the diary (the patient, or the care team on the patient's behalf) -----------------------

def _back(principal: Principal, plan_id: int) -> str:
    return "/my-care#plans" if principal.role == "patient" else f"/care/plans/{plan_id}"


def _again(request: Request, principal: Principal, plan_id: int | None) -> Refused:
    def refused(problems: Sequence[str], status: int) -> Response:
        if principal.role == "patient":
            return _my_care(request, principal, problems=problems, status=status)
        if plan_id is None:
            return _desk(request, principal, problems=problems, status=status)
        return _plan_page(request, principal, plan_id, problems=problems, status=status)
    return refused


def number(text: str) -> float | str | None:
    """A decimal number typed into a form; other text is passed on for the input model to
    refuse with its own message."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def diary_entry(form: FormData) -> NewDiaryEntry:
    """The diary form as the use case's input: a score per item typed, the signs ticked."""
    scores: dict[str, Any] = {}
    for key in form:
        if key.startswith("score-") and text_of(form, key):
            scores[key.removeprefix("score-")] = whole_number(text_of(form, key))
    return validated(NewDiaryEntry, {
        "recorded_on": optional(form, "recorded_on"), "scores": scores,
        "red_flags": [v for v in form.getlist("red_flag") if isinstance(v, str)],
        "temperature_c": number(text_of(form, "temperature_c")),
        "note": optional(form, "note")},
        FIELDS)


@router.post("/care/plans/{plan_id}/diary")
async def add_diary_entry(request: Request, caller: SignedIn, plan_id: Id) -> Response:
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        with container_of(request).uow() as uow:
            done = monitoring_service.record_diary(uow, principal, plan_id, diary_entry(form),
                                                   today=now().date())
        return f"{_back(principal, plan_id).split('#')[0]}#entry-{done.entry.id}"

    return await run_in_threadpool(answered, take, _again(request, principal, plan_id))


@router.post("/care/diary/{entry_id}/case")
async def diary_case(request: Request, caller: SignedIn, entry_id: Id) -> Response:
    """One click: the diary entry reported as a side effect (a case through the intake),
    linked to the product and the lot the patient received."""
    principal = caller.principal

    def take() -> str:
        container = container_of(request)
        with container.uow() as uow:
            case = monitoring_service.diary_to_case(uow, principal, container.catalog,
                                                    entry_id, NewDiaryCase())
        return f"/cases/{case.id}" if principal.role != "patient" else "/my-care#plans"

    return await run_in_threadpool(answered, take, _again(request, principal, None))


# -- the care team's desk ----------------------------------------------------------------------

@router.get("/care")
def care_desk(request: Request, caller: SignedIn) -> Response:
    return _desk(request, caller.principal)


def _desk(request: Request, principal: Principal, *, problems: Sequence[str] = (),
          status: int = 200) -> Response:
    with container_of(request).uow() as uow:
        reviews, _ = switching.list_reviews(uow, principal, limit=200)
        # Plans and alerts are the prescriber's desk; a pharmacist sees each patient's
        # plan from the patient's page.
        overview = (monitoring_service.prescriber_overview(uow, principal)
                    if principal.role in ("admin", "physician")
                    else PrescriberOverview(plans=[], open_alerts=[], overdue_check_ins=[]))
    waiting = sorted(reviews, key=lambda r: (r.state != "proposed", r.patient))
    return render(request, "care_desk.html", {
        "reviews": waiting, "overview": overview, "problems": problems, **_common(request)},
        status=status)


@router.get("/care/reviews/{review_id}")
def review_page(request: Request, caller: SignedIn, review_id: Id) -> Response:
    return _review_page(request, caller.principal, review_id)


def _review_page(request: Request, principal: Principal, review_id: int, *,
                 problems: Sequence[str] = (), status: int = 200) -> Response:
    with container_of(request).uow() as uow:
        review = switching.read_review(uow, principal, review_id)
    return render(request, "care_review.html", {"r": review, "problems": problems,
                                                **_common(request)}, status=status)


def decision_of(form: FormData) -> Decision:
    """The decision form: a proposal's rank (or another medicine), the reason, the start
    day and the taper steps typed (rows left empty are skipped)."""
    rank = text_of(form, "rank")
    steps = []
    columns = [form.getlist(name) for name in ("taper_day", "taper_days", "taper_dose_mg",
                                               "taper_times_per_day")]
    for day, days, dose, times in zip(*columns, strict=False):
        values = [v.strip() if isinstance(v, str) else "" for v in (day, days, dose, times)]
        if any(values):
            steps.append({"day": whole_number(values[0]), "days": whole_number(values[1]),
                          "dose_mg": number(values[2]),
                          "times_per_day": whole_number(values[3])})
    other = rank == "other"
    return validated(Decision, {
        "rank": None if other else whole_number(rank),
        "ingredient": optional(form, "ingredient") if other else None,
        "dose_text": optional(form, "dose_text") if other else None,
        "reason": text_of(form, "reason"), "taper_steps": steps,
        "start_date": optional(form, "start_date")}, FIELDS)


@router.post("/care/reviews/{review_id}/decision")
async def decide(request: Request, caller: SignedIn, review_id: Id) -> Response:
    form = await request.form()
    principal = caller.principal

    def take() -> str:
        container = container_of(request)
        with container.uow() as uow:
            view = switching.decide(uow, principal, container.catalog, review_id,
                                    decision_of(form), today=now().date())
        return f"/care/plans/{view.plan_id}" if view.plan_id else f"/care/reviews/{review_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _review_page(
        request, principal, review_id, problems=problems, status=status))


@router.get("/care/plans/{plan_id}")
def plan_page(request: Request, caller: SignedIn, plan_id: Id) -> Response:
    return _plan_page(request, caller.principal, plan_id)


def _plan_page(request: Request, principal: Principal, plan_id: int, *,
               problems: Sequence[str] = (), status: int = 200) -> Response:
    detail = _detail(request, principal, plan_id)
    svg, summary = _chart(detail.series, detail.plan.check_in_days)
    return render(request, "care_plan.html", {
        "d": detail, "chart_svg": svg, "chart_summary": summary, "problems": problems,
        **_common(request)}, status=status)


@router.post("/care/alerts/{alert_id}/resolve")
async def resolve_alert(request: Request, caller: SignedIn, alert_id: Id) -> Response:
    form = await request.form()
    principal = caller.principal
    back = text_of(form, "back")

    def take() -> str:
        note = text_of(form, "note")
        if not note:
            raise Invalid("say what was done about the alert", where="note")
        with container_of(request).uow() as uow:
            alert = monitoring_service.resolve_alert(uow, principal, alert_id, note)
        return back if back.startswith("/care") else f"/care/plans/{alert.plan_id}#alerts"

    return await run_in_threadpool(answered, take, lambda problems, status: _desk(
        request, principal, problems=problems, status=status))


