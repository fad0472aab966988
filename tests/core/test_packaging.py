"""Packaging: the core install (no extras) imports and runs the CLI without torch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

#: What a source distribution of the package needs (setup.py maps these folders).
_SOURCES = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "core",
    "catalog",
    "cube",
    "models",
    "ocean",
    "demo",
)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install ecocube`` (core dependencies only)."""
    root = tmp_path_factory.mktemp("core-install")
    src = root / "src"
    src.mkdir()
    for name in _SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    installed = _run([str(py), "-m", "pip", "install", "-q", str(src)])
    if installed.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"pip install of the core package failed:\n{installed.stderr[-3000:]}")
        pytest.skip(f"no package index reachable here: {installed.stderr.strip()[-300:]}")
    return venv


@pytest.mark.slow
def test_core_install_has_no_torch_and_runs_the_cli(core_venv: Path) -> None:
    py, exe = core_venv / "bin" / "python", core_venv / "bin" / "ecocube"
    missing = _run(
        [
            str(py),
            "-c",
            "import importlib.util as u; print([m for m in ('torch', 'dask', 'pyro', 'pypgstac') if u.find_spec(m)])",
        ]
    )
    assert missing.stdout.strip() == "[]", missing.stdout + missing.stderr
    for args in (
        ["--help"],
        ["data", "--help"],
        ["catalog", "--help"],
        ["cube", "--help"],
        ["sdm", "--help"],
        ["ocean", "--help"],
        ["data", "list"],
    ):
        done = _run([str(exe), *args])
        assert done.returncode == 0, f"ecocube {' '.join(args)}: {done.stdout}{done.stderr}"
    listing = _run([str(exe), "data", "list"])
    assert "nceas" in listing.stdout


@pytest.mark.slow
def test_core_install_names_the_extra_a_command_needs(core_venv: Path, tmp_path: Path) -> None:
    exe = core_venv / "bin" / "ecocube"
    done = _run([str(exe), "ocean", "simulate", "--out", str(tmp_path / "a.nc")])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pip install 'ecocube[ocean]'" in done.stderr
