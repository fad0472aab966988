"""Import optional dependencies lazily, with the install command in the error."""

from __future__ import annotations

import importlib
from types import ModuleType

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
