"""Audit fixes: time selection, sample CLI clashes and output, registration ids, CRS-less
(ocean) stores, bad output paths, non-numeric targets, every point outside the cube."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ecocube.cli import main
from ecocube.errors import CatalogError, InvalidInputError


def _series_cube() -> xr.Dataset:
    """A 3-date (time, y, x) cube plus a static (y, x) layer, EPSG:4326, 4 x 5 pixels."""
    import rioxarray  # noqa: F401

    times = pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"])
    vals = np.arange(3 * 4 * 5, dtype="float32").reshape(3, 4, 5)
    ds = xr.Dataset(
        {
            "ndvi": (("time", "y", "x"), vals),
            "elev": (("y", "x"), np.full((4, 5), 7.0, dtype="float32")),
        },
        coords={"time": times, "y": [3.5, 2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5, 4.5]},
    )
    return ds.rio.write_crs("EPSG:4326")


def _static_cube() -> xr.Dataset:
    ds = _series_cube()[["elev"]]
    return ds.assign(b=ds["elev"] * 2)


# 1. time selection ----------------------------------------------------------------------------


def test_sample_points_time_outside_the_range_is_an_error():
    import ecocube.cube  # noqa: F401  (registers the accessor)

    ds = _series_cube()
    with pytest.raises(InvalidInputError, match=r"time='2031-01-01' is outside.*2020-01-01 to"):
        ds.ecocube.sample_points([1.0], [1.0], time="2031-01-01")
    table = ds.ecocube.sample_points([1.2], [1.2], time="2020-02-03")
    assert table.attrs["time"] == pd.Timestamp("2020-02-01")
    assert table["ndvi"][0] == ds["ndvi"].values[1, 2, 1]
    # within half a step of the last date is fine (nearest)
    assert ds.ecocube.sample_points([1.0], [1.0], time="2020-03-10").attrs["time"] == (
        pd.Timestamp("2020-03-01")
    )


def test_geodataset_time_outside_is_an_error_and_label_is_the_date_used():
    from ecocube.cube import CubeGeoDataset

    ds = _series_cube()
    with pytest.raises(InvalidInputError, match=r"outside the cube's time range"):
        CubeGeoDataset(ds, variables=["ndvi"], time="2031-01-01")
    gds = CubeGeoDataset(ds, variables=["ndvi"], time="2020-02-03")
    assert gds.index.index[0].left == pd.Timestamp("2020-02-01")
    np.testing.assert_array_equal(gds.array[0], ds["ndvi"].values[1])


def test_time_alone_loads_every_variable():
    from ecocube.cube import CubeGeoDataset, PointPatchDataset
    from ecocube.cube.datasets import cube_array

    ds = _series_cube()
    arr, names, _ = cube_array(ds, time="2020-03-01")
    assert names == ["ndvi", "elev"] and arr.shape == (2, 4, 5)
    assert CubeGeoDataset(ds, time="2020-03-01").bands == ("ndvi", "elev")
    pts = pd.DataFrame({"x": [1.0], "y": [1.0]})
    with pytest.raises(InvalidInputError, match=r"outside the cube's time range"):
        PointPatchDataset(ds, pts, time="2031-01-01")
    pds = PointPatchDataset(ds, pts, time="2020-01-20")
    assert pds.time == pd.Timestamp("2020-02-01") and pds.variables == ("ndvi", "elev")
    only_series = ds[["ndvi"]]
    with pytest.raises(InvalidInputError, match=r"have a time dimension; pass time="):
        cube_array(only_series)


# 2. cube sample CLI ---------------------------------------------------------------------------


@pytest.fixture()
def static_store(tmp_path: Path) -> Path:
    from ecocube.cube import write_cube

    return write_cube(_static_cube(), tmp_path / "c.zarr")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sample_cli_refuses_clashing_columns(static_store, tmp_path, capsys, suffix):
    pts = tmp_path / f"p{suffix}"
    table = pd.DataFrame({"lon": [1.0], "lat": [1.0], "elev": [3.0], "inside": [True]})
    table.to_csv(pts, index=False) if suffix == ".csv" else table.to_parquet(pts)
    out = tmp_path / f"o{suffix}"
    args = ["cube", "sample", str(static_store), "--points", str(pts), "--out", str(out)]
    code = main([*args, "--x-col", "lon", "--y-col", "lat"])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "['elev', 'inside'] clash" in err and "rename them" in err


def test_sample_cli_refuses_to_overwrite_and_writes_atomically(static_store, tmp_path, capsys):
    pts = tmp_path / "p.csv"
    pd.DataFrame({"lon": [1.0, 2.0], "lat": [1.0, 9.0]}).to_csv(pts, index=False)
    out = tmp_path / "o.parquet"
    out.write_text("old")
    args = ["cube", "sample", str(static_store), "--points", str(pts), "--out", str(out)]
    args += ["--x-col", "lon", "--y-col", "lat"]
    assert main(args) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "old"
    assert main([*args, "--overwrite"]) == 0
    got = pd.read_parquet(out)
    assert list(got.columns) == ["lon", "lat", "row", "col", "inside", "elev", "b"]
    assert got["inside"].tolist() == [True, False]
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


# 3. registration ------------------------------------------------------------------------------


def _empty_catalog(root: Path) -> Path:
    import pystac

    cat = pystac.Catalog("t", "test")
    cat.normalize_hrefs(root.as_posix() + "/")
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root


def test_stores_of_the_same_name_get_their_own_items(tmp_path):
    import pystac

    from ecocube.cube import register_cube, write_cube

    cat = _empty_catalog(tmp_path / "cat")
    a = write_cube(_static_cube(), tmp_path / "cubes" / "c1.zarr")
    b = write_cube(_static_cube(), tmp_path / "cubes2" / "c1.zarr")
    ia, ib = register_cube(a, cat), register_cube(b, cat)
    assert ia.id != ib.id and ia.id.startswith("c1-")
    assert register_cube(a, cat).id == ia.id  # the same store again replaces its item
    coll = pystac.Catalog.from_file(str(cat / "catalog.json")).get_child("ecocube-cubes")
    assert sorted(i.id for i in coll.get_items()) == sorted([ia.id, ib.id])
    register_cube(a, cat, item_id="mine")
    with pytest.raises(CatalogError, match=r"item 'mine'.*already describes another store"):
        register_cube(b, cat, item_id="mine")


def test_catalog_build_keeps_the_cubes_collection(tmp_path, mirror):
    import pystac

    from ecocube.catalog._build import build_catalog
    from ecocube.cube import register_cube, write_cube

    cat = tmp_path / "cat"
    build_catalog(cat, ["s2_barbellino"])
    item = register_cube(write_cube(_static_cube(), tmp_path / "c.zarr"), cat)
    built = build_catalog(cat, ["s2_barbellino"])
    assert "ecocube-cubes" in {c.id for c in built.get_children()}
    again = pystac.Catalog.from_file(str(cat / "catalog.json"))
    coll = again.get_child("ecocube-cubes")
    assert coll is not None and [i.id for i in coll.get_items()] == [item.id]
    links = json.loads((cat / "catalog.json").read_text())["links"]
    assert sum(lk["href"] == "./ecocube-cubes/collection.json" for lk in links) == 1


# 4. CRS-less (ocean) stores -------------------------------------------------------------------


def test_ocean_store_info_and_sampling(tmp_path, capsys):
    from ecocube.cube import open_cube
    from ecocube.ocean.ingest import write_zarr

    ds = xr.Dataset(
        {"thetao": (("time", "lat", "lon"), np.arange(60, dtype="float32").reshape(3, 4, 5))},
        coords={
            "time": pd.date_range("2020-01-01", periods=3, freq="MS"),
            "lat": [40.0, 41.0, 42.0, 43.0],
            "lon": [330.0, 331.0, 332.0, 333.0, 334.0],  # 0-360 longitudes
        },
    )
    path = write_zarr(ds, tmp_path / "ocean.zarr")
    assert main(["cube", "info", str(path)]) == 0
    assert "no CRS" in capsys.readouterr().out
    cube = open_cube(path)
    table = cube.ecocube.sample_points([-29.0, 10.0], [41.2, 41.0], time="2020-02-01")
    assert table["inside"].tolist() == [True, False]
    assert table["thetao"][0] == ds["thetao"].values[1, 1, 1]
    assert np.isnan(table["thetao"][1])


# 5. bad outputs, targets, every point outside -------------------------------------------------


def test_cube_target_under_a_file_is_refused_before_work(tmp_path, capsys):
    from ecocube.cube import write_cube

    (tmp_path / "afile.zarr").write_text("x")
    bad = tmp_path / "afile.zarr" / "x.zarr"
    with pytest.raises(InvalidInputError, match=r"afile.zarr' is a file, not a folder"):
        write_cube(_static_cube(), bad)
    args = ["cube", "build", "--catalog", str(tmp_path / "nowhere"), "--bbox=0,0,1,1"]
    code = main([*args, "--resolution", "0.1", "--out", str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and "is a file, not a folder" in err and "Errno" not in err


def test_point_patches_non_numeric_target_and_all_points_outside():
    from ecocube.cube import PointPatchDataset

    ds = _static_cube()
    pts = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "sp": ["present", "1"]})
    with pytest.raises(InvalidInputError, match=r"target column 'sp'.*1 non-numeric.*present"):
        PointPatchDataset(ds, pts, targets="sp")
    pts["sp"] = ["0", "1"]  # numbers as text are fine
    assert PointPatchDataset(ds, pts, targets="sp").targets[:, 0].tolist() == [0.0, 1.0]
    swapped = pd.DataFrame({"x": [30.0, 40.0], "y": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match=r"all 2 points fall outside.*swapped"):
        PointPatchDataset(ds, swapped)
    some = pd.DataFrame({"x": [1.0, 40.0], "y": [1.0, 2.0]})
    assert len(PointPatchDataset(ds, some)) == 1
