"""Multi-species maxent network: loss maths, recovery on synthetic data, real data, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ecocube.errors import InvalidInputError
from ecocube.models.evaluation import auc
from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig, MaxentNetwork, maxent_loss

#: Floor on the held-out AUC of Bradypus (elapid's presence/background table); stated in
#: docs/sdm.md.
BRADYPUS_AUC_FLOOR = 0.80


def test_maxent_loss_is_poisson_log_likelihood() -> None:
    # One species, three sites, counts (2, 0, 1): loss = logsumexp(f) - (2 f0 + f2) / 3.
    f = torch.tensor([[0.5], [-1.0], [2.0]])
    c = torch.tensor([[2.0], [0.0], [1.0]])
    expected = torch.logsumexp(f, 0) - (2 * 0.5 + 2.0) / 3
    assert maxent_loss(f, c, torch.zeros(3, 1)).item() == pytest.approx(expected.item())
    # Adding a constant to the intensity leaves the loss unchanged (only relative rates count).
    assert maxent_loss(f + 7, c, torch.zeros(3, 1)).item() == pytest.approx(expected.item())
    # -inf weight removes a site from the normalising set.
    w = torch.tensor([[0.0], [-math.inf], [0.0]])
    expected = torch.logsumexp(f[[0, 2]], 0) - (2 * 0.5 + 2.0) / 3
    assert maxent_loss(f, c, w).item() == pytest.approx(expected.item())


def test_network_members_are_independent() -> None:
    torch.manual_seed(0)
    net = MaxentNetwork(4, 3, hidden=(8,), n_members=2)
    out = net(torch.randn(10, 4))
    assert out.shape == (2, 10, 3)
    assert not torch.allclose(out[0], out[1])


def _synthetic(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Two species with Gaussian niches on a landscape of 4000 sites; one categorical."""
    rng = np.random.default_rng(seed)
    land = pd.DataFrame(
        {"t": rng.normal(0, 1, 4000), "p": rng.normal(0, 1, 4000), "soil": rng.integers(0, 3, 4000)}
    )
    rate = np.column_stack(
        [
            np.exp(-((land.t - 1) ** 2) - 0.5 * land.p**2 + 1.0 * (land.soil == 2)),
            np.exp(-((land.t + 1) ** 2) - (land.p - 1) ** 2),
        ]
    )
    recs = []
    for j, sp in enumerate(["alpha", "beta"]):
        idx = rng.choice(len(land), 300, p=rate[:, j] / rate[:, j].sum())
        recs.append(land.iloc[idx].assign(species=sp))
    presences = pd.concat(recs, ignore_index=True)
    background = land.sample(1500, random_state=seed)
    test = land.sample(1000, random_state=seed + 1)
    truth = rate[test.index.to_numpy()]
    return presences, background, test.reset_index(drop=True), truth


@pytest.mark.parametrize("background", ["random", "both"])
def test_recovers_synthetic_niches(background: str) -> None:
    presences, bg, test, truth = _synthetic()
    cfg = MaxentNetConfig(hidden=(16,), epochs=150, n_members=2, background=background)
    model = MaxentNet(["t", "p", "soil"], ["soil"], cfg).fit(presences, bg)
    assert model.species_ == ("alpha", "beta")
    eta = model.predict_log_intensity(test)
    for j in range(2):
        rho = pd.Series(eta[:, j]).corr(pd.Series(np.log(truth[:, j])), method="spearman")
        assert rho > 0.85, (background, j, rho)
    prob = model.suitability(test)
    assert list(prob.columns) == ["alpha", "beta"]
    assert ((prob.to_numpy() > 0) & (prob.to_numpy() < 1)).all()
    # predict: the members' suitabilities summarised (their spread is the uncertainty)
    pred = model.predict(test)
    assert pred.species == ("alpha", "beta") and pred.mean.shape == (len(test), 2)
    assert (pred.q05 <= pred.mean + 1e-6).all() and (pred.mean <= pred.q95 + 1e-6).all()
    assert (pred.sd > 0).mean() > 0.9
    members = -np.expm1(-np.exp(model.member_log_intensity(test)))
    np.testing.assert_allclose(pred.mean, members.mean(0), rtol=1e-5)
    # discrimination of a simulated survey
    occ = np.random.default_rng(5).random(truth.shape) < 1 - np.exp(-truth)
    assert auc(occ[:, 0], eta[:, 0]) > 0.75


def test_target_group_background_cancels_sampling_bias() -> None:
    # Five species with niches along t; observers visit sites with high p far more often.
    rng = np.random.default_rng(4)
    land = pd.DataFrame({"t": rng.uniform(-2, 2, 6000), "p": rng.uniform(-2, 2, 6000)})
    effort = np.exp(1.5 * land.p.to_numpy())
    recs = []
    for j, opt in enumerate(np.linspace(-1.5, 1.5, 5)):
        rate = np.exp(-((land.t.to_numpy() - opt) ** 2))
        w = effort * rate
        recs.append(land.iloc[rng.choice(len(land), 200, p=w / w.sum())].assign(species=f"s{j}"))
    presences = pd.concat(recs, ignore_index=True)
    bg = land.sample(2000, random_state=0)
    cfg = MaxentNetConfig(hidden=(16,), epochs=150, n_members=2)
    grid = pd.DataFrame({"t": np.zeros(41), "p": np.linspace(-2, 2, 41)})
    slopes = {}
    for mode in ("random", "target-group"):
        model = MaxentNet(["t", "p"], config=cfg.__class__(**{**cfg.__dict__, "background": mode}))
        eta = model.fit(presences, bg).predict_log_intensity(grid)[:, 2]  # species with opt 0
        slopes[mode] = np.polyfit(grid.p, eta, 1)[0]
    # random background learns the observers' bias (slope near 1.5); target-group removes it
    assert slopes["random"] > 1.0
    assert abs(slopes["target-group"]) < 0.4


def test_group_col_gives_each_species_its_own_groups_background() -> None:
    """Two survey groups with opposite observer biases in one network: each species is
    normalised over its own group's sites, so each group's bias cancels; pooled, it does not."""
    rng = np.random.default_rng(5)
    land = pd.DataFrame({"t": rng.uniform(-2, 2, 6000), "p": rng.uniform(-2, 2, 6000)})
    recs = []
    for group, bias in (("birds", 1.5), ("plants", -1.5)):
        effort = np.exp(bias * land.p.to_numpy())
        for j, opt in enumerate(np.linspace(-1.5, 1.5, 4)):
            w = effort * np.exp(-((land.t.to_numpy() - opt) ** 2))
            rows = land.iloc[rng.choice(len(land), 200, p=w / w.sum())]
            recs.append(rows.assign(species=f"{group}{j}", survey=group))
    presences = pd.concat(recs, ignore_index=True)
    cfg = MaxentNetConfig(hidden=(16,), epochs=150, n_members=2)
    grid = pd.DataFrame({"t": np.zeros(41), "p": np.linspace(-2, 2, 41)})

    def p_slope(model: MaxentNet, species: str) -> float:
        eta = model.predict_log_intensity(grid)[:, list(model.species_).index(species)]
        return float(np.polyfit(grid.p, eta, 1)[0])

    pooled = MaxentNet(["t", "p"], config=cfg).fit(presences)
    grouped = MaxentNet(["t", "p"], config=cfg).fit(presences, group_col="survey")
    for sp, sign in (("birds1", 1), ("plants1", -1)):
        assert sign * p_slope(pooled, sp) > 1.0  # the pooled background keeps the bias
        assert abs(p_slope(grouped, sp)) < 0.4  # its own group's background cancels it
    mixed = presences.copy()
    mixed.loc[mixed.index[0], "survey"] = "plants"  # birds0 now in two groups
    with pytest.raises(InvalidInputError, match=r"species with records in several groups"):
        MaxentNet(["t", "p"], config=cfg).fit(mixed, group_col="survey")
    with pytest.raises(InvalidInputError, match="group_col 'team' is not a column"):
        MaxentNet(["t", "p"], config=cfg).fit(presences, group_col="team")


def test_site_log_weights_with_groups() -> None:
    from ecocube.models.maxent_net import site_log_weights

    counts = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 2], [0, 0, 0]], dtype=np.float32)
    is_bg = np.array([False, False, False, True])
    groups = np.array(["a", "a", "b"])
    tg = site_log_weights(counts, is_bg, "target-group", 0.2, groups)
    assert np.isfinite(tg).tolist() == [
        [True, True, False],
        [True, True, False],
        [False, False, True],
        [False, False, False],
    ]
    one = site_log_weights(counts, is_bg, "target-group", 0.2, np.array(["a"] * 3))
    assert one.shape == (4, 1)  # one group: the shared weights of the single-group model
    both = np.exp(site_log_weights(counts, is_bg, "both", 0.2, groups))
    np.testing.assert_allclose(both.sum(0), [1.0, 1.0, 1.0], rtol=1e-6)  # mass 0.2 + 0.8 each
    np.testing.assert_allclose(both[3], [0.2, 0.2, 0.2], rtol=1e-6)


def test_seed_determinism_and_minibatches() -> None:
    presences, bg, test, _ = _synthetic(1)
    cfg = MaxentNetConfig(
        hidden=(8,), epochs=20, n_members=1, background="random", batch_size=512, seed=3
    )
    a = MaxentNet(["t", "p"], config=cfg).fit(presences, bg).predict_log_intensity(test)
    b = MaxentNet(["t", "p"], config=cfg).fit(presences, bg).predict_log_intensity(test)
    np.testing.assert_array_equal(a, b)
    c = MaxentNet(["t", "p"], config=cfg).with_config(seed=4).fit(presences, bg)
    assert not np.array_equal(a, c.predict_log_intensity(test))


def test_prediction_in_batches_of_sites_matches_one_pass() -> None:
    presences, bg, test, _ = _synthetic(2)
    cfg = MaxentNetConfig(hidden=(8,), epochs=10, n_members=3, background="random")
    model = MaxentNet(["t", "p"], config=cfg).fit(presences, bg)
    one = model.member_log_intensity(test, batch_size=len(test))
    assert one.shape == (3, len(test), 2)
    batched = model.member_log_intensity(test, batch_size=64)  # float rounding of the BLAS
    np.testing.assert_allclose(batched, one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_log_intensity(test), one.mean(0), rtol=1e-6)


def test_head_l2_shrinks_species_with_few_records_more() -> None:
    """The per-species penalty is weighted by 1/n: a species with 12 records is shrunk far
    more than one with 300, whose niche is still recovered."""
    presences, bg, test, truth = _synthetic(4)
    rare = presences[presences.species == "beta"].iloc[:12]
    few = pd.concat([presences[presences.species == "alpha"], rare], ignore_index=True)

    def fit(head_l2: float) -> MaxentNet:
        cfg = MaxentNetConfig(
            hidden=(16,),
            epochs=60,
            n_members=1,
            dropout=0.0,
            background="random",
            head_l2=head_l2,
            seed=1,
        )
        return MaxentNet(["t", "p"], config=cfg).fit(few, bg)

    def norms(model: MaxentNet) -> np.ndarray:  # per species: |head column|^2 + |skip column|^2
        net = model.network
        return (net.head.weight.square().sum(1) + net.skip.weight.square().sum(1)).mean(0)

    free, shrunk = fit(0.0), fit(30.0)
    ratio = (norms(shrunk) / norms(free)).detach().numpy()  # species order: alpha, beta
    assert ratio[1] < 0.2 * ratio[0], ratio
    rho = pd.Series(shrunk.predict_log_intensity(test)[:, 0]).corr(
        pd.Series(np.log(truth[:, 0])), method="spearman"
    )
    assert rho > 0.85, rho


def test_scaling_is_fitted_on_background() -> None:
    presences, bg, _, _ = _synthetic(3)
    cfg = MaxentNetConfig(hidden=(4,), epochs=2, n_members=1)
    model = MaxentNet(["t", "p"], config=cfg).fit(presences, bg.assign(t=bg.t + 10))
    np.testing.assert_allclose(model.encoder.mean_, [bg.t.mean() + 10, bg.p.mean()])
    # target-group only: scaled on the presence sites unless a table is given
    tg = MaxentNet(["t", "p"], config=cfg).fit(presences)
    np.testing.assert_allclose(tg.encoder.mean_, presences[["t", "p"]].mean(), rtol=1e-6)
    tg.fit(presences, scale_on=bg)
    np.testing.assert_allclose(tg.encoder.std_, bg[["t", "p"]].std(ddof=0), rtol=1e-6)


def test_quantile_scaling_reaches_the_encoder() -> None:
    presences, bg, _, _ = _synthetic(3)
    cfg = MaxentNetConfig(hidden=(4,), epochs=2, n_members=1, scaling="quantile")
    model = MaxentNet(["t", "p"], config=cfg).fit(presences, bg)
    assert model.encoder.scaling == "quantile" and model.encoder.quantiles_ is not None
    with pytest.raises(InvalidInputError, match="scaling 'minmax' is unknown"):
        MaxentNetConfig(scaling="minmax")


def test_bad_inputs() -> None:
    presences, bg, test, _ = _synthetic(2)
    with pytest.raises(InvalidInputError, match="background 'uniform' is unknown"):
        MaxentNetConfig(background="uniform")
    with pytest.raises(InvalidInputError, match="activation 'sigmoid' is unknown"):
        MaxentNetConfig(activation="sigmoid")
    with pytest.raises(InvalidInputError, match="hidden widths must be >= 1"):
        MaxentNetConfig(hidden=(0,))
    with pytest.raises(InvalidInputError, match="n_members must be >= 1"):
        MaxentNetConfig(n_members=0)
    with pytest.raises(InvalidInputError, match="epochs must be >= 1"):
        MaxentNetConfig(epochs=0)
    with pytest.raises(InvalidInputError, match="dropout must be in"):
        MaxentNetConfig(dropout=1.0)
    with pytest.raises(InvalidInputError, match="random_weight must be in"):
        MaxentNetConfig(random_weight=0.0)
    with pytest.raises(InvalidInputError, match="batch_size must be >= 2"):
        MaxentNetConfig(batch_size=1)
    with pytest.raises(InvalidInputError, match="head_l2 must be >= 0"):
        MaxentNetConfig(head_l2=-1.0)
    with pytest.raises(InvalidInputError, match="covariates is empty"):
        MaxentNet([])
    with pytest.raises(InvalidInputError, match=r"categorical columns \['x'\] are not among"):
        MaxentNet(["t"], ["x"])
    model = MaxentNet(["t", "p", "soil"], ["soil"], MaxentNetConfig(epochs=2, hidden=(4,)))
    with pytest.raises(InvalidInputError, match="not fitted"):
        model.predict(test)
    with pytest.raises(InvalidInputError, match="presences is empty"):
        model.fit(presences.iloc[:0], bg)
    with pytest.raises(InvalidInputError, match=r"lacks the covariate columns \['p'\]"):
        model.fit(presences.drop(columns="p"), bg)
    with pytest.raises(InvalidInputError, match=r"t \(2 rows\)"):
        model.fit(presences.assign(t=[np.nan, np.nan] + [0.0] * (len(presences) - 2)), bg)
    random_model = MaxentNet(["t"], config=MaxentNetConfig(epochs=2, background="random"))
    with pytest.raises(InvalidInputError, match="needs random background sites"):
        random_model.fit(presences)
    with pytest.raises(InvalidInputError, match=r"site_cols \['x'\] are not columns"):
        model.fit(presences, bg, site_cols=["x"])
    model.fit(presences, bg)
    with pytest.raises(
        InvalidInputError, match=r"level\(s\) \['7'\] not seen at fit time \(1 rows"
    ):
        model.predict(test.assign(soil=[7] + [0] * (len(test) - 1)))


def test_early_stopping_on_held_out_sites() -> None:
    """validation=(presences, background) is scored every epoch; the best epoch is kept."""
    from ecocube.models.maxent_net import heldout_maxent_loss

    presences, bg, _, _ = _synthetic(5)
    cfg = MaxentNetConfig(hidden=(8,), epochs=30, n_members=2, background="random", seed=1)
    train_p, val_p = presences.iloc[::2], presences.iloc[1::2]
    model = MaxentNet(["t", "p"], config=cfg).fit(
        train_p, bg.iloc[:1000], validation=(val_p, bg.iloc[1000:]), patience=3
    )
    val = [h["val_loss"] for h in model.history_]
    assert np.isfinite(val).all() and len(val) <= 30
    assert model.best_epoch_ == int(np.argmin(val)) + 1
    # species without held-out presences are left out of the held-out loss
    f = torch.tensor([[0.0, 5.0], [1.0, -3.0]])
    counts = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    expected = torch.logsumexp(f[:, 0], 0) - 0.0
    assert heldout_maxent_loss(f, counts, torch.zeros(2, 1)).item() == pytest.approx(
        expected.item()
    )
    with pytest.raises(InvalidInputError, match="hold no species of the training presences"):
        MaxentNet(["t", "p"], config=cfg).fit(
            train_p, bg, validation=(val_p.assign(species="gamma"), bg)
        )


def test_bradypus_elapid_auc_floor(mirror: object) -> None:
    from ecocube import data

    path = data.fetch_file("sdm_elapid", "bradypus.csv.gz")
    df = pd.read_csv(path)
    covs = [c for c in df.columns if c != "presence"]
    rng = np.random.default_rng(0)
    test = rng.random(len(df)) < 0.25
    train = df[~test]
    model = MaxentNet(
        covs,
        ["ecoreg"],
        MaxentNetConfig(background="random", epochs=100, n_members=2, hidden=(32,)),
    )
    model.encoder.handle_unknown = "ignore"
    model.fit(train[train.presence == 1], train[train.presence == 0])
    held = df[test]
    score = model.predict_log_intensity(held)[:, 0]
    value = auc(held["presence"].to_numpy().astype(int), score)
    assert value > BRADYPUS_AUC_FLOOR, value
