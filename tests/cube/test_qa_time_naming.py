"""Cubes from the static catalog: bit-flag QA layers never interpolated, Landsat NDVI (nir08),
partial-date --time, length-1 time of single acquisitions, consistent names of stacked
collections and explicit notes on skipped (netCDF) items."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio

from ecocube.errors import EcocubeWarning
from tests.conftest import requires_mirror

pytestmark = requires_mirror

catalog = pytest.importorskip("ecocube.catalog")

C2 = "landsat-c2-l2-colombia"
C2_KW = {"bbox": (-75.5, 1.0, -75.0, 1.5), "crs": "EPSG:32618", "resolution": 300}


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    out = tmp_path_factory.mktemp("qa_catalog") / "catalog"
    catalog.build_catalog(
        out,
        datasets=[
            "landsat_c2l2_colombia",
            "landsat_l8ny18",
            "s2_emilia_ndvi_scl",
            "chelsa_costa_rica",
            "sdm_dismo",
            "ocean_global_cesm",
        ],
    )
    return out


@pytest.fixture(scope="module")
def c2_cube(cat):
    from ecocube.cube import build_cube

    return build_cube(cat, collections=[C2], indices=["ndvi"], **C2_KW).compute()


def _source(cat, key):
    path = next(cat.glob(f"{C2}/*/*_{key}.TIF"))
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("key", ["QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL"])
def test_landsat_c2_qa_layers_keep_source_codes(cat, c2_cube, key):
    # 300 m target is finer than the 445 m source: bilinear would invent codes
    da = c2_cube[key]
    vals = da.values[np.isfinite(da.values)]
    assert vals.size > 1000
    assert np.isin(vals, np.unique(_source(cat, key))).all()
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
    from ecocube.cube import landsat_c2_mask

    qa = c2_cube["QA_PIXEL"]
    cloudy = landsat_c2_mask(qa).values
    assert np.isnan(c2_cube["SR_B4"].values[cloudy]).all()
    assert "QA_PIXEL" in c2_cube["SR_B4"].attrs["ecocube:mask"]


def test_landsat_ndvi_from_nir08_with_scale_offset(cat, c2_cube):
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


def test_landsat_l1_ndvi_and_bqa_nearest(cat):
    from ecocube.cube import build_cube

    ds = build_cube(
        cat,
        collections=["landsat-8-l1-new-york"],
        bbox=(-74.0, 40.5, -73.8, 40.7),
        crs="EPSG:32618",
        resolution=300,
        time="2018-01",
        indices=["ndvi"],
    )
    assert "ndvi" in ds and ds["BQA"].attrs["ecocube:resampling"] in ("nearest", "mode")


@pytest.mark.parametrize(("time", "n"), [("2020-03", 6), ("2020", 60), ("2020-03/2020-04", None)])
def test_partial_dates_cover_whole_periods(cat, time, n):
    from ecocube.catalog._search import normalize_datetime
    from ecocube.cube import build_cube
    from ecocube.cube._items import load_items

    ds = build_cube(
        cat,
        collections=["sentinel-2-l2a-emilia"],
        bbox=(11.0, 44.0, 12.5, 45.5),
        crs="EPSG:32632",
        resolution=500,
        time=time,
        mask="none",
    )
    # the interval catalog search uses for --datetime
    lo, hi = (pd.Timestamp(t) for t in normalize_datetime(time).split("/"))
    items = load_items(cat, collections=["sentinel-2-l2a-emilia"])
    expected = len({i.datetime for i in items if lo <= pd.Timestamp(i.datetime) <= hi})
    assert ds.sizes["time"] == expected
    if n is not None:
        assert expected == n


def test_single_acquisition_keeps_time_static_layer_does_not(cat):
    from ecocube.cube import build_cube

    ds = build_cube(
        cat,
        collections=["sentinel-2-l2a-emilia"],
        bbox=(11.0, 44.0, 12.5, 45.5),
        crs="EPSG:32632",
        resolution=500,
        time="2020-06-12",
    )
    assert ds["ndvi"].dims == ("time", "y", "x") and ds.sizes["time"] == 1
    chelsa = build_cube(
        cat,
        collections=["chelsa-costa-rica"],
        bbox=(-84.2, 9.8, -84.0, 10.0),
        resolution=0.01,
        assets=["bio1"],
    )
    assert chelsa["bio1"].dims == ("y", "x")  # climate normal 1981-2010: static


def test_stacked_collections_named_consistently_and_skips_noted(cat):
    from ecocube.cube import build_cube

    with pytest.warns(EcocubeWarning, match=r"no single-band GeoTIFF.*cesm-marbl"):
        ds = build_cube(cat, bbox=(-84.2, 9.8, -84.0, 10.0), resolution=0.01)
    names = list(ds.data_vars)
    chelsa = [n for n in names if ds[n].attrs.get("ecocube:collection") == "chelsa-costa-rica"]
    dismo = [n for n in names if ds[n].attrs.get("ecocube:collection") == "worldclim-dismo"]
    assert len(chelsa) == 19 and all(n.startswith("chelsa_costa_rica_") for n in chelsa)
    assert dismo and all(n.startswith("worldclim_dismo_") for n in dismo)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EcocubeWarning)
        ds = build_cube(
            cat, collections=["chelsa-costa-rica"], bbox=(-84.2, 9.8, -84.0, 10.0), resolution=0.01
        )
    assert "bio1" in ds and "chelsa_costa_rica_bio1" not in ds
