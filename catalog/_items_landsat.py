"""Items of the Landsat 8 sets: 19 Collection-1 L1TP scenes (New York 2018) and one C2 L2 scene.

* L8NY18: one item per scene with 12 single-band assets (B1..B11, BQA). ``eo:cloud_cover`` is
  measured from the BQA band: the percentage of non-fill pixels (bit 0 clear) with the
  Collection-1 cloud bit (bit 4) set. The pixels are L1 digital numbers (no scale).
* C2 L2 Colombia: one item derived from the USGS STAC items shipped with the data (footprint,
  ``eo:cloud_cover``, sun angles), with relative hrefs and a ``proj:shape``/``proj:transform``
  read from the downsampled files (the USGS JSON describes the original 30 m grid).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac

from ecocube.catalog._assets import BandSpec, multihash_sha256, proj_fields, raster_asset
from ecocube.catalog._family import BuildContext

__all__ = ["bqa_cloud_cover", "c2l2_items", "l8ny18_items"]

#: Landsat 8 OLI/TIRS bands: common name, centre wavelength (µm), FWHM (µm).
L8_BANDS: dict[str, tuple[str, float, float]] = {
    "B1": ("coastal", 0.44, 0.02),
    "B2": ("blue", 0.48, 0.06),
    "B3": ("green", 0.56, 0.06),
    "B4": ("red", 0.655, 0.04),
    "B5": ("nir08", 0.865, 0.03),
    "B6": ("swir16", 1.61, 0.09),
    "B7": ("swir22", 2.2, 0.19),
    "B8": ("pan", 0.59, 0.17),
    "B9": ("cirrus", 1.37, 0.02),
    "B10": ("lwir11", 10.9, 0.59),
    "B11": ("lwir12", 12.0, 1.01),
}

_FILL_BIT = 1 << 0
_CLOUD_BIT = 1 << 4


def _conf(name: str, offset: int, description: str) -> dict:
    levels = ("not_determined", "low", "medium", "high")
    return {
        "name": name,
        "description": description,
        "offset": offset,
        "length": 2,
        "classes": [{"value": i, "name": n} for i, n in enumerate(levels)],
    }


#: Collection-1 BQA bit layout (classification:bitfields).
BQA_BITFIELDS = [
    {
        "name": "fill",
        "description": "Designated fill",
        "offset": 0,
        "length": 1,
        "classes": [{"value": 0, "name": "not_fill"}, {"value": 1, "name": "fill"}],
    },
    {
        "name": "cloud",
        "description": "Cloud",
        "offset": 4,
        "length": 1,
        "classes": [{"value": 0, "name": "not_cloud"}, {"value": 1, "name": "cloud"}],
    },
    _conf("cloud_confidence", 5, "Cloud confidence"),
    _conf("cloud_shadow_confidence", 7, "Cloud shadow confidence"),
    _conf("snow_ice_confidence", 9, "Snow/ice confidence"),
    _conf("cirrus_confidence", 11, "Cirrus confidence"),
]


def bqa_cloud_cover(bqa: np.ndarray) -> float:
    """Percentage (0-100) of non-fill pixels whose Collection-1 BQA cloud bit (4) is set."""
    valid = (bqa & _FILL_BIT) == 0
    n = int(valid.sum())
    if n == 0:
        return 0.0
    return round(100.0 * float(((bqa & _CLOUD_BIT) != 0)[valid].sum()) / n, 2)


_SCENE = re.compile(
    r"^(?P<scene>LC08_L1TP_(?P<path>\d{3})(?P<row>\d{3})_(?P<date>\d{8})_\d{8}_01_T1)/"
)


def l8ny18_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item per scene (19), assets ``B1``..``B11`` and ``BQA`` (all on their own grids)."""
    import rasterio

    by_scene: dict[str, list[str]] = defaultdict(list)
    for rel in sorted(ctx.files):
        m = _SCENE.match(rel)
        if m:
            by_scene[m["scene"]].append(rel)
    items = []
    for scene in sorted(by_scene):
        m = _SCENE.match(scene + "/")
        assert m is not None
        assets: dict[str, pystac.Asset] = {}
        grid = None
        for rel in by_scene[scene]:
            key = Path(rel).stem.rsplit("_", 1)[1]
            file, href = ctx.place(scene, rel)
            if key == "BQA":
                spec = BandSpec(name="BQA", description="Collection-1 quality band", nodata=1)
                asset, _ = raster_asset(
                    file, href, title="Quality assessment (BQA)", bands=[spec], with_proj=True
                )
                asset.extra_fields["classification:bitfields"] = BQA_BITFIELDS
                asset.roles = ["qa"]
                with rasterio.open(file.source) as src:
                    cloud = bqa_cloud_cover(src.read(1))
            else:
                common, center, fwhm = L8_BANDS[key]
                spec = BandSpec(
                    name=key,
                    description=f"Landsat 8 {key} L1 digital number",
                    common_name=common,
                    center_wavelength=center,
                    full_width_half_max=fwhm,
                    nodata=0,
                )
                asset, g = raster_asset(
                    file, href, title=f"Band {key}", bands=[spec], with_proj=True
                )
                if key == "B1":
                    grid = g
            assets[key] = asset
        assert grid is not None
        date = datetime.strptime(m["date"], "%Y%m%d").replace(tzinfo=UTC)
        item = pystac.Item(
            id=scene,
            geometry=grid.wgs84_geometry,
            bbox=list(grid.wgs84_bbox),
            datetime=date,
            properties={
                "title": f"Landsat 8 L1TP {m['path']}/{m['row']} {date.date()} (downsampled)",
                "platform": "landsat-8",
                "instruments": ["oli", "tirs"],
                "eo:cloud_cover": cloud,
                "landsat:wrs_path": m["path"],
                "landsat:wrs_row": m["row"],
                "landsat:collection_number": "01",
                **proj_fields(grid),
            },
        )
        for key in sorted(assets, key=lambda k: (k == "BQA", int(k[1:]) if k != "BQA" else 0)):
            item.add_asset(key, assets[key])
        items.append(item)
    return items


_C2_ID = "LC08_L2SP_008059_20191201_20200825_02_T1"

_C2_ASSETS: dict[str, tuple[str, BandSpec, tuple[str, ...]]] = {
    **{
        f"SR_B{i}": (
            f"Surface reflectance band {i}",
            BandSpec(
                name=f"SR_B{i}",
                description=f"Surface reflectance band {i}",
                common_name=L8_BANDS[f"B{i}"][0],
                center_wavelength=L8_BANDS[f"B{i}"][1],
                full_width_half_max=L8_BANDS[f"B{i}"][2],
                nodata=0,
                scale=2.75e-05,
                offset=-0.2,
            ),
            ("data", "reflectance"),
        )
        for i in range(1, 8)
    },
    "ST_B10": (
        "Surface temperature",
        BandSpec(
            name="ST_B10",
            description="Surface temperature (band 10)",
            common_name="lwir11",
            center_wavelength=10.9,
            nodata=0,
            scale=0.00341802,
            offset=149.0,
            unit="kelvin",
        ),
        ("data", "temperature"),
    ),
    "ST_QA": (
        "Surface temperature uncertainty",
        BandSpec(
            name="ST_QA", description="ST uncertainty", nodata=-9999, scale=0.01, unit="kelvin"
        ),
        ("qa",),
    ),
    "QA_PIXEL": (
        "Pixel quality assessment",
        BandSpec(name="QA_PIXEL", description="Pixel quality bits", nodata=1),
        ("qa", "cloud"),
    ),
    "QA_RADSAT": (
        "Radiometric saturation",
        BandSpec(name="QA_RADSAT", description="Radiometric saturation bits"),
        ("qa", "saturation"),
    ),
    "SR_QA_AEROSOL": (
        "Aerosol quality",
        BandSpec(name="SR_QA_AEROSOL", description="Aerosol quality bits", nodata=1),
        ("qa",),
    ),
}

#: Collection-2 QA_PIXEL bits used for masking.
QA_PIXEL_BITFIELDS = [
    {
        "name": name,
        "description": desc,
        "offset": off,
        "length": 1,
        "classes": [{"value": 0, "name": f"not_{name}"}, {"value": 1, "name": name}],
    }
    for name, desc, off in (
        ("fill", "Image data fill", 0),
        ("dilated_cloud", "Dilated cloud", 1),
        ("cirrus", "Cirrus (high confidence)", 2),
        ("cloud", "Cloud", 3),
        ("cloud_shadow", "Cloud shadow", 4),
        ("snow", "Snow", 5),
        ("clear", "Clear", 6),
        ("water", "Water", 7),
    )
]


def _bit(name: str, description: str, offset: int) -> dict:
    return {
        "name": name,
        "description": description,
        "offset": offset,
        "length": 1,
        "classes": [{"value": 0, "name": f"not_{name}"}, {"value": 1, "name": name}],
    }


#: Collection-2 QA_RADSAT bits: saturation of bands 1-7 and 9, terrain occlusion (USGS Landsat
#: 8-9 Collection 2 Level-2 Data Format Control Book, LSDS-1328, QA_RADSAT table).
QA_RADSAT_BITFIELDS = [
    *(_bit(f"b{i}_saturated", f"Band {i} data saturation", i - 1) for i in range(1, 8)),
    _bit("b9_saturated", "Band 9 data saturation", 8),
    _bit("terrain_occlusion", "Terrain occlusion", 11),
]

#: Collection-2 SR_QA_AEROSOL bits (Landsat 8/9 LaSRC; same DFCB, SR_QA_AEROSOL table).
SR_QA_AEROSOL_BITFIELDS = [
    _bit("fill", "Fill", 0),
    _bit("valid_retrieval", "Valid aerosol retrieval", 1),
    _bit("water", "Water", 2),
    _bit("interpolated", "Interpolated aerosol", 5),
    {
        "name": "aerosol_level",
        "description": "Aerosol level",
        "offset": 6,
        "length": 2,
        "classes": [
            {"value": i, "name": n} for i, n in enumerate(("climatology", "low", "medium", "high"))
        ],
    },
]

_C2_BITFIELDS = {
    "QA_PIXEL": QA_PIXEL_BITFIELDS,
    "QA_RADSAT": QA_RADSAT_BITFIELDS,
    "SR_QA_AEROSOL": SR_QA_AEROSOL_BITFIELDS,
}


def c2l2_items(ctx: BuildContext) -> list[pystac.Item]:
    """One item from the USGS SR/ST STAC JSON, pointing at the downsampled local files."""
    sr = json.loads(ctx.path(f"{_C2_ID}_SR_stac.json").read_text())
    st = json.loads(ctx.path(f"{_C2_ID}_ST_stac.json").read_text())
    mtl = json.loads(ctx.path(f"{_C2_ID}_MTL.json").read_text())["LANDSAT_METADATA_FILE"]
    attrs = mtl["IMAGE_ATTRIBUTES"]
    when = datetime.fromisoformat(
        f"{attrs['DATE_ACQUIRED']}T{attrs['SCENE_CENTER_TIME'][:15]}+00:00"
    ).astimezone(UTC)
    props = sr["properties"]
    assets: dict[str, pystac.Asset] = {}
    grid = None
    for key, (title, spec, roles) in _C2_ASSETS.items():
        file, href = ctx.place(_C2_ID, f"{_C2_ID}_{key}.TIF")
        asset, g = raster_asset(file, href, title=title, bands=[spec], roles=roles, with_proj=True)
        if key in _C2_BITFIELDS:
            asset.extra_fields["classification:bitfields"] = _C2_BITFIELDS[key]
        if key == "SR_B1":
            grid = g
        usgs = sr["assets"].get(f"{key}.TIF") or st["assets"].get(f"{key}.TIF") or {}
        if usgs.get("description"):
            asset.description = usgs["description"]
        assets[key] = asset
    assert grid is not None
    for key in ("MTL", "SR_stac", "ST_stac"):
        file, href = ctx.place(_C2_ID, f"{_C2_ID}_{key}.json")
        assets[key.lower().replace("_stac", "_usgs_stac")] = pystac.Asset(
            href=href,
            media_type="application/json",
            title={"MTL": "USGS MTL metadata (original 30 m grid)"}.get(
                key, f"USGS-provided STAC {key[:2]} item (STAC 0.7.0, remote hrefs)"
            ),
            roles=["metadata"],
            extra_fields={"file:checksum": multihash_sha256(file.sha256), "file:size": file.size},
        )
    item = pystac.Item(
        id=_C2_ID,
        geometry=sr["geometry"],
        bbox=sr["bbox"],
        datetime=when,
        properties={
            "title": "Landsat 8 C2 L2 (SR+ST) 008/059 2019-12-01, Colombia (downsampled 512 px)",
            "platform": "landsat-8",
            "instruments": ["oli", "tirs"],
            "eo:cloud_cover": float(props["eo:cloud_cover"]),
            "view:sun_azimuth": float(props["eo:sun_azimuth"]),
            "view:sun_elevation": float(props["eo:sun_elevation"]),
            "view:off_nadir": float(props.get("eo:off_nadir", 0)),
            "landsat:cloud_cover_land": float(props["landsat:cloud_cover_land"]),
            "landsat:wrs_path": f"{int(props['landsat:wrs_path']):03d}",
            "landsat:wrs_row": f"{int(props['landsat:wrs_row']):03d}",
            "landsat:scene_id": props["landsat:scene_id"],
            "landsat:collection_category": props["landsat:collection_category"],
            "landsat:collection_number": props["landsat:collection_number"],
            **proj_fields(grid),
        },
    )
    for key in sorted(assets):
        item.add_asset(key, assets[key])
    return [item]
