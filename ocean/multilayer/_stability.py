"""Time-step limits of the multilayer scheme and the error that names a valid step."""

from __future__ import annotations

import math

from ecocube.ocean._errors import StabilityError

__all__ = ["day_divisor", "raise_unstable"]

SECONDS_PER_DAY = 86_400


def day_divisor(limit: float) -> int | None:
    """The largest whole number of seconds ``<= limit`` that divides a day, or ``None`` (< 1 s)."""
    if not limit >= 1.0:  # NaN included
        return None
    if limit >= SECONDS_PER_DAY:
        return SECONDS_PER_DAY
    steps = math.ceil(SECONDS_PER_DAY / limit)
    while SECONDS_PER_DAY % steps:
        steps += 1
    return SECONDS_PER_DAY // steps


def raise_unstable(dt: float, limit: float, what: str, where: str) -> None:
    """Raise :class:`StabilityError` for ``dt`` above ``limit`` (s), naming a valid step.

    Parameters
    ----------
    dt
        The step that was asked for (s).
    limit
        The largest stable step (s).
    what
        The violated condition, with its figures.
    where
        The state it was evaluated on.
    """
    good = day_divisor(limit)
    if good is not None:
        fix = f"use dt={good} s (the largest whole number of seconds within it that divides a day)"
    else:
        fix = (
            f"no whole-second step is that short: use dt <= {limit:.3g} s, or fewer cells "
            "(a smaller nx)"
        )
    raise StabilityError(
        f"dt={dt:g} s violates {what}: dt must be <= {limit:.6g} s on {where}; {fix}"
    )
