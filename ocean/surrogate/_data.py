"""Training data of the surrogates: scenario features, forcing channels and field encoding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean.indices import HORIZONTAL_DIMS

__all__ = [
    "EMULATED",
    "NONNEGATIVE",
    "FieldCodec",
    "ensemble_table",
    "forcing_channels",
    "horizontal_dims",
    "load_ensemble",
    "scenario_features",
]

#: Variables the surrogates emulate: name -> log-transformed? (positive, skewed quantities).
EMULATED: dict[str, bool] = {
    "phyc": True,
    "intphyc": True,
    "chl": True,
    "dissic": False,
    "talk": False,
    "no3": True,
    "spco2": False,
    "fgco2": False,
    "intpp": True,
    "tos": False,
}

#: Emulated variables that are physically >= 0 (concentrations, stocks, rates of production;
#: every log-transformed one among them): decoded predictions are clipped at 0, as a network
#: emulating them on a linear scale can undershoot (most often beyond the training range).
NONNEGATIVE: frozenset[str] = frozenset(
    {v for v, log in EMULATED.items() if log} | {"dissic", "talk", "spco2"}
)


def load_ensemble(ensemble: xr.Dataset | str | os.PathLike[str]) -> xr.Dataset:
    """Open an ensemble (a Zarr store written by ``ecocube ocean ensemble`` or a Dataset).

    A Zarr store must carry the completion marker that :func:`ecocube.cube.write_cube` sets
    last (a store without it is half-written); a netCDF file of
    :func:`~ecocube.ocean.simulate` output is read as it is.

    Raises
    ------
    InvalidInputError
        The store is missing, unreadable or half-written (no completion marker), or lacks the
        emulated variables or scenario coordinates.
    """
    from ecocube.catalog._cube_items import COMPLETE_ATTR
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    if isinstance(ensemble, xr.Dataset):
        ds = ensemble
    else:
        path = Path(ensemble)
        if not path.exists():
            raise InvalidInputError(
                f"ensemble {str(path)!r} does not exist; create it with "
                "`ecocube ocean ensemble --n N --years Y --out ens.zarr`"
            )
        is_zarr = path.suffix == ".zarr" or path.is_dir()
        try:
            ds = xr.open_zarr(path) if is_zarr else xr.open_dataset(path)
        except (OSError, ValueError, KeyError) as err:  # not a Zarr store / netCDF file
            raise InvalidInputError(
                f"cannot open the ensemble {str(path)!r} ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:160]}); give the "
                "Zarr store written by `ecocube ocean ensemble` (or a netCDF file of "
                "ecocube.ocean.simulate output)"
            ) from err
        if is_zarr and not ds.attrs.get(COMPLETE_ATTR):
            raise InvalidInputError(
                f"ensemble {str(path)!r} is half-written: it lacks the {COMPLETE_ATTR!r} marker "
                "an ensemble gets when its writing ends (the run was interrupted, or another "
                "program wrote it); write it again with `ecocube ocean ensemble --out "
                f"{path} --overwrite` and the options of the first run"
            )
    missing = [v for v in EMULATED if v not in ds]
    missing += [  # optional parameters (added later) may be absent from older ensembles
        p.name
        for p in SCENARIO_PARAMETERS
        if not getattr(p, "optional", False) and p.name not in ds.coords and p.name not in ds
    ]
    if missing:
        raise InvalidInputError(
            f"the ensemble lacks {missing}; expected the output of ecocube.ocean.simulate "
            "(variables and per-scenario parameter coordinates)"
        )
    if "scenario" not in ds.dims or ds.sizes["scenario"] < 4:
        raise InvalidInputError(
            f"the ensemble needs at least 4 scenarios to train a surrogate; it has "
            f"{ds.sizes.get('scenario', 0)}"
        )
    return ds


def ensemble_table(ds: xr.Dataset) -> pd.DataFrame:
    """Scenario parameter table of an ensemble (one row per scenario).

    Columns: the scenario parameters the ensemble holds, in the order of
    :data:`~ecocube.ocean.scenarios.SCENARIO_PARAMETERS` (an ensemble written before optional
    parameters existed lacks them; a surrogate trained on it takes only the others as inputs).
    """
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    frame = pd.DataFrame(
        {
            p.name: np.asarray(ds[p.name].values, dtype=float)
            for p in SCENARIO_PARAMETERS
            if p.name in ds.coords or p.name in ds
        }
    )
    frame.index.name = "scenario"
    return frame


def scenario_features(table: pd.DataFrame, names: Sequence[str] | None = None) -> np.ndarray:
    """Scale scenario parameters to [-1, 1] over their sampling (training) range, float32.

    Values beyond the training range (e.g. +4 °C more warming) map linearly beyond ±1.

    Parameters
    ----------
    table
        Scenario table holding (at least) the columns ``names``.
    names
        Parameters to use, in order (a surrogate's inputs); ``None``: every parameter of
        :data:`~ecocube.ocean.scenarios.SCENARIO_PARAMETERS`.

    Returns
    -------
    numpy.ndarray
        ``(n, len(names))``, float32.
    """
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    by_name = {p.name: p for p in SCENARIO_PARAMETERS}
    params = list(SCENARIO_PARAMETERS) if names is None else [by_name[c] for c in names]
    names = [p.name for p in params]
    if list(table.columns) == names:  # a validated table: one conversion, no column lookups
        values = table.to_numpy(dtype=float)
    else:
        values = np.stack([table[c].to_numpy(dtype=float) for c in names], axis=1)
    low = np.array([p.low for p in params])
    span = np.array([(p.high - p.low) or 1.0 for p in params])
    return (2.0 * (values - low) / span - 1.0).astype("float32")


def forcing_channels(
    table: pd.DataFrame, n_days: int, names: Sequence[str] | None = None
) -> np.ndarray:
    """Daily forcing seen by the full model, as input channels ``(n, C, days)`` (float32).

    Channels: surface restoring temperature anomaly (°C), its warming part (°C), shortwave
    (W m-2 / 100), wind (m s-1 / 10), atmospheric CO2 (ppm / 100 - 4), sine and cosine of the day
    of year, elapsed fraction of the horizon, and the scaled scenario parameters ``names``
    (:func:`scenario_features`) repeated in time.
    The series come from :func:`ecocube.ocean.simulate.scenario_forcing`, as the full model's.
    """
    from ecocube.ocean.simulate import scenario_forcing

    f = scenario_forcing(table, n_days)
    day = np.arange(n_days, dtype=float) + 0.5
    doy = day % 365.0
    frac = day / n_days
    n = len(table)
    rep = lambda a: np.broadcast_to(a[None, :], (n, n_days))  # noqa: E731
    dyn = [
        f["seasonal_anomaly"] / 5.0,
        f["warming_now"] / 3.0,
        f["shortwave"] / 100.0,
        f["wind"] / 10.0,
        f["co2"] / 100.0 - 4.0,
        rep(np.sin(2 * np.pi * doy / 365.0)),
        rep(np.cos(2 * np.pi * doy / 365.0)),
        rep(frac),
    ]
    static = scenario_features(table, names)
    stat = np.broadcast_to(static[:, :, None], (n, static.shape[1], n_days))
    return np.concatenate([np.stack(dyn, 1), stat], axis=1).astype("float32")


def horizontal_dims(da: xr.DataArray | xr.Dataset) -> list[str]:
    """The horizontal dims (``x``, ``y``: :data:`~ecocube.ocean.indices.HORIZONTAL_DIMS`) of
    ``da``, in its order."""
    return [d for d in da.dims if d in HORIZONTAL_DIMS]


@dataclass
class FieldCodec:
    """Map emulated variables to standardised channels ``(n, days, C)`` and back.

    Each channel is one variable (or one element of the product of its dims other than
    ``scenario`` and ``time``: one phytoplankton type, one cell ``x`` of the basin, one type in
    one cell, in C order of those dims); skewed positive variables can be log-transformed with
    an offset of 1 % of their mean, then every channel is standardised by a mean and standard
    deviation over scenarios and days. Channels that differ only by their horizontal position
    share these statistics (pooled over the cells), so the standardised field keeps the
    spatial contrasts that R² pooled over cells weighs.

    Attributes
    ----------
    variables
        Emulated variables, in channel order.
    channels
        ``(variable, k)`` per channel: ``k`` indexes the flattened extra dims, ``-1`` for a
        variable with none.
    log, offset, mean, std
        Per channel: log-transformed?, its offset, standardisation mean and sd.
    dims, sizes
        Per variable: its extra dims (after ``scenario``, ``time``, in the ensemble's order) and
        their sizes; ``()`` for a daily series of the water column.
    """

    variables: list[str]
    channels: list[tuple[str, int]]  # (variable, flat index of its extra dims, or -1)
    log: list[bool]
    offset: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    dims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def fit(cls, ds: xr.Dataset, variables: list[str], *, log: bool = True) -> FieldCodec:
        """Fit the transform on an ensemble (``log=False`` keeps every variable linear).

        Raises
        ------
        InvalidInputError
            A variable holds NaN or infinite values.
        """
        use_log = log
        channels: list[tuple[str, int]] = []
        logs: list[bool] = []
        raws: list[np.ndarray] = []
        groups: list[list[int]] = []  # channels sharing their statistics
        dims: dict[str, tuple[str, ...]] = {}
        sizes: dict[str, tuple[int, ...]] = {}
        for v in variables:
            arr = _as_array(ds[v])
            _check_finite(v, arr)
            extra = tuple(str(d) for d in ds[v].dims if d not in ("scenario", "time"))
            dims[v], sizes[v] = extra, tuple(arr.shape[2:])
            if arr.ndim == 2:
                groups.append([len(channels)])
                channels.append((v, -1))
                raws.append(arr)
                logs.append(EMULATED[v] and use_log)
                continue
            flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
            keep = [i for i, d in enumerate(extra) if d not in HORIZONTAL_DIMS]
            shared: dict[tuple[int, ...], list[int]] = {}
            for k in range(flat.shape[2]):
                index = np.unravel_index(k, sizes[v])
                shared.setdefault(tuple(int(index[i]) for i in keep), []).append(len(channels))
                channels.append((v, k))
                raws.append(flat[:, :, k])
                logs.append(EMULATED[v] and use_log)
            groups.extend(shared.values())
        offset = np.zeros(len(channels))
        mean = np.zeros(len(channels))
        std = np.zeros(len(channels))
        for group in groups:
            r = raws[group[0]] if len(group) == 1 else np.stack([raws[c] for c in group], -1)
            lg = logs[group[0]]
            o = 0.01 * max(float(np.mean(np.abs(r))), 1e-12) if lg else 0.0
            a = np.log(np.clip(r, 0, None) + o) if lg else r
            offset[group], mean[group] = o, float(a.mean())
            std[group] = max(float(a.std()), 1e-12)
        return cls(list(variables), channels, logs, offset, mean, std, dims, sizes)

    def block(self, v: str) -> tuple[int, int]:
        """First and one-past-last channel of variable ``v``."""
        idx = [i for i, (var, _) in enumerate(self.channels) if var == v]
        return idx[0], idx[-1] + 1

    def encode(self, ds: xr.Dataset) -> np.ndarray:
        """Standardised channels ``(n, days, C)`` (float32) of the emulated variables of ``ds``.

        Raises
        ------
        InvalidInputError
            A variable's extra dims have other sizes than those the codec was fitted on.
        """
        out = []
        for v in self.variables:
            a, b = self.block(v)
            arr = _as_array(ds[v])
            if tuple(arr.shape[2:]) != self.sizes.get(v, arr.shape[2:]):
                raise InvalidInputError(
                    f"variable {v!r} has sizes {tuple(arr.shape[2:])} along {self.dims[v]}; the "
                    f"codec was fitted on {self.sizes[v]}: encode ensembles of the same model "
                    "setup (basin cells, phytoplankton types)"
                )
            x = arr.reshape(arr.shape[0], arr.shape[1], b - a)
            logs = np.array(self.log[a:b], dtype=bool)
            if logs.any():
                x = x.copy()
                x[..., logs] = np.log(np.clip(x[..., logs], 0, None) + self.offset[a:b][logs])
            out.append(((x - self.mean[a:b]) / self.std[a:b]).astype("float32"))
        return np.concatenate(out, axis=-1)

    def decode(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Physical arrays ``(n, days, *sizes)`` per variable from channels ``(n, days, C)``."""
        parts: dict[str, list[np.ndarray]] = {}
        for c, (v, _k) in enumerate(self.channels):
            a = z[..., c].astype("float64") * self.std[c] + self.mean[c]
            if self.log[c]:
                a = np.exp(a) - self.offset[c]
            if v in NONNEGATIVE:
                a = np.clip(a, 0.0, None)
            parts.setdefault(v, []).append(a)
        return {v: self._assemble(v, p) for v, p in parts.items()}

    def decode_sd(self, z: np.ndarray, sd: np.ndarray) -> dict[str, np.ndarray]:
        """Approximate physical standard deviation from a standardised mean and sd (delta method)."""
        parts: dict[str, list[np.ndarray]] = {}
        for c, (v, _k) in enumerate(self.channels):
            s = sd[..., c].astype("float64") * self.std[c]
            if self.log[c]:
                s = s * np.exp(z[..., c].astype("float64") * self.std[c] + self.mean[c])
            parts.setdefault(v, []).append(s)
        return {v: self._assemble(v, p) for v, p in parts.items()}

    def _assemble(self, v: str, parts: list[np.ndarray]) -> np.ndarray:
        if len(parts) == 1 and self._scalar(v):
            return parts[0]
        stacked = np.stack(parts, -1)
        return stacked.reshape(*stacked.shape[:-1], *self.field_shape(v))

    def field_shape(self, v: str) -> tuple[int, ...]:
        """Sizes of the extra dims of ``v`` (``()`` for a daily series of the column)."""
        if v in self.sizes:
            return self.sizes[v]
        return () if self._scalar(v) else (sum(var == v for var, _ in self.channels),)

    def _scalar(self, v: str) -> bool:
        return any(var == v and k < 0 for var, k in self.channels)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {
            "variables": self.variables,
            "channels": self.channels,
            "log": self.log,
            "offset": self.offset.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "dims": {v: list(d) for v, d in self.dims.items()},
            "sizes": {v: list(n) for v, n in self.sizes.items()},
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> FieldCodec:
        """Inverse of :meth:`state`; states saved before spatial fields existed (no ``dims``)
        describe per-type variables along ``phyto_type``."""
        channels = [(str(c[0]), int(c[1])) for c in s["channels"]]
        if "dims" in s:
            dims = {v: tuple(d) for v, d in s["dims"].items()}
            sizes = {v: tuple(int(k) for k in n) for v, n in s["sizes"].items()}
        else:
            dims, sizes = {}, {}
            for v in s["variables"]:
                n = sum(var == v and k >= 0 for var, k in channels)
                dims[v], sizes[v] = (("phyto_type",), (n,)) if n else ((), ())
        return cls(
            list(s["variables"]),
            channels,
            list(s["log"]),
            np.array(s["offset"]),
            np.array(s["mean"]),
            np.array(s["std"]),
            dims,
            sizes,
        )


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise InvalidInputError(
            f"ensemble variable {name!r} has {bad} NaN or infinite values of {arr.size}; a "
            "surrogate needs finite fields: drop the scenarios (or cells) that hold them"
        )


def _as_array(da: xr.DataArray) -> np.ndarray:
    dims = ["scenario", "time"] + [d for d in da.dims if d not in ("scenario", "time")]
    return np.asarray(da.transpose(*dims).values, dtype="float64")
