"""What every command that touches the database shares: options and the container."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medsafe.bootstrap import Container, bootstrap
from medsafe.config import load_settings
from medsafe.errors import NotFound
from medsafe.security.accounts import principal_of
from medsafe.security.principal import Principal
from medsafe.store.uow import UnitOfWork

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option("--database-url", envvar="MEDSAFE_DATABASE_URL",
                 help="SQLAlchemy URL; default: SQLite in the data directory"),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="MEDSAFE_DATA_DIR", help="where the embedded database "
                 "and files live (default ./medsafe-data)"),
]


def open_container(database_url: str | None, data_dir: Path | None, *,
                   migrate: bool = False, settings: dict[str, object] | None = None
                   ) -> Container:
    overrides: dict[str, object] = dict(settings or {})
    if database_url:
        overrides["database_url"] = database_url
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return bootstrap(load_settings(**overrides), migrate=migrate)


def active_user(uow: UnitOfWork, username: str) -> Principal:
    """The principal of an active account, named on the command line (`--as`)."""
    found = uow.users.by_username(username)
    if found is None or not found.active:
        raise NotFound(f"no active user '{username}'")
    return principal_of(found)
