"""Small seeded factories for tests: synthetic GeoTIFFs, STAC items and cubes, and STAC items
for the registry's real rasters (used when no catalog is at hand).

Examples
--------
>>> from ecocube.cube.testing import synthetic_raster, item_from_raster
>>> path = synthetic_raster(tmp_path / "a.tif", seed=0)  # doctest: +SKIP
>>> item = item_from_raster(path, collection="demo")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "CHELSA_SCALING",
    "chelsa_items",
    "emilia_items",
    "gam_landuse_items",
    "item_from_raster",
    "l8ny18_items",
    "synthetic_cube",
    "synthetic_raster",
]

#: CHELSA V2.1 bioclim encodings (scale, offset, nodata, units), from the CHELSA technical
#: specification (see the data MANIFEST): bio1/5/6/8-11 are K/10, the others x0.1.
CHELSA_SCALING: dict[str, tuple[float, float, float | None, str]] = {
    **{f"bio{i}": (0.1, -273.15, 65535.0, "degC") for i in (1, 5, 6, 8, 9, 10, 11)},
    "bio2": (0.1, 0.0, 65535.0, "degC"),
    "bio3": (1.0, 0.0, 3.4e38, "1"),
    "bio4": (0.1, 0.0, 65535.0, "degC"),
    "bio7": (0.1, 0.0, 65535.0, "degC"),
    **{f"bio{i}": (0.1, 0.0, 65535.0, "kg m-2") for i in (12, 13, 14, 16, 17, 18, 19)},
    "bio15": (0.1, 0.0, 65535.0, "1"),
}


def synthetic_raster(
    path: Path | str,
    *,
    width: int = 32,
    height: int = 24,
    crs: str = "EPSG:32632",
    origin: tuple[float, float] = (600_000.0, 5_100_000.0),
    resolution: float = 10.0,
    dtype: str = "uint16",
    nodata: float | None = 0,
    seed: int = 0,
    values: np.ndarray | None = None,
    classes: Sequence[int] | None = None,
    count: int = 1,
) -> Path:
    """Write a small seeded GeoTIFF and return its path.

    Values are uniform integers in ``[1, 1000)`` unless ``values`` (shape ``(count, height,
    width)`` or ``(height, width)``) or ``classes`` (codes drawn uniformly) is given.
    """
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(seed)
    if values is None:
        if classes is not None:
            values = rng.choice(np.asarray(classes), size=(count, height, width))
        else:
            values = rng.integers(1, 1000, size=(count, height, width))
    values = np.asarray(values)
    if values.ndim == 2:
        values = values[None]
    count, height, width = values.shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "crs": crs,
        "transform": Affine.translation(*origin) @ Affine.scale(resolution, -resolution),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(dtype))
    return path


def synthetic_cube(dates: int = 3) -> xr.Dataset:
    """A tiny in-memory cube on EPSG:4326 for tests of code that reads cubes.

    The grid is 4 x 5 pixels of 1 degree (pixel centres ``x`` 0.5..4.5, ``y`` 3.5..0.5).
    ``ndvi`` ``(time, y, x)`` holds ``0, 1, 2, ...`` in C order over ``dates`` monthly dates
    from 2020-01-01; ``elev`` ``(y, x)`` is 7 everywhere. Both are float32.
    """
    import pandas as pd
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    times = pd.date_range("2020-01-01", periods=dates, freq="MS")
    vals = np.arange(dates * 4 * 5, dtype="float32").reshape(dates, 4, 5)
    ds = xr.Dataset(
        {
            "ndvi": (("time", "y", "x"), vals),
            "elev": (("y", "x"), np.full((4, 5), 7.0, dtype="float32")),
        },
        coords={"time": times, "y": [3.5, 2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5, 4.5]},
    )
    return ds.rio.write_crs("EPSG:4326")


def item_from_raster(
    path: Path | str,
    *,
    collection: str,
    item_id: str | None = None,
    asset_key: str = "data",
    when: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    nodata: float | None = None,
    scale: float | None = None,
    offset: float | None = None,
    unit: str | None = None,
    classes: Sequence[tuple[int, str]] | None = None,
    common_name: str | None = None,
    extra_assets: dict[str, Path | str] | None = None,
    use_proj_code: bool = True,
) -> Any:
    """A ``pystac.Item`` for a single-band GeoTIFF with proj, raster and classification fields.

    Parameters
    ----------
    path
        The GeoTIFF; its footprint, CRS and transform fill the ``proj`` fields.
    use_proj_code
        Write ``proj:code`` (STAC proj v2); ``False`` writes the older ``proj:epsg``.
    extra_assets
        More single-band files of the same item (same grid not required), by asset key.
    """
    import pystac
    import rasterio
    from rasterio.warp import transform_bounds
    from shapely.geometry import box, mapping

    path = Path(path)
    with rasterio.open(path) as src:
        bbox = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        epsg = src.crs.to_epsg()
        if nodata is None:
            nodata = src.nodata
    if when is None and start is None:
        when = datetime(2020, 1, 1, tzinfo=UTC)
    props: dict[str, Any] = {}
    if start is not None:
        props["start_datetime"] = start.isoformat()
        props["end_datetime"] = (end or start).isoformat()
    item = pystac.Item(
        id=item_id or path.stem,
        geometry=mapping(box(*bbox)),
        bbox=list(bbox),
        datetime=when,
        properties=props,
        collection=collection,
    )
    for key, p in {asset_key: path, **(extra_assets or {})}.items():
        with rasterio.open(p) as src:
            fields: dict[str, Any] = {
                "proj:shape": [src.height, src.width],
                "proj:transform": list(src.transform)[:6],
            }
            code = src.crs.to_epsg()
            if use_proj_code:
                fields["proj:code"] = f"EPSG:{code}"
            else:
                fields["proj:epsg"] = code
            band: dict[str, Any] = {"data_type": src.dtypes[0]}
            nd = nodata if key == asset_key else src.nodata
            if nd is not None:
                band["nodata"] = nd
        if key == asset_key:
            if scale is not None:
                band["scale"] = scale
            if offset is not None:
                band["offset"] = offset
            if unit is not None:
                band["unit"] = unit
            if classes is not None:
                fields["classification:classes"] = [
                    {"value": int(v), "description": d} for v, d in classes
                ]
            if common_name is not None:
                fields["eo:bands"] = [{"name": key, "common_name": common_name}]
        fields["raster:bands"] = [band]
        item.add_asset(
            key,
            pystac.Asset(
                href=str(Path(p).resolve()),
                media_type=pystac.MediaType.GEOTIFF,
                roles=["data"],
                extra_fields=fields,
            ),
        )
    del epsg
    return item


def chelsa_items(bands: Sequence[int] = tuple(range(1, 20))) -> list[Any]:
    """STAC items for the registry's CHELSA Costa Rica rasters: one item per bioclim layer,
    asset key ``bio<i>`` (the catalog puts the 19 assets in one item; both give the same cube)."""
    from ecocube import data

    folder = Path(data.fetch("chelsa_costa_rica"))
    out = []
    for i in bands:
        name = f"bio{i}"
        scale, offset, nodata, unit = CHELSA_SCALING[name]
        out.append(
            item_from_raster(
                folder / f"CHELSA_{name}_1981-2010_V.2.1.tif",
                collection="chelsa-costa-rica",
                item_id=f"CHELSA_{name}_1981-2010_V.2.1",
                asset_key=name,
                start=datetime(1981, 1, 1, tzinfo=UTC),
                end=datetime(2010, 12, 31, tzinfo=UTC),
                when=datetime(1995, 12, 31, tzinfo=UTC),
                nodata=nodata,
                scale=scale,
                offset=offset,
                unit=unit,
            )
        )
    return out


def gam_landuse_items() -> list[Any]:
    """The GAM 2020 land-use map (categorical, classification extension) as one item."""
    import pandas as pd

    from ecocube import data

    folder = Path(data.fetch("landcover_gam_costa_rica"))
    table = pd.read_csv(folder / "uso_suelo_gam_2020_classes.csv")
    classes = [(int(v), str(n)) for v, n in zip(table["value"], table["class_en"], strict=True)]
    return [
        item_from_raster(
            folder / "uso_suelo_gam_2020_10m_epsg3857.tif",
            collection="landcover-gam-costa-rica",
            item_id="uso_suelo_gam_2020",
            asset_key="landuse",
            when=datetime(2020, 5, 26, tzinfo=UTC),
            nodata=15,
            classes=classes,
        )
    ]


_SCL_CLASSES = [
    (0, "no data"),
    (1, "saturated or defective"),
    (2, "dark area pixels"),
    (3, "cloud shadows"),
    (4, "vegetation"),
    (5, "not vegetated"),
    (6, "water"),
    (7, "unclassified"),
    (8, "cloud medium probability"),
    (9, "cloud high probability"),
    (10, "thin cirrus"),
    (11, "snow"),
]


def emilia_items(limit: int | None = None) -> list[Any]:
    """The Emilia-Romagna Sentinel-2 NDVI + SCL series: one item per date, assets NDVI and SCL."""
    from ecocube import data

    folder = Path(data.fetch("s2_emilia_ndvi_scl"))
    out = []
    for ndvi in sorted((folder / "NDVI").glob("*.tif")):
        m = re.match(r"(S2[AB])2A_(\d{8})_", ndvi.name)
        if m is None:
            continue
        scl = folder / "SCL" / ndvi.name.replace("_NDVI_", "_SCL_")
        it = item_from_raster(
            ndvi,
            collection="s2-emilia",
            item_id=f"{m.group(1)}_{m.group(2)}",
            asset_key="NDVI",
            when=datetime.strptime(m.group(2), "%Y%m%d").replace(tzinfo=UTC),
            scale=1e-4,
            extra_assets={"SCL": scl},
        )
        it.assets["SCL"].extra_fields["classification:classes"] = [
            {"value": v, "description": d, **({"nodata": True} if v == 0 else {})}
            for v, d in _SCL_CLASSES
        ]
        out.append(it)
    return out[:limit] if limit else out


def l8ny18_items(scenes: int | None = None) -> list[Any]:
    """Landsat 8 C1 L1TP New York scenes: assets B4 (red), B5 (nir) and BQA."""
    from ecocube import data

    folder = Path(data.fetch("landsat_l8ny18"))
    out = []
    for scene in sorted(p for p in folder.iterdir() if p.is_dir())[:scenes]:
        date = scene.name.split("_")[3]
        stem = "_".join(scene.name.split("_")[:4])
        files = {b: scene / f"{stem}_{b}.TIF" for b in ("B4", "B5", "BQA")}
        it = item_from_raster(
            files["B4"],
            collection="landsat-l8ny18",
            item_id=scene.name,
            asset_key="B4",
            when=datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC),
            common_name="red",
            extra_assets={"B5": files["B5"], "BQA": files["BQA"]},
        )
        it.assets["B5"].extra_fields["eo:bands"] = [{"name": "B5", "common_name": "nir"}]
        out.append(it)
    return out
