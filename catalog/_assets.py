"""Shared pieces of the item builders: asset files, checksums, grids, footprints and bands.

Every builder turns files of one registry dataset into :class:`pystac.Item` objects. The files
are placed next to their item JSON inside the catalog folder (hard link when the cache and the
catalog share a file system, copy otherwise), so every asset href is a bare relative file name
and the catalog folder can be moved or archived as a whole.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac

__all__ = [
    "EXT",
    "PREFIX_EXT",
    "AssetFile",
    "BandSpec",
    "GridInfo",
    "link_or_copy",
    "multihash_sha256",
    "new_item",
    "raster_asset",
    "read_grid",
]

#: Extension schema URIs written into ``stac_extensions`` (the versions pystac 1.15 writes).
EXT: dict[str, str] = {
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
    "datacube": "https://stac-extensions.github.io/datacube/v2.2.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "sci": "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
}

#: Field prefix -> extension name (key of :data:`EXT`) where the two differ.
PREFIX_EXT: dict[str, str] = {"cube": "datacube"}

GEOTIFF = "image/tiff; application=geotiff"
NETCDF = "application/netcdf"


@dataclass(frozen=True)
class AssetFile:
    """A registry file that becomes an asset.

    Attributes
    ----------
    source
        Verified local path (in the data cache).
    sha256
        Registry SHA-256 hex digest of the file.
    size
        Size in bytes.
    """

    source: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class BandSpec:
    """What the catalog says about one band beyond what the file stores.

    ``nodata``, ``scale`` and ``offset`` override the file's own values when not ``None``
    (CHELSA files, for example, carry no scale/offset and bio12 has no nodata tag).
    """

    name: str
    description: str = ""
    common_name: str | None = None
    center_wavelength: float | None = None
    full_width_half_max: float | None = None
    nodata: float | int | str | None = None
    scale: float | None = None
    offset: float | None = None
    unit: str | None = None
    classes: Sequence[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GridInfo:
    """Grid of a raster file read with rasterio."""

    epsg: int | None
    shape: tuple[int, int]
    transform: tuple[float, ...]
    bbox: tuple[float, float, float, float]
    count: int
    dtypes: tuple[str, ...]
    nodata: float | None
    resolution: float
    wgs84_bbox: tuple[float, float, float, float]
    wgs84_geometry: dict[str, Any]


def multihash_sha256(hex_digest: str) -> str:
    """Return the multihash of a SHA-256 digest (``1220`` + hex), as ``file:checksum`` wants."""
    return "1220" + hex_digest


def link_or_copy(source: Path, target: Path) -> Path:
    """Place ``source`` at ``target``: a hard link when possible, else a copy.

    A hard link costs no space and keeps the registry's bytes (and checksum); it fails across
    file systems, where the file is copied instead. An existing identical target is kept.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if os.path.samefile(source, target) or target.stat().st_size == source.stat().st_size:
            return target
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def _footprint(bounds: tuple[float, float, float, float], crs: Any) -> tuple[Any, Any]:
    """WGS84 bbox and polygon of a projected bounding box (densified edges)."""
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping, shape

    poly = mapping(box(*bounds))
    if crs is not None and crs.to_epsg() != 4326:
        poly = transform_geom(crs, "EPSG:4326", poly, antimeridian_cutting=True, precision=7)
    geom = shape(poly)
    minx, miny, maxx, maxy = geom.bounds
    return (
        tuple(round(v, 7) for v in (minx, miny, maxx, maxy)),
        mapping(geom),
    )


def read_grid(path: Path) -> GridInfo:
    """Read the grid (CRS, shape, transform, footprint) of a raster file."""
    import rasterio

    with rasterio.open(path) as src:
        crs = src.crs
        epsg = crs.to_epsg() if crs is not None else None
        if epsg is None and crs is not None and crs.to_string().upper() in ("OGC:CRS84",):
            epsg = 4326
        wbbox, wgeom = _footprint(tuple(src.bounds), crs)
        geom = {"type": wgeom["type"], "coordinates": _as_lists(wgeom["coordinates"])}
        return GridInfo(
            epsg=epsg,
            shape=(src.height, src.width),
            transform=tuple(float(v) for v in list(src.transform)[:6]),
            bbox=(
                float(src.bounds.left),
                float(src.bounds.bottom),
                float(src.bounds.right),
                float(src.bounds.top),
            ),
            count=src.count,
            dtypes=tuple(src.dtypes),
            nodata=src.nodata,
            resolution=float(abs(src.transform.a)),
            wgs84_bbox=wbbox,
            wgs84_geometry=geom,
        )


def _as_lists(coords: Any) -> Any:
    if isinstance(coords, list | tuple):
        return [_as_lists(c) for c in coords]
    return round(float(coords), 7)


def proj_fields(grid: GridInfo) -> dict[str, Any]:
    """Projection extension fields: both ``proj:code`` and ``proj:epsg`` (older readers)."""
    out: dict[str, Any] = {}
    if grid.epsg is not None:
        out["proj:code"] = f"EPSG:{grid.epsg}"
        out["proj:epsg"] = grid.epsg
    out["proj:shape"] = list(grid.shape)
    out["proj:transform"] = list(grid.transform)
    out["proj:bbox"] = list(grid.bbox)
    return out


def _nodata_value(value: float | int | str | None) -> float | int | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value != value:  # NaN
        return "nan"
    if float(value).is_integer() and abs(value) < 2**63:
        return int(value)
    return float(value)


def raster_asset(
    file: AssetFile,
    href: str,
    *,
    title: str,
    bands: Sequence[BandSpec],
    roles: Sequence[str] = ("data",),
    grid: GridInfo | None = None,
    with_proj: bool = False,
) -> tuple[pystac.Asset, GridInfo]:
    """Build a GeoTIFF asset with ``raster:bands``, ``eo:bands``, classes and ``file:*`` fields.

    Parameters
    ----------
    file
        The registry file (its checksum goes to ``file:checksum``).
    href
        Relative href of the file inside the catalog (next to the item).
    bands
        One :class:`BandSpec` per band of the file, in file order.
    with_proj
        Also write ``proj:*`` on the asset (for items whose assets are on different grids).

    Returns
    -------
    (pystac.Asset, GridInfo)
    """
    from ecocube.errors import CatalogError

    grid = grid or read_grid(file.source)
    if len(bands) != grid.count:
        raise CatalogError(
            f"{file.source.name}: {grid.count} band(s) in the file but {len(bands)} described; "
            "fix the band table of its item builder"
        )
    extra: dict[str, Any] = {}
    raster_bands = []
    eo_bands = []
    for spec, dtype in zip(bands, grid.dtypes, strict=True):
        rb: dict[str, Any] = {"data_type": dtype, "spatial_resolution": grid.resolution}
        nodata = spec.nodata if spec.nodata is not None else grid.nodata
        if nodata is not None:
            rb["nodata"] = _nodata_value(nodata)
        if spec.scale is not None:
            rb["scale"] = spec.scale
        if spec.offset is not None:
            rb["offset"] = spec.offset
        if spec.unit:
            rb["unit"] = spec.unit
        if spec.classes is not None:
            rb["classification:classes"] = list(spec.classes)
        raster_bands.append(rb)
        eb: dict[str, Any] = {"name": spec.name}
        if spec.description:
            eb["description"] = spec.description
        if spec.common_name:
            eb["common_name"] = spec.common_name
        if spec.center_wavelength is not None:
            eb["center_wavelength"] = spec.center_wavelength
        if spec.full_width_half_max is not None:
            eb["full_width_half_max"] = spec.full_width_half_max
        eo_bands.append(eb)
    extra["raster:bands"] = raster_bands
    extra["eo:bands"] = eo_bands
    if len(bands) == 1 and bands[0].classes is not None:
        extra["classification:classes"] = list(bands[0].classes)
    extra["file:checksum"] = multihash_sha256(file.sha256)
    extra["file:size"] = file.size
    if with_proj:
        extra.update(proj_fields(grid))
    asset = pystac.Asset(
        href=href, media_type=GEOTIFF, title=title, roles=list(roles), extra_fields=extra
    )
    return asset, grid


def new_item(
    item_id: str,
    *,
    geometry: dict[str, Any],
    bbox: Sequence[float],
    datetime_: datetime | None,
    start: datetime | None = None,
    end: datetime | None = None,
    properties: dict[str, Any] | None = None,
) -> pystac.Item:
    """A :class:`pystac.Item` with a single datetime or a start/end range.

    Raises
    ------
    CatalogError
        ``datetime_`` is ``None`` and ``start`` or ``end`` is missing.
    """
    from ecocube.errors import CatalogError

    props = dict(properties or {})
    if datetime_ is None:
        if start is None or end is None:
            raise CatalogError(
                f"item {item_id!r} has no datetime: give datetime_ or both start and end"
            )
        props["start_datetime"] = pystac.utils.datetime_to_str(start)
        props["end_datetime"] = pystac.utils.datetime_to_str(end)
    return pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=list(bbox),
        datetime=datetime_,
        start_datetime=start,
        end_datetime=end,
        properties=props,
    )


def declare_extensions(obj: pystac.Item | pystac.Collection) -> None:
    """Add the schema URI of every extension whose fields appear in ``obj``, sorted."""
    d = obj.to_dict(include_self_link=False, transform_hrefs=False)
    text_keys: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if isinstance(k, str) and ":" in k:
                    text_keys.add(k.split(":", 1)[0])
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk({k: v for k, v in d.items() if k not in ("links",)})
    uris = {EXT[PREFIX_EXT.get(p, p)] for p in text_keys if PREFIX_EXT.get(p, p) in EXT}
    obj.stac_extensions = sorted(set(obj.stac_extensions) | uris)
