"""Items of the ocean netCDF files (CESM2-MARBL, GLORYS12, ERA5, river inputs, global CESM).

One item per file with one netCDF asset and the datacube extension (``cube:dimensions``,
``cube:variables``) read from the file: coordinate extents, depth values and units, variable
dimensions, ``long_name`` and ``units``. ``standard_name`` comes from the file when it has one,
otherwise from a small table of CF standard names for the MARBL and ERA5 short names (marked
``standard_name_source: "ecocube"``). Time ranges come from the decoded time coordinate;
climatologies without a time axis get the nominal year of their hindcast (2012).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pystac

from ecocube.catalog._assets import NETCDF, multihash_sha256
from ecocube.catalog._family import BuildContext

__all__ = ["CF_STANDARD_NAMES", "global_cesm_items", "north_atlantic_items"]

#: CF standard names for variables whose files carry none.
CF_STANDARD_NAMES: dict[str, str] = {
    "NO3": "mole_concentration_of_nitrate_in_sea_water",
    "PO4": "mole_concentration_of_phosphate_in_sea_water",
    "SiO3": "mole_concentration_of_silicate_in_sea_water",
    "NH4": "mole_concentration_of_ammonium_in_sea_water",
    "Fe": "mole_concentration_of_dissolved_iron_in_sea_water",
    "O2": "mole_concentration_of_dissolved_molecular_oxygen_in_sea_water",
    "DIC": "mole_concentration_of_dissolved_inorganic_carbon_in_sea_water",
    "ALK": "sea_water_alkalinity_expressed_as_mole_equivalent",
    "pCO2SURF": "surface_partial_pressure_of_carbon_dioxide_in_sea_water",
    "u10": "eastward_wind",
    "v10": "northward_wind",
    "t2m": "air_temperature",
    "d2m": "dew_point_temperature",
    "msl": "air_pressure_at_mean_sea_level",
    "sst": "sea_surface_temperature",
    "tp": "precipitation_amount",
    "ssrd": "integral_wrt_time_of_surface_downwelling_shortwave_flux_in_air",
    "strd": "integral_wrt_time_of_surface_downwelling_longwave_flux_in_air",
    "ssr": "integral_wrt_time_of_surface_net_downward_shortwave_flux",
    "str": "integral_wrt_time_of_surface_net_downward_longwave_flux",
    "sshf": "integral_wrt_time_of_surface_downward_sensible_heat_flux",
    "slhf": "integral_wrt_time_of_surface_downward_latent_heat_flux",
}

_X = ("lon", "longitude")
_Y = ("lat", "latitude")
_Z = ("z_t", "z_t_150m", "depth")


def _iso(t: Any) -> str:
    return datetime(t.year, t.month, t.day, t.hour, t.minute, t.second, tzinfo=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _num(v: Any) -> float:
    return round(float(v), 6)


def _step(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    d = np.diff(values.astype("float64"))
    return _num(d[0]) if np.allclose(d, d[0], rtol=1e-4) else None


def _times(ds: Any) -> list[Any]:
    if "time" not in ds.dims and "time" not in ds.coords:
        return []
    values = ds["time"].values
    out = []
    for v in np.atleast_1d(values):
        if isinstance(v, np.datetime64):
            out.append(datetime.fromisoformat(str(v.astype("datetime64[s]"))))
        elif hasattr(v, "year"):
            out.append(v)
    return out


def datacube_fields(ds: Any, times: list[Any]) -> dict[str, Any]:
    """``cube:dimensions`` and ``cube:variables`` of an open xarray Dataset."""
    dims: dict[str, Any] = {}
    for name in ds.dims:
        coord = ds[name] if name in ds.coords else None
        values = np.asarray(coord.values) if coord is not None else np.arange(ds.sizes[name])
        attrs = dict(coord.attrs) if coord is not None else {}
        if name in _X or name in _Y:
            dims[name] = {
                "type": "spatial",
                "axis": "x" if name in _X else "y",
                "extent": [_num(values.min()), _num(values.max())],
                "step": _step(values),
                "reference_system": 4326,
            }
        elif name in _Z:
            dims[name] = {
                "type": "spatial",
                "axis": "z",
                "extent": [_num(values.min()), _num(values.max())],
                "values": [_num(v) for v in values],
                "unit": attrs.get("units", "m"),
                "description": attrs.get("long_name", "depth"),
            }
        elif name == "time":
            iso = [_iso(t) for t in times] if times else []
            if iso and len(iso) == values.size:
                dims[name] = {"type": "temporal", "extent": [iso[0], iso[-1]], "values": iso}
            else:
                dims[name] = {"type": "temporal", "extent": [None, None]}
        elif name == "month":
            dims[name] = {
                "type": "month",
                "description": "Calendar month of the climatology",
                "values": [int(v) for v in values],
            }
        else:
            dims[name] = {"type": "index", "extent": [0, int(ds.sizes[name]) - 1]}
    variables: dict[str, Any] = {}
    for name in sorted(ds.data_vars, key=str.lower):
        var = ds[name]
        entry: dict[str, Any] = {"dimensions": [str(d) for d in var.dims], "type": "data"}
        if var.attrs.get("long_name"):
            entry["description"] = str(var.attrs["long_name"])
        if var.attrs.get("units"):
            entry["unit"] = str(var.attrs["units"])
        if var.attrs.get("standard_name"):
            entry["standard_name"] = str(var.attrs["standard_name"])
            entry["standard_name_source"] = "file"
        elif name in CF_STANDARD_NAMES:
            entry["standard_name"] = CF_STANDARD_NAMES[name]
            entry["standard_name_source"] = "ecocube"
        variables[str(name)] = entry
    return {"cube:dimensions": dims, "cube:variables": variables}


def _bbox(ds: Any) -> list[float]:
    x = next(ds[n] for n in _X if n in ds.coords)
    y = next(ds[n] for n in _Y if n in ds.coords)
    xs, ys = np.asarray(x.values, "float64"), np.asarray(y.values, "float64")
    # Cell centres: pad by half a step so the footprint covers the grid cells.
    hx = abs(_step(np.sort(xs)) or 0.0) / 2
    hy = abs(_step(np.sort(ys)) or 0.0) / 2
    return [
        max(-180.0, _num(xs.min() - hx)),
        max(-90.0, _num(ys.min() - hy)),
        min(180.0, _num(xs.max() + hx)),
        min(90.0, _num(ys.max() + hy)),
    ]


def _polygon(b: list[float]) -> dict[str, Any]:
    x0, y0, x1, y1 = b
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _item(
    ctx: BuildContext, rel: str, item_id: str, title: str, nominal_year: int | None = None
) -> pystac.Item:
    import xarray as xr

    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    with xr.open_dataset(ctx.path(rel), decode_times=coder) as ds:
        times = _times(ds)
        cube = datacube_fields(ds, times)
        bbox = _bbox(ds)
        attrs_title = ds.attrs.get("Title") or ds.attrs.get("title")
    if nominal_year is not None or not times:
        year = nominal_year or 2012
        start = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
    else:
        start = datetime.fromisoformat(_iso(min(times)).replace("Z", "+00:00"))
        end = datetime.fromisoformat(_iso(max(times)).replace("Z", "+00:00"))
    props: dict[str, Any] = {"title": title, **cube}
    if attrs_title:
        props["description"] = str(attrs_title)
    item = pystac.Item(
        id=item_id,
        geometry=_polygon(bbox),
        bbox=bbox,
        datetime=None,
        start_datetime=start,
        end_datetime=end,
        properties=props,
    )
    file, href = ctx.place(item_id, rel)
    item.add_asset(
        "data",
        pystac.Asset(
            href=href,
            media_type=NETCDF,
            title=title,
            roles=["data"],
            extra_fields={"file:checksum": multihash_sha256(file.sha256), "file:size": file.size},
        ),
    )
    return item


def north_atlantic_items(ctx: BuildContext) -> list[pystac.Item]:
    """CESM-MARBL 2012 and climatology, GLORYS12, ERA5 and three river-input years."""
    items = [
        _item(
            ctx,
            "CESM_BGC_2012.nc",
            "cesm-marbl-bgc-2012-north-atlantic",
            "CESM2-MARBL biogeochemistry, North Atlantic 2°, 2012 records",
        ),
        _item(
            ctx,
            "CESM_regional_coarse_test_data_climatology.nc",
            "cesm-marbl-bgc-climatology-north-atlantic",
            "CESM2-MARBL biogeochemistry 12-month climatology, North Atlantic 2°",
            nominal_year=2012,
        ),
        _item(
            ctx,
            "GLORYS_NA_2012.nc",
            "glorys12-physics-2012-north-atlantic",
            "GLORYS12V1 ocean physics (subsampled), North Atlantic 2012",
        ),
        _item(
            ctx,
            "ERA5_NA_2012.nc",
            "era5-surface-2012-north-atlantic",
            "ERA5 surface forcing, North Atlantic 0.25°, 2012-01-01 and 2013-01-01",
        ),
    ]
    rivers = [
        (rel, int(match[1]))
        for rel in sorted(ctx.files)
        if (match := re.fullmatch(r"rivr2o_riverinputs_.*?(\d{4})\.nc", rel))
    ]
    for rel, year in rivers:
        items.append(
            _item(
                ctx,
                rel,
                f"river-inputs-{year}-north-atlantic",
                f"River nutrient and carbon export to the ocean, {year}",
                nominal_year=year,
            )
        )
    return items


def global_cesm_items(ctx: BuildContext) -> list[pystac.Item]:
    """Global CESM-MARBL surface fields (2012-2013) and the 10° 12-month climatology."""
    return [
        _item(
            ctx,
            "CESM_BGC_SURFACE_2012.nc",
            "cesm-marbl-surface-2012-global",
            "CESM2-MARBL surface pCO2 and deposition fluxes, global 1°, 2012",
        ),
        _item(
            ctx,
            "CESM_BGC_coarse_global_clim.nc",
            "cesm-marbl-bgc-climatology-global",
            "CESM2-MARBL biogeochemistry 12-month climatology, global 10°",
            nominal_year=2012,
        ),
    ]
