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
