"""Device and precision resolution, seeding and moving nested batches to a device."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ecocube.errors import ConfigurationError

__all__ = ["move_to_device", "resolve_device", "resolve_precision", "seed_everything"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` or a device name into a :class:`torch.device` that exists here.

    Parameters
    ----------
    device
        ``"auto"`` picks ``cuda`` when available, then ``mps``, else ``cpu``.

    Raises
    ------
    ConfigurationError
        If the name is not a torch device or the device is not available.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ConfigurationError(
                f"device {device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
            ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            f"device {str(device)!r} was requested but CUDA is not available here; "
            "use device='auto' or 'cpu'"
        )
    return dev


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``precision`` on ``device``; ``None`` means full fp32.

    Mixed precision is used only on CUDA; on other devices every choice falls back to fp32,
    because CPU autocast is slower than fp32 for the small models ecocube trains.
    """
    if device.type != "cuda" or precision == "32":
        return None
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU).

    Parameters
    ----------
    seed
        Non-negative integer.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a nested batch (tuple, list, dict) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        mapping_type: Any = type(batch)  # dict, OrderedDict, ... built from a dict
        return mapping_type({k: move_to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch
