"""Commands of ``ecocube ocean`` (registered onto the group by ``register``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``ecocube ocean`` group."""
