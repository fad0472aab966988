"""Atomic checkpoints that hold everything needed to resume a run bit for bit."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecocube.errors import DataIntegrityError

__all__ = ["capture_rng_state", "load_checkpoint", "restore_rng_state", "save_checkpoint"]


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with :func:`torch.save` atomically (temporary file, then rename).

    A crash while writing leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (on CPU).

    Raises
    ------
    DataIntegrityError
        If the file is not a readable ecocube checkpoint.
    """
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several unrelated types for corrupt files
        raise DataIntegrityError(
            f"checkpoint {str(path)!r} cannot be read ({err}); delete it to start afresh"
        ) from err
    if not isinstance(payload, dict) or "model" not in payload or "epoch" not in payload:
        raise DataIntegrityError(
            f"checkpoint {str(path)!r} is not an ecocube training checkpoint "
            "(missing 'model'/'epoch'); delete it to start afresh"
        )
    return payload
