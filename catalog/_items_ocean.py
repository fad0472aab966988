"""Items of the ocean netCDF files (CESM2-MARBL, GLORYS12, ERA5, river inputs, global CESM).

One item per file with one netCDF asset, the datacube extension (``cube:dimensions``,
``cube:variables``) read from the file: coordinate extents, depth values and units, variable
dimensions, ``long_name`` and ``units``, and the projection extension of its regular lon/lat
grid (``proj:code``, ``proj:shape``, ``proj:transform``). ``standard_name`` comes from the file
when it has one, otherwise from a small table of CF standard names for the MARBL and ERA5 short
names (marked ``standard_name_source: "ecocube"``). Time ranges come from the decoded time
coordinate; climatologies without a time axis get the nominal year of their hindcast (2012).
Each item names its source product in ``ecocube:ocean_product`` (``cesm_marbl``, ``glorys``,
``era5``, ``river``: the product keys of ``ecocube.ocean.variables.SOURCES``), which the
ingestion reads to map native names and units onto canonical ones.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pystac

from ecocube.catalog._assets import NETCDF, multihash_sha256
from ecocube.catalog._family import BuildContext

__all__ = [
    "CF_STANDARD_NAMES",
    "OCEAN_PRODUCTS",
    "PRODUCT_PROPERTY",
    "datacube_fields",
    "global_cesm_items",
    "grid_fields",
    "north_atlantic_items",
]

#: Item property naming the source product of an ocean item (or ``"ensemble"``).
PRODUCT_PROPERTY = "ecocube:ocean_product"
#: Source products of the ocean items (the product keys of ``ecocube.ocean.variables.SOURCES``).
OCEAN_PRODUCTS: tuple[str, ...] = ("cesm_marbl", "glorys", "era5", "river")
#: Coordinate axes longer than this are described by extent and step, not by every value.
_MAX_VALUES = 100

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
_Z = ("z_t", "z_t_150m", "depth", "depth_150m")


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


def _iso_step(times: list[Any]) -> str | None:
    """ISO 8601 duration of a regular daily or hourly axis of three or more times, else None."""
    if len(times) < 3:
        return None
    seconds = {round((b - a).total_seconds()) for a, b in itertools.pairwise(times)}
    if len(seconds) != 1:
        return None
    (step,) = seconds
    if step > 0 and step % 86400 == 0:
        return f"P{step // 86400}D"
    if step > 0 and step % 3600 == 0:
        return f"PT{step // 3600}H"
    return None


def _other_dimension(values: np.ndarray, attrs: dict[str, Any]) -> dict[str, Any]:
    """A non-spatial, non-temporal dimension: its values (or extent), unit and description."""
    entry: dict[str, Any] = {"type": "other"}
    if values.dtype.kind in "iuf":
        entry["extent"] = [_num(values.min()), _num(values.max())]
        if values.size <= _MAX_VALUES:
            entry["values"] = [
                int(v) if values.dtype.kind in "iu" else _num(v) for v in values.tolist()
            ]
        step = _step(values)
        if step is not None:
            entry["step"] = step
    else:
        entry["values"] = [str(v) for v in values.tolist()][:_MAX_VALUES]
    if attrs.get("units"):
        entry["unit"] = str(attrs["units"])
    if attrs.get("long_name") or attrs.get("description"):
        entry["description"] = str(attrs.get("long_name") or attrs.get("description"))
    return entry


def datacube_fields(ds: Any, times: list[Any]) -> dict[str, Any]:
    """``cube:dimensions`` and ``cube:variables`` of an open xarray Dataset.

    Longitude/latitude dimensions become spatial ``x``/``y`` axes (EPSG:4326), depth
    dimensions (``depth``, ``depth_150m``, POP's ``z_t``) spatial ``z`` axes with their values
    and unit, ``time`` a temporal dimension (every value up to 100 of them, else the step),
    ``month`` the calendar month of a climatology; any other dimension (``scenario``,
    ``phyto_type``...) is ``other`` with its values (or extent), unit and description.
    ``cube:variables`` gives each data variable's dimensions, ``unit``, ``description`` and CF
    ``standard_name``.
    """
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
                dims[name] = {"type": "temporal", "extent": [iso[0], iso[-1]]}
                if len(iso) <= _MAX_VALUES:
                    dims[name]["values"] = iso
                step = _iso_step(times)
                if step is not None:
                    dims[name]["step"] = step
            else:
                dims[name] = {"type": "temporal", "extent": [None, None]}
        elif name == "month":
            dims[name] = {
                "type": "month",
                "description": "Calendar month of the climatology",
                "values": [int(v) for v in values],
            }
        elif coord is not None:
            dims[name] = _other_dimension(values, attrs)
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


def grid_fields(ds: Any) -> dict[str, Any]:
    """``proj:code``, ``proj:shape`` and (for a regular grid) ``proj:transform`` of the
    longitude/latitude grid of ``ds`` (EPSG:4326, north-up, cell edges half a step outside the
    first and last centres)."""
    x = next(ds[n] for n in _X if n in ds.coords)
    y = next(ds[n] for n in _Y if n in ds.coords)
    xs, ys = np.sort(np.asarray(x.values, "float64")), np.sort(np.asarray(y.values, "float64"))
    fields: dict[str, Any] = {"proj:code": "EPSG:4326", "proj:shape": [int(ys.size), int(xs.size)]}
    dx, dy = _step(xs), _step(ys)
    if dx and dy:
        fields["proj:transform"] = [
            dx,
            0.0,
            _num(xs[0] - dx / 2),
            0.0,
            -dy,
            _num(ys[-1] + dy / 2),
        ]
    return fields


def _polygon(b: list[float]) -> dict[str, Any]:
    x0, y0, x1, y1 = b
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _item(
    ctx: BuildContext,
    rel: str,
    item_id: str,
    title: str,
    product: str,
    nominal_year: int | None = None,
) -> pystac.Item:
    import xarray as xr

    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    with xr.open_dataset(ctx.path(rel), decode_times=coder) as ds:
        times = _times(ds)
        cube = datacube_fields(ds, times)
        bbox = _bbox(ds)
        grid = grid_fields(ds)
        attrs_title = ds.attrs.get("Title") or ds.attrs.get("title")
    if nominal_year is not None or not times:
        year = nominal_year or 2012
        start = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
    else:
        start = datetime.fromisoformat(_iso(min(times)).replace("Z", "+00:00"))
        end = datetime.fromisoformat(_iso(max(times)).replace("Z", "+00:00"))
    props: dict[str, Any] = {"title": title, **cube, **grid, PRODUCT_PROPERTY: product}
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
            "cesm_marbl",
        ),
        _item(
            ctx,
            "CESM_regional_coarse_test_data_climatology.nc",
            "cesm-marbl-bgc-climatology-north-atlantic",
            "CESM2-MARBL biogeochemistry 12-month climatology, North Atlantic 2°",
            "cesm_marbl",
            nominal_year=2012,
        ),
        _item(
            ctx,
            "GLORYS_NA_2012.nc",
            "glorys12-physics-2012-north-atlantic",
            "GLORYS12V1 ocean physics (subsampled), North Atlantic 2012",
            "glorys",
        ),
        _item(
            ctx,
            "ERA5_NA_2012.nc",
            "era5-surface-2012-north-atlantic",
            "ERA5 surface forcing, North Atlantic 0.25°, 2012-01-01 and 2013-01-01",
            "era5",
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
                "river",
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
            "cesm_marbl",
        ),
        _item(
            ctx,
            "CESM_BGC_coarse_global_clim.nc",
            "cesm-marbl-bgc-climatology-global",
            "CESM2-MARBL biogeochemistry 12-month climatology, global 10°",
            "cesm_marbl",
            nominal_year=2012,
        ),
    ]
