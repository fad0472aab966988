"""Records with x/y only placed on a real CHELSA cube (Costa Rica GBIF): covariates, background,
bad records, and the SDM front fitted from the cube."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.cube_records import cube_records, cube_variables
from ecocube.models.estimator import NOVELTY_NAME, SDM

VARS = ["bio1", "bio4", "bio12", "bio15"]


def _expected_bad(ds, rec: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Outside and nodata masks of records, from the grid and the arrays directly."""
    rows, cols, inside = ds.ecocube.pixel_index(rec["x"], rec["y"], crs="EPSG:4326")
    stack = np.stack([ds[v].values for v in VARS])
    nodata = inside & ~np.isfinite(stack[:, rows, cols]).all(axis=0)
    return ~inside, nodata


def _with_outside(rec: pd.DataFrame) -> pd.DataFrame:
    """The records and two more east and north of the cube (Panama, Nicaragua)."""
    far = pd.DataFrame({"species": rec["species"].iloc[0], "x": [-80.5, -85.0], "y": [8.5, 12.5]})
    return pd.concat([rec.iloc[:500], far, rec.iloc[500:]], ignore_index=True)


# -- covariates -------------------------------------------------------------------------------
def test_covariates_are_the_accessors_at_every_row(cr_cube, cr_records) -> None:
    ds, rec = cr_cube, _with_outside(cr_records)
    outside, nodata = _expected_bad(ds, rec)
    assert outside.sum() == 2 and nodata.any()  # the real records hold nodata rows
    cr = cube_records(rec, ds, background=300, drop_outside=True, seed=0)
    assert cr.covariates == tuple(VARS) and cr.categorical == ()
    assert cr.dropped == {"outside": int(outside.sum()), "nodata": int(nodata.sum())}
    kept = rec[~(outside | nodata)].reset_index(drop=True)
    table = cr.table
    n = len(kept)
    assert len(table) == n + 300 and cr.n_added == 300 and cr.background == "random"
    assert (table["kind"].iloc[:n] == "presence").all()
    assert (table["kind"].iloc[n:] == "background").all()
    np.testing.assert_array_equal(table[["x", "y"]].iloc[:n].to_numpy(), kept[["x", "y"]])
    ref = ds.ecocube.sample_points(table["x"], table["y"], crs="EPSG:4326", variables=VARS)
    for v in VARS:  # the same values, bit for bit, on records and background rows
        np.testing.assert_array_equal(table[v].to_numpy(), ref[v].to_numpy())
        assert np.isfinite(table[v]).all()


def test_records_in_a_projected_crs_read_the_same_cells(cr_cube, cr_records) -> None:
    from pyproj import Transformer

    rec = cr_records.iloc[:300]
    ex, ey = Transformer.from_crs("EPSG:4326", "EPSG:32617", always_xy=True).transform(
        rec["x"].to_numpy(), rec["y"].to_numpy()
    )
    utm = rec.assign(x=ex, y=ey)
    a = cube_records(rec, cr_cube, background=50, drop_outside=True)
    b = cube_records(utm, cr_cube, background=50, drop_outside=True, crs="EPSG:32617")
    assert b.crs == "EPSG:32617" and a.dropped == b.dropped
    np.testing.assert_array_equal(a.table[VARS].to_numpy(), b.table[VARS].to_numpy())
    # the drawn cells are given in the records' CRS
    back = Transformer.from_crs("EPSG:32617", "EPSG:4326", always_xy=True).transform(
        b.table["x"].to_numpy()[b.added], b.table["y"].to_numpy()[b.added]
    )
    np.testing.assert_allclose(np.c_[back], a.table[["x", "y"]].to_numpy()[a.added], atol=1e-7)


def test_variables_kinds_and_default_kind(cr_cube, cr_records) -> None:
    ds = cr_cube.copy()
    ds["warm"] = (ds["bio1"] > 24).astype(np.float32).where(np.isfinite(ds["bio1"]))
    ds["warm"].attrs["ecocube:kind"] = "categorical"
    assert cube_variables(ds) == (tuple(VARS), ("warm",))
    assert cube_variables(ds, ["bio12", "warm"], categorical=[]) == (("bio12", "warm"), ())
    rec = cr_records.iloc[:200]
    cr = cube_records(rec, ds, variables=["bio1", "warm"], background=100, drop_outside=True)
    assert (cr.covariates, cr.categorical) == (("bio1",), ("warm",))
    assert set(cr.table["warm"].unique()) <= {0.0, 1.0}
    sdm = SDM("maxent-net", options={"epochs": 3}, cv_folds=0).fit(
        rec, cube=ds, variables=["bio1", "warm"], background=100, drop_outside=True
    )
    assert sdm.encoder_.levels_ == {"warm": ["0", "1"]}
    assert sdm.inputs.categorical == ("warm",) and sdm.novelty_.variables == ("bio1",)


# -- background -------------------------------------------------------------------------------
def test_random_background_cells_are_valid_land_and_seeded(cr_cube, cr_records) -> None:
    from ecocube.cube import map_mask

    ds = cr_cube
    rec = cr_records.iloc[:100]

    def cells(seed: int) -> np.ndarray:
        cr = cube_records(rec, ds, background=400, drop_outside=True, seed=seed)
        return cr.table.loc[cr.added, ["x", "y"]].to_numpy()

    a, b, c = cells(1), cells(1), cells(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rows, cols, inside = ds.ecocube.pixel_index(a[:, 0], a[:, 1], crs="EPSG:4326")
    assert inside.all() and len(set(zip(rows, cols, strict=True))) == 400  # distinct cells
    land = map_mask(ds, mask="land").values
    assert land[rows, cols].all()
    assert (~land).any()  # the cube holds sea cells (CHELSA has values there) never drawn
    for v in VARS:
        assert np.isfinite(ds[v].values[rows, cols]).all()
    # with mask="none" the sea may be drawn: over many cells some are
    cr = cube_records(rec, ds, background=5000, drop_outside=True, seed=0, mask="none")
    r2, c2, _ = ds.ecocube.pixel_index(*cr.table.loc[cr.added, ["x", "y"]].to_numpy().T)
    assert (~land[r2, c2]).any()


def test_target_group_background_is_every_records_cell_once(cr_cube, cr_records) -> None:
    ds = cr_cube
    outside, nodata = _expected_bad(ds, cr_records)
    good = cr_records[~(outside | nodata)]
    rows, cols, _ = ds.ecocube.pixel_index(good["x"], good["y"], crs="EPSG:4326")
    cr = cube_records(cr_records, ds, background="target-group", drop_outside=True)
    assert cr.background == "target-group"
    assert cr.n_added == len(set(zip(rows.tolist(), cols.tolist(), strict=True)))
    bg = cr.table[cr.added]
    r2, c2, _ = ds.ecocube.pixel_index(bg["x"], bg["y"], crs="EPSG:4326")
    assert set(zip(r2.tolist(), c2.tolist(), strict=True)) == set(
        zip(rows.tolist(), cols.tolist(), strict=True)
    )


def test_records_keep_their_own_background_rows(cr_cube, cr_records) -> None:
    rec = cr_records.iloc[:50].assign(kind="presence")
    own = pd.DataFrame({"kind": "background", "x": [-84.0, -83.9], "y": [10.0, 10.1]})
    cr = cube_records(pd.concat([rec, own], ignore_index=True), cr_cube, drop_outside=True)
    assert cr.background == "records" and cr.n_added == 0
    assert (cr.table["kind"] == "background").sum() == 2
    cr = cube_records(pd.concat([rec, own]), cr_cube, background=10, drop_outside=True)
    assert (cr.table["kind"] == "background").sum() == 12


# -- bad records ------------------------------------------------------------------------------
def test_bad_records_are_named_in_one_message(cr_cube, cr_records) -> None:
    ds, rec = cr_cube, _with_outside(cr_records)
    outside, nodata = _expected_bad(ds, rec)
    n_bad = int((outside | nodata).sum())
    first = np.flatnonzero(outside)[0]
    msg = (
        rf"{n_bad} of {len(rec)} records cannot be placed on the cube: "
        rf"{int(outside.sum())} outside the cube \(rows {first}.*\); {int(nodata.sum())} on "
        r"nodata cells .*NaN per variable: \{'bio12': .*--drop-outside / drop_outside=True"
    )
    with pytest.raises(InvalidInputError, match=msg):
        cube_records(rec, ds, background=100)
    rec = cr_records.iloc[:20].copy()
    rec.loc[3, "x"] = np.nan
    rec.loc[5, "x"] = 700.0  # metres given as degrees
    with pytest.raises(
        InvalidInputError,
        match=r"1 without finite x/y \(rows 3\); 1 with x/y outside longitude/latitude ranges "
        r"\(rows 5\) although --crs 'EPSG:4326' is geographic \(another CRS\?\)",
    ):
        cube_records(rec, ds, background=100)
    cr = cube_records(rec, ds, background=100, drop_outside=True)
    assert cr.dropped["no_coordinates"] == 1 and cr.dropped["not_lonlat"] == 1


def test_all_records_outside_hint_at_swapped_xy_or_crs(cr_cube, cr_records) -> None:
    swapped = cr_records.rename(columns={"x": "y", "y": "x"})
    for drop in (False, True):
        with pytest.raises(
            InvalidInputError,
            match=r"none of the \d+ records can be placed on the cube \(records x 8\..*not "
            r"swapped .*--crs / crs= is the CRS of the records",
        ):
            cube_records(swapped, cr_cube, background=10, drop_outside=drop)
    with pytest.raises(InvalidInputError, match="none of the 1200 records can be placed"):
        cube_records(cr_records.iloc[:1200], cr_cube, crs="EPSG:32617", background=10)


def test_a_cube_without_data_at_the_records_names_the_variables(cr_cube, cr_records) -> None:
    empty = cr_cube.copy()
    empty["bio1"] = empty["bio1"] * np.nan  # e.g. a cube build that wrote no data
    rec = cr_records[cr_records["x"].between(-85.9, -82.6)].iloc[:50]
    with pytest.raises(
        InvalidInputError,
        match=r"none of the 50 records can be placed on the cube: 50 on nodata cells; the "
        r"variables \['bio1'\] are NaN at every record's cell",
    ):
        cube_records(rec, empty, variables=["bio1"], background=10, drop_outside=True)


def test_bad_arguments(cr_cube, cr_records) -> None:
    ds, rec = cr_cube, cr_records.iloc[:100]
    ok = {"drop_outside": True}
    with pytest.raises(InvalidInputError, match=r"no background rows; pass --background N"):
        cube_records(rec, ds, **ok)
    for bad in ("abc", 0, -5, True, 2.5):
        with pytest.raises(InvalidInputError, match=r"--background / background=.* is not valid"):
            cube_records(rec, ds, background=bad, **ok)
    assert cube_records(rec, ds, background="20", **ok).n_added == 20
    with pytest.raises(InvalidInputError, match=r"asks for more cells than the cube has valid"):
        cube_records(rec, ds, background=10**7, **ok)
    with pytest.raises(InvalidInputError, match=r"\['bio2'\], which are not \(y, x\) variables"):
        cube_records(rec, ds, variables=["bio1", "bio2"], background=5, **ok)
    with pytest.raises(InvalidInputError, match=r"names \['bio1'\] more than once"):
        cube_records(rec, ds, variables=["bio1", "bio1"], background=5, **ok)
    with pytest.raises(InvalidInputError, match="--variables / variables= is empty"):
        cube_records(rec, ds, variables=[], background=5, **ok)
    with pytest.raises(InvalidInputError, match=r"categorical variables \['bio4'\] are not"):
        cube_records(rec, ds, variables=["bio1"], categorical=["bio4"], background=5, **ok)
    timed = ds.assign(ndvi=ds["bio1"].expand_dims(time=pd.to_datetime(["2020-01-01"])))
    with pytest.raises(
        InvalidInputError,
        match=r"\['ndvi'\] have dimensions besides y/x \(\{'ndvi': \['time'\]\}\).*leave them "
        r"out with --variables / variables= \(e\.g\. bio1,bio4,bio12,bio15\)",
    ):
        cube_records(rec, timed, background=5, **ok)
    with pytest.raises(InvalidInputError, match=r"already have columns \['bio1'\] named like"):
        cube_records(rec.assign(bio1=1.0), ds, background=5, **ok)
    with pytest.raises(InvalidInputError, match=r"lack the coordinate column\(s\) \['y'\]"):
        cube_records(rec.drop(columns="y"), ds, background=5, **ok)
    with pytest.raises(InvalidInputError, match=r"invalid kind value\(s\) \['obs'\]"):
        cube_records(rec.assign(kind="obs"), ds, background=5, **ok)
    with pytest.raises(InvalidInputError, match="hold only background rows"):
        cube_records(rec.assign(kind="background"), ds, background=5, **ok)
    with pytest.raises(InvalidInputError, match="records table has no rows"):
        cube_records(rec.iloc[:0], ds, background=5, **ok)
    with pytest.raises(InvalidInputError, match="--crs 'EPSG:99999' is not a valid CRS"):
        cube_records(rec, ds, background=5, crs="EPSG:99999", **ok)


# -- the SDM front ----------------------------------------------------------------------------
FAST = {"maxent-net": {"epochs": 15}, "integrated": {"steps": 150}}


@pytest.mark.parametrize("model", ["maxent-net", "integrated"])
def test_fit_from_cube_equals_fit_from_table(cr_cube, cr_records, model, tmp_path) -> None:
    ds = cr_cube
    draw = cube_records(cr_records, ds, background=400, drop_outside=True, seed=3)
    # the same records with their background rows, x/y only (cube) or with covariates (table)
    xy = draw.table[["species", "kind", "x", "y"]].copy()
    ref = ds.ecocube.sample_points(xy["x"], xy["y"], crs="EPSG:4326", variables=VARS)
    table = pd.concat([xy, ref[VARS]], axis=1)
    opts = {"options": FAST[model], "seed": 0, "cv_folds": 3}
    from_cube = SDM(model, **opts).fit(xy, cube=ds)
    from_table = SDM(model, VARS, **opts).fit(table, crs="EPSG:4326")
    assert from_cube.covariates == VARS and from_cube.cube_["background"]["added"] == 0
    np.testing.assert_array_equal(from_cube.encoder_.mean_, from_table.encoder_.mean_)
    assert from_cube.validation_["cv_auc"] == from_table.validation_["cv_auc"]
    sites = ref.iloc[::37]
    a = from_cube.predict_points(ds, sites[["x", "y"]])
    b = from_table.estimator_.predict(sites[VARS])
    for stat in ("mean", "sd", "q05", "q95"):
        np.testing.assert_array_equal(getattr(a, stat), getattr(b, stat))
    np.testing.assert_array_equal(
        from_cube.predict_cells(sites).mean,
        from_table.predict(sites)["probability"].to_numpy().reshape(len(sites), -1),
    )
    # the novelty of both is the same, fitted on every row (presences and background)
    assert (
        from_cube.novelty_.n_reference
        == from_table.novelty_.n_reference
        == {v: len(xy) for v in VARS}
    )
    # saved and loaded: cube, inputs and novelty come back, predictions equal
    folder = from_cube.save(tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["cube"]["crs"] == "EPSG:4326" and manifest["cube"]["variables"] == VARS
    assert manifest["inputs"]["covariates"] == VARS and manifest["crs"] == "EPSG:4326"
    back = SDM.load(folder)
    assert back.cube_ == manifest["cube"] and back.inputs == from_cube.inputs
    np.testing.assert_array_equal(
        back.novelty_.mess(sites[VARS]), from_cube.novelty_.mess(sites[VARS])
    )
    np.testing.assert_array_equal(back.predict_points(ds, sites[["x", "y"]]).mean, a.mean)


def test_front_on_a_zarr_cube_and_novelty_files(cr_zarr, cr_records, tmp_path) -> None:
    from ecocube.cube import open_cube

    sdm = SDM("maxent-net", options={"epochs": 5}, cv_folds=0).fit(
        cr_records, cube=cr_zarr, background="target-group", drop_outside=True
    )
    assert sdm.cube_["path"] == str(cr_zarr)
    assert sdm.cube_["background"]["source"] == "target-group"
    _, nodata = _expected_bad(sdm_cube := open_cube(cr_zarr), cr_records)
    assert sdm.cube_["dropped"] == {"nodata": int(nodata.sum())}
    folder = sdm.save(tmp_path / "m")
    assert (folder / NOVELTY_NAME).is_file()
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / NOVELTY_NAME).unlink()
    assert SDM.load(old).novelty_ is None  # folders saved before the novelty still load
    (old / NOVELTY_NAME).write_text('{"format": "other"}')
    with pytest.raises(InvalidInputError, match=r"novelty.json'.*not a novelty state.*restore"):
        SDM.load(old)
    # table fits keep their novelty as well
    t = cube_records(cr_records, sdm_cube, background=100, drop_outside=True)
    tab = SDM("maxent-net", VARS, options={"epochs": 3}, cv_folds=0).fit(t.table)
    assert tab.novelty_.variables == tuple(VARS) and tab.cube_ is None


def test_front_bad_inputs(cr_cube, cr_records) -> None:
    ds, rec = cr_cube, cr_records.iloc[:300]
    with pytest.raises(InvalidInputError, match="cube variables are given twice"):
        SDM("maxent-net", ["bio1"]).fit(rec, cube=ds, variables=["bio4"])
    sv = rec.assign(kind="survey", presence=1)
    with pytest.raises(InvalidInputError, match="model='multimodal' learns from presence and"):
        SDM("multimodal", options={"epochs": 1, "patch_size": 3}).fit(
            sv, cube=ds, background=10, drop_outside=True
        )
    with pytest.raises(InvalidInputError, match="model='maxent-net' learns from presence and"):
        SDM("maxent-net", options={"epochs": 1}).fit(sv, cube=ds, drop_outside=True)
    sdm = SDM("maxent-net", ["bio1", "bio12"], options={"epochs": 2}, cv_folds=0).fit(
        rec, cube=ds, background=50, drop_outside=True
    )
    assert sdm.covariates == ["bio1", "bio12"]  # the constructor's columns are the variables
    with pytest.raises(InvalidInputError, match=r"the cube lacks the variable\(s\) \['bio12'\]"):
        sdm.predict_points(ds.drop_vars("bio12"), rec)
    far = pd.DataFrame({"x": [-84.0, 0.0], "y": [10.0, 0.0]})
    with pytest.raises(InvalidInputError, match=r"1 of 2 points lie outside the cube or on"):
        sdm.predict_points(ds, far, crs="EPSG:4326")
    with pytest.raises(InvalidInputError, match=r"cells lacks the covariate columns \['bio12'\]"):
        sdm.predict_cells(pd.DataFrame({"bio1": [20.0]}))
    with pytest.raises(InvalidInputError, match=r"points has no column 'y'"):
        sdm.predict_points(ds, far.drop(columns="y"))


def test_multimodal_front_fit_save_load_predict(cr_cube, cr_records, tmp_path) -> None:
    ds = cr_cube
    opts = {"epochs": 3, "patch_channels": (4,), "patch_embedding": 4, "hidden": (8,)}
    sdm = SDM("multimodal", patch_variables=["bio1", "bio12"], patch_size=3, options=opts)
    sdm.fit(cr_records, cube=ds, background=200, drop_outside=True)
    assert sdm.inputs.patch_variables == ("bio1", "bio12") and sdm.inputs.patch_size == 3
    assert sdm.species_ == sorted(cr_records["species"].unique())
    pts = cr_records.iloc[:40:4][["x", "y"]]
    pred = sdm.predict_points(ds, pts, crs="EPSG:4326")
    assert pred.mean.shape == (10, 3) and ((pred.mean > 0) & (pred.mean < 1)).all()
    back = SDM.load(sdm.save(tmp_path / "mm"))
    assert back.model == "multimodal" and back.inputs == sdm.inputs
    np.testing.assert_array_equal(back.predict_points(ds, pts, crs="EPSG:4326").mean, pred.mean)
    for call in (lambda: back.predict_cells(pts), lambda: back.predict(pts)):
        with pytest.raises(InvalidInputError, match=re.escape("use predict_points(cube, points)")):
            call()
