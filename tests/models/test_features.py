"""The one covariate encoder of every model: scaling, squares, one-hot levels, its plain-dict state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models._features import CovariateEncoder


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t": rng.normal(size=n),
            "r": rng.lognormal(1.0, 1.0, size=n),
            "veg": rng.integers(1, 4, size=n),
            "soil": rng.choice([2, 10, 11], size=n),
        }
    )


def test_scales_on_the_reference_table_with_standardised_squares() -> None:
    df = _table()
    enc = CovariateEncoder(["t", "r"], ["veg"], quadratic=True).fit(df)
    x = enc.transform(df)
    assert x.dtype == np.float32 and x.shape == (40, 2 + 2 + 3)
    assert enc.feature_names == ["t", "r", "t^2", "r^2", "veg=1", "veg=2", "veg=3"]
    np.testing.assert_allclose(x[:, :4].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(x[:, :4].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(x[:, 4:].sum(1), 1)
    # scales come from the reference table only: other rows are measured on its scale
    ref = df.iloc[:20]
    other = CovariateEncoder(["t"]).fit(ref).transform(df.iloc[20:])
    np.testing.assert_allclose(
        other[:, 0], (df["t"].iloc[20:] - ref["t"].mean()) / ref["t"].std(ddof=0), rtol=1e-5
    )


def test_quantile_scaling_is_monotone_and_normal() -> None:
    rng = np.random.default_rng(0)
    bg = pd.DataFrame({"rain": rng.lognormal(3, 1, 5000), "soil": rng.integers(1, 4, 5000)})
    enc = CovariateEncoder(["rain", "soil"], scaling="quantile").fit(bg)
    z = enc.transform(bg)
    assert abs(z[:, 0].mean()) < 0.02 and abs(z[:, 0].std() - 1) < 0.05  # skew removed
    grid = pd.DataFrame({"rain": np.linspace(0, 500, 50), "soil": np.full(50, 2)})
    assert (np.diff(enc.transform(grid)[:, 0]) >= 0).all()
    assert np.isfinite(enc.transform(grid)).all()  # values outside the range are clipped
    # squares of the quantile scores are standardised too
    quad = CovariateEncoder(["rain"], scaling="quantile", quadratic=True).fit(bg).transform(bg)
    assert abs(quad[:, 1].mean()) < 1e-4 and abs(quad[:, 1].std() - 1) < 1e-3


def test_level_orders_and_one_level_per_canonical_value() -> None:
    df = _table()
    by_value = CovariateEncoder(categorical=["soil"]).fit(df)
    assert by_value.levels_ == {"soil": ["2", "10", "11"]}
    by_text = CovariateEncoder(categorical=["soil"], level_order="text").fit(df)
    assert by_text.levels_ == {"soil": ["10", "11", "2"]}
    # 3, 3.0 and "3" are one level; text levels sort alphabetically in either order
    mixed = pd.DataFrame({"c": pd.Series([3, 3.0, "3", "b", "a"], dtype=object)})
    assert CovariateEncoder(categorical=["c"]).fit(mixed).levels_ == {"c": ["3", "a", "b"]}
    floats = pd.DataFrame({"soil": [2.0, 10.0, 11.0]})
    np.testing.assert_array_equal(by_value.transform(floats), np.eye(3, dtype=np.float32))
    text = pd.DataFrame({"soil": ["11", "2"]})
    np.testing.assert_array_equal(by_value.transform(text), [[0, 0, 1], [1, 0, 0]])
    # levels_from adds levels seen elsewhere (e.g. only among the presences)
    extra = CovariateEncoder(categorical=["veg"]).fit(df, levels_from=pd.DataFrame({"veg": [9]}))
    assert extra.levels_ == {"veg": ["1", "2", "3", "9"]}


def test_unseen_levels_raise_or_are_ignored() -> None:
    df = _table()
    enc = CovariateEncoder(["t"], ["veg"]).fit(df)
    new = df.head(3).copy()
    new.loc[new.index[0], "veg"] = 9
    with pytest.raises(
        InvalidInputError, match=r"'veg' has level\(s\) \['9'\] not seen at fit time \(1 rows"
    ):
        enc.transform(new)
    many = CovariateEncoder(categorical=["c"]).fit(pd.DataFrame({"c": np.arange(30)}))
    with pytest.raises(
        InvalidInputError, match=r"level\(s\) \['30', '31', .*'39', \.\.\. 5 more\]"
    ):
        many.transform(pd.DataFrame({"c": np.arange(30, 45)}))
    enc.handle_unknown = "ignore"
    assert enc.transform(new)[0, 1:].sum() == 0


def test_state_is_a_plain_dict_that_round_trips_exactly() -> None:
    df = _table()
    for scaling in ("zscore", "quantile"):
        enc = CovariateEncoder(
            ["t", "r"], ["soil", "veg"], quadratic=True, scaling=scaling, level_order="text"
        ).fit(df)
        state = json.loads(json.dumps(enc.to_dict()))  # plain JSON types only
        again = CovariateEncoder.from_dict(state)
        np.testing.assert_array_equal(again.transform(df), enc.transform(df))
        assert again.feature_names == enc.feature_names
    # a dict of format version 1 (no scaling, order or quantiles) reads as z-score, text order
    old = {
        k: v for k, v in CovariateEncoder(["t"], ["veg"], quadratic=True).fit(df).to_dict().items()
    }
    for key in ("scaling", "handle_unknown", "level_order", "quantiles"):
        old.pop(key)
    assert CovariateEncoder.from_dict(old).level_order == "text"


def test_bad_settings_and_states() -> None:
    df = _table()
    with pytest.raises(InvalidInputError, match="scaling must be 'zscore' or 'quantile'"):
        CovariateEncoder(["t"], scaling="minmax")
    with pytest.raises(InvalidInputError, match="handle_unknown must be 'error' or 'ignore'"):
        CovariateEncoder(["t"], handle_unknown="skip")
    with pytest.raises(InvalidInputError, match="level_order must be 'value' or 'text'"):
        CovariateEncoder(["t"], level_order="count")
    with pytest.raises(InvalidInputError, match=r"columns \['t'\] are listed as both"):
        CovariateEncoder(["t"], ["t"])
    with pytest.raises(InvalidInputError, match="the encoder is not fitted"):
        CovariateEncoder(["t"]).transform(df)
    enc = CovariateEncoder(["t", "r"], ["veg"]).fit(df)
    with pytest.raises(InvalidInputError, match=r"lacks the covariate columns \['r'\]"):
        enc.transform(df.drop(columns="r"))
    with pytest.raises(InvalidInputError, match=r"missing values in covariates: t \(1 rows\)"):
        enc.transform(df.assign(t=[np.nan] + [0.0] * 39))
    state = enc.to_dict()
    with pytest.raises(InvalidInputError, match=r"'mean' has shape \(1,\), expected \(2,\)"):
        CovariateEncoder.from_dict({**state, "mean": [0.0]})
    with pytest.raises(InvalidInputError, match=r"no levels for categorical \['veg'\]"):
        CovariateEncoder.from_dict({**state, "levels": {}})
    with pytest.raises(InvalidInputError, match="scaling='quantile' but no quantiles"):
        CovariateEncoder.from_dict({**state, "scaling": "quantile"})
    with pytest.raises(InvalidInputError, match=r"'quantiles' has shape \(2, 2\), expected"):
        CovariateEncoder.from_dict({**state, "scaling": "quantile", "quantiles": [[0, 1]] * 2})
