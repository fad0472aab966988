"""Ensembles on Dask: Zarr cube + STAC item, equality with a direct run, CLI, errors."""

from __future__ import annotations

import json

import numpy as np
import pystac
import pytest

from ecocube.cli import main
from ecocube.errors import ConfigurationError, DatasetNotFoundError, InvalidInputError
from ecocube.ocean import open_ensemble, run_ensemble, sample_scenarios, simulate

SMALL = {"years": 1, "n_layers": 6, "dt": 21600.0}


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    out = tmp_path_factory.mktemp("ens") / "ens.zarr"
    run_ensemble(5, out, seed=3, batch_size=2, progress=False, **SMALL)
    return out


def test_store_holds_every_scenario_with_cf_attributes_and_indices(ensemble) -> None:
    ds = open_ensemble(ensemble)
    assert ds.sizes["scenario"] == 5 and ds.sizes["time"] == 365
    assert ds.attrs["Conventions"].startswith("CF-") and ds.attrs["ecocube:complete"]
    assert ds["fgco2"].attrs["standard_name"] == "surface_downward_mole_flux_of_carbon_dioxide"
    for name in ("co2_uptake", "primary_production", "bloom_day", "shannon", "gini_simpson",
                 "rao_q"):  # fmt: skip
        assert ds[name].dims == ("scenario",)
    # batches were reassembled in scenario order: the stored parameters are the sampled ones
    table = sample_scenarios(5, seed=3)
    np.testing.assert_allclose(ds["warming"].values, table["warming"].values)
    # and the stored series equal a direct (non-Dask) run, up to float32 storage
    direct = simulate(table.iloc[[3]], **SMALL)
    np.testing.assert_allclose(ds["dissic"].values[3], direct["dissic"].values[0], rtol=1e-6)
    np.testing.assert_allclose(ds["phyc"].values[3], direct["phyc"].values[0], rtol=1e-5,
                               atol=1e-6)  # fmt: skip


def test_stac_item_describes_the_cube(ensemble) -> None:
    path = ensemble.with_name("ens.item.json")
    item = pystac.Item.from_dict(json.loads(path.read_text()))
    assert item.assets["zarr"].href == "./ens.zarr"
    assert item.properties["start_datetime"].startswith("2000-01-01")
    dims = item.properties["cube:dimensions"]
    assert set(dims) == {"time", "scenario", "phyto_type", "depth"}
    assert item.properties["cube:variables"]["fgco2"]["unit"] == "mmol m-2 d-1"
    assert any("datacube" in ext for ext in item.stac_extensions)


def test_existing_output_is_not_overwritten(ensemble) -> None:
    with pytest.raises(InvalidInputError, match="already exists; pass overwrite=True"):
        run_ensemble(2, ensemble, progress=False, **SMALL)


def test_missing_ensemble_and_bad_options(tmp_path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist; create it"):
        open_ensemble(tmp_path / "none.zarr")
    with pytest.raises(InvalidInputError, match="batch_size=0 must be a positive integer"):
        run_ensemble(2, tmp_path / "a.zarr", batch_size=0, progress=False, **SMALL)
    with pytest.raises(InvalidInputError, match="n_workers=0"):
        run_ensemble(2, tmp_path / "a.zarr", n_workers=0, progress=False, **SMALL)
    with pytest.raises(InvalidInputError, match=r"dt=7000 s must divide one day"):
        run_ensemble(2, tmp_path / "a.zarr", years=1, n_layers=6, dt=7000.0, progress=False)


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if any simulation starts (bad input must be refused before)."""

    def fail(*args, **kwargs):
        raise AssertionError("the ensemble ran before the bad input was refused")

    import importlib

    monkeypatch.setattr(importlib.import_module("ecocube.ocean.ensemble"), "_compute", fail)
    monkeypatch.setattr(importlib.import_module("ecocube.ocean.simulate"), "simulate", fail)


def _keepdir(tmp_path):
    keep = tmp_path / "keepdir"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    return keep


def test_overwrite_never_replaces_a_folder_of_other_files(tmp_path, no_simulation) -> None:
    keep = _keepdir(tmp_path)
    with pytest.raises(InvalidInputError, match=r"'.*keepdir' exists and is not a Zarr store"):
        run_ensemble(2, keep, overwrite=True, progress=False, **SMALL)
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(InvalidInputError, match="exists and is a file, not a Zarr store"):
        run_ensemble(2, tmp_path / "file.zarr", overwrite=True, progress=False, **SMALL)
    (tmp_path / "a.item.json").mkdir()
    with pytest.raises(InvalidInputError, match=r"STAC item .*a.item.json', which is a folder"):
        run_ensemble(2, tmp_path / "a.zarr", progress=False, **SMALL)
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]


def test_cli_ensemble_refuses_bad_out_and_device_before_running(
    tmp_path, capsys, no_simulation
) -> None:
    keep = _keepdir(tmp_path)
    code = main(["ocean", "ensemble", "--n", "4", "--out", str(keep), "--overwrite"])
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "exists and is not a Zarr store" in err and "Traceback" not in err
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]
    code = main(["ocean", "ensemble", "--n", "2", "--out", str(tmp_path / "e.zarr"),
                 "--device", "gpu"])  # fmt: skip
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "device 'gpu' is not a torch device" in err and "internal error" not in err


def test_unknown_device_is_refused_before_the_cluster(tmp_path, no_simulation) -> None:
    with pytest.raises(ConfigurationError, match="device 'gpu' is not a torch device"):
        run_ensemble(2, tmp_path / "a.zarr", device="gpu", progress=False, **SMALL)


def test_cli_simulate_checks_out_and_device_before_running(tmp_path, capsys, no_simulation) -> None:
    keep = _keepdir(tmp_path)
    assert main(["ocean", "simulate", "--out", str(keep)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "--out '" in err and "keepdir' is a folder; give a file path" in err
    old = tmp_path / "old.nc"
    old.write_text("precious")
    assert main(["ocean", "simulate", "--out", str(old)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "old.nc' already exists; pass --overwrite to replace it" in err
    assert old.read_text() == "precious"
    (tmp_path / "afile").write_text("")
    assert main(["ocean", "simulate", "--out", str(tmp_path / "afile" / "r.nc")]) == 1
    assert "afile' is a file, not a folder" in " ".join(capsys.readouterr().err.split())


def test_cli_simulate_unknown_device(tmp_path, capsys) -> None:
    out = tmp_path / "r.nc"
    assert main(["ocean", "simulate", "--out", str(out), "--device", "gpu"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "device 'gpu' is not a torch device" in err and "internal error" not in err
    assert not out.exists()


def test_unreachable_scheduler(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="could not be reached"):
        run_ensemble(2, tmp_path / "a.zarr", scheduler="tcp://127.0.0.1:9", progress=False,
                     scheduler_timeout=1.0,
                     **SMALL)  # fmt: skip
    assert not (tmp_path / "a.zarr").exists()


@pytest.mark.slow
def test_cli_ensemble(tmp_path, capsys) -> None:
    out = tmp_path / "cli.zarr"
    code = main(["ocean", "ensemble", "--n", "2", "--years", "1", "--out", str(out),
                 "--layers", "6", "--dt", "21600", "--batch-size", "1"])  # fmt: skip
    assert code == 0
    assert "2 scenarios x 1 yr" in capsys.readouterr().out
    assert open_ensemble(out).sizes["scenario"] == 2
    assert (tmp_path / "cli.item.json").is_file()
    # errors are one line, exit 1
    assert main(["ocean", "ensemble", "--n", "2", "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_cli_simulate_writes_netcdf(tmp_path, capsys) -> None:
    import xarray as xr

    out = tmp_path / "run.nc"
    assert main(["ocean", "simulate", "--out", str(out), "--layers", "6", "--dt", "21600"]) == 0
    with xr.open_dataset(out) as ds:
        assert ds.sizes["scenario"] == 1 and ds["fgco2"].sizes["time"] == 365
    before = out.read_bytes()
    assert main(["ocean", "simulate", "--out", str(out), "--dt", "7000", "--overwrite"]) == 1
    assert "must divide one day" in capsys.readouterr().err
    assert out.read_bytes() == before  # a failed run leaves the earlier file
    assert main(["ocean", "simulate", "--out", str(out), "--layers", "6", "--dt", "21600",
                 "--n", "2", "--overwrite"]) == 0  # fmt: skip
    with xr.open_dataset(out) as ds:
        assert ds.sizes["scenario"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]  # no temporary file left
