"""Cubes of ocean items (``cube/_ocean.py`` through ``build_cube``) from the real North-Atlantic
CESM2-MARBL and GLORYS files: on their own grid and regridded, values equal to the source at
matching points; the non-spatial ensemble as its own cube; the combinations that make no sense."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pystac
import pytest
import xarray as xr

from ecocube.catalog import build_catalog, validate_catalog
from ecocube.cli import main
from ecocube.cube import build_cube, open_cube
from ecocube.errors import (
    DataIntegrityError,
    DatasetNotFoundError,
    EcocubeWarning,
    InvalidInputError,
)
from tests.conftest import requires_mirror

pytestmark = requires_mirror

GLORYS = "glorys12-physics-2012-north-atlantic"
CESM = "cesm-marbl-bgc-2012-north-atlantic"
#: The North-Atlantic CESM box at 2 degrees (cell centres -17..7 E, 46..70 N).
CESM_BBOX = (-18.0, 45.0, 8.0, 71.0)


@pytest.fixture(scope="module")
def ocean_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The North-Atlantic catalog, with GLORYS and CESM ingested (through their items) into
    registered Zarr products and a small ensemble registered beside them."""
    from ecocube.catalog._ocean_items import register_ocean
    from ecocube.cube import write_cube
    from ecocube.ocean.ingest import find_item, ingest_item
    from ecocube.ocean.scenarios import sample_scenarios
    from tests.ocean.conftest import synthetic_ensemble

    cat = tmp_path_factory.mktemp("ocean_cube") / "catalog"
    build_catalog(cat, ["ocean_north_atlantic"])
    ingest_item(find_item(GLORYS, cat), cat / "ocean" / "glorys.zarr", catalog=cat)
    ingest_item(find_item(CESM, cat), cat / "ocean" / "cesm.zarr", catalog=cat)
    ens = synthetic_ensemble(sample_scenarios(4, seed=0)).assign_coords(depth=[12.5, 37.5])
    ens["thetao"] = ens["tos"].expand_dims(depth=2, axis=-1)
    store = write_cube(
        ens, cat / "ocean" / "ens.zarr", chunks={"time": 365}, attrs={"ecocube:product": "ensemble"}
    )
    register_ocean(store, cat)
    return cat


def _item(cat: Path, item_id: str) -> pystac.Item:
    root = pystac.Catalog.from_file(str(cat / "catalog.json"))
    return next(i for i in root.get_items(recursive=True) if i.id == item_id)


def _source(cat: Path, item_id: str) -> xr.Dataset:
    return xr.open_dataset(_item(cat, item_id).assets["data"].get_absolute_href())


def test_raw_glorys_item_on_its_own_grid_equals_the_file(ocean_catalog: Path) -> None:
    ds = build_cube([_item(ocean_catalog, GLORYS)]).compute()
    src = _source(ocean_catalog, GLORYS)
    assert ds["thetao"].dims == ("time", "depth", "y", "x")
    assert ds.rio.crs.to_epsg() == 4326 and bool((np.diff(ds["y"].values) < 0).all())
    got = ds["thetao"].sel(x=src["longitude"], y=src["latitude"]).transpose(*src["thetao"].dims)
    np.testing.assert_array_equal(got.values, src["thetao"].values.astype("float32"))
    assert ds["thetao"].attrs["units"] == "degrees_C"  # the file's units: raw items keep them
    assert ds["thetao"].attrs["standard_name"] == "sea_water_potential_temperature"
    assert ds["thetao"].attrs["ecocube:collection"] == "ocean-north-atlantic"
    # a bbox keeps the cells whose centres fall inside it
    cut = build_cube([_item(ocean_catalog, GLORYS)], bbox=(-10.0, 56.0, -5.0, 60.0))
    assert cut.sizes["x"] == 6 and cut.sizes["y"] == 5
    assert float(cut["x"].min()) >= -10.0 and float(cut["y"].max()) <= 60.0


def test_ingested_cesm_on_its_own_grid_keeps_cf_names_and_units(ocean_catalog: Path) -> None:
    from ecocube.ocean.ingest import open_item

    ds = build_cube(ocean_catalog, collections=["ocean-cesm-marbl"], time="2012-01")
    assert ds.sizes["time"] == 1  # the time range selects records, not only items
    dic = ds["dissic"]
    assert dic.attrs["standard_name"].endswith("dissolved_inorganic_carbon_in_sea_water")
    assert dic.attrs["units"] == "mmol m-3" and ds["depth"].attrs["units"] == "m"
    src = open_item(_item(ocean_catalog, CESM), variables=["dissic"])["dissic"].isel(time=[0])
    got = dic.sel(x=src["lon"], y=src["lat"]).transpose(*src.dims)
    np.testing.assert_array_equal(got.values, src.values)


def test_regridded_products_equal_the_source_at_matching_points(ocean_catalog: Path) -> None:
    from ecocube.ocean.ingest import open_item

    # 2/3-degree cells whose centres fall on the CESM 2-degree centres (every third cell)
    ds = build_cube(
        ocean_catalog,
        collections=["ocean-glorys", "ocean-cesm-marbl"],
        bbox=CESM_BBOX,
        resolution=2 / 3,
        anchor=(-17.0 - 1 / 3, 46.0 - 1 / 3),
    ).compute()
    # each product keeps its own depth levels; both share the two 2012 records
    assert ds["dissic"].dims == ("time", "depth_cesm", "y", "x")
    assert ds["thetao"].dims == ("time", "depth_glorys", "y", "x")
    assert ds.sizes["depth_cesm"] == 12 and ds.sizes["depth_glorys"] == 5
    assert ds.sizes["time"] == 2 and ds["phypico"].dims[1] == "depth_150m"
    assert ds["dissic"].attrs["ecocube:resampling"] == "bilinear"
    src = open_item(_item(ocean_catalog, CESM), variables=["dissic"])["dissic"]
    at = {"x": src["lon"], "y": src["lat"], "method": "nearest", "tolerance": 1e-6}
    got = ds["dissic"].sel(**at).rename(depth_cesm="depth")
    got = got.transpose(*src.dims).values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(src.values))
    np.testing.assert_allclose(got, src.values, rtol=1e-6, equal_nan=True)
    # between the centres bilinear values lie within their four neighbours
    mid = ds["dissic"].isel(time=0, depth_cesm=0).sel(x=-14 + 1 / 3, y=49 - 1 / 3, method="nearest")
    box = src.isel(time=0, depth=0).sel(lon=[-15.0, -13.0], lat=[48.0, 50.0]).values
    assert np.isfinite(box).all() and box.min() <= float(mid) <= box.max()
    # GLORYS (about 0.83 degree) is bilinearly interpolated too: within its value range
    glorys = open_item(_item(ocean_catalog, GLORYS), variables=["thetao"])["thetao"]
    values = ds["thetao"].values[np.isfinite(ds["thetao"].values)]
    assert values.size and glorys.min() <= values.min() and values.max() <= glorys.max()
    assert validate_catalog(ocean_catalog) == []


def test_coarser_grid_averages(ocean_catalog: Path) -> None:
    ds = build_cube(ocean_catalog, collections=["ocean-glorys"], bbox=CESM_BBOX, resolution=4.0)
    assert ds["thetao"].attrs["ecocube:resampling"] == "average"


def test_ensemble_is_its_own_cube(ocean_catalog: Path) -> None:
    ds = build_cube(ocean_catalog, collections=["ocean-ensembles"])
    store = open_cube(ocean_catalog / "ocean" / "ens.zarr")
    assert set(ds.dims) == {"scenario", "time", "phyto_type", "depth"}
    xr.testing.assert_equal(ds["phyc"], store["phyc"])
    assert '"collection": "ocean-ensembles"' in ds.attrs["ecocube:sources"]


def test_ensemble_onto_a_map_grid_is_refused(ocean_catalog: Path) -> None:
    with pytest.raises(
        InvalidInputError, match=r"non-spatial ocean product .*cannot go onto a map"
    ):
        build_cube(ocean_catalog, collections=["ocean-ensembles"], bbox=CESM_BBOX, resolution=1.0)
    # not asked for: left out of a whole-catalog grid, with a warning
    with pytest.warns(EcocubeWarning, match=r"non-spatial ocean item\(s\) were left out"):
        ds = build_cube(ocean_catalog, bbox=(-10.0, 56.0, -8.0, 58.0), resolution=1.0)
    assert "scenario" not in ds.dims and "thetao" in {str(v).split("_")[-1] for v in ds}


def test_combinations_without_one_own_grid_are_refused(ocean_catalog: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"cube of its own: item 'ens-"):
        build_cube(ocean_catalog, collections=["ocean-ensembles", "ocean-glorys"])
    with pytest.raises(InvalidInputError, match=r"lie on different grids .*pass resolution="):
        build_cube(ocean_catalog, collections=["ocean-glorys", "ocean-cesm-marbl"])
    with pytest.raises(InvalidInputError, match=r"no cell or record .* is left"):
        # inside the footprint, but no cell centre
        build_cube(ocean_catalog, collections=["ocean-glorys"], bbox=(-15.0, 55.0, -14.7, 55.2))
    with pytest.raises(InvalidInputError, match=r"above the limit max_bytes"):
        build_cube(ocean_catalog, collections=["ocean-glorys"], max_bytes=1000)
    with pytest.raises(InvalidInputError, match=r"crs='EPSG:32630'.* need\(s\) a grid"):
        build_cube(ocean_catalog, collections=["ocean-glorys"], crs="EPSG:32630")
    with pytest.raises(InvalidInputError, match=r"needs bbox= with resolution="):
        build_cube(ocean_catalog, collections=["ocean-glorys"], resolution=1.0)


def test_raster_items_need_a_resolution(mirror: Path) -> None:
    from ecocube.cube.testing import chelsa_items

    with pytest.raises(InvalidInputError, match=r"resolution= \(CLI: --resolution\) is needed"):
        build_cube(chelsa_items([1]))


def _netcdf_item(path: Path, ds: xr.Dataset) -> pystac.Item:
    """A datacube netCDF item of ``ds`` written to ``path``."""
    ds.to_netcdf(path)
    item = pystac.Item(
        "bad",
        {"type": "Point", "coordinates": [0.0, 0.0]},
        [-1.0, -1.0, 1.0, 1.0],
        None,
        {
            "start_datetime": "2012-01-01T00:00:00Z",
            "end_datetime": "2012-12-31T00:00:00Z",
            "cube:dimensions": {
                "lat": {"type": "spatial", "axis": "y"},
                "lon": {"type": "spatial", "axis": "x"},
            },
        },
        collection="test",
    )
    item.add_asset("data", pystac.Asset(str(path), media_type="application/netcdf", roles=["data"]))
    return item


def test_unreadable_or_malformed_ocean_files_are_named(tmp_path: Path) -> None:
    grid = {"lat": [0.5, -0.5], "lon": [-0.5, 0.5]}
    ok = xr.Dataset({"v": (("lat", "lon"), np.ones((2, 2)))}, coords=grid)
    item = _netcdf_item(tmp_path / "irregular.nc", ok.reindex(lat=[0.5, 0.4, -0.5]))
    with pytest.raises(InvalidInputError, match=r"item 'bad' .*latitude axis is not regular"):
        build_cube([item])
    times = ok.expand_dims(time=[1900.0, 1901.0])
    with pytest.raises(InvalidInputError, match=r"time axis holds 2 values that are not dates"):
        build_cube([_netcdf_item(tmp_path / "years.nc", times)])
    one = ok.isel(lat=[0])
    with pytest.raises(InvalidInputError, match=r"latitude axis has a single value"):
        build_cube([_netcdf_item(tmp_path / "one.nc", one)])
    flat = xr.Dataset({"v": ("z", [1.0, 2.0])})
    with pytest.raises(InvalidInputError, match=r"no longitude/latitude dimensions"):
        build_cube([_netcdf_item(tmp_path / "flat.nc", flat)])
    missing = _netcdf_item(tmp_path / "gone.nc", ok)
    (tmp_path / "gone.nc").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"asset 'data' of item 'bad' .*not found"):
        build_cube([missing])
    broken = _netcdf_item(tmp_path / "broken.nc", ok)
    (tmp_path / "broken.nc").write_bytes(b"not a netCDF file")
    with pytest.raises(DataIntegrityError, match=r"the netCDF file cannot be read"):
        build_cube([broken])
    remote = _netcdf_item(tmp_path / "r.nc", ok)
    remote.assets["data"].href = "https://example.org/r.nc"
    with pytest.raises(InvalidInputError, match=r"is remote; ocean items are read from local"):
        build_cube([remote])


def test_cli_builds_ocean_items_on_their_own_grid_and_registers(
    ocean_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ocean_catalog / "cubes" / "cesm_own.zarr"
    args = ["cube", "build", "--catalog", str(ocean_catalog), "--collections", "ocean-cesm-marbl"]
    assert main([*args, "--out", str(out)]) == 0
    assert "registered STAC item" in capsys.readouterr().out
    assert open_cube(out)["dissic"].dims == ("time", "depth", "y", "x")
    ens = ["cube", "build", "--catalog", str(ocean_catalog), "--collections", "ocean-ensembles"]
    assert main([*ens, "--out", str(ocean_catalog / "cubes" / "ens.zarr")]) == 0
    assert "not registered: the cube has no x/y grid" in capsys.readouterr().out
    assert main([*args, "--resolution", "1", "--out", str(ocean_catalog / "x.zarr")]) == 1
    assert "--resolution needs --bbox" in capsys.readouterr().err
    assert validate_catalog(ocean_catalog) == []
