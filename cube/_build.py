"""Build an aligned cube from STAC items: stackstac reads and reprojects, ecocube applies the
STAC ``raster``/``classification`` semantics, masks, composites and fractions; ocean items
(netCDF files and ocean products with the datacube extension) are regridded onto the same grid
or, without a resolution, kept on their own (:mod:`ecocube.cube._ocean`)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.catalog import load_items
from ecocube.cube._items import (
    AssetRef,
    check_asset,
    collect_assets,
    select_items,
    sources_table,
)
from ecocube.cube._items import source_resolution as _source_resolution
from ecocube.cube._masking import composite as _composite
from ecocube.cube._masking import landsat_c1_mask, landsat_c2_mask, ndvi, scl_mask
from ecocube.cube._ocean import (
    grid_sources,
    is_ocean_item,
    native_cube,
    ocean_layers,
    ocean_sources,
    stack_ocean,
)
from ecocube.cube._resample import class_fractions, resampling_for
from ecocube.cube._spec import (
    DEFAULT_MAX_BYTES,
    CubeSpec,
    _parse_time,
    check_cube_size,
    parse_max_bytes,
)
from ecocube.errors import InvalidInputError

__all__ = ["build_cube"]

_RED_KEYS = {"B04", "SR_B4"}
_NIR_KEYS = {"B08", "SR_B5"}
#: eo common names accepted per NDVI role, best first: Sentinel-2 B08 is ``nir``; Landsat 8/9
#: B5 (and Sentinel-2 B8A) is ``nir08``, the narrow 0.85-0.88 µm NIR band.
_COMMON_ROLES = {"red": ("red",), "nir": ("nir", "nir08")}


def build_cube(
    items: Any,
    *,
    spec: CubeSpec | None = None,
    bbox: Sequence[float] | None = None,
    crs: Any = "EPSG:4326",
    resolution: float | None = None,
    time: Any = None,
    collections: Sequence[str] | str | None = None,
    assets: Sequence[str] | str | None = None,
    composite: str | None = None,
    mask: str = "auto",
    indices: Sequence[str] = (),
    fractions: bool = True,
    anchor: Sequence[float] | None = None,
    name_fn: Callable[[Any, str], str] | None = None,
    client: Any = None,
    verify: bool = True,
    max_bytes: float | str = DEFAULT_MAX_BYTES,
) -> xr.Dataset:
    """Stack STAC items onto one grid and return a lazy (dask) ``xarray.Dataset``.

    Every layer is on the grid of ``spec`` (CRS, resolution, snapped bounds), as float32 with
    NaN for nodata, after the STAC ``raster`` scale/offset/nodata. Continuous layers are
    resampled bilinearly (average when the grid is coarser), categorical ones (``classification``
    extension, and bit-flag/quality layers such as Landsat ``QA_PIXEL``) with nearest (mode
    when coarser) and, on a coarser grid, class-coded layers also as per-class fractions
    ``<name>_frac_<code>`` that sum to 1. Series and single acquisitions (satellite scenes, see
    :func:`is_acquisition`) keep a ``time`` coordinate ``(time, y, x)``; static layers with one
    date (climate normals, yearly maps) are 2-D ``(y, x)``.

    Ocean items (the datacube netCDF files of the ocean collections, and the ocean products
    registered by ``ecocube ocean ingest`` / ``ecocube ocean ensemble``) keep their variable
    names, CF attributes and non-horizontal dimensions (``time``, ``depth``...): on the grid
    they are reprojected like continuous rasters (bilinear, average when coarser); with no
    ``resolution`` (and no ``spec``) they stay on their own grid (``x``/``y`` = longitude/
    latitude, cut to ``bbox`` when given), and a non-spatial product (a scenario ensemble,
    ``scenario x time x depth``) is opened as its own cube. Name and dimension clashes between
    items are resolved as :mod:`ecocube.cube._ocean` describes.

    Parameters
    ----------
    items
        pystac Items (e.g. from ``pystac_client`` searches), a static catalog path or a STAC API
        URL (see :func:`ecocube.catalog.load_items`).
    spec
        The grid; or give ``bbox``/``crs``/``resolution``/... and one is made with
        :meth:`CubeSpec.create`. Neither ``spec`` nor ``resolution``: ocean items on their
        own grid (``bbox``, ``time`` and ``collections`` select; raster options are refused).
    name_fn
        ``(item, asset_key) -> variable name``; by default the asset key, or the distinctive
        part of the item ids when several items share one date and footprint (one file per
        layer, e.g. CHELSA ``bio1``...``bio19``).
    client
        A ``dask.distributed.Client``: the cube is persisted on its workers.
    verify
        Open and decode every local asset first, so missing or truncated files fail early
        with the item and asset named.
    max_bytes
        Largest cube to build: bytes, or a text such as ``"32GB"`` (default 32 GiB). The
        grid alone (width x height x 4 bytes) is checked before any item is read, then the
        stacked layers (width x height x variables x dates x 4 bytes) before any asset is
        opened; fraction and index layers are not counted.

    Returns
    -------
    xarray.Dataset
        Dask-backed, with ``x``/``y`` pixel-centre coordinates, CRS (``spatial_ref``) and
        provenance attributes ``ecocube:sources`` and ``ecocube:spec`` (JSON).

    Raises
    ------
    InvalidInputError
        Bad options, or a cube larger than ``max_bytes`` (the message names the grid size, the
        bytes and the unit of the resolution in the target CRS); a non-spatial ocean product
        (ensemble) asked onto a grid; on the own grid: raster items, gridded items on
        different grids, or an ensemble with other items.

    Warns
    -----
    AreaOfUseWarning
        When the bbox lies mostly outside the target CRS's area of use.
    """
    if spec is None and resolution is None:
        raster_options = {
            "crs": crs if str(crs).upper() != "EPSG:4326" else None,
            "assets": assets,
            "composite": composite,
            "indices": list(indices) or None,
            "anchor": anchor,
        }
        given = {k: v for k, v in raster_options.items() if v is not None}
        if given:
            raise InvalidInputError(
                f"{', '.join(f'{k}={v!r}' for k, v in given.items())} need(s) a grid: pass "
                "resolution= (CLI: --resolution), or leave them out to build ocean items on "
                "their own grid"
            )
        return _build_native(
            items, bbox=bbox, time=time, collections=collections, max_bytes=max_bytes, client=client
        )
    if spec is None:
        if bbox is None or resolution is None:
            raise InvalidInputError(
                "build_cube needs bbox= with resolution= (plus crs=, default EPSG:4326), or "
                "spec=CubeSpec(...)"
            )
        spec = CubeSpec.create(
            bbox=bbox,
            crs=crs,
            resolution=resolution,
            time=time,
            collections=collections,
            assets=assets,
            composite=composite,
            mask=mask,
            indices=indices,
            fractions=fractions,
            anchor=anchor,
        )
    check_cube_size(spec, max_bytes)  # a units slip fails here, before any item is read
    item_list = load_items(items, bbox=spec.bbox, time=spec.time, collections=spec.collections)
    selected = select_items(item_list, bbox=spec.bbox, time=spec.time, collections=spec.collections)
    sources = ocean_sources(selected)
    gridded = grid_sources(
        sources, collections=spec.collections, others=len(selected) - len(sources)
    )
    refs = collect_assets(
        selected,
        bbox=spec.bbox,
        time=spec.time,
        collections=spec.collections,
        assets=spec.assets,
        name_fn=name_fn,
        verify=False,
        skip=is_ocean_item,
    )
    layers, what = _layer_count(refs) if refs else (0, "")
    n_ocean = ocean_layers(gridded)
    if n_ocean:
        layers += n_ocean
        what = f"{what} and {n_ocean} ocean layers" if what else f"{n_ocean} ocean layers"
    check_cube_size(spec, max_bytes, layers=layers, what=what)
    if verify:
        for ref in refs:
            check_asset(ref)
    if spec.epsg is None:
        raise InvalidInputError(
            f"crs={spec.crs!r} has no EPSG code; stackstac needs one (e.g. 'EPSG:32632')"
        )
    transform, width, height, bounds = spec.grid()
    xs = bounds[0] + (np.arange(width) + 0.5) * spec.resolution
    ys = bounds[3] - (np.arange(height) + 0.5) * spec.resolution

    by_var: dict[str, list[AssetRef]] = defaultdict(list)
    for r in refs:
        by_var[r.variable].append(r)

    variables: dict[str, xr.DataArray] = {}
    collection_of: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for name, group in by_var.items():
        first = group[0]
        coarser = _is_coarser(first, spec)
        da = _stack_variable(group, spec, bounds, width, height, coarser)
        da = da.assign_coords(x=xs, y=ys)
        variables[name] = da
        collection_of[name] = first.collection
        kinds[name] = "categorical" if first.categorical else "continuous"
        if first.classes and "time" not in da.dims and spec.fractions and coarser:
            for frac_name, frac in _fractions(first, spec, transform, width, height, xs, ys):
                variables[f"{name}_frac_{frac_name}"] = frac
                collection_of[f"{name}_frac_{frac_name}"] = first.collection
                kinds[f"{name}_frac_{frac_name}"] = "fraction"

    if gridded:
        ocean_vars, ocean_refs = stack_ocean(gridded, spec, taken=set(variables))
        for name, da in ocean_vars.items():
            variables[name] = da
            collection_of[name] = str(da.attrs["ecocube:collection"])
            kinds[name] = "continuous"
        refs = refs + ocean_refs
    if spec.mask == "auto":
        _apply_masks(variables, collection_of, kinds, by_var, spec)
    if "ndvi" in spec.indices:
        _add_ndvi(variables, collection_of, kinds, by_var)
    dropped: list[str] = []
    if spec.composite is not None:
        for name in list(variables):
            if "time" not in variables[name].dims:
                continue
            if kinds[name] == "categorical":
                dropped.append(name)
                del variables[name]
                continue
            attrs = variables[name].attrs
            variables[name] = _composite(variables[name], spec.composite)
            variables[name].attrs = {**attrs, "ecocube:composite": f"median per {spec.composite}"}

    import rioxarray  # noqa: F401  (registers the .rio accessor)

    ds = xr.Dataset(variables)
    ds = ds.rio.write_crs(spec.crs)
    ds.x.attrs.update({"axis": "X", "long_name": "x coordinate of pixel centre"})
    ds.y.attrs.update({"axis": "Y", "long_name": "y coordinate of pixel centre"})
    ds.attrs.update(
        {
            "title": "ecocube data cube",
            "ecocube:spec": json.dumps(spec.to_dict()),
            "ecocube:sources": json.dumps(sources_table(refs)),
            "ecocube:dropped_after_composite": json.dumps(dropped),
            "Conventions": "CF-1.8",
        }
    )
    if client is not None:
        ds = client.persist(ds)
    return ds


def _build_native(
    items: Any,
    *,
    bbox: Sequence[float] | None,
    time: Any,
    collections: Sequence[str] | str | None,
    max_bytes: float | str,
    client: Any,
) -> xr.Dataset:
    """Ocean items on their own grid (:func:`ecocube.cube._ocean.native_cube`)."""
    from ecocube.catalog import normalize_bbox

    box = normalize_bbox(list(bbox)) if bbox is not None else None
    period = _parse_time(time)
    if isinstance(collections, str):
        collections = [c for c in collections.split(",") if c]
    colls = tuple(collections) if collections else None
    limit = parse_max_bytes(max_bytes)
    item_list = load_items(items, bbox=box, time=period, collections=colls)
    selected = select_items(item_list, bbox=box, time=period, collections=colls)
    raster = [i.id for i in selected if not is_ocean_item(i)]
    if raster:
        raise InvalidInputError(
            f"resolution= (CLI: --resolution) is needed: {len(raster)} selected item(s) are "
            f"rasters ({', '.join(raster[:5])}{', ...' if len(raster) > 5 else ''}), and only "
            "ocean items have a grid of their own; pass a resolution, or select ocean "
            "collections with collections= (--collections)"
        )
    ds, refs = native_cube(ocean_sources(selected), bbox=box, time=period, max_bytes=limit)
    spec = {
        "grid": "native",
        "bbox": list(box) if box is not None else None,
        "time": None if period is None else [None if t is None else t.isoformat() for t in period],
        "collections": list(colls) if colls else None,
    }
    ds.attrs.update(
        {
            "title": str(ds.attrs.get("title") or "ecocube data cube (ocean, own grid)"),
            "ecocube:spec": json.dumps(spec),
            "ecocube:sources": json.dumps(sources_table(refs)),
            "Conventions": str(ds.attrs.get("Conventions") or "CF-1.8"),
        }
    )
    if client is not None:
        ds = client.persist(ds)
    return ds


#: Item properties of an acquisition (STAC common metadata / eo): a scene, not a static layer.
_ACQUISITION_PROPS = ("platform", "constellation", "instruments", "eo:cloud_cover")


def is_acquisition(item: Any) -> bool:
    """True when ``item`` is one acquisition of a time-varying collection (a satellite scene).

    That is: a nominal instant ``datetime`` (no ``start_datetime``/``end_datetime`` period)
    plus acquisition metadata (``platform``, ``constellation``, ``instruments`` or
    ``eo:cloud_cover``). Layers of such items keep a ``time`` dimension even when one date is
    selected; static layers (climate normals such as CHELSA 1981-2010, yearly land-cover
    maps: a period, or no acquisition metadata) are 2-D ``(y, x)`` when they have one date.
    """
    if item is None or item.datetime is None:
        return False
    props = item.properties
    if props.get("start_datetime") and props.get("end_datetime"):
        return False
    return any(props.get(k) is not None for k in _ACQUISITION_PROPS)


def _layer_count(refs: list[AssetRef]) -> tuple[int, str]:
    """Number of ``(y, x)`` layers stacked from ``refs`` (one per variable and date), described.

    Tiles of one date (one per UTM zone, say) are mosaicked into one layer.
    """
    dates: dict[str, set[Any]] = defaultdict(set)
    for r in refs:
        dates[r.variable].add(r.datetime)
    layers = sum(len(d) for d in dates.values())
    most = max(len(d) for d in dates.values())
    what = f"{len(dates)} variable{'s' if len(dates) > 1 else ''}"
    if most > 1:
        what += f" (up to {most} dates each: {layers} layers)"
    return layers, what


def _is_coarser(ref: AssetRef, spec: CubeSpec) -> bool:
    if not ref.is_local:
        return False
    src = _source_resolution(ref, spec.crs)
    return spec.resolution >= spec.fraction_min_ratio * src


def _stack_dicts(group: list[AssetRef]) -> list[dict[str, Any]]:
    out = []
    for r in group:
        props: dict[str, Any] = {
            "datetime": (r.datetime or pd.Timestamp("1970-01-01")).isoformat() + "Z"
        }
        asset: dict[str, Any] = {"href": str(r.path) if r.is_local else r.href}
        asset["type"] = "image/tiff; application=geotiff"
        if r.epsg is not None:
            props["proj:epsg"] = r.epsg
        out.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": f"{r.item_id}:{r.key}",
                "properties": props,
                "assets": {r.key: asset},
                "bbox": list(r.item_bbox) if r.item_bbox else None,
                "geometry": None,
                "links": [],
            }
        )
    return out


def _stack_variable(
    group: list[AssetRef],
    spec: CubeSpec,
    bounds: tuple[float, float, float, float],
    width: int,
    height: int,
    coarser: bool,
) -> xr.DataArray:
    import stackstac

    first = group[0]
    # Different asset keys cannot share one stackstac call; rename them to one key.
    dicts = _stack_dicts(group)
    for d in dicts:
        (key,) = d["assets"]
        d["assets"] = {"data": d["assets"][key]}
    arr = stackstac.stack(
        dicts,
        assets=["data"],
        epsg=spec.epsg,
        resolution=spec.resolution,
        bounds=bounds,
        snap_bounds=False,
        resampling=resampling_for(first, coarser),
        chunksize=spec.chunksize,
        dtype="float32",
        fill_value=np.float32(np.nan),
        rescale=False,
        xy_coords="center",
        properties=False,
        band_coords=False,
        sortby_date="asc",
    )
    arr = arr.isel(band=0, drop=True)
    arr = arr.isel(y=slice(0, height), x=slice(0, width))
    if arr.sizes["y"] != height or arr.sizes["x"] != width:
        arr = arr.reindex(y=arr.y[:height], x=arr.x[:width])
    arr = arr.drop_vars([c for c in arr.coords if c not in ("time", "x", "y")])
    times = pd.DatetimeIndex(arr["time"].values)
    if times.has_duplicates:
        # tiles of one date (e.g. two UTM zones) are mosaicked: first valid pixel wins
        arr = arr.groupby("time").map(lambda g: stackstac.mosaic(g, dim="time"))
    nodata = first.nodata
    if nodata is not None:
        arr = arr.where(arr != np.float32(nodata))
    if not first.categorical and (first.scale != 1.0 or first.offset != 0.0):
        arr = arr * np.float32(first.scale) + np.float32(first.offset)
    arr = arr.astype(np.float32)
    # one date gives a 2-D layer only for static layers (climate normals, yearly maps); a
    # single acquisition of a time-varying collection keeps its length-1 time coordinate
    static = arr.sizes["time"] == 1 and not any(is_acquisition(r.item) for r in group)
    attrs: dict[str, Any] = {
        "ecocube:collection": first.collection,
        "ecocube:asset": first.key,
        "ecocube:items": json.dumps(sorted({r.item_id for r in group})),
        "ecocube:kind": "categorical" if first.categorical else "continuous",
        "ecocube:resampling": resampling_for(first, coarser).name,
    }
    band = (first.item.assets[first.key].extra_fields.get("raster:bands") or [{}])[0]
    if band.get("unit"):
        attrs["units"] = band["unit"]
    if first.flags:
        attrs["ecocube:flags"] = "bit flags / quality codes (never interpolated)"
    if first.categorical and first.classes:
        attrs["flag_values"] = [c for c, _ in first.classes]
        attrs["flag_meanings"] = " ".join(
            "_".join(d.lower().split()).replace(",", "") for _, d in first.classes
        )
    if static:
        when = first.datetime
        arr = arr.isel(time=0, drop=True)
        if when is not None:
            attrs["ecocube:datetime"] = when.isoformat()
        cm = first.item.common_metadata
        if cm.start_datetime is not None:
            attrs["ecocube:start_datetime"] = cm.start_datetime.isoformat()
            attrs["ecocube:end_datetime"] = (cm.end_datetime or cm.start_datetime).isoformat()
    else:
        arr = arr.assign_coords(time=pd.DatetimeIndex(arr["time"].values))
    arr.attrs = attrs
    arr.name = first.variable
    return arr


def _fractions(
    ref: AssetRef,
    spec: CubeSpec,
    transform: Any,
    width: int,
    height: int,
    xs: np.ndarray,
    ys: np.ndarray,
) -> list[tuple[str, xr.DataArray]]:
    import dask
    import dask.array as dsa

    assert ref.classes is not None
    n = len(ref.classes)
    lazy = dask.delayed(class_fractions)(ref, spec.crs, transform, width, height)
    stack = dsa.from_delayed(lazy, shape=(n, height, width), dtype=np.float32)
    out = []
    for k, (code, desc) in enumerate(ref.classes):
        da = xr.DataArray(stack[k], dims=("y", "x"), coords={"y": ys, "x": xs}, name=f"frac_{code}")
        da.attrs = {
            "long_name": f"fraction of {desc}",
            "units": "1",
            "ecocube:kind": "fraction",
            "ecocube:class_value": int(code),
            "ecocube:class_description": desc,
            "ecocube:collection": ref.collection,
            "ecocube:asset": ref.key,
            "ecocube:items": json.dumps([ref.item_id]),
            "ecocube:resampling": "average of class indicator",
        }
        out.append((str(code), da))
    return out


def _apply_masks(
    variables: dict[str, xr.DataArray],
    collection_of: dict[str, str],
    kinds: dict[str, str],
    by_var: dict[str, list[AssetRef]],
    spec: CubeSpec,
) -> None:
    for qname, group in by_var.items():
        key = group[0].key.upper()
        q = variables[qname]
        if key == "SCL":
            m, how = scl_mask(q, optional=spec.mask_optional_scl), "Sentinel-2 SCL"
        elif key == "QA_PIXEL":
            m, how = landsat_c2_mask(q), "Landsat C2 QA_PIXEL"
        elif key == "BQA":
            m, how = landsat_c1_mask(q), "Landsat C1 BQA"
        else:
            continue
        for name, da in list(variables.items()):
            if name == qname or collection_of[name] != collection_of[qname]:
                continue
            if kinds[name] != "continuous" or set(da.dims) != set(q.dims):
                continue
            attrs = da.attrs
            variables[name] = da.where(~m)
            variables[name].attrs = {**attrs, "ecocube:mask": f"{how} ({qname})"}


def _add_ndvi(
    variables: dict[str, xr.DataArray],
    collection_of: dict[str, str],
    kinds: dict[str, str],
    by_var: dict[str, list[AssetRef]],
) -> None:
    # rank of each candidate per role: 0 = first accepted common name, ..., then the keys
    per_coll: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    for name, group in by_var.items():
        r = group[0]
        if kinds.get(name) != "continuous":
            continue
        for role, names in _COMMON_ROLES.items():
            keys = _RED_KEYS if role == "red" else _NIR_KEYS
            if r.common_name in names:
                rank = names.index(r.common_name)
            elif r.common_name is None and r.key.upper() in keys:
                rank = len(names)
            else:
                continue
            best = per_coll[r.collection].get(role)
            if best is None or rank < best[0]:
                per_coll[r.collection][role] = (rank, name)
    found = {
        c: {role: n for role, (_, n) in v.items()}
        for c, v in per_coll.items()
        if {"red", "nir"} <= set(v)
    }
    if not found:
        raise InvalidInputError(
            "indices=['ndvi'] needs a red and a nir asset in one collection (eo:bands "
            "common_name 'red' and 'nir' or 'nir08', or keys B04/B08, SR_B4/SR_B5); none was "
            "found among the selected assets: select them with --assets/assets= or drop --ndvi"
        )
    for coll, roles in found.items():
        name = "ndvi" if len(found) == 1 else f"{coll}_ndvi"
        variables[name] = ndvi(variables[roles["nir"]], variables[roles["red"]])
        variables[name].attrs["ecocube:collection"] = coll
        variables[name].attrs["ecocube:kind"] = "continuous"
        collection_of[name] = coll
        kinds[name] = "continuous"
