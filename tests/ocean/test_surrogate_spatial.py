"""Surrogates of a spatial model (the multilayer basin's output shape), on seeded synthetic fields.

No full-model run: the ensembles come from ``tests.ocean.conftest.synthetic_spatial_ensemble``
(fields over ``x`` that depend on the scenario parameters), and ``validate_surrogate`` is run
against that generator standing in for ``simulate(..., physics="multilayer")``.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from ecocube.errors import ConfigurationError, EcocubeWarning, InvalidInputError
from ecocube.ocean.indices import (
    annual_co2_uptake,
    basin_mean,
    bloom_timing,
    compute_indices,
)
from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, sample_scenarios
from ecocube.ocean.surrogate import EMULATED, Surrogate
from ecocube.ocean.surrogate._data import FieldCodec
from ecocube.ocean.surrogate._indices import match_bloom_day, match_uptake
from ecocube.ocean.validate import SPATIAL_TARGETS, series_scores, validate_surrogate
from tests.ocean.conftest import SPATIAL_TYPES, synthetic_ensemble, synthetic_spatial_ensemble

NX = 6


@pytest.fixture(scope="module")
def ensemble() -> xr.Dataset:
    return synthetic_spatial_ensemble(sample_scenarios(64, seed=0), NX)


@pytest.fixture(scope="module")
def spatial_surrogate(ensemble: xr.Dataset) -> Surrogate:
    """A POD-MLP with its index head (and uptake GP: 54 training scenarios)."""
    torch.manual_seed(0)
    return Surrogate.create(
        "pod_mlp", max_epochs=150, members=2, width=64, modes=16, depth=2, batch_size=16
    ).fit(ensemble)


# ---------------------------------------------------------------------------- encoding
def test_codec_flattens_types_and_cells_into_channels(ensemble: xr.Dataset) -> None:
    codec = FieldCodec.fit(ensemble, list(EMULATED), log=False)
    n_types = len(SPATIAL_TYPES)
    assert len(codec.channels) == 2 * n_types * NX + 8 * NX
    assert codec.dims["phyc"] == ("phyto_type", "x") and codec.sizes["phyc"] == (n_types, NX)
    assert codec.dims["tos"] == ("x",) and codec.field_shape("tos") == (NX,)
    z = codec.encode(ensemble)
    assert z.shape == (64, 365, len(codec.channels)) and z.dtype == np.float32
    # channels that differ only by their cell share their statistics (pooled over x); the
    # types keep their own
    a, b = codec.block("phyc")
    mean = codec.mean[a:b].reshape(n_types, NX)
    np.testing.assert_array_equal(mean, mean[:, :1].repeat(NX, 1))
    assert len(np.unique(mean[:, 0])) == n_types
    pooled = ensemble["phyc"].isel(phyto_type=1).values
    assert mean[1, 0] == pytest.approx(pooled.mean(), rel=1e-12)
    assert codec.std[a + NX] == pytest.approx(pooled.std(), rel=1e-12)
    # decoding returns the ensemble's fields with their dims' shapes
    back = codec.decode(z)
    assert back["phyc"].shape == (64, 365, n_types, NX) and back["tos"].shape == (64, 365, NX)
    for v in ("phyc", "fgco2", "talk"):
        values = ensemble[v].values
        np.testing.assert_allclose(back[v], values, atol=1e-5 * float(np.abs(values).max()))
    # through JSON (a saved surrogate) nothing changes
    again = FieldCodec.from_state(json.loads(json.dumps(codec.state())))
    np.testing.assert_array_equal(again.encode(ensemble), z)
    assert again.dims == codec.dims and again.sizes == codec.sizes


def test_codec_log_channels_and_sd_keep_the_field_shape(ensemble: xr.Dataset) -> None:
    codec = FieldCodec.fit(ensemble, ["phyc", "tos"], log=True)
    assert codec.log == [True] * (len(SPATIAL_TYPES) * NX) + [False] * NX
    z = codec.encode(ensemble.isel(scenario=slice(0, 5)))
    back = codec.decode(z)
    np.testing.assert_allclose(back["phyc"], ensemble["phyc"].values[:5], rtol=1e-4)
    sd = codec.decode_sd(z, np.ones_like(z))
    assert sd["phyc"].shape == (5, 365, len(SPATIAL_TYPES), NX)
    # delta method of a log channel: sd = std * (x + offset)
    a, _ = codec.block("phyc")
    np.testing.assert_allclose(
        sd["phyc"][:, :, 0, 0],
        codec.std[a] * (ensemble["phyc"].values[:5, :, 0, 0] + codec.offset[a]),
        rtol=1e-4,
    )


def test_codec_state_saved_before_spatial_fields_still_loads() -> None:
    column = synthetic_ensemble(sample_scenarios(8, seed=0))
    codec = FieldCodec.fit(column, list(EMULATED))
    old = codec.state()
    del old["dims"], old["sizes"]  # the state written by earlier versions
    again = FieldCodec.from_state(json.loads(json.dumps(old)))
    assert again.dims["phyc"] == ("phyto_type",) and again.sizes["phyc"] == (3,)
    assert again.dims["tos"] == () and again.field_shape("tos") == ()
    z = codec.encode(column)
    for v, arr in codec.decode(z).items():
        np.testing.assert_array_equal(again.decode(z)[v], arr)


def test_codec_refuses_non_finite_fields_and_other_grids(ensemble: xr.Dataset) -> None:
    bad = ensemble.isel(scenario=slice(0, 4)).copy(deep=True)
    bad["tos"][0, 3, 2] = np.nan
    with pytest.raises(InvalidInputError, match=r"'tos' has 1 NaN or infinite values of 8760"):
        FieldCodec.fit(bad, ["phyc", "tos"])
    codec = FieldCodec.fit(ensemble, ["phyc", "tos"])
    other = synthetic_spatial_ensemble(sample_scenarios(4, seed=1), NX - 1)
    with pytest.raises(
        InvalidInputError,
        match=r"'phyc' has sizes \(4, 5\) along \('phyto_type', 'x'\); the codec was fitted "
        r"on \(4, 6\)",
    ):
        codec.encode(other)


# ---------------------------------------------------------------------------- prediction
def test_prediction_has_the_dims_coords_and_attrs_of_the_full_model(
    spatial_surrogate: Surrogate, ensemble: xr.Dataset
) -> None:
    sur = spatial_surrogate
    new = sample_scenarios(5, seed=7)
    pred = sur.predict(new)
    for v in [*EMULATED, "pco2atm"]:
        assert pred[v].dims == ensemble[v].dims, v
        assert pred[v].attrs == ensemble[v].attrs, v
    assert pred["phyc"].dims == ("scenario", "time", "phyto_type", "x")
    assert pred["phyc_sd"].dims == pred["phyc"].dims and float(pred["phyc_sd"].mean()) > 0
    assert "thetao" not in pred  # not emulated
    xr.testing.assert_identical(pred["x"], ensemble["x"])
    xr.testing.assert_identical(pred["sea_floor_depth"], ensemble["sea_floor_depth"])
    assert pred.indexes["x"].equals(ensemble.indexes["x"])
    assert list(pred.phyto_type.values) == list(SPATIAL_TYPES)
    assert pred["t_opt"].values.tolist() == ensemble["t_opt"].values.tolist()
    assert pred.sizes["time"] == 365 and pred.time.values[0] == ensemble.time.values[0]
    np.testing.assert_allclose(pred.pco2atm.values[:, 0], new["co2_start"], rtol=1e-3)
    assert (pred.phyc.values >= 0).all()
    assert sur.meta["simulate"] == {
        "physics": "multilayer",
        "years": 1,
        "dt": 3600.0,
        "n_layers": 3,
    }
    assert sur.meta["horizontal"]["sizes"] == {"x": NX}
    assert set(sur.meta["horizontal"]["coords"]) == {"x", "sea_floor_depth"}
    # selecting a cell gives a column-shaped series
    assert pred.sel(x=pred.x[2]).phyc.dims == ("scenario", "time", "phyto_type")


def test_save_load_round_trip(spatial_surrogate: Surrogate, tmp_path: Path) -> None:
    new = sample_scenarios(4, seed=9)
    pred = spatial_surrogate.predict(new)
    again = Surrogate.load(spatial_surrogate.save(tmp_path / "sur"))
    assert again.codec is not None and again.codec.sizes == spatial_surrogate.codec.sizes
    xr.testing.assert_identical(again.predict(new), pred)


def test_beats_the_ensemble_mean_on_held_out_scenarios(
    spatial_surrogate: Surrogate, ensemble: xr.Dataset
) -> None:
    new = sample_scenarios(32, seed=21)
    truth = synthetic_spatial_ensemble(new, NX)
    pred = spatial_surrogate.predict(new, uncertainty=False)
    base = truth.copy()
    for v in EMULATED:
        mean = ensemble[v].mean("scenario").values
        base[v] = truth[v].copy(data=np.broadcast_to(mean, truth[v].shape))
    got = series_scores(truth, pred, tuple(EMULATED))
    ref = series_scores(truth, base, tuple(EMULATED))
    for v in EMULATED:
        # at most a tenth of the variance the ensemble mean leaves unexplained (measured over
        # three training seeds: 0.003-0.03); fgco2 half (0.22-0.32): the index head shifts it
        # by its predicted uptake, and the synthetic flux does not follow the flux law the
        # head's uptake is built on
        margin = 0.5 if v == "fgco2" else 0.1
        assert 1.0 - got[f"{v}_r2"] < margin * (1.0 - ref[f"{v}_r2"]), v
        assert got[f"{v}_r2"] > 0.98, v


def test_index_head_carries_the_basin_indices(spatial_surrogate: Surrogate) -> None:
    sur = spatial_surrogate
    assert sur.head is not None and sur.head.gp is not None
    new = sample_scenarios(8, seed=11)
    pred = sur.predict(new)
    head = sur.head.predict(new, 365)
    idx = compute_indices(pred)
    np.testing.assert_allclose(idx["co2_uptake"], head["co2_uptake"], atol=1e-4)
    truth = compute_indices(synthetic_spatial_ensemble(new, NX))
    assert np.abs(idx["bloom_day"] - truth["bloom_day"]).max() <= 4.0
    assert float((idx["co2_uptake"] / truth["co2_uptake"] - 1.0).abs().median()) < 0.05


def test_atmospheric_co2_over_the_cells(tmp_path: Path) -> None:
    table = sample_scenarios(8, seed=0)
    ens = synthetic_spatial_ensemble(table, 4, uniform_co2=False)
    sur = Surrogate.create(
        "pod_mlp", max_epochs=2, members=1, width=8, modes=2, depth=1, index_head=False
    ).fit(ens)
    new = sample_scenarios(3, seed=1)
    pred = sur.predict(new)
    assert pred.pco2atm.dims == ("scenario", "time", "x")
    np.testing.assert_array_equal(pred.pco2atm.values[:, :, 0], pred.pco2atm.values[:, :, 3])
    np.testing.assert_allclose(pred.pco2atm.values[:, 0, 0], new["co2_start"], rtol=1e-3)


@pytest.mark.parametrize("arch", ["fno"])
def test_fno_predicts_spatial_fields(arch: str, ensemble: xr.Dataset) -> None:
    sur = Surrogate.create(arch, max_epochs=2, width=8, modes=4, depth=2).fit(
        ensemble.isel(scenario=slice(0, 16))
    )
    pred = sur.predict(sample_scenarios(2, seed=3))
    assert pred["phyc"].dims == ("scenario", "time", "phyto_type", "x")
    assert pred["phyc"].shape == (2, 365, len(SPATIAL_TYPES), NX)


# ---------------------------------------------------------------------------- indices
def _column_and_spatial(n_cells: int = 5) -> tuple[xr.Dataset, xr.Dataset]:
    """A column dataset and a spatial one whose basin mean is that column, by construction."""
    column = synthetic_ensemble(sample_scenarios(6, seed=3))
    rng = np.random.default_rng(0)
    anomaly = rng.normal(size=n_cells)
    anomaly -= anomaly.mean()  # zero mean over the cells
    anomaly /= np.abs(anomaly).max()
    cells = xr.DataArray(anomaly, dims="x", coords={"x": 1000.0 * (np.arange(n_cells) + 0.5)})
    spatial = column.copy()
    for v in ("phyc", "intphyc", "chl", "fgco2", "intpp"):
        da = column[v]
        day = xr.DataArray(np.arange(365.0), dims="time")
        pattern = np.cos(2 * np.pi * day / 365.0 * (1 + cells))  # varies in x and in time
        pattern = pattern - pattern.mean("x")
        spatial[v] = da + 0.04 * float(np.abs(da).min() + 0.01) * pattern
    return column, spatial


def test_indices_of_spatial_output_are_those_of_its_basin_mean() -> None:
    column, spatial = _column_and_spatial()
    assert spatial["fgco2"].dims == ("scenario", "time", "x")
    assert spatial["intphyc"].dims[-1] == "x" and (spatial["intphyc"] >= 0).all()
    got = compute_indices(spatial)
    pd.testing.assert_frame_equal(got, compute_indices(basin_mean(spatial)))
    want = compute_indices(column)
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)
    np.testing.assert_allclose(
        annual_co2_uptake(spatial).values, annual_co2_uptake(column).values, rtol=1e-9
    )
    assert bloom_timing(spatial).values.tolist() == bloom_timing(column).values.tolist()
    # the cells differ: a single cell's indices are not the basin's
    assert not np.allclose(
        annual_co2_uptake(spatial.isel(x=0)).values, want["co2_uptake"].values, rtol=1e-6
    )
    assert basin_mean(column) is column


def test_match_uptake_and_bloom_day_on_spatial_series() -> None:
    rng = np.random.default_rng(1)
    fgco2 = rng.normal(0.0, 5.0, (3, 365, 4)).astype("float32")
    target = np.array([-0.8, 0.02, 1.5])
    out = match_uptake(fgco2, target)
    assert out.shape == fgco2.shape and out.dtype == fgco2.dtype
    ds = xr.Dataset({"fgco2": (("scenario", "time", "x"), out)})
    np.testing.assert_allclose(annual_co2_uptake(ds).values, target, atol=1e-5)
    # one shift for all cells and days of a scenario
    np.testing.assert_allclose(np.diff(out - fgco2, axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.diff(out - fgco2, axis=2), 0.0, atol=1e-5)

    day = np.arange(365) + 1.0
    peaks = np.array([140.0, 150.0, 160.0])
    chl = 1.0 + np.exp(-(((day[None, :, None] - peaks[None, None, :]) / 12.0) ** 2))
    chl = np.concatenate([chl, chl + 0.2], 0)  # two scenarios, three cells each
    goal = np.array([170.0, 150.0])
    moved, mask = match_bloom_day(chl, goal)
    assert moved.shape == chl.shape and mask.tolist() == [True, False]
    basin = xr.Dataset({"chl": (("scenario", "time", "x"), moved)})
    assert bloom_timing(basin).values.tolist() == goal.tolist()
    # the warp commutes with the basin mean: the same as warping the basin-mean series
    column, _ = match_bloom_day(chl.mean(-1), goal)
    np.testing.assert_allclose(moved.mean(-1), column, rtol=1e-12)
    np.testing.assert_array_equal(moved[1], chl[1])


# ---------------------------------------------------------------------------- validation
class _FakeMultilayer:
    """Stands in for ``simulate(..., physics="multilayer")``: the synthetic spatial fields."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, scenarios: pd.DataFrame, *, physics: str = "column", **kw: Any) -> Any:
        from ecocube.ocean.scenarios import validate_scenarios

        self.calls.append({"physics": physics, **kw})
        assert physics == "multilayer"
        return synthetic_spatial_ensemble(validate_scenarios(scenarios), NX)


def test_validate_a_spatial_surrogate(
    spatial_surrogate: Surrogate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _FakeMultilayer()
    monkeypatch.setattr(importlib.import_module("ecocube.ocean.simulate"), "simulate", fake)
    schemes = importlib.import_module("ecocube.ocean.schemes").PHYSICAL_SCHEMES
    monkeypatch.setitem(schemes, "multilayer", object())  # whether registered yet or not
    with warnings.catch_warnings():
        warnings.simplefilter("error", EcocubeWarning)  # the same "full model": no warning
        report = validate_surrogate(
            spatial_surrogate,
            n=8,
            seed=5,
            extrapolation=(2.0,),
            n_extrapolation=4,
            large_batch=256,
            simulate_options={"basin": "small"},
            json_path=tmp_path / "val.json",
            keep_datasets=True,
        )
    assert fake.calls[0] == {
        "physics": "multilayer",
        "device": "cpu",
        "years": 1,
        "dt": 3600.0,
        "n_layers": 3,
        "basin": "small",
    }
    m = report["metrics"]
    for v in EMULATED:  # every emulated field, pooled over scenarios, days and cells
        truth, pred = report["_data"]["truth"], report["_data"]["pred"]
        a, b = truth[v].values.ravel(), pred[v].transpose(*truth[v].dims).values.ravel()
        r2 = 1.0 - ((a - b) ** 2).sum() / ((a - a.mean()) ** 2).sum()
        assert m[f"{v}_r2"] == pytest.approx(r2, rel=1e-6), v
    assert set(report["targets"]) == set(SPATIAL_TARGETS)
    assert report["targets"]["tos_r2"]["passed"]
    idx = report["_data"]["indices"]
    assert idx["full"].equals(compute_indices(basin_mean(report["_data"]["truth"])))
    assert {"speedup_batched", "speedup_single", "speedup_batched_large"} <= set(m)
    assert report["timing"]["large_batch"] == 256
    assert report["setup"]["horizontal"] == {"x": NX}
    assert report["setup"]["simulate"]["basin"] == "small"
    assert "extrapolation_plus2_phyc_r2" in m
    on_disk = json.loads((tmp_path / "val.json").read_text())
    assert on_disk["setup"]["simulate"]["physics"] == "multilayer"


def test_validate_refuses_a_spatial_surrogate_without_the_multilayer_model(
    spatial_surrogate: Surrogate, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeMultilayer()
    monkeypatch.setattr(importlib.import_module("ecocube.ocean.simulate"), "simulate", fake)
    schemes = importlib.import_module("ecocube.ocean.schemes").PHYSICAL_SCHEMES
    monkeypatch.delitem(schemes, "multilayer", raising=False)
    with pytest.raises(
        ConfigurationError,
        match=r"emulates simulate\(\.\.\., physics='multilayer'\), which is not a physical "
        r"scheme of this installation \(valid: \['column'",
    ):
        validate_surrogate(spatial_surrogate, n=2, seed=5, single_call=False, large_batch=0)
    assert fake.calls == []  # refused before any model run


# ---------------------------------------------------------------------------- saved format
def test_surrogate_of_an_ensemble_without_optional_parameters(tmp_path: Path) -> None:
    """An ensemble (or a saved surrogate) from before the optional scenario parameters: the
    surrogate takes the others as inputs, and says so when a scenario sets an ignored one."""
    optional = [p for p in SCENARIO_PARAMETERS if getattr(p, "optional", False)]
    if not optional:
        pytest.skip("no optional scenario parameter in this version")
    ens = synthetic_ensemble(sample_scenarios(12, seed=0)).drop_vars([p.name for p in optional])
    sur = Surrogate.create(
        "pod_mlp", max_epochs=2, members=2, width=8, modes=2, depth=1, head_members=1
    ).fit(ens)
    required = [p.name for p in SCENARIO_PARAMETERS if not getattr(p, "optional", False)]
    assert sur.parameters == required and sur.head is not None
    new = sample_scenarios(3, seed=4).assign(**{p.name: p.default for p in optional})
    pred = sur.predict(new)
    folder = sur.save(tmp_path / "sur")
    state = json.loads((folder / "config.json").read_text())
    for key in ("parameters", "dims"):  # what surrogates saved before them lack
        del state["meta"][key]
    del state["codec"]["dims"], state["codec"]["sizes"]
    (folder / "config.json").write_text(json.dumps(state))
    old = Surrogate.load(folder)
    assert old.parameters == required
    xr.testing.assert_identical(old.predict(new), pred)
    changed = new.assign(**{optional[0].name: optional[0].high})
    with pytest.warns(EcocubeWarning, match=rf"\['{optional[0].name}'\] are not inputs of this"):
        old.predict(changed)
