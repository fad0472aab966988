"""Select STAC items and read the raster metadata of their assets (proj, raster, classification).

Everything the builder needs from an item is gathered once into :class:`AssetRef` records, so
the rest of the code never looks at STAC dictionaries again. Reading the items themselves
(catalogs, links, API searches) is :func:`ecocube.catalog.load_items`.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from ecocube.catalog import item_epsg
from ecocube.errors import (
    CatalogError,
    DataIntegrityError,
    DatasetNotFoundError,
    EcocubeWarning,
    InvalidInputError,
)

__all__ = [
    "AssetRef",
    "check_asset",
    "collect_assets",
    "is_flag_asset",
    "select_items",
    "sources_table",
]

_RASTER_TYPES = ("image/tiff", "image/x.geotiff", "image/vnd.stac.geotiff", "image/jp2")
_SKIP_ROLES = {"thumbnail", "overview", "metadata", "visual"}
#: Asset roles (STAC best practices / eo extension) of integer mask and bit-flag layers.
FLAG_ROLES = frozenset(
    {"cloud", "cloud-shadow", "data-mask", "saturation", "snow-ice", "land-water", "water-mask"}
)
#: Asset keys of known quality bit-flag layers that catalogs often publish without the
#: classification extension (Landsat Collection-1/2 QA bands, HLS Fmask).
FLAG_KEYS = frozenset(
    {"BQA", "QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL", "QA_AEROSOL", "SR_CLOUD_QA", "FMASK"}
)
_INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


@dataclass(frozen=True)
class AssetRef:
    """One raster asset of one item, with what the builder needs to read it.

    Attributes
    ----------
    item_id, collection, key
        Where the asset comes from.
    href
        Absolute local path or URL.
    datetime
        Nominal time (``datetime`` or ``start_datetime`` of the item), naive UTC.
    epsg
        ``proj:code``/``proj:epsg`` of the asset (or item), ``None`` when absent.
    nodata, scale, offset
        From the ``raster`` extension (first band); value = raw * scale + offset.
    classes
        ``(value, description)`` pairs from the ``classification`` extension (``None`` for
        continuous layers); classes flagged ``nodata`` are left out.
    flags
        True for a bit-flag/quality layer without a class table (see :func:`is_flag_asset`):
        categorical (never interpolated), but without per-class fractions.
    common_name
        ``eo:bands`` common name (``red``, ``nir``...) when given.
    checksum
        ``file:checksum`` (multihash hex) when given.
    variable
        Name of the cube variable this asset feeds.
    item_bbox
        Item footprint in lon/lat.
    """

    item_id: str
    collection: str
    key: str
    href: str
    datetime: pd.Timestamp | None
    epsg: int | None
    nodata: float | None
    scale: float
    offset: float
    classes: tuple[tuple[int, str], ...] | None
    common_name: str | None
    checksum: str | None
    item_bbox: tuple[float, float, float, float] | None
    variable: str = ""
    item: Any = None
    flags: bool = False

    @property
    def categorical(self) -> bool:
        """True for class codes (classification extension) and bit-flag/quality layers."""
        return self.classes is not None or self.flags

    @property
    def is_local(self) -> bool:
        """True for a local file (no URL scheme)."""
        return urlparse(self.href).scheme in ("", "file")

    @property
    def path(self) -> Path:
        """Local path of the asset."""
        href = self.href[7:] if self.href.startswith("file://") else self.href
        return Path(href)

    def describe(self) -> str:
        """Short ``asset 'k' of item 'i' (href)`` text for error messages."""
        return f"asset {self.key!r} of item {self.item_id!r} ({self.href})"


def is_flag_asset(key: str, asset: Any) -> bool:
    """True when an asset holds bit flags or mask codes, whose values must never be interpolated.

    Any of: ``classification:bitfields`` (asset or first ``raster:bands`` entry); a mask role
    (:data:`FLAG_ROLES`: ``cloud``, ``data-mask``, ``saturation``...) on an integer band without
    scale/offset; or a known quality key (:data:`FLAG_KEYS`: Landsat ``QA_PIXEL``,
    ``QA_RADSAT``, ``SR_QA_AEROSOL``, ``BQA``...).
    """
    fields = asset.extra_fields
    band = (fields.get("raster:bands") or [{}])[0] or {}
    if fields.get("classification:bitfields") or band.get("classification:bitfields"):
        return True
    scaled = band.get("scale", 1) != 1 or band.get("offset", 0) != 0
    dtype = str(band.get("data_type") or "")
    integer = dtype in _INT_TYPES or not dtype
    if set(asset.roles or []) & FLAG_ROLES and integer and not scaled:
        return True
    return key.upper() in FLAG_KEYS and not scaled


def _asset_ref(item: Any, key: str, asset: Any) -> AssetRef:
    fields = asset.extra_fields
    epsg = item_epsg(asset)  # the asset's own grid, else the item's
    if epsg is None:
        epsg = item_epsg(item)
    bands = fields.get("raster:bands") or [{}]
    band = bands[0] if bands else {}
    classes_raw = fields.get("classification:classes") or band.get("classification:classes")
    classes = None
    if classes_raw:
        classes = tuple(
            (int(c["value"]), str(c.get("description") or c.get("name") or c["value"]))
            for c in classes_raw
            if not c.get("nodata", False)
        )
    eo = fields.get("eo:bands") or [{}]
    common = (eo[0] or {}).get("common_name") if eo else None
    when = item.datetime or item.common_metadata.start_datetime
    if when is not None:
        when = pd.Timestamp(when)
        when = when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when
    href = asset.get_absolute_href() or asset.href
    return AssetRef(
        item_id=item.id,
        collection=item.collection_id or "",
        key=key,
        href=href,
        datetime=when,
        epsg=epsg,
        nodata=None if band.get("nodata") is None else float(band["nodata"]),
        scale=float(band.get("scale", 1.0)),
        offset=float(band.get("offset", 0.0)),
        classes=classes,
        common_name=common,
        checksum=fields.get("file:checksum"),
        item_bbox=(
            (float(item.bbox[0]), float(item.bbox[1]), float(item.bbox[2]), float(item.bbox[3]))
            if item.bbox
            else None
        ),
        item=item,
        flags=classes is None and is_flag_asset(key, asset),
    )


def _is_raster(asset: Any) -> bool:
    roles = set(asset.roles or [])
    if roles & _SKIP_ROLES and "data" not in roles:
        return False
    mt = (asset.media_type or "").split(";")[0].strip()
    if mt:
        return mt in _RASTER_TYPES
    return asset.href.lower().endswith((".tif", ".tiff", ".jp2"))


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9A-Za-z]+", text) if t]


def _distinct_names(ids: list[str]) -> list[str]:
    """Names that tell items apart: their ids without the shared leading/trailing tokens."""
    toks = [_tokens(i) for i in ids]
    pre = 0
    while all(len(t) > pre for t in toks) and len({t[pre] for t in toks}) == 1:
        pre += 1
    suf = 0
    while all(len(t) > pre + suf for t in toks) and len({t[-1 - suf] for t in toks}) == 1:
        suf += 1
    names = ["_".join(t[pre : len(t) - suf]) or "_".join(t) for t in toks]
    return names if len(set(names)) == len(names) else ["_".join(t) for t in toks]


def sanitize(name: str) -> str:
    """A variable name usable in Zarr, netCDF and Python (``[A-Za-z_][A-Za-z0-9_]*``)."""
    out = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    return out if out and not out[0].isdigit() else f"v_{out}"


def _assign_variables(
    refs: list[AssetRef], name_fn: Callable[[Any, str], str] | None
) -> list[AssetRef]:
    """Name the cube variable of every asset.

    Rule: the asset key; items of one collection sharing one date and footprint under one key
    (one file per layer) are told apart by the distinctive part of their ids. When a name
    occurs in more than one collection of the build, *every* variable of each of those
    collections is prefixed with its collection id (``chelsa_costa_rica_bio1`` ...
    ``chelsa_costa_rica_bio19`` next to ``worldclim_dismo_bio1``), so the names of one
    collection never mix prefixed and plain forms. ``name_fn`` overrides all of this.
    """
    if name_fn is not None:
        return [replace(r, variable=sanitize(name_fn(r.item, r.key))) for r in refs]
    by_key: dict[tuple[str, str], list[AssetRef]] = defaultdict(list)
    for r in refs:
        by_key[(r.collection, r.key)].append(r)
    keys_per_coll: dict[str, set[str]] = defaultdict(set)
    for coll, key in by_key:
        keys_per_coll[coll].add(key)
    named: list[AssetRef] = []
    for (coll, key), group in by_key.items():
        # Items sharing one datetime and one footprint are different layers (e.g. one file per
        # bioclim variable), not tiles of a mosaic or dates of a series: name them apart.
        sig = defaultdict(list)
        for r in group:
            sig[(r.datetime, r.item_bbox)].append(r)
        if any(len(v) > 1 for v in sig.values()):
            names = _distinct_names([r.item_id for r in group])
            for r, n in zip(group, names, strict=True):
                var = n if len(keys_per_coll[coll]) == 1 else f"{n}_{key}"
                named.append(replace(r, variable=sanitize(var)))
        else:
            named.extend(replace(r, variable=sanitize(key)) for r in group)
    colls_per_name: dict[str, set[str]] = defaultdict(set)
    for r in named:
        colls_per_name[r.variable].add(r.collection)
    clash = {c for cs in colls_per_name.values() if len(cs) > 1 for c in cs}
    return [
        replace(r, variable=sanitize(f"{r.collection}_{r.variable}"))
        if r.collection in clash
        else r
        for r in named
    ]


def select_items(
    items: list[Any],
    *,
    bbox: Sequence[float] | None,
    time: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None,
    collections: Sequence[str] | None = None,
) -> list[Any]:
    """The items of ``collections`` that fall in ``time`` and overlap ``bbox`` (None: any).

    An item without a time (neither ``datetime`` nor ``start_datetime``) or without a bbox is
    kept by that filter.

    Raises
    ------
    CatalogError
        Unknown collection (the collections of the items are listed).
    InvalidInputError
        No items, none overlaps ``bbox``, or none falls in ``time``.
    """
    if not items:
        raise InvalidInputError("items is empty: the STAC search returned nothing to build from")
    present = sorted({i.collection_id or "" for i in items})
    if collections:
        missing = [c for c in collections if c not in present]
        if missing:
            raise CatalogError(
                f"collections={list(collections)!r}: unknown collection(s) {missing}; "
                f"the items come from {present}"
            )
        items = [i for i in items if (i.collection_id or "") in collections]
    if time is not None:
        start, end = time
        kept = []
        spans = []
        for it in items:
            cm = it.common_metadata
            t0 = it.datetime or cm.start_datetime
            t1 = it.datetime or cm.end_datetime or t0
            if t0 is None:
                kept.append(it)
                continue
            t0 = pd.Timestamp(t0).tz_convert("UTC").tz_localize(None)
            t1 = pd.Timestamp(t1).tz_convert("UTC").tz_localize(None)
            spans.append((t0, t1))
            if (end is None or t0 <= end) and (start is None or t1 >= start):
                kept.append(it)
        if not kept:
            lo = min(s[0] for s in spans).date() if spans else None
            hi = max(s[1] for s in spans).date() if spans else None
            raise InvalidInputError(
                f"time={'/'.join(str(t) for t in time)}: no item falls in this range; the "
                f"{len(items)} item(s) span {lo} to {hi}. Widen the time range or drop --time"
            )
        items = kept
    if bbox is None:
        return list(items)
    box = tuple(float(v) for v in bbox)
    overlapping = [i for i in items if i.bbox is None or _overlaps(i.bbox, box)]
    if not overlapping:
        shown = ", ".join(f"{i.id} {tuple(round(v, 3) for v in i.bbox)}" for i in items[:5])
        raise InvalidInputError(
            f"bbox={box}: no item overlaps it (items and their lon/lat bboxes: {shown}"
            f"{', ...' if len(items) > 5 else ''}); pass a bbox inside the items' extent"
        )
    return overlapping


def collect_assets(
    items: list[Any],
    *,
    bbox: Sequence[float],
    time: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None,
    collections: Sequence[str] | None = None,
    assets: Sequence[str] | None = None,
    name_fn: Callable[[Any, str], str] | None = None,
    verify: bool = True,
    skip: Callable[[Any], bool] | None = None,
) -> list[AssetRef]:
    """Filter items by collection, time and bbox; return their raster assets as AssetRefs.

    Items for which ``skip(item)`` is true (the ocean items, which the builder reads itself)
    are left out silently, and then no raster asset at all is not an error; other items
    without a raster asset are left out with a warning.

    Raises
    ------
    CatalogError
        Unknown collection or asset key (the valid ones are listed), or no raster asset (and
        no skipped item).
    InvalidInputError
        No item overlaps ``bbox``, or none falls in ``time``.
    DatasetNotFoundError
        An asset file is missing.
    DataIntegrityError
        An asset file cannot be decoded (corrupt or truncated).
    """
    overlapping = select_items(items, bbox=bbox, time=time, collections=collections)
    skipped = [i for i in overlapping if skip is not None and skip(i)]
    overlapping = [i for i in overlapping if not (skip is not None and skip(i))]
    refs: list[AssetRef] = []
    seen_keys: set[str] = set()
    no_raster: list[str] = []
    for it in overlapping:
        n_raster = 0
        for key, asset in it.assets.items():
            if not _is_raster(asset):
                continue
            n_raster += 1
            seen_keys.add(key)
            if assets and key not in assets:
                continue
            refs.append(_asset_ref(it, key, asset))
        if n_raster == 0:
            types = sorted(
                {
                    (a.media_type or Path(a.href).suffix or "?").split(";")[0]
                    for a in it.assets.values()
                }
            )
            no_raster.append(f"{it.id} ({it.collection_id}: {', '.join(types)})")
    if no_raster and (refs or skipped):
        warnings.warn(
            f"{len(no_raster)} item(s) overlapping the bbox were left out of the cube because "
            f"they have no single-band GeoTIFF/JP2 asset and are not ocean items (datacube "
            f"netCDF or ocean Zarr products): {'; '.join(no_raster)}. Select the collections "
            "to stack with collections=/--collections to silence this",
            EcocubeWarning,
            stacklevel=3,
        )
    if assets:
        missing = [a for a in assets if a not in seen_keys]
        if missing:
            raise CatalogError(
                f"assets={list(assets)!r}: {missing} not found in the selected items; "
                f"available raster assets: {sorted(seen_keys)}"
            )
    if not refs and not skipped:
        shown = "; ".join(no_raster[:5]) + ("; ..." if len(no_raster) > 5 else "")
        raise CatalogError(
            "the selected items have no raster (GeoTIFF/JP2) assets to build a cube from"
            + (f" (items without one: {shown})" if no_raster else "")
            + "; select raster collections with collections=/--collections"
        )
    if verify:
        for r in refs:
            check_asset(r)
    return _assign_variables(refs, name_fn)


def check_asset(ref: AssetRef) -> None:
    """Open a local asset and decode a decimated read of every block; raise a clear error."""
    import rasterio
    from rasterio.errors import RasterioError

    if not ref.is_local:
        return
    if not ref.path.is_file():
        raise DatasetNotFoundError(
            f"{ref.describe()}: file not found; fetch the data again (ecocube data fetch "
            "<dataset>) or rebuild the catalog so that its hrefs point to existing files"
        )
    try:
        with rasterio.open(ref.path) as src:
            h, w, count = src.height, src.width, src.count
            src.read(1, out_shape=(min(h, 1024), min(w, 1024)))
    except (RasterioError, OSError) as err:
        raise DataIntegrityError(
            f"{ref.describe()}: the file is corrupt or truncated ({err}); "
            "delete it and fetch it again (ecocube data fetch <dataset>), or leave the item out"
        ) from err
    if count != 1:
        raise InvalidInputError(
            f"{ref.describe()}: the file has {count} bands; cube layers are single-band assets "
            "(one STAC asset per band). Leave this asset out with assets=[...] or split the file"
        )


def source_resolution(ref: AssetRef, crs: Any) -> float:
    """Approximate source pixel size of ``ref`` in units of ``crs`` (geometric mean of x, y)."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(ref.path if ref.is_local else ref.href) as src:
        b = transform_bounds(src.crs, crs, *src.bounds)
        return float(np.sqrt(((b[2] - b[0]) / src.width) * ((b[3] - b[1]) / src.height)))


def sources_table(refs: Iterable[AssetRef]) -> list[dict[str, Any]]:
    """JSON-serialisable provenance rows (item, collection, asset, href, variable)."""
    return [
        {
            "item": r.item_id,
            "collection": r.collection,
            "asset": r.key,
            "href": r.href,
            "variable": r.variable,
            "checksum": r.checksum,
        }
        for r in refs
    ]
