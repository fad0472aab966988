"""Cubes from the catalog engineer's static STAC catalog (ecocube.catalog) equal cubes from
items built here: the two agree on asset keys, raster scale/offset/nodata and classes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_mirror

pytestmark = requires_mirror

catalog = pytest.importorskip("ecocube.catalog")


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    if not hasattr(catalog, "build_catalog"):
        pytest.skip("ecocube.catalog.build_catalog is not available yet")
    out = tmp_path_factory.mktemp("catalog") / "catalog"
    catalog.build_catalog(out, datasets=["chelsa_costa_rica", "landcover_gam_costa_rica"])
    return out


def test_cube_from_static_catalog_matches_registry_items(catalog_dir, chelsa_cube):
    from ecocube.cube import anchor_of, build_cube, load_items

    items = load_items(catalog_dir, collections=["chelsa-costa-rica"])
    anchor, res = anchor_of(items[0])
    ds = build_cube(
        catalog_dir,
        collections=["chelsa-costa-rica"],
        bbox=items[0].bbox,
        resolution=res,
        anchor=anchor,
        assets=["bio1", "bio12"],
    ).compute()
    assert ds.sizes == chelsa_cube.sizes
    np.testing.assert_allclose(ds["bio1"].values, chelsa_cube["bio1"].values, atol=1e-4)
    assert int(ds["bio12"].isnull().sum()) == 1492


def test_land_use_classes_from_catalog(catalog_dir):
    from ecocube.cube import build_cube

    ds = build_cube(
        catalog_dir,
        collections=["gam-landuse-costa-rica"],
        bbox=(-84.2, 9.9, -84.1, 10.0),
        resolution=1 / 120,
    ).compute()
    fr = [v for v in ds.data_vars if str(v).startswith("landuse_frac_")]
    assert len(fr) == 8
    total = sum(ds[f] for f in fr).values
    np.testing.assert_allclose(total[np.isfinite(total)], 1.0, atol=1e-5)
    codes = ds["landuse"].values
    assert set(np.unique(codes[np.isfinite(codes)])) <= set(range(1, 9))


@pytest.mark.network
def test_cube_from_stac_api_search(catalog_dir):
    if not catalog.pgstac_available():
        pytest.skip("no pgstac server (run scripts/services.sh)")
    from ecocube.cube import anchor_of, build_cube, load_items

    with catalog.serve_catalog(catalog_dir) as url:
        items = load_items(url, collections=["chelsa-costa-rica"])
        assert items[0].assets["bio1"].href.startswith("file://")
        anchor, res = anchor_of(items[0])
        ds = build_cube(
            url,
            collections=["chelsa-costa-rica"],
            bbox=(-84.5, 9.5, -84.0, 10.0),
            resolution=res,
            anchor=anchor,
            assets=["bio1"],
        ).compute()
    assert 3.75 <= float(ds["bio1"].min()) and float(ds["bio1"].max()) <= 27.35
    from ecocube.errors import CatalogError

    with pytest.raises(CatalogError, match=r"collections=.*'nope'.*not in the catalog"):
        with catalog.serve_catalog(catalog_dir) as url:
            load_items(url, collections=["nope"])
