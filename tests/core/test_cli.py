"""The ``ecocube`` entry point: help everywhere, one-line errors, exit codes, --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from ecocube.cli import app, main
from ecocube.errors import DatasetNotFoundError


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
