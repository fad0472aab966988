"""Acidification in the full model: calcite cycle, carbonate responses and their signs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from ecocube.ocean import carbonate, compute_indices, default_scenario, sample_scenarios, simulate
from ecocube.ocean.biogeochemistry import TracerLayout
from ecocube.ocean.diagnostics import OutputVariable
from ecocube.ocean.parameters import (
    COCCO,
    DEFAULT_PARAMETERS,
    DEFAULT_PHYTO,
    THREE_TYPES,
    ModelParameters,
)
from ecocube.ocean.phyto_carbonate import PhytoCarbonate
from ecocube.ocean.schemes import ColumnScheme
from ecocube.ocean.variables import VARIABLES

from .conftest import SMALL
from .test_biogeochemistry import _run_setup


def _rows(**columns: list[float]) -> pd.DataFrame:
    """The default scenario repeated, with the given columns set row by row."""
    n = len(next(iter(columns.values())))
    table = pd.concat([default_scenario()] * n, ignore_index=True)
    return table.assign(**columns)


#: Rows of the shared run: name -> (co2_start ppm, co2_trend ppm yr-1, sensitivity, adaptation).
_PATHS = {
    "today": (400.0, 0.0, 1.0, 0.0),
    "high_start": (1000.0, 0.0, 1.0, 0.0),
    "rising": (400.0, 20.0, 1.0, 0.0),
    "high_insensitive": (1000.0, 0.0, 0.0, 0.0),
    "high_adapted": (1000.0, 0.0, 1.0, 1.0),
    "high_half_adapted": (1000.0, 0.0, 1.0, 0.5),
    "high_doubly_sensitive": (1000.0, 0.0, 2.0, 0.0),
}


@pytest.fixture(scope="module")
def paths() -> xr.Dataset:
    """One batched run of the default community (with the calcifier) along CO2 paths."""
    rows = list(_PATHS.values())
    table = _rows(
        co2_start=[r[0] for r in rows],
        co2_trend=[r[1] for r in rows],
        acid_sensitivity=[r[2] for r in rows],
        acid_adaptation=[r[3] for r in rows],
    )
    ds = simulate(table, **SMALL)
    return ds.assign_coords(scenario=list(_PATHS))


def _annual(ds: xr.Dataset, name: str) -> pd.Series:
    return ds[name].sum("time").to_series()


def test_the_calcite_outputs_carry_the_registry_names_and_units(paths: xr.Dataset) -> None:
    for name in ("calc", "omega_calcite", "intpcalcite"):
        assert paths[name].dims == ("scenario", "time"), name
        assert paths[name].attrs["units"] == VARIABLES[name].units, name
        assert bool(np.isfinite(paths[name].values).all()), name
    assert paths["calc"].attrs["standard_name"] == VARIABLES["calc"].standard_name
    assert paths["intpcalcite"].attrs["standard_name"] == VARIABLES["intpcalcite"].standard_name
    assert "standard_name" not in paths["omega_calcite"].attrs
    # supersaturated surface water, calcite formed and present all year
    assert float(paths["omega_calcite"].min()) > 1.0
    assert float(paths["intpcalcite"].min()) > 0.0 and float(paths["calc"].min()) > 0.0


def test_a_higher_co2_path_lowers_omega_and_calcification(paths: xr.Dataset) -> None:
    omega = paths["omega_calcite"].mean("time").to_series()
    calc = _annual(paths, "intpcalcite")
    assert omega["high_start"] < 0.9 * omega["today"]
    assert calc["high_start"] < 0.95 * calc["today"]
    # 20 ppm a year: a smaller change over one year, the same sign
    assert omega["rising"] < omega["today"]
    assert calc["rising"] < calc["today"]


def test_acid_sensitivity_scales_the_calcification_response(paths: xr.Dataset) -> None:
    calc = _annual(paths, "intpcalcite")
    # at 1000 ppm Omega falls below its start: a stronger response calcifies less
    assert calc["high_doubly_sensitive"] < calc["high_start"] < calc["high_insensitive"]
    assert calc["high_start"] < calc["high_half_adapted"] < calc["high_insensitive"]


def test_full_adaptation_is_no_response_bit_for_bit(paths: xr.Dataset) -> None:
    # a = 1 perceives the reference exactly and s = 0 raises every ratio to the power 0:
    # every factor is exactly 1 in both, so the runs are the same to the last bit
    for name in paths.data_vars:
        adapted = paths[name].sel(scenario="high_adapted").values
        insensitive = paths[name].sel(scenario="high_insensitive").values
        assert np.array_equal(adapted, insensitive), name
    assert not np.array_equal(
        paths["intpcalcite"].sel(scenario="high_start").values,
        paths["intpcalcite"].sel(scenario="high_insensitive").values,
    )


def test_calcification_lowers_the_annual_co2_uptake() -> None:
    no_calcite = ModelParameters(
        phyto=(*DEFAULT_PHYTO[:3], dataclasses.replace(COCCO, pic_poc=0.0))
    )
    table = default_scenario()
    with_calcite = simulate(table, **SMALL)
    without = simulate(table, parameters=no_calcite, **SMALL)
    assert float(without["intpcalcite"].max()) == 0.0 and float(without["calc"].max()) == 0.0
    # calcite takes two TA per DIC from the surface water: pCO2 rises, the ocean takes up less
    assert float(with_calcite["talk"].mean()) < float(without["talk"].mean()) - 10.0
    assert float(with_calcite["spco2"].mean()) > float(without["spco2"].mean())
    uptake = compute_indices(with_calcite)["co2_uptake"].iloc[0]
    uptake_without = compute_indices(without)["co2_uptake"].iloc[0]
    assert uptake < uptake_without - 0.1  # mol C m-2 yr-1


class _Budgets(PhytoCarbonate):
    """PhytoCarbonate with the column's alkalinity budget TA + NO3 + 2 PIC as an output."""

    @property
    def derived_fields(self) -> tuple[str, ...]:
        return (*super().derived_fields, "alkalinity_budget")

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        budget = OutputVariable((), {"units": "mmol m-2"}, "alkalinity_budget", "end_integral")
        return {**super().outputs, "total_alkalinity_budget": budget}

    def derived(self, name: str, y: torch.Tensor) -> torch.Tensor:
        if name == "alkalinity_budget":
            return y[:, self.i_talk] + y[:, self.i_no3] + 2.0 * y[:, self.i_pic]
        return super().derived(name, y)


def test_a_closed_column_conserves_carbon_and_alkalinity_over_a_year() -> None:
    ds = simulate(sample_scenarios(2, seed=4), biogeochemistry=_Budgets(), closed=True, **SMALL)
    for name in ("total_carbon", "total_alkalinity_budget", "total_nitrogen"):
        total = ds[name].values
        drift = np.abs(total - total[:, :1]).max() / np.abs(total).min()
        assert drift < 1e-10, (name, drift)
    # not trivial: calcite formed, sank and dissolved, moving TA by more than the round-off
    assert float(ds["intpcalcite"].sum("time").min()) > 100.0  # mmol m-2 yr-1
    assert float(ds["talk"].max() - ds["talk"].min()) > 10.0


@pytest.mark.parametrize("slope", [1e-3, -1e-3])
def test_a_co2_sensitive_non_calcifier_grows_with_the_sign_of_its_co2_growth(
    slope: float,
) -> None:
    diatom = dataclasses.replace(THREE_TYPES[0], co2_growth=slope)
    params = ModelParameters(phyto=(diatom,))
    ds = simulate(
        _rows(co2_start=[1000.0, 1000.0], acid_sensitivity=[0.0, 1.0]), parameters=params, **SMALL
    )
    production = ds["intpp"].sum("time").values  # pCO2 rises above its start at 1000 ppm
    assert np.sign(production[1] - production[0]) == np.sign(slope)
    assert abs(production[1] / production[0] - 1.0) > 0.01
    assert float(ds["calc"].max()) == 0.0  # no calcifier, no calcite


def test_the_indices_work_with_four_types(paths: xr.Dataset) -> None:
    indices = compute_indices(paths)
    assert bool(np.isfinite(indices.to_numpy()).all())
    assert (indices["shannon"] > np.log(3.0)).all() and (indices["shannon"] <= np.log(4.0)).all()
    assert (indices["gini_simpson"] <= 0.75).all() and (indices["rao_q"] > 0.0).all()
    np.testing.assert_allclose(
        indices["co2_uptake"].to_numpy(), paths["fgco2"].sum("time").values / 1000.0
    )
    assert paths.sizes["phyto_type"] == 4 and str(paths["phyto_type"].values[-1]) == "cocco"


# --- one step of the calcite cycle --------------------------------------------------------------


def _one_step(
    params: ModelParameters, shortwave: float, **state: float | list[float]
) -> tuple[TracerLayout, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Set up PhytoCarbonate on a 6-layer column and run ``sources`` once on two scenarios.

    Returns the layout, the state before and after, and the step diagnostics.
    """
    bgc = PhytoCarbonate(params)
    column = ColumnScheme(n_layers=6)
    layout = TracerLayout([("ColumnScheme", column.tracers), ("PhytoCarbonate", bgc.tracers)])
    table = _rows(acid_sensitivity=[1.0, 1.0])
    run = dataclasses.replace(_run_setup(layout), table=table, parameters=params, closed=True)
    bgc.setup(run)
    y = torch.zeros(2, layout.n_slots, 6, dtype=torch.float64)
    values = {"temperature": 15.0, "no3": 5.0, "dic": 2100.0, "talk": 2300.0, **state}
    for name, value in values.items():
        index = layout.index(name)
        target = torch.as_tensor(value, dtype=torch.float64)
        y[:, index] = target if isinstance(index, int) else target.reshape(-1, 1)
    y[:, layout.index("phyn")] = y[:, layout.index("phyc")] * 0.1
    day = {"shortwave": shortwave, "wind": 7.0, "co2": 415.0, "warming_now": 0.0}
    bgc.start_day({k: torch.full((2,), v, dtype=torch.float64) for k, v in day.items()})
    before = y.clone()
    diagnostics = bgc.sources(y, {})
    return layout, before, y, diagnostics


def test_calcite_dissolves_at_the_kinetic_rate_below_saturation_and_returns_2_ta_per_c() -> None:
    dic = [2050.0, 2150.0, 2250.0, 2290.0, 2320.0, 2350.0]  # from super- to undersaturated
    layout, before, after, diags = _one_step(
        DEFAULT_PARAMETERS, shortwave=0.0, phyc=1e-6, pic=5.0, dic=dic
    )
    rho = carbonate.RHO_SW / 1000.0
    pressure = torch.as_tensor(ColumnScheme(n_layers=6).depth / 10.0)
    omega = carbonate.omega_calcite(
        before[:, 2] / rho, before[:, 3] / rho, before[:, 0], pressure_bar=pressure
    )
    torch.testing.assert_close(diags["omega"], omega, rtol=1e-12, atol=0.0)
    assert bool((omega[0, :2] > 1.0).all()) and bool((omega[0, -2:] < 1.0).all())
    carb = DEFAULT_PARAMETERS.carbonate
    rate = (
        carb.pic_dissolution_rate * (1.0 - omega).clamp_min(0.0) ** carb.pic_dissolution_order
        + carb.pic_sinking / carb.pic_dissolution_length
    ) / 86400.0
    dissolved = 5.0 * -torch.expm1(-rate * 21600.0)
    assert float(diags["pcalc"].abs().max()) == 0.0  # no light: no growth, no calcite formed

    def change(name: str) -> torch.Tensor:
        index = layout.index(name)
        return (after[:, index] - before[:, index]).reshape(2, -1, 6).sum(1)

    torch.testing.assert_close(-change("pic"), dissolved, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(change("dic"), dissolved, rtol=1e-12, atol=1e-12)
    # nitrate uptake moves TA and NO3 one to one; calcite two TA per C
    torch.testing.assert_close(
        change("talk") + change("no3"), 2.0 * dissolved, rtol=1e-9, atol=1e-12
    )


def test_a_calcifier_forms_pic_poc_calcite_per_carbon_fixed_at_its_reference() -> None:
    params = ModelParameters(phyto=(COCCO,))
    layout, before, after, diags = _one_step(params, shortwave=300.0, phyc=2.0)

    def change(name: str) -> torch.Tensor:
        return after[:, layout.index(name)] - before[:, layout.index(name)]

    # first step: Omega is its own reference, every factor is 1
    assert float(diags["pp"].min()) > 0.0
    torch.testing.assert_close(diags["pcalc"], COCCO.pic_poc * diags["pp"], rtol=1e-14, atol=0.0)
    dissolved = diags["pcalc"] - change("pic")  # of the calcite formed none was there before
    assert float(dissolved.abs().max()) == 0.0
    torch.testing.assert_close(change("dic"), -diags["pp"] - diags["pcalc"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(
        change("talk") + change("no3"), -2.0 * diags["pcalc"], rtol=1e-9, atol=1e-12
    )
