"""``ecocube interactions map``: interaction probabilities over every cell of a cube, tile by tile."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.models.interactions._metaweb import (
    MatchedWeb,
    Metaweb,
    match_species,
    read_mapping,
    read_metaweb,
)
from ecocube.models.interactions._stats import cell_statistics, check_joint, joint_samples

__all__ = ["INTERACTION_FORMAT", "InteractionMap", "interaction_map"]

#: ``ecocube:interaction_format`` of the stores :func:`interaction_map` writes.
INTERACTION_FORMAT = 1

_EDGE = {
    "interaction": "probability that the interaction is realised: P(both present, joint "
    "posterior samples with latent factors) x P(interaction | co-occurrence)",
    "interaction_independent": "probability that the interaction is realised from the product "
    "of the marginal presence probabilities x P(interaction | co-occurrence)",
}
_CELL = {
    "expected_links": "expected number of realised links (joint samples)",
    "expected_links_independent": "expected number of realised links (product of marginals)",
    "expected_connectance": "expected connectance: realised links / present species^2 "
    "(joint samples)",
    "focal_enemy": "probability that the focal species co-occurs with at least one of its "
    "enemies (joint samples)",
    "focal_enemy_independent": "probability that the focal species co-occurs with at least one "
    "of its enemies (product of marginals)",
}


@dataclass(frozen=True)
class InteractionMap:
    """What :func:`interaction_map` wrote."""

    store: Path
    web: MatchedWeb
    cells: int
    seconds: float


def _layers(joint: bool, focal: str | None) -> list[str]:
    names = ["interaction_independent", "expected_links_independent"]
    if joint:
        names = ["interaction", *names, "expected_links", "expected_connectance"]
    if focal is not None:
        names += (["focal_enemy"] if joint else []) + ["focal_enemy_independent"]
    return names


def interaction_map(
    model: Any,
    metaweb: str | os.PathLike[str] | pd.DataFrame | Metaweb,
    cube: str | os.PathLike[str] | xr.Dataset,
    out: str | os.PathLike[str],
    *,
    mapping: str | os.PathLike[str] | dict[str, str] | None = None,
    focal: str | None = None,
    draws: int = 200,
    joint: bool = True,
    tile: int = 128,
    mask: str = "land",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> InteractionMap:
    """Map interaction probabilities of a metaweb over every (unmasked) cell of a cube.

    Parameters
    ----------
    model
        A fitted :class:`~ecocube.models.SDM` or the folder written by ``ecocube sdm fit``.
    metaweb
        Edge list ``consumer, resource[, probability]`` (:func:`read_metaweb`).
    cube
        Zarr cube (or dataset) holding the model's input variables.
    out
        Target Zarr store.
    mapping
        Model species -> metaweb node (file with columns ``species, node``, or a dict).
    focal
        A species (e.g. a pest): adds the probability that it co-occurs with at least one of
        its consumers in the metaweb.
    draws
        Joint posterior community samples per cell (Monte Carlo error of a probability
        ``<= 0.5 / sqrt(draws)``).
    joint
        Use joint samples (needs a model with latent factors); ``False``: product of the
        marginal probabilities only.
    tile
        Tile side in cells (also the Zarr chunks); the samples are drawn in batches of cells
        of about 64 MB.
    mask
        ``"land"``, ``"none"`` or a cube variable (see :func:`ecocube.cube.map_mask`).
    seed
        Seed of the samples (batch ``k`` of tile ``i`` uses ``seed + 1000 i + k``).
    overwrite
        Replace an existing store at ``out``.
    progress
        Show a per-tile progress line.

    Returns
    -------
    InteractionMap
        The store (layers ``edge, y, x`` and ``y, x``, float32, NaN off the mask; attrs list the
        edges and every unmatched name), the matched web, the mapped cells and the time.

    Raises
    ------
    InvalidInputError
        A bad metaweb or mapping, no edge between the model's species, an unknown focal
        species, ``draws < 2``, a model without joint samples while ``joint``, a cube lacking
        the model's variables, or an existing ``out`` without ``overwrite``.
    """
    from ecocube._progress import progress as progress_bar
    from ecocube.cube._masking import GlobalLandMask, check_mask
    from ecocube.cube._tiles import Layer, TiledStore, tile_grid, tile_size
    from ecocube.models.estimator import SDM
    from ecocube.models.mapping import _check_cube, _open, plain_grid, tile_cells

    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise InvalidInputError(f"--draws {draws!r} must be an integer >= 2")
    model_id = ""
    if not isinstance(model, SDM):
        folder = Path(model)
        if not folder.is_dir():
            raise InvalidInputError(
                f"MODEL_DIR {str(folder)!r} is not a folder; pass the folder written by "
                "`ecocube sdm fit --out`"
            )
        digest = hashlib.sha256()
        for f in sorted(folder.iterdir()):
            if f.is_file():
                digest.update(f.name.encode() + f.read_bytes())
        model_id = digest.hexdigest()
        model = SDM.load(folder, device="cpu")
    web_in = metaweb if isinstance(metaweb, Metaweb) else read_metaweb(metaweb)
    names = read_mapping(mapping) if mapping is not None else None
    web = match_species([str(s) for s in model.species_], web_in, names)
    if focal is not None:
        web.enemies(focal)  # checks before any work
    estimator = model.estimator_
    if joint:
        check_joint(estimator)
    inputs = model.inputs
    variables = list(inputs.variables)
    ds, cube_path = _open(cube)
    inputs.check(map(str, ds.data_vars), what=f"the cube {cube_path or 'dataset'!r}")
    crs = _check_cube(ds, variables)
    check_mask(ds, mask)
    side = tile_size(tile, "tile")
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    tiles = tile_grid((ny, nx), side)
    ty, tx = min(side[0], ny), min(side[1], nx)
    layer_names = _layers(joint, focal)
    import rioxarray  # noqa: F401

    coords = xr.Dataset(
        coords={
            "edge": ("edge", np.asarray(web.edge_names, dtype=str)),
            "consumer": ("edge", np.asarray([web.species[i] for i in web.consumer], dtype=str)),
            "resource": ("edge", np.asarray([web.species[i] for i in web.resource], dtype=str)),
            "y": ("y", ds["y"].values, dict(ds["y"].attrs)),
            "x": ("x", ds["x"].values, dict(ds["x"].attrs)),
        }
    ).rio.write_crs(crs)
    coords = coords.rio.write_transform(coords.rio.transform(recalc=True))
    layers = {}
    for name in layer_names:
        per_edge = name in _EDGE
        layers[name] = Layer(
            ("edge", "y", "x") if per_edge else ("y", "x"),
            (1, ty, tx) if per_edge else (ty, tx),
            {
                "long_name": _EDGE.get(name) or _CELL[name],
                "units": "1",
                "grid_mapping": "spatial_ref",
            },
        )
    job = {
        "interaction_format": INTERACTION_FORMAT,
        "shape": [int(ny), int(nx)],
        "crs": crs.to_wkt(),
        "edges": web.edge_names,
        "probability": [float(v) for v in web.probability],
        "focal": focal,
        "draws": draws,
        "joint": joint,
        "tile": list(side),
        "mask": mask,
        "seed": seed,
        "model_id": model_id,
    }
    # cells per batch: the samples and per-edge products stay near 2**24 values (64 MB)
    batch = max(1, 2**24 // (draws * (len(web.species) + len(web.probability))))
    start = time.perf_counter()
    cells = 0
    with TiledStore(out, job=job, overwrite=overwrite) as store:
        done = store.open(coords, layers)
        todo = [t for t in tiles if t.index not in done]
        globe = GlobalLandMask() if mask == "land" and todo else None
        try:
            with progress_bar(
                "interactions",
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
                        parts = []
                        for k, begin in enumerate(range(0, n, batch)):
                            part = table.iloc[begin : begin + batch].reset_index(drop=True)
                            if joint:
                                z, pi = joint_samples(
                                    estimator, part, draws, seed=seed + t.index * 1000 + k
                                )
                                parts.append(
                                    cell_statistics(web, samples=z, probabilities=pi, focal=focal)
                                )
                            else:
                                p = model.predict_cells(part).mean
                                parts.append(cell_statistics(web, marginals=p, focal=focal))
                        stats = {
                            key: np.concatenate([q[key] for q in parts], axis=-1)
                            for key in parts[0]
                        }
                        arrays = {}
                        for name in layer_names:
                            v = stats[name]
                            grid = np.full((*v.shape[:-1], *t.shape), np.nan, dtype=np.float32)
                            grid[..., valid] = v
                            arrays[name] = grid
                        store.write(t, arrays)
                        cells += n
                    store.mark_done(t)
                    bar.advance(cells=n)
        finally:
            if globe is not None:
                globe.close()
        from ecocube import __version__

        path = store.finish(
            {
                "title": "ecocube interaction-likelihood maps",
                "ecocube:interaction_format": INTERACTION_FORMAT,
                "ecocube:version": __version__,
                "ecocube:created": datetime.now(UTC).isoformat(),
                "ecocube:metaweb": web_in.source,
                "ecocube:co_occurrence": "joint posterior samples (latent factors)"
                if joint
                else "product of marginal probabilities only",
                "ecocube:draws": draws if joint else 0,
                "ecocube:focal": focal or "",
                "ecocube:unmatched_species": json.dumps(list(web.unmatched_species)),
                "ecocube:unmatched_nodes": json.dumps(list(web.unmatched_nodes)),
                "ecocube:dropped_edges": web.dropped_edges,
                "ecocube:mask": mask,
                "ecocube:cube": cube_path or "",
                "ecocube:model_id": model_id,
                "ecocube:variable_order": json.dumps(layer_names),
            }
        )
    return InteractionMap(path, web, cells, time.perf_counter() - start)
