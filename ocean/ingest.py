"""Read elaborate-model and reanalysis netCDF files into CF-named, unit-checked datasets.

The source products (CESM2-MARBL biogeochemistry, GLORYS12 physics, ERA5 surface forcing and
river exports) arrive with their own variable names, dimension names and units. :func:`open_source`
maps them onto the canonical names of :mod:`ecocube.ocean.variables`, converts units (CESM depths in
cm -> m, ERA5 Kelvin -> °C), decodes times with cftime where the calendar needs it (``noleap``
with year 0), and raises a clear error when a file carries the wrong units or lacks a variable.
The result follows the cube's Zarr conventions (CF attributes, ``lat``/``lon``/``depth``/``time``
dimensions, float32) and :func:`write_zarr` stores it.

The inputs are read through their STAC items: :func:`open_item` opens the netCDF asset of an
ocean item (of ``ecocube catalog build``'s ``ocean-north-atlantic`` and ``ocean-global-cesm``
collections, or of a STAC API serving them) with the source product the item names
(``ecocube:ocean_product``); :func:`ingest_item` writes the canonical dataset to Zarr and
registers it as an item of the product's collection (``ocean-glorys``, ``ocean-cesm-marbl``...).
:func:`open_registry_file` keeps the old entry point by registry file name: it builds the items
of the registry dataset in memory and reads the file through its item.

Examples
--------
>>> from ecocube.ocean.ingest import find_item, ingest_item, open_item
>>> item = find_item("glorys12-physics-2012-north-atlantic", "out/catalog")  # doctest: +SKIP
>>> float(open_item(item).thetao.max())  # doctest: +SKIP
11.1...
>>> ingest_item(item, "out/catalog/ocean/glorys.zarr", catalog="out/catalog")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ecocube.errors import DatasetNotFoundError, InvalidInputError
from ecocube.ocean.variables import SOURCES, native_mapping, normalize_units

__all__ = [
    "OCEAN_DATASETS",
    "MissingVariableError",
    "UnitsError",
    "find_item",
    "ingest_item",
    "item_product",
    "open_item",
    "open_marbl_climatology",
    "open_registry_file",
    "open_source",
    "registry_item",
    "write_zarr",
]

#: Registry datasets whose catalog items are ocean source files.
OCEAN_DATASETS: tuple[str, ...] = ("ocean_north_atlantic", "ocean_global_cesm")
#: Media types of a netCDF asset.
_NETCDF_TYPES = ("application/netcdf", "application/x-netcdf")

#: Which source product each mirror file holds.
FILE_SOURCES: dict[str, str] = {
    "CESM_BGC_2012.nc": "cesm_marbl",
    "CESM_regional_coarse_test_data_climatology.nc": "cesm_marbl",
    "CESM_BGC_SURFACE_2012.nc": "cesm_marbl",
    "CESM_BGC_coarse_global_clim.nc": "cesm_marbl",
    "GLORYS_NA_2012.nc": "glorys",
    "ERA5_NA_2012.nc": "era5",
    "rivr2o_riverinputs_2000.nc": "river",
    "rivr2o_riverinputs_2001.nc": "river",
    "rivr2o_riverinputs_2002.nc": "river",
}

_CFTIME_CALENDARS = {"noleap", "365_day", "360_day", "all_leap", "366_day", "julian"}
_DEPTH_DIMS = {"z_t": "depth", "z_t_150m": "depth_150m", "depth": "depth"}


class UnitsError(InvalidInputError):
    """A variable or coordinate carries units other than the ones its source product declares."""


class MissingVariableError(InvalidInputError, KeyError):
    """A variable the caller needs is absent from the file."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


def _decode_times(raw: xr.Dataset) -> xr.Dataset:
    """Decode CF times, with cftime for calendars numpy cannot represent (noleap, year 0)."""
    tname = "time" if "time" in raw.variables else None
    if tname is None:
        return xr.decode_cf(raw, decode_times=False)
    attrs = raw[tname].attrs
    units = str(attrs.get("units", ""))
    calendar = str(attrs.get("calendar", "standard")).lower()
    if "since" not in units:
        # e.g. the river files store a bare year number: keep it as is
        return xr.decode_cf(raw, decode_times=False)
    use_cftime = calendar in _CFTIME_CALENDARS or " 0000-" in f" {units.split('since')[-1]}"
    coder = xr.coders.CFDatetimeCoder(use_cftime=use_cftime)
    return xr.decode_cf(raw, decode_times=coder)


def _convert_depth(ds: xr.Dataset, label: str) -> xr.Dataset:
    for native, target in _DEPTH_DIMS.items():
        if native not in ds.dims and native not in ds.coords:
            continue
        coord = ds[native]
        units = normalize_units(coord.attrs.get("units"))
        if units == "cm":
            values = coord.values.astype("float64") / 100.0
        elif units == "m":
            values = coord.values.astype("float64")
        else:
            raise UnitsError(
                f"{label}: depth coordinate {native!r} has units {coord.attrs.get('units')!r}; "
                "expected 'cm' or 'm' (fix the file's units attribute)"
            )
        new = xr.DataArray(
            values.astype("float32"),
            dims=coord.dims,
            attrs={"standard_name": "depth", "units": "m", "positive": "down", "axis": "Z"},
        )
        ds = ds.assign_coords({native: new})
        if native != target:
            ds = ds.rename({native: target})
    return ds


def open_source(
    path: str | os.PathLike[str],
    source: str | None = None,
    *,
    variables: Iterable[str] | None = None,
    keep_unmapped: bool = False,
) -> xr.Dataset:
    """Open one netCDF file of a source product with canonical CF names and units.

    Parameters
    ----------
    path
        The netCDF file.
    source
        ``"cesm_marbl"``, ``"glorys"``, ``"era5"`` or ``"river"``; guessed from the file name for
        the registry files when ``None``.
    variables
        Canonical names (``"thetao"``) or native names (``"spC"``) the caller needs; a missing one
        raises :class:`MissingVariableError`. ``None`` returns every mapped variable found.
    keep_unmapped
        Keep native variables that have no canonical name (e.g. MARBL ``diatSi``) unchanged.

    Returns
    -------
    xarray.Dataset
        Canonical variables (float32, CF attributes), dimensions renamed to ``time``/``month``,
        ``depth`` (m, positive down; MARBL's 150 m plankton axis becomes ``depth_150m``),
        ``lat``, ``lon``. Land points stay NaN.

    Raises
    ------
    InvalidInputError
        Unknown ``source`` or a file that cannot be guessed.
    UnitsError
        A variable whose ``units`` attribute differs from the source's declared units, or whose
        values are implausible for its units (a Kelvin temperature labelled °C).
    MissingVariableError
        A requested variable is absent.
    """
    path = Path(path)
    if source is None:
        if path.name not in FILE_SOURCES:
            raise InvalidInputError(
                f"cannot guess the source product of {path.name!r}; pass source= one of "
                f"{', '.join(SOURCES)}"
            )
        source = FILE_SOURCES[path.name]
    mapping = native_mapping(source)
    by_canonical = {nv.name: nv for nv in mapping.values()}
    wanted = None if variables is None else list(variables)
    with xr.open_dataset(path, decode_times=False, mask_and_scale=True) as raw:
        raw = raw.load()
    if wanted is not None:
        missing = [w for w in wanted if w not in raw and by_canonical.get(w, None) is None]
        missing += [
            w for w in wanted if w in by_canonical and by_canonical[w].native not in raw.data_vars
        ]
        if missing:
            present = sorted(str(v) for v in raw.data_vars)
            raise MissingVariableError(
                f"{path.name}: missing variable(s) {sorted(set(missing))}; the file holds "
                f"{present}. Use a file of the {source!r} product that contains them."
            )
    ds = _decode_times(raw)
    ds = ds.rename({k: v for k, v in SOURCES[source].dims.items() if k in ds.dims})
    ds = _convert_depth(ds, path.name)
    out: dict[str, xr.DataArray] = {}
    for native in list(ds.data_vars):
        nv = mapping.get(str(native))
        if nv is None:
            if keep_unmapped:
                out[str(native)] = ds[native]
            continue
        if wanted is not None and nv.name not in wanted and nv.native not in wanted:
            continue
        da = ds[native]
        file_units = da.attrs.get("units")
        got = normalize_units(file_units)
        if file_units is None and nv.native == "zooC":
            got = nv.units  # MARBL's zooC carries no units attribute; it is mmol m-3 like spC
        if got != nv.units:
            raise UnitsError(
                f"{path.name}: variable {nv.native!r} has units {file_units!r}, but the "
                f"{source!r} product declares {nv.units!r} (canonical {nv.variable.units!r}). "
                "Convert it before ingestion or fix the units attribute."
            )
        values = da.astype("float64") * nv.scale + nv.offset
        _check_range(values, nv.name, path.name, nv.variable.units, nv.variable.valid_range)
        values = values.astype("float32")
        values.attrs = {**nv.variable.attrs(), "source_name": nv.native, "source": source}
        out[nv.name] = values
    result = xr.Dataset(out, coords={k: v for k, v in ds.coords.items()})
    result.attrs = {
        "Conventions": "CF-1.8",
        "source": SOURCES[source].description,
        "source_file": path.name,
        **{k: str(v) for k, v in ds.attrs.items() if k in ("title", "Title", "institution")},
    }
    for name in ("lat", "lon"):
        if name in result.coords:
            result[name].attrs.update(
                {
                    "standard_name": "latitude" if name == "lat" else "longitude",
                    "units": "degrees_north" if name == "lat" else "degrees_east",
                }
            )
    return result


def _check_range(
    da: xr.DataArray, name: str, label: str, units: str, valid: tuple[float, float] | None
) -> None:
    if valid is None:
        return
    finite = np.asarray(da.values)[np.isfinite(da.values)]
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if lo < valid[0] or hi > valid[1]:
        hint = ""
        if units == "degC" and hi > 200:
            hint = " The values look like Kelvin: subtract 273.15 or label them 'K'."
        raise UnitsError(
            f"{label}: {name} spans {lo:.4g}…{hi:.4g} {units}, outside the plausible range "
            f"{valid[0]:g}…{valid[1]:g} {units}; the units attribute is probably wrong.{hint}"
        )


def item_product(item: Any) -> str:
    """Source product of an ocean item: its ``ecocube:ocean_product``, else the product of its
    netCDF file's name (:data:`FILE_SOURCES`).

    Raises
    ------
    InvalidInputError
        The item names no product of :data:`ecocube.ocean.variables.SOURCES` and its file is
        not a known registry file.
    """
    from ecocube.catalog._items_ocean import PRODUCT_PROPERTY

    product = item.properties.get(PRODUCT_PROPERTY)
    if product is None:
        asset = next(iter(item.assets.values()), None)
        product = FILE_SOURCES.get(Path(asset.href).name) if asset is not None else None
    if product not in SOURCES:
        raise InvalidInputError(
            f"item {item.id!r} names the source product {product!r}, which ingestion cannot "
            f"map; valid products ({PRODUCT_PROPERTY}): {', '.join(SOURCES)}"
        )
    return str(product)


def _asset_path(item: Any, asset: str) -> Path:
    """Local path of the netCDF asset ``asset`` of ``item``."""
    found = item.assets.get(asset)
    if found is None:
        raise InvalidInputError(
            f"asset={asset!r}: item {item.id!r} has no such asset; its assets are "
            f"{sorted(item.assets)}"
        )
    media = (found.media_type or "").split(";")[0].strip()
    if media and media not in _NETCDF_TYPES:
        raise InvalidInputError(
            f"asset {asset!r} of item {item.id!r} is {media!r}, not netCDF; ingestion reads the "
            "netCDF source files of the ocean collections (ocean-north-atlantic, "
            "ocean-global-cesm)"
        )
    href = found.get_absolute_href() or found.href
    href = href[7:] if href.startswith("file://") else href
    if "://" in href:
        raise InvalidInputError(
            f"asset {asset!r} of item {item.id!r} is remote ({href}); ingestion reads local "
            "files: search a catalog served on this machine (hrefs are file:// there) or a "
            "static catalog folder"
        )
    path = Path(href)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"asset {asset!r} of item {item.id!r}: {path} does not exist; rebuild the catalog "
            "with `ecocube catalog build` (or fetch the data: `ecocube data fetch <dataset>`)"
        )
    return path


def open_item(
    item: Any, *, variables: Iterable[str] | None = None, asset: str = "data"
) -> xr.Dataset:
    """Open the netCDF asset of an ocean STAC item with canonical CF names and units.

    Parameters
    ----------
    item
        A ``pystac.Item`` of an ocean source file (``ecocube catalog build``'s
        ``ocean-north-atlantic`` / ``ocean-global-cesm`` collections, a STAC API serving them,
        or :func:`registry_item`).
    variables
        Canonical or native names required (see :func:`open_source`).
    asset
        Key of the netCDF asset.

    Returns
    -------
    xarray.Dataset
        :func:`open_source` of the asset file with the item's source product
        (:func:`item_product`).

    Raises
    ------
    InvalidInputError
        No such asset, an asset that is not a local netCDF file, or an unknown product.
    DatasetNotFoundError
        The asset file is missing.
    """
    path = _asset_path(item, asset)
    return open_source(path, item_product(item), variables=variables)


def registry_item(dataset: str, filename: str) -> Any:
    """The STAC item of registry file ``filename`` of ``dataset``, built in memory.

    Its asset points at the verified file in the data cache (see
    :func:`ecocube.catalog._ocean_items.registry_items`).

    Raises
    ------
    InvalidInputError
        ``dataset`` is not catalogued, or ``filename`` is not one of its item files.
    """
    from ecocube.catalog._ocean_items import registry_items

    items = registry_items(dataset)
    name = Path(filename).name
    for item in items:
        if any(Path(a.href).name == name for a in item.assets.values()):
            return item
    files = sorted(Path(a.href).name for i in items for a in i.assets.values())
    raise InvalidInputError(
        f"filename={filename!r} is not a file of the catalogued dataset {dataset!r}; its files "
        f"are {files}"
    )


def find_item(item_id: str, catalog: Any = None) -> Any:
    """The ocean source item ``item_id`` of a catalog, or of the registry's ocean datasets.

    Parameters
    ----------
    item_id
        Item id, e.g. ``"glorys12-physics-2012-north-atlantic"``.
    catalog
        A static catalog folder (or ``catalog.json``), a STAC API URL, or pystac items (see
        :func:`ecocube.catalog.load_items`); ``None`` looks the id up in the items of
        :data:`OCEAN_DATASETS`, built in memory from the registry.

    Raises
    ------
    InvalidInputError
        No item has that id (the ocean items available are listed).
    """
    from ecocube.catalog import load_items
    from ecocube.catalog._items_ocean import PRODUCT_PROPERTY
    from ecocube.catalog._ocean_items import registry_items

    if catalog is None:
        items = [i for dataset in OCEAN_DATASETS for i in registry_items(dataset)]
    else:
        items = load_items(catalog)
    for item in items:
        if item.id == item_id:
            return item
    ocean = sorted(
        i.id
        for i in items
        if PRODUCT_PROPERTY in i.properties
        and any((a.media_type or "").split(";")[0] in _NETCDF_TYPES for a in i.assets.values())
    )
    where = "the registry's ocean datasets" if catalog is None else repr(str(catalog))
    raise InvalidInputError(
        f"item={item_id!r} is not in {where}; the ocean source items there are {ocean}"
    )


def open_registry_file(
    dataset: str, filename: str, *, variables: Iterable[str] | None = None
) -> xr.Dataset:
    """Open ``filename`` of registry ``dataset`` through its STAC item (:func:`open_item`).

    The item is built in memory from the registry (:func:`registry_item`); the file is the
    verified one of the data cache, so the result is that of :func:`open_source` on it.

    Parameters
    ----------
    dataset
        ``"ocean_north_atlantic"`` or ``"ocean_global_cesm"``.
    filename
        A file of that dataset (see :data:`FILE_SOURCES`).
    variables
        Canonical or native names required (see :func:`open_source`).
    """
    return open_item(registry_item(dataset, filename), variables=variables)


def open_marbl_climatology(*, variables: Iterable[str] | None = None) -> xr.Dataset:
    """The North-Atlantic CESM2-MARBL monthly climatology (13 x 13 grid at 2°, 12 months)."""
    return open_registry_file(
        "ocean_north_atlantic", "CESM_regional_coarse_test_data_climatology.nc", variables=variables
    )


def ingest_item(
    item: Any,
    out: str | os.PathLike[str],
    *,
    variables: Iterable[str] | None = None,
    overwrite: bool = False,
    catalog: str | os.PathLike[str] | None = None,
) -> Path:
    """Ingest the source file of an ocean item into a CF Zarr store, and register that store.

    The file is read through the item (:func:`open_item`: canonical names, CF attributes from
    the variable registry, canonical units) and written atomically with
    :func:`ecocube.cube.write_cube`, with the source item as provenance
    (``ecocube:sources``), the product in ``ecocube:product`` and the item's time span in
    ``ecocube:start_datetime``/``ecocube:end_datetime``. With ``catalog`` the store is added
    to it as an item of the product's collection (``ocean-glorys``, ``ocean-cesm-marbl``...;
    :func:`ecocube.catalog._ocean_items.register_ocean`), linked to its source item.

    Parameters
    ----------
    item
        The source item (see :func:`find_item`).
    out
        Target ``*.zarr`` store; write it inside ``catalog``'s folder to keep the catalog
        self-contained.
    variables
        Canonical or native names to keep (default: every mapped variable).
    overwrite
        Replace an existing store.
    catalog
        Static catalog folder to register the store in.

    Returns
    -------
    pathlib.Path
        The store.

    Raises
    ------
    InvalidInputError
        ``out`` exists without ``overwrite`` or is not a Zarr store, or the item cannot be
        ingested (see :func:`open_item`); checked before anything is written.
    CatalogError
        ``catalog`` is not a static catalog (checked before the work).
    """
    from ecocube.catalog._ocean_items import PRODUCT_ATTR, check_static_catalog, register_ocean
    from ecocube.cube import write_cube
    from ecocube.cube._zarr import check_cube_target

    target = check_cube_target(Path(out), overwrite=overwrite)
    if catalog is not None:
        check_static_catalog(Path(catalog))
    ds = open_item(item, variables=variables)
    cm = item.common_metadata
    start = cm.start_datetime or item.datetime
    end = cm.end_datetime or item.datetime
    attrs: dict[str, Any] = {
        PRODUCT_ATTR: item_product(item),
        "title": f"{item.properties.get('title') or item.id} (CF names, canonical units)",
        "ecocube:source_item": item.id,
    }
    if start is not None and end is not None:
        attrs["ecocube:start_datetime"] = start.isoformat()
        attrs["ecocube:end_datetime"] = end.isoformat()
    path = Path(write_cube(ds, target, items=[item], overwrite=overwrite, attrs=attrs))
    if catalog is not None:
        register_ocean(path, Path(catalog))
    return path


def write_zarr(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` to a Zarr store atomically with :func:`ecocube.cube.write_cube`.

    The store is written to a temporary sibling and renamed into place (an existing store is
    replaced), so readers never see half a store. Returns the path of the store.
    """
    from ecocube.cube import write_cube

    return Path(write_cube(ds, Path(path), overwrite=True))
