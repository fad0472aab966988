"""Import optional dependencies lazily, with the install command in the error."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ecocube.errors import MissingDependencyError

#: Which extra provides which top-level module.
_EXTRA_OF = {
    "torch": "cube",
    "torchgeo": "cube",
    "stackstac": "cube",
    "rioxarray": "cube",
    "zarr": "cube",
    "dask": "cube",
    "distributed": "cube",
    "geopandas": "cube",
    "pyro": "sdm",
    "sklearn": "sdm",
    "lightning": "sdm",
    "scipy": "ocean",
    "shap": "explain",
}


def lazy_import(name: str) -> ModuleType:
    """Import module ``name`` or raise an error that says which extra to install.

    Parameters
    ----------
    name
        Dotted module name, e.g. ``"torchgeo.datasets"``.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the module is not installed.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        top = name.split(".")[0]
        extra = _EXTRA_OF.get(top, "all")
        raise MissingDependencyError(
            f"{name!r} is required for this feature but is not installed; "
            f"install it with: pip install 'ecocube[{extra}]'"
        ) from err


def lazy_attributes(
    package: str, names: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__``/``__dir__`` that import heavy names on first access (PEP 562).

    Parameters
    ----------
    package
        The package's dotted name (for the ``AttributeError`` message).
    names
        Attribute name -> module that defines it.
    namespace
        The package's ``globals()``; a resolved attribute is cached there.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` to assign at the package's top level.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
