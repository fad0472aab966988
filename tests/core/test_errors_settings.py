"""Errors, warnings, settings and the HTML report."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from ecocube import EcocubeWarning, strict
from ecocube._lazy import lazy_import
from ecocube.errors import (
    ConfigurationError,
    DatasetNotFoundError,
    EcocubeError,
    InvalidInputError,
    MissingDependencyError,
)
from ecocube.settings import get_settings


def test_errors_are_also_builtin_exceptions() -> None:
    assert issubclass(DatasetNotFoundError, FileNotFoundError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(MissingDependencyError, ImportError)
    assert all(issubclass(e, EcocubeError) for e in (DatasetNotFoundError, InvalidInputError))


def test_strict_turns_ecocube_warnings_into_errors() -> None:
    with strict(), pytest.raises(EcocubeWarning, match="careful"):
        warnings.warn("careful", EcocubeWarning, stacklevel=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("careful", EcocubeWarning, stacklevel=1)
    assert len(caught) == 1


def test_lazy_import_names_the_extra() -> None:
    assert lazy_import("json").dumps([1]) == "[1]"
    with pytest.raises(MissingDependencyError, match=r"pip install 'ecocube\[all\]'"):
        lazy_import("definitely_not_a_module_xyz")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(tmp_path))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    s = get_settings()
    assert s.mirror_is_local and s.data_dir == tmp_path / "cache"
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", "https://example.org/ecocube-data")
    assert not get_settings().mirror_is_local
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="is not a directory"):
        get_settings()
