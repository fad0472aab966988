"""Cloud masks, composites, NDVI, time coordinates and bit-flag quality layers on real
Sentinel-2 and Landsat data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from ecocube.cube import anchor_of, build_cube, landsat_c1_mask, landsat_c2_mask, scl_mask
from tests.conftest import requires_mirror

pytestmark = requires_mirror


@pytest.fixture(scope="module")
def emilia():
    from ecocube.cube.testing import emilia_items

    items = emilia_items()
    anchor, res = anchor_of(items[0])
    bbox = items[0].bbox
    ds = build_cube(items, bbox=bbox, crs="EPSG:32632", resolution=res, anchor=anchor)
    raw = build_cube(items, bbox=bbox, crs="EPSG:32632", resolution=res, anchor=anchor, mask="none")
    return items, ds.compute(), raw["NDVI"].compute()


def test_time_coordinates_preserved(emilia):
    items, ds, _ = emilia
    want = sorted(pd.Timestamp(i.datetime).tz_localize(None) for i in items)
    assert ds["NDVI"].dims == ("time", "y", "x")
    assert list(pd.DatetimeIndex(ds.time.values)) == want
    assert len(want) == 60


def test_scl_cloud_and_shadow_pixels_are_nan(emilia):
    _, ds, unmasked = emilia
    scl = ds["SCL"]
    cloudy = scl.isin([3, 8, 9, 10]).values
    assert cloudy.sum() > 100  # the series has cloudy dates
    assert np.isfinite(unmasked.values[cloudy]).sum() > 100
    assert np.isnan(ds["NDVI"].values[cloudy]).all()
    clear = scl.isin([2, 4, 5, 6, 7]).values
    np.testing.assert_array_equal(ds["NDVI"].values[clear], unmasked.values[clear])
    assert set(np.unique(scl.values[np.isfinite(scl.values)])) <= set(range(12))


def test_ndvi_scaled_to_unit_range_and_equal_to_source_on_clear_pixels(emilia):
    items, ds, unmasked = emilia
    k = 0
    with rasterio.open(items[k].assets["NDVI"].get_absolute_href()) as src:
        raw = src.read(1).astype(np.float64)
    anchor, _ = anchor_of(items[k])
    # the source window inside the (larger, snapped) cube grid
    col = round((anchor[0] - (float(ds.x[0]) - 5)) / 10)
    row = round(((float(ds.y[0]) + 5) - anchor[1]) / 10)
    when = pd.Timestamp(items[k].datetime).tz_localize(None)
    got = unmasked.sel(time=when).values[row : row + raw.shape[0], col : col + raw.shape[1]]
    ok = np.isfinite(got)
    assert ok.sum() > 0.5 * ok.size
    np.testing.assert_allclose(got[ok], raw[ok] * 1e-4, atol=1e-6)
    assert np.nanmax(ds["NDVI"].values) <= 1.0 and np.nanmin(ds["NDVI"].values) >= -1.0


def test_monthly_median_composite_keeps_month_starts(emilia):
    items, _, _ = emilia
    anchor, res = anchor_of(items[0])
    ds = build_cube(
        items,
        bbox=items[0].bbox,
        crs="EPSG:32632",
        resolution=res,
        anchor=anchor,
        composite="month",
    ).compute()
    months = pd.DatetimeIndex(ds.time.values)
    assert (months.day == 1).all() and months.is_monotonic_increasing
    assert set(months.month) == set(pd.DatetimeIndex([i.datetime for i in items]).month)
    assert "SCL" not in ds  # class codes are not composited


def test_scl_mask_optional_classes():
    scl = xr.DataArray(np.array([1, 3, 4, 8, 9, 10, 11, 0], dtype=np.float32))
    assert scl_mask(scl).values.tolist() == [False, True, False, True, True, True, False, True]
    assert scl_mask(scl, optional=True).values.tolist() == [
        True,
        True,
        False,
        True,
        True,
        True,
        True,
        True,
    ]


def test_landsat_c2_qa_pixel_bits_on_real_scene(mirror):
    from ecocube import data

    folder = data.fetch("landsat_c2l2_colombia")
    path = next(folder.glob("*QA_PIXEL.TIF"))
    with rasterio.open(path) as src:
        qa = xr.DataArray(src.read(1).astype(np.float32))
    m = landsat_c2_mask(qa).values
    # MANIFEST: scene cloud cover is 81 %
    assert 0.6 < m[qa.values != 1].mean() < 0.95
    known = xr.DataArray(np.array([21824, 21952, 22280, 23888, 1], dtype=np.float32))
    assert landsat_c2_mask(known).values.tolist() == [False, False, True, True, True]


def test_landsat_c1_bqa_masking_in_cube(mirror):
    from ecocube.cube.testing import l8ny18_items

    items = l8ny18_items(scenes=2)
    anchor, res = anchor_of(items[0])
    ds = build_cube(
        items, bbox=items[0].bbox, crs="EPSG:32618", resolution=res, anchor=anchor, indices=["ndvi"]
    ).compute()
    masked = landsat_c1_mask(ds["BQA"]).values
    assert masked.any() and (~masked).any()
    assert np.isnan(ds["B4"].values[masked]).all()
    assert np.isnan(ds["ndvi"].values[masked]).all()
    clear_ndvi = ds["ndvi"].values[~masked]
    assert np.nanmin(clear_ndvi) >= -1 and np.nanmax(clear_ndvi) <= 1
    assert ds["ndvi"].dims == ("time", "y", "x")


def test_landsat_c2_cube_masks_reflectance_with_qa_pixel(mirror):
    from ecocube import data
    from ecocube.cube.testing import item_from_raster

    folder = data.fetch("landsat_c2l2_colombia")
    red = next(folder.glob("*_SR_B4.TIF"))
    nir = next(folder.glob("*_SR_B5.TIF"))
    qa = next(folder.glob("*_QA_PIXEL.TIF"))
    item = item_from_raster(
        red,
        collection="landsat-c2-l2",
        item_id="LC08_008059_20191201",
        asset_key="SR_B4",
        scale=2.75e-5,
        offset=-0.2,
        extra_assets={"SR_B5": nir, "QA_PIXEL": qa},
    )
    for key in ("SR_B5",):
        item.assets[key].extra_fields["raster:bands"][0].update({"scale": 2.75e-5, "offset": -0.2})
    anchor, res = anchor_of(item)
    ds = build_cube(
        [item], bbox=item.bbox, crs="EPSG:32618", resolution=res, anchor=anchor, indices=["ndvi"]
    ).compute()
    cloudy = landsat_c2_mask(ds["QA_PIXEL"]).values
    assert 0.5 < cloudy.mean() < 0.95  # MANIFEST: 81 % cloud cover
    assert np.isnan(ds["SR_B4"].values[cloudy]).all()
    clear = ds["SR_B4"].values[~cloudy]
    clear = clear[np.isfinite(clear)]
    assert clear.size > 1000 and -0.2 <= clear.min() and clear.max() <= 1.6
    assert np.nanmax(ds["ndvi"].values) <= 1.0


C2 = "landsat-c2-l2-colombia"
C2_KW = {"bbox": (-75.5, 1.0, -75.0, 1.5), "crs": "EPSG:32618", "resolution": 300}


@pytest.fixture(scope="module")
def c2_cube(mixed_catalog):
    return build_cube(mixed_catalog, collections=[C2], indices=["ndvi"], **C2_KW).compute()


def _c2_source(catalog, key):
    path = next(catalog.glob(f"{C2}/*/*_{key}.TIF"))
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("key", ["QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL"])
def test_landsat_c2_qa_layers_keep_source_codes(mixed_catalog, c2_cube, key):
    # 300 m target is finer than the 445 m source: bilinear would invent codes
    da = c2_cube[key]
    vals = da.values[np.isfinite(da.values)]
    assert vals.size > 1000
    assert np.isin(vals, np.unique(_c2_source(mixed_catalog, key))).all()
    assert da.attrs["ecocube:resampling"] == "nearest"
    assert da.attrs["ecocube:kind"] == "categorical"
    assert c2_cube["SR_B4"].attrs["ecocube:resampling"] == "bilinear"  # continuous unchanged


def test_flag_detection_general_rules():
    import pystac

    from ecocube.cube._items import is_flag_asset

    def asset(roles=(), **fields):
        return pystac.Asset(href="x.tif", roles=list(roles), extra_fields=fields)

    assert is_flag_asset("anything", asset(**{"classification:bitfields": [{"offset": 0}]}))
    assert is_flag_asset("mask", asset(["cloud"], **{"raster:bands": [{"data_type": "uint8"}]}))
    assert is_flag_asset("QA_RADSAT", asset(["qa"]))
    # a continuous uncertainty band (role qa, scaled) and a float cloud probability are not
    st_qa = asset(["qa"], **{"raster:bands": [{"data_type": "int16", "scale": 0.01}]})
    assert not is_flag_asset("ST_QA", st_qa)
    prob = asset(["cloud"], **{"raster:bands": [{"data_type": "float32"}]})
    assert not is_flag_asset("cloud_prob", prob)


def test_c2_cloud_mask_from_uninterpolated_qa(c2_cube):
    qa = c2_cube["QA_PIXEL"]
    cloudy = landsat_c2_mask(qa).values
    assert np.isnan(c2_cube["SR_B4"].values[cloudy]).all()
    assert "QA_PIXEL" in c2_cube["SR_B4"].attrs["ecocube:mask"]


def test_landsat_ndvi_from_nir08_with_scale_offset(c2_cube):
    ndvi = c2_cube["ndvi"]
    assert ndvi.dims == ("time", "y", "x")
    red, nir = c2_cube["SR_B4"], c2_cube["SR_B5"]
    assert nir.attrs["ecocube:asset"] == "SR_B5"
    np.testing.assert_allclose(ndvi.values, ((nir - red) / (nir + red)).values, rtol=1e-6)
    # scale/offset applied: reflectance = DN * 2.75e-5 - 0.2 (a raw-DN NDVI differs)
    raw_r = (red.values + 0.2) / 2.75e-5
    raw_n = (nir.values + 0.2) / 2.75e-5
    raw_ndvi = (raw_n - raw_r) / (raw_n + raw_r)
    ok = np.isfinite(ndvi.values)
    assert ok.sum() > 100
    assert not np.allclose(ndvi.values[ok], raw_ndvi[ok], atol=1e-3)
    assert np.nanmin(ndvi.values) >= -1 and np.nanmax(ndvi.values) <= 1


def test_landsat_l1_ndvi_and_bqa_nearest(mixed_catalog):
    ds = build_cube(
        mixed_catalog,
        collections=["landsat-8-l1-new-york"],
        bbox=(-74.0, 40.5, -73.8, 40.7),
        crs="EPSG:32618",
        resolution=300,
        time="2018-01",
        indices=["ndvi"],
    )
    assert "ndvi" in ds and ds["BQA"].attrs["ecocube:resampling"] in ("nearest", "mode")
