"""The multilayer basin as a physical scheme of :func:`ecocube.ocean.simulate`.

:class:`MultilayerScheme` moves the tracers of a biogeochemistry through a
:class:`~ecocube.ocean.multilayer.MultilayerBasin` (an x-z slice, layers last, surface first):
the state ``(B, V, nx, L)`` of :func:`~ecocube.ocean.simulate` is the basin's tracer tensor.

Coupling (operator splitting, one biogeochemistry step ``dt``):

1. Haney restoring of the top layer's temperature to the day's surface temperature (per cell,
   with the cell's top-layer thickness);
2. the biogeochemistry's sources, then its air-sea fluxes into the top layer (``flux dt / h_0``);
3. ``substeps`` hydrodynamic steps of ``dt / substeps`` (:func:`~ecocube.ocean.multilayer.
   _step.advance`): the day's wind stress on the top layer (``wind_along_x`` times the
   scenario's wind speed), an M2-like tide at an ``"elevation"`` open boundary, the river at
   ``river_cell`` with the DIN and DIC loads of :func:`~ecocube.ocean.multilayer.river_load`,
   constant vertical diffusivity (``BasinConfig.diffusivity``) and implicit sinking of every
   tracer at its declared speed (:class:`~ecocube.ocean.biogeochemistry.Tracer`).

Water entering through the open boundary carries the biogeochemistry's
:meth:`~ecocube.ocean.biogeochemistry.Biogeochemistry.boundary_values` (for the default model
the scenario's ``nutrient_supply`` nitrate and the deep DIC) and the deep temperature; the other
tracers enter at the depth-mean concentration of the boundary cell (no supply). River water
carries the day's surface temperature, the river DIN as ``no3``, the river DIC as ``dic`` and as
``talk`` (bicarbonate-dominated river water), nothing else. A ``closed`` run has no open
boundary, no river and no air-sea flux, so water, nitrogen and carbon are conserved.

The number of hydrodynamic sub-steps is the smallest that satisfies the CFL condition on the
initial state under the run's strongest wind and highest tide (or the ``substeps`` given, which
must satisfy it); the states reached are checked against the CFL and positivity limits once a
day, and a violation raises :class:`~ecocube.ocean._errors.StabilityError` naming a valid step.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.errors import InvalidInputError
from ecocube.ocean._errors import StabilityError
from ecocube.ocean.biogeochemistry import RunSetup, Tracer
from ecocube.ocean.diagnostics import OUTPUT_VARIABLES, OutputVariable
from ecocube.ocean.multilayer._grid import BasinConfig, OpenBoundary
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters
from ecocube.ocean.schemes import PhysicalScheme

if TYPE_CHECKING:
    from torch import Tensor

    from ecocube.ocean.multilayer.model import BasinState, MultilayerBasin

__all__ = ["M2_PERIOD", "MultilayerScheme", "default_basin"]

SECONDS_PER_DAY = 86400.0

#: Fraction of the estimated CFL limit that the automatic sub-step takes.
SAFETY = 0.8

#: Period of the principal lunar semi-diurnal tide M2 (s).
M2_PERIOD = 44_714.0

#: Outputs of the scheme besides ``tos`` and ``thetao``: surface elevation and velocity.
SCHEME_OUTPUTS: dict[str, OutputVariable] = {
    "zos": OutputVariable(
        (),
        {
            "standard_name": "sea_surface_height_above_geoid",
            "long_name": "Sea surface elevation above the reference level",
            "units": "m",
        },
        "zos",
    ),
    "uo": OutputVariable(
        ("depth",),
        {
            "standard_name": "sea_water_x_velocity",
            "long_name": "Layer velocity along the basin (positive towards the open end)",
            "units": "m s-1",
        },
        "uo",
    ),
}


def default_basin(nx: int = 10, n_layers: int = 3) -> BasinConfig:
    """The default basin of ``simulate(physics="multilayer")``: a small shelf slice.

    100 km long and 10 km wide, ``nx`` cells, ``n_layers`` equal layers, the bottom sloping
    from 10 m at the closed end (``x = 0``, the river's cell) to 30 m at the open end
    (``x = 100 km``, an ``"elevation"`` boundary carrying the tide).
    """
    return BasinConfig(
        length=100_000.0,
        nx=nx,
        n_layers=n_layers,
        bathymetry=tuple(float(v) for v in np.linspace(10.0, 30.0, nx)),
        width=10_000.0,
        open_boundary=OpenBoundary(side="right", kind="elevation"),
        river_cell=0,
    )


class MultilayerScheme(PhysicalScheme):
    """The multilayer Saint-Venant basin driving a biogeochemistry (see the module docstring).

    Parameters
    ----------
    physics
        Model parameters (heat exchange, densities, deep water of the open boundary).
    basin
        Geometry of the basin; ``None``: :func:`default_basin`. A tide needs an
        ``"elevation"`` open boundary, a river a ``river_cell``.
    tide_amplitude
        Amplitude of the sinusoidal tide at the open boundary (m).
    tide_period
        Its period (s; default M2).
    wind_along_x
        Fraction of the scenario's wind speed that blows along ``+x`` (towards the open end),
        in [-1, 1]; the surface stress is ``rho_air C_D |U| U`` of that component.
    river_discharge
        River discharge (m3 s-1, > 0) at ``basin.river_cell``.
    river_point
        ``(lat, lon)`` (degrees) of the coast point whose river exports give the loads.
    river_year
        Year of the river-export file.
    substeps
        Hydrodynamic steps per biogeochemistry step; ``None``: the fewest the CFL allows.
    """

    name = "multilayer"
    title = "multilayer Saint-Venant basin"
    horizontal_dims = ("x",)

    def __init__(
        self,
        parameters: ModelParameters = DEFAULT_PARAMETERS,
        basin: BasinConfig | None = None,
        *,
        tide_amplitude: float = 0.5,
        tide_period: float = M2_PERIOD,
        wind_along_x: float = 1.0,
        river_discharge: float = 850.0,
        river_point: tuple[float, float] = (47.27, -2.2),
        river_year: int = 2000,
        substeps: int | None = None,
    ) -> None:
        basin = default_basin() if basin is None else basin
        if not isinstance(basin, BasinConfig):
            raise InvalidInputError(
                f"basin={basin!r} is not valid: pass an ecocube.ocean.multilayer.BasinConfig "
                "or None for the default basin"
            )
        if basin.open_boundary is not None and basin.open_boundary.kind != "elevation":
            raise InvalidInputError(
                f"basin has a {basin.open_boundary.kind!r} open boundary; simulate drives a tide "
                "at an 'elevation' boundary: use OpenBoundary(kind='elevation') or none"
            )
        for label, value, low, high in (
            ("tide_amplitude", tide_amplitude, 0.0, math.inf),
            ("tide_period", tide_period, 1e-9, math.inf),
            ("wind_along_x", wind_along_x, -1.0, 1.0),
            ("river_discharge", river_discharge, 1e-9, math.inf),
        ):
            if not (math.isfinite(value) and low <= value <= high):
                raise InvalidInputError(
                    f"{label}={value!r} is not valid: give a finite value in [{low:g}, {high:g}]"
                )
        if substeps is not None and (
            isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1
        ):
            raise InvalidInputError(f"substeps={substeps!r} is not valid: use an integer >= 1")
        self.parameters = parameters
        self.physics = parameters.physics
        self.basin = basin
        self.tide_amplitude = float(tide_amplitude)
        self.tide_period = float(tide_period)
        self.wind_along_x = float(wind_along_x)
        self.river_discharge = float(river_discharge)
        self.river_point = (float(river_point[0]), float(river_point[1]))
        self.river_year = int(river_year)
        self.requested_substeps = substeps
        self.n_layers = basin.layers
        fractions = np.asarray(basin.fractions)
        top = np.cumsum(fractions) - fractions
        depth_at_rest = np.clip(-basin.bottom, 0.0, None)
        #: layer centres at rest (m, positive down), ``(nx, L)``
        self._depth = depth_at_rest[:, None] * (top + fractions / 2)[None, :]
        self._thickness: Any = depth_at_rest[:, None] * fractions[None, :]

    # -- grid --------------------------------------------------------------------------------
    @property
    def tracers(self) -> tuple[Tracer, ...]:
        """``temperature`` (degC)."""
        return (Tracer("temperature", "degC", "Sea water temperature", nonnegative=False),)

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        """``tos``, ``thetao`` and the scheme's ``zos`` (m) and ``uo`` (m s-1)."""
        return {
            **{name: OUTPUT_VARIABLES[name] for name in ("tos", "thetao")},
            **SCHEME_OUTPUTS,
        }

    @property
    def diagnostic_names(self) -> tuple[str, ...]:
        """``zos`` (surface elevation, m, ``(B, nx)``) and ``uo`` (m s-1, ``(B, nx, L)``)."""
        return ("zos", "uo")

    @property
    def depth(self) -> np.ndarray:
        """Layer centres at rest (m, positive down), shape ``(nx, L)``."""
        return self._depth

    @property
    def thickness(self) -> Any:
        """Layer thicknesses (m): ``(B, nx, L)`` on the run's device once :meth:`bind` ran (the
        same tensor, updated in place after every step), else ``(nx, L)`` at rest."""
        return self._thickness

    @property
    def stability_thickness(self) -> float:
        """Thinnest top layer at rest (m): the ``dz`` of the explicit stability limits."""
        top = np.clip(-self.basin.bottom, 0.0, None) * self.basin.fractions[0]
        return float(top[top > 0].min())

    def layer_sum(self, values: Tensor) -> Tensor:
        """``sum_k C_k h_k`` per cell (per m2), for ``(B, *extra, nx, L)`` values."""
        h = self._thickness
        extra = values.ndim - h.ndim
        if extra > 0:
            h = h.reshape(h.shape[0], *[1] * extra, *h.shape[1:])
        return (values * h).sum(-1)

    def bind(self, n_scenarios: int, device: Any) -> None:
        """Allocate the ``(B, nx, L)`` thickness tensor of the run on ``device``."""
        import torch

        rest = torch.as_tensor(np.asarray(self._thickness), dtype=torch.float64, device=device)
        self._thickness = rest.expand(n_scenarios, *rest.shape).clone()

    def coords(self) -> dict[str, Any]:
        """``x`` (cell centres, m), ``depth`` (layer centres at the mean still-water depth, m)
        and ``layer_depth`` (layer centres at rest in each cell, m, ``(x, depth)``)."""
        mean = self._depth.mean(axis=0)
        return {
            "x": (
                "x",
                self.basin.x,
                {
                    "units": "m",
                    "long_name": "distance along the basin from its closed end (cell centre)",
                    "axis": "X",
                },
            ),
            "depth": (
                "depth",
                mean,
                {
                    "standard_name": "depth",
                    "units": "m",
                    "positive": "down",
                    "long_name": "depth of layer centre at the basin's mean still-water depth",
                },
            ),
            "layer_depth": (
                ("x", "depth"),
                self._depth,
                {"units": "m", "positive": "down", "long_name": "depth of layer centre at rest"},
            ),
        }

    def attrs(self) -> dict[str, Any]:
        """``physics``, ``n_layers``, ``basin`` (the configuration as JSON) and the forcing
        settings of the scheme."""
        config = {k: v for k, v in dataclasses.asdict(self.basin).items() if not k.startswith("_")}
        return {
            "physics": self.name,
            "n_layers": self.n_layers,
            "basin": json.dumps(config, default=list),
            "tide_amplitude_m": self.tide_amplitude,
            "tide_period_s": self.tide_period,
            "wind_along_x": self.wind_along_x,
            "river_discharge_m3_s": self.river_discharge,
            "substeps": int(getattr(self, "substeps", self.requested_substeps or 0)),
        }

    # -- initial state -------------------------------------------------------------------------
    def initial_fields(self, run: RunSetup, forcing: Mapping[str, Tensor]) -> dict[str, Any]:
        """Temperature from the first day's surface value at the surface to the deep
        temperature at depth (e-folding 50 m), as in the column."""
        t_surf = forcing["temperature"][:, 0].cpu().numpy()[:, None, None]
        t_deep = self._deep_temperature(run)[:, None, None]
        shape = np.exp(-self._depth / 50.0)[None]
        return {"temperature": t_deep + (np.maximum(t_surf, t_deep) - t_deep) * shape}

    def _deep_temperature(self, run: RunSetup) -> np.ndarray:
        phys = self.physics
        amplitude = run.table["seasonal_amplitude"].to_numpy()
        return np.asarray(phys.t_mean - amplitude - phys.deep_offset, dtype=float)

    # -- run -----------------------------------------------------------------------------------
    def setup(self, run: RunSetup) -> None:
        """Build the basin (closed for a closed run), the river water, the sub-step."""
        import torch

        from ecocube.ocean.multilayer.model import MultilayerBasin

        super().setup(run)
        config = self.basin
        if run.closed:
            config = dataclasses.replace(config, open_boundary=None, river_cell=None)
        self.config = config
        self.model: MultilayerBasin = MultilayerBasin(config, device=run.device)
        dev, n = run.device, run.n_scenarios
        f64: dict[str, Any] = {"dtype": torch.float64, "device": dev}
        lay = run.layout
        self.i_temp = lay.index("temperature")
        self.dt = run.dt
        self.sinking = torch.tensor(lay.sinking, **f64) if any(lay.sinking) else None
        self.t_deep = torch.as_tensor(self._deep_temperature(run), **f64)
        phys = self.physics
        self.heat_coefficient = phys.heat_exchange * run.dt / (phys.rho_water * phys.cp_water)
        self.state: BasinState = self.model.initial_state(n, tracers=None)
        self.time = 0.0
        self.river_tracers: Tensor | None = None
        if config.river_cell is not None:
            from ecocube.ocean.multilayer.rivers import river_load

            load = river_load(*self.river_point, year=self.river_year)
            din, dic = load.concentrations(self.river_discharge)
            river = torch.zeros(n, lay.n_slots, **f64)
            for name, value in (("no3", din), ("dic", dic), ("talk", dic)):
                if name in lay.names:
                    river[:, lay.index(name)] = value
            self.river_tracers = river
        self.substeps = self._substeps(run)
        self.sub_dt = run.dt / self.substeps
        zero = torch.zeros((), **f64)
        self._speed, self._exit = zero, zero

    def _substeps(self, run: RunSetup) -> int:
        """Sub-steps per biogeochemistry step: the fewest the CFL allows, or those requested
        (checked)."""
        import torch

        from ecocube.ocean.multilayer._forcing import Forcing
        from ecocube.ocean.multilayer._stability import day_divisor

        wind = run.table["wind"].to_numpy(dtype=float) * (1.0 + self.physics.wind_amplitude)
        along = torch.as_tensor(wind * abs(self.wind_along_x), dtype=torch.float64)
        tide = None
        if self.config.open_boundary is not None:
            tide = torch.full_like(along, self.tide_amplitude)
        forcing = Forcing(
            wind=along.to(run.device), tide=None if tide is None else tide.to(run.device)
        )
        speed = self.model.max_wave_speed(self.state, forcing)
        limit = self.config.cfl * self.config.dx / speed
        # a margin for the wind set-up and tidal currents beyond the estimate
        fewest = max(1, math.ceil(run.dt / (SAFETY * limit)))
        if self.requested_substeps is None:
            return fewest
        if run.dt / self.requested_substeps > limit:
            sub = day_divisor(limit)
            raise StabilityError(
                f"substeps={self.requested_substeps} gives a hydrodynamic step of "
                f"{run.dt / self.requested_substeps:g} s, beyond the CFL limit {limit:.4g} s "
                f"(cfl dx / max(|u| + sqrt(g H)), max speed {speed:.4g} m s-1): use "
                f"substeps={fewest} (or more), or dt={sub} s with substeps=1"
            )
        return self.requested_substeps

    def start_day(
        self, forcing: Mapping[str, Tensor], boundary: Mapping[str, float | Tensor]
    ) -> None:
        """The day's wind stress, surface temperature and the open-boundary water."""
        import torch

        cfg = self.config
        along = self.wind_along_x * forcing["wind"]
        self.stress = (cfg.rho_air * cfg.wind_drag / cfg.rho_water) * along.abs() * along
        self.t_air = forcing["temperature"]
        lay = self.run.layout
        n = self.run.n_scenarios
        values = {"temperature": self.t_deep, **boundary}
        self.boundary: list[tuple[int | slice, Tensor]] = []
        for name, value in values.items():
            vec = torch.as_tensor(value, dtype=torch.float64, device=self.run.device)
            self.boundary.append((lay.index(name), vec.expand(n)))
        if self.river_tracers is not None:
            self.river_tracers[:, self.i_temp] = self.t_air

    def surface_forcing(self, y: Tensor) -> None:
        """Haney heat restoring of the top layer, per cell."""
        top = y[:, self.i_temp, :, 0]
        rate = self.heat_coefficient / self._thickness[..., 0].clamp_min(self.config.dry_depth)
        top += rate.clamp(max=1.0) * (self.t_air[:, None] - top)

    def apply_surface_fluxes(self, y: Tensor, fluxes: Mapping[str, Tensor]) -> None:
        """``C_top += flux dt / h_0`` per cell (nothing into dry cells)."""
        lay = self.run.layout
        h_top = self._thickness[..., 0]
        wet = h_top > self.config.dry_depth
        for name, flux in fluxes.items():
            step = torch_where(wet, flux * self.dt / h_top.clamp_min(self.config.dry_depth))
            y[:, lay.index(name), ..., 0] += step

    def _boundary_water(self, y: Tensor) -> Tensor:
        """Concentrations of the water entering through the open boundary, ``(B, V)``."""
        edge = (
            0
            if self.config.open_boundary is None or self.config.open_boundary.side == "left"
            else -1
        )
        fractions = self.model.fractions
        water = y[:, :, edge] @ fractions  # depth-mean of the boundary cell
        for index, value in self.boundary:
            if isinstance(index, slice):
                water[:, index] = value[:, None]
            else:
                water[:, index] = value
        return water

    def transport(self, y: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``substeps`` hydrodynamic steps carrying the tracers ``y``."""
        import torch

        from ecocube.ocean.multilayer._step import Drive

        cfg, model, sub = self.config, self.model, self.sub_dt
        state = self.state
        depth, velocity, tracers = state.depth, state.velocity, y
        open_end = cfg.open_boundary is not None
        boundary = self._boundary_water(y) if open_end else None
        river = None
        if cfg.river_cell is not None:
            river = torch.full_like(depth[:, 0], self.river_discharge)
        for _ in range(self.substeps):
            tide = None
            if open_end:
                level = self.tide_amplitude * math.sin(2.0 * math.pi * self.time / self.tide_period)
                tide = torch.full_like(depth[:, 0], level)
            drive = Drive(self.stress, tide, None, boundary, river, self.river_tracers)
            res = model._advance_step(
                depth, velocity, tracers, model.constants, drive, sub, sinking=self.sinking
            )
            depth, velocity, tracers = res.depth, res.velocity, res.tracers
            self._speed = torch.fmax(self._speed, res.speed)
            self._exit = torch.fmax(self._exit, res.exit_rate)
            self.time += sub
        self.state = state.replace(depth=depth, velocity=velocity, tracers=tracers, time=self.time)
        self._thickness.copy_(depth[..., None] * model.fractions)
        if round(self.time / sub) % round(SECONDS_PER_DAY / sub) == 0:  # once a day
            try:
                model._check_run(sub, self._speed, self._exit, self.time)
            except StabilityError as err:
                raise StabilityError(
                    f"{err} (the hydrodynamic sub-step: dt={self.dt:g} s / substeps="
                    f"{self.substeps}); pass more substeps to simulate, e.g. "
                    f"substeps={2 * self.substeps}"
                ) from None
            self._speed = torch.zeros_like(self._speed)
            self._exit = torch.zeros_like(self._exit)
        return tracers, {"zos": depth + model.bottom, "uo": velocity}


def torch_where(mask: Tensor, value: Tensor) -> Tensor:
    """``value`` where ``mask``, else 0."""
    return value * mask
