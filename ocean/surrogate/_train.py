"""Thin use of the shared training loop: a cosine learning-rate decay over the epochs.

The loop (:class:`ecocube.training.Trainer`) builds its optimizer itself; the subclass below only
keeps a handle on it so that an epoch callback can set the learning rate. Regression of smooth
fields to 1e-3 relative error needs the decay (a constant Adam step stalls an order of
magnitude higher).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from ecocube.training import TrainConfig, Trainer, TrainResult

__all__ = ["LoopSettings", "batches", "seeded_module", "train_module"]


class _ScheduledTrainer(Trainer):
    optimizer: torch.optim.Optimizer | None = None

    def _optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        self.optimizer = super()._optimizer(model)
        return self.optimizer


class LoopSettings(Protocol):
    """The training settings :func:`train_module` reads (``SurrogateConfig`` has them)."""

    @property
    def max_epochs(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def progress(self) -> bool: ...


def batches(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, *, batch_size: int, seed: int
) -> tuple[torch.utils.data.DataLoader, list[tuple[torch.Tensor, torch.Tensor]] | None]:
    """Shuffled training batches of ``(x, y)[train]`` and one validation batch (``None``: empty).

    ``batch_size`` is capped at the number of training rows; ``seed`` seeds the shuffling.
    """
    gen = torch.Generator().manual_seed(seed)
    data = torch.utils.data.TensorDataset(torch.as_tensor(x[train]), torch.as_tensor(y[train]))
    loader = torch.utils.data.DataLoader(
        data, batch_size=min(batch_size, len(train)), shuffle=True, generator=gen
    )
    val_b = [(torch.as_tensor(x[val]), torch.as_tensor(y[val]))] if len(val) else None
    return loader, val_b


def seeded_module(build: Callable[[], torch.nn.Module], seed: int) -> torch.nn.Module:
    """Build a network with its initial weights drawn from ``seed``.

    The draw uses a forked torch generator, so the global random state is left as it was and the
    same seed gives the same initial weights in every process.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def train_module(
    model: torch.nn.Module,
    train_batches: Any,
    val_batches: Any,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    settings: LoopSettings,
    *,
    patience: int | None,
    device: str,
    seed: int,
) -> TrainResult:
    """Train ``model`` with the shared loop and a cosine decay from ``lr`` to ``lr / 100``.

    ``settings`` gives the epochs, learning rate, weight decay and progress display;
    ``patience`` epochs without improvement on ``val_batches`` stop the training early.
    """
    max_epochs, lr = settings.max_epochs, settings.lr
    config = TrainConfig(
        max_epochs=max_epochs,
        lr=lr,
        weight_decay=settings.weight_decay,
        optimizer="adamw" if settings.weight_decay > 0 else "adam",
        patience=patience if val_batches is not None else None,
        restore_best=val_batches is not None,
        device=device,
        precision="32",
        seed=seed,
        progress=settings.progress,
    )
    trainer = _ScheduledTrainer(config, loss_fn=loss_fn)

    def schedule(epoch: int, logs: dict[str, float]) -> bool:
        opt = trainer.optimizer
        if opt is not None:
            frac = min(1.0, epoch / max_epochs)
            factor = 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac))
            for group in opt.param_groups:
                group["lr"] = lr * factor
        return False

    trainer.callbacks = (schedule,)
    return trainer.fit(model, train_batches, val_batches)
