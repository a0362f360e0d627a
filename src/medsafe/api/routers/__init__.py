"""Every API router, one module per area; `api.app` mounts them all under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from medsafe.api.routers import assessments, auth, drugs

ROUTERS: tuple[APIRouter, ...] = (auth.router, drugs.router, assessments.router)
