"""Signing in to the web pages as a persona, and reading the CSRF token a page carries."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.world import PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_token(client: TestClient) -> str:
    """The CSRF token of the login form."""
    page = client.get("/login")
    assert page.status_code == 200
    found = CSRF_FIELD.search(page.text)
    assert found is not None
    return found.group(1)


def log_in(app: FastAPI, username: str, password: str = PASSWORD) -> TestClient:
    """A browser-like client signed in as `username`."""
    client = TestClient(app)
    reply = client.post("/login", data={"username": username, "password": password,
                                        "csrf_token": login_token(client), "next": "/home"},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return client


def csrf_of(client: TestClient) -> str:
    """The signed-in client's CSRF token, as its pages carry it."""
    found = CSRF_FIELD.search(client.get("/home").text)
    assert found is not None
    return found.group(1)
