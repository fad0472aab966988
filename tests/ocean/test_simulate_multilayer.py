"""``simulate(physics="multilayer")``: the multilayer basin coupled with the biogeochemistry."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest

from ecocube.errors import ConfigurationError, InvalidInputError
from ecocube.ocean import compute_indices, sample_scenarios, simulate
from ecocube.ocean._errors import StabilityError
from ecocube.ocean.multilayer import BasinConfig, OpenBoundary
from ecocube.ocean.multilayer.scheme import MultilayerScheme, default_basin
from tests.conftest import requires_mirror

SIM = sys.modules["ecocube.ocean.simulate"]

#: A cheap basin: 3 shallow cells of 100 km (one or two hydrodynamic sub-steps per 3 h).
SMALL = BasinConfig(length=300_000.0, nx=3, n_layers=3, bathymetry=10.0, width=10_000.0)
OPEN = dataclasses.replace(SMALL, open_boundary=OpenBoundary(side="right", kind="elevation"))


@pytest.fixture
def short_year(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated "years" of 6 days: keeps the unit tests fast."""
    monkeypatch.setattr(SIM, "DAYS_PER_YEAR", 6)


def _scenarios(n: int = 1):
    return sample_scenarios(n, seed=3)


def _scheme(basin: BasinConfig = SMALL, **kwargs):
    return MultilayerScheme(basin=basin, **kwargs)


@pytest.mark.usefixtures("short_year")
def test_output_contract_matches_the_column() -> None:
    sc = _scenarios()
    column = simulate(sc, n_layers=5)
    basin = simulate(sc, physics="multilayer", basin=SMALL)
    assert set(basin.data_vars) == (set(column.data_vars) - {"mlotst"}) | {"zos", "uo"}
    for name in column.data_vars:
        if name == "mlotst":
            continue
        assert basin[name].attrs == column[name].attrs, name
        assert basin[name].dims[:2] == ("scenario", "time")
        assert "x" in basin[name].dims
        expected = [d for d in column[name].dims if d != "depth"] + ["x"]
        if "depth" in column[name].dims:
            expected.append("depth")
        assert list(basin[name].dims) == expected, name
    assert basin["thetao"].dims == ("scenario", "time", "x", "depth")
    assert basin["phyc"].dims == ("scenario", "time", "phyto_type", "x")
    assert basin["x"].attrs["units"] == "m"
    np.testing.assert_allclose(basin["x"].values, SMALL.x)
    assert basin.attrs["physics"] == "multilayer"
    assert basin.attrs["time_step_s"] == column.attrs["time_step_s"]
    assert basin.attrs["n_layers"] == 3
    assert json.loads(basin.attrs["basin"])["nx"] == 3
    assert not any(bool(np.isnan(basin[v]).any()) for v in basin.data_vars)


def test_closed_basin_conserves_water_nitrogen_and_carbon_over_a_year() -> None:
    run = simulate(_scenarios(), physics="multilayer", basin=SMALL, closed=True)
    assert run.sizes["time"] == 365
    for name in ("total_nitrogen", "total_carbon"):
        total = run[name].sum("x").values[0]  # equal cells: the basin total per dx
        np.testing.assert_allclose(total, total[0], rtol=1e-10, atol=0.0, err_msg=name)
    volume = (run["zos"] + 10.0).sum("x").values[0]  # H = zos - z_b, z_b = -10 m
    np.testing.assert_allclose(volume, volume[0], rtol=1e-10, atol=0.0)
    assert float(run["uo"].std()) > 0  # the wind moved the water


@pytest.mark.usefixtures("short_year")
def test_lake_at_rest_keeps_tracers_horizontally_uniform() -> None:
    run = simulate(
        _scenarios(), physics="multilayer", basin=SMALL, closed=True, forcing={"wind": np.zeros(6)}
    )
    for name in ("no3", "dissic", "chl", "tos", "total_carbon", "thetao", "intphyc"):
        values = run[name].values
        spread = np.abs(
            values - values[..., :1, :] if name == "thetao" else values - values[..., :1]
        )
        assert float(spread.max()) <= 1e-12 * float(np.abs(values).max()), name
    assert float(np.abs(run["zos"]).max()) == 0.0
    assert float(np.abs(run["uo"]).max()) == 0.0


@pytest.mark.usefixtures("short_year")
def test_wind_sets_up_the_downwind_end() -> None:
    sc = _scenarios()
    towards = simulate(sc, physics=_scheme(wind_along_x=1.0), closed=True)
    away = simulate(sc, physics=_scheme(wind_along_x=-1.0), closed=True)
    last = towards["zos"].isel(time=-1, scenario=0).values
    assert last[-1] > last[0]
    last = away["zos"].isel(time=-1, scenario=0).values
    assert last[-1] < last[0]


@pytest.mark.usefixtures("short_year")
def test_tide_brings_boundary_nitrate_into_the_basin() -> None:
    sc = _scenarios().assign(nutrient_supply=30.0)
    options = {"initial": {"no3": 0.5}, "forcing": {"wind": np.zeros(6)}}
    tide = simulate(sc, physics=_scheme(OPEN, tide_amplitude=1.0), **options)
    still = simulate(sc, physics=_scheme(OPEN, tide_amplitude=0.0), **options)
    assert float(np.abs(still["uo"]).max()) == 0.0
    assert (
        float(tide["no3"].isel(scenario=0, time=-1, x=-1))
        > float(still["no3"].isel(scenario=0, time=-1, x=-1)) + 1.0
    )


@requires_mirror
@pytest.mark.usefixtures("short_year")
def test_river_raises_nitrate_near_its_mouth() -> None:
    sc = _scenarios()
    river = dataclasses.replace(SMALL, river_cell=0)
    options = {"forcing": {"wind": np.zeros(6)}}
    with_river = simulate(sc, physics=_scheme(river, river_discharge=200.0), **options)
    without = simulate(sc, physics="multilayer", basin=SMALL, **options)
    mouth = with_river["no3"].isel(scenario=0, time=-1, x=0)
    assert float(mouth) > float(without["no3"].isel(scenario=0, time=-1, x=0)) + 1.0
    assert float(mouth) > float(with_river["no3"].isel(scenario=0, time=-1, x=-1))


@pytest.mark.usefixtures("short_year")
def test_batched_equals_one_by_one() -> None:
    sc = _scenarios(2)
    both = simulate(sc, physics="multilayer", basin=OPEN, substeps=3)
    for i in range(2):
        one = simulate(sc.iloc[[i]], physics="multilayer", basin=OPEN, substeps=3)
        for name in ("no3", "zos", "fgco2", "phyc", "thetao"):
            np.testing.assert_allclose(
                both[name].isel(scenario=[i]).values, one[name].values, rtol=1e-11, atol=1e-13
            )


def test_indices_work_on_the_basin_output() -> None:
    run = simulate(_scenarios(2), physics="multilayer", basin=OPEN, device="cpu")
    table = compute_indices(run)
    assert len(table) == 2
    for name in ("co2_uptake", "bloom", "shannon", "gini_simpson", "rao_q"):
        columns = [c for c in table.columns if name in c]
        assert columns, (name, list(table.columns))
        assert np.isfinite(table[columns].to_numpy(dtype=float)).all(), name
    # the uptake (mol m-2 yr-1) is the basin mean of the per-cell fluxes
    uptake = next(c for c in table.columns if "co2_uptake" in c)
    expected = run["fgco2"].mean("x").sum("time").values / 1000.0  # mmol -> mol
    np.testing.assert_allclose(table[uptake].to_numpy(dtype=float), expected, rtol=1e-9)


def test_too_few_substeps_raise_naming_enough() -> None:
    with pytest.raises(StabilityError, match=r"substeps=1 gives .* use substeps=\d+"):
        simulate(_scenarios(), physics="multilayer", basin=default_basin(), substeps=1)


def test_bad_options_raise() -> None:
    with pytest.raises(InvalidInputError, match="physics='column' takes no"):
        simulate(_scenarios(), basin=SMALL)
    with pytest.raises(InvalidInputError, match="differs from the basin's 3 layers"):
        simulate(_scenarios(), physics="multilayer", basin=SMALL, n_layers=4)
    with pytest.raises(InvalidInputError, match="substeps=0 is not valid"):
        simulate(_scenarios(), physics="multilayer", basin=SMALL, substeps=0)
    with pytest.raises(InvalidInputError, match=r"basin=.* is not valid"):
        MultilayerScheme(basin="lagoon")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"wind_along_x=2\.0 is not valid"):
        MultilayerScheme(wind_along_x=2.0)
    discharge = BasinConfig(nx=3, open_boundary=OpenBoundary(kind="discharge"))
    with pytest.raises(InvalidInputError, match="'discharge' open boundary"):
        MultilayerScheme(basin=discharge)
    with pytest.raises(InvalidInputError, match="are for a scheme named by physics="):
        simulate(_scenarios(), physics=_scheme(), substeps=2)


@pytest.mark.usefixtures("short_year")
def test_device_argument_is_honoured() -> None:
    run = simulate(_scenarios(), physics="multilayer", basin=SMALL, device="cpu")
    assert run.sizes["x"] == 3
    with pytest.raises(ConfigurationError, match="nonsense"):
        simulate(_scenarios(), physics="multilayer", basin=SMALL, device="nonsense")
