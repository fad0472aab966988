"""The full ocean model: a batch of scenarios run through a physical scheme and a biogeochemistry.

:func:`simulate` integrates, for every scenario of a table at once (batched PyTorch, float64,
any device), a physical scheme (:mod:`ecocube.ocean.schemes`; by default the KPP-lite water
column of :mod:`ecocube.ocean.physics`) that moves the tracers of a biogeochemistry
(:mod:`ecocube.ocean.biogeochemistry`; by default :class:`~ecocube.ocean.phyto_carbonate.
PhytoCarbonate`, the phytoplankton and detritus of :mod:`ecocube.ocean.biology` with the
carbonate chemistry and air-sea CO2 flux of :mod:`ecocube.ocean.carbonate`), and returns the
daily outputs of :data:`OUTPUT_VARIABLES` (:mod:`ecocube.ocean.diagnostics`) as a CF-annotated
:class:`xarray.Dataset`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube._progress import track
from ecocube.errors import EcocubeWarning, InvalidInputError
from ecocube.ocean._errors import StabilityError
from ecocube.ocean.biogeochemistry import Biogeochemistry, RunSetup, TracerLayout
from ecocube.ocean.diagnostics import (
    FGCO2_STANDARD_NAME,
    OUTPUT_VARIABLES,
    DailyAccumulator,
    OutputVariable,
    output_dims,
    run_outputs,
)
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters
from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, validate_scenarios
from ecocube.ocean.schemes import PhysicalScheme, physical_scheme

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
    from torch import Tensor

__all__ = [
    "FGCO2_STANDARD_NAME",
    "FORCING_NAMES",
    "OUTPUT_VARIABLES",
    "check_stability",
    "simulate",
]

SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365

#: Default time step of :func:`simulate` (s).
DEFAULT_DT = 10800.0

#: Most time steps per simulated day a run accepts (a step of at least 1 s).
MAX_STEPS_PER_DAY = 86_400

#: Steps per day (a step under 60 s) above which a run warns if a ten times longer step is stable.
WARN_STEPS_PER_DAY = 1_440

#: Plausible range of sea water temperatures (degC) for forcing and initial values.
TEMPERATURE_RANGE: tuple[float, float] = (-2.5, 40.0)

#: Forcing series that ``simulate(forcing=...)`` may override (daily values).
FORCING_NAMES: dict[str, str] = {
    "temperature": "surface restoring temperature, degC",
    "wind": "10-m wind speed, m s-1",
    "shortwave": "surface downwelling shortwave, W m-2",
    "co2": "atmospheric CO2 mole fraction, ppm",
}


def _stability_limits(
    dz: float, params: ModelParameters, max_wind: float
) -> list[tuple[str, float, bool]]:
    """The largest stable ``dt`` (s) of each explicit model part (see :func:`check_stability`).

    Returns ``(part, limit in s, whether the limit grows with the layer thickness dz)`` tuples.
    """
    import torch

    from ecocube.ocean.carbonate import transfer_velocity

    phys = params.physics
    limits: list[tuple[str, float, bool]] = []
    for p in params.phyto:
        growth = SECONDS_PER_DAY / p.mu_max
        uptake = SECONDS_PER_DAY * (p.q_max - p.q_min) / p.rho_max
        limits.append((f"growth of {p.name!r} (mu_max dt <= 1)", growth, False))
        limits.append(
            (f"nitrate uptake of {p.name!r} (rho_max dt <= Q_max - Q_min)", uptake, False)
        )
    heat = phys.rho_water * phys.cp_water * dz / phys.heat_exchange
    limits.append(("surface heat restoring (gamma dt / (rho c_p dz) <= 1)", heat, True))
    k = float(transfer_velocity(torch.tensor(float(max_wind)), torch.tensor(30.0)))
    limits.append((f"air-sea gas transfer at {max_wind:g} m s-1 (k dt / dz <= 1)", dz / k, True))
    return limits


def check_stability(
    dt: float, dz: float, params: ModelParameters = DEFAULT_PARAMETERS, max_wind: float = 25.0
) -> None:
    """Raise :class:`StabilityError` if ``dt`` (s) violates a limit of an explicit model part.

    Diffusion and sinking are implicit (unconditionally stable). The explicit parts are the
    phytoplankton growth (``mu_max dt <= 1`` keeps the quota above ``Q_min``), nitrate uptake
    (``rho_max dt <= Q_max - Q_min``), the surface heat restoring
    (``gamma dt / (rho c_p dz) <= 1``) and the air-sea gas transfer (``k dt / dz <= 1``, the
    CFL-like number of the surface exchange, at ``max_wind`` and 30 degC).
    """
    if not (math.isfinite(dt) and dt > 0):
        raise StabilityError(f"dt={dt!r} s must be a positive finite number of seconds")
    limits = _stability_limits(dz, params, max_wind)
    part, limit, _ = min(limits, key=lambda item: item[1])
    if dt > limit:
        fix = _stability_fix(dt, dz, limit, limits, params.physics)
        raise StabilityError(
            f"dt={dt:g} s violates the stability limit of the explicit {part}: dt must be "
            f"<= {limit:.0f} s with dz={dz:g} m; {fix}"
        )


def _check_step_count(
    dt: float, years: int, dz: float, params: ModelParameters, max_wind: float
) -> None:
    """Refuse steps shorter than 1 s and warn about needlessly short ones, naming a ``dt``.

    A step is needlessly short when a run takes more than :data:`WARN_STEPS_PER_DAY` steps a
    day although a step ten times longer is stable (:func:`check_stability`).
    """
    steps = round(SECONDS_PER_DAY / dt)
    if steps <= WARN_STEPS_PER_DAY:
        return
    limit = min(lim for _, lim, _ in _stability_limits(dz, params, max_wind))
    good = _largest_day_divisor(min(limit, DEFAULT_DT))
    total = steps * DAYS_PER_YEAR * int(years)
    what = (
        f"dt={dt:g} s means {steps:,} steps per simulated day ({total:,} for {int(years)} "
        "year(s) of every scenario)"
    )
    if good is None:
        fix = "use fewer layers (n_layers, --layers) for a stable step of at least 1 s"
    else:
        fix = f"use dt={good} s, which is stable with these settings and divides a day"
    if steps > MAX_STEPS_PER_DAY:
        raise InvalidInputError(f"{what}; steps shorter than 1 s are refused: {fix}")
    if good is not None and good >= 10 * dt:
        warnings.warn(
            f"{what}, {good / dt:,.0f} times as many as a stable step needs: {fix}",
            EcocubeWarning,
            stacklevel=4,
        )


def _largest_day_divisor(limit: float) -> int | None:
    """The largest whole number of seconds ``<= limit`` that divides one day (86400 s) evenly.

    ``None`` when ``limit`` is below one second.
    """
    day = int(SECONDS_PER_DAY)
    if not limit >= 1.0:
        return None
    for steps in range(max(1, math.floor(SECONDS_PER_DAY / limit)), day + 1):
        if day % steps == 0 and day // steps <= limit:
            return day // steps
    return None  # pragma: no cover - steps == day gives 1 s <= limit


def _stability_fix(
    dt: float, dz: float, limit: float, limits: list[tuple[str, float, bool]], phys: Any
) -> str:
    """The remedy named by the stability error: a valid ``dt``, or fewer (thicker) layers."""
    good_dt = _largest_day_divisor(limit)
    fixes = []
    if good_dt is not None:
        fixes.append(f"use dt={good_dt} s (the largest step within the limit that divides a day)")
    # the heat-restoring and gas-transfer limits grow with dz: fewer layers may keep this dt
    if all(lim >= dt for _, lim, per_dz in limits if not per_dz):
        per_metre = min(lim / dz for _, lim, per_dz in limits if per_dz)
        max_layers = math.floor(phys.depth * per_metre / dt)
        if max_layers >= 3:
            fixes.append(f"keep dt={dt:g} s with at most {max_layers} layers (n_layers, --layers)")
    if not fixes:
        return "no whole-second step is that short: lower the wind or use fewer layers (--layers)"
    return " or ".join(fixes)


def simulate(
    scenarios: pd.DataFrame | Mapping[str, Any],
    *,
    years: int = 1,
    dt: float = DEFAULT_DT,
    n_layers: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
    biogeochemistry: Biogeochemistry | None = None,
    physics: str | PhysicalScheme = "column",
    basin: Any = None,
    substeps: int | None = None,
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
        Number of equal layers over ``parameters.physics.depth`` (>= 3; default 20) for the
        column; for the multilayer basin the layers of the default basin (default 3), or
        ``None`` to take those of ``basin``.
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``...), checked by
        :func:`ecocube.training.resolve_device` as for surrogate training. The model runs in
        float64 so that mass is conserved to round-off (``"auto"`` therefore never picks
        Apple's ``mps``, which lacks float64, and ``"mps"`` is refused).
    seed
        Seed of the daily weather noise (only used when ``weather_noise > 0``).
    parameters
        Model parameters (:data:`~ecocube.ocean.parameters.DEFAULT_PARAMETERS`).
    biogeochemistry
        The biogeochemistry whose tracers the physics moves (a
        :class:`~ecocube.ocean.biogeochemistry.Biogeochemistry`); ``None`` is
        :class:`~ecocube.ocean.phyto_carbonate.PhytoCarbonate` built from ``parameters``. Its
        hooks run on a shallow copy, so the object passed is never changed by a run.
    physics
        Physical scheme, a name of :data:`~ecocube.ocean.schemes.PHYSICAL_SCHEMES`:
        ``"column"`` (the 1-D KPP-lite water column of ``n_layers`` layers) or
        ``"multilayer"`` (the multilayer Saint-Venant basin of
        :class:`~ecocube.ocean.multilayer.scheme.MultilayerScheme`: an x-z slice with wind,
        tide, river and open-boundary supply; outputs gain an ``x`` dimension), or a
        :class:`~ecocube.ocean.schemes.PhysicalScheme` instance (e.g. a ``MultilayerScheme``
        with its own tide, wind direction and river; the run uses a shallow copy).
    basin
        ``physics="multilayer"`` only: the basin's
        :class:`~ecocube.ocean.multilayer.BasinConfig` (``None``: the default basin of
        :func:`~ecocube.ocean.multilayer.scheme.default_basin`, 10 cells of 10 km).
    substeps
        ``physics="multilayer"`` only: hydrodynamic steps per biogeochemistry step ``dt``
        (``None``: the fewest the CFL condition allows); too few raise
        :class:`~ecocube.ocean._errors.StabilityError` naming enough.
    forcing
        Optional daily series overriding the scenario-built forcing, keys in
        :data:`FORCING_NAMES`; each of shape ``(days,)``, ``(365,)`` (a climatology repeated every
        year) or ``(n_scenarios, days)``.
    initial
        Optional initial values (scalar or one value per layer) of the fields the scheme and
        the biogeochemistry declare (``initial_fields``); by default ``"no3"``, ``"dic"``,
        ``"talk"`` (mmol m-3), ``"phyc"`` (mmol C m-3 per type), ``"temperature"`` (degC,
        within [-2.5, 40] like ``forcing["temperature"]``).
    closed
        Switch off the air-sea fluxes and the deep restoring (temperature, nutrients, DIC), so
        that total nitrogen and total carbon of the column are conserved (used to test
        conservation).
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
        The outputs of the scheme and the biogeochemistry (by default those of
        :data:`OUTPUT_VARIABLES`), dims ``(scenario, time)`` plus ``phyto_type`` or ``depth``;
        the scenario parameters are coordinates along ``scenario`` and the thermal traits
        ``t_opt``, ``t_min``, ``t_max``, ``mu_max`` along ``phyto_type``.

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
        e.g. in Kelvin); an unknown ``physics``; a ``biogeochemistry`` that is not one, or
        declares a bad tracer set (see :class:`~ecocube.ocean.biogeochemistry.TracerLayout`)
        or outputs that read nothing of the run.
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
    options: dict[str, Any] = {}
    if substeps is not None:
        options["substeps"] = substeps
    if basin is not None:
        options["basin"] = basin
    scheme = physical_scheme(physics, parameters, n_layers, **options)
    _validate_options(
        {
            "years": years,
            "dt": dt,
            "n_layers": n_layers or 20 if physics == "column" else max(scheme.space[-1], 3),
            "dz": scheme.stability_thickness,
        },
        parameters,
        _max_wind(table, forcing),
    )
    dev = resolve_device(device)
    if dev.type == "mps":  # Apple's backend has no float64, which mass conservation needs
        if device != "auto":
            raise InvalidInputError(
                "device='mps' cannot run the full model: it needs float64, which the MPS "
                "backend lacks; use device='cpu'"
            )
        dev = torch.device("cpu")
    bgc = _biogeochemistry(biogeochemistry, parameters)
    layout = TracerLayout(
        [(type(scheme).__name__, scheme.tracers), (type(bgc).__name__, bgc.tracers)]
    )
    n_days = DAYS_PER_YEAR * int(years)
    drivers = _build_forcing(table, n_days, parameters.physics, forcing, seed, weather_noise, dev)
    scheme.bind(len(table), dev)
    run = RunSetup(
        table=table,
        parameters=parameters,
        layout=layout,
        depth=scheme.depth,
        thickness=scheme.thickness,
        space=scheme.space,
        dt=float(dt),
        steps_per_day=round(SECONDS_PER_DAY / dt),
        n_days=n_days,
        closed=closed,
        device=dev,
    )
    outputs = run_outputs(scheme, bgc)
    state = _initial_state(run, scheme, bgc, initial, drivers)
    with torch.inference_mode():
        scheme.setup(run)
        bgc.setup(run)
        diagnostics = DailyAccumulator(
            outputs,
            run=run,
            scheme=scheme,
            bgc=bgc,
            sizes={**bgc.dims, **scheme.dims},
            diagnostics=(*bgc.diagnostic_names, *scheme.diagnostic_names),
        )
        _integrate(state, run, scheme, bgc, diagnostics, drivers, progress=progress)
    return _to_dataset(diagnostics.values, outputs, run, scheme, bgc)


def _biogeochemistry(
    biogeochemistry: Biogeochemistry | None, parameters: ModelParameters
) -> Biogeochemistry:
    """The run's own copy of ``biogeochemistry`` (default: PhytoCarbonate of ``parameters``)."""
    from ecocube.ocean.phyto_carbonate import PhytoCarbonate

    if biogeochemistry is None:
        return PhytoCarbonate(parameters)
    if not isinstance(biogeochemistry, Biogeochemistry):
        raise InvalidInputError(
            f"biogeochemistry={biogeochemistry!r} is not a Biogeochemistry; pass an instance of "
            "a subclass of ecocube.ocean.biogeochemistry.Biogeochemistry, or None for the "
            "default PhytoCarbonate"
        )
    return copy.copy(biogeochemistry)


def _validate_options(
    options: Mapping[str, Any],
    parameters: ModelParameters = DEFAULT_PARAMETERS,
    max_wind: float = 25.0,
) -> None:
    """Check ``years``, ``n_layers``, ``dt`` and ``device`` of a run.

    ``dt`` must be stable (:func:`check_stability`), divide a day and give a sensible number of
    steps (:func:`_check_step_count`).

    ``device`` (optional key) is checked by :func:`ecocube.training.resolve_device`, as
    ``ecocube ocean train`` does, so a bad name fails before any work.
    """
    years, n_layers, dt = options["years"], options["n_layers"], options["dt"]
    if "device" in options:
        from ecocube.training import resolve_device

        resolve_device(options["device"])
    if int(years) != years or years < 1:
        raise InvalidInputError(f"years={years!r} must be a positive integer")
    if int(n_layers) != n_layers or n_layers < 3:
        raise InvalidInputError(f"n_layers={n_layers!r} must be an integer >= 3")
    dz = options.get("dz", parameters.physics.depth / n_layers)
    check_stability(dt, dz, parameters, max_wind=max_wind)
    steps_per_day = SECONDS_PER_DAY / dt
    if abs(steps_per_day - round(steps_per_day)) > 1e-9 and steps_per_day <= MAX_STEPS_PER_DAY:
        raise InvalidInputError(
            f"dt={dt:g} s must divide one day (86400 s) exactly, e.g. 900, 1800, 3600, 10800"
        )
    _check_step_count(dt, years, dz, parameters, max_wind)


def _max_wind(table: pd.DataFrame, forcing: Mapping[str, Any] | None) -> float:
    wind = float(table["wind"].max()) * (1.0 + DEFAULT_PARAMETERS.physics.wind_amplitude)
    if forcing is not None and "wind" in forcing:
        values = np.asarray(forcing["wind"], dtype=float)
        if values.size and np.isfinite(values).all():
            wind = max(wind, float(values.max()))
    return wind


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


def _check_initial_range(arr: np.ndarray, name: str, variable: str | None) -> None:
    """Raise unless the initial values ``arr`` of ``name`` are plausible in the model's units.

    Temperatures use the forcing check (:func:`_check_temperature`); concentrations the upper
    bound of the plausible range that ingest uses for ``variable``
    (:data:`ecocube.ocean.variables.VARIABLES`; ``None`` skips the check).
    """
    if name == "temperature":
        _check_temperature(arr, f"initial[{name!r}]")
        return
    if variable is None:
        return
    from ecocube.ocean.variables import VARIABLES

    var = VARIABLES[variable]
    high = None if var.valid_range is None else var.valid_range[1]
    if high is not None and (arr > high).any():
        raise InvalidInputError(
            f"initial[{name!r}] has values up to {arr.max():g}, above the plausible {high:g} "
            f"{var.units}; give it in {var.units}"
        )


def _initial_state(
    run: RunSetup,
    scheme: PhysicalScheme,
    bgc: Biogeochemistry,
    initial: Mapping[str, Any] | None,
    drivers: Mapping[str, Tensor],
) -> Tensor:
    """The state ``(B, V, *space)`` at the start: the components' initial fields, overridden by
    the user's ``initial`` (checked like the tracer of the same name), turned into tracers."""
    import torch

    lay, n, space = run.layout, run.n_scenarios, run.space
    owners = [
        (scheme, scheme.initial_fields(run, drivers)),
        (bgc, bgc.initial_fields(run, drivers)),
    ]
    values: dict[str, np.ndarray] = {}
    for owner, fields in owners:
        for name, field in fields.items():
            values[name] = _full_shape(owner, name, field, _tracer_shape(lay, name, n, space))
    allowed = sorted(values)
    for name, given in (initial or {}).items():
        if name not in values:
            raise InvalidInputError(f"initial has unknown field {name!r}; valid: {allowed}")
        tracer = lay.tracer(name) if name in lay.names else None
        arr = np.asarray(given, dtype=float)
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"initial[{name!r}] has NaN/inf values")
        if (tracer is None or tracer.nonnegative) and (arr < 0).any():
            raise InvalidInputError(
                f"initial[{name!r}] has negative concentrations (min {arr.min():g}); "
                "concentrations must be >= 0"
            )
        _check_initial_range(arr, name, None if tracer is None else tracer.variable)
        try:
            values[name] = np.broadcast_to(arr, values[name].shape)
        except ValueError as err:
            raise InvalidInputError(
                f"initial[{name!r}] has shape {arr.shape}; give a scalar or {space[-1]} values "
                "(one per layer, surface first)"
            ) from err
    tracers = {t.name: values[t.name] for t in scheme.tracers if t.name in values}
    tracers.update(bgc.initial_tracers(run, values))
    state = torch.empty((n, lay.n_slots, *space), dtype=torch.float64, device=run.device)
    for tracer in lay.tracers:
        owner = scheme if tracer in scheme.tracers else bgc
        if tracer.name not in tracers:
            raise InvalidInputError(
                f"{type(owner).__name__} gives no initial value for its tracer {tracer.name!r}; "
                "return it from initial_fields (or initial_tracers)"
            )
        shape = _tracer_shape(lay, tracer.name, n, space)
        value = _full_shape(owner, tracer.name, tracers[tracer.name], shape)
        state[:, lay.index(tracer.name)] = torch.tensor(
            np.array(value), dtype=torch.float64, device=run.device
        )
    return state


def _tracer_shape(
    layout: TracerLayout, name: str, n: int, space: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Shape of tracer ``name`` for ``n`` scenarios (``None`` for a field that is no tracer)."""
    if name not in layout.names:
        return None
    tracer = layout.tracer(name)
    return (n, tracer.size, *space) if tracer.components else (n, *space)


def _full_shape(owner: Any, name: str, value: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    """``value`` as an array of ``shape`` (as it is when ``shape`` is None), or a clear error."""
    arr = np.asarray(value, dtype=float)
    if shape is None:
        return arr
    try:
        return np.broadcast_to(arr, shape)
    except ValueError as err:
        raise InvalidInputError(
            f"{type(owner).__name__} gives the initial {name!r} with shape {arr.shape}, which "
            f"does not broadcast to {shape} (scenarios, [components,] *space)"
        ) from err


def _integrate(
    y: Tensor,
    run: RunSetup,
    scheme: PhysicalScheme,
    bgc: Biogeochemistry,
    diagnostics: DailyAccumulator,
    drivers: Mapping[str, Tensor],
    *,
    progress: bool,
) -> Tensor:
    """Step the state ``y`` through every day; the daily outputs go to ``diagnostics``.

    One step (operator splitting): the scheme's surface forcing, the biogeochemistry's sources,
    its surface fluxes and the deep restoring (unless closed), the transport, then the samples
    of the outputs. Returns the final state. With a scheme that has horizontal cells the
    biogeochemistry and the outputs see the day's forcing spread over them, ``(B, *H)``
    (``warming_now`` stays ``(B,)``: it scales per-scenario traits); the scheme sees ``(B,)``.
    """
    for day in track(range(run.n_days), "simulate", unit="days", enabled=progress):
        forcing = {name: series[:, day] for name, series in drivers.items()}
        spread = _spread(forcing, scheme)
        bgc.start_day(spread)
        scheme.start_day(forcing, bgc.boundary_values(spread))
        diagnostics.start_day()
        for _ in range(run.steps_per_day):
            scheme.surface_forcing(y)
            step = bgc.sources(y, spread)
            fluxes, surface = bgc.surface_fluxes(y, spread)
            if not run.closed:
                scheme.apply_surface_fluxes(y, fluxes)
                scheme.restore(y)
            y, physical = scheme.transport(y)
            diagnostics.add(y, {**step, **surface, **physical})
        diagnostics.finish_day(day, y, spread)
    return y


def _spread(forcing: Mapping[str, Tensor], scheme: PhysicalScheme) -> Mapping[str, Tensor]:
    """The day's forcing ``(B,)`` as ``(B, *H)`` for a scheme with horizontal cells ``H``
    (``warming_now`` kept ``(B,)``); the forcing itself for a column."""
    if not scheme.horizontal_dims:
        return forcing
    shape = scheme.space[:-1]
    ones = [1] * len(shape)
    return {
        k: v if k == "warming_now" else v.reshape(-1, *ones).expand(-1, *shape)
        for k, v in forcing.items()
    }


def _to_dataset(
    series: Mapping[str, Tensor],
    outputs: Mapping[str, OutputVariable],
    run: RunSetup,
    scheme: PhysicalScheme,
    bgc: Biogeochemistry,
) -> xr.Dataset:
    import xarray as xr

    time = xr.date_range(
        "2000-01-01", periods=run.n_days, freq="D", calendar="noleap", use_cftime=True
    )
    data_vars = {}
    for name, var in outputs.items():
        dims = ("scenario", "time", *output_dims(var.dims, scheme.horizontal_dims))
        data_vars[name] = (dims, series[name].cpu().numpy(), dict(var.attrs))
    coords: dict[str, Any] = {
        "scenario": ("scenario", run.table.index.to_numpy()),
        "time": ("time", time, {"standard_name": "time", "long_name": "day (daily mean)"}),
    }
    parts = {**bgc.coords(), **scheme.coords()}
    dim_names = {*bgc.dims, *scheme.dims}
    coords.update({k: v for k, v in parts.items() if k in dim_names})  # dimension coords first
    coords.update({k: v for k, v in parts.items() if k not in dim_names})
    for p in SCENARIO_PARAMETERS:
        coords[p.name] = (
            "scenario",
            run.table[p.name].to_numpy(),
            {"long_name": p.description, "units": p.units},
        )
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = {
        "Conventions": "CF-1.10",
        "title": f"ecocube full ocean model: {scheme.title} with {bgc.title}",
        "source": "ecocube.ocean.simulate",
        "time_step_s": float(run.dt),
        **scheme.attrs(),
        "closed": int(run.closed),
        "references": "see ecocube ocean/README.md",
    }
    return ds
