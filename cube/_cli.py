"""``ecocube cube`` command group."""

from __future__ import annotations

import typer

app = typer.Typer(help="Aligned data cubes (Zarr) and PyTorch loaders.", no_args_is_help=True)
