"""The ``ds.ecocube`` accessor: sample a cube at points and move it to another grid.

Registered with :func:`xarray.register_dataset_accessor` when :mod:`ecocube.cube` is imported
(the xarray extension mechanism; no subclass of ``Dataset``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError

__all__ = ["EcocubeAccessor"]

#: Geographic dimension names accepted when a store has no ``x``/``y`` (e.g. ocean stores).
_LON_NAMES = ("lon", "longitude")
_LAT_NAMES = ("lat", "latitude")


def time_range_text(times: pd.DatetimeIndex) -> str:
    """``'YYYY-MM-DD to YYYY-MM-DD'`` of a time axis, for messages."""
    return f"{times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}"


def nearest_time(ds: xr.Dataset | xr.DataArray, time: Any) -> Any:
    """The label of ``ds["time"]`` nearest to ``time``, refusing dates outside the cube.

    A date is accepted when it lies within the cube's time range widened by a tolerance of
    half the median time step (one day for a single-date cube); inside, the nearest date is
    used, and that date (not ``time``) is returned. Non-datetime axes (cftime model calendars)
    use plain nearest lookup.

    Raises
    ------
    InvalidInputError
        ``time`` is not a date, or lies outside the range plus tolerance.
    """
    values = ds["time"].values
    if not np.issubdtype(values.dtype, np.datetime64):
        return ds["time"].sel(time=time, method="nearest").values[()]
    times = pd.DatetimeIndex(values)
    try:
        t = pd.Timestamp(time)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"time={time!r} is not a date; pass a date between {time_range_text(times)}"
        ) from err
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    if len(times) > 1:
        step = pd.Timedelta(np.median(np.diff(times.sort_values().asi8)), unit="ns")
        tol = step / 2
    else:
        tol = pd.Timedelta(days=1)
    if t < times.min() - tol or t > times.max() + tol:
        raise InvalidInputError(
            f"time={time!r} is outside the cube's time range {time_range_text(times)} "
            f"(tolerance {tol}, half the median time step); pass a date within that range"
        )
    return times[int(np.argmin(np.abs((times - t).asi8)))]


@xr.register_dataset_accessor("ecocube")
class EcocubeAccessor:
    """Cube operations on an ``xarray.Dataset`` with ``x``/``y`` coordinates and a CRS."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    @property
    def crs(self) -> Any:
        """The cube's CRS (``rasterio.crs.CRS``), read from ``spatial_ref``."""
        import rioxarray  # noqa: F401

        crs = self._ds.rio.crs
        if crs is None:
            raise InvalidInputError(
                "the dataset has no CRS (no spatial_ref coordinate) and no lon/lat dimensions; "
                "write one with ds.rio.write_crs('EPSG:4326') (or the cube's CRS)"
            )
        return crs

    def _axes(self) -> tuple[str, str, Any]:
        """Names of the x and y dimensions and the CRS of the grid.

        A store without ``x``/``y`` but with 1-D ``lon``/``lat`` (or ``longitude``/``latitude``)
        dimensions and no CRS (e.g. an ocean store written by ``ecocube.ocean.ingest``) is
        taken as a regular geographic grid in EPSG:4326.
        """
        xname, yname = self._axis_names()
        if xname == "x":
            return xname, yname, self.crs
        import rioxarray  # noqa: F401
        from rasterio.crs import CRS

        return xname, yname, self._ds.rio.crs or CRS.from_epsg(4326)

    @property
    def data_variables(self) -> list[str]:
        """Names of the data variables with both ``y`` and ``x`` (or ``lat``/``lon``) dimensions."""
        try:
            xname, yname = self._axis_names()
        except InvalidInputError:
            return []
        return [str(n) for n in self._ds.data_vars if {yname, xname} <= set(self._ds[n].dims)]

    def _axis_names(self) -> tuple[str, str]:
        dims = set(self._ds.dims)
        if {"x", "y"} <= dims:
            return "x", "y"
        xname = next((n for n in _LON_NAMES if n in dims), None)
        yname = next((n for n in _LAT_NAMES if n in dims), None)
        if xname is None or yname is None:
            raise InvalidInputError(
                f"the dataset has no x/y (or lon/lat) dimensions (dims: {dict(self._ds.sizes)}); "
                "sampling needs a regular grid with x/y in a known CRS or lon/lat in degrees"
            )
        return xname, yname

    def pixel_index(
        self, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, crs: Any = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and inside-mask of points on the cube grid.

        Parameters
        ----------
        x, y
            Point coordinates, shape ``(n,)``, in ``crs`` (default: the cube's CRS).

        Returns
        -------
        rows, cols, inside
            ``int64`` pixel indices (clipped into the grid) and a boolean mask of the points
            that fall inside it.
        """
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        if xs.shape != ys.shape or xs.ndim != 1:
            raise InvalidInputError(
                f"x and y must be 1-D arrays of the same length (got {xs.shape} and {ys.shape})"
            )
        xname, yname = self._axis_names()
        if crs is not None:
            from rasterio.crs import CRS
            from rasterio.warp import transform

            cube_crs = self._axes()[2]
            if CRS.from_user_input(crs) != cube_crs:
                tx, ty = transform(crs, cube_crs, xs, ys)
                xs, ys = np.asarray(tx), np.asarray(ty)
        gx = self._ds[xname].values
        gy = self._ds[yname].values
        if xname != "x" and gx.size and gx.max() > 180:  # 0..360 longitudes (model grids)
            xs = np.where(xs < gx.min() - 1e-9, xs + 360.0, xs)
        dx = gx[1] - gx[0] if gx.size > 1 else 1.0
        dy = gy[1] - gy[0] if gy.size > 1 else -1.0
        cols_f = np.floor((xs - (gx[0] - dx / 2)) / dx)
        rows_f = np.floor((ys - (gy[0] - dy / 2)) / dy)
        inside = (cols_f >= 0) & (cols_f < gx.size) & (rows_f >= 0) & (rows_f < gy.size)
        inside &= np.isfinite(cols_f) & np.isfinite(rows_f)
        cols = np.clip(np.nan_to_num(cols_f), 0, gx.size - 1).astype(np.int64)
        rows = np.clip(np.nan_to_num(rows_f), 0, gy.size - 1).astype(np.int64)
        return rows, cols, inside

    def sample_points(
        self,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        *,
        crs: Any = "EPSG:4326",
        variables: Sequence[str] | None = None,
        time: Any = None,
    ) -> pd.DataFrame:
        """Values of the cube's variables at points (the pixel containing each point).

        Parameters
        ----------
        x, y
            Point coordinates, shape ``(n,)`` (longitude/latitude for the default ``crs``).
        crs
            CRS of ``x``/``y``; points are transformed to the cube's CRS. A store with
            ``lon``/``lat`` dimensions and no CRS (an ocean store) is taken as EPSG:4326, with
            0-360 longitudes handled.
        variables
            Variables to sample (default: every ``(y, x)`` variable).
        time
            For variables with a ``time`` dimension: the nearest date is sampled, and a date
            outside the cube's time range (widened by half the median time step) is an error;
            the date used is in ``table.attrs["time"]``. By default such variables are
            returned as one column per time step (``name@YYYY-MM-DD``).

        Returns
        -------
        pandas.DataFrame
            One row per point (input order), columns ``x``, ``y`` (the input coordinates),
            ``row``, ``col`` (the pixel holding the point, -1 outside the cube), ``inside`` and
            one float32 column per variable (NaN outside the cube or on nodata).
        """
        names = self._names(variables)
        xname, yname = self._axis_names()
        used = (
            nearest_time(self._ds, time) if time is not None and "time" in self._ds.dims else None
        )
        rows, cols, inside = self.pixel_index(x, y, crs=crs)
        out: dict[str, Any] = {
            "x": np.asarray(x, dtype=np.float64),
            "y": np.asarray(y, dtype=np.float64),
            "row": np.where(inside, rows, -1),
            "col": np.where(inside, cols, -1),
            "inside": inside,
        }
        ri = xr.DataArray(rows, dims="point")
        ci = xr.DataArray(cols, dims="point")
        for name in names:
            da = self._ds[name]
            if "time" in da.dims and used is not None:
                da = da.sel(time=used)
            picked = da.isel({yname: ri, xname: ci})
            vals = np.asarray(picked.values, dtype=np.float32)
            if vals.ndim == 1:
                out[name] = np.where(inside, vals, np.nan)
            else:
                tdim = next(d for d in da.dims if d not in (yname, xname))
                vals = np.moveaxis(vals, list(picked.dims).index("point"), 0)
                for k, lab in enumerate(_labels(da[tdim].values)):
                    out[f"{name}@{lab}"] = np.where(inside, vals[:, k], np.nan)
        table = pd.DataFrame(out)
        if used is not None:
            table.attrs["time"] = used  # the date actually sampled (nearest to time=)
        return table

    def _names(self, variables: Sequence[str] | None) -> list[str]:
        names = list(variables) if variables is not None else self.data_variables
        unknown = [n for n in names if n not in self._ds.data_vars]
        if unknown:
            raise InvalidInputError(
                f"variables={unknown!r} not in the cube; available: {self.data_variables}"
            )
        return names

    def sample_columns(
        self, variables: Sequence[str] | None = None, *, time: Any = None
    ) -> list[str]:
        """Columns :meth:`sample_points` adds besides ``x``/``y`` (for clash checks)."""
        names = self._names(variables)
        cols = ["row", "col", "inside"]
        xname, yname = self._axis_names()
        for name in names:
            da = self._ds[name]
            extra = [d for d in da.dims if d not in (yname, xname)]
            if not extra or (time is not None and extra == ["time"]):
                cols.append(str(name))
            else:
                cols += [f"{name}@{lab}" for lab in _labels(da[extra[0]].values)]
        return cols

    def to_grid(
        self,
        other: xr.Dataset | xr.DataArray | None = None,
        *,
        crs: Any = None,
        resolution: float | None = None,
        categorical: Sequence[str] | None = None,
    ) -> xr.Dataset:
        """Reproject the cube onto another cube's grid, or onto ``crs``/``resolution``.

        Continuous variables use bilinear resampling (average when the new grid is coarser),
        categorical ones (``ecocube:kind == "categorical"`` or listed in ``categorical``) use
        nearest (mode when coarser). Output is float32 with NaN for nodata.
        """
        import rioxarray  # noqa: F401
        from rasterio.enums import Resampling

        if other is None and crs is None:
            raise InvalidInputError("to_grid needs another dataset or crs= (and resolution=)")
        if resolution is not None and resolution <= 0:
            raise InvalidInputError(f"resolution={resolution!r} must be > 0")
        ds = self._ds
        cats = set(categorical or ())
        cats |= {str(n) for n in ds.data_vars if ds[n].attrs.get("ecocube:kind") == "categorical"}
        src_res = abs(float(ds.x[1] - ds.x[0])) if ds.sizes["x"] > 1 else 0.0
        if other is not None:
            dst_res = abs(float(other.x[1] - other.x[0])) if other.sizes["x"] > 1 else 0.0
            same_crs = other.rio.crs == ds.rio.crs
        else:
            dst_res = resolution or src_res
            same_crs = ds.rio.crs == crs
        coarser = same_crs and dst_res >= 2 * src_res
        out = {}
        for name in self.data_variables:
            da = ds[name].astype(np.float32).rio.write_nodata(np.nan)
            if name in cats:
                how = Resampling.mode if coarser else Resampling.nearest
            else:
                how = Resampling.average if coarser else Resampling.bilinear
            if other is not None:
                res = da.rio.reproject_match(other, resampling=how)
            else:
                res = da.rio.reproject(crs, resolution=resolution, resampling=how)
            res = res.astype(np.float32)
            res.attrs = {**ds[name].attrs, "ecocube:resampling": how.name}
            out[name] = res
        result = xr.Dataset(out)
        result.attrs = dict(ds.attrs)
        return result


def _labels(values: np.ndarray) -> list[str]:
    """``YYYY-MM-DD`` labels of a time axis (datetime64 or cftime); other axes as text."""
    if np.issubdtype(values.dtype, np.datetime64):
        return list(pd.DatetimeIndex(values).strftime("%Y-%m-%d"))
    return [v.strftime("%Y-%m-%d") if hasattr(v, "strftime") else str(v) for v in values]
