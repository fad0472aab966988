"""Integrated presence-only + survey species distribution model in Pyro.

One log-intensity per species, :math:`\\log\\lambda_s(x) = \\alpha_s + \\beta_s^\\top\\phi(x)`, is shared
by two observation processes (Fithian et al. 2015; Isaac et al. 2020):

* **presence-only records** are a thinned Poisson point process with intensity
  :math:`\\lambda_s(x)\\,b_s(x)`. The observation bias :math:`\\log b_s(x) = \\delta_s + \\gamma^\\top
  z(x)` has one species offset (the unknown sampling effort of that species) and a bias surface
  *shared by every species* (the target-group idea: what all species' presences have in common
  beyond their own niches is observer effort). The integral of the intensity is a Monte-Carlo sum
  over background points; :math:`\\delta_s` is integrated out analytically, which leaves, per species,
  the multinomial (log-softmax) likelihood of the presences among the background points.
  Without survey data the shared bias is not identifiable from the niches and is left out.
* **standardised surveys** are Bernoulli with a complementary log-log link on the *same* intensity,
  :math:`p = 1 - \\exp(-\\exp(\\alpha_s + \\beta_s^\\top\\phi(x) + \\log A + \\Lambda_s^\\top
  u_i))`, where :math:`A` is the survey area/effort and :math:`u_i \\sim N(0, I_K)` are optional
  latent site factors that carry residual co-occurrence between species (a joint SDM), so joint
  community samples exist (:meth:`IntegratedSDM.sample_communities`).

Coefficients are hierarchical: :math:`\\beta_s = \\mu + \\tau \\odot \\epsilon_s` with a community mean
:math:`\\mu` and scale :math:`\\tau` shared by the species, which lets rare species borrow strength.
The features :math:`\\phi(x)` are the given design matrix (linear/quadratic terms and one-hot
categories) or, with ``features="network"``, a shared multilayer perceptron trained as a point
estimate with a Bayesian last layer (the :math:`\\beta_s`).

Inference is stochastic variational inference with an autoguide (``AutoNormal`` or
``AutoLowRankMultivariateNormal``). After fitting, a bank of posterior draws is kept as plain
tensors; predictions are posterior predictive mean, sd, 5 % and 95 % quantiles of the
survey-detection probability at unit effort, with the latent factors integrated out by
Gauss-Hermite quadrature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

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
    json_config,
    load_module_arrays,
    module_arrays,
    register_model,
)
from ecocube.models._features import CovariateEncoder
from ecocube.training import resolve_device

__all__ = [
    "IntegratedConfig",
    "IntegratedData",
    "IntegratedSDM",
    "PosteriorSummary",
    "records_data",
]

#: The predictive summary of :meth:`IntegratedSDM.predict` (the spine's :class:`Prediction`).
PosteriorSummary = Prediction

GuideName = Literal["normal", "lowrank"]
FeatureMode = Literal["design", "network"]
_GUIDES = ("normal", "lowrank")
_FEATURES = ("design", "network")


@dataclass(frozen=True)
class IntegratedConfig:
    """Settings of :class:`IntegratedSDM`.

    Attributes
    ----------
    n_factors
        Number of latent site factors for residual co-occurrence (0 = independent species).
        Used only when survey data are given.
    prior_scale
        Scale of the normal prior on the community mean :math:`\\mu` of the coefficients and of
        the half-normal prior on their between-species spread :math:`\\tau` (smaller = more
        shrinkage; the features are standardised, so 0.3 means modest effects).
    bias_prior_scale
        Scale of the normal prior on the shared observation-bias coefficients :math:`\\gamma`.
    use_bias
        ``"auto"``: a shared bias surface when presence-only and survey data are both given;
        ``"none"``: no bias surface; ``"shared"``: always (only sensible with bias covariates).
    guide
        ``"normal"`` (mean-field ``AutoNormal``) or ``"lowrank"``
        (``AutoLowRankMultivariateNormal`` of rank ``guide_rank``).
    features
        ``"design"``: the design matrix as given; ``"network"``: a shared MLP with ``hidden``
        units before a Bayesian last layer.
    guide_rank
        Rank of the covariance of the ``"lowrank"`` guide.
    hidden
        Hidden units of the shared network of ``features="network"``.
    steps, lr
        Number of SVI steps (full batch) and Adam learning rate.
    num_samples
        Posterior draws kept for prediction.
    block_effect
        Fit a per-species random intercept per spatial block of survey sites when the data
        give ``survey_block`` (half-normal prior of scale ``block_prior_scale`` on its sd).
        :meth:`IntegratedSDM.predict` then accepts ``blocks=``. Off by default; its effect on
        NCEAS is in docs/sdm_integrated.md.
    block_prior_scale
        Scale of the half-normal prior on the sd of the block intercepts.
    seed
        Seed of every random draw (initialisation, SVI, posterior draws).
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"auto"``); checked by
        :func:`ecocube.training.resolve_device` when the model is built.
    """

    n_factors: int = 2
    prior_scale: float = 0.3
    bias_prior_scale: float = 1.0
    use_bias: Literal["auto", "none", "shared"] = "auto"
    guide: GuideName = "normal"
    guide_rank: int = 8
    features: FeatureMode = "design"
    hidden: int = 32
    steps: int = 1500
    lr: float = 0.03
    num_samples: int = 200
    block_effect: bool = False
    block_prior_scale: float = 0.5
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.guide not in _GUIDES:
            raise InvalidInputError(
                f"guide={self.guide!r} is not supported; choose one of {_GUIDES}."
            )
        if self.features not in _FEATURES:
            raise InvalidInputError(
                f"features={self.features!r} is not supported; choose one of {_FEATURES}."
            )
        if self.use_bias not in ("auto", "none", "shared"):
            raise InvalidInputError(
                f"use_bias={self.use_bias!r} is not supported; choose 'auto', 'none' or 'shared'."
            )
        if self.n_factors < 0 or self.steps < 1 or self.num_samples < 2:
            raise InvalidInputError(
                "n_factors must be >= 0, steps >= 1 and num_samples >= 2; got "
                f"n_factors={self.n_factors}, steps={self.steps}, num_samples={self.num_samples}."
            )


@dataclass
class IntegratedData:
    """Training data of :class:`IntegratedSDM` as float32 arrays.

    Attributes
    ----------
    n_species
        Number of species ``S``.
    x_background
        ``(n_bg, P)`` features at background (quadrature) points, or ``None``.
    x_presence
        ``(n_pres, P)`` features at presence-only records, or ``None``.
    presence_species
        ``(n_pres,)`` species index of each presence record.
    x_survey
        ``(n_sv, P)`` features at survey sites, or ``None``.
    y_survey
        ``(n_sv, S)`` detections 0/1, ``NaN`` where a species was not surveyed at a site.
    survey_offset
        ``(n_sv,)`` log survey area/effort (0 = unit effort, the prediction reference).
    z_background, z_presence
        Optional bias covariates ``(n, Q)``; the shared bias surface uses the features
        themselves when these are absent.
    survey_block
        Optional ``(n_sv,)`` integer label of the spatial block of each survey site. When given
        (and ``IntegratedConfig.block_effect`` is on) each species gets a random intercept per
        block, ``N(0, sigma_s^2)``: the spatially structured residual that makes predictive
        intervals of block-level counts honest.
    species
        Optional names of the ``S`` species (column order of ``y_survey``, indices of
        ``presence_species``); the fitted model's ``species_``.
    """

    n_species: int
    x_background: np.ndarray | None = None
    x_presence: np.ndarray | None = None
    presence_species: np.ndarray | None = None
    x_survey: np.ndarray | None = None
    y_survey: np.ndarray | None = None
    survey_offset: np.ndarray | None = None
    z_background: np.ndarray | None = None
    z_presence: np.ndarray | None = None
    survey_block: np.ndarray | None = None
    species: Sequence[str] = ()

    @property
    def has_presence_only(self) -> bool:
        return self.x_presence is not None and len(self.x_presence) > 0

    @property
    def has_survey(self) -> bool:
        return self.x_survey is not None and len(self.x_survey) > 0

    def _presence_arrays(
        self,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(x_background, x_presence, presence_species, z_background, z_presence)``.

        ``None`` without presence-only records (or without their background points or species
        indices, which :meth:`check` reports); the bias covariates default to the features.
        """
        xb, xp, sp = self.x_background, self.x_presence, self.presence_species
        if xp is None or len(xp) == 0 or xb is None or len(xb) == 0 or sp is None:
            return None
        zb = self.z_background if self.z_background is not None else xb
        zp = self.z_presence if self.z_presence is not None else xp
        return xb, xp, sp, zb, zp

    def _survey_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(x_survey, y_survey, surveyed, survey_offset)`` as float32, or ``None`` without surveys.

        ``y_survey`` has 0 where a species was not surveyed and ``surveyed`` (1/0) marks the
        surveyed cells; the offset defaults to 0 (unit effort).
        """
        xs, ys = self.x_survey, self.y_survey
        if xs is None or len(xs) == 0 or ys is None:
            return None
        y = np.asarray(ys, dtype=np.float32)
        mask = np.isfinite(y)
        off = self.survey_offset if self.survey_offset is not None else np.zeros(len(y))
        return (
            np.asarray(xs, dtype=np.float32),
            np.where(mask, y, 0.0).astype(np.float32),
            mask.astype(np.float32),
            np.asarray(off, dtype=np.float32),
        )

    def n_features(self) -> int:
        for x in (self.x_background, self.x_survey):
            if x is not None:
                return int(x.shape[1])
        raise InvalidInputError("IntegratedData has neither background nor survey features.")

    def check(self) -> None:
        """Raise :class:`InvalidInputError` on inconsistent shapes or missing parts."""
        if self.species and len(self.species) != self.n_species:
            raise InvalidInputError(
                f"species names {list(self.species)} do not match n_species={self.n_species}; "
                "give one name per species."
            )
        if not self.has_presence_only and not self.has_survey:
            raise InvalidInputError(
                "no training data: give presence records with background points, survey sites, "
                "or both."
            )
        xp, xs = self.x_presence, self.x_survey
        if xp is not None and len(xp) > 0:
            if self.x_background is None or len(self.x_background) == 0:
                raise InvalidInputError(
                    "presence-only records need background points (kind='background') to "
                    "integrate the intensity over the study region."
                )
            if self.presence_species is None or len(self.presence_species) != len(xp):
                raise InvalidInputError("presence_species must give one index per presence row.")
        if xs is not None and len(xs) > 0:
            if self.y_survey is None or self.y_survey.shape != (len(xs), self.n_species):
                raise InvalidInputError(
                    f"y_survey must have shape (n_survey, n_species) = "
                    f"({len(xs)}, {self.n_species})."
                )
            if self.survey_block is not None and len(self.survey_block) != len(xs):
                raise InvalidInputError(
                    f"survey_block must give one block label per survey site "
                    f"({len(xs)}); got {len(self.survey_block)}."
                )


def _cloglog_loglik(eta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bernoulli log-likelihood with ``p = 1 - exp(-exp(eta))``, stable for any ``eta``."""
    rate = torch.exp(eta.clamp(max=15.0))
    log_p = torch.log(-torch.expm1(-rate.clamp(min=1e-10)))
    return y * log_p - (1.0 - y) * rate


class _Net(torch.nn.Module):
    """Shared feature extractor of the ``network`` mode (point estimate)."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.SiLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_model
class IntegratedSDM(SpeciesDistributionModel):
    """Integrated presence-only + survey joint SDM (Pyro ``model``/``guide`` pair, SVI).

    Parameters
    ----------
    config
        Settings; defaults give a hierarchical linear-in-features model with two latent factors
        and a mean-field guide.
    encoder
        Optional fitted :class:`~ecocube.models.CovariateEncoder` that made the design matrix:
        with it the model predicts from covariate tables (not only design matrices), names its
        inputs and features, and saves it with itself.

    Examples
    --------
    >>> sdm = IntegratedSDM(IntegratedConfig(steps=500))  # doctest: +SKIP
    >>> sdm.fit(data)  # doctest: +SKIP
    >>> summary = sdm.predict(x_new)  # doctest: +SKIP
    >>> summary.mean.shape  # (n_sites, n_species)  # doctest: +SKIP
    """

    name: ClassVar[str] = "integrated"
    config_class: ClassVar[type[Any]] = IntegratedConfig
    record_kinds: ClassVar[tuple[str, ...]] = ("presence", "background", "survey")
    steps_option: ClassVar[str] = "steps"
    steps_unit: ClassVar[str] = "SVI steps"

    def __init__(
        self, config: IntegratedConfig | None = None, *, encoder: CovariateEncoder | None = None
    ) -> None:
        self.config = config or IntegratedConfig()
        self.encoder = encoder
        self.species_: tuple[str, ...] = ()
        self.device = resolve_device(self.config.device)
        self.net: _Net | None = None
        self.draws: dict[str, torch.Tensor] = {}
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.best_step_ = 0
        self.steps_run_ = 0
        self.n_species = 0
        self.n_inputs = 0
        self.mode = ""
        self.n_feat = 0
        self._tensors: dict[str, torch.Tensor] = {}
        self._use_bias = False
        self._n_factors = 0
        self._n_blocks = 0

    # ------------------------------------------------------------------ model pieces
    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            return x
        return self.net(x)

    def model(self) -> None:
        """Pyro model over the data stored by :meth:`fit` (all sites at once)."""
        import pyro
        import pyro.distributions as dist

        t = self._tensors
        S = self.n_species
        P = self.n_feat
        dev = self.device
        zero = torch.zeros((), device=dev)
        one = torch.ones((), device=dev)
        mu = pyro.sample(
            "mu", dist.Normal(zero, one * self.config.prior_scale).expand([P]).to_event(1)
        )
        tau = pyro.sample(
            "tau", dist.HalfNormal(one * self.config.prior_scale).expand([P]).to_event(1)
        )
        with pyro.plate("species", S, dim=-1):
            alpha = pyro.sample("alpha", dist.Normal(-1.0 * one, 3.0 * one))
            eps = pyro.sample("eps", dist.Normal(zero, one).expand([P]).to_event(1))
            if self._n_factors:
                loadings = pyro.sample(
                    "loadings",
                    dist.Normal(zero, 0.5 * one).expand([self._n_factors]).to_event(1),
                )
            if self._n_blocks:
                sigma_block = pyro.sample(
                    "sigma_block", dist.HalfNormal(one * self.config.block_prior_scale)
                )
                with pyro.plate("survey_blocks", self._n_blocks, dim=-2):
                    b_block = pyro.sample("b_block", dist.Normal(zero, one))  # (blocks, S)
        beta = mu + tau * eps  # (S, P)

        if "x_pres" in t:
            f_bg = self._features(t["x_bg"])
            f_pr = self._features(t["x_pres"])
            eta_bg = f_bg @ beta.T  # (n_bg, S)
            eta_pr = (f_pr * beta[t["pres_sp"]]).sum(-1)  # (n_pres,)
            if self._use_bias:
                Q = t["z_bg"].shape[1]
                gamma = pyro.sample(
                    "gamma",
                    dist.Normal(zero, one * self.config.bias_prior_scale).expand([Q]).to_event(1),
                )
                eta_bg = eta_bg + (t["z_bg"] @ gamma)[:, None]
                eta_pr = eta_pr + t["z_pres"] @ gamma
            # delta_s integrated out: multinomial likelihood of presences among background points
            log_norm = torch.logsumexp(eta_bg, dim=0)  # (S,)
            ll_po = eta_pr.sum() - (t["pres_count"] * log_norm).sum()
            pyro.factor("presence_only", ll_po)

        if "x_sv" in t:
            f_sv = self._features(t["x_sv"])
            eta = f_sv @ beta.T + alpha + t["offset"][:, None]  # (n_sv, S)
            if self._n_factors:
                with pyro.plate("survey_sites", t["x_sv"].shape[0], dim=-1):
                    u = pyro.sample(
                        "u", dist.Normal(zero, one).expand([self._n_factors]).to_event(1)
                    )
                eta = eta + u @ loadings.T
            if self._n_blocks:
                eta = eta + (b_block * sigma_block)[t["block_sv"]]
            ll = _cloglog_loglik(eta, t["y_sv"]) * t["mask_sv"]
            pyro.factor("survey", ll.sum())

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: IntegratedData,
        *,
        progress: bool = False,
        validation: IntegratedData | None = None,
        patience: int | None = None,
    ) -> IntegratedSDM:
        """Fit by SVI and keep ``num_samples`` posterior draws.

        Parameters
        ----------
        data
            Training data (any mix of presence-only + background and surveys).
        progress
            Show a progress bar.
        validation
            Held-out data (e.g. the held-out spatial blocks) for early stopping: after every
            SVI step the held-out negative log-likelihood per observation at the guide's
            median (:meth:`heldout_loss`) is monitored, training stops after ``patience``
            steps without improvement, and the guide of the best step is kept. Its species
            must be those of ``data``. ``best_step_`` and ``steps_run_`` record the outcome.
        patience
            Steps without improvement before stopping (with ``validation``); ``None``: run
            all ``steps`` and keep the best step's guide.
        """
        import pyro
        from pyro.infer import Trace_ELBO
        from pyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoNormal

        from ecocube.training import LossFn, TrainConfig, Trainer, TrainingDivergedError

        data.check()
        cfg = self.config
        dev = self.device
        self.n_species = int(data.n_species)
        self.n_inputs = data.n_features()
        if self.encoder is not None and len(self.encoder.feature_names) != self.n_inputs:
            raise InvalidInputError(
                f"the design matrix has {self.n_inputs} columns but the encoder makes "
                f"{len(self.encoder.feature_names)} ({self.encoder.feature_names}); encode the "
                "data with the model's encoder."
            )
        self.species_ = tuple(map(str, data.species)) or tuple(
            f"species_{j}" for j in range(self.n_species)
        )
        self.mode = (
            "integrated"
            if data.has_presence_only and data.has_survey
            else ("presence-only" if data.has_presence_only else "survey-only")
        )
        self._n_factors = cfg.n_factors if data.has_survey else 0
        self._n_blocks = 0
        self._use_bias = data.has_presence_only and (
            cfg.use_bias == "shared" or (cfg.use_bias == "auto" and data.has_survey)
        )

        t = self._data_tensors(data)
        if "x_sv" in t and data.survey_block is not None and cfg.block_effect:
            _, codes = np.unique(np.asarray(data.survey_block), return_inverse=True)
            t["block_sv"] = torch.as_tensor(codes.ravel(), dtype=torch.long, device=dev)
            self._n_blocks = int(codes.max()) + 1
        self._tensors = t
        val_t = self._validation_tensors(validation) if validation is not None else None

        pyro.set_rng_seed(cfg.seed)
        if cfg.features == "network":
            self.net = _Net(self.n_inputs, cfg.hidden).to(dev)
            self.n_feat = cfg.hidden
        else:
            self.net = None
            self.n_feat = self.n_inputs

        # A private parameter store: autoguide parameters are named after the sample sites,
        # so two models fitted in one process must not share the global store.
        with pyro.get_param_store().scope():
            guide: AutoNormal | AutoLowRankMultivariateNormal
            if cfg.guide == "lowrank":
                guide = AutoLowRankMultivariateNormal(
                    self.model, rank=cfg.guide_rank, init_scale=0.05
                )
            else:
                guide = AutoNormal(self.model, init_scale=0.05)
            with torch.no_grad():
                guide()  # build the guide's parameters before the optimizer collects them
            module = _SVIModule(self, guide).to(dev)
            elbo = Trace_ELBO()
            n_obs = self._n_observations()

            def loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
                return elbo.differentiable_loss(self.model, guide) / n_obs

            val_loss_fn: LossFn | None = None
            if val_t is not None:
                heldout = val_t

                def val_loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
                    return self.heldout_loss(guide, heldout)

            train_cfg = TrainConfig(
                max_epochs=cfg.steps,
                lr=cfg.lr,
                patience=patience if val_t is not None else None,
                restore_best=val_t is not None,
                grad_clip=10.0,
                device=str(dev),
                precision="32",
                seed=cfg.seed,
                progress=progress,
            )
            trainer = Trainer(train_cfg, loss_fn=loss_fn, val_loss_fn=val_loss_fn)
            try:
                result = trainer.fit(module, [0], [0] if val_t is not None else None)
            except TrainingDivergedError as err:
                raise InvalidInputError(
                    f"SVI diverged ({err}); lower lr={cfg.lr} or check the covariates for "
                    "extreme values."
                ) from err
            self.losses = [h["train_loss"] for h in result.history]
            self.val_losses = [h["val_loss"] for h in result.history] if val_t is not None else []
            self.steps_run_ = result.epochs_run
            self.best_step_ = result.best_epoch if val_t is not None else result.epochs_run
            self.draws = self._draw_posterior(guide)
        self._tensors = {}
        return self

    def _data_tensors(self, data: IntegratedData) -> dict[str, torch.Tensor]:
        """The parts of ``data`` as tensors on the model's device (parts absent stay absent)."""
        dev = self.device

        def tens(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float32), device=dev)

        t: dict[str, torch.Tensor] = {}
        po = data._presence_arrays()
        if po is not None:
            x_bg, x_pres, species, z_bg, z_pres = po
            sp = torch.as_tensor(np.asarray(species), dtype=torch.long, device=dev)
            t["x_bg"], t["x_pres"], t["pres_sp"] = tens(x_bg), tens(x_pres), sp
            t["pres_count"] = torch.bincount(sp, minlength=self.n_species).float()
            t["z_bg"], t["z_pres"] = tens(z_bg), tens(z_pres)
        sv = data._survey_arrays()
        if sv is not None:
            t["x_sv"], t["y_sv"], t["mask_sv"], t["offset"] = (tens(a) for a in sv)
        return t

    def _validation_tensors(self, data: IntegratedData) -> dict[str, torch.Tensor]:
        """Tensors of held-out data for :meth:`heldout_loss` (parts absent stay absent)."""
        if data.n_species != self.n_species:
            raise InvalidInputError(
                f"validation data has {data.n_species} species but the training data "
                f"{self.n_species}; give both for the same species."
            )
        v = self._data_tensors(data)
        if not v:
            raise InvalidInputError(
                "the validation data hold neither presence records with background points "
                "nor survey sites; give held-out data of one of these kinds."
            )
        return v

    @torch.no_grad()
    def heldout_loss(self, guide: Any, v: dict[str, torch.Tensor]) -> torch.Tensor:
        """Negative log-likelihood per held-out observation at the guide's median.

        Presence-only records: the multinomial likelihood of the held-out presences among the
        held-out background points (the presence-only part of :meth:`model`). Surveys: the
        cloglog Bernoulli likelihood of the held-out detections with the latent site factors
        integrated out (Gauss-Hermite), as a new site is predicted. Used for early stopping.
        """
        med = guide.median()
        beta = med["mu"] + med["tau"] * med["eps"]  # (S, P)
        ll = torch.zeros((), device=self.device)
        n = 0.0
        if "x_pres" in v:
            eta_bg = self._features(v["x_bg"]) @ beta.T
            eta_pr = (self._features(v["x_pres"]) * beta[v["pres_sp"]]).sum(-1)
            if self._use_bias and "gamma" in med:
                eta_bg = eta_bg + (v["z_bg"] @ med["gamma"])[:, None]
                eta_pr = eta_pr + v["z_pres"] @ med["gamma"]
            ll = ll + eta_pr.sum() - (v["pres_count"] * torch.logsumexp(eta_bg, dim=0)).sum()
            n += float(v["x_pres"].shape[0])
        if "x_sv" in v:
            eta = self._features(v["x_sv"]) @ beta.T + med["alpha"] + v["offset"][:, None]
            if "loadings" in med:
                sd = med["loadings"].square().sum(-1).sqrt()  # (S,)
                nodes, weights = np.polynomial.hermite_e.hermegauss(12)
                p = torch.zeros_like(eta)
                for zk, wk in zip(nodes, weights / weights.sum(), strict=True):
                    p += float(wk) * -torch.expm1(
                        -torch.exp((eta + float(zk) * sd).clamp(max=15.0))
                    )
            else:
                p = -torch.expm1(-torch.exp(eta.clamp(max=15.0)))
            p = p.clamp(1e-6, 1.0 - 1e-6)
            y = v["y_sv"]
            ll = ll + (v["mask_sv"] * (y * torch.log(p) + (1.0 - y) * torch.log1p(-p))).sum()
            n += float(v["mask_sv"].sum())
        return -ll / max(n, 1.0)

    def _n_observations(self) -> float:
        t = self._tensors
        n = 0.0
        if "x_pres" in t:
            n += float(t["x_pres"].shape[0])
        if "x_sv" in t:
            n += float(t["mask_sv"].sum())
        return max(n, 1.0)

    @torch.no_grad()
    def _draw_posterior(self, guide: Any) -> dict[str, torch.Tensor]:
        import pyro

        pyro.set_rng_seed(self.config.seed + 1)
        keep = ("mu", "tau", "alpha", "eps", "loadings", "gamma", "sigma_block")
        draws: dict[str, list[torch.Tensor]] = {k: [] for k in keep}
        for _ in range(self.config.num_samples):
            sample = guide()
            for k in keep:
                if k in sample:
                    draws[k].append(sample[k].detach())
        out = {k: torch.stack(v) for k, v in draws.items() if v}
        out["beta"] = out["mu"][:, None, :] + out["tau"][:, None, :] * out["eps"]
        del out["eps"]
        if self.mode == "presence-only":
            feats = self._features(self._tensors["x_bg"])
            eta_bg = torch.einsum("np,dsp->dns", feats, out["beta"])  # (N, n_bg, S)
            log_raw = eta_bg - torch.logsumexp(eta_bg, dim=1, keepdim=True)
            entropy = -(log_raw.exp() * log_raw).sum(1)  # (N, S)
            out["po_intercept"] = entropy - torch.logsumexp(eta_bg, dim=1)
        return out

    # ------------------------------------------------------------------ prediction
    def _design(self, sites: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The design matrix of ``sites``: a covariate table through :attr:`encoder`, or a
        matrix already encoded."""
        if isinstance(sites, pd.DataFrame):
            if self.encoder is None:
                raise InvalidInputError(
                    "this model was fitted on a design matrix without an encoder, so it cannot "
                    "encode a covariate table; pass the encoded (n_sites, n_features) array, or "
                    "fit IntegratedSDM(config, encoder=...)."
                )
            return self.encoder.transform(sites)
        return np.asarray(sites, dtype=np.float32)

    @torch.no_grad()
    def _eta(self, x: pd.DataFrame | np.ndarray, offset: float | np.ndarray = 0.0) -> torch.Tensor:
        """Linear predictor draws ``(num_samples, n_sites, S)`` without latent factors."""
        self._check_fitted()
        xt = torch.as_tensor(self._design(x), device=self.device)
        if xt.ndim != 2 or xt.shape[1] != self.n_inputs:
            raise InvalidInputError(
                f"x must have shape (n_sites, {self.n_inputs}); got {tuple(xt.shape)}."
            )
        feats = self._features(xt)
        beta = self.draws["beta"]  # (N, S, P)
        eta = torch.einsum("np,dsp->dns", feats, beta)
        if self.mode == "presence-only":
            eta = eta + self._po_calibration()[:, None, :]
        else:
            eta = eta + self.draws["alpha"][:, None, :]
        off = torch.as_tensor(np.asarray(offset, dtype=np.float32), device=self.device)
        if off.ndim == 1:
            off = off[None, :, None]
        return eta + off

    @torch.no_grad()
    def log_intensity(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Posterior-mean relative log-intensity ``beta_s . phi(x)``, ``(n_sites, S)``.

        Without intercepts or offsets: comparable within a species across sites (e.g. for the
        presence-only test gain), not across species. ``x``: design matrix or covariate table.
        """
        self._check_fitted()
        xt = torch.as_tensor(self._design(x), device=self.device)
        feats = self._features(xt)
        beta = self.draws["beta"].mean(0)
        return (feats @ beta.T).cpu().numpy()

    def _po_calibration(self) -> torch.Tensor:
        """Maxent-style cloglog intercept for presence-only fits, ``(N, S)``.

        Without surveys the absolute scale of the intensity is not identifiable; following the
        Maxent cloglog transform (Phillips et al. 2017) the relative intensity over the background
        is scaled by ``exp(H)``, ``H`` the entropy of the fitted distribution.
        """
        return self.draws["po_intercept"]

    def _residual_sd(self, *, include_block: bool = True) -> torch.Tensor | None:
        """Sd of the site-level residual ``(N, S)``: latent factors (+ block effect)."""
        var = None
        if "loadings" in self.draws:
            var = self.draws["loadings"].square().sum(-1)
        if include_block and "sigma_block" in self.draws:
            sb = self.draws["sigma_block"].square()
            var = sb if var is None else var + sb
        return None if var is None else var.sqrt()

    def _block_effects(
        self, blocks: np.ndarray, seed: int | None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Draws of the block intercepts of new blocks, ``(N, n_blocks, S)``, and site codes."""
        _, codes = np.unique(np.asarray(blocks), return_inverse=True)
        codes = codes.ravel()
        sigma = self.draws["sigma_block"]  # (N, S)
        gen = torch.Generator(device="cpu").manual_seed(
            self.config.seed + 7 if seed is None else seed
        )
        z = torch.randn(sigma.shape[0], int(codes.max()) + 1, sigma.shape[1], generator=gen)
        return z.to(sigma.device) * sigma[:, None, :], codes

    @torch.no_grad()
    def probability_draws(
        self,
        x: pd.DataFrame | np.ndarray,
        *,
        offset: float | np.ndarray = 0.0,
        n_quadrature: int = 12,
        block_effects: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Posterior draws of the detection probability, ``(num_samples, n_sites, S)``.

        The latent site factors are integrated out (Gauss-Hermite quadrature over the
        species' residual ``N(0, |Lambda_s|^2)``), so each draw is the marginal probability at a
        new site of the given effort (log area ``offset``; 0 = unit effort). The block random
        intercept is integrated out the same way, unless ``block_effects`` (``(N, n_sites,
        S)``, drawn per block by :meth:`predict` with ``blocks=``) gives its value per site.
        """
        eta = self._eta(x, offset)
        if block_effects is not None:
            eta = eta + block_effects
        sd = self._residual_sd(include_block=block_effects is None)
        if sd is None:
            return -torch.expm1(-torch.exp(eta.clamp(max=15.0)))
        nodes, weights = np.polynomial.hermite_e.hermegauss(n_quadrature)
        w = torch.as_tensor(weights / weights.sum(), dtype=eta.dtype, device=eta.device)
        z = torch.as_tensor(nodes, dtype=eta.dtype, device=eta.device)
        out = torch.zeros_like(eta)
        for zk, wk in zip(z, w, strict=True):
            out += wk * -torch.expm1(-torch.exp((eta + zk * sd[:, None, :]).clamp(max=15.0)))
        return out

    def predict(
        self,
        x: pd.DataFrame | np.ndarray,
        *,
        offset: float | np.ndarray = 0.0,
        return_samples: bool = False,
        batch_size: int = 4096,
        blocks: np.ndarray | None = None,
        seed: int | None = None,
    ) -> Prediction:
        """Posterior predictive mean, sd, 5 % and 95 % quantiles of the detection probability.

        With survey data (``mode`` ``"integrated"`` or ``"survey-only"``) the probability of
        detecting the species in one survey of effort ``exp(offset)`` (unit effort by default)
        at a new site, latent factors integrated out. A presence-only fit cannot identify that
        level: its values are relative suitabilities ``1 - exp(-exp(eta))`` with ``eta`` the
        relative log-intensity shifted by the Maxent-style cloglog intercept (the entropy of
        the fitted distribution over the background, Phillips et al. 2017), which rank sites
        but are not probabilities of presence.

        Parameters
        ----------
        x
            ``(n_sites, P)`` features, encoded as the training data, or a covariate table
            (encoded by :attr:`encoder`).
        offset
            Log survey area/effort at the sites (scalar or ``(n_sites,)``); 0 = unit effort.
        return_samples
            Also return the ``(num_samples, n_sites, S)`` draws.
        batch_size
            Sites per batch, to bound memory.
        blocks
            Optional ``(n_sites,)`` spatial-block labels of the sites, for a model fitted with
            block effects (:attr:`has_block_effect`). Each posterior draw then takes one block
            intercept per block and species, shared by the block's sites, so sums over a block
            (counts of detections) carry the block-level uncertainty. Without it the intercept
            is integrated out per site.
        seed
            Seed of the block-intercept draws (default: derived from the config's seed).

        Raises
        ------
        InvalidInputError
            ``x`` of the wrong width, ``blocks`` of the wrong length, or ``blocks`` given to a
            model fitted without a block effect.
        """
        x = self._design(x)
        off = np.array(np.broadcast_to(np.asarray(offset, dtype=np.float32), (len(x),)))
        effects: torch.Tensor | None = None
        codes = np.zeros(0, dtype=np.int64)
        if blocks is not None:
            self._check_fitted()
            if not self.has_block_effect:
                raise InvalidInputError(
                    "blocks= was given, but this model was fitted without a block effect, so "
                    "the labels would be ignored: refit with IntegratedConfig(block_effect=True) "
                    "and IntegratedData(survey_block=...) (--block-effect in "
                    "benchmarks/bench_integrated.py), or predict without blocks=."
                )
            if len(blocks) != len(x):
                raise InvalidInputError(
                    f"blocks must give one label per site ({len(x)}); got {len(blocks)}."
                )
            effects, codes = self._block_effects(blocks, seed)
        # Summaries are per site, so each batch is summarised on its own: memory stays
        # ``num_samples x batch_size x S`` whatever the number of sites (country-scale maps),
        # unless the draws themselves are asked for.
        n_sites, n_sp = len(x), self.n_species
        mean, sd, q05, q95 = (np.empty((n_sites, n_sp), np.float32) for _ in range(4))
        kept = []
        for i in range(0, n_sites, batch_size):
            sl = slice(i, i + batch_size)
            be = None if effects is None else effects[:, codes[sl], :]
            draws = self.probability_draws(x[sl], offset=off[sl], block_effects=be).cpu().numpy()
            mean[sl], sd[sl] = draws.mean(0), draws.std(0)
            q05[sl], q95[sl] = np.quantile(draws, [0.05, 0.95], axis=0)
            if return_samples:
                kept.append(draws)
        samples = None
        if return_samples:
            samples = np.concatenate(kept, axis=1) if kept else np.zeros((2, 0, n_sp), np.float32)
        return Prediction(
            mean=mean, sd=sd, q05=q05, q95=q95, samples=samples, species=self.species_
        )

    @torch.no_grad()
    def sample_communities(
        self,
        x: pd.DataFrame | np.ndarray,
        n: int = 100,
        *,
        offset: float = 0.0,
        seed: int | None = None,
    ) -> np.ndarray:
        """Joint presence/absence samples of the whole community, ``(n, n_sites, S)`` uint8.

        Each sample takes one posterior draw, one latent factor vector per site and Bernoulli
        detections for all species at once, so residual co-occurrence between species (the latent
        factors) shows up as correlation between the species' columns.
        """
        self._check_fitted()
        gen = torch.Generator(device="cpu").manual_seed(self.config.seed if seed is None else seed)
        eta = self._eta(x, offset).cpu()  # (N, n_sites, S)
        idx = torch.randint(0, eta.shape[0], (n,), generator=gen)
        eta = eta[idx]
        if "loadings" in self.draws:
            lam = self.draws["loadings"].cpu()[idx]  # (n, S, K)
            u = torch.randn(n, eta.shape[1], lam.shape[-1], generator=gen)
            eta = eta + torch.einsum("nik,nsk->nis", u, lam)
        p = -torch.expm1(-torch.exp(eta.clamp(max=15.0)))
        return (torch.rand(p.shape, generator=gen) < p).to(torch.uint8).numpy()

    def residual_correlation(self) -> np.ndarray:
        """Posterior mean residual correlation between species from the latent factors, ``(S, S)``."""
        self._check_fitted()
        if "loadings" not in self.draws:
            return np.eye(self.n_species)
        lam = self.draws["loadings"]
        cov = lam @ lam.transpose(-1, -2) + torch.eye(self.n_species, device=lam.device)
        d = torch.sqrt(torch.diagonal(cov, dim1=-2, dim2=-1))
        corr = cov / (d[..., :, None] * d[..., None, :])
        return corr.mean(0).cpu().numpy()

    @property
    def has_block_effect(self) -> bool:
        """Whether the model has block intercepts (``block_effect`` with ``survey_block``)."""
        return "sigma_block" in self.draws

    def _check_fitted(self) -> None:
        if not self.draws:
            raise InvalidInputError("the model is not fitted; call fit(...) first.")

    # ------------------------------------------------------------------ the spine
    @property
    def inputs(self) -> ModelInputs:
        """The encoder's covariates, or the design matrix's columns ``x0, x1, ...`` without one."""
        if self.encoder is not None:
            return ModelInputs(tuple(self.encoder.covariates), tuple(self.encoder.categorical))
        return ModelInputs(tuple(f"x{j}" for j in range(self.n_inputs)))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the design matrix's columns."""
        if self.encoder is not None:
            return tuple(self.encoder.feature_names)
        return tuple(f"x{j}" for j in range(self.n_inputs))

    @property
    def n_draws(self) -> int:
        """Posterior draws kept (``config.num_samples``)."""
        return self.config.num_samples

    def explain_function(self, *, draw: int | None = None) -> ExplainFunction:
        """Design matrix ``(n, P)`` -> log-intensity ``eta`` ``(n, S)`` of posterior draw
        ``draw`` (``None``: the posterior mean of ``eta``), at unit effort without the latent
        factors and block effects: the linear predictor of :meth:`predict` before its link."""
        self._check_fitted()
        self._check_draw(draw)
        beta = self.draws["beta"]  # (N, S, P)
        inter = self._po_calibration() if self.mode == "presence-only" else self.draws["alpha"]
        b = beta.mean(0) if draw is None else beta[draw]
        a = inter.mean(0) if draw is None else inter[draw]
        if self.net is not None:
            self.net.eval()

        def function(x: torch.Tensor) -> torch.Tensor:
            return self._features(x.to(self.device)) @ b.T + a

        return ExplainFunction(function, self.feature_names, self.species_, draw)

    def training_steps(self) -> tuple[int, int]:
        """``(best step, steps run)`` of the last fit."""
        return int(self.best_step_), int(self.steps_run_)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "config": json_config(self.config),
            "encoder": None if self.encoder is None else self.encoder.to_dict(),
            "n_species": self.n_species,
            "n_inputs": self.n_inputs,
            "n_feat": self.n_feat,
            "best_step": int(self.best_step_),
            "steps_run": int(self.steps_run_),
        }
        arrays = {f"draws.{k}": v.detach().cpu().numpy() for k, v in self.draws.items()}
        if self.net is not None:
            arrays.update(module_arrays(self.net, "net."))
        return meta, arrays

    @classmethod
    def _from_state(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], device: str
    ) -> IntegratedSDM:
        config = IntegratedConfig(**{**meta["config"], "device": device})
        enc = meta.get("encoder")
        obj = cls(config, encoder=None if enc is None else CovariateEncoder.from_dict(enc))
        obj.n_species = int(meta["n_species"])
        obj.n_inputs = int(meta["n_inputs"])
        obj.n_feat = int(meta["n_feat"])
        obj.mode = str(meta["mode"])
        obj.species_ = tuple(meta["species"])
        obj.best_step_ = int(meta.get("best_step", 0))
        obj.steps_run_ = int(meta.get("steps_run", 0))
        obj.draws = {
            k[len("draws.") :]: torch.from_numpy(np.array(v)).to(obj.device)
            for k, v in arrays.items()
            if k.startswith("draws.")
        }
        if any(k.startswith("net.") for k in arrays):
            obj.net = _Net(obj.n_inputs, config.hidden)
            load_module_arrays(obj.net, arrays, "net.")
            obj.net.to(obj.device).eval()
        if "beta" not in obj.draws:
            raise KeyError("draws.beta")  # load() names the files and the fix
        return obj

    # ------------------------------------------------------------------ records (SDM front)
    @classmethod
    def records_encoder(cls, records: pd.DataFrame, spec: RecordsSpec) -> CovariateEncoder:
        """Linear (+ squared with ``spec.quadratic``) terms scaled on the region (background
        and survey rows; all rows without them), levels of every record, in text order."""
        region = records.loc[records["kind"].isin(("background", "survey"))]
        enc = CovariateEncoder(
            spec.covariates, spec.categorical, quadratic=spec.quadratic, level_order="text"
        )
        return enc.fit(region if len(region) else records, levels_from=records)

    @classmethod
    def default_patience(cls, max_steps: int) -> int:
        """``max(50, max_steps // 10)`` SVI steps."""
        return max(50, max_steps // 10)

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
    ) -> IntegratedSDM:
        """Presence, background and survey rows of ``records`` (see :func:`records_data`)."""
        config = IntegratedConfig(
            **{**spec.options, "seed": spec.seed, "device": spec.device, "steps": steps}
        )
        held = None if validation is None else records_data(validation, encoder, spec.species)
        return cls(config, encoder=encoder).fit(
            records_data(records, encoder, spec.species),
            progress=spec.progress,
            validation=held,
            patience=patience,
        )


def records_data(
    records: pd.DataFrame, encoder: CovariateEncoder, species: Sequence[str]
) -> IntegratedData:
    """:class:`IntegratedData` of a validated records table (:func:`~ecocube.models.records.validate_records`).

    Presence rows (with the background rows) are presence-only data; survey rows become a site
    x species detection matrix (:func:`~ecocube.models.records.survey_table`). ``species`` sets
    the species order.
    """
    from ecocube.models.records import survey_table

    sp_index = {s: i for i, s in enumerate(species)}
    kind = records["kind"]
    is_po, is_bg, is_sv = (kind == k for k in ("presence", "background", "survey"))
    data = IntegratedData(n_species=len(species), species=tuple(species))
    if is_po.any():
        data.x_background = encoder.transform(records.loc[is_bg])
        data.x_presence = encoder.transform(records.loc[is_po])
        data.presence_species = records.loc[is_po, "species"].map(sp_index).to_numpy(np.int64)
    if is_sv.any():
        sites, y, log_effort = survey_table(records.loc[is_sv], species)
        data.x_survey, data.y_survey, data.survey_offset = encoder.transform(sites), y, log_effort
    return data


class _SVIModule(torch.nn.Module):
    """Holds the trainable parts (shared network, guide) for :class:`ecocube.training.Trainer`."""

    def __init__(self, sdm: IntegratedSDM, guide: torch.nn.Module) -> None:
        super().__init__()
        self.guide = guide
        if sdm.net is not None:
            self.net = sdm.net
