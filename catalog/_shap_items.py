"""STAC Items for spatial SHAP layers (the Zarr stores of ``ecocube report shap --maps``).

An item describes the store like a cube item (:func:`ecocube.catalog.cube_item`: the
``datacube`` and ``projection`` extensions read from the Zarr metadata) with the ``species``,
``variable`` and ``group`` dimensions and the explainer that made the layers
(``ecocube:explainer``, ``ecocube:explained_output``). Items go to the collection
``ecocube-shap`` of a static catalog, next to the maps (``ecocube-maps``).

This module reads stores with xarray and needs no part of :mod:`ecocube.cube`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecocube.catalog._cube_items import _open_store, cube_item, register_item

__all__ = ["SHAP_COLLECTION_ID", "register_shap_maps", "shap_item"]

#: Collection of the SHAP layers registered by :func:`register_shap_maps`.
SHAP_COLLECTION_ID = "ecocube-shap"
_DIMENSIONS = {
    "species": "species",
    "variable": "input variable of the model",
    "group": "group of input variables (sum of their SHAP values)",
}


def shap_item(path: Path | str, *, item_id: str | None = None) -> Any:
    """A ``pystac.Item`` describing a store of spatial SHAP layers.

    Parameters
    ----------
    path
        The store written by :func:`ecocube.models.explain.shap_report` (``maps=``).
    item_id
        STAC id; default: the store name plus a short hash of its path.

    Returns
    -------
    pystac.Item
        ``cube:dimensions`` (``x``, ``y``, ``species``, ``variable``, ``group``),
        ``cube:variables``, ``proj:*`` and the explainer's description.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    InvalidInputError
        ``path`` is not a complete store.
    """
    path = Path(path).resolve()
    ds = _open_store(path)
    item = cube_item(path, ds, item_id=item_id)
    props = item.properties
    for dim, description in _DIMENSIONS.items():
        if dim in ds.dims:
            props["cube:dimensions"][dim] = {
                "type": "other",
                "description": description,
                "values": [str(v) for v in ds[dim].values],
            }
    props["title"] = str(ds.attrs.get("title", "ecocube spatial SHAP layers"))
    for key in ("explainer", "explained_output", "map_stride", "n_background"):
        value = ds.attrs.get(f"ecocube:{key}")
        if value is not None:
            props[f"ecocube:{key}"] = value
    item.assets["zarr"].title = "spatial SHAP layers (Zarr v2, consolidated)"
    return item


def register_shap_maps(
    path: Path | str,
    catalog: Path | str,
    *,
    collection_id: str = SHAP_COLLECTION_ID,
    item_id: str | None = None,
) -> Any:
    """Add a store of spatial SHAP layers as a STAC Item to a static catalog.

    The item (:func:`shap_item`) goes to collection ``collection_id`` (created when
    missing); registering the same store again replaces its item.

    Returns
    -------
    pystac.Item

    Raises
    ------
    CatalogError
        ``catalog`` is not a static catalog, or ``item_id`` names an item of another store.
    InvalidInputError
        ``path`` is not a complete store.
    """
    store = Path(path).resolve()
    return register_item(
        lambda: shap_item(store, item_id=item_id),
        catalog,
        collection_id=collection_id,
        description="Spatial SHAP layers (per variable and per group, per species) and shadow "
        "distributions made by `ecocube report shap` from fitted SDMs and cubes.",
        what="SHAP layers",
        retry="run `ecocube report shap` again, or without --catalog",
    )
