"""The demo's inbox: `/demo/mail` lists what the demo's mail catcher received
(`notify/mail_catcher.py`), newest first: subject, recipient, sender, Message-ID, time
received, and the text, with how many distinct Message-IDs there are (delivery is at
least once, so a redelivered notice shows twice with one Message-ID).

Administrators only (others get the 403 page): the notices name patients and their
medicines, and a view per recipient would need an address for every login, which only
some accounts have. Outside a demo (the data folder has no `mail/`) the page answers 404.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from medsafe.errors import NotFound
from medsafe.notify.mail_catcher import Inbox
from medsafe.records import require_role
from medsafe.web.routing import PageRoute
from medsafe.web.session import SignedIn, container_of
from medsafe.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 25


@router.get("/demo/mail")
def demo_mail(request: Request, caller: SignedIn,
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    require_role(caller.principal, ("admin",), "read the demo's mail")
    inbox = Inbox.of(container_of(request).settings.data_dir)
    if not inbox.exists:
        raise NotFound("this server has no demo mail catcher (start it with `medsafe demo`)")
    total = inbox.count()
    return render(request, "demo_mail.html", {
        "messages": inbox.messages(offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE),
        "total": total, "distinct": len(set(inbox.message_ids())), "page": page,
        "pages": max(1, math.ceil(total / PAGE_SIZE))})
