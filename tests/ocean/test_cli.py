"""The ``ecocube ocean`` commands (``ocean/_cli_model.py``, ``ocean/_cli_surrogate.py``):
outputs, and bad options refused before any work with a one-line error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import xarray as xr

from ecocube.cli import main
from ecocube.ocean import open_ensemble


def ocean(*args: str | Path) -> int:
    """Run ``ecocube ocean ARGS`` in-process; return its exit code."""
    return main(["ocean", *map(str, args)])


def error(capsys: pytest.CaptureFixture[str]) -> str:
    """The standard error printed so far, on one line; it must hold no traceback."""
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "internal error" not in err, err
    return err


SMALL = ("--layers", "6", "--dt", "21600")


# -- ocean simulate ------------------------------------------------------------------------------
def test_simulate_writes_netcdf_creating_missing_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nodir" / "run.nc"  # missing folders are created, as by every writer
    assert ocean("simulate", "--out", out, *SMALL) == 0
    with xr.open_dataset(out) as ds:
        assert ds.sizes["scenario"] == 1 and ds["fgco2"].sizes["time"] == 365
    before = out.read_bytes()
    assert ocean("simulate", "--out", out, "--dt", "7000", "--overwrite") == 1
    assert "must divide one day" in error(capsys)
    assert out.read_bytes() == before  # a failed run leaves the earlier file
    assert ocean("simulate", "--out", out, *SMALL, "--n", "2", "--overwrite") == 0
    with xr.open_dataset(out) as ds:
        assert ds.sizes["scenario"] == 2
    assert [p.name for p in out.parent.iterdir()] == ["run.nc"]  # no temporary file left


def test_simulate_checks_out_and_device_before_running(
    tmp_path: Path, keepdir: Path, capsys: pytest.CaptureFixture[str], no_simulation: None
) -> None:
    assert ocean("simulate", "--out", keepdir) == 1
    assert "--out '" in (err := error(capsys)) and "keepdir' is a folder; give a file path" in err
    old = tmp_path / "old.nc"
    old.write_text("precious")
    assert ocean("simulate", "--out", old) == 1
    assert "old.nc' already exists; pass --overwrite to replace it" in error(capsys)
    assert old.read_text() == "precious"
    (tmp_path / "afile").write_text("")
    assert ocean("simulate", "--out", tmp_path / "afile" / "r.nc") == 1
    assert "afile' is a file, not a folder" in error(capsys)


def test_simulate_refuses_an_unknown_device_and_a_step_under_a_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model checks its options before it integrates anything."""
    assert ocean("simulate", "--out", tmp_path / "r.nc", "--device", "gpu") == 1
    assert "device 'gpu' is not a torch device" in error(capsys)
    assert ocean("simulate", "--out", tmp_path / "a.nc", "--dt", "0.001") == 1
    err = error(capsys)
    assert "dt=0.001 s means 86,400,000 steps per simulated day" in err
    assert "use dt=10800 s, which is stable" in err
    assert not any(tmp_path.iterdir())


# -- ocean ensemble ------------------------------------------------------------------------------
@pytest.mark.slow
def test_ensemble_writes_store_and_item(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.zarr"
    code = ocean("ensemble", "--n", "2", "--years", "1", "--out", out, *SMALL, "--batch-size", "1")
    assert code == 0
    assert "2 scenarios x 1 yr" in capsys.readouterr().out
    assert open_ensemble(out).sizes["scenario"] == 2
    assert (tmp_path / "cli.item.json").is_file()
    assert ocean("ensemble", "--n", "2", "--out", out) == 1
    assert "already exists" in error(capsys)


def test_ensemble_refuses_bad_options_before_running(
    tmp_path: Path, keepdir: Path, capsys: pytest.CaptureFixture[str], no_simulation: None
) -> None:
    assert ocean("ensemble", "--n", "4", "--out", keepdir, "--overwrite") == 1
    assert "exists and is not a Zarr store" in error(capsys)
    assert [p.name for p in keepdir.iterdir()] == ["notes.txt"]
    assert ocean("ensemble", "--n", "2", "--out", tmp_path / "e.zarr", "--device", "gpu") == 1
    assert "device 'gpu' is not a torch device" in error(capsys)
    for workers in ("-1", "0"):
        assert (
            ocean("ensemble", "--n", "2", "--out", tmp_path / "e.zarr", "--workers", workers) == 1
        )
        assert f"--workers {workers}: the local cluster needs at least one worker" in error(capsys)
    assert ocean("ensemble", "--n", "2", "--out", tmp_path / "e.zarr", "--dt", "0.5") == 1
    assert "dt=0.5 s means 172,800 steps per simulated day" in error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keepdir"]


# -- ocean train / validate ----------------------------------------------------------------------
def test_train_refuses_bad_options_naming_them(
    tmp_path: Path, keepdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("train", "--ensemble", tmp_path / "x.zarr", "--out", tmp_path / "s")
    assert ocean(*base, "--arch", "transformer") == 1
    assert "--arch 'transformer' is unknown" in error(capsys)
    assert ocean(*base, "--epochs", "0") == 1
    err = error(capsys)
    assert "--epochs 0: the number of training epochs must be >= 1" in err
    assert "SurrogateConfig" not in err
    assert ocean(*base, "--members", "0") == 1
    assert "--members 0: the number of ensemble members" in error(capsys)
    # the device check shared with simulate and ensemble, before the ensemble is read
    assert ocean(*base, "--device", "gpu") == 1
    assert "device 'gpu' is not a torch device" in error(capsys)
    # --out holding other files: refused before any training
    assert ocean("train", "--ensemble", tmp_path / "x.zarr", "--out", keepdir) == 1
    assert "exists and is not a surrogate folder" in error(capsys)
    assert [p.name for p in keepdir.iterdir()] == ["notes.txt"]


def test_train_refuses_a_half_written_ensemble(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zarr

    from ecocube.ocean.ingest import write_zarr
    from ecocube.ocean.scenarios import sample_scenarios
    from tests.ocean.conftest import synthetic_ensemble

    store = write_zarr(synthetic_ensemble(sample_scenarios(6, seed=1)), tmp_path / "ens.zarr")
    group = zarr.open_group(str(store), mode="a", zarr_format=2)
    del group.attrs["ecocube:complete"]  # as an interrupted `ocean ensemble` leaves it
    zarr.consolidate_metadata(str(store), zarr_format=2)
    assert ocean("train", "--ensemble", store, "--out", tmp_path / "sur", "--epochs", "1") == 1
    err = error(capsys)
    assert f"ensemble '{store}' is half-written" in err
    assert f"ecocube ocean ensemble --out {store} --overwrite" in err
    assert not (tmp_path / "sur").exists()


def test_validate_names_a_damaged_surrogate_file(
    tmp_path: Path, saved_surrogate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ocean("validate", "--surrogate", tmp_path, "--n", "3") == 1
    assert "is not a surrogate folder" in error(capsys)
    folder = Path(shutil.copytree(saved_surrogate, tmp_path / "sur"))
    weights = folder / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert ocean("validate", "--surrogate", folder, "--n", "3") == 1
    err = error(capsys)
    assert f"surrogate file '{weights}' cannot be read: truncated, corrupt" in err
    assert f"ecocube ocean train --ensemble ENS.zarr --out {folder}" in err
    assert "weights_only" not in err
