"""The multilayer basin: state, time stepping with stability checks, budgets.

Examples
--------
>>> from ecocube.ocean.multilayer import BasinConfig, Forcing, MultilayerBasin
>>> basin = MultilayerBasin(BasinConfig(length=50_000.0, nx=10, n_layers=3, bathymetry=10.0))
>>> state = basin.initial_state(batch=2, tracers=[1.0, 5.0])
>>> state = basin.run(state, Forcing(wind=8.0), dt=360.0, duration=86_400.0)
>>> tuple(state.tracers.shape)
(2, 2, 10, 3)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ecocube._progress import track
from ecocube.errors import InvalidInputError
from ecocube.ocean._errors import StabilityError
from ecocube.ocean.multilayer._forcing import Forcing, PreparedSeries, tracer_vector
from ecocube.ocean.multilayer._grid import BasinConfig
from ecocube.ocean.multilayer._stability import raise_unstable
from ecocube.ocean.multilayer._step import Constants, Drive, StepResult, advance
from ecocube.ocean.multilayer._vertical import ColumnMixing

__all__ = ["BasinState", "MultilayerBasin"]

#: Steps between two checks of the stability figures during :meth:`MultilayerBasin.run`.
CHECK_EVERY = 64

Callback = Callable[["BasinState"], "BasinState | None"]


@dataclass(frozen=True)
class BasinState:
    """The state of ``B`` basins (scenarios) at one time.

    Attributes
    ----------
    depth
        Water depth ``H`` (m), shape ``(B, nx)``.
    velocity
        Layer velocities along x (m s-1), shape ``(B, nx, L)``, surface layer first.
    tracers
        Tracer concentrations (their own units, e.g. mmol m-3), shape ``(B, n_tracers, nx, L)``,
        surface layer first.
    time
        Seconds since the start of the run.
    inflow_volume
        Volume that entered through the open boundary and the river since the start (m3),
        shape ``(B,)`` (negative when more left than entered).
    inflow_tracers
        Tracer amounts that entered the same way (tracer units x m3), shape ``(B, n_tracers)``.
    """

    depth: Tensor
    velocity: Tensor
    tracers: Tensor
    time: float
    inflow_volume: Tensor
    inflow_tracers: Tensor

    @property
    def batch(self) -> int:
        """Number of scenarios ``B``."""
        return int(self.depth.shape[0])

    @property
    def n_tracers(self) -> int:
        """Number of tracers."""
        return int(self.tracers.shape[1])

    def replace(self, **changes: Any) -> BasinState:
        """A copy with some fields replaced (e.g. ``tracers=`` after a biogeochemistry step)."""
        return dataclasses.replace(self, **changes)


class _Prepared:
    """Forcing series on the model's device for one run, checked against the basin."""

    def __init__(
        self, forcing: Forcing, config: BasinConfig, batch: int, n_tracers: int, device: Any
    ) -> None:
        if not isinstance(forcing, Forcing):
            raise InvalidInputError(f"forcing={forcing!r} is not valid: pass a Forcing")
        kind = None if config.open_boundary is None else config.open_boundary.kind
        for name, needed in (("tide", "elevation"), ("inflow", "discharge")):
            value = getattr(forcing, name)
            if kind == needed and value is None:
                raise InvalidInputError(
                    f"the basin has a {needed!r} open boundary: give Forcing({name}=...)"
                )
            if kind != needed and value is not None:
                raise InvalidInputError(
                    f"Forcing {name} is given but the basin has no {needed!r} open boundary: "
                    f"set BasinConfig(open_boundary=OpenBoundary(kind={needed!r})) or drop it"
                )
        self.wind = PreparedSeries(forcing.wind, "wind", batch, device)
        self.stress_factor = _stress_factor(config)
        self._wind: Tensor | None = None
        self._stress = self.wind.first
        self.tide = (
            None if forcing.tide is None else PreparedSeries(forcing.tide, "tide", batch, device)
        )
        self.inflow = (
            None
            if forcing.inflow is None
            else PreparedSeries(forcing.inflow, "inflow", batch, device)
        )
        self.boundary_tracers = (
            None
            if kind is None
            else tracer_vector(
                forcing.boundary_tracers, "Forcing boundary_tracers", batch, n_tracers, device
            )
        )
        self.river = None
        self.river_tracers = None
        if forcing.river is not None:
            if config.river_cell is None:
                raise InvalidInputError(
                    "Forcing river is given but the basin has no river cell: set "
                    "BasinConfig(river_cell=...)"
                )
            self.river = PreparedSeries(forcing.river.discharge, "river discharge", batch, device)
            if bool((self.river.samples < 0).any()):
                raise InvalidInputError(
                    "Forcing river discharge holds negative values; give a discharge >= 0 m3 s-1"
                )
            self.river_tracers = tracer_vector(
                forcing.river.concentrations, "RiverSource concentrations", batch, n_tracers, device
            )

    def at(self, time: float) -> Drive:
        """The forcing values at ``time`` (s since the start of the run)."""
        wind = self.wind.at(time)
        if wind is not self._wind:  # a constant wind keeps its stress from step to step
            self._wind = wind
            self._stress = self.stress_factor * wind.abs() * wind
        return Drive(
            self._stress,
            None if self.tide is None else self.tide.at(time),
            None if self.inflow is None else self.inflow.at(time),
            self.boundary_tracers,
            None if self.river is None else self.river.at(time),
            self.river_tracers,
        )


class MultilayerBasin:
    """A multilayer hydrostatic (Saint-Venant) basin with passive tracers, batched in torch.

    The scheme (kinetic fluxes with hydrostatic reconstruction, mass exchanges between layers,
    implicit vertical mixing) is described in :mod:`ecocube.ocean.multilayer._step`; all
    tensors are float64 on ``device``.

    Parameters
    ----------
    config
        Geometry and parameters of the basin.
    device
        Torch device of every tensor the model creates.
    compile
        Compile the time step with :func:`torch.compile` (``True``: the ``"inductor"``
        backend; a string: that backend). The first step of each batch size compiles the step
        (tens of seconds on a CPU); later steps fuse the few hundred small tensor operations of
        a step into a few kernels, which pays off for long runs of few scenarios (see
        ``docs/ocean.md``).
    """

    def __init__(
        self, config: BasinConfig, *, device: Any = "cpu", compile: bool | str = False
    ) -> None:
        if not isinstance(config, BasinConfig):
            raise InvalidInputError(f"config={config!r} is not valid: pass a BasinConfig")
        if not isinstance(compile, bool | str):
            raise InvalidInputError(
                f"compile={compile!r} is not valid: use True, False or a torch.compile backend "
                "name such as 'inductor'"
            )
        self.config = config
        self._advance_step: Callable[..., StepResult] = advance
        if compile:
            backend = "inductor" if compile is True else compile
            self._advance_step = torch.compile(advance, dynamic=False, backend=backend)
        self.device = torch.device(device)
        f64: dict[str, Any] = {"dtype": torch.float64, "device": self.device}
        self.fractions = torch.tensor(config.fractions, **f64)
        self.bottom = torch.tensor(config.bottom, **f64)
        self.x = torch.tensor(config.x, **f64)
        self.constants = _constants(config, self.fractions, self.bottom)

    # -- state ---------------------------------------------------------------------------------
    def initial_state(
        self,
        batch: int = 1,
        *,
        surface: float | Tensor = 0.0,
        depth: Tensor | None = None,
        velocity: float | Tensor = 0.0,
        tracers: Any = None,
    ) -> BasinState:
        """A state at time 0.

        Parameters
        ----------
        batch
            Number of scenarios ``B``.
        surface
            Surface elevation (m above the reference level): a number, ``(nx,)`` or
            ``(B, nx)``; the depth is ``max(surface - z_b, 0)``. Ignored when ``depth`` is given.
        depth
            Water depth (m, >= 0), ``(nx,)`` or ``(B, nx)``.
        velocity
            Velocities (m s-1): a number or a tensor broadcastable to ``(B, nx, L)``.
        tracers
            Concentrations: ``None`` (no tracer), ``(n_tracers,)`` (uniform) or a tensor
            broadcastable to ``(B, n_tracers, nx, L)``; >= 0.
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidInputError(f"batch={batch!r} is not valid: use an integer >= 1")
        cfg = self.config
        f64: dict[str, Any] = {"dtype": torch.float64, "device": self.device}
        shape = (batch, cfg.nx)
        if depth is not None:
            h = torch.as_tensor(depth, **f64)
            if not bool(torch.isfinite(h).all()) or bool((h < 0).any()):
                raise InvalidInputError(
                    f"depth holds negative or non-finite values (min {float(h.min()):g} m); "
                    "give water depths >= 0 m"
                )
        else:
            eta = torch.as_tensor(surface, **f64)
            if not bool(torch.isfinite(eta).all()):
                raise InvalidInputError("surface holds NaN or infinite values")
            h = (eta - self.bottom).clamp_min(0.0)
        h = _broadcast(h, shape, "depth" if depth is not None else "surface")
        if not bool((h > cfg.dry_depth).any()):
            raise InvalidInputError(
                "the initial state holds no water (every cell is dry): raise surface or depth"
            )
        u = _broadcast(torch.as_tensor(velocity, **f64), (*shape, cfg.layers), "velocity")
        u = torch.where(h[..., None] > cfg.dry_depth, u, 0.0)
        if tracers is None:
            c = torch.zeros(batch, 0, cfg.nx, cfg.layers, **f64)
        else:
            c = torch.as_tensor(tracers, **f64)
            if c.ndim == 1:
                c = c[:, None, None]
            n_tr = c.shape[-3] if c.ndim >= 3 else 1
            c = _broadcast(c, (batch, n_tr, cfg.nx, cfg.layers), "tracers")
            if not bool(torch.isfinite(c).all()) or bool((c < 0).any()):
                raise InvalidInputError(
                    "tracers hold negative or non-finite concentrations; give values >= 0"
                )
        zero = torch.zeros(batch, **f64)
        return BasinState(
            h.clone(), u.clone(), c.clone(), 0.0, zero, torch.zeros(batch, c.shape[1], **f64)
        )

    def layer_thickness(self, state: BasinState) -> Tensor:
        """Layer thicknesses ``h_k = l_k H`` (m), shape ``(B, nx, L)``, surface first."""
        return state.depth[..., None] * self.fractions

    def surface_elevation(self, state: BasinState) -> Tensor:
        """Surface elevation ``H + z_b`` (m above the reference level), shape ``(B, nx)``."""
        return state.depth + self.bottom

    def volume(self, state: BasinState) -> Tensor:
        """Water volume of each basin (m3), shape ``(B,)``."""
        return state.depth.sum(-1) * (self.config.dx * self.config.width)

    def tracer_content(self, state: BasinState) -> Tensor:
        """Amount of each tracer (tracer units x m3), shape ``(B, n_tracers)``."""
        h = self.layer_thickness(state)
        return (state.tracers * h[:, None]).sum((-1, -2)) * (self.config.dx * self.config.width)

    # -- stability -----------------------------------------------------------------------------
    def max_wave_speed(self, state: BasinState, forcing: Forcing) -> float:
        """Upper estimate of ``max(|u| + sqrt(g H))`` (m s-1) over a run from ``state``.

        The depth is raised to the forcing's highest tide everywhere and by the wind set-up
        ``tau_max length / (rho g H_mean)`` of its strongest wind, and the speed of the largest
        inflow through the open boundary is added.
        """
        cfg = self.config
        prep = _Prepared(forcing, cfg, state.batch, state.n_tracers, self.device)
        depth = state.depth
        if prep.tide is not None:
            depth = torch.maximum(depth, (prep.tide.max()[:, None] - self.bottom).clamp_min(0.0))
        wet = depth > cfg.dry_depth
        mean = (depth * wet).sum(-1) / wet.sum(-1).clamp_min(1)
        stress = _stress_factor(cfg) * prep.wind.max_abs() ** 2
        depth = (
            depth + (stress * cfg.length / (cfg.gravity * mean.clamp_min(cfg.dry_depth)))[:, None]
        )
        extra = torch.zeros_like(mean)
        if prep.inflow is not None:
            edge = 0 if cfg.open_boundary is None or cfg.open_boundary.side == "left" else -1
            extra = prep.inflow.max_abs() / (
                cfg.width * state.depth[:, edge].clamp_min(cfg.dry_depth)
            )
        speed = state.velocity.abs().amax(-1) + extra[:, None] + (cfg.gravity * depth).sqrt()
        return float(speed.max())

    def check_time_step(self, dt: float, state: BasinState, forcing: Forcing) -> None:
        """Raise :class:`StabilityError` if ``dt`` breaks the CFL condition before a run.

        The condition is ``dt <= cfl dx / max(|u| + sqrt(g H))`` with the speed of
        :meth:`max_wave_speed` (the initial state under the forcing's extremes); the error
        names the largest valid step that divides a day.
        """
        _check_dt(dt)
        cfg = self.config
        speed = self.max_wave_speed(state, forcing)
        limit = cfg.cfl * cfg.dx / speed
        if dt > limit:
            raise_unstable(
                dt,
                limit,
                f"the CFL condition dt <= cfl dx / max(|u| + sqrt(g H)) (cfl={cfg.cfl:g}, "
                f"dx={cfg.dx:g} m, max(|u| + sqrt(g H))={speed:.4g} m s-1)",
                "the initial state under the forcing's highest tide, strongest wind and "
                "largest inflow",
            )

    def _check_run(self, dt: float, speed: Tensor, exit_rate: Tensor, time: float) -> None:
        """Raise :class:`StabilityError` if the running maxima of a run exceed the limits."""
        cfg = self.config
        speed_v, exit_v = float(speed), float(exit_rate)
        where = f"the states reached up to t={time:g} s"
        if not (math.isfinite(speed_v) and math.isfinite(exit_v)):
            raise StabilityError(
                f"dt={dt:g} s: the state became non-finite before t={time:g} s; the stability "
                "limits were exceeded: use a shorter dt"
            )
        limit = cfg.cfl * cfg.dx / speed_v if speed_v > 0 else math.inf
        if dt > limit:
            raise_unstable(
                dt,
                limit,
                f"the CFL condition dt <= cfl dx / max(|u| + sqrt(g H)) (cfl={cfg.cfl:g}, "
                f"dx={cfg.dx:g} m, max(|u| + sqrt(g H))={speed_v:.4g} m s-1)",
                where,
            )
        limit = 1.0 / exit_v if exit_v > 0 else math.inf
        if dt > limit:
            raise_unstable(
                dt,
                limit,
                "the positivity condition (no layer may lose more water in a step than it "
                f"holds; largest outflow rate / thickness = {exit_v:.4g} s-1)",
                where,
            )

    # -- time stepping -------------------------------------------------------------------------
    def step(
        self,
        state: BasinState,
        forcing: Forcing,
        dt: float,
        *,
        sources: Tensor | None = None,
        diffusivity: Tensor | None = None,
        sinking: Sequence[float] | None = None,
        check: bool = True,
    ) -> BasinState:
        """Advance ``state`` by one step of ``dt`` seconds.

        Parameters
        ----------
        state, forcing
            The state and its forcing (evaluated at ``state.time``).
        dt
            Time step (s).
        sources
            Tracer sources (tracer units s-1), shape ``(B, n_tracers, nx, L)``, added after
            transport and mixing (``C += dt S``), or ``None``.
        diffusivity
            Tracer diffusivity at the ``L - 1`` interfaces between layers (m2 s-1, >= 0), shape
            ``(B, nx, L - 1)``, replacing ``config.diffusivity`` for this step (e.g. from a
            turbulence closure), or ``None``.
        sinking
            Sinking speed of each tracer through the layers (m s-1, >= 0), one per tracer
            (implicit, upwind; nothing leaves through the bottom), or ``None``.
        check
            Check the stability limits on ``state`` (one device synchronisation).
        """
        self._check_state(state)
        _check_dt(dt)
        prep = _Prepared(forcing, self.config, state.batch, state.n_tracers, self.device)
        if sources is not None and tuple(sources.shape) != tuple(state.tracers.shape):
            raise InvalidInputError(
                f"sources have shape {tuple(sources.shape)}; expected the tracers' shape "
                f"{tuple(state.tracers.shape)}"
            )
        cfg = self.config
        if diffusivity is not None:
            expected = (state.batch, cfg.nx, cfg.layers - 1)
            if tuple(diffusivity.shape) != expected:
                raise InvalidInputError(
                    f"diffusivity has shape {tuple(diffusivity.shape)}; expected {expected} "
                    "(B, nx, L - 1), one value per interface between layers"
                )
            if not bool(torch.isfinite(diffusivity).all()) or bool((diffusivity < 0).any()):
                raise InvalidInputError("diffusivity holds negative or non-finite values")
        speeds = self._sinking(sinking, state.n_tracers)
        new, speed, exit_rate = self._advance(state, prep, dt, sources, diffusivity, speeds)
        if check:
            self._check_run(dt, speed, exit_rate, state.time)
        return new

    def _advance(
        self,
        state: BasinState,
        prep: _Prepared,
        dt: float,
        sources: Tensor | None = None,
        diffusivity: Tensor | None = None,
        sinking: Tensor | None = None,
    ) -> tuple[BasinState, Tensor, Tensor]:
        res = self._advance_step(
            state.depth,
            state.velocity,
            state.tracers,
            self.constants,
            prep.at(state.time),
            dt,
            sources,
            diffusivity,
            sinking,
        )
        new = BasinState(
            res.depth,
            res.velocity,
            res.tracers,
            state.time + dt,
            state.inflow_volume
            if res.inflow_volume is None
            else state.inflow_volume + res.inflow_volume,
            state.inflow_tracers
            if res.inflow_tracers is None
            else state.inflow_tracers + res.inflow_tracers,
        )
        return new, res.speed, res.exit_rate

    def run(
        self,
        state: BasinState,
        forcing: Forcing,
        *,
        dt: float,
        duration: float,
        callback: Callback | None = None,
        callback_every: int = 1,
        sinking: Sequence[float] | None = None,
        check_every: int = CHECK_EVERY,
        progress: bool = False,
    ) -> BasinState:
        """Run the basin for ``duration`` seconds in steps of ``dt``.

        ``dt`` is checked before the run (:meth:`check_time_step`) and, every ``check_every``
        steps, against the CFL and positivity limits of the states reached (the largest wave
        speed and outflow rate since the last check, kept on the device without
        synchronising); a violation raises :class:`StabilityError` naming a valid step.

        Parameters
        ----------
        state, forcing
            Initial state and forcing (forcing time 0 is ``state.time = 0``).
        dt
            Time step (s).
        duration
            Simulated time (s), a whole number of steps.
        callback
            Called as ``callback(state)`` every ``callback_every`` steps (and after the last);
            a returned state replaces the current one. A biogeochemistry model steps its
            tracers here (operator splitting: ``callback_every`` transport steps per
            biogeochemical step of ``callback_every * dt`` seconds).
        callback_every
            Steps between two callbacks.
        sinking
            Sinking speed of each tracer (m s-1, >= 0), as for :meth:`step`.
        check_every
            Steps between two stability checks.
        progress
            Show a progress display.

        Returns
        -------
        BasinState
            The state at ``state.time + duration``.
        """
        self._check_state(state)
        self.check_time_step(dt, state, forcing)
        for name, value in (("callback_every", callback_every), ("check_every", check_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name}={value!r} is not valid: use an integer >= 1")
        n_steps = round(duration / dt) if math.isfinite(duration) else -1
        if n_steps < 1 or abs(n_steps * dt - duration) > 1e-9 * max(duration, dt):
            raise InvalidInputError(
                f"duration={duration!r} s is not a whole number (>= 1) of steps of dt={dt:g} s: "
                f"use duration={max(n_steps, 1) * dt:g} s or a dt that divides it"
            )
        prep = _Prepared(forcing, self.config, state.batch, state.n_tracers, self.device)
        speeds = self._sinking(sinking, state.n_tracers)
        start = state.time
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        speed, exit_rate = zero, zero
        depth, velocity, tracers = state.depth, state.velocity, state.tracers
        volume, amounts = state.inflow_volume, state.inflow_tracers
        for i in track(range(n_steps), "multilayer basin", unit="steps", enabled=progress):
            res = self._advance_step(
                depth,
                velocity,
                tracers,
                self.constants,
                prep.at(start + i * dt),
                dt,
                sinking=speeds,
            )
            depth, velocity, tracers = res.depth, res.velocity, res.tracers
            if res.inflow_volume is not None and res.inflow_tracers is not None:
                volume = volume + res.inflow_volume
                amounts = amounts + res.inflow_tracers
            speed = torch.fmax(speed, res.speed)
            exit_rate = torch.fmax(exit_rate, res.exit_rate)
            last = i == n_steps - 1
            time = start + (i + 1) * dt
            if (i + 1) % check_every == 0 or last:
                self._check_run(dt, speed, exit_rate, time)
                speed, exit_rate = zero, zero
            if callback is not None and ((i + 1) % callback_every == 0 or last):
                state = BasinState(depth, velocity, tracers, time, volume, amounts)
                replaced = callback(state)
                if replaced is not None:
                    self._check_state(replaced)
                    depth, velocity, tracers = replaced.depth, replaced.velocity, replaced.tracers
                    volume, amounts = replaced.inflow_volume, replaced.inflow_tracers
        return BasinState(depth, velocity, tracers, start + n_steps * dt, volume, amounts)

    def _sinking(self, sinking: Sequence[float] | None, n_tracers: int) -> Tensor | None:
        """Sinking speeds as a ``(n_tracers,)`` tensor, or ``None`` when no tracer sinks."""
        if sinking is None:
            return None
        speeds = [float(w) for w in sinking]
        if len(speeds) != n_tracers or not all(math.isfinite(w) and w >= 0 for w in speeds):
            raise InvalidInputError(
                f"sinking={list(sinking)!r} is not valid: give {n_tracers} speeds (m s-1, >= 0), "
                "one per tracer"
            )
        if not any(speeds):
            return None
        return torch.tensor(speeds, dtype=torch.float64, device=self.device)

    def _check_state(self, state: BasinState) -> None:
        if not isinstance(state, BasinState):
            raise InvalidInputError(f"state={state!r} is not valid: pass a BasinState")
        cfg = self.config
        b = state.batch
        expected = {
            "depth": (b, cfg.nx),
            "velocity": (b, cfg.nx, cfg.layers),
            "tracers": (b, state.n_tracers, cfg.nx, cfg.layers),
        }
        for name, shape in expected.items():
            got = tuple(getattr(state, name).shape)
            if got != shape:
                raise InvalidInputError(
                    f"state.{name} has shape {got}; this basin needs {shape} "
                    "(B, [n_tracers,] nx, L)"
                )


def _constants(cfg: BasinConfig, fractions: Tensor, bottom: Tensor) -> Constants:
    """The step's constant tensors (see :class:`~ecocube.ocean.multilayer._step.Constants`)."""
    device = bottom.device
    n = cfg.nx
    cells = torch.arange(n, device=device)
    left_cells = torch.cat([cells[:1], cells])  # left state of faces 0..nx (ghost = cell 0)
    right_cells = torch.cat([cells, cells[-1:]])
    face_bottom = torch.maximum(bottom[left_cells], bottom[right_cells])
    side = {"left": "wall", "right": "wall"}
    if cfg.open_boundary is not None:
        side[cfg.open_boundary.side] = cfg.open_boundary.kind
    sign = torch.cat([torch.ones(n + 1), -torch.ones(n + 1)]).to(bottom)
    if side["left"] == "wall":
        sign[0] = -1.0  # reflected ghost velocity
    if side["right"] == "wall":
        sign[-1] = 1.0  # -(-u): reflected and stored negated
    return Constants(
        fractions=fractions,
        fractions_dx=fractions / cfg.dx,
        sides=torch.cat([left_cells, right_cells]),
        rise=torch.cat([bottom[left_cells] - face_bottom, bottom[right_cells] - face_bottom]),
        velocity_sign=sign[:, None],
        edge_bottom=(float(cfg.bottom[0]), float(cfg.bottom[-1])),
        mixing=ColumnMixing(fractions),
        viscosity=cfg.viscosity,
        diffusivity=cfg.diffusivity,
        dx=cfg.dx,
        width=cfg.width,
        gravity=cfg.gravity,
        dry_depth=cfg.dry_depth,
        bottom_drag=cfg.bottom_drag,
        left=side["left"],
        right=side["right"],
        river_cell=cfg.river_cell,
    )


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
        raise StabilityError(f"dt={dt!r} s is not valid: give a positive number of seconds")


def _stress_factor(cfg: BasinConfig) -> float:
    """``rho_air C_D / rho_water``: wind stress over water density per squared wind (m s-1)^-2."""
    return cfg.rho_air * cfg.wind_drag / cfg.rho_water


def _broadcast(value: Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    try:
        return value.expand(shape)
    except RuntimeError:
        raise InvalidInputError(
            f"{name} has shape {tuple(value.shape)}, which does not broadcast to {shape}"
        ) from None
