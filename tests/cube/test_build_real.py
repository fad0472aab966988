"""Cubes built from the real mirror rasters: values equal their sources (after scale/offset);
time selection, static layers and the variable names of stacked collections."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio

from ecocube.cube import anchor_of, build_cube
from ecocube.cube.testing import CHELSA_SCALING
from ecocube.errors import EcocubeWarning
from tests.conftest import requires_mirror

pytestmark = requires_mirror


def _raw(item, key):
    with rasterio.open(item.assets[key].get_absolute_href()) as src:
        return src.read(1), src


@pytest.mark.parametrize("band", [1, 5, 12, 15])
def test_chelsa_values_equal_source_after_scale_offset(chelsa_cube, chelsa_items, band):
    item = chelsa_items[band - 1]
    raw, _ = _raw(item, f"bio{band}")
    scale, offset, nodata, _ = CHELSA_SCALING[f"bio{band}"]
    expected = np.where(raw == nodata, np.nan, raw * scale + offset).astype(np.float32)
    got = chelsa_cube[f"bio{band}"].values
    assert got.dtype == np.float32
    assert got.shape == raw.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-4, equal_nan=True)


def test_chelsa_bio1_is_celsius_and_bio12_saturated_cells_masked(chelsa_cube):
    bio1 = chelsa_cube["bio1"]
    # MANIFEST: raw 2769-3005 K/10 -> 3.75-27.35 degC
    assert float(bio1.min()) == pytest.approx(3.75, abs=1e-3)
    assert float(bio1.max()) == pytest.approx(27.35, abs=1e-3)
    assert bio1.attrs["units"] == "degC"
    # MANIFEST: 1,492 bio12 pixels equal 65535 (saturated / nodata)
    assert int(chelsa_cube["bio12"].isnull().sum()) == 1492


def test_sample_points_equal_source_at_gbif_occurrences(chelsa_cube, chelsa_items, mirror):
    occ = pd.read_parquet(mirror / "occurrences/costa_rica_gbif/viperidae_cr_gbif.parquet")
    x, y = occ["decimalLongitude"].to_numpy(), occ["decimalLatitude"].to_numpy()
    table = chelsa_cube.ecocube.sample_points(x, y, variables=["bio1", "bio12"])
    assert table["inside"].all()  # MANIFEST: all vipers inside the CHELSA grid
    with rasterio.open(chelsa_items[0].assets["bio1"].get_absolute_href()) as src:
        raw = np.array([v[0] for v in src.sample(zip(x, y, strict=True))], dtype=np.float64)
    np.testing.assert_allclose(table["bio1"], raw * 0.1 - 273.15, atol=1e-4)


def test_provenance_lists_every_source_asset(chelsa_cube):
    sources = json.loads(chelsa_cube.attrs["ecocube:sources"])
    assert sorted(s["variable"] for s in sources) == sorted(f"bio{i}" for i in range(1, 20))
    spec = json.loads(chelsa_cube.attrs["ecocube:spec"])
    assert spec["crs"] == "EPSG:4326"


def test_resampled_grid_is_float32_and_bilinear_stays_in_source_range(chelsa_items):
    items = chelsa_items[:1]
    ds = build_cube(items, bbox=(-85.0, 9.0, -84.0, 10.0), crs="EPSG:32616", resolution=2000)
    bio1 = ds["bio1"].compute()
    assert bio1.dtype == np.float32
    assert bio1.attrs["ecocube:resampling"] == "average"
    assert 3.75 <= float(bio1.min()) and float(bio1.max()) <= 27.35


@pytest.fixture(scope="module")
def gam_100m(gam_items):
    """GAM land use on a 100 m grid aligned with its 10 m pixels (10 x 10 blocks)."""
    anchor, _ = anchor_of(gam_items[0])
    ds = build_cube(
        gam_items, bbox=(-84.2, 9.85, -84.0, 10.0), crs="EPSG:3857", resolution=100, anchor=anchor
    )
    return ds.compute()


def test_categorical_layer_only_has_valid_class_codes(gam_100m):
    codes = gam_100m["landuse"].values
    assert gam_100m["landuse"].attrs["ecocube:resampling"] == "mode"
    assert set(np.unique(codes[np.isfinite(codes)])) <= set(range(1, 9))


def test_class_fractions_sum_to_one_and_match_block_counts(gam_100m, gam_items):
    fr = [f"landuse_frac_{c}" for c in range(1, 9)]
    total = sum(gam_100m[f] for f in fr).values
    valid = np.isfinite(total)
    assert valid.sum() > 1000
    np.testing.assert_allclose(total[valid], 1.0, atol=1e-5)
    # exact check of one block: fractions = class counts in the 10 x 10 source pixels
    raw, src = _raw(gam_items[0], "landuse")
    x0 = float(gam_100m.x[5]) - 50
    y0 = float(gam_100m.y[7]) + 50
    col = round((x0 - src.transform.c) / 10)
    row = round((src.transform.f - y0) / 10)
    block = raw[row : row + 10, col : col + 10]
    ok = block != 15
    for c in range(1, 9):
        want = (block[ok] == c).mean() if ok.any() else np.nan
        assert float(gam_100m[f"landuse_frac_{c}"][7, 5]) == pytest.approx(want, abs=1e-5)
    # the mode layer is the majority class of the block
    vals, counts = np.unique(block[ok], return_counts=True)
    assert float(gam_100m["landuse"][7, 5]) in set(vals[counts == counts.max()].astype(float))


def test_fine_grid_categorical_uses_nearest_and_no_fractions(gam_items):
    ds = build_cube(gam_items, bbox=(-84.1, 9.9, -84.09, 9.91), crs="EPSG:3857", resolution=10)
    assert ds["landuse"].attrs["ecocube:resampling"] == "nearest"
    assert not any("frac" in str(v) for v in ds.data_vars)


EMILIA = "sentinel-2-l2a-emilia"
EMILIA_KW = {"bbox": (11.0, 44.0, 12.5, 45.5), "crs": "EPSG:32632", "resolution": 500}


@pytest.mark.parametrize(("time", "n"), [("2020-03", 6), ("2020", 60), ("2020-03/2020-04", None)])
def test_partial_dates_cover_whole_periods(mixed_catalog, time, n):
    import pystac

    from ecocube.catalog import normalize_datetime

    ds = build_cube(mixed_catalog, collections=[EMILIA], time=time, mask="none", **EMILIA_KW)
    # the interval catalog search uses for --datetime
    lo, hi = (pd.Timestamp(t) for t in normalize_datetime(time).split("/"))
    root = pystac.Catalog.from_file(str(mixed_catalog / "catalog.json"))
    items = root.get_child(EMILIA).get_items()
    expected = len({i.datetime for i in items if lo <= pd.Timestamp(i.datetime) <= hi})
    assert ds.sizes["time"] == expected
    if n is not None:
        assert expected == n


def test_single_acquisition_keeps_time_static_layer_does_not(mixed_catalog):
    ds = build_cube(mixed_catalog, collections=[EMILIA], time="2020-06-12", **EMILIA_KW)
    assert ds["ndvi"].dims == ("time", "y", "x") and ds.sizes["time"] == 1
    chelsa = build_cube(
        mixed_catalog,
        collections=["chelsa-costa-rica"],
        bbox=(-84.2, 9.8, -84.0, 10.0),
        resolution=0.01,
        assets=["bio1"],
    )
    assert chelsa["bio1"].dims == ("y", "x")  # climate normal 1981-2010: static


def test_stacked_collections_named_consistently_and_skips_noted(mixed_catalog, tmp_path):
    from ecocube.catalog import cube_item, load_items
    from ecocube.cube import write_cube
    from ecocube.cube.testing import synthetic_cube

    # a registered cube overlapping the bbox: neither a raster nor an ocean item
    cube = cube_item(write_cube(synthetic_cube()[["elev"]], tmp_path / "c.zarr"))
    cube.collection_id, cube.bbox = "ecocube-cubes", [-85.0, 9.0, -83.0, 11.0]
    items = [*load_items(mixed_catalog), cube]
    with pytest.warns(EcocubeWarning, match=r"no single-band GeoTIFF.*ecocube-cubes"):
        ds = build_cube(items, bbox=(-84.2, 9.8, -84.0, 10.0), resolution=0.01)
    # the global CESM netCDF items are ocean items: stacked, regridded onto the grid
    assert ds["pCO2SURF"].dims == ("time", "y", "x")
    assert ds["pCO2SURF"].attrs["ecocube:collection"] == "ocean-global-cesm"
    names = list(ds.data_vars)
    chelsa = [n for n in names if ds[n].attrs.get("ecocube:collection") == "chelsa-costa-rica"]
    dismo = [n for n in names if ds[n].attrs.get("ecocube:collection") == "worldclim-dismo"]
    assert len(chelsa) == 19 and all(n.startswith("chelsa_costa_rica_") for n in chelsa)
    assert dismo and all(n.startswith("worldclim_dismo_") for n in dismo)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EcocubeWarning)
        ds = build_cube(
            mixed_catalog,
            collections=["chelsa-costa-rica"],
            bbox=(-84.2, 9.8, -84.0, 10.0),
            resolution=0.01,
        )
    assert "bio1" in ds and "chelsa_costa_rica_bio1" not in ds
