"""One registry of the ocean model's parameters, with units and citations.

Every constant of the water column (:mod:`ecocube.ocean.physics`), the phytoplankton model
(:mod:`ecocube.ocean.biology`), the air-sea CO2 exchange and the calcite cycle
(:mod:`ecocube.ocean.carbonate`) is a field of a frozen dataclass here; the field's metadata
holds its units and its source, so the table in ``ocean/README.md`` and :func:`parameter_table`
derive from one place.

:data:`DEFAULT_PHYTO` holds four types: the three of :data:`THREE_TYPES` (diatoms, nano- and
picophytoplankton), which respond to CO2, and a coccolithophore-like calcifier. ``THREE_TYPES``
is the community of the model before calcifiers and CO2 responses were added (every
acidification trait neutral): ``ModelParameters(phyto=THREE_TYPES)`` rebuilds that model.

Examples
--------
>>> from ecocube.ocean.parameters import DEFAULT_PARAMETERS, parameter_table
>>> DEFAULT_PARAMETERS.phyto[0].name
'diatom'
>>> "mu_max" in set(parameter_table()["name"])
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COCCO",
    "DEFAULT_PARAMETERS",
    "DEFAULT_PHYTO",
    "THREE_TYPES",
    "CarbonateParameters",
    "ModelParameters",
    "PhysicsParameters",
    "PhytoType",
    "parameter_table",
]


def _p(default: Any, units: str, source: str, description: str) -> Any:
    return field(
        default=default,
        metadata={"units": units, "source": source, "description": description},
    )


_BR12 = "Bernard & Remond (2012) Bioresour. Technol. 123:520-527"
_ROSSO = "Rosso et al. (1993) J. Theor. Biol. 162:447-463"
_DROOP = "Droop (1968) J. Mar. Biol. Assoc. UK 48:689-733; Bernard (2011) Ecol. Model. 222:104"
_EPPLEY = "Eppley (1972) Fish. Bull. 70:1063; Thomas et al. (2012) Science 338:1085"
_LARGE = "Large, McWilliams & Doney (1994) Rev. Geophys. 32:363 (KPP)"
_PP81 = "Pacanowski & Philander (1981) J. Phys. Oceanogr. 11:1443"
_RIDGWELL = "Ridgwell et al. (2007) Biogeosciences 4:87 (PIC:POC ~ (Omega-1)^eta, eta = 0.81)"
_CALC_K = (
    "calibrated: a CO2 doubling (400 -> 800 uatm; Omega 3.75 -> 2.21 at 15 degC, TA 2300) "
    "lowers calcification by 30 %, mid-range of the 20-40 % in Riebesell (2004) J. Oceanogr. "
    "60:719"
)
_DUTKIEWICZ = (
    "Dutkiewicz et al. (2015) Nat. Clim. Change 5:1002 (sign and rough size of the group "
    "response to high CO2)"
)
_AUMONT = "Aumont et al. (2015) Geosci. Model Dev. 8:2465 (PISCES-v2)"


@dataclass(frozen=True)
class PhytoType:
    """Traits of one phytoplankton functional type (Droop quota model with CTMI and light).

    Carbon biomass ``X`` (mmol C m-3) grows at
    ``mu = mu_max * CTMI(T) * f_I(I) * (1 - q_min / Q)`` where ``Q`` (mol N mol C-1) is the
    internal nitrogen quota; nitrate uptake is ``rho_max * N / (N + k_n) * (q_max - Q) /
    (q_max - q_min)`` per unit carbon.

    The acidification traits (:mod:`ecocube.ocean.biology`, ``calcification_factor``,
    ``omega_growth_factor``, ``co2_growth_factor``) are neutral by default: ``pic_poc = 0``
    (no calcite), ``omega_growth_half = 0`` (growth independent of Omega) and
    ``co2_growth = 0`` (growth independent of pCO2).
    """

    name: str = _p("generic", "", "", "Functional type")
    mu_max: float = _p(1.5, "d-1", _EPPLEY, "Maximum specific growth rate at T_opt, I_opt")
    t_min: float = _p(-2.0, "degC", _ROSSO, "CTMI minimum temperature")
    t_opt: float = _p(15.0, "degC", _ROSSO, "CTMI optimal temperature")
    t_max: float = _p(30.0, "degC", _ROSSO, "CTMI maximum temperature")
    alpha: float = _p(0.02, "d-1 (W m-2)-1", _BR12, "Initial slope of the light response")
    i_opt: float = _p(60.0, "W m-2", _BR12, "Irradiance (PAR) of maximal growth")
    q_min: float = _p(0.05, "mol N mol C-1", _DROOP, "Subsistence quota Q_0")
    q_max: float = _p(0.20, "mol N mol C-1", _DROOP, "Maximal quota Q_L")
    rho_max: float = _p(0.25, "mol N mol C-1 d-1", _DROOP, "Maximal nitrate uptake rate")
    k_n: float = _p(1.0, "mmol N m-3", _DROOP, "Half-saturation constant of nitrate uptake")
    chl_n: float = _p(2.0, "mg Chl (mmol N)-1", "Geider et al. (1998) L&O 43:679", "Chl:N ratio")
    mortality: float = _p(
        0.05,
        "d-1",
        "Fasham et al. (1990) J. Mar. Res. 48:591",
        "Linear mortality (lysis, respiration)",
    )
    grazing: float = _p(
        0.02,
        "m3 (mmol C)-1 d-1",
        "Steele & Henderson (1992) J. Plankton Res.",
        "Quadratic mortality standing for implicit grazing",
    )
    pic_poc: float = _p(
        0.0,
        "mol C (mol C)-1",
        "Zondervan (2007) Deep-Sea Res. II 54:521; " + _RIDGWELL,
        "Calcite (PIC) produced per unit of organic carbon fixed, at the reference saturation "
        "state (0: not a calcifier)",
    )
    calc_exponent: float = _p(
        0.81,
        "1",
        _RIDGWELL,
        "Exponent eta of the calcification response (Omega-1)^eta / (K + (Omega-1)^eta)",
    )
    calc_half_saturation: float = _p(
        1.9,
        "1",
        _CALC_K,
        "Half-saturation K of the calcification response to (Omega-1)^eta",
    )
    omega_growth_half: float = _p(
        0.0,
        "1",
        "none (0: growth independent of Omega)",
        "Half-saturation of growth in the calcite saturation state, Omega / (K + Omega)",
    )
    co2_growth: float = _p(
        0.0,
        "uatm-1",
        "none (0: growth independent of pCO2)",
        "Relative change of the growth rate per uatm of pCO2 change",
    )


#: The three types of the model before acidification responses (every acidification trait
#: neutral), spanning the thermal niche axis: cold/eutrophic diatoms, temperate
#: nanophytoplankton, warm oligotrophic picophytoplankton. ``ModelParameters(phyto=THREE_TYPES)``
#: is that model.
THREE_TYPES: tuple[PhytoType, ...] = (
    PhytoType(
        "diatom",
        mu_max=2.0,
        t_min=-2.0,
        t_opt=12.0,
        t_max=24.0,
        alpha=0.025,
        i_opt=80.0,
        q_min=0.05,
        q_max=0.20,
        rho_max=0.30,
        k_n=2.0,
        grazing=0.03,
    ),
    PhytoType(
        "nano",
        mu_max=1.5,
        t_min=0.0,
        t_opt=18.0,
        t_max=28.0,
        alpha=0.03,
        i_opt=60.0,
        q_min=0.045,
        q_max=0.18,
        rho_max=0.22,
        k_n=0.8,
        grazing=0.02,
    ),
    PhytoType(
        "pico",
        mu_max=1.2,
        t_min=4.0,
        t_opt=22.0,
        t_max=32.0,
        alpha=0.04,
        i_opt=40.0,
        q_min=0.04,
        q_max=0.16,
        rho_max=0.18,
        k_n=0.2,
        grazing=0.015,
    ),
)

#: Growth change per uatm of pCO2 of the non-calcifiers (positive: CO2 fertilisation).
_CO2_GROWTH = {"diatom": 1.0e-4, "nano": 0.5e-4, "pico": 0.25e-4}

#: A coccolithophore-like calcifier (Emiliania huxleyi): traits between nano- and
#: picophytoplankton, calcite production falling with Omega, growth falling slightly with it.
COCCO: PhytoType = PhytoType(
    "cocco",
    mu_max=1.35,
    t_min=2.0,
    t_opt=20.0,
    t_max=30.0,
    alpha=0.035,
    i_opt=50.0,
    q_min=0.0425,
    q_max=0.17,
    rho_max=0.20,
    k_n=0.5,
    grazing=0.0175,
    pic_poc=0.8,
    omega_growth_half=0.3,
)

#: Default community: the three types of :data:`THREE_TYPES` with their CO2 responses, and the
#: calcifier :data:`COCCO` last (the first three keep their positions).
DEFAULT_PHYTO: tuple[PhytoType, ...] = (
    *(dataclasses.replace(p, co2_growth=_CO2_GROWTH[p.name]) for p in THREE_TYPES),
    COCCO,
)


@dataclass(frozen=True)
class PhysicsParameters:
    """Water column, light, detritus and air-sea exchange constants."""

    depth: float = _p(150.0, "m", "choice", "Water-column depth (closed bottom)")
    k_background: float = _p(1e-5, "m2 s-1", _PP81, "Background (internal-wave) diffusivity")
    k_convective: float = _p(0.1, "m2 s-1", _LARGE, "Diffusivity where N2 < 0")
    ri_critical: float = _p(0.3, "1", _LARGE, "Critical bulk Richardson number")
    h_min: float = _p(10.0, "m", "choice", "Minimum boundary-layer depth")
    von_karman: float = _p(0.4, "1", _LARGE, "von Karman constant")
    drag: float = _p(
        1.3e-3, "1", "Large & Pond (1981) J. Phys. Oceanogr. 11:324", "Wind drag coefficient C_D"
    )
    rho_air: float = _p(1.22, "kg m-3", "standard atmosphere", "Air density")
    rho_water: float = _p(1025.0, "kg m-3", "standard", "Sea water density")
    cp_water: float = _p(3990.0, "J kg-1 K-1", "TEOS-10", "Sea water heat capacity")
    thermal_expansion: float = _p(2e-4, "K-1", "linear EOS", "Thermal expansion coefficient")
    heat_exchange: float = _p(
        60.0,
        "W m-2 K-1",
        "Haney (1971) J. Phys. Oceanogr. 1:241",
        "Restoring coefficient of the surface heat flux",
    )
    deep_restore_depth: float = _p(
        100.0,
        "m",
        "choice",
        "Layers deeper than this are restored to the deep water "
        "(lateral supply below the seasonal thermocline)",
    )
    relax_deep_days: float = _p(
        30.0,
        "d",
        "choice",
        "Relaxation time of the bottom layer to deep temperature, nitrate and DIC",
    )
    k_water: float = _p(0.04, "m-1", "Morel (1988) JGR 93:10749", "PAR attenuation by water")
    k_chl: float = _p(
        0.025,
        "m-1 (mg Chl m-3)-1",
        "Morel (1988); self-shading",
        "PAR attenuation by chlorophyll (self-shading)",
    )
    par_fraction: float = _p(0.43, "1", "Baker & Frouin (1987) L&O 32:1370", "PAR / shortwave")
    sw_mean: float = _p(180.0, "W m-2", "choice (mid-latitude)", "Annual mean shortwave")
    sw_amplitude: float = _p(120.0, "W m-2", "choice (mid-latitude)", "Seasonal amplitude")
    remineralisation: float = _p(0.1, "d-1", "Fasham et al. (1990)", "Detritus remineralisation")
    sinking: float = _p(5.0, "m d-1", "Fasham et al. (1990)", "Detritus sinking speed")
    salinity: float = _p(35.0, "1e-3", "choice", "Salinity (constant)")
    deep_offset: float = _p(
        -2.0,
        "degC",
        "choice",
        "Deep temperature below the winter minimum restoring temperature "
        "(negative: mode water the winter convection reaches)",
    )
    t_mean: float = _p(14.0, "degC", "choice", "Annual mean surface restoring temperature")
    dic_deep: float = _p(2150.0, "mmol m-3", "GLODAP mid-latitude", "Deep DIC")
    dic_surface: float = _p(2110.0, "mmol m-3", "GLODAP mid-latitude", "Initial surface DIC")
    talk: float = _p(2300.0, "mmol m-3", "GLODAP mid-latitude", "Initial alkalinity")
    wind_amplitude: float = _p(0.3, "1", "choice", "Seasonal relative amplitude of the wind")


@dataclass(frozen=True)
class CarbonateParameters:
    """Particulate calcite (PIC): sinking and dissolution.

    PIC sinks at ``pic_sinking`` and dissolves at the specific rate
    ``k (1 - Omega)_+^n + pic_sinking / pic_dissolution_length``
    (:func:`ecocube.ocean.carbonate.calcite_dissolution_rate`): kinetically in undersaturated
    water and, above the saturation horizon, with the e-folding length of the flux that
    stands for dissolution in guts and aggregates.
    """

    pic_sinking: float = _p(
        10.0,
        "m d-1",
        "choice, between free coccoliths (< 1 m d-1) and faecal pellets (> 100 m d-1), "
        "Honjo (1976) Mar. Micropaleontol. 1:65",
        "Sinking speed of particulate calcite",
    )
    pic_dissolution_rate: float = _p(
        0.197,
        "d-1",
        _AUMONT,
        "Rate constant k of calcite dissolution in undersaturated water",
    )
    pic_dissolution_order: float = _p(
        1.0,
        "1",
        _AUMONT + "; Keir (1980) Geochim. Cosmochim. Acta 44:241 for the rate law",
        "Order n of the dissolution in the undersaturation (1 - Omega)",
    )
    pic_dissolution_length: float = _p(
        500.0,
        "m",
        "MARBL parm_CaCO3_diss, Long et al. (2021) J. Adv. Model. Earth Syst. "
        "13:e2021MS002647; Milliman et al. (1999) Deep-Sea Res. I 46:1653",
        "E-folding length of the calcite flux above the saturation horizon",
    )


@dataclass(frozen=True)
class ModelParameters:
    """All parameters of the full ocean model (one registry)."""

    phyto: tuple[PhytoType, ...] = DEFAULT_PHYTO
    physics: PhysicsParameters = PhysicsParameters()
    carbonate: CarbonateParameters = CarbonateParameters()

    @property
    def type_names(self) -> list[str]:
        """Names of the phytoplankton types, in order."""
        return [p.name for p in self.phyto]


DEFAULT_PARAMETERS = ModelParameters()


def parameter_table(params: ModelParameters = DEFAULT_PARAMETERS) -> pd.DataFrame:
    """Every parameter as a table: ``group, name, value, units, source, description``."""
    import pandas as pd

    rows = []
    for group, values in (("physics", params.physics), ("carbonate", params.carbonate)):
        for f in dataclasses.fields(values):
            rows.append((group, f.name, getattr(values, f.name), *_meta(f)))
    for ptype in params.phyto:
        for f in dataclasses.fields(ptype):
            if f.name != "name":
                rows.append((ptype.name, f.name, getattr(ptype, f.name), *_meta(f)))
    return pd.DataFrame(rows, columns=["group", "name", "value", "units", "source", "description"])


def _meta(f: dataclasses.Field) -> tuple[str, str, str]:
    return f.metadata["units"], f.metadata["source"], f.metadata["description"]
