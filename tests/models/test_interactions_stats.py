"""Interaction probabilities from joint samples: recovery of a simulated community's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.integrated import IntegratedConfig, IntegratedData, IntegratedSDM
from ecocube.models.interactions import (
    cell_statistics,
    joint_samples,
    match_species,
    read_metaweb,
)

SPECIES = ("s0", "s1", "s2", "s3", "s4", "s5")
#: Residual loadings of one latent factor: s0, s1 and s4 share it; s2 and s5 oppose it.
LOADINGS = np.array([1.6, 1.4, -1.4, 0.0, 1.2, -1.2])
EDGES = pd.DataFrame(
    {
        "consumer": ["s0", "s2", "s4", "s5", "s0", "s4", "s3"],
        "resource": ["s1", "s1", "s0", "s3", "s2", "s5", "s1"],
        "probability": [0.8, 0.5, 1.0, 0.6, 0.7, 0.9, 0.4],
    }
)


def _community(seed: int = 0, n: int = 800) -> dict:
    rng = np.random.default_rng(seed)
    beta = rng.normal(0, 0.7, size=(len(SPECIES), 2))
    alpha = rng.normal(-0.3, 0.3, size=len(SPECIES))
    x = rng.normal(size=(n, 2)).astype(np.float32)
    u = rng.normal(size=n)
    eta = alpha + x @ beta.T + u[:, None] * LOADINGS
    y = (rng.random(eta.shape) < 1 - np.exp(-np.exp(eta))).astype(np.float32)
    return {"x": x, "y": y, "alpha": alpha, "beta": beta}


def _truth(sim: dict, x: np.ndarray, web) -> tuple[np.ndarray, np.ndarray]:
    """Exact P(interaction realised) per (edge, site), joint and product of marginals."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    w = weights / weights.sum()
    eta = sim["alpha"] + x @ sim["beta"].T  # (n, S)
    p = 1 - np.exp(-np.exp(eta[None] + nodes[:, None, None] * LOADINGS))  # (K, n, S)
    c, r, q = web.consumer, web.resource, web.probability
    joint = np.einsum("k,kne->en", w, p[:, :, c] * p[:, :, r]) * q[:, None]
    marg = np.einsum("k,kns->ns", w, p)
    return joint, (marg[:, c] * marg[:, r] * q).T


@pytest.fixture(scope="module")
def fitted() -> dict:
    sim = _community()
    data = IntegratedData(
        n_species=len(SPECIES), x_survey=sim["x"], y_survey=sim["y"], species=SPECIES
    )
    cfg = IntegratedConfig(steps=600, num_samples=100, lr=0.05, seed=0, n_factors=1)
    return {"sim": sim, "model": IntegratedSDM(cfg).fit(data)}


def test_joint_samples_recover_simulated_interaction_probabilities(fitted: dict) -> None:
    """Metric: Pearson r and RMSE over (edge, site) of P(interaction realised) against the
    exact truth of the simulated community; the joint estimate must reach r >= 0.9 and a
    lower RMSE than the model's product of marginals."""
    web = match_species(SPECIES, read_metaweb(EDGES))
    x_test = np.random.default_rng(9).normal(size=(300, 2)).astype(np.float32)
    truth, truth_indep = _truth(fitted["sim"], x_test, web)
    # the simulated co-occurrence matters: the product of the true marginals is far off
    assert np.sqrt(np.mean((truth - truth_indep) ** 2)) > 0.04
    z, pi = joint_samples(fitted["model"], x_test, 2000, seed=1)
    stats = cell_statistics(web, samples=z, probabilities=pi)
    joint, indep = stats["interaction"], stats["interaction_independent"]
    r_joint = np.corrcoef(joint.ravel(), truth.ravel())[0, 1]
    rmse_joint = np.sqrt(np.mean((joint - truth) ** 2))
    rmse_indep = np.sqrt(np.mean((indep - truth) ** 2))
    print(f"r_joint={r_joint:.3f} rmse_joint={rmse_joint:.4f} rmse_indep={rmse_indep:.4f}")
    assert r_joint >= 0.9
    assert rmse_joint < 0.8 * rmse_indep
    # averaging the probabilities behind the samples (Rao-Blackwell) estimates the same
    # expectation with less noise than the 0/1 samples: with 60 draws, as the demo uses
    few = [joint_samples(fitted["model"], x_test, 60, seed=s) for s in range(2, 6)]
    spread_rb = np.std(
        [cell_statistics(web, samples=a, probabilities=b)["interaction"] for a, b in few], 0
    )
    spread_01 = np.std([cell_statistics(web, samples=a)["interaction"] for a, _ in few], 0)
    assert spread_rb.mean() < 0.7 * spread_01.mean(), (spread_rb.mean(), spread_01.mean())


def test_cell_statistics_counts_links_connectance_and_focal_enemies() -> None:
    web = match_species(SPECIES, read_metaweb(EDGES))
    # two samples at one cell: all present, then only s1 and s2 (edge s2 -> s1)
    z = np.array([[[1, 1, 1, 1, 1, 1]], [[0, 1, 1, 0, 0, 0]]], dtype=np.uint8)
    stats = cell_statistics(web, samples=z, focal="s1")
    q = EDGES["probability"].to_numpy()
    assert stats["expected_links"][0] == pytest.approx((q.sum() + 0.5) / 2)
    assert stats["expected_connectance"][0] == pytest.approx((q.sum() / 36 + 0.5 / 4) / 2)
    # s1's enemies are s0, s2, s3: both samples have one
    assert stats["focal_enemy"][0] == pytest.approx(1.0)
    p = z.mean(0)
    none = (1 - p[0, 0]) * (1 - p[0, 2]) * (1 - p[0, 3])
    assert stats["focal_enemy_independent"][0] == pytest.approx(p[0, 1] * (1 - none))
    assert stats["interaction"][1, 0] == pytest.approx(0.5)  # s2 -> s1 in both samples


def test_cell_statistics_rejects_bad_inputs() -> None:
    web = match_species(SPECIES, read_metaweb(EDGES))
    with pytest.raises(InvalidInputError, match="give samples"):
        cell_statistics(web)
    with pytest.raises(InvalidInputError, match="expected \\(draws, cells, 6\\)"):
        cell_statistics(web, samples=np.zeros((2, 3, 4)))
    with pytest.raises(InvalidInputError, match="expected \\(cells, 6\\)"):
        cell_statistics(web, marginals=np.zeros((3, 4)))
    with pytest.raises(InvalidInputError, match="no consumer"):
        cell_statistics(web, marginals=np.zeros((3, 6)), focal="s4")
    with pytest.raises(InvalidInputError, match="not a species of the model"):
        cell_statistics(web, marginals=np.zeros((3, 6)), focal="pest")


def test_model_without_latent_factors_cannot_give_co_occurrence() -> None:
    sim = _community(n=100)
    data = IntegratedData(n_species=6, x_survey=sim["x"], y_survey=sim["y"])
    cfg = IntegratedConfig(steps=20, num_samples=10, seed=0, n_factors=0)
    model = IntegratedSDM(cfg).fit(data)
    with pytest.raises(InvalidInputError, match=r"no latent factors.*--marginals-only"):
        joint_samples(model, sim["x"], 10, seed=0)
    with pytest.raises(InvalidInputError, match="no joint community samples"):
        joint_samples(object(), sim["x"], 10, seed=0)
