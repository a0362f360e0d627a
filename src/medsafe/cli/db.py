"""`medsafe db upgrade|current`: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from medsafe.cli.common import DatabaseUrlOption, DataDirOption, open_container
from medsafe.cli.errors import reported_errors
from medsafe.store.migrate import current_revision, upgrade

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command(name="upgrade")
def upgrade_command(database_url: DatabaseUrlOption = None,
                    data_dir: DataDirOption = None) -> None:
    """Migrate the configured database (SQLite or PostgreSQL) to the newest schema."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        before = current_revision(container.engine)
        upgrade(container.engine)
        after = current_revision(container.engine)
        where = container.engine.url.render_as_string(hide_password=True)
        Console(soft_wrap=True).print(f"database {where}: schema {before or 'empty'} -> {after}",
                                      markup=False)


@app.command(name="current")
def current_command(database_url: DatabaseUrlOption = None,
                    data_dir: DataDirOption = None) -> None:
    """Print the schema revision of the configured database."""
    with reported_errors():
        container = open_container(database_url, data_dir)
        Console().print(current_revision(container.engine) or "empty (run: medsafe db upgrade)")
