"""The scan check: is a scanned pack under an open recall? (docs/recalls.md, "Who is told,
and how"). The body is the GS1 element string a scanner reads from the pack's DataMatrix:
GTIN (01), lot (10), expiry (17), optionally serial (21). A scan that cannot be read, or
that has no lot, is a 422 naming the application identifier at fault."""

from __future__ import annotations

from fastapi import APIRouter

from medsafe.api.deps import ContainerDep, CurrentPrincipal
from medsafe.recalls import lot_check
from medsafe.recalls.lot_check import NewScan, ScanCheck

router = APIRouter(tags=["recalls"])


@router.post("/scans", response_model=ScanCheck)
def check_scan(body: NewScan, app: ContainerDep, caller: CurrentPrincipal) -> ScanCheck:
    """Whether the pack is under an open recall (which, and what to do), and whether it
    has expired. Changes nothing."""
    with app.uow() as uow:
        return lot_check.check_scan(uow, caller, body)
