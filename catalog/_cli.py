"""``ecocube catalog`` command group."""

from __future__ import annotations

import typer

app = typer.Typer(help="STAC catalog: build, validate, serve and search.", no_args_is_help=True)
