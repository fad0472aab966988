"""Ingestion of the mirror's CESM2-MARBL, GLORYS, ERA5 and river files (real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean.ingest import (
    MissingVariableError,
    UnitsError,
    open_marbl_climatology,
    open_registry_file,
    open_source,
    write_zarr,
)
from tests.conftest import requires_mirror

pytestmark = requires_mirror


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
