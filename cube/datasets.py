"""PyTorch datasets over a cube: a torchgeo ``GeoDataset`` and a point-centred patch dataset.

Both hold the cube in memory as one ``float32`` array ``(C, H, W)`` and cut patches with numpy
indexing; :class:`PointPatchDataset` gathers whole batches with one vectorised gather
(``__getitems__``), so no per-sample file read or Python loop over pixels happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube._lazy import lazy_import
from ecocube.cube.accessor import nearest_time, time_range_text
from ecocube.errors import InvalidInputError

__all__ = ["CubeGeoDataset", "PointPatchDataset", "collate_points", "cube_array"]

torch = lazy_import("torch")
_tg_geo = lazy_import("torchgeo.datasets.geo")


def _as_dataset(cube: xr.Dataset | str | Path) -> xr.Dataset:
    if isinstance(cube, xr.Dataset):
        return cube
    from ecocube.cube._zarr import open_cube

    return open_cube(cube)


def cube_array(
    cube: xr.Dataset | str | Path,
    variables: Sequence[str] | None = None,
    *,
    time: Any = None,
) -> tuple[np.ndarray, list[str], xr.Dataset]:
    """Load ``(y, x)`` variables of a cube into one C-contiguous ``float32`` array ``(C, H, W)``.

    Variables with a ``time`` dimension are taken at the date nearest to ``time`` (a date
    outside the cube's time range, widened by half the median time step, is an error); without
    ``time`` they are skipped unless listed in ``variables`` (then an error asks for ``time``).
    By default (``variables=None``) every ``(y, x)`` variable is loaded, and with ``time`` every
    ``(time, y, x)`` one too.
    """
    ds = _as_dataset(cube)
    static = [n for n in ds.data_vars if tuple(ds[n].dims) == ("y", "x")]
    series = [n for n in ds.data_vars if tuple(ds[n].dims) == ("time", "y", "x")]
    if variables is not None:
        names = list(variables)
    else:
        names = [str(n) for n in ds.data_vars if n in static or (time is not None and n in series)]
    unknown = [n for n in names if n not in ds.data_vars]
    if unknown:
        raise InvalidInputError(
            f"variables={unknown!r} not in the cube; available: {sorted(map(str, ds.data_vars))}"
        )
    if not names:
        if series:
            raise InvalidInputError(
                f"the cube's variables {[str(n) for n in series]} have a time dimension; pass "
                f"time= to pick one date ({time_range_text(pd.DatetimeIndex(ds['time'].values))})"
            )
        raise InvalidInputError("the cube has no (y, x) variable to load; pass variables=")
    used = nearest_time(ds, time) if time is not None and "time" in ds.dims else None
    layers = []
    for n in names:
        da = ds[n]
        if "time" in da.dims:
            if used is None:
                raise InvalidInputError(
                    f"variable {n!r} has a time dimension; pass time= to pick one date"
                )
            da = da.sel(time=used)
        layers.append(np.asarray(da.transpose("y", "x").values, dtype=np.float32))
    return np.ascontiguousarray(np.stack(layers)), [str(n) for n in names], ds


class CubeGeoDataset(_tg_geo.GeoDataset):  # type: ignore[misc,name-defined]
    """A torchgeo ``GeoDataset`` over an ecocube cube (Zarr path or Dataset).

    torchgeo samplers (``RandomGeoSampler``, ``GridGeoSampler``, batch samplers) work on it
    unchanged; samples are ``{"image": float32 tensor (C, h, w), "crs", "bounds"}`` (or
    ``"mask"`` when ``is_image`` is False). Queries at another resolution than the cube's are
    answered by nearest-neighbour lookup; pixels outside the cube are NaN.

    Parameters
    ----------
    cube
        Path of a cube written by :func:`ecocube.cube.write_cube`, or an ``xarray.Dataset``.
    variables
        Bands, in order (default: every ``(y, x)`` variable; with a time series, every
        variable with ``y``/``x``).
    time
        Date to take for variables with a ``time`` dimension: the nearest date of the cube,
        which labels the index entry; a date outside the cube's time range (widened by half
        the median time step) is an error. ``None`` with time-series variables gives one index
        entry per date (torchgeo's samplers then pick dates too; static variables are repeated
        for every date).
    transforms
        Callable applied to every sample dict.
    is_image
        Put the data under ``"image"`` (True) or ``"mask"`` (False, squeezed to ``(h, w)``
        when there is one band).
    """

    def __init__(
        self,
        cube: xr.Dataset | str | Path,
        *,
        variables: Sequence[str] | None = None,
        time: Any = None,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        is_image: bool = True,
    ) -> None:
        import geopandas as gpd
        import shapely

        ds = _as_dataset(cube)
        names = list(variables) if variables is not None else None
        series = [
            n
            for n in (names or [str(v) for v in ds.data_vars])
            if n in ds.data_vars and "time" in ds[n].dims and {"y", "x"} <= set(ds[n].dims)
        ]
        if time is None and series:
            # one index entry per date; static variables are repeated for every date
            if names is None:
                names = [str(n) for n in ds.data_vars if {"y", "x"} <= set(ds[n].dims)]
            times = pd.DatetimeIndex(ds["time"].values)
            stack = np.stack([cube_array(ds, names, time=t)[0] for t in times])
            intervals = [(t, t) for t in times]
        else:
            arr, names, ds = cube_array(ds, names, time=time)
            stack = arr[None]
            if time is not None and "time" in ds.dims:
                t = pd.Timestamp(nearest_time(ds, time))  # the date used, not the one asked
                intervals = [(t, t)]
            elif time is not None:
                t = pd.Timestamp(time)
                intervals = [(t, t)]
            else:
                intervals = [(pd.Timestamp.min, pd.Timestamp.max)]
        self.stack = stack
        self.bands = tuple(str(n) for n in names)
        self.transforms = transforms
        self.is_image = is_image
        self.paths = str(cube) if not isinstance(cube, xr.Dataset) else "<memory>"
        xs, ys = ds["x"].values, ds["y"].values
        self._xres = float(abs(xs[1] - xs[0])) if xs.size > 1 else 1.0
        self._yres = float(abs(ys[1] - ys[0])) if ys.size > 1 else 1.0
        self._res = (self._xres, self._yres)
        self._left = float(xs.min()) - self._xres / 2
        self._top = float(ys.max()) + self._yres / 2
        right = float(xs.max()) + self._xres / 2
        bottom = float(ys.min()) - self._yres / 2
        self._flip_y = ys.size > 1 and ys[1] > ys[0]
        index = pd.IntervalIndex.from_tuples(intervals, closed="both", name="datetime")
        footprint = shapely.box(self._left, bottom, right, self._top)
        self.index = gpd.GeoDataFrame(
            {"filepath": [self.paths] * len(intervals)},
            index=index,
            geometry=[footprint] * len(intervals),
            crs=ds.ecocube.crs,
        )

    @property
    def array(self) -> np.ndarray:
        """The first (or only) date as ``float32 (C, H, W)``."""
        return self.stack[0]

    def __getitem__(self, query: Any) -> dict[str, Any]:
        """Patch for a ``[xmin:xmax:xres, ymin:ymax:yres, tmin:tmax]`` query."""
        x, y, t = self._disambiguate_slice(query)
        k = 0
        if self.stack.shape[0] > 1:
            iv = self.index.index
            hits = np.flatnonzero((iv.left <= t.stop) & (iv.right >= t.start))
            if hits.size == 0:
                raise IndexError(f"query: {query} not found in index with bounds: {self.bounds}")
            k = int(hits[0])
        layer = self.stack[k]
        xstep = x.step or self._xres
        ystep = y.step or self._yres
        ncols = max(1, round((x.stop - x.start) / xstep))
        nrows = max(1, round((y.stop - y.start) / ystep))
        cx = x.start + (np.arange(ncols) + 0.5) * xstep
        cy = y.stop - (np.arange(nrows) + 0.5) * ystep
        cols = np.floor((cx - self._left) / self._xres).astype(np.int64)
        rows = np.floor((self._top - cy) / self._yres).astype(np.int64)
        h, w = layer.shape[1:]
        if self._flip_y:
            rows = h - 1 - rows
        if rows.max() < 0 or rows.min() >= h or cols.max() < 0 or cols.min() >= w:
            raise IndexError(f"query: {query} not found in index with bounds: {self.bounds}")
        if rows.min() >= 0 and rows.max() < h and cols.min() >= 0 and cols.max() < w:
            if np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1):
                data = layer[:, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()
            else:
                data = layer[:, rows[:, None], cols[None, :]]
        else:
            ok_r = (rows >= 0) & (rows < h)
            ok_c = (cols >= 0) & (cols < w)
            data = layer[:, np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None]]
            data[:, ~ok_r, :] = np.nan
            data[:, :, ~ok_c] = np.nan
        tensor = torch.from_numpy(np.ascontiguousarray(data))
        sample: dict[str, Any] = {"crs": self.crs, "bounds": query}
        if self.is_image:
            sample["image"] = tensor
        else:
            sample["mask"] = tensor.squeeze(0)
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample


class PointPatchDataset(torch.utils.data.Dataset):  # type: ignore[misc,name-defined]
    """Point-centred samples: a multi-band patch, the covariates at the point and targets.

    Each item is a dict with ``"image"`` (float32 ``(C, P, P)``, the patch centred on the
    point's pixel; NaN outside the cube), ``"covariates"`` (float32 ``(C,)``, the point's pixel),
    ``"target"`` (float32 ``(T,)``), ``"index"`` (row in ``points``) and ``"coords"``
    (``(x, y)`` in the cube CRS). ``__getitems__`` returns whole batches gathered with one
    vectorised numpy index into a sliding-window view of the in-memory cube; use
    :func:`ecocube.cube.point_loader` for a seeded DataLoader.

    Parameters
    ----------
    cube
        Cube path or ``xarray.Dataset``.
    points
        Table with point coordinates (columns ``x_col``/``y_col`` in ``crs``) and targets.
    patch_size
        Patch side in pixels (>= 1; 1 gives the pixel values as a ``(C, 1, 1)`` patch).
    variables
        Bands (default: every ``(y, x)`` variable of the cube).
    targets
        Column name(s) of ``points`` used as targets (default: none, ``(0,)`` targets).
    crs
        CRS of the point coordinates (default lon/lat).
    drop_outside
        Drop points outside the cube (else raise). When every point is outside (swapped
        coordinates, wrong ``crs``) it is an error either way.
    fill_value
        Replace NaN (nodata, outside the cube) by this value in patches and covariates.
    time
        Date to take for variables with a ``time`` dimension (the nearest date, kept in
        ``self.time``; a date outside the cube's time range is an error).
    """

    def __init__(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        patch_size: int = 1,
        variables: Sequence[str] | None = None,
        targets: Sequence[str] | str | None = None,
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
        drop_outside: bool = True,
        fill_value: float | None = None,
        time: Any = None,
    ) -> None:
        if not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
            raise InvalidInputError(f"patch_size={patch_size!r} must be an integer >= 1")
        arr, names, ds = cube_array(cube, variables, time=time)
        _, h, w = arr.shape
        if patch_size > min(h, w):
            raise InvalidInputError(
                f"patch_size={patch_size} is larger than the cube ({h} x {w} pixels); "
                f"use patch_size <= {min(h, w)} or build a larger cube"
            )
        for col in (x_col, y_col):
            if col not in points.columns:
                raise InvalidInputError(
                    f"points has no column {col!r} (columns: {list(points.columns)}); "
                    "pass x_col=/y_col="
                )
        tcols = [targets] if isinstance(targets, str) else list(targets or [])
        missing = [t for t in tcols if t not in points.columns]
        if missing:
            raise InvalidInputError(
                f"targets={missing!r} not in points columns {list(points.columns)}"
            )
        for t in tcols:
            if pd.api.types.is_bool_dtype(points[t]):
                continue
            num = pd.to_numeric(points[t], errors="coerce")
            bad = num.isna() & points[t].notna()
            if bad.any():
                raise InvalidInputError(
                    f"target column {t!r} holds {int(bad.sum())} non-numeric value(s) (e.g. "
                    f"{sorted(map(str, points.loc[bad, t].unique()))[:5]}); targets must be "
                    "numbers: encode them (e.g. 0/1 for presence/absence) or drop those rows"
                )
        rows, cols, inside = ds.ecocube.pixel_index(
            points[x_col].to_numpy(), points[y_col].to_numpy(), crs=crs
        )
        if not inside.all() and not drop_outside:
            bad = np.flatnonzero(~inside)[:5].tolist()
            raise InvalidInputError(
                f"{int((~inside).sum())} point(s) fall outside the cube (first rows {bad}); "
                "pass drop_outside=True or build a cube covering them"
            )
        if len(points) and not inside.any():
            gx, gy = ds["x"].values, ds["y"].values
            px, py = points[x_col].to_numpy(float), points[y_col].to_numpy(float)
            raise InvalidInputError(
                f"all {len(points)} points fall outside the cube (points {x_col} "
                f"{np.nanmin(px):.6g}..{np.nanmax(px):.6g}, {y_col} {np.nanmin(py):.6g}.."
                f"{np.nanmax(py):.6g} in crs={crs!r}; cube x {gx.min():.6g}..{gx.max():.6g}, "
                f"y {gy.min():.6g}..{gy.max():.6g} in {ds.ecocube.crs}); check that x_col/y_col "
                "are not swapped (x is longitude) and that crs= is the CRS of the points"
            )
        self.variables = tuple(names)
        #: the date actually used for time-series variables (nearest to ``time``), or None
        self.time = nearest_time(ds, time) if time is not None and "time" in ds.dims else None
        self.patch_size = int(patch_size)
        self.index = np.flatnonzero(inside)
        self.rows = rows[inside]
        self.cols = cols[inside]
        if fill_value is not None:
            arr = np.where(np.isnan(arr), np.float32(fill_value), arr).astype(np.float32)
        half = self.patch_size // 2
        after = self.patch_size - 1 - half
        pad_value = np.float32(np.nan if fill_value is None else fill_value)
        padded = np.pad(arr, ((0, 0), (half, after), (half, after)), constant_values=pad_value)
        self._padded = padded
        win = np.lib.stride_tricks.sliding_window_view(
            padded, (self.patch_size, self.patch_size), axis=(1, 2)
        )
        # (C, H, W, P, P) -> (H, W, C, P, P): one fancy index gives (B, C, P, P) contiguous
        self._windows = win.transpose(1, 2, 0, 3, 4)
        self.covariates = np.ascontiguousarray(arr[:, self.rows, self.cols].T)
        self.targets = (
            points[tcols].apply(pd.to_numeric).to_numpy(dtype=np.float32)[inside]
            if tcols
            else np.zeros((len(self.rows), 0), dtype=np.float32)
        )
        gx, gy = ds["x"].values, ds["y"].values
        self.coords = np.stack([gx[self.cols], gy[self.rows]], axis=1).astype(np.float64)

    def __len__(self) -> int:
        return int(self.rows.size)

    def _batch(self, idx: np.ndarray) -> dict[str, Any]:
        r, c = self.rows[idx], self.cols[idx]
        if self.patch_size == 1:
            patches = self.covariates[idx][:, :, None, None]
        else:
            patches = self._windows[r, c]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(patches)),
            "covariates": torch.from_numpy(self.covariates[idx]),
            "target": torch.from_numpy(self.targets[idx]),
            "index": torch.from_numpy(self.index[idx]),
            "coords": torch.from_numpy(self.coords[idx]),
        }

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"index {i} out of range for {n} points")
        out = self._batch(np.array([int(i) % n]))
        return {k: v[0] for k, v in out.items()}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        """A whole batch at once (used by ``torch.utils.data.DataLoader``)."""
        return self._batch(np.asarray(indices, dtype=np.int64))


def collate_points(samples: Sequence[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    """Collate point samples into a batch; a batch from ``__getitems__`` passes through."""
    if isinstance(samples, dict):
        return samples
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
