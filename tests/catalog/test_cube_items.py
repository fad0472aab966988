"""STAC Items of cubes and their registration in a static catalog (ecocube.catalog._cube_items)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ecocube.catalog import CUBES_COLLECTION_ID, cube_item, register_cube
from ecocube.errors import CatalogError, DatasetNotFoundError, InvalidInputError


def _static_cube() -> xr.Dataset:
    from ecocube.cube.testing import synthetic_cube

    ds = synthetic_cube()[["elev"]]
    return ds.assign(b=ds["elev"] * 2)


def _empty_catalog(root: Path) -> Path:
    import pystac

    cat = pystac.Catalog("t", "test")
    cat.normalize_hrefs(root.as_posix() + "/")
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root


def test_stores_of_the_same_name_get_their_own_items(tmp_path):
    import pystac

    from ecocube.cube import write_cube

    cat = _empty_catalog(tmp_path / "cat")
    a = write_cube(_static_cube(), tmp_path / "cubes" / "c1.zarr")
    b = write_cube(_static_cube(), tmp_path / "cubes2" / "c1.zarr")
    ia, ib = register_cube(a, cat), register_cube(b, cat)
    assert ia.id != ib.id and ia.id.startswith("c1-")
    assert register_cube(a, cat).id == ia.id  # the same store again replaces its item
    coll = pystac.Catalog.from_file(str(cat / "catalog.json")).get_child(CUBES_COLLECTION_ID)
    assert sorted(i.id for i in coll.get_items()) == sorted([ia.id, ib.id])
    register_cube(a, cat, item_id="mine")
    with pytest.raises(CatalogError, match=r"item 'mine'.*already describes another store"):
        register_cube(b, cat, item_id="mine")


def test_catalog_build_keeps_the_cubes_collection(tmp_path, mirror):
    import pystac

    from ecocube.catalog import build_catalog
    from ecocube.cube import write_cube

    cat = tmp_path / "cat"
    build_catalog(cat, ["s2_barbellino"])
    item = register_cube(write_cube(_static_cube(), tmp_path / "c.zarr"), cat)
    built = build_catalog(cat, ["s2_barbellino"])
    assert "ecocube-cubes" in {c.id for c in built.get_children()}
    again = pystac.Catalog.from_file(str(cat / "catalog.json"))
    coll = again.get_child(CUBES_COLLECTION_ID)
    assert coll is not None and [i.id for i in coll.get_items()] == [item.id]
    links = json.loads((cat / "catalog.json").read_text())["links"]
    assert sum(lk["href"] == "./ecocube-cubes/collection.json" for lk in links) == 1


def test_item_of_a_store_read_without_ecocube_cube(tmp_path):
    """The item is read from the Zarr metadata: build order, CRS, time span and provenance."""
    from ecocube.cube import write_cube
    from ecocube.cube.testing import synthetic_cube

    ds = synthetic_cube(dates=3)[["ndvi", "elev"]]
    ds["ndvi"].attrs.update({"units": "1", "long_name": "NDVI"})
    sources = [{"item": "s2", "asset": "B04", "href": "x.tif", "checksum": "1220ab"}]
    store = write_cube(ds, tmp_path / "s.zarr", items=sources)
    item = cube_item(store)
    props = item.properties
    assert list(props["cube:variables"]) == ["ndvi", "elev"]  # the build order, not sorted
    assert props["cube:variables"]["ndvi"] == {
        "type": "data",
        "dimensions": ["time", "y", "x"],
        "unit": "1",
        "description": "NDVI",
    }
    assert props["proj:code"] == "EPSG:4326" and props["proj:shape"] == [4, 5]
    assert item.bbox == pytest.approx([0.0, 0.0, 5.0, 4.0])
    assert props["start_datetime"] == "2020-01-01T00:00:00Z"
    assert props["end_datetime"] == "2020-03-01T00:00:00Z" and item.datetime is None
    assert props["cube:dimensions"]["time"]["extent"] == [
        "2020-01-01T00:00:00Z",
        "2020-03-01T00:00:00Z",
    ]
    assert props["ecocube:sources"][0]["item"] == "s2"
    assert item.assets["zarr"].href == str(store.resolve())
    assert cube_item(store, item_id="x").id == "x"


def test_items_of_missing_incomplete_and_flat_stores_are_refused(tmp_path):
    from ecocube.cube import write_cube

    with pytest.raises(DatasetNotFoundError, match=r"does not exist; build it with"):
        cube_item(tmp_path / "none.zarr")
    store = write_cube(_static_cube(), tmp_path / "c.zarr")
    attrs = json.loads((store / ".zattrs").read_text())
    del attrs["ecocube:complete"]
    (store / ".zattrs").write_text(json.dumps(attrs))
    meta = json.loads((store / ".zmetadata").read_text())
    del meta["metadata"][".zattrs"]["ecocube:complete"]
    (store / ".zmetadata").write_text(json.dumps(meta))
    with pytest.raises(InvalidInputError, match=r"not a complete ecocube store .*rebuild it"):
        cube_item(store)
    with pytest.raises(InvalidInputError, match=r"is not a readable ecocube cube"):
        cube_item(tmp_path)  # a folder, no Zarr store
    flat = xr.Dataset({"v": (("band",), np.arange(3.0))})
    with pytest.raises(InvalidInputError, match=r"no x/y \(or lon/lat\) dimensions"):
        cube_item(tmp_path / "c.zarr", flat)


def test_registering_into_a_folder_without_catalog_is_refused(tmp_path):
    from ecocube.cube import write_cube

    store = write_cube(_static_cube(), tmp_path / "c.zarr")
    with pytest.raises(CatalogError, match=r"has no catalog.json; build one with"):
        register_cube(store, tmp_path / "nocat")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "catalog.json").write_text("{nope")
    with pytest.raises(CatalogError, match=r"not a readable STAC catalog \(the file is not valid"):
        register_cube(store, tmp_path / "bad")


def test_a_plain_catalog_named_like_the_collection_is_refused(tmp_path):
    import pystac

    from ecocube.cube import write_cube

    root = tmp_path / "cat"
    cat = pystac.Catalog("t", "test")
    cat.add_child(pystac.Catalog(CUBES_COLLECTION_ID, "not a collection"))
    cat.normalize_hrefs(root.as_posix() + "/")
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    store = write_cube(_static_cube(), tmp_path / "c.zarr")
    with pytest.raises(CatalogError, match=r"'ecocube-cubes' .* is a plain catalog, not a coll"):
        register_cube(store, root)
    with pytest.raises(CatalogError, match=r"is a plain catalog"):
        register_cube(store, root, collection_id=CUBES_COLLECTION_ID)
    assert register_cube(store, root, collection_id="cubes2").collection_id == "cubes2"
