"""Seawater carbonate chemistry and the air-sea CO2 flux (batched, PyTorch).

Equilibrium constants on the total pH scale, mol kg-1:

- ``K0`` CO2 solubility, Weiss (1974) Mar. Chem. 2:203 (mol kg-1 atm-1);
- ``K1, K2`` carbonic acid, Lueker, Dickson & Keeling (2000) Mar. Chem. 70:105;
- ``KB`` boric acid, Dickson (1990) Deep-Sea Res. 37:755; total boron Uppstrom (1974);
- ``KW`` water, Millero (1995) Geochim. Cosmochim. Acta 59:661.

``[H+]`` solves ``TA = [HCO3-] + 2[CO3--] + [B(OH)4-] + [OH-] - [H+]`` (phosphate, silicate
and the free/total scale difference of ``[H+]`` are neglected: < 0.5 % on pCO2 at pH 8) by
safeguarded Newton iterations in ``ln [H+]``. ``pCO2 = [CO2*] / K0``. The flux follows
Wanninkhof (2014) L&O Methods 12:351: ``k = 0.251 U^2 (Sc/660)^-0.5`` cm h-1 and
``F = k K0 (pCO2_atm - pCO2_sea)``, positive downward (into the ocean) as in CF ``fgco2``.

The calcite saturation state ``Omega = [Ca++][CO3--] / Ksp`` uses the stoichiometric solubility
product of Mucci (1983) Am. J. Sci. 283:780 (mol2 kg-2) and total calcium from salinity after
Riley & Tongudai (1967) Chem. Geol. 2:263. Ksp is at 1 atm unless a gauge pressure is given
(correction of Ingle 1975 / Millero 1979 as in CO2SYS); the pressure effect on K1, K2, KB and
KW is not included, so ``Omega`` below the surface is the surface-pressure chemistry with a
pressure-corrected Ksp (2 % lower Omega per 150 m for Ksp alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import Tensor

__all__ = [
    "calcite_dissolution_rate",
    "calcium_riley",
    "carbonate_ion",
    "carbonate_system",
    "co2_flux",
    "equilibrium_constants",
    "k0_weiss",
    "k1_k2_lueker",
    "kb_dickson",
    "ksp_calcite_mucci",
    "kw_millero",
    "omega_calcite",
    "pco2",
    "ph_total",
    "schmidt_co2",
    "transfer_velocity",
]

#: Seawater density used to convert mmol m-3 to umol kg-1 (kg m-3).
RHO_SW = 1025.0

#: Gas constant in cm3 bar K-1 mol-1 (CODATA 2018), for the pressure correction of Ksp.
R_CM3_BAR = 83.14462618


def _kelvin(temp_c: Tensor) -> Tensor:
    return temp_c + 273.15


def k0_weiss(temp_c: Tensor, salinity: Tensor | float) -> Tensor:
    """CO2 solubility K0 (mol kg-1 atm-1), Weiss (1974) eq. 12 with the mol kg-1 constants."""
    import torch

    t100 = _kelvin(temp_c) / 100.0
    ln_k0 = (
        -60.2409
        + 93.4517 / t100
        + 23.3585 * torch.log(t100)
        + salinity * (0.023517 - 0.023656 * t100 + 0.0047036 * t100**2)
    )
    return torch.exp(ln_k0)


def k1_k2_lueker(temp_c: Tensor, salinity: Tensor | float) -> tuple[Tensor, Tensor]:
    """First and second dissociation constants of carbonic acid (mol kg-1), Lueker et al. 2000."""
    import torch

    tk = _kelvin(temp_c)
    pk1 = 3633.86 / tk - 61.2172 + 9.6777 * torch.log(tk) - 0.011555 * salinity
    pk1 = pk1 + 0.0001152 * salinity**2
    pk2 = 471.78 / tk + 25.9290 - 3.16967 * torch.log(tk) - 0.01781 * salinity
    pk2 = pk2 + 0.0001122 * salinity**2
    return 10.0 ** (-pk1), 10.0 ** (-pk2)


def kb_dickson(temp_c: Tensor, salinity: Tensor | float) -> Tensor:
    """Boric acid dissociation constant KB (mol kg-1, total scale), Dickson (1990)."""
    import torch

    tk = _kelvin(temp_c)
    s = torch.as_tensor(salinity, dtype=tk.dtype, device=tk.device)
    sq = torch.sqrt(s)
    ln_kb = (
        (-8966.90 - 2890.53 * sq - 77.942 * s + 1.728 * s * sq - 0.0996 * s**2) / tk
        + (148.0248 + 137.1942 * sq + 1.62142 * s)
        + (-24.4344 - 25.085 * sq - 0.2474 * s) * torch.log(tk)
        + 0.053105 * sq * tk
    )
    return torch.exp(ln_kb)


def kw_millero(temp_c: Tensor, salinity: Tensor | float) -> Tensor:
    """Ion product of water KW (mol2 kg-2, total scale), Millero (1995) as in the DOE handbook."""
    import torch

    tk = _kelvin(temp_c)
    s = torch.as_tensor(salinity, dtype=tk.dtype, device=tk.device)
    ln_kw = (
        148.96502
        - 13847.26 / tk
        - 23.6521 * torch.log(tk)
        + (-5.977 + 118.67 / tk + 1.0495 * torch.log(tk)) * torch.sqrt(s)
        - 0.01615 * s
    )
    return torch.exp(ln_kw)


def equilibrium_constants(temp_c: Tensor, salinity: Tensor | float = 35.0) -> dict[str, Tensor]:
    """``k0, k1, k2, kb, kw`` at ``temp_c`` (degC) and ``salinity`` (see the module docstring)."""
    k1, k2 = k1_k2_lueker(temp_c, salinity)
    return {
        "k0": k0_weiss(temp_c, salinity),
        "k1": k1,
        "k2": k2,
        "kb": kb_dickson(temp_c, salinity),
        "kw": kw_millero(temp_c, salinity),
    }


def ph_total(
    dic: Tensor,
    talk: Tensor,
    temp_c: Tensor,
    salinity: Tensor | float = 35.0,
    *,
    h_guess: Tensor | None = None,
    iterations: int = 8,
    constants: dict[str, Tensor] | None = None,
) -> Tensor:
    """Hydrogen-ion concentration [H+] (mol kg-1, total scale) from DIC and TA.

    Parameters
    ----------
    dic, talk
        Dissolved inorganic carbon and total alkalinity (umol kg-1), any broadcastable shape.
    temp_c
        Temperature (degC).
    salinity
        Practical salinity.
    h_guess
        Starting [H+] (e.g. the previous time step's); default pH 8.
    constants
        Precomputed :func:`equilibrium_constants` (to reuse them over several steps).
    iterations
        Newton iterations in ``ln[H+]`` (the residual is below 1e-10 relative after 6 from a
        pH-8 start over the oceanic range).

    Returns
    -------
    torch.Tensor
        [H+] in mol kg-1.
    """
    import torch

    if constants is None:
        constants = equilibrium_constants(temp_c, salinity)
    k1, k2, kb, kw = constants["k1"], constants["k2"], constants["kb"], constants["kw"]
    bt = 0.000416 * torch.as_tensor(salinity, dtype=dic.dtype, device=dic.device) / 35.0
    c = dic * 1e-6
    a = talk * 1e-6
    h = torch.full_like(c, 1e-8) if h_guess is None else h_guess.clone()
    for _ in range(iterations):
        denom = h * h + k1 * h + k1 * k2
        carb = c * k1 * (h + 2.0 * k2) / denom
        borate = bt * kb / (kb + h)
        resid = carb + borate + kw / h - h - a
        # d/dh of each term, then chain rule for x = ln h
        dcarb = c * k1 * (denom - (h + 2.0 * k2) * (2.0 * h + k1)) / denom**2
        dres = dcarb - bt * kb / (kb + h) ** 2 - kw / h**2 - 1.0
        step = resid / (dres * h)
        h = h * torch.exp(-step.clamp(-1.0, 1.0))
    return h


def carbonate_system(
    dic: Tensor, talk: Tensor, temp_c: Tensor, salinity: Tensor | float = 35.0, **kwargs
) -> dict[str, Tensor]:
    """Carbonate speciation: ``h``, ``ph``, ``co2`` (umol kg-1), ``pco2`` (uatm), ``k0``."""
    import torch

    h = ph_total(dic, talk, temp_c, salinity, **kwargs)
    k1, k2 = k1_k2_lueker(temp_c, salinity)
    co2 = dic * h * h / (h * h + k1 * h + k1 * k2)
    k0 = k0_weiss(temp_c, salinity)
    return {"h": h, "ph": -torch.log10(h), "co2": co2, "pco2": co2 / k0, "k0": k0}


def pco2(dic: Tensor, talk: Tensor, temp_c: Tensor, salinity: Tensor | float = 35.0) -> Tensor:
    """Seawater pCO2 (uatm) from DIC and TA (umol kg-1), temperature (degC) and salinity."""
    return carbonate_system(dic, talk, temp_c, salinity)["pco2"]


def schmidt_co2(temp_c: Tensor) -> Tensor:
    """Schmidt number of CO2 in seawater (S=35), Wanninkhof (2014) Table 1 (-2..40 degC)."""
    t = temp_c
    return 2116.8 - 136.25 * t + 4.7353 * t**2 - 0.092307 * t**3 + 0.0007555 * t**4


def transfer_velocity(wind: Tensor, temp_c: Tensor) -> Tensor:
    """Gas transfer velocity of CO2 (m s-1): ``0.251 U10^2 (Sc/660)^-0.5`` cm h-1."""
    k_cm_h = 0.251 * wind**2 * (schmidt_co2(temp_c) / 660.0) ** -0.5
    return k_cm_h / 100.0 / 3600.0


def co2_flux(
    pco2_sea: Tensor,
    pco2_air: Tensor,
    wind: Tensor,
    temp_c: Tensor,
    salinity: Tensor | float = 35.0,
    k0: Tensor | None = None,
) -> torch.Tensor:
    """Air-sea CO2 flux, mmol C m-2 s-1, **positive downward** (into the ocean, CF ``fgco2``).

    Parameters
    ----------
    pco2_sea, pco2_air
        Partial pressures (uatm); ``pco2_air`` is the dry-air mole fraction in ppm at 1 atm.
    wind
        10-m wind speed (m s-1).
    temp_c, salinity
        Surface temperature (degC) and salinity.
    """
    k = transfer_velocity(wind, temp_c)
    k0 = k0_weiss(temp_c, salinity) if k0 is None else k0  # mol kg-1 atm-1
    # m s-1 * mol kg-1 atm-1 * kg m-3 * uatm * 1e-6 atm/uatm * 1e3 mmol/mol
    return k * k0 * RHO_SW * (pco2_air - pco2_sea) * 1e-3


def calcium_riley(salinity: Tensor | float) -> Tensor | float:
    """Total calcium (mol kg-1) from practical salinity, Riley & Tongudai (1967).

    ``[Ca++]_T = 0.02128 / 40.087 * S / 1.80655``: 0.02128 g Ca per g of chlorinity, chlorinity
    ``S / 1.80655``; the molar mass 40.087 is the one CO2SYS and PyCO2SYS use, so the result
    matches theirs (0.010284 mol kg-1 at S = 35).
    """
    return 0.02128 / 40.087 * salinity / 1.80655


def ksp_calcite_mucci(
    temp_c: Tensor, salinity: Tensor | float = 35.0, pressure_bar: Tensor | float = 0.0
) -> Tensor:
    """Stoichiometric solubility product of calcite ``Ksp = [Ca++]_T [CO3--]_T`` (mol2 kg-2).

    Mucci (1983) at 1 atm::

        log10 Ksp = -171.9065 - 0.077993 T + 2839.319 / T + 71.595 log10 T
                    + (-0.77712 + 0.0028426 T + 178.34 / T) S^0.5 - 0.07711 S + 0.0041249 S^1.5

    with ``T`` in kelvin. A gauge pressure ``P`` (bar, 0 at the surface, about depth / 10)
    multiplies it by ``exp((-dV + 0.5 dk P) P / (R T))`` with ``dV = -48.76 + 0.5304 t``
    (cm3 mol-1) and ``dk = (-11.76 + 0.3692 t) / 1000`` (cm3 mol-1 bar-1), ``t`` in degC
    (Ingle 1975 Mar. Chem. 3:301 as in Millero 1979 and CO2SYS). ``pressure_bar=0`` (the
    default) omits the correction.

    Parameters
    ----------
    temp_c
        Temperature (degC), any shape.
    salinity
        Practical salinity (Mucci's fit covers 5-44), broadcast against ``temp_c``.
    pressure_bar
        Gauge pressure (bar), broadcast against ``temp_c``.

    Returns
    -------
    torch.Tensor
        Ksp (mol2 kg-2), the broadcast shape, dtype and device of ``temp_c``.
    """
    import torch

    tk = _kelvin(temp_c)
    s = torch.as_tensor(salinity, dtype=tk.dtype, device=tk.device)
    log_ksp = (
        -171.9065
        - 0.077993 * tk
        + 2839.319 / tk
        + 71.595 * torch.log10(tk)
        + (-0.77712 + 0.0028426 * tk + 178.34 / tk) * torch.sqrt(s)
        - 0.07711 * s
        + 0.0041249 * s**1.5
    )
    ksp = 10.0**log_ksp
    p = torch.as_tensor(pressure_bar, dtype=tk.dtype, device=tk.device)
    dv = -48.76 + 0.5304 * temp_c
    dk = (-11.76 + 0.3692 * temp_c) / 1000.0
    return ksp * torch.exp((-dv + 0.5 * dk * p) * p / (R_CM3_BAR * tk))


def carbonate_ion(dic: Tensor, h: Tensor, k1: Tensor, k2: Tensor) -> Tensor:
    """Carbonate ion ``[CO3--] = DIC K1 K2 / ([H+]^2 + K1 [H+] + K1 K2)``, in the units of ``dic``.

    ``h``, ``k1``, ``k2`` in mol kg-1 (total scale, as :func:`ph_total` and
    :func:`k1_k2_lueker` return them); all arguments broadcast.
    """
    return dic * k1 * k2 / (h * h + k1 * h + k1 * k2)


def omega_calcite(
    dic: Tensor,
    talk: Tensor,
    temp_c: Tensor,
    salinity: Tensor | float = 35.0,
    *,
    h: Tensor | None = None,
    pressure_bar: Tensor | float = 0.0,
    constants: dict[str, Tensor] | None = None,
    iterations: int = 8,
) -> Tensor:
    """Calcite saturation state ``Omega = [Ca++][CO3--] / Ksp`` (dimensionless).

    Parameters
    ----------
    dic, talk
        Dissolved inorganic carbon and total alkalinity (umol kg-1), any broadcastable shape
        (e.g. ``(B, L)`` for a batch of columns).
    temp_c
        Temperature (degC).
    salinity
        Practical salinity (calcium follows it, :func:`calcium_riley`).
    h
        [H+] (mol kg-1, total scale) when already known, e.g. from :func:`ph_total` in the same
        step; otherwise it is solved from ``dic`` and ``talk``.
    pressure_bar
        Gauge pressure for the Ksp correction (bar; 0, the default, omits it). The other
        constants stay at 1 atm (see the module docstring).
    constants
        Precomputed :func:`equilibrium_constants` at ``temp_c`` and ``salinity``.
    iterations
        Newton iterations of :func:`ph_total` when ``h`` is not given.

    Returns
    -------
    torch.Tensor
        Omega, the broadcast shape of the inputs, float64 for float64 inputs. Omega > 1 is
        supersaturated (calcite forms and persists), Omega < 1 undersaturated (it dissolves).
    """
    if constants is None:
        constants = equilibrium_constants(temp_c, salinity)
    if h is None:
        h = ph_total(dic, talk, temp_c, salinity, iterations=iterations, constants=constants)
    co3 = carbonate_ion(dic * 1e-6, h, constants["k1"], constants["k2"])  # mol kg-1
    return calcium_riley(salinity) * co3 / ksp_calcite_mucci(temp_c, salinity, pressure_bar)


def calcite_dissolution_rate(
    omega: Tensor,
    rate_constant: Tensor | float,
    order: Tensor | float = 1.0,
    background: Tensor | float = 0.0,
) -> Tensor:
    """Specific dissolution rate of particulate calcite, ``k (1 - Omega)_+^n + r_b``.

    The kinetic term acts only in undersaturated water (Keir 1980 Geochim. Cosmochim. Acta
    44:241; ``k = 0.197 d-1``, ``n = 1`` in PISCES-v2, Aumont et al. 2015 Geosci. Model Dev.
    8:2465); ``r_b`` stands for the dissolution observed above the saturation horizon (in guts
    and aggregates, Milliman et al. 1999), e.g. ``w / L`` for a sinking speed ``w`` and a
    dissolution length scale ``L`` (500 m in MARBL).

    Parameters
    ----------
    omega
        Calcite saturation state, any shape.
    rate_constant, order, background
        ``k`` and ``r_b`` in any rate unit (the result has it) and the order ``n`` (> 0); all
        broadcast against ``omega``.

    Returns
    -------
    torch.Tensor
        Rate >= 0, in the units of ``rate_constant``; multiply by the calcite concentration and
        ``dt`` for the amount dissolved in a step (each mole returns 1 mol DIC and 2 mol TA).
    """
    return rate_constant * (1.0 - omega).clamp_min(0.0) ** order + background
