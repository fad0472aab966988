"""Phytoplankton response functions: CTMI, Bernard & Remond light, Beer-Lambert, Droop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ecocube.ocean import biology, sample_scenarios, simulate
from ecocube.ocean.parameters import DEFAULT_PARAMETERS

F64 = torch.float64


def s(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64)


@pytest.mark.parametrize("ptype", DEFAULT_PARAMETERS.phyto, ids=lambda p: p.name)
def test_ctmi_shape(ptype) -> None:
    tmin, topt, tmax = s(ptype.t_min), s(ptype.t_opt), s(ptype.t_max)
    assert float(biology.ctmi(tmin, tmin, topt, tmax)) == 0.0
    assert float(biology.ctmi(tmax, tmin, topt, tmax)) == 0.0
    assert float(biology.ctmi(topt, tmin, topt, tmax)) == pytest.approx(1.0, abs=1e-12)
    assert float(biology.ctmi(tmin - 5, tmin, topt, tmax)) == 0.0
    assert float(biology.ctmi(tmax + 5, tmin, topt, tmax)) == 0.0
    grid = torch.linspace(ptype.t_min, ptype.t_max, 2001, dtype=F64)
    phi = biology.ctmi(grid, tmin, topt, tmax)
    assert float(grid[phi.argmax()]) == pytest.approx(ptype.t_opt, abs=0.05)
    assert bool((phi >= 0).all() and (phi <= 1).all())
    # increasing below T_opt, decreasing above
    below, above = phi[grid < ptype.t_opt], phi[grid > ptype.t_opt]
    assert bool((below.diff() >= 0).all()) and bool((above.diff() <= 0).all())


def test_ctmi_matches_rosso_formula_at_a_point() -> None:
    # Tmin=0, Topt=20, Tmax=30, T=10: (10-30)(10)^2 / (20 [20(-10) - (-10)(0)]) = 0.5
    assert float(biology.ctmi(s(10.0), s(0.0), s(20.0), s(30.0))) == pytest.approx(0.5)


def test_light_response_bernard_remond() -> None:
    mu, alpha, iopt = s(1.5), s(0.02), s(60.0)
    assert float(biology.light_response(s(0.0), mu, alpha, iopt)) == 0.0
    assert float(biology.light_response(iopt, mu, alpha, iopt)) == pytest.approx(1.5)
    # initial slope alpha, photoinhibition above I_opt
    small = 1e-4
    assert float(biology.light_response(s(small), mu, alpha, iopt)) / small == pytest.approx(
        0.02, rel=1e-3
    )
    grid = torch.linspace(0.0, 400.0, 4001, dtype=F64)
    assert float(grid[biology.light_response(grid, mu, alpha, iopt).argmax()]) == pytest.approx(
        60.0
    )
    assert float(biology.light_response(s(300.0), mu, alpha, iopt)) < 1.5


def test_beer_lambert_layer_mean_and_self_shading() -> None:
    dz, kw = 10.0, 0.04
    par = torch.tensor([100.0], dtype=F64)
    clear = biology.layer_mean_light(par, torch.zeros(1, 5, dtype=F64), dz, kw, 0.025)
    expect = [100 * math.exp(-kw * dz * k) * (1 - math.exp(-kw * dz)) / (kw * dz) for k in range(5)]
    np.testing.assert_allclose(clear[0].numpy(), expect, rtol=1e-12)
    green = biology.layer_mean_light(par, torch.full((1, 5), 5.0, dtype=F64), dz, kw, 0.025)
    assert bool((green < clear).all())


@pytest.fixture(scope="module")
def run():
    return simulate(sample_scenarios(3, seed=2), years=1, n_layers=8, dt=21600.0)


def test_three_types_with_non_negative_pools_and_a_spring_bloom(run) -> None:
    assert run.sizes["phyto_type"] >= 3
    for name in ("phyc", "intphyc", "chl", "no3", "dissic", "intpp"):
        assert float(run[name].min()) >= 0.0, name
    chl = run["chl"].values
    assert bool((chl.max(1) > 5 * chl.min(1)).all())
    assert bool(((chl.argmax(1) > 20) & (chl.argmax(1) < 250)).all())
    # nitrate is drawn down by the bloom
    no3 = run["no3"].values
    assert bool((no3[:, 150:250].mean(1) < 0.5 * no3[:, :30].mean(1)).all())


def test_community_tracks_warming_unless_types_adapt() -> None:
    import pandas as pd

    base = dict(sample_scenarios(1, seed=0).iloc[0])
    rows = [{**base, "warming": w, "adaptation": a} for w, a in [(0, 0), (6, 0), (6, 1)]]
    ds = simulate(pd.DataFrame(rows), years=1, n_layers=8, dt=21600.0)
    # the surface warms by most of the imposed warming by the end of the horizon
    end = ds["tos"].isel(time=slice(-30, None)).mean("time").values
    assert 3.0 < end[1] - end[0] < 6.0
    # community-weighted mean thermal optimum of the summer-autumn surface community
    p = ds["phyc"].isel(time=slice(180, 300)).mean("time")
    cwm = ((p / p.sum("phyto_type")) * ds["t_opt"]).sum("phyto_type").values
    assert cwm[1] > cwm[0] + 0.5  # warm-adapted types take over
    assert abs(cwm[2] - cwm[0]) < 0.5 * (cwm[1] - cwm[0])  # adaptation cancels most of it


# --- acidification responses --------------------------------------------------------------

COCCO = next(p for p in DEFAULT_PARAMETERS.phyto if p.pic_poc > 0)


def _calc(omega, omega_ref, **kwargs):
    return biology.calcification_factor(
        omega,
        omega_ref,
        exponent=COCCO.calc_exponent,
        half_saturation=COCCO.calc_half_saturation,
        **kwargs,
    )


def _equilibrium_dic(pco2: torch.Tensor, talk: float, temp: float) -> torch.Tensor:
    """DIC (umol/kg) in equilibrium with ``pco2`` (uatm) at ``talk``, by bisection."""
    from ecocube.ocean import carbonate

    lo, hi = torch.full_like(pco2, 1500.0), torch.full_like(pco2, 2600.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        high = carbonate.pco2(mid, torch.full_like(mid, talk), torch.full_like(mid, temp)) > pco2
        lo, hi = torch.where(high, lo, mid), torch.where(high, mid, hi)
    return (lo + hi) / 2


def test_saturation_response_is_a_saturating_curve_above_the_threshold() -> None:
    omega = torch.linspace(0.0, 8.0, 81, dtype=F64)
    f = biology.saturation_response(omega, 1.0, 0.81, 1.9)
    assert bool((f[omega <= 1.0] == 0).all()) and bool((f < 1).all())
    assert bool((f[omega > 1.0].diff() > 0).all())
    x = 3.0**0.81
    assert float(f[40]) == pytest.approx(x / (1.9 + x), rel=1e-12)  # omega = 4
    flat = biology.saturation_response(omega, 0.0, 1.0, 0.0)  # K = 0: 1 wherever omega > 0
    assert float(flat[0]) == 0.0 and bool((flat[1:] == 1.0).all())


def test_higher_co2_lowers_omega_and_calcification() -> None:
    from ecocube.ocean import carbonate

    pco2 = torch.tensor([280.0, 400.0, 560.0, 800.0, 1000.0], dtype=F64)
    dic = _equilibrium_dic(pco2, 2300.0, 15.0)
    omega = carbonate.omega_calcite(dic, torch.full_like(dic, 2300.0), torch.full_like(dic, 15.0))
    assert bool((omega.diff() < 0).all())
    factor = _calc(omega, omega[1])  # reference: 400 uatm
    assert float(factor[1]) == pytest.approx(1.0, abs=1e-12)
    assert bool((factor.diff() < 0).all()) and float(factor[0]) > 1.0
    # the calibration of calc_half_saturation: a doubling (400 -> 800) costs ~30 %
    assert float(factor[3]) == pytest.approx(0.70, abs=0.02)
    growth = biology.omega_growth_factor(omega, omega[1], half_saturation=COCCO.omega_growth_half)
    assert bool((growth.diff() < 0).all())
    assert float(growth[3]) == pytest.approx(0.95, abs=0.01)  # growth falls much less
    assert bool((growth[3:] > factor[3:]).all())


def test_calcification_stops_below_saturation_and_approaches_ridgwell_power_law() -> None:
    omega = torch.tensor([0.5, 1.0, 1.5, 2.5, 4.0], dtype=F64)
    factor = _calc(omega, 4.0)
    assert float(factor[0]) == 0.0 and float(factor[1]) == 0.0
    # K -> infinity: the ratio becomes ((Omega - 1) / (Omega_ref - 1))^eta
    power = biology.calcification_factor(omega, 4.0, exponent=0.81, half_saturation=1e12)
    expect = ((omega - 1.0).clamp_min(0.0) / 3.0) ** 0.81
    torch.testing.assert_close(power, expect, rtol=1e-9, atol=1e-12)
    # an undersaturated reference has no calcite to scale: factor 1
    assert bool((_calc(omega, 0.9) == 1.0).all())


@pytest.mark.parametrize(
    "factor",
    [
        lambda x, ref, **kw: _calc(x, ref, **kw),
        lambda x, ref, **kw: biology.omega_growth_factor(x, ref, half_saturation=0.3, **kw),
        lambda x, ref, **kw: biology.co2_growth_factor(100 * x, 100 * ref, slope=-1e-3, **kw),
    ],
    ids=["calcification", "omega_growth", "co2_growth"],
)
def test_sensitivity_and_adaptation_scale_the_response(factor) -> None:
    x = torch.tensor([1.5, 2.0, 3.0, 4.0, 6.0], dtype=F64)
    ref = 4.0
    full = factor(x, ref)
    assert not bool((full == 1.0).all())  # the response is there
    assert bool((factor(x, ref, sensitivity=0.0) == 1.0).all())  # no response
    assert bool((factor(x, ref, adaptation=1.0) == 1.0).all())  # fully adapted
    torch.testing.assert_close(factor(x, ref, sensitivity=2.0), full**2)  # twice as strong
    # half adapted: the response to half the change
    torch.testing.assert_close(factor(x, ref, adaptation=0.5), factor((x + ref) / 2, ref))
    # the change since the reference moves the factor away from 1 monotonically
    assert bool(((full - 1.0) * (factor(x, ref, adaptation=0.5) - 1.0) >= 0).all())


def test_co2_growth_factor_is_linear_in_pco2_and_never_negative() -> None:
    pco2 = torch.tensor([300.0, 400.0, 800.0, 5000.0], dtype=F64)
    up = biology.co2_growth_factor(pco2, 400.0, slope=1e-4)
    torch.testing.assert_close(up, 1.0 + 1e-4 * (pco2 - 400.0))
    down = biology.co2_growth_factor(pco2, 400.0, slope=-1e-3)
    assert float(down[-1]) == 0.0 and bool((down >= 0).all())
    assert bool((biology.co2_growth_factor(pco2, 400.0, slope=0.0) == 1.0).all())


def test_factors_broadcast_over_scenarios_types_and_layers() -> None:
    n, n_types, n_layers = 3, len(DEFAULT_PARAMETERS.phyto), 5
    omega = torch.linspace(2.0, 4.0, n * n_layers, dtype=F64).reshape(n, 1, n_layers)
    ref = torch.full((n, 1, n_layers), 3.5, dtype=F64)
    trait = torch.tensor([p.omega_growth_half for p in DEFAULT_PARAMETERS.phyto], dtype=F64)
    slope = torch.tensor([p.co2_growth for p in DEFAULT_PARAMETERS.phyto], dtype=F64)
    sens = torch.tensor([0.0, 1.0, 2.0], dtype=F64)[:, None, None]
    adapt = torch.tensor([0.0, 0.5, 0.0], dtype=F64)[:, None, None]
    growth = biology.omega_growth_factor(
        omega, ref, half_saturation=trait[None, :, None], sensitivity=sens, adaptation=adapt
    )
    co2 = biology.co2_growth_factor(
        100 * omega, 350.0, slope=slope[None, :, None], sensitivity=sens, adaptation=adapt
    )
    for f in (growth, co2):
        assert f.shape == (n, n_types, n_layers) and f.dtype == F64
        assert bool((f[0] == 1.0).all())  # sensitivity 0
    # non-calcifiers (K_g = 0) are exactly neutral to Omega, whatever the scenario
    assert bool((growth[:, trait == 0] == 1.0).all())
    assert not bool((growth[1:, trait > 0] == 1.0).all())
