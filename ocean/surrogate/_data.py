"""Training data of the surrogates: scenario features, forcing channels and field encoding."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError

__all__ = [
    "EMULATED",
    "NONNEGATIVE",
    "FieldCodec",
    "forcing_channels",
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
    missing += [p.name for p in SCENARIO_PARAMETERS if p.name not in ds.coords and p.name not in ds]
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
    """Scenario parameter table of an ensemble (one row per scenario)."""
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    frame = pd.DataFrame(
        {p.name: np.asarray(ds[p.name].values, dtype=float) for p in SCENARIO_PARAMETERS}
    )
    frame.index.name = "scenario"
    return frame


def scenario_features(table: pd.DataFrame) -> np.ndarray:
    """Scale scenario parameters to [-1, 1] over their sampling (training) range, float32.

    Values beyond the training range (e.g. +4 °C more warming) map linearly beyond ±1.
    """
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    names = [p.name for p in SCENARIO_PARAMETERS]
    if list(table.columns) == names:  # a validated table: one conversion, no column lookups
        values = table.to_numpy(dtype=float)
    else:
        values = np.stack([table[c].to_numpy(dtype=float) for c in names], axis=1)
    low = np.array([p.low for p in SCENARIO_PARAMETERS])
    span = np.array([(p.high - p.low) or 1.0 for p in SCENARIO_PARAMETERS])
    return (2.0 * (values - low) / span - 1.0).astype("float32")


def forcing_channels(table: pd.DataFrame, n_days: int) -> np.ndarray:
    """Daily forcing seen by the full model, as input channels ``(n, C, days)`` (float32).

    Channels: surface restoring temperature anomaly (°C), its warming part (°C), shortwave
    (W m-2 / 100), wind (m s-1 / 10), atmospheric CO2 (ppm / 100 - 4), sine and cosine of the day
    of year, elapsed fraction of the horizon, and the scaled scenario parameters repeated in time.
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
    static = scenario_features(table)
    stat = np.broadcast_to(static[:, :, None], (n, static.shape[1], n_days))
    return np.concatenate([np.stack(dyn, 1), stat], axis=1).astype("float32")


@dataclass
class FieldCodec:
    """Map emulated variables to standardised channels ``(n, days, C)`` and back.

    Each channel is one variable (or one phytoplankton type of a per-type variable); skewed
    positive variables are log-transformed with an offset of 1 % of their mean, then every
    channel is standardised by its mean and standard deviation over scenarios and days.
    """

    variables: list[str]
    channels: list[tuple[str, int]]  # (variable, type index or -1)
    log: list[bool]
    offset: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, ds: xr.Dataset, variables: list[str], *, log: bool = True) -> FieldCodec:
        """Fit the transform on an ensemble (``log=False`` keeps every variable linear)."""
        use_log = log
        channels: list[tuple[str, int]] = []
        logs: list[bool] = []
        raws = []
        for v in variables:
            arr = _as_array(ds[v])
            if arr.ndim == 2:
                channels.append((v, -1))
                raws.append(arr)
                logs.append(EMULATED[v] and use_log)
            else:
                for k in range(arr.shape[2]):
                    channels.append((v, k))
                    raws.append(arr[:, :, k])
                    logs.append(EMULATED[v] and use_log)
        offset = np.array(
            [
                0.01 * max(float(np.mean(np.abs(r))), 1e-12) if lg else 0.0
                for r, lg in zip(raws, logs, strict=True)
            ]
        )
        z = [
            np.log(np.clip(r, 0, None) + o) if lg else r
            for r, lg, o in zip(raws, logs, offset, strict=True)
        ]
        mean = np.array([float(a.mean()) for a in z])
        std = np.array([max(float(a.std()), 1e-12) for a in z])
        return cls(list(variables), channels, logs, offset, mean, std)

    def encode(self, ds: xr.Dataset) -> np.ndarray:
        """Standardised channels ``(n, days, C)`` (float32) of the emulated variables of ``ds``."""
        out = []
        for c, (v, k) in enumerate(self.channels):
            arr = _as_array(ds[v])
            a = arr if k < 0 else arr[:, :, k]
            if self.log[c]:
                a = np.log(np.clip(a, 0, None) + self.offset[c])
            out.append((a - self.mean[c]) / self.std[c])
        return np.stack(out, axis=-1).astype("float32")

    def decode(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Physical arrays from standardised channels ``(n, days, C)``."""
        parts: dict[str, list[np.ndarray]] = {}
        for c, (v, _k) in enumerate(self.channels):
            a = z[..., c].astype("float64") * self.std[c] + self.mean[c]
            if self.log[c]:
                a = np.exp(a) - self.offset[c]
            if v in NONNEGATIVE:
                a = np.clip(a, 0.0, None)
            parts.setdefault(v, []).append(a)
        return {
            v: (p[0] if len(p) == 1 and self._scalar(v) else np.stack(p, -1))
            for v, p in parts.items()
        }

    def decode_sd(self, z: np.ndarray, sd: np.ndarray) -> dict[str, np.ndarray]:
        """Approximate physical standard deviation from a standardised mean and sd (delta method)."""
        parts: dict[str, list[np.ndarray]] = {}
        for c, (v, _k) in enumerate(self.channels):
            s = sd[..., c].astype("float64") * self.std[c]
            if self.log[c]:
                s = s * np.exp(z[..., c].astype("float64") * self.std[c] + self.mean[c])
            parts.setdefault(v, []).append(s)
        return {
            v: (p[0] if len(p) == 1 and self._scalar(v) else np.stack(p, -1))
            for v, p in parts.items()
        }

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
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> FieldCodec:
        """Inverse of :meth:`state`."""
        return cls(
            list(s["variables"]),
            [tuple(c) for c in s["channels"]],
            list(s["log"]),
            np.array(s["offset"]),
            np.array(s["mean"]),
            np.array(s["std"]),
        )


def _as_array(da: xr.DataArray) -> np.ndarray:
    dims = ["scenario", "time"] + [d for d in da.dims if d not in ("scenario", "time")]
    return np.asarray(da.transpose(*dims).values, dtype="float64")
