"""``ecocube sdm benchmark`` command group."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks of the SDMs on public data.", no_args_is_help=True)
