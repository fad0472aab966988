"""One registry of ocean variables: CF standard names, CMIP short names, units and dimensions.

Every ocean variable ecocube reads or writes is declared once here (in the spirit of Veros'
``variables.py``); readers, writers and schemas derive from this table instead of repeating
strings. The canonical name of a variable is its CMIP6 ``Omon``/``Oday`` short name (``thetao``,
``dissic``, ``phyc``...), and its canonical units are the CMIP6 units, except that
concentrations are kept in ``mmol m-3`` (and chlorophyll in ``mg m-3``) as the models emit them:
the CMIP ``mol m-3`` would put every value in the 1e-4 range for no gain.

Native names of the source products (CESM2-MARBL, GLORYS12, ERA5, river export) map to these
names through :data:`SOURCES`, each with the units it must carry in the file and the linear
conversion ``canonical = native * scale + offset``.

Examples
--------
>>> from ecocube.ocean.variables import VARIABLES, native_mapping
>>> VARIABLES["thetao"].standard_name
'sea_water_potential_temperature'
>>> native_mapping("cesm_marbl")["spC"].name
'phypico'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ecocube.errors import InvalidInputError

__all__ = [
    "SOURCES",
    "VARIABLES",
    "NativeVariable",
    "Variable",
    "canonical_units",
    "get_variable",
    "native_mapping",
    "normalize_units",
    "schema",
]


@dataclass(frozen=True)
class Variable:
    """One canonical ocean variable.

    Attributes
    ----------
    name
        CMIP6 short name (``"thetao"``); the variable name in ecocube datasets.
    standard_name
        CF standard name (or the closest CF name, documented in ``comment``).
    long_name
        Human-readable description.
    units
        Canonical units (UDUNITS spelling).
    dims
        Canonical dimensions, outermost first (``time``, ``depth``, ``lat``, ``lon``).
    valid_range
        Physically plausible ``(min, max)`` in canonical units, used to catch mislabelled units
        (a temperature in Kelvin labelled ``degC``); ``None`` skips the check.
    comment
        Extra information (e.g. which MARBL group a phytoplankton variable stands for).
    """

    name: str
    standard_name: str
    long_name: str
    units: str
    dims: tuple[str, ...]
    valid_range: tuple[float, float] | None = None
    comment: str = ""

    def attrs(self) -> dict[str, str]:
        """CF attributes to attach to a DataArray holding this variable."""
        out = {
            "standard_name": self.standard_name,
            "long_name": self.long_name,
            "units": self.units,
        }
        if self.comment:
            out["comment"] = self.comment
        return out


_T3 = ("time", "depth", "lat", "lon")
_T2 = ("time", "lat", "lon")

_VARS: tuple[Variable, ...] = (
    # --- physics -----------------------------------------------------------------------------
    Variable(
        "thetao",
        "sea_water_potential_temperature",
        "Sea water potential temperature",
        "degC",
        _T3,
        (-3.0, 40.0),
    ),
    Variable(
        "tos", "sea_surface_temperature", "Sea surface temperature", "degC", _T2, (-3.0, 40.0)
    ),
    Variable("so", "sea_water_salinity", "Sea water salinity", "1e-3", _T3, (0.0, 45.0)),
    Variable(
        "uo", "sea_water_x_velocity", "Eastward sea water velocity", "m s-1", _T3, (-10.0, 10.0)
    ),
    Variable(
        "vo", "sea_water_y_velocity", "Northward sea water velocity", "m s-1", _T3, (-10.0, 10.0)
    ),
    Variable(
        "zos", "sea_surface_height_above_geoid", "Sea surface height", "m", _T2, (-10.0, 10.0)
    ),
    # --- carbonate system and nutrients --------------------------------------------------------
    Variable(
        "dissic",
        "mole_concentration_of_dissolved_inorganic_carbon_in_sea_water",
        "Dissolved inorganic carbon",
        "mmol m-3",
        _T3,
        (0.0, 6000.0),
    ),
    Variable(
        "talk",
        "sea_water_alkalinity_expressed_as_mole_equivalent",
        "Total alkalinity",
        "mmol m-3",
        _T3,
        (0.0, 6000.0),
        "MARBL ALK in meq m-3 (1 meq = 1 mmol equivalent)",
    ),
    Variable(
        "no3",
        "mole_concentration_of_nitrate_in_sea_water",
        "Dissolved nitrate",
        "mmol m-3",
        _T3,
        (-1.0, 100.0),
    ),
    Variable(
        "nh4",
        "mole_concentration_of_ammonium_in_sea_water",
        "Dissolved ammonium",
        "mmol m-3",
        _T3,
        (-1.0, 100.0),
    ),
    Variable(
        "po4",
        "mole_concentration_of_phosphate_in_sea_water",
        "Dissolved phosphate",
        "mmol m-3",
        _T3,
        (-0.1, 10.0),
    ),
    Variable(
        "si",
        "mole_concentration_of_silicate_in_sea_water",
        "Dissolved silicate",
        "mmol m-3",
        _T3,
        (-1.0, 300.0),
    ),
    Variable(
        "dfe",
        "mole_concentration_of_dissolved_iron_in_sea_water",
        "Dissolved iron",
        "mmol m-3",
        _T3,
        (-1e-3, 1.0),
    ),
    Variable(
        "o2",
        "mole_concentration_of_dissolved_molecular_oxygen_in_sea_water",
        "Dissolved oxygen",
        "mmol m-3",
        _T3,
        (-1.0, 600.0),
    ),
    Variable(
        "dissoc",
        "mole_concentration_of_dissolved_organic_carbon_in_sea_water",
        "Dissolved organic carbon",
        "mmol m-3",
        _T3,
        (-1.0, 1000.0),
    ),
    Variable(
        "calc",
        "mole_concentration_of_calcite_expressed_as_carbon_in_sea_water",
        "Calcite (particulate inorganic carbon)",
        "mmol m-3",
        _T3,
        (-1.0, 500.0),
    ),
    Variable(
        "omega_calcite",
        "",
        "Calcite saturation state",
        "1",
        _T3,
        (0.0, 20.0),
        "[Ca++][CO3--] / Ksp (Mucci 1983); no CF standard name",
    ),
    # --- plankton --------------------------------------------------------------------------------
    Variable(
        "chl",
        "mass_concentration_of_phytoplankton_expressed_as_chlorophyll_in_sea_water",
        "Total chlorophyll",
        "mg m-3",
        _T3,
        (-1.0, 100.0),
    ),
    Variable(
        "phyc",
        "mole_concentration_of_phytoplankton_expressed_as_carbon_in_sea_water",
        "Total phytoplankton carbon",
        "mmol m-3",
        _T3,
        (-1.0, 500.0),
    ),
    Variable(
        "phypico",
        "mole_concentration_of_picophytoplankton_expressed_as_carbon_in_sea_water",
        "Small phytoplankton carbon",
        "mmol m-3",
        _T3,
        (-1.0, 500.0),
        "MARBL small phytoplankton (spC) stands for pico/nano phytoplankton",
    ),
    Variable(
        "phydiat",
        "mole_concentration_of_diatoms_expressed_as_carbon_in_sea_water",
        "Diatom carbon",
        "mmol m-3",
        _T3,
        (-1.0, 500.0),
    ),
    Variable(
        "phydiaz",
        "mole_concentration_of_diazotrophic_phytoplankton_expressed_as_carbon_in_sea_water",
        "Diazotroph carbon",
        "mmol m-3",
        _T3,
        (-1.0, 500.0),
    ),
    Variable(
        "chlpico",
        "mass_concentration_of_picophytoplankton_expressed_as_chlorophyll_in_sea_water",
        "Small phytoplankton chlorophyll",
        "mg m-3",
        _T3,
        (-1.0, 100.0),
    ),
    Variable(
        "chldiat",
        "mass_concentration_of_diatoms_expressed_as_chlorophyll_in_sea_water",
        "Diatom chlorophyll",
        "mg m-3",
        _T3,
        (-1.0, 100.0),
    ),
    Variable(
        "chldiaz",
        "mass_concentration_of_diazotrophs_expressed_as_chlorophyll_in_sea_water",
        "Diazotroph chlorophyll",
        "mg m-3",
        _T3,
        (-1.0, 100.0),
    ),
    Variable(
        "zooc",
        "mole_concentration_of_zooplankton_expressed_as_carbon_in_sea_water",
        "Zooplankton carbon",
        "mmol m-3",
        _T3,
        (-1.0, 500.0),
    ),
    Variable(
        "intpp",
        "net_primary_mole_productivity_of_biomass_expressed_as_carbon_by_phytoplankton",
        "Depth-integrated net primary production",
        "mmol m-2 d-1",
        _T2,
        (-10.0, 1e4),
    ),
    Variable(
        "intpcalcite",
        "tendency_of_ocean_mole_content_of_calcite_expressed_as_carbon_due_to_biological_production",
        "Depth-integrated calcite production",
        "mmol m-2 d-1",
        _T2,
        (-10.0, 1e4),
    ),
    # --- air-sea exchange -------------------------------------------------------------------------
    Variable(
        "spco2",
        "surface_partial_pressure_of_carbon_dioxide_in_sea_water",
        "Surface ocean pCO2",
        "uatm",
        _T2,
        (0.0, 2000.0),
    ),
    Variable(
        "fgco2",
        "surface_downward_mole_flux_of_carbon_dioxide",
        "Air-sea CO2 flux (positive into the ocean)",
        "mmol m-2 d-1",
        _T2,
        (-1e3, 1e3),
        "CF sign convention: positive downward (ocean uptake)",
    ),
    # --- atmospheric forcing (ERA5) ----------------------------------------------------------------
    Variable(
        "tas", "air_temperature", "Near-surface (2 m) air temperature", "degC", _T2, (-90.0, 60.0)
    ),
    Variable(
        "tdps", "dew_point_temperature", "2 m dew-point temperature", "degC", _T2, (-100.0, 60.0)
    ),
    Variable("uas", "eastward_wind", "Eastward 10 m wind", "m s-1", _T2, (-100.0, 100.0)),
    Variable("vas", "northward_wind", "Northward 10 m wind", "m s-1", _T2, (-100.0, 100.0)),
    Variable(
        "psl", "air_pressure_at_mean_sea_level", "Mean sea-level pressure", "Pa", _T2, (8e4, 1.1e5)
    ),
    Variable(
        "rsds",
        "surface_downwelling_shortwave_flux_in_air",
        "Accumulated downward short-wave radiation",
        "J m-2",
        _T2,
        (0.0, 1e8),
    ),
    Variable(
        "rsns",
        "surface_net_downward_shortwave_flux",
        "Accumulated net short-wave radiation",
        "J m-2",
        _T2,
        (-1e8, 1e8),
    ),
    Variable(
        "rlds",
        "surface_downwelling_longwave_flux_in_air",
        "Accumulated downward long-wave radiation",
        "J m-2",
        _T2,
        (0.0, 1e8),
    ),
    Variable(
        "rlns",
        "surface_net_downward_longwave_flux",
        "Accumulated net long-wave radiation",
        "J m-2",
        _T2,
        (-1e8, 1e8),
    ),
    Variable(
        "hfls",
        "surface_upward_latent_heat_flux",
        "Accumulated latent heat flux (ECMWF sign: positive downward)",
        "J m-2",
        _T2,
        (-1e8, 1e8),
    ),
    Variable(
        "hfss",
        "surface_upward_sensible_heat_flux",
        "Accumulated sensible heat flux (ECMWF sign: positive downward)",
        "J m-2",
        _T2,
        (-1e8, 1e8),
    ),
    Variable(
        "pr",
        "lwe_thickness_of_precipitation_amount",
        "Accumulated total precipitation",
        "m",
        _T2,
        (0.0, 10.0),
    ),
    # --- rivers ------------------------------------------------------------------------------------
    Variable(
        "river_din",
        "",
        "River dissolved inorganic nitrogen export",
        "Mg N yr-1",
        ("lat", "lon"),
        (0.0, 1e9),
        "10^6 g = 1 Mg",
    ),
    Variable(
        "river_dip",
        "",
        "River dissolved inorganic phosphorus export",
        "Mg P yr-1",
        ("lat", "lon"),
        (0.0, 1e9),
    ),
    Variable(
        "river_dic",
        "",
        "River dissolved inorganic carbon export",
        "Mg C yr-1",
        ("lat", "lon"),
        (0.0, 1e9),
    ),
    Variable(
        "river_doc",
        "",
        "River dissolved organic carbon export (labile + semi-labile)",
        "Mg C yr-1",
        ("lat", "lon"),
        (0.0, 1e9),
    ),
    Variable(
        "river_poc",
        "",
        "River particulate organic carbon export",
        "Mg C yr-1",
        ("lat", "lon"),
        (0.0, 1e9),
    ),
)

#: Every canonical variable by CMIP short name (read-only).
VARIABLES: Mapping[str, Variable] = MappingProxyType({v.name: v for v in _VARS})


@dataclass(frozen=True)
class NativeVariable:
    """How one native variable of a source product maps to a canonical variable.

    ``canonical = native * scale + offset`` once the file's ``units`` attribute has been checked
    against ``units`` (see :func:`normalize_units`).
    """

    native: str
    name: str
    units: str
    scale: float = 1.0
    offset: float = 0.0

    @property
    def variable(self) -> Variable:
        """The canonical :class:`Variable`."""
        return VARIABLES[self.name]


@dataclass(frozen=True)
class _Source:
    description: str
    variables: tuple[NativeVariable, ...]
    dims: Mapping[str, str] = field(default_factory=dict)


_MMOL = "mmol m-3"
_MGM3 = "mg m-3"
SOURCES: Mapping[str, _Source] = MappingProxyType(
    {
        "cesm_marbl": _Source(
            "CESM2 POP2-MARBL ocean biogeochemistry (depth z_t in cm)",
            (
                NativeVariable("DIC", "dissic", _MMOL),
                NativeVariable("ALK", "talk", _MMOL),
                NativeVariable("NO3", "no3", _MMOL),
                NativeVariable("NH4", "nh4", _MMOL),
                NativeVariable("PO4", "po4", _MMOL),
                NativeVariable("SiO3", "si", _MMOL),
                NativeVariable("Fe", "dfe", _MMOL),
                NativeVariable("O2", "o2", _MMOL),
                NativeVariable("DOC", "dissoc", _MMOL),
                NativeVariable("spC", "phypico", _MMOL),
                NativeVariable("diatC", "phydiat", _MMOL),
                NativeVariable("diazC", "phydiaz", _MMOL),
                NativeVariable("spChl", "chlpico", _MGM3),
                NativeVariable("diatChl", "chldiat", _MGM3),
                NativeVariable("diazChl", "chldiaz", _MGM3),
                NativeVariable("zooC", "zooc", _MMOL),
                NativeVariable("pCO2SURF", "spco2", "uatm"),
            ),
        ),
        "glorys": _Source(
            "Mercator GLORYS12V1 physics reanalysis",
            (
                NativeVariable("thetao", "thetao", "degC"),
                NativeVariable("so", "so", "1e-3"),
                NativeVariable("uo", "uo", "m s-1"),
                NativeVariable("vo", "vo", "m s-1"),
                NativeVariable("zos", "zos", "m"),
            ),
            {"latitude": "lat", "longitude": "lon"},
        ),
        "era5": _Source(
            "ECMWF ERA5 single-level surface fields",
            (
                NativeVariable("t2m", "tas", "K", 1.0, -273.15),
                NativeVariable("d2m", "tdps", "K", 1.0, -273.15),
                NativeVariable("sst", "tos", "K", 1.0, -273.15),
                NativeVariable("u10", "uas", "m s-1"),
                NativeVariable("v10", "vas", "m s-1"),
                NativeVariable("msl", "psl", "Pa"),
                NativeVariable("ssrd", "rsds", "J m-2"),
                NativeVariable("ssr", "rsns", "J m-2"),
                NativeVariable("strd", "rlds", "J m-2"),
                NativeVariable("str", "rlns", "J m-2"),
                NativeVariable("slhf", "hfls", "J m-2"),
                NativeVariable("sshf", "hfss", "J m-2"),
                NativeVariable("tp", "pr", "m"),
            ),
            {"latitude": "lat", "longitude": "lon"},
        ),
        "river": _Source(
            "Mean river export of nutrients and carbon to the ocean",
            (
                NativeVariable("DIN", "river_din", "Mg N yr-1"),
                NativeVariable("DIP", "river_dip", "Mg P yr-1"),
                NativeVariable("DIC", "river_dic", "Mg C yr-1"),
                NativeVariable("DOC_l", "river_doc", "Mg C yr-1"),
                NativeVariable("POC", "river_poc", "Mg C yr-1"),
            ),
        ),
    }
)

# Spellings of the same unit found in the wild -> the UDUNITS spelling used above.
_UNIT_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "degc": "degC",
        "degrees_c": "degC",
        "degree_c": "degC",
        "degrees_celsius": "degC",
        "celsius": "degC",
        "°c": "degC",
        "c": "degC",
        "k": "K",
        "kelvin": "K",
        "degrees_k": "K",
        "mmol/m^3": _MMOL,
        "mmol m-3": _MMOL,
        "mmol m^-3": _MMOL,
        "mmol/m3": _MMOL,
        "meq/m^3": _MMOL,
        "meq m-3": _MMOL,
        "neq/cm3": _MMOL,
        "nmol/cm^3": _MMOL,
        "mg/m^3": _MGM3,
        "mg m-3": _MGM3,
        "mg m^-3": _MGM3,
        "1e-3": "1e-3",
        "psu": "1e-3",
        "0.001": "1e-3",
        "m s-1": "m s-1",
        "m s**-1": "m s-1",
        "m/s": "m s-1",
        "m": "m",
        "pa": "Pa",
        "j m**-2": "J m-2",
        "j m-2": "J m-2",
        "ppmv": "uatm",
        "uatm": "uatm",
        "µatm": "uatm",
        "10^6 g n yr-1": "Mg N yr-1",
        "10^6 g p yr-1": "Mg P yr-1",
        "10^6 g c yr-1": "Mg C yr-1",
        "centimeters": "cm",
        "centimetres": "cm",
        "cm": "cm",
        "meters": "m",
        "metres": "m",
    }
)


def normalize_units(units: str | None) -> str | None:
    """Return the UDUNITS spelling ecocube uses for ``units`` (``None`` if unknown).

    ``pCO2SURF`` in ppmv is taken as µatm (the mole fraction in dry air at 1 atm total pressure,
    a < 1 % approximation MARBL itself makes).
    """
    if units is None:
        return None
    return _UNIT_ALIASES.get(" ".join(str(units).strip().lower().split()))


def get_variable(name: str) -> Variable:
    """Return the canonical :class:`Variable` called ``name``.

    Raises
    ------
    InvalidInputError
        If ``name`` is not registered; the message lists the valid names.
    """
    try:
        return VARIABLES[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown ocean variable {name!r}; valid names: {', '.join(sorted(VARIABLES))}"
        ) from None


def canonical_units(name: str) -> str:
    """Canonical units of variable ``name`` (see :func:`get_variable`)."""
    return get_variable(name).units


def native_mapping(source: str) -> dict[str, NativeVariable]:
    """Native-name -> :class:`NativeVariable` table of one source product.

    Parameters
    ----------
    source
        One of ``"cesm_marbl"``, ``"glorys"``, ``"era5"``, ``"river"``.

    Raises
    ------
    InvalidInputError
        If ``source`` is unknown.
    """
    if source not in SOURCES:
        raise InvalidInputError(
            f"unknown source product {source!r}; valid sources: {', '.join(SOURCES)}"
        )
    return {nv.native: nv for nv in SOURCES[source].variables}


def schema(names: list[str] | tuple[str, ...] | None = None) -> dict[str, dict[str, object]]:
    """Schema of a dataset holding ``names`` (all variables by default): dims, units, CF names.

    Returns
    -------
    dict
        ``{name: {"dims": (...), "units": str, "standard_name": str, "long_name": str}}``, the
        form cube writers and validators consume.
    """
    chosen = list(VARIABLES) if names is None else list(names)
    return {
        n: {
            "dims": get_variable(n).dims,
            "units": get_variable(n).units,
            "standard_name": get_variable(n).standard_name,
            "long_name": get_variable(n).long_name,
        }
        for n in chosen
    }
