"""``ecocube report shap`` on real data: CHELSA climate + GAM land-use fractions, GBIF records.

The cube covers the GAM land-use map (the Greater Metropolitan Area of Costa Rica), the only
part of the country with land-use fractions, so both the climate and the land-cover group
exist and the shadow distribution is drawn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("shap")
pytest.importorskip("torch")

from ecocube.errors import InvalidInputError

#: Covariates of the fitted models: climate and land-use fractions (forest, urban).
VARIABLES = ("bio1", "bio4", "bio12", "landuse_frac_1", "landuse_frac_3")
GROUPS = "climate=bio*,landcover=landuse_*"
#: Well-recorded species with records in the GAM region.
SPECIES = ("Alouatta palliata", "Cebus capucinus", "Junco vulcani")


@pytest.fixture(scope="module")
def gam_zarr(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CHELSA bio1/bio4/bio12/bio15 and GAM land-use fractions over the GAM map (Zarr)."""
    from ecocube.cube import anchor_of, build_cube, write_cube
    from ecocube.cube.testing import chelsa_items, gam_landuse_items

    chelsa, gam = chelsa_items((1, 4, 12, 15)), gam_landuse_items()
    anchor, res = anchor_of(chelsa[0])
    ds = build_cube(chelsa + gam, bbox=gam[0].bbox, resolution=res, anchor=anchor).compute()
    return write_cube(ds, tmp_path_factory.mktemp("gam") / "gam.zarr", items=chelsa + gam)


@pytest.fixture(scope="module")
def records(mirror: Path) -> pd.DataFrame:
    from ecocube.models.datasets.gbif import load_costa_rica_occurrences

    occ = load_costa_rica_occurrences()
    return occ[occ["species"].isin(SPECIES)][["species", "x", "y"]].reset_index(drop=True)


def _fit(model: str, options: dict[str, Any], records: pd.DataFrame, cube: Path, out: Path) -> Path:
    from ecocube.models import SDM

    sdm = SDM(model, seed=0, options=options, cv_folds=0).fit(
        records, cube=cube, variables=list(VARIABLES), background=500, drop_outside=True
    )
    return sdm.save(out)


@pytest.fixture(scope="module")
def integrated_dir(records: pd.DataFrame, gam_zarr: Path, tmp_path_factory) -> Path:
    return _fit("integrated", {"steps": 200}, records, gam_zarr, tmp_path_factory.mktemp("m") / "i")


@pytest.fixture(scope="module")
def maxent_dir(records: pd.DataFrame, gam_zarr: Path, tmp_path_factory) -> Path:
    options = {"epochs": 30, "n_members": 3, "hidden": (32,)}
    return _fit("maxent-net", options, records, gam_zarr, tmp_path_factory.mktemp("m") / "n")


@pytest.fixture(scope="module")
def integrated_report(integrated_dir: Path, gam_zarr: Path, tmp_path_factory) -> Any:
    import pystac

    from ecocube.models.explain import shap_report

    out = tmp_path_factory.mktemp("report")
    pystac.Catalog("shap", "test catalog").normalize_and_save(
        str(out / "catalog"), catalog_type=pystac.CatalogType.SELF_CONTAINED
    )
    return shap_report(
        integrated_dir,
        gam_zarr,
        out / "report.html",
        groups=GROUPS,
        cells=300,
        seed=1,
        json_out=out / "summary.json",
        maps=out / "catalog" / "shap" / "shap.zarr",
        catalog=out / "catalog",
        progress=False,
    )


def _check_summary(summary: dict[str, Any], explainer: str) -> None:
    for key in ("explainer", "explained_output", "n_cells", "additivity_p99", "importance"):
        assert key in summary
    assert summary["explainer"] == explainer
    assert "log-intensity" in summary["explained_output"]
    assert summary["n_cells"] == 300
    assert 0 <= summary["additivity_p99"] <= 0.01
    assert set(summary["importance"]) == set(SPECIES)
    for imp in summary["importance"].values():
        assert set(imp) == set(VARIABLES)
        assert all(np.isfinite(v) and v >= 0 for v in imp.values())
        assert max(imp.values()) > 0


def test_integrated_report_is_exact_linear_shap_with_intervals(integrated_report: Any) -> None:
    summary = json.loads(integrated_report.json.read_text())
    _check_summary(summary, "linear-exact")
    assert summary["additivity_p99"] < 1e-6  # exact up to float rounding
    assert summary["n_draws_explained"] >= 50
    for sp, per_var in summary["importance_interval"].items():
        for var, (lo, hi) in per_var.items():
            assert lo <= hi
            # the posterior-mean importance lies inside (or at the edge of) the draws' spread
            assert lo * 0.8 - 1e-9 <= summary["importance"][sp][var] <= hi * 1.2 + 1e-9
    widths = [hi - lo for per in summary["importance_interval"].values() for lo, hi in per.values()]
    assert max(widths) > 0  # posterior uncertainty shows


def test_report_is_self_contained_with_every_section(integrated_report: Any) -> None:
    page = integrated_report.report.read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from the network
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)
    # per species and the community: importance, beeswarm, dependence, maps; shadow per species
    assert len(images) == 4 * (len(SPECIES) + 1) + len(SPECIES)
    for text in ("linear-exact", "log-intensity", "background", "Shadow distribution", "Community"):
        assert text in page


def test_shadow_area_and_maps_on_the_cube_grid(integrated_report: Any, gam_zarr: Path) -> None:
    import xarray as xr

    from ecocube.cube import open_cube

    cube = open_cube(gam_zarr)
    maps = xr.open_zarr(integrated_report.maps)
    assert maps["shap"].dims == ("species", "variable", "y", "x")
    np.testing.assert_array_equal(maps["x"].values, cube["x"].values)
    np.testing.assert_array_equal(maps["y"].values, cube["y"].values)
    assert list(maps["group"].values) == ["climate", "landcover"]
    shap = maps["shap"].values
    groups = maps["shap_group"].values
    np.testing.assert_allclose(groups[:, 0], shap[:, :3].sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(groups[:, 1], shap[:, 3:].sum(1), rtol=1e-5, atol=1e-6)
    shadow = maps["shadow"].values
    expected = (groups[:, 0] > 0) & (groups[:, 1] < 0)
    np.testing.assert_array_equal(shadow == 1, expected)
    areas = integrated_report.summary["shadow_area_km2"]
    # a 30" cell is about 0.85 km² at 10° N: the area is the shadow cell count times that
    for k, sp in enumerate(maps["species"].values):
        n = int(np.nansum(shadow[k]))
        assert areas[sp] == pytest.approx(n * 0.85, rel=0.03)


def test_maxent_net_report_uses_expected_gradients(
    maxent_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.models.explain import shap_report

    result = shap_report(
        maxent_dir,
        gam_zarr,
        tmp_path / "r.html",
        groups=GROUPS,
        cells=300,
        json_out=tmp_path / "s.json",
        map_stride=2,
        progress=False,
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    _check_summary(summary, "expected-gradients")
    assert summary["additivity_p99_maps"] <= 0.01
    assert summary["n_draws_explained"] == 3  # every ensemble member
    assert result.attribution.importance_interval() is not None


def test_expected_gradients_agree_with_exact_shap_on_the_linear_model(
    integrated_dir: Path, gam_zarr: Path
) -> None:
    from ecocube.cube import open_cube
    from ecocube.models import SDM
    from ecocube.models.explain import explain_cells, sample_cells, valid_cells

    sdm = SDM.load(integrated_dir)
    ds = open_cube(gam_zarr)
    valid = valid_cells(ds, VARIABLES)
    rng = np.random.default_rng(0)
    bg, cells = (
        sample_cells(ds, VARIABLES, valid, 30, rng),
        sample_cells(ds, VARIABLES, valid, 50, rng),
    )
    exact = explain_cells(sdm, cells, bg, max_draws=0)
    eg = explain_cells(sdm, cells, bg, explainer="expected-gradients", max_draws=0, steps=4)
    assert exact.explainer == "linear-exact"
    np.testing.assert_allclose(eg.values, exact.values, atol=1e-3 * np.abs(exact.values).max())


# ---------------------------------------------------------------------------- bad inputs
def test_unknown_species_is_an_error(integrated_dir: Path, gam_zarr: Path, tmp_path: Path) -> None:
    from ecocube.models.explain import shap_report

    with pytest.raises(InvalidInputError, match=r"--species \['Panthera onca'\] are not in"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html", species=["Panthera onca"])


def test_group_matching_no_variable_is_an_error(
    integrated_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.models.explain import shap_report

    with pytest.raises(InvalidInputError, match=r"group 'imagery' \(s2_\*\) matches none"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html", groups="imagery=s2_*")


def test_non_model_folder_is_an_error(gam_zarr: Path, tmp_path: Path) -> None:
    from ecocube.models.explain import shap_report

    (tmp_path / "notes").mkdir()
    with pytest.raises(InvalidInputError, match=r"is not an ecocube model folder"):
        shap_report(tmp_path / "notes", gam_zarr, tmp_path / "r.html")


def test_cube_lacking_variables_is_an_error(
    integrated_dir: Path, cr_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.models.explain import shap_report

    with pytest.raises(
        InvalidInputError, match=r"the cube lacks the variable\(s\) \['landuse_frac_1'"
    ):
        shap_report(integrated_dir, cr_zarr, tmp_path / "r.html")


def test_bad_sizes_and_outputs_fail_before_work(
    integrated_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.models.explain import shap_report

    with pytest.raises(InvalidInputError, match=r"cells=0 must be a positive integer"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html", cells=0)
    with pytest.raises(InvalidInputError, match=r"--out .* is a folder"):
        shap_report(integrated_dir, gam_zarr, tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("keep")
    with pytest.raises(InvalidInputError, match=r"exists and is not a Zarr store"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html", maps=tmp_path / "other")


def test_cli_writes_report_and_summary(
    integrated_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from ecocube.cli import app

    result = CliRunner().invoke(
        app,
        [
            "report",
            "shap",
            str(integrated_dir),
            "--cube",
            str(gam_zarr),
            "--species",
            "Junco vulcani",
            "--cells",
            "100",
            "--out",
            str(tmp_path / "r.html"),
            "--json",
            str(tmp_path / "s.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert list(summary["importance"]) == ["Junco vulcani"]
    assert summary["shadow_area_km2"] is None  # no groups given
    assert "No shadow distribution" in (tmp_path / "r.html").read_text()


def test_maps_are_registered_as_a_stac_item(integrated_report: Any) -> None:
    import pystac

    from ecocube.catalog import validate_catalog

    catalog_dir = integrated_report.maps.parents[1]
    assert validate_catalog(catalog_dir, check_checksums=False) == []
    root = pystac.Catalog.from_file(str(catalog_dir / "catalog.json"))
    items = list(root.get_child("ecocube-shap").get_items())
    assert [i.id for i in items] == [integrated_report.summary["stac_item"]]
    dims = items[0].properties["cube:dimensions"]
    assert dims["species"]["values"] == list(SPECIES)
    assert dims["variable"]["values"] == list(VARIABLES)
    assert dims["group"]["values"] == ["climate", "landcover"]
    assert items[0].properties["ecocube:explainer"] == "linear-exact"


def test_catalog_without_maps_is_an_error(
    integrated_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.models.explain import shap_report

    with pytest.raises(InvalidInputError, match=r"give --maps too"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html", catalog=tmp_path)


def test_empty_species_and_cube_without_valid_cells_are_errors(
    integrated_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.cube import open_cube
    from ecocube.models.explain import shap_report

    with pytest.raises(InvalidInputError, match=r"species=\[\] names no species"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html", species=[])
    cube = open_cube(gam_zarr, chunks=None).load()
    cube["bio1"][:] = np.nan
    with pytest.raises(InvalidInputError, match=r"the cube has no cell with finite"):
        shap_report(integrated_dir, cube, tmp_path / "r.html")


def test_multimodal_models_are_refused(
    integrated_dir: Path, gam_zarr: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecocube.models import SDM
    from ecocube.models.explain import explain_cells, shap_report

    sdm = SDM.load(integrated_dir)
    monkeypatch.setattr(sdm, "model", "multimodal")
    with pytest.raises(
        InvalidInputError, match=r"explain tabular models \(maxent-net, integrated\)"
    ):
        explain_cells(sdm, pd.DataFrame(), pd.DataFrame())
    monkeypatch.setattr(SDM, "load", classmethod(lambda cls, *a, **k: sdm))
    with pytest.raises(InvalidInputError, match=r"holds a multimodal model"):
        shap_report(integrated_dir, gam_zarr, tmp_path / "r.html")


def test_explain_cells_rejects_bad_explainers_and_species(
    integrated_dir: Path, maxent_dir: Path, gam_zarr: Path
) -> None:
    from ecocube.cube import open_cube
    from ecocube.models import SDM
    from ecocube.models.explain import explain_cells, sample_cells, valid_cells

    ds = open_cube(gam_zarr)
    rng = np.random.default_rng(0)
    cells = sample_cells(ds, VARIABLES, valid_cells(ds, VARIABLES), 20, rng)
    linear, network = SDM.load(integrated_dir), SDM.load(maxent_dir)
    with pytest.raises(InvalidInputError, match=r"explainer='kernel' is unknown"):
        explain_cells(linear, cells, cells, explainer="kernel")
    with pytest.raises(InvalidInputError, match=r"needs a model linear in its features"):
        explain_cells(network, cells, cells, explainer="linear-exact")
    with pytest.raises(
        InvalidInputError, match=r"species \['Panthera onca'\] are not in the model"
    ):
        explain_cells(linear, cells, cells, species=["Panthera onca"])


def test_integrated_network_features_use_expected_gradients_over_draws(
    records: pd.DataFrame, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.cube import open_cube
    from ecocube.models import SDM
    from ecocube.models.explain import explain_cells, sample_cells, valid_cells
    from ecocube.models.explain._explain import MAX_GRADIENT_DRAWS

    options = {"steps": 150, "features": "network", "hidden": 8}
    model = _fit("integrated", options, records, gam_zarr, tmp_path / "net")
    sdm = SDM.load(model)
    ds = open_cube(gam_zarr)
    rng = np.random.default_rng(2)
    valid = valid_cells(ds, VARIABLES)
    bg, cells = (
        sample_cells(ds, VARIABLES, valid, 16, rng),
        sample_cells(ds, VARIABLES, valid, 60, rng),
    )
    attr = explain_cells(sdm, cells, bg, species=["Junco vulcani"], steps=8)
    assert attr.explainer == "expected-gradients"
    assert attr.additivity_p99() <= 0.01
    assert attr.draw_importance is not None
    assert len(attr.draw_importance) == min(MAX_GRADIENT_DRAWS, sdm.estimator_.n_draws)


def test_thinned_maps_estimate_the_same_shadow_area(
    integrated_report: Any, integrated_dir: Path, gam_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.models.explain import shap_report

    thinned = shap_report(
        integrated_dir,
        gam_zarr,
        tmp_path / "r.html",
        groups=GROUPS,
        cells=300,
        seed=1,
        map_stride=2,
        max_draws=0,
        progress=False,
    )
    full = integrated_report.summary["shadow_area_km2"]
    assert thinned.summary["n_map_cells"] < integrated_report.summary["n_map_cells"] / 3
    for sp, area in thinned.summary["shadow_area_km2"].items():
        assert area == pytest.approx(full[sp], rel=0.15)
