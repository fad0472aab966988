"""River nutrient loads for a basin's river cell, from the mirror's river-export files.

The North-Atlantic river inputs (``rivr2o_riverinputs_{2000,2001,2002}.nc`` of the registry
dataset ``ocean_north_atlantic``; 2 degree grid) give the annual export of each coastal grid
cell in 10^6 g (Mg) of N or C per year. :func:`river_load` sums the export of the grid cells
with a river nearest a coast point and converts it into a load in mmol s-1, spread evenly over
the model's 365-day year:

``load (mmol s-1) = export (Mg yr-1) * 1e6 g Mg-1 / M (g mol-1) * 1e3 mmol mol-1 / 31 536 000 s``

with the molar masses ``M_N = 14.0067`` and ``M_C = 12.011`` g mol-1 (IUPAC 2021 conventional
atomic weights). The concentration of the river water is the load divided by its discharge
(:meth:`RiverLoad.concentrations`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecocube.errors import InvalidInputError

__all__ = ["MOLAR_MASS", "RIVER_YEARS", "SECONDS_PER_YEAR", "RiverLoad", "river_load"]

#: Molar masses (g mol-1) of nitrogen and carbon.
MOLAR_MASS: dict[str, float] = {"N": 14.0067, "C": 12.011}

#: Seconds in the model year (365 days, the ``noleap`` calendar).
SECONDS_PER_YEAR = 365 * 86_400

#: Years of the river-export files in the registry.
RIVER_YEARS = (2000, 2001, 2002)

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class RiverLoad:
    """Dissolved inorganic nitrogen and carbon delivered by the rivers nearest a coast point.

    Attributes
    ----------
    din, dic
        Loads in mmol N s-1 and mmol C s-1.
    year
        Year of the river-export file.
    cells
        ``(lat, lon)`` (degrees) of the grid cells summed.
    distances_km
        Great-circle distance of each cell's centre from the coast point (km).
    """

    din: float
    dic: float
    year: int
    cells: tuple[tuple[float, float], ...]
    distances_km: tuple[float, ...]

    def concentrations(self, discharge: float) -> tuple[float, float]:
        """DIN and DIC of the river water (mmol m-3) for a discharge (m3 s-1, > 0)."""
        if not (math.isfinite(discharge) and discharge > 0):
            raise InvalidInputError(
                f"discharge={discharge!r} is not valid: give the river discharge in m3 s-1 (> 0)"
            )
        return self.din / discharge, self.dic / discharge


def mg_per_year_to_mmol_per_s(export: float | np.ndarray, element: str) -> float | np.ndarray:
    """Convert an export in Mg (10^6 g) of ``element`` (``"N"`` or ``"C"``) per year to mmol s-1."""
    return export * 1e6 / MOLAR_MASS[element] * 1e3 / SECONDS_PER_YEAR


def river_load(lat: float, lon: float, *, year: int = 2000, n_cells: int = 1) -> RiverLoad:
    """The DIN and DIC load (mmol s-1) of the ``n_cells`` river cells nearest a coast point.

    Parameters
    ----------
    lat, lon
        The coast point (degrees north, degrees east).
    year
        Year of the river-export file, one of :data:`RIVER_YEARS`.
    n_cells
        How many grid cells with a river export (DIN or DIC > 0) to sum, nearest first.

    Returns
    -------
    RiverLoad
        The summed loads, the cells and their distances.

    Raises
    ------
    InvalidInputError
        A point off the globe, an unknown year or a bad ``n_cells``.
    """
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0 and math.isfinite(lon)):
        raise InvalidInputError(
            f"lat={lat!r}, lon={lon!r} is not a point on the globe: give degrees north in "
            "[-90, 90] and degrees east"
        )
    if year not in RIVER_YEARS:
        raise InvalidInputError(
            f"year={year!r} has no river-export file; use one of {', '.join(map(str, RIVER_YEARS))}"
        )
    if isinstance(n_cells, bool) or not isinstance(n_cells, int) or n_cells < 1:
        raise InvalidInputError(f"n_cells={n_cells!r} is not valid: use an integer >= 1")
    from ecocube.ocean.ingest import open_registry_file

    ds = open_registry_file(
        "ocean_north_atlantic",
        f"rivr2o_riverinputs_{year}.nc",
        variables=["river_din", "river_dic"],
    )
    din = np.nan_to_num(ds["river_din"].values.astype("float64"))
    dic = np.nan_to_num(ds["river_dic"].values.astype("float64"))
    lat2, lon2 = np.meshgrid(
        ds["lat"].values.astype("float64"), ds["lon"].values.astype("float64"), indexing="ij"
    )
    river = (din > 0) | (dic > 0)
    if int(river.sum()) < n_cells:
        raise InvalidInputError(
            f"n_cells={n_cells} but the {year} file has only {int(river.sum())} river cells"
        )
    dist = _great_circle_km(lat, lon, lat2[river], lon2[river])
    order = np.argsort(dist, kind="stable")[:n_cells]
    return RiverLoad(
        din=float(mg_per_year_to_mmol_per_s(din[river][order].sum(), "N")),
        dic=float(mg_per_year_to_mmol_per_s(dic[river][order].sum(), "C")),
        year=year,
        cells=tuple(
            (float(a), float(b))
            for a, b in zip(lat2[river][order], lon2[river][order], strict=True)
        ),
        distances_km=tuple(float(d) for d in dist[order]),
    )


def _great_circle_km(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Haversine distance (km) from one point to many."""
    p1, p2 = math.radians(lat), np.radians(lats)
    dphi = p2 - p1
    dlam = np.radians(lons - lon)
    a = np.sin(dphi / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
