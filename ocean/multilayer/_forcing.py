"""Forcing of a multilayer basin: wind, tide or inflow at the open boundary, a river."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ecocube.errors import InvalidInputError

__all__ = ["Forcing", "RiverSource", "TimeSeries"]


@dataclass(frozen=True)
class TimeSeries:
    """Values sampled every ``interval`` seconds from ``start``, linearly interpolated.

    Before ``start`` and after the last sample the series holds its first and last value.

    Parameters
    ----------
    values
        Samples, shape ``(n,)`` (the same for every scenario) or ``(B, n)``.
    interval
        Seconds between two samples (> 0).
    start
        Time of the first sample (s).
    """

    values: Any
    interval: float
    start: float = 0.0

    def __post_init__(self) -> None:
        arr = np.asarray(
            self.values.detach().cpu() if isinstance(self.values, Tensor) else self.values,
            dtype="float64",
        )
        if arr.ndim not in (1, 2) or arr.shape[-1] < 1:
            raise InvalidInputError(
                f"TimeSeries values have shape {arr.shape}; expected (n,) or (B, n) samples"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("TimeSeries values hold NaN or infinite samples")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise InvalidInputError(
                f"TimeSeries interval={self.interval!r} is not valid: give the seconds between "
                "two samples (> 0)"
            )

    def samples(self, batch: int, device: Any) -> Tensor:
        """The samples as a float64 tensor of shape ``(batch, n)`` on ``device``."""
        values = torch.as_tensor(
            self.values.detach().cpu() if isinstance(self.values, Tensor) else self.values,
            dtype=torch.float64,
        ).to(device)
        if values.ndim == 1:
            return values.expand(batch, -1)
        if values.shape[0] != batch:
            raise InvalidInputError(
                f"a TimeSeries has {values.shape[0]} scenarios but the state has {batch}: give "
                f"values of shape (n,) or ({batch}, n)"
            )
        return values


@dataclass(frozen=True)
class RiverSource:
    """A river entering the basin at ``BasinConfig.river_cell`` into the surface layer.

    Parameters
    ----------
    discharge
        Volume flux (m3 s-1, >= 0): a number, a ``(B,)`` tensor or a :class:`TimeSeries`.
    concentrations
        Tracer concentrations of the river water (tracer units, e.g. mmol m-3), shape
        ``(n_tracers,)`` or ``(B, n_tracers)``; ``None`` for tracer-free water. A load ``F``
        (mmol s-1) at discharge ``Q`` is the concentration ``F / Q``.
    """

    discharge: Any
    concentrations: Any = None


@dataclass(frozen=True)
class Forcing:
    """Everything that drives a basin in time.

    Parameters
    ----------
    wind
        10-m wind along x (m s-1, signed; positive blows towards ``+x``): a number, a ``(B,)``
        tensor or a :class:`TimeSeries`.
    tide
        Surface elevation at an ``"elevation"`` open boundary (m above the reference level):
        a number, a ``(B,)`` tensor or a :class:`TimeSeries`. Required by such a boundary.
    inflow
        Volume flux through a ``"discharge"`` open boundary (m3 s-1, positive into the basin).
        Required by such a boundary.
    boundary_tracers
        Concentrations of the water entering through the open boundary, shape
        ``(n_tracers,)`` or ``(B, n_tracers)``; ``None`` for tracer-free water.
    river
        The river at ``BasinConfig.river_cell``, or ``None``.
    """

    wind: Any = 0.0
    tide: Any = None
    inflow: Any = None
    boundary_tracers: Any = None
    river: RiverSource | None = None


class PreparedSeries:
    """A forcing series on the model's device, evaluated at a time in seconds.

    A number or a ``(B,)`` tensor is a series of one sample (constant in time).
    """

    def __init__(self, value: Any, name: str, batch: int, device: Any) -> None:
        self.name = name
        self.interval = 1.0
        self.start = 0.0
        if isinstance(value, TimeSeries):
            self.samples = value.samples(batch, device)
            self.interval = float(value.interval)
            self.start = float(value.start)
        else:
            tensor = _as_tensor(value, name, device)
            if tensor.ndim == 0:
                tensor = tensor.expand(batch)
            if tensor.shape != (batch,):
                raise InvalidInputError(
                    f"Forcing {name} has shape {tuple(tensor.shape)}; expected a number, "
                    f"({batch},) (one value per scenario) or a TimeSeries"
                )
            self.samples = tensor[:, None]
        self.count = self.samples.shape[-1]
        self.first = self.samples[:, 0]
        self.last = self.samples[:, -1]

    def at(self, time: float) -> Tensor:
        """Values at ``time`` (s), shape ``(B,)``."""
        pos = (time - self.start) / self.interval
        if self.count == 1 or pos <= 0.0:
            return self.first
        if pos >= self.count - 1:
            return self.last
        i = math.floor(pos)
        w = pos - i
        return self.samples[:, i] * (1.0 - w) + self.samples[:, i + 1] * w

    def max_abs(self) -> Tensor:
        """Largest absolute value of each scenario over the whole series, shape ``(B,)``."""
        return self.samples.abs().amax(dim=-1)

    def max(self) -> Tensor:
        """Largest value of each scenario over the whole series, shape ``(B,)``."""
        return self.samples.amax(dim=-1)


def _as_tensor(value: Any, name: str, device: Any) -> Tensor:
    try:
        tensor = torch.as_tensor(value, dtype=torch.float64, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidInputError(
            f"Forcing {name}={value!r} is not valid: give a number, a tensor or a TimeSeries"
        ) from None
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidInputError(f"Forcing {name} holds NaN or infinite values")
    return tensor


def tracer_vector(value: Any, name: str, batch: int, n_tracers: int, device: Any) -> Tensor:
    """Concentrations as a ``(B, n_tracers)`` float64 tensor (zeros when ``value`` is None)."""
    if value is None:
        return torch.zeros(batch, n_tracers, dtype=torch.float64, device=device)
    tensor = _as_tensor(value, name, device)
    if tensor.ndim == 1:
        tensor = tensor.expand(batch, -1)
    if tensor.shape != (batch, n_tracers):
        raise InvalidInputError(
            f"{name} has shape {tuple(tensor.shape)}; expected ({n_tracers},) or "
            f"({batch}, {n_tracers}) (one concentration per tracer)"
        )
    if bool((tensor < 0).any()):
        raise InvalidInputError(f"{name} holds negative concentrations; give values >= 0")
    return tensor
