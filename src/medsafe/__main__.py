"""`python -m medsafe` runs the command line."""

from medsafe.cli import app

app(prog_name="medsafe")
