"""Indices on hand-computable cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean import (
    annual_co2_uptake,
    annual_primary_production,
    bloom_timing,
    compute_indices,
    gini_simpson,
    rao_q,
    shannon,
)


def test_shannon_hand_values() -> None:
    assert float(shannon([1, 1, 1])) == pytest.approx(math.log(3))
    assert float(shannon([5, 0, 0])) == 0.0
    p = np.array([0.5, 0.25, 0.25])
    assert float(shannon(p * 8)) == pytest.approx(-(0.5 * math.log(0.5) + 0.5 * math.log(0.25)))
    assert np.isnan(shannon([0.0, 0.0]))
    np.testing.assert_allclose(shannon([[1, 1], [1, 0]]), [math.log(2), 0.0])


def test_gini_simpson_hand_values() -> None:
    assert float(gini_simpson([1, 1, 1, 1])) == pytest.approx(0.75)
    assert float(gini_simpson([2, 0])) == 0.0
    assert float(gini_simpson([0.5, 0.25, 0.25])) == pytest.approx(1 - (0.25 + 2 * 0.0625))


def test_rao_q_hand_values() -> None:
    # two equal types 10 degC apart: 2 * 0.5 * 0.5 * 10 = 5
    assert float(rao_q([1, 1], [10.0, 20.0])) == pytest.approx(5.0)
    # three types at 0, 10, 30 with p = (0.5, 0.25, 0.25):
    # 2 * (0.5*0.25*10 + 0.5*0.25*30 + 0.25*0.25*20) = 12.5
    assert float(rao_q([2, 1, 1], [0.0, 10.0, 30.0])) == pytest.approx(12.5)
    assert float(rao_q([1, 0, 0], [0.0, 10.0, 30.0])) == 0.0
    # with equal distances Rao's Q is d times the Gini-Simpson index
    b = np.array([3.0, 1.0, 2.0])
    assert float(rao_q(b, [0.0, 0.0, 0.0])) == 0.0
    with pytest.raises(InvalidInputError, match=r"traits has shape \(2,\); expected \(3,\)"):
        rao_q(b, [1.0, 2.0])


def test_negative_or_nan_biomass_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="negative values"):
        shannon([1.0, -0.5])
    with pytest.raises(InvalidInputError, match="NaN"):
        gini_simpson([1.0, np.nan])


def _synthetic(years: int = 1) -> xr.Dataset:
    n = 365 * years
    day = np.arange(n) % 365 + 1
    chl = np.stack([np.exp(-0.5 * ((day - peak) / 10.0) ** 2) + 0.1 for peak in (100, 150)])
    fgco2 = np.stack([np.full(n, 2.0), np.full(n, -1.0)])  # mmol m-2 d-1
    intpp = np.stack([np.full(n, 50.0), np.where(day <= 100, 100.0, 0.0)])
    intphyc = np.zeros((2, n, 3))
    intphyc[0] = [1.0, 1.0, 1.0]
    intphyc[1] = [1.0, 0.0, 0.0]
    return xr.Dataset(
        {
            "chl": (("scenario", "time"), chl),
            "fgco2": (("scenario", "time"), fgco2),
            "intpp": (("scenario", "time"), intpp),
            "intphyc": (("scenario", "time", "phyto_type"), intphyc),
        },
        coords={"scenario": [0, 1], "t_opt": ("phyto_type", [12.0, 18.0, 22.0])},
    )


def test_annual_sums_and_bloom_timing_on_a_synthetic_dataset() -> None:
    ds = _synthetic()
    np.testing.assert_allclose(annual_co2_uptake(ds).values, [0.730, -0.365])
    np.testing.assert_allclose(annual_primary_production(ds).values, [18.25, 10.0])
    np.testing.assert_array_equal(bloom_timing(ds).values, [100, 150])
    thr = bloom_timing(ds, method="threshold").values
    assert bool((thr < [100, 150]).all() and (thr > [60, 110]).all())
    table = compute_indices(ds)
    assert table.loc[0, "shannon"] == pytest.approx(math.log(3))
    assert table.loc[1, "shannon"] == 0.0
    assert table.loc[0, "gini_simpson"] == pytest.approx(2 / 3)
    # Rao: p = 1/3 each, d = 6, 10, 4 -> 2 * (6 + 10 + 4) / 9
    assert table.loc[0, "rao_q"] == pytest.approx(40 / 9)


def test_multi_year_indices() -> None:
    ds = _synthetic(years=2)
    per_year = annual_co2_uptake(ds, per_year=True)
    assert per_year.dims == ("scenario", "year") and per_year.sizes["year"] == 2
    np.testing.assert_allclose(per_year.values[:, 0], per_year.values[:, 1])
    np.testing.assert_array_equal(bloom_timing(ds, per_year=True).values[:, 1], [100, 150])


def test_index_errors() -> None:
    ds = _synthetic()
    with pytest.raises(InvalidInputError, match="whole 365-day years"):
        annual_co2_uptake(ds.isel(time=slice(0, 200)))
    with pytest.raises(InvalidInputError, match=r"lacks variable\(s\) \['fgco2'\]"):
        annual_co2_uptake(ds.drop_vars("fgco2"))
    with pytest.raises(InvalidInputError, match="method='median' is not one of"):
        bloom_timing(ds, method="median")
