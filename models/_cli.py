"""``ecocube sdm`` command group."""

from __future__ import annotations

import typer

from ecocube.models._cli_benchmark import app as benchmark_app

app = typer.Typer(help="Species distribution models.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")
