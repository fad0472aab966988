"""The target grid of a cube: a frozen :class:`CubeSpec` and the normalisation of its inputs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from ecocube.errors import EcocubeWarning, InvalidInputError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "AreaOfUseWarning",
    "Composite",
    "CubeSpec",
    "anchor_of",
    "check_cube_size",
    "parse_max_bytes",
]

Composite = Literal["month", "season"]
_COMPOSITES = ("month", "season")
_MASKS = ("auto", "none")
#: Largest cube :func:`ecocube.cube.build_cube` builds unless told otherwise (bytes, 32 GiB).
DEFAULT_MAX_BYTES = 32 * 2**30
#: Bytes per pixel of a cube layer (every layer is float32).
_LAYER_ITEMSIZE = 4
#: Metres per degree of longitude at the equator (WGS 84), for unit hints in messages.
_METRES_PER_DEGREE = 111_320.0
#: Degrees by which a CRS's area of use is widened before a bbox counts as outside it (half a
#: UTM zone: cubes that straddle a zone border are common and harmless).
_AREA_MARGIN = 3.0


class AreaOfUseWarning(EcocubeWarning):
    """The bbox of a cube lies far outside the area of use of its target CRS."""


def _parse_crs(crs: Any) -> Any:
    """Return a ``rasterio.crs.CRS`` or raise naming the argument."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        out = CRS.from_user_input(crs)
    except (CRSError, TypeError, ValueError) as err:
        raise InvalidInputError(
            f"crs={crs!r} is not a coordinate reference system rasterio/PROJ understands; "
            "pass an EPSG code such as 'EPSG:4326' or 'EPSG:32632', a WKT string or a PROJ string"
        ) from err
    return out


def _parse_time(time: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None] | None:
    """``(start, end)`` naive-UTC timestamps, inclusive, from the same input as catalog search.

    The parser is :func:`ecocube.catalog.normalize_datetime`, so ``"2020"``,
    ``"2020-03"`` and ``"2020-03-05"`` cover the whole year, month and day, ``"2020-01/2020-03"``
    runs from 1 January to the end of March, and ``".."`` leaves an end open, exactly as
    ``ecocube catalog search --datetime`` reads them.
    """
    from ecocube.catalog import normalize_datetime

    if time is None:
        return None
    value = time
    if not isinstance(time, str) and isinstance(time, Sequence) and len(time) == 2:
        value = tuple(
            _as_timestamp(t).to_pydatetime() if isinstance(t, datetime) else t for t in time
        )
    elif isinstance(time, pd.Timestamp):
        value = _as_timestamp(time).to_pydatetime()
    elif not isinstance(time, (str, datetime)):
        raise InvalidInputError(
            f"time={time!r} is not a time range; pass 'START/END' (ISO 8601, '..' for open), "
            "a single date, month (2020-03) or year (2020), or a (start, end) pair"
        )
    try:
        interval = normalize_datetime(value)
    except (InvalidInputError, ValueError, TypeError) as err:
        msg = str(err).removeprefix(f"datetime={value!r}").lstrip(": ")
        raise InvalidInputError(f"time={time!r}: {msg or err}") from err
    assert interval is not None
    out = [None if p == ".." else _as_timestamp(p) for p in interval.split("/")]
    end_text = time.split("/")[-1] if isinstance(time, str) else value[-1]
    end_text = end_text if isinstance(end_text, str) else ""
    if out[1] is not None and end_text not in ("", "..") and "T" not in end_text.upper():
        # a date, month or year ends at 23:59:59 in normalize_datetime: keep its last second
        out[1] = out[1] + pd.Timedelta(seconds=1) - pd.Timedelta(microseconds=1)
    return out[0], out[1]


@dataclass(frozen=True)
class CubeSpec:
    """Where and how a cube is built: one grid for every layer.

    Parameters
    ----------
    bbox
        ``(west, south, east, north)`` of the area in longitude/latitude degrees (EPSG:4326).
    crs
        Target CRS of the grid (anything ``rasterio.crs.CRS.from_user_input`` takes).
    resolution
        Pixel size in units of ``crs`` (degrees for EPSG:4326, metres for UTM), > 0.
    time
        Optional ``(start, end)`` range (inclusive); items outside are left out.
    collections
        Optional collection ids to keep; items of other collections are left out.
    assets
        Optional asset keys to keep (default: every raster asset).
    composite
        ``None`` keeps every date; ``"month"`` or ``"season"`` makes median composites.
    mask
        ``"auto"`` applies cloud masks when a quality asset is present (Sentinel-2 SCL,
        Landsat C2 ``QA_PIXEL``, Landsat C1 ``BQA``); ``"none"`` keeps every pixel.
    mask_optional_scl
        Also mask SCL classes 1 (saturated/defective) and 11 (snow/ice).
    indices
        Spectral indices to add (``"ndvi"``).
    fractions
        Add per-class fraction layers for categorical assets when the grid is coarser than
        the source (by at least ``fraction_min_ratio``).
    fraction_min_ratio
        Ratio target/source pixel size above which fractions are added.
    chunksize
        Dask chunk size (pixels) along ``y`` and ``x``.
    anchor
        ``(x0, y0)`` in the target CRS that pixel edges line up with (default ``(0, 0)``).
        Pass a source raster's origin to keep its pixels unresampled (see :func:`anchor_of`).
    """

    bbox: tuple[float, float, float, float]
    crs: str
    resolution: float
    time: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None
    collections: tuple[str, ...] | None = None
    assets: tuple[str, ...] | None = None
    composite: Composite | None = None
    mask: Literal["auto", "none"] = "auto"
    mask_optional_scl: bool = False
    indices: tuple[str, ...] = ()
    fractions: bool = True
    fraction_min_ratio: float = 2.0
    chunksize: int = 512
    anchor: tuple[float, float] = (0.0, 0.0)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def create(
        cls,
        *,
        bbox: Sequence[float],
        crs: Any = "EPSG:4326",
        resolution: float,
        time: Any = None,
        collections: Sequence[str] | str | None = None,
        assets: Sequence[str] | str | None = None,
        composite: str | None = None,
        mask: str = "auto",
        mask_optional_scl: bool = False,
        indices: Sequence[str] = (),
        fractions: bool = True,
        fraction_min_ratio: float = 2.0,
        chunksize: int = 512,
        anchor: Sequence[float] | None = None,
    ) -> CubeSpec:
        """Normalise user input ("-Like" values) once and validate it.

        Raises
        ------
        InvalidInputError
            Naming the argument, the bad value and what to pass instead.
        """
        try:
            box = tuple(float(v) for v in bbox)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"bbox={bbox!r} must be 4 numbers (west, south, east, north) in degrees"
            ) from err
        if len(box) != 4:
            raise InvalidInputError(
                f"bbox={bbox!r} must be 4 numbers (west, south, east, north) in degrees"
            )
        w, s, e, n = box
        if not (w < e and s < n and -180 <= w and e <= 180 and -90 <= s and n <= 90):
            raise InvalidInputError(
                f"bbox={bbox!r} is not (west, south, east, north) in degrees with west < east "
                "and south < north inside [-180, 180] x [-90, 90]"
            )
        try:
            res = float(resolution)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"resolution={resolution!r} must be a number > 0") from err
        if not math.isfinite(res) or res <= 0:
            raise InvalidInputError(
                f"resolution={resolution!r} must be > 0 (pixel size in units of the target CRS, "
                "e.g. 0.00833 degrees for EPSG:4326 or 30 metres for UTM)"
            )
        parsed = _parse_crs(crs)
        crs_str = parsed.to_string()
        _check_transformable(parsed, box, crs)
        _warn_outside_area_of_use(parsed, box, crs)
        if composite is not None and composite not in _COMPOSITES:
            raise InvalidInputError(
                f"composite={composite!r} is not one of {_COMPOSITES} (or None for every date)"
            )
        if mask not in _MASKS:
            raise InvalidInputError(f"mask={mask!r} is not one of {_MASKS}")
        bad = [i for i in indices if i.lower() != "ndvi"]
        if bad:
            raise InvalidInputError(f"indices={list(indices)!r}: {bad} unknown; valid: ['ndvi']")
        if int(chunksize) < 16:
            raise InvalidInputError(f"chunksize={chunksize!r} must be >= 16 pixels")
        if isinstance(collections, str):
            collections = [c for c in collections.split(",") if c]
        if isinstance(assets, str):
            assets = [a for a in assets.split(",") if a]
        return cls(
            bbox=(w, s, e, n),
            crs=crs_str,
            resolution=res,
            time=_parse_time(time),
            collections=tuple(collections) if collections else None,
            assets=tuple(assets) if assets else None,
            composite=composite,  # type: ignore[arg-type]
            mask=mask,  # type: ignore[arg-type]
            mask_optional_scl=bool(mask_optional_scl),
            indices=tuple(i.lower() for i in indices),
            fractions=bool(fractions),
            fraction_min_ratio=float(fraction_min_ratio),
            chunksize=int(chunksize),
            anchor=(0.0, 0.0) if anchor is None else (float(anchor[0]), float(anchor[1])),
        )

    @property
    def epsg(self) -> int | None:
        """EPSG code of the target CRS (``None`` when it has none)."""
        return _parse_crs(self.crs).to_epsg()

    def grid(self) -> tuple[Any, int, int, tuple[float, float, float, float]]:
        """Return ``(affine transform, width, height, bounds)`` of the target grid.

        Bounds are the bbox transformed to the target CRS and snapped outwards to multiples of
        the resolution, so two cubes with the same CRS and resolution share pixel edges.
        """
        from affine import Affine
        from rasterio.warp import transform_bounds

        left, bottom, right, top = transform_bounds("EPSG:4326", self.crs, *self.bbox)
        r = self.resolution
        ax, ay = self.anchor
        left = ax + math.floor((left - ax) / r + 1e-3) * r
        bottom = ay + math.floor((bottom - ay) / r + 1e-3) * r
        right = ax + math.ceil((right - ax) / r - 1e-3) * r
        top = ay + math.ceil((top - ay) / r - 1e-3) * r
        width = max(1, round((right - left) / r))
        height = max(1, round((top - bottom) / r))
        transform = Affine.translation(left, top) @ Affine.scale(r, -r)
        return transform, width, height, (left, bottom, right, top)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in the cube's provenance attributes)."""
        t = None
        if self.time is not None:
            t = [None if v is None else v.isoformat() for v in self.time]
        return {
            "bbox": list(self.bbox),
            "crs": self.crs,
            "resolution": self.resolution,
            "time": t,
            "collections": list(self.collections) if self.collections else None,
            "assets": list(self.assets) if self.assets else None,
            "composite": self.composite,
            "mask": self.mask,
            "mask_optional_scl": self.mask_optional_scl,
            "indices": list(self.indices),
            "fractions": self.fractions,
            "fraction_min_ratio": self.fraction_min_ratio,
            "chunksize": self.chunksize,
            "anchor": list(self.anchor),
        }


def _check_transformable(crs: Any, bbox: tuple[float, ...], user: Any) -> None:
    """Raise when the bbox cannot be transformed to ``crs`` (finite coordinates expected)."""
    from rasterio.errors import CRSError
    from rasterio.warp import transform_bounds

    try:
        out = transform_bounds("EPSG:4326", crs, *bbox)
    except (CRSError, ValueError, RuntimeError) as err:
        raise InvalidInputError(
            f"crs={user!r}: the bbox {bbox} cannot be transformed from EPSG:4326 to this CRS "
            f"({err}); pick a CRS defined over the area (e.g. the local UTM zone or EPSG:4326)"
        ) from err
    # PROJ answers far outside a projection's domain with huge finite numbers, not errors
    if (
        not all(np.isfinite(out))
        or max(abs(v) for v in out) > 1e9
        or out[0] >= out[2]
        or out[1] >= out[3]
    ):
        raise InvalidInputError(
            f"crs={user!r}: the bbox {bbox} cannot be transformed from EPSG:4326 to this CRS "
            f"(got {out}); pick a CRS defined over the area (e.g. the local UTM zone or EPSG:4326)"
        )


def _overlap_area(a: Sequence[float], b: Sequence[float]) -> float:
    """Area (square degrees) shared by two ``(west, south, east, north)`` boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _utm_epsg(bbox: Sequence[float]) -> int:
    """EPSG code of the WGS 84 UTM zone holding the centre of a lon/lat ``bbox``."""
    lon, lat = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def _warn_outside_area_of_use(crs: Any, bbox: tuple[float, ...], user: Any) -> None:
    """Warn when most of ``bbox`` (lon/lat) lies outside ``crs``'s area of use.

    The area of use (from the EPSG database, via pyproj) is widened by :data:`_AREA_MARGIN`
    degrees; a CRS without one (a PROJ string, a custom WKT) is not checked.
    """
    import pyproj

    try:
        # from the EPSG code when there is one: a WKT round trip drops the area of use
        area = pyproj.CRS.from_user_input(crs.to_string()).area_of_use
    except pyproj.exceptions.CRSError:
        return
    if area is None:
        return
    west, south, east, north = area.bounds
    m = _AREA_MARGIN
    # an area of use that crosses the antimeridian has west > east: two boxes
    boxes = [(west, south, east, north)]
    if west > east:
        boxes = [(west, south, 180.0, north), (-180.0, south, east, north)]
    wide = [(b[0] - m, max(b[1] - m, -90.0), b[2] + m, min(b[3] + m, 90.0)) for b in boxes]
    total = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
    inside = sum(_overlap_area(bbox, b) for b in wide)
    if inside >= 0.5 * total:
        return
    warnings.warn(
        f"crs={user!r}: the bbox {tuple(bbox)} lies mostly outside the area of use of "
        f"{crs.to_string()} (lon {west:g} to {east:g}, lat {south:g} to {north:g}), where "
        "its coordinates are strongly distorted; pick a CRS defined over the bbox, e.g. its "
        f"UTM zone EPSG:{_utm_epsg(bbox)} or EPSG:4326",
        AreaOfUseWarning,
        stacklevel=3,
    )


def parse_max_bytes(max_bytes: float | str) -> int:
    """Size limit in bytes from a number or a text such as ``"32GB"``, ``"500 MiB"``.

    Raises
    ------
    InvalidInputError
        When ``max_bytes`` is not a positive size.
    """
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(max_bytes) if isinstance(max_bytes, str) else float(max_bytes)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"max_bytes={max_bytes!r} (--max-bytes) is not a size; pass bytes (an integer) or a text such as "
            "'32GB' or '500MiB'"
        ) from err
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(
            f"max_bytes={max_bytes!r} (--max-bytes) must be a positive size, e.g. '32GB' (the "
            "largest cube to build)"
        )
    return int(value)


def _units_hint(crs: Any, resolution: float) -> str:
    """The unit of ``resolution`` in ``crs`` and, when it looks like a units slip, the fix."""
    import pyproj

    parsed = pyproj.CRS.from_user_input(crs)
    unit = parsed.axis_info[0].unit_name if parsed.axis_info else "unknown"
    if parsed.is_geographic:
        metres = resolution * _METRES_PER_DEGREE
        text = f"resolution={resolution:g} is in degrees in {crs} (about {metres:.3g} m)"
        if metres < 1.0:
            text += (
                "; likely a units slip (metres meant, degrees given): for a resolution in "
                "metres pick a projected CRS (e.g. a UTM zone), or give degrees (30 m is about "
                f"{30 / _METRES_PER_DEGREE:.2g} degrees)"
            )
        return text
    text = f"resolution={resolution:g} is in the unit of {crs} ({unit})"
    if unit == "metre" and resolution < 1.0:
        text += (
            f"; likely a units slip (degrees given for a CRS in metres): {resolution:g} degrees "
            f"is about {resolution * _METRES_PER_DEGREE:,.0f} m; give --resolution in metres, "
            "or --crs EPSG:4326 for a grid in degrees"
        )
    return text


def check_cube_size(
    spec: CubeSpec, max_bytes: float | str, *, layers: int = 1, what: str | None = None
) -> int:
    """Refuse a cube larger than ``max_bytes``; return its size in bytes.

    Parameters
    ----------
    spec
        The grid (width x height pixels from :meth:`CubeSpec.grid`).
    max_bytes
        The limit (bytes, or a text such as ``"32GB"``, see :func:`parse_max_bytes`).
    layers
        Number of float32 ``(y, x)`` layers (variables times dates); 1 checks the grid alone.
    what
        How ``layers`` is made up, for the message (e.g. ``"19 variables"``).

    Raises
    ------
    InvalidInputError
        Naming the grid size, the bytes, the CRS's unit of the resolution (and the likely units
        slip) and how to go on.
    """
    from dask.utils import format_bytes

    limit = parse_max_bytes(max_bytes)
    _, width, height, _ = spec.grid()
    nbytes = width * height * max(layers, 1) * _LAYER_ITEMSIZE
    if nbytes <= limit:
        return nbytes
    stack = f" x {what or f'{layers} layers'}" if layers > 1 or what else ""
    raise InvalidInputError(
        f"the cube grid is {width:,} x {height:,} pixels{stack} = "
        f"{format_bytes(nbytes)} as float32, above the limit max_bytes={format_bytes(limit)} "
        f"(--max-bytes); {_units_hint(spec.crs, spec.resolution)}. Coarsen the resolution, "
        "shrink the bbox, or raise max_bytes if a cube this large is intended"
    )


@overload
def _as_timestamp(value: None) -> None: ...


@overload
def _as_timestamp(value: str | datetime) -> pd.Timestamp: ...


def _as_timestamp(value: str | datetime | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def anchor_of(raster: Any) -> tuple[tuple[float, float], float]:
    """Origin ``(x0, y0)`` and pixel size of a GeoTIFF path (or a pystac Item's first asset).

    Use them as ``CubeSpec.create(anchor=..., resolution=...)`` to build a cube on the exact
    pixel grid of a source raster (no resampling of that source).
    """
    import rasterio

    href = raster
    if hasattr(raster, "assets"):
        href = next(iter(raster.assets.values())).get_absolute_href()
    with rasterio.open(href) as src:
        t = src.transform
        return (float(t.c), float(t.f)), float(t.a)
