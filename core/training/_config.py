"""Configuration of the training loop (a frozen dataclass, validated once at construction)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ecocube.errors import ConfigurationError

__all__ = ["OPTIMIZERS", "PRECISIONS", "TrainConfig"]

#: Optimizers :func:`ecocube.training.fit` can build.
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
#: Numeric precisions; ``"auto"`` is mixed precision on CUDA (bf16 when supported) and fp32 on CPU.
PRECISIONS: tuple[str, ...] = ("auto", "32", "bf16", "16")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes
    ----------
    max_epochs
        Upper bound on the number of passes over the training batches.
    lr
        Learning rate of the optimizer.
    weight_decay
        Decoupled (``adamw``) or L2 (``adam``, ``sgd``) weight decay.
    optimizer
        One of :data:`OPTIMIZERS`.
    patience
        Epochs without an improvement of the validation loss larger than ``min_delta`` before
        training stops; ``None`` disables early stopping. Needs validation batches.
    min_delta
        Smallest decrease of the validation loss that counts as an improvement.
    restore_best
        Load the weights of the best validation epoch at the end of training.
    grad_clip
        Maximum global L2 norm of the gradients; ``None`` disables clipping.
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    precision
        One of :data:`PRECISIONS`. Mixed precision only ever applies on CUDA.
    seed
        Seed of Python, NumPy and torch at the start of a fresh run; ``None`` leaves them.
    checkpoint_dir
        Folder for ``last.pt`` (written after every epoch) and ``best.pt``; ``None`` for none.
    resume
        Continue from ``checkpoint_dir/last.pt`` when it exists.
    progress
        Show the progress over epochs (a bar on a terminal, a line now and then in logs).
    """

    max_epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    patience: int | None = 10
    min_delta: float = 0.0
    restore_best: bool = True
    grad_clip: float | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int | None = 0
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_epochs, int) or self.max_epochs < 1:
            raise ConfigurationError(
                f"max_epochs must be a positive integer, got {self.max_epochs!r}"
            )
        if not self.lr > 0:
            raise ConfigurationError(f"lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ConfigurationError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigurationError(
                f"optimizer {self.optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigurationError(
                f"precision {self.precision!r} is unknown; choose one of {', '.join(PRECISIONS)}"
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigurationError(
                f"patience must be >= 1 or None (no early stopping), got {self.patience!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigurationError(f"grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ConfigurationError(
                "resume=True needs checkpoint_dir: set the folder that holds last.pt"
            )
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, Path):
            object.__setattr__(self, "checkpoint_dir", Path(self.checkpoint_dir))
