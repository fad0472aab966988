"""Checksummed registry of the public datasets ecocube uses.

Every file has a SHA-256 in ``registry.json`` and a canonical public source. Files are fetched
with :mod:`pooch` into the cache (``ECOCUBE_DATA_DIR``) from the mirror (``ECOCUBE_DATA_MIRROR``,
a local directory or base URL) or, without a mirror, from their canonical source.

Examples
--------
>>> from ecocube import data
>>> folder = data.fetch("chelsa_costa_rica")  # doctest: +SKIP
>>> tif = data.fetch_file("chelsa_costa_rica", "CHELSA_bio1_1981-2010_V.2.1.tif")  # doctest: +SKIP
"""

from ecocube.data._registry import (
    Dataset,
    DatasetStatus,
    FileEntry,
    FileStatus,
    dataset,
    datasets,
    fetch,
    fetch_file,
    list_datasets,
    sha256_of,
    verify,
    verify_datasets,
)

__all__ = [
    "Dataset",
    "DatasetStatus",
    "FileEntry",
    "FileStatus",
    "dataset",
    "datasets",
    "fetch",
    "fetch_file",
    "list_datasets",
    "sha256_of",
    "verify",
    "verify_datasets",
]
