"""The CapabilityStatement medsafe serves at `GET /fhir/metadata`: what its FHIR R4
endpoints do, and nothing they do not. Pure.

Source: hl7.org/fhir/R4/capabilitystatement.html (required: status, date, kind,
fhirVersion, format; `kind` "instance" for one running installation, with
`implementation` describing it; `rest.mode` "server"; per resource its `interaction`
codes, among them read, create and search-type, and its `searchParam`s with name and
type) and hl7.org/fhir/R4/http.html (the capabilities interaction: a server answers
GET [base]/metadata with it).

The search parameters come from `search.SEARCH_PARAMS`, the table the search parser
itself reads, so the statement cannot declare a parameter the server refuses or leave
out one it takes. The interactions are the table `INTERACTIONS`, next to the routes'
own list in api/fhir.py (`MOUNTED`): a resource is declared only when its routes exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from medsafe import __version__
from medsafe.interop.fhir.search import (
    DEFAULT_COUNT,
    MAX_COUNT,
    SEARCH_PARAMS,
    validated,
)

FHIR_VERSION = "4.0.1"
STATEMENT_DATE = "2026-11-26"
"""When what this statement declares last changed (R4 requires a date)."""

INTERACTIONS: dict[str, tuple[str, ...]] = {
    "AdverseEvent": ("create", "read", "search-type"),
    "Communication": ("read", "search-type"),
    "DetectedIssue": ("read", "search-type"),
}
DOCUMENTATION: dict[str, str] = {
    "AdverseEvent": (
        "A medsafe case: one AdverseEvent per reaction (id <case>, or <case>-<n> for the "
        "n-th reaction of a case with several). Create takes an AdverseEvent or a Bundle "
        "of them; read of <case> answers a collection Bundle when the case has several "
        "reactions. Search finds the cases the caller may see, one entry per reaction."),
    "Communication": (
        "A recall notice sent to a patient (e-mail or letter). Read and searched by the "
        "patient, their pharmacy's pharmacists, their physicians and administrators."),
    "DetectedIssue": (
        "A problem medsafe's decision support raised in the EHR (a CDS Hooks card) on "
        "which the clinician acted: accepted, or overridden with the reason."),
}


def capability_statement(base: str, resources: Iterable[str]) -> dict[str, Any]:
    """The statement for a server at `base` (its FHIR base URL) serving `resources`
    (names from `INTERACTIONS`), as valid R4 JSON."""
    declared = [_resource(name) for name in resources]
    statement = {
        "resourceType": "CapabilityStatement",
        "id": "medsafe",
        "name": "MedsafeFhirServer",
        "title": "medsafe FHIR R4 server",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "medsafe",
        "kind": "instance",
        "software": {"name": "medsafe", "version": __version__},
        "implementation": {"description": "medsafe medication-safety platform",
                           "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": (
                f"Searches page with _count (default {DEFAULT_COUNT}, at most {MAX_COUNT}) "
                "and _offset; follow the Bundle's next link. An unknown search parameter "
                "is refused (400, OperationOutcome issue not-supported)."),
            "security": {"description": (
                "Send a bearer token (POST /api/v1/auth/token) in the Authorization "
                "header; every interaction but this statement needs one. A record the "
                "caller may not see is answered as not found.")},
            "resource": declared,
        }],
    }
    return validated(CapabilityStatement, statement)


def _resource(name: str) -> dict[str, Any]:
    params = [{"name": p.name, "type": p.type, "documentation": p.documentation,
               **({"definition": p.definition} if p.definition else {})}
              for p in SEARCH_PARAMS.get(name, ())]
    resource: dict[str, Any] = {
        "type": name,
        "documentation": DOCUMENTATION[name],
        "interaction": [{"code": code} for code in INTERACTIONS[name]],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
    }
    if params:
        resource["searchParam"] = params
    return resource
