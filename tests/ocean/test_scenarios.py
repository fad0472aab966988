"""Scenario table: Latin-hypercube sampling, overrides and validation errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecocube.ocean import (
    SCENARIO_PARAMETERS,
    ScenarioError,
    default_scenario,
    sample_scenarios,
    validate_scenarios,
)

NAMES = [p.name for p in SCENARIO_PARAMETERS]


def test_required_parameters_are_present() -> None:
    for name in (
        "warming",
        "seasonal_amplitude",
        "co2_start",
        "co2_trend",
        "light",
        "nutrient_supply",
        "wind",
        "adaptation",
    ):
        assert name in NAMES
    for p in SCENARIO_PARAMETERS:
        assert p.valid_low <= p.low <= p.default <= p.high <= p.valid_high


def test_latin_hypercube_is_stratified_and_seeded() -> None:
    n = 20
    df = sample_scenarios(n, seed=3)
    assert list(df.columns) == NAMES and len(df) == n and df.index.name == "scenario"
    for p in SCENARIO_PARAMETERS:
        u = (df[p.name].to_numpy() - p.low) / (p.high - p.low)
        bins = np.floor(u * n).astype(int)
        assert sorted(bins) == list(range(n)), p.name  # one sample per stratum
    pd.testing.assert_frame_equal(df, sample_scenarios(n, seed=3))
    assert not df.equals(sample_scenarios(n, seed=4))


def test_ranges_override_allows_extrapolation_and_fixing() -> None:
    df = sample_scenarios(8, seed=0, ranges={"warming": (3.0, 4.0), "wind": 6.0})
    assert df["warming"].between(3.0, 4.0).all() and df["warming"].max() > 3.0
    assert (df["wind"] == 6.0).all()
    validate_scenarios(df)


def test_default_scenario_is_valid() -> None:
    df = validate_scenarios(default_scenario())
    assert len(df) == 1 and float(df["wind"].iloc[0]) == 7.0


def test_validate_drops_extra_columns_and_accepts_a_mapping() -> None:
    df = sample_scenarios(2, seed=0).assign(note="x")
    assert list(validate_scenarios(df).columns) == NAMES
    mapping = {p.name: [p.default] for p in SCENARIO_PARAMETERS}
    assert len(validate_scenarios(mapping)) == 1


def test_mapping_of_scalars_is_one_scenario_and_of_sequences_several() -> None:
    table = sample_scenarios(3, seed=0)
    one = validate_scenarios(dict(table.iloc[1]))  # was a raw pandas "all scalar values" error
    assert len(one) == 1 and one.index.name == "scenario"
    np.testing.assert_allclose(one.to_numpy()[0], table.to_numpy()[1])
    row = validate_scenarios(table.iloc[2])  # a Series (one row of a table) is one scenario
    assert list(row.index) == [2]
    np.testing.assert_allclose(row.to_numpy()[0], table.to_numpy()[2])
    columns = {c: table[c].to_numpy() for c in table.columns}
    np.testing.assert_allclose(validate_scenarios(columns).to_numpy(), table.to_numpy())
    shared = validate_scenarios({**columns, "wind": 5.0})  # a scalar is shared by all
    assert shared["wind"].to_list() == [5.0, 5.0, 5.0]
    with pytest.raises(ScenarioError, match=r"sequences of different lengths .*'light': 2"):
        validate_scenarios({**columns, "light": [1.0, 1.0]})
    with pytest.raises(ScenarioError, match=r"scenarios\['wind'\] hold\(s\) multi-dimensional"):
        validate_scenarios({**columns, "wind": np.ones((3, 2))})


def test_missing_column_is_rejected() -> None:
    df = sample_scenarios(2, seed=0).drop(columns=["wind", "light"])
    with pytest.raises(ScenarioError, match=r"missing column\(s\) \['light', 'wind'\]"):
        validate_scenarios(df)


@pytest.mark.parametrize("column", ["co2_start", "acid_sensitivity"])  # optional ones too
def test_nan_value_is_rejected(column) -> None:
    df = sample_scenarios(3, seed=0)
    df.loc[1, column] = np.nan
    with pytest.raises(
        ScenarioError, match=rf"scenarios\['{column}'\] has NaN/inf at row\(s\) \[1\]"
    ):
        validate_scenarios(df)


@pytest.mark.parametrize(
    ("column", "value", "valid"),
    [("warming", 12.0, r"-3.0, 8.0"), ("acid_adaptation", 1.5, r"0.0, 1.0")],
)
def test_out_of_range_value_is_rejected(column, value, valid) -> None:
    df = sample_scenarios(3, seed=0)
    df.loc[2, column] = value
    with pytest.raises(
        ScenarioError, match=rf"scenarios\['{column}'\]={value} .*out of range.*{valid}"
    ):
        validate_scenarios(df)


def test_non_numeric_and_empty_tables_are_rejected() -> None:
    df = sample_scenarios(2, seed=0).astype(object)
    df.loc[0, "wind"] = "windy"
    with pytest.raises(ScenarioError, match="non-numeric"):
        validate_scenarios(df)
    with pytest.raises(ScenarioError, match="no rows"):
        validate_scenarios(sample_scenarios(2, seed=0).iloc[:0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "positive integer"),
        ({"n": 2, "seed": -1}, r"seed=-1 must be a non-negative integer"),
        ({"n": 2, "seed": 1.5}, r"seed=1.5 must be a non-negative integer"),
        (
            {"n": 2, "ranges": {"sunshine": (0, 1)}},
            r"unknown scenario parameter\(s\) \['sunshine'\]",
        ),
        ({"n": 2, "ranges": {"warming": (2.0, 1.0)}}, "low > high"),
        ({"n": 2, "ranges": {"warming": (0.0, 9.0)}}, r"leaves the valid range \[-3.0, 8.0\]"),
    ],
)
def test_sampler_errors(kwargs, match) -> None:
    kwargs = {"seed": 0, **kwargs}
    n = kwargs.pop("n")
    with pytest.raises(ScenarioError, match=match):
        sample_scenarios(n, **kwargs)


def test_parameter_registry_has_units_and_sources_for_every_value() -> None:
    from ecocube.ocean.parameters import DEFAULT_PARAMETERS, parameter_table

    table = parameter_table()
    assert len(table) > 40
    assert (table["units"] != "").sum() >= len(table) - 3  # dimensionless ones use "1"
    assert (table["source"] != "").all() and (table["description"] != "").all()
    row = table[(table["group"] == "diatom") & (table["name"] == "t_opt")].iloc[0]
    assert row["value"] == DEFAULT_PARAMETERS.phyto[0].t_opt and row["units"] == "degC"


# --- optional parameters (acidification) --------------------------------------------------

REQUIRED = [p for p in SCENARIO_PARAMETERS if not p.optional]
OPTIONAL = [p for p in SCENARIO_PARAMETERS if p.optional]


def test_acidification_parameters_are_optional_and_last() -> None:
    assert [p.name for p in OPTIONAL] == ["acid_sensitivity", "acid_adaptation"]
    assert NAMES[-len(OPTIONAL) :] == [p.name for p in OPTIONAL]
    assert len(REQUIRED) == 8
    sens, adapt = OPTIONAL
    assert sens.default == 1.0 and sens.low == 0.0 and sens.valid_low == 0.0
    assert (adapt.default, adapt.valid_low, adapt.valid_high) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_required_columns_are_sampled_as_before_the_optional_ones(seed) -> None:
    from scipy.stats import qmc

    n = 17
    df = sample_scenarios(n, seed=seed)
    # the sampler before the optional parameters: one Latin hypercube of the required ones
    u = qmc.LatinHypercube(d=len(REQUIRED), seed=np.random.default_rng(seed)).random(n)
    low = np.array([p.low for p in REQUIRED])
    high = np.array([p.high for p in REQUIRED])
    expect = low + u * (high - low)
    np.testing.assert_array_equal(df[[p.name for p in REQUIRED]].to_numpy(), expect)
    # the optional ones come from another stream: not a copy of the first required columns
    u_opt = (df[[p.name for p in OPTIONAL]].to_numpy() - [p.low for p in OPTIONAL]) / [
        p.high - p.low for p in OPTIONAL
    ]
    assert not np.allclose(u_opt, u[:, : len(OPTIONAL)])
    # narrowing an optional range leaves the required columns alone
    fixed = sample_scenarios(n, seed=seed, ranges={"acid_sensitivity": 0.0})
    pd.testing.assert_frame_equal(fixed[[p.name for p in REQUIRED]], df[[p.name for p in REQUIRED]])
    assert (fixed["acid_sensitivity"] == 0.0).all()


def test_missing_optional_columns_take_their_defaults() -> None:
    table = sample_scenarios(3, seed=0)
    old = table.drop(columns=[p.name for p in OPTIONAL])  # a table from before they existed
    out = validate_scenarios(old)
    assert list(out.columns) == NAMES
    for p in OPTIONAL:
        assert (out[p.name] == p.default).all()
    pd.testing.assert_frame_equal(out[list(old.columns)], old)
    assert list(old.columns) == [p.name for p in REQUIRED]  # the caller's table is untouched
    one = validate_scenarios(dict(old.iloc[0]))  # a mapping of scalars, too
    assert float(one["acid_sensitivity"].iloc[0]) == 1.0
    partial = validate_scenarios(table.drop(columns="acid_adaptation"))
    np.testing.assert_array_equal(partial["acid_sensitivity"], table["acid_sensitivity"])
    assert (partial["acid_adaptation"] == 0.0).all()


def test_missing_required_column_is_still_refused_beside_optional_ones() -> None:
    df = sample_scenarios(2, seed=0).drop(columns=["warming", "acid_sensitivity"])
    with pytest.raises(ScenarioError, match=r"missing column\(s\) \['warming'\];"):
        validate_scenarios(df)
