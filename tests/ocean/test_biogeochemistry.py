"""The biogeochemistry interface: bit-for-bit regression, a toy biogeochemistry, bad declarations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from ecocube.errors import InvalidInputError
from ecocube.ocean import default_scenario, sample_scenarios, simulate
from ecocube.ocean import parameters as parameters_module
from ecocube.ocean.biogeochemistry import Biogeochemistry, RunSetup, Tracer, TracerLayout
from ecocube.ocean.diagnostics import OutputVariable
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters
from ecocube.ocean.phyto_carbonate import PhytoCarbonate
from ecocube.ocean.scenarios import SCENARIO_PARAMETERS
from ecocube.ocean.schemes import ColumnScheme, physical_scheme

from . import _legacy_simulate as legacy
from .conftest import SMALL

#: The three phytoplankton types of the model the frozen reference was taken from.
THREE = ModelParameters(
    phyto=getattr(parameters_module, "THREE_TYPES", DEFAULT_PARAMETERS.phyto[:3])
)


def _reference_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with no acidification response, where the scenarios have that column."""
    if any(p.name == "acid_sensitivity" for p in SCENARIO_PARAMETERS):
        table = table.assign(acid_sensitivity=0.0)
    return table


def _two_scenarios() -> pd.DataFrame:
    return pd.concat([default_scenario(), sample_scenarios(1, seed=11)], ignore_index=True)


#: Reference runs: (scenarios, options). Every output and coordinate must be bit-for-bit equal.
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "default_scenario": (default_scenario, SMALL),
    "four_sampled": (lambda: sample_scenarios(4, seed=7), SMALL),
    "closed": (lambda: sample_scenarios(4, seed=8), {**SMALL, "closed": True}),
    "weather_noise_two_years": (
        default_scenario,
        {**SMALL, "years": 2, "weather_noise": 0.3, "seed": 5},
    ),
    "forcing_override": (
        _two_scenarios,
        {
            **SMALL,
            "forcing": {
                "wind": np.stack([np.full(365, 3.0), np.linspace(4.0, 14.0, 365)]),
                "co2": 400.0 + 20.0 * np.sin(np.arange(365) / 58.0),
                "temperature": 12.0 + 6.0 * np.cos(2 * np.pi * np.arange(365) / 365),
            },
        },
    ),
    "initial_override": (
        _two_scenarios,
        {
            **SMALL,
            "initial": {
                "no3": [2.0, 3.0, 5.0, 8.0, 9.0, 9.5],
                "temperature": 11.0,
                "phyc": 0.4,
                "dic": 2080.0,
                "talk": 2320.0,
            },
        },
    ),
    "default_grid_one_year": (
        lambda: sample_scenarios(1, seed=3),
        {"years": 1, "n_layers": 20, "dt": 10800.0},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refactored_simulate_is_bit_for_bit_the_frozen_reference(case: str) -> None:
    make, options = CASES[case]
    table = _reference_table(make())
    ref = legacy.simulate(table, parameters=THREE, **options)
    new = simulate(table, parameters=THREE, **options)
    assert list(new.data_vars) == list(ref.data_vars)
    assert list(new.coords) == list(ref.coords)
    assert new.attrs == ref.attrs
    for name in [*ref.data_vars, *ref.coords]:
        assert new[name].dims == ref[name].dims, name
        assert new[name].attrs == ref[name].attrs, name
        assert np.array_equal(new[name].values, ref[name].values), name


# --- a toy biogeochemistry: one tracer with a first-order decay -------------------------------


class Decay(Biogeochemistry):
    """One tracer ``x`` decaying at ``rate`` (d-1), exactly (``x *= exp(-rate dt)`` a step)."""

    title = "first-order decay"

    def __init__(self, rate: float, sinking: float = 0.0, uniform: bool = False) -> None:
        self.rate, self.sinking, self.uniform = rate, sinking, uniform

    @property
    def tracers(self) -> tuple[Tracer, ...]:
        return (Tracer("x", "mmol m-3", "decaying tracer", sinking=self.sinking),)

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        units = {"units": "mmol m-3"}
        return {
            "x": OutputVariable((), units, "x", "surface"),
            "x_profile": OutputVariable(("depth",), units, "x", "mean"),
            "x_end": OutputVariable(("depth",), units, "x", "end"),
            "intx": OutputVariable((), {"units": "mmol m-2"}, "x", "end_integral"),
            "intx_mean": OutputVariable((), {"units": "mmol m-2"}, "x", "mean_integral"),
        }

    def initial_fields(self, run: RunSetup, forcing: Mapping[str, torch.Tensor]) -> dict:
        profile = np.ones_like(run.depth) if self.uniform else 1.0 + 4.0 * np.exp(-run.depth / 20)
        return {"x": np.broadcast_to(profile, (run.n_scenarios, *run.space))}

    def setup(self, run: RunSetup) -> None:
        super().setup(run)
        self.factor = math.exp(-self.rate / 86400.0 * run.dt)
        self.ix = run.layout.index("x")

    def sources(self, y: torch.Tensor, forcing: Mapping[str, torch.Tensor]) -> dict:
        y[:, self.ix] *= self.factor
        return {}


def _content() -> float:
    """Initial column content of ``Decay``'s non-uniform profile on the SMALL grid (mmol m-2)."""
    column = ColumnScheme(n_layers=SMALL["n_layers"])
    return float((1.0 + 4.0 * np.exp(-column.depth / 20)).sum() * column.dz)


def test_a_decaying_tracer_follows_the_analytic_decay_under_mixing_and_sinking() -> None:
    rate = 0.05  # d-1
    toy = Decay(rate, sinking=5.0 / 86400.0)
    ds = simulate(sample_scenarios(2, seed=4), biogeochemistry=toy, **SMALL)
    days = np.arange(1, 366)
    expected = _content() * np.exp(-rate * days)  # end of each day
    np.testing.assert_allclose(ds["intx"].values, np.broadcast_to(expected, (2, 365)), rtol=1e-12)
    # the physics really moved it: the profile changed shape (mixing and sinking)
    first, last = ds["x_end"].values[0, 0], ds["x_end"].values[0, -1]
    assert abs(first[0] / first[-1] - last[0] / last[-1]) > 0.5
    # only the physics' and the toy's outputs; the physics does not depend on the biology
    assert set(ds.data_vars) == {
        "tos",
        "thetao",
        "mlotst",
        "x",
        "x_profile",
        "x_end",
        "intx",
        "intx_mean",
    }
    assert ds.attrs["title"] == "ecocube full ocean model: 1-D water column with first-order decay"
    full = simulate(sample_scenarios(2, seed=4), parameters=THREE, **SMALL)
    np.testing.assert_allclose(ds["thetao"].values, full["thetao"].values, rtol=1e-12)
    np.testing.assert_allclose(ds["mlotst"].values, full["mlotst"].values, rtol=1e-12)


@pytest.mark.parametrize("closed", [True, False])
def test_a_conserved_tracer_keeps_its_column_content(closed: bool) -> None:
    ds = simulate(
        default_scenario(), biogeochemistry=Decay(0.0, sinking=1e-4), closed=closed, **SMALL
    )
    content = ds["intx"].values[0]
    assert float(np.abs(content / _content() - 1.0).max()) < 1e-12
    # mean of the per-step integrals, same value
    assert float(np.abs(ds["intx_mean"].values[0] / _content() - 1.0).max()) < 1e-12


def test_daily_mean_of_a_uniform_decaying_tracer_is_the_mean_of_its_step_values() -> None:
    rate = 0.5  # d-1, uniform profile: mixing leaves it uniform
    ds = simulate(default_scenario(), biogeochemistry=Decay(rate, uniform=True), **SMALL)
    steps = int(86400 / SMALL["dt"])
    f = math.exp(-rate * SMALL["dt"] / 86400.0)
    expected = f ** (steps * np.arange(365)) * np.mean(f ** np.arange(1, steps + 1))
    np.testing.assert_allclose(ds["x"].values[0], expected, rtol=1e-12)


def test_the_object_passed_is_not_changed_by_a_run() -> None:
    toy = Decay(0.1)
    simulate(default_scenario(), biogeochemistry=toy, **SMALL)
    assert not hasattr(toy, "run") and not hasattr(toy, "factor")


def test_initial_fields_of_a_custom_biogeochemistry_can_be_set() -> None:
    ds = simulate(default_scenario(), biogeochemistry=Decay(0.0), initial={"x": 2.0}, **SMALL)
    np.testing.assert_allclose(ds["intx"].values, 2.0 * 150.0, rtol=1e-12)
    with pytest.raises(
        InvalidInputError, match=r"unknown field 'no3'; valid: \['temperature', 'x'\]"
    ):
        simulate(default_scenario(), biogeochemistry=Decay(0.0), initial={"no3": 1.0}, **SMALL)


# --- bad declarations ----------------------------------------------------------------------------


class Declares(Decay):
    """A toy whose tracers (and outputs) are whatever the test declares."""

    def __init__(self, tracers: Any, outputs: Mapping[str, OutputVariable] | None = None) -> None:
        super().__init__(0.0)
        self._tracers, self._outputs = tracers, outputs

    @property
    def tracers(self) -> Any:
        return self._tracers

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        return super().outputs if self._outputs is None else self._outputs


_X = Tracer("x", "mmol m-3")


@pytest.mark.parametrize(
    ("tracers", "match"),
    [
        ((), r"Declares declares no tracers; declare at least one Tracer"),
        (_X, r"Declares.tracers=Tracer\(name='x'.* must be a tuple of Tracer objects"),
        ((_X, "y"), r"Declares.tracers\[1\]='y' is not a Tracer"),
        ((_X, Tracer("x", "mmol m-3")), r"tracer 'x' of Declares is declared twice"),
        (
            (_X, Tracer("temperature", "degC")),
            r"'temperature' of Declares is declared by ColumnScheme too",
        ),
        ((Tracer("no 3", "mmol m-3"),), r"name='no 3'; a tracer name must be a Python identifier"),
        (
            (Tracer("x", "mmol m-3", sinking=-1.0),),
            r"sinking=-1.0 m s-1; a sinking speed must be a finite number >= 0",
        ),
        ((Tracer("x", "mmol m-3", sinking=math.nan),), r"sinking=nan m s-1"),
        (
            (Tracer("x", "mmol m-3", components=("a", "a")),),
            r"components=\('a', 'a'\); give distinct",
        ),
    ],
)
def test_a_bad_tracer_set_is_a_clear_error(tracers: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        simulate(default_scenario(), biogeochemistry=Declares(tracers), **SMALL)


_UNITS = {"units": "1"}


@pytest.mark.parametrize(
    ("outputs", "match"),
    [
        (
            {"y": OutputVariable((), _UNITS, "nope")},
            r"output 'y' reads 'nope', which is no tracer \(\['temperature', 'x'\]\)",
        ),
        (
            {"y": OutputVariable((), _UNITS, "rain", "forcing")},
            r"output 'y' reads the forcing 'rain'; valid forcing names",
        ),
        (
            {"y": OutputVariable((), _UNITS, "mlotst", "end")},
            r"end-of-day value of the step diagnostic 'mlotst'",
        ),
        ({"tos": OutputVariable((), _UNITS, "x")}, r"outputs \['tos'\] are declared by both"),
    ],
)
def test_outputs_that_read_nothing_of_the_run_are_refused(outputs: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        simulate(default_scenario(), biogeochemistry=Declares((_X,), outputs), **SMALL)


def test_other_bad_arguments_and_hooks() -> None:
    with pytest.raises(InvalidInputError, match=r"reduce='median'\) is not a reduction; valid:"):
        OutputVariable((), _UNITS, "x", "median")
    with pytest.raises(InvalidInputError, match=r"biogeochemistry=.* is not a Biogeochemistry"):
        simulate(default_scenario(), biogeochemistry="npzd", **SMALL)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidInputError,
        match=r"physics='lagoon' is not a physical scheme; valid: \['column', 'multilayer'\]",
    ):
        simulate(default_scenario(), physics="lagoon", **SMALL)
    with pytest.raises(InvalidInputError, match=r"n_layers=2 must be an integer >= 3"):
        physical_scheme("column", n_layers=2)
    with pytest.raises(InvalidInputError, match=r"Decay derives no field 'chl'; it derives \[\]"):
        Decay(0.0).derived("chl", torch.zeros(1, 2, 3))
    layout = TracerLayout([("ColumnScheme", ColumnScheme().tracers)])
    with pytest.raises(
        InvalidInputError, match=r"no tracer 'no3' in this run; tracers: \['temperature'\]"
    ):
        layout.index("no3")


class _NoInitial(Decay):
    def initial_tracers(self, run: RunSetup, fields: Mapping[str, Any]) -> dict:
        return {}


class _BadShape(Decay):
    def initial_fields(self, run: RunSetup, forcing: Mapping[str, torch.Tensor]) -> dict:
        return {"x": np.ones(run.space[-1] + 1)}


def test_initial_values_a_biogeochemistry_must_give() -> None:
    with pytest.raises(
        InvalidInputError, match=r"_NoInitial gives no initial value for its tracer 'x'"
    ):
        simulate(default_scenario(), biogeochemistry=_NoInitial(0.0), **SMALL)
    with pytest.raises(
        InvalidInputError,
        match=r"_BadShape gives the initial 'x' with shape \(7,\), which does not broadcast",
    ):
        simulate(default_scenario(), biogeochemistry=_BadShape(0.0), **SMALL)


def _run_setup(layout: TracerLayout, n_layers: int = 6) -> RunSetup:
    column = ColumnScheme(n_layers=n_layers)
    return RunSetup(
        table=default_scenario(),
        parameters=THREE,
        layout=layout,
        depth=column.depth,
        thickness=column.thickness,
        space=column.space,
        dt=21600.0,
        steps_per_day=4,
        n_days=1,
        closed=False,
        device=torch.device("cpu"),
    )


def test_phyto_carbonate_needs_a_temperature_tracer() -> None:
    bgc = PhytoCarbonate(THREE)
    layout = TracerLayout([("PhytoCarbonate", bgc.tracers)])
    with pytest.raises(
        InvalidInputError,
        match="PhytoCarbonate needs a physical scheme with a 'temperature' tracer",
    ):
        bgc.setup(_run_setup(layout))


# --- the pieces the interface offers -----------------------------------------------------------


def test_layout_of_the_default_model() -> None:
    bgc = PhytoCarbonate(THREE)
    layout = TracerLayout(
        [("ColumnScheme", ColumnScheme().tracers), ("PhytoCarbonate", bgc.tracers)]
    )
    assert layout.names == ("temperature", "no3", "dic", "talk", "detn", "detc", "phyc", "phyn")
    assert layout.index("dic") == 2 and layout.index("phyc") == slice(6, 9)
    assert layout.index("phyn") == slice(9, 12) and layout.n_slots == 12
    w = THREE.physics.sinking / 86400.0
    assert layout.sinking == [0.0] * 4 + [w, w] + [0.0] * 6
    assert bgc.acidification is False and "pic" not in layout.names


def test_calcite_is_appended_after_the_other_tracers() -> None:
    bgc = PhytoCarbonate(DEFAULT_PARAMETERS)
    assert bgc.acidification is True
    layout = TracerLayout(
        [("ColumnScheme", ColumnScheme().tracers), ("PhytoCarbonate", bgc.tracers)]
    )
    n = len(DEFAULT_PARAMETERS.phyto)
    assert layout.names[-2:] == ("phyn", "pic")
    assert layout.index("phyc") == slice(6, 6 + n) and layout.index("pic") == 6 + 2 * n
    w_pic = DEFAULT_PARAMETERS.carbonate.pic_sinking / 86400.0
    assert layout.sinking[-1] == w_pic and layout.n_slots == 7 + 2 * n
    assert set(bgc.outputs) - set(PhytoCarbonate(THREE).outputs) == {
        "calc",
        "omega_calcite",
        "intpcalcite",
    }


def test_layer_mean_light_takes_a_thickness_per_cell_bit_for_bit() -> None:
    from ecocube.ocean.biology import layer_mean_light

    gen = torch.Generator().manual_seed(0)
    chl = torch.rand(3, 5, 8, dtype=torch.float64, generator=gen)  # (B, x, L)
    par = 50.0 + 100.0 * torch.rand(3, 5, dtype=torch.float64, generator=gen)
    column = layer_mean_light(par[:, 2], chl[:, 2], 7.5, 0.04, 0.025)
    per_cell = layer_mean_light(
        par, chl, torch.full((3, 5, 8), 7.5, dtype=torch.float64), 0.04, 0.025
    )
    assert torch.equal(per_cell[:, 2], column)
    # a thicker top layer dims the light below it
    dz = torch.full((3, 5, 8), 7.5, dtype=torch.float64)
    dz[..., 0] = 15.0
    assert bool((layer_mean_light(par, chl, dz, 0.04, 0.025)[..., 1:] < per_cell[..., 1:]).all())


def test_carbonate_state_of_every_layer() -> None:
    from ecocube.ocean import carbonate

    bgc = PhytoCarbonate(THREE)
    column = ColumnScheme(n_layers=6)
    layout = TracerLayout([("ColumnScheme", column.tracers), ("PhytoCarbonate", bgc.tracers)])
    run = _run_setup(layout)
    bgc.setup(run)
    y = torch.zeros(2, layout.n_slots, 6, dtype=torch.float64)
    y[:, layout.index("temperature")] = torch.linspace(18.0, 8.0, 6)
    y[:, layout.index("dic")] = torch.linspace(2050.0, 2180.0, 6)
    y[:, layout.index("talk")] = 2300.0
    forcing = {
        k: torch.full((2,), v, dtype=torch.float64)
        for k, v in {
            "shortwave": 200.0,
            "wind": 7.0,
            "co2": 415.0,
            "warming_now": 0.0,
            "temperature": 15.0,
        }.items()
    }
    bgc.start_day(forcing)
    state = bgc.carbonate_profile(y, iterations=8)
    assert bgc.needs_carbonate_profile is False
    assert PhytoCarbonate(DEFAULT_PARAMETERS).needs_carbonate_profile is True
    assert state["pco2"].shape == state["omega"].shape == (2, 6)
    rho = carbonate.RHO_SW / 1000.0
    ref = carbonate.carbonate_system(y[:, 2] / rho, y[:, 3] / rho, y[:, 0], 35.0)
    torch.testing.assert_close(state["pco2"], ref["pco2"], rtol=1e-9, atol=0.0)
    # Omega at each layer's pressure (depth / 10 bar), as carbonate.omega_calcite gives it
    pressure = torch.as_tensor(run.depth / 10.0)
    omega = carbonate.omega_calcite(y[:, 2] / rho, y[:, 3] / rho, y[:, 0], pressure_bar=pressure)
    torch.testing.assert_close(state["omega"], omega, rtol=1e-12, atol=0.0)
    # deeper: more DIC and colder, so less carbonate ion and a lower pH
    assert bool((state["co3"][:, 1:] < state["co3"][:, :-1]).all())
    assert bool((state["h"][:, 1:] > state["h"][:, :-1]).all())


def test_the_model_fingerprint_hashes_every_model_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from ecocube.ocean.surrogate._base import model_fingerprint

    real = inspect.getsource
    hashed: list[str] = []

    def spy(obj: Any) -> str:
        hashed.append(obj.__name__)
        return real(obj)

    monkeypatch.setattr(inspect, "getsource", spy)
    before = model_fingerprint()
    modules = {"simulate", "physics", "biology", "carbonate", "biogeochemistry", "diagnostics"}
    modules |= {"phyto_carbonate", "schemes", "multilayer"}
    assert {f"ecocube.ocean.{name}" for name in modules} <= set(hashed)
    assert any(name.startswith("ecocube.ocean.multilayer.") for name in hashed)

    def edited(obj: Any) -> str:  # a change in the diagnostics only
        return real(obj) + ("# edit" if obj.__name__ == "ecocube.ocean.diagnostics" else "")

    monkeypatch.setattr(inspect, "getsource", edited)
    assert model_fingerprint() != before
