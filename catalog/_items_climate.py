"""Items of the bioclimatic rasters: CHELSA V2.1 Costa Rica and WorldClim (dismo).

Each dataset is one item (a climatology has one period) with one single-band asset per
bioclim variable, so ``stackstac.stack`` yields one band per variable. The raw integer
encodings are described with ``raster:bands`` scale/offset (from the CHELSA V2.1 technical
specification, see the data MANIFEST), never rescaled in the files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pystac

from ecocube.catalog._assets import BandSpec, proj_fields, raster_asset
from ecocube.catalog._classes import WWF_BIOME_CLASSES
from ecocube.catalog._family import BuildContext

__all__ = ["CHELSA_BANDS", "chelsa_items", "worldclim_items"]

_K10 = {"scale": 0.1, "offset": -273.15, "unit": "°C"}
_C10 = {"scale": 0.1, "offset": 0.0, "unit": "°C"}
_P10 = {"scale": 0.1, "offset": 0.0, "unit": "kg m-2"}

#: CHELSA V2.1 bioclim variables: description and encoding (scale/offset to physical units).
CHELSA_BANDS: dict[str, tuple[str, dict]] = {
    "bio1": ("Mean annual air temperature", _K10),
    "bio2": ("Mean diurnal air temperature range", _C10),
    "bio3": (
        "Isothermality (bio2/bio7); stored as float32 = percent/10 in this crop",
        {"scale": 10.0, "offset": 0.0, "unit": "%"},
    ),
    "bio4": ("Temperature seasonality (standard deviation of monthly means x100)", _C10),
    "bio5": ("Mean daily maximum air temperature of the warmest month", _K10),
    "bio6": ("Mean daily minimum air temperature of the coldest month", _K10),
    "bio7": ("Annual range of air temperature", _C10),
    "bio8": ("Mean daily mean air temperature of the wettest quarter", _K10),
    "bio9": ("Mean daily mean air temperature of the driest quarter", _K10),
    "bio10": ("Mean daily mean air temperature of the warmest quarter", _K10),
    "bio11": ("Mean daily mean air temperature of the coldest quarter", _K10),
    "bio12": (
        "Annual precipitation amount (65535 = saturated/nodata in very wet cells)",
        {"scale": 0.1, "offset": 0.0, "unit": "kg m-2 year-1"},
    ),
    "bio13": ("Precipitation amount of the wettest month", _P10),
    "bio14": ("Precipitation amount of the driest month", _P10),
    "bio15": (
        "Precipitation seasonality (coefficient of variation)",
        {"scale": 0.1, "offset": 0.0, "unit": "%"},
    ),
    "bio16": ("Mean monthly precipitation amount of the wettest quarter", _P10),
    "bio17": ("Mean monthly precipitation amount of the driest quarter", _P10),
    "bio18": ("Mean monthly precipitation amount of the warmest quarter", _P10),
    "bio19": ("Mean monthly precipitation amount of the coldest quarter", _P10),
}


def _bio_key(var: str) -> int:
    return int(var[3:]) if var[3:].isdigit() else 99


def chelsa_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item, 19 assets ``bio1``..``bio19`` (uint16 nodata 65535; bio3 float32)."""
    item_id = "chelsa-v2.1-bioclim-1981-2010-costa-rica"
    assets: dict[str, pystac.Asset] = {}
    grid = None
    for var in sorted(CHELSA_BANDS, key=_bio_key):
        description, enc = CHELSA_BANDS[var]
        rel = f"CHELSA_{var}_1981-2010_V.2.1.tif"
        file, href = ctx.place(item_id, rel)
        nodata = None if var == "bio3" else 65535
        spec = BandSpec(name=var, description=description, nodata=nodata, **enc)
        assets[var], grid = raster_asset(
            file, href, title=f"CHELSA {var}: {description}", bands=[spec]
        )
    assert grid is not None
    item = pystac.Item(
        id=item_id,
        geometry=grid.wgs84_geometry,
        bbox=list(grid.wgs84_bbox),
        datetime=None,
        start_datetime=datetime(1981, 1, 1, tzinfo=UTC),
        end_datetime=datetime(2010, 12, 31, 23, 59, 59, tzinfo=UTC),
        properties={
            "title": "CHELSA V2.1 bioclimatic variables 1981-2010, Costa Rica crop",
            **proj_fields(grid),
        },
    )
    for key, asset in assets.items():
        item.add_asset(key, asset)
    return [item]


_WC: dict[str, tuple[str, dict[str, Any]]] = {
    "bio1": ("Annual mean temperature", {"scale": 0.1, "offset": 0.0, "unit": "°C"}),
    "bio5": ("Max temperature of warmest month", {"scale": 0.1, "offset": 0.0, "unit": "°C"}),
    "bio6": ("Min temperature of coldest month", {"scale": 0.1, "offset": 0.0, "unit": "°C"}),
    "bio7": ("Temperature annual range", {"scale": 0.1, "offset": 0.0, "unit": "°C"}),
    "bio8": ("Mean temperature of wettest quarter", {"scale": 0.1, "offset": 0.0, "unit": "°C"}),
    "bio12": ("Annual precipitation", {"scale": 1.0, "offset": 0.0, "unit": "mm"}),
    "bio16": ("Precipitation of wettest quarter", {"scale": 1.0, "offset": 0.0, "unit": "mm"}),
    "bio17": ("Precipitation of driest quarter", {"scale": 1.0, "offset": 0.0, "unit": "mm"}),
}


def worldclim_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item with the 8 WorldClim bioclim rasters of dismo plus the WWF ``biome`` map."""
    item_id = "worldclim-dismo-bioclim-south-america"
    assets: dict[str, pystac.Asset] = {}
    grid = None
    for var in sorted(_WC, key=_bio_key):
        description, enc = _WC[var]
        file, href = ctx.place(item_id, f"{var}.tif")
        spec = BandSpec(name=var, description=description, **enc)
        assets[var], grid = raster_asset(file, href, title=f"WorldClim {var}", bands=[spec])
    file, href = ctx.place(item_id, "biome.tif")
    spec = BandSpec(name="biome", description="WWF terrestrial biome", classes=WWF_BIOME_CLASSES)
    assets["biome"], grid = raster_asset(file, href, title="WWF biomes", bands=[spec])
    item = pystac.Item(
        id=item_id,
        geometry=grid.wgs84_geometry,
        bbox=list(grid.wgs84_bbox),
        datetime=None,
        start_datetime=datetime(1950, 1, 1, tzinfo=UTC),
        end_datetime=datetime(2000, 12, 31, 23, 59, 59, tzinfo=UTC),
        properties={
            "title": "WorldClim bioclim variables (0.5 degree) and WWF biomes from dismo",
            **proj_fields(grid),
        },
    )
    for key, asset in assets.items():
        item.add_asset(key, asset)
    return [item]
