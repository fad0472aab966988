"""Index head of the POD-MLP: exact flux sums, series matching, training and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from ecocube.errors import DataIntegrityError, InvalidInputError
from ecocube.ocean.indices import annual_co2_uptake, bloom_timing, compute_indices
from ecocube.ocean.scenarios import sample_scenarios
from ecocube.ocean.surrogate import Surrogate
from ecocube.ocean.surrogate._data import ensemble_table, scenario_features
from ecocube.ocean.surrogate._indices import (
    flux_weights,
    head_targets,
    match_bloom_day,
    match_uptake,
)
from tests.ocean.test_surrogate import synthetic_ensemble


def _as_ds(name: str, values: np.ndarray) -> xr.Dataset:
    return xr.Dataset(
        {name: (("scenario", "time"), values)}, coords={"scenario": np.arange(len(values))}
    )


def test_flux_weights_follow_the_flux_law() -> None:
    table = sample_scenarios(3, seed=2).assign(co2_trend=0.0)
    a, b = flux_weights(table, 365)
    assert (a > 0).all()
    # without a CO2 trend the flux-weighted air pCO2 is the starting CO2
    np.testing.assert_allclose(b / a, table["co2_start"].to_numpy(), rtol=1e-12)
    # the transfer velocity goes with wind squared; the temperature does not depend on wind
    a2, _ = flux_weights(table.assign(wind=2.0 * table["wind"]), 365)
    np.testing.assert_allclose(a2 / a, 4.0, rtol=1e-12)
    # two identical years: per-year sums are unchanged
    a_two, _ = flux_weights(table, 730)
    assert a_two == pytest.approx(a, rel=2e-3)


def test_match_uptake_sets_the_annual_integral() -> None:
    rng = np.random.default_rng(0)
    fgco2 = rng.normal(0.0, 5.0, (4, 365)).astype("float32")
    target = np.array([-1.2, 0.0, 0.03, 2.5])
    out = match_uptake(fgco2, target)
    assert out.dtype == fgco2.dtype and out.shape == fgco2.shape
    got = annual_co2_uptake(_as_ds("fgco2", out)).values
    np.testing.assert_allclose(got, target, atol=1e-5)
    # a constant shift: the day-to-day variations are those of the input
    np.testing.assert_allclose(np.diff(out, axis=1), np.diff(fgco2, axis=1), atol=1e-5)


def test_match_bloom_day_moves_the_peak_and_keeps_the_shape() -> None:
    day = np.arange(365) + 1.0
    flat = 1.0 + np.exp(-(((day - 150.0) / 40.0) ** 4))  # plateau around day 150
    sharp = 1.0 + np.exp(-(((day - 150.0) / 10.0) ** 2))  # clear peak on day 150
    chl = np.stack([flat, sharp, sharp])
    out, moved = match_bloom_day(chl, np.array([160.4, 170.0, 150.0]))
    assert moved.tolist() == [True, True, False]
    assert bloom_timing(_as_ds("chl", out)).values.tolist() == [160.0, 170.0, 150.0]
    np.testing.assert_allclose(out.max(1), chl.max(1))  # the peak value is kept
    np.testing.assert_array_equal(out[2], chl[2])  # already on the target day
    # the warp is local: far from the bloom the series is unchanged
    np.testing.assert_allclose(out[:2, :60], chl[:2, :60], rtol=1e-9)
    np.testing.assert_allclose(out[:2, 280:], chl[:2, 280:], rtol=1e-9)
    # the sharp peak is moved, not flattened: its width changes by a few days at most
    assert abs(int((out[1] > 1.5).sum()) - int((chl[1] > 1.5).sum())) <= 3


@pytest.fixture(scope="module")
def head_surrogate() -> Surrogate:
    torch.manual_seed(0)
    ens = synthetic_ensemble(sample_scenarios(96, seed=0))
    return Surrogate.create(
        "pod_mlp",
        max_epochs=120,
        members=2,
        width=32,
        modes=8,
        depth=2,
        batch_size=16,
        lr=5e-3,
        head_members=3,
    ).fit(ens)


def test_head_targets_invert_to_the_indices() -> None:
    ens = synthetic_ensemble(sample_scenarios(8, seed=1))
    table = ensemble_table(ens)
    y = head_targets(ens, table)
    a, b = flux_weights(table, 365)
    np.testing.assert_allclose(b - a * y[:, 0], annual_co2_uptake(ens).values, rtol=1e-9)
    np.testing.assert_allclose(y[:, 1], bloom_timing(ens).values)


def test_head_predictions_are_the_indices_of_the_series(
    head_surrogate: Surrogate, tmp_path: Path
) -> None:
    sur = head_surrogate
    assert sur.head is not None
    # head_members sets the members per index independently of the POD ensemble
    assert len(sur.nets) == 2 and sur.head.members == 3 and len(sur.head.nets) == 2 * 3
    new = sample_scenarios(8, seed=11)
    pred = sur.predict(new)
    head = sur.head.predict(new, 365)
    idx = compute_indices(pred)
    # fgco2 carries the head's uptake exactly (float32 series)
    np.testing.assert_allclose(idx["co2_uptake"], head["co2_uptake"], atol=1e-4)
    # the synthetic bloom is at day 120 + 5 * warming: the head learnt it to a few days
    truth = compute_indices(synthetic_ensemble(new))
    assert np.abs(head["bloom_day"] - truth["bloom_day"].to_numpy()).max() < 4.0
    rel = np.abs(idx["co2_uptake"] / truth["co2_uptake"] - 1.0)
    assert float(rel.median()) < 0.1
    # the batched evaluation of all members equals evaluating them one by one
    x = torch.as_tensor(scenario_features(new))
    with torch.no_grad():
        z = torch.cat([net(x) for net in sur.head.nets], 1).numpy()
    z = z.reshape(len(new), 2, -1).mean(-1)
    assert sur.head.gp is not None  # 96 scenarios: the uptake is the mean of MLPs and GP
    z[:, 0] = 0.5 * (z[:, 0] + sur.head.gp.predict(scenario_features(new)))
    z = z * sur.head.std + sur.head.mean
    np.testing.assert_allclose(head["bloom_day"], z[:, 1], rtol=1e-5)
    a, b = flux_weights(new, 365)
    np.testing.assert_allclose(head["co2_uptake"], b - a * z[:, 0], rtol=1e-4, atol=1e-4)
    again = Surrogate.load(sur.save(tmp_path / "with_head"))
    assert again.head is not None and again.head.members == 3
    xr.testing.assert_allclose(again.predict(new), pred)


def test_distilled_head_follows_the_ensemble_mean(
    head_surrogate: Surrogate, tmp_path: Path
) -> None:
    """One student per index fitted to the members' mean: it reproduces the mean closely,
    costs one member per index, and saves and loads like any head."""
    import copy

    sur = copy.deepcopy(head_surrogate)
    teacher = sur.head
    sur.distil_head(n_scenarios=4000, epochs=40, seed=0)
    assert sur.head is not teacher and sur.head.members == 1 and len(sur.head.nets) == 2
    assert sur.head.distilled_from == 3 and sur.config.distil_head
    new = sample_scenarios(64, seed=12)
    t, s = teacher.predict(new, 365), sur.head.predict(new, 365)
    # the learnt targets (effective pCO2, bloom day) within a small part of their spread
    a, b = flux_weights(new, 365)
    for key, to_target in (("co2_uptake", lambda u: (b - u) / a), ("bloom_day", lambda d: d)):
        tt, ss = to_target(t[key]), to_target(s[key])
        err = np.abs(ss - tt).mean()
        assert err < 0.1 * tt.std(), (key, err, tt.std())
    again = Surrogate.load(sur.save(tmp_path / "distilled"))
    assert again.head.members == 1 and again.head.distilled_from == 3
    xr.testing.assert_allclose(again.predict(new), sur.predict(new))
    with pytest.raises(InvalidInputError, match="n_scenarios=10 must be >= 100"):
        teacher.distil(n_scenarios=10)
    # or at training time: the trained surrogate carries a one-member head
    ens = synthetic_ensemble(sample_scenarios(24, seed=0))
    trained = Surrogate.create(
        "pod_mlp",
        max_epochs=3,
        members=2,
        width=16,
        modes=4,
        depth=1,
        head_members=2,
        distil_head=True,
        distil_scenarios=500,
        distil_epochs=2,
    ).fit(ens)
    assert trained.head.members == 1 and trained.head.distilled_from == 2
    with pytest.raises(InvalidInputError, match="distil_epochs=0 must be an integer >= 1"):
        Surrogate.create("pod_mlp", distil_epochs=0)


def test_without_head_the_saved_layout_is_unchanged(tmp_path: Path) -> None:
    ens = synthetic_ensemble(sample_scenarios(24, seed=0))
    sur = Surrogate.create(
        "pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1, index_head=False
    ).fit(ens)
    assert sur.head is None
    out = sur.save(tmp_path / "plain")
    keys = torch.load(out / "weights.pt", weights_only=True).keys()
    assert all(not k.startswith(("nets.", "head.")) for k in keys)
    again = Surrogate.load(out)
    assert again.head is None and again.config.index_head is False
    new = sample_scenarios(3, seed=4)
    xr.testing.assert_allclose(again.predict(new), sur.predict(new))


def test_matern_gp_is_the_exact_gp_with_all_points_inducing_and_close_with_fewer() -> None:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    from ecocube.ocean.surrogate._gp import MaternGP

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (120, 3))
    f = lambda v: np.sin(2 * v[:, 0]) + v[:, 1] ** 2 - 0.5 * v[:, 0] * v[:, 2]  # noqa: E731
    y = f(x) + 0.01 * rng.standard_normal(len(x))
    gp = MaternGP(inducing=500).fit(x, y, seed=0)
    assert len(gp.x) == len(x)  # fewer points than inducing: every point is one
    kernel = ConstantKernel(gp.amplitude**2, "fixed") * Matern(
        gp.length_scale, "fixed", nu=2.5
    ) + WhiteKernel(gp.noise, "fixed")
    exact = GaussianProcessRegressor(kernel, optimizer=None).fit(x, y)
    new = rng.uniform(-1, 1, (50, 3))
    # equal up to the rounding of an ill-conditioned kernel matrix (condition number ~1e10
    # for these smooth data), far below the noise sd of 0.01
    np.testing.assert_allclose(gp.predict(new), exact.predict(new), atol=2e-3)
    # the noise term was learnt near the true 0.01 sd, and the function is recovered
    assert 1e-5 < gp.noise < 1e-3
    assert np.sqrt(np.mean((gp.predict(new) - f(new)) ** 2)) < 0.05 * f(new).std()
    sparse = MaternGP(inducing=60).fit(x, y, seed=0)
    assert len(sparse.x) == 60
    assert np.sqrt(np.mean((sparse.predict(new) - f(new)) ** 2)) < 0.1 * f(new).std()
    meta, arrays = sparse.state()
    np.testing.assert_array_equal(
        MaternGP.from_state(meta, arrays).predict(new), sparse.predict(new)
    )
    with pytest.raises(InvalidInputError, match="at least 10 points"):
        MaternGP().fit(x[:5], y[:5])
    with pytest.raises(InvalidInputError, match="not finite"):
        MaternGP().fit(np.where(x > 0.9, np.nan, x), y)
    with pytest.raises(InvalidInputError, match="not fitted"):
        MaternGP().predict(new)


def test_uptake_gp_needs_enough_scenarios_and_its_arrays(tmp_path: Path) -> None:
    small = Surrogate.create("pod_mlp", max_epochs=2, members=1, width=8, modes=4, depth=1).fit(
        synthetic_ensemble(sample_scenarios(16, seed=0))
    )
    assert small.head is not None and small.head.gp is None  # < 20 training scenarios
    ens = synthetic_ensemble(sample_scenarios(40, seed=0))
    sur = Surrogate.create("pod_mlp", max_epochs=2, members=1, width=8, modes=4, depth=1).fit(ens)
    assert sur.head.gp is not None
    off = Surrogate.create(
        "pod_mlp", max_epochs=2, members=1, width=8, modes=4, depth=1, uptake_gp=False
    ).fit(ens)
    assert off.head.gp is None
    out = sur.save(tmp_path / "gp")
    arrays = dict(np.load(out / "arrays.npz"))
    np.savez(out / "arrays.npz", **{k: v for k, v in arrays.items() if not k.startswith("head_gp")})
    with pytest.raises(
        DataIntegrityError,
        match=r"arrays.npz' does not match config.json .*lacks the index head's GP",
    ):
        Surrogate.load(out)
