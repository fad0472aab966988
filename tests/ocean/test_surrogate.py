"""Surrogate workflow on a small seeded synthetic ensemble (fast, no full-model run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, sample_scenarios
from ecocube.ocean.surrogate import (
    ARCHITECTURES,
    EMULATED,
    Surrogate,
    SurrogateConfig,
    SurrogateNotFittedError,
)
from ecocube.ocean.surrogate._data import FieldCodec, forcing_channels


def synthetic_ensemble(table: pd.DataFrame) -> xr.Dataset:
    """Smooth, simulate-shaped fields that depend on the scenario parameters."""
    day = np.arange(365) + 0.5
    w = table["warming"].to_numpy()[:, None]
    light = table["light"].to_numpy()[:, None]
    nut = table["nutrient_supply"].to_numpy()[:, None]
    bloom = np.exp(-(((day[None, :] - 120 - 5 * w) / 25.0) ** 2))
    phyc = np.stack([light * nut * 0.1 * bloom * k + 0.05 for k in (1.0, 0.6, 0.3)], -1)
    dims2, dims3 = ("scenario", "time"), ("scenario", "time", "phyto_type")
    seas = np.cos(2 * np.pi * (day - 227) / 365)[None, :]
    data = {
        "phyc": (dims3, phyc),
        "intphyc": (dims3, 30 * phyc),
        "chl": (dims2, phyc.sum(-1) * 0.8),
        "dissic": (dims2, 2050 - 20 * phyc.sum(-1) + w * seas),
        "talk": (dims2, 2350 + 0 * phyc.sum(-1)),
        "no3": (dims2, nut * (1 - 0.8 * bloom) + 0.1),
        "spco2": (dims2, 380 + 10 * seas - 30 * bloom + 3 * w),
        "fgco2": (dims2, 5 * bloom - seas),
        "intpp": (dims2, 50 * light * bloom + 1),
        "tos": (dims2, 14 + 4 * seas + w * day[None, :] / 365),
        "pco2atm": (
            dims2,
            np.broadcast_to(table["co2_start"].to_numpy()[:, None], (len(table), 365)),
        ),
    }
    time = xr.date_range("2000-01-01", periods=365, freq="D", calendar="noleap", use_cftime=True)
    coords = {
        "scenario": table.index.to_numpy(),
        "time": time,
        "phyto_type": ["diatom", "nano", "pico"],
        "t_opt": ("phyto_type", [12.0, 18.0, 25.0]),
    }
    for p in SCENARIO_PARAMETERS:
        coords[p.name] = ("scenario", table[p.name].to_numpy())
    ds = xr.Dataset({k: (d, np.asarray(v, dtype=float), {"units": "u"}) for k, (d, v) in data.items()},
                    coords=coords)  # fmt: skip
    ds.attrs.update({"time_step_s": 10800.0, "n_layers": 20})
    return ds


@pytest.fixture(scope="module")
def ensemble() -> xr.Dataset:
    return synthetic_ensemble(sample_scenarios(48, seed=0))


def test_codec_roundtrip(ensemble: xr.Dataset) -> None:
    codec = FieldCodec.fit(ensemble, list(EMULATED))
    z = codec.encode(ensemble)
    assert z.shape == (48, 365, 3 + 3 + 8)
    assert abs(float(z.mean())) < 1e-3
    back = codec.decode(z)
    np.testing.assert_allclose(back["phyc"], ensemble.phyc.values, rtol=1e-4)
    np.testing.assert_allclose(back["dissic"], ensemble.dissic.values, rtol=1e-5)


def test_forcing_channels_track_warming() -> None:
    table = sample_scenarios(3, seed=1).assign(warming=[0.0, 2.0, 6.0])
    f = forcing_channels(table, 365)
    assert f.shape == (3, 8 + len(SCENARIO_PARAMETERS), 365)
    # the warming channel ramps linearly to warming / 3 at the end of the horizon
    np.testing.assert_allclose(f[:, 1, -1], np.array([0.0, 2.0, 6.0]) / 3.0, rtol=1e-2)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_fit_predict_save_load(
    arch: str, ensemble: xr.Dataset, tmp_path: Path, device: str
) -> None:
    options = {"max_epochs": 60, "members": 2, "width": 64, "modes": 16, "depth": 2,
               "batch_size": 16, "device": device}  # fmt: skip
    if arch == "fno":
        options.update(max_epochs=40, width=16, modes=12, lr=5e-3)
    sur = Surrogate.create(arch, **options).fit(ensemble)
    new = sample_scenarios(6, seed=7)
    pred = sur.predict(new)
    truth = synthetic_ensemble(new)
    assert set(EMULATED) | {"pco2atm"} <= set(pred.data_vars)
    assert pred.phyc.dims == ("scenario", "time", "phyto_type")
    assert pred.sizes["time"] == 365 and list(pred.phyto_type.values) == ["diatom", "nano", "pico"]
    assert pred["t_opt"].values.tolist() == [12.0, 18.0, 25.0]
    assert float(pred.warming[0]) == pytest.approx(float(new.warming.iloc[0]))
    assert (pred.phyc.values >= 0).all()
    # learnt something: temperature is explained far better than by its ensemble mean
    err = float(((pred.tos - truth.tos) ** 2).mean())
    var = float(truth.tos.var())
    assert err < 0.2 * var
    np.testing.assert_allclose(pred.pco2atm.values[:, 0], truth.pco2atm.values[:, 0], rtol=1e-3)
    if arch == "pod_mlp":
        assert "phyc_sd" in pred and float(pred.phyc_sd.mean()) > 0
        assert "phyc_sd" not in sur.predict(new, uncertainty=False)
    out = sur.save(tmp_path / arch)
    again = Surrogate.load(out)
    assert again.arch == arch
    xr.testing.assert_allclose(again.predict(new), pred)
    assert sur.save(out) == out  # an earlier surrogate is replaced...
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="is not a surrogate folder"):
        sur.save(mine)  # ...a folder holding other files never is
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("log_transform", [False, True])
def test_pod_mlp_fused_prediction_equals_decoded_one(
    ensemble: xr.Dataset, log_transform: bool
) -> None:
    """The one-matmul path (basis, scale and codec folded) gives the decode path's fields."""
    sur = Surrogate.create("pod_mlp", max_epochs=5, members=3, width=32, modes=8, depth=2,
                           log_transform=log_transform, index_head=False).fit(ensemble)  # fmt: skip
    assert any(sur.codec.log) == log_transform
    table = sample_scenarios(5, seed=3)
    fused, fused_sd = sur._predict_fields(table, True)
    generic, generic_sd = Surrogate._predict_fields(sur, table, True)
    assert set(fused) == set(generic) == set(fused_sd) == set(generic_sd)
    for v in generic:
        assert fused[v].shape == generic[v].shape
        scale = np.abs(generic[v]).max()
        np.testing.assert_allclose(fused[v], generic[v], rtol=1e-4, atol=1e-5 * scale)
        # sd of a constant field (talk here) is float noise: compare on the field's scale
        np.testing.assert_allclose(fused_sd[v], generic_sd[v], rtol=1e-3, atol=1e-5 * scale)


def test_surrogate_dataset_matches_public_constructor(
    ensemble: xr.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct Dataset assembly gives exactly what xarray's public constructor builds."""
    sur = Surrogate.create("pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1,
                           index_head=False).fit(ensemble)  # fmt: skip
    table = sample_scenarios(4, seed=11)
    fast = sur.predict(table)
    from ecocube.ocean.surrogate import _base

    assert _base._DIRECT_CONSTRUCTOR  # the fast path is the one measured
    monkeypatch.setattr(_base, "_DIRECT_CONSTRUCTOR", False)
    public = sur.predict(table)
    xr.testing.assert_identical(fast, public)
    assert list(fast.indexes) == list(public.indexes)
    assert fast.sel(scenario=2).phyc.shape == (365, 3)


def test_unknown_arch_and_bad_config() -> None:
    with pytest.raises(InvalidInputError, match="unknown surrogate architecture 'gpt'"):
        Surrogate.create("gpt")
    with pytest.raises(InvalidInputError, match="members=0 must be an integer >= 1"):
        SurrogateConfig(members=0)
    with pytest.raises(InvalidInputError, match="head_members=0 must be an integer >= 1"):
        SurrogateConfig(head_members=0)
    with pytest.raises(InvalidInputError, match=r"val_fraction=0\.95"):
        SurrogateConfig(val_fraction=0.95)
    with pytest.raises(InvalidInputError, match="energy=0"):
        SurrogateConfig(energy=0)


def test_unfitted_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SurrogateNotFittedError, match="not trained"):
        Surrogate.create("pod_mlp").predict(sample_scenarios(2, seed=0))
    with pytest.raises(SurrogateNotFittedError, match="is not a surrogate folder"):
        Surrogate.load(tmp_path)


def test_bad_ensembles(ensemble: xr.Dataset, tmp_path: Path) -> None:
    sur = Surrogate.create("pod_mlp", max_epochs=2)
    with pytest.raises(InvalidInputError, match="does not exist"):
        sur.fit(tmp_path / "nope.zarr")
    (tmp_path / "records.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty").mkdir()
    for wrong in ("records.csv", "empty"):  # not an ensemble: a clear error, not xarray's
        with pytest.raises(InvalidInputError, match=r"cannot open the ensemble .* ocean ensemble"):
            sur.fit(tmp_path / wrong)
    with pytest.raises(InvalidInputError, match=r"lacks \['dissic'\]"):
        sur.fit(ensemble.drop_vars("dissic"))
    with pytest.raises(InvalidInputError, match="at least 4 scenarios"):
        sur.fit(ensemble.isel(scenario=slice(0, 3)))


def test_nonnegative_variables_never_undershoot_zero() -> None:
    """A linear-scale surrogate that undershoots (e.g. far beyond its training range) must not
    return negative concentrations; signed variables (fgco2) keep their sign."""
    import torch

    from ecocube.ocean.surrogate._data import NONNEGATIVE

    ens = synthetic_ensemble(sample_scenarios(24, seed=0))
    sur = Surrogate.create("pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1,
                           index_head=False).fit(ens)  # fmt: skip
    new = sample_scenarios(3, seed=5)
    # push every decoded field far below zero: the fused affine maps get a large negative bias
    sur._fused = [(w, b - 1e6 * torch.ones_like(b)) for w, b in sur._fused_maps()]
    pred = sur.predict(new)
    for name in NONNEGATIVE & set(pred.data_vars):
        assert float(pred[name].min()) == 0.0, name
    assert float(pred["fgco2"].max()) < -1e3
    # the codec (used by the FNO) clips the same variables
    codec = FieldCodec.fit(ens, ["phyc", "fgco2"], log=False)
    z = np.full((1, ens.sizes["time"], len(codec.channels)), -1e6)
    out = codec.decode(z)
    assert out["phyc"].min() == 0.0 and out["fgco2"].max() < 0.0


def test_fgco2_of_older_ensembles_and_surrogates_gets_the_mole_flux_name(
    ensemble: xr.Dataset,
) -> None:
    from ecocube.ocean.surrogate._base import _current_meta, _template_meta
    from ecocube.ocean.surrogate._data import ensemble_table

    legacy = "surface_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon"
    old = ensemble.copy()
    old["fgco2"].attrs = {"standard_name": legacy, "units": "mmol m-2 d-1"}
    meta = _template_meta(old, ensemble_table(old))  # training on an older ensemble
    assert meta["var_attrs"]["fgco2"] == {
        "standard_name": "surface_downward_mole_flux_of_carbon_dioxide",
        "units": "mmol m-2 d-1",
    }
    saved = {"var_attrs": {"fgco2": {"standard_name": legacy}, "tos": {"units": "degC"}}}
    loaded = _current_meta(saved)  # loading a surrogate saved before the change
    assert loaded["var_attrs"]["fgco2"]["standard_name"].startswith("surface_downward_mole_flux")
    assert loaded["var_attrs"]["tos"] == {"units": "degC"}
