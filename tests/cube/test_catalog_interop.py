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


def _damaged(catalog_dir, tmp_path, damage: str):
    """A copy of the catalog whose gam-landuse-costa-rica/collection.json is missing/malformed."""
    import shutil

    out = tmp_path / "damaged"
    shutil.copytree(catalog_dir, out)
    target = out / "gam-landuse-costa-rica" / "collection.json"
    if damage == "missing":
        target.unlink()
    elif damage == "malformed":
        target.write_text('{"type": "Coll')
    else:
        target.write_text("{}")  # valid JSON, not STAC
    return out


@pytest.mark.parametrize("damage", ["missing", "malformed", "not-stac"])
def test_broken_sibling_link_does_not_block_other_collections(catalog_dir, tmp_path, damage):
    from ecocube.cube import load_items

    bad = _damaged(catalog_dir, tmp_path, damage)
    items = load_items(bad, collections=["chelsa-costa-rica"])
    assert [i.collection_id for i in items] == ["chelsa-costa-rica"]
    assert {f"bio{k}" for k in range(1, 20)} <= set(items[0].assets)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("missing", "the file does not exist"),
        ("malformed", "the file is not valid JSON"),
        ("not-stac", "the file is not a STAC object"),
    ],
)
def test_broken_link_that_must_be_read_is_named_with_the_fix(catalog_dir, tmp_path, damage, why):
    from ecocube.cube import load_items
    from ecocube.errors import CatalogError

    bad = _damaged(catalog_dir, tmp_path, damage)
    pattern = (
        rf"catalog .*damaged: the 'child' link '\./gam-landuse-costa-rica/collection\.json' in "
        rf".*catalog\.json points to .*gam-landuse-costa-rica/collection\.json, which cannot be "
        rf"read \({why}.*rebuild the catalog with `ecocube catalog build --out "
    )
    for collections in (["gam-landuse-costa-rica"], None, ["no-such-collection"]):
        with pytest.raises(CatalogError, match=pattern):
            load_items(bad, collections=collections)


def test_broken_item_link_of_requested_collection_is_named(catalog_dir, tmp_path):
    import shutil

    from ecocube.cube import load_items
    from ecocube.errors import CatalogError

    bad = tmp_path / "damaged"
    shutil.copytree(catalog_dir, bad)
    item_file = next((bad / "chelsa-costa-rica").glob("*/*.json"))
    item_file.unlink()
    with pytest.raises(CatalogError, match=rf"'item' link .*{item_file.name}.*does not exist"):
        load_items(bad, collections=["chelsa-costa-rica"])
    # the other collection does not need the broken item
    assert len(load_items(bad, collections=["gam-landuse-costa-rica"])) == 1


def test_unknown_collection_lists_the_catalog_collections(catalog_dir):
    from ecocube.cube import load_items
    from ecocube.errors import CatalogError

    with pytest.raises(
        CatalogError,
        match=r"unknown collection\(s\) \['nope'\]; the catalog .* holds "
        r"\['chelsa-costa-rica', 'gam-landuse-costa-rica'\]",
    ):
        load_items(catalog_dir, collections=["nope"])


def test_cli_build_with_broken_sibling_link(catalog_dir, tmp_path, capsys):
    from ecocube.cli import main

    bad = _damaged(catalog_dir, tmp_path, "missing")
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
