"""The page routers, one module per area; `medsafe.web.install` mounts them all."""

from __future__ import annotations

from fastapi import APIRouter

from medsafe.web.routes import (
    auth,
    care,
    cases,
    demo_mail,
    duplicates,
    effectiveness,
    home,
    investigations,
    notices,
    patients,
    public,
    recalls,
    signals,
)

# duplicates before cases: `/cases/duplicates` would otherwise match `/cases/{reference}`.
ROUTERS: tuple[APIRouter, ...] = (public.router, auth.login_router, auth.router, home.router,
                                  patients.router, duplicates.router, cases.router,
                                  signals.router, notices.router, recalls.router,
                                  investigations.router, effectiveness.router, care.router,
                                  demo_mail.router)
