"""Ingestion of the mirror's CESM2-MARBL, GLORYS, ERA5 and river files (real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pystac
import pytest
import xarray as xr

from ecocube.errors import CatalogError, DatasetNotFoundError, InvalidInputError
from ecocube.ocean.ingest import (
    FILE_SOURCES,
    OCEAN_DATASETS,
    MissingVariableError,
    UnitsError,
    find_item,
    ingest_item,
    item_product,
    open_item,
    open_marbl_climatology,
    open_registry_file,
    open_source,
    registry_item,
    write_zarr,
)
from tests.conftest import requires_mirror

pytestmark = requires_mirror

#: Files of the global CESM dataset (the others are North-Atlantic files).
GLOBAL_FILES = {"CESM_BGC_SURFACE_2012.nc", "CESM_BGC_coarse_global_clim.nc"}


def test_marbl_climatology_cf_names_depth_in_metres_and_land_nan() -> None:
    ds = open_marbl_climatology()
    # z_t is stored in cm (2500 cm = 25 m ... 487500 cm)
    np.testing.assert_allclose(ds.depth.values[[0, -1]], [25.0, 4875.0], rtol=1e-4)
    assert ds.depth.attrs["units"] == "m"
    np.testing.assert_allclose(ds.depth_150m.values, [25.0, 75.0, 125.0])
    assert {"dissic", "talk", "no3", "phypico", "phydiat", "phydiaz", "zooc"} <= set(ds.data_vars)
    assert ds.phypico.attrs["source_name"] == "spC"
    assert ds.phypico.dtype == np.float32
    assert int(ds.sizes["month"]) == 12
    # land is NaN and the land mask does not change with the month
    mask = ds.dissic.isnull()
    assert bool((mask == mask.isel(month=0)).all())
    # MANIFEST: 2,118 of the 4,056 3-D values of the two-record file are land
    two = open_registry_file("ocean_north_atlantic", "CESM_BGC_2012.nc", variables=["dissic"])
    assert int(two.dissic.isnull().sum()) == 2118 and two.dissic.size == 4056


def test_glorys_thetao_range_and_cf_attributes() -> None:
    ds = open_registry_file("ocean_north_atlantic", "GLORYS_NA_2012.nc")
    t = ds.thetao
    assert t.attrs["standard_name"] == "sea_water_potential_temperature"
    assert t.attrs["units"] == "degC"
    assert -1.1 <= float(t.min()) <= -0.9
    assert 11.0 <= float(t.max()) <= 11.2
    assert int(t.isnull().sum()) == 542  # land and below-bottom points stay NaN
    assert ds.time.dt.year.values.tolist() == [2012, 2012]
    assert "lat" in ds.dims and "lon" in ds.dims


def test_era5_kelvin_converted_to_celsius() -> None:
    ds = open_registry_file("ocean_north_atlantic", "ERA5_NA_2012.nc", variables=["tas", "tos"])
    assert set(ds.data_vars) == {"tas", "tos"}
    assert ds.tas.attrs["units"] == "degC"
    assert -60.0 < float(ds.tas.min()) < float(ds.tas.max()) < 40.0
    assert -3.0 < float(ds.tos.min()) and float(ds.tos.max()) < 32.0


def test_global_noleap_year_zero_times_decode_with_cftime() -> None:
    ds = open_registry_file("ocean_global_cesm", "CESM_BGC_SURFACE_2012.nc")
    first = ds.time.values[0]
    assert first.calendar == "noleap"
    assert (first.year, first.month, first.day) == (2012, 1, 1)
    assert float(ds.depth) == pytest.approx(5.0)  # scalar z_t, 500 cm
    assert 200.0 < float(ds.spco2.min()) and float(ds.spco2.max()) < 520.0


def test_river_units(mirror: Path) -> None:
    ds = open_registry_file("ocean_north_atlantic", "rivr2o_riverinputs_2000.nc")
    assert ds.river_din.attrs["units"] == "Mg N yr-1"
    assert float(ds.river_din.max()) > 0


def test_write_zarr_roundtrip(tmp_path: Path) -> None:
    ds = open_registry_file("ocean_north_atlantic", "GLORYS_NA_2012.nc")
    path = write_zarr(ds, tmp_path / "glorys.zarr")
    back = xr.open_zarr(path)
    xr.testing.assert_allclose(back.thetao.load(), ds.thetao)
    assert back.thetao.attrs["standard_name"] == "sea_water_potential_temperature"


def _copy_with(tmp_path: Path, name: str, edit) -> Path:
    from ecocube import data

    src = data.fetch_file("ocean_north_atlantic", name)
    with xr.open_dataset(src, decode_times=False) as ds:
        ds = edit(ds.load())
    out = tmp_path / name
    ds.to_netcdf(out)
    return out


def test_wrong_units_raise(tmp_path: Path) -> None:
    def relabel(ds: xr.Dataset) -> xr.Dataset:
        ds.thetao.attrs["units"] = "K"
        return ds

    path = _copy_with(tmp_path, "GLORYS_NA_2012.nc", relabel)
    with pytest.raises(UnitsError, match=r"'thetao' has units 'K'.*declares 'degC'"):
        open_source(path)


def test_kelvin_values_labelled_celsius_raise(tmp_path: Path) -> None:
    def to_kelvin(ds: xr.Dataset) -> xr.Dataset:
        attrs = dict(ds.thetao.attrs)
        ds["thetao"] = ds.thetao + 273.15
        ds.thetao.attrs = attrs
        return ds

    path = _copy_with(tmp_path, "GLORYS_NA_2012.nc", to_kelvin)
    with pytest.raises(UnitsError, match="look like Kelvin"):
        open_source(path)


def test_depth_units_checked(tmp_path: Path) -> None:
    def bad_depth(ds: xr.Dataset) -> xr.Dataset:
        ds.z_t.attrs["units"] = "fathoms"
        return ds

    path = _copy_with(tmp_path, "CESM_BGC_2012.nc", bad_depth)
    with pytest.raises(UnitsError, match="depth coordinate 'z_t' has units 'fathoms'"):
        open_source(path)


def test_missing_variable_raises(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "GLORYS_NA_2012.nc", lambda ds: ds.drop_vars("so"))
    with pytest.raises(MissingVariableError, match=r"missing variable\(s\) \['so'\]"):
        open_source(path, variables=["thetao", "so"])


def test_unknown_file_and_source_raise(tmp_path: Path) -> None:
    path = tmp_path / "mystery.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(path)
    with pytest.raises(InvalidInputError, match="cannot guess the source product"):
        open_source(path)
    with pytest.raises(InvalidInputError, match="unknown source product 'roms'"):
        open_source(path, "roms")


# -- ingestion through STAC items ----------------------------------------------------------------
@pytest.fixture(scope="module")
def ocean_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static catalog of both ocean registry datasets."""
    from ecocube.catalog import build_catalog

    cat = tmp_path_factory.mktemp("ingest") / "catalog"
    build_catalog(cat, list(OCEAN_DATASETS))
    return cat


def test_items_name_the_products_of_the_variable_registry() -> None:
    from ecocube.catalog._items_ocean import OCEAN_PRODUCTS
    from ecocube.ocean.variables import SOURCES

    assert OCEAN_PRODUCTS == tuple(SOURCES)
    assert set(FILE_SOURCES.values()) == set(SOURCES)


@pytest.mark.parametrize("filename", sorted(FILE_SOURCES))
def test_ingest_through_items_equals_the_file_path_bit_for_bit(
    ocean_catalog: Path, filename: str
) -> None:
    from ecocube import data
    from ecocube.catalog import load_items

    dataset = "ocean_global_cesm" if filename in GLOBAL_FILES else "ocean_north_atlantic"
    by_file = open_source(data.fetch_file(dataset, filename), FILE_SOURCES[filename])
    (item,) = [
        i
        for i in load_items(ocean_catalog)
        if Path(i.assets["data"].get_absolute_href()).name == filename
    ]
    assert item_product(item) == FILE_SOURCES[filename]
    xr.testing.assert_identical(open_item(item), by_file)
    # the old entry point reads the same file through its in-memory registry item
    xr.testing.assert_identical(open_registry_file(dataset, filename), by_file)


def test_ingest_item_writes_a_registered_cf_store(ocean_catalog: Path) -> None:
    from ecocube.catalog import validate_catalog
    from ecocube.cube import open_cube

    item = find_item("glorys12-physics-2012-north-atlantic", ocean_catalog)
    out = ocean_catalog / "ocean" / "glorys.zarr"
    path = ingest_item(item, out, variables=["thetao", "so"], catalog=ocean_catalog)
    stored = open_cube(path).load()
    xr.testing.assert_equal(stored[["thetao", "so"]], open_item(item, variables=["thetao", "so"]))
    assert stored.attrs["ecocube:product"] == "glorys"
    assert stored.attrs["ecocube:source_item"] == item.id
    assert stored["thetao"].attrs["units"] == "degC"
    root = pystac.Catalog.from_file(str(ocean_catalog / "catalog.json"))
    (registered,) = root.get_child("ocean-glorys").get_items()
    assert registered.properties["cube:variables"]["so"]["standard_name"] == "sea_water_salinity"
    assert validate_catalog(ocean_catalog) == []
    with pytest.raises(InvalidInputError, match="already exists; pass overwrite=True"):
        ingest_item(item, out, catalog=ocean_catalog)


def test_ocean_ingest_cli(ocean_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ecocube.cli import main

    out = ocean_catalog / "ocean" / "cesm.zarr"
    args = ["ocean", "ingest", "cesm-marbl-bgc-2012-north-atlantic", "--out", str(out)]
    assert main([*args, "--catalog", str(ocean_catalog), "--variables", "dissic,talk"]) == 0
    assert "registered item cesm-" in capsys.readouterr().out
    assert sorted(xr.open_zarr(out).data_vars) == ["dissic", "talk"]
    # without --catalog the item is found among the registry's items; nothing is registered
    other = ocean_catalog.parent / "river.zarr"
    assert main(["ocean", "ingest", "river-inputs-2000-north-atlantic", "--out", str(other)]) == 0
    assert "registered" not in capsys.readouterr().out
    assert main([*args, "--catalog", str(ocean_catalog)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--catalog", str(ocean_catalog.parent / "nocat"), "--overwrite"]) == 1
    assert "no STAC catalog found" in capsys.readouterr().err
    assert main(["ocean", "ingest", "nope", "--out", str(ocean_catalog.parent / "n.zarr")]) == 1
    assert "item='nope' is not in the registry's ocean datasets" in capsys.readouterr().err


def test_items_that_cannot_be_ingested_are_named(ocean_catalog: Path, tmp_path: Path) -> None:
    from ecocube.catalog._ocean_items import check_static_catalog

    with pytest.raises(InvalidInputError, match=r"item='nope' is not in .*'glorys12-physics"):
        find_item("nope", ocean_catalog)
    with pytest.raises(InvalidInputError, match=r"item='nope' is not in the registry's ocean"):
        find_item("nope")
    with pytest.raises(InvalidInputError, match=r"filename='x.nc' is not a file of the catal"):
        registry_item("ocean_north_atlantic", "x.nc")
    item = find_item("glorys12-physics-2012-north-atlantic")
    with pytest.raises(InvalidInputError, match=r"asset='zarr': item 'glorys12.* has no such"):
        open_item(item, asset="zarr")
    tif = item.clone()
    tif.assets["data"].media_type = "image/tiff"
    with pytest.raises(InvalidInputError, match=r"is 'image/tiff', not netCDF"):
        open_item(tif)
    remote = item.clone()
    remote.assets["data"].href = "https://example.org/GLORYS_NA_2012.nc"
    with pytest.raises(InvalidInputError, match=r"is remote \(https://example.org"):
        open_item(remote)
    gone = item.clone()
    gone.assets["data"].href = str(tmp_path / "GLORYS_NA_2012.nc")
    with pytest.raises(DatasetNotFoundError, match=r"GLORYS_NA_2012.nc does not exist"):
        open_item(gone)
    roms = item.clone()
    roms.properties["ecocube:ocean_product"] = "roms"
    with pytest.raises(InvalidInputError, match=r"product 'roms', which ingestion cannot map"):
        open_item(roms)
    with pytest.raises(CatalogError, match="is not a static STAC catalog"):
        ingest_item(item, tmp_path / "g.zarr", catalog=tmp_path)
    assert not (tmp_path / "g.zarr").exists()
    with pytest.raises(CatalogError, match="is not a static STAC catalog"):
        check_static_catalog(tmp_path / "catalog.json")
