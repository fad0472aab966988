"""Model folders of format version 1 (before the models saved themselves), read as a ModelState.

A version-1 folder of :class:`ecocube.models.SDM` holds ``manifest.json`` and the weights file
it names (``model.pt``: a dict of tensors and plain data written with ``torch.save``).
:func:`read_v1_state` reads that file with ``torch.load(weights_only=True)`` (tensors and plain
data only, no code runs) and rewrites its entries as the :class:`~ecocube.models.ModelState`
of today's model class, so that :meth:`SpeciesDistributionModel.from_state` rebuilds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ecocube.errors import InvalidInputError
from ecocube.models._base import ModelState
from ecocube.models._features import _level

__all__ = ["read_v1_state"]

_RESTORE = "restore the model folder from a backup or refit it with 'ecocube sdm fit'."


def read_v1_state(folder: Path, manifest: dict[str, Any]) -> ModelState:
    """The :class:`ModelState` of the version-1 model folder ``folder`` (manifest read).

    Raises
    ------
    InvalidInputError
        The weights file is missing, truncated, damaged or not written by ecocube (the message
        names it), or its entries do not match the manifest.
    """
    name = manifest.get("weights")
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise InvalidInputError(
            f"{str(folder / 'manifest.json')!r}: 'weights' must name a file inside the model "
            f"folder, got {name!r}; {_RESTORE}"
        )
    wpath = folder / name
    state = _load_weights(wpath)
    model = manifest.get("model")
    try:
        if model == "maxent-net":
            return _maxent_net(state, manifest)
        if model == "integrated":
            return _integrated(state, manifest)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise InvalidInputError(
            f"cannot load the weights {str(wpath)!r}: its entries do not match the manifest "
            f"({type(err).__name__}); {_RESTORE}"
        ) from err
    raise InvalidInputError(
        f"{str(folder / 'manifest.json')!r} names model {model!r}, which format "
        "version 1 did not have; refit the model."
    )


def _load_weights(wpath: Path) -> dict[str, Any]:
    """The dict of a version-1 weights file, read without running code from it."""
    import pickle
    import zipfile

    import torch

    if not wpath.is_file():
        raise InvalidInputError(f"the model folder has no weights file {str(wpath)!r}; {_RESTORE}")
    try:
        state = torch.load(wpath, map_location="cpu", weights_only=True)
    except PermissionError:
        raise
    except (
        OSError,  # torch's zip reader on a truncated file
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        RuntimeError,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        AttributeError,
    ) as err:
        # the raw message of a refused pickle suggests weights_only=False: never do that
        raise InvalidInputError(
            f"cannot load the weights {str(wpath)!r}: the file is truncated, damaged or not "
            f"written by ecocube ({type(err).__name__}); {_RESTORE}"
        ) from err
    if not isinstance(state, dict) or "config" not in state:
        raise InvalidInputError(
            f"cannot load the weights {str(wpath)!r}: the file is truncated, damaged or not "
            f"written by ecocube (no model state); {_RESTORE}"
        )
    return state


def _arrays(tensors: dict[str, Any], prefix: str) -> dict[str, np.ndarray]:
    return {prefix + k: v.detach().cpu().numpy() for k, v in tensors.items()}


def _maxent_net(state: dict[str, Any], manifest: dict[str, Any]) -> ModelState:
    """Version 1 stored the network, normaliser and z-score statistics of the encoder."""
    categorical = list(state["categorical"])
    continuous = [c for c in state["covariates"] if c not in categorical]
    n = len(continuous)
    encoder = {
        "covariates": continuous,
        "categorical": categorical,
        "quadratic": False,
        "scaling": state["config"].get("scaling", "zscore"),
        "handle_unknown": "error",
        "level_order": "value",
        "mean": list(state["mean"]),
        "sd": list(state["std"]),
        "sq_mean": [0.0] * n,
        "sq_sd": [1.0] * n,
        # version 1 did not store the quantiles: from_dict refuses such a model (refit)
        "quantiles": None,
        "levels": {c: [_level(v) for v in state["levels"][c]] for c in categorical},
    }
    meta = {
        "species": list(state["species"]),
        "mode": "presence-only",
        "config": dict(state["config"]),
        "covariates": list(state["covariates"]),
        "categorical": categorical,
        "encoder": encoder,
        "n_features": int(state["n_features"]),
        "n_background": float(state["n_background"]),
    }
    arrays = _arrays(state["network"], "network.")
    arrays["log_z"] = state["log_z"].detach().cpu().numpy()
    return ModelState("maxent-net", meta, arrays)


def _integrated(state: dict[str, Any], manifest: dict[str, Any]) -> ModelState:
    """Version 1 kept the encoder in the manifest and the posterior draws in the weights."""
    meta = {
        "species": list(manifest["species"]),
        "mode": str(state["mode"]),
        "config": dict(state["config"]),
        "encoder": dict(manifest["encoder"]),
        "n_species": int(state["n_species"]),
        "n_inputs": int(state["n_inputs"]),
        "n_feat": int(state["n_feat"]),
    }
    arrays = _arrays(state["draws"], "draws.")
    if state.get("net") is not None:
        arrays.update(_arrays(state["net"], "net."))
    return ModelState("integrated", meta, arrays)
