"""The real adverse-event reports the demo ships (`data/reports`, see its SOURCE.md):
FDA's E2B(R3) examples, two FAERS ASCII samples and the 1999 VAERS year, imported
through the same use cases as `medsafe cases import-…`, so the demo's case inbox holds
real reports beside the synthetic baclofen ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from medsafe.bootstrap import Container
from medsafe.cases.duplicate_review import find_duplicates
from medsafe.cases.exchange import receive_e2b
from medsafe.cases.imports import import_reports
from medsafe.interop.faers.reader import read_faers
from medsafe.interop.vaers import read_vaers
from medsafe.security.principal import SYSTEM

REPORTS = Path(__file__).resolve().parents[3] / "data" / "reports"


def import_shipped_reports(container: Container,
                           say: Callable[[str], None] = lambda _: None) -> int:
    """Import every shipped file; how many cases were stored. Nothing happens (0) when
    medsafe runs from a package without the checkout's data folder."""
    if not REPORTS.exists():
        say(f"no shipped reports at {REPORTS}; skipping the real reports")
        return 0
    stored = 0
    for path in sorted((REPORTS / "e2b-examples").glob("*.xml")):
        received = receive_e2b(container.uow, SYSTEM, container.catalog, path.read_bytes(),
                               name=path.name, region=container.settings.case_region)
        stored += received.tally.new + received.tally.follow_ups
        say(f"E2B(R3) {path.name}: {received.accepted} of {len(received.results)} "
            "messages accepted")
    for folder in sorted((REPORTS / "faers").iterdir()):
        if folder.is_dir():
            summary = import_reports(container.uow, SYSTEM, container.catalog,
                                     read_faers(folder), source="faers", label=folder.name)
            stored += summary.stored
            say(f"FAERS {folder.name}: {summary.new:,} cases")
    summary = import_reports(container.uow, SYSTEM, container.catalog,
                             read_vaers(REPORTS / "vaers-1999"), source="vaers",
                             label="vaers-1999")
    stored += summary.stored
    say(f"VAERS 1999: {summary.new:,} cases")
    with container.uow() as uow:
        found = find_duplicates(uow, SYSTEM)
    say(f"duplicate search: {found.new:,} probable pairs among {found.cases:,} cases, "
        "listed for review")
    return stored
