"""Cloud-optimised GeoTIFFs of a maps store: one per species and statistic.

:func:`write_cogs` turns the Zarr store written by ``ecocube.models.predict_map`` into a folder
of COGs (``<species>_<statistic>.tif``, plus ``novelty.tif`` when the store has it) with the
grid's CRS and transform, NaN as nodata, DEFLATE compression, 512-pixel blocks and overviews.
Each map is first copied chunk by chunk into a tiled GeoTIFF and then converted by GDAL's COG
driver, so memory does not grow with the region. The folder is built next to the target and
moved into place when complete; ``cogs-index.json`` lists its files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ecocube._atomic import (
    check_no_file_parent,
    check_replaceable,
    swap_into_place,
    temporary_sibling,
)
from ecocube.catalog._map_items import COG_INDEX
from ecocube.errors import InvalidInputError

__all__ = ["CogFile", "cog_name", "write_cogs"]
_STATISTICS = ("mean", "sd", "q05", "q95")
_BLOCK = 512


@dataclass(frozen=True)
class CogFile:
    """One COG of a folder written by :func:`write_cogs`.

    Attributes
    ----------
    path
        The file.
    variable
        The store variable it comes from (``mean``, ``sd``, ``q05``, ``q95``, ``novelty``).
    species
        The species, or ``None`` for a layer common to all species (``novelty``).
    """

    path: Path
    variable: str
    species: str | None


def cog_name(species: str | None, variable: str) -> str:
    """File name of a COG: ``<species>_<variable>.tif`` with the species name made safe."""
    if species is None:
        return f"{variable}.tif"
    slug = re.sub(r"[^0-9A-Za-z.-]+", "_", species).strip("_.") or "species"
    return f"{slug}_{variable}.tif"


def _open_maps(maps: str | os.PathLike[str]) -> xr.Dataset:
    from ecocube.cube._zarr import open_cube

    ds = open_cube(Path(maps), chunks=None)
    if "ecocube:map_format" not in ds.attrs or "mean" not in ds.data_vars:
        raise InvalidInputError(
            f"{str(maps)!r} is an ecocube cube but not a maps store (no ecocube:map_format "
            "attribute or mean layer); write one with `ecocube sdm map` (predict_map)"
        )
    return ds


def _transform(ds: xr.Dataset) -> tuple[Any, bool]:
    """Affine transform of the north-up raster of ``ds`` and whether rows must be flipped."""
    from rasterio.transform import from_origin

    xs = np.asarray(ds["x"].values, dtype=np.float64)
    ys = np.asarray(ds["y"].values, dtype=np.float64)
    dx = float(xs[1] - xs[0]) if xs.size > 1 else 1.0
    dy = float(abs(ys[1] - ys[0])) if ys.size > 1 else abs(dx)
    flip = ys.size > 1 and ys[-1] > ys[0]
    top = float(ys.max()) + dy / 2
    return from_origin(float(xs[0]) - dx / 2, top, dx, dy), bool(flip)


def _write_one(da: xr.DataArray, target: Path, scratch: Path, crs: Any) -> None:
    """Write the ``(y, x)`` layer ``da`` as a COG at ``target`` (through ``scratch``)."""
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    ny, nx = da.sizes["y"], da.sizes["x"]
    transform, flip = _transform(da.to_dataset(name="v"))
    profile = {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": 1,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": _BLOCK,
        "blockysize": _BLOCK,
        "BIGTIFF": "IF_SAFER",
    }
    with rasterio.open(scratch, "w", **profile) as dst:
        for r0 in range(0, ny, _BLOCK):
            r1 = min(r0 + _BLOCK, ny)
            rows = slice(ny - r1, ny - r0) if flip else slice(r0, r1)
            block = np.asarray(da.isel(y=rows).transpose("y", "x").values, dtype=np.float32)
            if flip:
                block = block[::-1]
            dst.write(block, 1, window=Window(0, r0, nx, r1 - r0))
        dst.update_tags(1, **{k: str(v) for k, v in da.attrs.items() if k != "grid_mapping"})
    rasterio.shutil.copy(
        scratch,
        target,
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR="YES",
        BLOCKSIZE=str(_BLOCK),
        OVERVIEWS="AUTO",
        RESAMPLING="AVERAGE",
        BIGTIFF="IF_SAFER",
    )
    scratch.unlink()


def write_cogs(
    maps_store: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    species: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[CogFile]:
    """Write one cloud-optimised GeoTIFF per species and statistic of a maps store.

    Parameters
    ----------
    maps_store
        A complete store written by ``predict_map`` (``ecocube sdm map``).
    directory
        Folder to write (created); ``cogs-index.json`` in it lists the files.
    species
        Species to write (default: all of the store).
    overwrite
        Replace an existing COG folder at ``directory`` (never a folder of other files).
    progress
        Show a progress line per file.

    Returns
    -------
    list of CogFile
        The files, species by species (statistics in the order ``mean, sd, q05, q95``),
        then ``novelty.tif`` when the store has a novelty layer.

    Raises
    ------
    InvalidInputError
        ``maps_store`` is not a complete maps store, ``species`` names species it lacks,
        or ``directory`` exists (without ``overwrite``), is a file, or holds other files.
    DatasetNotFoundError
        ``maps_store`` does not exist.
    """
    from ecocube._progress import progress as progress_bar

    target = Path(directory)
    check_no_file_parent(target, f"directory {str(target)!r}")
    if target.exists() and not overwrite and (target / COG_INDEX).exists():
        raise InvalidInputError(
            f"directory={str(target)!r} already holds COGs; pass overwrite=True (--overwrite) "
            "or choose another folder"
        )
    check_replaceable(target, markers=(COG_INDEX,), what="a folder of ecocube COGs")
    ds = _open_maps(maps_store)
    names = [str(s) for s in ds["species"].values]
    chosen = names if species is None else [str(s) for s in species]
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise InvalidInputError(f"species {unknown} are not in the maps; available: {names}")
    layers: list[tuple[str, str | None]] = [(v, s) for s in chosen for v in _STATISTICS]
    if "novelty" in ds.data_vars:
        layers.append(("novelty", None))
    crs = ds.rio.crs
    used: set[str] = set()
    files: list[CogFile] = []
    with temporary_sibling(target, directory=True) as tmp:
        with progress_bar("COGs", total=len(layers), unit="files", enabled=progress) as bar:
            for variable, sp in layers:
                name = cog_name(sp, variable)
                stem, k = name[:-4], 1
                while name in used:  # two species names made safe alike
                    k += 1
                    name = f"{stem}-{k}.tif"
                used.add(name)
                da = ds[variable] if sp is None else ds[variable].sel(species=sp)
                _write_one(da, tmp / name, tmp / f".{name}.tiled.tif", crs)
                files.append(CogFile(target / name, variable, sp))
                bar.advance()
        index = [{"file": f.path.name, "variable": f.variable, "species": f.species} for f in files]
        (tmp / COG_INDEX).write_text(
            json.dumps({"maps": str(Path(maps_store).resolve()), "files": index}, indent=1),
            encoding="utf-8",
        )
        check_replaceable(target, markers=(COG_INDEX,), what="a folder of ecocube COGs")
        swap_into_place(tmp, target)
    return files
