"""Items of the land-cover maps: Costa Rica GAM land use 2020 and ESA WorldCover 2020/2021."""

from __future__ import annotations

from datetime import UTC, datetime

import pystac

from ecocube.catalog._assets import BandSpec, multihash_sha256, proj_fields, raster_asset
from ecocube.catalog._classes import WORLDCOVER_CLASSES, gam_landuse_classes
from ecocube.catalog._family import BuildContext

__all__ = ["gam_items", "worldcover_items"]


def gam_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item: the uint8 land-use map (EPSG:3857, 10 m) with its 8 classes (15 = nodata)."""
    item_id = "gam-landuse-2020-costa-rica"
    rel = "uso_suelo_gam_2020_10m_epsg3857.tif"
    file, href = ctx.place(item_id, rel)
    classes = gam_landuse_classes(ctx.path("uso_suelo_gam_2020_classes.csv"))
    spec = BandSpec(name="landuse", description="Land use / land cover class", classes=classes)
    asset, grid = raster_asset(
        file, href, title="GAM land-use map 2020 (10 m)", bands=[spec], roles=("data",)
    )
    csv_file, csv_href = ctx.place(item_id, "uso_suelo_gam_2020_classes.csv")
    table = pystac.Asset(
        href=csv_href,
        media_type="text/csv",
        title="Class table (Spanish levels 1-3, English gloss, pixel counts)",
        roles=["metadata"],
        extra_fields={
            "file:checksum": multihash_sha256(csv_file.sha256),
            "file:size": csv_file.size,
        },
    )
    item = pystac.Item(
        id=item_id,
        geometry=grid.wgs84_geometry,
        bbox=list(grid.wgs84_bbox),
        datetime=None,
        start_datetime=datetime(2020, 1, 1, tzinfo=UTC),
        end_datetime=datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC),
        properties={
            "title": "Land use of the Greater Metropolitan Area of Costa Rica, 2020",
            **proj_fields(grid),
        },
    )
    item.add_asset("landuse", asset)
    item.add_asset("classes", table)
    return [item]


def worldcover_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item per year (2020 v100, 2021 v200), asset ``map`` with the 11 WorldCover classes."""
    import rasterio

    items = []
    for year, version in ((2020, "v100"), (2021, "v200")):
        rel = f"ESA_WorldCover_10m_{year}_{version}_SaoTome_Map.tif"
        item_id = f"esa-worldcover-{year}-{version}-sao-tome"
        with rasterio.open(ctx.path(rel)) as src:
            tags = src.tags()
        file, href = ctx.place(item_id, rel)
        spec = BandSpec(name="map", description="Land cover class", classes=WORLDCOVER_CLASSES)
        asset, grid = raster_asset(file, href, title=f"WorldCover {year} map", bands=[spec])
        start = datetime.fromisoformat(tags["time_start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(tags["time_end"].replace("Z", "+00:00"))
        item = pystac.Item(
            id=item_id,
            geometry=grid.wgs84_geometry,
            bbox=list(grid.wgs84_bbox),
            datetime=None,
            start_datetime=start,
            end_datetime=end,
            properties={
                "title": tags.get("title", f"ESA WorldCover {year}"),
                "esa_worldcover:product_version": tags.get("product_version"),
                "esa_worldcover:product_tile": tags.get("product_tile"),
                **proj_fields(grid),
            },
        )
        item.add_asset("map", asset)
        items.append(item)
    return items
