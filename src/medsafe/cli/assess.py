"""`medsafe assess BUNDLE.json`: rank the muscle relaxants for one patient."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from medsafe.assessment.engine import assess as run_assessment
from medsafe.assessment.report import assessment_document
from medsafe.cli.errors import reported_errors
from medsafe.cli.render import render_assessment
from medsafe.errors import Invalid
from medsafe.interop.fhir.patient_bundle import parse_bundle_text
from medsafe.knowledge.catalog import Catalog


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def assess(
    bundle: Annotated[
        Path, typer.Argument(help="FHIR R4 Bundle (JSON) for one patient; - for stdin")
    ],
    drug: Annotated[
        list[str] | None,
        typer.Option("--drug", "-d", help="Assess only this drug (name or brand); repeatable"),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json")] = (
        OutputFormat.table
    ),
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date to compute age on (YYYY-MM-DD); default today"),
    ] = None,
) -> None:
    """Assess the candidate muscle relaxants for the patient in BUNDLE."""
    with reported_errors():
        today = _parse_day(as_of) if as_of else date.today()
        text = _read(bundle)
        record = parse_bundle_text(text)
        catalog = Catalog.load()
        result = run_assessment(record, catalog, today=today, drugs=drug)
        if output is OutputFormat.json:
            sys.stdout.write(json.dumps(assessment_document(result), indent=2,
                                        ensure_ascii=False) + "\n")
        else:
            render_assessment(Console(), result, catalog)


def _read(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise Invalid(f"{path}: no such file") from None
    except IsADirectoryError:
        raise Invalid(f"{path}: is a directory, expected a JSON file") from None
    except OSError as exc:
        raise Invalid(f"{path}: cannot read: {exc.strerror}") from None


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"--as-of: '{value}' is not a date (YYYY-MM-DD)") from None
