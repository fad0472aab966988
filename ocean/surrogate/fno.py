"""Fourier neural operator (FNO-1d) surrogate: daily forcing series -> daily output series.

The operator maps the daily forcing the full model sees (surface temperature anomaly and its
warming part, shortwave, wind, atmospheric CO2, calendar, plus the scenario parameters as
constant channels; see :func:`~ecocube.ocean.surrogate._data.forcing_channels`) to every
standardised output channel on the same days (Li et al. 2021, ICLR, "Fourier neural operator
for parametric PDEs"). Each layer adds a spectral convolution (learned complex weights on the
lowest ``modes`` Fourier modes) to a pointwise linear map; the time axis is zero-padded so the
non-periodic horizon does not wrap around. Because warming enters as a forcing series rather
than only a parameter, the operator sees warmer days inside the training range even when a
scenario's total warming lies beyond it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ecocube.ocean.surrogate._base import ARCHITECTURES, Surrogate
from ecocube.ocean.surrogate._data import forcing_channels
from ecocube.ocean.surrogate._train import batches, seeded_module, train_module

__all__ = ["FNO1d", "FNOSurrogate"]


def _torch() -> Any:
    import torch

    return torch


class _SpectralConv1d(_torch().nn.Module):  # type: ignore[misc]
    def __init__(self, width: int, modes: int) -> None:
        torch = _torch()
        super().__init__()
        self.modes = modes
        scale = 1.0 / (width * width)
        self.w_re = torch.nn.Parameter(scale * torch.randn(width, width, modes))
        self.w_im = torch.nn.Parameter(scale * torch.randn(width, width, modes))

    def forward(self, x: Any) -> Any:
        torch = _torch()
        n = x.shape[-1]
        xf = torch.fft.rfft(x, dim=-1)
        m = min(self.modes, xf.shape[-1])
        w = torch.complex(self.w_re[..., :m], self.w_im[..., :m])
        out = torch.zeros(x.shape[0], w.shape[1], xf.shape[-1], dtype=xf.dtype, device=x.device)
        out[..., :m] = torch.einsum("bim,iom->bom", xf[..., :m], w)
        return torch.fft.irfft(out, n=n, dim=-1)


class FNO1d(_torch().nn.Module):  # type: ignore[misc]
    """FNO over time: ``(batch, c_in, days) -> (batch, days, c_out)``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        width: int = 48,
        modes: int = 48,
        layers: int = 4,
        pad: int = 64,
    ) -> None:
        torch = _torch()
        super().__init__()
        self.pad = pad
        self.lift = torch.nn.Conv1d(c_in, width, 1)
        self.spectral = torch.nn.ModuleList([_SpectralConv1d(width, modes) for _ in range(layers)])
        self.pointwise = torch.nn.ModuleList(
            [torch.nn.Conv1d(width, width, 1) for _ in range(layers)]
        )
        self.proj = torch.nn.Sequential(
            torch.nn.Conv1d(width, 2 * width, 1),
            torch.nn.GELU(),
            torch.nn.Conv1d(2 * width, c_out, 1),
        )

    def forward(self, f: Any) -> Any:
        torch = _torch()
        h = self.lift(f)
        h = torch.nn.functional.pad(h, (0, self.pad))
        for i, (sc, pw) in enumerate(zip(self.spectral, self.pointwise, strict=True)):
            h = sc(h) + pw(h)
            if i < len(self.spectral) - 1:
                h = torch.nn.functional.gelu(h)
        h = h[..., : h.shape[-1] - self.pad]
        return self.proj(h).transpose(1, 2)


class FNOSurrogate(Surrogate):
    """Fourier neural operator from daily forcing series to daily outputs (no uncertainty)."""

    arch = "fno"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.net: Any = None
        self.n_days = 0
        self.c_in = 0

    def _make(self, c_in: int, c_out: int) -> Any:
        cfg = self.config
        width = min(cfg.width, 64)
        return FNO1d(c_in, c_out, width=width, modes=cfg.modes, layers=max(cfg.depth, 2))

    def _train(
        self, table: pd.DataFrame, z: np.ndarray, train: np.ndarray, val: np.ndarray
    ) -> None:
        cfg = self.config
        self.n_days = z.shape[1]
        f = forcing_channels(table, self.n_days, self.parameters)
        self.c_in = f.shape[1]
        self.net = seeded_module(lambda: self._make(self.c_in, z.shape[2]), cfg.seed)
        loader, val_b = batches(f, z, train, val, batch_size=cfg.batch_size, seed=cfg.seed)

        def loss_fn(model: Any, batch: Any) -> Any:
            fb, zb = batch
            return ((model(fb) - zb) ** 2).mean()

        result = train_module(
            self.net,
            loader,
            val_b,
            loss_fn,
            cfg,
            patience=cfg.patience,
            device=self._device,
            seed=cfg.seed,
        )
        self.history = list(result.history)
        self.net.to("cpu").eval()
        self._device = "cpu"

    def _forward(
        self, table: pd.DataFrame, uncertainty: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        torch = _torch()
        f = forcing_channels(table, self.n_days, self.parameters)
        f = torch.as_tensor(f, device=self._device)
        with torch.inference_mode():
            z = self.net(f).cpu().numpy()
        return z, None

    def _modules(self) -> Any:
        return self.net

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_days": self.n_days, "c_in": self.c_in}, {}

    def _build_from_state(self, state: dict[str, Any]) -> None:
        self.n_days = int(state["n_days"])
        self.c_in = int(state["c_in"])
        self.net = self._make(self.c_in, int(state["n_channels"]))


ARCHITECTURES[FNOSurrogate.arch] = FNOSurrogate
