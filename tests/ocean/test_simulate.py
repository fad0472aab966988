"""simulate(): output contract (dims, CF attributes), determinism and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ecocube.errors import ConfigurationError, EcocubeWarning, InvalidInputError
from ecocube.ocean import (
    ScenarioError,
    StabilityError,
    default_scenario,
    sample_scenarios,
    simulate,
)
from ecocube.ocean.parameters import DEFAULT_PARAMETERS
from ecocube.ocean.simulate import (
    OUTPUT_VARIABLES,
    _stability_limits,
    _validate_options,
    check_stability,
)

FAST = {"years": 1, "n_layers": 6, "dt": 21600.0}


@pytest.fixture(scope="module")
def run():
    return simulate(sample_scenarios(3, seed=1), **FAST)


def test_dims_coords_and_cf_attributes(run) -> None:
    assert run.sizes["scenario"] == 3 and run.sizes["time"] == 365
    assert run["phyc"].dims == ("scenario", "time", "phyto_type")
    assert run["intphyc"].dims == ("scenario", "time", "phyto_type")
    assert run["thetao"].dims == ("scenario", "time", "depth")
    for name in ("chl", "dissic", "spco2", "fgco2", "tos"):
        assert run[name].dims == ("scenario", "time")
    assert list(run["phyto_type"].values) == DEFAULT_PARAMETERS.type_names
    assert list(run.data_vars) == list(OUTPUT_VARIABLES)  # the output table, in its order
    # a mole flux (CF canonical units mol m-2 s-1), consistent with its mmol m-2 d-1
    assert run["fgco2"].attrs["standard_name"] == "surface_downward_mole_flux_of_carbon_dioxide"
    assert run["fgco2"].attrs["units"] == "mmol m-2 d-1"
    assert "positive" in run["fgco2"].attrs["long_name"]
    assert run["tos"].attrs["units"] == "degC"
    assert run.attrs["Conventions"].startswith("CF-")
    for name in ("warming", "wind", "adaptation"):
        assert name in run.coords and run[name].dims == ("scenario",)
    assert run["t_opt"].dims == ("phyto_type",)
    assert run["time"].dt.dayofyear.values[-1] == 365


def test_integrated_carbon_exceeds_surface_times_nothing(run) -> None:
    # the depth integral is at least the surface layer's share and at most depth * max conc
    dz = run.attrs["layer_thickness_m"]
    assert bool((run["intphyc"] >= run["phyc"] * dz * 0.999).all())
    assert bool((run["intphyc"] <= run["phyc"].max() * 150.0 * 1.001).all())


def test_deterministic_and_batch_independent(run) -> None:
    table = sample_scenarios(3, seed=1)
    single = simulate(table.iloc[[1]], **FAST)
    np.testing.assert_allclose(single["dissic"].values[0], run["dissic"].values[1], rtol=1e-10)
    np.testing.assert_allclose(
        single["phyc"].values[0], run["phyc"].values[1], rtol=1e-8, atol=1e-12
    )


def test_higher_atmospheric_co2_increases_uptake() -> None:
    table = default_scenario()
    low = table.assign(co2_start=380.0)
    high = table.assign(co2_start=440.0)
    import pandas as pd

    ds = simulate(pd.concat([low, high], ignore_index=True), **FAST)
    uptake = ds["fgco2"].sum("time").values
    assert uptake[1] > uptake[0] + 50.0  # mmol m-2 yr-1


def test_forcing_override_and_weather_noise() -> None:
    table = default_scenario()
    import pandas as pd

    two = pd.concat([table, table], ignore_index=True)
    winds = np.stack([np.full(365, 3.0), np.full(365, 12.0)])  # one series per scenario
    ds = simulate(two, forcing={"wind": winds}, **FAST)
    calm, windy = ds.isel(scenario=0), ds.isel(scenario=1)
    assert float(windy["mlotst"].mean()) > float(calm["mlotst"].mean())
    noisy = simulate(table, weather_noise=0.3, seed=1, **FAST)
    again = simulate(table, weather_noise=0.3, seed=1, **FAST)
    other = simulate(table, weather_noise=0.3, seed=2, **FAST)
    np.testing.assert_array_equal(noisy["chl"].values, again["chl"].values)
    assert not np.allclose(noisy["chl"].values, other["chl"].values)


def test_missing_scenario_column() -> None:
    with pytest.raises(ScenarioError, match=r"missing column\(s\) \['adaptation'\]"):
        simulate(default_scenario().drop(columns="adaptation"), **FAST)


def test_out_of_range_scenario() -> None:
    with pytest.raises(ScenarioError, match=r"scenarios\['wind'\]=40.0 .*out of range"):
        simulate(default_scenario().assign(wind=40.0), **FAST)


def test_nan_scenario_value() -> None:
    with pytest.raises(ScenarioError, match=r"scenarios\['light'\] has NaN"):
        simulate(default_scenario().assign(light=np.nan), **FAST)


def test_unstable_time_step() -> None:
    with pytest.raises(StabilityError, match=r"dt=172800 s violates the stability limit"):
        simulate(default_scenario(), years=1, n_layers=6, dt=172800.0)
    with pytest.raises(StabilityError, match=r"growth of 'diatom'"):
        check_stability(86400.0, 7.5, max_wind=5.0)
    with pytest.raises(StabilityError, match="air-sea gas transfer"):
        check_stability(21600.0, 0.5)
    with pytest.raises(StabilityError, match="positive finite"):
        check_stability(-5.0, 7.5)


def test_time_step_must_divide_a_day() -> None:
    with pytest.raises(InvalidInputError, match=r"dt=7000 s must divide one day"):
        simulate(default_scenario(), years=1, n_layers=6, dt=7000.0)


def test_a_step_under_a_second_is_refused_naming_the_step_count_and_a_dt() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"dt=0\.001 s means 86,400,000 steps per simulated day \(63,072,000,000 for 2 "
        r"year\(s\).*refused: use dt=10800 s, which is stable",
    ):
        simulate(default_scenario(), years=2, dt=0.001)
    with pytest.raises(InvalidInputError, match=r"dt=0\.0007 s means 123,428,571 steps"):
        simulate(default_scenario(), years=1, dt=0.0007)  # not a divisor of a day either


def test_a_needlessly_short_step_warns_and_a_needed_one_does_not() -> None:
    with pytest.warns(EcocubeWarning, match=r"dt=10 s means 8,640 steps per simulated day") as rec:
        _validate_options({"years": 1, "n_layers": 20, "dt": 10.0})
    assert "1,080 times as many as a stable step needs: use dt=10800 s" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _validate_options({"years": 1, "n_layers": 20, "dt": 60.0})  # 1,440 steps: no warning
        # 8,000 thin layers at 25 m s-1 need a step under a minute: no warning either
        limit = min(lim for _, lim, _ in _stability_limits(150.0 / 8000, DEFAULT_PARAMETERS, 25.0))
        assert 10 * 5 > limit > 5
        _validate_options({"years": 1, "n_layers": 8000, "dt": 5.0})


@pytest.fixture
def sentinel_threads(monkeypatch: pytest.MonkeyPatch):
    """Torch runs 3 threads, and no code may change that during the test."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(3)

    def refuse(n: int) -> None:
        raise AssertionError(f"library code set torch's process-wide thread count to {n}")

    monkeypatch.setattr(torch, "set_num_threads", refuse)
    yield torch
    monkeypatch.undo()
    torch.set_num_threads(previous)


def test_simulate_leaves_torch_threads_alone(sentinel_threads) -> None:
    ds = simulate(default_scenario(), **FAST)
    assert sentinel_threads.get_num_threads() == 3
    with pytest.warns(FutureWarning, match=r"num_threads=1 is ignored.*torch.set_num_threads"):
        again = simulate(default_scenario(), num_threads=1, **FAST)
    assert sentinel_threads.get_num_threads() == 3
    # the thread count does not change the results
    for name in ("dissic", "phyc", "thetao"):
        np.testing.assert_array_equal(again[name].values, ds[name].values)


@pytest.mark.parametrize(
    ("forcing", "match"),
    [
        (
            {"wind": np.r_[np.full(100, 5.0), np.nan, np.full(264, 5.0)]},
            r"forcing\['wind'\] has NaN/inf \(first at scenario 0, day 100\)",
        ),
        ({"shortwave": np.full(365, -1.0)}, r"forcing\['shortwave'\] has negative values"),
        ({"temperature": np.full(365, 288.0)}, "is it in Kelvin"),
        ({"wind": np.ones(10)}, r"forcing\['wind'\] has shape \(10,\)"),
        ({"rain": np.ones(365)}, "unknown series 'rain'"),
    ],
)
def test_bad_forcing(forcing, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        simulate(default_scenario(), forcing=forcing, **FAST)


@pytest.mark.parametrize(
    ("initial", "match"),
    [
        ({"no3": -1.0}, r"initial\['no3'\] has negative concentrations"),
        ({"dic": [2000.0] * 5 + [-3.0]}, r"initial\['dic'\] has negative concentrations"),
        ({"phyc": np.nan}, "NaN"),
        ({"no3": [1.0, 2.0]}, r"give a scalar or 6 values"),
        ({"silicate": 1.0}, "unknown field 'silicate'"),
        # the forcing's plausibility check (and Kelvin hint) applies to initial temperatures
        (
            {"temperature": 288.0},
            r"initial\['temperature'\] has values in \[288, 288\] outside "
            r"\[-2.5, 40\] degC; is it in Kelvin\? Convert to degC",
        ),
        ({"temperature": -50.0}, r"initial\['temperature'\] .* outside \[-2.5, 40\] degC"),
        ({"temperature": [15.0] * 5 + [300.0]}, r"initial\['temperature'\] .*is it in Kelvin"),
        # and the ingest's plausible ranges to initial concentrations (here umol m-3, not mmol)
        (
            {"dic": 2.1e6},
            r"initial\['dic'\] has values up to 2.1e\+06, above the plausible "
            r"6000 mmol m-3; give it in mmol m-3",
        ),
        ({"no3": 500.0}, r"initial\['no3'\] .*above the plausible 100 mmol m-3"),
    ],
)
def test_bad_initial_conditions(initial, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        simulate(default_scenario(), initial=initial, **FAST)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"years": 0}, "years=0 must be a positive integer"),
        ({"n_layers": 2}, "n_layers=2 must be an integer >= 3"),
        ({"weather_noise": -0.1}, "weather_noise=-0.1"),
    ],
)
def test_bad_options(kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        simulate(default_scenario(), **{**FAST, **kwargs})


def test_unknown_device_is_a_clear_error() -> None:
    # the device check of surrogate training (ecocube.training.resolve_device), before the run
    with pytest.raises(ConfigurationError, match="device 'gpu' is not a torch device; use"):
        simulate(default_scenario(), device="gpu", **FAST)


def test_mps_lacks_float64_so_auto_runs_on_cpu_and_mps_is_refused(monkeypatch) -> None:
    import torch

    import ecocube.training

    with pytest.raises(InvalidInputError, match="needs float64, which the MPS backend lacks"):
        simulate(default_scenario(), device="mps", **FAST)
    # a Mac where "auto" resolves to mps: the model still runs, on the CPU
    monkeypatch.setattr(ecocube.training, "resolve_device", lambda d: torch.device("mps"))
    ds = simulate(default_scenario(), device="auto", **FAST)
    assert float(ds.tos.mean()) > 0


def test_stability_error_suggests_a_time_step_that_works() -> None:
    import re

    from ecocube.ocean.simulate import _max_wind, _validate_options

    with pytest.raises(StabilityError) as info:
        simulate(default_scenario(), years=1, n_layers=400, dt=10800.0)
    message = str(info.value)
    assert "3600 or 10800" not in message  # the old suggestions failed too
    limit = int(re.search(r"dt must be <= (\d+) s", message).group(1))
    suggested = int(re.search(r"use dt=(\d+) s", message).group(1))
    layers = int(re.search(r"at most (\d+) layers", message).group(1))
    # the largest whole-second step within the limit that divides a day
    assert suggested <= limit and 86400 % suggested == 0
    assert all(86400 % d for d in range(suggested + 1, limit))
    wind = _max_wind(default_scenario(), None)
    _validate_options({"years": 1, "n_layers": 400, "dt": float(suggested)}, max_wind=wind)
    _validate_options({"years": 1, "n_layers": layers, "dt": 10800.0}, max_wind=wind)
    with pytest.raises(StabilityError):
        _validate_options({"years": 1, "n_layers": layers + 1, "dt": 10800.0}, max_wind=wind)
    # the ensemble's limit (wind up to 25 m s-1) is 679 s: dt=675 s, not 3600 s
    with pytest.raises(StabilityError, match=r"<= 679 s .*; use dt=675 s"):
        _validate_options({"years": 1, "n_layers": 400, "dt": 10800.0})
    # where thinner layers cannot help (the growth limit), only the time step is suggested
    with pytest.raises(StabilityError, match=r"use dt=43200 s \(the largest") as info:
        check_stability(86400.0, 7.5, max_wind=5.0)
    assert "layers" not in str(info.value)


def test_a_mapping_of_scalars_is_one_scenario_and_of_sequences_several() -> None:
    table = sample_scenarios(2, seed=1)
    one = simulate(dict(table.iloc[1]), **FAST)  # a mapping of scalars: one scenario
    assert one.sizes["scenario"] == 1
    assert float(one["warming"][0]) == pytest.approx(float(table["warming"].iloc[1]))
    both = simulate({c: table[c].to_list() for c in table.columns}, **FAST)
    assert both.sizes["scenario"] == 2
    np.testing.assert_allclose(both["dissic"].values[1], one["dissic"].values[0], rtol=1e-10)


def test_initial_conditions_are_used() -> None:
    ds = simulate(default_scenario(), initial={"no3": 0.0}, closed=True, **FAST)
    # no nitrate anywhere and a closed column: phytoplankton cannot grow beyond the seed stock
    assert float(ds["no3"].max()) < 0.5


def test_every_public_name_resolves() -> None:
    import ecocube.ocean as ocean

    for name in ocean.__all__:
        assert getattr(ocean, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        ocean.nope  # noqa: B018
