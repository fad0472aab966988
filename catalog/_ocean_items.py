"""STAC Items of ocean products (ingested source files, scenario ensembles) and their registration.

An ocean product is a Zarr store whose global attribute ``ecocube:product`` names what it holds:
``"ensemble"`` for a scenario ensemble of the ocean model (``ecocube ocean ensemble``), or the
source product of an ingestion (``"cesm_marbl"``, ``"glorys"``, ``"era5"``, ``"river"``:
``ecocube ocean ingest``). Its item carries the datacube extension read from the store (the
variables' CF ``standard_name``, ``units`` and ``long_name`` are the attributes the writer set
from the ocean variable registry; this module reads them and never imports ``ecocube.ocean``),
the projection extension where the product has a longitude/latitude grid, and the product in
``ecocube:ocean_product``. Each product has its own collection: ``ocean-ensembles`` for the
ensembles, ``ocean-<product>`` (``ocean-cesm-marbl``, ``ocean-glorys``...) for ingestions.

A scenario ensemble of the 1-D water column has no location. pgstac, which serves the catalog,
cannot store an item without a geometry, so such an item gets the whole globe as a nominal
footprint and ``ecocube:geolocated: false``; readers (``ecocube cube build``) use that flag, not
the footprint, to tell a spatial product from a non-spatial one.

:func:`registry_items` builds the items of a registry dataset in memory (hrefs to the verified
cache files), so code that used to open registry files by name can read them through their STAC
items without a catalog on disk.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ecocube.catalog._assets import AssetFile, declare_extensions
from ecocube.catalog._cube_items import _open_store, default_item_id, register_item
from ecocube.catalog._family import BuildContext
from ecocube.catalog._items_ocean import (
    _X,
    _Y,
    OCEAN_PRODUCTS,
    PRODUCT_PROPERTY,
    _bbox,
    _iso,
    _polygon,
    _times,
    datacube_fields,
    grid_fields,
)
from ecocube.errors import CatalogError, EcocubeWarning, InvalidInputError

if TYPE_CHECKING:
    import pystac
    import xarray as xr

__all__ = [
    "ENSEMBLE",
    "GEOLOCATED_PROPERTY",
    "OCEAN_ENSEMBLES_COLLECTION_ID",
    "PRODUCT_ATTR",
    "PRODUCT_PROPERTY",
    "REGISTERED_OCEAN_COLLECTIONS",
    "check_static_catalog",
    "ocean_item",
    "product_collection_id",
    "register_ocean",
    "registry_items",
]

#: Global attribute of an ocean product store naming its product.
PRODUCT_ATTR = "ecocube:product"
#: The product of scenario ensembles of the ocean model.
ENSEMBLE = "ensemble"
#: Collection of the registered scenario ensembles.
OCEAN_ENSEMBLES_COLLECTION_ID = "ocean-ensembles"
#: Item property: False for a product without a location (its footprint is nominal).
GEOLOCATED_PROPERTY = "ecocube:geolocated"
#: Media type of Zarr assets (as for cubes).
ZARR_MEDIA_TYPE = "application/vnd+zarr"
_GLOBE = [-180.0, -90.0, 180.0, 90.0]


def product_collection_id(product: str) -> str:
    """Collection of the registered stores of ``product``.

    ``"ensemble"`` -> ``"ocean-ensembles"``; an ingested source product -> ``"ocean-"`` plus
    its key with dashes (``"cesm_marbl"`` -> ``"ocean-cesm-marbl"``).
    """
    if product == ENSEMBLE:
        return OCEAN_ENSEMBLES_COLLECTION_ID
    return "ocean-" + product.replace("_", "-").lower()


#: Collections :func:`register_ocean` writes for the known products; a catalog rebuild keeps them.
REGISTERED_OCEAN_COLLECTIONS: tuple[str, ...] = (
    OCEAN_ENSEMBLES_COLLECTION_ID,
    *(product_collection_id(p) for p in OCEAN_PRODUCTS),
)

_DESCRIPTIONS = {
    ENSEMBLE: "Scenario ensembles of the ecocube ocean model (Zarr, CF names and units).",
}


def _span(ds: xr.Dataset, times: list[Any]) -> tuple[datetime | None, datetime | None]:
    """Time span of the store: its time axis, else its ``ecocube:start/end_datetime``."""
    if times:
        first, last = min(times), max(times)
        return (
            datetime.fromisoformat(_iso(first).replace("Z", "+00:00")),
            datetime.fromisoformat(_iso(last).replace("Z", "+00:00")),
        )
    start, end = ds.attrs.get("ecocube:start_datetime"), ds.attrs.get("ecocube:end_datetime")
    if not (start and end):
        return None, None
    out = []
    for text in (start, end):
        t = pd.Timestamp(text)
        out.append((t.tz_localize("UTC") if t.tzinfo is None else t).to_pydatetime())
    return out[0], out[1]


def ocean_item(
    path: Path | str, ds: xr.Dataset | None = None, *, item_id: str | None = None
) -> pystac.Item:
    """A ``pystac.Item`` describing an ocean product store (datacube, and proj if gridded).

    Parameters
    ----------
    path
        The Zarr store (the ``zarr`` asset; made relative when the item is saved in a catalog).
    ds
        The store's dataset when already open; read from ``path`` otherwise.
    item_id
        STAC id; default: the store name plus a short hash of its resolved path
        (:func:`ecocube.catalog._cube_items.default_item_id`).

    Returns
    -------
    pystac.Item
        ``cube:dimensions`` (``time`` temporal, ``depth`` spatial ``z``, ``lat``/``lon``
        spatial ``y``/``x``, ``scenario``/``phyto_type``... ``other``) and ``cube:variables``
        (dimensions, ``unit``, ``description``, ``standard_name``); for a product on a
        longitude/latitude grid its footprint, ``proj:code`` (EPSG:4326), ``proj:shape`` and
        ``proj:transform``; for one without (an ensemble of the 1-D column) the whole globe
        as a nominal footprint and ``ecocube:geolocated: false``. Its time span comes from
        the time axis, else from the store's ``ecocube:start_datetime``/``end_datetime``.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    InvalidInputError
        ``path`` is not a complete ecocube store, or has no ``ecocube:product`` attribute.
    """
    import pystac

    path = Path(path).resolve()
    ds = _open_store(path) if ds is None else ds
    product = ds.attrs.get(PRODUCT_ATTR)
    if not product:
        raise InvalidInputError(
            f"{str(path)!r} is an ecocube store but not an ocean product (no {PRODUCT_ATTR!r} "
            "attribute); write ocean products with `ecocube ocean ingest` or `ecocube ocean "
            "ensemble`, and register other cubes with register_cube"
        )
    product = str(product)
    times = _times(ds)
    props: dict[str, Any] = {
        "title": str(ds.attrs.get("title") or f"ocean product {product}"),
        **datacube_fields(ds, times),
        PRODUCT_PROPERTY: product,
    }
    geolocated = any(n in ds.coords for n in _X) and any(n in ds.coords for n in _Y)
    if geolocated:
        bbox = _bbox(ds)
        props.update(grid_fields(ds))
    else:
        bbox = list(_GLOBE)
    props[GEOLOCATED_PROPERTY] = geolocated
    source = str(ds.attrs.get("source") or "")
    if product == ENSEMBLE:
        props["description"] = (
            f"Scenario ensemble ({int(ds.sizes.get('scenario', 0))} scenarios) of the ecocube "
            f"ocean model{f' ({source})' if source else ''}"
        )
        props["ecocube:ensemble_size"] = int(ds.sizes.get("scenario", 0))
    elif source:
        props["description"] = source
    props["ecocube:sources"] = json.loads(ds.attrs.get("ecocube:sources", "[]"))
    start, end = _span(ds, times)
    item = pystac.Item(
        id=item_id or default_item_id(path),
        geometry=_polygon(bbox),
        bbox=bbox,
        datetime=None if start is not None else datetime.now(UTC),
        start_datetime=start,
        end_datetime=end,
        properties=props,
    )
    item.add_asset(
        "zarr",
        pystac.Asset(
            href=str(path),
            media_type=ZARR_MEDIA_TYPE,
            roles=["data"],
            title=f"ocean {product} store (Zarr v2, consolidated, CF names and units)",
        ),
    )
    declare_extensions(item)
    return item


def check_static_catalog(catalog: Path | str, *, option: str = "catalog") -> Path:
    """The ``catalog.json`` of a static catalog folder (or file) that a store will be
    registered in; checked before the work that makes the store.

    Raises
    ------
    CatalogError
        ``catalog`` holds no ``catalog.json``.
    """
    root = Path(catalog)
    cat_file = root / "catalog.json" if root.is_dir() else root
    if cat_file.name != "catalog.json" or not cat_file.is_file():
        raise CatalogError(
            f"{option}={str(catalog)!r} is not a static STAC catalog (no catalog.json); build "
            "one with `ecocube catalog build --out DIR`, or leave the option out"
        )
    return cat_file


def _link_sources(item: pystac.Item, sources: list[dict[str, Any]]) -> None:
    """Link the item (``derived_from``) to the items of the same catalog it was made from."""
    import pystac

    wanted = {str(s.get("item")) for s in sources if s.get("item")}
    root = item.get_root()
    if not wanted or root is None:
        return
    for other in root.get_items(recursive=True):
        if other.id in wanted and other is not item:
            item.add_link(
                pystac.Link(
                    "derived_from", other, media_type=pystac.MediaType.GEOJSON, title="source"
                )
            )


def register_ocean(
    path: Path | str,
    catalog: Path | str,
    *,
    collection_id: str | None = None,
    item_id: str | None = None,
) -> pystac.Item:
    """Add an ocean product store as a STAC Item to a static catalog.

    The item (:func:`ocean_item`) goes to the collection of its product
    (:func:`product_collection_id`: ``ocean-ensembles``, ``ocean-glorys``...), created when
    missing, and links (``derived_from``) to the source items of the same catalog it was
    ingested from. Registering the same store again replaces its item; an explicit ``item_id``
    naming an item of another store is refused. The catalog is read in full before anything
    is written, and saved self-contained with relative hrefs.

    Parameters
    ----------
    path
        The Zarr store (written by ``ecocube ocean ingest`` or ``ecocube ocean ensemble``).
    catalog
        Static catalog folder (or its ``catalog.json``).
    collection_id
        Collection of the item (default: that of the store's product).
    item_id
        STAC id (default: the store name plus a short hash of its resolved path).

    Returns
    -------
    pystac.Item

    Raises
    ------
    CatalogError
        ``catalog`` is not a static STAC catalog, ``collection_id`` names a plain catalog, or
        ``item_id`` names an item of another store.
    DatasetNotFoundError
        ``path`` does not exist.
    InvalidInputError
        ``path`` is not a complete ocean product store.

    Warns
    -----
    EcocubeWarning
        The store lies outside the catalog's folder (the catalog is then not self-contained).
    """
    store = Path(path).resolve()
    ds = _open_store(store)
    product = str(ds.attrs.get(PRODUCT_ATTR) or "")
    item = register_item(
        lambda: ocean_item(store, ds, item_id=item_id),
        catalog,
        collection_id=collection_id or product_collection_id(product or "unknown"),
        description=_DESCRIPTIONS.get(
            product, f"Ingested {product} ocean fields (Zarr, CF names and canonical units)."
        ),
        what="ocean product",
        retry="register it again (ecocube.catalog register_ocean), or run without --catalog",
        prepare=lambda it: _link_sources(it, it.properties.get("ecocube:sources", [])),
    )
    folder = Path(item.get_root().get_self_href()).parent
    if not store.is_relative_to(folder.resolve()):
        warnings.warn(
            f"the ocean store {str(path)!r} lies outside the catalog folder {str(folder)!r}: "
            "it is registered, but the catalog is no longer self-contained (`ecocube catalog "
            "validate` reports the href); write the store inside the catalog folder to keep it "
            "portable",
            EcocubeWarning,
            stacklevel=2,
        )
    return item


@dataclass(frozen=True)
class _InPlace(BuildContext):
    """A build context whose assets point at the verified cache files (nothing is linked)."""

    def place(self, item_id: str, relpath: str) -> tuple[AssetFile, str]:
        file = self.files[relpath]
        return file, Path(file.source).resolve().as_posix()


@functools.lru_cache(maxsize=8)
def _registry_items(dataset: str) -> tuple[pystac.Item, ...]:
    from ecocube import data
    from ecocube.catalog._build import FAMILIES

    family = next((f for f in FAMILIES if f.dataset == dataset), None)
    if family is None:
        raise InvalidInputError(
            f"dataset={dataset!r} is not catalogued; valid dataset names: "
            f"{', '.join(f.dataset for f in FAMILIES)}"
        )
    entry = data.dataset(dataset)
    folder = data.fetch(dataset)
    files = {
        f.path: AssetFile(source=folder / f.path, sha256=f.sha256, size=f.size) for f in entry.files
    }
    ctx = _InPlace(dataset=dataset, folder=folder, files=files, collection_dir=folder)
    items = sorted(family.build_items(ctx), key=lambda i: i.id)
    for item in items:
        item.collection_id = family.collection_id
        declare_extensions(item)
    return tuple(items)


def registry_items(dataset: str) -> list[pystac.Item]:
    """The STAC items of registry ``dataset``, built in memory, their assets at the cache files.

    The items are those ``ecocube catalog build`` writes for the dataset (same ids, properties
    and checksums), except that every asset href is the absolute path of the verified file in
    the data cache: nothing is written. Built once per process and dataset; each call returns
    fresh copies.

    Raises
    ------
    InvalidInputError
        ``dataset`` is not a catalogued registry dataset (the valid ones are listed).
    """
    return [item.clone() for item in _registry_items(dataset)]
