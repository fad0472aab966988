"""Cloud-optimised GeoTIFFs of a maps store, one per species and statistic
(ecocube.cube._cog)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from rio_cogeo.cogeo import cog_validate

from ecocube.cube._cog import write_cogs
from ecocube.errors import DatasetNotFoundError, InvalidInputError
from ecocube.models.mapping import STATISTICS, predict_map
from ecocube.models.novelty import Novelty


def _cube(ny: int, nx: int, *, south_up: bool = False) -> xr.Dataset:
    import rioxarray  # noqa: F401

    rng = np.random.default_rng(0)
    y = np.arange(ny) * -100.0 + 1_100_000.0
    if south_up:
        y = y[::-1]
    x = np.arange(nx) * 100.0 + 500_000.0
    temp = rng.normal(20, 3, (ny, nx)).astype(np.float32)
    temp[: ny // 5, : nx // 5] = np.nan  # a nodata corner
    return xr.Dataset({"temp": (("y", "x"), temp)}, coords={"y": y, "x": x}).rio.write_crs(
        "EPSG:32616"
    )


def _predict(table: pd.DataFrame) -> dict[str, np.ndarray]:
    t = table["temp"].to_numpy(np.float64)[:, None]
    mean = 1 / (1 + np.exp(-(t - 20 - np.arange(2)[None, :])))
    return {"mean": mean, "sd": 0.2 * mean, "q05": 0.7 * mean, "q95": np.minimum(1.3 * mean, 1)}


def _maps(tmp: Path, species=("Bothrops asper", "Ateles geoffroyi"), **cube_kw) -> Path:
    cube = _cube(**cube_kw)
    nov = Novelty.fit(cube[["temp"]].to_dataframe(), ["temp"])
    return predict_map(
        cube,
        _predict,
        variables=["temp"],
        species=list(species),
        out=tmp / "maps.zarr",
        tile=256,
        mask="none",
        novelty=nov,
        device="cpu",
        progress=False,
    )


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Maps of two species on a 700 x 1100 grid (UTM 16N, 100 m): large enough for overviews."""
    return _maps(tmp_path_factory.mktemp("maps"), ny=700, nx=1100)


def test_one_valid_cog_per_species_and_statistic(maps, tmp_path):
    files = write_cogs(maps, tmp_path / "cogs", progress=False)
    names = [f.path.name for f in files]
    assert names == [
        *(f"Bothrops_asper_{s}.tif" for s in STATISTICS),
        *(f"Ateles_geoffroyi_{s}.tif" for s in STATISTICS),
        "novelty.tif",
    ]
    ds = xr.open_zarr(maps)
    for f in files:
        valid, errors, _ = cog_validate(str(f.path))
        assert valid, (f.path.name, errors)
        with rasterio.open(f.path) as src:
            assert src.crs.to_epsg() == 32616 and src.dtypes == ("float32",)
            assert np.isnan(src.nodata) and src.overviews(1)  # overviews of a 1100 px map
            assert src.transform.a == 100.0 and src.transform.e == -100.0
            assert (src.transform.c, src.transform.f) == (499_950.0, 1_100_050.0)
            got = src.read(1)
            assert src.tags(1)["units"] in ("1", "percent")
        want = ds[f.variable] if f.species is None else ds[f.variable].sel(species=f.species)
        np.testing.assert_array_equal(got, want.values)
        assert np.isnan(got[:10, :10]).all() and np.isfinite(got[-10:, -10:]).all()
    index = json.loads((tmp_path / "cogs" / "cogs-index.json").read_text())
    assert index["files"][0] == {
        "file": "Bothrops_asper_mean.tif",
        "variable": "mean",
        "species": "Bothrops asper",
    }


def test_a_south_up_grid_is_written_north_up(tmp_path):
    store = _maps(tmp_path, species=["a", "b"], ny=30, nx=40, south_up=True)
    (f,) = [
        c
        for c in write_cogs(store, tmp_path / "c", species=["a"], progress=False)
        if c.variable == "mean"
    ]
    ds = xr.open_zarr(store)
    with rasterio.open(f.path) as src:
        np.testing.assert_array_equal(src.read(1), ds["mean"].sel(species="a").values[::-1])
        assert src.transform.e < 0
        assert src.transform.f == pytest.approx(float(ds["y"].max()) + 50.0)


def test_species_names_that_collide_get_their_own_files(tmp_path):
    store = _maps(tmp_path, species=["a b", "a_b"], ny=8, nx=8)
    files = write_cogs(store, tmp_path / "c", progress=False)
    names = [f.path.name for f in files if f.variable == "mean"]
    assert names == ["a_b_mean.tif", "a_b_mean-2.tif"]
    assert [f.species for f in files if f.variable == "mean"] == ["a b", "a_b"]


def test_bad_targets_and_stores_are_named(maps, tmp_path):
    out = tmp_path / "cogs"
    write_cogs(maps, out, species=["Ateles geoffroyi"], progress=False)
    with pytest.raises(InvalidInputError, match=r"already holds COGs; pass overwrite=True"):
        write_cogs(maps, out, progress=False)
    files = write_cogs(maps, out, species=["Bothrops asper"], overwrite=True, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["cogs-index.json", *(f.path.name for f in files)]
    )
    with pytest.raises(InvalidInputError, match=r"species \['Panthera onca'\] are not in the maps"):
        write_cogs(maps, tmp_path / "x", species=["Panthera onca"], progress=False)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(InvalidInputError, match=r"is not a folder of ecocube COGs"):
        write_cogs(maps, other, progress=False)
    with pytest.raises(DatasetNotFoundError, match=r"does not exist"):
        write_cogs(tmp_path / "none.zarr", tmp_path / "y", progress=False)
    from ecocube.cube import write_cube

    cube = write_cube(_cube(4, 4), tmp_path / "cube.zarr")
    with pytest.raises(InvalidInputError, match=r"is an ecocube cube but not a maps store"):
        write_cogs(cube, tmp_path / "z", progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match=r"is a file, not a folder"):
        write_cogs(maps, tmp_path / "file" / "cogs", progress=False)
