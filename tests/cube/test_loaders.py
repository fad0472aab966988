"""torchgeo GeoDataset over a cube and the point-centred patch loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecocube.cube.testing import synthetic_cube
from ecocube.errors import InvalidInputError
from tests.conftest import requires_mirror


@pytest.fixture(scope="module")
def points(mirror):
    occ = pd.read_parquet(mirror / "occurrences/costa_rica_gbif/primates_cr_gbif.parquet")
    df = pd.DataFrame({"x": occ["decimalLongitude"], "y": occ["decimalLatitude"]})
    df["presence"] = 1.0
    df["alouatta"] = (occ["species"] == "Alouatta palliata").astype("float32")
    return df


def test_point_patches_centre_on_the_point_pixel(chelsa_zarr, points):
    from ecocube.cube import PointPatchDataset, open_cube

    cube = open_cube(chelsa_zarr)
    ds = PointPatchDataset(
        cube, points, patch_size=5, targets=["presence", "alouatta"], variables=["bio1", "bio12"]
    )
    assert len(ds) == 4508  # MANIFEST: 4,508 primate records inside the CHELSA grid
    s = ds[10]
    assert s["image"].shape == (2, 5, 5) and s["image"].dtype == torch.float32
    assert torch.equal(s["image"][:, 2, 2].nan_to_num(-1), s["covariates"].nan_to_num(-1))
    r, c = ds.rows[10], ds.cols[10]
    want = cube["bio1"].values[r - 2 : r + 3, c - 2 : c + 3]
    np.testing.assert_array_equal(s["image"][0].numpy(), want)
    table = cube.ecocube.sample_points(
        points.x.iloc[[int(s["index"])]], points.y.iloc[[int(s["index"])]], variables=["bio1"]
    )
    assert float(s["covariates"][0]) == pytest.approx(float(table["bio1"].iloc[0]))
    assert s["target"].tolist() == [1.0, float(points["alouatta"].iloc[int(s["index"])])]


def test_batches_equal_single_samples_and_are_seeded(chelsa_cube, points):
    from ecocube.cube import PointPatchDataset, collate_points, point_loader

    ds = PointPatchDataset(chelsa_cube, points.iloc[:300], patch_size=8, targets="presence")
    batch = next(iter(point_loader(ds, batch_size=16, seed=3)))
    assert batch["image"].shape == (16, 19, 8, 8)
    single = collate_points([ds[int(i)] for i in batch["index"]])
    assert torch.equal(batch["image"].nan_to_num(), single["image"].nan_to_num())
    order = lambda seed: torch.cat([b["index"] for b in point_loader(ds, batch_size=50, seed=seed)])  # noqa: E731
    assert torch.equal(order(3), order(3))
    assert not torch.equal(order(3), order(4))
    assert sorted(order(3).tolist()) == list(range(300))


def test_one_by_one_patches_and_edge_padding(chelsa_cube):
    from ecocube.cube import PointPatchDataset

    corner = pd.DataFrame({"x": [float(chelsa_cube.x[0])], "y": [float(chelsa_cube.y[0])]})
    one = PointPatchDataset(chelsa_cube, corner, patch_size=1)[0]
    assert one["image"].shape == (19, 1, 1)
    patch = PointPatchDataset(chelsa_cube, corner, patch_size=4)[0]["image"]
    assert torch.isnan(patch[:, :2, :]).all() and torch.isnan(patch[:, :, :2]).all()
    assert float(patch[0, 2, 2]) == float(chelsa_cube["bio1"][0, 0])
    filled = PointPatchDataset(chelsa_cube, corner, patch_size=4, fill_value=0.0)[0]["image"]
    assert not torch.isnan(filled).any()


def test_geodataset_works_with_torchgeo_samplers(chelsa_zarr):
    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples
    from torchgeo.samplers import GridGeoSampler, RandomBatchGeoSampler, RandomGeoSampler

    from ecocube.cube import CubeGeoDataset

    gds = CubeGeoDataset(chelsa_zarr, variables=["bio1", "bio12"])
    sampler = RandomGeoSampler(gds, size=32, length=8, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(gds, sampler=sampler, batch_size=4, collate_fn=stack_samples)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 2, 32, 32)
    grid = list(GridGeoSampler(gds, size=64, stride=64))
    assert len(grid) == 42  # ceil(378 / 64) x ceil(418 / 64) tiles
    assert gds[grid[0]]["image"].shape == (2, 64, 64)
    bs = RandomBatchGeoSampler(gds, size=16, batch_size=3, length=6)
    assert all(len(b) == 3 for b in bs)


def test_geodataset_matches_torchgeo_rasterdataset_on_the_same_query(chelsa_zarr, chelsa_items):
    from pathlib import Path

    from torchgeo.datasets import RasterDataset
    from torchgeo.samplers import RandomGeoSampler

    from ecocube.cube import CubeGeoDataset

    path = Path(chelsa_items[0].assets["bio1"].get_absolute_href())

    class Bio1(RasterDataset):
        filename_glob = "CHELSA_bio1_*.tif"

    ref = Bio1(paths=[path])
    ours = CubeGeoDataset(chelsa_zarr, variables=["bio1"])
    for q in RandomGeoSampler(ref, size=16, length=5, generator=torch.Generator().manual_seed(1)):
        want = ref[q]["image"][0].double() * 0.1 - 273.15
        got = ours[q]["image"][0].double()
        torch.testing.assert_close(got, want, atol=1e-3, rtol=0)


@requires_mirror
def test_geodataset_over_a_time_series_indexes_every_date():
    from torchgeo.samplers import RandomGeoSampler

    from ecocube.cube import CubeGeoDataset, anchor_of, build_cube
    from ecocube.cube.testing import emilia_items

    items = emilia_items(limit=6)
    anchor, res = anchor_of(items[0])
    cube = build_cube(
        items, bbox=items[0].bbox, crs="EPSG:32632", resolution=res, anchor=anchor, mask="none"
    ).compute()
    gds = CubeGeoDataset(cube, variables=["NDVI"])
    assert len(gds) == 6 and gds.stack.shape[0] == 6
    sampler = RandomGeoSampler(gds, size=4, length=12, generator=torch.Generator().manual_seed(0))
    seen = set()
    for q in sampler:
        sample = gds[q]
        when = q[2].start
        seen.add(when)
        k = list(pd.DatetimeIndex(cube.time.values)).index(when)
        x0 = round((q[0].start - (float(cube.x[0]) - 5)) / 10)
        y0 = round(((float(cube.y[0]) + 5) - q[1].stop) / 10)
        want = cube["NDVI"].values[k, y0 : y0 + 4, x0 : x0 + 4]
        np.testing.assert_array_equal(sample["image"][0].numpy(), want)
    assert len(seen) > 1


def test_geodataset_time_outside_is_an_error_and_label_is_the_date_used():
    from ecocube.cube import CubeGeoDataset

    ds = synthetic_cube()
    with pytest.raises(InvalidInputError, match=r"outside the cube's time range"):
        CubeGeoDataset(ds, variables=["ndvi"], time="2031-01-01")
    gds = CubeGeoDataset(ds, variables=["ndvi"], time="2020-02-03")
    assert gds.index.index[0].left == pd.Timestamp("2020-02-01")
    np.testing.assert_array_equal(gds.array[0], ds["ndvi"].values[1])


def test_time_alone_loads_every_variable():
    from ecocube.cube import CubeGeoDataset, PointPatchDataset
    from ecocube.cube.datasets import cube_array

    ds = synthetic_cube()
    arr, names, _ = cube_array(ds, time="2020-03-01")
    assert names == ["ndvi", "elev"] and arr.shape == (2, 4, 5)
    assert CubeGeoDataset(ds, time="2020-03-01").bands == ("ndvi", "elev")
    pts = pd.DataFrame({"x": [1.0], "y": [1.0]})
    with pytest.raises(InvalidInputError, match=r"outside the cube's time range"):
        PointPatchDataset(ds, pts, time="2031-01-01")
    pds = PointPatchDataset(ds, pts, time="2020-01-20")
    assert pds.time == pd.Timestamp("2020-02-01") and pds.variables == ("ndvi", "elev")
    only_series = ds[["ndvi"]]
    with pytest.raises(InvalidInputError, match=r"have a time dimension; pass time="):
        cube_array(only_series)


def test_point_patches_non_numeric_target_and_all_points_outside():
    from ecocube.cube import PointPatchDataset

    ds = synthetic_cube()[["elev"]]
    ds = ds.assign(b=ds["elev"] * 2)
    pts = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "sp": ["present", "1"]})
    with pytest.raises(InvalidInputError, match=r"target column 'sp'.*1 non-numeric.*present"):
        PointPatchDataset(ds, pts, targets="sp")
    pts["sp"] = ["0", "1"]  # numbers as text are fine
    assert PointPatchDataset(ds, pts, targets="sp").targets[:, 0].tolist() == [0.0, 1.0]
    swapped = pd.DataFrame({"x": [30.0, 40.0], "y": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match=r"all 2 points fall outside.*swapped"):
        PointPatchDataset(ds, swapped)
    some = pd.DataFrame({"x": [1.0, 40.0], "y": [1.0, 2.0]})
    assert len(PointPatchDataset(ds, some)) == 1
