"""``ecocube sdm map`` (ecocube.models.sdm_map) on real data: a maxent network fitted to Costa
Rica GBIF records with CHELSA covariates, mapped over a CHELSA cube of the Nicoya peninsula and
the Gulf of Nicoya (sea cells: CHELSA has values there), with COGs and a STAC item."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ecocube.errors import InvalidInputError

VARIABLES = ["bio1", "bio4", "bio12"]
#: Nicoya peninsula, the gulf and the Pacific west of it (lon/lat).
BBOX = (-86.0, 9.5, -84.6, 10.6)


@pytest.fixture(scope="module")
def nicoya_cube(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecocube.cube import anchor_of, build_cube, write_cube
    from ecocube.cube.testing import chelsa_items

    items = chelsa_items(bands=(1, 4, 12))
    anchor, res = anchor_of(items[0])
    ds = build_cube(items, bbox=BBOX, resolution=res, anchor=anchor).compute()
    return write_cube(ds, tmp_path_factory.mktemp("cube") / "nicoya.zarr", items=items)


@pytest.fixture(scope="module")
def model_dir(nicoya_cube: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """maxent-net on the four most recorded species of the cube's area, table path."""
    from ecocube.cube import open_cube
    from ecocube.models import SDM
    from ecocube.models.datasets.gbif import load_costa_rica_occurrences

    ds = open_cube(nicoya_cube).compute()
    occ = load_costa_rica_occurrences()
    inside = occ["x"].between(BBOX[0], BBOX[2]) & occ["y"].between(BBOX[1], BBOX[3])
    occ = occ[inside]
    top = occ["species"].value_counts().index[:4]
    occ = occ[occ["species"].isin(top)]
    rng = np.random.default_rng(0)
    records = pd.concat(
        [
            pd.DataFrame(
                {"species": occ["species"], "kind": "presence", "x": occ["x"], "y": occ["y"]}
            ),
            pd.DataFrame(
                {
                    "species": None,
                    "kind": "background",
                    "x": rng.uniform(BBOX[0], BBOX[2], 1500),
                    "y": rng.uniform(BBOX[1], BBOX[3], 1500),
                }
            ),
        ],
        ignore_index=True,
    )
    values = ds.ecocube.sample_points(records["x"], records["y"], variables=VARIABLES)
    records = pd.concat([records, values[VARIABLES]], axis=1).dropna(subset=VARIABLES)
    sdm = SDM(
        model="maxent-net", covariates=VARIABLES, options={"epochs": 20, "n_members": 3}, cv_folds=0
    ).fit(records)
    return sdm.save(tmp_path_factory.mktemp("model") / "model")


def _maps(path: Path) -> xr.Dataset:
    from ecocube.cube import open_cube

    return open_cube(path).compute()


def test_maps_hold_probabilities_with_uncertainty_on_land_only(nicoya_cube, model_dir, tmp_path):
    from ecocube.cube import GlobalLandMask, open_cube
    from ecocube.models import SDM, map_model

    result = map_model(model_dir, nicoya_cube, tmp_path / "maps.zarr", device="cpu", tile=64)
    maps = _maps(result.store)
    assert maps["mean"].dims == ("species", "y", "x") and maps["mean"].dtype == np.float32
    assert list(maps["species"].values) == list(SDM.load(model_dir).species_)
    values = {s: maps[s].values for s in ("mean", "sd", "q05", "q95")}
    finite = np.isfinite(values["mean"])
    assert finite.sum() == result.cells * len(result.species)
    assert all(np.array_equal(np.isfinite(v), finite) for v in values.values())
    m = values["mean"][finite]
    assert 0 <= m.min() and m.max() <= 1 and values["sd"][finite].min() >= 0
    assert (values["q05"][finite] <= values["q95"][finite]).all()
    assert np.ptp(m) > 0.1, "a map that does not vary is no map"
    # NaN exactly where the bundled land mask says sea (CHELSA has values over the sea)
    cube = open_cube(nicoya_cube).compute()
    yy, xx = np.meshgrid(cube["y"].values, cube["x"].values, indexing="ij")
    with GlobalLandMask() as globe:
        land = globe.is_land(yy.ravel(), xx.ravel()).reshape(yy.shape)
    inputs_ok = np.isfinite(np.stack([cube[v].values for v in VARIABLES])).all(0)
    assert (~land & inputs_ok).sum() > 1000, "the test area must hold sea cells with values"
    assert np.array_equal(finite[0], land & inputs_ok)
    # the same numbers as predicting the cells' covariates directly
    sdm = SDM.load(model_dir)
    rows, cols = np.nonzero(finite[0])
    table = pd.DataFrame({v: cube[v].values[rows, cols] for v in VARIABLES})
    direct = sdm.estimator_.predict(table)
    np.testing.assert_allclose(values["mean"][:, rows, cols].T, direct.mean, rtol=1e-5, atol=1e-6)
    # novelty of the cells' covariates against the training data, on the mapped cells only
    nov, count = maps["novelty"].values, maps["novelty_count"].values
    assert np.array_equal(np.isfinite(nov), finite[0])
    on = finite[0]
    assert np.array_equal(nov[on] < 0, count[on] > 0)  # MESS < 0 iff a covariate is outside
    assert 0 < (count[on] > 0).sum() < on.sum()  # the background did not cover every cell


def test_tile_size_does_not_change_the_maps(nicoya_cube, model_dir, tmp_path):
    from ecocube.models import map_model

    a = map_model(model_dir, nicoya_cube, tmp_path / "a.zarr", device="cpu", tile=37)
    b = map_model(model_dir, nicoya_cube, tmp_path / "b.zarr", device="cpu", tile=512)
    ma, mb = _maps(a.store), _maps(b.store)
    for stat in ("mean", "sd", "q05", "q95"):
        # the same cells, the same values up to float32 rounding: matrix products of another
        # batch shape may sum in another order (one or two units in the last place)
        assert np.array_equal(np.isnan(ma[stat].values), np.isnan(mb[stat].values))
        np.testing.assert_allclose(ma[stat].values, mb[stat].values, rtol=1e-6, atol=1e-7)


def test_cli_writes_cogs_and_registers_a_valid_stac_item(nicoya_cube, model_dir, tmp_path):
    import pystac
    from typer.testing import CliRunner

    from ecocube.catalog import validate_catalog
    from ecocube.cli import app
    from ecocube.models.sdm_map import model_id

    catalog = tmp_path / "catalog"
    pystac.Catalog("maps", "test catalog").normalize_and_save(
        str(catalog), catalog_type=pystac.CatalogType.SELF_CONTAINED
    )
    out, cogs = catalog / "maps" / "nicoya.zarr", catalog / "maps" / "nicoya-cogs"
    species = json.loads((model_dir / "manifest.json").read_text())["species"][:2]
    args = ["sdm", "map", str(model_dir), "--cube", str(nicoya_cube), "--out", str(out)]
    args += ["--species", ",".join(species), "--cog", str(cogs), "--catalog", str(catalog)]
    res = CliRunner().invoke(app, [*args, "--device", "cpu", "--tile", "128"])
    assert res.exit_code == 0, res.output
    assert "mapped 2 species" in res.output and "registered item" in res.output
    assert list(_maps(out)["species"].values) == species
    tifs = sorted(p.name for p in cogs.glob("*.tif"))
    assert len(tifs) == 2 * 4 + ("novelty" in _maps(out)), tifs
    assert validate_catalog(catalog) == []
    cat = pystac.Catalog.from_file(str(catalog / "catalog.json"))
    items = list(cat.get_items(recursive=True))
    assert [i.collection_id for i in items] == ["ecocube-maps"]
    item = items[0]
    assert item.properties["mlm:name"] == "maxent-net"
    assert item.properties["mlm:input"][0]["variables"] == VARIABLES
    assert [
        c["description"] for c in item.properties["mlm:output"][0]["classification:classes"]
    ] == species
    assert _maps(out).attrs["ecocube:model_id"] == model_id(model_dir)


def test_bad_inputs_fail_before_mapping(nicoya_cube, model_dir, tmp_path):
    from ecocube.cube import open_cube, write_cube
    from ecocube.models import map_model

    out = tmp_path / "maps.zarr"
    lacking = write_cube(open_cube(nicoya_cube).compute()[["bio1"]], tmp_path / "bio1.zarr")
    with pytest.raises(InvalidInputError, match=r"lacks .*\['bio4', 'bio12'\]"):
        map_model(model_dir, lacking, out, device="cpu")
    with pytest.raises(InvalidInputError, match=r"species \['Nope'\] are not in the model"):
        map_model(model_dir, nicoya_cube, out, species=["Nope"], device="cpu")
    with pytest.raises(InvalidInputError, match=r"is not a static STAC catalog"):
        map_model(model_dir, nicoya_cube, out, catalog=tmp_path, device="cpu")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match=r"--cog"):
        map_model(model_dir, nicoya_cube, out, cog=tmp_path / "file" / "cogs", device="cpu")
    with pytest.raises(InvalidInputError, match=r"is not a folder; pass the folder written by"):
        map_model(tmp_path / "none", nicoya_cube, out, device="cpu")
    assert not out.exists() and not list(tmp_path.glob(".maps.zarr*"))


def test_species_figure_has_mean_and_sd_panels_colour_bars_and_records(
    nicoya_cube, model_dir, tmp_path
):
    from ecocube.models import map_model
    from ecocube.models.map_plot import plot_species_maps

    result = map_model(model_dir, nicoya_cube, tmp_path / "maps.zarr", device="cpu")
    sp = list(result.species[:2])
    records = pd.DataFrame({"species": [sp[0]] * 3, "x": [-85.5, -85.4, -85.3], "y": [10.0] * 3})
    fig = plot_species_maps(result.store, sp, records=records)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 4  # mean and sd for each species
    assert len(fig.axes) == 8  # and a colour bar each
    titles = [ax.get_title() for ax in images]
    assert "predictive mean" in titles[0] and "predictive sd" in titles[1]
    legend = [t.get_text() for t in images[0].get_legend().get_texts()]
    assert legend == ["masked: sea, nodata", "records"]
    assert images[0].images[0].get_clim() == (0.0, 1.0)
    assert len(images[0].collections[0].get_offsets()) == 3  # the species' own records
    assert len(images[2].collections[0].get_offsets()) == 0
    with pytest.raises(InvalidInputError, match=r"species \['Nope'\] are not in the maps"):
        plot_species_maps(result.store, ["Nope"])
    with pytest.raises(InvalidInputError, match=r"records lack the columns \['x', 'y'\]"):
        plot_species_maps(result.store, sp, records=records[["species"]])


def test_patch_models_map_through_windows_independent_of_the_tiles(nicoya_cube, tmp_path):
    """A multimodal model (CNN on 5 x 5 patches) fitted from the cube maps the same values
    with small and whole-region tiles: each tile's window carries half a patch around it."""
    from ecocube.models import SDM, map_model
    from ecocube.models.datasets.gbif import load_costa_rica_occurrences

    occ = load_costa_rica_occurrences()
    occ = occ[occ["x"].between(BBOX[0], BBOX[2]) & occ["y"].between(BBOX[1], BBOX[3])]
    occ = occ[occ["species"].isin(occ["species"].value_counts().index[:2])]
    sdm = SDM(
        "multimodal",
        covariates=VARIABLES,
        patch_variables=VARIABLES,
        patch_size=5,
        options={"epochs": 5, "n_members": 2},
    ).fit(occ[["species", "x", "y"]], cube=nicoya_cube, background=400, drop_outside=True)
    model = sdm.save(tmp_path / "mm")
    a = map_model(model, nicoya_cube, tmp_path / "a.zarr", device="cpu", tile=23)
    b = map_model(model, nicoya_cube, tmp_path / "b.zarr", device="cpu", tile=512)
    ma, mb = _maps(a.store), _maps(b.store)
    assert a.cells > 1000 and ma.attrs["ecocube:model"].count('"multimodal"') == 1
    for stat in ("mean", "sd", "q05", "q95"):
        assert np.array_equal(np.isnan(ma[stat].values), np.isnan(mb[stat].values))
        np.testing.assert_allclose(ma[stat].values, mb[stat].values, rtol=1e-5, atol=1e-6)
    assert float(ma["sd"].max()) > 0  # two members disagree somewhere
