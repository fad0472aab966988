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


# --- calcite saturation state ------------------------------------------------------------


def test_calcite_solubility_product_matches_published_values() -> None:
    # Mucci (1983) as computed by seacarb's Kspc(S=35, T=25, P=0) = 4.272351e-07 (its
    # documented example output) and AquaEnv's Ksp_calcite(35, 15) = 4.314813e-07 and, at
    # 10 bar, Ksp_calcite(35, 15, 10) = 4.388872e-07 (Ingle 1975 pressure correction).
    assert float(carbonate.ksp_calcite_mucci(t(25.0), 35.0)) == pytest.approx(4.272351e-7, rel=1e-4)
    assert float(carbonate.ksp_calcite_mucci(t(15.0), 35.0)) == pytest.approx(4.314813e-7, rel=1e-4)
    deep = carbonate.ksp_calcite_mucci(t(15.0), 35.0, pressure_bar=10.0)
    assert float(deep) == pytest.approx(4.388872e-7, rel=1e-4)


def test_calcium_follows_salinity_after_riley_and_tongudai() -> None:
    # 0.01028 mol/kg at S = 35 (Dickson et al. 2007 guide; seacarb's "normal" calcium)
    assert carbonate.calcium_riley(35.0) == pytest.approx(0.01028, abs=1e-5)
    assert carbonate.calcium_riley(17.5) == pytest.approx(carbonate.calcium_riley(35.0) / 2)


def test_omega_matches_mocsy_surface_check_values() -> None:
    # mocsy's test program (Orr & Epitalon 2015 GMD 8:485), Table 1 surface row: T = 2 degC,
    # S = 35, DIC 2154 and TA 2295 umol/kg given as mol/m3 at 1.028 kg/L (in situ density
    # 1027.97 kg/m3) -> pH_T 8.0587, pCO2 374.2 uatm, Omega_calcite 2.46. mocsy counts
    # phosphate (1.8 uM), silicate (50 uM) and Lee et al. (2010) boron, which this solver leaves
    # out, so it reads their ~5 umol/kg of alkalinity as carbonate alkalinity: Omega is higher.
    to_kg = 1.028 / 1.02797
    dic, ta, temp = t(2154.0 * to_kg), t(2295.0 * to_kg), t(2.0)
    raw = float(carbonate.omega_calcite(dic, ta, temp, 35.0))
    assert 2.46 < raw < 2.46 * 1.04
    # with that alkalinity removed (5 umol/kg, the offset that matches mocsy's pH), pCO2 and
    # Omega agree to mocsy's printed precision
    out = carbonate.carbonate_system(dic, ta - 5.0, temp, 35.0)
    assert float(out["ph"]) == pytest.approx(8.0587, abs=5e-4)
    assert float(out["pco2"]) == pytest.approx(374.2, abs=1.0)
    omega = carbonate.omega_calcite(dic, ta - 5.0, temp, 35.0, h=out["h"])
    assert float(omega) == pytest.approx(2.46, abs=0.01)


def test_omega_of_warm_surface_water_is_in_the_typical_range() -> None:
    # DIC 2000, TA 2300 umol/kg, 25 degC: subtropical surface water, Omega_calcite 4.4-5.6
    # (the range of the surface ocean outside the upwellings and the polar seas)
    omega = float(carbonate.omega_calcite(t(2000.0), t(2300.0), t(25.0)))
    assert 4.4 < omega < 5.6


def test_omega_falls_with_dic_and_pressure_and_rises_with_alkalinity() -> None:
    dic = torch.linspace(1900.0, 2250.0, 36, dtype=F64)
    ta = torch.full_like(dic, 2300.0)
    temp = torch.full_like(dic, 15.0)
    omega = carbonate.omega_calcite(dic, ta, temp)
    assert bool((omega.diff() < 0).all())  # CO2 invasion (DIC up at fixed TA) lowers Omega
    more_ta = carbonate.omega_calcite(dic, ta + 50.0, temp)
    assert bool((more_ta > omega).all())
    deep = carbonate.omega_calcite(dic, ta, temp, pressure_bar=15.0)
    assert bool((deep < omega).all())
    # the Ksp correction at 15 bar (150 m) is ~2-3 %
    assert float((1 - deep / omega).max()) == pytest.approx(0.025, abs=0.01)


def test_omega_is_batched_and_reuses_a_known_hydrogen_ion() -> None:
    gen = torch.Generator().manual_seed(0)
    dic = 1950.0 + 250.0 * torch.rand(3, 5, generator=gen, dtype=F64)
    ta = 2250.0 + 100.0 * torch.rand(3, 5, generator=gen, dtype=F64)
    temp = 30.0 * torch.rand(3, 5, generator=gen, dtype=F64)
    omega = carbonate.omega_calcite(dic, ta, temp, 35.0)
    assert omega.shape == (3, 5) and omega.dtype == F64
    one = carbonate.omega_calcite(dic[1, 2:3], ta[1, 2:3], temp[1, 2:3], 35.0)
    torch.testing.assert_close(one[0], omega[1, 2], rtol=1e-12, atol=0.0)
    h = carbonate.ph_total(dic, ta, temp, 35.0)
    torch.testing.assert_close(carbonate.omega_calcite(dic, ta, temp, 35.0, h=h), omega)


def test_calcite_dissolution_only_below_saturation_plus_background() -> None:
    omega = torch.tensor([3.0, 1.0, 0.8, 0.5, 0.0], dtype=F64)
    rate = carbonate.calcite_dissolution_rate(omega, 0.197, 1.0)
    torch.testing.assert_close(rate, 0.197 * torch.tensor([0.0, 0.0, 0.2, 0.5, 1.0], dtype=F64))
    steep = carbonate.calcite_dissolution_rate(omega, 0.197, 4.5)
    assert bool((steep[2:] <= rate[2:]).all())  # higher order: slower near saturation
    with_bg = carbonate.calcite_dissolution_rate(omega, 0.197, 1.0, background=10.0 / 500.0)
    torch.testing.assert_close(with_bg - rate, torch.full_like(rate, 0.02))
