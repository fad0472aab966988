"""Cubes from the static STAC catalog (ecocube.catalog) and from its STAC API equal cubes from
items built here: the two agree on asset keys, raster scale/offset/nodata and classes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ecocube import catalog
from tests.conftest import requires_mirror

pytestmark = requires_mirror


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
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
def test_cube_from_stac_api_search_equals_the_static_catalog_cube(catalog_dir, pgstac):
    from ecocube.cube import anchor_of, build_cube, load_items
    from ecocube.errors import CatalogError

    with catalog.serve_catalog(catalog_dir) as url:
        items = load_items(url, collections=["chelsa-costa-rica"])
        assert items[0].assets["bio1"].href.startswith("file://")
        anchor, res = anchor_of(items[0])
        grid = {"bbox": (-84.5, 9.5, -84.0, 10.0), "resolution": res, "anchor": anchor}
        ds = build_cube(url, collections=["chelsa-costa-rica"], assets=["bio1"], **grid)
        ds = ds.compute()
        with pytest.raises(CatalogError, match=r"collections=.*'nope'.*not in the catalog"):
            load_items(url, collections=["nope"])
    static = build_cube(catalog_dir, collections=["chelsa-costa-rica"], assets=["bio1"], **grid)
    assert ds.sizes == static.sizes and int(ds["bio1"].notnull().sum()) > 1000
    np.testing.assert_array_equal(ds["bio1"].values, static["bio1"].values)


def test_cli_build_with_broken_sibling_link(catalog_dir, tmp_path, capsys):
    from ecocube.cli import main

    bad = tmp_path / "damaged"
    shutil.copytree(catalog_dir, bad)
    (bad / "gam-landuse-costa-rica" / "collection.json").unlink()
    args = [
        "cube",
        "build",
        "--catalog",
        str(bad),
        "--collections",
        "chelsa-costa-rica",
        "--bbox=-84.2,9.8,-84.0,10.0",
        "--resolution",
        "0.05",
        "--assets",
        "bio1",
    ]
    assert main([*args, "--no-register", "--out", str(tmp_path / "a.zarr")]) == 0
    # registering needs the whole catalog: a clear error, not an internal one
    assert main([*args, "--out", str(tmp_path / "b.zarr")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "internal error" not in err
    assert f"the cube was written to {tmp_path / 'b.zarr'}, but cannot register the cube" in err
    assert "gam-landuse-costa-rica/collection.json" in err and "--no-register" in err
    assert (tmp_path / "b.zarr").is_dir()
