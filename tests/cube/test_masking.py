"""Land and nodata masks of a cube's grid (ecocube.cube._masking): the global land mask read
row by row, land cover before it, mask variables, on the real Costa Rica CHELSA and Sao Tome
WorldCover rasters."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import xarray as xr

from ecocube.cube._masking import GlobalLandMask, check_mask, land_mask, map_mask
from ecocube.errors import InvalidInputError
from tests.conftest import requires_mirror

#: Points of the Costa Rica CHELSA extent: Pacific, Caribbean, the Central Valley, Talamanca.
SEA = [(8.3, -85.9), (10.9, -83.0)]
LAND = [(10.3, -84.1), (9.0, -83.0)]


def _cell(ds: xr.Dataset, lat: float, lon: float) -> tuple[int, int]:
    return int(np.abs(ds["y"].values - lat).argmin()), int(np.abs(ds["x"].values - lon).argmin())


def _grid(lats: np.ndarray, lons: np.ndarray, **layers: np.ndarray) -> xr.Dataset:
    import rioxarray  # noqa: F401

    ds = xr.Dataset(
        {k: (("y", "x"), v.astype(np.float32)) for k, v in layers.items()},
        coords={"y": lats, "x": lons},
    )
    return ds.rio.write_crs("EPSG:4326")


def test_streamed_global_mask_equals_the_package_lookup():
    """The row-by-row reader answers as global_land_mask.globe.is_land, north first or not."""
    rng = np.random.default_rng(0)
    lat = np.concatenate([rng.uniform(-90, 90, 3000), [90.0, -90.0, 8.3, 10.3]])
    lon = np.concatenate([rng.uniform(-180, 180, 3000), [180.0, -180.0, -85.9, -84.1]])
    order = np.argsort(-lat)  # bands north to south, as maps are tiled
    got = np.zeros(lat.size, dtype=bool)
    with GlobalLandMask() as globe:
        for chunk in np.array_split(order, 40):
            got[chunk] = globe.is_land(lat[chunk], lon[chunk])
        again = globe.is_land(lat, lon)  # back north: the stream restarts
    code = (
        "import json, sys, numpy as np\n"
        "from global_land_mask import globe\n"
        "lat, lon = json.load(sys.stdin)\n"
        "print(json.dumps(globe.is_land(np.array(lat), np.array(lon)).tolist()))\n"
    )
    # the package decompresses its whole 0.9 GB mask: in a child process
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([lat.tolist(), lon.tolist()]),
        capture_output=True,
        text=True,
        check=True,
    )
    want = np.array(json.loads(out.stdout))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(again, want)
    assert 0.2 < want.mean() < 0.4  # about 29 % of the globe is land
    assert not globe.is_land(np.array([np.nan, 95.0]), np.array([0.0, 0.0])).any()
    # longitudes past 180 wrap around
    np.testing.assert_array_equal(globe.is_land(np.array([10.3]), np.array([-84.1 + 360])), [True])


@requires_mirror
def test_costa_rica_chelsa_cube_sea_is_masked(chelsa_cube):
    ds = chelsa_cube[["bio1", "bio12"]]
    assert np.isfinite(ds["bio1"].values).all()  # CHELSA has values over the sea
    land = land_mask(ds)
    for lat, lon in SEA:
        assert not land.values[_cell(ds, lat, lon)], (lat, lon)
    for lat, lon in LAND:
        assert land.values[_cell(ds, lat, lon)], (lat, lon)
    keep = map_mask(ds, mask="land", variables=["bio1", "bio12"]).values
    # nodata (bio12 saturated cells) and sea are both left out
    np.testing.assert_array_equal(keep, land.values & np.isfinite(ds["bio12"].values))
    share = land.values.mean()
    assert 0.3 < share < 0.8, share  # Costa Rica fills part of its bounding box
    np.testing.assert_array_equal(map_mask(ds, mask="none").values, True)


@requires_mirror
def test_worldcover_water_class_decides_where_it_covers(mirror):
    """Sao Tome: WorldCover maps the sea as class 80 (permanent water bodies)."""
    from ecocube import data
    from ecocube.catalog._classes import WORLDCOVER_CLASSES
    from ecocube.cube import build_cube
    from ecocube.cube.testing import item_from_raster

    folder = data.fetch("worldcover_sao_tome")
    classes = [(c["value"], c["description"]) for c in WORLDCOVER_CLASSES]
    item = item_from_raster(
        folder / "ESA_WorldCover_10m_2021_v200_SaoTome_Map.tif",
        collection="worldcover",
        asset_key="map",
        nodata=0,
        classes=classes,
    )
    ds = build_cube([item], bbox=(6.44, 0.0, 6.78, 0.42), resolution=1 / 120).compute()
    assert "map" in ds and "map_frac_80" in ds
    codes = ds["map"].values
    assert np.isfinite(codes).all()  # the tile covers the whole box: the globe is not used
    land = land_mask(ds).values
    np.testing.assert_array_equal(land, codes != 80)
    assert not land[_cell(ds, 0.05, 6.5)] and land[_cell(ds, 0.2, 6.6)]
    with GlobalLandMask() as globe:
        y, x = np.meshgrid(ds["y"].values, ds["x"].values, indexing="ij")
        glob = globe.is_land(y, x)
    assert (land == glob).mean() > 0.9  # two sources of one coastline (at 1 km)
    # without the class layer, the fractions decide alike (water share below one half)
    fractions = ds.drop_vars("map")
    agree = (land_mask(fractions).values == land).mean()
    assert agree > 0.97, agree


def test_land_cover_first_then_the_global_mask():
    lats = np.array([10.3, 8.3])  # land row, Pacific row
    lons = np.array([-84.1, -85.9, -84.2])
    lc = np.array([[80.0, 10.0, np.nan], [10.0, np.nan, np.nan]])
    ds = _grid(lats, lons, lc=lc)
    ds["lc"].attrs.update(
        {
            "ecocube:kind": "categorical",
            "flag_values": [10, 80],
            "flag_meanings": "tree_cover permanent_water_bodies",
        }
    )
    got = land_mask(ds).values
    # covered: water (80) is not land even on land, class 10 is land even at sea;
    # not covered: the global mask (the Pacific cell at 8.3 N, 85.9 W is sea)
    np.testing.assert_array_equal(got, [[False, True, True], [True, False, False]])
    ds["lc"].attrs["ecocube:flags"] = "bit flags / quality codes (never interpolated)"
    np.testing.assert_array_equal(
        land_mask(ds).values, [[True, False, True], [False, False, False]]
    )


def test_fraction_layers_sum_to_zero_or_mostly_water_over_the_sea():
    lats, lons = np.array([10.3]), np.array([-84.1, -84.2, -84.3, -84.4])
    water = np.array([[0.0, 0.8, 0.0, np.nan]])
    crop = np.array([[1.0, 0.2, 0.0, np.nan]])  # third cell: fractions sum to 0 (sea)
    ds = _grid(lats, lons, lu_frac_1=crop, lu_frac_8=water)
    ds["lu_frac_1"].attrs.update({"ecocube:kind": "fraction", "ecocube:class_description": "Crops"})
    ds["lu_frac_8"].attrs.update(
        {"ecocube:kind": "fraction", "ecocube:class_description": "Inland waters"}
    )
    np.testing.assert_array_equal(land_mask(ds).values, [[True, False, False, True]])


def test_mask_variable_none_and_nodata():
    lats, lons = np.array([10.3, 8.3]), np.array([-84.1, -85.9])
    ds = _grid(
        lats,
        lons,
        t=np.array([[1.0, np.nan], [np.inf, 4.0]]),
        keep=np.array([[1.0, 1.0], [0.0, np.nan]]),
    )
    np.testing.assert_array_equal(map_mask(ds, mask="keep").values, [[True, True], [False, False]])
    np.testing.assert_array_equal(
        map_mask(ds, mask="none", variables=["t"]).values, [[True, False], [False, True]]
    )
    np.testing.assert_array_equal(
        map_mask(ds, mask="land", variables=["t"]).values, [[True, False], [False, False]]
    )


def test_projected_grids_are_looked_up_in_lon_lat():
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32616", always_xy=True)
    (x_land, x_sea), (y_land, y_sea) = to_utm.transform([-84.1, -85.9], [10.3, 8.3])
    ds = _grid(np.array([y_land, y_sea]), np.array([x_land, x_sea]), t=np.ones((2, 2)))
    ds = ds.rio.write_crs("EPSG:32616")
    got = land_mask(ds).values
    assert got[0, 0] and not got[1, 1]


def test_bad_masks_and_grids_are_named(tmp_path):
    ds = _grid(np.array([1.0]), np.array([1.0]), t=np.ones((1, 1)))
    ds["series"] = (("time", "y", "x"), np.ones((2, 1, 1), dtype=np.float32))
    with pytest.raises(InvalidInputError, match=r"mask='sea' is not a \(y, x\) variable.*\['t'\]"):
        check_mask(ds, "sea")
    with pytest.raises(
        InvalidInputError, match=r"mask='series' has dimensions \('time', 'y', 'x'\)"
    ):
        map_mask(ds, mask="series")
    with pytest.raises(InvalidInputError, match=r"mask=3 must be 'land', 'none' or the name"):
        check_mask(ds, 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"variables=\['bio1'\] are not in the cube"):
        map_mask(ds, variables=["bio1"])
    flat = xr.Dataset({"v": (("lat", "lon"), np.ones((1, 1)))})
    with pytest.raises(InvalidInputError, match=r"no x/y dimensions.*ecocube cube build"):
        land_mask(flat)
    no_crs = xr.Dataset({"v": (("y", "x"), np.ones((1, 1)))}, coords={"y": [1.0], "x": [1.0]})
    with pytest.raises(InvalidInputError, match=r"has no CRS.*or pass mask='none'"):
        land_mask(no_crs)
    with GlobalLandMask() as globe, pytest.raises(InvalidInputError, match=r"one shape"):
        globe.is_land(np.zeros(2), np.zeros(3))


def test_damaged_mask_files_are_named(tmp_path):
    from ecocube.cube._masking import _globe_file

    source = _globe_file()
    lat_lon = tmp_path / "coords.npz"
    with np.load(source) as npz:
        np.savez(lat_lon, lat=npz["lat"], lon=npz["lon"])
    with (
        GlobalLandMask(lat_lon) as globe,
        pytest.raises(InvalidInputError, match=r"holds no 'mask.npy'"),
    ):
        globe.is_land(np.array([0.0]), np.array([0.0]))
    small = tmp_path / "small.npz"
    with np.load(source) as npz:
        np.savez(small, lat=npz["lat"], lon=npz["lon"], mask=np.zeros((2, 3), dtype=bool))
    with (
        GlobalLandMask(small) as globe,
        pytest.raises(InvalidInputError, match=r"expected bool \(21600, 43200\)"),
    ):
        globe.is_land(np.array([0.0]), np.array([0.0]))
    # a mask file cut short: rows past the end cannot be read
    cut = tmp_path / "cut.npz"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(cut, "w") as dst:
        for name in ("lat.npy", "lon.npy"):
            dst.writestr(name, src.read(name))
        with src.open("mask.npy") as fh:
            dst.writestr("mask.npy", fh.read(128 + 43200 * 10))
    with GlobalLandMask(cut) as globe, pytest.raises(InvalidInputError, match=r"ends before row"):
        globe.is_land(np.array([-45.0]), np.array([0.0]))
