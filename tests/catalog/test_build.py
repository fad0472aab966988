"""Building the static catalog from the mirror (ecocube.catalog._build): structure, extension
fields, scientific facts, and the user's files in the output folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio

from ecocube import data
from ecocube.catalog import (
    build_catalog,
    catalog_datasets,
    item_epsg,
    stackable_items,
    validate_catalog,
)
from ecocube.cli import main
from ecocube.errors import InvalidInputError

CHELSA = "chelsa-v2.1-bioclim-1981-2010-costa-rica"
C2 = "LC08_L2SP_008059_20191201_20200825_02_T1"


def _path(item: pystac.Item, key: str) -> Path:
    return Path(item.assets[key].get_absolute_href())


def test_collections_and_item_counts(built_catalog: Path, catalog_items: dict) -> None:
    cat = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    counts = {c.id: len(list(c.get_items())) for c in cat.get_children()}
    assert counts == {
        "chelsa-costa-rica": 1,
        "worldclim-dismo": 1,
        "gam-landuse-costa-rica": 1,
        "esa-worldcover": 2,
        "sentinel-2-l2a-south-tyrol": 1,
        "sentinel-2-l2a-barbellino": 2,
        "sentinel-2-l2a-emilia": 60,
        "landsat-8-l1-new-york": 19,
        "landsat-c2-l2-colombia": 1,
        "ocean-north-atlantic": 7,
        "ocean-global-cesm": 2,
    }
    assert len(catalog_items) == 97
    assert set(catalog_datasets()) <= set(data.datasets())


def test_built_catalog_is_valid(built_catalog: Path) -> None:
    assert validate_catalog(built_catalog) == []


def test_chelsa_encodings_and_saturated_bio12(catalog_items: dict) -> None:
    item = catalog_items[CHELSA]
    assert sorted(item.assets, key=lambda k: int(k[3:])) == [f"bio{i}" for i in range(1, 20)]
    bio12 = item.assets["bio12"].extra_fields["raster:bands"][0]
    assert bio12["nodata"] == 65535 and bio12["data_type"] == "uint16"
    assert bio12["scale"] == pytest.approx(0.1)
    with rasterio.open(_path(item, "bio12")) as src:
        assert int((src.read(1) == bio12["nodata"]).sum()) == 1492  # MANIFEST: saturated cells
    bio1 = item.assets["bio1"].extra_fields["raster:bands"][0]
    assert (bio1["scale"], bio1["offset"], bio1["unit"]) == (0.1, -273.15, "°C")
    with rasterio.open(_path(item, "bio1")) as src:
        celsius = src.read(1) * bio1["scale"] + bio1["offset"]
    assert celsius.min() == pytest.approx(3.75, abs=1e-6)  # 2769 K/10
    assert celsius.max() == pytest.approx(27.35, abs=1e-6)  # 3005 K/10
    bio3 = item.assets["bio3"].extra_fields["raster:bands"][0]
    assert bio3["data_type"] == "float32" and bio3["scale"] == 10.0
    assert item.properties["start_datetime"].startswith("1981-01-01")


def test_file_checksums_equal_registry(catalog_items: dict) -> None:
    ds = data.dataset("chelsa_costa_rica")
    item = catalog_items[CHELSA]
    for key, asset in item.assets.items():
        entry = ds.file(f"CHELSA_{key}_1981-2010_V.2.1.tif")
        assert asset.extra_fields["file:checksum"] == "1220" + entry.sha256
        assert asset.extra_fields["file:size"] == entry.size
    # and every asset file of the catalog hashes to its file:checksum
    for it in catalog_items.values():
        for asset in it.assets.values():
            digest = hashlib.sha256(Path(asset.get_absolute_href()).read_bytes()).hexdigest()
            assert asset.extra_fields["file:checksum"] == "1220" + digest


def test_projection_code_and_epsg(built_catalog: Path, catalog_items: dict) -> None:
    raw = json.loads(
        (built_catalog / "landsat-c2-l2-colombia" / C2 / f"{C2}.json").read_text()
    )  # both fields on disk; pystac drops proj:epsg when it reads (migration to proj:code)
    assert raw["properties"]["proj:code"] == "EPSG:32618"
    assert raw["properties"]["proj:epsg"] == 32618
    assert raw["assets"]["SR_B4"]["proj:epsg"] == 32618
    item = catalog_items[C2]
    assert item.properties["proj:code"] == "EPSG:32618"
    assert item_epsg(item) == 32618
    assert item_epsg(item.assets["SR_B4"]) == 32618
    gam = catalog_items["gam-landuse-2020-costa-rica"]
    assert gam.properties["proj:code"] == "EPSG:3857" and item_epsg(gam) == 3857


def test_landsat_c2_from_usgs_json_with_corrected_grid(catalog_items: dict) -> None:
    item = catalog_items[C2]
    assert item.properties["eo:cloud_cover"] == pytest.approx(81.02)
    sr = item.assets["SR_B4"].extra_fields
    assert sr["raster:bands"][0]["scale"] == pytest.approx(2.75e-5)
    assert sr["raster:bands"][0]["offset"] == pytest.approx(-0.2)
    assert sr["eo:bands"][0]["common_name"] == "red"
    # the USGS JSON/MTL describe the 30 m grid (7741 x 7591); the files are 512 x 512
    assert sr["proj:shape"] == [512, 512]
    with rasterio.open(_path(item, "SR_B4")) as src:
        assert list(src.transform)[:6] == pytest.approx(sr["proj:transform"])
    st = item.assets["ST_B10"].extra_fields["raster:bands"][0]
    assert (st["scale"], st["offset"], st["unit"]) == (0.00341802, 149.0, "kelvin")
    for asset in item.assets.values():
        assert not asset.href.startswith(("/", "http")), asset.href
    assert item.datetime.isoformat().startswith("2019-12-01T15:13:51")


def test_landsat_l8ny18_cloud_cover_from_bqa(catalog_items: dict) -> None:
    scenes = [i for i in catalog_items.values() if i.collection_id == "landsat-8-l1-new-york"]
    assert len(scenes) == 19
    for item in scenes:
        assert sorted(item.assets) == sorted([f"B{i}" for i in range(1, 12)] + ["BQA"])
        with rasterio.open(_path(item, "BQA")) as src:
            bqa = src.read(1).astype(np.int64)
        valid = bqa % 2 == 0  # bit 0: designated fill
        cloud = (bqa // 16) % 2 == 1  # bit 4: cloud
        expected = 100 * cloud[valid].sum() / valid.sum()
        assert item.properties["eo:cloud_cover"] == pytest.approx(expected, abs=0.006)
    covers = sorted(i.properties["eo:cloud_cover"] for i in scenes)
    assert covers[0] < 5 < covers[-1]  # a real spread, not a constant


def test_sentinel2_scl_classes_and_reflectance_scale(catalog_items: dict) -> None:
    item = catalog_items["s2-l2a-20220612-south-tyrol"]
    bands = item.assets["data"].extra_fields
    assert [b["name"] for b in bands["eo:bands"]] == ["B04", "B03", "B02", "B08", "SCL"]
    assert [b.get("common_name") for b in bands["eo:bands"]][:4] == ["red", "green", "blue", "nir"]
    assert bands["raster:bands"][0]["scale"] == 1e-4
    scl = bands["raster:bands"][4]["classification:classes"]
    assert [c["value"] for c in scl] == list(range(12))
    assert scl[9]["name"] == "cloud_high_probability" and scl[0]["nodata"] is True
    emilia = [i for i in catalog_items.values() if i.collection_id == "sentinel-2-l2a-emilia"]
    assert len({i.datetime for i in emilia}) == 60
    one = catalog_items["s2-l2a-20200109-emilia"]
    with rasterio.open(_path(one, "scl")) as src:
        scl_px = src.read(1)
    valid = scl_px != 0
    expected = 100 * np.isin(scl_px[valid], (8, 9, 10)).mean() if valid.any() else 0.0
    assert one.properties["eo:cloud_cover"] == pytest.approx(expected, abs=0.006)


def test_landcover_classes(catalog_items: dict) -> None:
    gam = catalog_items["gam-landuse-2020-costa-rica"]
    classes = gam.assets["landuse"].extra_fields["classification:classes"]
    assert [c["value"] for c in classes] == [1, 2, 3, 4, 5, 6, 7, 8, 15]
    assert classes[5]["description"] == "Coffee" and classes[-1]["nodata"] is True
    wc = catalog_items["esa-worldcover-2021-v200-sao-tome"]
    wcc = {c["value"]: c["name"] for c in wc.assets["map"].extra_fields["classification:classes"]}
    assert wcc[95] == "mangroves" and wcc[10] == "tree_cover"
    assert wc.properties["start_datetime"].startswith("2021-01-01")


def test_ocean_datacube_fields_from_files(catalog_items: dict) -> None:
    glorys = catalog_items["glorys12-physics-2012-north-atlantic"].properties
    assert glorys["cube:variables"]["thetao"]["standard_name"] == "sea_water_potential_temperature"
    dims = ["time", "depth", "latitude", "longitude"]
    assert glorys["cube:variables"]["thetao"]["dimensions"] == dims
    extent = ["2012-01-01T12:00:00Z", "2012-12-31T12:00:00Z"]
    assert glorys["cube:dimensions"]["time"]["extent"] == extent
    assert glorys["cube:dimensions"]["depth"]["unit"] == "m"
    cesm = catalog_items["cesm-marbl-bgc-2012-north-atlantic"].properties
    assert cesm["cube:dimensions"]["z_t"]["unit"] == "centimeters"
    assert cesm["cube:dimensions"]["z_t"]["values"][0] == pytest.approx(2500.0)
    assert cesm["cube:variables"]["NO3"]["standard_name"].endswith("nitrate_in_sea_water")
    assert len(cesm["cube:variables"]) == 32
    surface = catalog_items["cesm-marbl-surface-2012-global"]
    assert surface.properties["cube:dimensions"]["time"]["extent"][0].startswith("2012-01-01")
    assert surface.bbox == [-180.0, -90.0, 180.0, 90.0]


def test_moved_catalog_still_resolves(built_catalog: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "cat"
    shutil.copytree(built_catalog, moved)
    cat = pystac.Catalog.from_file(str(moved / "catalog.json"))
    item = next(i for i in cat.get_items(recursive=True) if i.id == CHELSA)
    href = Path(item.assets["bio12"].get_absolute_href())
    assert href.is_relative_to(moved) and href.is_file()
    assert validate_catalog(moved, check_checksums=False) == []


def test_rioxarray_reads_the_asset_values(catalog_items: dict) -> None:
    rioxarray = pytest.importorskip("rioxarray")
    item = catalog_items["s2-l2a-20200109-emilia"]
    da = rioxarray.open_rasterio(item.assets["ndvi"].get_absolute_href())
    source = data.fetch_file("s2_emilia_ndvi_scl", "NDVI/S2A2A_20200109_022_sampleroi_NDVI_10.tif")
    with rasterio.open(source) as src:
        np.testing.assert_array_equal(da.values[0], src.read(1))
    assert da.rio.crs.to_epsg() == item_epsg(item.assets["ndvi"])


def test_stackstac_stacks_the_items(catalog_items: dict) -> None:
    stackstac = pytest.importorskip("stackstac")
    items = sorted(
        (i for i in catalog_items.values() if i.collection_id == "sentinel-2-l2a-emilia"),
        key=lambda i: i.id,
    )[:3]
    dicts = stackable_items(items)
    assert all(d["properties"]["proj:epsg"] == 32632 for d in dicts)
    cube = stackstac.stack(dicts, assets=["ndvi"], dtype="float64", rescale=False)
    assert cube.shape == (3, 1, 7, 25)
    with rasterio.open(items[0].assets["ndvi"].get_absolute_href()) as src:
        first = src.read(1).astype("float64")
    first[first == -32768] = np.nan
    np.testing.assert_array_equal(cube.isel(time=0, band=0).values, first)


def test_build_is_deterministic_and_selects_datasets(tmp_path: Path, mirror: Path) -> None:
    a = build_catalog(tmp_path / "a", ["s2_barbellino"])
    build_catalog(tmp_path / "b", ["sentinel-2-l2a-barbellino"])
    assert [c.id for c in a.get_children()] == ["sentinel-2-l2a-barbellino"]
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.json"))
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    rel = "sentinel-2-l2a-barbellino/s2-l2a-20170703-barbellino/s2-l2a-20170703-barbellino.json"
    item = json.loads((tmp_path / "a" / rel).read_text())
    assert item["assets"]["scl"]["proj:shape"] == [21, 12]  # 20 m SCL on its own grid
    assert item["properties"]["proj:shape"] == [42, 24]


def test_build_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not catalogued; valid dataset names: chelsa"):
        build_catalog(tmp_path / "x", ["nceas"])
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(InvalidInputError, match="is a file; pass a folder path"):
        build_catalog(afile, ["s2_barbellino"])


def test_build_into_a_dotted_folder_keeps_other_files(
    tmp_path: Path, mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder name with a dot is a folder; the user's files and a failed rebuild lose nothing."""
    out = tmp_path / "catalog.v2"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    cat = build_catalog(out, ["chelsa_costa_rica"])
    assert Path(cat.get_self_href()) == out / "catalog.json"
    assert sorted(p.name for p in out.iterdir()) == [
        "catalog.json",
        "chelsa-costa-rica",
        "notes.txt",
    ]
    assert not (tmp_path / "catalog.json").exists()
    before = (out / "catalog.json").read_bytes()

    def boom(*args: object) -> None:
        raise RuntimeError("simulated failure half-way through the build")

    monkeypatch.setattr("ecocube.catalog._build._collection", boom)
    with pytest.raises(RuntimeError, match="simulated failure"):
        build_catalog(out, ["chelsa_costa_rica"])
    assert (out / "catalog.json").read_bytes() == before
    assert (out / "chelsa-costa-rica" / "collection.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.v2"]  # no temporary leftovers


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_build_refuses_user_content_named_like_a_collection(
    tmp_path: Path, mirror: Path, capsys, kind: str
) -> None:
    """A folder (or file) of the user named like a collection is never replaced, before any work."""
    out = tmp_path / "cat"
    user = out / "chelsa-costa-rica"
    if kind == "folder":
        (user / "analysis").mkdir(parents=True)
        (user / "analysis" / "notes.txt").write_text("mine")
    else:
        out.mkdir()
        user.write_text("mine")
    with pytest.raises(InvalidInputError, match=r"chelsa-costa-rica' exists and is .*not the STAC"):
        build_catalog(out, ["chelsa_costa_rica"])
    # also when the build leaves that collection out (it would be removed)
    args = ["catalog", "build", "--out", str(out), "--dataset", "s2_barbellino"]
    assert main(args) == 1
    assert "chelsa-costa-rica" in capsys.readouterr().err
    mine = user / "analysis" / "notes.txt" if kind == "folder" else user
    assert mine.read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["chelsa-costa-rica"]  # nothing written
    assert [p.name for p in tmp_path.iterdir()] == ["cat"]  # no temporary left


def test_rebuild_replaces_and_removes_its_own_collections(tmp_path: Path, mirror: Path) -> None:
    out = tmp_path / "cat"
    build_catalog(out, ["chelsa_costa_rica"])
    (out / "chelsa-costa-rica" / "stale.txt").write_text("old build")
    build_catalog(out, ["chelsa_costa_rica"])
    assert not (out / "chelsa-costa-rica" / "stale.txt").exists()  # the collection is replaced
    build_catalog(out, ["s2_barbellino"])
    assert sorted(p.name for p in out.iterdir()) == ["catalog.json", "sentinel-2-l2a-barbellino"]


def test_new_item_needs_a_datetime_or_a_range() -> None:
    from datetime import UTC, datetime

    from ecocube.catalog._assets import new_item
    from ecocube.errors import CatalogError

    point = {"type": "Point", "coordinates": [0.0, 0.0]}
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, tzinfo=UTC)
    item = new_item("x", geometry=point, bbox=[0, 0, 0, 0], datetime_=None, start=start, end=end)
    assert item.properties["start_datetime"] == "2020-01-01T00:00:00Z"
    with pytest.raises(CatalogError, match=r"item 'x' has no datetime: give datetime_ or both"):
        new_item("x", geometry=point, bbox=[0, 0, 0, 0], datetime_=None, start=start)
