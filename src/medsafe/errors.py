"""The one error tree of medsafe.

Domain code raises these; `medsafe.error_mapping` turns them into CLI exit codes
(and, as adapters arrive, HTTP problem+json, HTML pages and FHIR OperationOutcome).
Nothing else should invent its own error shape.
"""

from __future__ import annotations


class MedsafeError(Exception):
    """Base of every error medsafe raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(MedsafeError):
    """Input that cannot be accepted: malformed, out of range or inconsistent.

    `where` names the offending place (a file and line, a field path) when known.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.reason = message


class PreconditionFailed(Invalid):
    """Data the request depends on cannot be had (a CDS Hooks call whose required FHIR
    data was neither prefetched nor readable from the EHR's server: HTTP 412)."""


class NotFound(MedsafeError):
    """The thing asked for does not exist (or the caller may not know it exists)."""


class Conflict(MedsafeError):
    """The request contradicts the current state (duplicate key, stale version)."""


class InvalidTransition(MedsafeError):
    """A workflow step that is not allowed from the current state or for this role."""


class Forbidden(MedsafeError):
    """The caller is known but may not do this."""


class Unauthenticated(Forbidden):
    """The caller could not be identified (wrong password, missing or expired token)."""


class KnowledgeError(MedsafeError):
    """The shipped knowledge base is broken: a bug in medsafe's data, never user input."""
