"""Acknowledging a notice: `/notices/ack/{token}`, the link every notice carries.

GET shows the notice's subject and a button, and changes nothing: mail scanners and link
previews open links by themselves. POST records the acknowledgement (once; repeating it
is harmless). No login: the token is the credential. The page is kept out of caches, and
its address, which holds the token, out of Referer headers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from medsafe.notify import acknowledgements
from medsafe.web.routing import PageRoute
from medsafe.web.session import MaybeCaller, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Token = Annotated[str, Path(min_length=1, max_length=200)]
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex"}


@router.get("/notices/ack/{token}")
def ack_page(request: Request, caller: MaybeCaller, token: Token) -> Response:
    with container_of(request).uow() as uow:
        notice = acknowledgements.read(uow, token)
    return render(request, "notice_ack.html", {"notice": notice, "token": token},
                  headers=PRIVATE)


@router.post("/notices/ack/{token}")
def acknowledge(request: Request, caller: MaybeCaller, token: Token) -> Response:
    with container_of(request).uow() as uow:
        notice = acknowledgements.acknowledge(uow, token)
    return render(request, "notice_ack.html", {"notice": notice, "token": token},
                  headers=PRIVATE)
