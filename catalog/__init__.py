"""STAC catalog of the registry datasets: build, validate, serve (STAC API) and search.

Examples
--------
>>> from ecocube import catalog
>>> cat = catalog.build_catalog("out/catalog")  # doctest: +SKIP
>>> catalog.validate_catalog("out/catalog")  # doctest: +SKIP
[]
>>> with catalog.serve_catalog("out/catalog") as url:  # doctest: +SKIP
...     items = catalog.search(url, collections=["landsat-8-l1-new-york"],
...                            filter="eo:cloud_cover < 10")
"""

from ecocube.catalog._build import FAMILIES, build_catalog, catalog_datasets, item_epsg
from ecocube.catalog._compat import stackable_items
from ecocube.catalog._search import (
    RetryPolicy,
    normalize_bbox,
    normalize_datetime,
    normalize_filter,
    open_client,
    search,
)
from ecocube.catalog._server import pgstac_available, serve_catalog
from ecocube.catalog._validate import ValidationProblem, validate_catalog

__all__ = [
    "FAMILIES",
    "RetryPolicy",
    "ValidationProblem",
    "build_catalog",
    "catalog_datasets",
    "item_epsg",
    "normalize_bbox",
    "normalize_datetime",
    "normalize_filter",
    "open_client",
    "pgstac_available",
    "search",
    "serve_catalog",
    "stackable_items",
    "validate_catalog",
]
