"""The composition root: the one place that builds the engine, the unit-of-work factory
and the knowledge catalog, and hands them to the CLI, the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from medsafe.config import Settings, load_settings
from medsafe.knowledge.catalog import Catalog
from medsafe.store.engine import make_engine
from medsafe.store.migrate import upgrade
from medsafe.store.uow import UowFactory, uow_factory


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    uow: UowFactory
    catalog: Catalog


def bootstrap(settings: Settings | None = None, *, migrate: bool = False) -> Container:
    settings = settings or load_settings()
    engine = make_engine(settings.effective_database_url)
    if migrate:
        upgrade(engine)
    return Container(settings=settings, engine=engine, uow=uow_factory(engine),
                     catalog=Catalog.load())
