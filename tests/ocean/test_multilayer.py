"""Multilayer Saint-Venant basin: known solutions, conservation, positivity, errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean import StabilityError, physics
from ecocube.ocean.multilayer import (
    BasinConfig,
    Forcing,
    MultilayerBasin,
    OpenBoundary,
    RiverSource,
    TimeSeries,
    analytic,
    river_load,
)
from ecocube.ocean.multilayer._stability import day_divisor
from ecocube.ocean.multilayer._vertical import ColumnMixing, mix_tridiagonal
from tests.conftest import requires_mirror

F64 = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the benchmarks and ensembles run (the VM has 2 shared cores)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _bump(nx: int, length: float, base: float, height: float) -> np.ndarray:
    x = (np.arange(nx) + 0.5) * length / nx
    return base - height * np.exp(-(((x - length / 2) / (length / 10)) ** 2))


# -- well-balancing ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base", "height", "dry_cells"),
    [(2.0, 1.5, False), (0.5, 1.0, True)],
    ids=["submerged-bump", "emerged-bump"],
)
def test_lake_at_rest_over_a_bump_stays_at_rest(
    base: float, height: float, dry_cells: bool, device: str
) -> None:
    cfg = BasinConfig(
        length=1000.0,
        nx=40,
        n_layers=4,
        bathymetry=_bump(40, 1000.0, base, height),
        viscosity=1e-2,
        diffusivity=1e-3,
        layer_fractions=(0.1, 0.2, 0.3, 0.4),
    )
    basin = MultilayerBasin(cfg, device=device)
    state = basin.initial_state(2, surface=0.0, tracers=[1.0, 3.0])
    assert bool((state.depth == 0).any()) is dry_cells
    eta0 = basin.surface_elevation(state).clone()
    state = basin.run(state, Forcing(), dt=4.0, duration=4.0 * 2000)
    wet = state.depth > 0
    assert float(state.velocity.abs().max()) <= 1e-12
    assert float(((basin.surface_elevation(state) - eta0) * wet).abs().max()) <= 1e-12
    assert float((state.tracers[:, 0] - 1.0).abs().max()) <= 1e-12
    assert state.depth.device.type == torch.device(device).type


def test_tide_at_its_mean_level_keeps_the_lake_at_rest() -> None:
    cfg = BasinConfig(
        length=1000.0,
        nx=20,
        n_layers=3,
        bathymetry=_bump(20, 1000.0, 2.0, 1.0),
        open_boundary=OpenBoundary("left", "elevation"),
    )
    basin = MultilayerBasin(cfg)
    state = basin.initial_state(surface=0.25)
    state = basin.run(state, Forcing(tide=0.25), dt=5.0, duration=5000.0)
    assert float(state.velocity.abs().max()) <= 1e-12
    assert float((basin.surface_elevation(state) - 0.25).abs().max()) <= 1e-12
    assert abs(float(state.inflow_volume[0])) <= 1e-14 * float(basin.volume(state)[0])


# -- dam breaks --------------------------------------------------------------------------------
def _dam_break_errors(resolutions: tuple[int, ...]) -> np.ndarray:
    """L1 errors (m2) of h at t = 30 s for Ritter (scenario 0) and Stoker (scenario 1)."""
    length, x0, t_end, g = 1000.0, 500.0, 30.0, 9.81
    errors = []
    for nx in resolutions:
        cfg = BasinConfig(
            length=length,
            nx=nx,
            n_layers=3,
            bathymetry=1.0,
            viscosity=0.0,
            diffusivity=0.0,
            bottom_drag=0.0,
            gravity=g,
        )
        basin = MultilayerBasin(cfg)
        x = torch.tensor(cfg.x, dtype=F64)
        depth = torch.stack([torch.where(x < x0, 1.0, 0.0), torch.where(x < x0, 1.0, 0.1)])
        state = basin.initial_state(2, depth=depth)
        # the dry front moves at 2 sqrt(g h_l): the step stays within the CFL limit all along
        n_steps = math.ceil(t_end / (cfg.cfl * cfg.dx / (2.0 * math.sqrt(g))))
        state = basin.run(state, Forcing(), dt=t_end / n_steps, duration=t_end)
        assert float(state.depth.min()) >= 0.0
        row = []
        for b, h_right in enumerate((0.0, 0.1)):
            exact, _ = analytic.stoker(cfg.x, t_end, x0=x0, h_left=1.0, h_right=h_right, gravity=g)
            row.append(float(np.abs(state.depth[b].numpy() - exact).sum() * cfg.dx))
        errors.append(row)
    return np.array(errors)


def test_dam_breaks_converge_to_ritter_and_stoker_at_the_first_order_rate() -> None:
    """L1 error of h against the exact solutions at four resolutions.

    The scheme is first order (kinetic solver with hydrostatic reconstruction, explicit Euler).
    On solutions with a shock or a dry front and the corners of a rarefaction, first-order
    monotone schemes converge in L1 at a rate between 1/2 (Kuznetsov 1976, USSR Comput. Math.
    Math. Phys. 16:105, the general bound) and 1 (Tang & Teng 1995, Math. Comp. 64:581, for
    convex fluxes); the observed slopes are about 0.65 (Ritter: the dry front and the corner
    of the fan dominate) and 0.76 (Stoker), see docs/ocean.md.
    """
    resolutions = (200, 400, 800, 1600)
    errors = _dam_break_errors(resolutions)
    assert np.all(np.diff(errors, axis=0) < 0)  # the error falls at every refinement
    slopes = -np.polyfit(np.log(resolutions), np.log(errors), 1)[0]
    assert 0.6 <= slopes[0] <= 1.0, slopes
    assert 0.6 <= slopes[1] <= 1.0, slopes
    # and the finest error is small against the water moved (~ 1 m over the 280 m fan)
    assert errors[-1, 0] < 2.0 and errors[-1, 1] < 2.0


def test_dam_break_onto_a_dry_slope_keeps_depths_and_tracers_positive() -> None:
    nx = 100
    x = (np.arange(nx) + 0.5) * 10.0
    bathymetry = np.where(x < 300, 2.0, 1.0 - (x - 300) / 400) - 0.8 * np.exp(
        -(((x - 600) / 60) ** 2)
    )
    cfg = BasinConfig(length=1000.0, nx=nx, n_layers=3, bathymetry=bathymetry, bottom_drag=0.0)
    basin = MultilayerBasin(cfg)
    gen = torch.Generator().manual_seed(3)
    depth = torch.tensor(np.where(x < 300, bathymetry + 1.0, 0.0))
    tracers = torch.rand(2, 2, nx, 3, generator=gen, dtype=F64) * 5.0
    state = basin.initial_state(2, depth=depth, tracers=tracers)
    volume, content = basin.volume(state), basin.tracer_content(state)
    low, high = tracers.amin(), tracers.amax()
    for _ in range(10):  # the bore runs up the beach and over the bump
        state = basin.run(state, Forcing(), dt=0.25, duration=10.0)
        assert float(state.depth.min()) >= 0.0
        assert float(state.tracers.min()) >= 0.0
        wet = (state.depth > 0)[:, None, :, None].expand_as(state.tracers)
        assert float(state.tracers[wet].min()) >= float(low) - 1e-12  # maximum principle
        assert float(state.tracers[wet].max()) <= float(high) + 1e-12
    assert bool((state.depth[:, x > 650] > 0).any())  # the water crossed the bump
    torch.testing.assert_close(basin.volume(state), volume, rtol=1e-13, atol=0.0)
    torch.testing.assert_close(basin.tracer_content(state), content, rtol=1e-12, atol=0.0)


# -- wind set-up -------------------------------------------------------------------------------
def test_wind_setup_matches_the_steady_analytic_slope() -> None:
    """Closed flat basin, no bottom stress: the steady slope is tau / (rho g H).

    The wind rises over 6 h (a sudden start would excite seiches that only the scheme's
    numerical diffusion damps); after a day the surface is averaged over the next 2 h
    (3.6 seiche periods). Tolerance 1e-3 of the slope: the residual seiche (< 5e-6 m) against
    the 1.6e-2 m set-up and the curvature of the exact profile (``H`` varies by 1e-3 along the
    basin; the fit over the interior cells removes most of it) are each below 5e-4.
    """
    length, depth, wind = 10_000.0, 10.0, 10.0
    cfg = BasinConfig(
        length=length, nx=20, n_layers=5, bathymetry=depth, viscosity=1e-2, bottom_drag=0.0
    )
    basin = MultilayerBasin(cfg)
    forcing = Forcing(wind=TimeSeries(np.array([0.0, wind]), interval=6 * 3600.0))
    state = basin.run(basin.initial_state(), forcing, dt=40.0, duration=86_400.0)
    seen: list[np.ndarray] = []
    basin.run(
        state,
        forcing,
        dt=40.0,
        duration=7200.0,
        callback=lambda s: seen.append(basin.surface_elevation(s)[0].numpy()),
    )
    eta = np.mean(seen, axis=0)
    stress = cfg.rho_air * cfg.wind_drag * wind**2
    expected = analytic.wind_setup_slope(depth, stress, cfg.rho_water, cfg.gravity)
    slope = np.polyfit(cfg.x[2:-2], eta[2:-2], 1)[0]
    assert slope == pytest.approx(expected, rel=1e-3)
    exact = analytic.wind_setup(
        cfg.x,
        length=length,
        mean_depth=depth,
        stress=stress,
        rho_water=cfg.rho_water,
        gravity=cfg.gravity,
    )
    assert np.abs(eta - exact)[2:-2].max() <= 2e-3 * np.ptp(exact)
    # a surface current downwind over a return flow at depth; the depth-mean velocity only
    # balances the scheme's numerical mass diffusion, ~ sqrt(g H) dx slope / (2 H) = 4e-4 m s-1
    u = state.velocity[0, cfg.nx // 2]
    assert float(u[0]) > 0 > float(u[-1])
    depth_mean = float((u * basin.fractions).sum())
    assert abs(depth_mean) < math.sqrt(cfg.gravity * depth) * cfg.dx * expected / depth
    assert abs(depth_mean) < 0.02 * float(u[0])


def test_wind_setup_analytic_keeps_the_volume() -> None:
    x = np.linspace(0, 10_000.0, 10_001)
    eta = analytic.wind_setup(x, length=10_000.0, mean_depth=2.0, stress=2.0)
    assert abs(np.trapezoid(eta, x)) < 1e-6 * 10_000.0
    assert eta[-1] > 0 > eta[0]
    assert np.all(analytic.wind_setup(x, length=10_000.0, mean_depth=2.0, stress=0.0) == 0)


# -- conservation ------------------------------------------------------------------------------
def test_closed_basin_conserves_water_and_tracers_over_a_year() -> None:
    """A year of variable winds over a cheap grid (5 cells of 40 km, 3 layers, 2-3.5 m deep)."""
    rng = np.random.default_rng(0)
    cfg = BasinConfig(
        length=200_000.0,
        nx=5,
        n_layers=3,
        bathymetry=[2.0, 2.5, 3.5, 3.0, 2.2],
        viscosity=1e-3,
        diffusivity=1e-4,
        bottom_drag=2.5e-3,
    )
    basin = MultilayerBasin(cfg)
    wind = TimeSeries(rng.uniform(-8.0, 8.0, (2, 366)), interval=86_400.0)
    tracers = torch.tensor(rng.uniform(0.5, 2.0, (2, 3, 5, 3)))
    state = basin.initial_state(2, tracers=tracers)
    volume, content = basin.volume(state), basin.tracer_content(state)
    state = basin.run(state, Forcing(wind=wind), dt=4800.0, duration=365 * 86_400.0)
    assert state.time == 365 * 86_400.0
    assert float(((basin.volume(state) - volume) / volume).abs().max()) <= 1e-10
    assert float(((basin.tracer_content(state) - content) / content).abs().max()) <= 1e-10
    assert float(state.velocity.abs().max()) > 1e-3  # the wind did move the water
    assert float(state.tracers.std(dim=(-1, -2)).max()) < float(tracers.std(dim=(-1, -2)).min())


def test_open_basin_budgets_close_with_tide_and_river() -> None:
    cfg = BasinConfig(
        length=10_000.0,
        nx=10,
        n_layers=3,
        bathymetry=10.0,
        open_boundary=OpenBoundary("right", "elevation"),
        river_cell=0,
    )
    basin = MultilayerBasin(cfg)
    times = np.arange(0, 50_000.0, 600.0)
    tide = TimeSeries(0.5 * np.sin(2 * np.pi * times / 44_714.0), interval=600.0)
    river = RiverSource(discharge=50.0, concentrations=[30.0, 0.0])
    forcing = Forcing(wind=5.0, tide=tide, boundary_tracers=[1.0, 2.0], river=river)
    state = basin.initial_state(2, tracers=[1.0, 2.0])
    volume, content = basin.volume(state), basin.tracer_content(state)
    state = basin.run(state, forcing, dt=72.0, duration=72.0 * 300)
    torch.testing.assert_close(
        basin.volume(state) - volume, state.inflow_volume, rtol=0, atol=1e-10 * float(volume[0])
    )
    torch.testing.assert_close(
        basin.tracer_content(state) - content,
        state.inflow_tracers,
        rtol=0,
        atol=1e-10 * float(content.max()),
    )
    assert float(state.tracers[:, 0, 0, 0].min()) > 1.0  # the river water is seen at its cell


def test_uniform_tracer_stays_uniform_under_tide_wind_river_and_bathymetry() -> None:
    cfg = BasinConfig(
        length=10_000.0,
        nx=12,
        n_layers=4,
        bathymetry=_bump(12, 10_000.0, 8.0, 4.0),
        open_boundary=OpenBoundary("left", "elevation"),
        river_cell=7,
        layer_fractions=(0.4, 0.3, 0.2, 0.1),
    )
    basin = MultilayerBasin(cfg)
    times = np.arange(0, 30_000.0, 600.0)
    tide = TimeSeries(0.8 * np.sin(2 * np.pi * times / 20_000.0), interval=600.0)
    wind = TimeSeries(np.array([0.0, 12.0, -6.0]), interval=10_000.0)
    forcing = Forcing(
        wind=wind,
        tide=tide,
        boundary_tracers=[3.0],
        river=RiverSource(discharge=200.0, concentrations=[3.0]),
    )
    state = basin.run(basin.initial_state(tracers=[3.0]), forcing, dt=60.0, duration=60.0 * 400)
    assert float(state.velocity.abs().max()) > 1e-2
    assert float((state.tracers - 3.0).abs().max()) <= 1e-12


def test_tracers_obey_the_maximum_principle_in_a_sheared_overturning_flow() -> None:
    """Upwinded horizontal and vertical fluxes: without diffusion no new extremes appear."""
    cfg = BasinConfig(
        length=10_000.0,
        nx=12,
        n_layers=5,
        bathymetry=_bump(12, 10_000.0, 8.0, 5.0),
        viscosity=1e-2,
        diffusivity=0.0,
    )
    basin = MultilayerBasin(cfg)
    gen = torch.Generator().manual_seed(4)
    tracers = 1.0 + torch.rand(1, 2, 12, 5, generator=gen, dtype=F64)
    tracers[:, 0] = torch.tensor([2.0, 1.0, 1.0, 1.0, 1.0], dtype=F64)  # a surface layer apart
    state = basin.initial_state(tracers=tracers)
    forcing = Forcing(wind=TimeSeries([15.0, -15.0, 15.0], interval=4 * 3600.0))
    for _ in range(8):
        state = basin.run(state, forcing, dt=60.0, duration=3600.0)
        low, high = tracers.amin((-1, -2)), tracers.amax((-1, -2))
        assert bool((state.tracers.amin((-1, -2)) >= low - 1e-12).all())
        assert bool((state.tracers.amax((-1, -2)) <= high + 1e-12).all())
    shear = state.velocity[0, :, 0] - state.velocity[0, :, -1]
    assert float(shear.abs().max()) > 0.05  # layers do move against each other
    assert float((state.tracers - tracers).abs().max()) > 0.1  # and carry the tracers


def test_discharge_boundary_adds_exactly_its_volume() -> None:
    cfg = BasinConfig(
        length=5000.0,
        nx=10,
        n_layers=2,
        bathymetry=5.0,
        open_boundary=OpenBoundary("left", "discharge"),
    )
    basin = MultilayerBasin(cfg)
    state = basin.initial_state(tracers=[0.0])
    volume = basin.volume(state)
    forcing = Forcing(inflow=100.0, boundary_tracers=[10.0])
    state = basin.run(state, forcing, dt=54.0, duration=5400.0)
    added = float(basin.volume(state) - volume)
    assert added == pytest.approx(100.0 * 5400.0, rel=1e-12)
    assert float(state.inflow_volume[0]) == pytest.approx(added, rel=1e-12)
    assert float(basin.tracer_content(state)[0, 0]) == pytest.approx(10.0 * added, rel=1e-12)
    assert float(state.velocity[0, 0].mean()) > 0  # water flows in from the left


def test_tide_reaches_the_head_of_a_short_basin_amplified_as_linear_theory() -> None:
    """Quarter-wave response: the far-end amplitude is ``A / cos(k L)``, ``k = omega / c``."""
    period, amplitude, depth, length = 44_714.0, 0.5, 10.0, 10_000.0
    cfg = BasinConfig(
        length=length,
        nx=10,
        n_layers=3,
        bathymetry=depth,
        bottom_drag=0.0,
        open_boundary=OpenBoundary("right", "elevation"),
    )
    basin = MultilayerBasin(cfg)
    times = np.arange(0, 3 * period, 600.0)
    tide = TimeSeries(amplitude * np.sin(2 * np.pi * times / period), interval=600.0)
    far: list[float] = []
    state = basin.run(basin.initial_state(), Forcing(tide=tide), dt=72.0, duration=72.0 * 900)
    basin.run(
        state,
        Forcing(tide=tide),
        dt=72.0,
        duration=72.0 * 700,
        callback=lambda s: far.append(float(basin.surface_elevation(s)[0, 0])),
    )
    k = 2 * np.pi / period / math.sqrt(cfg.gravity * depth)
    assert (max(far) - min(far)) / 2 == pytest.approx(amplitude / math.cos(k * length), rel=0.03)


# -- vertical mixing ---------------------------------------------------------------------------
def test_eigen_mixing_matches_the_tridiagonal_solve_and_conserves() -> None:
    gen = torch.Generator().manual_seed(5)
    fractions = torch.tensor([0.1, 0.2, 0.3, 0.25, 0.15], dtype=F64)
    mixing = ColumnMixing(fractions)
    depth = 1.0 + 20.0 * torch.rand(3, 7, generator=gen, dtype=F64)
    content = torch.rand(3, 7, 5, generator=gen, dtype=F64) * depth[..., None] * fractions
    dt, kappa = 600.0, 5e-3
    eigen = mixing.solve(content / depth[..., None], mixing.factors(dt * kappa / depth**2))
    thick = depth[..., None] * fractions
    tri = mix_tridiagonal(thick, torch.full((3, 7, 4), kappa, dtype=F64), content, dt, None)
    torch.testing.assert_close(eigen, tri, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close((eigen * thick).sum(-1), content.sum(-1), rtol=1e-13, atol=0.0)
    full = mixing.solve(content / depth[..., None], mixing.full_mixing)
    torch.testing.assert_close(full, (content.sum(-1) / depth)[..., None].expand_as(full))


def test_variable_diffusivity_equal_to_the_constant_gives_the_same_step() -> None:
    cfg = BasinConfig(
        length=20_000.0, nx=8, n_layers=4, bathymetry=_bump(8, 20_000.0, 6.0, 2.0), diffusivity=2e-3
    )
    basin = MultilayerBasin(cfg)
    gen = torch.Generator().manual_seed(2)
    state = basin.initial_state(2, tracers=torch.rand(2, 3, 8, 4, generator=gen, dtype=F64))
    state = basin.run(state, Forcing(wind=9.0), dt=120.0, duration=3600.0)
    constant = basin.step(state, Forcing(wind=9.0), 120.0)
    varied = basin.step(
        state, Forcing(wind=9.0), 120.0, diffusivity=torch.full((2, 8, 3), 2e-3, dtype=F64)
    )
    torch.testing.assert_close(varied.tracers, constant.tracers, rtol=1e-12, atol=1e-13)
    stronger = basin.step(
        state, Forcing(wind=9.0), 120.0, diffusivity=torch.full((2, 8, 3), 1.0, dtype=F64)
    )
    spread = stronger.tracers.std(-1).mean()
    assert float(spread) < float(constant.tracers.std(-1).mean())


def test_sinking_and_diffusion_match_the_water_column_model_in_a_lake_at_rest() -> None:
    """At rest over a flat bottom each cell is the column of :mod:`ecocube.ocean.physics`."""
    cfg = BasinConfig(length=400_000.0, nx=4, n_layers=10, bathymetry=50.0, diffusivity=3e-4)
    basin = MultilayerBasin(cfg)
    gen = torch.Generator().manual_seed(6)
    state = basin.initial_state(2, tracers=torch.rand(2, 3, 4, 10, generator=gen, dtype=F64))
    speeds = [0.0, 5.0 / 86_400, 50.0 / 86_400]  # dissolved, detritus, fast aggregates
    new = basin.step(state, Forcing(), 600.0, sinking=speeds)
    column = physics.implicit_column_step(
        state.tracers.permute(0, 2, 1, 3).reshape(8, 3, 10),
        torch.full((8, 9), 3e-4, dtype=F64),
        600.0,
        5.0,
        torch.tensor(speeds, dtype=F64),
    )
    torch.testing.assert_close(
        new.tracers, column.reshape(2, 4, 3, 10).permute(0, 2, 1, 3), rtol=1e-12, atol=1e-14
    )
    content = basin.tracer_content(state)
    for _ in range(50):
        state = basin.step(state, Forcing(), 3600.0, sinking=speeds)
    torch.testing.assert_close(basin.tracer_content(state), content, rtol=1e-13, atol=0.0)
    profile = state.tracers.mean((0, 2))  # (3, L)
    assert float(profile[2, -1]) > 5 * float(profile[2, 0]) > 0  # piled up at the bottom
    assert float(profile[0].std()) < 0.05  # the dissolved tracer is mixed


def test_bottom_drag_is_implicit_and_exact_for_a_uniform_current() -> None:
    """Away from the walls a uniform current only feels the drag on its bottom layer."""
    cfg = BasinConfig(
        length=20_000.0, nx=10, n_layers=3, bathymetry=5.0, bottom_drag=5e-3, viscosity=0.0
    )
    basin = MultilayerBasin(cfg)
    state = basin.initial_state(velocity=0.5)
    dt = 60.0
    new = basin.step(state, Forcing(), dt)
    h_b = 5.0 / 3
    expected = 0.5 * h_b / (h_b + dt * 5e-3 * 0.5)  # backward Euler, coefficient C_f |u^n|
    torch.testing.assert_close(
        new.velocity[0, 2:-2, -1], torch.full((6,), expected, dtype=F64), rtol=1e-14, atol=0.0
    )
    torch.testing.assert_close(
        new.velocity[0, 2:-2, :-1], torch.full((6, 2), 0.5, dtype=F64), rtol=1e-14, atol=0.0
    )
    # a drag far above the explicit limit (C_f |u| dt / h_b = 450) still only slows the flow
    strong = MultilayerBasin(dataclasses.replace(cfg, bottom_drag=5.0)).step(state, Forcing(), dt)
    assert 0.0 < float(strong.velocity[0, 5, -1]) < 0.01


# -- batching, callbacks, sources ---------------------------------------------------------------
def test_a_batch_equals_its_scenarios_run_one_by_one() -> None:
    cfg = BasinConfig(length=20_000.0, nx=8, n_layers=3, bathymetry=_bump(8, 20_000.0, 6.0, 2.0))
    basin = MultilayerBasin(cfg)
    winds = torch.tensor([-7.0, 0.0, 11.0], dtype=F64)
    tracers = torch.rand(3, 2, 8, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    both = basin.run(
        basin.initial_state(3, tracers=tracers), Forcing(wind=winds), dt=120.0, duration=7200.0
    )
    for b in range(3):
        one = basin.run(
            basin.initial_state(1, tracers=tracers[b : b + 1]),
            Forcing(wind=float(winds[b])),
            dt=120.0,
            duration=7200.0,
        )
        torch.testing.assert_close(one.velocity[0], both.velocity[b], rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(one.tracers[0], both.tracers[b], rtol=1e-13, atol=1e-15)


def test_callback_runs_every_n_steps_and_may_replace_the_tracers() -> None:
    cfg = BasinConfig(length=20_000.0, nx=6, n_layers=3, bathymetry=5.0)
    basin = MultilayerBasin(cfg)
    times: list[float] = []

    def decay(state):
        times.append(state.time)
        return state.replace(tracers=state.tracers * 0.5)

    state = basin.initial_state(tracers=[8.0])
    state = basin.run(state, Forcing(), dt=100.0, duration=1000.0, callback=decay, callback_every=4)
    assert times == [400.0, 800.0, 1000.0]
    torch.testing.assert_close(state.tracers, torch.full_like(state.tracers, 1.0))


def test_progress_display_reports_the_steps(capsys: pytest.CaptureFixture[str]) -> None:
    basin = MultilayerBasin(BasinConfig(length=20_000.0, nx=6, n_layers=2, bathymetry=5.0))
    state = basin.initial_state(tracers=[1.0])
    quiet = basin.run(state, Forcing(wind=5.0), dt=100.0, duration=500.0)
    shown = basin.run(state, Forcing(wind=5.0), dt=100.0, duration=500.0, progress=True)
    assert "multilayer basin" in capsys.readouterr().err
    torch.testing.assert_close(shown.velocity, quiet.velocity, rtol=0, atol=0)


def test_step_adds_tracer_sources_after_transport() -> None:
    cfg = BasinConfig(length=20_000.0, nx=6, n_layers=3, bathymetry=5.0)
    basin = MultilayerBasin(cfg)
    state = basin.initial_state(2, tracers=[1.0, 2.0])
    sources = torch.zeros_like(state.tracers)
    sources[:, 1] = 1e-3
    new = basin.step(state, Forcing(), 100.0, sources=sources)
    torch.testing.assert_close(new.tracers[:, 0], state.tracers[:, 0], rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(new.tracers[:, 1], state.tracers[:, 1] + 0.1, rtol=1e-14, atol=0)
    assert new.time == 100.0
    assert basin.layer_thickness(new).shape == (2, 6, 3)


def test_time_series_interpolates_linearly_and_holds_its_ends() -> None:
    cfg = BasinConfig(length=20_000.0, nx=6, n_layers=1, bathymetry=5.0)
    basin = MultilayerBasin(cfg)
    state = basin.initial_state()
    speed = basin.max_wave_speed(state, Forcing(wind=TimeSeries([0.0, 10.0], interval=100.0)))
    still = basin.max_wave_speed(state, Forcing(wind=0.0))
    assert speed > still  # the strongest wind of the series raises the estimate
    from ecocube.ocean.multilayer._forcing import PreparedSeries

    series = PreparedSeries(
        TimeSeries([[0.0, 10.0, 20.0]], interval=10.0, start=5.0), "w", 1, "cpu"
    )
    assert [float(series.at(t)[0]) for t in (0.0, 10.0, 20.0, 100.0)] == [0.0, 5.0, 15.0, 20.0]


# -- stability ---------------------------------------------------------------------------------
def test_impossible_dt_raises_before_the_run_naming_a_valid_one() -> None:
    cfg = BasinConfig(length=100_000.0, nx=10, n_layers=3, bathymetry=20.0)
    basin = MultilayerBasin(cfg)
    state = basin.initial_state()
    limit = cfg.cfl * cfg.dx / math.sqrt(cfg.gravity * 20.0)  # 571 s
    with pytest.raises(StabilityError, match=r"dt=900 s violates the CFL condition.*use dt=540 s"):
        basin.run(state, Forcing(), dt=900.0, duration=86_400.0)
    basin.check_time_step(540.0, state, Forcing())  # the named step is accepted
    assert 540 == day_divisor(limit) and 86_400 % 540 == 0
    # the forcing's highest tide deepens the water the check uses
    tidal = MultilayerBasin(
        BasinConfig(
            length=100_000.0, nx=10, n_layers=3, bathymetry=20.0, open_boundary=OpenBoundary()
        )
    )
    with pytest.raises(StabilityError, match=r"sqrt\(g H\)\)=17\.1\d m s-1\).*use dt=450 s"):
        tidal.check_time_step(
            540.0, tidal.initial_state(), Forcing(tide=TimeSeries([0, 10.0], 60.0))
        )
    with pytest.raises(StabilityError, match="positive number of seconds"):
        basin.check_time_step(-1.0, state, Forcing())


def test_a_run_that_outgrows_its_step_raises_naming_a_shorter_one() -> None:
    cfg = BasinConfig(length=1000.0, nx=50, n_layers=2, bathymetry=1.0)
    basin = MultilayerBasin(cfg)
    depth = torch.tensor(np.where(cfg.x < 500, 1.0, 0.0))
    state = basin.initial_state(depth=depth)
    dt = 0.99 * cfg.cfl * cfg.dx / math.sqrt(cfg.gravity)  # valid for the still water only
    with pytest.raises(StabilityError, match=r"dt must be <= \d\.\d+ s on the states reached"):
        basin.run(state, Forcing(), dt=dt, duration=dt * 100, check_every=10)


def test_positivity_condition_of_the_layer_exchanges_raises() -> None:
    """A thin middle layer through which the converging surface layer feeds the diverging bottom
    layer: the CFL condition holds, but the layer would pass more water in a step than it holds.
    """
    cfg = BasinConfig(length=1000.0, nx=10, layer_fractions=(0.49, 0.02, 0.49), bathymetry=1.0)
    basin = MultilayerBasin(cfg)
    velocity = torch.zeros(1, 10, 3, dtype=F64)
    velocity[0, :5, 0], velocity[0, 5:, 0] = 10.0, -10.0
    velocity[0, :5, 2], velocity[0, 5:, 2] = -10.0, 10.0
    tracers = torch.tensor([0.0, 1.0, 0.0], dtype=F64).expand(1, 1, 10, 3)  # in the thin layer
    state = basin.initial_state(velocity=velocity, tracers=tracers)
    dt = 0.95 * cfg.cfl * cfg.dx / (10.0 + math.sqrt(cfg.gravity))
    basin.check_time_step(dt, state, Forcing())  # the CFL condition holds
    with pytest.raises(
        StabilityError,
        match=r"positivity condition.*no whole-second step is that short: use dt <= 0\.408 s",
    ):
        basin.step(state, Forcing(), dt)
    unchecked = basin.step(state, Forcing(), dt, check=False)
    assert float(unchecked.tracers.min()) < -1.0  # what the check prevents
    new = basin.step(state, Forcing(), 0.4)
    assert float(new.depth.min()) > 0 and float(new.tracers.min()) >= 0


def test_a_non_finite_state_or_a_bad_step_raises() -> None:
    basin = MultilayerBasin(BasinConfig(length=1000.0, nx=5, n_layers=2, bathymetry=2.0))
    state = basin.initial_state()
    broken = state.replace(velocity=torch.full_like(state.velocity, float("nan")))
    with pytest.raises(StabilityError, match="became non-finite before t=0 s"):
        basin.step(broken, Forcing(), 1.0)
    with pytest.raises(StabilityError, match=r"dt=0\.0 s is not valid"):
        basin.step(state, Forcing(), 0.0)


def test_day_divisor() -> None:
    assert day_divisor(571.0) == 540
    assert day_divisor(86_400.0) == 86_400
    assert day_divisor(1e9) == 86_400
    assert day_divisor(1.5) == 1
    assert day_divisor(0.5) is None
    assert day_divisor(float("nan")) is None


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nx": 2}, r"nx=2 is not valid.*>= 3"),
        ({"nx": 4.0}, "nx=4.0 is not valid"),
        ({"n_layers": 0}, "n_layers=0 is not valid"),
        ({"layer_fractions": (0.5, 0.6)}, r"sum to 1\.1.*not 1"),
        ({"layer_fractions": (1.2, -0.2)}, "every fraction must be a positive number"),
        ({"layer_fractions": ()}, "every fraction must be a positive number"),
        ({"bathymetry": [1.0, 2.0]}, r"bathymetry has shape \(2,\), expected"),
        ({"bathymetry": -3.0}, "no cell below the reference level"),
        ({"bathymetry": float("nan")}, "NaN or infinite"),
        ({"length": -1.0}, r"length=-1\.0 is not valid"),
        ({"width": 0.0}, "width=0.0 is not valid"),
        ({"viscosity": -1e-3}, "viscosity=-0.001 is not valid"),
        ({"cfl": 1.5}, r"cfl=1\.5 is not valid.*\(0, 1\]"),
        ({"river_cell": 20}, r"river_cell=20 is not valid.*0\.\.19"),
        ({"open_boundary": "right"}, "pass an OpenBoundary"),
    ],
)
def test_bad_configs_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        BasinConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"side": "top"}, "side='top' is not valid"), ({"kind": "flux"}, "kind='flux' is not valid")],
)
def test_bad_open_boundaries_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        OpenBoundary(**kwargs)


def test_bad_initial_states_raise() -> None:
    basin = MultilayerBasin(BasinConfig(length=1000.0, nx=5, n_layers=2, bathymetry=2.0))
    with pytest.raises(InvalidInputError, match=r"negative or non-finite.*depths >= 0"):
        basin.initial_state(depth=torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(InvalidInputError, match="every cell is dry"):
        basin.initial_state(surface=-5.0)
    with pytest.raises(InvalidInputError, match="surface holds NaN"):
        basin.initial_state(surface=float("nan"))
    with pytest.raises(InvalidInputError, match="tracers hold negative"):
        basin.initial_state(tracers=[1.0, -2.0])
    with pytest.raises(InvalidInputError, match="batch=0 is not valid"):
        basin.initial_state(0)
    with pytest.raises(InvalidInputError, match=r"velocity has shape \(3,\), which does not"):
        basin.initial_state(velocity=torch.zeros(3))
    with pytest.raises(InvalidInputError, match="pass a BasinConfig"):
        MultilayerBasin({"nx": 5})  # type: ignore[arg-type]


def test_forcing_that_does_not_fit_the_basin_raises() -> None:
    closed = MultilayerBasin(BasinConfig(length=1000.0, nx=5, n_layers=2, bathymetry=2.0))
    tidal = MultilayerBasin(
        BasinConfig(length=1000.0, nx=5, n_layers=2, bathymetry=2.0, open_boundary=OpenBoundary())
    )
    state = closed.initial_state(2, tracers=[1.0])
    cases = [
        (closed, Forcing(tide=0.3), "no 'elevation' open boundary"),
        (closed, Forcing(inflow=3.0), "no 'discharge' open boundary"),
        (tidal, Forcing(), r"'elevation' open boundary: give Forcing\(tide=...\)"),
        (closed, Forcing(river=RiverSource(1.0)), "no river cell"),
        (closed, Forcing(wind=torch.zeros(3)), r"wind has shape \(3,\)"),
        (closed, Forcing(wind="strong"), "wind='strong' is not valid"),
        (closed, Forcing(wind=float("inf")), "wind holds NaN or infinite"),
        (closed, Forcing(wind=TimeSeries(np.zeros((3, 4)), 10.0)), "3 scenarios but the state"),
        (tidal, Forcing(tide=0.0, boundary_tracers=[1.0, 2.0]), r"boundary_tracers has shape"),
        (tidal, Forcing(tide=0.0, boundary_tracers=[-1.0]), "negative concentrations"),
        (closed, "windy", "pass a Forcing"),
    ]
    for basin, forcing, match in cases:
        with pytest.raises(InvalidInputError, match=match):
            basin.run(state, forcing, dt=1.0, duration=1.0)  # type: ignore[arg-type]
    river = MultilayerBasin(
        BasinConfig(length=1000.0, nx=5, n_layers=2, bathymetry=2.0, river_cell=2)
    )
    with pytest.raises(InvalidInputError, match="negative values; give a discharge >= 0"):
        river.step(state, Forcing(river=RiverSource(-1.0)), 1.0)


def test_bad_time_series_raise() -> None:
    with pytest.raises(InvalidInputError, match=r"shape \(\); expected \(n,\) or \(B, n\)"):
        TimeSeries(3.0, interval=1.0)
    with pytest.raises(InvalidInputError, match="NaN or infinite samples"):
        TimeSeries([1.0, float("nan")], interval=1.0)
    with pytest.raises(InvalidInputError, match="interval=0 is not valid"):
        TimeSeries([1.0], interval=0)


def test_bad_run_arguments_raise() -> None:
    basin = MultilayerBasin(BasinConfig(length=1000.0, nx=5, n_layers=2, bathymetry=2.0))
    state = basin.initial_state(tracers=[1.0])
    with pytest.raises(InvalidInputError, match=r"duration=25\.0 s is not a whole number.*dt=10 s"):
        basin.run(state, Forcing(), dt=10.0, duration=25.0)
    with pytest.raises(InvalidInputError, match="callback_every=0 is not valid"):
        basin.run(state, Forcing(), dt=10.0, duration=20.0, callback_every=0)
    with pytest.raises(InvalidInputError, match=r"sources have shape \(1, 2, 5, 2\)"):
        basin.step(state, Forcing(), 10.0, sources=torch.zeros(1, 2, 5, 2, dtype=F64))
    with pytest.raises(InvalidInputError, match=r"diffusivity has shape \(1, 5, 2\)"):
        basin.step(state, Forcing(), 10.0, diffusivity=torch.zeros(1, 5, 2, dtype=F64))
    with pytest.raises(
        InvalidInputError, match=r"sinking=\[1\.0, 2\.0\] is not valid: give 1 speeds"
    ):
        basin.step(state, Forcing(), 10.0, sinking=[1.0, 2.0])
    with pytest.raises(InvalidInputError, match=r"sinking=\[-1\.0\] is not valid"):
        basin.run(state, Forcing(), dt=10.0, duration=20.0, sinking=[-1.0])
    with pytest.raises(InvalidInputError, match="diffusivity holds negative"):
        basin.step(state, Forcing(), 10.0, diffusivity=torch.full((1, 5, 1), -1.0, dtype=F64))
    other = MultilayerBasin(BasinConfig(length=1000.0, nx=6, n_layers=2, bathymetry=2.0))
    with pytest.raises(InvalidInputError, match=r"state.depth has shape \(1, 5\); this basin"):
        other.run(state, Forcing(), dt=10.0, duration=20.0)
    with pytest.raises(InvalidInputError, match="pass a BasinState"):
        basin.step("state", Forcing(), 10.0)  # type: ignore[arg-type]


def test_analytic_solutions_refuse_bad_states() -> None:
    with pytest.raises(InvalidInputError, match="h_left > h_right >= 0"):
        analytic.stoker(np.zeros(3), 1.0, x0=0.0, h_left=1.0, h_right=2.0)
    with pytest.raises(InvalidInputError, match="must lie between 0 and h_left"):
        analytic.stoker_middle_state(1.0, 0.0)
    with pytest.raises(InvalidInputError, match="dries the upwind end"):
        analytic.wind_setup(np.zeros(3), length=1e5, mean_depth=0.1, stress=5.0)


def test_stoker_middle_state_satisfies_both_wave_relations() -> None:
    h_m, u_m, shock = analytic.stoker_middle_state(1.0, 0.1, 9.81)
    assert 0.1 < h_m < 1.0
    assert u_m == pytest.approx(2 * (math.sqrt(9.81) - math.sqrt(9.81 * h_m)), rel=1e-12)
    # Rankine-Hugoniot: mass and momentum across the shock
    assert shock * (h_m - 0.1) == pytest.approx(h_m * u_m, rel=1e-12)
    assert shock * h_m * u_m == pytest.approx(h_m * u_m**2 + 9.81 / 2 * (h_m**2 - 0.01), rel=1e-9)
    h, u = analytic.ritter(np.array([0.0, 500.0, 1000.0]), 10.0, x0=500.0, h_left=1.0)
    assert h.tolist() == [1.0, pytest.approx(4 / 9), 0.0] and u[1] == pytest.approx(
        2 / 3 * 3.1321, rel=1e-4
    )


# -- river loads -------------------------------------------------------------------------------
@requires_mirror
def test_river_load_of_the_rhine_meuse_mouths_converts_units_by_hand(mirror) -> None:
    load = river_load(51.5, 3.5)  # off the Scheldt estuary: nearest river cell 51N 4E
    assert load.cells == ((51.0, 4.0),)
    assert load.distances_km[0] == pytest.approx(65.6, abs=0.1)
    # the file holds DIN = 140 474.07 and DIC = 236 718.33 (10^6 g yr-1) at 51N 4E:
    #   140 474.07e6 g N / 14.0067 g mol-1 = 1.002906e10 mol N = 1.002906e13 mmol N per year
    #   / (365 * 86 400 s) = 318 019.5 mmol N s-1
    #   236 718.33e6 g C / 12.011 g mol-1 * 1e3 / 31 536 000 s = 624 951.2 mmol C s-1
    assert load.din == pytest.approx(318_019.5, rel=1e-6)
    assert load.dic == pytest.approx(624_951.2, rel=1e-6)
    with xr.open_dataset(
        mirror / "ocean_bgc/north_atlantic_2012/rivr2o_riverinputs_2000.nc", decode_times=False
    ) as raw:
        raw_din = float(raw["DIN"].sel(lat=51.0, lon=4.0))
        next_din = float(raw["DIN"].sel(lat=51.0, lon=2.0))
    assert raw_din == pytest.approx(140_474.07, rel=1e-7)
    two = river_load(51.5, 3.5, n_cells=2)
    assert two.cells[1] == (51.0, 2.0)
    assert two.din == pytest.approx((raw_din + next_din) * 1e9 / 14.0067 / 31_536_000, rel=1e-6)
    din, dic = load.concentrations(discharge=2500.0)  # m3 s-1 of the Rhine
    assert din == pytest.approx(318_019.5 / 2500.0, rel=1e-6)  # 127 mmol N m-3
    assert dic == pytest.approx(624_951.2 / 2500.0, rel=1e-6)
    assert river_load(51.5, 3.5, year=2002).din != load.din


@requires_mirror
def test_river_load_errors(mirror) -> None:
    with pytest.raises(InvalidInputError, match="not a point on the globe"):
        river_load(95.0, 0.0)
    with pytest.raises(InvalidInputError, match="year=1999 has no river-export file"):
        river_load(51.0, 4.0, year=1999)
    with pytest.raises(InvalidInputError, match="n_cells=0 is not valid"):
        river_load(51.0, 4.0, n_cells=0)
    with pytest.raises(InvalidInputError, match="n_cells=1000 but the 2000 file has only"):
        river_load(51.0, 4.0, n_cells=1000)
    with pytest.raises(InvalidInputError, match=r"discharge=0\.0 is not valid"):
        river_load(51.0, 4.0).concentrations(0.0)


def test_compiled_step_gives_the_eager_result() -> None:
    """The graph torch.compile captures (checked with its eager backend, which compiles fast)."""
    cfg = BasinConfig(length=20_000.0, nx=6, n_layers=3, bathymetry=_bump(6, 20_000.0, 6.0, 2.0))
    forcing = Forcing(wind=TimeSeries([0.0, 9.0], interval=3600.0))
    runs = []
    for compile in (False, "eager"):
        basin = MultilayerBasin(cfg, compile=compile)
        state = basin.initial_state(2, tracers=[1.0, 4.0])
        runs.append(basin.run(state, forcing, dt=240.0, duration=240.0 * 30))
    torch.testing.assert_close(runs[1].velocity, runs[0].velocity, rtol=0, atol=0)
    torch.testing.assert_close(runs[1].tracers, runs[0].tracers, rtol=0, atol=0)
    with pytest.raises(InvalidInputError, match="compile=1 is not valid"):
        MultilayerBasin(cfg, compile=1)  # type: ignore[arg-type]
