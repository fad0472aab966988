"""Carbonate chemistry against published reference values, and the air-sea flux sign."""

from __future__ import annotations

import math

import pytest
import torch

from ecocube.ocean import carbonate

F64 = torch.float64


def t(value: float) -> torch.Tensor:
    return torch.tensor([value], dtype=F64)


def test_lueker_constants_match_dickson_guide_check_values() -> None:
    # Dickson, Sabine & Christian (2007) Guide to best practices, ch. 5: S=35, T=25 degC,
    # total scale: pK1 = 5.8472, pK2 = 8.9660 (Lueker et al. 2000).
    k1, k2 = carbonate.k1_k2_lueker(t(25.0), 35.0)
    assert -math.log10(float(k1)) == pytest.approx(5.8472, abs=2e-4)
    assert -math.log10(float(k2)) == pytest.approx(8.9660, abs=2e-4)


def test_borate_and_water_constants_match_doe_handbook() -> None:
    # DOE handbook (Dickson et al. 2007): ln KB = -19.7964, ln KW = -30.434 at S=35, 25 degC.
    assert math.log(float(carbonate.kb_dickson(t(25.0), 35.0))) == pytest.approx(-19.7964, abs=1e-3)
    assert math.log(float(carbonate.kw_millero(t(25.0), 35.0))) == pytest.approx(-30.434, abs=2e-3)


def test_weiss_solubility_matches_table_value_and_decreases_with_temperature() -> None:
    # Weiss (1974): K0 = 0.02839 mol kg-1 atm-1 at S=35, 25 degC (also Zeebe & Wolf-Gladrow 2001).
    assert float(carbonate.k0_weiss(t(25.0), 35.0)) == pytest.approx(0.02839, rel=3e-3)
    temps = torch.linspace(0.0, 30.0, 7, dtype=F64)
    k0 = carbonate.k0_weiss(temps, 35.0)
    assert bool((k0[1:] < k0[:-1]).all())


def test_pco2_of_reference_seawater() -> None:
    # DIC 2000, TA 2300 umol/kg, 25 degC, S 35: CO2SYS with Lueker constants gives ~390 uatm and
    # pH_T ~8.04 with nutrients set to zero. Tolerance 380-400 uatm covers the neglected
    # free/total [H+] scale difference and phosphate/silicate (< 1 %).
    out = carbonate.carbonate_system(t(2000.0), t(2300.0), t(25.0), 35.0)
    assert 380.0 <= float(out["pco2"]) <= 400.0
    assert float(out["ph"]) == pytest.approx(8.04, abs=0.03)


def test_alkalinity_equation_is_solved() -> None:
    dic = torch.linspace(1900.0, 2200.0, 4, dtype=F64)
    ta = torch.linspace(2250.0, 2400.0, 4, dtype=F64)
    temp = torch.linspace(0.0, 30.0, 4, dtype=F64)
    h = carbonate.ph_total(dic, ta, temp, 35.0)
    k1, k2 = carbonate.k1_k2_lueker(temp, 35.0)
    kb, kw = carbonate.kb_dickson(temp, 35.0), carbonate.kw_millero(temp, 35.0)
    c = dic * 1e-6
    alk = c * k1 * (h + 2 * k2) / (h * h + k1 * h + k1 * k2) + 0.000416 * kb / (kb + h) + kw / h - h
    torch.testing.assert_close(alk * 1e6, ta, rtol=1e-9, atol=1e-6)


def test_pco2_rises_with_dic_and_temperature() -> None:
    base = carbonate.pco2(t(2000.0), t(2300.0), t(15.0))
    assert float(carbonate.pco2(t(2050.0), t(2300.0), t(15.0))) > float(base)
    # the isochemical temperature sensitivity is ~4.2 % per degC (Takahashi et al. 1993)
    warmer = carbonate.pco2(t(2000.0), t(2300.0), t(16.0))
    assert float(warmer / base) == pytest.approx(1.042, abs=0.005)


def test_wanninkhof_transfer_velocity() -> None:
    # k = 0.251 U^2 (Sc/660)^-0.5 cm/h; Sc(20 degC) = 668 (Wanninkhof 2014 Table 1)
    assert float(carbonate.schmidt_co2(t(20.0))) == pytest.approx(668.0, abs=1.0)
    k = float(carbonate.transfer_velocity(t(10.0), t(20.0))) * 100 * 3600
    assert k == pytest.approx(0.251 * 100 * (668.0 / 660.0) ** -0.5, rel=2e-3)


def test_fgco2_is_positive_downward() -> None:
    into = carbonate.co2_flux(t(350.0), t(420.0), t(8.0), t(15.0))
    out = carbonate.co2_flux(t(450.0), t(420.0), t(8.0), t(15.0))
    assert float(into) > 0 > float(out)
    assert float(carbonate.co2_flux(t(420.0), t(420.0), t(8.0), t(15.0))) == 0.0
    # magnitude: 70 uatm at 8 m/s, 15 degC -> ~ 10 mmol m-2 d-1
    assert float(into) * 86400 == pytest.approx(10.0, rel=0.3)
