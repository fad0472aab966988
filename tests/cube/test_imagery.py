"""Cloud masks, composites, NDVI and time coordinates on real Sentinel-2 and Landsat data."""

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
