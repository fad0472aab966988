"""Exception and warning hierarchy of ecocube.

Every exception derives from :class:`EcocubeError` *and* from the built-in exception a caller
would naturally catch (``FileNotFoundError``, ``ValueError``...), so ``except ValueError`` keeps
working. Messages name the offending argument or file, what was expected and what to do.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

__all__ = [
    "CatalogError",
    "ConfigurationError",
    "DataIntegrityError",
    "DatasetNotFoundError",
    "EcocubeError",
    "EcocubeWarning",
    "InvalidInputError",
    "MissingDependencyError",
    "StacApiError",
    "strict",
]


class EcocubeError(Exception):
    """Base class of every error raised by ecocube."""


class InvalidInputError(EcocubeError, ValueError):
    """An argument or input file has a value ecocube cannot use."""


class ConfigurationError(EcocubeError, ValueError):
    """A setting (environment variable, config file, option) is invalid."""


class DatasetNotFoundError(EcocubeError, FileNotFoundError):
    """A registered dataset or one of its files cannot be found locally or at the mirror."""


class DataIntegrityError(EcocubeError, OSError):
    """A file's checksum does not match the registry."""


class CatalogError(EcocubeError, ValueError):
    """A STAC catalog, collection or item is missing, malformed or invalid."""


class StacApiError(EcocubeError, ConnectionError):
    """A STAC API could not be reached or answered with an error."""


class MissingDependencyError(EcocubeError, ImportError):
    """An optional dependency is needed for this feature and is not installed."""


class EcocubeWarning(UserWarning):
    """Base class of every warning issued by ecocube."""


@contextlib.contextmanager
def strict() -> Iterator[None]:
    """Turn every :class:`EcocubeWarning` into an error inside the ``with`` block.

    Examples
    --------
    >>> from ecocube import strict
    >>> with strict():
    ...     pass
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", EcocubeWarning)
        yield
