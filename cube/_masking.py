"""Cloud/shadow masks (Sentinel-2 SCL, Landsat QA), temporal composites and spectral indices."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr

from ecocube.errors import InvalidInputError

__all__ = [
    "SCL_MASK_CLASSES",
    "SCL_OPTIONAL_CLASSES",
    "composite",
    "landsat_c1_mask",
    "landsat_c2_mask",
    "ndvi",
    "scl_mask",
]

#: SCL classes always masked: 3 cloud shadow, 8/9 cloud medium/high probability, 10 thin cirrus.
SCL_MASK_CLASSES: tuple[int, ...] = (3, 8, 9, 10)
#: SCL classes masked on request: 1 saturated/defective, 11 snow/ice.
SCL_OPTIONAL_CLASSES: tuple[int, ...] = (1, 11)


def scl_mask(scl: xr.DataArray, *, optional: bool = False) -> xr.DataArray:
    """True where a Sentinel-2 L2A pixel is cloud, cloud shadow or cirrus (or nodata).

    Parameters
    ----------
    scl
        Scene classification codes (any shape); NaN counts as invalid.
    optional
        Also mask classes 1 (saturated/defective) and 11 (snow/ice).
    """
    classes: Iterable[int] = SCL_MASK_CLASSES + (SCL_OPTIONAL_CLASSES if optional else ())
    return scl.isin(list(classes)) | scl.isnull() | (scl == 0)


def _bits(qa: xr.DataArray) -> xr.DataArray:
    return qa.fillna(1).astype(np.uint16)


def landsat_c2_mask(qa_pixel: xr.DataArray, *, snow: bool = False) -> xr.DataArray:
    """True where a Landsat Collection-2 ``QA_PIXEL`` flags fill, cloud, dilated cloud, cirrus
    or cloud shadow (bits 0, 1, 2, 3, 4; bit 5 snow when ``snow``)."""
    bits = 0b11111 | (0b100000 if snow else 0)
    return (_bits(qa_pixel) & bits) != 0


def landsat_c1_mask(bqa: xr.DataArray, *, confidence: int = 3) -> xr.DataArray:
    """True where a Landsat Collection-1 ``BQA`` flags fill (bit 0), cloud (bit 4), or cloud
    (bits 5-6), cloud shadow (7-8) or cirrus (11-12) confidence >= ``confidence`` (1 low,
    2 medium, 3 high)."""
    if confidence not in (1, 2, 3):
        raise InvalidInputError(
            f"confidence={confidence!r} must be 1 (low), 2 (medium) or 3 (high)"
        )
    q = _bits(bqa)
    fill = (q & 1) != 0
    cloud = (q & (1 << 4)) != 0
    conf_cloud = ((q >> 5) & 3) >= confidence
    conf_shadow = ((q >> 7) & 3) >= confidence
    conf_cirrus = ((q >> 11) & 3) >= confidence
    return fill | cloud | conf_cloud | conf_shadow | conf_cirrus


def ndvi(nir: xr.DataArray, red: xr.DataArray) -> xr.DataArray:
    """Normalised difference vegetation index ``(nir - red) / (nir + red)`` as float32."""
    out = ((nir - red) / (nir + red)).astype(np.float32)
    out.attrs = {"long_name": "normalized difference vegetation index", "units": "1"}
    return out


def composite(obj: Any, freq: str) -> Any:
    """Median composite per calendar month (``"month"``) or meteorological season
    (``"season"``: DJF, MAM, JJA, SON) along ``time``; time stamps are period starts."""
    rule = {"month": "MS", "season": "QS-DEC"}.get(freq)
    if rule is None:
        raise InvalidInputError(f"composite={freq!r} is not one of ('month', 'season')")
    return obj.resample(time=rule).median(skipna=True).astype(np.float32)
