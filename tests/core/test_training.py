"""The shared training loop: resume equality, early stopping, seeds, devices, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ecocube.errors import ConfigurationError, DataIntegrityError
from ecocube.training import (
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    fit,
    load_checkpoint,
    resolve_device,
    resolve_precision,
    save_checkpoint,
    seed_everything,
)
from ecocube.training._checkpoint import capture_rng_state, restore_rng_state


class _Regressor(torch.nn.Module):
    """Tiny MLP exposing the ``training_step`` hook."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self(x), y)


def _data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = (x[:, :1] * 2 - x[:, 1:2] ** 2 + 0.1 * torch.randn(n, 1, generator=g)).float()
    return x, y


def _loader(n: int = 256, seed: int = 0) -> torch.utils.data.DataLoader:
    x, y = _data(n, seed)
    # No explicit generator: shuffling draws from torch's global RNG, which checkpoints restore.
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True
    )


def _params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _cfg(**kw: object) -> TrainConfig:
    base = {"max_epochs": 6, "lr": 1e-2, "patience": None, "progress": False, "seed": 3}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_loss_decreases_on_cpu(device: str) -> None:
    torch.manual_seed(0)
    model = _Regressor()
    result = fit(model, _loader(), [_data(64, 1)], config=_cfg(max_epochs=15, device=device))
    assert result.epochs_run == 15
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    assert result.device.startswith(device)
    assert not math.isnan(result.history[0]["val_loss"])


def test_resume_matches_uninterrupted_run(tmp_path: Path, device: str) -> None:
    torch.manual_seed(1)
    ref = _Regressor()
    init = {k: v.clone() for k, v in ref.state_dict().items()}
    full = fit(ref, _loader(), [_data(64, 1)], config=_cfg(device=device))

    part = _Regressor()
    part.load_state_dict(init)
    ckpt = tmp_path / "ckpt"
    fit(
        part,
        _loader(),
        [_data(64, 1)],
        config=_cfg(device=device, max_epochs=3, checkpoint_dir=ckpt, restore_best=False),
    )
    assert load_checkpoint(ckpt / "last.pt")["epoch"] == 3
    # A fresh process would rebuild the model with other weights and another RNG state.
    resumed = _Regressor()
    torch.manual_seed(12345)
    out = fit(
        resumed,
        _loader(),
        [_data(64, 1)],
        config=_cfg(device=device, checkpoint_dir=ckpt, resume=True),
    )
    assert out.epochs_run == full.epochs_run == 6
    assert [h["train_loss"] for h in out.history] == pytest.approx(
        [h["train_loss"] for h in full.history], rel=1e-6
    )
    torch.testing.assert_close(_params(resumed), _params(ref))
    assert (ckpt / "best.pt").is_file()


def test_early_stopping_triggers_and_restores_best() -> None:
    torch.manual_seed(0)
    model = _Regressor()
    # Validation targets unrelated to the inputs: the validation loss stops improving quickly.
    xv = torch.randn(64, 3)
    val = [(xv, torch.randn(64, 1) * 5)]
    result = fit(model, _loader(), val, config=_cfg(max_epochs=200, patience=3, lr=3e-2))
    assert result.stopped_early
    assert result.epochs_run == result.best_epoch + 3
    assert result.epochs_run < 200
    best_val = Trainer(_cfg()).evaluate(model, val)
    assert best_val == pytest.approx(result.best_loss, rel=1e-5)


def test_same_seed_same_weights_other_seed_differs() -> None:
    def run(seed: int) -> torch.Tensor:
        model_seed = torch.Generator().manual_seed(0)
        model = _Regressor()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=model_seed) * 0.3)
        fit(model, _loader(), config=_cfg(seed=seed, max_epochs=2))
        return _params(model)

    a, b, c = run(7), run(7), run(8)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_seed_everything_reproduces_draws() -> None:
    seed_everything(11)
    a = torch.rand(3)
    seed_everything(11)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ConfigurationError, match="seed must be a non-negative integer"):
        seed_everything(-1)


def test_loss_fn_hook_and_callback_stop() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    seen: list[int] = []

    def callback(epoch: int, logs: dict[str, float]) -> bool:
        seen.append(epoch)
        return epoch == 2

    def loss(m: torch.nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.nn.functional.mse_loss(m(b[0]), b[1])

    result = Trainer(_cfg(), loss_fn=loss, callbacks=[callback]).fit(net, [_data(32)])
    assert seen == [1, 2] and result.stopped_early and result.epochs_run == 2


def test_pyro_svi_objective_trains() -> None:
    pyro = pytest.importorskip("pyro")
    import pyro.distributions as dist
    from pyro.infer import Trace_ELBO
    from pyro.infer.autoguide import AutoNormal

    y = torch.randn(200) * 0.5 + 3.0

    def model(obs: torch.Tensor) -> None:
        mu = pyro.sample("mu", dist.Normal(0.0, 10.0))
        with pyro.plate("n", obs.shape[0]):
            pyro.sample("y", dist.Normal(mu, 0.5), obs=obs)

    class Svi(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.guide = AutoNormal(model)
            self.elbo = Trace_ELBO()

        def training_step(self, batch: torch.Tensor) -> torch.Tensor:
            return self.elbo.differentiable_loss(model, self.guide, batch) / batch.shape[0]

    pyro.clear_param_store()
    svi = Svi()
    fit(svi, [y], config=_cfg(max_epochs=300, lr=0.05, seed=0))
    mu = svi.guide.median()["mu"].item()
    assert mu == pytest.approx(3.0, abs=0.1)


def test_divergence_raises() -> None:
    net = torch.nn.Linear(3, 1)

    def loss(m: torch.nn.Module, b: torch.Tensor) -> torch.Tensor:
        return m(b).sum() * float("nan")

    with pytest.raises(TrainingDivergedError, match="training loss is nan"):
        fit(net, [torch.randn(4, 3)], config=_cfg(), loss_fn=loss)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ConfigurationError, match="optimizer 'lbfgs' is unknown"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ConfigurationError, match="precision 'fp8' is unknown"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigurationError, match="max_epochs must be a positive integer"):
        TrainConfig(max_epochs=0)
    with pytest.raises(ConfigurationError, match="lr must be > 0"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigurationError, match="weight_decay must be >= 0"):
        TrainConfig(weight_decay=-1)
    with pytest.raises(ConfigurationError, match="patience must be >= 1"):
        TrainConfig(patience=0)
    with pytest.raises(ConfigurationError, match="grad_clip must be > 0"):
        TrainConfig(grad_clip=0)
    with pytest.raises(ConfigurationError, match="resume=True needs checkpoint_dir"):
        TrainConfig(resume=True)
    with pytest.raises(ConfigurationError, match="is not a torch device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigurationError, match="has no training_step"):
        fit(torch.nn.Linear(3, 1), [torch.randn(2, 3)], config=_cfg())
    with pytest.raises(ConfigurationError, match="no trainable parameters"):
        fit(torch.nn.ReLU(), [torch.randn(2, 3)], config=_cfg(), loss_fn=lambda m, b: m(b).sum())
    with pytest.raises(ConfigurationError, match="train_batches yielded no batch"):
        fit(_Regressor(), [], config=_cfg())
    with pytest.raises(ConfigurationError, match="val_batches yielded no batch"):
        fit(_Regressor(), [_data(8)], [], config=_cfg())


def test_corrupt_checkpoint_raises(tmp_path: Path) -> None:
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(
        DataIntegrityError, match="cannot be read: it is truncated, corrupt"
    ) as info:
        fit(_Regressor(), [_data(8)], config=_cfg(checkpoint_dir=tmp_path, resume=True))
    assert "weights_only" not in str(info.value)  # torch's advice to load unsafely is dropped
    torch.save({"model": {"w": torch.ones(100)}, "epoch": 1}, tmp_path / "last.pt")
    whole = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataIntegrityError, match="cannot be read: it is truncated"):
        load_checkpoint(tmp_path / "last.pt")
    torch.save({"weights": 1}, tmp_path / "last.pt")
    with pytest.raises(DataIntegrityError, match="not an ecocube training checkpoint"):
        load_checkpoint(tmp_path / "last.pt")


def test_precision_resolution() -> None:
    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("16", torch.device("cpu")) is None
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if torch.cuda.is_available():
        assert resolve_precision("16", torch.device("cuda")) is torch.float16
        assert resolve_precision("bf16", torch.device("cuda")) is torch.bfloat16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mixed_precision_on_gpu() -> None:
    torch.manual_seed(0)
    for precision in ("16", "bf16"):
        model = _Regressor()
        result = fit(
            model, _loader(), config=_cfg(device="cuda", precision=precision, max_epochs=10)
        )
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


class _RunsCode:
    """Unpickling this object creates the file ``path``: a stand-in for arbitrary code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_crafted_checkpoint_is_refused_without_running_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    state = {"model": _Regressor().state_dict(), "epoch": 1, "extra": _RunsCode(marker)}
    torch.save(state, tmp_path / "last.pt")
    with pytest.raises(
        DataIntegrityError, match=r"refers to the Python object 'io.open'.*none of its code ran"
    ):
        fit(_Regressor(), [_data(8)], config=_cfg(checkpoint_dir=tmp_path, resume=True))
    assert not marker.exists()
    # the file is a real threat: a plain unpickling runs its code
    torch.load(tmp_path / "last.pt", weights_only=False)
    assert marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_data(tmp_path: Path) -> None:
    import random

    import numpy as np

    fit(_Regressor(), _loader(), config=_cfg(max_epochs=2, checkpoint_dir=tmp_path))
    state = torch.load(tmp_path / "last.pt", weights_only=True)  # raises on anything else
    assert state["config"]["checkpoint_dir"] == str(tmp_path)
    # every generator state survives the round trip through a weights-only file
    legacy_normal = np.random.standard_normal  # the global generator is what checkpoints save
    seed_everything(5)
    save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng_state()})
    expected = (legacy_normal(3), random.random(), torch.rand(2))
    seed_everything(99)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    np.testing.assert_array_equal(legacy_normal(3), expected[0])
    assert random.random() == expected[1]
    assert torch.equal(torch.rand(2), expected[2])
