"""`medsafe backup FILE` and `medsafe restore FILE` for the embedded SQLite database.

SQLite's online backup copies a consistent snapshot while the database is in use.
PostgreSQL has its own tools (pg_dump / pg_restore), documented in docs/operations.md.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.errors import Invalid


def _sqlite_path(database_url: str | None, data_dir: Path | None) -> Path:
    container = open_container(database_url, data_dir)
    url = container.engine.url
    container.engine.dispose()
    if url.get_backend_name() != "sqlite" or not url.database:
        raise Invalid("backup and restore are for the embedded SQLite database; for "
                      "PostgreSQL use pg_dump and pg_restore (see docs/operations.md)")
    return Path(url.database)


def backup(
    file: Annotated[Path, typer.Argument(help="where to write the backup")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Copy a consistent snapshot of the embedded database to FILE (online, no downtime)."""
    with reported_errors():
        source_path = _sqlite_path(database_url, data_dir)
        if not source_path.exists():
            raise Invalid(f"{source_path}: no database here yet (run medsafe db upgrade)")
        if file.exists():
            raise Invalid(f"{file}: already exists; choose a new file name")
        file.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source_path) as source, sqlite3.connect(file) as target:
            source.backup(target)
        target_check = sqlite3.connect(file)
        try:
            result = target_check.execute("PRAGMA integrity_check").fetchone()
        finally:
            target_check.close()
        if result is None or result[0] != "ok":
            raise Invalid(f"{file}: backup failed its integrity check: {result}")
        Console().print(f"backed up {source_path} to {file} ({file.stat().st_size:,} bytes)")


def restore(
    file: Annotated[Path, typer.Argument(help="a backup written by medsafe backup")],
    yes: Annotated[bool, typer.Option("--yes", help="replace the current database")] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Replace the embedded database with a backup. Stop `medsafe serve` first."""
    with reported_errors():
        target_path = _sqlite_path(database_url, data_dir)
        if not file.is_file():
            raise Invalid(f"{file}: no such backup file")
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as backup_db:
            try:
                backup_db.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.DatabaseError as exc:
                raise Invalid(f"{file}: not a medsafe database backup ({exc})") from None
            if target_path.exists() and not yes:
                raise Invalid(f"{target_path} exists: pass --yes to replace it with {file}")
            target_path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(target_path) as target:
                backup_db.backup(target)
        Console().print(f"restored {target_path} from {file}")
