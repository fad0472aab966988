"""Multi-species maximum-entropy network (DeepMaxent-style; Ryckewaert et al. 2024).

A shared feature extractor (MLP) over environmental covariates gives one log-intensity per
species at every site. Training minimises the normalised Poisson (maximum-entropy) loss: for
each species, the log-softmax of its intensity over the normalising sites, weighted by its
presence counts,

    loss_s = logsumexp_i (f_is + log w_is) - sum_i c_is f_is / n_s ,

which is the negative log-likelihood of an inhomogeneous Poisson process whose intensity is
known only up to a constant (Renner & Warton 2013; Phillips et al. 2006). The normalising
sites ``i`` are the background: by default the *target-group* background (every site holding a
record of the same survey group, which carries the same sampling bias as the presences and
so cancels it; Phillips et al. 2009), optionally the random background too.

Several independent members (``n_members``) are trained at once with batched weights and
averaged, which reduces the variance of a small network at almost no extra cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from ecocube.errors import InvalidInputError
from ecocube.models._base import (
    ExplainFunction,
    ModelInputs,
    Prediction,
    RecordsSpec,
    SpeciesDistributionModel,
    cloglog,
    json_config,
    load_module_arrays,
    module_arrays,
    register_model,
    summarise_draws,
)
from ecocube.models._features import CovariateEncoder
from ecocube.training import TrainConfig, Trainer, resolve_device

__all__ = [
    "BACKGROUNDS",
    "MaxentNet",
    "MaxentNetConfig",
    "MaxentNetwork",
    "check_network_options",
    "heldout_maxent_loss",
    "maxent_loss",
    "site_log_weights",
    "species_weight_penalty",
]

#: Background choices: which sites normalise each species' intensity.
BACKGROUNDS: tuple[str, ...] = ("target-group", "random", "both")
_ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "silu": torch.nn.SiLU,
    "gelu": torch.nn.GELU,
}


def site_log_weights(
    counts: np.ndarray,
    is_bg: np.ndarray,
    background: str,
    random_weight: float,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Log-weights of the sites in each species' normalising sum (``-inf`` = left out).

    Parameters
    ----------
    counts
        ``(sites, species)`` presence counts.
    is_bg
        ``(sites,)`` True for random background sites.
    background
        One of :data:`BACKGROUNDS`: ``"target-group"`` normalises over the recorded sites,
        ``"random"`` over the random background plus each species' own presence sites (as
        Maxent does), ``"both"`` over both, ``random_weight`` of the mass on the random ones.
    random_weight
        Share of the normalising mass of the random background with ``"both"``.
    groups
        ``(species,)`` survey-group code of each species, or ``None`` (one group). With
        several groups, a species' target-group sites are only the sites holding records of
        its own group: one network can serve several survey groups, each with its own
        target-group background.

    Returns
    -------
    numpy.ndarray
        float32, ``(sites, 1)`` or ``(sites, species)``.
    """
    n_po, n_bg = int((~is_bg).sum()), int(is_bg.sum())
    if background != "target-group" and n_bg == 0:
        raise InvalidInputError(
            f"background={background!r} needs random background sites; pass background sites "
            "or use background='target-group'"
        )
    if groups is not None and len(np.unique(groups)) > 1:
        codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
        # in_group[s, j]: site s holds a record of a species of species j's group
        recorded = np.stack([counts[:, inverse == k].sum(1) > 0 for k in range(len(codes))], 1)
        in_group = recorded[:, inverse] & ~is_bg[:, None]
    else:
        in_group = ~is_bg[:, None]
    if background == "target-group":
        w = in_group.astype(np.float64)
    elif background == "random":
        w = (is_bg[:, None] | (counts > 0)).astype(np.float64)
    else:
        n_po = in_group.sum(0, keepdims=True) if in_group.shape[1] > 1 else n_po
        w = np.where(is_bg[:, None], random_weight / max(n_bg, 1), 0.0) + in_group * (
            (1 - random_weight) / np.maximum(n_po, 1)
        )
    with np.errstate(divide="ignore"):
        return np.log(w).astype(np.float32)


def check_network_options(cfg: Any) -> None:
    """Validate the options a maxent network config shares (``MaxentNetConfig`` and the
    multimodal one): background, activation, widths, members, epochs, dropout, batch size.

    Raises
    ------
    InvalidInputError
        Naming the option, its value and the accepted values.
    """
    if cfg.background not in BACKGROUNDS:
        raise InvalidInputError(
            f"background {cfg.background!r} is unknown; choose one of {', '.join(BACKGROUNDS)}"
        )
    if cfg.activation not in _ACTIVATIONS:
        raise InvalidInputError(
            f"activation {cfg.activation!r} is unknown; choose one of {', '.join(_ACTIVATIONS)}"
        )
    if any(int(h) < 1 for h in cfg.hidden):
        raise InvalidInputError(f"hidden widths must be >= 1, got {cfg.hidden!r}")
    if cfg.n_members < 1:
        raise InvalidInputError(f"n_members must be >= 1, got {cfg.n_members!r}")
    if cfg.epochs < 1:
        raise InvalidInputError(f"epochs must be >= 1, got {cfg.epochs!r}")
    if not 0 <= cfg.dropout < 1:
        raise InvalidInputError(f"dropout must be in [0, 1), got {cfg.dropout!r}")
    if not 0 < cfg.random_weight < 1:
        raise InvalidInputError(f"random_weight must be in (0, 1), got {cfg.random_weight!r}")
    if cfg.batch_size is not None and cfg.batch_size < 2:
        raise InvalidInputError(f"batch_size must be >= 2 or None, got {cfg.batch_size!r}")
    object.__setattr__(cfg, "hidden", tuple(int(h) for h in cfg.hidden))


@dataclass(frozen=True)
class MaxentNetConfig:
    """Hyper-parameters of :class:`MaxentNet` (how the defaults were set: ``docs/sdm.md``).

    Attributes
    ----------
    hidden
        Widths of the hidden layers of the shared extractor; ``()`` gives a linear model.
    activation
        One of ``relu``, ``tanh``, ``silu``, ``gelu``.
    dropout
        Dropout rate after each hidden layer.
    linear_skip
        Add a linear path from the covariates to every species' output (Maxent's linear
        features), so the network only has to learn the non-linear part.
    n_members
        Independent networks trained together and averaged.
    epochs
        Full-batch (or mini-batch) passes over the sites.
    lr, weight_decay
        AdamW settings; weight decay is the main regulariser.
    batch_size
        Sites per batch; ``None`` uses all sites at once (exact normalisation, fastest here).
    background
        One of :data:`BACKGROUNDS`.
    random_weight
        With ``background="both"``: share of the normalising mass given to the random
        background (the rest goes to the target-group sites).
    seed, device
        Seed of initialisation and batching; torch device (``"auto"``, ``"cpu"``, ``"cuda"``).
    scaling
        Continuous covariates: ``"zscore"`` or ``"quantile"`` (see
        :class:`~ecocube.models.CovariateEncoder`).
    head_l2
        L2 penalty on each species' own weights (its output column of the head and of the
        linear path), weighted by ``1 / n_s`` for a species with ``n_s`` presences and added
        to the maxent loss (a mean over species of each species' mean log-likelihood per
        presence): for every species the same Gaussian prior on its weights against its summed
        log-likelihood, so species with few records are shrunk more (as Maxent's
        regularisation shrinks rare species more). ``0`` (the default) switches it off:
        the penalty pulls every fitted response towards a flat one, which a species with
        enough records does not need. The NCEAS benchmark sets it
        (:data:`~ecocube.models.benchmark.nceas.NCEAS_HEAD_L2`).
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    dropout: float = 0.5
    linear_skip: bool = True
    n_members: int = 4
    epochs: int = 40
    lr: float = 1e-2
    weight_decay: float = 1e-3
    batch_size: int | None = None
    background: str = "target-group"
    random_weight: float = 0.2
    seed: int = 0
    device: str = "cpu"
    scaling: str = "zscore"
    head_l2: float = 0.0

    def __post_init__(self) -> None:
        if self.scaling not in ("zscore", "quantile"):
            raise InvalidInputError(
                f"scaling {self.scaling!r} is unknown; choose 'zscore' or 'quantile'"
            )
        if not self.head_l2 >= 0:
            raise InvalidInputError(f"head_l2 must be >= 0, got {self.head_l2!r}")
        check_network_options(self)


class _BatchedLinear(torch.nn.Module):
    """``n_members`` independent linear layers applied to ``(members, sites, features)``."""

    def __init__(self, members: int, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = torch.nn.Parameter(torch.empty(members, n_in, n_out).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(members, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class MaxentNetwork(torch.nn.Module):
    """Shared MLP → one log-intensity per species, for ``n_members`` independent members.

    Input ``(sites, features)``; output ``(members, sites, species)``.
    """

    def __init__(
        self,
        n_features: int,
        n_species: int,
        *,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        linear_skip: bool = True,
        n_members: int = 1,
    ) -> None:
        super().__init__()
        self.n_members = n_members
        layers: list[torch.nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [_BatchedLinear(n_members, width, h), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(torch.nn.Dropout(dropout))
            width = h
        self.trunk = torch.nn.Sequential(*layers)
        self.head = _BatchedLinear(n_members, width, n_species)
        self.skip = _BatchedLinear(n_members, n_features, n_species) if linear_skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = x.unsqueeze(0).expand(self.n_members, -1, -1)
        out = self.head(self.trunk(xb))
        if self.skip is not None:
            out = out + self.skip(xb)
        return out


def maxent_loss(
    log_intensity: torch.Tensor, counts: torch.Tensor, log_weight: torch.Tensor
) -> torch.Tensor:
    """Normalised Poisson (maximum-entropy) loss, mean over members and species.

    Parameters
    ----------
    log_intensity
        ``(members, sites, species)`` or ``(sites, species)``.
    counts
        Presence counts ``c_is``, ``(sites, species)``; every species needs a positive total.
    log_weight
        Log of the normalising weight of each site for each species, ``(sites, species)`` or
        ``(sites, 1)``; ``-inf`` leaves a site out of that species' background.
    """
    n = counts.sum(0).clamp_min(1e-12)
    log_z = torch.logsumexp(log_intensity + log_weight, dim=-2)
    fit_term = (counts * log_intensity).sum(-2) / n
    return (log_z - fit_term).mean()


def heldout_maxent_loss(
    log_intensity: torch.Tensor, counts: torch.Tensor, log_weight: torch.Tensor
) -> torch.Tensor:
    """:func:`maxent_loss` over the species that have held-out presences only.

    Species without a presence among the held-out sites carry no information on the held-out
    fit and are left out of the mean (in :func:`maxent_loss` they would add their bare
    log-normaliser).
    """
    n = counts.sum(0)
    keep = n > 0
    log_z = torch.logsumexp(log_intensity + log_weight, dim=-2)
    fit_term = (counts * log_intensity).sum(-2) / n.clamp_min(1e-12)
    return (log_z - fit_term)[..., keep].mean()


def species_weight_penalty(net: MaxentNetwork, weight: torch.Tensor) -> torch.Tensor:
    """``mean over members and species of weight_s * |theta_s|^2``.

    ``theta_s`` are species ``s``'s own parameters: its column of the head and of the linear
    path (without biases); ``weight`` is ``(species,)``.
    """
    pen = (net.head.weight.square().sum(1) * weight).mean()
    if net.skip is not None:
        pen = pen + (net.skip.weight.square().sum(1) * weight).mean()
    return pen


class _Objective(torch.nn.Module):
    """Wraps the network with the maxent loss as the ``training_step`` hook of the trainer.

    With ``head_l2 > 0`` the loss adds ``head_l2 * species_weight_penalty`` with the weights
    ``1 / n_s`` of the species' presence counts over all training sites.
    """

    penalty_weight: torch.Tensor

    def __init__(
        self, net: MaxentNetwork, head_l2: float = 0.0, n_presences: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.net = net
        self.head_l2 = float(head_l2)
        if self.head_l2 > 0:
            if n_presences is None:
                raise ValueError("head_l2 needs the presence count of every species")
            self.register_buffer("penalty_weight", 1.0 / n_presences.clamp_min(1.0))

    def training_step(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, counts, log_w = batch
        loss = maxent_loss(self.net(x), counts, log_w)
        if self.head_l2 > 0:
            loss = loss + self.head_l2 * species_weight_penalty(self.net, self.penalty_weight)
        return loss


@register_model
@dataclass
class MaxentNet(SpeciesDistributionModel):
    """Multi-species maximum-entropy network with a scikit-learn-like ``fit``/``predict``.

    Presence-only: :meth:`predict` gives relative suitabilities (see :meth:`predict`), the
    spread of the ``n_members`` independent members as uncertainty.

    Parameters
    ----------
    covariates
        Covariate columns used by the model (continuous and categorical).
    categorical
        Categorical subset of ``covariates`` (one-hot encoded).
    config
        Hyper-parameters (:class:`MaxentNetConfig`).

    Attributes
    ----------
    encoder
        The :class:`~ecocube.models.CovariateEncoder` of the covariates (z-score or quantile
        scaling per ``config.scaling``, categorical levels in value order), fitted by :meth:`fit`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> bg = pd.DataFrame({"t": rng.normal(size=500)})
    >>> po = pd.DataFrame({"species": ["a"] * 50, "t": rng.normal(1.0, 0.5, 50)})
    >>> cfg = MaxentNetConfig(hidden=(8,), epochs=20, n_members=2, background="random")
    >>> model = MaxentNet(["t"], config=cfg).fit(po, background=bg)
    >>> model.predict(pd.DataFrame({"t": [-1.0, 1.0]})).mean.shape
    (2, 1)
    """

    name: ClassVar[str] = "maxent-net"
    config_class: ClassVar[type[Any]] = MaxentNetConfig
    record_kinds: ClassVar[tuple[str, ...]] = ("presence", "background")
    steps_option: ClassVar[str] = "epochs"
    steps_unit: ClassVar[str] = "epochs"
    per_part_species: ClassVar[bool] = True
    cv_all_folds: ClassVar[bool] = True
    mode = "presence-only"

    covariates: Sequence[str]
    categorical: Sequence[str] = ()
    config: MaxentNetConfig = field(default_factory=MaxentNetConfig)
    species_: tuple[str, ...] = field(init=False, default=())
    history_: list[dict[str, float]] = field(init=False, default_factory=list)
    best_epoch_: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.covariates = tuple(self.covariates)
        self.categorical = tuple(self.categorical)
        if not self.covariates:
            raise InvalidInputError("covariates is empty; name at least one covariate column")
        self.encoder = CovariateEncoder.of_columns(
            self.covariates, self.categorical, scaling=self.config.scaling, level_order="value"
        )

    # -- data assembly -------------------------------------------------------------------------
    def _sites(
        self,
        presences: pd.DataFrame,
        background: pd.DataFrame | None,
        species_col: str,
        site_cols: Sequence[str] | None,
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Unique sites (presence sites, then random background), counts and a background flag."""
        if species_col in presences.columns:
            spp = presences[species_col].astype(str)
        else:
            spp = pd.Series(["species"] * len(presences), index=presences.index)
        if len(presences) == 0:
            raise InvalidInputError("presences is empty; give at least one presence record")
        self.encoder.check(presences, "presences")
        if background is not None:
            self.encoder.check(background, "background")
        species = tuple(sorted(spp.unique()))
        keys = list(site_cols) if site_cols else None
        if keys:
            missing = [c for c in keys if c not in presences.columns]
            if missing:
                raise InvalidInputError(f"site_cols {missing} are not columns of presences")
            site_id = presences.groupby(keys, sort=False).ngroup().to_numpy()
        else:
            site_id = np.arange(len(presences))
        n_sites = int(site_id.max()) + 1
        sp_index = pd.Categorical(spp, categories=species).codes
        counts = np.zeros((n_sites, len(species)), dtype=np.float32)
        np.add.at(counts, (site_id, sp_index), 1.0)
        first = pd.Series(np.arange(len(presences))).groupby(site_id).first().to_numpy()
        table = presences.iloc[first][list(self.covariates)].reset_index(drop=True)
        is_bg = np.zeros(n_sites, dtype=bool)
        if background is not None and len(background):
            table = pd.concat(
                [table, background[list(self.covariates)].reset_index(drop=True)],
                ignore_index=True,
            )
            counts = np.concatenate([counts, np.zeros((len(background), len(species)), np.float32)])
            is_bg = np.concatenate([is_bg, np.ones(len(background), dtype=bool)])
        self.species_ = species
        return table, counts, is_bg

    # -- public API ----------------------------------------------------------------------------
    def fit(
        self,
        presences: pd.DataFrame,
        background: pd.DataFrame | None = None,
        *,
        species_col: str = "species",
        site_cols: Sequence[str] | None = None,
        progress: bool = False,
        scale_on: pd.DataFrame | None = None,
        group_col: str | None = None,
        validation: tuple[pd.DataFrame, pd.DataFrame | None] | None = None,
        patience: int | None = None,
        encoder: CovariateEncoder | None = None,
    ) -> MaxentNet:
        """Fit on presence records (and optional random background sites).

        Parameters
        ----------
        presences
            One row per presence record: ``species_col`` (optional; one species if absent)
            and the covariates. Records of all species of one survey group form the
            target-group background of each other.
        background
            Random background sites with the covariates (``None`` for target-group only).
        species_col
            Name of the species column.
        site_cols
            Columns identifying a site (e.g. ``["x", "y"]``); records at the same site are
            merged into one site with several counts. ``None`` keeps every record as a site.
        progress
            Show a progress bar.
        scale_on
            Table to fit the covariate scaling on; by default the random background, else all
            sites. With a target-group background, pass the region's random background here
            to z-score over the landscape without using it in the loss.
        group_col
            Column naming the survey group of each record when the records come from several
            groups (e.g. the NCEAS groups of one region): one shared network is fitted, and
            each species' target-group background is the sites of its own group only. Every
            species must belong to one group.
        validation
            ``(presences, background)`` held out for early stopping (e.g. the held-out spatial
            blocks): the loss of :func:`heldout_maxent_loss` on these sites is monitored after
            every epoch and the weights of the best epoch are kept (``best_epoch_``).
            Species absent from the training presences are ignored. Not with ``group_col``.
        patience
            Epochs without improvement of the held-out loss before stopping (with
            ``validation``); ``None`` runs all ``epochs`` and keeps the best one.
        encoder
            A fitted encoder of the model's covariates to use (a copy) instead of fitting one
            (``scale_on`` is then ignored).
        """
        cfg = self.config
        table, counts, is_bg = self._sites(presences, background, species_col, site_cols)
        groups = None
        if group_col is not None:
            groups = self._species_groups(presences, species_col, group_col)
        log_w = site_log_weights(
            counts, is_bg, self.config.background, self.config.random_weight, groups
        )
        if encoder is not None:
            self._use_encoder(encoder)
        elif scale_on is not None:
            self.encoder.fit(scale_on)
        else:
            self.encoder.fit(table[is_bg] if is_bg.any() else table)
        x = self.encoder.transform(table)
        device = resolve_device(cfg.device)
        tensors = (
            torch.from_numpy(x),
            torch.from_numpy(counts),
            torch.from_numpy(log_w),
        )
        batches = _site_batches(tensors, cfg.batch_size, cfg.seed, device)
        val_batches = None
        if validation is not None:
            if groups is not None:
                raise InvalidInputError(
                    "validation= cannot be combined with group_col=; fit the groups separately."
                )
            val_batches = [self._validation_batch(*validation, species_col, site_cols)]
        train_cfg = TrainConfig(
            max_epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            optimizer="adamw",
            patience=patience if val_batches is not None else None,
            restore_best=val_batches is not None,
            device=str(device),
            precision="32",
            seed=cfg.seed,
            progress=progress,
        )
        # Seed before building the weights so the initialisation is reproducible too.
        torch.manual_seed(cfg.seed)
        self.network = self._new_network(x.shape[1])
        objective = _Objective(self.network, cfg.head_l2, tensors[1].sum(0))
        trainer = Trainer(
            train_cfg,
            val_loss_fn=lambda m, b: heldout_maxent_loss(objective.net(b[0]), b[1], b[2]),
        )
        result = trainer.fit(objective, batches, val_batches)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch if val_batches is not None else result.epochs_run
        # Log-normaliser of every member over the training background, so predictions of
        # members are on one scale (log of the relative occurrence rate per site).
        with torch.no_grad():
            f = self.network.to(device)(tensors[0].to(device))
            self._log_z = torch.logsumexp(f + tensors[2].to(device), dim=1, keepdim=True).cpu()
            self._n_background = float(torch.exp(tensors[2]).sum(0).mean())
        return self

    def _new_network(self, n_features: int) -> MaxentNetwork:
        """An untrained network of the configured shape for ``n_features`` inputs and
        the species of ``species_``."""
        cfg = self.config
        return MaxentNetwork(
            n_features,
            len(self.species_),
            hidden=cfg.hidden,
            activation=cfg.activation,
            dropout=cfg.dropout,
            linear_skip=cfg.linear_skip,
            n_members=cfg.n_members,
        )

    def _validation_batch(
        self,
        presences: pd.DataFrame,
        background: pd.DataFrame | None,
        species_col: str,
        site_cols: Sequence[str] | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x, counts, log_w)`` of held-out sites, species in the order of ``species_``."""
        if species_col in presences.columns:
            known = presences[species_col].astype(str).isin(self.species_)
            presences = presences.loc[known]
        species = self.species_
        if len(presences) == 0:
            raise InvalidInputError(
                "the validation presences hold no species of the training presences; give "
                "held-out presences of the fitted species."
            )
        table, counts, is_bg = self._sites(presences, background, species_col, site_cols)
        held = self.species_
        self.species_ = species
        full = np.zeros((len(table), len(species)), np.float32)
        full[:, [species.index(s) for s in held]] = counts
        log_w = site_log_weights(full, is_bg, self.config.background, self.config.random_weight)
        return (
            torch.from_numpy(self.encoder.transform(table)),
            torch.from_numpy(full),
            torch.from_numpy(log_w),
        )

    def _species_groups(
        self, presences: pd.DataFrame, species_col: str, group_col: str
    ) -> np.ndarray:
        """The survey group of every species of ``species_``, from the records."""
        if group_col not in presences.columns:
            raise InvalidInputError(f"group_col {group_col!r} is not a column of presences")
        spp = (
            presences[species_col].astype(str)
            if species_col in presences.columns
            else pd.Series("species", index=presences.index)
        )
        per = presences[group_col].astype(str).groupby(spp).unique()
        several = {sp: sorted(g) for sp, g in per.items() if len(g) > 1}
        if several:
            raise InvalidInputError(
                f"species with records in several groups ({group_col!r}): {several}; each "
                "species needs one survey group"
            )
        return np.array([per[sp][0] for sp in self.species_])

    def _use_encoder(self, encoder: CovariateEncoder) -> None:
        """Take a copy of a fitted ``encoder`` of this model's covariates."""
        import copy

        if not encoder.is_fitted or set(encoder.columns) != set(self.covariates):
            raise InvalidInputError(
                f"encoder= must be a fitted encoder of the covariates {list(self.covariates)}; "
                f"got one of {list(encoder.columns)}"
            )
        self.encoder = copy.deepcopy(encoder)

    def _check_fitted(self) -> None:
        if not hasattr(self, "network"):
            raise InvalidInputError("the model is not fitted; call fit(presences, ...) first")

    def member_log_intensity(self, sites: pd.DataFrame, batch_size: int = 65536) -> np.ndarray:
        """Log relative occurrence rate of every member, ``(members, n_sites, n_species)``.

        Each member's log-intensity is normalised over the training background (the mean of
        ``exp`` over background sites is 1 for every species). The network runs on
        ``batch_size`` sites at a time, so its activations stay small for country-scale maps.
        """
        self._check_fitted()
        x = self.encoder.transform(sites)
        device = next(self.network.parameters()).device
        shift = self._shift().numpy()
        out = np.empty((self.network.n_members, len(x), len(self.species_)), np.float32)
        self.network.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                f = self.network(torch.from_numpy(x[i : i + batch_size]).to(device)).cpu()
                out[:, i : i + batch_size] = f.numpy() + shift
        return out

    def _shift(self) -> torch.Tensor:
        """``(members, 1, S)`` CPU offset normalising each member over the training background."""
        return (math.log(self._n_background) - self._log_z).detach().cpu()

    def predict_log_intensity(self, sites: pd.DataFrame) -> np.ndarray:
        """Log relative occurrence rate, averaged over members; shape ``(n_sites, n_species)``.

        The mean of :meth:`member_log_intensity` over the members.
        """
        return self.member_log_intensity(sites).mean(0)

    def predict(self, sites: pd.DataFrame, *, return_samples: bool = False) -> Prediction:
        """Relative suitability of every species at ``sites``: mean, sd, 5 % and 95 % quantiles
        over the members.

        Each member's suitability is ``1 - exp(-exp(eta))`` with ``eta`` its log relative
        occurrence rate (:meth:`member_log_intensity`: normalised so that its mean ``exp`` over
        the training background is 1), the cloglog output of maxnet (Phillips et al. 2017) up
        to its entropy offset: presence-only data fix the rate only up to a constant, so this
        ranks sites for a species but is not a probability of presence.

        Parameters
        ----------
        sites
            Table with the covariate columns.
        return_samples
            Also return the ``(n_members, n_sites, n_species)`` member values.

        Returns
        -------
        Prediction
            Arrays ``(n_sites, n_species)``, species in :attr:`species_` order.
        """
        return summarise_draws(
            cloglog(self.member_log_intensity(sites)), self.species_, keep=return_samples
        )

    def suitability(self, sites: pd.DataFrame) -> pd.DataFrame:
        """Suitability in (0, 1) of the member-averaged log rate, one column per species.

        ``1 - exp(-exp(eta))`` with ``eta`` :meth:`predict_log_intensity` (the mean of the
        members' log rates, not the mean of their suitabilities as in :meth:`predict`).
        """
        eta = self.predict_log_intensity(sites)
        return pd.DataFrame(cloglog(eta), columns=list(self.species_))

    # -- the spine -----------------------------------------------------------------------------
    @property
    def inputs(self) -> ModelInputs:
        """Continuous and categorical covariates (:class:`~ecocube.models.ModelInputs`)."""
        return ModelInputs(tuple(self.encoder.covariates), tuple(self.encoder.categorical))

    @property
    def n_draws(self) -> int:
        """Number of members."""
        return self.config.n_members

    def explain_function(self, *, draw: int | None = None) -> ExplainFunction:
        """Encoded covariates ``(n, p)`` (``encoder.transform``) -> log relative rate ``(n, S)``
        of member ``draw`` (``None``: the mean over members, as :meth:`predict_log_intensity`).
        """
        self._check_fitted()
        self._check_draw(draw)
        net = self.network.eval()
        device = next(net.parameters()).device
        shift = self._shift().to(device)

        def function(x: torch.Tensor) -> torch.Tensor:
            eta = net(x.to(device)) + shift  # (members, n, S)
            return eta.mean(0) if draw is None else eta[draw]

        return ExplainFunction(
            function, tuple(self.encoder.feature_names), tuple(self.species_), draw
        )

    def training_steps(self) -> tuple[int, int]:
        """``(best epoch, epochs run)`` of the last fit."""
        return int(self.best_epoch_), len(self.history_)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "config": json_config(self.config),
            "covariates": list(self.covariates),
            "categorical": list(self.categorical),
            "encoder": self.encoder.to_dict(),
            "n_features": len(self.encoder.feature_names),
            "n_background": float(self._n_background),
            "best_epoch": int(self.best_epoch_),
            "epochs_run": len(self.history_),
        }
        arrays = module_arrays(self.network, "network.")
        arrays["log_z"] = self._log_z.detach().cpu().numpy()
        return meta, arrays

    @classmethod
    def _from_state(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], device: str
    ) -> MaxentNet:
        cfg = dict(meta["config"])
        cfg["hidden"] = tuple(cfg["hidden"])
        cfg["device"] = device
        net = cls(meta["covariates"], meta["categorical"], MaxentNetConfig(**cfg))
        net._use_encoder(CovariateEncoder.from_dict(meta["encoder"]))
        net.species_ = tuple(meta["species"])
        net.best_epoch_ = int(meta.get("best_epoch", 0))
        net.network = net._new_network(int(meta["n_features"]))
        load_module_arrays(net.network, arrays, "network.")
        net.network.to(resolve_device(device))
        net._log_z = torch.from_numpy(np.array(arrays["log_z"]))
        net._n_background = float(meta["n_background"])
        return net

    # -- fitting from a records table (ecocube.models.SDM) ---------------------------------------
    @classmethod
    def records_encoder(cls, records: pd.DataFrame, spec: RecordsSpec) -> CovariateEncoder:
        """Scaled on the background rows of the records (levels of those rows)."""
        scaling = spec.options.get("scaling", MaxentNetConfig.scaling)
        enc = CovariateEncoder(spec.covariates, spec.categorical, scaling=scaling)
        cols = [*spec.covariates, *spec.categorical]
        return enc.fit(records.loc[records["kind"] == "background", cols])

    @classmethod
    def fit_records(
        cls,
        records: pd.DataFrame,
        spec: RecordsSpec,
        encoder: CovariateEncoder,
        *,
        steps: int,
        validation: pd.DataFrame | None = None,
        patience: int | None = None,
    ) -> MaxentNet:
        """Presence rows against background rows; every species normalised over the random
        background (``background="random"`` by default: one species has no target group) and
        8 members unless ``spec.options`` say otherwise."""
        cols = [*spec.covariates, *spec.categorical]
        is_po, is_bg = records["kind"] == "presence", records["kind"] == "background"
        held = None
        if validation is not None:
            v_po, v_bg = validation["kind"] == "presence", validation["kind"] == "background"
            held = (validation.loc[v_po, ["species", *cols]], validation.loc[v_bg, cols])
        options = {
            "background": "random",
            "n_members": 8,
            **spec.options,
            "seed": spec.seed,
            "device": spec.device,
            "epochs": steps,
        }
        net = cls(cols, spec.categorical, MaxentNetConfig(**options))
        return net.fit(
            records.loc[is_po, ["species", *cols]],
            records.loc[is_bg, cols],
            species_col="species",
            progress=spec.progress,
            validation=held,
            patience=patience,
            encoder=encoder,
        )

    # -- scikit-learn style ----------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (scikit-learn style)."""
        return {
            "covariates": self.covariates,
            "categorical": self.categorical,
            "config": asdict(self.config),
        }

    def with_config(self, **changes: Any) -> MaxentNet:
        """A new, unfitted model with some hyper-parameters changed."""
        return MaxentNet(self.covariates, self.categorical, replace(self.config, **changes))


def _site_batches(
    tensors: tuple[torch.Tensor, ...], batch_size: int | None, seed: int, device: torch.device
) -> list[tuple[torch.Tensor, ...]] | Any:
    tensors = tuple(t.to(device) for t in tensors)
    if batch_size is None or batch_size >= len(tensors[0]):
        return [tensors]
    return _Shuffled(tensors, batch_size, seed)


class _Shuffled:
    """Re-iterable mini-batches of sites in a new seeded order every epoch."""

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, seed: int) -> None:
        self.tensors, self.batch_size = tensors, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Any:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=self.generator).to(self.tensors[0].device)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield tuple(t[idx] for t in self.tensors)
