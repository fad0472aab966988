"""STAC Items for data cubes (Zarr stores) and their registration in a static catalog.

A cube is described by the ``datacube`` and ``projection`` extensions from its Zarr metadata,
read with xarray: this module needs no part of :mod:`ecocube.cube`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.catalog._read import all_items, read_error_cause
from ecocube.errors import CatalogError, DatasetNotFoundError, EcocubeWarning, InvalidInputError

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "COMPLETE_ATTR",
    "CUBES_COLLECTION_ID",
    "cube_item",
    "cube_variables",
    "default_item_id",
    "register_cube",
    "register_item",
]

#: Collection of the cubes registered by :func:`register_cube`; kept by a catalog rebuild.
CUBES_COLLECTION_ID = "ecocube-cubes"
#: Attribute that ``ecocube.cube.write_cube`` sets last: a store without it is incomplete.
COMPLETE_ATTR = "ecocube:complete"


def _open_store(path: Path) -> xr.Dataset:
    """The cube at ``path``, lazily; refuse a missing, foreign or incomplete store."""
    import xarray as xr

    if not path.exists():
        raise DatasetNotFoundError(
            f"cube={str(path)!r} does not exist; build it with `ecocube cube build ... --out {path}`"
        )
    try:
        ds = xr.open_zarr(path, consolidated=True)
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise InvalidInputError(
            f"{str(path)!r} is not a readable ecocube cube ({type(err).__name__}: {err}); give "
            "the path of a cube written by `ecocube cube build ... --out PATH`"
        ) from err
    if not ds.attrs.get(COMPLETE_ATTR):
        raise InvalidInputError(
            f"cube={str(path)!r} is not a complete ecocube store (no {COMPLETE_ATTR!r} marker); "
            "rebuild it with `ecocube cube build`"
        )
    return ds


def cube_variables(ds: xr.Dataset, names: Sequence[str] | None = None) -> dict[str, Any]:
    """The datacube extension's ``cube:variables`` of ``ds``: dimensions, unit, description.

    Parameters
    ----------
    ds
        An open dataset; ``units`` and ``long_name`` attributes become ``unit`` and
        ``description``.
    names
        Data variables to describe, in this order (default: all, in the dataset's order).
    """
    out: dict[str, Any] = {}
    for name in names if names is not None else [str(v) for v in ds.data_vars]:
        attrs = ds[name].attrs
        out[str(name)] = {
            "type": "data",
            "dimensions": [str(d) for d in ds[name].dims],
            **({"unit": attrs["units"]} if "units" in attrs else {}),
            **({"description": attrs["long_name"]} if "long_name" in attrs else {}),
        }
    return out


def _variable_names(ds: xr.Dataset) -> list[str]:
    """Data variables in the build order the writer recorded (Zarr lists them sorted)."""
    names = [str(v) for v in ds.data_vars]
    order = json.loads(ds.attrs.get("ecocube:variable_order", "[]"))
    return [str(v) for v in order] if order and set(order) == set(names) else names


def cube_item(path: Path | str, ds: xr.Dataset | None = None, *, item_id: str | None = None) -> Any:
    """A ``pystac.Item`` describing a cube store with the datacube and proj extensions.

    Parameters
    ----------
    path
        The Zarr store (the asset href; made relative when the item is saved in a catalog).
    ds
        The store's dataset when already open (e.g. from ``ecocube.cube.open_cube``); read
        from ``path`` otherwise.
    item_id
        STAC id; default :func:`default_item_id`.

    Returns
    -------
    pystac.Item
        Bbox in lon/lat, ``cube:dimensions``/``cube:variables``, ``proj:code``, the store's
        provenance (``ecocube:sources``) and its time span.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    InvalidInputError
        ``path`` is not a complete ecocube store, or the cube has no x/y (lon/lat) dimensions.
    """
    import pandas as pd
    import pystac
    import rioxarray  # noqa: F401
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds
    from shapely.geometry import box, mapping

    path = Path(path).resolve()
    ds = _open_store(path) if ds is None else ds
    xname = next((n for n in ("x", "lon", "longitude") if n in ds.dims), None)
    yname = next((n for n in ("y", "lat", "latitude") if n in ds.dims), None)
    if xname is None or yname is None:
        raise InvalidInputError(
            f"the cube has no x/y (or lon/lat) dimensions (dims: {dict(ds.sizes)}); "
            "a STAC Item needs a spatial extent"
        )
    crs = ds.rio.crs if ("spatial_ref" in ds.coords and ds.rio.crs) else CRS.from_epsg(4326)
    xs, ys = ds[xname], ds[yname]
    xres = float(abs(xs[1] - xs[0])) if xs.size > 1 else 0.0
    yres = float(abs(ys[1] - ys[0])) if ys.size > 1 else 0.0
    left, right = float(xs.min()) - xres / 2, float(xs.max()) + xres / 2
    bottom, top = float(ys.min()) - yres / 2, float(ys.max()) + yres / 2
    bbox = list(transform_bounds(crs, "EPSG:4326", left, bottom, right, top))
    dims: dict[str, Any] = {
        xname: {"type": "spatial", "axis": "x", "extent": [left, right], "step": xres},
        yname: {"type": "spatial", "axis": "y", "extent": [bottom, top], "step": -yres},
    }
    for extra in ds.dims:
        if extra not in (xname, yname, "time"):
            vals = ds[extra].values if extra in ds.coords else np.arange(ds.sizes[extra])
            if np.issubdtype(np.asarray(vals).dtype, np.number):
                dims[str(extra)] = {
                    "type": "other",
                    "extent": [float(np.min(vals)), float(np.max(vals))],
                    "values": [float(v) for v in np.asarray(vals)[:50]],
                }
    epsg = crs.to_epsg()
    for d in (xname, yname):
        dims[d]["reference_system"] = epsg if epsg else crs.to_wkt()
    when: datetime | None = datetime.now(UTC)
    props: dict[str, Any] = {"created": datetime.now(UTC).isoformat()}
    # nominal time of static layers (e.g. a 1981-2010 climatology) from their attributes
    spans = [
        (
            ds[v].attrs.get("ecocube:start_datetime") or ds[v].attrs.get("ecocube:datetime"),
            ds[v].attrs.get("ecocube:end_datetime") or ds[v].attrs.get("ecocube:datetime"),
        )
        for v in ds.data_vars
    ]
    starts = [pd.Timestamp(a) for a, _ in spans if a]
    ends = [pd.Timestamp(b) for _, b in spans if b]
    if starts and ends and "time" not in ds.dims:
        start = min(t.tz_localize("UTC") if t.tzinfo is None else t for t in starts)
        end = max(t.tz_localize("UTC") if t.tzinfo is None else t for t in ends)
        props.update({"start_datetime": start.isoformat(), "end_datetime": end.isoformat()})
        when = None
    if "time" in ds.dims:
        t = ds["time"].values
        if np.issubdtype(t.dtype, np.datetime64):
            t0 = np.datetime_as_string(t.min(), unit="s") + "Z"
            t1 = np.datetime_as_string(t.max(), unit="s") + "Z"
        else:  # cftime dates (model calendars)
            t0, t1 = (f"{min(t).isoformat()}Z", f"{max(t).isoformat()}Z")
        dims["time"] = {"type": "temporal", "extent": [t0, t1]}
        props.update({"start_datetime": t0, "end_datetime": t1})
        when = None
    variables = cube_variables(ds, _variable_names(ds))
    props.update(
        {
            "cube:dimensions": dims,
            "cube:variables": variables,
            "proj:code": f"EPSG:{epsg}" if epsg else None,
            "proj:epsg": epsg,
            "proj:shape": [int(ds.sizes[yname]), int(ds.sizes[xname])],
            "ecocube:sources": json.loads(ds.attrs.get("ecocube:sources", "[]")),
        }
    )
    item = pystac.Item(
        id=item_id or default_item_id(path),
        geometry=mapping(box(*bbox)),
        bbox=bbox,
        datetime=when,
        properties=props,
        stac_extensions=[
            "https://stac-extensions.github.io/datacube/v2.2.0/schema.json",
            "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
        ],
    )
    item.add_asset(
        "zarr",
        pystac.Asset(
            href=str(path),
            media_type="application/vnd+zarr",
            roles=["data"],
            title="ecocube data cube (Zarr v2, consolidated)",
        ),
    )
    return item


def default_item_id(path: Path | str) -> str:
    """STAC item id of a store: its name plus a short hash of its resolved path.

    Stores of the same name in different folders (``cubes/c1.zarr``, ``cubes2/c1.zarr``) get
    different ids, while registering the same store again gives the same id (and replaces it).
    """
    resolved = Path(path).expanduser().resolve()
    digest = hashlib.sha256(resolved.as_posix().encode()).hexdigest()[:8]
    return f"{resolved.stem}-{digest}"


def _asset_path(item: Any) -> Path | None:
    asset = item.assets.get("zarr")
    href = asset.get_absolute_href() if asset is not None else None
    if not href:
        return None
    href = href[7:] if href.startswith("file://") else href
    return None if "://" in href else Path(href).resolve()


def register_item(
    make_item: Callable[[], Any],
    catalog: Path | str,
    *,
    collection_id: str,
    description: str,
    what: str,
    retry: str,
    prepare: Callable[[Any], None] | None = None,
) -> Any:
    """Add the item of a store to collection ``collection_id`` of a static catalog.

    The catalog is read first (every link, so that a broken one is named), then the item is
    made with ``make_item()``; its ``zarr`` asset names the store. The collection is created
    when missing. An item of the same id replaces the old one when it describes the same
    store; one describing another store is refused. After the hrefs are normalised (the
    item's folder is known), ``prepare(item)`` may add assets that live next to the item;
    then asset hrefs are made relative and the catalog is saved self-contained.

    Parameters
    ----------
    make_item
        Builds the ``pystac.Item``.
    catalog
        Catalog folder (or its ``catalog.json``).
    collection_id, description
        The collection (its description when it is created).
    what
        What is registered, for messages (``"cube"``, ``"maps"``).
    retry
        How to redo the work after rebuilding a broken catalog, for messages.
    prepare
        Called with the item once its self href is set.

    Raises
    ------
    CatalogError
        ``catalog`` is not a static STAC catalog, the collection id names a plain catalog,
        or the item id names an item of another store.
    """
    import pystac

    root = Path(catalog)
    cat_file = root / "catalog.json" if root.is_dir() else root
    if not cat_file.is_file():
        raise CatalogError(
            f"catalog={str(catalog)!r} has no catalog.json; build one with `ecocube catalog build`"
        )
    fix = f"rebuild the catalog with `ecocube catalog build --out {cat_file.parent}` and {retry}"
    try:
        cat = pystac.Catalog.from_file(str(cat_file))
    except Exception as err:  # pystac raises several unrelated types
        raise CatalogError(
            f"cannot register the {what}: {cat_file} is not a readable STAC catalog "
            f"({read_error_cause(err)}); {fix}"
        ) from err
    try:
        # Saving touches every object: read every link first, so a broken one is named.
        all_items(cat, fix)
    except CatalogError as err:
        raise CatalogError(f"cannot register the {what}: {err}") from err
    item = make_item()
    coll = cat.get_child(collection_id)
    if coll is None:
        extent = pystac.Extent(
            pystac.SpatialExtent([item.bbox]),
            pystac.TemporalExtent(
                [
                    [
                        item.datetime or item.common_metadata.start_datetime,
                        item.common_metadata.end_datetime,
                    ]
                ]
            ),
        )
        coll = pystac.Collection(
            id=collection_id, description=description, extent=extent, license="other"
        )
        cat.add_child(coll)
    elif not isinstance(coll, pystac.Collection):
        raise CatalogError(
            f"cannot register the {what}: the child {collection_id!r} of {cat_file} is a plain "
            "catalog, not a collection; pass another collection_id="
        )
    existing = coll.get_item(item.id)
    if existing is not None:
        before, store = _asset_path(existing), _asset_path(item)
        if before is not None and before != store:
            raise CatalogError(
                f"cannot register the {what}: item {item.id!r} of collection {collection_id!r} "
                f"already describes another store ({before}); pass another item_id= (or leave "
                "it out: the default id includes a hash of the store path)"
            )
        coll.remove_item(item.id)
    coll.add_item(item)
    coll.update_extent_from_items()
    # trailing '/': pystac takes a folder name with a dot (catalog.v2) for a file otherwise
    cat.normalize_hrefs(cat_file.parent.as_posix() + "/")
    if prepare is not None:
        prepare(item)
    item.make_asset_hrefs_relative()
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return item


def register_cube(
    path: Path | str,
    catalog: Path | str,
    *,
    collection_id: str = CUBES_COLLECTION_ID,
    item_id: str | None = None,
) -> Any:
    """Add the cube as a STAC Item to a static catalog (in collection ``collection_id``).

    The collection is created when missing; the catalog is saved self-contained with relative
    hrefs. Returns the new item. The default item id is the store name plus a short hash of
    its resolved path (:func:`default_item_id`): registering the same store again replaces
    its item, a store of the same name elsewhere gets its own item. An explicit ``item_id``
    that already names an item of another store is refused.

    A store outside the catalog's folder is registered with a relative href that leaves the
    folder; :func:`ecocube.catalog.validate_catalog` reports it (the catalog is no longer
    self-contained, and ``catalog serve --public`` does not serve it), so this warns.

    Raises
    ------
    CatalogError
        When ``catalog`` is not a static STAC catalog, or ``item_id`` names another store.

    Warns
    -----
    EcocubeWarning
        When the store lies outside the catalog's folder.
    """
    item = register_item(
        lambda: cube_item(path, item_id=item_id),
        catalog,
        collection_id=collection_id,
        description="Aligned data cubes built by ecocube (Zarr).",
        what="cube",
        retry="build again, or build with --no-register",
    )
    folder = Path(item.get_root().get_self_href()).parent
    if not Path(path).resolve().is_relative_to(folder.resolve()):
        warnings.warn(
            f"the cube {str(path)!r} lies outside the catalog folder {str(folder)!r}: "
            "it is registered, but the catalog is no longer self-contained (`ecocube catalog "
            "validate` reports the href); write cubes inside the catalog folder to keep it portable",
            EcocubeWarning,
            stacklevel=2,
        )
    return item
