"""SHAP explainers on functions with known attributions (no data needed)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("shap")

from ecocube.errors import InvalidInputError  # noqa: E402
from ecocube.models._base import ExplainFunction  # noqa: E402
from ecocube.models.explain._explainers import (  # noqa: E402
    Attribution,
    by_variable,
    expected_gradients,
    feature_variables,
    is_linear,
    linear_draw_shap,
    linear_shap,
)


def _affine(w: np.ndarray, b: np.ndarray) -> ExplainFunction:
    wt, bt = torch.as_tensor(w, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    names = tuple(f"f{j}" for j in range(w.shape[0]))
    species = tuple(f"s{k}" for k in range(w.shape[1]))
    return ExplainFunction(lambda x: x @ wt + bt, names, species)


def _mlp(p: int, s: int, seed: int = 0) -> ExplainFunction:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(p, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU()
    )
    head = torch.nn.Linear(32, s)
    names = tuple(f"f{j}" for j in range(p))
    return ExplainFunction(lambda x: head(net(x)), names, tuple(f"s{k}" for k in range(s)))


def test_feature_variables_sum_squares_and_levels() -> None:
    names = ["bio1", "bio12", "bio1^2", "bio12^2", "lc=1", "lc=2"]
    variables, member = feature_variables(names, ["bio1", "bio12"], ["lc"])
    assert variables == ("bio1", "bio12", "lc")
    values = np.arange(6, dtype=float)[None, None, :]  # one cell, one species
    np.testing.assert_allclose(by_variable(values, member)[0, 0], [0 + 2, 1 + 3, 4 + 5])


def test_feature_variables_rejects_foreign_columns() -> None:
    with pytest.raises(InvalidInputError, match=r"encoded column 'patch_0' belongs to none"):
        feature_variables(["bio1", "patch_0"], ["bio1"], [])


def test_linear_shap_is_exact_and_matches_the_formula() -> None:
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    fn = _affine(w, b)
    x, bg = rng.normal(size=(200, 5)), rng.normal(size=(40, 5))
    values, base, output = linear_shap(fn, x, bg)
    assert values.shape == (200, 3, 5)
    expected = (x - bg.mean(0))[:, None, :] * w.T[None, :, :]
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(linear_draw_shap(fn, x, bg), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(values.sum(-1) + base, output, atol=1e-4)
    assert is_linear(fn, bg)


def test_mlp_is_not_linear() -> None:
    rng = np.random.default_rng(2)
    assert not is_linear(_mlp(4, 2), rng.normal(size=(50, 4)).astype(np.float32))


def test_expected_gradients_meet_the_additivity_bar() -> None:
    rng = np.random.default_rng(3)
    fn = _mlp(4, 3)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    bg = rng.normal(size=(32, 4)).astype(np.float32)
    values, base, output = expected_gradients(fn, x, bg, steps=16)
    attr = Attribution(
        "expected-gradients",
        ("a", "b", "c", "d"),
        fn.species,
        values,
        base,
        output,
        x.astype(float),
        len(bg),
    )
    assert attr.additivity_p99() <= 0.01
    # without refinement a coarse grid is measurably less additive: the check can fail
    coarse = expected_gradients(fn, x, bg, steps=1, tolerance=None)
    gap = np.abs(coarse[0].sum(-1) + coarse[1] - coarse[2]) / coarse[2].std(0)
    assert np.quantile(gap, 0.99, axis=0).max() > attr.additivity_p99()


def test_expected_gradients_equal_linear_shap_on_a_linear_function() -> None:
    rng = np.random.default_rng(4)
    fn = _affine(rng.normal(size=(3, 2)), rng.normal(size=2))
    x, bg = rng.normal(size=(60, 3)), rng.normal(size=(20, 3))
    eg = expected_gradients(fn, x.astype(np.float32), bg.astype(np.float32), steps=2)[0]
    exact = linear_shap(fn, x, bg)[0]
    np.testing.assert_allclose(eg, exact, atol=1e-4)


def test_expected_gradients_reject_zero_steps() -> None:
    fn = _mlp(2, 1)
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(InvalidInputError, match=r"steps=0 must be a positive integer"):
        expected_gradients(fn, x, x, steps=0)
    with pytest.raises(InvalidInputError, match=r"max_steps=4 must be at least steps=8"):
        expected_gradients(fn, x, x, steps=8, max_steps=4)


def test_importance_interval_spans_the_draws() -> None:
    values = np.ones((4, 1, 2))
    draws = np.array([[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]])
    attr = Attribution(
        "linear-exact",
        ("a", "b"),
        ("s",),
        values,
        np.zeros(1),
        np.full((4, 1), 2.0),
        np.zeros((4, 2)),
        3,
        draws,
    )
    lo, hi = attr.importance_interval(level=1.0)
    np.testing.assert_allclose(lo[0], [1.0, 2.0])
    np.testing.assert_allclose(hi[0], [5.0, 6.0])
    assert (
        Attribution(
            "linear-exact",
            ("a", "b"),
            ("s",),
            values,
            np.zeros(1),
            np.ones((4, 1)),
            np.zeros((4, 2)),
            3,
        ).importance_interval()
        is None
    )
