"""Tiled wall-to-wall prediction into a Zarr store of maps (ecocube.models.mapping): values
where cells are valid, NaN elsewhere, the same maps whatever the tile size, resuming after an
interruption, and memory that does not grow with the region."""

from __future__ import annotations

import gc
import json
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ecocube.cube._tiles import TiledStore, partial_path, tile_grid
from ecocube.errors import ConfigurationError, EcocubeWarning, InvalidInputError
from ecocube.models.mapping import STATISTICS, predict_map
from ecocube.models.novelty import Novelty

SPECIES = ["Ateles geoffroyi", "Bothrops asper", "Leopardus pardalis"]


def _cube(ny: int = 48, nx: int = 56, *, seed: int = 0) -> xr.Dataset:
    """Two smooth covariates over Costa Rica (Pacific south-west, Caribbean north-east),
    a few nodata cells and a 0/1 ``study`` layer."""
    import rioxarray  # noqa: F401

    rng = np.random.default_rng(seed)
    y = np.linspace(11.2, 8.2, ny)
    x = np.linspace(-86.0, -82.6, nx)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    temp = (27 - 2.5 * np.abs(yy - 9.7) + rng.normal(0, 0.3, yy.shape)).astype(np.float32)
    rain = (2000 + 400 * (xx + 84) + rng.normal(0, 50, yy.shape)).astype(np.float32)
    temp[ny // 10, nx // 8] = rain[ny // 2, nx // 2] = np.nan
    study = np.zeros(yy.shape, dtype=np.float32)
    study[: ny // 2] = 1.0
    ds = xr.Dataset(
        {
            "temp": (("y", "x"), temp, {"units": "degC", "long_name": "air temperature"}),
            "rain": (("y", "x"), rain, {"units": "kg m-2"}),
            "study": (("y", "x"), study),
        },
        coords={"y": y, "x": x},
    )
    return ds.rio.write_crs("EPSG:4326")


class Counting:
    """A logistic model of the two covariates that counts its calls (and may fail)."""

    def __init__(self, fail_at: int | None = None, error: type[BaseException] = RuntimeError):
        self.calls = 0
        self.cells = 0
        self.fail_at = fail_at
        self.error = error

    def __call__(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise self.error("stopped")
        assert list(table.columns) == ["temp", "rain"]
        self.cells += len(table)
        t = table["temp"].to_numpy(np.float64)[:, None]
        r = table["rain"].to_numpy(np.float64)[:, None]
        k = np.arange(len(SPECIES))[None, :]
        eta = 0.4 * (t - 22 - k) + 0.001 * (r - 2000) * (1 - k)
        mean = 1 / (1 + np.exp(-eta))
        sd = 0.1 * mean * (1 - mean)
        return {"mean": mean, "sd": sd, "q05": mean - 1.64 * sd, "q95": mean + 1.64 * sd}


def _maps(path: Path) -> xr.Dataset:
    from ecocube.cube import open_cube

    return open_cube(path).compute()


def _run(cube, out, predict=None, **kw):
    options = {"variables": ["temp", "rain"], "species": SPECIES, "device": "cpu"}
    options.update(kw)
    return predict_map(cube, predict or Counting(), out=out, progress=False, **options)


def test_maps_hold_the_predictions_where_cells_are_valid_and_nan_elsewhere(tmp_path):
    cube = _cube()
    predict = Counting()
    out = _run(cube, tmp_path / "maps.zarr", predict, tile=(16, 16), mask="none")
    maps = _maps(out)
    assert list(maps["species"].values) == SPECIES
    for stat in STATISTICS:
        assert maps[stat].dims == ("species", "y", "x") and maps[stat].dtype == np.float32
        assert maps[stat].attrs["units"] == "1" and "long_name" in maps[stat].attrs
        assert maps[stat].encoding.get("grid_mapping") == "spatial_ref"
    np.testing.assert_array_equal(maps["x"].values, cube["x"].values)
    np.testing.assert_array_equal(maps["y"].values, cube["y"].values)
    assert maps.rio.crs.to_epsg() == 4326
    valid = np.isfinite(cube["temp"].values) & np.isfinite(cube["rain"].values)
    assert (~valid).sum() == 2 and predict.cells == valid.sum()
    table = pd.DataFrame({v: cube[v].values[valid] for v in ("temp", "rain")})
    want = Counting()(table)
    for stat in STATISTICS:
        got = maps[stat].values
        assert np.isnan(got[:, ~valid]).all()
        np.testing.assert_allclose(got[:, valid].T, want[stat].astype(np.float32), rtol=1e-6)
    assert (maps["q05"] <= maps["q95"]).values[:, valid].all()
    assert ((maps["mean"] >= 0) & (maps["mean"] <= 1)).values[:, valid].all()
    assert "novelty" not in maps
    assert json.loads(maps.attrs["ecocube:variables"]) == ["temp", "rain"]
    assert maps.attrs["ecocube:device"] == "cpu"
    assert maps.attrs["ecocube:input_variables"].startswith('{"temp": {')
    assert not partial_path(out).exists()  # the hidden folder is gone once done


def test_land_mask_and_mask_variables_leave_cells_out(tmp_path):
    cube = _cube()
    land = _maps(_run(cube, tmp_path / "land.zarr", tile=24))
    mean = land["mean"].values[0]
    # the Pacific south-west corner and the Caribbean north-east corner are sea
    assert np.isnan(mean[-1, 0]) and np.isnan(mean[0, -1])
    iy, ix = np.abs(cube["y"].values - 10.3).argmin(), np.abs(cube["x"].values + 84.1).argmin()
    assert np.isfinite(mean[iy, ix])  # the Central Valley
    assert 0.2 < np.isfinite(mean).mean() < 0.8
    study = _maps(_run(cube, tmp_path / "study.zarr", tile=24, mask="study"))["mean"].values
    half = cube.sizes["y"] // 2
    assert np.isnan(study[:, half:]).all() and np.isfinite(study[:, :half]).sum() > 0
    assert study.shape[1:] == (cube.sizes["y"], cube.sizes["x"])


def test_different_tile_sizes_give_identical_maps(tmp_path):
    cube = _cube(ny=37, nx=45)  # edges that no tile size divides
    nov = Novelty.fit(cube[["temp", "rain"]].isel(y=slice(0, 20)).to_dataframe(), ["temp", "rain"])
    runs = [
        _maps(_run(cube, tmp_path / f"t{i}.zarr", tile=size, novelty=nov, batch_size=batch))
        for i, (size, batch) in enumerate([((7, 9), None), ((16, 16), 13), ((64, 64), None)])
    ]
    assert runs[0]["mean"].encoding["chunks"] == (1, 7, 9)
    for other in runs[1:]:
        for name in (*STATISTICS, "novelty", "novelty_count"):
            np.testing.assert_array_equal(other[name].values, runs[0][name].values)
    assert np.isfinite(runs[0]["mean"].values).any() and np.isnan(runs[0]["mean"].values).any()


def test_novelty_layers_flag_cells_outside_the_training_data(tmp_path):
    cube = _cube()
    train = cube[["temp", "rain"]].isel(x=slice(0, 20)).to_dataframe()  # the west only
    nov = Novelty.fit(train, ["temp", "rain"])
    maps = _maps(_run(cube, tmp_path / "m.zarr", tile=20, mask="none", novelty=nov.to_dict()))
    mess, count = maps["novelty"].values, maps["novelty_count"].values
    assert maps["novelty"].attrs["units"] == "percent"
    valid = np.isfinite(maps["mean"].values[0])
    assert np.isnan(mess[~valid]).all() and np.isfinite(mess[valid]).all()
    table = pd.DataFrame({v: cube[v].values[valid] for v in ("temp", "rain")})
    np.testing.assert_allclose(mess[valid], nov.mess(table).astype(np.float32))
    np.testing.assert_array_equal(count[valid], nov.count_outside(table))
    east = cube["x"].values > -83.5  # far wetter than any training cell
    assert (mess[:, east][valid[:, east]] < 0).all()
    assert (count[:, east][valid[:, east]] >= 1).all()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_run_resumes_from_its_finished_tiles(tmp_path, error):
    cube = _cube()
    full = Counting()
    reference = _maps(_run(cube, tmp_path / "ref.zarr", full, tile=(12, 14), mask="none"))
    n_tiles = len(tile_grid((48, 56), (12, 14)))
    assert full.calls == n_tiles  # every tile has valid cells
    out = tmp_path / "maps.zarr"
    broken = Counting(fail_at=7, error=error)
    with pytest.raises(error, match="stopped"):
        _run(cube, out, broken, tile=(12, 14), mask="none")
    assert not out.exists()
    partial = partial_path(out)
    assert sorted(p.name for p in partial.iterdir()) == ["job.json", "store.zarr", "tiles"]
    assert len(list((partial / "tiles").iterdir())) == 6
    again = Counting()
    _run(cube, out, again, tile=(12, 14), mask="none")
    assert again.calls == n_tiles - 6  # finished tiles were not computed again
    assert not partial.exists()
    resumed = _maps(out)
    for stat in STATISTICS:
        np.testing.assert_array_equal(resumed[stat].values, reference[stat].values)


def test_a_partial_output_of_another_job_is_discarded(tmp_path):
    cube = _cube()
    out = tmp_path / "maps.zarr"
    with pytest.raises(RuntimeError):
        _run(cube, out, Counting(fail_at=3), tile=16, mask="none")
    with pytest.warns(
        EcocubeWarning, match=r"discarding the unfinished output .*\(different species\)"
    ):
        _run(cube, out, Counting(), tile=16, mask="none", species=SPECIES[::-1])
    assert list(_maps(out)["species"].values) == SPECIES[::-1]
    # another model (model_id) does not resume either
    other = tmp_path / "other.zarr"
    with pytest.raises(RuntimeError):
        _run(cube, other, Counting(fail_at=3), tile=16, mask="none", model_id="a")
    with pytest.warns(EcocubeWarning, match=r"\(different model_id\)"):
        _run(cube, other, Counting(), tile=16, mask="none", model_id="b")


def test_two_runs_never_write_one_partial_output(tmp_path):
    cube = _cube(ny=8, nx=8)
    out = tmp_path / "maps.zarr"
    coords = xr.Dataset(coords={"y": cube["y"].values, "x": cube["x"].values})
    with TiledStore(out, job={"a": 1}) as first:
        first.open(coords, {})
        with pytest.raises(InvalidInputError, match=r"another run is writing .*locked"):
            _run(cube, out, mask="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same job: resumed, no warning
        with TiledStore(out, job={"a": 1}) as again:
            assert again.open(coords, {}) == set()


def test_overwrite_replaces_a_finished_store(tmp_path):
    cube = _cube(ny=10, nx=10)
    out = _run(cube, tmp_path / "maps.zarr", mask="none")
    with pytest.raises(InvalidInputError, match=r"already exists; pass overwrite=True"):
        _run(cube, out, mask="none")
    _run(cube, out, mask="study", overwrite=True)
    assert _maps(out).attrs["ecocube:mask"] == "study"


def _peak(cube: xr.Dataset, out: Path) -> int:
    species = [f"s{i}" for i in range(12)]
    gc.collect()  # garbage of earlier tests is not this run's memory
    tracemalloc.start()
    try:
        _run(cube, out, _Wide(12), tile=48, mask="none", species=species)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _Wide:
    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, table: pd.DataFrame) -> dict[str, np.ndarray]:
        p = 1 / (1 + np.exp(-table[["temp"]].to_numpy() + np.arange(self.n) / self.n))
        return {"mean": p, "sd": 0.1 * p, "q05": 0.9 * p, "q95": np.minimum(1.1 * p, 1)}


def test_peak_memory_does_not_grow_with_the_region(tmp_path):
    small, large = _cube(ny=96, nx=96), _cube(ny=384, nx=384)  # 4 and 64 tiles of 48 x 48
    _peak(small, tmp_path / "warm.zarr")  # imports and caches first
    p1 = _peak(small, tmp_path / "s.zarr")
    p16 = _peak(large, tmp_path / "l.zarr")
    whole_map = 384 * 384 * 12 * 4  # one statistic of the large region: 7 MB
    assert p16 < 1.15 * p1 and p16 - p1 < whole_map / 20, (p1, p16)


def test_bad_inputs_are_named(tmp_path):
    cube = _cube(ny=6, nx=6)
    out = tmp_path / "m.zarr"
    with pytest.raises(
        InvalidInputError, match=r"lacks the model's input variables \['bio1', 'bio12'\]"
    ):
        _run(cube, out, variables=["temp", "bio1", "bio12"])
    series = cube.assign(s=(("time", "y", "x"), np.zeros((2, 6, 6), dtype=np.float32)))
    with pytest.raises(InvalidInputError, match=r"\{'s': \('time', 'y', 'x'\)\} are not \(y, x\)"):
        _run(series, out, variables=["s"])
    with pytest.raises(InvalidInputError, match=r"species=\[\] must name at least one"):
        _run(cube, out, species=[])
    with pytest.raises(InvalidInputError, match=r"species lists \['a'\] more than once"):
        _run(cube, out, species=["a", "a", "b"])
    with pytest.raises(InvalidInputError, match=r"variables='temp' must be a list of names"):
        _run(cube, out, variables="temp")
    with pytest.raises(InvalidInputError, match=r"tile=\(0, 4\) must be two positive integers"):
        _run(cube, out, tile=(0, 4))
    with pytest.raises(InvalidInputError, match=r"batch_size=0 must be a positive integer"):
        _run(cube, out, batch_size=0)
    nov = Novelty.fit(pd.DataFrame({"temp": [1.0, 2.0], "elev": [3.0, 4.0]}))
    with pytest.raises(
        InvalidInputError, match=r"novelty was fitted on .*\['elev'\] are not among"
    ):
        _run(cube, out, novelty=nov)
    with pytest.raises(InvalidInputError, match=r"mask='sea' is not a \(y, x\) variable"):
        _run(cube, out, mask="sea")
    with pytest.raises(InvalidInputError, match=r"predict=3 must be a function"):
        _run(cube, out, predict=3)
    with pytest.raises(InvalidInputError, match=r"model=.* must be JSON-serialisable"):
        _run(cube, out, model={"when": object()})
    with pytest.raises(ConfigurationError, match=r"not a torch device"):
        _run(cube, out, device="abacus")
    no_crs = cube.drop_vars("spatial_ref")
    with pytest.raises(InvalidInputError, match=r"the cube has no CRS"):
        _run(no_crs, out, mask="none")
    flat = xr.Dataset(
        {"temp": (("lat", "lon"), np.ones((2, 2))), "rain": (("lat", "lon"), np.ones((2, 2)))}
    )
    with pytest.raises(InvalidInputError, match=r"the cube has no x/y dimensions"):
        _run(flat, out)

    def wrong_shape(table):
        return {s: np.zeros((len(table), 2)) for s in STATISTICS}

    with pytest.raises(InvalidInputError, match=r"'mean' of shape \(\d+, 2\); expected \(\d+, 3\)"):
        _run(cube, tmp_path / "a.zarr", predict=wrong_shape, mask="none")

    def no_sd(table):
        return {"mean": np.zeros((len(table), 3))}

    with pytest.raises(InvalidInputError, match=r"without \['sd', 'q05', 'q95'\]"):
        _run(cube, tmp_path / "b.zarr", predict=no_sd, mask="none")
    with pytest.raises(InvalidInputError, match=r"predict returned a list"):
        _run(cube, tmp_path / "c.zarr", predict=lambda t: [1], mask="none")
    with pytest.raises(InvalidInputError, match=r"TiledStore.write\(\) before open\(\)"):
        TiledStore(tmp_path / "d.zarr", job={}).write(tile_grid((1, 1), 1)[0], {})
    with pytest.raises(InvalidInputError, match=r"TiledStore.finish\(\) before open\(\)"):
        TiledStore(tmp_path / "d.zarr", job={}).finish()


def test_a_cube_path_is_opened_and_recorded(tmp_path):
    from ecocube.cube import write_cube

    store = write_cube(_cube(ny=12, nx=12), tmp_path / "cube.zarr")
    out = _run(store, tmp_path / "maps.zarr", mask="none", model={"name": "maxent-net"})
    maps = _maps(out)
    assert maps.attrs["ecocube:cube"] == str(store.resolve())
    assert json.loads(maps.attrs["ecocube:model"]) == {"name": "maxent-net"}


def test_tiles_run_north_first_on_grids_whose_y_grows():
    tiles = tile_grid((5, 4), (2, 3), reverse_rows=True)
    assert [t.row for t in tiles] == [2, 2, 1, 1, 0, 0]
    assert [t.index for t in tiles] == [4, 5, 2, 3, 0, 1]
    assert tiles[0].y == slice(4, 5) and tiles[0].shape == (1, 3) and tiles[1].x == slice(3, 4)
    with pytest.raises(InvalidInputError, match=r"shape=\(5, -1\) must be two positive"):
        tile_grid((5, -1), 2)


class _Neighbourhood:
    """Mean temperature over the 3 x 3 cells around each point (needs a 1-cell halo)."""

    def __call__(self, window: xr.Dataset, points: pd.DataFrame) -> dict[str, np.ndarray]:
        temp = window["temp"].values
        rows = np.searchsorted(-window["y"].values, -points["y"].to_numpy())
        cols = np.searchsorted(window["x"].values, points["x"].to_numpy())
        padded = np.pad(temp, 1, constant_values=np.nan)
        patch = np.stack(
            [padded[rows + dy, cols + dx] for dy in range(3) for dx in range(3)], axis=1
        )
        mean = np.nanmean(patch, axis=1)[:, None] / 30
        return {"mean": mean, "sd": 0 * mean, "q05": mean, "q95": mean}


def test_window_models_see_the_cells_around_each_tile(tmp_path):
    cube = _cube(ny=30, nx=26)
    kw = {"variables": ["temp", "rain"], "species": ["a"], "mask": "none", "progress": False}
    small = predict_map(
        cube, None, predict_window=_Neighbourhood(), halo=1, tile=7, out=tmp_path / "a.zarr", **kw
    )
    whole = predict_map(
        cube, None, predict_window=_Neighbourhood(), halo=1, tile=64, out=tmp_path / "b.zarr", **kw
    )
    a, b = _maps(small)["mean"].values, _maps(whole)["mean"].values
    np.testing.assert_array_equal(a, b)  # a 1-cell halo gives each tile its neighbours
    cut = predict_map(
        cube, None, predict_window=_Neighbourhood(), halo=0, tile=7, out=tmp_path / "c.zarr", **kw
    )
    assert not np.allclose(_maps(cut)["mean"].values, b, equal_nan=True)  # the halo matters
    with pytest.raises(InvalidInputError, match="give exactly one of predict and predict_window"):
        predict_map(
            cube, Counting(), predict_window=_Neighbourhood(), out=tmp_path / "d.zarr", **kw
        )
    with pytest.raises(InvalidInputError, match=r"halo=-1 must be an integer >= 0"):
        predict_map(
            cube, None, predict_window=_Neighbourhood(), halo=-1, out=tmp_path / "d.zarr", **kw
        )
