"""The `medsafe` command line (Typer). Commands parse input, call the domain, shape output;
errors from the one error tree become one-line messages and exit codes.

Each command's module is imported only when that command runs: the web application, the
database layer and the statistics each take a second or more to import, and a command
such as `medsafe signals run` should not pay for the others."""

from __future__ import annotations

import importlib

import typer
from typer import _click as click  # Typer 0.29 carries its own copy of Click
from typer.core import TyperGroup

# name -> (module, attribute): a Typer app (a command group) or a function (a command).
COMMANDS: dict[str, tuple[str, str]] = {
    "assess": ("medsafe.cli.assess", "assess"),
    "drugs": ("medsafe.cli.drugs", "app"),
    "db": ("medsafe.cli.db", "app"),
    "audit": ("medsafe.cli.audit", "app"),
    "cases": ("medsafe.cli.cases", "app"),
    "signals": ("medsafe.cli.signals", "app"),
    "serve": ("medsafe.cli.serve", "serve"),
    "demo": ("medsafe.cli.population", "demo"),
    "generate": ("medsafe.cli.population", "generate"),
    "backup": ("medsafe.cli.backup", "backup"),
    "restore": ("medsafe.cli.backup", "restore"),
}


class LazyCommands(TyperGroup):
    """A group whose commands are imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        if not isinstance(target, typer.Typer):
            single = typer.Typer()  # one command and no callback: Typer returns the command
            single.command(name=cmd_name)(target)
            target = single
        target._add_completion = False  # completion is the root's business
        command = typer.main.get_command(target)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="medsafe",
    help="medsafe: cited drug knowledge and treatment assessment for one patient.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyCommands,
)


@app.callback()
def main() -> None:
    """medsafe: medication safety, from drug knowledge to patient protection."""
