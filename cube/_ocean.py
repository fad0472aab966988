"""Ocean items in cubes: gridded products on a cube grid or on their own, ensembles on their own.

An *ocean item* carries the datacube extension and a netCDF asset (the source files of
``ecocube catalog build``'s ocean collections) or the Zarr store of an ocean product
(``ecocube:ocean_product``: ingestions and scenario ensembles registered in the catalog). Its
variables keep their names, their CF attributes (``standard_name``, ``units``, ``long_name``,
completed from the item's ``cube:variables``) and every dimension but the horizontal ones.

* **Gridded** products (a regular longitude/latitude grid) go onto a cube grid, reprojected
  with GDAL like the rasters (bilinear, or average onto a coarser grid, see
  :func:`ecocube.cube._resample.resampling_for`; land NaN stays NaN), or stay on their own grid
  (:func:`native_cube`), with the longitude and latitude as ``x``/``y`` (EPSG:4326).
* **Non-spatial** products (``ecocube:geolocated: false``: ensembles of the 1-D water column,
  ``scenario x time x depth``) are a cube of their own: :func:`native_cube` opens the store as
  it is; on a map grid they make no sense, and :func:`grid_sources` says so.

Names are kept unless two items (or an item and a raster layer) share one: then every variable
of those items is prefixed with the item's distinctive name. A non-horizontal dimension that two
items share with different coordinates (the depth levels of CESM and GLORYS) is renamed
``<dim>_<item>`` in each of them; ``time`` is shared, as for raster series (union of the dates,
NaN where a product has no record).
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.cube._items import AssetRef, _distinct_names, sanitize
from ecocube.errors import (
    DataIntegrityError,
    DatasetNotFoundError,
    EcocubeWarning,
    InvalidInputError,
)

__all__ = [
    "OceanSource",
    "grid_sources",
    "is_ocean_item",
    "native_cube",
    "ocean_layers",
    "ocean_sources",
    "stack_ocean",
]

_NETCDF_TYPES = ("application/netcdf", "application/x-netcdf")
_ZARR_TYPES = ("application/vnd+zarr", "application/vnd.zarr", "application/x-zarr")
#: Item properties written by the catalog's ocean item builders.
_PRODUCT = "ecocube:ocean_product"
_GEOLOCATED = "ecocube:geolocated"
_HORIZONTAL = {"lat": "lat", "latitude": "lat", "lon": "lon", "longitude": "lon"}
_CF_FIELDS = (("standard_name", "standard_name"), ("unit", "units"), ("description", "long_name"))
#: rasterio silences a warning of its in-memory datasets with ``warnings.catch_warnings``,
#: which is not thread-safe: concurrent reprojections of arrays would let it through.
_REPROJECT_LOCK = threading.Lock()


def _ocean_asset(item: Any) -> tuple[str, Any] | None:
    """``(key, asset)`` of the data of an ocean item, or None for any other item."""
    props = item.properties
    if "cube:dimensions" not in props:
        return None
    for key, asset in item.assets.items():
        roles = set(asset.roles or [])
        if roles and "data" not in roles:
            continue
        media = (asset.media_type or "").split(";")[0].strip()
        href = asset.href.rstrip("/")
        if media in _NETCDF_TYPES or (not media and href.endswith(".nc")):
            return key, asset
        if _PRODUCT in props and (media in _ZARR_TYPES or href.endswith(".zarr")):
            return key, asset
    return None


def is_ocean_item(item: Any) -> bool:
    """True for an item with the datacube extension and a netCDF asset, or the Zarr store of
    an ocean product (``ecocube:ocean_product``); registered cubes and maps are not."""
    return _ocean_asset(item) is not None


@dataclass(frozen=True)
class OceanSource:
    """The data asset of one ocean item, with what the builder needs to read it.

    Attributes
    ----------
    ref
        The asset as an :class:`~ecocube.cube._items.AssetRef` (provenance, resampling rule).
    zarr
        True for a Zarr store, False for a netCDF file.
    geolocated
        False for a product without a longitude/latitude grid (a scenario ensemble).
    """

    ref: AssetRef
    zarr: bool
    geolocated: bool

    @property
    def item(self) -> Any:
        """The ``pystac.Item``."""
        return self.ref.item

    def describe(self) -> str:
        """``item 'i' of collection 'c'`` for messages."""
        return f"item {self.ref.item_id!r} of collection {self.ref.collection!r}"


def ocean_sources(items: Sequence[Any]) -> list[OceanSource]:
    """The ocean items among ``items`` as :class:`OceanSource` records (others are skipped)."""
    out = []
    for item in items:
        found = _ocean_asset(item)
        if found is None:
            continue
        key, asset = found
        props = item.properties
        axes = {
            d.get("axis")
            for d in props.get("cube:dimensions", {}).values()
            if isinstance(d, dict) and d.get("type") == "spatial"
        }
        geolocated = props.get(_GEOLOCATED) is not False and {"x", "y"} <= axes
        when = item.datetime or item.common_metadata.start_datetime
        stamp = None
        if when is not None:
            stamp = pd.Timestamp(when)
            stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
        media = (asset.media_type or "").split(";")[0].strip()
        box = item.bbox
        ref = AssetRef(
            item_id=item.id,
            collection=item.collection_id or "",
            key=key,
            href=asset.get_absolute_href() or asset.href,
            datetime=stamp,
            epsg=4326 if geolocated else None,
            nodata=None,
            scale=1.0,
            offset=0.0,
            classes=None,
            common_name=None,
            checksum=asset.extra_fields.get("file:checksum"),
            item_bbox=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            item=item,
        )
        zarr = media in _ZARR_TYPES or asset.href.rstrip("/").endswith(".zarr")
        out.append(OceanSource(ref=ref, zarr=zarr, geolocated=geolocated))
    return out


def grid_sources(
    sources: list[OceanSource], *, collections: Sequence[str] | None, others: int
) -> list[OceanSource]:
    """The gridded ocean sources that go onto a cube grid; refuse or leave out the others.

    A non-spatial product (a scenario ensemble) has no longitude/latitude to regrid. When the
    build asked for it (its collection is in ``collections``) or it is all there is
    (``others`` raster items and no gridded ocean item), that is an error; otherwise it is left
    out with a warning (a whole-catalog build whose bbox the ensemble's nominal footprint
    covers).

    Raises
    ------
    InvalidInputError
        A non-spatial product was asked onto a grid.
    """
    flat = [s for s in sources if not s.geolocated]
    gridded = [s for s in sources if s.geolocated]
    if not flat:
        return gridded
    named = [s for s in flat if collections and s.ref.collection in collections]
    if named or (not gridded and others == 0):
        bad = named or flat
        raise InvalidInputError(
            f"{bad[0].describe()} is a non-spatial ocean product (dimensions "
            f"{_dims_text(bad[0].item)}, no longitude/latitude): it cannot go onto a map grid. "
            "Build it as its own cube: leave resolution= out (CLI: no --resolution) and select "
            f"it alone (collections=[{bad[0].ref.collection!r}], or pass its item)"
        )
    warnings.warn(
        f"{len(flat)} non-spatial ocean item(s) were left out of the gridded cube "
        f"({', '.join(s.ref.item_id for s in flat)}): they have no longitude/latitude. Build "
        "them as their own cube (no resolution), or select collections to silence this",
        EcocubeWarning,
        stacklevel=3,
    )
    return gridded


def _dims_text(item: Any) -> str:
    dims = item.properties.get("cube:dimensions", {})
    return " x ".join(str(d) for d in dims) or "unknown"


def _local_path(source: OceanSource) -> Path:
    ref = source.ref
    if not ref.is_local:
        raise InvalidInputError(
            f"{ref.describe()} is remote; ocean items are read from local files: use a static "
            "catalog, or a STAC API served on this machine (its hrefs are file:// there)"
        )
    path = ref.path
    if not path.exists():
        raise DatasetNotFoundError(
            f"{ref.describe()}: not found; rebuild the catalog (`ecocube catalog build`) or "
            "write the ocean product again (`ecocube ocean ingest` / `ecocube ocean ensemble`)"
        )
    return path


def _open(source: OceanSource) -> xr.Dataset:
    """The asset's dataset, lazily (dask), times decoded (cftime where the calendar needs it)."""
    path = _local_path(source)
    if source.zarr:
        from ecocube.cube._zarr import open_cube

        return open_cube(path)
    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    try:
        return xr.open_dataset(path, decode_times=coder, chunks={})
    except (OSError, ValueError) as err:
        raise DataIntegrityError(
            f"{source.ref.describe()}: the netCDF file cannot be read ({type(err).__name__}: "
            f"{err}); fetch it again (`ecocube data fetch <dataset>`) or leave the item out"
        ) from err


def _datetime_axis(ds: xr.Dataset, source: OceanSource) -> xr.Dataset:
    """``time`` as datetime64 (model calendars converted when every date exists in the
    Gregorian one); a one-record time axis that holds no date (a bare year number) is dropped."""
    if "time" not in ds.dims:
        return ds.drop_vars("time", errors="ignore")
    index = ds.indexes.get("time")
    if isinstance(index, xr.CFTimeIndex):
        try:
            return ds.assign_coords(time=index.to_datetimeindex(unsafe=True, time_unit="ns"))
        except ValueError:
            return ds
    if index is not None and not isinstance(index, pd.DatetimeIndex):
        if ds.sizes["time"] == 1:
            return ds.isel(time=0, drop=True)
        raise InvalidInputError(
            f"{source.describe()}: its time axis holds {ds.sizes['time']} values that are not "
            f"dates ({list(index[:3])}...); give the file a CF time coordinate (units 'days "
            "since ...') or leave the item out"
        )
    return ds


def _regular_step(values: np.ndarray, what: str, source: OceanSource) -> float:
    steps = np.diff(values)
    if values.size < 2:
        raise InvalidInputError(
            f"{source.describe()}: its {what} axis has a single value; a grid needs two or more"
        )
    if not np.allclose(steps, steps[0], rtol=1e-3, atol=0):
        raise InvalidInputError(
            f"{source.describe()}: its {what} axis is not regular (steps {steps.min():.4g} to "
            f"{steps.max():.4g}); only regular longitude/latitude grids can be stacked"
        )
    return float(abs(steps.mean()))


def _cf_attrs(da: xr.DataArray, name: str, source: OceanSource) -> dict[str, Any]:
    """The variable's attributes, CF fields completed from the item's ``cube:variables``."""
    attrs = {k: v for k, v in da.attrs.items() if not str(k).startswith("_")}
    entry = source.item.properties.get("cube:variables", {}).get(name, {})
    for field, attr in _CF_FIELDS:
        if attr not in attrs and entry.get(field):
            attrs[attr] = entry[field]
    attrs.update(
        {
            "ecocube:collection": source.ref.collection,
            "ecocube:asset": source.ref.key,
            "ecocube:items": json.dumps([source.ref.item_id]),
            "ecocube:kind": "continuous",
        }
    )
    return attrs


def _gridded(source: OceanSource) -> xr.Dataset:
    """The gridded variables of one source: ``lat`` descending, ``lon`` ascending in -180..180,
    times as dates, CF attributes; non-index coordinates and variables without both horizontal
    dimensions are left out."""
    ds = _open(source)
    ds = ds.rename({k: v for k, v in _HORIZONTAL.items() if k in ds.dims and k != v})
    if "lat" not in ds.dims or "lon" not in ds.dims:
        raise InvalidInputError(
            f"{source.describe()}: no longitude/latitude dimensions (dims {dict(ds.sizes)}); "
            "gridded ocean items need lat/lon (or latitude/longitude)"
        )
    keep = [str(v) for v in ds.data_vars if {"lat", "lon"} <= set(ds[v].dims)]
    ds = ds[keep].reset_coords(drop=True)
    ds = _datetime_axis(ds, source)
    lon = np.asarray(ds["lon"].values, dtype="float64")
    if lon.max() > 180.0:
        ds = ds.assign_coords(lon=((lon + 180.0) % 360.0) - 180.0)
    ds = ds.sortby("lon").sortby("lat", ascending=False)
    _regular_step(np.asarray(ds["lon"].values, "float64"), "longitude", source)
    _regular_step(np.asarray(ds["lat"].values, "float64"), "latitude", source)
    for name in keep:
        ds[name].attrs = _cf_attrs(ds[name], name, source)
    return ds


def _select_time(
    ds: xr.Dataset, time: tuple[pd.Timestamp | None, pd.Timestamp | None] | None
) -> xr.Dataset:
    if (
        time is None
        or "time" not in ds.dims
        or not isinstance(ds.indexes["time"], pd.DatetimeIndex)
    ):
        return ds
    start, end = time
    return ds.sel(time=slice(start, end))


def _short_names(ids: list[str]) -> dict[str, str]:
    """Distinctive names of items: their ids without shared tokens and without the path hash
    that registered stores carry (``glorys-412c5df1`` -> ``glorys``) where that stays unique."""
    bare = [re.sub(r"-[0-9a-f]{8}$", "", i) for i in ids]
    names = _distinct_names(bare if len(set(bare)) == len(bare) else ids)
    return {i: sanitize(n) for i, n in zip(ids, names, strict=True)}


def _named(
    parts: list[tuple[OceanSource, xr.Dataset]], taken: set[str]
) -> list[tuple[OceanSource, xr.Dataset]]:
    """Rename clashing variables (prefix) and clashing non-horizontal dimensions (suffix)."""
    if not parts:
        return parts
    short = _short_names([s.ref.item_id for s, _ in parts])
    count: dict[str, int] = defaultdict(int)
    for _, ds in parts:
        for v in ds.data_vars:
            count[str(v)] += 1
    coords: dict[str, list[np.ndarray]] = defaultdict(list)
    for _, ds in parts:
        for d in ds.dims:
            if d not in ("x", "y", "lat", "lon", "time") and d in ds.coords:
                coords[str(d)].append(np.asarray(ds[d].values))
    clash_dims = {
        d
        for d, arrays in coords.items()
        if any(a.shape != arrays[0].shape or not np.array_equal(a, arrays[0]) for a in arrays)
    }
    out = []
    for source, ds in parts:
        name = short[source.ref.item_id]
        if any(count[str(v)] > 1 or str(v) in taken for v in ds.data_vars):
            ds = ds.rename({v: sanitize(f"{name}_{v}") for v in ds.data_vars})
        dims = {d: sanitize(f"{d}_{name}") for d in ds.dims if d in clash_dims}
        out.append((source, ds.rename(dims) if dims else ds))
    return out


def ocean_layers(sources: list[OceanSource]) -> int:
    """Number of ``(y, x)`` layers the gridded sources add to a cube (for the size check)."""
    layers = 0
    for source in sources:
        ds = _gridded(source)
        for name in ds.data_vars:
            lead = [n for d, n in ds[name].sizes.items() if d not in ("lat", "lon")]
            layers += int(np.prod(lead)) if lead else 1
    return layers


def _reproject(
    values: np.ndarray,
    src_transform: Any,
    dst_crs: str,
    dst_transform: Any,
    width: int,
    height: int,
    resampling: Any,
) -> np.ndarray:
    """Reproject every ``(lat, lon)`` slice of ``values`` onto the target grid (float32)."""

    src = np.ascontiguousarray(values, dtype="float32")
    out = np.full((*src.shape[:-2], height, width), np.nan, dtype="float32")
    with _REPROJECT_LOCK:
        for index in np.ndindex(*src.shape[:-2]):
            _reproject_one(
                src[index], out[index], src_transform, dst_crs, dst_transform, resampling
            )
    return out


def _reproject_one(
    src: np.ndarray,
    out: np.ndarray,
    src_transform: Any,
    dst_crs: str,
    dst_transform: Any,
    resampling: Any,
) -> None:
    from rasterio.warp import reproject

    reproject(
        src,
        out,
        src_transform=src_transform,
        src_crs="EPSG:4326",
        src_nodata=np.nan,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )


def stack_ocean(
    sources: list[OceanSource],
    spec: Any,
    *,
    taken: set[str],
) -> tuple[dict[str, xr.DataArray], list[AssetRef]]:
    """The variables of gridded ocean sources on the grid of ``spec``, lazily (dask).

    Parameters
    ----------
    sources
        Gridded ocean sources (see :func:`grid_sources`).
    spec
        The :class:`~ecocube.cube.CubeSpec` of the cube.
    taken
        Names of the cube's other variables (a clash prefixes the ocean ones).

    Returns
    -------
    variables, refs
        ``{name: DataArray (..., y, x)}`` float32 with their CF attributes, and the sources'
        asset records (provenance).
    """
    import dask
    import dask.array as dsa
    from affine import Affine
    from rasterio.warp import transform_bounds

    from ecocube.cube._resample import resampling_for

    transform, width, height, bounds = spec.grid()
    xs = bounds[0] + (np.arange(width) + 0.5) * spec.resolution
    ys = bounds[3] - (np.arange(height) + 0.5) * spec.resolution
    parts = _named([(s, _select_time(_gridded(s), spec.time)) for s in sources], taken)
    variables: dict[str, xr.DataArray] = {}
    refs: list[AssetRef] = []
    for source, ds in parts:
        lon = np.asarray(ds["lon"].values, "float64")
        lat = np.asarray(ds["lat"].values, "float64")
        dx = _regular_step(lon, "longitude", source)
        dy = _regular_step(lat, "latitude", source)
        src_transform = Affine.translation(lon[0] - dx / 2, lat[0] + dy / 2) @ Affine.scale(dx, -dy)
        # source pixel size in target units: average onto a grid coarser than the source
        w, s, e, n = transform_bounds(
            "EPSG:4326",
            spec.crs,
            lon[0] - dx / 2,
            max(-90.0, lat[-1] - dy / 2),
            lon[-1] + dx / 2,
            min(90.0, lat[0] + dy / 2),
        )
        src_res = float(np.sqrt(((e - w) / lon.size) * ((n - s) / lat.size)))
        coarser = spec.resolution >= spec.fraction_min_ratio * src_res
        resampling = resampling_for(source.ref, coarser)
        names = [str(v) for v in ds.data_vars]
        for name in names:
            da = ds[name].transpose(..., "lat", "lon")
            if "time" in da.dims and da.sizes["time"] == 0:
                continue
            lead = [str(d) for d in da.dims[:-2]]
            shape = (*[da.sizes[d] for d in lead], height, width)
            lazy = dask.delayed(_reproject)(
                da.data, src_transform, spec.crs, transform, width, height, resampling
            )
            arr = dsa.from_delayed(lazy, shape=shape, dtype=np.float32)
            coords = {d: da[d].values for d in lead if d in da.coords}
            out = xr.DataArray(
                arr, dims=(*lead, "y", "x"), coords={**coords, "y": ys, "x": xs}, name=name
            )
            out.attrs = {**da.attrs, "ecocube:resampling": resampling.name}
            variables[name] = out
            refs.append(_with_variable(source.ref, name))
    return variables, refs


def _with_variable(ref: AssetRef, name: str) -> AssetRef:
    from dataclasses import replace

    return replace(ref, variable=name)


def native_cube(
    sources: list[OceanSource],
    *,
    bbox: Sequence[float] | None,
    time: tuple[pd.Timestamp | None, pd.Timestamp | None] | None,
    max_bytes: int,
) -> tuple[xr.Dataset, list[AssetRef]]:
    """Ocean sources on their own grid: one gridded grid, or one non-spatial product.

    Gridded sources must share one longitude/latitude grid; the cube keeps it (``x`` =
    longitude, ``y`` = latitude, north-up, EPSG:4326), cut to the cells whose centres fall in
    ``bbox``. A non-spatial product (a scenario ensemble) is opened as it is.

    Returns
    -------
    dataset, refs
        The lazy dataset (float32 gridded variables with their CF attributes) and the
        sources' asset records.

    Raises
    ------
    InvalidInputError
        Gridded sources on different grids, a non-spatial product with other sources, more
        than one non-spatial product, nothing left in ``bbox``/``time``, or a cube larger
        than ``max_bytes``.
    """
    flat = [s for s in sources if not s.geolocated]
    if flat and (len(flat) > 1 or len(sources) > 1):
        raise InvalidInputError(
            f"a non-spatial ocean product is a cube of its own: {flat[0].describe()} cannot "
            f"share a cube with {', '.join(s.ref.item_id for s in sources if s is not flat[0])}"
            "; select it alone (collections=, or pass its item; CLI: --catalog ITEM.json)"
        )
    if flat:
        source = flat[0]
        ds = _open(source)
        ds.attrs = {**ds.attrs, "ecocube:collection": source.ref.collection}
        return ds, [source.ref]
    parts = [(s, _select_time(_gridded(s), time)) for s in sources]
    grids = {
        s.ref.item_id: (np.asarray(ds["lon"].values), np.asarray(ds["lat"].values))
        for s, ds in parts
    }
    first_lon, first_lat = next(iter(grids.values()))
    differ = [
        i
        for i, (lon, lat) in grids.items()
        if lon.shape != first_lon.shape
        or lat.shape != first_lat.shape
        or not (np.allclose(lon, first_lon) and np.allclose(lat, first_lat))
    ]
    if differ:
        shown = "; ".join(
            f"{i}: {lon.size} x {lat.size} cells, lon {lon.min():g}..{lon.max():g}, "
            f"lat {lat.min():g}..{lat.max():g}"
            for i, (lon, lat) in grids.items()
        )
        raise InvalidInputError(
            f"the ocean items lie on different grids ({shown}); on their own grid a cube "
            "holds one: pass resolution= (CLI: --resolution) to regrid them onto one grid, or "
            "select the items of one grid"
        )
    parts = _named(parts, set())
    variables: dict[str, xr.DataArray] = {}
    refs: list[AssetRef] = []
    for source, ds in parts:
        if bbox is not None:
            w, s, e, n = (float(v) for v in bbox)
            ds = ds.sel(lon=slice(w, e), lat=slice(n, s))
        for name in ds.data_vars:
            da = ds[name]
            if "time" in da.dims and da.sizes["time"] == 0:
                continue
            variables[str(name)] = da.astype("float32").transpose(..., "lat", "lon")
            variables[str(name)].attrs = da.attrs
            refs.append(_with_variable(source.ref, str(name)))
    if not variables or any(v.sizes["lat"] == 0 or v.sizes["lon"] == 0 for v in variables.values()):
        raise InvalidInputError(
            f"bbox={bbox} and time={time}: no cell or record of the ocean items is left; "
            "widen them or leave them out"
        )
    ds = xr.Dataset(variables).rename({"lon": "x", "lat": "y"})
    ds = ds.assign_coords(x=ds["x"].astype("float64"), y=ds["y"].astype("float64"))
    nbytes = sum(int(v.size) * 4 for v in ds.data_vars.values())
    if nbytes > max_bytes:
        from dask.utils import format_bytes

        raise InvalidInputError(
            f"the ocean cube holds {format_bytes(nbytes)} as float32, above the limit "
            f"max_bytes={format_bytes(max_bytes)} (--max-bytes); shrink bbox or time, or "
            "raise max_bytes"
        )
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    ds = ds.rio.write_crs("EPSG:4326")
    ds.x.attrs.update({"axis": "X", "standard_name": "longitude", "units": "degrees_east"})
    ds.y.attrs.update({"axis": "Y", "standard_name": "latitude", "units": "degrees_north"})
    return ds, refs
