"""``ecocube ocean`` command group."""

from __future__ import annotations

import typer

app = typer.Typer(help="Ocean model, scenario ensembles and surrogates.", no_args_is_help=True)
