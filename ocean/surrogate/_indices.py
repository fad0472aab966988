"""Index head: annual CO2 uptake and bloom day emulated directly from the scenario parameters.

The daily-series surrogates reproduce ``fgco2`` and ``chl`` closely, but two indices of
:func:`ecocube.ocean.indices.compute_indices` amplify small series errors:

* the annual CO2 uptake (the integral of ``fgco2``) is close to zero in many scenarios, so an
  absolute error of 0.05 mol C m-2 yr-1 is a large *relative* error;
* the bloom day (day of the chlorophyll maximum) jumps by weeks on flat-topped blooms when the
  peak amplitude is off by a fraction of a percent.

The :class:`IndexHead` is a small deep ensemble of MLPs that maps the scaled scenario parameters
to both indices directly. The uptake is learned as an *effective sea-surface pCO2*
``p_eff = (B - U) / A`` where ``A = sum_t a_t`` and ``B = sum_t a_t pCO2_air,t`` are exact
functions of the scenario (``a_t`` is the daily gas-exchange coefficient of the full model's flux
law, Wanninkhof 2014 transfer velocity times the Weiss 1974 solubility, evaluated on the
restoring temperature and wind forcing): the wind- and CO2-path dependence of the uptake is then
analytic and the network learns a smoother quantity.

The surrogate keeps its daily series consistent with the head (:func:`match_uptake`,
:func:`match_bloom_day`), so ``compute_indices`` on its output returns the head's values and the
index definitions stay those of the full model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.ocean.surrogate._data import scenario_features
from ecocube.ocean.surrogate._gp import MaternGP
from ecocube.ocean.surrogate._nets import mlp, stack_members, stacked_forward
from ecocube.ocean.surrogate._train import batches, train_module

__all__ = [
    "HEAD_INDICES",
    "IndexHead",
    "flux_weights",
    "head_targets",
    "match_bloom_day",
    "match_uptake",
]

#: Indices the head emulates, in output order.
HEAD_INDICES: tuple[str, ...] = ("co2_uptake", "bloom_day")

DAYS_PER_YEAR = 365
#: Fewest training scenarios for the uptake GP (``SurrogateConfig.uptake_gp``); below, the
#: MLPs alone predict the uptake (8 kernel hyper-parameters need more points than that).
GP_MIN_SCENARIOS = 20
_WIDTH = 128
_DEPTH = 3


def flux_weights(table: pd.DataFrame, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact gas-exchange sums ``A`` and ``B`` of each scenario (per year of the horizon).

    Parameters
    ----------
    table
        Scenario table (one row per scenario).
    n_days
        Number of simulated days (whole 365-day years).

    Returns
    -------
    A, B : numpy.ndarray
        ``A = sum_t a_t`` (mol C m-2 yr-1 per µatm) and ``B = sum_t a_t pCO2_air,t``
        (mol C m-2 yr-1), with ``a_t`` the daily flux per µatm of air-sea difference at the
        restoring surface temperature and the climatological wind of the scenario; shape ``(n,)``.
    """
    import torch

    from ecocube.ocean import carbonate
    from ecocube.ocean.simulate import scenario_forcing

    forcing = scenario_forcing(table, n_days)
    temp = torch.as_tensor(forcing["temperature"])
    wind = torch.as_tensor(forcing["wind"])
    k = carbonate.transfer_velocity(wind, temp) * carbonate.k0_weiss(temp, 35.0)
    # m s-1 * mol kg-1 atm-1 * kg m-3 * 1e-6 atm/µatm * 86400 s/d -> mol m-2 d-1 µatm-1
    a = k.numpy() * carbonate.RHO_SW * 1e-6 * 86400.0
    years = max(n_days // DAYS_PER_YEAR, 1)
    return a.sum(1) / years, (a * forcing["co2"]).sum(1) / years


def head_targets(ds: Any, table: pd.DataFrame) -> np.ndarray:
    """Head targets of an ensemble: ``p_eff`` (µatm) and the bloom day, shape ``(n, 2)``.

    The indices are those of :func:`ecocube.ocean.indices.compute_indices` on the full model's
    output (mean over the years of the horizon). Both are fitted by an unweighted mean squared
    error of their standardised values (weighting ``p_eff`` by ``A^2``, the uptake error, or by
    ``A^2 / (|U| + U_0)^2``, its relative error, is less accurate on independent scenarios).
    """
    from ecocube.ocean.indices import annual_co2_uptake, bloom_timing

    uptake = np.asarray(annual_co2_uptake(ds).values, dtype=float)
    bloom = np.asarray(bloom_timing(ds).values, dtype=float)
    a, b = flux_weights(table, int(ds.sizes["time"]))
    return np.stack([(b - uptake) / a, bloom], axis=1)


@dataclass(eq=False)
class IndexHead:
    """Deep ensembles of MLPs: scaled scenario parameters -> one standardised head target each.

    Each index has its own ``members`` MLPs (``nets[i * members + m]`` is member ``m`` of
    index ``i``): the bloom day has jumps that would otherwise dominate the shared loss and stop
    training early. Every member runs the whole cosine learning-rate schedule; the epoch with
    the best early-stopping loss is restored.

    Attributes
    ----------
    members
        Number of MLPs per index (their mean is the prediction).
    distilled_from
        With a distilled head (:meth:`distil`): the number of members per index it learned
        from; ``None`` otherwise.
    gp
        Optional Gaussian process of the uptake target (``p_eff``); when present the uptake
        is predicted from the mean of the GP and the MLPs (``SurrogateConfig.uptake_gp``).
    parameters
        Scenario parameters the members take as inputs (:func:`scenario_features`); ``None``
        for all of :data:`~ecocube.ocean.scenarios.SCENARIO_PARAMETERS`.
    mean, std
        Standardisation of the targets (``p_eff``, bloom day) over the training scenarios.
    nets
        The ``torch.nn.ModuleList`` of all members (built by :meth:`fit` or :meth:`build`).
    """

    members: int
    mean: np.ndarray = field(default_factory=lambda: np.zeros(len(HEAD_INDICES)))
    std: np.ndarray = field(default_factory=lambda: np.ones(len(HEAD_INDICES)))
    nets: Any = None
    distilled_from: int | None = None
    gp: MaternGP | None = None
    parameters: list[str] | None = None
    _cache: Any = field(default=None, repr=False)

    def build(self) -> IndexHead:
        """Create untrained members (before :meth:`fit` or loading weights)."""
        import torch

        from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

        n_in = len(SCENARIO_PARAMETERS) if self.parameters is None else len(self.parameters)
        self.nets = torch.nn.ModuleList(
            [mlp(n_in, 1, _WIDTH, _DEPTH) for _ in range(len(HEAD_INDICES) * self.members)]
        )
        self._cache = None
        return self

    def fit(
        self,
        table: pd.DataFrame,
        targets: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
        config: Any,
        device: str,
    ) -> list[dict[str, float]]:
        """Train every member with the shared loop (best epoch on ``val`` restored).

        Parameters
        ----------
        table
            Scenario table of the ensemble.
        targets
            Output of :func:`head_targets`, ``(n, 2)``.
        train, val
            Scenario positions of the training and early-stopping sets.
        config
            The surrogate's :class:`~ecocube.ocean.surrogate.SurrogateConfig` (epochs, lr,
            batch size, seed, progress).
        device
            Torch device of training.

        Returns
        -------
        list of dict
            Per-epoch losses of every member (``member`` and ``head_index`` keys added).
        """
        self.mean = targets[train].mean(0)
        self.std = np.maximum(targets[train].std(0), 1e-12)
        y = ((targets - self.mean) / self.std).astype("float32")
        x = scenario_features(table, self.parameters)
        self.build()
        history: list[dict[str, float]] = []
        for k, net in enumerate(self.nets):
            i, m = divmod(k, self.members)
            result = _fit_member(
                net,
                x,
                y[:, i : i + 1],
                train,
                val,
                config,
                device,
                seed=config.seed + 7919 + 1000 * k,
            )
            history.extend({"member": m, "head_index": i, **h} for h in result.history)
        self.nets.to("cpu").eval()
        self.gp = None
        if getattr(config, "uptake_gp", False) and len(train) >= GP_MIN_SCENARIOS:
            self.gp = MaternGP().fit(x[train], y[train, 0], seed=config.seed)
        return history

    def predict(
        self, table: pd.DataFrame, n_days: int, features: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Annual CO2 uptake (mol C m-2 yr-1) and bloom day (day of year) per scenario.

        ``features`` may pass ``scenario_features(table, parameters)`` when the caller already
        has them.
        """
        import torch

        feats = scenario_features(table, self.parameters) if features is None else features
        z = self._standardised(torch.as_tensor(feats, device=self._stacked()[0][0].device))
        if self.gp is not None:  # the mean of two emulators of p_eff
            z[:, 0] = 0.5 * (z[:, 0] + self.gp.predict(feats))
        out = z * self.std + self.mean
        a, b = flux_weights(table, n_days)
        return {"co2_uptake": b - a * out[:, 0], "bloom_day": out[:, 1]}

    def distil(
        self,
        *,
        n_scenarios: int = 200_000,
        epochs: int = 80,
        seed: int = 0,
        device: str = "cpu",
        progress: bool = False,
    ) -> IndexHead:
        """A head with one MLP per index fitted to this head's ensemble mean (distillation).

        The average of many members is more accurate than any member (each index's error
        partly comes from the training's randomness), but every member costs time in a
        single-scenario prediction, where reading the weights dominates. A student of the
        members' width is fitted, with the shared training loop, to the members' mean on
        ``n_scenarios`` Latin-hypercube points of the training range of the scenario
        parameters; no full-model run is needed. 5 % of the points are held out and the best
        epoch on them is restored.

        Returns
        -------
        IndexHead
            ``members=1``, the same target standardisation; ``self`` is unchanged.
        """
        import torch
        from scipy.stats import qmc

        if n_scenarios < 100 or epochs < 1:
            raise InvalidInputError(
                f"n_scenarios={n_scenarios} must be >= 100 and epochs={epochs} >= 1"
            )
        n_in = self._stacked()[0][0].shape[1]
        unit = qmc.LatinHypercube(d=n_in, seed=seed).random(n_scenarios)
        x = (2.0 * unit - 1.0).astype("float32")  # the training range of every parameter
        teacher = np.concatenate(  # in chunks: all members' activations of 200,000 points are GBs
            [
                self._standardised(torch.as_tensor(x[i : i + 16_384]))
                for i in range(0, n_scenarios, 16_384)
            ]
        )
        order = np.random.default_rng(seed).permutation(n_scenarios)
        val, train = order[: n_scenarios // 20], order[n_scenarios // 20 :]
        student = IndexHead(
            1, self.mean.copy(), self.std.copy(), parameters=self.parameters
        ).build()
        fit_config = _DistilConfig(epochs, seed, progress)
        for i, net in enumerate(student.nets):
            _fit_member(
                net,
                x,
                teacher[:, i : i + 1].astype("float32"),
                train,
                val,
                fit_config,
                device,
                seed=seed + 104_729 * (i + 1),
            )
        student.nets.to("cpu").eval()
        student.distilled_from = self.members
        student.gp = self.gp  # the GP is not distilled: it costs one kernel row per scenario
        return student

    def _standardised(self, x: Any) -> np.ndarray:
        """Members' mean of the standardised targets, ``(n, indices)``, for features ``x``."""
        h = stacked_forward(self._stacked(), x)  # all members at once: one bmm per layer
        z = h[..., 0].T.cpu().numpy().astype("float64")  # (n, indices * members)
        return z.reshape(len(x), len(HEAD_INDICES), self.members).mean(-1)

    def _stacked(self) -> list[tuple[Any, Any]]:
        """Stacked weights of all members (:func:`stack_members`), cached on first use.

        The head is only evaluated after training or loading its weights; :meth:`build`
        clears the cache.
        """
        if self._cache is None:
            self._cache = stack_members(self.nets)
        return self._cache

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-serialisable state and the GP's arrays (the weights are saved with the
        surrogate's modules)."""
        gp_meta, gp_arrays = self.gp.state() if self.gp is not None else (None, {})
        meta = {
            "members": self.members,
            "indices": list(HEAD_INDICES),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "distilled_from": self.distilled_from,
            "gp": gp_meta,
        }
        return meta, {f"head_gp_{k}": v for k, v in gp_arrays.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any], parameters: list[str] | None = None) -> IndexHead:
        """Inverse of :meth:`state` (untrained members; load the weights and
        :meth:`load_arrays` afterwards); ``parameters``: the surrogate's inputs."""
        head = cls(
            int(state["members"]),
            np.asarray(state["mean"], dtype=float),
            np.asarray(state["std"], dtype=float),
            distilled_from=state.get("distilled_from"),
            parameters=parameters,
        )
        return head.build()

    def load_arrays(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore the GP (if the saved head had one) from the surrogate's arrays."""
        if state.get("gp") is None:
            self.gp = None
            return
        if "head_gp_x" not in arrays or "head_gp_alpha" not in arrays:
            raise InvalidInputError(
                "the surrogate folder's arrays.npz lacks the index head's GP (head_gp_x, "
                "head_gp_alpha); the folder is incomplete: save or train the surrogate again"
            )
        self.gp = MaternGP.from_state(
            state["gp"], {"x": arrays["head_gp_x"], "alpha": arrays["head_gp_alpha"]}
        )


@dataclass(frozen=True)
class _DistilConfig:
    """Training settings of a distilled student (what :func:`_fit_member` reads)."""

    max_epochs: int
    seed: int
    progress: bool
    lr: float = 2e-3
    batch_size: int = 1024
    weight_decay: float = 0.0


def _fit_member(
    net: Any,
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    config: Any,
    device: str,
    *,
    seed: int,
) -> Any:
    """One member over the whole schedule (no early stop; the best validation epoch kept)."""
    loader, val_b = batches(x, y, train, val, batch_size=config.batch_size, seed=seed)
    return train_module(
        net, loader, val_b, _mse, config, patience=config.max_epochs, device=device, seed=seed
    )


def _mse(model: Any, batch: Any) -> Any:
    xb, yb = batch
    return ((model(xb) - yb) ** 2).mean()


def match_uptake(fgco2: np.ndarray, uptake: np.ndarray) -> np.ndarray:
    """Shift each scenario's daily ``fgco2`` by a constant so its annual uptake is ``uptake``.

    Parameters
    ----------
    fgco2
        Daily air-sea flux, mmol C m-2 d-1, ``(n, days)`` with whole 365-day years, or
        ``(n, days, *cells)`` for a spatial model (the shift is the same in every cell, so the
        basin-mean uptake becomes ``uptake``).
    uptake
        Target mean annual uptake, mol C m-2 yr-1, ``(n,)``.

    Returns
    -------
    numpy.ndarray
        The shifted series (a new array); ``annual_co2_uptake`` of it equals ``uptake``.
    """
    if fgco2.ndim > 2:
        n, days = fgco2.shape[:2]
        basin = fgco2.reshape(n, days, -1).mean(-1, dtype="float64")
        extra = (1,) * (fgco2.ndim - 2)
        shifted = match_uptake(basin, uptake)
        return (fgco2 + (shifted - basin)[:, :1].reshape(n, 1, *extra)).astype(fgco2.dtype)
    years = fgco2.shape[1] / DAYS_PER_YEAR
    current = fgco2.sum(1, dtype="float64") / years / 1000.0
    shift = (np.asarray(uptake, dtype=float) - current) * 1000.0 / DAYS_PER_YEAR
    return (fgco2 + shift[:, None]).astype(fgco2.dtype)


def match_bloom_day(
    chl: np.ndarray, day: np.ndarray, *, width: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Move each one-year chlorophyll bloom so that its maximum falls on ``day``.

    A smooth, monotone warp of the time axis, ``chl_new(t) = chl(t - s w(t))`` with
    ``s = day - peak`` and ``w(t) = exp(-((t - day) / sigma)^2 / 2)``, ``sigma = max(width,
    |s|)``, shifts the bloom by ``s`` days around the target and leaves the rest of the year
    in place. The shape and the peak value are kept (linear interpolation between days); the
    warp is monotone because ``|s w'(t)| <= 1 / sqrt(e) < 1``.

    Parameters
    ----------
    chl
        Daily surface chlorophyll, ``(n, days)``, or ``(n, days, *cells)`` for a spatial model:
        the bloom of the basin mean is moved, by the same warp in every cell.
    day
        Target bloom day of year (1..days, rounded to the nearest day), ``(n,)``.
    width
        Smallest standard deviation (days) of the warp window.

    Returns
    -------
    chl, moved : numpy.ndarray
        The (new) series and a boolean mask of the scenarios whose bloom was moved.
    """
    n, n_days = chl.shape[:2]
    target = np.clip(np.rint(np.asarray(day, dtype=float)).astype(int) - 1, 0, n_days - 1)
    # (n, days, cells), one cell for a series: the warp moves the basin mean's bloom, and linear
    # interpolation in time commutes with the mean over cells, so every cell is warped alike
    c = chl.reshape(n, n_days, -1).astype("float64")
    shift = (target - c.mean(-1).argmax(1)).astype(float)
    sigma = np.maximum(width, np.abs(shift))[:, None]
    t = np.arange(n_days, dtype=float)[None, :]
    src = np.clip(
        t - shift[:, None] * np.exp(-0.5 * ((t - target[:, None]) / sigma) ** 2), 0.0, n_days - 1.0
    )
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_days - 1)
    frac = (src - lo)[:, :, None]
    rows = np.arange(n)[:, None]
    out = c[rows, lo] * (1.0 - frac) + c[rows, hi] * frac
    return out.reshape(chl.shape).astype(chl.dtype), shift != 0
