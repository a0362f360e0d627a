"""`medsafe demo` as a person runs it: a real process, a real port, the demo logins."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "medsafe-demo-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(url: str, *, data: dict[str, str] | None = None, token: str | None = None
         ) -> Any:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("demo")
    port = free_port()
    # A file, not a pipe: a pipe nobody reads would fill up and stall the server.
    log_path = data_dir / "demo.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "medsafe", "demo", "--data-dir", str(data_dir), "--port",
         str(port), "--patients", "300"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                call(f"{base}/healthz")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"medsafe demo did not start:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.parametrize("username", ["alice-admin", "rita-regulator", "mo-manufacturer",
                                      "phil-pharmacist", "dora-physician", "pat-patient"])
def test_every_demo_login_works(demo: str, username: str) -> None:
    token = call(f"{demo}/api/v1/auth/token",
                 data={"username": username, "password": PASSWORD})["access_token"]
    assert call(f"{demo}/api/v1/auth/me", token=token)["username"] == username


def test_the_demo_physician_sees_her_patients_and_can_assess_them(demo: str) -> None:
    token = call(f"{demo}/api/v1/auth/token",
                 data={"username": "dora-physician", "password": PASSWORD})["access_token"]
    patients = call(f"{demo}/api/v1/patients?page_size=5", token=token)
    assert patients["total"] > 0
    assert all(p["synthetic"] for p in patients["items"])
    pseudonym = patients["items"][0]["pseudonym"]
    assessment = call(f"{demo}/api/v1/patients/{pseudonym}/assessment", token=token)
    assert len(assessment["options"]) == 8


def test_the_demo_serves_the_public_drug_pages(demo: str) -> None:
    with urllib.request.urlopen(f"{demo}/drugs/baclofen", timeout=30) as reply:
        page = reply.read().decode()
    assert "Baclofen" in page
    assert "FDA label, baclofen tablets" in page
