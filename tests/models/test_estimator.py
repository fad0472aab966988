"""The scikit-learn-like SDM estimator on real Bradypus data and small synthetic records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.estimator import SDM

FAST = {"steps": 200, "num_samples": 100, "lr": 0.05}


@pytest.fixture(scope="module")
def bradypus(mirror) -> pd.DataFrame:
    from ecocube import data

    df = pd.read_csv(data.fetch_file("sdm_elapid", "bradypus.csv.gz"))
    df["kind"] = np.where(df["presence"] == 1, "presence", "background")
    return df.drop(columns="presence")


def _covs(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ("kind", "ecoreg")]


@pytest.fixture(scope="module")
def bradypus_fit(bradypus) -> tuple[SDM, pd.DataFrame]:
    rng = np.random.default_rng(0)
    test = (rng.random(len(bradypus)) < 0.3) & (bradypus["ecoreg"] != 7)
    sdm = SDM("integrated", _covs(bradypus), ["ecoreg"], seed=0, options=FAST)
    return sdm.fit(bradypus[~test]), bradypus[test].reset_index(drop=True)


def test_bradypus_presence_background_auc(bradypus_fit) -> None:
    from sklearn.metrics import roc_auc_score

    sdm, test = bradypus_fit
    assert sdm.estimator_.mode == "presence-only"
    pred = sdm.predict(test)
    assert list(pred.columns) == ["site", "species", "probability", "sd", "q05", "q95"]
    assert len(pred) == len(test)
    np.testing.assert_array_equal(pred["site"], np.arange(len(test)))
    # the mean may exceed q95 for a right-skewed posterior, but the interval is ordered
    assert (pred["q05"] <= pred["q95"]).all()
    assert (pred["sd"] >= 0).all()
    # held-out presences vs background; measured 0.81 (Maxent on these data: about 0.85)
    auc = roc_auc_score(test["kind"] == "presence", pred["probability"])
    assert auc > 0.75


def test_save_load_round_trip(bradypus, bradypus_fit, tmp_path) -> None:
    sdm, test = bradypus_fit
    p1 = sdm.predict(test.head(40))
    folder = sdm.save(tmp_path / "model")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "integrated"
    assert manifest["covariates"] == _covs(bradypus)
    rng = np.random.default_rng(0)
    train = bradypus[~((rng.random(len(bradypus)) < 0.3) & (bradypus["ecoreg"] != 7))]
    assert manifest["categorical_levels"]["ecoreg"] == sorted(str(v) for v in set(train["ecoreg"]))
    assert manifest["format_version"] == 2 and manifest["inputs"]["categorical"] == ["ecoreg"]
    model = json.loads((folder / "model.json").read_text())  # the model's own state
    assert model["model"] == "integrated" and model["meta"]["species"] == ["species"]
    assert len(model["meta"]["encoder"]["mean"]) == len(_covs(bradypus))
    loaded = SDM.load(folder)
    pd.testing.assert_frame_equal(loaded.predict(test.head(40)), p1)
    # saving again over an existing model folder replaces it atomically
    sdm.save(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]


def test_same_seed_same_predictions(bradypus) -> None:
    small = pd.concat(
        [bradypus[bradypus.kind == "presence"], bradypus[bradypus.kind == "background"].head(300)]
    )
    opts = {**FAST, "steps": 100}
    a = SDM("integrated", _covs(bradypus)[:4], seed=3, options=opts).fit(small).predict(small)
    b = SDM("integrated", _covs(bradypus)[:4], seed=3, options=opts).fit(small).predict(small)
    c = SDM("integrated", _covs(bradypus)[:4], seed=4, options=opts).fit(small).predict(small)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["probability"], c["probability"])


def _mixed_records(seed: int = 0) -> pd.DataFrame:
    """Two species, presence + background + survey rows with site ids and effort."""
    rng = np.random.default_rng(seed)
    bg = pd.DataFrame({"kind": "background", "t": rng.normal(size=400)})
    pres = pd.DataFrame(
        {
            "kind": "presence",
            "species": ["warm"] * 60 + ["cold"] * 60,
            "t": np.r_[rng.normal(1, 0.7, 60), rng.normal(-1, 0.7, 60)],
        }
    )
    t = rng.normal(size=150)
    rows = []
    for i, ti in enumerate(t):
        for sp, sign in (("warm", 1), ("cold", -1)):
            p = 1 - np.exp(-np.exp(-0.5 + 1.2 * sign * ti))
            rows.append(
                {
                    "kind": "survey",
                    "species": sp,
                    "siteid": f"s{i}",
                    "t": ti,
                    "effort": 1.0,
                    "presence": int(rng.random() < p),
                }
            )
    return pd.concat([bg, pres, pd.DataFrame(rows)], ignore_index=True)


def test_integrated_records_with_sites_and_effort() -> None:
    rec = _mixed_records()
    sdm = SDM("integrated", ["t"], seed=0, options=FAST).fit(rec)
    assert sdm.estimator_.mode == "integrated"
    assert sdm.species_ == ["cold", "warm"]
    sites = pd.DataFrame({"siteid": ["hot", "mild", "cool"], "t": [2.0, 0.0, -2.0]})
    pred = sdm.predict(sites).set_index(["site", "species"])["probability"]
    assert pred["hot", "warm"] > 0.8 > pred["mild", "warm"] > pred["cool", "warm"]
    assert pred["cool", "cold"] > 0.8 > pred["hot", "cold"]
    comm = sdm.sample_communities(sites, n=20)
    assert comm.shape == (20, 3, 2)


def test_survey_only_records() -> None:
    rec = _mixed_records()
    rec = rec[rec.kind == "survey"].drop(columns="effort")
    sdm = SDM("integrated", ["t"], seed=0, options=FAST).fit(rec)
    assert sdm.estimator_.mode == "survey-only"


def test_bad_inputs() -> None:
    rec = _mixed_records()
    with pytest.raises(InvalidInputError, match="model='glm' is not supported"):
        SDM("glm", ["t"])
    with pytest.raises(InvalidInputError, match="model='multimodal' is fitted from a cube"):
        SDM("multimodal", ["t"]).fit(rec)
    with pytest.raises(InvalidInputError, match=r"no covariates given.*or fit from a cube"):
        SDM("integrated", []).fit(rec)
    with pytest.raises(InvalidInputError, match=r"variables=, background= place records on a"):
        SDM("integrated", ["t"]).fit(rec, variables=["t"], background=10)
    with pytest.raises(InvalidInputError, match="inputs of model='multimodal' only"):
        SDM("integrated", ["t"], patch_variables=["t"])
    with pytest.raises(InvalidInputError, match=r"patch_size=3 and options\['patch_size'\]=5"):
        SDM("multimodal", patch_size=3, options={"patch_size": 5})
    with pytest.raises(InvalidInputError, match=r"cube= must be an xarray\.Dataset or the path"):
        SDM("integrated").fit(rec, cube=42)
    with pytest.raises(
        InvalidInputError, match=r"unknown option\(s\) \['epochs'\] for model='integrated'"
    ):
        SDM("integrated", ["t"], options={"epochs": 3})
    with pytest.raises(InvalidInputError, match="both continuous and categorical"):
        SDM("integrated", ["t"], ["t"])
    with pytest.raises(InvalidInputError, match=r"covariate column\(s\) \['u'\] missing"):
        SDM("integrated", ["t", "u"]).fit(rec)
    bad = rec.copy()
    bad.loc[bad.kind == "survey", "effort"] = 0.0
    with pytest.raises(InvalidInputError, match="'effort' column of survey rows must be"):
        SDM("integrated", ["t"], options=FAST).fit(bad)
    with pytest.raises(InvalidInputError, match="not fitted"):
        SDM("integrated", ["t"]).predict(rec)
    with pytest.raises(InvalidInputError, match="not an ecocube model folder"):
        SDM.load("/nonexistent/model")


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny fitted model folder of each model type."""
    tmp = tmp_path_factory.mktemp("saved")
    rec = _mixed_records()
    po = rec[rec.kind != "survey"]
    integrated = SDM("integrated", ["t"], options={"steps": 10}, cv_folds=0).fit(rec)
    maxent = SDM("maxent-net", ["t"], options={"epochs": 2, "n_members": 2}, cv_folds=0).fit(po)
    return {
        "integrated": integrated.save(tmp / "integrated"),
        "maxent-net": maxent.save(tmp / "maxent-net"),
    }


def _copy(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / folder.name))


class _RunsCode:
    """Unpickling this creates ``path``: a stand-in for a crafted weights file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("model", ["integrated", "maxent-net"])
@pytest.mark.parametrize("damage", ["truncated", "bytes-flipped", "object-array", "foreign"])
def test_load_names_a_damaged_arrays_file(saved_models, tmp_path, model, damage) -> None:
    """A damaged model.npz is one error naming the file and the fix; no code ever runs."""
    folder = _copy(saved_models[model], tmp_path)
    arrays = folder / "model.npz"
    raw = arrays.read_bytes()
    marker = tmp_path / "code-ran"
    if damage == "truncated":
        arrays.write_bytes(raw[: len(raw) // 2])
    elif damage == "bytes-flipped":
        middle = len(raw) // 2
        arrays.write_bytes(raw[:middle] + bytes(b ^ 0xFF for b in raw[middle : middle + 64]))
    elif damage == "object-array":  # a pickled object inside: refused, never unpickled
        np.savez(arrays, weights=np.array([_RunsCode(marker)], dtype=object))
    else:  # a valid arrays file that is not this model's state
        np.savez(arrays, weights=np.zeros(3))
    with pytest.raises(InvalidInputError) as err:
        SDM.load(folder)
    message = str(err.value)
    assert str(folder) in message and "model.npz" in message
    assert "restore the model folder from a backup or refit the model" in message
    assert not marker.exists()
    arrays.unlink()
    with pytest.raises(InvalidInputError, match=r"has no arrays file .*model\.npz"):
        SDM.load(folder)


LEGACY = Path(__file__).parent / "data" / "sdm_v1"


@pytest.mark.parametrize("model", ["integrated", "maxent-net"])
def test_format_version_1_folders_still_load(model, tmp_path) -> None:
    """Folders saved before the models saved themselves (``model.pt``) load and predict as the
    code that wrote them did (``<model>.parquet``, written by that code); saving again writes
    format version 2."""
    from ecocube.models import SpeciesDistributionModel

    sites = pd.read_csv(LEGACY / "sites.csv")
    expected = pd.read_parquet(LEGACY / f"{model}.parquet")
    sdm = SDM.load(LEGACY / model)
    pd.testing.assert_frame_equal(sdm.predict(sites), expected, check_exact=True)
    bare = SpeciesDistributionModel.load(LEGACY / model)  # the model alone reads it too
    assert bare.name == model and bare.inputs.categorical == ("ecoreg",)
    again = SDM.load(sdm.save(tmp_path / "v2"))
    assert json.loads((tmp_path / "v2" / "manifest.json").read_text())["format_version"] == 2
    pd.testing.assert_frame_equal(again.predict(sites), expected, check_exact=True)


@pytest.mark.parametrize("damage", ["truncated", "crafted-pickle", "foreign", "missing"])
def test_format_version_1_damaged_weights(tmp_path, damage) -> None:
    """A damaged ``model.pt`` of a version-1 folder: one error naming it; no code runs."""
    import pickle

    import torch

    folder = _copy(LEGACY / "maxent-net", tmp_path)
    weights = folder / "model.pt"
    marker = tmp_path / "code-ran"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:200])
    elif damage == "crafted-pickle":
        weights.write_bytes(pickle.dumps({"config": _RunsCode(marker)}, protocol=2))
    elif damage == "foreign":  # a valid torch file that is not an ecocube model state
        torch.save({"weights": torch.zeros(3)}, weights)
    else:
        weights.unlink()
    with pytest.raises(InvalidInputError) as err:
        SDM.load(folder)
    message = str(err.value)
    if damage == "missing":
        assert f"has no weights file {str(weights)!r}" in message
    else:
        assert f"cannot load the weights {str(weights)!r}" in message
    assert "restore the model folder from a backup or refit it with 'ecocube sdm fit'" in message
    assert "weights_only" not in message
    assert not marker.exists()


def test_format_version_1_quantile_model_asks_for_a_refit(tmp_path) -> None:
    """Version 1 did not save the quantiles of ``scaling="quantile"``: a clear error to refit."""
    import torch

    folder = _copy(LEGACY / "maxent-net", tmp_path)
    state = torch.load(folder / "model.pt", weights_only=True)
    state["config"]["scaling"] = "quantile"
    torch.save(state, folder / "model.pt")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["options"]["scaling"] = "quantile"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match=r"scaling='quantile' but no quantiles.*refit"):
        SDM.load(folder)
    manifest["weights"] = "../elsewhere.pt"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match="'weights' must name a file inside the model"):
        SDM.load(folder)


def test_format_version_1_entries_must_match(tmp_path) -> None:
    """A version-1 weights file without an entry the model needs, or a model name version 1
    never had: one error naming the file or the name and the fix."""
    import torch

    from ecocube.models import SpeciesDistributionModel

    folder = _copy(LEGACY / "maxent-net", tmp_path)
    state = torch.load(folder / "model.pt", weights_only=True)
    del state["n_background"]
    torch.save(state, folder / "model.pt")
    with pytest.raises(InvalidInputError, match=r"model\.pt': its entries do not match the manif"):
        SDM.load(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "model": "glm"}))
    with pytest.raises(InvalidInputError, match="names model 'glm', which format version 1 did"):
        SpeciesDistributionModel.load(folder)


@pytest.mark.parametrize("scaling", ["zscore", "quantile"])
def test_maxent_net_scaling_survives_save_and_load(bradypus, tmp_path, scaling) -> None:
    """Regression: a quantile-scaled maxent-net saved, then loaded, predicts as before (it
    used to raise ``AttributeError: 'TabularEncoder' object has no attribute 'quantiles_'``)."""
    opts = {"epochs": 5, "n_members": 2, "hidden": (8,), "scaling": scaling}
    sdm = SDM("maxent-net", _covs(bradypus)[:4], ["ecoreg"], options=opts, cv_folds=0)
    sdm.fit(bradypus)
    sites = bradypus.iloc[::40]
    loaded = SDM.load(sdm.save(tmp_path / "model"))
    assert loaded.encoder_ is not None and loaded.encoder_.scaling == scaling
    pd.testing.assert_frame_equal(loaded.predict(sites), sdm.predict(sites), check_exact=True)


def test_load_names_a_damaged_manifest(saved_models, tmp_path) -> None:
    import json

    folder = _copy(saved_models["integrated"], tmp_path)
    path = folder / "manifest.json"
    good = json.loads(path.read_text())
    shown = re.escape(repr(str(path)))

    def load_with(text: str) -> str:
        path.write_text(text)
        with pytest.raises(InvalidInputError) as err:
            SDM.load(folder)
        return str(err.value)

    text = json.dumps(good)
    assert re.match(
        shown + r" is not valid JSON \(.*\); restore the model folder", load_with(text[:40])
    )
    assert load_with("[1, 2]").startswith(f"{str(path)!r} holds a JSON list, not a model manifest")
    message = load_with(json.dumps({k: v for k, v in good.items() if k != "species"}))
    assert message.startswith(f"{str(path)!r} lacks the key(s) ['species']; restore")
    message = load_with(json.dumps({**good, "species": ["a", "b"]}))
    assert "hold a 'integrated' model of species ['cold', 'warm'], but manifest.json" in message
    message = load_with(json.dumps({**good, "covariates": 5}))
    assert message.startswith(f"{str(path)!r} is not a valid model manifest (TypeError")
    message = load_with(json.dumps({**good, "format_version": 99}))
    assert "has format 'ecocube-sdm' version 99" in message and "refit the model" in message
    path.write_text(json.dumps(good))
    assert SDM.load(folder).species_ == ["cold", "warm"]


def test_unavailable_device_fails_before_any_work(saved_models, monkeypatch) -> None:
    import torch

    from ecocube.errors import ConfigurationError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    never = "the records were read although the device is not available"
    with pytest.raises(ConfigurationError, match="'cuda' was requested but CUDA is not available"):
        SDM("integrated", ["t"], device="cuda").fit(never)
    with pytest.raises(ConfigurationError, match="'cuda:1' was requested but CUDA is not"):
        SDM.load(saved_models["maxent-net"], device="cuda:1")
    with pytest.raises(ConfigurationError, match="'gpu' is not a torch device; use 'auto', 'cpu'"):
        SDM("maxent-net", ["t"], device="gpu")


def test_model_target_under_a_file(tmp_path) -> None:
    from ecocube.models.estimator import check_model_target

    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "notes.txt" / "model"
    with pytest.raises(InvalidInputError, match=r"'.*notes\.txt' is a file, not a folder"):
        check_model_target(target)
    check_model_target(tmp_path / "new" / "model")  # missing parents are created on save


def test_maxent_net_ensemble_on_bradypus(bradypus, tmp_path) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    test = (rng.random(len(bradypus)) < 0.3) & (bradypus["ecoreg"] != 7)
    opts = {"epochs": 60, "n_members": 4, "hidden": (16,)}
    sdm = SDM("maxent-net", _covs(bradypus), ["ecoreg"], seed=0, options=opts)
    sdm.fit(bradypus[~test])
    pred = sdm.predict(bradypus[test])
    assert list(pred.columns) == ["site", "species", "probability", "sd", "q05", "q95"]
    assert (pred["sd"] > 0).mean() > 0.9  # spread of the ensemble members
    auc = roc_auc_score(bradypus.loc[test, "kind"] == "presence", pred["probability"])
    assert auc > 0.75
    loaded = SDM.load(sdm.save(tmp_path / "mx"))
    pd.testing.assert_frame_equal(loaded.predict(bradypus[test]), pred)
    with pytest.raises(InvalidInputError, match="maxent-net' learns from presence and background"):
        SDM("maxent-net", ["t"]).fit(_mixed_records())


def _spatial_records(seed: int = 0) -> pd.DataFrame:
    """:func:`_mixed_records` with x/y: a survey's rows share the site's coordinates."""
    rec = _mixed_records(seed)
    rng = np.random.default_rng(seed + 10)
    rec["x"] = rng.uniform(0, 100, len(rec))
    rec["y"] = rng.uniform(0, 50, len(rec))
    sv = rec["kind"] == "survey"
    first = rec.loc[sv].groupby("siteid")[["x", "y"]].transform("first")
    rec.loc[sv, ["x", "y"]] = first.to_numpy()
    return rec


def test_spatial_block_cv_with_coordinates(tmp_path) -> None:
    """With x/y, early stopping and held-out AUC use spatial blocks; saved and reproducible."""
    rec = _spatial_records()
    sdm = SDM("integrated", ["t"], seed=0, options=FAST).fit(rec)
    val = sdm.validation_
    assert val["method"] == "spatial-block" and val["spatial"] is True
    assert val["block_size"] == pytest.approx(100 * (1 - 1e-3) / 5, rel=0.01)  # 1/5 of extent
    stop = val["early_stopping"]
    assert 1 <= stop["best_step"] <= stop["steps_run"] <= 200
    assert val["final_steps"] == stop["best_step"] and val["folds_scored"] == 1
    assert set(val["cv_auc"]) == {"cold", "warm"}
    for row in val["cv_auc"].values():
        assert row["basis"] == "presence-absence" and row["folds"] == 1
        assert row["n_presences"] >= 2 and row["auc"] > 0.6
    # the rows of one survey are never split between folds
    folds, _ = sdm._cv_folds(rec.reset_index(drop=True))
    per_site = pd.Series(folds[rec.kind == "survey"]).groupby(
        rec.loc[rec.kind == "survey", "siteid"].to_numpy()
    )
    assert (per_site.nunique() == 1).all() and set(folds) == {0, 1, 2}
    manifest = json.loads((sdm.save(tmp_path / "m") / "manifest.json").read_text())
    assert manifest["validation"]["cv_auc"] == val["cv_auc"] and manifest["cv_folds"] == 3
    assert SDM.load(tmp_path / "m").validation_ == manifest["validation"]
    again = SDM("integrated", ["t"], seed=0, options=FAST).fit(rec)
    assert again.validation_ == val
    sites = pd.DataFrame({"t": [-1.0, 0.0, 1.5]})
    pd.testing.assert_frame_equal(again.predict(sites), sdm.predict(sites))


def test_cv_without_coordinates_is_random_and_says_so() -> None:
    rec = _mixed_records()
    rec = rec[rec.kind != "survey"]
    sdm = SDM("maxent-net", ["t"], seed=0, options={"hidden": (8,), "n_members": 2}).fit(rec)
    val = sdm.validation_
    assert val["method"] == "random" and val["spatial"] is False
    assert "NOT spatial (the records have no x/y coordinates)" in val["note"]
    assert val["folds_scored"] == 3 and val["unit"] == "epochs"
    for row in val["cv_auc"].values():
        assert row["basis"] == "presence-background" and row["folds"] == 3 and row["auc"] > 0.6
    off = SDM("maxent-net", ["t"], seed=0, options={"epochs": 7}, cv_folds=0).fit(rec)
    assert off.validation_["method"] == "none" and off.validation_["final_steps"] == 7
    assert len(off.estimator_.history_) == 7
    for bad in (1, -1, 2.5, True):
        with pytest.raises(InvalidInputError, match=f"cv_folds={bad!r} is not valid; give 0"):
            SDM("integrated", ["t"], cv_folds=bad)


def test_non_finite_covariates_and_predict_drop_na() -> None:
    rec = _mixed_records()
    bad = rec.copy()
    bad.loc[[0, 1], "t"] = [np.inf, -np.inf]
    bad.loc[2, "t"] = np.nan
    with pytest.raises(
        InvalidInputError,
        match=r"3 of 820 rows of the records have NaN or infinite covariates \(NaN per column: "
        r"\{'t': 1\}; infinite \(inf/-inf\) per column: \{'t': 2\}\)",
    ):
        SDM("integrated", ["t"], options=FAST).fit(bad)
    opts = {**FAST, "steps": 30}
    sdm = SDM("integrated", ["t"], seed=0, drop_na=True, options=opts, cv_folds=0).fit(bad)
    assert sdm.n_dropped_ == 3 and sum(sdm.kinds_.values()) == 817
    sites = pd.DataFrame({"t": [0.0, np.inf, 1.0, np.nan, -1.0]}, index=[10, 11, 12, 13, 14])
    with pytest.raises(
        InvalidInputError,
        match=r"2 of 5 rows of the sites have NaN or infinite covariates .*drop_na=True",
    ):
        sdm.predict(sites)
    pred = sdm.predict(sites, drop_na=True)
    assert list(pred.columns) == ["site", "species", "probability", "sd", "q05", "q95"]
    assert pred["site"].tolist() == [0, 0, 2, 2, 4, 4]  # input row numbers: 1 and 3 dropped
    assert pred[["probability", "sd", "q05", "q95"]].notna().all().all()
    named = sites.assign(siteid=list("abcde"))
    assert sdm.predict(named, drop_na=True)["site"].tolist() == list("aaccee")
