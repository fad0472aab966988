"""A domain-free training loop for torch models (and Pyro objectives) used across ecocube.

Device-agnostic (``device="auto"``), mixed precision on CUDA, early stopping on validation
batches, atomic checkpoints that resume bit for bit, a progress bar and seeding. The model
supplies its loss through ``training_step(batch)`` or a ``loss_fn(model, batch)``; nothing here
knows about species or oceans.
"""

from ecocube.training._checkpoint import load_checkpoint, save_checkpoint
from ecocube.training._config import OPTIMIZERS, PRECISIONS, TrainConfig
from ecocube.training._device import (
    move_to_device,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from ecocube.training._loop import (
    Callback,
    LossFn,
    SupportsTrainingStep,
    Trainer,
    TrainingDivergedError,
    TrainResult,
    fit,
)

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "Callback",
    "LossFn",
    "SupportsTrainingStep",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "fit",
    "load_checkpoint",
    "move_to_device",
    "resolve_device",
    "resolve_precision",
    "save_checkpoint",
    "seed_everything",
]
