"""Bad input gives clear errors naming the item, asset or argument and the fix."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pandas as pd
import pytest

from ecocube.cube import CubeSpec, build_cube
from ecocube.cube.testing import item_from_raster, synthetic_raster
from ecocube.errors import (
    CatalogError,
    DataIntegrityError,
    DatasetNotFoundError,
    InvalidInputError,
)


@pytest.fixture()
def item(tmp_path):
    path = synthetic_raster(tmp_path / "tile.tif", width=64, height=64, seed=1)
    return item_from_raster(
        path,
        collection="synth",
        item_id="tile-1",
        asset_key="b1",
        when=datetime(2020, 5, 1, tzinfo=UTC),
    )


def _kw(item):
    return {"bbox": item.bbox, "crs": "EPSG:32632", "resolution": 10}


def test_items_not_overlapping_bbox(item):
    with pytest.raises(InvalidInputError, match=r"no item overlaps.*tile-1.*inside the items"):
        build_cube([item], bbox=(-80, 0, -79, 1), crs="EPSG:4326", resolution=0.01)


def test_unknown_collection(item):
    with pytest.raises(CatalogError, match=r"unknown collection.*'sentinel-9'.*\['synth'\]"):
        build_cube([item], collections=["sentinel-9"], **_kw(item))


def test_missing_asset_file(item, tmp_path):
    (tmp_path / "tile.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"asset 'b1' of item 'tile-1'.*not found"):
        build_cube([item], **_kw(item))


def test_truncated_geotiff(tmp_path):
    path = synthetic_raster(tmp_path / "big.tif", width=600, height=600, seed=2)
    it = item_from_raster(path, collection="synth", item_id="big", asset_key="b1")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataIntegrityError, match=r"asset 'b1' of item 'big'.*corrupt or truncated"):
        build_cube([it], **_kw(it))


def test_multiband_asset_is_refused(tmp_path):
    path = synthetic_raster(tmp_path / "rgb.tif", count=3, seed=3)
    it = item_from_raster(path, collection="synth", item_id="rgb", asset_key="visual")
    with pytest.raises(InvalidInputError, match=r"asset 'visual' of item 'rgb'.*3 bands"):
        build_cube([it], **_kw(it))


def test_untransformable_crs(item):
    with pytest.raises(InvalidInputError, match=r"crs='EPSG:999999'.*EPSG code"):
        build_cube([item], bbox=item.bbox, crs="EPSG:999999", resolution=10)
    # a polar stereographic CRS cannot hold a bbox on the other pole
    with pytest.raises(InvalidInputError, match=r"cannot be transformed"):
        CubeSpec.create(bbox=(-180, -90, 180, -80), crs="EPSG:3413", resolution=1000)


@pytest.mark.parametrize("res", [0, -10, float("nan")])
def test_resolution_not_positive(item, res):
    with pytest.raises(InvalidInputError, match=r"resolution=.* must be > 0"):
        build_cube([item], bbox=item.bbox, crs="EPSG:32632", resolution=res)


def test_time_range_without_items(item):
    with pytest.raises(InvalidInputError, match=r"no item falls in this range.*2020-05-01"):
        build_cube([item], time="2021-01-01/2021-12-31", **_kw(item))


def test_bad_bbox_time_and_options(item):
    with pytest.raises(InvalidInputError, match=r"bbox=.*west < east"):
        CubeSpec.create(bbox=(10, 10, 5, 5), resolution=1)
    with pytest.raises(InvalidInputError, match=r"time=.*ISO 8601"):
        CubeSpec.create(bbox=(0, 0, 1, 1), resolution=0.1, time="yesterday/today")
    with pytest.raises(InvalidInputError, match=r"composite='weekly'"):
        CubeSpec.create(bbox=(0, 0, 1, 1), resolution=0.1, composite="weekly")
    with pytest.raises(InvalidInputError, match=r"indices=.*valid: \['ndvi'\]"):
        CubeSpec.create(bbox=(0, 0, 1, 1), resolution=0.1, indices=["evi"])
    with pytest.raises(CatalogError, match=r"assets=.*'B99'.*available raster assets"):
        build_cube([item], assets=["B99"], **_kw(item))
    with pytest.raises(InvalidInputError, match=r"needs a red and a nir asset"):
        build_cube([item], indices=["ndvi"], **_kw(item))


def test_catalog_path_missing(tmp_path):
    with pytest.raises(CatalogError, match=r"no STAC catalog found.*ecocube catalog build"):
        build_cube(tmp_path / "nowhere", bbox=(0, 0, 1, 1), resolution=0.1)


def test_patch_size_larger_than_cube(item):
    from ecocube.cube import PointPatchDataset

    ds = build_cube([item], **_kw(item)).compute()
    pts = pd.DataFrame({"x": [float(ds.x[3])], "y": [float(ds.y[3])]})
    with pytest.raises(InvalidInputError, match=r"patch_size=512 is larger than the cube"):
        PointPatchDataset(ds, pts, patch_size=512, crs="EPSG:32632")
    with pytest.raises(InvalidInputError, match=r"patch_size=0 must be an integer >= 1"):
        PointPatchDataset(ds, pts, patch_size=0, crs="EPSG:32632")
    with pytest.raises(InvalidInputError, match=r"targets=\['presence'\] not in points"):
        PointPatchDataset(ds, pts, targets="presence", crs="EPSG:32632")
    far = pd.DataFrame({"x": [0.0], "y": [0.0]})
    with pytest.raises(InvalidInputError, match=r"1 point\(s\) fall outside the cube"):
        PointPatchDataset(ds, far, drop_outside=False, crs="EPSG:32632")
    assert PointPatchDataset(ds, pts, crs="EPSG:32632")[0]["covariates"].isfinite().all()


def test_zarr_write_refuses_to_overwrite_and_open_checks(item, tmp_path):
    from ecocube.cube import open_cube, write_cube

    ds = build_cube([item], **_kw(item))
    out = write_cube(ds, tmp_path / "c.zarr")
    with pytest.raises(InvalidInputError, match=r"already exists; pass overwrite=True"):
        write_cube(ds, out)
    with pytest.raises(DatasetNotFoundError, match=r"does not exist; build it"):
        open_cube(tmp_path / "nope.zarr")
    half = tmp_path / "half.zarr"
    shutil.copytree(out, half)
    import zarr

    g = zarr.open_group(str(half), mode="a", zarr_format=2)
    del g.attrs["ecocube:complete"]
    zarr.consolidate_metadata(str(half), zarr_format=2)
    with pytest.raises(InvalidInputError, match=r"not a complete ecocube store"):
        open_cube(half)


def test_open_cube_on_a_folder_that_is_not_a_zarr_store(tmp_path, capsys):
    from ecocube.cli import main
    from ecocube.cube import open_cube

    (tmp_path / "keep").mkdir()
    (tmp_path / "notes.txt").write_text("not a cube")
    for name in ("keep", "notes.txt"):
        with pytest.raises(
            InvalidInputError,
            match=rf"'.*{name}' is not an ecocube cube \(no Zarr store found\); give the path "
            r"of a cube written by `ecocube cube build",
        ):
            open_cube(tmp_path / name)
    assert main(["cube", "info", str(tmp_path / "keep")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "is not an ecocube cube (no Zarr store found)" in err
    assert "No group found" not in err and "internal error" not in err


def test_open_cube_on_a_zarr_group_without_consolidated_metadata(tmp_path):
    import zarr

    from ecocube.cube import open_cube

    zarr.open_group(str(tmp_path / "bare.zarr"), mode="w", zarr_format=2)
    with pytest.raises(
        InvalidInputError, match=r"'.*bare.zarr' is a Zarr store but not a readable"
    ):
        open_cube(tmp_path / "bare.zarr")
