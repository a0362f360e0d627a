"""Server-rendered pages (Jinja2 + HTMX), mounted on the API application."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the pages and static files on `app`."""
