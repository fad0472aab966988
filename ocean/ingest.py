"""Read elaborate-model and reanalysis netCDF files into CF-named, unit-checked datasets.

The source products (CESM2-MARBL biogeochemistry, GLORYS12 physics, ERA5 surface forcing and
river exports) arrive with their own variable names, dimension names and units. :func:`open_source`
maps them onto the canonical names of :mod:`ecocube.ocean.variables`, converts units (CESM depths in
cm -> m, ERA5 Kelvin -> °C), decodes times with cftime where the calendar needs it (``noleap``
with year 0), and raises a clear error when a file carries the wrong units or lacks a variable.
The result follows the cube's Zarr conventions (CF attributes, ``lat``/``lon``/``depth``/``time``
dimensions, float32) and :func:`write_zarr` stores it.

Examples
--------
>>> from ecocube.ocean.ingest import open_registry_file
>>> ds = open_registry_file("ocean_north_atlantic", "GLORYS_NA_2012.nc")  # doctest: +SKIP
>>> float(ds.thetao.max())  # doctest: +SKIP
11.1...
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.ocean.variables import SOURCES, native_mapping, normalize_units

__all__ = [
    "MissingVariableError",
    "UnitsError",
    "open_marbl_climatology",
    "open_registry_file",
    "open_source",
    "write_zarr",
]

#: Which source product each mirror file holds.
FILE_SOURCES: dict[str, str] = {
    "CESM_BGC_2012.nc": "cesm_marbl",
    "CESM_regional_coarse_test_data_climatology.nc": "cesm_marbl",
    "CESM_BGC_SURFACE_2012.nc": "cesm_marbl",
    "CESM_BGC_coarse_global_clim.nc": "cesm_marbl",
    "GLORYS_NA_2012.nc": "glorys",
    "ERA5_NA_2012.nc": "era5",
    "rivr2o_riverinputs_2000.nc": "river",
    "rivr2o_riverinputs_2001.nc": "river",
    "rivr2o_riverinputs_2002.nc": "river",
}

_CFTIME_CALENDARS = {"noleap", "365_day", "360_day", "all_leap", "366_day", "julian"}
_DEPTH_DIMS = {"z_t": "depth", "z_t_150m": "depth_150m", "depth": "depth"}


class UnitsError(InvalidInputError):
    """A variable or coordinate carries units other than the ones its source product declares."""


class MissingVariableError(InvalidInputError, KeyError):
    """A variable the caller needs is absent from the file."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


def _decode_times(raw: xr.Dataset) -> xr.Dataset:
    """Decode CF times, with cftime for calendars numpy cannot represent (noleap, year 0)."""
    tname = "time" if "time" in raw.variables else None
    if tname is None:
        return xr.decode_cf(raw, decode_times=False)
    attrs = raw[tname].attrs
    units = str(attrs.get("units", ""))
    calendar = str(attrs.get("calendar", "standard")).lower()
    if "since" not in units:
        # e.g. the river files store a bare year number: keep it as is
        return xr.decode_cf(raw, decode_times=False)
    use_cftime = calendar in _CFTIME_CALENDARS or " 0000-" in f" {units.split('since')[-1]}"
    coder = xr.coders.CFDatetimeCoder(use_cftime=use_cftime)
    return xr.decode_cf(raw, decode_times=coder)


def _convert_depth(ds: xr.Dataset, label: str) -> xr.Dataset:
    for native, target in _DEPTH_DIMS.items():
        if native not in ds.dims and native not in ds.coords:
            continue
        coord = ds[native]
        units = normalize_units(coord.attrs.get("units"))
        if units == "cm":
            values = coord.values.astype("float64") / 100.0
        elif units == "m":
            values = coord.values.astype("float64")
        else:
            raise UnitsError(
                f"{label}: depth coordinate {native!r} has units {coord.attrs.get('units')!r}; "
                "expected 'cm' or 'm' (fix the file's units attribute)"
            )
        new = xr.DataArray(
            values.astype("float32"),
            dims=coord.dims,
            attrs={"standard_name": "depth", "units": "m", "positive": "down", "axis": "Z"},
        )
        ds = ds.assign_coords({native: new})
        if native != target:
            ds = ds.rename({native: target})
    return ds


def open_source(
    path: str | os.PathLike[str],
    source: str | None = None,
    *,
    variables: Iterable[str] | None = None,
    keep_unmapped: bool = False,
) -> xr.Dataset:
    """Open one netCDF file of a source product with canonical CF names and units.

    Parameters
    ----------
    path
        The netCDF file.
    source
        ``"cesm_marbl"``, ``"glorys"``, ``"era5"`` or ``"river"``; guessed from the file name for
        the registry files when ``None``.
    variables
        Canonical names (``"thetao"``) or native names (``"spC"``) the caller needs; a missing one
        raises :class:`MissingVariableError`. ``None`` returns every mapped variable found.
    keep_unmapped
        Keep native variables that have no canonical name (e.g. MARBL ``diatSi``) unchanged.

    Returns
    -------
    xarray.Dataset
        Canonical variables (float32, CF attributes), dimensions renamed to ``time``/``month``,
        ``depth`` (m, positive down; MARBL's 150 m plankton axis becomes ``depth_150m``),
        ``lat``, ``lon``. Land points stay NaN.

    Raises
    ------
    InvalidInputError
        Unknown ``source`` or a file that cannot be guessed.
    UnitsError
        A variable whose ``units`` attribute differs from the source's declared units, or whose
        values are implausible for its units (a Kelvin temperature labelled °C).
    MissingVariableError
        A requested variable is absent.
    """
    path = Path(path)
    if source is None:
        if path.name not in FILE_SOURCES:
            raise InvalidInputError(
                f"cannot guess the source product of {path.name!r}; pass source= one of "
                f"{', '.join(SOURCES)}"
            )
        source = FILE_SOURCES[path.name]
    mapping = native_mapping(source)
    by_canonical = {nv.name: nv for nv in mapping.values()}
    wanted = None if variables is None else list(variables)
    with xr.open_dataset(path, decode_times=False, mask_and_scale=True) as raw:
        raw = raw.load()
    if wanted is not None:
        missing = [w for w in wanted if w not in raw and by_canonical.get(w, None) is None]
        missing += [
            w for w in wanted if w in by_canonical and by_canonical[w].native not in raw.data_vars
        ]
        if missing:
            present = sorted(str(v) for v in raw.data_vars)
            raise MissingVariableError(
                f"{path.name}: missing variable(s) {sorted(set(missing))}; the file holds "
                f"{present}. Use a file of the {source!r} product that contains them."
            )
    ds = _decode_times(raw)
    ds = ds.rename({k: v for k, v in SOURCES[source].dims.items() if k in ds.dims})
    ds = _convert_depth(ds, path.name)
    out: dict[str, xr.DataArray] = {}
    for native in list(ds.data_vars):
        nv = mapping.get(str(native))
        if nv is None:
            if keep_unmapped:
                out[str(native)] = ds[native]
            continue
        if wanted is not None and nv.name not in wanted and nv.native not in wanted:
            continue
        da = ds[native]
        file_units = da.attrs.get("units")
        got = normalize_units(file_units)
        if file_units is None and nv.native == "zooC":
            got = nv.units  # MARBL's zooC carries no units attribute; it is mmol m-3 like spC
        if got != nv.units:
            raise UnitsError(
                f"{path.name}: variable {nv.native!r} has units {file_units!r}, but the "
                f"{source!r} product declares {nv.units!r} (canonical {nv.variable.units!r}). "
                "Convert it before ingestion or fix the units attribute."
            )
        values = da.astype("float64") * nv.scale + nv.offset
        _check_range(values, nv.name, path.name, nv.variable.units, nv.variable.valid_range)
        values = values.astype("float32")
        values.attrs = {**nv.variable.attrs(), "source_name": nv.native, "source": source}
        out[nv.name] = values
    result = xr.Dataset(out, coords={k: v for k, v in ds.coords.items()})
    result.attrs = {
        "Conventions": "CF-1.8",
        "source": SOURCES[source].description,
        "source_file": path.name,
        **{k: str(v) for k, v in ds.attrs.items() if k in ("title", "Title", "institution")},
    }
    for name in ("lat", "lon"):
        if name in result.coords:
            result[name].attrs.update(
                {
                    "standard_name": "latitude" if name == "lat" else "longitude",
                    "units": "degrees_north" if name == "lat" else "degrees_east",
                }
            )
    return result


def _check_range(
    da: xr.DataArray, name: str, label: str, units: str, valid: tuple[float, float] | None
) -> None:
    if valid is None:
        return
    finite = np.asarray(da.values)[np.isfinite(da.values)]
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if lo < valid[0] or hi > valid[1]:
        hint = ""
        if units == "degC" and hi > 200:
            hint = " The values look like Kelvin: subtract 273.15 or label them 'K'."
        raise UnitsError(
            f"{label}: {name} spans {lo:.4g}…{hi:.4g} {units}, outside the plausible range "
            f"{valid[0]:g}…{valid[1]:g} {units}; the units attribute is probably wrong.{hint}"
        )


def open_registry_file(
    dataset: str, filename: str, *, variables: Iterable[str] | None = None
) -> xr.Dataset:
    """Fetch ``filename`` of registry ``dataset`` and open it with :func:`open_source`.

    Parameters
    ----------
    dataset
        ``"ocean_north_atlantic"`` or ``"ocean_global_cesm"``.
    filename
        A file of that dataset (see :data:`FILE_SOURCES`).
    variables
        Canonical or native names required (see :func:`open_source`).
    """
    from ecocube import data

    path = data.fetch_file(dataset, filename)
    return open_source(path, FILE_SOURCES.get(Path(filename).name), variables=variables)


def open_marbl_climatology(*, variables: Iterable[str] | None = None) -> xr.Dataset:
    """The North-Atlantic CESM2-MARBL monthly climatology (13 x 13 grid at 2°, 12 months)."""
    return open_registry_file(
        "ocean_north_atlantic", "CESM_regional_coarse_test_data_climatology.nc", variables=variables
    )


def write_zarr(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` to a Zarr store atomically with :func:`ecocube.cube.write_cube`.

    The store is written to a temporary sibling and renamed into place (an existing store is
    replaced), so readers never see half a store. Returns the path of the store.
    """
    from ecocube.cube import write_cube

    return Path(write_cube(ds, Path(path), overwrite=True))
