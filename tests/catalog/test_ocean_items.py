"""STAC items of ocean products and their registration (``catalog/_ocean_items.py``): datacube and
proj fields from the store's CF attributes, the non-spatial ensemble, idempotent registration that
validates and survives a rebuild, and a served STAC API that finds the items."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import xarray as xr

from ecocube.catalog import build_catalog, search, serve_catalog, validate_catalog
from ecocube.catalog._items_ocean import OCEAN_PRODUCTS, PRODUCT_PROPERTY
from ecocube.catalog._ocean_items import (
    GEOLOCATED_PROPERTY,
    OCEAN_ENSEMBLES_COLLECTION_ID,
    check_static_catalog,
    ocean_item,
    product_collection_id,
    register_ocean,
    registry_items,
)
from ecocube.errors import CatalogError, EcocubeWarning, InvalidInputError

GLORYS_ITEM = "glorys12-physics-2012-north-atlantic"


def _gridded(path: Path, *, product: str = "glorys", sources: list | None = None) -> Path:
    """A small ingested-like store: thetao (time, depth, lat, lon) on a 0.5-degree grid."""
    from ecocube.cube import write_cube

    rng = np.random.default_rng(0)
    lat = np.arange(55.25, 58.0, 0.5)  # 6 centres, ascending as in the files
    lon = np.arange(-10.75, -7.0, 0.5)  # 8 centres
    ds = xr.Dataset(
        {
            "thetao": (
                ("time", "depth", "lat", "lon"),
                rng.normal(8.0, 1.0, (2, 3, lat.size, lon.size)).astype("float32"),
                {
                    "standard_name": "sea_water_potential_temperature",
                    "long_name": "Sea water potential temperature",
                    "units": "degC",
                },
            )
        },
        coords={
            "time": pd.to_datetime(["2012-01-01T12:00", "2012-12-31T12:00"]),
            "depth": ("depth", [5.0, 50.0, 500.0], {"units": "m", "long_name": "depth"}),
            "lat": lat,
            "lon": lon,
        },
        attrs={"source": "synthetic physics", "title": "test product"},
    )
    return write_cube(ds, path, items=sources, attrs={"ecocube:product": product})


def _ensemble(path: Path) -> Path:
    """A small ensemble-like store (scenario x time x phyto_type x depth, noleap calendar)."""
    from ecocube.cube import write_cube

    time = xr.date_range("2000-01-01", periods=5, freq="D", calendar="noleap", use_cftime=True)
    ds = xr.Dataset(
        {
            "phyc": (
                ("scenario", "time", "phyto_type"),
                np.ones((4, 5, 2)),
                {"units": "mmol m-3", "standard_name": "mole_concentration_of_phytoplankton"},
            ),
            "thetao": (("scenario", "time", "depth"), np.ones((4, 5, 3)), {"units": "degC"}),
        },
        coords={
            "scenario": np.arange(4),
            "time": time,
            "phyto_type": ["diatom", "pico"],
            "depth": ("depth", [12.5, 37.5, 62.5], {"units": "m"}),
        },
        attrs={"source": "ecocube.ocean.simulate"},
    )
    return write_cube(ds, path, attrs={"ecocube:product": "ensemble"})


def test_gridded_product_item_has_datacube_proj_and_cf_fields(tmp_path: Path) -> None:
    item = ocean_item(_gridded(tmp_path / "g.zarr"))
    props = item.properties
    dims = props["cube:dimensions"]
    assert dims["lat"] == {
        "type": "spatial",
        "axis": "y",
        "extent": [55.25, 57.75],
        "step": 0.5,
        "reference_system": 4326,
    }
    assert dims["lon"]["axis"] == "x" and dims["lon"]["extent"] == [-10.75, -7.25]
    assert dims["depth"]["axis"] == "z" and dims["depth"]["values"] == [5.0, 50.0, 500.0]
    assert dims["depth"]["unit"] == "m"
    assert dims["time"]["values"] == ["2012-01-01T12:00:00Z", "2012-12-31T12:00:00Z"]
    thetao = props["cube:variables"]["thetao"]
    assert thetao["dimensions"] == ["time", "depth", "lat", "lon"]
    assert thetao["unit"] == "degC"
    assert thetao["standard_name"] == "sea_water_potential_temperature"
    # the footprint and the grid: cell edges half a step outside the centres, north-up
    assert item.bbox == [-11.0, 55.0, -7.0, 58.0]
    assert props["proj:code"] == "EPSG:4326" and props["proj:shape"] == [6, 8]
    assert props["proj:transform"] == [0.5, 0.0, -11.0, 0.0, -0.5, 58.0]
    assert props[PRODUCT_PROPERTY] == "glorys" and props[GEOLOCATED_PROPERTY] is True
    assert props["start_datetime"] == "2012-01-01T12:00:00Z"
    assert any("datacube" in e for e in item.stac_extensions)
    assert any("projection" in e for e in item.stac_extensions)
    assert item.assets["zarr"].media_type == "application/vnd+zarr"


def test_ensemble_item_is_non_spatial_with_a_nominal_global_footprint(tmp_path: Path) -> None:
    item = ocean_item(_ensemble(tmp_path / "ens.zarr"))
    props = item.properties
    assert props[GEOLOCATED_PROPERTY] is False and item.bbox == [-180.0, -90.0, 180.0, 90.0]
    assert "proj:code" not in props
    dims = props["cube:dimensions"]
    assert set(dims) == {"scenario", "time", "phyto_type", "depth"}
    assert dims["scenario"]["type"] == "other" and dims["scenario"]["values"] == [0, 1, 2, 3]
    assert dims["phyto_type"]["values"] == ["diatom", "pico"]
    assert dims["time"]["step"] == "P1D" and dims["time"]["extent"][0] == "2000-01-01T00:00:00Z"
    assert props["cube:variables"]["phyc"]["dimensions"] == ["scenario", "time", "phyto_type"]
    assert props["ecocube:ensemble_size"] == 4
    assert props["description"].startswith("Scenario ensemble (4 scenarios)")


def test_products_and_collections() -> None:
    assert product_collection_id("ensemble") == OCEAN_ENSEMBLES_COLLECTION_ID
    assert product_collection_id("cesm_marbl") == "ocean-cesm-marbl"
    assert product_collection_id("glorys") == "ocean-glorys"


def test_a_store_that_is_not_an_ocean_product_is_refused(tmp_path: Path) -> None:
    from ecocube.cube import write_cube
    from ecocube.cube.testing import synthetic_cube

    store = write_cube(synthetic_cube()[["elev"]], tmp_path / "c.zarr")
    with pytest.raises(InvalidInputError, match=r"not an ocean product \(no 'ecocube:product'"):
        ocean_item(store)


def test_a_folder_without_catalog_is_refused_before_the_work(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"is not a static STAC catalog \(no catalog.json\)"):
        check_static_catalog(tmp_path, option="--catalog")


@pytest.fixture(scope="module")
def ocean_catalog(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """The North-Atlantic catalog with a gridded product (from the GLORYS item) and an
    ensemble registered in it, both stores inside the catalog folder."""
    cat = tmp_path_factory.mktemp("ocean_catalog") / "catalog"
    build_catalog(cat, ["ocean_north_atlantic"])
    source = {"item": GLORYS_ITEM, "collection": "ocean-north-atlantic", "asset": "data"}
    register_ocean(_gridded(cat / "ocean" / "g.zarr", sources=[source]), cat)
    register_ocean(_ensemble(cat / "ocean" / "ens.zarr"), cat)
    return cat


def _collection_items(cat: Path, collection: str) -> list[pystac.Item]:
    root = pystac.Catalog.from_file(str(cat / "catalog.json"))
    child = root.get_child(collection)
    assert child is not None, collection
    return list(child.get_items())


def test_registration_validates_links_its_source_and_is_idempotent(ocean_catalog: Path) -> None:
    assert validate_catalog(ocean_catalog) == []
    (glorys,) = _collection_items(ocean_catalog, "ocean-glorys")
    (ens,) = _collection_items(ocean_catalog, OCEAN_ENSEMBLES_COLLECTION_ID)
    assert ens.properties[GEOLOCATED_PROPERTY] is False
    (link,) = glorys.get_links("derived_from")
    assert link.resolve_stac_object().target.id == GLORYS_ITEM
    assert glorys.assets["zarr"].href == "../../ocean/g.zarr"  # relative: self-contained
    # registering the same store again replaces its item
    again = register_ocean(ocean_catalog / "ocean" / "g.zarr", ocean_catalog)
    assert again.id == glorys.id
    assert [i.id for i in _collection_items(ocean_catalog, "ocean-glorys")] == [glorys.id]
    assert validate_catalog(ocean_catalog) == []


def test_a_rebuild_keeps_the_registered_ocean_collections(ocean_catalog: Path) -> None:
    built = build_catalog(ocean_catalog, ["ocean_north_atlantic"])
    children = {c.id for c in built.get_children()}
    assert {"ocean-glorys", OCEAN_ENSEMBLES_COLLECTION_ID, "ocean-north-atlantic"} <= children
    links = json.loads((ocean_catalog / "catalog.json").read_text())["links"]
    assert sum(lk["href"] == "./ocean-glorys/collection.json" for lk in links) == 1
    assert len(_collection_items(ocean_catalog, "ocean-glorys")) == 1
    assert validate_catalog(ocean_catalog) == []


def test_the_served_stac_api_finds_the_ocean_products(ocean_catalog: Path, pgstac: None) -> None:
    with serve_catalog(ocean_catalog) as url:
        found = search(url, collections=["ocean-glorys", OCEAN_ENSEMBLES_COLLECTION_ID])
        near = search(url, bbox=[-10.0, 56.0, -9.0, 57.0], collections=["ocean-glorys"])
        far = search(url, bbox=[100.0, 0.0, 101.0, 1.0], collections=["ocean-glorys"])
        ensembles = search(url, filter=f'"{GEOLOCATED_PROPERTY}" = false')
    assert sorted(i.collection_id for i in found) == [OCEAN_ENSEMBLES_COLLECTION_ID, "ocean-glorys"]
    assert len(near) == 1 and len(far) == 0
    assert [i.collection_id for i in ensembles] == [OCEAN_ENSEMBLES_COLLECTION_ID]
    zarr = next(i for i in found if i.collection_id == "ocean-glorys").assets["zarr"]
    assert zarr.href.startswith("file://") and zarr.href.endswith("/ocean/g.zarr")


def test_a_store_outside_the_catalog_folder_warns(ocean_catalog: Path, tmp_path: Path) -> None:
    store = _gridded(tmp_path / "elsewhere.zarr", product="era5")
    with pytest.warns(EcocubeWarning, match="lies outside the catalog folder"):
        item = register_ocean(store, ocean_catalog, collection_id="scratch-ocean")
    assert item.collection_id == "scratch-ocean"


def test_registry_items_equal_the_built_items_with_cache_hrefs(
    mirror: Path, catalog_items: dict[str, pystac.Item]
) -> None:
    items = registry_items("ocean_north_atlantic")
    assert len(items) == 7
    for item in items:
        built = catalog_items[item.id]
        assert item.properties == built.properties
        assert item.properties[PRODUCT_PROPERTY] in OCEAN_PRODUCTS
        asset, built_asset = item.assets["data"], built.assets["data"]
        assert Path(asset.href).is_absolute() and Path(asset.href).is_file()
        assert asset.extra_fields["file:checksum"] == built_asset.extra_fields["file:checksum"]
    with pytest.raises(InvalidInputError, match=r"dataset='nceas' is not catalogued"):
        registry_items("nceas")
