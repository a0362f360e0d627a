"""Fixtures the page tests share: a world of named personas on each real database (one
per test module), and its web application."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from tests.support.databases import KINDS
from tests.support.world import World, world_on


@pytest.fixture(scope="module", params=KINDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_on(request.param, tmp_path_factory.mktemp(request.param)) as built:
        yield built


@pytest.fixture(scope="module")
def app(world: World) -> FastAPI:
    found: FastAPI = world.client.app  # type: ignore[assignment]
    return found
