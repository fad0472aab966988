"""ecocube: STAC-catalogued data cubes, multi-species SDMs and an ocean surrogate.

The top-level package is the small core shared by every part: errors and warnings, settings,
the checksummed data registry and the command-line interface. Domain code lives in
:mod:`ecocube.catalog`, :mod:`ecocube.cube`, :mod:`ecocube.models` and :mod:`ecocube.ocean`.
"""

from ecocube.errors import (
    CatalogError,
    ConfigurationError,
    DataIntegrityError,
    DatasetNotFoundError,
    EcocubeError,
    EcocubeWarning,
    StacApiError,
    strict,
)

__version__ = "0.1.0"

__all__ = [
    "CatalogError",
    "ConfigurationError",
    "DataIntegrityError",
    "DatasetNotFoundError",
    "EcocubeError",
    "EcocubeWarning",
    "StacApiError",
    "__version__",
    "strict",
]
