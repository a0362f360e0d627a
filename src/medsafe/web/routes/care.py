"""Care pages: the patient's own space (recall notices to acknowledge, the plan, the
symptom and sleep diary) and the care team's (alternatives to decide, plans to watch,
alerts to resolve).

Thin: every page calls the care and notice services (`medsafe.care.*`,
`medsafe.recalls.patient_notices`), which decide who sees what; a record the caller may
not see is a 404 page.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from medsafe.recalls import patient_notices
from medsafe.security.principal import Principal
from medsafe.web.routes.recalls import Id, answered, when
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- the patient's own space ----------------------------------------------------------------

@router.get("/my-care")
def my_care(request: Request, caller: SignedIn) -> Response:
    return _my_care(request, caller.principal)


def _my_care(request: Request, principal: Principal, *, problems: Sequence[str] = (),
             status: int = 200) -> Response:
    with container_of(request).uow() as uow:
        notices = patient_notices.my_notices(uow, principal)
    return render(request, "my_care.html", {"notices": notices, "problems": problems,
                                            "when": when}, status=status)


@router.post("/my-care/notices/{notice_id}/acknowledge")
async def acknowledge_notice(request: Request, caller: SignedIn, notice_id: Id) -> Response:
    principal = caller.principal

    def take() -> str:
        with container_of(request).uow() as uow:
            patient_notices.acknowledge_mine(uow, principal, notice_id)
        return f"/my-care#notice-{notice_id}"

    return await run_in_threadpool(answered, take, lambda problems, status: _my_care(
        request, principal, problems=problems, status=status))
