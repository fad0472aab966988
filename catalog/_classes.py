"""Class tables of the categorical rasters (classification extension v2.0.0 objects)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

__all__ = [
    "SCL_CLASSES",
    "WORLDCOVER_CLASSES",
    "WWF_BIOME_CLASSES",
    "classes",
    "gam_landuse_classes",
]


def _slug(text: str) -> str:
    """A class ``name`` matching the extension's pattern ``^[0-9A-Za-z-_]+$``."""
    return re.sub(r"[^0-9A-Za-z]+", "_", text.lower()).strip("_")


def classes(rows: list[tuple[int, str, str | None]], *, nodata: int | None = None) -> list[dict]:
    """Classification objects from ``(value, description, colour hex or None)`` rows."""
    out: list[dict[str, Any]] = []
    for value, description, color in rows:
        c: dict[str, Any] = {"value": int(value), "name": _slug(description)}
        c["description"] = description
        if color:
            c["color_hint"] = color.upper()
        out.append(c)
    if nodata is not None:
        out.append(
            {"value": int(nodata), "name": "nodata", "description": "No data", "nodata": True}
        )
    return out


#: Sentinel-2 L2A scene classification (Sen2Cor SCL), values 0-11; 0 is nodata.
SCL_CLASSES = classes(
    [
        (0, "No data", "000000"),
        (1, "Saturated or defective", "FF0000"),
        (2, "Dark area pixels", "2F2F2F"),
        (3, "Cloud shadows", "643200"),
        (4, "Vegetation", "00A000"),
        (5, "Not vegetated", "FFE65A"),
        (6, "Water", "0000FF"),
        (7, "Unclassified", "808080"),
        (8, "Cloud medium probability", "C0C0C0"),
        (9, "Cloud high probability", "FFFFFF"),
        (10, "Thin cirrus", "64C8FF"),
        (11, "Snow or ice", "FF96FF"),
    ]
)
SCL_CLASSES[0]["nodata"] = True

#: SCL values counted as cloud for ``eo:cloud_cover`` (medium/high probability, thin cirrus).
SCL_CLOUD_VALUES = (8, 9, 10)

#: ESA WorldCover 10 m classes (v100/v200 legend and colours); 0 is nodata.
WORLDCOVER_CLASSES = classes(
    [
        (10, "Tree cover", "006400"),
        (20, "Shrubland", "FFBB22"),
        (30, "Grassland", "FFFF4C"),
        (40, "Cropland", "F096FF"),
        (50, "Built-up", "FA0000"),
        (60, "Bare / sparse vegetation", "B4B4B4"),
        (70, "Snow and ice", "F0F0F0"),
        (80, "Permanent water bodies", "0064C8"),
        (90, "Herbaceous wetland", "0096A0"),
        (95, "Mangroves", "00CF75"),
        (100, "Moss and lichen", "FAE6A0"),
    ],
    nodata=0,
)

#: WWF terrestrial biomes (Olson et al. 2001) as coded in dismo's ``biome`` raster; 255 nodata.
WWF_BIOME_CLASSES = classes(
    [
        (1, "Tropical and subtropical moist broadleaf forests", None),
        (2, "Tropical and subtropical dry broadleaf forests", None),
        (3, "Tropical and subtropical coniferous forests", None),
        (4, "Temperate broadleaf and mixed forests", None),
        (5, "Temperate conifer forests", None),
        (6, "Boreal forests taiga", None),
        (7, "Tropical and subtropical grasslands savannas and shrublands", None),
        (8, "Temperate grasslands savannas and shrublands", None),
        (9, "Flooded grasslands and savannas", None),
        (10, "Montane grasslands and shrublands", None),
        (11, "Tundra", None),
        (12, "Mediterranean forests woodlands and scrub", None),
        (13, "Deserts and xeric shrublands", None),
        (14, "Mangroves", None),
    ],
    nodata=255,
)


def gam_landuse_classes(csv_path: Path) -> list[dict[str, Any]]:
    """Classes of the Costa Rica GAM land-use map, read from its class table CSV.

    The English gloss (``class_en``) becomes the description, the Spanish level-3 name (or
    level-2 when level 3 is empty) is kept in ``title``; 15 (outside the mapped area) is nodata.
    """
    rows = []
    with Path(csv_path).open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            value = int(rec["value"])
            c = {"value": value, "name": _slug(rec["class_en"]), "description": rec["class_en"]}
            c["title"] = rec["NIVEL_3"] or rec["NIVEL_2"]
            rows.append(c)
    rows.sort(key=lambda c: c["value"])
    rows.append(
        {
            "value": 15,
            "name": "outside_area",
            "description": "Outside the mapped area",
            "nodata": True,
        }
    )
    return rows
