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
    "torchvision": "cube",
    "torchgeo": "cube",
    "stackstac": "cube",
    "rioxarray": "cube",
    "zarr": "cube",
    "dask": "cube",
    "distributed": "cube",
    "dask_jobqueue": "cube",
    "geopandas": "cube",
    "pyogrio": "cube",
    "global_land_mask": "cube",
    "scipy": "cube",
    "pyro": "sdm",
    "sklearn": "sdm",
    "pypgstac": "serve",
    "psycopg": "serve",
    "cql2": "serve",
    "matplotlib": "plot",
    "shap": "explain",
}


def missing_dependency(
    err: ModuleNotFoundError, *, extra: str | None = None
) -> MissingDependencyError | None:
    """The error to show for ``err`` when it names an optional dependency, else ``None``.

    Parameters
    ----------
    err
        An import failure, e.g. ``No module named 'torch'`` raised deep inside a command.
    extra
        The extra that the failing feature as a whole needs (e.g. ``"ocean"`` for an ocean
        command, which needs more than the module that happened to be missing first);
        default: the extra that provides the module.

    Returns
    -------
    MissingDependencyError or None
        An error naming the module and the ``pip install 'ecocube[EXTRA]'`` command that
        provides it; ``None`` when the missing module is not one of ecocube's extras (a bug).
    """
    top = (err.name or "").split(".")[0]
    if top not in _EXTRA_OF:
        return None
    extra = extra or _EXTRA_OF[top]
    return MissingDependencyError(
        f"{top!r} is required for this feature but is not installed; "
        f"install it with: pip install 'ecocube[{extra}]'"
    )


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
        extra = _EXTRA_OF.get(name.split(".")[0], "all")
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
