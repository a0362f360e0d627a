"""The Jinja2 environment and the one function that turns a template into a response.

Autoescaping is on for every template and undefined names are errors, so a typo in a
template fails its test instead of rendering an empty string.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from medsafe import __version__
from medsafe.recalls.service import CREATORS as RECALL_STAFF
from medsafe.signals.lifecycle import READERS as SIGNAL_READERS
from medsafe.web import labels

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Scripts and styles come only from our own /static: no inline script, no inline style,
# nothing from another origin. htmx runs without eval as long as templates use no
# trigger filters, hx-on or js: values (they do not).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Who reads signals is decided once, in the signal lifecycle; the menu only asks.
# Who sees the signal pages and the recall desk: the menu asks, the services decide.
environment.globals.update(version=__version__, labels=labels, signal_readers=SIGNAL_READERS,
                           recall_staff=RECALL_STAFF)


def page_headers(*, private: bool) -> dict[str, str]:
    """Headers for every HTML page. Pages showing a signed-in user's data are never
    stored by a browser or proxy cache (`no-store`)."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
    }
    if private:
        headers["Cache-Control"] = "no-store"
    return headers


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *,
           status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """Render `name` with the request's caller (if any) in the context."""
    caller = getattr(request.state, "caller", None)
    values: dict[str, Any] = {"request": request, "caller": caller}
    values.update(context or {})
    body = environment.get_template(name).render(values)
    response = HTMLResponse(body, status_code=status)
    for key, value in page_headers(private=caller is not None).items():
        response.headers[key] = value
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
