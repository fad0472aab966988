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
                "the dataset has no CRS; write one with ds.rio.write_crs('EPSG:4326')"
            )
        return crs

    @property
    def data_variables(self) -> list[str]:
        """Names of the data variables with both ``y`` and ``x`` dimensions."""
        return [n for n in self._ds.data_vars if {"y", "x"} <= set(self._ds[n].dims)]

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
        if crs is not None:
            from rasterio.crs import CRS
            from rasterio.warp import transform

            if CRS.from_user_input(crs) != self.crs:
                tx, ty = transform(crs, self.crs, xs, ys)
                xs, ys = np.asarray(tx), np.asarray(ty)
        gx = self._ds["x"].values
        gy = self._ds["y"].values
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
            CRS of ``x``/``y``; points are transformed to the cube's CRS.
        variables
            Variables to sample (default: every ``(y, x)`` variable).
        time
            For variables with a ``time`` dimension: a label picked with ``method="nearest"``;
            by default such variables are returned as one column per time step.

        Returns
        -------
        pandas.DataFrame
            One row per point (input order), columns ``x``, ``y`` (the input coordinates),
            ``row``, ``col`` (the pixel holding the point, -1 outside the cube), ``inside`` and
            one float32 column per variable (NaN outside the cube or on nodata).
        """
        names = list(variables) if variables is not None else self.data_variables
        unknown = [n for n in names if n not in self._ds.data_vars]
        if unknown:
            raise InvalidInputError(
                f"variables={unknown!r} not in the cube; available: {self.data_variables}"
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
            if "time" in da.dims and time is not None:
                da = da.sel(time=time, method="nearest")
            vals = np.asarray(da.isel(y=ri, x=ci).values, dtype=np.float32)
            if vals.ndim == 1:
                vals = np.where(inside, vals, np.nan)
                out[name] = vals
            else:
                tdim = next(d for d in da.dims if d not in ("y", "x"))
                labels = pd.DatetimeIndex(da[tdim].values).strftime("%Y-%m-%d")
                axis = list(da.isel(y=ri, x=ci).dims).index("point")
                vals = np.moveaxis(vals, axis, 0)
                for k, lab in enumerate(labels):
                    out[f"{name}@{lab}"] = np.where(inside, vals[:, k], np.nan)
        return pd.DataFrame(out)

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
        cats |= {n for n in ds.data_vars if ds[n].attrs.get("ecocube:kind") == "categorical"}
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
