"""Maps the domain error tree onto the outside world's error shapes.

One place, so the CLI, the API and the pages never disagree about what an error means.
"""

from __future__ import annotations

from medsafe.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    KnowledgeError,
    MedsafeError,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
)

# Exit code 2 is the Unix convention for "you called me wrong / bad input"; 1 is reserved
# for unexpected failures so scripts can tell the two apart.
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_FORBIDDEN = 5
EXIT_INTERNAL = 70  # EX_SOFTWARE from sysexits.h: our own data or code is broken


def exit_code_for(error: MedsafeError) -> int:
    """The CLI exit code for a domain error."""
    if isinstance(error, KnowledgeError):
        return EXIT_INTERNAL
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, Conflict | InvalidTransition):
        return EXIT_CONFLICT
    if isinstance(error, Forbidden):
        return EXIT_FORBIDDEN
    return EXIT_BAD_INPUT


# HTTP: RFC 9457 problem types. A record the caller may not see is a 404 like a record
# that does not exist (Forbidden is only for actions the caller's role may never take).
HTTP_STATUS: tuple[tuple[type[MedsafeError], int, str], ...] = (
    (Unauthenticated, 401, "Unauthorized"),
    (NotFound, 404, "Not Found"),
    (Conflict, 409, "Conflict"),
    (InvalidTransition, 409, "Invalid Transition"),
    (Forbidden, 403, "Forbidden"),
    (KnowledgeError, 500, "Knowledge Base Error"),
    (PreconditionFailed, 412, "Precondition Failed"),
    (MedsafeError, 422, "Invalid Request"),
)


def http_status_for(error: MedsafeError) -> tuple[int, str]:
    """(status code, problem title) for a domain error."""
    for kind, status, title in HTTP_STATUS:
        if isinstance(error, kind):
            return status, title
    return 500, "Internal Server Error"
