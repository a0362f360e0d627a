"""Command groups whose commands are imported when first asked for.

The web application, the database layer and the statistics each take a second or more
to import; `medsafe signals run` should not pay for the database, nor `medsafe db` for
the statistics."""

from __future__ import annotations

import importlib

import typer
from typer import _click as click  # Typer 0.29 carries its own copy of Click
from typer.core import TyperGroup

Registry = dict[str, tuple[str, str]]
"""name -> (module, attribute): a Typer app (a command group) or a function (a command)."""


def lazy_group(registry: Registry) -> type[TyperGroup]:
    """A group class that adds the `registry`'s commands to those defined on the app."""

    class LazyCommands(TyperGroup):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return [*super().list_commands(ctx), *registry]

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            if cmd_name not in registry:
                return super().get_command(ctx, cmd_name)
            module, attribute = registry[cmd_name]
            target = getattr(importlib.import_module(module), attribute)
            if not isinstance(target, typer.Typer):
                single = typer.Typer()  # one command, no callback: Typer returns it as is
                single.command(name=cmd_name)(target)
                target = single
            target._add_completion = False  # completion is the root's business
            command = typer.main.get_command(target)
            command.name = cmd_name
            return command

    return LazyCommands
