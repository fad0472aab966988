"""The ``ecocube`` entry point: help everywhere, one-line errors, exit codes, --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from ecocube.cli import app, main
from ecocube.errors import DatasetNotFoundError

from ..conftest import requires_mirror


def _walk(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            out += _walk(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    root = typer.main.get_command(app)
    paths = _walk(root)
    assert ("data", "list") in paths and ("demo",) in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        text = capsys.readouterr().out
        assert "Usage:" in text, path


def test_data_list_prints_every_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("nceas", "chelsa_costa_rica", "ocean_north_atlantic", "interactions_kopelke"):
        assert name in out


def test_errors_are_one_line_with_nonzero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "not-a-dataset"]) == 1
    err = capsys.readouterr().err
    assert "error: unknown dataset 'not-a-dataset'" in " ".join(err.split())
    assert "Traceback" not in err


def test_debug_flag_shows_the_exception() -> None:
    with pytest.raises(DatasetNotFoundError):
        main(["--debug", "data", "fetch", "not-a-dataset"])


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_console_script_runs_as_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecocube", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0 and "catalog" in result.stdout


def test_debug_flag_is_accepted_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DatasetNotFoundError):
        main(["data", "fetch", "not-a-dataset", "--debug"])
    assert main(["data", "list", "--debug"]) == 0
    assert "No such option" not in capsys.readouterr().err
    # after a `--` separator it is an argument, not the option
    assert main(["data", "fetch", "--", "--debug"]) == 1
    assert "unknown dataset '--debug'" in capsys.readouterr().err


def test_help_says_where_debug_goes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "Accepted anywhere on the command line" in text


def _corrupt_copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)
    target = dst / "bradypus.csv.gz"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes() + b"tampered")


@requires_mirror
def test_verify_mirror_advises_resync_from_the_canonical_source(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ecocube import data

    _corrupt_copy(mirror / "sdm_elapid", tmp_path / "mirror" / "sdm_elapid")
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "verify", "sdm_elapid", "--where", "mirror"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 file(s) fail their checksum (sdm_elapid/bradypus.csv.gz)" in err
    assert "re-sync these files into the mirror from the canonical source" in err
    assert data.dataset("sdm_elapid").source in err
    assert "restore them from the mirror" not in err


@requires_mirror
def test_verify_cache_advises_fetch(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _corrupt_copy(mirror / "sdm_elapid", tmp_path / "cache" / "sdm_elapid")
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "verify", "sdm_elapid"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 file(s) fail their checksum (sdm_elapid/bradypus.csv.gz)" in err
    assert "run `ecocube data fetch sdm_elapid` to restore them from the mirror" in err
