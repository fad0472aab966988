"""Map a fitted SDM over a cube (``ecocube sdm map``): the maps store, its COGs, its STAC item.

:func:`map_model` loads a model folder written by :meth:`ecocube.models.SDM.save`
(``ecocube sdm fit --out``), checks the cube against the model's inputs (every missing
variable named), and runs :func:`ecocube.models.mapping.predict_map` with the model's
predictive summary (mean, sd, 5 % / 95 % quantiles per species) and, when the model folder
holds one, the novelty (MESS) of its training covariates. Models of point covariates
(``maxent-net``, ``integrated``) predict tables of cells (:meth:`SDM.predict_cells`); models
that read patches (``multimodal``) predict each tile's cells on the tile's window of the cube
widened by half a patch (:meth:`SDM.predict_points`), so the maps do not depend on the tiles. ``cog`` writes one cloud-optimised
GeoTIFF per species and statistic (:func:`ecocube.cube.write_cogs`); ``catalog`` registers the
store (and the COGs, and a copy of the model) as a STAC item of the ``ecocube-maps``
collection with the ML-model extension (:func:`ecocube.catalog.register_maps`).

Every argument is checked before the first tile is predicted, so a bad ``--cog`` or
``--catalog`` fails in a second, not after an hour of mapping.

Examples
--------
>>> result = map_model("model_dir", "cube.zarr", "maps.zarr", cog="cogs")  # doctest: +SKIP
>>> result.store, result.cells  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

if TYPE_CHECKING:
    from ecocube.models._base import SpeciesDistributionModel
    from ecocube.models.estimator import SDM

__all__ = ["MapResult", "map_model", "model_card", "model_id"]

#: What each registered model is, for the ``mlm:architecture`` of the maps item.
_ARCHITECTURES = {
    "maxent-net": "multi-species maximum-entropy neural network (shared hidden layers, "
    "normalised Poisson loss), deep ensemble",
    "integrated": "Bayesian hierarchical integrated SDM (presence-only point process + "
    "cloglog presence-absence surveys), variational posterior",
    "multimodal": "patch CNN fused with tabular covariates, maximum-entropy loss, deep ensemble",
}
_FRAMEWORKS = {"integrated": "Pyro"}


@dataclass(frozen=True)
class MapResult:
    """What :func:`map_model` wrote.

    Attributes
    ----------
    store
        The maps Zarr store.
    species
        Species mapped, in the store's order.
    cells
        Cells predicted (valid after the mask), per species.
    seconds
        Wall time of the prediction (without COGs and registration).
    device
        Device the model ran on.
    cogs
        Paths of the COGs (empty without ``cog``).
    item_id
        STAC id of the registered item (``None`` without ``catalog``).
    """

    store: Path
    species: tuple[str, ...]
    cells: int
    seconds: float
    device: str
    cogs: list[Path] = field(default_factory=list)
    item_id: str | None = None


def model_id(model_dir: str | os.PathLike[str]) -> str:
    """SHA-256 over the names and contents of the files of a model folder (sorted)."""
    digest = hashlib.sha256()
    folder = Path(model_dir)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_card(estimator: SpeciesDistributionModel) -> dict[str, Any]:
    """JSON description of a fitted model for the ``mlm`` fields of its maps' STAC item.

    Keys: ``name``, ``architecture``, ``framework``, ``framework_version``,
    ``total_parameters`` (numbers in the saved state: weights or posterior draws),
    ``hyperparameters`` (the model's config), ``tasks``, ``quantity`` (what the statistics
    describe: a probability of detection or, for presence-only fits, a relative suitability).
    """
    import torch

    state = estimator.get_state()
    framework = _FRAMEWORKS.get(state.model, "PyTorch")
    if framework == "Pyro":
        import pyro

        version = pyro.__version__
    else:
        version = torch.__version__.split("+")[0]
    presence_only = getattr(estimator, "mode", "") == "presence-only"
    config = state.meta.get("config")
    return {
        "name": state.model,
        "architecture": _ARCHITECTURES.get(state.model, type(estimator).__name__),
        "framework": framework,
        "framework_version": version,
        "total_parameters": int(sum(int(np.asarray(a).size) for a in state.arrays.values())),
        "hyperparameters": dict(config) if isinstance(config, dict) else {},
        "tasks": ["classification"],
        "quantity": "relative suitability (presence-only cloglog)"
        if presence_only
        else "probability of detection in a standard survey",
    }


def _load(model_dir: Path, device: str) -> SDM:
    from ecocube.models.estimator import SDM

    if not model_dir.is_dir():
        raise InvalidInputError(
            f"MODEL_DIR {str(model_dir)!r} is not a folder; pass the folder written by "
            "`ecocube sdm fit --out`"
        )
    return SDM.load(model_dir, device=device)


def _species(sdm: SDM, species: Sequence[str] | None) -> list[str]:
    names = [str(s) for s in sdm.species_]
    if species is None:
        return names
    chosen = [str(s) for s in species]
    if not chosen:
        raise InvalidInputError("--species is empty; name species of the model or leave it out")
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise InvalidInputError(
            f"species {unknown} are not in the model; it predicts {names[:20]}"
            + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        )
    return chosen


def _check_targets(cog: Path | None, catalog: Path | None, overwrite: bool) -> None:
    """Fail before the mapping when the COG folder or the catalog cannot take the outputs."""
    from ecocube._atomic import check_no_file_parent, check_replaceable

    if cog is not None:
        from ecocube.catalog._map_items import COG_INDEX

        check_no_file_parent(cog, f"--cog {str(cog)!r}")
        if cog.exists() and not overwrite and (cog / COG_INDEX).exists():
            raise InvalidInputError(
                f"--cog {str(cog)!r} already holds COGs; pass --overwrite or choose another folder"
            )
        check_replaceable(cog, markers=(COG_INDEX,), what="a folder of ecocube COGs")
    if catalog is not None:
        root = catalog / "catalog.json" if catalog.is_dir() or catalog.suffix != ".json" else None
        path = root if root is not None else catalog
        if not path.is_file():
            raise InvalidInputError(
                f"--catalog {str(catalog)!r} is not a static STAC catalog (no {path.name}); "
                "build one with `ecocube catalog build` or leave --catalog out"
            )


def map_model(
    model_dir: str | os.PathLike[str],
    cube: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    species: Sequence[str] | None = None,
    cog: str | os.PathLike[str] | None = None,
    mask: str = "land",
    device: str = "auto",
    catalog: str | os.PathLike[str] | None = None,
    tile: int | tuple[int, int] = 512,
    batch_size: int | None = 65536,
    overwrite: bool = False,
    progress: bool = True,
) -> MapResult:
    """Predict a fitted model over every cell of a cube into a maps store (+ COGs, STAC item).

    Parameters
    ----------
    model_dir
        Folder written by :meth:`ecocube.models.SDM.save` (``ecocube sdm fit --out``).
    cube
        Zarr cube (``ecocube cube build``) holding the model's input variables as ``(y, x)``
        layers; it may be another cube than the one the model was fitted on.
    out
        Maps store to write (``*.zarr``; see :func:`ecocube.models.mapping.predict_map`).
    species
        Species to map (default: all of the model).
    cog
        Folder for one COG per species and statistic (plus the novelty layer).
    mask
        ``"land"`` (default), ``"none"`` or a cube variable (see ``predict_map``).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    catalog
        Static STAC catalog to register the maps in (collection ``ecocube-maps``).
    tile
        Tile size in cells (memory grows with it, not with the region).
    batch_size
        Most cells per model call.
    overwrite
        Replace an existing store (and COG folder).
    progress
        Show progress lines.

    Returns
    -------
    MapResult

    Raises
    ------
    InvalidInputError
        ``model_dir`` is not a model folder, the cube lacks some of the model's variables
        (all named), ``species`` names species the model lacks, ``cog`` or ``catalog``
        cannot take the outputs, or any error of ``predict_map``.
    """
    from ecocube.cube import open_cube
    from ecocube.models.mapping import predict_map
    from ecocube.training import resolve_device

    model_dir = Path(model_dir)
    cog_dir = Path(cog) if cog is not None else None
    catalog_dir = Path(catalog) if catalog is not None else None
    _check_targets(cog_dir, catalog_dir, overwrite)
    dev = "cpu" if device == "cpu" else str(resolve_device(device))
    sdm = _load(model_dir, dev)
    chosen = _species(sdm, species)
    inputs = sdm.inputs
    ds = open_cube(Path(cube), chunks=None)
    inputs.check(map(str, ds.data_vars), what=f"the cube {str(cube)!r}")
    columns = [sdm.species_.index(s) for s in chosen]
    estimator = sdm.estimator_

    def predict(table: pd.DataFrame) -> dict[str, np.ndarray]:
        pred = sdm.predict_cells(table)
        return {k: v[:, columns] for k, v in pred.as_dict().items()}

    def predict_window(window: Any, points: pd.DataFrame) -> dict[str, np.ndarray]:
        pred = sdm.predict_points(window, points)
        return {k: v[:, columns] for k, v in pred.as_dict().items()}

    patches = bool(inputs.patch_variables)
    halo = (inputs.patch_size or 1) // 2 if patches else 0
    card = model_card(estimator)
    novelty = getattr(sdm, "novelty_", None)
    start = time.perf_counter()
    store = predict_map(
        Path(cube),
        None if patches else predict,
        predict_window=predict_window if patches else None,
        halo=halo,
        variables=list(inputs.variables),
        species=chosen,
        out=out,
        tile=tile,
        mask=mask,
        novelty=novelty,
        device=dev,
        overwrite=overwrite,
        batch_size=batch_size,
        model=card,
        model_id=model_id(model_dir),
        quantity=str(card["quantity"]),
        progress=progress,
    )
    seconds = time.perf_counter() - start
    cells = _cells(store)
    cogs: list[Path] = []
    if cog_dir is not None:
        from ecocube.cube import write_cogs

        cogs = [f.path for f in write_cogs(store, cog_dir, overwrite=overwrite, progress=progress)]
    item_id = None
    if catalog_dir is not None:
        from ecocube.catalog import register_maps

        item = register_maps(store, catalog_dir, model_dir, cogs=cog_dir)
        item_id = str(item.id)
    return MapResult(store, tuple(chosen), cells, seconds, dev, cogs, item_id)


def _cells(store: Path) -> int:
    """Cells with a value in the first species' mean map (counted chunk by chunk)."""
    import xarray as xr

    with xr.open_zarr(store, consolidated=True) as ds:
        first = ds["mean"].isel(species=0)
        return int(first.notnull().sum().compute(scheduler="synchronous"))
