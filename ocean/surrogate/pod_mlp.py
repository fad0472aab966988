"""POD + MLP surrogate: proper orthogonal decomposition of each daily series, an MLP ensemble.

Each emulated variable's standardised daily series (all phytoplankton types of a per-type
variable together; all cells of a spatial model's field too: one space-time basis per variable)
is decomposed by SVD over the training scenarios; the leading modes that capture ``energy`` of
the variance (at most ``modes``) form a reduced basis. A deep ensemble of ``members`` MLPs maps
the scaled scenario parameters to the POD coefficients of every variable at once; the loss is
the mean squared error of the *reconstructed* standardised fields (the basis is orthonormal,
so it is a weighted MSE of the coefficients). The ensemble mean is the prediction and the
ensemble spread its uncertainty.

With ``index_head`` (the default), a second small ensemble (:class:`IndexHead`) predicts the
annual CO2 uptake and the bloom day from the scenario parameters; the predicted ``fgco2`` is
shifted by a constant per scenario and the ``chl`` bloom moved in time (a smooth monotone warp
of the time axis, one-year horizons) so that
:func:`ecocube.ocean.indices.compute_indices` on the output returns those values (for a spatial
model, of the basin-mean series: the same shift and warp apply to every cell).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.ocean.surrogate._base import ARCHITECTURES, Surrogate
from ecocube.ocean.surrogate._data import (
    NONNEGATIVE,
    ensemble_table,
    load_ensemble,
    scenario_features,
)
from ecocube.ocean.surrogate._indices import (
    IndexHead,
    head_targets,
    match_bloom_day,
    match_uptake,
)
from ecocube.ocean.surrogate._nets import mlp, stack_members, stacked_forward
from ecocube.ocean.surrogate._train import batches, seeded_module, train_module

__all__ = ["PODMLPSurrogate"]


class PODMLPSurrogate(Surrogate):
    """POD basis per variable + deep ensemble of MLPs (scenario parameters -> coefficients)."""

    arch = "pod_mlp"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blocks: list[tuple[int, int]] = []  # channel ranges of each variable
        self.bases: list[np.ndarray] = []  # (r, days*channels) per variable
        self.means: list[np.ndarray] = []  # (days*channels,) per variable
        self.coef_scale: list[np.ndarray] = []  # (r,) per variable
        self.n_days = 0
        self.nets: Any = None
        self.head: IndexHead | None = None
        self._head_targets: np.ndarray | None = None
        self._fused: list[tuple[Any, Any]] | None = None
        self._stacked: list[tuple[Any, Any]] | None = None  # members' weights, see _nets

    def fit(self, ensemble: Any) -> PODMLPSurrogate:
        """Train on an ensemble (see :meth:`Surrogate.fit`), with the index head if configured."""
        ds = load_ensemble(ensemble)
        self.head, self._head_targets = None, None
        if self.config.index_head:
            self._head_targets = head_targets(ds, ensemble_table(ds))
        try:
            super().fit(ds)
        finally:
            self._head_targets = None
        return self

    # ---- basis ---------------------------------------------------------------------------
    def _variable_blocks(self) -> list[tuple[int, int]]:
        assert self.codec is not None
        return [self.codec.block(v) for v in self.codec.variables]

    def _train(
        self, table: pd.DataFrame, z: np.ndarray, train: np.ndarray, val: np.ndarray
    ) -> None:
        import torch

        cfg = self.config
        self._fused, self._stacked = None, None
        self.n_days = z.shape[1]
        self.blocks = self._variable_blocks()
        self.bases, self.means, self.coef_scale = [], [], []
        coefs_all = []
        for a, b in self.blocks:
            flat = z[:, :, a:b].reshape(len(z), -1).astype("float64")
            mean = flat[train].mean(0)
            _, s, vt = np.linalg.svd(flat[train] - mean, full_matrices=False)
            energy = np.cumsum(s**2) / max(float((s**2).sum()), 1e-30)
            r = min(cfg.modes, int(np.searchsorted(energy, cfg.energy)) + 1, len(s))
            basis = vt[:r]
            coefs = (flat - mean) @ basis.T
            scale = np.maximum(coefs[train].std(0), 1e-8)
            self.bases.append(basis.astype("float32"))
            self.means.append(mean.astype("float32"))
            self.coef_scale.append(scale.astype("float32"))
            coefs_all.append(coefs / scale)
        y = np.concatenate(coefs_all, axis=1).astype("float32")
        # weight of each coefficient in the reconstructed-field MSE, per variable block
        w = np.concatenate(
            [(sc**2) / (bb.shape[1]) for sc, bb in zip(self.coef_scale, self.bases, strict=True)]
        )
        w = w / w.sum() * len(self.blocks)
        x = scenario_features(table, self.parameters)
        n_out = y.shape[1]
        self.nets = torch.nn.ModuleList(
            [
                seeded_module(
                    lambda: mlp(x.shape[1], n_out, cfg.width, cfg.depth), cfg.seed + 1000 * m
                )
                for m in range(cfg.members)
            ]
        )
        weight = torch.as_tensor(w)
        self.history = []
        for m, net in enumerate(self.nets):
            loader, val_b = batches(
                x, y, train, val, batch_size=cfg.batch_size, seed=cfg.seed + 1000 * m
            )

            def loss_fn(model: Any, batch: Any, weight: Any = weight) -> Any:
                xb, yb = batch
                return (((model(xb) - yb) ** 2) * weight.to(yb.device)).mean()

            result = train_module(
                net,
                loader,
                val_b,
                loss_fn,
                cfg,
                patience=cfg.patience,
                device=self._device,
                seed=cfg.seed + m,
            )
            self.history.extend({"member": m, **h} for h in result.history)
        self.nets.to("cpu").eval()
        if self._head_targets is not None:
            self.head = IndexHead(cfg.head_members or cfg.members, parameters=self.parameters)
            self.history.extend(
                self.head.fit(table, self._head_targets, train, val, cfg, self._device)
            )
            if cfg.distil_head:
                self.head = self.head.distil(
                    n_scenarios=cfg.distil_scenarios,
                    epochs=cfg.distil_epochs,
                    seed=cfg.seed,
                    device=self._device,
                    progress=cfg.progress,
                )
        self._device = "cpu"

    def distil_head(
        self, *, n_scenarios: int | None = None, epochs: int | None = None, seed: int = 0
    ) -> Any:
        """Replace the index head by its distilled one-member-per-index student; return self.

        For a surrogate trained without ``distil_head`` (e.g. with ``head_members=8``): see
        :meth:`IndexHead.distil`; ``n_scenarios`` and ``epochs`` default to the config's
        ``distil_scenarios`` and ``distil_epochs``. Save the surrogate again to keep the result.
        """
        if self.head is None:
            raise InvalidInputError("this surrogate has no index head to distil")
        self.config = replace(
            self.config,
            distil_head=True,
            distil_scenarios=n_scenarios or self.config.distil_scenarios,
            distil_epochs=epochs or self.config.distil_epochs,
        )
        self.head = self.head.distil(
            n_scenarios=self.config.distil_scenarios, epochs=self.config.distil_epochs, seed=seed
        )
        return self

    # ---- prediction -----------------------------------------------------------------------
    def _forward(
        self, table: pd.DataFrame, uncertainty: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Standardised fields through the generic decode: the reference path that the fused
        :meth:`_predict_fields` (used for predictions) is tested against."""
        import torch

        x = torch.as_tensor(scenario_features(table, self.parameters), device=self._device)
        with torch.inference_mode():
            preds = torch.stack([net(x) for net in self.nets]).cpu().numpy()  # (M, n, K)
        n = len(table)
        mean_c = preds.mean(0)
        means, sds = [], []
        k0 = 0
        for (a, b), basis, mean, scale in zip(
            self.blocks, self.bases, self.means, self.coef_scale, strict=True
        ):
            r = basis.shape[0]
            # the basis is linear: the mean field is the field of the mean coefficients
            means.append(
                ((mean_c[:, k0 : k0 + r] * scale) @ basis + mean).reshape(n, self.n_days, b - a)
            )
            if uncertainty and len(self.nets) > 1:
                dev = (preds[:, :, k0 : k0 + r] - mean_c[None, :, k0 : k0 + r]) * scale
                var = ((dev @ basis) ** 2).mean(0)
                sds.append(np.sqrt(var).reshape(n, self.n_days, b - a))
            k0 += r
        z = np.concatenate(means, axis=-1)
        return z, (np.concatenate(sds, axis=-1) if sds else None)

    def _fused_maps(self) -> list[tuple[Any, Any]]:
        """Per variable, the affine map from POD coefficients to physical fields.

        The basis, the coefficient scale and the codec's per-channel standardisation are all
        linear, so they fold into one float32 matrix ``W`` (``r x days*channels``, day-major
        as the basis) and bias ``b``; a prediction is then one ``addmm`` per variable.
        """
        import torch

        if self._fused is None:
            codec = self._check_fitted()
            maps = []
            for (a, b), basis, mean, scale in zip(
                self.blocks, self.bases, self.means, self.coef_scale, strict=True
            ):
                std = np.tile(codec.std[a:b], self.n_days)
                mu = np.tile(codec.mean[a:b], self.n_days)
                w = (scale.astype("float64")[:, None] * basis) * std[None, :]
                bias = mean.astype("float64") * std + mu
                maps.append(
                    (
                        torch.as_tensor(w, dtype=torch.float32),
                        torch.as_tensor(bias, dtype=torch.float32),
                    )
                )
            self._fused = maps
        return self._fused

    def _predict_fields(
        self, table: pd.DataFrame, uncertainty: bool
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        import torch

        codec = self._check_fitted()
        maps = self._fused_maps()
        features = scenario_features(table, self.parameters)
        x = torch.as_tensor(features)
        n = len(table)
        fields_: dict[str, np.ndarray] = {}
        sds: dict[str, np.ndarray] = {}
        with torch.inference_mode():
            if self._stacked is None:
                self._stacked = stack_members(self.nets)
            preds = stacked_forward(self._stacked, x)  # (M, n, K), all members at once
            coef = preds.mean(0)
            k0 = 0
            for v, (a, b), (w, bias) in zip(codec.variables, self.blocks, maps, strict=True):
                r = w.shape[0]
                mean_c = coef[:, k0 : k0 + r]
                sd = None
                if uncertainty and len(self.nets) > 1:
                    # the mean and the members' deviations in one product: the map (the
                    # largest array of a prediction) is read from memory once, not twice
                    dev = preds[:, :, k0 : k0 + r] - mean_c[None]
                    out = (torch.cat([mean_c[None], dev]).reshape(-1, r) @ w).reshape(
                        len(self.nets) + 1, n, -1
                    )
                    phys = out[0].add_(bias).numpy().reshape(n, -1, b - a)
                    sd = out[1:].square_().mean(0).sqrt_().numpy().reshape(n, -1, b - a)
                else:
                    phys = torch.addmm(bias, mean_c, w).numpy().reshape(n, -1, b - a)
                for j, c in enumerate(range(a, b)):
                    if codec.log[c]:
                        # z-space is log(x + offset): back-transform, delta-method sd
                        np.exp(phys[..., j], out=phys[..., j])
                        if sd is not None:
                            sd[..., j] *= phys[..., j]
                        phys[..., j] -= codec.offset[c]
                if v in NONNEGATIVE:
                    np.maximum(phys, 0.0, out=phys)  # concentrations cannot undershoot 0
                shape = (n, self.n_days, *codec.field_shape(v))  # a view: channels are last
                fields_[v] = phys.reshape(shape)
                if sd is not None:
                    sds[v] = sd.reshape(shape)
                k0 += r
        if self.head is not None:
            self._apply_head(table, fields_, features)
        return fields_, sds

    def _apply_head(
        self, table: pd.DataFrame, fields_: dict[str, np.ndarray], features: np.ndarray
    ) -> None:
        """Make ``fgco2`` and ``chl`` carry the head's CO2 uptake and bloom day (in place)."""
        assert self.head is not None
        indices = self.head.predict(table, self.n_days, features)
        if "fgco2" in fields_:
            fields_["fgco2"] = match_uptake(fields_["fgco2"], indices["co2_uptake"])
        if "chl" in fields_ and self.n_days == 365:
            fields_["chl"], _ = match_bloom_day(fields_["chl"], indices["bloom_day"])

    # ---- persistence ------------------------------------------------------------------------
    def _modules(self) -> Any:
        import torch

        if self.head is None:  # the layout of surrogates saved before the index head
            return self.nets
        return torch.nn.ModuleDict({"nets": self.nets, "head": self.head.nets})

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        for i, (basis, mean, scale) in enumerate(
            zip(self.bases, self.means, self.coef_scale, strict=True)
        ):
            arrays[f"basis_{i}"], arrays[f"mean_{i}"], arrays[f"scale_{i}"] = basis, mean, scale
        head_state = None
        if self.head is not None:
            head_state, head_arrays = self.head.state()
            arrays.update(head_arrays)
        extra = {
            "blocks": self.blocks,
            "n_days": self.n_days,
            "ranks": [int(b.shape[0]) for b in self.bases],
            "index_head": head_state,
        }
        return extra, arrays

    def _build_from_state(self, state: dict[str, Any]) -> None:
        import torch

        cfg = self.config
        n_out = int(sum(state["ranks"]))
        n_in = len(self.parameters)
        self.nets = torch.nn.ModuleList(
            [mlp(n_in, n_out, cfg.width, cfg.depth) for _ in range(cfg.members)]
        )
        head = state.get("index_head")
        self.head = None if head is None else IndexHead.from_state(head, self.parameters)
        if self.head is None:  # saved without a head (or before the head existed)
            self.config = replace(cfg, index_head=False)

    def _load_extra(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._fused, self._stacked = None, None
        self.blocks = [tuple(b) for b in state["blocks"]]  # type: ignore[misc]
        self.n_days = int(state["n_days"])
        n = len(self.blocks)
        self.bases = [arrays[f"basis_{i}"] for i in range(n)]
        self.means = [arrays[f"mean_{i}"] for i in range(n)]
        self.coef_scale = [arrays[f"scale_{i}"] for i in range(n)]
        if self.head is not None:
            self.head.load_arrays(state["index_head"], arrays)


ARCHITECTURES[PODMLPSurrogate.arch] = PODMLPSurrogate
