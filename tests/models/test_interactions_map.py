"""``ecocube interactions map`` end to end on real data: the Kopelke metaweb's topology on a
SIMULATED community (latent-factor co-occurrence) over the real CHELSA Costa Rica cube."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from ecocube.errors import InvalidInputError

VARIABLES = ["bio1", "bio12"]


@pytest.fixture(scope="module")
def web_files(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from ecocube.models.interactions import kopelke_metaweb

    folder = tmp_path_factory.mktemp("web")
    web = kopelke_metaweb()
    web.edges.to_csv(folder / "metaweb.csv", index=False)
    nodes = web.nodes
    mapping = pd.DataFrame({"species": [f"simulated {n}" for n in nodes], "node": nodes})
    mapping.to_csv(folder / "mapping.csv", index=False)
    return {"metaweb": folder / "metaweb.csv", "mapping": folder / "mapping.csv"}


def _fit(cube: xr.Dataset, species: list[str], n_sites: int, seed: int, **options: int) -> Any:
    """An integrated SDM fitted to surveys of a community simulated over ``cube``."""
    from ecocube.models import SDM
    from ecocube.models.interactions import simulate_surveys

    records, _ = simulate_surveys(cube, species, VARIABLES, n_sites=n_sites, seed=seed)
    sdm = SDM(model="integrated", covariates=VARIABLES, options=options, cv_folds=0)
    return sdm.fit(records.drop(columns=["x", "y"]))


@pytest.fixture(scope="module")
def model_dir(cr_cube: xr.Dataset, web_files: dict, tmp_path_factory: pytest.TempPathFactory):
    nodes = pd.read_csv(web_files["mapping"])["species"].tolist()
    species = [*nodes, "simulated unlinked"]  # in no edge: reported as unmatched
    sdm = _fit(cr_cube, species, 400, 0, n_factors=1, num_samples=50, steps=300)
    return sdm.save(tmp_path_factory.mktemp("model") / "model")


def test_cli_maps_interactions_over_the_real_cube(
    cr_zarr: Path, model_dir: Path, web_files: dict, tmp_path: Path
) -> None:
    from ecocube.cli import app as cli
    from ecocube.cube import open_cube

    out = tmp_path / "interactions.zarr"
    args = [
        "interactions",
        "map",
        str(model_dir),
        "--metaweb",
        str(web_files["metaweb"]),
        "--cube",
        str(cr_zarr),
        "--out",
        str(out),
        "--mapping",
        str(web_files["mapping"]),
        "--focal",
        "simulated Ovaria",
        "--draws",
        "40",
        "--tile",
        "200",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "simulated unlinked" in result.output
    ds = open_cube(out).compute()
    cube = open_cube(cr_zarr)
    assert ds.sizes["y"] == cube.sizes["y"] and ds.sizes["x"] == cube.sizes["x"]
    assert ds.rio.crs == cube.rio.crs
    assert json.loads(ds.attrs["ecocube:unmatched_species"]) == ["simulated unlinked"]
    n_edges = len(pd.read_csv(web_files["metaweb"]))
    assert ds.sizes["edge"] == n_edges
    for name in ("interaction", "interaction_independent"):
        v = ds[name]
        assert v.dtype == np.float32 and "long_name" in v.attrs
        assert np.nanmin(v.values) >= 0 and np.nanmax(v.values) <= 1
    land = np.isfinite(ds["expected_links"].values)
    assert 0.3 < land.mean() < 1.0  # sea and nodata cells are NaN
    links = ds["expected_links"].values[land]
    assert np.allclose(links, ds["interaction"].values[:, land].sum(0), atol=1e-4)
    assert np.nanmax(ds["expected_connectance"].values) <= 1
    focal = ds["focal_enemy"].values[land]
    assert focal.std() > 0.01  # varies over the region with the covariates
    # joint and independent differ where the simulated factor links the species
    diff = ds["interaction"].values[:, land] - ds["interaction_independent"].values[:, land]
    assert np.abs(diff).mean() > 0.01


def test_bad_inputs_fail_before_mapping(
    cr_zarr: Path, model_dir: Path, web_files: dict, tmp_path: Path
) -> None:
    from ecocube.models.interactions import interaction_map

    out = tmp_path / "x.zarr"
    kw = {"mapping": web_files["mapping"]}
    with pytest.raises(InvalidInputError, match="--focal 'pest' is not a species"):
        interaction_map(model_dir, web_files["metaweb"], cr_zarr, out, focal="pest", **kw)
    with pytest.raises(InvalidInputError, match="--draws 1 must be"):
        interaction_map(model_dir, web_files["metaweb"], cr_zarr, out, draws=1, **kw)
    with pytest.raises(InvalidInputError, match="is not a folder"):
        interaction_map(tmp_path / "none", web_files["metaweb"], cr_zarr, out, **kw)
    with pytest.raises(InvalidInputError, match="no edge of the metaweb"):
        interaction_map(model_dir, web_files["metaweb"], cr_zarr, out)
    with pytest.raises(InvalidInputError, match="already exists; pass overwrite=True"):
        interaction_map(model_dir, web_files["metaweb"], cr_zarr, cr_zarr, **kw)
    assert not out.exists()


def test_model_without_factors_fails_for_co_occurrence_and_maps_marginals_only(
    cr_cube: xr.Dataset, cr_zarr: Path, web_files: dict, tmp_path: Path
) -> None:
    from ecocube.cube import open_cube
    from ecocube.models.interactions import interaction_map

    species = pd.read_csv(web_files["mapping"])["species"].tolist()
    sdm = _fit(cr_cube, species, 200, 1, n_factors=0, num_samples=20, steps=50)
    out = tmp_path / "m.zarr"
    args = (sdm, web_files["metaweb"], cr_zarr, out)
    with pytest.raises(InvalidInputError, match="no latent factors"):
        interaction_map(*args, mapping=web_files["mapping"], progress=False)
    assert not out.exists()
    result = interaction_map(
        *args, mapping=web_files["mapping"], joint=False, focal="simulated Ovaria", tile=256
    )
    ds = open_cube(result.store).compute()
    assert "interaction" not in ds and "expected_connectance" not in ds
    assert ds.attrs["ecocube:co_occurrence"] == "product of marginal probabilities only"
    land = np.isfinite(ds["expected_links_independent"].values)
    p = sdm.predict_cells(
        pd.DataFrame({v: cr_cube[v].values[land] for v in VARIABLES}).iloc[:50]
    ).mean
    names = list(sdm.species_)
    c, r = names.index("simulated Chalci"), names.index("simulated Ovaria")
    edge = list(ds["edge"].values).index("simulated Chalci -> simulated Ovaria")
    expected = p[:, c] * p[:, r]
    got = ds["interaction_independent"].values[edge][land][:50]
    assert np.allclose(got, expected, atol=1e-5)
    assert np.nanmax(ds["focal_enemy_independent"].values) <= 1
