"""Atomic checkpoints that hold everything needed to resume a run bit for bit.

A checkpoint holds tensors and plain data only (dict, list, tuple, str, int, float, bool,
None) and is read with ``torch.load(weights_only=True)``, so loading a tampered or foreign
``last.pt`` can never run code.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecocube._atomic import temporary_sibling
from ecocube.errors import DataIntegrityError

__all__ = ["capture_rng_state", "load_checkpoint", "restore_rng_state", "save_checkpoint"]

#: How torch's weights-only unpickler names an object it refused to load.
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, as tensors and plain data."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with :func:`torch.save` atomically (temporary file, then rename).

    A crash while writing leaves the previous checkpoint intact.

    Parameters
    ----------
    path
        The checkpoint file, e.g. ``checkpoints/last.pt``.
    payload
        Tensors and plain data only (see the module docstring); anything else could not be
        read back by :func:`load_checkpoint`.
    """
    path = Path(path)
    with temporary_sibling(path, directory=False, suffix=path.suffix) as tmp:
        with tmp.open("wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (on CPU) without running its code.

    Raises
    ------
    DataIntegrityError
        If the file is not a readable ecocube checkpoint, or holds Python objects other than
        tensors and plain data (it was not written by ecocube, or was tampered with; nothing
        in it was run).
    """
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's own message suggests weights_only=False, the one thing never to do here
        found = _UNSAFE_GLOBAL.search(str(err))
        if found is None:
            raise _unreadable(path, err) from None
        raise DataIntegrityError(
            f"checkpoint {str(path)!r} refers to the Python object {found.group(1)!r}; an "
            "ecocube checkpoint holds only tensors and plain data, so this file was written by "
            "other code or tampered with. It was not loaded and none of its code ran; delete "
            "it to start afresh"
        ) from None
    except Exception as err:  # torch raises several unrelated types for corrupt files
        raise _unreadable(path, err) from err
    if not isinstance(payload, dict) or "model" not in payload or "epoch" not in payload:
        raise DataIntegrityError(
            f"checkpoint {str(path)!r} is not an ecocube training checkpoint "
            "(missing 'model'/'epoch'); delete it to start afresh"
        )
    return payload


def _unreadable(path: Path, err: Exception) -> DataIntegrityError:
    return DataIntegrityError(
        f"checkpoint {str(path)!r} cannot be read: it is truncated, corrupt or not a torch file "
        f"({type(err).__name__}); delete it to start afresh"
    )
