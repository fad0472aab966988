"""Cloud/shadow masks (Sentinel-2 SCL, Landsat QA), temporal composites, spectral indices,
and the land and nodata masks of a cube's grid (:func:`land_mask`, :func:`map_mask`).

The land mask comes from the cube's own land cover where it covers a cell (a class-coded layer
with a water class, or per-class fractions) and elsewhere from the global 1/120-degree mask
bundled with the ``global-land-mask`` package, read row by row from its compressed file
(:class:`GlobalLandMask`), so that a tile costs a few megabytes whatever the region.
"""

from __future__ import annotations

import importlib.util
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import numpy as np
import xarray as xr

from ecocube.errors import InvalidInputError, MissingDependencyError

__all__ = [
    "MASK_CHOICES",
    "SCL_MASK_CLASSES",
    "SCL_OPTIONAL_CLASSES",
    "WATER_WORDS",
    "GlobalLandMask",
    "check_mask",
    "composite",
    "land_mask",
    "landsat_c1_mask",
    "landsat_c2_mask",
    "map_mask",
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


# -- land and nodata masks of a cube's grid ---------------------------------------------------

#: Words of a land-cover class name that make it water (WorldCover "permanent water bodies",
#: GAM "inland waters"): such cells are not land.
WATER_WORDS: frozenset[str] = frozenset({"water", "waters", "ocean", "sea", "lake", "lakes"})
#: Values of ``mask=`` besides the name of a cube variable.
MASK_CHOICES: tuple[str, ...] = ("land", "none")

_MASK_MEMBER = "mask.npy"
#: Rows decompressed at once by :class:`GlobalLandMask` (43,200 bytes each).
_ROW_BLOCK = 64


def _globe_file() -> Path:
    """The compressed mask file of the installed ``global-land-mask`` package.

    Importing the package would decompress the whole 21,600 x 43,200 mask (0.9 GB); only its
    location is looked up here.
    """
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "'global_land_mask' is required for the land mask but is not installed; install "
            "it with: pip install 'ecocube[cube]' (or pass mask='none' or a mask variable)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "globe_combined_mask_compressed.npz"


class GlobalLandMask:
    """The global land mask of ``global-land-mask`` (1/120 degree, GLOBE), read row by row.

    The package's mask is a boolean ``(21600, 43200)`` array (True on the ocean) stored
    deflate-compressed in a ``.npz`` file. This reader decompresses it forward only and keeps
    the rows around the latest request (bit-packed, 5,400 bytes a row), so that a tile of a
    map costs a few megabytes; requests that move north of the kept rows restart the stream
    (about 2 s for the whole file). Cells are looked up exactly as
    ``global_land_mask.globe.is_land`` does. Use it as a context manager, or call
    :meth:`close`.

    Parameters
    ----------
    path
        The ``.npz`` file; default: the one of the installed package.

    Raises
    ------
    MissingDependencyError
        ``global-land-mask`` is not installed and no ``path`` is given.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else _globe_file()
        with np.load(self.path) as npz:  # the coordinate vectors are small
            self._lat = np.asarray(npz["lat"], dtype=np.float64)
            self._lon = np.asarray(npz["lon"], dtype=np.float64)
        self._zip: zipfile.ZipFile | None = None
        self._stream: IO[bytes] | None = None
        self._ncols = int(self._lon.size)
        self._first = 0  # the kept rows are [_first, _next)
        self._next = 0
        self._rows = np.empty((0, (self._ncols + 7) // 8), dtype=np.uint8)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the compressed file (a later lookup opens it again)."""
        if self._stream is not None:
            self._stream.close()
        if self._zip is not None:
            self._zip.close()
        self._stream = self._zip = None
        self._first = self._next = 0
        self._rows = self._rows[:0]

    def is_land(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Whether each point lies on land (lakes mostly count as land, as in the package).

        Parameters
        ----------
        lat, lon
            Latitudes and longitudes in degrees (WGS 84), arrays of one shape; longitudes
            are wrapped into -180..180. Non-finite coordinates give ``False``.

        Returns
        -------
        numpy.ndarray
            Boolean array of the shape of ``lat``.
        """
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        if lat.shape != lon.shape:
            raise InvalidInputError(
                f"lat and lon must have one shape (got {lat.shape} and {lon.shape})"
            )
        ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0)
        out = np.zeros(lat.shape, dtype=bool)
        if not ok.any():
            return out
        la = np.clip(lat[ok], self._lat.min(), self._lat.max())
        lo = np.where(np.abs(lon[ok]) <= 180.0, lon[ok], (lon[ok] + 180.0) % 360.0 - 180.0)
        lo = np.clip(lo, self._lon.min(), self._lon.max())
        rows = ((la - self._lat[0]) / (self._lat[1] - self._lat[0])).astype(np.int64)
        cols = ((lo - self._lon[0]) / (self._lon[1] - self._lon[0])).astype(np.int64)
        self._ensure(int(rows.min()), int(rows.max()))
        packed = self._rows[rows - self._first, cols >> 3]
        ocean = (packed >> (7 - (cols & 7)).astype(np.uint8)) & 1
        out[ok] = ocean == 0
        return out

    # -- the forward-only stream ------------------------------------------------------------
    def _restart(self) -> None:
        self.close()
        self._zip = zipfile.ZipFile(self.path)
        try:
            stream = self._zip.open(_MASK_MEMBER)
        except KeyError as err:
            raise InvalidInputError(
                f"{str(self.path)!r} holds no {_MASK_MEMBER!r}; it is not the mask file of "
                "global-land-mask (reinstall the package)"
            ) from err
        version = np.lib.format.read_magic(stream)
        header = (
            np.lib.format.read_array_header_1_0(stream)
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0(stream)
        )
        shape, fortran, dtype = header
        if dtype != np.dtype(bool) or fortran or shape != (self._lat.size, self._ncols):
            stream.close()
            raise InvalidInputError(
                f"{str(self.path)!r}: the mask is {dtype} {shape} (Fortran order: {fortran}), "
                f"expected bool ({self._lat.size}, {self._ncols}); reinstall global-land-mask"
            )
        self._stream = stream

    def _read(self, n: int, *, keep: bool) -> None:
        """Decompress the next ``n`` rows; append them to the kept rows when ``keep``."""
        assert self._stream is not None
        blocks = []
        while n > 0:
            k = min(n, _ROW_BLOCK)
            raw = self._stream.read(k * self._ncols)
            if len(raw) != k * self._ncols:
                raise InvalidInputError(
                    f"{str(self.path)!r} ends before row {self._next + k} of the mask; the file "
                    "is damaged, reinstall global-land-mask"
                )
            if keep:
                rows = np.frombuffer(raw, dtype=bool).reshape(k, self._ncols)
                blocks.append(np.packbits(rows, axis=1))
            self._next += k
            n -= k
        if keep and blocks:
            self._rows = np.concatenate([self._rows, *blocks])

    def _ensure(self, lo: int, hi: int) -> None:
        """Keep rows ``lo..hi`` (inclusive), and a margin north of them for the next tile."""
        if self._stream is None or lo < self._first:
            self._restart()
        keep_from = max(lo - (hi - lo + 1) - 16, 0)
        if keep_from > self._first:
            cut = min(keep_from, self._next) - self._first
            self._rows = self._rows[cut:]
            self._first += cut
        if self._next < keep_from:  # nothing kept: skip to the window
            self._read(keep_from - self._next, keep=False)
            self._first = self._next
        if self._next <= hi:
            self._read(hi + 1 - self._next, keep=True)


def _xy_names(ds: xr.Dataset) -> tuple[str, str]:
    if "x" not in ds.dims or "y" not in ds.dims:
        raise InvalidInputError(
            f"the cube has no x/y dimensions (dims: {dict(ds.sizes)}); masks and maps need a "
            "cube built by `ecocube cube build` (x/y in its CRS)"
        )
    return "x", "y"


def _is_grid_layer(da: xr.DataArray) -> bool:
    return set(map(str, da.dims)) == {"y", "x"}


def _is_water(name: str) -> bool:
    return any(w in WATER_WORDS for w in re.split(r"[^a-z]+", str(name).lower()))


def _water_codes(da: xr.DataArray) -> list[float] | None:
    """Class codes of water in a class-coded land-cover layer, or ``None`` if it has none."""
    if da.attrs.get("ecocube:kind") != "categorical" or "ecocube:flags" in da.attrs:
        return None
    values, meanings = da.attrs.get("flag_values"), da.attrs.get("flag_meanings")
    if values is None or meanings is None:
        return None
    values = list(np.atleast_1d(values))
    names = str(meanings).split()
    if len(names) != len(values):
        return None
    codes = [float(v) for v, n in zip(values, names, strict=True) if _is_water(n)]
    return codes or None


def _land_cover_sources(ds: xr.Dataset) -> list[tuple[str, list[str], list[float]]]:
    """The land-cover layers of ``ds`` that can tell land from water, in the cube's order.

    Each entry is ``(kind, variables, water)``: ``("classes", [name], water codes)`` for a
    class-coded layer with a water class, ``("fractions", [names], [1.0 if water else 0.0 per
    name])`` for the per-class fraction layers of one source.
    """
    out: list[tuple[str, list[str], list[float]]] = []
    groups: dict[str, list[str]] = {}
    for name in map(str, ds.data_vars):
        da = ds[name]
        if not _is_grid_layer(da):
            continue
        codes = _water_codes(da)
        if codes is not None:
            out.append(("classes", [name], codes))
        elif da.attrs.get("ecocube:kind") == "fraction" and "_frac_" in name:
            groups.setdefault(name.rsplit("_frac_", 1)[0], []).append(name)
    for members in groups.values():
        water = [
            1.0 if _is_water(ds[m].attrs.get("ecocube:class_description", "")) else 0.0
            for m in members
        ]
        out.append(("fractions", members, water))
    return out


def _lonlat(ds: xr.Dataset, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS 84) of the centres of cells ``(rows, cols)`` of ``ds``."""
    import rioxarray  # noqa: F401  (the .rio accessor)
    from pyproj import CRS, Transformer

    crs = ds.rio.crs
    if crs is None:
        raise InvalidInputError(
            "the cube has no CRS (no spatial_ref coordinate); the land mask needs one: write "
            "it with ds.rio.write_crs('EPSG:4326') (or the cube's CRS), or pass mask='none'"
        )
    x = np.asarray(ds["x"].values, dtype=np.float64)[cols]
    y = np.asarray(ds["y"].values, dtype=np.float64)[rows]
    src = CRS.from_user_input(crs.to_wkt())
    if src.equals(CRS.from_epsg(4326)):
        return x, y
    lon, lat = Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True).transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def land_mask(ds: xr.Dataset, *, globe: GlobalLandMask | None = None) -> xr.DataArray:
    """True on the land cells of a cube's ``(y, x)`` grid.

    Each cell is decided by the first of these that covers it: a class-coded land-cover
    layer of the cube with a water class (``flag_meanings`` with a word of
    :data:`WATER_WORDS`, e.g. WorldCover 80 "permanent water bodies": land where the class
    is not water), then the per-class fraction layers of one source (``<name>_frac_<code>``:
    land where the fractions sum to more than 0.5 and water is at most half of them, so
    land-use fractions that sum to about 0 over the sea give sea). A layer covers the cells
    where it is not NaN. The remaining cells take the global 1/120-degree mask of
    ``global-land-mask`` at their centres (projected grids are transformed to lon/lat). No
    file is downloaded.

    Parameters
    ----------
    ds
        A cube (or a window of one, ``ds.isel(y=..., x=...)``) with ``x``/``y`` and a CRS.
    globe
        An open :class:`GlobalLandMask` to reuse across windows (default: one for this call).

    Returns
    -------
    xarray.DataArray
        Boolean ``(y, x)`` with the cube's coordinates, named ``land``.

    Raises
    ------
    InvalidInputError
        The dataset has no x/y dimensions, or no CRS where the global mask is needed.
    MissingDependencyError
        The global mask is needed and ``global-land-mask`` is not installed.
    """
    _xy_names(ds)
    shape = (ds.sizes["y"], ds.sizes["x"])
    land = np.zeros(shape, dtype=bool)
    decided = np.zeros(shape, dtype=bool)
    for kind, names, water in _land_cover_sources(ds):
        if decided.all():
            break
        if kind == "classes":
            codes = np.asarray(ds[names[0]].transpose("y", "x").values, dtype=np.float64)
            covered = np.isfinite(codes)
            is_land = covered & ~np.isin(codes, water)
        else:
            total = np.zeros(shape, dtype=np.float64)
            wet = np.zeros(shape, dtype=np.float64)
            for name, w in zip(names, water, strict=True):
                frac = np.asarray(ds[name].transpose("y", "x").values, dtype=np.float64)
                total += frac  # NaN where the source has no data
                wet += w * np.nan_to_num(frac)
            covered = np.isfinite(total)
            is_land = covered & (total > 0.5) & (wet <= 0.5 * np.where(covered, total, 0.0))
        new = covered & ~decided
        land[new] = is_land[new]
        decided |= covered
    if not decided.all():
        rows, cols = np.nonzero(~decided)
        lon, lat = _lonlat(ds, rows, cols)
        if globe is None:
            with GlobalLandMask() as own:
                land[rows, cols] = own.is_land(lat, lon)
        else:
            land[rows, cols] = globe.is_land(lat, lon)
    return xr.DataArray(
        land, dims=("y", "x"), coords={"y": ds["y"].values, "x": ds["x"].values}, name="land"
    )


def check_mask(ds: xr.Dataset, mask: str) -> str:
    """Raise unless ``mask`` is ``"land"``, ``"none"`` or a ``(y, x)`` variable of ``ds``.

    Returns
    -------
    str
        ``mask`` itself.

    Raises
    ------
    InvalidInputError
        Any other value, naming the choices and the cube's ``(y, x)`` variables.
    """
    if not isinstance(mask, str):
        raise InvalidInputError(
            f"mask={mask!r} must be 'land', 'none' or the name of a cube variable"
        )
    if mask in MASK_CHOICES:
        return mask
    if mask in ds.data_vars and _is_grid_layer(ds[mask]):
        return mask
    grid = [str(n) for n in ds.data_vars if _is_grid_layer(ds[n])]
    what = "has dimensions " + str(tuple(ds[mask].dims)) if mask in ds.data_vars else "is not"
    raise InvalidInputError(
        f"mask={mask!r} {what} a (y, x) variable of the cube; use 'land' (land cover, else the "
        f"global land mask), 'none', or one of the cube's (y, x) variables: {grid}"
    )


def map_mask(
    ds: xr.Dataset,
    *,
    mask: str = "land",
    variables: Sequence[str] = (),
    globe: GlobalLandMask | None = None,
) -> xr.DataArray:
    """True on the cells of a cube's grid that a map covers.

    A cell is left out (False) where any of ``variables`` is NaN or infinite (nodata), and
    where ``mask`` excludes it: ``"land"`` keeps land cells (:func:`land_mask`), ``"none"``
    keeps every cell, and the name of a cube variable keeps the cells where that variable is
    finite and non-zero.

    Parameters
    ----------
    ds
        A cube, or a window of one (``ds.isel(y=..., x=...)``).
    mask
        ``"land"``, ``"none"`` or a ``(y, x)`` variable of ``ds``.
    variables
        Input variables whose nodata cells are left out.
    globe
        An open :class:`GlobalLandMask` to reuse across windows.

    Returns
    -------
    xarray.DataArray
        Boolean ``(y, x)``, named ``mask``.

    Raises
    ------
    InvalidInputError
        ``mask`` is not a choice or a ``(y, x)`` variable, a variable is missing, or the
        dataset has no x/y dimensions.
    """
    _xy_names(ds)
    check_mask(ds, mask)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise InvalidInputError(
            f"variables={missing!r} are not in the cube; available: {list(map(str, ds.data_vars))}"
        )
    shape = (ds.sizes["y"], ds.sizes["x"])
    keep = np.ones(shape, dtype=bool)
    for name in variables:
        keep &= np.isfinite(np.asarray(ds[name].transpose("y", "x").values, dtype=np.float64))
    if mask == "land":
        keep &= land_mask(ds, globe=globe).values
    elif mask != "none":
        layer = np.asarray(ds[mask].transpose("y", "x").values, dtype=np.float64)
        keep &= np.isfinite(layer) & (layer != 0)
    return xr.DataArray(
        keep, dims=("y", "x"), coords={"y": ds["y"].values, "x": ds["x"].values}, name="mask"
    )
