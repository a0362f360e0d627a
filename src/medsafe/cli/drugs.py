"""`medsafe drugs list` and `medsafe drugs show NAME`: the cited catalog."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from medsafe.cli.errors import reported_errors
from medsafe.cli.render import render_drug, render_drug_list
from medsafe.knowledge.catalog import Catalog

app = typer.Typer(help="The drug knowledge base: every clinical fact with its source.",
                  no_args_is_help=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


@app.command(name="list")
def list_drugs(
    output: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """List every ingredient with its products, strengths, prices, category and tags."""
    with reported_errors():
        catalog = Catalog.load()
        ingredients = sorted(catalog.ingredients.values(), key=lambda i: i.name)
        if output is OutputFormat.json:
            rows = [
                {
                    "id": i.id,
                    "name": i.name,
                    "family": i.family,
                    "category": i.category.text,
                    "tags": list(i.tags),
                    "products": [
                        {"id": p.id, "name": p.name, "form": p.form, "route": p.route,
                         "market": p.market,
                         "strengths": [s.label() for s in p.strengths],
                         "price": None if p.price is None else p.price.model_dump(mode="json")}
                        for p in i.products
                    ],
                }
                for i in ingredients
            ]
            sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        else:
            render_drug_list(Console(), ingredients)


@app.command(name="show")
def show_drug(
    name: Annotated[str, typer.Argument(help="Ingredient, synonym or brand name")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """Show everything medsafe knows about one ingredient, with sources."""
    with reported_errors():
        catalog = Catalog.load()
        ingredient = catalog.ingredient(name)
        if output is OutputFormat.json:
            sys.stdout.write(json.dumps(ingredient.model_dump(mode="json"), indent=2,
                                        ensure_ascii=False) + "\n")
        else:
            render_drug(Console(), ingredient, catalog)
