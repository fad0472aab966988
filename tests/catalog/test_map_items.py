"""STAC Items of species distribution maps (ecocube.catalog._map_items): the mlm, datacube,
proj and raster fields, the model asset, the link to the input cube, offline validation (with
the mlm rules of ecocube.catalog._validate) and the served STAC API."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecocube.catalog import validate_catalog
from ecocube.catalog._map_items import MAPS_COLLECTION_ID, MLM_EXT, map_item, register_maps
from ecocube.errors import CatalogError, EcocubeWarning, InvalidInputError
from tests.conftest import requires_mirror

pytestmark = requires_mirror

SPECIES = ["Ateles geoffroyi", "Bothrops asper", "Leopardus pardalis"]
VARIABLES = ["bio1", "bio12"]
MODEL = {
    "name": "maxent-net",
    "architecture": "multi-species maximum-entropy network (MLP)",
    "framework": "PyTorch",
    "framework_version": "2.14.1",
    "hyperparameters": {"hidden": [64, 64], "epochs": 50},
}


def _predict(table: pd.DataFrame) -> dict[str, np.ndarray]:
    t = table["bio1"].to_numpy(np.float64)[:, None]
    mean = 1 / (1 + np.exp(-(t - 22 + np.arange(len(SPECIES))[None, :])))
    return {"mean": mean, "sd": 0.1 * mean, "q05": 0.8 * mean, "q95": np.minimum(1.2 * mean, 1)}


def _model_dir(path: Path, weights: bytes = b"weights-1") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").write_text(json.dumps({"model": "maxent-net"}))
    (path / "model.pt").write_bytes(weights)
    return path


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A catalog of the CHELSA rasters with a cube of them (registered), maps of the cube with
    the land mask, their COGs, all inside the catalog folder, and a model folder outside."""
    from ecocube.catalog import build_catalog, register_cube
    from ecocube.cube import build_cube, write_cube
    from ecocube.cube._cog import write_cogs
    from ecocube.models.mapping import predict_map
    from ecocube.models.novelty import Novelty

    root = tmp_path_factory.mktemp("mapcat")
    catalog = root / "catalog"
    build_catalog(catalog, ["chelsa_costa_rica"])
    ds = build_cube(
        catalog, assets=VARIABLES, bbox=(-85.0, 9.0, -84.0, 10.4), resolution=1 / 60
    ).compute()
    cube = write_cube(ds, catalog / "cubes" / "chelsa.zarr")
    register_cube(cube, catalog)
    train = ds[VARIABLES].isel(y=slice(0, 20)).to_dataframe()[VARIABLES]
    maps = predict_map(
        cube,
        _predict,
        variables=VARIABLES,
        species=SPECIES,
        out=catalog / "maps" / "cr.zarr",
        tile=32,
        novelty=Novelty.fit(train, VARIABLES),
        model=MODEL,
        device="cpu",
        progress=False,
    )
    write_cogs(maps, catalog / "maps" / "cr-cogs", progress=False)
    return {
        "catalog": catalog,
        "cube": cube,
        "maps": maps,
        "cogs": catalog / "maps" / "cr-cogs",
        "model": _model_dir(root / "model"),
    }


@pytest.fixture(scope="module")
def registered(mapped: dict[str, Path]):
    with warnings.catch_warnings():
        warnings.simplefilter("error", EcocubeWarning)  # everything lies inside the catalog
        return register_maps(
            mapped["maps"], mapped["catalog"], mapped["model"], cogs=mapped["cogs"]
        )


def test_item_describes_maps_model_inputs_and_outputs(mapped, registered):
    item = registered
    props = item.properties
    assert item.collection_id == MAPS_COLLECTION_ID
    assert MLM_EXT in item.stac_extensions
    assert props["mlm:name"] == "maxent-net" and props["mlm:framework"] == "PyTorch"
    assert props["mlm:architecture"] == MODEL["architecture"]
    assert props["mlm:hyperparameters"] == MODEL["hyperparameters"]
    (inp,) = props["mlm:input"]
    assert inp["variables"] == VARIABLES
    assert inp["input"] == {
        "shape": [-1, 2],
        "dim_order": ["batch", "variables"],
        "data_type": "float32",
    }
    (out,) = props["mlm:output"]
    assert out["variables"] == ["mean", "sd", "q05", "q95"]
    assert out["result"]["shape"] == [-1, 4, 3]
    assert [c["description"] for c in out["classification:classes"]] == SPECIES
    assert out["classification:classes"][0]["name"] == "Ateles_geoffroyi"
    dims = props["cube:dimensions"]
    assert dims["species"]["values"] == SPECIES
    assert props["cube:variables"]["mean"]["dimensions"] == ["species", "y", "x"]
    assert set(props["cube:variables"]) == {"mean", "sd", "q05", "q95", "novelty", "novelty_count"}
    assert props["proj:code"] == "EPSG:4326" and len(props["proj:transform"]) == 6
    assert props["proj:transform"][0] == pytest.approx(1 / 60)
    # CHELSA 1981-2010: the maps carry the climatology's time span
    assert props["start_datetime"].startswith("1981-01-01") and item.datetime is None
    assert props["end_datetime"].startswith("2010-12-31")
    cogs = [k for k, a in item.assets.items() if "raster:bands" in a.extra_fields]
    assert len(cogs) == 3 * 4 + 1
    band = item.assets["Ateles_geoffroyi_mean"].extra_fields["raster:bands"][0]
    assert band == {
        "data_type": "float32",
        "nodata": "nan",
        "unit": "1",
        "spatial_resolution": pytest.approx(1 / 60),
    }
    model = item.assets["model"]
    assert "mlm:model" in model.roles and model.extra_fields["mlm:artifact_type"]
    copied = Path(model.get_absolute_href())
    assert copied.read_text() == (mapped["model"] / "manifest.json").read_text()
    assert (copied.parent / "model.pt").read_bytes() == b"weights-1"
    (link,) = [lk for lk in item.links if lk.rel == "derived_from"]
    assert Path(link.get_absolute_href()).parent.parent.name == "ecocube-cubes"


def test_the_catalog_validates_and_the_cli_agrees(mapped, registered, capsys):
    from ecocube.cli import main

    assert validate_catalog(mapped["catalog"]) == []
    assert main(["catalog", "validate", str(mapped["catalog"])]) == 0


def test_the_served_stac_api_finds_the_maps(mapped, registered, pgstac):
    from ecocube.catalog import search, serve_catalog

    with serve_catalog(mapped["catalog"]) as url:
        found = search(url, collections=[MAPS_COLLECTION_ID])
        assert [i.id for i in found] == [registered.id]
        item = found[0]
        assert item.properties["mlm:input"][0]["variables"] == VARIABLES
        zarr_href = item.assets["zarr"].href
        assert zarr_href.startswith("file://") and zarr_href.endswith("cr.zarr")
        near = search(url, bbox=(-84.5, 9.5, -84.4, 9.6), collections=[MAPS_COLLECTION_ID])
        assert [i.id for i in near] == [registered.id]
        away = search(url, bbox=(10.0, 45.0, 11.0, 46.0), collections=[MAPS_COLLECTION_ID])
        assert list(away) == []


def test_registering_again_replaces_the_item_and_its_model(mapped, registered, tmp_path):
    import pystac

    copy = tmp_path / "catalog"
    shutil.copytree(mapped["catalog"], copy)
    maps = copy / "maps" / "cr.zarr"
    model = _model_dir(tmp_path / "model", weights=b"weights-2")  # refitted, same size
    item = register_maps(maps, copy, model)
    again = register_maps(maps, copy, model)
    assert again.id == item.id
    coll = pystac.Catalog.from_file(str(copy / "catalog.json")).get_child(MAPS_COLLECTION_ID)
    ids = sorted(i.id for i in coll.get_items())
    assert item.id in ids and len(ids) == 2  # the copied item of the original store, and this
    weights = Path(again.assets["model"].get_absolute_href()).parent / "model.pt"
    assert weights.read_bytes() == b"weights-2"
    assert validate_catalog(copy) == []


def test_maps_outside_the_catalog_warn(mapped, tmp_path):
    import pystac

    cat = tmp_path / "cat"
    c = pystac.Catalog("t", "test")
    c.normalize_hrefs(cat.as_posix() + "/")
    c.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    with pytest.warns(EcocubeWarning, match=r"asset\(s\) of the maps lie outside the catalog"):
        item = register_maps(mapped["maps"], cat, mapped["model"])
    assert not [lk for lk in item.links if lk.rel == "derived_from"]  # the cube is not there
    assert any("points outside the catalog folder" in p.message for p in validate_catalog(cat))


def test_bad_inputs_are_named(mapped, tmp_path):
    with pytest.raises(InvalidInputError, match=r"model_dir=.* is not a folder holding a fitted"):
        register_maps(mapped["maps"], mapped["catalog"], tmp_path / "nothing")
    with pytest.raises(InvalidInputError, match=r"an ecocube store but not a maps store"):
        map_item(mapped["cube"])
    (tmp_path / "cogs").mkdir()
    with pytest.raises(InvalidInputError, match=r"not a COG folder of ecocube \(cogs-index.json"):
        map_item(mapped["maps"], cogs=tmp_path / "cogs")
    broken = tmp_path / "broken"
    shutil.copytree(mapped["cogs"], broken)
    (broken / "novelty.tif").unlink()
    with pytest.raises(
        InvalidInputError, match=r"novelty.tif is listed in cogs-index.json but missing"
    ):
        map_item(mapped["maps"], cogs=broken)
    with pytest.raises(CatalogError, match=r"has no catalog.json"):
        register_maps(mapped["maps"], tmp_path / "nocat", mapped["model"])
    copy = tmp_path / "catalog"
    shutil.copytree(mapped["catalog"], copy)
    cube_id = next(p.name for p in (copy / "ecocube-cubes").iterdir() if p.is_dir())
    with pytest.raises(CatalogError, match=r"cannot register the maps: item .* already describes"):
        register_maps(
            copy / "maps" / "cr.zarr",
            copy,
            mapped["model"],
            item_id=cube_id,
            collection_id="ecocube-cubes",
        )


def _item_file(catalog: Path) -> Path:
    folder = next(p for p in (catalog / MAPS_COLLECTION_ID).iterdir() if p.is_dir())
    return folder / f"{folder.name}.json"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["properties"].pop("mlm:architecture"), "lacks mlm:architecture"),
        (lambda d: d["stac_extensions"].remove(MLM_EXT), "uses 'mlm:' fields but does not declare"),
        (
            lambda d: d["assets"]["model"]["roles"].remove("mlm:model"),
            "no asset has the role 'mlm:model'",
        ),
        (lambda d: d["assets"]["model"].pop("mlm:artifact_type"), "but no mlm:artifact_type"),
        (
            lambda d: d["properties"]["mlm:input"][0]["input"].update(shape=[-1, 3]),
            "dimension 'variables' has size 3 but 2 variables are listed",
        ),
        (
            lambda d: d["properties"]["mlm:output"][0]["result"].update(
                dim_order=["batch", "stats", "species"]
            ),
            "has no 'variables' dimension",
        ),
        (
            lambda d: d["properties"].update({"mlm:tasks": ["mapping"]}),
            "mlm:tasks must be distinct names",
        ),
        (
            lambda d: d["properties"].update({"mlm:pretrained_source": "ImageNet"}),
            "mlm:pretrained_source must be null",
        ),
        (
            lambda d: d["properties"].update({"mlm:framework_version": "2.14"}),
            "must be a semantic version",
        ),
        (
            lambda d: d["properties"].update({"mlm:accelerator": "tpu"}),
            "mlm:accelerator 'tpu' not one of",
        ),
        (
            lambda d: d["assets"]["zarr"].update({"mlm:name": "x"}),
            "allowed only in item properties",
        ),
        (
            lambda d: d["properties"]["mlm:output"][0]["classification:classes"][0].update(
                name="a b"
            ),
            "name 'a b' must match",
        ),
        (
            lambda d: d["properties"]["mlm:input"][0]["input"].update(data_type="real"),
            "data_type 'real' not one of",
        ),
    ],
)
def test_validation_reports_broken_mlm_fields(mapped, registered, tmp_path, edit, message):
    copy = tmp_path / "catalog"
    shutil.copytree(mapped["catalog"], copy)
    path = _item_file(copy)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    problems = [p.message for p in validate_catalog(copy, check_checksums=False)]
    assert any(message in m for m in problems), problems
