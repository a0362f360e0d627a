"""The `medsafe` command line (Typer). Commands parse input, call the domain, shape output;
errors from the one error tree become one-line messages and exit codes.

Each command's module is imported only when that command runs (`cli.lazy`)."""

from __future__ import annotations

import typer

from medsafe.cli.lazy import Registry, lazy_group

COMMANDS: Registry = {
    "assess": ("medsafe.cli.assess", "assess"),
    "drugs": ("medsafe.cli.drugs", "app"),
    "db": ("medsafe.cli.db", "app"),
    "audit": ("medsafe.cli.audit", "app"),
    "cases": ("medsafe.cli.cases", "app"),
    "signals": ("medsafe.cli.signals", "app"),
    "recalls": ("medsafe.cli.recalls", "app"),
    "notify": ("medsafe.cli.notify", "app"),
    "care": ("medsafe.cli.care", "app"),
    "serve": ("medsafe.cli.serve", "serve"),
    "demo": ("medsafe.cli.population", "demo"),
    "generate": ("medsafe.cli.population", "generate"),
    "backup": ("medsafe.cli.backup", "backup"),
    "restore": ("medsafe.cli.backup", "restore"),
}


app = typer.Typer(
    name="medsafe",
    help="medsafe: cited drug knowledge and treatment assessment for one patient.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=lazy_group(COMMANDS),
)


@app.callback()
def main() -> None:
    """medsafe: medication safety, from drug knowledge to patient protection."""
