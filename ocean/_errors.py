"""Errors of the ocean model (subclasses of :class:`ecocube.errors.InvalidInputError`)."""

from __future__ import annotations

from ecocube.errors import InvalidInputError

__all__ = ["ScenarioError", "StabilityError"]


class ScenarioError(InvalidInputError):
    """A scenario table is missing columns or holds NaN or out-of-range values."""


class StabilityError(InvalidInputError):
    """The time step violates the stability limit of an explicit part of the model."""
