"""Small seeded synthetic rasters: mixed UTM zones, proj:code vs proj:epsg, grids."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ecocube.cube import build_cube
from ecocube.cube.testing import item_from_raster, synthetic_raster


def _two_zone_items(tmp_path, use_proj_code=True):
    # one tile each side of the 12 deg E meridian (UTM 32N / 33N), same date, constant values
    a = synthetic_raster(
        tmp_path / "a.tif",
        crs="EPSG:32632",
        origin=(732_000, 5_000_000),
        resolution=100,
        width=40,
        height=40,
        values=np.full((40, 40), 100),
    )
    b = synthetic_raster(
        tmp_path / "b.tif",
        crs="EPSG:32633",
        origin=(264_000, 5_000_000),
        resolution=100,
        width=40,
        height=40,
        values=np.full((40, 40), 200),
    )
    when = datetime(2021, 6, 1, tzinfo=UTC)
    return [
        item_from_raster(
            p,
            collection="tiles",
            item_id=p.stem,
            asset_key="b1",
            when=when,
            scale=0.5,
            offset=1.0,
            use_proj_code=use_proj_code,
        )
        for p in (a, b)
    ]


def test_mixed_utm_zones_mosaic_into_one_grid(tmp_path):
    items = _two_zone_items(tmp_path)
    ds = build_cube(items, bbox=(11.9, 44.98, 12.1, 45.12), crs="EPSG:4326", resolution=0.002)
    b1 = ds["b1"].compute()
    assert b1.dims == ("y", "x")  # one date: the two tiles are mosaicked, not a time series
    vals = set(np.unique(np.round(b1.values[np.isfinite(b1.values)], 3)))
    assert vals <= {51.0, 101.0} and vals == {51.0, 101.0}  # scale 0.5, offset 1
    west = b1.sel(x=slice(11.9, 11.98)).values
    east = b1.sel(x=slice(12.02, 12.1)).values
    assert np.nanmax(west) == pytest.approx(51.0) and np.nanmin(east) == pytest.approx(101.0)


def test_proj_epsg_and_proj_code_give_the_same_cube(tmp_path):
    new = _two_zone_items(tmp_path / "new", use_proj_code=True)
    old = _two_zone_items(tmp_path / "old", use_proj_code=False)
    assert "proj:code" in new[0].assets["b1"].extra_fields
    assert "proj:epsg" in old[0].assets["b1"].extra_fields
    kw = {"bbox": (11.9, 44.98, 12.1, 45.12), "crs": "EPSG:32632", "resolution": 200}
    a = build_cube(new, **kw)["b1"].values
    b = build_cube(old, **kw)["b1"].values
    np.testing.assert_array_equal(a, b)


def test_time_series_items_keep_time_and_stay_float32(tmp_path):
    items = []
    for k in range(3):
        p = synthetic_raster(tmp_path / f"t{k}.tif", seed=k, dtype="int16", nodata=-1)
        items.append(
            item_from_raster(
                p,
                collection="s",
                item_id=f"t{k}",
                asset_key="v",
                when=datetime(2020, 1 + k, 5, tzinfo=UTC),
            )
        )
    ds = build_cube(
        items, bbox=items[0].bbox, crs="EPSG:32632", resolution=10, anchor=(600_000, 5_100_000)
    )
    assert ds["v"].dims == ("time", "y", "x")
    assert ds["v"].dtype == np.float32
    assert ds.time.dt.month.values.tolist() == [1, 2, 3]
