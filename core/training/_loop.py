"""The training loop: epochs over batches, validation, early stopping, checkpoints, AMP."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from ecocube._progress import progress
from ecocube.errors import ConfigurationError, EcocubeError
from ecocube.training._checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from ecocube.training._config import TrainConfig
from ecocube.training._device import (
    move_to_device,
    resolve_device,
    resolve_precision,
    seed_everything,
)

__all__ = [
    "Callback",
    "LossFn",
    "SupportsTrainingStep",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "fit",
]

#: ``loss_fn(model, batch) -> scalar loss tensor``.
LossFn = Callable[[torch.nn.Module, Any], torch.Tensor]
#: ``callback(epoch, logs) -> stop?``; ``logs`` holds ``train_loss`` and ``val_loss``.
Callback = Callable[[int, dict[str, float]], bool | None]


class TrainingDivergedError(EcocubeError, FloatingPointError):
    """The loss became NaN or infinite."""


@runtime_checkable
class SupportsTrainingStep(Protocol):
    """What a model must provide when no ``loss_fn`` is given.

    ``training_step(batch)`` returns the scalar loss to minimise: a mean negative
    log-likelihood for an ``nn.Module``, or ``elbo.differentiable_loss(model, guide, ...)`` for a
    Pyro model/guide pair held by an ``nn.Module``. ``validation_step`` is optional and defaults
    to ``training_step``.
    """

    def training_step(self, batch: Any) -> torch.Tensor:  # pragma: no cover - protocol
        """Return the scalar loss of one batch."""
        ...


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`.

    Attributes
    ----------
    history
        One dict per completed epoch: ``epoch``, ``train_loss``, ``val_loss`` (NaN without
        validation data), ``seconds``.
    best_epoch
        Epoch (from 1) with the lowest monitored loss (validation loss, else training loss).
    best_loss
        That loss.
    epochs_run
        Number of completed epochs, including those before a resume.
    stopped_early
        Whether early stopping ended the run.
    device
        Device the model was trained on.
    checkpoint
        Path of ``last.pt`` when checkpoints were written.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_loss: float = math.inf
    epochs_run: int = 0
    stopped_early: bool = False
    device: str = "cpu"
    checkpoint: Path | None = None


class Trainer:
    """Domain-free training loop shared by the SDMs and the ocean surrogate.

    Parameters
    ----------
    config
        Every setting of the run (:class:`TrainConfig`).
    loss_fn
        ``loss_fn(model, batch) -> loss``; by default ``model.training_step(batch)``.
    val_loss_fn
        Loss on validation batches; by default ``model.validation_step`` when it exists,
        else ``loss_fn``.
    callbacks
        Called after every epoch with ``(epoch, logs)``; returning ``True`` stops training.

    Examples
    --------
    >>> import torch
    >>> from ecocube.training import TrainConfig, Trainer
    >>> net = torch.nn.Linear(2, 1)
    >>> batches = [(torch.randn(8, 2), torch.randn(8, 1))]
    >>> loss = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])
    >>> result = Trainer(TrainConfig(max_epochs=3, progress=False), loss_fn=loss).fit(net, batches)
    >>> result.epochs_run
    3
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        *,
        loss_fn: LossFn | None = None,
        val_loss_fn: LossFn | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.config = config if config is not None else TrainConfig()
        self.loss_fn = loss_fn
        self.val_loss_fn = val_loss_fn
        self.callbacks = tuple(callbacks)

    # -- pieces -------------------------------------------------------------------------------
    def _train_loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        if self.loss_fn is not None:
            return self.loss_fn(model, batch)
        step = getattr(model, "training_step", None)
        if step is None:
            raise ConfigurationError(
                f"{type(model).__name__} has no training_step(batch) method; give "
                "Trainer(loss_fn=lambda model, batch: ...) or add training_step to the model"
            )
        return step(batch)

    def _val_loss(self, model: torch.nn.Module, batch: Any) -> torch.Tensor:
        if self.val_loss_fn is not None:
            return self.val_loss_fn(model, batch)
        step = getattr(model, "validation_step", None) if self.loss_fn is None else None
        if step is not None:
            return step(batch)
        return self._train_loss(model, batch)

    def _optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ConfigurationError(
                f"{type(model).__name__} has no trainable parameters; nothing to optimise"
            )
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)

    # -- main entry ---------------------------------------------------------------------------
    def fit(
        self,
        model: torch.nn.Module,
        train_batches: Iterable[Any],
        val_batches: Iterable[Any] | None = None,
    ) -> TrainResult:
        """Train ``model`` in place; return the history and the best epoch.

        Parameters
        ----------
        model
            The module to train; moved to the configured device.
        train_batches
            Re-iterable batches (a ``DataLoader`` or a list); each batch is moved to the device.
            Shuffling DataLoaders without an explicit generator draw from torch's global RNG,
            which checkpoints save, so resumed runs see the same batch order.
        val_batches
            Validation batches for early stopping (e.g. a spatial-block split).

        Raises
        ------
        TrainingDivergedError
            If a training loss is NaN or infinite.
        """
        cfg = self.config
        device = resolve_device(cfg.device)
        amp_dtype = resolve_precision(cfg.precision, device)
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype is torch.float16)
        model.to(device)

        last_path = cfg.checkpoint_dir / "last.pt" if cfg.checkpoint_dir is not None else None
        state = None
        if cfg.resume and last_path is not None and last_path.is_file():
            state = load_checkpoint(last_path)
        if state is None and cfg.seed is not None:
            seed_everything(cfg.seed)

        first = None
        if not any(True for _ in model.parameters()):
            # Lazily built parameters (e.g. Pyro autoguides) appear on the first call.
            first = move_to_device(next(iter(train_batches)), device)
            with torch.no_grad():
                self._train_loss(model, first)
        optimizer = self._optimizer(model)

        result = TrainResult(device=str(device), checkpoint=last_path)
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs = 0
        start_epoch = 0
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            restore_rng_state(state["rng"])
            start_epoch = int(state["epoch"])
            bad_epochs = int(state["bad_epochs"])
            best_state = state.get("best_state")
            result.history = list(state["history"])
            result.best_epoch = int(state["best_epoch"])
            result.best_loss = float(state["best_loss"])
            result.stopped_early = bool(state["stopped_early"])
            if result.stopped_early:
                start_epoch = cfg.max_epochs  # a finished run stays finished

        autocast = (
            (lambda: torch.autocast(device.type, dtype=amp_dtype))
            if amp_dtype is not None
            else contextlib.nullcontext
        )
        with progress(
            "epochs",
            total=cfg.max_epochs,
            completed=start_epoch,
            unit="epochs",
            transient=True,
            enabled=cfg.progress,
        ) as bar:
            for epoch in range(start_epoch + 1, cfg.max_epochs + 1):
                tic = time.perf_counter()
                model.train()
                total = torch.zeros((), device=device)
                n_batches = 0
                for batch in train_batches:
                    batch = move_to_device(batch, device)
                    optimizer.zero_grad(set_to_none=True)
                    with autocast():
                        loss = self._train_loss(model, batch)
                    if not torch.isfinite(loss):
                        raise TrainingDivergedError(
                            f"training loss is {loss.item()} at epoch {epoch}; lower lr "
                            f"(now {cfg.lr}), set grad_clip, or check the inputs for NaN"
                        )
                    scaler.scale(loss).backward()
                    if cfg.grad_clip is not None:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    total += loss.detach().float()
                    n_batches += 1
                if n_batches == 0:
                    raise ConfigurationError("train_batches yielded no batch; give at least one")
                train_loss = float(total.item() / n_batches)
                val_loss = (
                    self.evaluate(model, val_batches) if val_batches is not None else math.nan
                )
                monitored = val_loss if val_batches is not None else train_loss
                logs = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "seconds": time.perf_counter() - tic,
                }
                result.history.append(logs)
                if monitored < result.best_loss - cfg.min_delta:
                    result.best_loss, result.best_epoch, bad_epochs = monitored, epoch, 0
                    if cfg.restore_best:
                        best_state = {
                            k: v.detach().to("cpu", copy=True)
                            for k, v in model.state_dict().items()
                        }
                else:
                    bad_epochs += 1
                stop = cfg.patience is not None and bad_epochs >= cfg.patience
                for callback in self.callbacks:
                    stop = bool(callback(epoch, dict(logs))) or stop
                result.stopped_early = stop
                if last_path is not None:
                    payload = {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict(),
                        "epoch": epoch,
                        "bad_epochs": bad_epochs,
                        "best_epoch": result.best_epoch,
                        "best_loss": result.best_loss,
                        "best_state": best_state,
                        "history": result.history,
                        "stopped_early": stop,
                        "rng": capture_rng_state(),
                        "config": {  # plain data only: checkpoints load with weights_only
                            k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()
                        },
                    }
                    save_checkpoint(last_path, payload)
                    if result.best_epoch == epoch:
                        save_checkpoint(last_path.with_name("best.pt"), payload)
                shown = {"train": train_loss}
                if math.isfinite(val_loss):  # no validation data: show the training loss only
                    shown["val"] = val_loss
                bar.advance(**shown)
                if stop:
                    break
        result.epochs_run = len(result.history)
        if cfg.restore_best and best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return result

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, batches: Iterable[Any]) -> float:
        """Mean loss over ``batches`` in eval mode, without gradients."""
        cfg = self.config
        device = next(model.parameters()).device
        amp_dtype = resolve_precision(cfg.precision, device)
        model.eval()
        total = torch.zeros((), device=device)
        n = 0
        for batch in batches:
            batch = move_to_device(batch, device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                total += self._val_loss(model, batch).detach().float()
            n += 1
        if n == 0:
            raise ConfigurationError("val_batches yielded no batch; give at least one or None")
        return float(total.item() / n)


def fit(
    model: torch.nn.Module,
    train_batches: Iterable[Any],
    val_batches: Iterable[Any] | None = None,
    *,
    config: TrainConfig | None = None,
    loss_fn: LossFn | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``model`` with :class:`Trainer`; see :meth:`Trainer.fit`."""
    return Trainer(config, loss_fn=loss_fn, callbacks=callbacks).fit(
        model, train_batches, val_batches
    )
