"""ecocube.cube: aligned data cubes (STAC -> xarray/Zarr) and PyTorch loaders.

Importing this package registers the ``ds.ecocube`` xarray accessor. The PyTorch pieces
(:class:`CubeGeoDataset`, :class:`PointPatchDataset`, loaders) and the spatial splitters
(:mod:`ecocube.cube.splitters`) are imported on first use, so ``import ecocube.cube`` does not
load torch.

Examples
--------
>>> from ecocube.cube import build_cube, write_cube
>>> ds = build_cube(items, bbox=(-86.0, 8.1, -82.5, 11.3), crs="EPSG:4326",
...                 resolution=1 / 120)  # doctest: +SKIP
>>> write_cube(ds, "cube.zarr", items=items)  # doctest: +SKIP
"""

from __future__ import annotations

from ecocube._lazy import lazy_attributes
from ecocube.cube import accessor as _accessor  # noqa: F401  (registers ds.ecocube)
from ecocube.cube._build import build_cube
from ecocube.cube._masking import (
    composite,
    landsat_c1_mask,
    landsat_c2_mask,
    ndvi,
    scl_mask,
)
from ecocube.cube._spec import AreaOfUseWarning, CubeSpec, anchor_of
from ecocube.cube._zarr import file_checksum, open_cube, write_cube

__all__ = [
    "AreaOfUseWarning",
    "CubeGeoDataset",
    "CubeSpec",
    "GlobalLandMask",
    "PointBatchSampler",
    "PointPatchDataset",
    "SpatialBlockKFold",
    "SplitIndices",
    "anchor_of",
    "background_points",
    "block_train_val_test_split",
    "build_cube",
    "collate_points",
    "composite",
    "cube_item",
    "file_checksum",
    "landsat_c1_mask",
    "landsat_c2_mask",
    "leakage_report",
    "load_items",
    "map_mask",
    "ndvi",
    "open_cube",
    "point_loader",
    "register_cube",
    "scl_mask",
    "write_cogs",
    "write_cube",
]

_LAZY = {
    # STAC reading and cube registration live in ecocube.catalog; re-exported for users
    "load_items": "ecocube.catalog._read",
    "cube_item": "ecocube.catalog._cube_items",
    "register_cube": "ecocube.catalog._cube_items",
    "GlobalLandMask": "ecocube.cube._masking",
    "map_mask": "ecocube.cube._masking",
    "write_cogs": "ecocube.cube._cog",
    "CubeGeoDataset": "ecocube.cube.datasets",
    "PointPatchDataset": "ecocube.cube.datasets",
    "collate_points": "ecocube.cube.datasets",
    "PointBatchSampler": "ecocube.cube.samplers",
    "background_points": "ecocube.cube.samplers",
    "point_loader": "ecocube.cube.samplers",
    "SpatialBlockKFold": "ecocube.cube.splitters",
    "SplitIndices": "ecocube.cube.splitters",
    "block_train_val_test_split": "ecocube.cube.splitters",
    "leakage_report": "ecocube.cube.splitters",
}


__getattr__, __dir__ = lazy_attributes("ecocube.cube", _LAZY, globals())
