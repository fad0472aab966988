"""Resampling rules and the per-class fractions of categorical layers on a coarser grid."""

from __future__ import annotations

from typing import Any

import numpy as np

from ecocube.cube._items import AssetRef

__all__ = ["class_fractions", "resampling_for"]


def resampling_for(ref: AssetRef, coarser: bool) -> Any:
    """Pick the GDAL resampling for one asset.

    Continuous layers: bilinear (same or finer grid) or average (coarser grid). Categorical
    layers (class codes of the classification extension, and bit-flag/quality layers such as
    Landsat ``QA_PIXEL``, see :func:`ecocube.cube._items.is_flag_asset`): nearest or mode, so a
    class code or bit pattern is never interpolated into a value that does not exist.
    """
    from rasterio.enums import Resampling

    if ref.categorical:
        return Resampling.mode if coarser else Resampling.nearest
    return Resampling.average if coarser else Resampling.bilinear


def class_fractions(
    ref: AssetRef, dst_crs: str, dst_transform: Any, width: int, height: int
) -> np.ndarray:
    """Fraction of each class of a categorical raster inside every target pixel.

    Each class indicator (1 inside the class, 0 in other valid classes, nodata where the source
    is nodata or outside the listed classes) is averaged onto the target grid with GDAL's
    ``average`` resampling, which skips nodata: the fractions of one pixel sum to 1 wherever
    the source has valid data, and are NaN elsewhere.

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(n_classes, height, width)``, classes in ``ref.classes`` order.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    assert ref.classes is not None
    codes = np.array([c for c, _ in ref.classes])
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    with rasterio.open(ref.path if ref.is_local else ref.href) as src:
        # read only the part of the source under the target grid (plus a pixel of margin)
        dst_bounds = array_bounds(height, width, dst_transform)
        b = transform_bounds(dst_crs, src.crs, *dst_bounds)
        w = from_bounds(*b, transform=src.transform)
        c0 = max(0, int(np.floor(w.col_off)) - 1)
        r0 = max(0, int(np.floor(w.row_off)) - 1)
        c1 = min(src.width, int(np.ceil(w.col_off + w.width)) + 1)
        r1 = min(src.height, int(np.ceil(w.row_off + w.height)) + 1)
        win = Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))
        raw = src.read(1, window=win)
        src_crs, src_transform = src.crs, src.window_transform(win)
    valid = np.isin(raw, codes)
    if ref.nodata is not None:
        valid &= raw != ref.nodata
    out = np.full((len(codes), height, width), np.nan, dtype=np.float32)
    ind = np.empty(raw.shape, dtype=np.float32)
    for k, code in enumerate(codes):
        np.equal(raw, code, out=ind, casting="unsafe")
        ind[~valid] = -1.0
        reproject(
            ind,
            out[k],
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=-1.0,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            dst_nodata=np.nan,
            resampling=Resampling.average,
        )
    return out
