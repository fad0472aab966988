"""STAC Items for species distribution maps (Zarr stores of ``ecocube sdm map``) and their COGs.

A maps item describes the store like a cube item (:func:`ecocube.catalog.cube_item`: the
``datacube`` and ``projection`` extensions, read from the Zarr metadata) with a ``species``
dimension, and the model that made it with the Machine Learning Model extension (``mlm``,
v1.5): name, architecture, framework, the cube variables it reads (``mlm:input``) and the
statistics it returns per species (``mlm:output``, the species as classes). The COGs of the
maps are assets with ``raster:bands``; the model folder, copied next to the item, is the
``mlm:model`` asset. Items go to the collection ``ecocube-maps`` of a static catalog, linked
(``derived_from``) to the item of the input cube when that cube is registered there.

This module reads stores with xarray and needs no part of :mod:`ecocube.cube`.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecocube.catalog._assets import declare_extensions, link_or_copy, multihash_sha256
from ecocube.catalog._cube_items import (
    CUBES_COLLECTION_ID,
    _asset_path,
    _open_store,
    cube_item,
    register_item,
)
from ecocube.data import sha256_of
from ecocube.errors import EcocubeWarning, InvalidInputError

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "COG_INDEX",
    "COG_MEDIA_TYPE",
    "MAPS_COLLECTION_ID",
    "MLM_EXT",
    "map_item",
    "register_maps",
]

#: Collection of the maps registered by :func:`register_maps`.
MAPS_COLLECTION_ID = "ecocube-maps"
#: Machine Learning Model extension schema (v1.5: ``variables`` in ``mlm:input``/``mlm:output``).
MLM_EXT = "https://stac-extensions.github.io/mlm/v1.5.1/schema.json"
#: Index file of a COG folder written by ``ecocube.cube.write_cogs``.
COG_INDEX = "cogs-index.json"
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: Folder of the model's files next to the item JSON.
MODEL_FOLDER = "model"
_STATISTICS = ("mean", "sd", "q05", "q95")
_MLM_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def _maps_store(path: Path) -> xr.Dataset:
    ds = _open_store(path)
    if "ecocube:map_format" not in ds.attrs or "mean" not in ds.data_vars:
        raise InvalidInputError(
            f"{str(path)!r} is an ecocube store but not a maps store (no ecocube:map_format "
            "attribute or mean layer); register cubes with register_cube"
        )
    return ds


def _json_attr(ds: xr.Dataset, key: str, default: Any) -> Any:
    try:
        return json.loads(ds.attrs.get(key) or "null") or default
    except json.JSONDecodeError:
        return default


def _mlm_name(text: str) -> str:
    """A name matching every MLM version's pattern (letters first, then ``[A-Za-z0-9_.-]``)."""
    name = _MLM_NAME.sub("-", text).strip("-_.")
    if not name or not name[0].isalpha():
        name = f"model-{name}".rstrip("-_.")
    return name if len(name) >= 3 else f"{name}-sdm"


def _class_name(species: str, taken: set[str]) -> str:
    """A classification ``name`` (``[0-9A-Za-z_-]+``) for a species, unique in ``taken``."""
    base = re.sub(r"[^0-9A-Za-z]+", "_", species).strip("_") or "species"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _mlm_fields(ds: xr.Dataset, species: list[str]) -> dict[str, Any]:
    """``mlm:`` item properties from the store's ``ecocube:model`` and variables."""
    model = _json_attr(ds, "ecocube:model", {})
    variables = [str(v) for v in _json_attr(ds, "ecocube:variables", [])]
    tasks = [str(t) for t in model.get("tasks", ["classification"])]
    taken: set[str] = set()
    classes = [
        {"value": i, "name": _class_name(sp, taken), "description": sp}
        for i, sp in enumerate(species)
    ]
    quantity = str(model.get("quantity", "probability of occurrence"))
    fields: dict[str, Any] = {
        "mlm:name": _mlm_name(str(model.get("name") or ds.attrs.get("ecocube:model_id") or "sdm")),
        "mlm:architecture": str(model.get("architecture", "unknown")),
        "mlm:tasks": tasks,
        "mlm:framework": str(model.get("framework", "PyTorch")),
        "mlm:pretrained": False,
        "mlm:pretrained_source": None,
        "mlm:accelerator": None,
        "mlm:accelerator_constrained": False,
        "mlm:input": [
            {
                "name": "covariates",
                "description": "Covariates of each grid cell, read from the input cube's "
                "variables of the same names (one row per cell).",
                "bands": [],
                "variables": variables,
                "input": {
                    "shape": [-1, len(variables)],
                    "dim_order": ["batch", "variables"],
                    "data_type": "float32",
                },
                "pre_processing_function": None,
            }
        ],
        "mlm:output": [
            {
                "name": "occurrence",
                "description": f"Predictive mean, standard deviation and 5 % / 95 % quantiles "
                f"of the {quantity} of each species at each cell.",
                "tasks": tasks,
                "bands": [],
                "variables": list(_STATISTICS),
                "result": {
                    "shape": [-1, len(_STATISTICS), len(species)],
                    "dim_order": ["batch", "variables", "species"],
                    "data_type": "float32",
                },
                "classification:classes": classes,
                "post_processing_function": None,
            }
        ],
    }
    version = model.get("framework_version")
    if version:
        fields["mlm:framework_version"] = str(version)
    if model.get("total_parameters") is not None:
        fields["mlm:total_parameters"] = int(model["total_parameters"])
    hyper = model.get("hyperparameters")
    if isinstance(hyper, Mapping) and hyper:
        fields["mlm:hyperparameters"] = dict(hyper)
    return fields


def _cog_assets(folder: Path, ds: xr.Dataset) -> dict[str, Any]:
    """Assets of the COGs listed in ``folder``'s index, with raster and file fields."""
    import pystac

    index_file = folder / COG_INDEX
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        files = list(index["files"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise InvalidInputError(
            f"cogs={str(folder)!r} is not a COG folder of ecocube ({COG_INDEX} unreadable: "
            f"{type(err).__name__}); write one with write_cogs (`ecocube sdm map --cog DIR`)"
        ) from err
    xs = ds["x"].values
    res = float(abs(xs[1] - xs[0])) if xs.size > 1 else None
    assets = {}
    for entry in files:
        path = (folder / str(entry["file"])).resolve()
        if not path.is_file():
            raise InvalidInputError(
                f"cogs={str(folder)!r}: {path.name} is listed in {COG_INDEX} but missing; "
                "write the COGs again"
            )
        variable, species = str(entry["variable"]), entry.get("species")
        band: dict[str, Any] = {"data_type": "float32", "nodata": "nan"}
        unit = ds[variable].attrs.get("units") if variable in ds.data_vars else None
        if unit:
            band["unit"] = unit
        if res is not None:
            band["spatial_resolution"] = res
        what = f"{variable} of {species}" if species is not None else variable
        assets[path.stem] = pystac.Asset(
            href=str(path),
            media_type=COG_MEDIA_TYPE,
            title=f"{what} (cloud-optimised GeoTIFF)",
            roles=["data"],
            extra_fields={
                "raster:bands": [band],
                "file:size": path.stat().st_size,
                "file:checksum": multihash_sha256(sha256_of(path)),
                **({"ecocube:species": species} if species is not None else {}),
                "ecocube:variable": variable,
            },
        )
    return assets


def map_item(
    path: Path | str,
    *,
    cogs: Path | str | None = None,
    item_id: str | None = None,
) -> Any:
    """A ``pystac.Item`` describing a maps store, its model (``mlm``) and its COGs.

    Parameters
    ----------
    path
        The maps store written by ``ecocube.models.predict_map`` (the ``zarr`` asset).
    cogs
        Folder of its COGs (``ecocube.cube.write_cogs``), one asset per file.
    item_id
        STAC id; default: the store name plus a short hash of its path.

    Returns
    -------
    pystac.Item
        ``cube:dimensions`` (``x``, ``y``, ``species``) and ``cube:variables``, ``proj:*``
        (code, shape, transform), ``mlm:*`` with the input variables and the per-species
        statistics, the time span of the input layers when they have one.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    InvalidInputError
        ``path`` is not a complete maps store, or ``cogs`` is not a COG folder of it.
    """
    import pandas as pd

    path = Path(path).resolve()
    ds = _maps_store(path)
    item = cube_item(path, ds, item_id=item_id)
    species = [str(s) for s in ds["species"].values]
    props = item.properties
    props["cube:dimensions"]["species"] = {
        "type": "other",
        "description": "species",
        "values": species,
    }
    transform = ds["spatial_ref"].attrs.get("GeoTransform") if "spatial_ref" in ds else None
    if transform:
        c, a, b, f, d, e = (float(v) for v in str(transform).split())
        props["proj:transform"] = [a, b, c, d, e, f]
    props["title"] = str(ds.attrs.get("title", "ecocube species distribution maps"))
    props["ecocube:species"] = species
    props["ecocube:mask"] = ds.attrs.get("ecocube:mask")
    props.update(_mlm_fields(ds, species))
    start, end = ds.attrs.get("ecocube:start_datetime"), ds.attrs.get("ecocube:end_datetime")
    if start and end:
        props["start_datetime"] = pd.Timestamp(start).isoformat()
        props["end_datetime"] = pd.Timestamp(end).isoformat()
        item.datetime = None
    item.assets["zarr"].title = "species distribution maps (Zarr v2, consolidated)"
    if cogs is not None:
        for key, asset in _cog_assets(Path(cogs), ds).items():
            item.add_asset(key, asset)
    declare_extensions(item)
    item.stac_extensions = sorted({*item.stac_extensions, MLM_EXT})
    return item


def _model_asset(item: Any, model_dir: Path, artifact_type: str) -> None:
    """Copy the model folder next to the item and add it as the ``mlm:model`` asset."""
    import pystac

    folder = Path(item.get_self_href()).parent / MODEL_FOLDER
    if folder.is_dir():  # the model of an earlier registration of these maps
        shutil.rmtree(folder)
    files = sorted(p for p in model_dir.iterdir() if p.is_file())
    entry = next((p for p in files if p.name == "manifest.json"), files[0])
    for f in files:
        link_or_copy(f, folder / f.name)
    item.add_asset(
        "model",
        pystac.Asset(
            href=str(folder / entry.name),
            media_type="application/json" if entry.suffix == ".json" else None,
            title="the fitted model (its folder; load it with ecocube.models.SDM.load)",
            roles=["mlm:model", "metadata"],
            extra_fields={
                "mlm:artifact_type": artifact_type,
                "file:size": entry.stat().st_size,
                "file:checksum": multihash_sha256(sha256_of(entry)),
            },
        ),
    )
    declare_extensions(item)


def _cube_link(item: Any, cube_path: str) -> None:
    """Link the item (``derived_from``) to the registered item of its input cube, if any."""
    import pystac

    if not cube_path:
        return
    root = item.get_root()
    cubes = root.get_child(CUBES_COLLECTION_ID) if root is not None else None
    if cubes is None:
        return
    target = Path(cube_path).resolve()
    for other in cubes.get_items():
        if _asset_path(other) == target:
            item.add_link(
                pystac.Link(
                    "derived_from",
                    other,
                    media_type=pystac.MediaType.GEOJSON,
                    title="input cube",
                )
            )
            return


def register_maps(
    path: Path | str,
    catalog: Path | str,
    model_dir: Path | str,
    *,
    cogs: Path | str | None = None,
    collection_id: str = MAPS_COLLECTION_ID,
    item_id: str | None = None,
) -> Any:
    """Add a maps store (and its COGs) as a STAC Item to a static catalog.

    The item (:func:`map_item`) goes to collection ``collection_id`` (created when missing).
    The files of ``model_dir`` are copied (hard-linked where possible) into a ``model``
    folder next to the item JSON and described as the ``mlm:model`` asset, so the catalog
    holds the model that made the maps. When the input cube (the store's ``ecocube:cube``)
    is registered in the same catalog, the item links to it (``derived_from``). Registering
    the same store again replaces its item.

    Parameters
    ----------
    path
        The maps store.
    catalog
        Static catalog folder (or its ``catalog.json``).
    model_dir
        Folder of the fitted model (its files are copied into the catalog).
    cogs
        Folder of the maps' COGs (``ecocube.cube.write_cogs``).
    collection_id, item_id
        Where the item goes and its id (default: the store name and a hash of its path).

    Returns
    -------
    pystac.Item

    Raises
    ------
    CatalogError
        ``catalog`` is not a static catalog, ``collection_id`` names a plain catalog, or
        ``item_id`` names an item of another store.
    InvalidInputError
        ``path`` is not a complete maps store, ``model_dir`` is not a folder with files, or
        ``cogs`` is not a COG folder.

    Warns
    -----
    EcocubeWarning
        The store or the COGs lie outside the catalog's folder (the catalog is then not
        self-contained).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir() or not any(p.is_file() for p in model_dir.iterdir()):
        raise InvalidInputError(
            f"model_dir={str(model_dir)!r} is not a folder holding a fitted model; pass the "
            "folder written by SDM.save (`ecocube sdm fit --out`)"
        )
    store = Path(path).resolve()
    state: dict[str, Any] = {}

    def make() -> Any:
        item = map_item(store, cogs=cogs, item_id=item_id)
        ds = _maps_store(store)
        state["cube"] = str(ds.attrs.get("ecocube:cube", ""))
        state["artifact"] = str(
            _json_attr(ds, "ecocube:model", {}).get("artifact_type", "ecocube.models.SDM.save")
        )
        return item

    def prepare(item: Any) -> None:
        _model_asset(item, model_dir, state["artifact"])
        _cube_link(item, state["cube"])

    item = register_item(
        make,
        catalog,
        collection_id=collection_id,
        description="Species distribution maps (mean, sd, 5 % and 95 % quantiles per species) "
        "made by ecocube SDMs from its cubes.",
        what="maps",
        retry="map again, or map without --catalog",
        prepare=prepare,
    )
    folder = Path(item.get_root().get_self_href()).parent.resolve()
    outside = [str(p) for p in _local_assets(item) if not p.is_relative_to(folder)]
    if outside:
        warnings.warn(
            f"{len(outside)} asset(s) of the maps lie outside the catalog folder {str(folder)!r} "
            f"(e.g. {outside[0]!r}): they are registered, but the catalog is no longer "
            "self-contained; write the maps and COGs inside the catalog folder to keep it portable",
            EcocubeWarning,
            stacklevel=2,
        )
    return item


def _local_assets(item: Any) -> list[Path]:
    out = []
    for asset in item.assets.values():
        href = asset.get_absolute_href()
        if href and "://" not in href:
            out.append(Path(href).resolve())
    return out
