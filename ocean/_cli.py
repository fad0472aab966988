"""``ecocube ocean`` command group: model and ensemble commands, surrogate commands."""

from __future__ import annotations

import typer

from ecocube.ocean import _cli_model, _cli_surrogate

app = typer.Typer(help="Ocean model, scenario ensembles and surrogates.", no_args_is_help=True)
_cli_model.register(app)
_cli_surrogate.register(app)
