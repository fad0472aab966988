"""Zarr writing: atomic, provenance with checksums, STAC registration, dask cluster."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from ecocube.cube import build_cube, cube_item, open_cube, register_cube, write_cube
from ecocube.errors import InvalidInputError
from tests.conftest import requires_mirror


def test_roundtrip_keeps_values_crs_and_checksums(chelsa_zarr, chelsa_cube, chelsa_items):
    ds = open_cube(chelsa_zarr)
    xr.testing.assert_equal(ds["bio1"].compute(), chelsa_cube["bio1"])
    assert list(ds.data_vars) == list(chelsa_cube.data_vars)  # bio1, bio2, ... not bio1, bio10
    assert ds["bio1"].dtype == np.float32
    assert ds.ecocube.crs.to_epsg() == 4326
    assert ds["bio1"].chunks is not None  # dask-backed
    sources = json.loads(ds.attrs["ecocube:sources"])
    path = Path(chelsa_items[0].assets["bio1"].get_absolute_href())
    row = next(s for s in sources if s["item"] == chelsa_items[0].id)
    assert row["checksum"] == "1220" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds.attrs["ecocube:complete"] is True


def _boom(block):
    raise RuntimeError("simulated crash while writing")


def test_interrupted_write_leaves_nothing_that_looks_complete(tmp_path):
    good = xr.DataArray(dsa.ones((64, 64), chunks=16, dtype="f4"), dims=("y", "x"))
    bad = good.copy(data=good.data.map_blocks(_boom, dtype="f4"))
    ds = xr.Dataset({"a": good, "b": bad}, coords={"x": np.arange(64.0), "y": np.arange(64.0)})
    target = tmp_path / "cube.zarr"
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_cube(ds, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary store was removed too


def test_overwrite_replaces_only_after_success(tmp_path):
    ds = xr.Dataset(
        {"a": (("y", "x"), np.zeros((4, 4), "f4"))},
        coords={"x": np.arange(4.0), "y": np.arange(4.0)},
    ).rio.write_crs("EPSG:4326")
    target = write_cube(ds, tmp_path / "c.zarr")
    ds2 = ds.assign(a=ds.a + 1)
    write_cube(ds2, target, overwrite=True)
    assert float(open_cube(target)["a"].mean()) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]
    mine = tmp_path / "mine.zarr"  # overwrite replaces a Zarr store, not any folder
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="is not a Zarr store"):
        write_cube(ds, mine, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_float64_stored_as_float32(tmp_path):
    ds = xr.Dataset(
        {"a": (("y", "x"), np.zeros((4, 4)))}, coords={"x": np.arange(4.0), "y": np.arange(4.0)}
    ).rio.write_crs("EPSG:4326")
    assert open_cube(write_cube(ds, tmp_path / "c.zarr"))["a"].dtype == np.float32


def test_register_cube_in_static_catalog(chelsa_zarr, tmp_path):
    import pystac

    cat = pystac.Catalog("root", "test catalog")
    cat.normalize_hrefs(str(tmp_path / "cat"))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    item = register_cube(chelsa_zarr, tmp_path / "cat", item_id="chelsa-cube")
    again = pystac.Catalog.from_file(str(tmp_path / "cat" / "catalog.json"))
    found = next(again.get_items(recursive=True))
    assert found.id == "chelsa-cube"
    assert any("datacube" in e for e in found.stac_extensions)
    assert set(found.properties["cube:variables"]) >= {"bio1", "bio19"}
    assert found.properties["cube:dimensions"]["x"]["reference_system"] == 4326
    assert not found.assets["zarr"].href.startswith("/")  # relative href
    assert Path(found.assets["zarr"].get_absolute_href()).resolve() == chelsa_zarr.resolve()
    assert item.properties["proj:code"] == "EPSG:4326"
    # a climatology cube carries its sources' period, not the build date
    assert found.properties["start_datetime"].startswith("1981-01-01")
    assert found.properties["end_datetime"].startswith("2010-12-31")


@requires_mirror
@pytest.mark.slow
def test_local_cluster_build_and_write_match_threaded(chelsa_items, chelsa_cube, tmp_path):
    from dask.distributed import Client, LocalCluster

    from ecocube.cube import anchor_of

    anchor, res = anchor_of(chelsa_items[0])
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        ds = build_cube(
            chelsa_items[:3],
            bbox=chelsa_items[0].bbox,
            resolution=res,
            anchor=anchor,
            client=client,
        )
        out = write_cube(ds, tmp_path / "c.zarr", client=client)
    got = open_cube(out)
    np.testing.assert_array_equal(got["bio3"].values, chelsa_cube["bio3"].values)
    item = cube_item(out)
    assert item.properties["proj:shape"] == [378, 418]


def test_generic_writer_for_lat_lon_model_output_with_cftime(tmp_path):
    import cftime

    times = [cftime.DatetimeNoLeap(2012, m, 15) for m in (1, 2, 3)]
    ds = xr.Dataset(
        {"thetao": (("time", "depth", "lat", "lon"), np.ones((3, 2, 4, 5)), {"units": "degC"})},
        coords={
            "time": times,
            "depth": [5.0, 50.0],
            "lat": np.arange(4.0) + 50,
            "lon": np.arange(5.0) - 10,
        },
    )
    out = write_cube(
        ds,
        tmp_path / "ocean.zarr",
        items=[{"item": "glorys", "asset": "nc", "href": "x.nc", "checksum": "1220ab"}],
    )
    back = open_cube(out)
    assert back["thetao"].dtype == np.float32  # float64 never stored silently
    assert isinstance(back.time.values[0], cftime.DatetimeNoLeap)
    assert json.loads(back.attrs["ecocube:sources"])[0]["item"] == "glorys"
    item = cube_item(out)
    dims = item.properties["cube:dimensions"]
    assert set(dims) == {"lon", "lat", "depth", "time"}
    assert dims["time"]["extent"][0].startswith("2012-01-15")
    assert item.bbox == pytest.approx([-10.5, 49.5, -5.5, 53.5])


def test_cube_target_under_a_file_is_refused_before_work(tmp_path, capsys):
    from ecocube.cli import main
    from ecocube.cube.testing import synthetic_cube

    (tmp_path / "afile.zarr").write_text("x")
    bad = tmp_path / "afile.zarr" / "x.zarr"
    with pytest.raises(InvalidInputError, match=r"afile.zarr' is a file, not a folder"):
        write_cube(synthetic_cube(), bad)
    args = ["cube", "build", "--catalog", str(tmp_path / "nowhere"), "--bbox=0,0,1,1"]
    code = main([*args, "--resolution", "0.1", "--out", str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and "is a file, not a folder" in err and "Errno" not in err
