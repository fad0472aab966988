"""Thin use of the shared training loop: a cosine learning-rate decay over the epochs.

The loop (:class:`ecocube.training.Trainer`) builds its optimizer itself; the subclass below only
keeps a handle on it so that an epoch callback can set the learning rate. Regression of smooth
fields to 1e-3 relative error needs the decay (a constant Adam step stalls an order of
magnitude higher).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ecocube.training import TrainConfig, Trainer, TrainResult

__all__ = ["train_module"]


class _ScheduledTrainer(Trainer):
    optimizer: torch.optim.Optimizer | None = None

    def _optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        self.optimizer = super()._optimizer(model)
        return self.optimizer


def train_module(
    model: torch.nn.Module,
    train_batches: Any,
    val_batches: Any,
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
    *,
    max_epochs: int,
    lr: float,
    patience: int | None,
    weight_decay: float,
    device: str,
    seed: int,
    progress: bool,
) -> TrainResult:
    """Train ``model`` with the shared loop and a cosine decay from ``lr`` to ``lr / 100``."""
    config = TrainConfig(
        max_epochs=max_epochs,
        lr=lr,
        weight_decay=weight_decay,
        optimizer="adamw" if weight_decay > 0 else "adam",
        patience=patience if val_batches is not None else None,
        restore_best=val_batches is not None,
        device=device,
        precision="32",
        seed=seed,
        progress=progress,
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
