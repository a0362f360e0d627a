"""A small FHIR R4 REST client for the EHR's `fhirServer`, used when the CDS client did not
prefetch what a service needs (CDS Hooks 2.0, "Prefetch": the service then queries the
FHIR server itself, with the `fhirAuthorization` access token as a Bearer token).

Reads and searches only (GET, `application/fhir+json`), with a timeout per request, a
size limit per reply, no redirects (a redirect could carry the token elsewhere) and at
most `max_pages` pages of a search, following `next` links only on the server's own
origin. Blocking I/O: call it from a worker thread.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import IO, Any
from urllib.parse import urlsplit

from medsafe import __version__

FHIR_JSON = "application/fhir+json"
DEFAULT_TIMEOUT_SECONDS = 3.0  # the whole CDS call should take about 500 ms (CDS Hooks 2.0)
LARGEST_REPLY = 5_000_000  # bytes; the patient bundle reader refuses more anyway
DEFAULT_MAX_PAGES = 5


class FhirServerError(Exception):
    """The FHIR server could not be read: network, HTTP status, size or JSON. `status` is
    the HTTP status when the server answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: Message, newurl: str) -> None:
        return None


class FhirClient:
    """GETs against one FHIR server base URL, with an optional Bearer access token."""

    def __init__(self, base_url: str, *, access_token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, largest: int = LARGEST_REPLY,
                 max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = (parts.scheme, parts.netloc)
        self._token = access_token
        self._timeout = timeout
        self._largest = largest
        self._max_pages = max_pages
        self._opener = urllib.request.build_opener(_NoRedirects)

    def get(self, relative: str) -> dict[str, Any]:
        """GET `{base}/{relative}` (a read such as 'Patient/123' or a search such as
        'Condition?patient=123') and return the JSON resource."""
        return self._get_url(f"{self.base_url}/{relative.lstrip('/')}")

    def search(self, relative: str) -> list[dict[str, Any]]:
        """A search's entries' resources, following `next` links on the same origin for
        at most `max_pages` pages. A read ('Patient/123') gives that one resource."""
        reply = self.get(relative)
        if reply.get("resourceType") != "Bundle":
            return [reply]
        found: list[dict[str, Any]] = []
        for _page in range(self._max_pages):
            for entry in reply.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict):
                    found.append(resource)
            following = self._next_link(reply)
            if following is None:
                break
            reply = self._get_url(following)
        return found

    def _next_link(self, bundle: dict[str, Any]) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next":
                url = link.get("url")
                if isinstance(url, str):
                    parts = urlsplit(url)
                    # The token is sent only to the server it was issued for.
                    if (parts.scheme, parts.netloc) == self._origin:
                        return url
        return None

    def _get_url(self, url: str) -> dict[str, Any]:
        headers = {"Accept": FHIR_JSON, "User-Agent": f"medsafe/{__version__}"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, headers=headers)
        try:
            with self._opener.open(request, timeout=self._timeout) as reply:
                body: bytes = reply.read(self._largest + 1)
        except urllib.error.HTTPError as error:
            error.close()
            raise FhirServerError(f"GET {_path(url)}: HTTP {error.code}",
                                  status=error.code) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise FhirServerError(f"GET {_path(url)}: {reason}") from None
        if len(body) > self._largest:
            raise FhirServerError(f"GET {_path(url)}: larger than {self._largest} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise FhirServerError(f"GET {_path(url)}: not JSON") from None
        if not isinstance(document, dict):
            raise FhirServerError(f"GET {_path(url)}: not a FHIR resource")
        return document


def _path(url: str) -> str:
    """The URL without its query (search parameters name the patient) for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
