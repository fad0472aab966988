"""Scenario ensembles of the full model on Dask, stored as a CF Zarr cube with a STAC item.

The scenario table is cut into batches; each batch is one Dask task running the batched model
(:func:`~ecocube.ocean.simulate`). Results are concatenated along ``scenario``, the per-scenario
indices (:func:`~ecocube.ocean.compute_indices`) are added as variables, and the dataset is
written atomically (temporary store renamed at the end) with
:func:`ecocube.cube.write_cube`. A STAC Item (datacube extension) describing the store is saved
next to it as ``<name>.item.json``; with ``catalog=`` (``--catalog``) the store is also
registered in a static catalog, as an item of its ``ocean-ensembles`` collection
(:func:`ecocube.catalog._ocean_items.register_ocean`), where ``ecocube cube build`` and
STAC API searches find it.

By default a ``distributed.LocalCluster`` of single-threaded worker processes, listening on
127.0.0.1 only, is started (:mod:`ecocube.ocean._dask`); pass ``scheduler="tcp://host:8786"``
to use a running cluster (e.g. a dask-jobqueue ``SLURMCluster``, see ``docs/ocean.md``). Every
worker runs torch with one thread, set once when it starts.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube._atomic import check_replaceable, write_file_atomic
from ecocube._progress import track
from ecocube.errors import DatasetNotFoundError, EcocubeWarning, InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["check_ensemble_target", "ensemble_item", "open_ensemble", "run_ensemble"]

INDEX_ATTRS = {
    "co2_uptake": ("Annual CO2 uptake (positive into the ocean)", "mol m-2 yr-1"),
    "primary_production": ("Annual net primary production", "mol m-2 yr-1"),
    "bloom_day": ("Day of year of the surface chlorophyll maximum", "1"),
    "shannon": ("Shannon index of the phytoplankton types", "1"),
    "gini_simpson": ("Gini-Simpson index of the phytoplankton types", "1"),
    "rao_q": ("Rao's quadratic entropy over T_opt", "degC"),
}


#: Global attributes that mark the store as an ensemble product for its STAC item.
_PRODUCT_ATTRS = {"ecocube:product": "ensemble"}


def _item_path(out: Path) -> Path:
    """Where the STAC item of the store ``out`` is written."""
    return out.with_name(out.stem + ".item.json")


def check_ensemble_target(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Raise unless an ensemble store can be written to ``out``; return it as a ``Path``.

    Called by :func:`run_ensemble` and ``ecocube ocean ensemble`` before any simulation, with
    the rule the writer (:func:`ecocube.cube.write_cube`) applies at the end: an existing path
    is only replaced with ``overwrite`` and only when it is a Zarr store (never a file or a
    folder holding other files).

    Raises
    ------
    InvalidInputError
        ``out`` exists without ``overwrite``, is a file or a folder that is not a Zarr store,
        or the STAC item path beside it is a folder.
    """
    from ecocube.cube._zarr import _ZARR_MARKERS

    out = Path(out)
    if out.exists() and not overwrite:
        raise InvalidInputError(
            f"out={str(out)!r} already exists; pass overwrite=True (--overwrite) or another path"
        )
    check_replaceable(out, markers=_ZARR_MARKERS, what="a Zarr store")
    item = _item_path(out)
    if item.is_dir():
        raise InvalidInputError(
            f"the STAC item of out={str(out)!r} would be written to {str(item)!r}, which is a "
            "folder; remove it or choose another output path"
        )
    return out


def _run_batch(table: pd.DataFrame, options: dict[str, Any]) -> xr.Dataset:
    """One Dask task: the batched model on ``table`` (``options`` were checked by the client)."""
    from ecocube.ocean.simulate import simulate

    with warnings.catch_warnings():
        # run_ensemble already warned once about a needlessly short step
        warnings.filterwarnings("ignore", r"dt=.* steps per simulated day", EcocubeWarning)
        return simulate(table, **options)


def run_ensemble(
    scenarios: pd.DataFrame | int,
    out: Path | str,
    *,
    years: int = 1,
    seed: int = 0,
    batch_size: int = 16,
    scheduler: str | None = None,
    n_workers: int = 2,
    device: str = "cpu",
    dt: float = 10800.0,
    n_layers: int | None = None,
    physics: str = "column",
    overwrite: bool = False,
    progress: bool = True,
    scheduler_timeout: float = 10.0,
    dashboard: bool = False,
    catalog: Path | str | None = None,
) -> Path:
    """Simulate an ensemble on Dask and write it as a Zarr cube plus a STAC item.

    Parameters
    ----------
    scenarios
        A scenario table, or a number of scenarios to draw with
        :func:`~ecocube.ocean.sample_scenarios` (``seed``).
    out
        Target ``*.zarr`` store; the STAC item is written to ``<stem>.item.json`` beside it.
    years, dt, n_layers, device, physics
        Passed to :func:`~ecocube.ocean.simulate` (``seed`` too); ``n_layers=None`` is the
        scheme's default (20 for the column, the default basin's 3 for ``"multilayer"``).
    batch_size
        Scenarios per Dask task (one batched model run).
    scheduler
        Address of a running Dask scheduler; ``None`` starts a ``LocalCluster`` of worker
        processes on 127.0.0.1.
    n_workers
        Worker processes of the local cluster (one thread each).
    overwrite
        Replace an existing store.
    progress
        Show a progress bar over batches.
    scheduler_timeout
        Seconds to wait for the ``scheduler`` to answer.
    dashboard
        Serve the local cluster's dashboard on 127.0.0.1 (its address is printed to standard
        error); off by default.
    catalog
        Static catalog folder to register the store in (collection ``ocean-ensembles``);
        write ``out`` inside its folder to keep the catalog self-contained.

    Returns
    -------
    pathlib.Path
        The store path.

    Raises
    ------
    InvalidInputError
        ``out`` exists (without ``overwrite``) or is not a Zarr store (see
        :func:`check_ensemble_target`; checked before any simulation), bad ``batch_size`` or
        ``n_workers``, or a ``scheduler`` that cannot be reached.
    CatalogError
        ``catalog`` is not a static catalog (checked before any simulation), or the store
        cannot be registered in it (the store is written by then).
    ConfigurationError
        ``device`` is not a torch device or is not available here, or the local cluster's
        worker processes do not start (a script calling this needs a ``__main__`` guard).
    """
    import pandas as pd
    import xarray as xr

    from ecocube.ocean.indices import compute_indices
    from ecocube.ocean.scenarios import sample_scenarios, validate_scenarios

    out = check_ensemble_target(out, overwrite=overwrite)  # before any simulation
    if catalog is not None:
        from ecocube.catalog._ocean_items import check_static_catalog

        check_static_catalog(catalog)
    if int(batch_size) != batch_size or batch_size < 1:
        raise InvalidInputError(f"batch_size={batch_size!r} must be a positive integer")
    if int(n_workers) != n_workers or n_workers < 1:
        raise InvalidInputError(
            f"n_workers={n_workers!r} must be a positive integer (worker processes of the "
            "local cluster); pass 1 or more"
        )
    if isinstance(scenarios, int | np.integer):
        table = sample_scenarios(int(scenarios), seed=seed)
    else:
        table = validate_scenarios(scenarios)
    options: dict[str, Any] = {
        "years": years,
        "dt": dt,
        "n_layers": n_layers,
        "device": device,
        "seed": seed,
    }
    if physics != "column":
        options["physics"] = physics
    # fail fast on bad options (scheme, time step, layers, device) before starting a cluster
    from ecocube.ocean.schemes import physical_scheme
    from ecocube.ocean.simulate import _max_wind, _validate_options

    scheme = physical_scheme(physics, n_layers=n_layers)
    _validate_options(
        {
            **options,
            "n_layers": max(scheme.space[-1], 3),
            "dz": scheme.stability_thickness,
        },
        max_wind=_max_wind(table, None),
    )
    batches = [table.iloc[i : i + batch_size] for i in range(0, len(table), batch_size)]
    start = datetime.now(UTC)
    parts = _compute(batches, options, scheduler, n_workers, progress, scheduler_timeout, dashboard)
    ds = xr.concat(parts, dim="scenario", data_vars="all", coords="different", compat="equals")
    indices = compute_indices(ds)
    for name, (long_name, units) in INDEX_ATTRS.items():
        ds[name] = ("scenario", indices[name].to_numpy(), {"long_name": long_name, "units": units})
    wall = (datetime.now(UTC) - start).total_seconds()
    attrs = {
        "ecocube:ensemble_size": len(table),
        "ecocube:ensemble_years": int(years),
        "ecocube:ensemble_seed": int(seed),
        "ecocube:ensemble_wall_s": float(wall),
        "ecocube:scenarios": pd.DataFrame(table).to_json(orient="split"),
        **_PRODUCT_ATTRS,
    }
    _write(ds, out, overwrite=overwrite, attrs=attrs)
    if catalog is not None:
        from ecocube.catalog._ocean_items import register_ocean

        register_ocean(out, catalog)
    return out


def _compute(
    batches: list[pd.DataFrame],
    options: dict[str, Any],
    scheduler: str | None,
    n_workers: int,
    progress: bool,
    timeout: float,
    dashboard: bool = False,
) -> list[xr.Dataset]:
    from distributed import as_completed

    from ecocube.ocean._dask import connect

    client, cluster = connect(scheduler, n_workers=n_workers, timeout=timeout, dashboard=dashboard)
    try:
        futures = [client.submit(_run_batch, b, options, pure=False) for b in batches]
        done = as_completed(futures)
        for _ in track(done, "ensemble", total=len(futures), unit="batches", enabled=progress):
            pass
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _write(ds: xr.Dataset, out: Path, *, overwrite: bool, attrs: dict[str, Any]) -> None:
    """Write the store (atomically, with the completion marker) and its STAC item beside it."""
    from ecocube.cube import write_cube

    chunks = {"scenario": min(256, ds.sizes["scenario"]), "time": ds.sizes["time"]}
    write_cube(ds, out, chunks=chunks, overwrite=overwrite, attrs=attrs)
    text = json.dumps(ensemble_item(out).to_dict(), indent=1)
    write_file_atomic(_item_path(out), lambda tmp: tmp.write_text(text))


def ensemble_item(out: Path | str, ds: xr.Dataset | None = None) -> Any:
    """A ``pystac.Item`` (datacube extension) describing an ensemble store, as saved beside it.

    The item is the one the catalog registers (:func:`ecocube.catalog._ocean_items.ocean_item`:
    ``cube:dimensions`` scenario, time, depth, phyto_type; ``cube:variables`` with CF standard
    names and units) with its ``zarr`` asset relative to the store's folder (``./<name>``).
    The model is a 1-D column with no geographic location: the footprint is the whole globe,
    marked ``ecocube:geolocated: false``; the temporal extent is the simulated period
    (365-day calendar starting 2000-01-01).

    Parameters
    ----------
    out
        The store.
    ds
        Its dataset when already open (read from ``out`` otherwise).
    """
    from ecocube.catalog._ocean_items import PRODUCT_ATTR, ocean_item

    out = Path(out)
    if ds is not None and PRODUCT_ATTR not in ds.attrs:
        ds = ds.assign_attrs(_PRODUCT_ATTRS)
    item = ocean_item(out, ds)
    item.assets["zarr"].href = f"./{out.name}"
    return item


def open_ensemble(path: Path | str) -> xr.Dataset:
    """Open an ensemble store written by :func:`run_ensemble` (loaded into memory).

    Raises
    ------
    DatasetNotFoundError
        When ``path`` does not exist.
    InvalidInputError
        When ``path`` is not a complete Zarr store (see :func:`ecocube.cube.open_cube`).
    """
    from ecocube.cube import open_cube

    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(
            f"ensemble={str(path)!r} does not exist; create it with "
            f"`ecocube ocean ensemble --n 32 --years 1 --out {path}`"
        )
    return open_cube(path).load()
