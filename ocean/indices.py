"""Per-scenario indices of a simulated (or emulated) ocean dataset.

Carbon: annual CO2 uptake (integral of ``fgco2``, positive into the ocean) and annual net
primary production (integral of ``intpp``), both in mol C m-2 yr-1. Phenology: bloom timing, the
day of year of the surface-chlorophyll maximum (``method="peak"``) or of the first exceedance of
the annual median + 5 % (``method="threshold"``, Siegel, Doney & Yoder 2002). Community
(relative abundances ``p_i`` of the phytoplankton types from their annual-mean depth-integrated
carbon): Shannon ``H = -sum p ln p`` (nats), Gini-Simpson ``1 - sum p^2`` and Rao's quadratic
entropy ``Q = sum_ij d_ij p_i p_j`` with ``d_ij = |T_opt,i - T_opt,j|`` (degC; Botta-Dukat 2005).

Spatial output (the multilayer basin: variables with an ``x`` dim, see :data:`HORIZONTAL_DIMS`)
is reduced to basin-mean series first (:func:`basin_mean`; the basin's cells have equal areas),
so every index is the column computation applied to the basin mean.

Examples
--------
>>> import numpy as np
>>> from ecocube.ocean.indices import shannon, gini_simpson, rao_q
>>> round(float(shannon(np.array([1.0, 1.0]))), 4)  # ln 2
0.6931
>>> float(gini_simpson(np.array([1.0, 1.0])))
0.5
>>> float(rao_q(np.array([1.0, 1.0]), np.array([10.0, 20.0])))
5.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = [
    "HORIZONTAL_DIMS",
    "annual_co2_uptake",
    "annual_primary_production",
    "basin_mean",
    "bloom_timing",
    "compute_indices",
    "gini_simpson",
    "rao_q",
    "shannon",
]

DAYS_PER_YEAR = 365

#: Horizontal dimensions of spatial model output, averaged by :func:`basin_mean`.
HORIZONTAL_DIMS: tuple[str, ...] = ("x", "y")


def _proportions(biomass: Any) -> np.ndarray:
    b = np.asarray(biomass, dtype=float)
    if not np.isfinite(b).all():
        raise InvalidInputError("biomass has NaN/inf values; indices need finite biomass")
    if (b < 0).any():
        raise InvalidInputError(
            f"biomass has negative values (min {b.min():g}); abundances must be >= 0"
        )
    total = b.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(total > 0, b / np.where(total > 0, total, 1.0), np.nan)
    return p


def shannon(biomass: Any) -> np.ndarray:
    """Shannon index (nats) over the last axis of ``biomass`` (abundances, any scale)."""
    p = _proportions(biomass)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.where(np.isnan(p).any(axis=-1), np.nan, terms.sum(axis=-1))


def gini_simpson(biomass: Any) -> np.ndarray:
    """Gini-Simpson index ``1 - sum p_i^2`` over the last axis of ``biomass``."""
    p = _proportions(biomass)
    return 1.0 - (p**2).sum(axis=-1)


def rao_q(biomass: Any, traits: Any) -> np.ndarray:
    """Rao's quadratic entropy ``sum_ij |t_i - t_j| p_i p_j`` over the last axis.

    Parameters
    ----------
    biomass
        Abundances, shape ``(..., S)``.
    traits
        One trait value per type, shape ``(S,)`` (e.g. T_opt in degC); the result has its units.
    """
    p = _proportions(biomass)
    t = np.asarray(traits, dtype=float)
    if t.shape != (p.shape[-1],):
        raise InvalidInputError(
            f"traits has shape {t.shape}; expected ({p.shape[-1]},), one value per type"
        )
    d = np.abs(t[:, None] - t[None, :])
    return np.einsum("...i,ij,...j->...", p, d, p)


def basin_mean(ds: xr.Dataset) -> xr.Dataset:
    """Basin-mean series: every variable averaged over the :data:`HORIZONTAL_DIMS` it has.

    The cells of a basin have equal areas (the multilayer basin's uniform ``dx``), so the mean
    of a per-area quantity (``fgco2``, ``intphyc``, ``intpp``, mmol m-2...) is its basin mean
    per unit area and the mean of a concentration its area-weighted surface mean. NaN cells
    (dry) are skipped. A dataset without horizontal dims is returned unchanged.

    Parameters
    ----------
    ds
        Output of :func:`ecocube.ocean.simulate` (or a surrogate), e.g. ``fgco2 (scenario,
        time, x)``.

    Returns
    -------
    xarray.Dataset
        The same variables without the horizontal dims (coordinates along them dropped).
    """
    dims = [d for d in HORIZONTAL_DIMS if d in ds.dims]
    return ds.mean(dims, keep_attrs=True) if dims else ds


def _horizontal_mean(da: xr.DataArray) -> xr.DataArray:
    dims = [d for d in HORIZONTAL_DIMS if d in da.dims]
    return da.mean(dims, keep_attrs=True) if dims else da


def _years(ds: xr.Dataset) -> int:
    n = ds.sizes["time"]
    if n < DAYS_PER_YEAR or n % DAYS_PER_YEAR:
        raise InvalidInputError(
            f"the dataset has {n} days; annual indices need whole 365-day years"
        )
    return n // DAYS_PER_YEAR


def _require(ds: xr.Dataset, *names: str) -> None:
    missing = [n for n in names if n not in ds]
    if missing:
        raise InvalidInputError(
            f"the dataset lacks variable(s) {missing} needed for this index "
            "(expected the output of ecocube.ocean.simulate)"
        )


def _annual_sum(da: xr.DataArray, years: int) -> xr.DataArray:
    values = da.values.reshape(da.sizes["scenario"], years, DAYS_PER_YEAR).sum(-1)
    import xarray as xr

    return xr.DataArray(
        values,
        dims=("scenario", "year"),
        coords={"scenario": da["scenario"].values, "year": np.arange(years)},
    )


def annual_co2_uptake(ds: xr.Dataset, *, per_year: bool = False) -> xr.DataArray:
    """Annual air-sea CO2 uptake (mol C m-2 yr-1, positive into the ocean) per scenario.

    The mean over years unless ``per_year`` (then dims ``(scenario, year)``); of the basin-mean
    flux for spatial output.
    """
    _require(ds, "fgco2")
    out = _annual_sum(_horizontal_mean(ds["fgco2"]), _years(ds)) / 1000.0
    out.attrs = {
        "long_name": "Annual CO2 uptake (positive into the ocean)",
        "units": "mol m-2 yr-1",
    }
    return out if per_year else out.mean("year", keep_attrs=True)


def annual_primary_production(ds: xr.Dataset, *, per_year: bool = False) -> xr.DataArray:
    """Annual depth-integrated net primary production (mol C m-2 yr-1) per scenario."""
    _require(ds, "intpp")
    out = _annual_sum(_horizontal_mean(ds["intpp"]), _years(ds)) / 1000.0
    out.attrs = {"long_name": "Annual net primary production", "units": "mol m-2 yr-1"}
    return out if per_year else out.mean("year", keep_attrs=True)


def bloom_timing(
    ds: xr.Dataset, *, variable: str = "chl", method: str = "peak", per_year: bool = False
) -> xr.DataArray:
    """Bloom timing: day of year (1..365) of the bloom of ``variable`` per scenario.

    Parameters
    ----------
    method
        ``"peak"`` (day of the maximum) or ``"threshold"`` (first day above median + 5 %).
    """
    import xarray as xr

    methods = ("peak", "threshold")
    if method not in methods:
        raise InvalidInputError(f"method={method!r} is not one of {methods}")
    _require(ds, variable)
    years = _years(ds)
    da = _horizontal_mean(ds[variable])
    if da.ndim != 2:
        da = da.sum([d for d in da.dims if d not in ("scenario", "time")])
    v = da.transpose("scenario", "time").values.reshape(-1, years, DAYS_PER_YEAR)
    if method == "peak":
        day = v.argmax(-1) + 1
    else:
        thr = np.median(v, axis=-1, keepdims=True) * 1.05
        day = (v > thr).argmax(-1) + 1
    out = xr.DataArray(
        day.astype(float),
        dims=("scenario", "year"),
        coords={"scenario": ds["scenario"].values, "year": np.arange(years)},
        attrs={"long_name": f"Bloom day of year ({method} of {variable})", "units": "1"},
    )
    return out if per_year else out.mean("year", keep_attrs=True)


def compute_indices(ds: xr.Dataset) -> pd.DataFrame:
    """Every index per scenario, as a table indexed by ``scenario``.

    Columns: ``co2_uptake`` and ``primary_production`` (mol C m-2 yr-1), ``bloom_day``
    (day of year), ``shannon`` (nats), ``gini_simpson``, ``rao_q`` (degC) of the annual-mean
    depth-integrated carbon of the types (``intphyc``) with their ``t_opt`` as thermal trait.
    Spatial output is reduced to its basin mean first (:func:`basin_mean`).
    """
    import pandas as pd

    _require(ds, "intphyc", "fgco2", "intpp", "chl")
    intphyc = _horizontal_mean(ds["intphyc"])
    biomass = intphyc.mean("time").transpose("scenario", "phyto_type").values
    t_opt = ds["t_opt"].values if "t_opt" in ds.coords else None
    frame = pd.DataFrame(
        {
            "co2_uptake": annual_co2_uptake(ds).values,
            "primary_production": annual_primary_production(ds).values,
            "bloom_day": bloom_timing(ds).values,
            "shannon": shannon(biomass),
            "gini_simpson": gini_simpson(biomass),
            "rao_q": rao_q(biomass, t_opt) if t_opt is not None else np.nan,
        },
        index=pd.Index(ds["scenario"].values, name="scenario"),
    )
    return frame
