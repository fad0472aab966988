"""Novelty of covariates against the training data: MESS and out-of-range counts
(ecocube.models.novelty)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.novelty import Novelty


def _mess_by_hand(ref: np.ndarray, p: float) -> float:
    """Elith et al. (2010), equation by equation, for one covariate."""
    lo, hi = ref.min(), ref.max()
    f = 100.0 * np.mean(ref < p)
    if f == 0:
        return 100.0 * (p - lo) / (hi - lo)
    if f == 100:
        return 100.0 * (hi - p) / (hi - lo)
    return 2.0 * f if f <= 50 else 2.0 * (100.0 - f)


def test_mess_equals_the_hand_computation():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"t": rng.normal(20, 3, 40), "rain": rng.gamma(2.0, 500.0, 40)})
    nov = Novelty.fit(train)
    assert nov.variables == ("t", "rain")
    points = pd.DataFrame(
        {"t": [20.0, 5.0, 40.0, train["t"].min(), 18.0], "rain": [900.0, 900.0, 10.0, 800.0, 1e5]}
    )
    sim = nov.similarity(points)
    for i in range(len(points)):
        for j, name in enumerate(nov.variables):
            want = _mess_by_hand(train[name].to_numpy(), points[name].iloc[i])
            assert sim[i, j] == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(nov.mess(points), sim.min(axis=1))
    # a worked value: t = 5 lies (20.5 - 5) / range below the minimum
    lo, hi = train["t"].min(), train["t"].max()
    assert sim[1, 0] == pytest.approx(100 * (5.0 - lo) / (hi - lo))


def test_inside_the_training_range_is_not_novel_and_outside_is_negative():
    rng = np.random.default_rng(1)
    train = rng.uniform(0, 10, size=(500, 3))
    nov = Novelty.fit(train, variables=["a", "b", "c"])
    inside = rng.uniform(0.5, 9.5, size=(200, 3))
    score = nov.score(inside)
    assert (score["mess"] >= 0).all() and (score["count"] == 0).all()
    outside = inside.copy()
    outside[:50, 1] = 12.0  # above the maximum of b
    outside[50:100, 0] = -3.0  # below the minimum of a
    outside[100:110, :] = [-1.0, 11.0, 20.0]  # all three out
    score = nov.score(outside)
    assert (score["mess"][:110] < 0).all() and (score["mess"][110:] >= 0).all()
    np.testing.assert_array_equal(score["count"][:50], 1)
    np.testing.assert_array_equal(score["count"][100:110], 3)
    np.testing.assert_array_equal(score["most_dissimilar"][:50], 1)
    np.testing.assert_array_equal(score["most_dissimilar"][50:100], 0)
    np.testing.assert_array_equal(score["most_dissimilar"][100:110], 2)  # 20 is furthest out


def test_nan_covariates_give_nan_mess_and_are_not_counted():
    nov = Novelty.fit(np.array([[0.0, 1.0], [2.0, 3.0], [np.nan, 5.0]]), variables=["a", "b"])
    assert nov.n_reference == {"a": 2, "b": 3}
    score = nov.score(np.array([[np.nan, 9.0], [1.0, 4.0]]))
    assert np.isnan(score["mess"][0]) and score["most_dissimilar"][0] == -1
    np.testing.assert_array_equal(score["count"], [1, 0])


def test_many_training_rows_keep_evenly_spaced_order_statistics():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(20_000, 1))
    nov = Novelty.fit(train, variables=["z"], max_knots=201)
    knots = nov.knots["z"]
    assert knots.size == 201
    assert knots[0] == train.min() and knots[-1] == train.max()
    p = rng.normal(size=(1000, 1))
    exact = Novelty.fit(train, variables=["z"], max_knots=20_000).similarity(p)[:, 0]
    # f is exact to 100 / 201 percentage points, the similarity to twice that
    assert np.abs(nov.similarity(p)[:, 0] - exact).max() <= 2 * 100 / 200 + 1e-9


def test_categorical_covariates_count_unseen_levels():
    train = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0], "landuse": [1, 1, 2, 5]})
    nov = Novelty.fit(train, categorical=["landuse"])
    np.testing.assert_array_equal(nov.levels["landuse"], [1.0, 2.0, 5.0])
    pts = pd.DataFrame({"t": [2.5, 2.5], "landuse": [2, 3]})
    score = nov.score(pts)
    np.testing.assert_array_equal(score["count"], [0, 1])
    assert score["mess"][0] > 0 and score["mess"][1] == -100.0


def test_round_trip_through_a_plain_dict():
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"a": rng.normal(size=300), "k": rng.integers(0, 4, 300)})
    nov = Novelty.fit(train, categorical=["k"], max_knots=50)
    state = json.loads(json.dumps(nov.to_dict()))  # plain JSON, as a model stores it
    back = Novelty.from_dict(state)
    pts = pd.DataFrame({"a": rng.normal(0, 2, size=100), "k": rng.integers(0, 6, 100)})
    for key, value in nov.score(pts).items():
        np.testing.assert_array_equal(back.score(pts)[key], value)


def test_bad_inputs_are_named():
    with pytest.raises(InvalidInputError, match=r"max_knots=1 must be an integer >= 2"):
        Novelty.fit(np.zeros((3, 1)), variables=["a"], max_knots=1)
    with pytest.raises(InvalidInputError, match=r"variables= is required"):
        Novelty.fit(np.zeros((3, 1)))
    with pytest.raises(InvalidInputError, match=r"must name at least one covariate, each once"):
        Novelty.fit(np.zeros((3, 2)), variables=["a", "a"])
    with pytest.raises(InvalidInputError, match=r"categorical=\['x'\] are not among"):
        Novelty.fit(np.zeros((3, 1)), variables=["a"], categorical=["x"])
    with pytest.raises(InvalidInputError, match=r"covariate 'a' has no finite value"):
        Novelty.fit(np.full((3, 1), np.nan), variables=["a"])
    with pytest.raises(InvalidInputError, match=r"array of shape \(n, 2\).*got shape \(3, 1\)"):
        Novelty.fit(np.zeros((3, 1)), variables=["a", "b"])
    nov = Novelty.fit(pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]}))
    with pytest.raises(InvalidInputError, match=r"lacks the covariate columns \['b'\]"):
        nov.mess(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(InvalidInputError, match=r"covariate columns must be numeric"):
        nov.mess(pd.DataFrame({"a": ["x"], "b": [1.0]}))
    with pytest.raises(InvalidInputError, match=r"not a novelty state \(format None"):
        Novelty.from_dict({"variables": ["a"]})
    state = nov.to_dict()
    del state["knots"]["b"]
    with pytest.raises(InvalidInputError, match=r"damaged novelty state: covariates"):
        Novelty.from_dict(state)
    state = nov.to_dict()
    state["knots"]["a"] = []
    with pytest.raises(InvalidInputError, match=r"an empty reference distribution"):
        Novelty.from_dict(state)
    state = nov.to_dict()
    del state["variables"]
    with pytest.raises(InvalidInputError, match=r"damaged novelty state \(KeyError"):
        Novelty.from_dict(state)
