"""Evaluation metrics against reference implementations and known values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from ecocube.errors import InvalidInputError
from ecocube.models.evaluation import (
    auc,
    boyce_index,
    conformal_interval_factor,
    conformal_intervals,
    evaluate_species,
    expected_calibration_error,
    interval_coverage,
    reliability_curve,
    summarise,
    tss,
)


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    s = rng.normal(size=2000).round(1)  # rounding creates ties
    y = (rng.random(2000) < 1 / (1 + np.exp(-2 * s))).astype(int)
    return y, s


def test_auc_matches_sklearn_with_ties(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = scored
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert auc(y, -s) == pytest.approx(1 - auc(y, s), abs=1e-12)
    assert np.isnan(auc(np.ones(5), np.arange(5)))


def test_tss_matches_roc_curve(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = scored
    fpr, tpr, _ = roc_curve(y, s)
    assert tss(y, s) == pytest.approx((tpr - fpr).max(), abs=1e-12)
    assert tss([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_boyce_index_orders_models() -> None:
    rng = np.random.default_rng(1)
    background = rng.random(5000)
    # presences drawn with probability proportional to the score: a good model
    presences = rng.choice(background, 500, p=background / background.sum())
    assert boyce_index(presences, background) > 0.9
    assert boyce_index(1 - presences, 1 - background) < -0.9


def test_calibration_perfect_and_biased() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, p**3) > 0.15
    curve = reliability_curve(y, p, n_bins=5)
    assert list(curve.columns) == ["bin_low", "bin_high", "mean_predicted", "observed", "count"]
    np.testing.assert_allclose(curve["observed"], curve["mean_predicted"], atol=0.03)
    assert curve["count"].sum() == 20000


def test_interval_coverage_exact() -> None:
    assert interval_coverage([1, 2, 3, 4], [0, 2.5, 3, 0], [1, 3, 3, 3]) == 0.5


def test_conformal_factor_restores_coverage_of_too_narrow_intervals() -> None:
    """Predictive intervals built for sd 1 on outcomes of sd 2: the split-conformal factor is
    about 2 and the widened intervals cover 90 % of new units; exact ones are left as they are."""
    rng = np.random.default_rng(0)
    half = 1.6449  # 90 % half-width of N(0, 1)
    centre = rng.normal(size=4000)
    y = centre + rng.normal(0, 2.0, size=4000)
    cal, new = slice(0, 2000), slice(2000, None)
    lo, hi = centre - half, centre + half
    assert interval_coverage(y[new], lo[new], hi[new]) < 0.65
    q = conformal_interval_factor(y[cal], centre[cal], lo[cal], hi[cal], level=0.9)
    assert 1.8 < q < 2.2, q
    wide_lo, wide_hi = conformal_intervals(centre[new], lo[new], hi[new], q)
    np.testing.assert_allclose(wide_hi - wide_lo, 2 * q * half)
    # skewed intervals keep their shape, and factor 1 gives the interval back
    k_lo, k_hi = conformal_intervals([1.0, 4.0], [0.0, 1.0], [5.0, 6.0], 1.0)
    assert k_lo.tolist() == [0.0, 1.0] and k_hi.tolist() == [5.0, 6.0]
    assert conformal_intervals([0.0], [0.0], [3.0], 2.0)[0].tolist() == [-1.0]
    cov = interval_coverage(y[new], wide_lo, wide_hi)
    assert 0.88 <= cov <= 0.92, cov
    honest = centre + rng.normal(size=4000)
    q1 = conformal_interval_factor(honest[cal], centre[cal], lo[cal], hi[cal], level=0.9)
    assert 0.93 < q1 < 1.07, q1
    # too few units for the level: no finite factor
    assert conformal_interval_factor([0.0] * 5, [0.0] * 5, [-1.0] * 5, [1.0] * 5) == np.inf
    with pytest.raises(InvalidInputError, match="no calibration units"):
        conformal_interval_factor([], [], [], [])
    with pytest.raises(InvalidInputError, match="level must be in"):
        conformal_interval_factor([1.0], [1.0], [0.0], [2.0], level=1.0)
    with pytest.raises(InvalidInputError, match="must have one length"):
        conformal_interval_factor([1.0, 2.0], [1.0], [0.0], [2.0])


def test_evaluate_and_summarise() -> None:
    y = pd.DataFrame({"a": [0, 0, 1, 1], "b": [1, 0, 1, 0]})
    s = pd.DataFrame({"a": [0.1, 0.2, 0.8, 0.9], "b": [0.9, 0.1, 0.2, 0.3]})
    per = evaluate_species(y, s, calibration=True)
    assert per["auc"].tolist() == [1.0, 0.75]
    assert list(per.columns) == ["species", "n_presence", "n_absence", "auc", "tss", "ece"]
    per["region"] = ["r1", "r2"]
    assert summarise(per)["auc"].item() == 0.875
    assert summarise(per, by="region")["auc"].tolist() == [1.0, 0.75]


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="must have the same length"):
        auc([0, 1], [0.1])
    with pytest.raises(InvalidInputError, match="must hold only 0 and 1"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(InvalidInputError, match="1 NaN values"):
        tss([0, 1], [0.1, np.nan])
    with pytest.raises(InvalidInputError, match="must lie in"):
        expected_calibration_error([0, 1], [0.5, 1.5])
    with pytest.raises(InvalidInputError, match="n_bins must be >= 1"):
        reliability_curve([0, 1], [0.5, 0.5], n_bins=0)
    with pytest.raises(InvalidInputError, match="at least one presence"):
        boyce_index([], [0.1])
    with pytest.raises(InvalidInputError, match="window must be in"):
        boyce_index([0.1], [0.1], window=0)
    with pytest.raises(InvalidInputError, match="must have one length"):
        interval_coverage([1, 2], [0], [3, 3])
    with pytest.raises(InvalidInputError, match="lower exceeds upper in 1"):
        interval_coverage([1], [2], [0])
    with pytest.raises(InvalidInputError, match=r"scores lack the species columns \['b'\]"):
        evaluate_species(pd.DataFrame({"b": [0, 1]}), pd.DataFrame({"a": [0, 1]}))
    with pytest.raises(InvalidInputError, match="column 'zone' to group by"):
        summarise(pd.DataFrame({"auc": [0.5]}), by="zone")
