"""The exception and warning hierarchy and ``strict()``."""

from __future__ import annotations

import warnings

import pytest

from ecocube import EcocubeWarning, strict
from ecocube.errors import (
    DatasetNotFoundError,
    EcocubeError,
    InvalidInputError,
    MissingDependencyError,
)


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
