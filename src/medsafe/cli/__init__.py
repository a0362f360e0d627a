"""The `medsafe` command line (Typer). Commands parse input, call the domain, shape output;
errors from the one error tree become one-line messages and exit codes."""

from __future__ import annotations

import typer

from medsafe.cli import assess as assess_command
from medsafe.cli import audit as audit_command
from medsafe.cli import backup as backup_command
from medsafe.cli import cases as cases_command
from medsafe.cli import db as db_command
from medsafe.cli import drugs as drugs_command
from medsafe.cli import population as population_command
from medsafe.cli import serve as serve_command
from medsafe.cli import signals as signals_command

app = typer.Typer(
    name="medsafe",
    help="medsafe: cited drug knowledge and treatment assessment for one patient.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="assess")(assess_command.assess)
app.add_typer(drugs_command.app, name="drugs")
app.add_typer(db_command.app, name="db")
app.add_typer(audit_command.app, name="audit")
app.add_typer(cases_command.app, name="cases")
app.add_typer(signals_command.app, name="signals")
app.command(name="serve")(serve_command.serve)
app.command(name="demo")(population_command.demo)
app.command(name="generate")(population_command.generate)
app.command(name="backup")(backup_command.backup)
app.command(name="restore")(backup_command.restore)


@app.callback()
def main() -> None:
    """medsafe: medication safety, from drug knowledge to patient protection."""
