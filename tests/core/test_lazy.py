"""Optional dependencies imported lazily, with the extra to install in the error."""

from __future__ import annotations

import pytest

from ecocube._lazy import lazy_import
from ecocube.errors import MissingDependencyError


def test_lazy_import_names_the_extra() -> None:
    assert lazy_import("json").dumps([1]) == "[1]"
    with pytest.raises(MissingDependencyError, match=r"pip install 'ecocube\[all\]'"):
        lazy_import("definitely_not_a_module_xyz")
