"""Frozen reference of the biogeochemistry refactor: the pre-refactor ``simulate`` path.

This module is ``ocean/simulate.py`` as it stood before the full model was split into a
biogeochemistry object, a physical scheme and a diagnostics accumulator, copied verbatim from git
(``git show`` of that commit) and trimmed to what ``simulate`` needs: the option checks
(``_validate_options``, ``_max_wind``), which do not change any number, are imported from the live
module; the physics, biology and carbonate kernels are the live ones too, so this file pins the
driver (forcing, initial state, order of operations in a step, daily diagnostics, dataset
assembly). ``tests/ocean/test_biogeochemistry.py`` checks that the refactored
:func:`ecocube.ocean.simulate` returns bit-for-bit (float64) the same dataset.

It is a test reference: never edit it. If the model's output is meant to change, retire the
regression test that uses it instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube._progress import track
from ecocube.errors import InvalidInputError
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters
from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, validate_scenarios
from ecocube.ocean.simulate import _max_wind, _validate_options
from ecocube.ocean.variables import VARIABLES

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from torch import Tensor

SECONDS_PER_DAY = 86400.0


DAYS_PER_YEAR = 365


#: CF standard name of ``fgco2`` in mmol m-2 d-1: a *mole* flux (canonical units mol m-2 s-1).
#: CMIP's ``surface_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon`` is a mass flux
#: (kg m-2 s-1), inconsistent with molar units; files carrying it are still read.
FGCO2_STANDARD_NAME = VARIABLES["fgco2"].standard_name


#: Default time step of :func:`simulate` (s).
DEFAULT_DT = 10800.0


#: Plausible range of sea water temperatures (degC) for forcing and initial values.
TEMPERATURE_RANGE: tuple[float, float] = (-2.5, 40.0)


#: Forcing series that ``simulate(forcing=...)`` may override (daily values).
FORCING_NAMES: dict[str, str] = {
    "temperature": "surface restoring temperature, degC",
    "wind": "10-m wind speed, m s-1",
    "shortwave": "surface downwelling shortwave, W m-2",
    "co2": "atmospheric CO2 mole fraction, ppm",
}


#: Output variables: name -> (dims after (scenario, time), attrs).
OUTPUT_VARIABLES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "phyc": (
        ("phyto_type",),
        {
            "standard_name": "mole_concentration_of_phytoplankton_expressed_as_carbon_in_sea_water",
            "long_name": "Surface phytoplankton carbon per type",
            "units": "mmol m-3",
        },
    ),
    "intphyc": (
        ("phyto_type",),
        {
            "long_name": "Depth-integrated phytoplankton carbon per type",
            "units": "mmol m-2",
            "comment": "integral over the water column of phyc",
        },
    ),
    "chl": (
        (),
        {
            "standard_name": "mass_concentration_of_phytoplankton_expressed_as_chlorophyll_in_sea_water",
            "long_name": "Surface total chlorophyll",
            "units": "mg m-3",
        },
    ),
    "intchl": ((), {"long_name": "Depth-integrated total chlorophyll", "units": "mg m-2"}),
    "dissic": (
        (),
        {
            "standard_name": "mole_concentration_of_dissolved_inorganic_carbon_in_sea_water",
            "long_name": "Surface dissolved inorganic carbon",
            "units": "mmol m-3",
        },
    ),
    "intdic": (
        (),
        {"long_name": "Depth-integrated dissolved inorganic carbon", "units": "mmol m-2"},
    ),
    "talk": (
        (),
        {
            "standard_name": "sea_water_alkalinity_expressed_as_mole_equivalent",
            "long_name": "Surface total alkalinity",
            "units": "mmol m-3",
        },
    ),
    "no3": (
        (),
        {
            "standard_name": "mole_concentration_of_nitrate_in_sea_water",
            "long_name": "Surface nitrate",
            "units": "mmol m-3",
        },
    ),
    "spco2": (
        (),
        {
            "standard_name": "surface_partial_pressure_of_carbon_dioxide_in_sea_water",
            "long_name": "Surface ocean pCO2",
            "units": "uatm",
        },
    ),
    "ph": (
        (),
        {
            "standard_name": "sea_water_ph_reported_on_total_scale",
            "long_name": "Surface pH (total scale)",
            "units": "1",
        },
    ),
    "fgco2": (
        (),
        {
            "standard_name": FGCO2_STANDARD_NAME,
            "long_name": "Air-sea CO2 flux (positive into the ocean)",
            "units": "mmol m-2 d-1",
            "comment": "CF sign convention: positive downward (ocean uptake); 1 mmol C = 12.011 mg",
        },
    ),
    "intpp": (
        (),
        {
            "standard_name": "net_primary_mole_productivity_of_biomass_expressed_as_carbon_by_"
            "phytoplankton",
            "long_name": "Depth-integrated net primary production",
            "units": "mmol m-2 d-1",
        },
    ),
    "tos": (
        (),
        {
            "standard_name": "sea_surface_temperature",
            "long_name": "Sea surface temperature",
            "units": "degC",
        },
    ),
    "thetao": (
        ("depth",),
        {
            "standard_name": "sea_water_potential_temperature",
            "long_name": "Sea water temperature",
            "units": "degC",
        },
    ),
    "mlotst": (
        (),
        {
            "standard_name": "ocean_mixed_layer_thickness_defined_by_mixing_scheme",
            "long_name": "Boundary-layer depth (KPP-lite)",
            "units": "m",
        },
    ),
    "pco2atm": ((), {"long_name": "Atmospheric CO2 mole fraction", "units": "ppm"}),
    "total_nitrogen": (
        (),
        {"long_name": "Column total nitrogen (end of day)", "units": "mmol m-2"},
    ),
    "total_carbon": ((), {"long_name": "Column total carbon (end of day)", "units": "mmol m-2"}),
}


def simulate(
    scenarios: pd.DataFrame | Mapping[str, Any],
    *,
    years: int = 1,
    dt: float = DEFAULT_DT,
    n_layers: int = 20,
    device: str = "cpu",
    seed: int = 0,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
    forcing: Mapping[str, Any] | None = None,
    initial: Mapping[str, Any] | None = None,
    closed: bool = False,
    weather_noise: float = 0.0,
    progress: bool = False,
    num_threads: int | None = None,
) -> xr.Dataset:
    """Run the full model for a batch of scenarios and return daily means.

    Parameters
    ----------
    scenarios
        Table with one row per scenario and the columns of
        :data:`~ecocube.ocean.scenarios.SCENARIO_PARAMETERS` (e.g. from
        :func:`~ecocube.ocean.sample_scenarios`); extra columns are ignored. A mapping of
        scalars (or a :class:`pandas.Series`, e.g. one row of a table) is one scenario; a
        mapping of equal-length sequences is one scenario per position.
    years
        Simulated years (365-day years, starting on 1 January).
    dt
        Time step (s); must divide one day, satisfy :func:`check_stability` and be at least
        1 s. A step under 60 s warns (:class:`~ecocube.errors.EcocubeWarning`, naming the step
        count and a ``dt`` that works) when a step ten times longer is stable.
    n_layers
        Number of equal layers over ``parameters.physics.depth`` (>= 3).
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``...), checked by
        :func:`ecocube.training.resolve_device` as for surrogate training. The model runs in
        float64 so that mass is conserved to round-off (``"auto"`` therefore never picks
        Apple's ``mps``, which lacks float64, and ``"mps"`` is refused).
    seed
        Seed of the daily weather noise (only used when ``weather_noise > 0``).
    parameters
        Model parameters (:data:`~ecocube.ocean.parameters.DEFAULT_PARAMETERS`).
    forcing
        Optional daily series overriding the scenario-built forcing, keys in
        :data:`FORCING_NAMES`; each of shape ``(days,)``, ``(365,)`` (a climatology repeated every
        year) or ``(n_scenarios, days)``.
    initial
        Optional initial values (scalar or one value per layer): ``"no3"``, ``"dic"``,
        ``"talk"`` (mmol m-3), ``"phyc"`` (mmol C m-3 per type), ``"temperature"`` (degC,
        within [-2.5, 40] like ``forcing["temperature"]``).
    closed
        Switch off the air-sea CO2 flux and the deep nutrient/DIC restoring, so that total
        nitrogen and total carbon of the column are conserved (used to test conservation).
    weather_noise
        Relative standard deviation of a seeded daily AR(1) anomaly of wind and shortwave.
    progress
        Show a progress bar over simulated days.
    num_threads
        Deprecated and ignored (a :class:`FutureWarning` says so): ``simulate`` leaves torch's
        process-wide thread count alone, as changing it raced with other threads of the
        process. One thread is fastest for these small per-step kernels (the results do not
        depend on it): call ``torch.set_num_threads(1)`` once at the start of a program, as
        ``ecocube ocean simulate`` and the workers of :func:`~ecocube.ocean.run_ensemble` do.

    Returns
    -------
    xarray.Dataset
        Dims ``(scenario, time)`` plus ``phyto_type`` or ``depth`` (see
        :data:`OUTPUT_VARIABLES`); the scenario parameters are coordinates along ``scenario``
        and the thermal traits ``t_opt``, ``t_min``, ``t_max`` along ``phyto_type``.

    Raises
    ------
    ScenarioError
        Missing columns, NaN or out-of-range scenario values.
    StabilityError
        A time step beyond the stability limit of an explicit part.
    InvalidInputError
        Bad ``years``, ``n_layers``, ``dt`` (not dividing a day, shorter than 1 s),
        ``forcing`` (NaN, negative, wrong shape, implausible temperature) or ``initial``
        (negative or implausibly large concentrations, a temperature outside [-2.5, 40] degC,
        e.g. in Kelvin).
    ConfigurationError
        ``device`` is not a torch device or is not available here.
    """
    import torch

    from ecocube.training import resolve_device

    if num_threads is not None:
        warnings.warn(
            f"num_threads={num_threads!r} is ignored: simulate no longer changes torch's "
            "process-wide thread count; call torch.set_num_threads(n) once at the start of "
            "your program instead",
            FutureWarning,
            stacklevel=2,
        )
    table = validate_scenarios(scenarios)
    _validate_options(
        {"years": years, "dt": dt, "n_layers": n_layers}, parameters, _max_wind(table, forcing)
    )
    dev = resolve_device(device)
    if dev.type == "mps":  # Apple's backend has no float64, which mass conservation needs
        if device != "auto":
            raise InvalidInputError(
                "device='mps' cannot run the full model: it needs float64, which the MPS "
                "backend lacks; use device='cpu'"
            )
        dev = torch.device("cpu")
    phys = parameters.physics
    dz = phys.depth / n_layers
    steps_per_day = SECONDS_PER_DAY / dt
    n_days = DAYS_PER_YEAR * int(years)
    drivers = _build_forcing(table, n_days, phys, forcing, seed, weather_noise, dev)
    state = _initial_state(table, n_layers, dz, parameters, initial, drivers, dev)
    with torch.inference_mode():
        series = _integrate(
            state,
            drivers,
            table,
            parameters,
            dz,
            float(dt),
            round(steps_per_day),
            n_days,
            closed=closed,
            progress=progress,
        )
    return _to_dataset(series, table, parameters, n_layers, dz, n_days, dt, closed)


def scenario_forcing(table: pd.DataFrame, n_days: int, phys: Any = None) -> dict[str, np.ndarray]:
    """Daily forcing series implied by each scenario, before weather noise and user overrides.

    Parameters
    ----------
    table
        Validated scenarios, one row each (see :func:`sample_scenarios`).
    n_days
        Number of simulated days.
    phys
        Physics parameters (default: ``DEFAULT_PARAMETERS.physics``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``temperature`` (°C), ``warming_now`` (°C), ``seasonal_anomaly`` (°C), ``shortwave``
        (W m-2), ``wind`` (m s-1) and ``co2`` (ppm), each ``(scenarios, days)`` float64.
    """
    phys = DEFAULT_PARAMETERS.physics if phys is None else phys
    day = np.arange(n_days, dtype=float) + 0.5
    doy = day % DAYS_PER_YEAR
    frac = day / n_days  # fraction of the horizon elapsed
    col = {c: table[c].to_numpy(dtype=float)[:, None] for c in table.columns}
    warming_now = col["warming"] * frac[None, :]
    seasonal = (
        col["seasonal_amplitude"] * np.cos(2 * np.pi * (doy - 227.0) / DAYS_PER_YEAR)[None, :]
    )
    sw_clim = phys.sw_mean + phys.sw_amplitude * np.cos(2 * np.pi * (doy - 172.0) / DAYS_PER_YEAR)
    wind_clim = 1.0 + phys.wind_amplitude * np.cos(2 * np.pi * (doy - 15.0) / DAYS_PER_YEAR)
    return {
        "temperature": phys.t_mean + seasonal + warming_now,
        "warming_now": warming_now,
        "seasonal_anomaly": seasonal,
        "shortwave": col["light"] * sw_clim[None, :],
        "wind": col["wind"] * wind_clim[None, :],
        "co2": col["co2_start"] + col["co2_trend"] * (day / DAYS_PER_YEAR)[None, :],
    }


def _build_forcing(
    table: pd.DataFrame,
    n_days: int,
    phys: Any,
    forcing: Mapping[str, Any] | None,
    seed: int,
    weather_noise: float,
    dev: Any,
) -> dict[str, Tensor]:
    """Daily forcing tensors ``(B, days)`` built from the scenarios, then user overrides."""
    import torch

    n = len(table)
    base = scenario_forcing(table, n_days, phys)
    warming_now, temp, co2 = base["warming_now"], base["temperature"], base["co2"]
    shortwave, wind = base["shortwave"], base["wind"]
    if weather_noise < 0 or not math.isfinite(weather_noise):
        raise InvalidInputError(f"weather_noise={weather_noise!r} must be a finite value >= 0")
    if weather_noise > 0:
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((2, n, n_days))
        ar = np.empty_like(eps)
        ar[..., 0] = eps[..., 0]
        for t in range(1, n_days):  # AR(1) with a 5-day memory
            ar[..., t] = 0.8 * ar[..., t - 1] + 0.6 * eps[..., t]
        wind = wind * np.clip(1.0 + weather_noise * ar[0], 0.1, None)
        shortwave = shortwave * np.clip(1.0 + weather_noise * ar[1], 0.0, None)
    out = {"temperature": temp, "wind": wind, "shortwave": shortwave, "co2": co2}
    for name, values in (forcing or {}).items():
        if name not in FORCING_NAMES:
            raise InvalidInputError(
                f"forcing has unknown series {name!r}; valid names: {sorted(FORCING_NAMES)}"
            )
        out[name] = _forcing_array(name, values, n, n_days)
    result = {k: torch.tensor(np.array(v), dtype=torch.float64, device=dev) for k, v in out.items()}
    result["warming_now"] = torch.as_tensor(warming_now, dtype=torch.float64, device=dev)
    return result


def _forcing_array(name: str, values: Any, n: int, n_days: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1 and arr.shape[0] == DAYS_PER_YEAR and n_days % DAYS_PER_YEAR == 0:
        arr = np.tile(arr, n_days // DAYS_PER_YEAR)
    if arr.ndim == 1 and arr.shape[0] == n_days:
        arr = np.broadcast_to(arr, (n, n_days))
    if arr.shape != (n, n_days):
        raise InvalidInputError(
            f"forcing[{name!r}] has shape {np.shape(values)}; expected ({n_days},), (365,) or "
            f"({n}, {n_days}) daily values ({FORCING_NAMES[name]})"
        )
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidInputError(
            f"forcing[{name!r}] has NaN/inf (first at scenario {bad[0]}, day {bad[1]}); "
            "fill the gaps before simulating"
        )
    if name != "temperature" and (arr < 0).any():
        raise InvalidInputError(
            f"forcing[{name!r}] has negative values (min {arr.min():g}); {FORCING_NAMES[name]} "
            "must be >= 0"
        )
    if name == "temperature":
        _check_temperature(arr, "forcing['temperature']")
    return arr


def _check_temperature(arr: np.ndarray, label: str) -> None:
    """Raise unless every value of ``arr`` is a plausible sea water temperature in degC."""
    low, high = TEMPERATURE_RANGE
    if ((arr < low) | (arr > high)).any():
        raise InvalidInputError(
            f"{label} has values in [{arr.min():g}, {arr.max():g}] outside "
            f"[{low:g}, {high:g}] degC; is it in Kelvin? Convert to degC"
        )


def _check_initial_range(arr: np.ndarray, name: str) -> None:
    """Raise unless the initial values ``arr`` of ``name`` are plausible in the model's units.

    Temperatures use the forcing check (:func:`_check_temperature`); concentrations the upper
    bound of the plausible range that ingest uses (:data:`ecocube.ocean.variables.VARIABLES`).
    """
    if name == "temperature":
        _check_temperature(arr, f"initial[{name!r}]")
        return
    from ecocube.ocean.variables import VARIABLES

    var = VARIABLES[_INITIAL_VARIABLES[name]]
    high = None if var.valid_range is None else var.valid_range[1]
    if high is not None and (arr > high).any():
        raise InvalidInputError(
            f"initial[{name!r}] has values up to {arr.max():g}, above the plausible {high:g} "
            f"{var.units}; give it in {var.units}"
        )


#: Registry name (:data:`ecocube.ocean.variables.VARIABLES`) of each concentration in ``initial``.
_INITIAL_VARIABLES = {"no3": "no3", "dic": "dissic", "talk": "talk", "phyc": "phyc"}


def _deep_temperature(table: pd.DataFrame, phys: Any) -> np.ndarray:
    """Temperature of the deep water (degC), ``(B, 1)``: formed by the winter convection."""
    return phys.t_mean - table["seasonal_amplitude"].to_numpy()[:, None] - phys.deep_offset


def _initial_state(
    table: pd.DataFrame,
    n_layers: int,
    dz: float,
    params: ModelParameters,
    initial: Mapping[str, Any] | None,
    drivers: dict[str, Tensor],
    dev: Any,
) -> dict[str, Tensor]:
    import torch

    phys = params.physics
    n, n_types = len(table), len(params.phyto)
    z = (np.arange(n_layers) + 0.5) * dz
    shape = np.exp(-z / 50.0)
    t_surf = drivers["temperature"][:, 0].cpu().numpy()[:, None]
    t_deep = _deep_temperature(table, phys)
    temp = t_deep + (np.maximum(t_surf, t_deep) - t_deep) * shape[None, :]
    n_deep = table["nutrient_supply"].to_numpy()[:, None]
    no3 = n_deep * (1.0 - 0.5 * shape[None, :])
    dic = phys.dic_deep + (phys.dic_surface - phys.dic_deep) * shape[None, :]
    dic = np.broadcast_to(dic, (n, n_layers))
    talk = np.full((n, n_layers), phys.talk)
    phyc = np.broadcast_to(0.2 * np.exp(-z / 30.0), (n, n_types, n_layers))
    values = {"temperature": temp, "no3": no3, "dic": dic, "talk": talk, "phyc": phyc}
    allowed = sorted(values)
    for name, given in (initial or {}).items():
        if name not in values:
            raise InvalidInputError(f"initial has unknown field {name!r}; valid: {allowed}")
        arr = np.asarray(given, dtype=float)
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"initial[{name!r}] has NaN/inf values")
        if name != "temperature" and (arr < 0).any():
            raise InvalidInputError(
                f"initial[{name!r}] has negative concentrations (min {arr.min():g}); "
                "concentrations must be >= 0"
            )
        _check_initial_range(arr, name)
        try:
            values[name] = np.broadcast_to(arr, values[name].shape)
        except ValueError as err:
            raise InvalidInputError(
                f"initial[{name!r}] has shape {arr.shape}; give a scalar or {n_layers} values "
                "(one per layer, surface first)"
            ) from err
    q0 = np.array([(p.q_min + p.q_max) / 2 for p in params.phyto])[None, :, None]
    phyc = np.maximum(values["phyc"], 1e-6)  # seed population: a type never goes extinct
    t = lambda a: torch.tensor(np.array(a), dtype=torch.float64, device=dev)  # noqa: E731
    return {
        "temperature": t(values["temperature"]),
        "no3": t(values["no3"]),
        "dic": t(values["dic"]),
        "talk": t(values["talk"]),
        "detn": t(np.zeros((n, n_layers))),
        "detc": t(np.zeros((n, n_layers))),
        "phyc": t(phyc),
        "phyn": t(phyc * q0),
    }


def _integrate(
    state: dict[str, Tensor],
    drivers: dict[str, Tensor],
    table: pd.DataFrame,
    params: ModelParameters,
    dz: float,
    dt: float,
    steps_per_day: int,
    n_days: int,
    *,
    closed: bool,
    progress: bool,
) -> dict[str, Tensor]:
    import torch

    from ecocube.ocean import biology, carbonate, physics

    phys = params.physics
    dev = state["no3"].device
    f64 = torch.float64
    n, n_types, n_layers = state["phyc"].shape

    def trait(name: str) -> Tensor:
        return torch.tensor([getattr(p, name) for p in params.phyto], dtype=f64, device=dev)[
            None, :, None
        ]

    mu_max = trait("mu_max") / SECONDS_PER_DAY
    alpha = trait("alpha") / SECONDS_PER_DAY
    i_opt, q_min, q_max, k_n = trait("i_opt"), trait("q_min"), trait("q_max"), trait("k_n")
    rho_max = trait("rho_max") / SECONDS_PER_DAY
    chl_n, mort = trait("chl_n"), trait("mortality") / SECONDS_PER_DAY
    graz = trait("grazing") / SECONDS_PER_DAY
    t_min0, t_opt0, t_max0 = trait("t_min"), trait("t_opt"), trait("t_max")
    adaptation = torch.as_tensor(table["adaptation"].to_numpy(), dtype=f64, device=dev)
    n_deep = torch.as_tensor(table["nutrient_supply"].to_numpy(), dtype=f64, device=dev)
    t_deep = torch.as_tensor(_deep_temperature(table, phys)[:, 0], dtype=f64, device=dev)
    relax = -math.expm1(-dt / (phys.relax_deep_days * SECONDS_PER_DAY))
    # layers below the seasonal thermocline restored to the deep water (at least the bottom one)
    centres = (np.arange(n_layers) + 0.5) * dz
    first_deep = min(int(np.searchsorted(centres, phys.deep_restore_depth)), n_layers - 1)
    deep = slice(first_deep, n_layers)
    remin = -math.expm1(-phys.remineralisation / SECONDS_PER_DAY * dt)
    w_sink = phys.sinking / SECONDS_PER_DAY
    heat_rate = phys.heat_exchange * dt / (phys.rho_water * phys.cp_water * dz)
    sal = phys.salinity
    rho_kg = carbonate.RHO_SW / 1000.0  # mmol m-3 -> umol kg-1

    # tracer stack order for the implicit mixing solve
    n_fixed = 6  # temperature, no3, dic, talk, detn, detc
    sinking = torch.zeros(n_fixed + 2 * n_types, dtype=f64, device=dev)
    sinking[4:6] = w_sink
    groups = physics.sinking_groups(sinking.tolist(), len(sinking), dev)
    y = torch.cat(
        [
            torch.stack(
                [state[k] for k in ("temperature", "no3", "dic", "talk", "detn", "detc")], 1
            ),
            state["phyc"],
            state["phyn"],
        ],
        dim=1,
    )

    out: dict[str, Tensor] = {}

    def alloc(name: str, *extra: int) -> Tensor:
        out[name] = torch.empty(n, n_days, *extra, dtype=f64, device=dev)
        return out[name]

    for name, (dims, _) in OUTPUT_VARIABLES.items():
        extra = {"phyto_type": n_types, "depth": n_layers}
        alloc(name, *[extra[d] for d in dims])
    h_ion = torch.full((n,), 1e-8, dtype=f64, device=dev)
    for day in track(range(n_days), "simulate", unit="days", enabled=progress):
        t_air = drivers["temperature"][:, day]
        wind = drivers["wind"][:, day]
        par0 = drivers["shortwave"][:, day] * phys.par_fraction
        co2_air = drivers["co2"][:, day]
        shift = (adaptation * drivers["warming_now"][:, day])[:, None, None]
        t_min, t_opt, t_max = t_min0 + shift, t_opt0 + shift, t_max0 + shift
        ustar = physics.friction_velocity(wind, phys)
        acc: dict[str, Tensor] = {}
        consts = None

        def add(name: str, value: Tensor, acc: dict[str, Tensor] = acc) -> None:
            # The one deliberate edit of this frozen reference (the averaging fix of issue 16):
            # the day's first sample is copied, as a view of the state would see the next
            # step's in-place updates; the regression keeps pinning the refactor.
            acc[name] = acc[name] + value if name in acc else value.clone()

        for _ in range(steps_per_day):
            temp = y[:, 0]
            # surface heat restoring (explicit, checked by check_stability)
            y[:, 0, 0] += heat_rate * (t_air - temp[:, 0])
            # biology (explicit exchanges between pools)
            no3, dic, talk, detn, detc = (y[:, i] for i in range(1, 6))
            x = y[:, n_fixed : n_fixed + n_types]
            pn = y[:, n_fixed + n_types :]
            chl = (chl_n * pn).sum(1)
            light = biology.layer_mean_light(par0, chl, dz, phys.k_water, phys.k_chl)
            phi = biology.ctmi(temp[:, None, :], t_min, t_opt, t_max)
            mu_bar = biology.light_response(light[:, None, :], mu_max * phi, alpha, i_opt)
            quota = pn / x
            growth = mu_bar * (1.0 - q_min / quota).clamp_min(0.0) * x * dt
            fill = ((q_max - quota) / (q_max - q_min)).clamp(0.0, 1.0)
            uptake = rho_max * no3[:, None] / (no3[:, None] + k_n) * fill * x * dt
            total_up = uptake.sum(1)
            uptake = uptake * (0.9 * no3 / total_up.clamp_min(1e-300)).clamp(max=1.0)[:, None]
            total_up = uptake.sum(1)
            x_new = x + growth
            pn_new = pn + uptake
            loss = -torch.expm1(-(mort + graz * x_new) * dt)
            loss_c, loss_n = loss * x_new, loss * pn_new
            rem_n, rem_c = remin * detn, remin * detc
            pp = growth.sum(1)
            y[:, n_fixed : n_fixed + n_types] = x_new - loss_c
            y[:, n_fixed + n_types :] = pn_new - loss_n
            y[:, 1] = no3 - total_up + rem_n
            y[:, 2] = dic - pp + rem_c
            y[:, 3] = talk + total_up - rem_n
            y[:, 4] = detn + loss_n.sum(1) - rem_n
            y[:, 5] = detc + loss_c.sum(1) - rem_c
            # air-sea CO2 at the surface
            t_s = y[:, 0, 0]
            if consts is None:  # constants follow the SST once per day (|dT| < 0.3 K a day)
                consts = carbonate.equilibrium_constants(t_s, sal)
                # m s-1 * mol kg-1 atm-1 * kg m-3 * 1e3 mmol/mol: mmol m-2 s-1 atm-1
                k_gas = (
                    carbonate.transfer_velocity(wind, t_s) * consts["k0"] * carbonate.RHO_SW * 1e3
                )
            h_ion = carbonate.ph_total(
                y[:, 2, 0] / rho_kg,
                y[:, 3, 0] / rho_kg,
                t_s,
                sal,
                h_guess=h_ion,
                iterations=3,
                constants=consts,
            )
            k1, k2 = consts["k1"], consts["k2"]
            co2_star = (y[:, 2, 0] / rho_kg) * h_ion**2 / (h_ion**2 + k1 * h_ion + k1 * k2)
            pco2_sea = co2_star / consts["k0"]
            if closed:
                flux = torch.zeros_like(pco2_sea)
            else:
                flux = k_gas * (co2_air - pco2_sea) * 1e-6  # uatm -> atm; mmol m-2 s-1
                y[:, 2, 0] += flux * dt / dz
                # lateral/upwelling supply: restore the bottom layer to deep values
                y[:, 0, deep] += relax * (t_deep[:, None] - y[:, 0, deep])
                y[:, 1, deep] += relax * (n_deep[:, None] - y[:, 1, deep])
                y[:, 2, deep] += relax * (phys.dic_deep - y[:, 2, deep])
            # mixing (implicit)
            h_bl = physics.boundary_layer_depth(y[:, 0], ustar, dz, phys)
            k_if = physics.diffusivity(y[:, 0], ustar, h_bl, dz, phys)
            y = physics.implicit_column_step(y, k_if, dt, dz, groups)
            add("fgco2", flux)
            add("spco2", pco2_sea)
            add("ph", -torch.log10(h_ion))
            add("intpp", pp.sum(-1))
            add("mlotst", h_bl)
            add("thetao", y[:, 0])
            add("phyc", y[:, n_fixed : n_fixed + n_types, 0])
            add("intphyc", y[:, n_fixed : n_fixed + n_types].sum(-1))
            add("chl_profile", (chl_n * y[:, n_fixed + n_types :]).sum(1))
            add("dic_profile", y[:, 2])
            add("talk0", y[:, 3, 0])
            add("no30", y[:, 1, 0])
        s = float(steps_per_day)
        out["fgco2"][:, day] = acc["fgco2"] / s * SECONDS_PER_DAY
        out["spco2"][:, day] = acc["spco2"] / s
        out["ph"][:, day] = acc["ph"] / s
        out["intpp"][:, day] = acc["intpp"] * dz / dt * SECONDS_PER_DAY / s
        out["mlotst"][:, day] = acc["mlotst"] / s
        out["thetao"][:, day] = acc["thetao"] / s
        out["tos"][:, day] = acc["thetao"][:, 0] / s
        out["phyc"][:, day] = acc["phyc"] / s
        out["intphyc"][:, day] = acc["intphyc"] * dz / s
        out["chl"][:, day] = acc["chl_profile"][:, 0] / s
        out["intchl"][:, day] = acc["chl_profile"].sum(-1) * dz / s
        out["dissic"][:, day] = acc["dic_profile"][:, 0] / s
        out["intdic"][:, day] = acc["dic_profile"].sum(-1) * dz / s
        out["talk"][:, day] = acc["talk0"] / s
        out["no3"][:, day] = acc["no30"] / s
        out["pco2atm"][:, day] = co2_air
        out["total_nitrogen"][:, day] = (y[:, 1] + y[:, 4] + y[:, n_fixed + n_types :].sum(1)).sum(
            -1
        ) * dz
        out["total_carbon"][:, day] = (
            y[:, 2] + y[:, 5] + y[:, n_fixed : n_fixed + n_types].sum(1)
        ).sum(-1) * dz
    out["_final"] = y
    return out


def _to_dataset(
    series: dict[str, Tensor],
    table: pd.DataFrame,
    params: ModelParameters,
    n_layers: int,
    dz: float,
    n_days: int,
    dt: float,
    closed: bool,
) -> xr.Dataset:
    import xarray as xr

    time = xr.date_range("2000-01-01", periods=n_days, freq="D", calendar="noleap", use_cftime=True)
    data_vars = {}
    for name, (dims, attrs) in OUTPUT_VARIABLES.items():
        data_vars[name] = (("scenario", "time", *dims), series[name].cpu().numpy(), dict(attrs))
    coords: dict[str, Any] = {
        "scenario": ("scenario", table.index.to_numpy()),
        "time": ("time", time, {"standard_name": "time", "long_name": "day (daily mean)"}),
        "phyto_type": ("phyto_type", np.array(params.type_names)),
        "depth": (
            "depth",
            (np.arange(n_layers) + 0.5) * dz,
            {
                "standard_name": "depth",
                "units": "m",
                "positive": "down",
                "long_name": "depth of layer centre",
            },
        ),
    }
    for trait in ("t_min", "t_opt", "t_max", "mu_max"):
        units = "d-1" if trait == "mu_max" else "degC"
        coords[trait] = (
            "phyto_type",
            np.array([getattr(p, trait) for p in params.phyto]),
            {"long_name": f"{trait} of each phytoplankton type", "units": units},
        )
    for p in SCENARIO_PARAMETERS:
        coords[p.name] = (
            "scenario",
            table[p.name].to_numpy(),
            {"long_name": p.description, "units": p.units},
        )
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = {
        "Conventions": "CF-1.10",
        "title": "ecocube full ocean model: 1-D water column with phytoplankton and carbonate",
        "source": "ecocube.ocean.simulate",
        "time_step_s": float(dt),
        "n_layers": int(n_layers),
        "layer_thickness_m": float(dz),
        "closed": int(closed),
        "references": "see ecocube ocean/README.md",
    }
    return ds
