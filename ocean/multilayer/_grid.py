"""Geometry and parameters of a multilayer basin: the :class:`BasinConfig` dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ecocube.errors import InvalidInputError

__all__ = ["BasinConfig", "OpenBoundary"]

#: Tolerance on the sum of the layer fractions.
FRACTION_TOLERANCE = 1e-12

_SIDES = ("left", "right")
_KINDS = ("elevation", "discharge")


@dataclass(frozen=True)
class OpenBoundary:
    """An open end of the basin, the other end being a wall.

    Parameters
    ----------
    side
        ``"left"`` (``x = 0``) or ``"right"`` (``x = length``).
    kind
        ``"elevation"``: the surface elevation is prescribed (a tide, ``Forcing.tide``, m);
        ``"discharge"``: the volume flux into the basin is prescribed (``Forcing.inflow``,
        m3 s-1, positive into the basin).
    """

    side: Literal["left", "right"] = "right"
    kind: Literal["elevation", "discharge"] = "elevation"

    def __post_init__(self) -> None:
        if self.side not in _SIDES:
            raise InvalidInputError(
                f"OpenBoundary side={self.side!r} is not valid; use one of {', '.join(_SIDES)}"
            )
        if self.kind not in _KINDS:
            raise InvalidInputError(
                f"OpenBoundary kind={self.kind!r} is not valid; use one of {', '.join(_KINDS)}"
            )


@dataclass(frozen=True)
class BasinConfig:
    """A basin seen as an x-z slice: ``nx`` cells along x, ``n_layers`` layers in the vertical.

    Layer ``k`` holds the fixed fraction ``l_k`` of the water depth ``H`` of its cell
    (``h_k = l_k H``), layer 0 at the surface. The slice stands for a channel of constant
    ``width``, so volume fluxes given in m3 s-1 are spread over that width.

    Parameters
    ----------
    length
        Basin length (m); cells are ``dx = length / nx`` wide.
    nx
        Number of cells (at least 3).
    n_layers
        Number of layers (at least 1); ignored when ``layer_fractions`` is given.
    layer_fractions
        Fractions ``l_k`` of the water depth held by each layer, surface first; positive,
        summing to 1. ``None``: ``n_layers`` equal layers.
    bathymetry
        Still-water depth of the bottom below the reference level ``z = 0`` (m, positive down),
        one value per cell or one value for a flat bottom. Negative values are land above the
        reference level (dry unless flooded); at least one cell must be below it.
    width
        Channel width (m).
    gravity
        Gravitational acceleration (m s-2).
    viscosity
        Vertical eddy viscosity between layers (m2 s-1).
    diffusivity
        Vertical eddy diffusivity of the tracers (m2 s-1).
    bottom_drag
        Quadratic bottom drag coefficient ``C_f`` (dimensionless): bottom stress
        ``rho C_f |u_b| u_b`` on the bottom layer; 0 for a free-slip bottom.
    wind_drag, rho_air, rho_water
        Wind drag coefficient ``C_D`` (dimensionless), air and sea water densities (kg m-3): the
        surface stress is ``tau = rho_air C_D |U| U`` for a 10-m wind ``U`` (m s-1) along x.
    cfl
        Courant number: a step ``dt`` is accepted when
        ``dt <= cfl dx / max(|u| + sqrt(g H))``; in (0, 1].
    dry_depth
        Water depth (m) under which a cell is dry: its velocities are set to zero and it takes
        no wind stress.
    open_boundary
        The open end, or ``None`` for a basin closed by two walls.
    river_cell
        Index of the cell that receives a river (``Forcing.river``), or ``None``.
    """

    length: float = 100_000.0
    nx: int = 20
    n_layers: int = 4
    layer_fractions: tuple[float, ...] | None = None
    bathymetry: float | tuple[float, ...] = 20.0
    width: float = 1000.0
    gravity: float = 9.81
    viscosity: float = 1e-3
    diffusivity: float = 1e-4
    bottom_drag: float = 2.5e-3
    wind_drag: float = 1.3e-3
    rho_air: float = 1.22
    rho_water: float = 1025.0
    cfl: float = 0.8
    dry_depth: float = 1e-6
    open_boundary: OpenBoundary | None = None
    river_cell: int | None = None
    _fractions: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _bathymetry: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.nx, bool) or not isinstance(self.nx, int | np.integer) or self.nx < 3:
            raise InvalidInputError(
                f"nx={self.nx!r} is not valid: a basin needs an integer number of cells >= 3"
            )
        for name in ("length", "width", "gravity", "rho_air", "rho_water", "dry_depth"):
            _positive(name, getattr(self, name))
        for name in ("viscosity", "diffusivity", "bottom_drag", "wind_drag"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise InvalidInputError(
                    f"{name}={value!r} is not valid: it must be a finite number >= 0"
                )
        if not (isinstance(self.cfl, int | float) and 0 < self.cfl <= 1):
            raise InvalidInputError(
                f"cfl={self.cfl!r} is not valid: the Courant number must lie in (0, 1]"
            )
        object.__setattr__(self, "_fractions", self._check_fractions())
        object.__setattr__(self, "_bathymetry", self._check_bathymetry())
        if self.open_boundary is not None and not isinstance(self.open_boundary, OpenBoundary):
            raise InvalidInputError(
                f"open_boundary={self.open_boundary!r} is not valid: pass an OpenBoundary or None"
            )
        if self.river_cell is not None and not (
            isinstance(self.river_cell, int | np.integer)
            and not isinstance(self.river_cell, bool)
            and 0 <= self.river_cell < self.nx
        ):
            raise InvalidInputError(
                f"river_cell={self.river_cell!r} is not valid: use a cell index in "
                f"0..{self.nx - 1} or None"
            )

    def _check_fractions(self) -> tuple[float, ...]:
        if self.layer_fractions is None:
            if (
                isinstance(self.n_layers, bool)
                or not isinstance(self.n_layers, int | np.integer)
                or self.n_layers < 1
            ):
                raise InvalidInputError(
                    f"n_layers={self.n_layers!r} is not valid: use an integer >= 1"
                )
            return tuple([1.0 / int(self.n_layers)] * int(self.n_layers))
        fractions = tuple(float(f) for f in self.layer_fractions)
        if not fractions or not all(math.isfinite(f) and f > 0 for f in fractions):
            raise InvalidInputError(
                f"layer_fractions={self.layer_fractions!r} is not valid: every fraction must "
                "be a positive number"
            )
        total = math.fsum(fractions)
        if abs(total - 1.0) > FRACTION_TOLERANCE:
            raise InvalidInputError(
                f"layer_fractions={self.layer_fractions!r} sum to {total!r}, not 1: divide "
                "them by their sum"
            )
        return fractions

    def _check_bathymetry(self) -> tuple[float, ...]:
        values = np.asarray(self.bathymetry, dtype="float64")
        if values.ndim == 0:
            values = np.full(self.nx, float(values))
        if values.shape != (self.nx,):
            raise InvalidInputError(
                f"bathymetry has shape {values.shape}, expected one value or ({self.nx},) "
                "(one per cell)"
            )
        if not np.all(np.isfinite(values)):
            raise InvalidInputError("bathymetry holds NaN or infinite values; give finite depths")
        if not np.any(values > 0):
            raise InvalidInputError(
                f"bathymetry (max {values.max():g} m) has no cell below the reference level: "
                "give positive depths (m, positive down)"
            )
        return tuple(float(v) for v in values)

    @property
    def fractions(self) -> tuple[float, ...]:
        """Layer fractions ``l_k``, surface first (sum 1)."""
        return self._fractions

    @property
    def layers(self) -> int:
        """Number of layers ``L``."""
        return len(self._fractions)

    @property
    def dx(self) -> float:
        """Cell width (m)."""
        return self.length / self.nx

    @property
    def x(self) -> np.ndarray:
        """Cell centres (m), shape ``(nx,)``."""
        return (np.arange(self.nx) + 0.5) * self.dx

    @property
    def bottom(self) -> np.ndarray:
        """Bottom elevation ``z_b`` (m, positive up, ``-bathymetry``), shape ``(nx,)``."""
        return -np.asarray(self._bathymetry)


def _positive(name: str, value: object) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)) or not (
        math.isfinite(value) and value > 0
    ):
        raise InvalidInputError(f"{name}={value!r} is not valid: it must be a finite number > 0")
