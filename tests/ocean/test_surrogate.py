"""Surrogate workflow on a small seeded synthetic ensemble (fast, no full-model run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
from tests.ocean.conftest import synthetic_ensemble


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
    options = {
        "max_epochs": 60,
        "members": 2,
        "width": 64,
        "modes": 16,
        "depth": 2,
        "batch_size": 16,
        "device": device,
    }
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
    sur = Surrogate.create(
        "pod_mlp",
        max_epochs=5,
        members=3,
        width=32,
        modes=8,
        depth=2,
        log_transform=log_transform,
        index_head=False,
    ).fit(ensemble)
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
    sur = Surrogate.create(
        "pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1, index_head=False
    ).fit(ensemble)
    table = sample_scenarios(4, seed=11)
    fast = sur.predict(table)
    from ecocube.ocean.surrogate import _base

    assert _base._DIRECT_CONSTRUCTOR  # the fast path is the one measured
    monkeypatch.setattr(_base, "_DIRECT_CONSTRUCTOR", False)
    public = sur.predict(table)
    xr.testing.assert_identical(fast, public)
    assert list(fast.indexes) == list(public.indexes)
    assert fast.sel(scenario=2).phyc.shape == (365, 3)


@pytest.mark.parametrize("arch", ["pod_mlp", "fno"])
def test_same_seed_same_surrogate_whatever_the_global_random_state(
    ensemble: xr.Dataset, arch: str
) -> None:
    """Initial weights come from the config's seed, not from torch's global generator."""
    import torch

    options = {"max_epochs": 2, "width": 16, "modes": 4, "depth": 1, "seed": 3}
    if arch == "pod_mlp":
        options.update(members=2, index_head=False)
    table = sample_scenarios(3, seed=4)
    fields = []
    for global_seed in (0, 12345):
        torch.manual_seed(global_seed)
        sur = Surrogate.create(arch, **options).fit(ensemble)
        fields.append(sur.predict(table, uncertainty=False)["phyc"].values)
    np.testing.assert_array_equal(fields[0], fields[1])


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
    sur = Surrogate.create(
        "pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1, index_head=False
    ).fit(ens)
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


class _RunsCode:
    """A pickled object whose unpickling would create the file ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_config(path: Path, edit) -> None:
    import json

    state = json.loads(path.read_text())
    edit(state)
    path.write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("name", "damage", "match"),
    [
        ("weights.pt", _truncate, r"cannot be read: truncated, corrupt or not a torch file"),
        (
            "weights.pt",
            lambda p: __import__("torch").save({"0.weight": __import__("torch").zeros(1)}, p),
            r"does not match config.json \(missing, unexpected or mis-shaped weights",
        ),
        (
            "weights.pt",
            lambda p: __import__("torch").save([1, 2], p),
            r"holds a list, not a dict of tensors",
        ),
        ("config.json", _truncate, r"is not valid JSON \(JSONDecodeError: "),
        ("config.json", lambda p: p.write_text("[1, 2]"), r"holds a JSON list, not an object"),
        (
            "config.json",
            lambda p: _edit_config(p, lambda s: s.pop("codec")),
            r"has a missing or malformed entry \(KeyError: 'codec'\)",
        ),
        (
            "config.json",
            lambda p: _edit_config(p, lambda s: s["config"].update(width=0)),
            r"has a missing or malformed entry \(InvalidInputError: SurrogateConfig.width=0",
        ),
        ("arrays.npz", _truncate, r"cannot be read: truncated or corrupt"),
        ("arrays.npz", lambda p: p.unlink(), r"arrays.npz' is missing"),
        (
            "arrays.npz",
            lambda p: np.savez(p, other=np.zeros(2)),
            r"does not match config.json \(KeyError: 'basis_0",
        ),
    ],
)
def test_damaged_surrogate_files_are_named_with_the_fix(
    saved_surrogate: Path, tmp_path: Path, name: str, damage, match: str
) -> None:
    import shutil

    from ecocube.errors import DataIntegrityError

    folder = Path(shutil.copytree(saved_surrogate, tmp_path / "sur"))
    damage(folder / name)
    with pytest.raises(DataIntegrityError, match=match) as info:
        Surrogate.load(folder)
    message = str(info.value)
    assert f"surrogate file '{folder / name}'" in message
    assert f"ecocube ocean train --ensemble ENS.zarr --out {folder}" in message
    # no chained traceback: the raw reader's message (torch's suggests weights_only=False) stays out
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_tampered_weights_are_refused_without_running_their_code(
    saved_surrogate: Path, tmp_path: Path
) -> None:
    import shutil

    import torch

    from ecocube.errors import DataIntegrityError

    folder = Path(shutil.copytree(saved_surrogate, tmp_path / "sur"))
    marker = tmp_path / "pwned"
    state = torch.load(folder / "weights.pt", weights_only=True)
    state["payload"] = _RunsCode(marker)
    torch.save(state, folder / "weights.pt")  # tensors plus an object that would run code
    with pytest.raises(
        DataIntegrityError, match=r"holds Python objects other than tensors"
    ) as info:
        Surrogate.load(folder)
    assert "weights_only" not in str(info.value)
    assert not marker.exists()
    # an intact copy loads and predicts
    assert (
        Surrogate.load(saved_surrogate).predict(sample_scenarios(2, seed=3)).sizes["scenario"] == 2
    )


def test_load_checks_the_device(saved_surrogate: Path) -> None:
    from ecocube.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="device 'gpu' is not a torch device"):
        Surrogate.load(saved_surrogate, device="gpu")


def test_half_written_ensemble_store_is_refused(ensemble: xr.Dataset, tmp_path: Path) -> None:
    import zarr

    from ecocube.ocean.ingest import write_zarr
    from ecocube.ocean.surrogate import load_ensemble

    store = write_zarr(ensemble, tmp_path / "ens.zarr")
    assert load_ensemble(store).sizes["scenario"] == 48
    group = zarr.open_group(str(store), mode="a", zarr_format=2)
    del group.attrs["ecocube:complete"]
    zarr.consolidate_metadata(str(store), zarr_format=2)
    with pytest.raises(
        InvalidInputError,
        match=r"ensemble '.*ens.zarr' is half-written: it lacks the 'ecocube:complete' marker.*"
        r"`ecocube ocean ensemble --out .*ens.zarr --overwrite`",
    ):
        Surrogate.create("pod_mlp", max_epochs=1).fit(store)
