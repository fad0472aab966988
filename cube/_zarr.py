"""Zarr conventions of ecocube: atomic writes, provenance attributes, STAC registration.

Any ``xarray.Dataset`` can be written with :func:`write_cube` (the ocean ingestion uses it too):
the store is written to a hidden temporary folder next to the target and renamed at the end, so
an interrupted build never leaves a store that looks complete at the target path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube._atomic import check_no_file_parent, check_replaceable, swap_into_place
from ecocube.cube._items import _all_items, _cause
from ecocube.errors import CatalogError, DatasetNotFoundError, InvalidInputError

__all__ = [
    "check_cube_target",
    "cube_item",
    "file_checksum",
    "open_cube",
    "register_cube",
    "write_cube",
]

#: Attribute that marks a store as written completely by ecocube.
COMPLETE_ATTR = "ecocube:complete"
#: Files that identify a Zarr store (v2 and v3): only such a folder is ever overwritten.
_ZARR_MARKERS = (".zgroup", ".zattrs", ".zmetadata", "zarr.json")


def file_checksum(path: Path | str) -> str:
    """SHA-256 of a file as a multihash hex string (``1220`` + digest), as STAC ``file:checksum``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "1220" + h.hexdigest()


def _provenance(items: Iterable[Any] | None, ds: xr.Dataset) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "ecocube:sources" in ds.attrs:
        rows = json.loads(ds.attrs["ecocube:sources"])
    seen = {(r.get("item"), r.get("asset")) for r in rows}
    for it in items or ():
        if isinstance(it, Mapping):
            row = dict(it)
            if (row.get("item"), row.get("asset")) not in seen:
                rows.append(row)
            continue
        for key, asset in it.assets.items():
            if (it.id, key) in seen:
                continue
            rows.append(
                {
                    "item": it.id,
                    "collection": it.collection_id,
                    "asset": key,
                    "href": asset.get_absolute_href() or asset.href,
                    "checksum": asset.extra_fields.get("file:checksum"),
                }
            )
    cache: dict[str, str] = {}
    for row in rows:
        href = str(row.get("href") or "")
        local = href[7:] if href.startswith("file://") else href
        if not row.get("checksum") and local and "://" not in local and os.path.isfile(local):
            if local not in cache:
                cache[local] = file_checksum(local)
            row["checksum"] = cache[local]
    return rows


def check_cube_target(path: Path | str, *, overwrite: bool = False) -> Path:
    """Raise unless a cube can be written at ``path``; return it as a ``Path``.

    Called by :func:`write_cube` and by ``ecocube cube build`` before any work: the path
    exists and ``overwrite`` is false, it is a file or a folder that is not a Zarr store, or
    one of its parents is a file.
    """
    path = Path(path)
    check_no_file_parent(path, f"path={str(path)!r} (--out)")
    if path.exists() and not overwrite:
        raise InvalidInputError(
            f"path={str(path)!r} already exists; pass overwrite=True (--overwrite) or another path"
        )
    # overwrite replaces a Zarr store, never a folder holding something else
    check_replaceable(path, markers=_ZARR_MARKERS, what="a Zarr store")
    return path


def write_cube(
    ds: xr.Dataset,
    path: Path | str,
    *,
    items: Iterable[Any] | None = None,
    chunks: Mapping[str, int] | None = None,
    overwrite: bool = False,
    client: Any = None,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``ds`` to a Zarr store atomically, with provenance; return the store path.

    Parameters
    ----------
    ds
        Any dataset (lazy or in memory). Float64 data variables are stored as float32.
    path
        Target ``*.zarr`` folder.
    items
        Source pystac Items (or dicts with ``item``/``asset``/``href``/``checksum``) to record
        in the ``ecocube:sources`` attribute; local files get a SHA-256 multihash. Sources
        already listed by :func:`build_cube` are kept.
    chunks
        Dask chunk sizes per dimension (default: ``y``/``x`` 512, ``time`` 1).
    overwrite
        Replace an existing store (the old one is removed only after the new one is complete).
    client
        ``dask.distributed.Client`` that computes and writes the chunks.
    attrs
        Extra global attributes.

    Raises
    ------
    InvalidInputError
        When ``path`` exists and ``overwrite`` is False.
    """
    path = check_cube_target(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ds.copy()
    for name in list(out.data_vars):
        if out[name].dtype == np.float64:
            out[name] = out[name].astype(np.float32)
    want = {"y": 512, "x": 512, "time": 1, **(chunks or {})}
    out = out.chunk({d: min(want.get(d, n), n) for d, n in out.sizes.items()})
    for name in out.variables:
        out[name].encoding = {}
    from ecocube import __version__

    out.attrs.update(
        {
            "ecocube:sources": json.dumps(_provenance(items, ds)),
            "ecocube:version": __version__,
            "ecocube:created": datetime.now(UTC).isoformat(),
            "ecocube:variable_order": json.dumps([str(v) for v in out.data_vars]),
            **(attrs or {}),
        }
    )
    out.attrs.pop(COMPLETE_ATTR, None)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        job = out.to_zarr(tmp, mode="w", compute=False, consolidated=True, zarr_format=2)
        if client is not None:
            client.compute(job).result()
        else:
            job.compute()
        # the marker goes last: a store without it was not finished
        import zarr

        group = zarr.open_group(str(tmp), mode="a", zarr_format=2)
        group.attrs[COMPLETE_ATTR] = True
        zarr.consolidate_metadata(str(tmp), zarr_format=2)
        check_replaceable(path, markers=_ZARR_MARKERS, what="a Zarr store")
        swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def open_cube(path: Path | str, *, chunks: Any = "auto") -> xr.Dataset:
    """Open a cube written by :func:`write_cube` (lazily, with dask).

    Raises
    ------
    DatasetNotFoundError
        When ``path`` does not exist.
    InvalidInputError
        When ``path`` is not a Zarr store, or the store is unreadable or lacks the completion
        marker (an interrupted or foreign write).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(
            f"cube={str(path)!r} does not exist; build it with `ecocube cube build ... --out {path}`"
        )
    import zarr.errors

    # zarr 3: NodeNotFoundError; zarr 2: GroupNotFoundError (both subclass ValueError)
    not_found = tuple(
        getattr(zarr.errors, name)
        for name in ("NodeNotFoundError", "GroupNotFoundError")
        if hasattr(zarr.errors, name)
    )
    try:
        ds = xr.open_zarr(path, chunks=chunks, consolidated=True)
    except (*not_found, FileNotFoundError) as err:
        raise InvalidInputError(
            f"{str(path)!r} is not an ecocube cube (no Zarr store found); give the path of a "
            "cube written by `ecocube cube build ... --out PATH`"
        ) from err
    except (KeyError, ValueError) as err:
        raise InvalidInputError(
            f"{str(path)!r} is a Zarr store but not a readable ecocube cube ({type(err).__name__}: "
            f"{err}); give the path of a cube written by `ecocube cube build`, or rebuild this "
            "one with `ecocube cube build ... --overwrite`"
        ) from err
    order = json.loads(ds.attrs.get("ecocube:variable_order", "[]"))
    if order and set(order) == set(map(str, ds.data_vars)):
        ds = ds[order]  # Zarr lists arrays alphabetically; keep the build order (bio1..bio19)
    if not ds.attrs.get(COMPLETE_ATTR):
        raise InvalidInputError(
            f"cube={str(path)!r} is not a complete ecocube store (no {COMPLETE_ATTR!r} marker); "
            "rebuild it with `ecocube cube build`"
        )
    if "spatial_ref" in ds.coords:
        import rioxarray  # noqa: F401

        crs = ds.spatial_ref.attrs.get("crs_wkt") or ds.spatial_ref.attrs.get("spatial_ref")
        if crs:
            ds = ds.rio.write_crs(crs)
    return ds


def cube_item(path: Path | str, ds: xr.Dataset | None = None, *, item_id: str | None = None) -> Any:
    """A ``pystac.Item`` describing a cube store with the datacube and proj extensions.

    The asset href is the store path (made relative when the item is saved in a catalog).
    """
    import pystac
    import rioxarray  # noqa: F401
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds
    from shapely.geometry import box, mapping

    path = Path(path).resolve()
    ds = open_cube(path) if ds is None else ds
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
    variables = {
        str(name): {
            "type": "data",
            "dimensions": list(ds[name].dims),
            **({"unit": ds[name].attrs["units"]} if "units" in ds[name].attrs else {}),
            **(
                {"description": ds[name].attrs["long_name"]}
                if "long_name" in ds[name].attrs
                else {}
            ),
        }
        for name in ds.data_vars
    }
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


def register_cube(
    path: Path | str,
    catalog: Path | str,
    *,
    collection_id: str = "ecocube-cubes",
    item_id: str | None = None,
) -> Any:
    """Add the cube as a STAC Item to a static catalog (in collection ``collection_id``).

    The collection is created when missing; the catalog is saved self-contained with relative
    hrefs. Returns the new item. The default item id is the store name plus a short hash of
    its resolved path (:func:`default_item_id`): registering the same store again replaces
    its item, a store of the same name elsewhere gets its own item. An explicit ``item_id``
    that already names an item of another store is refused.

    Raises
    ------
    CatalogError
        When ``catalog`` is not a static STAC catalog, or ``item_id`` names another store.
    """
    import pystac

    root = Path(catalog)
    cat_file = root / "catalog.json" if root.is_dir() else root
    if not cat_file.is_file():
        raise CatalogError(
            f"catalog={str(catalog)!r} has no catalog.json; build one with `ecocube catalog build`"
        )
    fix = (
        f"rebuild the catalog with `ecocube catalog build --out {cat_file.parent}` and build "
        "again, or build with --no-register"
    )
    try:
        cat = pystac.Catalog.from_file(str(cat_file))
    except Exception as err:  # pystac raises several unrelated types
        raise CatalogError(
            f"cannot register the cube: {cat_file} is not a readable STAC catalog "
            f"({_cause(err)}); {fix}"
        ) from err
    try:
        # Saving touches every object: read every link first, so a broken one is named.
        _all_items(cat, fix)
    except CatalogError as err:
        raise CatalogError(f"cannot register the cube: {err}") from err
    item = cube_item(path, item_id=item_id)
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
            id=collection_id,
            description="Aligned data cubes built by ecocube (Zarr).",
            extent=extent,
            license="other",
        )
        cat.add_child(coll)
    existing = coll.get_item(item.id)
    if existing is not None:
        before = _asset_path(existing)
        if before is not None and before != Path(path).resolve():
            raise CatalogError(
                f"cannot register the cube: item {item.id!r} of collection {collection_id!r} "
                f"already describes another store ({before}); pass another item_id= (or leave "
                "it out: the default id includes a hash of the store path)"
            )
        coll.remove_item(item.id)
    coll.add_item(item)
    coll.update_extent_from_items()
    # trailing '/': pystac takes a folder name with a dot (catalog.v2) for a file otherwise
    cat.normalize_hrefs(cat_file.parent.as_posix() + "/")
    item.make_asset_hrefs_relative()
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return item
