"""The integrated presence-only + survey Pyro SDM on seeded synthetic data and real NCEAS data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.integrated import IntegratedConfig, IntegratedData, IntegratedSDM

FAST = IntegratedConfig(steps=300, num_samples=100, lr=0.05, seed=0)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _synthetic(seed: int = 0, n_species: int = 4, bias: float = 1.5) -> dict:
    """Intensity log-linear in 2 covariates; presences thinned by a shared bias along x1."""
    rng = np.random.default_rng(seed)
    P = 2
    beta = rng.normal(0, 1.0, size=(n_species, P))
    alpha = rng.normal(-1.0, 0.3, size=n_species)
    x_bg = rng.normal(size=(2000, P)).astype(np.float32)
    log_int = x_bg @ beta.T  # (n_bg, S)
    log_thin = bias * x_bg[:, 0]
    pres_x, pres_sp = [], []
    for s in range(n_species):
        w = np.exp(log_int[:, s] + log_thin)
        idx = rng.choice(len(x_bg), size=150, p=w / w.sum())
        pres_x.append(x_bg[idx] + rng.normal(0, 0.05, (150, P)))
        pres_sp += [s] * 150
    x_sv = rng.normal(size=(250, P)).astype(np.float32)
    p_sv = 1 - np.exp(-np.exp(alpha + x_sv @ beta.T))
    y_sv = (rng.random(p_sv.shape) < p_sv).astype(np.float32)
    x_te = rng.normal(size=(2000, P)).astype(np.float32)
    p_te = 1 - np.exp(-np.exp(alpha + x_te @ beta.T))
    return {
        "data": IntegratedData(
            n_species=n_species,
            x_background=x_bg,
            x_presence=np.concatenate(pres_x).astype(np.float32),
            presence_species=np.asarray(pres_sp),
            x_survey=x_sv,
            y_survey=y_sv,
        ),
        "x_test": x_te,
        "p_test": p_te,
    }


def test_integrated_recovers_true_probabilities() -> None:
    syn = _synthetic()
    model = IntegratedSDM(replace(FAST, n_factors=0)).fit(syn["data"])
    assert model.mode == "integrated"
    summ = model.predict(syn["x_test"])
    assert summ.mean.shape == syn["p_test"].shape
    # calibrated to the truth on the probability scale, not just ranked
    assert np.abs(summ.mean - syn["p_test"]).mean() < 0.05
    assert np.all(summ.q05 <= summ.q95)
    assert (summ.sd > 0).mean() > 0.95  # only saturated probabilities have no spread


def test_predict_summarises_batch_by_batch() -> None:
    """Summaries do not depend on the batch size, and without ``return_samples`` the draws
    of all sites are never held at once (memory bounded by one batch: country-scale maps)."""
    import tracemalloc

    syn = _synthetic()
    model = IntegratedSDM(replace(FAST, n_factors=1, steps=100)).fit(syn["data"])
    x = np.tile(syn["x_test"], (10, 1))  # 20,000 sites
    whole = model.predict(x, batch_size=len(x), return_samples=True)
    assert whole.samples.shape == (FAST.num_samples, len(x), 4)
    tracemalloc.start()
    parts = model.predict(x, batch_size=512)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    for name in ("mean", "sd", "q05", "q95"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-5, atol=1e-6)
    assert parts.samples is None
    # the draws of all sites alone would take num_samples x sites x species x 4 bytes
    assert peak < 0.25 * whole.samples.nbytes, (peak, whole.samples.nbytes)


def test_bias_model_corrects_biased_presence_only_records() -> None:
    """Presences oversampled along x1: the shared bias term absorbs it when surveys exist."""
    syn = _synthetic(bias=2.0)
    data = syn["data"]
    po = IntegratedData(
        n_species=data.n_species,
        x_background=data.x_background,
        x_presence=data.x_presence,
        presence_species=data.presence_species,
    )
    po_model = IntegratedSDM(FAST).fit(po)
    both = IntegratedSDM(replace(FAST, n_factors=0)).fit(data)
    assert po_model.mode == "presence-only"
    beta_po = po_model.draws["beta"].mean(0).numpy()[:, 0]
    beta_int = both.draws["beta"].mean(0).numpy()[:, 0]
    gamma = both.draws["gamma"].mean(0).numpy()
    # presence-only slopes on x1 are inflated by ~2; the integrated model puts it in gamma
    true = np.random.default_rng(0).normal(0, 1.0, size=(4, 2))[:, 0]
    assert np.mean(beta_po - true) > 1.0
    assert abs(np.mean(beta_int - true)) < 0.4
    assert 1.4 < gamma[0] < 2.6


def test_survey_only_and_determinism() -> None:
    syn = _synthetic(seed=1)
    d = syn["data"]
    sv = IntegratedData(n_species=d.n_species, x_survey=d.x_survey, y_survey=d.y_survey)
    a = IntegratedSDM(FAST).fit(sv)
    b = IntegratedSDM(FAST).fit(sv)
    assert a.mode == "survey-only"
    pa, pb = a.predict(syn["x_test"]), b.predict(syn["x_test"])
    np.testing.assert_array_equal(pa.mean, pb.mean)
    c = IntegratedSDM(replace(FAST, seed=1)).fit(sv)
    assert not np.array_equal(c.predict(syn["x_test"]).mean, pa.mean)
    aucs = [
        _auc(np.random.default_rng(s).random(2000) < syn["p_test"][:, s], pa.mean[:, s])
        for s in range(d.n_species)
    ]
    assert min(aucs) > 0.6


def test_missing_survey_values_are_ignored_and_state_round_trips() -> None:
    syn = _synthetic(seed=2, n_species=3)
    d = syn["data"]
    y = d.y_survey.copy()
    y[:100, 0] = np.nan  # species 0 not surveyed at 100 sites
    sv = IntegratedData(n_species=3, x_survey=d.x_survey, y_survey=y)
    model = IntegratedSDM(
        replace(FAST, features="network", hidden=8, guide="lowrank", n_factors=0)
    ).fit(sv)
    again = IntegratedSDM.from_state(model.get_state())
    np.testing.assert_array_equal(
        again.predict(syn["x_test"][:50]).mean, model.predict(syn["x_test"][:50]).mean
    )


def test_latent_factors_give_correlated_community_samples() -> None:
    rng = np.random.default_rng(3)
    n, S = 300, 4
    x = rng.normal(size=(n, 1)).astype(np.float32)
    u = rng.normal(size=n)
    # species 0 and 1 share a strong residual factor, 2 and 3 do not
    lam = np.array([1.5, 1.5, 0.0, 0.0])
    eta = -0.5 + 0.3 * x + u[:, None] * lam[None, :]
    y = (rng.random((n, S)) < 1 - np.exp(-np.exp(eta))).astype(np.float32)
    data = IntegratedData(n_species=S, x_survey=x, y_survey=y)
    model = IntegratedSDM(replace(FAST, n_factors=1, steps=300)).fit(data)
    corr = model.residual_correlation()
    assert corr[0, 1] > 0.4
    assert abs(corr[2, 3]) < 0.3
    samples = model.sample_communities(x[:50], n=200)
    assert samples.shape == (200, 50, S)
    assert samples.dtype == np.uint8
    flat = samples.reshape(-1, S).astype(float)
    assert np.corrcoef(flat.T)[0, 1] > np.corrcoef(flat.T)[2, 3] + 0.1


def _block_counts_coverage(model: IntegratedSDM, x, y, blocks, use_blocks: bool) -> float:
    from ecocube.models.benchmark.integrated import count_interval_coverage

    summ = model.predict(x, return_samples=True, blocks=blocks if use_blocks else None, seed=1)
    return count_interval_coverage(y, summ.samples, blocks, seed=0)[0]


def test_block_random_effect_makes_block_count_intervals_honest() -> None:
    """Prevalence shifted per spatial block (sd 1 on the cloglog scale): the block intercept
    is learnt, and 90 % intervals of held-out block counts cover near 90 % only with it."""
    rng = np.random.default_rng(3)
    S, n_blocks, per_block = 3, 40, 60
    beta = rng.normal(0, 0.8, size=(S, 2))
    sigma = 1.0

    def survey(n_b: int):
        blocks = np.repeat(np.arange(n_b), per_block)
        x = rng.normal(size=(len(blocks), 2)).astype(np.float32)
        b = rng.normal(0, sigma, size=(n_b, S))
        eta = -1.2 + x @ beta.T + b[blocks]
        y = (rng.random(eta.shape) < 1 - np.exp(-np.exp(eta))).astype(np.float32)
        return x, y, blocks

    x_tr, y_tr, b_tr = survey(n_blocks)
    x_te, y_te, b_te = survey(30)
    # true probability at a site of an unknown block: the block intercept integrated out
    z = rng.normal(0, sigma, size=(400, 1, 1))
    p_marginal = (1 - np.exp(-np.exp(-1.2 + x_te @ beta.T + z))).mean(0)
    cfg = replace(FAST, n_factors=0, steps=600, block_effect=True)
    with_blocks = IntegratedSDM(cfg).fit(
        IntegratedData(n_species=S, x_survey=x_tr, y_survey=y_tr, survey_block=b_tr)
    )
    without = IntegratedSDM(cfg).fit(IntegratedData(n_species=S, x_survey=x_tr, y_survey=y_tr))
    sd_hat = with_blocks.draws["sigma_block"].mean(0).numpy()
    assert np.all((sd_hat > 0.6) & (sd_hat < 1.5)), sd_hat
    cov_blocks = _block_counts_coverage(with_blocks, x_te, y_te, b_te, True)
    cov_plain = _block_counts_coverage(without, x_te, y_te, b_te, False)
    assert cov_blocks >= 0.8, cov_blocks
    assert cov_plain < 0.6, cov_plain
    # the marginal (site-level) probabilities stay calibrated either way
    p = with_blocks.predict(x_te).mean
    assert np.abs(p - p_marginal).mean() < 0.05
    with pytest.raises(InvalidInputError, match="one label per site"):
        with_blocks.predict(x_te, blocks=b_te[:5])
    # block_effect=True without survey_block fits no block effect: blocks= would be ignored
    assert with_blocks.has_block_effect and not without.has_block_effect
    with pytest.raises(InvalidInputError, match="fitted without a block effect"):
        without.predict(x_te, blocks=b_te)
    with pytest.raises(InvalidInputError, match="one block label per survey site"):
        IntegratedSDM(cfg).fit(
            IntegratedData(n_species=S, x_survey=x_tr, y_survey=y_tr, survey_block=b_tr[:3])
        )


def test_predict_refuses_blocks_without_a_block_effect() -> None:
    """``blocks=`` on a model without block intercepts would be silently ignored: an error."""
    syn = _synthetic(seed=5, n_species=2)
    d = syn["data"]
    blocks = np.arange(len(d.x_survey)) // 25
    x = syn["x_test"][:40]
    plain = IntegratedSDM(replace(FAST, steps=20, n_factors=0)).fit(
        IntegratedData(n_species=2, x_survey=d.x_survey, y_survey=d.y_survey, survey_block=blocks)
    )
    assert not plain.has_block_effect  # block_effect is off by default
    with pytest.raises(
        InvalidInputError, match=r"fitted without a block effect.*block_effect=True"
    ):
        plain.predict(x, blocks=np.zeros(len(x), int))
    cfg = replace(FAST, steps=20, n_factors=0, block_effect=True)
    with_blocks = IntegratedSDM(cfg).fit(
        IntegratedData(n_species=2, x_survey=d.x_survey, y_survey=d.y_survey, survey_block=blocks)
    )
    again = IntegratedSDM.from_state(with_blocks.get_state())
    assert again.has_block_effect
    drawn = again.predict(x, blocks=np.zeros(len(x), int), seed=0)
    assert drawn.mean.shape == (len(x), 2)
    with pytest.raises(InvalidInputError, match="not fitted"):
        IntegratedSDM(cfg).predict(x, blocks=np.zeros(len(x), int))


def _simulate_from_model(
    seed: int, n_species: int, n_train: int, n_test: int, tau: float = 0.6
) -> tuple[IntegratedData, np.ndarray, np.ndarray]:
    """Surveys drawn from the survey part of the model without latent factors.

    ``beta_s = tau * eps_s`` (community mean 0, ``eps_s ~ N(0, I)``), ``alpha_s ~ N(-0.5,
    0.5)``, two standard-normal covariates and ``y ~ Bernoulli(1 - exp(-exp(alpha_s +
    beta_s . x)))``. Returns the training data, the held-out sites and their true detection
    probabilities ``(n_test, S)``.
    """
    rng = np.random.default_rng(seed)
    beta = tau * rng.normal(size=(n_species, 2))
    alpha = rng.normal(-0.5, 0.5, n_species)

    def sites(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 2)).astype(np.float32)
        return x, 1 - np.exp(-np.exp(alpha + x @ beta.T))

    x_train, p_train = sites(n_train)
    y = (rng.random(p_train.shape) < p_train).astype(np.float32)
    x_test, p_test = sites(n_test)
    return IntegratedData(n_species=n_species, x_survey=x_train, y_survey=y), x_test, p_test


def test_90_percent_intervals_cover_90_percent_of_held_out_truths() -> None:
    """Calibration on data simulated from the model itself: the ``q05``-``q95`` interval of
    the detection probability covers the true probability at 85-95 % of held-out sites.

    The error of a species' prediction at every site comes from the same few coefficients, so
    the coverage is an average over species: many species (each fitted from few sites), two
    independent data sets. The low-rank guide keeps the correlation between a species'
    intercept and slopes. Too narrow intervals (10-90 %) cover about 78 %, too wide ones
    (1-99 %) about 97 %: both fail.
    """
    n_species = 80
    covered = []
    for seed in (0, 1):
        data, x_test, p_test = _simulate_from_model(seed, n_species, n_train=60, n_test=100)
        config = IntegratedConfig(
            n_factors=0,
            prior_scale=1.0,
            guide="lowrank",
            guide_rank=3 * n_species + 4,  # full rank: alpha, two eps per species, mu, tau
            steps=800,
            lr=0.02,
            num_samples=500,
            seed=seed,
        )
        summary = IntegratedSDM(config).fit(data).predict(x_test)
        covered.append((summary.q05 <= p_test) & (p_test <= summary.q95))
    coverage = float(np.mean(covered))
    assert 0.85 <= coverage <= 0.95, coverage


def test_bad_configuration_and_data() -> None:
    with pytest.raises(InvalidInputError, match="guide='full' is not supported"):
        IntegratedConfig(guide="full")
    with pytest.raises(InvalidInputError, match="features='cnn' is not supported"):
        IntegratedConfig(features="cnn")
    with pytest.raises(InvalidInputError, match="no training data"):
        IntegratedSDM(FAST).fit(IntegratedData(n_species=1))
    with pytest.raises(InvalidInputError, match="need background points"):
        IntegratedSDM(FAST).fit(
            IntegratedData(
                n_species=1,
                x_presence=np.zeros((3, 2), np.float32),
                presence_species=np.zeros(3, int),
            )
        )
    with pytest.raises(InvalidInputError, match="not fitted"):
        IntegratedSDM(FAST).predict(np.zeros((2, 2)))
    syn = _synthetic(n_species=2)
    d = syn["data"]
    m = IntegratedSDM(replace(FAST, steps=20)).fit(
        IntegratedData(n_species=2, x_survey=d.x_survey, y_survey=d.y_survey)
    )
    with pytest.raises(InvalidInputError, match=r"x must have shape \(n_sites, 2\)"):
        m.predict(np.zeros((2, 3)))
    with pytest.raises(InvalidInputError, match="fitted on a design matrix without an encoder"):
        m.predict(pd.DataFrame({"t": [0.0]}))
    with pytest.raises(InvalidInputError, match=r"species names \['a'\] do not match n_species=2"):
        IntegratedSDM(FAST).fit(replace(d, species=("a",)))
    from ecocube.models import CovariateEncoder

    enc = CovariateEncoder(["t"]).fit(pd.DataFrame({"t": [0.0, 1.0]}))
    with pytest.raises(InvalidInputError, match=r"design matrix has 2 columns but the encoder"):
        IntegratedSDM(FAST, encoder=enc).fit(
            IntegratedData(n_species=2, x_survey=d.x_survey, y_survey=d.y_survey)
        )


def test_early_stopping_on_held_out_data_keeps_the_best_step() -> None:
    """A validation set is monitored every SVI step; the guide of the best step is kept."""
    syn = _synthetic(seed=4, n_species=2)
    d = syn["data"]
    half = len(d.x_survey) // 2
    train = IntegratedData(
        n_species=2,
        x_background=d.x_background[:1000],
        x_presence=d.x_presence[::2],
        presence_species=d.presence_species[::2],
        x_survey=d.x_survey[:half],
        y_survey=d.y_survey[:half],
    )
    val = IntegratedData(
        n_species=2,
        x_background=d.x_background[1000:],
        x_presence=d.x_presence[1::2],
        presence_species=d.presence_species[1::2],
        x_survey=d.x_survey[half:],
        y_survey=d.y_survey[half:],
    )
    cfg = replace(FAST, steps=120, n_factors=1)
    model = IntegratedSDM(cfg).fit(train, validation=val, patience=10)
    assert len(model.val_losses) == model.steps_run_ <= 120
    assert np.isfinite(model.val_losses).all()
    assert model.best_step_ == int(np.argmin(model.val_losses)) + 1
    assert model.steps_run_ == 120 or model.steps_run_ == model.best_step_ + 10
    again = IntegratedSDM(cfg).fit(train, validation=val, patience=10)
    assert again.val_losses == model.val_losses  # seeded
    without = IntegratedSDM(cfg).fit(train)
    assert without.steps_run_ == without.best_step_ == 120 and without.val_losses == []
    with pytest.raises(InvalidInputError, match="validation data has 3 species"):
        IntegratedSDM(cfg).fit(train, validation=replace(val, n_species=3))
