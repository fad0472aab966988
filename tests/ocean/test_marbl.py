"""MARBL-derived quantities: carbon fluxes, diversity indices, reduced model, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean import marbl
from ecocube.ocean.ingest import open_marbl_climatology
from tests.conftest import requires_mirror


@pytest.fixture(scope="module")
def clim() -> xr.Dataset:
    return open_marbl_climatology()


def test_toa_insolation_known_values() -> None:
    # equator at the equinox: S0/pi; polar night: 0; 60 N at the June solstice > 470 W m-2
    assert marbl.toa_insolation(np.array(0.0), np.array(80.0)) == pytest.approx(
        1361 / np.pi, rel=0.01
    )
    assert marbl.toa_insolation(np.array(80.0), np.array(355.0)) == pytest.approx(0.0, abs=1e-6)
    assert 470 < float(marbl.toa_insolation(np.array(60.0), np.array(172.0))) < 500


def test_surface_carbon_fluxes_sign_and_known_value() -> None:
    grid = {"lat": [50.0], "lon": [0.0]}
    bgc = xr.Dataset(
        {
            "dissic": (("lat", "lon"), [[2100.0 * 1.025]]),
            "talk": (("lat", "lon"), [[2320.0 * 1.025]]),
        },
        coords=grid,
    )
    phys = xr.Dataset(
        {"thetao": (("lat", "lon"), [[10.0]]), "so": (("lat", "lon"), [[35.0]])}, coords=grid
    )
    out = marbl.surface_carbon_fluxes(bgc, phys, 10.0, pco2_air=400.0)
    # DIC 2100, TA 2320 umol/kg at 10 degC, S 35: pCO2 ~ 325 uatm (Lueker K1/K2, Weiss K0)
    assert out.spco2.item() == pytest.approx(325.3, abs=1.0)
    assert out.fgco2.item() > 0  # undersaturated water takes up CO2: positive downward
    # mmol m-2 d-1 is a mole flux: the CF mole-flux name, not CMIP's mass-flux one
    assert out.fgco2.attrs["standard_name"] == "surface_downward_mole_flux_of_carbon_dioxide"
    assert out.fgco2.attrs["units"] == "mmol m-2 d-1"
    low = marbl.surface_carbon_fluxes(bgc, phys, 10.0, pco2_air=300.0)
    assert low.fgco2.item() < 0


def test_community_indices_bounds_and_even_community() -> None:
    ds = xr.Dataset({g: (("x",), [1.0, 1.0, np.nan]) for g in marbl.MARBL_GROUPS})
    ds["phydiaz"] = ("x", [1.0, 0.0, np.nan])
    ci = marbl.community_indices(ds)
    assert float(ci.shannon[0]) == pytest.approx(np.log(3))
    assert float(ci.gini_simpson[0]) == pytest.approx(2 / 3)
    assert float(ci.shannon[1]) == pytest.approx(np.log(2))
    assert np.isnan(float(ci.shannon[2]))
    with pytest.raises(InvalidInputError, match="missing \\['phydiaz'\\]"):
        marbl.community_indices(ds.drop_vars("phydiaz"))


@requires_mirror
def test_marbl_community_indices_on_the_climatology(clim: xr.Dataset) -> None:
    ci = marbl.community_indices(clim)
    sh = ci.shannon.values[np.isfinite(ci.shannon.values)]
    assert sh.size > 1000
    assert sh.min() >= 0 and sh.max() <= np.log(3) + 1e-6
    # the spring diatom bloom lowers diversity in June relative to April (box mean)
    box = ci.shannon.mean(["lat", "lon"])
    assert float(box.sel(month=6)) < float(box.sel(month=4))


@requires_mirror
def test_north_atlantic_fluxes_colocate_and_compare() -> None:
    res = marbl.north_atlantic_surface()
    s = res["summary"]
    assert s["points"] >= 20
    assert 200 < s["pco2_ecocube_mean_uatm"] < 450
    assert 350 < s["pco2_marbl_mean_uatm"] < 420
    assert s["fgco2_mean_mmol_m2_d"] > 0  # the subpolar North Atlantic is a winter CO2 sink


@requires_mirror
@pytest.mark.slow
def test_reduced_model_beats_seasonal_baseline_across_grid_points(clim: xr.Dataset) -> None:
    rep = marbl.reduced_model_cv(clim, n_folds=3, seed=0)
    s = rep.scores.set_index(["scheme", "model"])
    for scheme in ("leave_points_out", "spatial_blocks"):
        assert s.loc[(scheme, "boosted_trees"), "r2_log"] > 0.85
        assert (
            s.loc[(scheme, "boosted_trees"), "r2_log"] > s.loc[(scheme, "seasonal_mean"), "r2_log"]
        )
    assert len(rep.predictions) == int(s["points"].iloc[0]) * 12


def test_reduced_model_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="n_folds must be >= 2"):
        marbl.reduced_model_cv(n_folds=1)
    with pytest.raises(InvalidInputError, match="block_deg must be > 0"):
        marbl.reduced_model_cv(block_deg=0)


@requires_mirror
def test_calibrate_bad_arguments(clim: xr.Dataset) -> None:
    with pytest.raises(InvalidInputError, match="unknown calibration parameter"):
        marbl.calibrate(parameters=("salinity",), clim=clim)
    with pytest.raises(InvalidInputError, match="outside the MARBL grid"):
        marbl.calibrate(lat=10.0, lon=-13.0, clim=clim)
    with pytest.raises(InvalidInputError, match="is land"):
        marbl.calibrate(lat=64.0, lon=-17.0 + 2 * 8, clim=clim.where(clim.lat < 0))


@requires_mirror
@pytest.mark.slow
def test_calibration_improves_the_seasonal_cycle(clim: xr.Dataset) -> None:
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    cal = marbl.calibrate(60.0, -13.0, n_candidates=3, years=1, seed=0, clim=clim)
    assert (cal.lat, cal.lon) == (60.0, -13.0)
    assert len(cal.table) == 12
    # the default scenario is a candidate: the fit never ends worse than it started
    assert cal.rmse_after <= cal.rmse_before
    for name, value in cal.parameters.items():
        p = next(q for q in SCENARIO_PARAMETERS if q.name == name)
        assert p.valid_low <= value <= p.valid_high
    # MARBL's surface phytoplankton peaks in early summer at 60 N
    assert int(cal.table.marbl.idxmax()) + 1 in (5, 6, 7)
