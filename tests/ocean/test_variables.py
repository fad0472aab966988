"""The ocean variable registry: CF names, units, dims and native-name mappings."""

from __future__ import annotations

import pytest

from ecocube.errors import InvalidInputError
from ecocube.ocean.variables import (
    SOURCES,
    VARIABLES,
    canonical_units,
    get_variable,
    native_mapping,
    normalize_units,
    schema,
)


def test_core_variables_have_cf_names_units_and_dims() -> None:
    for name in (
        "thetao",
        "so",
        "uo",
        "vo",
        "zos",
        "dissic",
        "talk",
        "no3",
        "po4",
        "si",
        "dfe",
        "o2",
        "chl",
        "phyc",
        "phydiat",
        "phydiaz",
        "phypico",
        "zooc",
        "fgco2",
        "spco2",
        "tos",
        "intpp",
    ):
        var = VARIABLES[name]
        assert var.name == name
        assert var.units
        assert var.dims[0] == "time"
    assert get_variable("thetao").standard_name == "sea_water_potential_temperature"
    assert get_variable("fgco2").standard_name.startswith("surface_downward")
    assert canonical_units("dissic") == "mmol m-3"


def test_every_native_variable_maps_to_a_registered_name() -> None:
    for source in SOURCES:
        for native, nv in native_mapping(source).items():
            assert nv.native == native
            assert nv.name in VARIABLES


def test_marbl_groups_and_era5_kelvin_conversion() -> None:
    marbl = native_mapping("cesm_marbl")
    assert (marbl["spC"].name, marbl["diatC"].name, marbl["diazC"].name) == (
        "phypico",
        "phydiat",
        "phydiaz",
    )
    t2m = native_mapping("era5")["t2m"]
    assert t2m.units == "K"
    assert 273.15 * t2m.scale + t2m.offset == pytest.approx(0.0)


def test_unit_spellings_normalise() -> None:
    assert normalize_units("degrees_C") == "degC"
    assert normalize_units("mmol/m^3") == normalize_units("meq/m^3") == "mmol m-3"
    assert normalize_units("m s**-1") == "m s-1"
    assert normalize_units("centimeters") == "cm"
    assert normalize_units("furlongs") is None
    assert normalize_units(None) is None


def test_schema_is_derived_from_the_registry() -> None:
    sch = schema(["thetao", "chl"])
    assert sch["thetao"]["units"] == "degC"
    assert sch["chl"]["dims"] == ("time", "depth", "lat", "lon")
    assert set(schema()) == set(VARIABLES)


def test_unknown_names_raise() -> None:
    with pytest.raises(InvalidInputError, match="unknown ocean variable 'temp'"):
        get_variable("temp")
    with pytest.raises(InvalidInputError, match="unknown source product 'nemo'"):
        native_mapping("nemo")
