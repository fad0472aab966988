"""``ecocube cube build/info/sample`` end to end, and the ``ds.ecocube`` accessor."""

from __future__ import annotations

import tracemalloc
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ecocube.cli import main
from ecocube.cube.testing import synthetic_cube
from ecocube.errors import InvalidInputError


@pytest.fixture()
def static_catalog(tmp_path, chelsa_items, gam_items):
    import pystac

    cat = pystac.Catalog("ecocube-test", "test catalog")
    for cid, items in (("chelsa-costa-rica", chelsa_items[:2]), ("landcover-gam", gam_items)):
        coll = pystac.Collection(
            cid,
            cid,
            pystac.Extent(
                pystac.SpatialExtent([items[0].bbox]), pystac.TemporalExtent([[None, None]])
            ),
        )
        cat.add_child(coll)
        for it in items:
            clone = it.clone()
            clone.collection_id = cid
            coll.add_item(clone)
    cat.normalize_hrefs(str(tmp_path / "catalog"))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return tmp_path / "catalog"


def test_cli_build_writes_registers_and_reads_back(static_catalog, tmp_path):
    import pystac

    from ecocube.cube import open_cube

    out = tmp_path / "cube.zarr"
    code = main(
        [
            "cube",
            "build",
            "--catalog",
            str(static_catalog),
            "--collections",
            "chelsa-costa-rica,landcover-gam",
            "--bbox=-84.3,9.8,-83.9,10.1",
            "--crs",
            "EPSG:4326",
            "--resolution",
            "0.0083333333",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    ds = open_cube(out)
    assert {"bio1", "bio2", "landuse", "landuse_frac_1"} <= set(ds.data_vars)
    cat = pystac.Catalog.from_file(str(static_catalog / "catalog.json"))
    assert any(c.id == "ecocube-cubes" for c in cat.get_children())
    # a second build refuses to overwrite
    code = main(
        [
            "cube",
            "build",
            "--catalog",
            str(static_catalog),
            "--bbox=-84.3,9.8,-83.9,10.1",
            "--resolution",
            "0.0083333333",
            "--out",
            str(out),
        ]
    )
    assert code == 1


def test_cli_reports_bad_input_as_one_line(static_catalog, tmp_path, capsys):
    code = main(
        [
            "cube",
            "build",
            "--catalog",
            str(static_catalog),
            "--bbox=0,0,1,1",
            "--resolution",
            "-1",
            "--out",
            str(tmp_path / "x.zarr"),
        ]
    )
    assert code == 1
    assert "resolution=-1.0 must be > 0" in capsys.readouterr().err.replace("\n", "")


def test_to_grid_coarsens_with_valid_classes(gam_items):
    from ecocube.cube import anchor_of, build_cube

    anchor, _ = anchor_of(gam_items[0])
    fine = build_cube(
        gam_items, bbox=(-84.1, 9.9, -84.05, 9.95), crs="EPSG:3857", resolution=10, anchor=anchor
    ).compute()
    coarse = fine.ecocube.to_grid(crs="EPSG:3857", resolution=200)
    codes = coarse["landuse"].values
    assert coarse["landuse"].attrs["ecocube:resampling"] == "mode"
    assert set(np.unique(codes[np.isfinite(codes)])) <= set(range(1, 9))
    assert coarse.sizes["x"] < fine.sizes["x"] / 10
    with pytest.raises(ValueError, match=r"to_grid needs another dataset or crs="):
        fine.ecocube.to_grid()


def test_cli_sample_writes_covariates_at_points(chelsa_zarr, mirror, tmp_path, capsys):
    src = mirror / "occurrences/costa_rica_gbif/leopardus_pardalis_cr_gbif.parquet"
    out = tmp_path / "ocelot.parquet"
    code = main(
        [
            "cube",
            "sample",
            str(chelsa_zarr),
            "--points",
            str(src),
            "--out",
            str(out),
            "--variables",
            "bio1,bio12",
        ]
    )
    assert code == 0
    table = pd.read_parquet(out)
    assert len(table) == 50 and {"bio1", "bio12", "species", "inside"} <= set(table.columns)
    assert table.loc[table["inside"], "bio1"].between(3.75, 27.35).all()
    code = main(
        [
            "cube",
            "sample",
            str(chelsa_zarr),
            "--points",
            str(src),
            "--out",
            str(tmp_path / "x.parquet"),
            "--x-col",
            "lon",
        ]
    )
    assert code == 1
    assert "no column(s) ['lon']" in capsys.readouterr().err
    # a point far outside: NaN values and no pixel index; a text coordinate: a clear error
    pts = pd.DataFrame({"x": [-84.2, -10.0], "y": ["9.7", "9.7"]})
    pts.to_csv(tmp_path / "pts.csv", index=False)
    args = ["cube", "sample", str(chelsa_zarr), "--points", str(tmp_path / "pts.csv")]
    args += ["--x-col", "x", "--y-col", "y", "--variables", "bio1"]
    assert main([*args, "--out", str(tmp_path / "s.csv")]) == 0
    s = pd.read_csv(tmp_path / "s.csv")
    assert s["inside"].tolist() == [True, False] and s.loc[1, ["row", "col"]].tolist() == [-1, -1]
    assert s.loc[0, "row"] >= 0 and np.isfinite(s.loc[0, "bio1"]) and np.isnan(s.loc[1, "bio1"])
    pts.loc[1, "y"] = "north"
    pts.to_csv(tmp_path / "pts.csv", index=False)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "t.csv")]) == 1
    assert "column 'y' holds 1 non-numeric value(s) (e.g. ['north'])" in capsys.readouterr().err


# cube build: limits and the dask cluster --------------------------------------------------------


@pytest.fixture()
def dismo_catalog(tmp_path: Path) -> Path:
    """A static catalog with one 20 x 20 one-degree GeoTIFF (EPSG:4326) in worldclim-dismo."""
    import pystac

    from ecocube.cube.testing import item_from_raster, synthetic_raster

    tif = synthetic_raster(
        tmp_path / "src" / "bio1.tif",
        width=20,
        height=20,
        crs="EPSG:4326",
        origin=(-80.0, 0.0),
        resolution=1.0,
        seed=3,
    )
    item = item_from_raster(tif, collection="worldclim-dismo", asset_key="bio1")
    cat = pystac.Catalog("small", "one worldclim-dismo item")
    extent = pystac.Extent(pystac.SpatialExtent([item.bbox]), pystac.TemporalExtent([[None, None]]))
    coll = pystac.Collection("worldclim-dismo", "bioclim", extent)
    cat.add_child(coll)
    coll.add_item(item)
    cat.normalize_hrefs((tmp_path / "cat").as_posix() + "/")
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return tmp_path / "cat"


def test_cli_build_refuses_a_units_slip_before_any_work(
    dismo_catalog, tmp_path, capsys, monkeypatch
):
    import ecocube.cube._build as build_module

    def never(*args, **kwargs):
        raise AssertionError("the catalog was read before the size check")

    monkeypatch.setattr(build_module, "load_items", never)
    monkeypatch.chdir(tmp_path)
    # the command of the hostile-input report, on a small catalog
    args = ["cube", "build", "--catalog", str(dismo_catalog), "--collections", "worldclim-dismo"]
    args += ["--bbox=-80,-20,-60,0", "--crs", "EPSG:32632", "--resolution", "0.5"]
    tracemalloc.start()
    try:
        code = main([*args, "--out", "x.zarr"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 1
    # the CLI shows the warning as one line
    assert err.startswith("warning: crs='EPSG:32632': the bbox (-80.0, -20.0, -60.0, 0.0) lies")
    assert "outside the area of use of EPSG:32632" in err
    assert "37,511,775 x 28,913,439 pixels = 3.85 PiB" in err
    assert "max_bytes=32.00 GiB" in err
    assert "(metre); likely a units slip (degrees given for a CRS in metres)" in err
    assert peak < 64 * 2**20  # no grid, coordinate or chunk array was allocated
    assert list(tmp_path.glob("*x.zarr*")) == []


def test_cli_build_size_limit_in_degrees_and_raised(dismo_catalog, tmp_path, capsys):
    args = ["cube", "build", "--catalog", str(dismo_catalog), "--bbox=-80,-20,-60,0"]
    args += ["--crs", "EPSG:4326", "--no-register"]
    out = str(tmp_path / "c.zarr")
    assert main([*args, "--resolution", "1e-6", "--out", out]) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert "20,000,000 x 20,000,000 pixels" in err
    assert "(about 0.111 m); likely a units slip (metres meant, degrees given)" in err
    # the 20 x 20 grid of one float32 layer is 1,600 bytes
    assert main([*args, "--resolution", "1", "--out", out, "--max-bytes", "1599B"]) == 1
    assert "20 x 20 pixels = 1.56 kiB" in capsys.readouterr().err.replace("\n", "")
    assert main([*args, "--resolution", "1", "--out", out, "--max-bytes", "1600B"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "-1"], "--workers=-1 must be >= 0"),
        (["--dashboard"], "--dashboard needs --workers N >= 1"),
        (["--max-bytes", "0"], "max_bytes='0' (--max-bytes) must be a positive size"),
        (["--max-bytes", "lots"], "max_bytes='lots' (--max-bytes) is not a size"),
    ],
)
def test_cli_build_refuses_bad_cluster_and_limit_options(
    dismo_catalog, tmp_path, capsys, extra, message
):
    args = ["cube", "build", "--catalog", str(dismo_catalog), "--bbox=-80,-20,-60,0"]
    out = tmp_path / "c.zarr"
    code = main([*args, "--resolution", "1", "--out", str(out), *extra])
    assert code == 1 and message in capsys.readouterr().err.replace("\n", "")
    assert not out.exists()


@pytest.mark.parametrize("dashboard", [False, True])
def test_cli_cluster_listens_on_loopback_only(dismo_catalog, tmp_path, monkeypatch, dashboard):
    import distributed
    from distributed.comm.utils import get_tcp_server_addresses

    from ecocube.cube import open_cube

    seen: list[dict] = []

    class Recording(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers = [self.scheduler.http_server]
            servers += [w.http_server for w in self.workers.values()]
            port = self.scheduler.http_server.port
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
                    status = r.status
            except urllib.error.HTTPError as err:
                status = err.code
            seen.append(
                {
                    "hosts": {a[0] for s in servers for a in get_tcp_server_addresses(s)},
                    "n_servers": len(servers),
                    "status": status,
                }
            )

    monkeypatch.setattr(distributed, "LocalCluster", Recording)
    args = ["cube", "build", "--catalog", str(dismo_catalog), "--bbox=-80,-20,-60,0"]
    args += ["--resolution", "1", "--no-register", "--workers", "2"]
    out = tmp_path / "c.zarr"
    assert main([*args, "--out", str(out), *(["--dashboard"] if dashboard else [])]) == 0
    (cluster,) = seen
    assert cluster["n_servers"] == 3 and cluster["hosts"] == {"127.0.0.1"}
    # /status is the dashboard (or the page asking for bokeh): served only with --dashboard
    assert cluster["status"] == (200 if dashboard else 404)
    assert open_cube(out)["bio1"].shape == (20, 20)


# cube sample and cube info ----------------------------------------------------------------------


@pytest.fixture()
def static_store(tmp_path: Path) -> Path:
    from ecocube.cube import write_cube

    ds = synthetic_cube()[["elev"]]
    return write_cube(ds.assign(b=ds["elev"] * 2), tmp_path / "c.zarr")


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


def test_sample_points_time_outside_the_range_is_an_error():
    ds = synthetic_cube()
    with pytest.raises(InvalidInputError, match=r"time='2031-01-01' is outside.*2020-01-01 to"):
        ds.ecocube.sample_points([1.0], [1.0], time="2031-01-01")
    table = ds.ecocube.sample_points([1.2], [1.2], time="2020-02-03")
    assert table.attrs["time"] == pd.Timestamp("2020-02-01")
    assert table["ndvi"][0] == ds["ndvi"].values[1, 2, 1]
    # within half a step of the last date is fine (nearest)
    assert ds.ecocube.sample_points([1.0], [1.0], time="2020-03-10").attrs["time"] == (
        pd.Timestamp("2020-03-01")
    )
