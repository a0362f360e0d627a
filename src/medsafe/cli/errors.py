"""Turns domain errors into a one-line message on stderr and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from medsafe.error_mapping import exit_code_for
from medsafe.errors import MedsafeError

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    try:
        yield
    except MedsafeError as error:
        _stderr.print(f"medsafe: error: {error.message}", markup=False)
        raise typer.Exit(exit_code_for(error)) from None
