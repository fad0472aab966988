"""Water column: tridiagonal solver, mass conservation, KPP-lite closure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecocube.ocean import physics, sample_scenarios, simulate
from ecocube.ocean.parameters import DEFAULT_PARAMETERS

PHYS = DEFAULT_PARAMETERS.physics
F64 = torch.float64


def test_thomas_solver_matches_dense_solve() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 12
    lower = -torch.rand(3, 2, n, generator=gen, dtype=F64)
    upper = -torch.rand(3, 2, n, generator=gen, dtype=F64)
    diag = 1.0 + lower.abs() + upper.abs() + torch.rand(3, 2, n, generator=gen, dtype=F64)
    rhs = torch.rand(3, 2, n, generator=gen, dtype=F64)
    x = physics.solve_tridiagonal(lower, diag, upper, rhs)
    dense = torch.diag_embed(diag) + torch.diag_embed(lower[..., 1:], -1)
    dense = dense + torch.diag_embed(upper[..., :-1], 1)
    torch.testing.assert_close(dense @ x[..., None], rhs[..., None], rtol=1e-12, atol=1e-12)


@pytest.fixture
def one_thread():
    """Run with one torch thread (as simulate does); LAPACK threads thrash on a busy 2-core box."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_implicit_step_conserves_tracer_mass_over_a_year(one_thread) -> None:
    gen = torch.Generator().manual_seed(1)
    c0 = torch.rand(4, 3, 20, generator=gen, dtype=F64)
    sinking = torch.tensor([0.0, 5.0, 50.0], dtype=F64) / 86400
    c = c0.clone()
    for _step in range(2920):  # one year at dt = 3 h, with a different K every step
        k = 10 ** (-5 + 4 * torch.rand(4, 19, generator=gen, dtype=F64))
        c = physics.implicit_column_step(c, k, 10800.0, 7.5, sinking)
    rel = ((c.sum(-1) - c0.sum(-1)).abs() / c0.sum(-1)).max()
    assert float(rel) <= 1e-6
    assert float(rel) <= 1e-12  # round-off in float64
    assert bool((c >= 0).all())
    # sinking tracers pile up at the bottom, the passive one is mixed
    assert float(c[:, 2, -1].mean()) > float(c[:, 2, 0].mean()) * 10


def test_strong_mixing_homogenises_the_column() -> None:
    c = torch.zeros(1, 1, 10, dtype=F64)
    c[..., 0] = 10.0
    k = torch.full((1, 9), 0.1, dtype=F64)
    for _ in range(200):
        c = physics.implicit_column_step(c, k, 3600.0, 5.0)
    torch.testing.assert_close(c, torch.full_like(c, 1.0), rtol=1e-6, atol=1e-6)


def _profile(surface_warming: float) -> torch.Tensor:
    z = (torch.arange(20, dtype=F64) + 0.5) * 7.5
    return 10.0 + surface_warming * torch.exp(-z / 20.0)[None, :]


def test_boundary_layer_deepens_with_wind_and_shoals_with_stratification() -> None:
    temp = _profile(4.0)
    depths = [
        float(
            physics.boundary_layer_depth(
                temp, physics.friction_velocity(torch.tensor([u], dtype=F64), PHYS), 7.5, PHYS
            )[0]
        )
        for u in (3.0, 8.0, 15.0)
    ]
    assert depths[0] < depths[1] < depths[2]
    ustar = physics.friction_velocity(torch.tensor([8.0], dtype=F64), PHYS)
    strong = physics.boundary_layer_depth(_profile(8.0), ustar, 7.5, PHYS)
    assert float(strong[0]) < depths[1]
    # a homogeneous column is mixed to the bottom
    flat = physics.boundary_layer_depth(torch.full((1, 20), 10.0, dtype=F64), ustar, 7.5, PHYS)
    assert float(flat[0]) == pytest.approx(150.0)


def test_unstable_stratification_triggers_convection() -> None:
    temp = _profile(4.0).clone()
    temp[0, 5] = 20.0  # warm water below cooler water at interface 5|6? (layer 5 warmer)
    ustar = torch.tensor([0.005], dtype=F64)
    h = physics.boundary_layer_depth(temp, ustar, 7.5, PHYS)
    k = physics.diffusivity(temp, ustar, h, 7.5, PHYS)
    assert float(k[0, 4]) == PHYS.k_convective  # layer 5 warmer than layer 4 above it
    assert bool((k > 0).all())
    assert float(k[0, -1]) == pytest.approx(PHYS.k_background)


@pytest.fixture(scope="module")
def closed_run():
    scen = sample_scenarios(3, seed=4)
    return simulate(scen, years=1, n_layers=10, closed=True)


def test_closed_column_conserves_nitrogen_and_carbon_over_a_year(closed_run) -> None:
    for name in ("total_nitrogen", "total_carbon"):
        total = closed_run[name].values
        rel = np.abs(total - total[:, :1]).max() / np.abs(total[:, :1]).min()
        assert rel <= 1e-6, name
    # the run is not trivial: biology moved a large part of the nitrogen through phytoplankton
    assert float(closed_run["intpp"].sum("time").min()) > 1000.0


def test_open_column_budget_closes_with_the_air_sea_flux() -> None:
    # with the deep restoring switched off by a huge relaxation time the DIC change equals the
    # integrated fgco2 (the only source): total carbon gained = sum(fgco2) * 1 day
    import dataclasses

    params = dataclasses.replace(
        DEFAULT_PARAMETERS,
        physics=dataclasses.replace(PHYS, relax_deep_days=1e30),
    )
    ds = simulate(sample_scenarios(2, seed=5), years=1, n_layers=8, dt=21600.0, parameters=params)
    total = ds["total_carbon"].values
    gained = total[:, -1] - total[:, 0]
    # daily-mean fgco2 from day 2 onward matches the end-of-day totals from day 1 onward
    flux = ds["fgco2"].values[:, 1:].sum(-1)
    np.testing.assert_allclose(gained, flux, rtol=1e-6, atol=1e-6 * np.abs(total[:, 0]).max())
