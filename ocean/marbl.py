"""What ecocube computes from the CESM2-MARBL outputs of the mirror.

* :func:`surface_carbon_fluxes`: surface pCO2 and the air-sea CO2 flux ``fgco2`` (CF sign,
  positive into the ocean) from MARBL DIC and alkalinity, with GLORYS temperature and salinity
  and ERA5 winds co-located on the MARBL grid, compared with MARBL's own ``pCO2SURF``.
* :func:`community_indices`: Shannon (nats), Gini–Simpson and Rao's quadratic entropy of the
  three MARBL phytoplankton groups (small phytoplankton, diatoms, diazotrophs).
* :func:`reduced_model_cv`: a reduced model of MARBL surface phytoplankton carbon from
  physical drivers (astronomical light, its seasonal change, latitude, deep nutrient supply),
  cross-validated across grid points (leave-grid-points-out and spatial blocks).
* :func:`calibrate`: fit a few parameters of the full model at one grid point so that its
  surface phytoplankton seasonal cycle matches the MARBL monthly climatology.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError

__all__ = [
    "MARBL_GROUPS",
    "CalibrationResult",
    "ReducedModelReport",
    "calibrate",
    "community_indices",
    "marbl_drivers",
    "reduced_model_cv",
    "surface_carbon_fluxes",
    "toa_insolation",
]

#: The three MARBL phytoplankton groups as canonical variable names.
MARBL_GROUPS: tuple[str, ...] = ("phypico", "phydiat", "phydiaz")

#: Trait used by Rao's Q for the MARBL groups: log10 equivalent spherical diameter (µm) of a
#: typical cell or colony (small phytoplankton ~2 µm, diatoms ~20 µm, Trichodesmium-like
#: diazotroph colonies ~10 µm; Marañón 2015 Annu. Rev. Mar. Sci. 7:241). MARBL gives the
#: three groups one shared temperature function, so size is the trait that separates them.
MARBL_TRAITS: dict[str, float] = {
    "phypico": math.log10(2.0),
    "phydiat": math.log10(20.0),
    "phydiaz": math.log10(10.0),
}

_RHO = 1.025  # kg L-1: mmol m-3 -> umol kg-1


def _surface(da: xr.DataArray) -> xr.DataArray:
    for dim in ("depth", "depth_150m"):
        if dim in da.dims:
            da = da.isel({dim: 0})
    return da


def _surface_carbon(ds: xr.Dataset) -> xr.DataArray:
    """Surface carbon of the :data:`MARBL_GROUPS` together (negative values count as 0)."""
    total = _surface(ds[MARBL_GROUPS[0]]).clip(min=0)
    for group in MARBL_GROUPS[1:]:
        total = total + _surface(ds[group]).clip(min=0)
    return total


# ------------------------------------------------------------------------------------------
# carbon fluxes
# ------------------------------------------------------------------------------------------
def surface_carbon_fluxes(
    bgc: xr.Dataset,
    physics: xr.Dataset,
    wind: xr.DataArray | float,
    *,
    pco2_air: float = 393.8,
) -> xr.Dataset:
    """Surface ``spco2`` (µatm) and ``fgco2`` (mmol C m-2 d-1, positive into the ocean).

    Parameters
    ----------
    bgc
        Canonical MARBL dataset with ``dissic`` and ``talk`` (mmol m-3); the top level is used.
    physics
        Canonical dataset with ``thetao`` (°C) and ``so`` on the same horizontal grid and times
        (interpolate GLORYS first, e.g. with :func:`north_atlantic_surface`).
    wind
        10-m wind speed (m s-1), a DataArray on the same grid or a constant.
    pco2_air
        Atmospheric pCO2 (µatm); the default is the Mauna Loa 2012 annual mean.

    Returns
    -------
    xarray.Dataset
        ``spco2`` and ``fgco2`` with CF attributes; NaN over land.
    """
    import torch

    from ecocube.ocean.carbonate import co2_flux, pco2
    from ecocube.ocean.variables import VARIABLES

    for name, ds in (("dissic", bgc), ("talk", bgc), ("thetao", physics), ("so", physics)):
        if name not in ds:
            raise InvalidInputError(
                f"surface_carbon_fluxes needs variable {name!r}; got {sorted(map(str, ds.data_vars))}"
            )
    dic = _surface(bgc.dissic)
    ta = _surface(bgc.talk)
    temp = _surface(physics.thetao)
    sal = _surface(physics.so)
    dic, ta, temp, sal = xr.broadcast(dic, ta, temp, sal)
    ws = wind if isinstance(wind, xr.DataArray) else xr.full_like(temp, float(wind))
    ws = xr.broadcast(ws, temp)[0].transpose(*temp.dims)
    dic, ta, sal = (a.transpose(*temp.dims) for a in (dic, ta, sal))

    def t(a: xr.DataArray) -> torch.Tensor:
        return torch.from_numpy(np.array(a.values, dtype="float64"))

    p = pco2(t(dic) / _RHO, t(ta) / _RHO, t(temp), t(sal))
    flux = co2_flux(p, torch.full_like(p, pco2_air), t(ws), t(temp), t(sal)) * 86400.0
    # a mole flux in mmol m-2 d-1 (the registry gives the CF mole-flux name)
    fgco2_attrs = VARIABLES["fgco2"].attrs()
    out = xr.Dataset(
        {
            "spco2": (dic.dims, p.numpy().astype("float32"), VARIABLES["spco2"].attrs()),
            "fgco2": (dic.dims, flux.numpy().astype("float32"), fgco2_attrs),
        },
        coords=dic.coords,
    )
    out.attrs["pco2_air_uatm"] = pco2_air
    return out


def north_atlantic_surface() -> dict[str, Any]:
    """Co-locate the mirror's North-Atlantic files on the MARBL grid and compute carbon fluxes.

    GLORYS surface temperature/salinity (2012-01-01 and 2012-12-31) are interpolated linearly
    onto the 2° MARBL grid (points outside the GLORYS box stay NaN); ERA5 10-m wind speed is
    averaged over the two ERA5 instants. MARBL's own ``pCO2SURF`` (global 1° file, same run) is
    interpolated to the same points for comparison.

    Returns
    -------
    dict
        ``fluxes`` (Dataset), ``marbl_pco2`` (DataArray), and a ``summary`` dict: number of
        points, mean computed and MARBL pCO2, bias, RMSE, correlation, mean fgco2.
    """
    from ecocube.ocean.ingest import open_registry_file

    bgc = open_registry_file(
        "ocean_north_atlantic", "CESM_BGC_2012.nc", variables=["dissic", "talk"]
    )
    phys = open_registry_file(
        "ocean_north_atlantic", "GLORYS_NA_2012.nc", variables=["thetao", "so"]
    )
    era = open_registry_file("ocean_north_atlantic", "ERA5_NA_2012.nc", variables=["uas", "vas"])
    glob = open_registry_file("ocean_global_cesm", "CESM_BGC_SURFACE_2012.nc", variables=["spco2"])
    phys = phys.isel(depth=0).interp(lat=bgc.lat, lon=bgc.lon)
    phys = phys.assign_coords(time=bgc.time.values)
    speed = np.hypot(era.uas, era.vas).mean("time").interp(lat=bgc.lat, lon=bgc.lon)
    fluxes = surface_carbon_fluxes(bgc.isel(depth=0), phys, speed)
    ref = glob.spco2.isel(time=0).interp(lat=bgc.lat, lon=bgc.lon)
    ours = fluxes.spco2.isel(time=0)
    ok = np.isfinite(ours.values) & np.isfinite(ref.values)
    a, b = ours.values[ok].astype("float64"), ref.values[ok].astype("float64")
    summary = {
        "points": int(ok.sum()),
        "pco2_ecocube_mean_uatm": float(a.mean()) if a.size else math.nan,
        "pco2_marbl_mean_uatm": float(b.mean()) if b.size else math.nan,
        "pco2_bias_uatm": float((a - b).mean()) if a.size else math.nan,
        "pco2_rmse_uatm": float(np.sqrt(((a - b) ** 2).mean())) if a.size else math.nan,
        "pco2_corr": float(np.corrcoef(a, b)[0, 1]) if a.size > 2 else math.nan,
        "fgco2_mean_mmol_m2_d": float(np.nanmean(fluxes.fgco2.values)),
    }
    return {"fluxes": fluxes, "marbl_pco2": ref, "summary": summary}


# ------------------------------------------------------------------------------------------
# diversity
# ------------------------------------------------------------------------------------------
def _indices_arrays(biomass: np.ndarray, traits: np.ndarray) -> dict[str, np.ndarray]:
    """Shannon, Gini–Simpson and Rao's Q over the last axis, NaN where biomass is missing.

    Uses the full model's index functions (:mod:`ecocube.ocean.indices`) on the ocean points.
    """
    from ecocube.ocean.indices import gini_simpson, rao_q, shannon

    flat = biomass.reshape(-1, biomass.shape[-1])
    ok = np.isfinite(flat).all(-1)
    b = np.clip(flat[ok], 0.0, None)
    out = {}
    for name, fn in (("shannon", shannon), ("gini_simpson", gini_simpson)):
        arr = np.full(flat.shape[0], np.nan)
        arr[ok] = fn(b)
        out[name] = arr.reshape(biomass.shape[:-1])
    arr = np.full(flat.shape[0], np.nan)
    arr[ok] = rao_q(b, traits)
    out["rao_q"] = arr.reshape(biomass.shape[:-1])
    return out


def community_indices(ds: xr.Dataset, *, integrate: bool = False) -> xr.Dataset:
    """Diversity indices of the three MARBL phytoplankton groups.

    Parameters
    ----------
    ds
        Canonical MARBL dataset with ``phypico``, ``phydiat`` and ``phydiaz`` (mmol C m-3).
    integrate
        Use carbon integrated over the top 150 m (trapezoid over ``depth_150m``) instead of the
        top level.

    Returns
    -------
    xarray.Dataset
        ``shannon`` (nats, 0…ln 3), ``gini_simpson`` (0…2/3) and ``rao_q`` (mean pairwise
        distance in log10 µm of :data:`MARBL_TRAITS`) on the remaining dimensions. Small
        negative biomasses (regridding artefacts) count as zero; land is NaN.
    """
    missing = [g for g in MARBL_GROUPS if g not in ds]
    if missing:
        raise InvalidInputError(
            f"community_indices needs the MARBL groups {list(MARBL_GROUPS)}; missing {missing}"
        )
    layers = []
    for g in MARBL_GROUPS:
        da = ds[g]
        if integrate and "depth_150m" in da.dims:
            da = da.clip(min=0).fillna(0).integrate("depth_150m").where(_surface(da).notnull())
        else:
            da = _surface(da)
        layers.append(da)
    stacked = xr.concat(layers, dim="group").transpose(..., "group")
    traits = np.array([MARBL_TRAITS[g] for g in MARBL_GROUPS])
    res = _indices_arrays(stacked.values.astype("float64"), traits)
    dims = stacked.dims[:-1]
    coords = {k: v for k, v in stacked.coords.items() if "group" not in v.dims}
    attrs = {
        "shannon": {"long_name": "Shannon index of phytoplankton carbon", "units": "nats"},
        "gini_simpson": {"long_name": "Gini-Simpson index of phytoplankton carbon", "units": "1"},
        "rao_q": {"long_name": "Rao's quadratic entropy over log10 cell size", "units": "1"},
    }
    return xr.Dataset(
        {k: (dims, v.astype("float32"), attrs[k]) for k, v in res.items()}, coords=coords
    )


# ------------------------------------------------------------------------------------------
# reduced model of MARBL phytoplankton carbon
# ------------------------------------------------------------------------------------------
def toa_insolation(lat_deg: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """Daily-mean top-of-atmosphere insolation (W m-2), Berger (1978) without eccentricity.

    ``Q = S0/pi * (h0 sin(phi) sin(delta) + cos(phi) cos(delta) sin(h0))`` with the solar
    declination ``delta = 23.44° sin(2 pi (284 + day)/365)`` and sunset hour angle ``h0``.
    """
    s0 = 1361.0
    phi = np.deg2rad(lat_deg)
    delta = np.deg2rad(23.44) * np.sin(2 * np.pi * (284.0 + day_of_year) / 365.0)
    cos_h0 = np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0)
    h0 = np.arccos(cos_h0)
    return (
        s0 / np.pi * (h0 * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(h0))
    )


def marbl_drivers(clim: xr.Dataset) -> pd.DataFrame:
    """One row per ocean (month, lat, lon) of the MARBL climatology: drivers and target.

    Drivers (no biological variable): monthly-mean TOA insolation and its change from the
    previous month (W m-2; the onset of stratification follows the light), day length (h),
    latitude, and the nutrient supply at the base of the euphotic zone (annual-mean ``no3`` and
    ``si`` at the deepest level above 150 m, mmol m-3), the reservoir winter mixing taps.
    Target: ``log10`` of surface total phytoplankton carbon (mmol C m-3).
    """
    mid_day = np.array([15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349], dtype=float)
    lat2d, _ = xr.broadcast(clim.lat, clim.lon)
    surface_c = _surface_carbon(clim)
    deep_idx = int(np.searchsorted(clim.depth.values, 150.0) - 1)
    no3_deep = clim.no3.isel(depth=deep_idx).mean("month")
    si_deep = clim.si.isel(depth=deep_idx).mean("month")
    rows = []
    months = clim.month.values
    for i, m in enumerate(months):
        d = mid_day[int(m) - 1]
        lat = lat2d.values
        ins = toa_insolation(lat, np.full_like(lat, d))
        prev = toa_insolation(lat, np.full_like(lat, mid_day[int(m) - 2]))
        phi, dec = np.deg2rad(lat), np.deg2rad(23.44) * np.sin(2 * np.pi * (284.0 + d) / 365.0)
        daylen = 24.0 / np.pi * np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1, 1))
        c = surface_c.isel(month=i).values
        frame = pd.DataFrame(
            {
                "month": int(m),
                "lat": lat.ravel(),
                "lon": xr.broadcast(clim.lon, clim.lat)[0].transpose("lat", "lon").values.ravel(),
                "insolation": ins.ravel(),
                "d_insolation": (ins - prev).ravel(),
                "day_length": daylen.ravel(),
                "no3_deep": no3_deep.values.ravel(),
                "si_deep": si_deep.values.ravel(),
                "phyto_c": c.ravel(),
            }
        )
        rows.append(frame)
    df = pd.concat(rows, ignore_index=True)
    df = df[np.isfinite(df.phyto_c) & np.isfinite(df.no3_deep)].reset_index(drop=True)
    df["log10_phyto_c"] = np.log10(np.clip(df.phyto_c, 1e-3, None))
    df["point"] = df.lat.astype(str) + "_" + df.lon.astype(str)
    return df


DRIVERS: tuple[str, ...] = (
    "insolation",
    "d_insolation",
    "day_length",
    "lat",
    "no3_deep",
    "si_deep",
)


@dataclass
class ReducedModelReport:
    """Cross-validated skill of the reduced model of MARBL phytoplankton carbon.

    Attributes
    ----------
    scores
        One row per (scheme, model): ``r2_log`` (R² of log10 carbon), ``r2`` (of carbon),
        ``nrmse`` (RMSE / mean of carbon), ``folds``, ``points``.
    predictions
        Out-of-fold predictions of the leave-grid-points-out scheme (columns of
        :func:`marbl_drivers` plus ``pred_phyto_c``).
    """

    scores: pd.DataFrame
    predictions: pd.DataFrame = field(repr=False)


def _scores(y_log: np.ndarray, p_log: np.ndarray) -> dict[str, float]:
    y, p = 10**y_log, 10**p_log
    r2_log = 1 - ((y_log - p_log) ** 2).sum() / ((y_log - y_log.mean()) ** 2).sum()
    r2 = 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return {
        "r2_log": float(r2_log),
        "r2": float(r2),
        "nrmse": float(np.sqrt(((y - p) ** 2).mean()) / y.mean()),
    }


def reduced_model_cv(
    clim: xr.Dataset | None = None,
    *,
    n_folds: int = 5,
    block_deg: float = 6.0,
    seed: int = 0,
) -> ReducedModelReport:
    """Cross-validate a reduced model of MARBL surface phytoplankton carbon across grid points.

    Two schemes: *leave grid points out* (``n_folds`` groups of whole grid points, every month
    of a point in the same fold) and *spatial blocks* (``block_deg`` x ``block_deg`` degree
    blocks, so neighbouring, autocorrelated points never straddle train and test). Two models:
    gradient-boosted trees on :data:`DRIVERS` and a baseline, the mean seasonal cycle of the
    training points (what one would predict knowing only the month).

    Parameters
    ----------
    clim
        Canonical MARBL monthly climatology (default: the North-Atlantic mirror file).
    n_folds
        Folds of each scheme (>= 2).
    block_deg
        Side of the spatial blocks in degrees (> 0).
    seed
        Seed of the fold assignment and the trees.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import GroupKFold

    if n_folds < 2:
        raise InvalidInputError(f"n_folds must be >= 2, got {n_folds}")
    if not block_deg > 0:
        raise InvalidInputError(f"block_deg must be > 0 degrees, got {block_deg}")
    if clim is None:
        from ecocube.ocean.ingest import open_marbl_climatology

        clim = open_marbl_climatology()
    df = marbl_drivers(clim)
    rng = np.random.default_rng(seed)
    points = df.point.unique()
    perm = dict(zip(points, rng.permutation(len(points)) % n_folds, strict=True))
    blocks = (
        np.floor(df.lat / block_deg).astype(int).astype(str)
        + "_"
        + np.floor(df.lon / block_deg).astype(int).astype(str)
    )
    schemes = {"leave_points_out": df.point.map(perm).values, "spatial_blocks": blocks.values}
    rows = []
    oof_saved = None
    for scheme, groups in schemes.items():
        n_groups = len(np.unique(groups))
        folds = GroupKFold(n_splits=min(n_folds, n_groups))
        pred = {"boosted_trees": np.zeros(len(df)), "seasonal_mean": np.zeros(len(df))}
        for train, test in folds.split(df, groups=groups):
            model = HistGradientBoostingRegressor(
                max_iter=300, learning_rate=0.05, max_leaf_nodes=15, random_state=seed
            )
            model.fit(df.iloc[train][list(DRIVERS)], df.log10_phyto_c.iloc[train])
            pred["boosted_trees"][test] = model.predict(df.iloc[test][list(DRIVERS)])
            clim_mean = df.iloc[train].groupby("month").log10_phyto_c.mean()
            pred["seasonal_mean"][test] = df.month.iloc[test].map(clim_mean).values
        for name, p in pred.items():
            rows.append(
                {
                    "scheme": scheme,
                    "model": name,
                    **_scores(df.log10_phyto_c.values, p),
                    "folds": folds.get_n_splits(),
                    "points": len(points),
                }
            )
        if scheme == "leave_points_out":
            oof_saved = df.assign(pred_phyto_c=10 ** pred["boosted_trees"])
    assert oof_saved is not None
    return ReducedModelReport(pd.DataFrame(rows), oof_saved)


# ------------------------------------------------------------------------------------------
# calibration of the full model
# ------------------------------------------------------------------------------------------
@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate`.

    Attributes
    ----------
    parameters
        Fitted values by name.
    table
        Monthly MARBL and simulated (before/after) surface phytoplankton carbon (mmol C m-3).
    rmse_before, rmse_after
        RMSE (mmol C m-3) of the monthly cycle before and after the fit.
    corr_before, corr_after
        Pearson correlation of the monthly cycles.
    """

    parameters: dict[str, float]
    table: pd.DataFrame
    rmse_before: float
    rmse_after: float
    corr_before: float
    corr_after: float
    lat: float = 0.0
    lon: float = 0.0


def _monthly_surface_c(sim: xr.Dataset) -> np.ndarray:
    """Monthly means (12, n_scenarios) of simulated total surface phyto C in the last year."""
    da = sim[_find_surface_phyto(sim)]
    extra = [d for d in da.dims if d not in ("scenario", "time")]
    if extra:
        da = da.sum(extra)
    n_days = da.sizes["time"]
    last = slice(max(0, n_days - 365), n_days)
    vals = da.transpose("scenario", "time").values[:, last]
    d = np.arange(vals.shape[1]) % 365
    edges = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365])
    month = np.searchsorted(edges, d, side="right") - 1
    return np.stack([vals[:, month == m].mean(1) for m in range(12)])


def _find_surface_phyto(sim: xr.Dataset) -> str:
    for cand in ("phyc_surface", "phyc_surf", "phyto_surface", "phyc"):
        if cand in sim:
            return cand
    raise InvalidInputError(
        f"cannot find surface phytoplankton carbon in the simulation; variables: "
        f"{sorted(map(str, sim.data_vars))}"
    )


def calibrate(
    lat: float = 60.0,
    lon: float = -13.0,
    *,
    parameters: Sequence[str] = ("light", "nutrient_supply", "wind"),
    years: int = 2,
    n_candidates: int = 48,
    seed: int = 0,
    clim: xr.Dataset | None = None,
    device: str = "cpu",
) -> CalibrationResult:
    """Fit scenario parameters of the full model to MARBL's surface phytoplankton cycle.

    The full model (:func:`ecocube.ocean.simulate`) is run for a batch of ``n_candidates``
    Latin-hypercube candidates of ``parameters`` (the others at their defaults, the seasonal
    temperature amplitude set from MARBL's latitude), the candidate with the lowest RMSE
    between its last-year monthly surface phytoplankton carbon and the MARBL climatology at the
    grid point nearest to (``lat``, ``lon``) is kept, then refined by a second batch drawn in a
    shrunken box around it. Batched candidates use the model's scenario vectorisation, so one
    fit costs two batched simulations.

    Parameters
    ----------
    lat, lon
        Grid point (degrees north / east) in the MARBL box (46–70 N, 17 W–7 E).
    parameters
        Scenario parameters to fit (names of ``ecocube.ocean.scenarios.SCENARIO_PARAMETERS``).
    years
        Simulated years (the last is compared; the first is spin-up).
    n_candidates
        Candidates per batch.
    seed, clim, device
        Seed of the candidate draws, climatology (default: the mirror file), torch device.
    """
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, default_scenario, sample_scenarios
    from ecocube.ocean.simulate import simulate

    names = {p.name: p for p in SCENARIO_PARAMETERS}
    bad = [p for p in parameters if p not in names]
    if bad:
        raise InvalidInputError(
            f"unknown calibration parameter(s) {bad}; choose among {sorted(names)}"
        )
    if clim is None:
        from ecocube.ocean.ingest import open_marbl_climatology

        clim = open_marbl_climatology(variables=list(MARBL_GROUPS))
    lat_ok = float(clim.lat.min()) - 1 <= lat <= float(clim.lat.max()) + 1
    lon_ok = float(clim.lon.min()) - 1 <= lon <= float(clim.lon.max()) + 1
    if not (lat_ok and lon_ok):
        raise InvalidInputError(
            f"(lat, lon)=({lat}, {lon}) is outside the MARBL grid "
            f"{float(clim.lat.min())}…{float(clim.lat.max())} N, "
            f"{float(clim.lon.min())}…{float(clim.lon.max())} E"
        )
    point = clim.sel(lat=lat, lon=lon, method="nearest")
    target = _surface_carbon(point).values.astype("float64")
    if not np.isfinite(target).all():
        raise InvalidInputError(f"grid point ({lat}, {lon}) is land in the MARBL climatology")

    def run(frame: pd.DataFrame) -> np.ndarray:
        sim = simulate(frame, years=years, device=device, progress=False)
        monthly = _monthly_surface_c(sim)  # (12, n)
        return monthly

    def score(monthly: np.ndarray) -> np.ndarray:
        return np.sqrt(((monthly - target[:, None]) ** 2).mean(0))

    base = default_scenario()
    ranges: dict[str, tuple[float, float] | float] = {
        n: float(base[n].iloc[0]) for n in names if n not in parameters
    }
    # the default scenario is candidate 0, so the fit can never end worse than the default
    cands = pd.concat(
        [base, sample_scenarios(n_candidates, seed=seed, ranges=ranges)], ignore_index=True
    )
    sims = run(cands)
    before = sims[:, 0]
    best = int(np.argmin(score(sims)))
    # refine: a box of 1/4 of the width around the best candidate
    refine: dict[str, tuple[float, float] | float] = dict(ranges)
    for n in parameters:
        p = names[n]
        half = (p.high - p.low) / 8.0
        c = float(cands[n].iloc[best])
        refine[n] = (max(p.valid_low, c - half), min(p.valid_high, c + half))
    cands2 = sample_scenarios(n_candidates, seed=seed + 1, ranges=refine)
    sims2 = run(cands2)
    all_c = pd.concat([cands, cands2], ignore_index=True)
    all_s = np.concatenate([sims, sims2], axis=1)
    best = int(np.argmin(score(all_s)))
    after = all_s[:, best]
    table = pd.DataFrame(
        {"month": np.arange(1, 13), "marbl": target, "before": before, "after": after}
    )
    return CalibrationResult(
        parameters={n: float(all_c[n].iloc[best]) for n in parameters},
        table=table,
        rmse_before=float(np.sqrt(((before - target) ** 2).mean())),
        rmse_after=float(np.sqrt(((after - target) ** 2).mean())),
        corr_before=float(np.corrcoef(before, target)[0, 1]),
        corr_after=float(np.corrcoef(after, target)[0, 1]),
        lat=float(point.lat),
        lon=float(point.lon),
    )
