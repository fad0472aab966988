"""STAC catalog of the registry datasets: build, validate, read, serve (STAC API) and search.

Every STAC read and write of ecocube lives here: reading items from a static catalog or a STAC
API (:func:`load_items`), describing and registering cubes (:func:`register_cube`). The names
are imported on first use, so ``import ecocube.catalog`` is cheap.

Examples
--------
>>> from ecocube import catalog
>>> cat = catalog.build_catalog("out/catalog")  # doctest: +SKIP
>>> catalog.validate_catalog("out/catalog")  # doctest: +SKIP
[]
>>> with catalog.serve_catalog("out/catalog") as url:  # doctest: +SKIP
...     items = catalog.search(
...         url, collections=["landsat-8-l1-new-york"], filter="eo:cloud_cover < 10"
...     )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecocube._lazy import lazy_attributes

if TYPE_CHECKING:
    from ecocube.catalog._build import FAMILIES, build_catalog, catalog_datasets
    from ecocube.catalog._compat import stackable_items
    from ecocube.catalog._cube_items import CUBES_COLLECTION_ID, cube_item, register_cube
    from ecocube.catalog._map_items import MAPS_COLLECTION_ID, map_item, register_maps
    from ecocube.catalog._ocean_items import (
        OCEAN_ENSEMBLES_COLLECTION_ID,
        ocean_item,
        register_ocean,
    )
    from ecocube.catalog._postgres import pgstac_available
    from ecocube.catalog._proj import item_epsg
    from ecocube.catalog._read import load_items
    from ecocube.catalog._search import (
        RetryPolicy,
        normalize_bbox,
        normalize_datetime,
        normalize_filter,
        open_client,
        search,
    )
    from ecocube.catalog._server import serve_catalog
    from ecocube.catalog._validate import ValidationProblem, validate_catalog

__all__ = [
    "CUBES_COLLECTION_ID",
    "FAMILIES",
    "MAPS_COLLECTION_ID",
    "OCEAN_ENSEMBLES_COLLECTION_ID",
    "RetryPolicy",
    "ValidationProblem",
    "build_catalog",
    "catalog_datasets",
    "cube_item",
    "item_epsg",
    "load_items",
    "map_item",
    "normalize_bbox",
    "normalize_datetime",
    "normalize_filter",
    "ocean_item",
    "open_client",
    "pgstac_available",
    "register_cube",
    "register_maps",
    "register_ocean",
    "search",
    "serve_catalog",
    "stackable_items",
    "validate_catalog",
]

_LAZY = {
    "FAMILIES": "ecocube.catalog._build",
    "build_catalog": "ecocube.catalog._build",
    "catalog_datasets": "ecocube.catalog._build",
    "stackable_items": "ecocube.catalog._compat",
    "CUBES_COLLECTION_ID": "ecocube.catalog._cube_items",
    "cube_item": "ecocube.catalog._cube_items",
    "register_cube": "ecocube.catalog._cube_items",
    "MAPS_COLLECTION_ID": "ecocube.catalog._map_items",
    "map_item": "ecocube.catalog._map_items",
    "register_maps": "ecocube.catalog._map_items",
    "OCEAN_ENSEMBLES_COLLECTION_ID": "ecocube.catalog._ocean_items",
    "ocean_item": "ecocube.catalog._ocean_items",
    "register_ocean": "ecocube.catalog._ocean_items",
    "pgstac_available": "ecocube.catalog._postgres",
    "item_epsg": "ecocube.catalog._proj",
    "load_items": "ecocube.catalog._read",
    "RetryPolicy": "ecocube.catalog._search",
    "normalize_bbox": "ecocube.catalog._search",
    "normalize_datetime": "ecocube.catalog._search",
    "normalize_filter": "ecocube.catalog._search",
    "open_client": "ecocube.catalog._search",
    "search": "ecocube.catalog._search",
    "serve_catalog": "ecocube.catalog._server",
    "ValidationProblem": "ecocube.catalog._validate",
    "validate_catalog": "ecocube.catalog._validate",
}

__getattr__, __dir__ = lazy_attributes("ecocube.catalog", _LAZY, globals())
