"""``ecocube sdm fit`` / ``ecocube sdm predict`` end to end through ``ecocube.cli.main``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecocube.cli import main


def _records(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bg = pd.DataFrame(
        {"kind": "background", "t": rng.normal(size=300), "veg": rng.integers(1, 3, 300)}
    )
    pres = pd.DataFrame(
        {
            "kind": "presence",
            "species": ["warm"] * 50 + ["cold"] * 50,
            "t": np.r_[rng.normal(1, 0.7, 50), rng.normal(-1, 0.7, 50)],
            "veg": rng.integers(1, 3, 100),
        }
    )
    t = rng.normal(size=80)
    sv = pd.DataFrame(
        {
            "kind": "survey",
            "species": ["warm"] * 80 + ["cold"] * 80,
            "siteid": [f"s{i}" for i in range(80)] * 2,
            "t": np.r_[t, t],
            "veg": np.r_[np.ones(80, int), np.ones(80, int)],
        }
    )
    p = 1 - np.exp(-np.exp(-0.5 + 1.2 * np.r_[t, -t]))
    sv["presence"] = (rng.random(160) < p).astype(int)
    return pd.concat([bg, pres, sv], ignore_index=True)


def test_fit_predict_round_trip(tmp_path, capsys) -> None:
    rec = tmp_path / "records.csv"
    _records().to_csv(rec, index=False)
    model = tmp_path / "model"
    code = main(
        [
            "sdm",
            "fit",
            "--records",
            str(rec),
            "--covariates",
            "t",
            "--categorical",
            "veg",
            "--model",
            "integrated",
            "--seed",
            "1",
            "--steps",
            "200",
            "--out",
            str(model),
        ]
    )
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["mode"] == "integrated"
    assert manifest["categorical_levels"] == {"veg": ["1", "2"]}
    assert manifest["species"] == ["cold", "warm"]

    sites = tmp_path / "sites.csv"
    pd.DataFrame({"t": [2.0, -2.0, 0.0], "veg": [1, 2, 1]}).to_csv(sites, index=False)
    out = tmp_path / "preds.csv"
    assert main(["sdm", "predict", str(model), "--sites", str(sites), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["site", "species", "probability", "sd", "q05", "q95"]
    assert pred["site"].tolist() == [0, 0, 1, 1, 2, 2]
    p = pred.set_index(["site", "species"])["probability"]
    assert p[0, "warm"] > p[2, "warm"] > p[1, "warm"]
    assert p[1, "cold"] > p[2, "cold"] > p[0, "cold"]

    # siteid column is used as the site label; parquet output works too
    pd.DataFrame({"siteid": ["a", "b"], "t": [0.5, 1.0], "veg": [2, 2]}).to_parquet(
        tmp_path / "sites.parquet"
    )
    out2 = tmp_path / "preds.parquet"
    args = ["sdm", "predict", str(model), "--sites", str(tmp_path / "sites.parquet")]
    assert main([*args, "--out", str(out2)]) == 0
    assert pd.read_parquet(out2)["site"].tolist() == ["a", "a", "b", "b"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple:
    tmp = tmp_path_factory.mktemp("cli")
    rec = tmp / "records.parquet"
    _records().to_parquet(rec)
    model = tmp / "model"
    args = ["sdm", "fit", "--records", str(rec), "--covariates", "t", "--categorical", "veg"]
    assert main([*args, "--steps", "50", "--out", str(model)]) == 0
    return tmp, model


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_cli_bad_inputs(fitted, capsys) -> None:
    tmp, model = fitted
    good = _records()
    base = ["sdm", "fit", "--covariates", "t", "--steps", "10", "--out", str(tmp / "m2")]

    def fit_with(df: pd.DataFrame, name: str, *extra: str) -> int:
        path = tmp / name
        df.to_csv(path, index=False)
        return main([*base, "--records", str(path), *extra])

    assert fit_with(good, "a.csv", "--covariates", "t,elev") == 1
    assert "covariate column(s) ['elev'] missing" in _err(capsys)
    nan = good.copy()
    nan.loc[[0, 1], "t"] = np.nan
    assert fit_with(nan, "b.csv") == 1
    assert "2 of 560 rows of the records have NaN or infinite covariates" in _err(capsys)
    assert fit_with(nan, "b.csv", "--drop-na") == 0
    capsys.readouterr()
    zero = good.copy()
    zero.loc[(zero.species == "cold") & (zero.kind == "presence"), "kind"] = "background"
    zero.loc[zero.species == "cold", "presence"] = 0
    assert fit_with(zero, "c.csv") == 1
    assert "species ['cold'] have zero presences" in _err(capsys)
    kind = good.copy()
    kind.loc[3, "kind"] = "absent"
    assert fit_with(kind, "d.csv") == 1
    assert "invalid kind value(s) ['absent']" in _err(capsys)
    assert fit_with(good.drop(columns="presence"), "e.csv") == 1
    assert "survey rows but no 'presence' column" in _err(capsys)
    (tmp / "f.txt").write_text("kind,t\n")
    assert main([*base, "--records", str(tmp / "f.txt")]) == 1
    assert "unsupported file type '.txt'" in _err(capsys)
    assert main([*base, "--records", str(tmp / "a.csv"), "--model", "rf"]) == 1
    assert "model='rf' is not supported" in _err(capsys)

    sites = tmp / "sites.csv"
    pd.DataFrame({"t": [0.0], "veg": [7]}).to_csv(sites, index=False)
    assert main(["sdm", "predict", str(model), "--sites", str(sites), "--out", "p.csv"]) == 1
    assert "'veg' has level(s) ['7'] not seen at fit time" in _err(capsys)
    args = ["sdm", "predict", str(model), "--sites", str(sites), "--out", str(tmp / "p.json")]
    assert main(args) == 1
    assert "unsupported output type '.json'" in _err(capsys)
    assert main(["sdm", "predict", str(tmp), "--sites", str(sites), "--out", "p.csv"]) == 1
    assert "is not an ecocube model folder" in _err(capsys)

    # values are shown verbatim (the console must not take "[2.0]" for markup)
    two = good.copy()
    two.loc[two.kind == "survey", "presence"] = 2
    assert fit_with(two, "g.csv") == 1
    assert "survey 'presence' values must be 0 or 1; found [2.0]." in _err(capsys)
    text = good.copy()
    text["t"] = text["t"].astype(object)
    text.loc[5, "t"] = "warm-ish"
    assert fit_with(text, "h.csv") == 1
    assert "continuous covariate 't' of the records holds 1 non-numeric value(s)" in _err(capsys)
    assert fit_with(good.iloc[:0], "i.csv") == 1
    assert "the records table has no rows" in _err(capsys)
    assert fit_with(good, "a.csv", "--crs", "EPSG:99999") == 1
    assert "--crs 'EPSG:99999' is not a valid CRS" in _err(capsys)
    pd.DataFrame({"t": [], "veg": []}).to_csv(sites, index=False)
    assert main(["sdm", "predict", str(model), "--sites", str(sites), "--out", "p.csv"]) == 1
    assert "the sites table has no rows" in _err(capsys)


def test_cli_fit_never_replaces_a_foreign_folder(tmp_path, capsys) -> None:
    """--out holding other files fails before the fit and keeps them; a model folder is replaced."""
    records = tmp_path / "r.csv"
    _records().to_csv(records, index=False)
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("years of work")
    args = ["sdm", "fit", "--records", str(records), "--covariates", "t", "--steps", "5"]
    assert main([*args, "--out", str(mine)]) == 1
    err = _err(capsys)
    assert "exists and is not an ecocube model folder" in err and "fitted" not in err
    assert (mine / "chapter1.tex").read_text() == "years of work"
    assert sorted(p.name for p in mine.iterdir()) == ["chapter1.tex"]
    (tmp_path / "file.txt").write_text("x")
    assert main([*args, "--out", str(tmp_path / "file.txt")]) == 1
    assert "is a file" in _err(capsys)
    model = tmp_path / "model"
    assert main([*args, "--out", str(model)]) == 0
    first = (model / "manifest.json").read_text()
    assert main([*args, "--seed", "1", "--out", str(model)]) == 0  # a model folder is replaced
    assert (
        json.loads((model / "manifest.json").read_text())["seed"] == 1 != json.loads(first)["seed"]
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_cli_fit_checks_device_and_out_before_the_fit(tmp_path, capsys, monkeypatch) -> None:
    """An unavailable --device and an --out under a file fail before the records are read."""
    import torch

    from ecocube.models.estimator import SDM

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was fitted although an option is bad")

    monkeypatch.setattr(SDM, "fit", never)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    records = tmp_path / "r.csv"
    _records().to_csv(records, index=False)
    args = ["sdm", "fit", "--records", str(records), "--covariates", "t"]
    assert main([*args, "--device", "cuda", "--out", str(tmp_path / "m")]) == 1
    err = _err(capsys)
    assert "error: device 'cuda' was requested but CUDA is not available here; use" in err
    assert "'auto' or 'cpu'" in err
    (tmp_path / "notes.txt").write_text("mine")
    assert main([*args, "--out", str(tmp_path / "notes.txt" / "m")]) == 1
    assert f"{str(tmp_path / 'notes.txt')!r} is a file, not a folder" in _err(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "r.csv"]


def test_cli_refuses_blank_species_and_damaged_models(fitted, capsys) -> None:
    import shutil

    tmp, model = fitted
    rec = _records()
    rec.loc[[300, 301], "species"] = " "
    path = tmp / "blank.csv"
    rec.to_csv(path, index=False)
    args = ["sdm", "fit", "--records", str(path), "--covariates", "t", "--out", str(tmp / "mb")]
    assert main(args) == 1
    assert "2 presence/survey row(s) have a blank species name (rows 300, 301," in _err(capsys)
    damaged = Path(shutil.copytree(model, tmp / "damaged"))
    arrays = damaged / "model.npz"
    arrays.write_bytes(arrays.read_bytes()[:100])
    sites = tmp / "sites_ok.csv"
    pd.DataFrame({"t": [0.0], "veg": [1]}).to_csv(sites, index=False)
    out = tmp / "p_damaged.csv"
    assert main(["sdm", "predict", str(damaged), "--sites", str(sites), "--out", str(out)]) == 1
    err = _err(capsys)
    assert f"error: cannot load the arrays {str(arrays)!r}: the file is truncated" in err
    assert "Traceback" not in err and not out.exists()


def test_cli_infinite_covariates_and_predict_drop_na(fitted, capsys) -> None:
    """inf/-inf covariates are errors with counts at fit and predict; --drop-na skips them."""
    tmp, model = fitted
    rec = _records()
    rec.loc[[0, 1], "t"] = [np.inf, -np.inf]
    rec.loc[2, "t"] = np.nan
    path = tmp / "inf.csv"
    rec.to_csv(path, index=False)
    args = ["sdm", "fit", "--records", str(path), "--covariates", "t", "--steps", "10"]
    assert main([*args, "--out", str(tmp / "m_inf")]) == 1
    err = _err(capsys)
    assert (
        "3 of 560 rows of the records have NaN or infinite covariates (NaN per column: "
        "{'t': 1}; infinite (inf/-inf) per column: {'t': 2}); fill or correct them, or pass "
        "--drop-na / drop_na=True to drop those rows." in err
    )
    assert "Traceback" not in err and not (tmp / "m_inf").exists()
    assert main([*args, "--drop-na", "--out", str(tmp / "m_inf")]) == 0
    assert "dropped 3 records with NaN or infinite covariates (--drop-na)" in _err(capsys)

    sites = tmp / "inf_sites.csv"
    pd.DataFrame({"t": [0.0, np.inf, 1.0], "veg": [1, 1, 2]}).to_csv(sites, index=False)
    out = tmp / "inf_preds.csv"
    pred = ["sdm", "predict", str(model), "--sites", str(sites), "--out", str(out)]
    assert main(pred) == 1
    err = _err(capsys)
    assert "1 of 3 rows of the sites have NaN or infinite covariates (infinite (inf/-inf)" in err
    assert "--drop-na" in err and not out.exists()
    assert main([*pred, "--drop-na"]) == 0
    assert "dropped 1 of 3 sites with NaN or infinite covariates (--drop-na)" in _err(capsys)
    table = pd.read_csv(out)
    assert list(table.columns) == ["site", "species", "probability", "sd", "q05", "q95"]
    assert table["site"].tolist() == [0, 0, 2, 2] and table.notna().all().all()
    # a folder as --out fails before the model is even loaded
    assert main(["sdm", "predict", str(tmp / "nope"), "--sites", str(sites), "--out", str(tmp)])
    assert "is a folder; give a file path" in _err(capsys)


def test_cli_fit_prints_the_cross_validation(tmp_path, capsys) -> None:
    """Spatial-block CV with x/y (NaN x/y: error or --drop-na); a random one says so."""
    rec = _records()
    rng = np.random.default_rng(1)
    rec["x"] = rng.uniform(500_000, 600_000, len(rec))
    rec["y"] = rng.uniform(7_000_000, 7_050_000, len(rec))
    sv = rec["kind"] == "survey"
    rec.loc[sv, ["x", "y"]] = rec.loc[sv].groupby("siteid")[["x", "y"]].transform("first")
    path = tmp_path / "xy.csv"
    rec.to_csv(path, index=False)
    base = ["sdm", "fit", "--covariates", "t", "--steps", "60", "--crs", "EPSG:32755"]
    assert main([*base, "--records", str(path), "--out", str(tmp_path / "m")]) == 0
    err = _err(capsys)
    assert "spatial-block CV: 3 folds of square blocks of 19,9" in err
    assert "EPSG:32755 units (1/5 of the extent), seed 0" in err
    assert "spatial-block CV AUC" in err and "cold" in err and "warm" in err
    assert "early stopping on fold 0: best after" in err
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["validation"]["spatial"] is True
    assert set(manifest["validation"]["cv_auc"]) == {"cold", "warm"}

    rec.loc[[3, 4], "x"] = np.nan
    rec.loc[5, "y"] = np.inf
    rec.to_csv(path, index=False)
    # records without coordinates are kept (e.g. background sampled from rasters): the CV
    # falls back to a random split and says why
    assert main([*base, "--records", str(path), "--out", str(tmp_path / "m2")]) == 0
    err = _err(capsys)
    assert "the CV is NOT spatial (3 of 560 records have no x/y coordinates)" in err

    plain = tmp_path / "plain.csv"
    _records().to_csv(plain, index=False)
    args = ["sdm", "fit", "--covariates", "t", "--steps", "60", "--records", str(plain)]
    assert main([*args, "--out", str(tmp_path / "m3")]) == 0
    err = _err(capsys)
    assert "the CV is NOT spatial (the records have no x/y coordinates)" in err
    assert "random-split (NOT spatial) CV AUC" in err
    assert main([*args, "--cv-folds", "0", "--out", str(tmp_path / "m4")]) == 0
    assert "cv_folds=0: no validation split" in _err(capsys)


# -- fit from a cube (real CHELSA cube, Costa Rica GBIF records with x/y only) ----------------
def test_cli_fit_from_a_cube(cr_zarr, cr_records, tmp_path, capsys) -> None:
    from ecocube.cube import open_cube
    from ecocube.models.estimator import SDM

    rec = tmp_path / "records.csv"
    cr_records.to_csv(rec, index=False)
    base = ["sdm", "fit", "--records", str(rec), "--cube", str(cr_zarr), "--cv-folds", "0"]
    out = tmp_path / "m"
    args = ["--model", "maxent-net", "--steps", "3", "--variables", "bio1,bio12"]
    assert main([*base, *args, "--background", "100", "--out", str(out)]) == 1
    err = _err(capsys)
    assert re.search(r"\d+ of 1218 records cannot be placed on the cube: \d+ on nodata cells", err)
    assert "--drop-outside" in err and not out.exists()
    code = main([*base, *args, "--background", "100", "--drop-outside", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    err = _err(capsys)
    assert "dropped records that could not be placed on the cube (--drop-outside): {'nodata'" in err
    assert "covariates from the cube: bio1, bio12; background: random (100 cells added)" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cube"]["path"] == str(cr_zarr) and manifest["covariates"] == ["bio1", "bio12"]
    assert manifest["records"]["background"] == 100 and (out / "novelty.json").is_file()

    # multimodal: fit, save, load, predict
    mm = tmp_path / "mm"
    mm_args = ["--model", "multimodal", "--steps", "2", "--patch-variables", "bio1,bio4"]
    code = main(
        [
            *base,
            *mm_args,
            "--patch-size",
            "3",
            "--background",
            "target-group",
            "--drop-outside",
            "--out",
            str(mm),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "model='multimodal': fitted for all 2 epochs" in _err(capsys)
    sdm = SDM.load(mm)
    assert sdm.model == "multimodal" and sdm.inputs.patch_size == 3
    assert sdm.inputs.patch_variables == ("bio1", "bio4")
    assert sdm.cube_["background"]["source"] == "target-group"
    pred = sdm.predict_points(open_cube(cr_zarr), cr_records.iloc[:5], crs="EPSG:4326")
    assert pred.mean.shape == (5, 3) and (pred.sd >= 0).all()


def test_cli_fit_from_a_cube_bad_inputs(cr_zarr, cr_records, tmp_path, capsys) -> None:
    rec = tmp_path / "records.csv"
    cr_records.iloc[:100].to_csv(rec, index=False)
    base = ["sdm", "fit", "--records", str(rec), "--out", str(tmp_path / "m"), "--steps", "2"]
    cube = ["--cube", str(cr_zarr), "--drop-outside"]
    cases = [
        (
            [*cube, "--covariates", "bio1"],
            "with --cube the covariates are cube variables: "
            "choose them with --variables (e.g. --variables bio1)",
        ),
        (cube, "no background rows; pass --background N"),
        ([*cube, "--background", "many"], "--background / background='many' is not valid"),
        ([*cube, "--background", "10", "--variables", "bio2"], "['bio2'], which are not (y, x)"),
        (["--background", "10"], "background= place records on a cube: pass cube= (--cube)"),
        (["--model", "multimodal", "--covariates", "t"], "model='multimodal' is fitted from a"),
        ([*cube, "--background", "10", "--patch-size", "3"], "inputs of model='multimodal' only"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 1, extra
        assert message in _err(capsys), extra
    swapped = tmp_path / "swapped.csv"
    cr_records.rename(columns={"x": "y", "y": "x"}).to_csv(swapped, index=False)
    assert main([*base, *cube, "--background", "9", "--records", str(swapped)]) == 1
    assert "x and y are not swapped" in _err(capsys)


def test_cli_fit_integrated_in_minibatches(cr_zarr, cr_records, tmp_path, capsys) -> None:
    from ecocube.models.estimator import SDM

    rec = tmp_path / "records.csv"
    cr_records.to_csv(rec, index=False)
    base = ["sdm", "fit", "--records", str(rec), "--cube", str(cr_zarr), "--cv-folds", "0"]
    base += ["--model", "integrated", "--steps", "20", "--variables", "bio1,bio12"]
    base += ["--background", "300", "--drop-outside"]
    assert main([*base, "--batch-size", "0", "--out", str(tmp_path / "bad")]) == 1
    assert "batch_size" in _err(capsys) and not (tmp_path / "bad").exists()
    out = tmp_path / "m"
    assert main([*base, "--batch-size", "64", "--out", str(out)]) == 0, capsys.readouterr().err
    sdm = SDM.load(out)
    assert sdm.estimator_.config.batch_size == 64
    pred = sdm.predict_cells(pd.DataFrame({"bio1": [25.0], "bio12": [2500.0]}))
    assert pred.mean.shape == (1, len(sdm.species_))
