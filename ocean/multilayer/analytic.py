"""Exact solutions of the Saint-Venant system used to test the multilayer basin (NumPy).

- :func:`ritter`: dam break onto a dry bed (Ritter 1892, Z. Ver. Dtsch. Ing. 36:947);
- :func:`stoker`: dam break onto water at rest (Stoker 1957, *Water Waves*, ch. 10.8);
- :func:`wind_setup`: steady surface of a closed flat basin under a uniform wind stress with
  no bottom stress, ``g H dH/dx = tau / rho`` (e.g. Dean & Dalrymple 1991, *Water Wave
  Mechanics for Engineers and Scientists*, ch. 11).

Examples
--------
>>> import numpy as np
>>> from ecocube.ocean.multilayer.analytic import ritter
>>> h, u = ritter(np.array([0.0, 1.0]), 0.0, x0=0.5, h_left=1.0)
>>> h.tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import math

import numpy as np

from ecocube.errors import InvalidInputError

__all__ = ["ritter", "stoker", "stoker_middle_state", "wind_setup", "wind_setup_slope"]

GRAVITY = 9.81
_BISECTIONS = 200


def ritter(
    x: np.ndarray, t: float, *, x0: float, h_left: float, gravity: float = GRAVITY
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (m) and velocity (m s-1) of a dam break onto a dry bed at time ``t`` (s).

    Water of depth ``h_left`` at rest for ``x < x0`` and a dry bed for ``x > x0`` at
    ``t = 0``: a rarefaction ``h = (2 c_l - (x - x0) / t)^2 / (9 g)``,
    ``u = 2 / 3 ((x - x0) / t + c_l)`` between ``x0 - c_l t`` and the dry front
    ``x0 + 2 c_l t`` (``c_l = sqrt(g h_left)``).
    """
    return stoker(x, t, x0=x0, h_left=h_left, h_right=0.0, gravity=gravity)


def stoker_middle_state(
    h_left: float, h_right: float, gravity: float = GRAVITY
) -> tuple[float, float, float]:
    """Middle depth ``h_m`` (m), velocity ``u_m`` (m s-1) and shock speed (m s-1) of a wet dam break.

    ``h_m`` joins the left state by a rarefaction (``u_m = 2 (c_l - c_m)``) and the right state
    by a shock (``u_m = (h_m - h_r) sqrt(g (h_m + h_r) / (2 h_m h_r))``), solved by bisection.
    """
    if not 0 < h_right < h_left:
        raise InvalidInputError(
            f"h_right={h_right!r} must lie between 0 and h_left={h_left!r} for a wet dam break"
        )
    g = gravity
    c_l = math.sqrt(g * h_left)

    def mismatch(h: float) -> float:
        rarefaction = 2.0 * (c_l - math.sqrt(g * h))
        shock = (h - h_right) * math.sqrt(g * (h + h_right) / (2.0 * h * h_right))
        return rarefaction - shock

    lo, hi = h_right, h_left
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if mismatch(mid) > 0:
            lo = mid
        else:
            hi = mid
    h_m = 0.5 * (lo + hi)
    u_m = 2.0 * (c_l - math.sqrt(g * h_m))
    return h_m, u_m, h_m * u_m / (h_m - h_right)


def stoker(
    x: np.ndarray,
    t: float,
    *,
    x0: float,
    h_left: float,
    h_right: float,
    gravity: float = GRAVITY,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (m) and velocity (m s-1) of a dam break at time ``t`` (s) on a flat, frictionless bed.

    Water at rest of depth ``h_left`` for ``x < x0`` and ``h_right`` (``0 <= h_right <
    h_left``) beyond; ``h_right = 0`` is :func:`ritter`'s dry bed.
    """
    x = np.asarray(x, dtype="float64")
    if not h_left > 0 or h_right < 0 or h_right >= h_left:
        raise InvalidInputError(
            f"h_left={h_left!r}, h_right={h_right!r}: a dam break needs h_left > h_right >= 0"
        )
    g = gravity
    c_l = math.sqrt(g * h_left)
    h = np.full_like(x, h_left)
    u = np.zeros_like(x)
    if t <= 0:
        h[x > x0] = h_right
        return h, u
    xi = (x - x0) / t
    fan_h = (2.0 * c_l - xi) ** 2 / (9.0 * g)
    fan_u = 2.0 / 3.0 * (xi + c_l)
    if h_right == 0.0:
        fan = (xi >= -c_l) & (xi <= 2.0 * c_l)
        h[fan], u[fan] = fan_h[fan], fan_u[fan]
        h[xi > 2.0 * c_l] = 0.0
        return h, u
    h_m, u_m, shock = stoker_middle_state(h_left, h_right, g)
    tail = u_m - math.sqrt(g * h_m)
    fan = (xi >= -c_l) & (xi <= tail)
    middle = (xi > tail) & (xi <= shock)
    h[fan], u[fan] = fan_h[fan], fan_u[fan]
    h[middle], u[middle] = h_m, u_m
    h[xi > shock] = h_right
    return h, u


def wind_setup_slope(
    mean_depth: float, stress: float, rho_water: float = 1025.0, gravity: float = GRAVITY
) -> float:
    """Linear wind set-up slope ``tau / (rho g H)`` (m m-1) of a closed basin without bottom stress."""
    return stress / (rho_water * gravity * mean_depth)


def wind_setup(
    x: np.ndarray,
    *,
    length: float,
    mean_depth: float,
    stress: float,
    rho_water: float = 1025.0,
    gravity: float = GRAVITY,
) -> np.ndarray:
    """Steady surface elevation (m) of a closed flat basin ``[0, length]`` under a wind stress.

    With no bottom stress the depth-integrated momentum balance is ``g H dH/dx = tau / rho``,
    so ``H(x)^2 = a + 2 tau x / (rho g)``; ``a`` keeps the volume ``mean_depth * length``
    (bisection). Returns ``H(x) - mean_depth`` at the points ``x`` (m).

    Parameters
    ----------
    x
        Positions (m) in ``[0, length]``.
    length, mean_depth
        Basin length and still-water depth (m).
    stress
        Wind stress along x (Pa, signed).
    rho_water, gravity
        Water density (kg m-3) and gravitational acceleration (m s-2).
    """
    b = 2.0 * stress / (rho_water * gravity)
    x = np.asarray(x, dtype="float64")
    if b == 0.0:
        return np.zeros_like(x)

    def volume(a: float) -> float:
        top = max(a + b * length, 0.0)
        return (top**1.5 - a**1.5) * 2.0 / (3.0 * b)

    lo = max(0.0, -b * length)
    hi = mean_depth**2 + abs(b) * length
    target = mean_depth * length
    if volume(lo) > target:
        raise InvalidInputError(
            f"stress={stress!r} Pa dries the upwind end of a {mean_depth:g} m deep, "
            f"{length:g} m long basin; the set-up formula assumes the bottom stays wet"
        )
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if volume(mid) < target:
            lo = mid
        else:
            hi = mid
    a = 0.5 * (lo + hi)
    return np.sqrt(a + b * x) - mean_depth
