"""Wall-to-wall maps of a model's predictions over a cube, tile by tile (``ecocube sdm map``).

:func:`predict_map` reads the covariates of one tile of the cube at a time, leaves out the
cells that are masked (sea, nodata, or a mask variable; :func:`ecocube.cube.map_mask`), asks
the model for the predictive mean, standard deviation and 5 % / 95 % quantiles of every
species at the remaining cells, scores their novelty against the training data
(:class:`ecocube.models.novelty.Novelty`), and writes the tile into a Zarr store. Memory
depends on the tile and the number of species, never on the size of the region; an
interrupted run resumes from its finished tiles, and the finished store appears at ``out`` in
one step (:class:`ecocube.cube._tiles.TiledStore`).

The store holds ``mean``, ``sd``, ``q05``, ``q95`` (``species, y, x``; float32; NaN on masked
cells), ``novelty`` (MESS, ``y, x``) and ``novelty_count`` (covariates outside their training
range) when a novelty is given, the cube's ``x``/``y`` coordinates and its CRS
(``spatial_ref``, CF ``grid_mapping``).

Examples
--------
>>> def predict(table):  # doctest: +SKIP
...     p = model.predict_cells(table)  # (cells, species) arrays
...     return {"mean": p.mean, "sd": p.sd, "q05": p.q05, "q95": p.q95}
>>> predict_map("cube.zarr", predict, variables=["bio1", "bio12"],
...             species=["a", "b"], out="maps.zarr")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.models.novelty import Novelty

__all__ = [
    "MAP_FORMAT",
    "STATISTICS",
    "Predict",
    "PredictWindow",
    "plain_grid",
    "predict_map",
    "tile_cells",
]

#: The statistics ``predict`` returns and the store holds, per species.
STATISTICS: tuple[str, ...] = ("mean", "sd", "q05", "q95")
#: ``ecocube:map_format`` of the stores :func:`predict_map` writes.
MAP_FORMAT = 1

#: ``predict(table) -> {"mean", "sd", "q05", "q95"}``: covariates of ``n`` cells (one column per
#: cube variable) to ``(n, species)`` arrays.
Predict = Callable[[pd.DataFrame], Mapping[str, np.ndarray]]
#: ``predict_window(window, points) -> {"mean", ...}``: a window of the cube (a tile with a
#: margin) and the ``x``/``y`` (cube CRS) of ``n`` cells in it to ``(n, species)`` arrays; for
#: models that read patches around each cell.
PredictWindow = Callable[[xr.Dataset, pd.DataFrame], Mapping[str, np.ndarray]]

_LONG_NAMES = {
    "mean": "mean of the predictive distribution of the {q}",
    "sd": "standard deviation of the predictive distribution of the {q}",
    "q05": "5th percentile of the predictive distribution of the {q}",
    "q95": "95th percentile of the predictive distribution of the {q}",
}


def _names(values: Sequence[str] | str, what: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInputError(f"{what}={values!r} must be a list of names")
    names = [str(v) for v in values]
    if not names:
        raise InvalidInputError(f"{what}=[] must name at least one entry")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(f"{what} lists {dupes} more than once; give each name once")
    return names


def _open(cube: xr.Dataset | str | os.PathLike[str]) -> tuple[xr.Dataset, str | None]:
    if isinstance(cube, xr.Dataset):
        return cube, None
    from ecocube.cube import open_cube

    path = Path(cube)
    return open_cube(path, chunks=None), str(path.resolve())


def _check_cube(cube: xr.Dataset, variables: list[str]) -> Any:
    """The cube's CRS, after checking its grid and the input variables."""
    import rioxarray  # noqa: F401  (the .rio accessor)

    if "x" not in cube.dims or "y" not in cube.dims:
        raise InvalidInputError(
            f"the cube has no x/y dimensions (dims: {dict(cube.sizes)}); maps need a cube "
            "built by `ecocube cube build`"
        )
    missing = [v for v in variables if v not in cube.data_vars]
    if missing:
        grid = [str(n) for n in cube.data_vars if set(cube[n].dims) == {"y", "x"}]
        raise InvalidInputError(
            f"the cube lacks the model's input variables {missing}; map with a cube that has "
            f"them (this one has {grid})"
        )
    extra = {v: tuple(map(str, cube[v].dims)) for v in variables if set(cube[v].dims) != {"y", "x"}}
    if extra:
        raise InvalidInputError(
            f"variables {extra} are not (y, x) layers; select one time step first, e.g. "
            "cube.sel(time='2020-06-01')"
        )
    crs = cube.rio.crs
    if crs is None:
        raise InvalidInputError(
            "the cube has no CRS (no spatial_ref coordinate); write it with "
            "cube.rio.write_crs(...) or rebuild the cube with `ecocube cube build`"
        )
    if cube.sizes["y"] < 1 or cube.sizes["x"] < 1:
        raise InvalidInputError(f"the cube's grid is empty (sizes {dict(cube.sizes)})")
    return crs


def _template(
    cube: xr.Dataset,
    species: list[str],
    tile: tuple[int, int],
    crs: Any,
    *,
    quantity: str,
    with_novelty: bool,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """The output's coordinates (with the CRS) and its layers (chunks = tiles)."""
    import rioxarray  # noqa: F401

    from ecocube.cube._tiles import Layer

    ny, nx = cube.sizes["y"], cube.sizes["x"]
    ty, tx = min(tile[0], ny), min(tile[1], nx)
    coords = xr.Dataset(
        coords={
            "species": ("species", np.asarray(species, dtype=str)),
            "y": ("y", cube["y"].values, dict(cube["y"].attrs)),
            "x": ("x", cube["x"].values, dict(cube["x"].attrs)),
        }
    ).rio.write_crs(crs)
    coords = coords.rio.write_transform(coords.rio.transform(recalc=True))
    mapping = {"grid_mapping": "spatial_ref"}
    layers = {
        stat: Layer(
            ("species", "y", "x"),
            (1, ty, tx),
            {"long_name": _LONG_NAMES[stat].format(q=quantity), "units": "1", **mapping},
        )
        for stat in STATISTICS
    }
    if with_novelty:
        layers["novelty"] = Layer(
            ("y", "x"),
            (ty, tx),
            {
                "long_name": "multivariate environmental similarity (MESS) of the covariates "
                "to the training data; negative outside the training range",
                "units": "percent",
                **mapping,
            },
        )
        layers["novelty_count"] = Layer(
            ("y", "x"),
            (ty, tx),
            {
                "long_name": "number of covariates outside their training range",
                "units": "1",
                **mapping,
            },
        )
    return coords, layers


def _job(
    cube: xr.Dataset,
    crs: Any,
    variables: list[str],
    species: list[str],
    tile: tuple[int, int],
    mask: str,
    novelty: Novelty | None,
    model_id: str | None,
    quantity: str,
) -> dict[str, Any]:
    """What a run computes; a partial output is resumed only by the same job."""
    xs, ys = cube["x"].values, cube["y"].values
    nov = None
    if novelty is not None:
        text = json.dumps(novelty.to_dict(), sort_keys=True)
        nov = hashlib.sha256(text.encode()).hexdigest()
    return {
        "map_format": MAP_FORMAT,
        "shape": [int(ys.size), int(xs.size)],
        "x": [float(xs[0]), float(xs[-1])],
        "y": [float(ys[0]), float(ys[-1])],
        "crs": crs.to_wkt(),
        "variables": variables,
        "species": species,
        "tile": list(tile),
        "mask": mask,
        "novelty": nov,
        "model_id": model_id,
        "quantity": quantity,
    }


def _time_span(cube: xr.Dataset, variables: list[str]) -> dict[str, str]:
    """``ecocube:start_datetime``/``end_datetime`` of the input layers (e.g. a climatology)."""

    def utc(text: str) -> pd.Timestamp:
        t = pd.Timestamp(text)
        return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")

    starts, ends = [], []
    for v in variables:
        attrs = cube[v].attrs
        start = attrs.get("ecocube:start_datetime") or attrs.get("ecocube:datetime")
        end = attrs.get("ecocube:end_datetime") or attrs.get("ecocube:datetime")
        if start and end:
            starts.append(utc(start))
            ends.append(utc(end))
    if not starts:
        return {}
    return {
        "ecocube:start_datetime": min(starts).isoformat(),
        "ecocube:end_datetime": max(ends).isoformat(),
    }


def _predict_cells(
    predict: Predict, table: pd.DataFrame, n_species: int, batch_size: int | None
) -> dict[str, np.ndarray]:
    """``predict`` on ``table`` in batches, checked; ``(cells, species)`` float32 per statistic."""
    n = len(table)
    step = batch_size or n
    out = {s: np.empty((n, n_species), dtype=np.float32) for s in STATISTICS}
    for start in range(0, n, step):
        part = table.iloc[start : start + step].reset_index(drop=True)
        result = predict(part)
        _check_result(result, len(part), n_species)
        for s in STATISTICS:
            out[s][start : start + len(part)] = np.asarray(result[s], dtype=np.float32)
    return out


def _check_result(result: Any, n: int, n_species: int) -> None:
    """Raise unless ``result`` maps each statistic to an ``(n, n_species)`` array."""
    if not isinstance(result, Mapping):
        raise InvalidInputError(
            f"predict returned a {type(result).__name__}; it must return a dict with "
            f"{list(STATISTICS)}"
        )
    missing = [s for s in STATISTICS if s not in result]
    if missing:
        raise InvalidInputError(
            f"predict returned {sorted(map(str, result))}, without {missing}; it must "
            f"return {list(STATISTICS)} as (cells, species) arrays"
        )
    for s in STATISTICS:
        shape = np.shape(result[s])
        if shape != (n, n_species):
            raise InvalidInputError(
                f"predict returned {s!r} of shape {shape}; expected ({n}, "
                f"{n_species}): one row per cell of the table, one column per species"
            )


def plain_grid(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with plain ``x``/``y`` coordinate arrays, for cutting windows in a loop.

    Slicing a pandas index leaves a reference to each slice behind, so a loop over the tiles of
    a large grid would hold memory that grows with the region.
    """
    return ds.drop_vars(["y", "x"]).assign_coords(
        xr.Coordinates({"y": ("y", ds["y"].values), "x": ("x", ds["x"].values)}, indexes={})
    )


def tile_cells(
    ds: xr.Dataset, tile: Any, variables: Sequence[str], mask: str, globe: Any
) -> tuple[pd.DataFrame, np.ndarray]:
    """Covariates of a tile's valid cells and the tile's validity mask.

    A cell is valid where every variable is finite and the map mask keeps it
    (:func:`ecocube.cube.map_mask` with ``mask`` and the open global land mask ``globe``).

    Returns
    -------
    table
        One float32 column per variable, one row per valid cell (row-major order).
    valid
        ``(rows, columns)`` boolean array of the tile.
    """
    from ecocube.cube._masking import map_mask

    window = ds.isel(y=tile.y, x=tile.x)
    block = np.stack(
        [np.asarray(window[v].transpose("y", "x").values, dtype=np.float32) for v in variables]
    )
    valid: np.ndarray = np.asarray(np.isfinite(block).all(axis=0))
    if valid.any():
        valid &= np.asarray(map_mask(window, mask=mask, globe=globe).values, dtype=bool)
    table = pd.DataFrame({v: block[j][valid] for j, v in enumerate(variables)})
    return table, valid


def _predict_window(
    predict_window: PredictWindow,
    ds: xr.Dataset,
    tile: Any,
    valid: Any,
    halo: int,
    n_species: int,
    batch_size: int | None,
) -> dict[str, np.ndarray]:
    """``predict_window`` on the tile's window (with ``halo`` cells around it) for its valid
    cells, in batches of points; ``(cells, species)`` float32 per statistic."""
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    window = ds.isel(
        y=slice(max(0, tile.y.start - halo), min(ny, tile.y.stop + halo)),
        x=slice(max(0, tile.x.start - halo), min(nx, tile.x.stop + halo)),
    )
    rows, cols = np.nonzero(valid)
    points = pd.DataFrame({"x": ds["x"].values[tile.x][cols], "y": ds["y"].values[tile.y][rows]})
    return _predict_cells(lambda part: predict_window(window, part), points, n_species, batch_size)


def predict_map(
    cube: xr.Dataset | str | os.PathLike[str],
    predict: Predict | None,
    *,
    variables: Sequence[str],
    species: Sequence[str],
    out: str | os.PathLike[str],
    tile: tuple[int, int] | int = (512, 512),
    mask: str = "land",
    novelty: Novelty | Mapping[str, Any] | None = None,
    device: str = "auto",
    overwrite: bool = False,
    batch_size: int | None = None,
    model: Mapping[str, Any] | None = None,
    model_id: str | None = None,
    quantity: str = "probability of occurrence",
    progress: bool = True,
    predict_window: PredictWindow | None = None,
    halo: int = 0,
) -> Path:
    """Predict every (unmasked) cell of a cube, tile by tile, into a Zarr store of maps.

    Parameters
    ----------
    cube
        The cube (a dataset, or the path of a store written by ``ecocube cube build``) with
        ``x``/``y`` dimensions and a CRS.
    predict
        ``predict(table) -> {"mean", "sd", "q05", "q95"}``: ``table`` holds the covariates of
        a batch of valid cells (one float32 column per name of ``variables``, in that order);
        each returned array has shape ``(cells, species)`` in the order of ``species``.
    variables
        Cube variables the model reads, each a ``(y, x)`` layer.
    species
        Names of the predicted species (the columns of ``predict``'s arrays).
    out
        Target Zarr store.
    tile
        Tile size ``(rows, columns)`` (also the Zarr chunks); memory grows with it and with
        the number of species: about ``rows x columns x species x 40`` bytes.
    mask
        ``"land"`` (default: land cover, else the global land mask), ``"none"``, or the name
        of a cube variable (cells where it is finite and non-zero). Cells where any input
        variable is NaN are always left out.
    novelty
        Fitted :class:`~ecocube.models.novelty.Novelty` (or its dict) of the training
        covariates; adds the ``novelty`` (MESS) and ``novelty_count`` layers.
    device
        Where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``), resolved and
        recorded in the store's ``ecocube:device``; ``predict`` places its own tensors.
    overwrite
        Replace an existing store at ``out``.
    batch_size
        Most cells per call of ``predict`` (default: a whole tile).
    model
        JSON-serialisable description of the model (name, architecture, framework, ...),
        stored as ``ecocube:model`` for the STAC item of the maps.
    model_id
        Identity of the fitted model (e.g. a hash of its files); a partial output of another
        model is never resumed.
    quantity
        What ``predict`` returns, for the ``long_name`` of the statistics.
    progress
        Show a per-tile progress line.
    predict_window
        Instead of ``predict``, for models that read patches around each cell:
        ``predict_window(window, points)`` with ``window`` the tile's part of the cube plus
        ``halo`` cells on each side (fewer at the cube's edges) and ``points`` the ``x``,
        ``y`` (cube CRS) of a batch of the tile's valid cells.
    halo
        Margin of the windows, in cells (e.g. half the patch size).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    InvalidInputError
        A variable the cube lacks (naming them all) or one with more than ``(y, x)``
        dimensions, empty or repeated names, a bad tile size, mask or batch size, a
        novelty fitted on other variables, an ``out`` that exists (without ``overwrite``),
        another run writing the same ``out``, or ``predict`` returning arrays of the wrong
        shape.
    ConfigurationError
        ``device`` is not a device of this machine.

    Warns
    -----
    EcocubeWarning
        An unfinished output of another job at ``out`` is discarded.
    """
    from ecocube._progress import progress as progress_bar
    from ecocube.catalog._cube_items import cube_variables
    from ecocube.cube._masking import GlobalLandMask, check_mask
    from ecocube.cube._tiles import TiledStore, tile_grid, tile_size

    if (predict is None) == (predict_window is None):
        raise InvalidInputError("give exactly one of predict and predict_window")
    chosen = predict if predict is not None else predict_window
    if not callable(chosen):
        raise InvalidInputError(f"predict={chosen!r} must be a function of a covariate table")
    if isinstance(halo, bool) or not isinstance(halo, int) or halo < 0:
        raise InvalidInputError(f"halo={halo!r} must be an integer >= 0 (cells)")
    variables = _names(variables, "variables")
    species = _names(species, "species")
    tile = tile_size(tile, "tile")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise InvalidInputError(f"batch_size={batch_size!r} must be a positive integer or None")
    if novelty is not None and not isinstance(novelty, Novelty):
        novelty = Novelty.from_dict(novelty)
    if novelty is not None:
        unknown = [v for v in novelty.variables if v not in variables]
        if unknown:
            raise InvalidInputError(
                f"the novelty was fitted on {list(novelty.variables)}, but {unknown} are not "
                f"among variables={variables}; fit it on the model's covariates"
            )
    try:
        model_json = json.dumps(dict(model or {}))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"model={model!r} must be JSON-serialisable ({err})") from err
    if device == "cpu":
        dev = "cpu"  # without importing torch
    else:
        from ecocube.training import resolve_device

        dev = str(resolve_device(device))
    ds, cube_path = _open(cube)
    crs = _check_cube(ds, variables)
    check_mask(ds, mask)
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    ys = ds["y"].values
    north_last = ys.size > 1 and ys[-1] > ys[0]  # y grows: process the last rows first
    tiles = tile_grid((ny, nx), tile, reverse_rows=bool(north_last))
    coords, layers = _template(
        ds, species, tile, crs, quantity=quantity, with_novelty=novelty is not None
    )
    job = _job(ds, crs, variables, species, tile, mask, novelty, model_id, quantity)
    n_sp = len(species)
    with TiledStore(out, job=job, overwrite=overwrite) as store:
        done = store.open(coords, layers)
        todo = [t for t in tiles if t.index not in done]
        globe = GlobalLandMask() if mask == "land" and todo else None
        try:
            with progress_bar(
                f"map ({dev})",
                total=len(tiles),
                completed=len(tiles) - len(todo),
                unit="tiles",
                enabled=progress,
            ) as bar:
                plain = plain_grid(ds)
                for t in todo:
                    table, valid = tile_cells(plain, t, variables, mask, globe)
                    n = len(table)
                    if n:
                        if predict is not None:
                            stats = _predict_cells(predict, table, n_sp, batch_size)
                        else:
                            assert predict_window is not None
                            stats = _predict_window(
                                predict_window, ds, t, valid, halo, n_sp, batch_size
                            )
                        arrays: dict[str, np.ndarray] = {}
                        for s in STATISTICS:
                            grid = np.full((n_sp, *t.shape), np.nan, dtype=np.float32)
                            grid[:, valid] = stats[s].T
                            arrays[s] = grid
                        if novelty is not None:
                            score = novelty.score(table)
                            for name, key in (("novelty", "mess"), ("novelty_count", "count")):
                                layer = np.full(t.shape, np.nan, dtype=np.float32)
                                layer[valid] = score[key]
                                arrays[name] = layer
                        store.write(t, arrays)
                    store.mark_done(t)
                    bar.advance(cells=n)
        finally:
            if globe is not None:
                globe.close()
        from ecocube import __version__

        return store.finish(
            {
                "title": "ecocube species distribution maps",
                "ecocube:map_format": MAP_FORMAT,
                "ecocube:version": __version__,
                "ecocube:created": datetime.now(UTC).isoformat(),
                "ecocube:variables": json.dumps(variables),
                "ecocube:input_variables": json.dumps(cube_variables(ds, variables)),
                "ecocube:statistics": json.dumps(list(STATISTICS)),
                "ecocube:variable_order": json.dumps(list(layers)),
                "ecocube:mask": mask,
                "ecocube:device": dev,
                "ecocube:tile": json.dumps(list(tile)),
                "ecocube:model": model_json,
                "ecocube:model_id": model_id or "",
                "ecocube:cube": cube_path or "",
                "ecocube:sources": ds.attrs.get("ecocube:sources", "[]"),
                **_time_span(ds, variables),
            }
        )
