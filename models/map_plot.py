"""Figures of species maps: predictive mean and uncertainty side by side, records on top.

:func:`plot_species_maps` draws, for each chosen species of a maps store
(:func:`ecocube.models.map_model`), the mean and the standard deviation of the predictive
distribution as two panels with their own colour bars, masked cells (sea, nodata) in one flat
colour named in the legend, and optionally the species' records as points. Needs matplotlib
(the ``plot`` extra).

Examples
--------
>>> fig = plot_species_maps("maps.zarr", ["Ateles geoffroyi"], records=records)  # doctest: +SKIP
>>> fig.savefig("ateles.png", dpi=120)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

__all__ = ["MASKED_COLOUR", "plot_species_maps"]

#: Colour of masked cells (sea, nodata) in the maps.
MASKED_COLOUR = "#dce6ef"


def _quantity(ds: Any) -> str:
    """Short label of what the mean map holds, from the store's model description."""
    try:
        model = json.loads(ds.attrs.get("ecocube:model", "{}"))
    except json.JSONDecodeError:
        model = {}
    quantity = str(model.get("quantity", "probability of occurrence"))
    return "relative suitability" if "suitability" in quantity else quantity


def plot_species_maps(
    maps: str | os.PathLike[str] | xr.Dataset,
    species: Sequence[str],
    *,
    records: pd.DataFrame | None = None,
    panel_size: float = 4.2,
) -> Figure:
    """Mean and sd maps of each species (one row per species), with colour bars and records.

    Parameters
    ----------
    maps
        A maps store (path or opened ``xarray.Dataset``) of :func:`ecocube.models.map_model`.
    species
        Species to draw, one row each.
    records
        Optional records with ``species``, ``x``, ``y`` in the maps' CRS; each species' records
        are drawn on its panels.
    panel_size
        Height of a panel in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidInputError
        ``species`` is empty or names species the store lacks, or ``records`` lacks columns.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ecocube.cube import open_cube

    ds = open_cube(Path(maps), chunks=None) if isinstance(maps, str | os.PathLike) else maps
    names = [str(s) for s in ds["species"].values]
    chosen = [str(s) for s in species]
    if not chosen:
        raise InvalidInputError("species is empty; name at least one species of the maps")
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise InvalidInputError(f"species {unknown} are not in the maps; they hold {names}")
    if records is not None:
        missing = [c for c in ("species", "x", "y") if c not in records.columns]
        if missing:
            raise InvalidInputError(
                f"records lack the columns {missing}; give species, x and y (maps' CRS)"
            )
    xs, ys = ds["x"].values, ds["y"].values
    dx = abs(xs[1] - xs[0]) if xs.size > 1 else 1.0
    dy = abs(ys[1] - ys[0]) if ys.size > 1 else 1.0
    extent = (xs.min() - dx / 2, xs.max() + dx / 2, ys.min() - dy / 2, ys.max() + dy / 2)
    origin = "upper" if ys.size > 1 and ys[0] > ys[-1] else "lower"
    geographic = bool(ds.rio.crs.is_geographic) if ds.rio.crs is not None else False
    aspect = 1 / np.cos(np.deg2rad(np.mean(ys))) if geographic else 1.0
    width = panel_size * (extent[1] - extent[0]) / ((extent[3] - extent[2]) * aspect)
    fig, axes = plt.subplots(
        len(chosen),
        2,
        figsize=(2 * width + 2.2, panel_size * len(chosen) + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    label = _quantity(ds)
    panels = (
        ("mean", "viridis", f"{label}, predictive mean", (0.0, 1.0)),
        ("sd", "magma", f"{label}, predictive sd", None),
    )
    for row, sp in zip(axes, chosen, strict=True):
        for ax, (stat, cmap_name, title, limits) in zip(row, panels, strict=True):
            values = np.asarray(ds[stat].sel(species=sp).values, dtype=np.float64)
            cmap = matplotlib.colormaps[cmap_name].with_extremes(bad=MASKED_COLOUR)
            vmin, vmax = limits if limits else (0.0, float(np.nanmax(values)) or 1.0)
            img = ax.imshow(
                np.ma.masked_invalid(values),
                extent=extent,
                origin=origin,
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                interpolation="nearest",
                aspect=aspect,
            )
            fig.colorbar(img, ax=ax, shrink=0.85, label=stat)
            handles = [
                Patch(facecolor=MASKED_COLOUR, edgecolor="grey", label="masked: sea, nodata")
            ]
            if records is not None:
                pts = records[records["species"] == sp]
                sc = ax.scatter(pts["x"], pts["y"], s=4, c="#e8112d", linewidths=0, label="records")
                handles.append(sc)
            ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.85)
            ax.set_title(f"$\\it{{{sp.replace(' ', '~')}}}$: {title}", fontsize=9)
            ax.set_xlabel("longitude" if geographic else "x")
            ax.set_ylabel("latitude" if geographic else "y")
    return fig
