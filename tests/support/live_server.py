"""The app served for a real browser: uvicorn in a background thread on a free loopback
port, and Debian's Chromium to drive it (Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
START_SECONDS = 15


def chromium_path() -> str:
    """Debian's Chromium, or a skip (a failure under CI=true, where it must be there)."""
    path = shutil.which("chromium")
    if path is None:
        reason = "the 'chromium' package is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: under CI=true the browser test must run")
        pytest.skip(reason)
    return path


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1; yields its base URL."""
    # Bind first and hand uvicorn the socket: no window in which the port could be taken.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class Watched:
    """A browser page, and every problem the browser reported while it was open: a
    console error, an uncaught script error, or a response of 400 and above (a script or
    style blocked by the content security policy shows up here)."""

    page: Page
    problems: list[str] = field(default_factory=list)


@contextmanager
def browser_page(timeout_ms: int) -> Iterator[Watched]:
    """Debian's Chromium, headless, with one page of 1280 x 900 whose problems are
    collected; the browser is closed afterwards, whatever happened."""
    chromium = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(timeout_ms)
            watched = Watched(page)
            page.on("console", lambda m: watched.problems.append(m.text)
                    if m.type == "error" else None)
            page.on("pageerror", lambda error: watched.problems.append(str(error)))
            page.on("response", lambda r: watched.problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            yield watched
        finally:
            browser.close()
