"""Items of the Sentinel-2 L2A sets: South Tyrol (1 date), Barbellino (2 dates), Emilia (60 dates).

Reflectance is stored as DN = reflectance x 10000 (``raster:bands`` scale 1e-4). Every item gets
an ``eo:cloud_cover`` computed from its own scene classification (SCL) pixels: the percentage of
valid (non-zero) SCL pixels classed as cloud medium/high probability or thin cirrus (8, 9, 10).
Acquisition times are not in the files, so ``datetime`` is the acquisition date at 00:00 UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac

from ecocube.catalog._assets import BandSpec, multihash_sha256, proj_fields, raster_asset
from ecocube.catalog._classes import SCL_CLASSES, SCL_CLOUD_VALUES
from ecocube.catalog._family import BuildContext

__all__ = ["S2_BANDS", "barbellino_items", "emilia_items", "scl_cloud_cover", "south_tyrol_items"]

#: Sentinel-2 MSI bands: common name, centre wavelength and FWHM (µm).
S2_BANDS: dict[str, tuple[str, float, float]] = {
    "B01": ("coastal", 0.443, 0.027),
    "B02": ("blue", 0.490, 0.098),
    "B03": ("green", 0.560, 0.045),
    "B04": ("red", 0.665, 0.038),
    "B05": ("rededge", 0.704, 0.019),
    "B06": ("rededge", 0.740, 0.018),
    "B07": ("rededge", 0.783, 0.028),
    "B08": ("nir", 0.842, 0.145),
    "B8A": ("nir08", 0.865, 0.033),
    "B09": ("nir09", 0.945, 0.026),
    "B10": ("cirrus", 1.375, 0.075),
    "B11": ("swir16", 1.610, 0.143),
    "B12": ("swir22", 2.190, 0.242),
}


def _refl(name: str, *, nodata: int, kind: str = "surface reflectance") -> BandSpec:
    common, center, fwhm = S2_BANDS[name]
    return BandSpec(
        name=name,
        description=f"{name} {kind} x 10000",
        common_name=common,
        center_wavelength=center,
        full_width_half_max=fwhm,
        nodata=nodata,
        scale=1e-4,
        offset=0.0,
    )


def _scl_band() -> BandSpec:
    return BandSpec(name="SCL", description="Scene classification (Sen2Cor)", classes=SCL_CLASSES)


def scl_cloud_cover(values: np.ndarray) -> float:
    """Percentage (0-100) of valid SCL pixels (value != 0) classed 8, 9 or 10."""
    valid = values != 0
    n = int(valid.sum())
    if n == 0:
        return 0.0
    cloudy = np.isin(values, SCL_CLOUD_VALUES) & valid
    return round(100.0 * float(cloudy.sum()) / n, 2)


def _read_band(path: Path, band: int = 1) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(band)


def south_tyrol_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item (2022-06-12), one 5-band asset: B04, B03, B02, B08 and SCL."""
    item_id = "s2-l2a-20220612-south-tyrol"
    rel = "S2_L2A_sample.tif"
    file, href = ctx.place(item_id, rel)
    bands = [_refl(b, nodata=0) for b in ("B04", "B03", "B02", "B08")] + [_scl_band()]
    asset, grid = raster_asset(
        file, href, title="B04, B03, B02, B08 reflectance and SCL", bands=bands
    )
    cloud = scl_cloud_cover(_read_band(ctx.path(rel), 5))
    item = pystac.Item(
        id=item_id,
        geometry=grid.wgs84_geometry,
        bbox=list(grid.wgs84_bbox),
        datetime=datetime(2022, 6, 12, tzinfo=UTC),
        properties={
            "title": "Sentinel-2 L2A, Bolzano (South Tyrol), 2022-06-12",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud,
            **proj_fields(grid),
        },
    )
    item.add_asset("data", asset)
    return [item]


_BOA = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
_TOA = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12")


def barbellino_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item per date with ``boa`` (11 bands), ``scl`` (20 m) and ``toa`` (L1C, 12 bands)."""
    items = []
    for date in ("20170703", "20190723"):
        item_id = f"s2-l2a-{date}-barbellino"
        assets = {}
        file, href = ctx.place(item_id, f"S2A2A_{date}_022_Barbellino_BOA_10.tif")
        assets["boa"], grid = raster_asset(
            file,
            href,
            title="L2A bottom-of-atmosphere reflectance (11 bands, 10 m)",
            bands=[_refl(b, nodata=65535) for b in _BOA],
            with_proj=True,
        )
        scl_rel = f"S2A2A_{date}_022_Barbellino_SCL_10.tif"
        file, href = ctx.place(item_id, scl_rel)
        assets["scl"], _ = raster_asset(
            file, href, title="Scene classification (20 m)", bands=[_scl_band()], with_proj=True
        )
        file, href = ctx.place(item_id, f"S2A1C_{date}_022_Barbellino_TOA_10.tif")
        assets["toa"], _ = raster_asset(
            file,
            href,
            title="L1C top-of-atmosphere reflectance (12 bands, 10 m)",
            bands=[_refl(b, nodata=65535, kind="TOA reflectance") for b in _TOA],
            with_proj=True,
        )
        item = pystac.Item(
            id=item_id,
            geometry=grid.wgs84_geometry,
            bbox=list(grid.wgs84_bbox),
            datetime=datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC),
            properties={
                "title": f"Sentinel-2A L2A, Lake Barbellino, {date[:4]}-{date[4:6]}-{date[6:]}",
                "platform": "sentinel-2a",
                "constellation": "sentinel-2",
                "instruments": ["msi"],
                "eo:cloud_cover": scl_cloud_cover(_read_band(ctx.path(scl_rel))),
                **proj_fields(grid),
            },
        )
        for key in sorted(assets):
            item.add_asset(key, assets[key])
        aoi_file, aoi_href = ctx.place(item_id, "barbellino.geojson")
        item.add_asset(
            "aoi",
            pystac.Asset(
                href=aoi_href,
                media_type="application/geo+json",
                title="Area of interest",
                roles=["metadata"],
                extra_fields={
                    "file:checksum": multihash_sha256(aoi_file.sha256),
                    "file:size": aoi_file.size,
                },
            ),
        )
        items.append(item)
    return items


_EMILIA = re.compile(r"S2(?P<sat>[AB])2A_(?P<date>\d{8})_022_sampleroi_NDVI_10\.tif$")


def emilia_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item per date (60), assets ``ndvi`` (x 10000, int16) and ``scl``."""
    items = []
    for rel in sorted(ctx.files):
        m = _EMILIA.search(rel)
        if not m or not rel.startswith("NDVI/"):
            continue
        sat, date = m["sat"], m["date"]
        item_id = f"s2-l2a-{date}-emilia"
        scl_rel = f"SCL/S2{sat}2A_{date}_022_sampleroi_SCL_10.tif"
        file, href = ctx.place(item_id, rel)
        ndvi = BandSpec(
            name="NDVI",
            description="Normalised difference vegetation index x 10000",
            nodata=-32768,
            scale=1e-4,
            offset=0.0,
        )
        ndvi_asset, grid = raster_asset(
            file, href, title="NDVI (10 m)", bands=[ndvi], with_proj=True
        )
        file, href = ctx.place(item_id, scl_rel)
        scl_asset, _ = raster_asset(
            file, href, title="Scene classification (20 m)", bands=[_scl_band()], with_proj=True
        )
        item = pystac.Item(
            id=item_id,
            geometry=grid.wgs84_geometry,
            bbox=list(grid.wgs84_bbox),
            datetime=datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC),
            properties={
                "title": f"Sentinel-2{sat} L2A NDVI and SCL, Jolanda di Savoia, {date}",
                "platform": f"sentinel-2{sat.lower()}",
                "constellation": "sentinel-2",
                "instruments": ["msi"],
                "eo:cloud_cover": scl_cloud_cover(_read_band(ctx.path(scl_rel))),
                **proj_fields(grid),
            },
        )
        item.add_asset("ndvi", ndvi_asset)
        item.add_asset("scl", scl_asset)
        items.append(item)
    return items
