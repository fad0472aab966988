"""Build the self-contained static STAC catalog of the registry datasets."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pystac

from ecocube._atomic import check_replaceable, swap_into_place, temporary_sibling
from ecocube.catalog._assets import AssetFile, declare_extensions
from ecocube.catalog._cube_items import CUBES_COLLECTION_ID
from ecocube.catalog._family import BuildContext, Family
from ecocube.catalog._items_climate import chelsa_items, worldclim_items
from ecocube.catalog._items_landcover import gam_items, worldcover_items
from ecocube.catalog._items_landsat import c2l2_items, l8ny18_items
from ecocube.catalog._items_ocean import global_cesm_items, north_atlantic_items
from ecocube.catalog._items_sentinel2 import barbellino_items, emilia_items, south_tyrol_items
from ecocube.catalog._ocean_items import REGISTERED_OCEAN_COLLECTIONS
from ecocube.errors import CatalogError, InvalidInputError

__all__ = ["CATALOG_ID", "FAMILIES", "REGISTERED_COLLECTIONS", "build_catalog", "catalog_datasets"]

CATALOG_ID = "ecocube"
#: What marks a folder of ``out_dir`` as a collection written here (only such are replaced).
_COLLECTION_MARKERS = ("collection.json",)

_COPERNICUS = "Contains modified Copernicus Sentinel data"
#: Collections of registered stores (cubes, ocean products), written next to the registry
#: collections by the register helpers; a rebuild never touches them and links them again.
REGISTERED_COLLECTIONS: tuple[str, ...] = (CUBES_COLLECTION_ID, *REGISTERED_OCEAN_COLLECTIONS)

#: Collections of the catalog, in the order they are written.
FAMILIES: tuple[Family, ...] = (
    Family(
        collection_id="chelsa-costa-rica",
        dataset="chelsa_costa_rica",
        title="CHELSA V2.1 bioclim, Costa Rica",
        description=(
            "19 CHELSA V2.1 bioclimatic variables (1981-2010, 30 arc-sec) cropped to Costa Rica; "
            "raw integer encodings with scale/offset in raster:bands."
        ),
        license="other",
        keywords=("climate", "bioclim", "CHELSA"),
        build_items=chelsa_items,
    ),
    Family(
        collection_id="worldclim-dismo",
        dataset="sdm_dismo",
        title="WorldClim bioclim and WWF biomes (dismo)",
        description=(
            "WorldClim bioclimatic rasters at 0.5 degree over Central and South America and the "
            "WWF biome map, from the R package dismo."
        ),
        license="other",
        keywords=("climate", "bioclim", "WorldClim", "biomes"),
        build_items=worldclim_items,
    ),
    Family(
        collection_id="gam-landuse-costa-rica",
        dataset="landcover_gam_costa_rica",
        title="Land use of the Greater Metropolitan Area of Costa Rica (2020)",
        description="10 m land-use/land-cover map (8 classes) of the GAM, Costa Rica, 2020.",
        license="other",
        keywords=("land cover", "land use", "Costa Rica"),
        build_items=gam_items,
    ),
    Family(
        collection_id="esa-worldcover",
        dataset="worldcover_sao_tome",
        title="ESA WorldCover 10 m, São Tomé",
        description="ESA WorldCover 2020 (v100) and 2021 (v200) land cover for São Tomé island.",
        license="CC-BY-4.0",
        keywords=("land cover", "WorldCover", "ESA"),
        build_items=worldcover_items,
    ),
    Family(
        collection_id="sentinel-2-l2a-south-tyrol",
        dataset="s2_south_tyrol",
        title="Sentinel-2 L2A, Bolzano",
        description=(
            f"One Sentinel-2 L2A scene (B04, B03, B02, B08, SCL), 2022-06-12. {_COPERNICUS}."
        ),
        license="other",
        keywords=("sentinel-2", "L2A", "reflectance"),
        build_items=south_tyrol_items,
    ),
    Family(
        collection_id="sentinel-2-l2a-barbellino",
        dataset="s2_barbellino",
        title="Sentinel-2 L2A/L1C, Lake Barbellino",
        description=(
            f"Two dates of Sentinel-2A BOA/TOA reflectance and SCL (sen2r). {_COPERNICUS}."
        ),
        license="other",
        keywords=("sentinel-2", "L2A", "L1C", "reflectance"),
        build_items=barbellino_items,
    ),
    Family(
        collection_id="sentinel-2-l2a-emilia",
        dataset="s2_emilia_ndvi_scl",
        title="Sentinel-2 NDVI and SCL, Emilia 2020",
        description=(
            "60-date Sentinel-2 L2A NDVI and scene classification time series (sen2rts), one item "
            f"per date. {_COPERNICUS}."
        ),
        license="other",
        keywords=("sentinel-2", "NDVI", "time series"),
        build_items=emilia_items,
    ),
    Family(
        collection_id="landsat-8-l1-new-york",
        dataset="landsat_l8ny18",
        title="Landsat 8 C1 L1TP, New York 2018",
        description=(
            "19 Landsat 8 Collection-1 L1TP scenes (downsampled to ~3 km), 12 bands each, with "
            "cloud cover measured from the BQA band."
        ),
        license="other",
        keywords=("landsat", "L1TP"),
        build_items=l8ny18_items,
    ),
    Family(
        collection_id="landsat-c2-l2-colombia",
        dataset="landsat_c2l2_colombia",
        title="Landsat 8 C2 L2, Colombia",
        description=(
            "One Landsat 8 Collection-2 Level-2 scene (SR and ST, downsampled to 512 px) with the "
            "USGS STAC metadata."
        ),
        license="other",
        keywords=("landsat", "C2L2", "surface reflectance"),
        build_items=c2l2_items,
    ),
    Family(
        collection_id="ocean-north-atlantic",
        dataset="ocean_north_atlantic",
        title="Ocean model output, North Atlantic",
        description=(
            "CESM2-MARBL biogeochemistry, GLORYS12 physics, ERA5 forcing and river inputs for a "
            "North Atlantic box (netCDF, datacube extension)."
        ),
        license="other",
        keywords=("ocean", "biogeochemistry", "CESM", "MARBL", "GLORYS", "ERA5"),
        build_items=north_atlantic_items,
    ),
    Family(
        collection_id="ocean-global-cesm",
        dataset="ocean_global_cesm",
        title="CESM2-MARBL global fields",
        description=(
            "Global CESM2-MARBL surface fields (1°) and a 10° 12-month climatology (netCDF)."
        ),
        license="other",
        keywords=("ocean", "biogeochemistry", "CESM", "MARBL"),
        build_items=global_cesm_items,
    ),
)


def catalog_datasets() -> list[str]:
    """Registry dataset names the catalog is built from, in collection order."""
    return [f.dataset for f in FAMILIES]


def _select(datasets: Iterable[str] | None) -> list[Family]:
    if datasets is None:
        return list(FAMILIES)
    wanted = list(datasets)
    valid = {f.dataset: f for f in FAMILIES} | {f.collection_id: f for f in FAMILIES}
    unknown = [d for d in wanted if d not in valid]
    if unknown:
        raise InvalidInputError(
            f"datasets={unknown!r} are not catalogued; valid dataset names: "
            f"{', '.join(catalog_datasets())} (or collection ids: "
            f"{', '.join(f.collection_id for f in FAMILIES)})"
        )
    chosen = {valid[d].collection_id for d in wanted}
    return [f for f in FAMILIES if f.collection_id in chosen]


def _collection(family: Family, items: Sequence[pystac.Item], ds: Any) -> pystac.Collection:
    bboxes = [i.bbox for i in items if i.bbox]
    union = [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
    starts = [i.common_metadata.start_datetime or i.datetime for i in items]
    ends = [i.common_metadata.end_datetime or i.datetime for i in items]
    extent = pystac.Extent(
        pystac.SpatialExtent([union]),
        pystac.TemporalExtent([[min(s for s in starts if s), max(e for e in ends if e)]]),
    )
    collection = pystac.Collection(
        id=family.collection_id,
        description=family.description,
        extent=extent,
        title=family.title,
        license=family.license,
        keywords=list(family.keywords),
        extra_fields={
            "sci:citation": ds.citation,
            "ecocube:dataset": family.dataset,
            "ecocube:source": ds.source,
            "ecocube:license_note": ds.license,
        },
    )
    summaries: dict[str, Any] = {}
    clouds = [i.properties["eo:cloud_cover"] for i in items if "eo:cloud_cover" in i.properties]
    if clouds:
        summaries["eo:cloud_cover"] = {"minimum": min(clouds), "maximum": max(clouds)}
    codes = sorted({i.properties["proj:code"] for i in items if "proj:code" in i.properties})
    if codes:
        summaries["proj:code"] = codes
    platforms = sorted({i.properties["platform"] for i in items if "platform" in i.properties})
    if platforms:
        summaries["platform"] = platforms
    collection.summaries = pystac.Summaries(summaries)
    return collection


def build_catalog(
    out_dir: str | Path,
    datasets: Iterable[str] | None = None,
    *,
    progress: Callable[[Iterable[Family]], Iterable[Family]] | None = None,
) -> pystac.Catalog:
    """Build a self-contained static STAC catalog of the registry datasets.

    Every dataset is fetched and verified through :func:`ecocube.data.fetch`; its files are
    hard-linked (or copied across file systems) next to their item JSON, so all hrefs are
    relative and the folder can be moved. Output is deterministic: sorted collections and items,
    stable ids, no build timestamps.

    Parameters
    ----------
    out_dir
        Folder to write; an existing catalog there is replaced, except the collections of
        registered stores (:data:`REGISTERED_COLLECTIONS`: ``ecocube-cubes``, the ocean
        products' ``ocean-ensembles``, ``ocean-glorys``...), which are linked again.
    datasets
        Registry dataset names (or collection ids) to include; default: every catalogued one
        (see :func:`catalog_datasets`).
    progress
        Optional wrapper around the iterable of families (e.g. a progress bar).

    Returns
    -------
    pystac.Catalog
        The written catalog (self href ``out_dir/catalog.json``).

    Raises
    ------
    InvalidInputError
        If a dataset name is not catalogued, ``out_dir`` is a file, or a file or folder in
        ``out_dir`` named like a collection is not a collection (it would be replaced).
    """

    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"out_dir={str(out)!r} is a file; pass a folder path")
    families = _select(datasets)
    _check_collection_folders(out)  # before any work: user files are never replaced
    # Built in a temporary sibling folder, then swapped in piece by piece: a failed build leaves
    # the previous catalog intact, and only what this function writes is ever replaced.
    with temporary_sibling(out, directory=True) as tmp:
        catalog = _build_into(tmp, families, progress)
        out.mkdir(exist_ok=True)
        _check_collection_folders(out)
        for family in FAMILIES:  # collections of an earlier build that this one leaves out
            if family not in families and (out / family.collection_id).is_dir():
                shutil.rmtree(out / family.collection_id)
        for family in families:
            swap_into_place(tmp / family.collection_id, out / family.collection_id)
        kept = _link_registered(tmp / "catalog.json", out)
        os.replace(tmp / "catalog.json", out / "catalog.json")
    catalog.normalize_hrefs(_dir_href(out))
    for collection_json in kept:  # the same child links in the returned object
        catalog.add_link(
            pystac.Link(
                pystac.RelType.CHILD,
                collection_json.as_posix(),
                media_type=pystac.MediaType.JSON,
                title=collection_json.parent.name,
            )
        )
    return catalog


def _check_collection_folders(out: Path) -> None:
    """Raise unless every folder of ``out`` named like a collection is one (or empty)."""
    for family in FAMILIES:
        check_replaceable(
            out / family.collection_id,
            markers=_COLLECTION_MARKERS,
            what=f"the STAC collection {family.collection_id!r} of an ecocube catalog",
        )


def _link_registered(catalog_json: Path, out: Path) -> list[Path]:
    """Keep the stores registered in ``out`` (the :data:`REGISTERED_COLLECTIONS` written by
    :func:`ecocube.catalog.register_cube` and the ocean register helper): add a child link
    to each in the new ``catalog_json``.

    The collection folders lie next to the registry collections and are never touched by a
    build; without the links they would be orphaned. Returns their ``collection.json`` files.
    """
    import json

    kept = [
        out / cid / "collection.json"
        for cid in REGISTERED_COLLECTIONS
        if (out / cid / "collection.json").is_file()
    ]
    if not kept:
        return []
    doc = json.loads(catalog_json.read_text())
    links = doc.setdefault("links", [])
    for collection_json in kept:
        href = f"./{collection_json.parent.name}/collection.json"
        if not any(link.get("href") == href for link in links):
            links.append({"rel": "child", "href": href, "type": "application/json"})
    catalog_json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return kept


def _dir_href(folder: Path) -> str:
    """``folder`` as a root href pystac reads as a folder (a trailing ``/``: without it, a
    name with a dot such as ``catalog.v2`` is taken for a file and its parent is used)."""
    return folder.as_posix().rstrip("/") + "/"


def _build_into(
    out: Path,
    families: Sequence[Family],
    progress: Callable[[Iterable[Family]], Iterable[Family]] | None,
) -> pystac.Catalog:
    """Write the catalog of ``families`` into the (new, empty) folder ``out``."""
    from ecocube import data

    catalog = pystac.Catalog(
        id=CATALOG_ID,
        title="ecocube datasets",
        description=(
            "Static STAC catalog of the ecocube registry datasets (climate, land cover, "
            "Sentinel-2, Landsat, ocean model output), built by `ecocube catalog build`."
        ),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    iterable: Iterable[Family] = progress(families) if progress else families
    for family in iterable:
        ds = data.dataset(family.dataset)
        folder = data.fetch(family.dataset)
        files = {
            f.path: AssetFile(source=folder / f.path, sha256=f.sha256, size=f.size)
            for f in ds.files
        }
        ctx = BuildContext(
            dataset=family.dataset,
            folder=folder,
            files=files,
            collection_dir=out / family.collection_id,
        )
        items = sorted(family.build_items(ctx), key=lambda i: i.id)
        if not items:
            raise CatalogError(f"{family.dataset}: the item builder returned no items")
        collection = _collection(family, items, ds)
        for item in items:
            item.collection_id = family.collection_id
            declare_extensions(item)
            collection.add_item(item)
        declare_extensions(collection)
        catalog.add_child(collection)
    catalog.normalize_hrefs(_dir_href(out))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return catalog
