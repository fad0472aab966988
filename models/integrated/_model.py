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

**Minibatches** (``IntegratedConfig.batch_size``). Each SVI step then sees ``batch_size``
background points, survey sites and (with ``features="network"``) presence records, drawn by
seeded ``DataLoader`` samplers; subsampled ``pyro.plate`` s scale each term by ``N / B``, so the
ELBO and its gradient are unbiased, and the model's tensors are ``O(batch_size)`` whatever the
number of background points or survey sites. The latent factors :math:`u_i` live in the survey
plate: the guide's local parameters are indexed by the same subsample. The multinomial term's
:math:`\\log\\sum_j` over *all* background points has no unbiased minibatch estimate, so the
presence-only part takes its equivalent Poisson point-process form with an explicit species
offset :math:`\\delta_s`,

.. math::

    \\ell_{PO} = \\sum_s n_s \\delta_s - \\sum_s \\frac{e^{\\delta_s}}{n_{bg}} \\sum_j
    \\exp\\big(\\beta_s^\\top(\\phi(x_j) - c_s) + \\gamma^\\top(z_j - c^z_s)\\big),

whose background term is a plain sum. Integrating :math:`\\delta_s` out under a flat prior gives
back :math:`-n_s\\log\\sum_j\\exp(\\dots)` plus a constant, the multinomial likelihood exactly (the
Poisson count of records factorises off: Fithian & Hastie 2013, Renner et al. 2015); the offset
gets a vague ``N(log n_s, 10^2)`` prior. Centring at the species' presence means :math:`c_s`,
:math:`c^z_s` (design features) makes the presence sum of the features vanish, so only counts
enter, and makes :math:`\\delta_s` orthogonal to :math:`\\beta_s` at the optimum (the score
equation sets the fitted mean of the features to :math:`c_s`), so a mean-field guide loses
nothing by treating them as independent. Species without presence records get no
presence-only term (as in the multinomial). With ``features="network"`` the features are not
centred (the network changes while it trains) and the presences are subsampled too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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
    draw_quantiles,
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
#: Sd of the vague normal prior on the species offsets of the minibatch presence-only term,
#: centred on ``log n_s`` (``n_s`` presence records of species ``s``).
_DELTA_PRIOR_SCALE = 10.0
#: Largest log-rate of the minibatch background term before ``exp`` (float32 overflows at 88).
_MAX_LOG_RATE = 60.0


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
        Number of SVI steps and Adam learning rate.
    batch_size
        ``None``: every SVI step uses all the data. A positive integer: every step uses a
        minibatch of that many background points, survey sites and (``features="network"``)
        presence records (all of a kind that has fewer), with the likelihood scaled to the
        whole data; memory then does not grow with the data (see the module docstring for
        the presence-only term's minibatch form).
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
    batch_size: int | None = None
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
        size = self.batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise InvalidInputError(
                f"batch_size={size!r} is not supported; give a positive integer (records of "
                "each kind per SVI step) or None (full batch)."
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
        self._sizes: dict[str, int] = {}
        self._background: np.ndarray | None = None
        self._use_bias = False
        self._n_factors = 0
        self._n_blocks = 0

    # ------------------------------------------------------------------ model pieces
    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            return x
        return self.net(x)

    def _global_latents(self, *, po_offset: bool = False) -> dict[str, torch.Tensor]:
        """Sample the global latents of :meth:`model`; ``po_offset`` adds the species offsets
        ``delta`` of the minibatch presence-only term. Returns them with ``beta`` ``(S, P)``."""
        import pyro
        import pyro.distributions as dist

        S = self.n_species
        P = self.n_feat
        dev = self.device
        zero = torch.zeros((), device=dev)
        one = torch.ones((), device=dev)
        out: dict[str, torch.Tensor] = {}
        mu = pyro.sample(
            "mu", dist.Normal(zero, one * self.config.prior_scale).expand([P]).to_event(1)
        )
        tau = pyro.sample(
            "tau", dist.HalfNormal(one * self.config.prior_scale).expand([P]).to_event(1)
        )
        with pyro.plate("species", S, dim=-1):
            out["alpha"] = pyro.sample("alpha", dist.Normal(-1.0 * one, 3.0 * one))
            eps = pyro.sample("eps", dist.Normal(zero, one).expand([P]).to_event(1))
            if self._n_factors:
                out["loadings"] = pyro.sample(
                    "loadings",
                    dist.Normal(zero, 0.5 * one).expand([self._n_factors]).to_event(1),
                )
            if self._n_blocks:
                out["sigma_block"] = pyro.sample(
                    "sigma_block", dist.HalfNormal(one * self.config.block_prior_scale)
                )
                with pyro.plate("survey_blocks", self._n_blocks, dim=-2):
                    out["b_block"] = pyro.sample("b_block", dist.Normal(zero, one))  # (blocks, S)
            if po_offset:
                out["delta"] = pyro.sample("delta", dist.Normal(zero, one * _DELTA_PRIOR_SCALE))
        out["beta"] = mu + tau * eps  # (S, P)
        return out

    def _bias_coefficients(self, n_bias: int) -> torch.Tensor:
        """Sample the shared observation-bias coefficients ``gamma`` ``(Q,)``."""
        import pyro
        import pyro.distributions as dist

        zero = torch.zeros((), device=self.device)
        scale = torch.ones((), device=self.device) * self.config.bias_prior_scale
        return pyro.sample("gamma", dist.Normal(zero, scale).expand([n_bias]).to_event(1))

    def model(self, batch: dict[str, torch.Tensor] | None = None) -> None:
        """Pyro model over the data stored by :meth:`fit`: all of it (``batch=None``) or one
        minibatch of it (a dict of rows and their indices, see :meth:`_minibatch_model`)."""
        import pyro

        if batch is not None:
            self._minibatch_model(batch)
            return
        t = self._tensors
        g = self._global_latents()
        beta = g["beta"]

        if "x_pres" in t:
            f_bg = self._features(t["x_bg"])
            f_pr = self._features(t["x_pres"])
            eta_bg = f_bg @ beta.T  # (n_bg, S)
            eta_pr = (f_pr * beta[t["pres_sp"]]).sum(-1)  # (n_pres,)
            if self._use_bias:
                gamma = self._bias_coefficients(t["z_bg"].shape[1])
                eta_bg = eta_bg + (t["z_bg"] @ gamma)[:, None]
                eta_pr = eta_pr + t["z_pres"] @ gamma
            # delta_s integrated out: multinomial likelihood of presences among background points
            log_norm = torch.logsumexp(eta_bg, dim=0)  # (S,)
            ll_po = eta_pr.sum() - (t["pres_count"] * log_norm).sum()
            pyro.factor("presence_only", ll_po)

        if "x_sv" in t:
            eta = self._survey_eta(g, t, pyro.plate("survey_sites", t["x_sv"].shape[0], dim=-1))
            ll = _cloglog_loglik(eta, t["y_sv"]) * t["mask_sv"]
            pyro.factor("survey", ll.sum())

    def _survey_eta(
        self,
        g: dict[str, torch.Tensor],
        rows: dict[str, torch.Tensor],
        plate: contextlib.AbstractContextManager[Any],
    ) -> torch.Tensor:
        """Linear predictor ``(n, S)`` of the survey rows, with their latent factors ``u``
        (sampled in ``plate``, the survey sites' plate) and block intercepts."""
        import pyro
        import pyro.distributions as dist

        eta = self._features(rows["x_sv"]) @ g["beta"].T + g["alpha"] + rows["offset"][:, None]
        if self._n_factors:
            zero = torch.zeros((), device=self.device)
            one = torch.ones((), device=self.device)
            with plate:
                u = pyro.sample("u", dist.Normal(zero, one).expand([self._n_factors]).to_event(1))
            eta = eta + u @ g["loadings"].T
        if self._n_blocks:
            eta = eta + (g["b_block"] * g["sigma_block"])[rows["block_sv"]]
        return eta

    def _survey_plate(self, batch: dict[str, torch.Tensor]) -> Any:
        """The subsampled plate of the survey sites of ``batch`` (model and guide share it)."""
        import pyro

        return pyro.plate("survey_sites", self._sizes["survey"], subsample=batch["sv_idx"], dim=-1)

    def _guide_plates(self, batch: dict[str, torch.Tensor] | None = None) -> list[Any]:
        """``create_plates`` of the minibatch guide: the survey plate, for the local ``u``."""
        if batch is None or "sv_idx" not in batch:
            return []
        return [self._survey_plate(batch)]

    def _minibatch_model(self, b: dict[str, torch.Tensor]) -> None:
        """The model on one minibatch; every data term is scaled by ``N / B`` by its plate.

        The presence-only part is the Poisson point-process form of the module docstring:
        ``t["log_count"] + delta`` is the species' log-rate, the features are centred at the
        species' presence means ``t["centre_x"]`` (zeros for network features) and the bias
        covariates at ``t["centre_z"]``.
        """
        import pyro

        t = self._tensors
        has_po = "pres_count" in t
        g = self._global_latents(po_offset=has_po)
        beta = g["beta"]
        if has_po:
            log_rate = t["log_count"] + g["delta"]  # (S,)
            eta_bg = self._features(b["x_bg"]) @ beta.T - (t["centre_x"] * beta).sum(-1)
            if self._use_bias:
                gamma = self._bias_coefficients(t["centre_z"].shape[1])
                eta_bg = eta_bg + (b["z_bg"] @ gamma)[:, None] - t["centre_z"] @ gamma
            # centred design features (and bias covariates) sum to zero over each species'
            # presences: only the counts remain of the presence sum
            pyro.factor("presence_only", (t["pres_count"] * log_rate).sum())
            if "x_pres" in b:
                with pyro.plate(
                    "presence_records", self._sizes["presence"], subsample=b["pres_idx"], dim=-1
                ):
                    f_pr = self._features(b["x_pres"])
                    pyro.factor("presence_features", (f_pr * beta[b["pres_sp"]]).sum(-1))
            with pyro.plate(
                "background_points", self._sizes["background"], subsample=b["bg_idx"], dim=-1
            ):
                rate = torch.exp((log_rate + eta_bg).clamp(max=_MAX_LOG_RATE))
                rate = rate * t["has_presences"]
                pyro.factor("background", -rate.sum(-1) / self._sizes["background"])
        if "x_sv" in b:
            with self._survey_plate(b):
                eta = self._survey_eta(g, b, contextlib.nullcontext())
                ll = _cloglog_loglik(eta, b["y_sv"]) * b["mask_sv"]
                pyro.factor("survey", ll.sum(-1))

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

        codes = None
        if data.has_survey and data.survey_block is not None and cfg.block_effect:
            _, codes = np.unique(np.asarray(data.survey_block), return_inverse=True)
            codes = codes.ravel().astype(np.int64)
            self._n_blocks = int(codes.max()) + 1
        minibatch = cfg.batch_size is not None
        stream: _Minibatches | None = None
        if minibatch:
            stream = self._minibatches(data, codes)
        else:
            t = self._data_tensors(data)
            if codes is not None:
                t["block_sv"] = torch.as_tensor(codes, dtype=torch.long, device=dev)
            self._tensors = t
        # with minibatches the held-out data stay on the CPU and are scored in chunks
        val_t = None
        if validation is not None:
            val_t = self._validation_tensors(validation, "cpu" if minibatch else dev)

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
            guide = self._build_guide(minibatch)
            # the guide's arguments: none (all data) or a minibatch; a fixed one to build the
            # guide and to draw from it
            probe: tuple[Any, ...] = () if stream is None else (stream.probe(dev),)
            with torch.no_grad():
                guide(*probe)  # build the guide's parameters before the optimizer collects them
            module = _SVIModule(self, guide).to(dev)
            elbo = Trace_ELBO()
            n_obs = _n_observations(data)

            def loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
                args = (batch,) if minibatch else ()
                return elbo.differentiable_loss(self.model, guide, *args) / n_obs

            val_loss_fn: LossFn | None = None
            if val_t is not None:
                heldout = val_t

                def val_loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
                    return self.heldout_loss(guide, heldout, chunk=cfg.batch_size)

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
            # minibatch gradients are noisy: without early stopping (which keeps the best
            # step) the parameters are averaged over the second half of the steps
            average = _TailAverage(module, cfg.steps // 2) if minibatch and val_t is None else None
            trainer = Trainer(
                train_cfg,
                loss_fn=loss_fn,
                val_loss_fn=val_loss_fn,
                callbacks=() if average is None else (average,),
            )
            try:
                result = trainer.fit(
                    module, [0] if stream is None else stream, [0] if val_t is not None else None
                )
            except TrainingDivergedError as err:
                raise InvalidInputError(
                    f"SVI diverged ({err}); lower lr={cfg.lr} or check the covariates for "
                    "extreme values."
                ) from err
            if average is not None:
                average.apply()
            self.losses = [h["train_loss"] for h in result.history]
            self.val_losses = [h["val_loss"] for h in result.history] if val_t is not None else []
            self.steps_run_ = result.epochs_run
            self.best_step_ = result.best_epoch if val_t is not None else result.epochs_run
            self.draws = self._draw_posterior(guide, probe)
        self._tensors = {}
        self._background = None
        return self

    def _build_guide(self, minibatch: bool) -> torch.nn.Module:
        """The autoguide of ``config.guide``; with minibatches its local latents (the factors
        ``u``) follow the survey plate's subsample, a low-rank guide covering the globals."""
        from pyro import poutine
        from pyro.infer.autoguide import (
            AutoGuideList,
            AutoLowRankMultivariateNormal,
            AutoNormal,
        )

        cfg = self.config
        if not minibatch:
            if cfg.guide == "lowrank":
                return AutoLowRankMultivariateNormal(
                    self.model, rank=cfg.guide_rank, init_scale=0.05
                )
            return AutoNormal(self.model, init_scale=0.05)
        if cfg.guide == "normal":
            return AutoNormal(self.model, init_scale=0.05, create_plates=self._guide_plates)
        if not self._n_factors:
            return AutoLowRankMultivariateNormal(self.model, rank=cfg.guide_rank, init_scale=0.05)
        # a joint low-rank guide cannot subsample: it covers the globals, AutoNormal the u
        guide = AutoGuideList(self.model, create_plates=self._guide_plates)
        guide.append(
            AutoLowRankMultivariateNormal(
                poutine.block(self.model, hide=["u"]), rank=cfg.guide_rank, init_scale=0.05
            )
        )
        guide.append(AutoNormal(poutine.block(self.model, expose=["u"]), init_scale=0.05))
        return guide

    def _minibatches(self, data: IntegratedData, block_codes: np.ndarray | None) -> _Minibatches:
        """Set the constants of :meth:`_minibatch_model` and return the stream of minibatches.

        Constants (``O(S x P)``, on the device): presence counts, their logs, which species
        have presences, and the species' presence means of the design features and bias
        covariates. The rows stay in host memory until a minibatch takes them.
        """
        assert self.config.batch_size is not None
        dev = self.device
        S = self.n_species
        parts: dict[str, dict[str, np.ndarray]] = {}
        t: dict[str, torch.Tensor] = {}
        self._sizes = {}
        self._background = None
        po = data._presence_arrays()
        if po is not None:
            x_bg, x_pres, species, z_bg, z_pres = (np.asarray(a) for a in po)
            species = species.astype(np.int64)
            count = np.bincount(species, minlength=S).astype(np.float64)

            def centre(a: np.ndarray) -> np.ndarray:
                sums = np.zeros((S, a.shape[1]))
                np.add.at(sums, species, np.asarray(a, dtype=np.float64))
                return (sums / np.maximum(count, 1.0)[:, None]).astype(np.float32)

            network = self.config.features == "network"
            centre_x = np.zeros((S, self.config.hidden), np.float32) if network else centre(x_pres)
            bg = {"x_bg": np.asarray(x_bg, dtype=np.float32)}
            if self._use_bias:
                bg["z_bg"] = np.asarray(z_bg, dtype=np.float32)
                t["centre_z"] = torch.as_tensor(centre(z_pres), device=dev)
            parts["bg_idx"] = bg
            if network:
                parts["pres_idx"] = {
                    "x_pres": np.asarray(x_pres, dtype=np.float32),
                    "pres_sp": species,
                }
                self._sizes["presence"] = len(x_pres)
            self._sizes["background"] = len(x_bg)
            self._background = bg["x_bg"]
            t["pres_count"] = torch.as_tensor(count, dtype=torch.float32, device=dev)
            t["log_count"] = torch.log(t["pres_count"].clamp(min=1.0))
            t["has_presences"] = (t["pres_count"] > 0).float()
            t["centre_x"] = torch.as_tensor(centre_x, device=dev)
        sv = data._survey_arrays()
        if sv is not None:
            x_sv, y_sv, mask_sv, offset = sv
            rows = {"x_sv": x_sv, "y_sv": y_sv, "mask_sv": mask_sv, "offset": offset}
            if block_codes is not None:
                rows["block_sv"] = block_codes
            parts["sv_idx"] = rows
            self._sizes["survey"] = len(x_sv)
        self._tensors = t
        return _Minibatches(parts, self.config.batch_size, self.config.seed)

    def _data_tensors(
        self, data: IntegratedData, device: torch.device | str | None = None
    ) -> dict[str, torch.Tensor]:
        """The parts of ``data`` as tensors on ``device`` (default: the model's device; parts
        absent stay absent)."""
        dev = self.device if device is None else device

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

    def _validation_tensors(
        self, data: IntegratedData, device: torch.device | str
    ) -> dict[str, torch.Tensor]:
        """Tensors of held-out data for :meth:`heldout_loss` on ``device`` (parts absent stay
        absent)."""
        if data.n_species != self.n_species:
            raise InvalidInputError(
                f"validation data has {data.n_species} species but the training data "
                f"{self.n_species}; give both for the same species."
            )
        v = self._data_tensors(data, device)
        if not v:
            raise InvalidInputError(
                "the validation data hold neither presence records with background points "
                "nor survey sites; give held-out data of one of these kinds."
            )
        return v

    @torch.no_grad()
    def heldout_loss(
        self, guide: Any, v: dict[str, torch.Tensor], *, chunk: int | None = None
    ) -> torch.Tensor:
        """Negative log-likelihood per held-out observation at the guide's median.

        Presence-only records: the multinomial likelihood of the held-out presences among the
        held-out background points (the presence-only part of :meth:`model`). Surveys: the
        cloglog Bernoulli likelihood of the held-out detections with the latent factors
        integrated out (Gauss-Hermite), as a new site is predicted. Used for early stopping.
        ``chunk`` rows at a time are moved to the model's device (``None``: all at once), so
        memory stays bounded by the chunk.
        """
        med = guide.median()
        beta = med["mu"] + med["tau"] * med["eps"]  # (S, P)
        gamma = med["gamma"] if self._use_bias and "gamma" in med else None
        dev = self.device
        ll = torch.zeros((), device=dev)
        n = 0.0
        if "x_pres" in v:

            def eta_bg(sl: slice) -> torch.Tensor:  # (n, S)
                e = self._features(v["x_bg"][sl].to(dev)) @ beta.T
                return e if gamma is None else e + (v["z_bg"][sl].to(dev) @ gamma)[:, None]

            def eta_pr(sl: slice) -> torch.Tensor:  # (n,), each record's own species
                f = self._features(v["x_pres"][sl].to(dev))
                e = (f * beta[v["pres_sp"][sl].to(dev)]).sum(-1)
                return e if gamma is None else e + v["z_pres"][sl].to(dev) @ gamma

            lse = _logsumexp_parts(
                [torch.logsumexp(eta_bg(sl), dim=0) for sl in _chunks(len(v["x_bg"]), chunk)]
            )
            pres_sum = torch.zeros((), device=dev)
            for sl in _chunks(len(v["x_pres"]), chunk):
                pres_sum = pres_sum + eta_pr(sl).sum()
            ll = ll + pres_sum - (v["pres_count"].to(dev) * lse).sum()
            n += float(v["x_pres"].shape[0])
        if "x_sv" in v:
            sd = None
            if "loadings" in med:
                sd = med["loadings"].square().sum(-1).sqrt()  # (S,)
            for sl in _chunks(v["x_sv"].shape[0], chunk):
                rows = {k: v[k][sl].to(dev) for k in ("x_sv", "y_sv", "mask_sv", "offset")}
                eta = self._features(rows["x_sv"]) @ beta.T + med["alpha"]
                eta = eta + rows["offset"][:, None]
                if sd is not None:
                    nodes, weights = np.polynomial.hermite_e.hermegauss(12)
                    p = torch.zeros_like(eta)
                    for zk, wk in zip(nodes, weights / weights.sum(), strict=True):
                        p += float(wk) * -torch.expm1(
                            -torch.exp((eta + float(zk) * sd).clamp(max=15.0))
                        )
                else:
                    p = -torch.expm1(-torch.exp(eta.clamp(max=15.0)))
                p = p.clamp(1e-6, 1.0 - 1e-6)
                y, mask = rows["y_sv"], rows["mask_sv"]
                ll = ll + (mask * (y * torch.log(p) + (1.0 - y) * torch.log1p(-p))).sum()
                n += float(mask.sum())
        return -ll / max(n, 1.0)

    @torch.no_grad()
    def _draw_posterior(self, guide: Any, args: tuple[Any, ...] = ()) -> dict[str, torch.Tensor]:
        """``num_samples`` draws of the global latents from ``guide(*args)``."""
        import pyro

        pyro.set_rng_seed(self.config.seed + 1)
        keep = ("mu", "tau", "alpha", "eps", "loadings", "gamma", "sigma_block")
        draws: dict[str, list[torch.Tensor]] = {k: [] for k in keep}
        for _ in range(self.config.num_samples):
            sample = guide(*args)
            for k in keep:
                if k in sample:
                    draws[k].append(sample[k].detach())
        out = {k: torch.stack(v) for k, v in draws.items() if v}
        out["beta"] = out["mu"][:, None, :] + out["tau"][:, None, :] * out["eps"]
        del out["eps"]
        if self.mode == "presence-only":
            out["po_intercept"] = self._po_intercept(out["beta"])
        return out

    def _background_chunks(self) -> Iterator[torch.Tensor]:
        """The training background points on the device: all at once (full batch) or
        ``batch_size`` rows at a time from host memory (minibatches)."""
        if self._background is None:
            yield self._tensors["x_bg"]
            return
        for sl in _chunks(len(self._background), self.config.batch_size):
            yield torch.as_tensor(self._background[sl], device=self.device)

    def _po_intercept(self, beta: torch.Tensor) -> torch.Tensor:
        """Maxent cloglog intercept ``H - log sum_j exp(eta_j)`` per draw, ``(N, S)``: ``H``
        the entropy of the fitted distribution over the background points (two passes over
        them, so memory holds one chunk of ``(N, chunk, S)`` draws)."""

        def eta(x: torch.Tensor) -> torch.Tensor:
            return torch.einsum("np,dsp->dns", self._features(x), beta)  # (N, n, S)

        lse = _logsumexp_parts([torch.logsumexp(eta(x), dim=1) for x in self._background_chunks()])
        entropy: torch.Tensor | None = None
        for x in self._background_chunks():
            log_raw = eta(x) - lse[:, None, :]
            part = -(log_raw.exp() * log_raw).sum(1)
            entropy = part if entropy is None else entropy + part
        assert entropy is not None
        return entropy - lse

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
            q05[sl], q95[sl] = draw_quantiles(draws, [0.05, 0.95])
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
        return_probabilities: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Joint presence/absence samples of the whole community, ``(n, n_sites, S)`` uint8.

        Each sample takes one posterior draw, one latent factor vector per site and Bernoulli
        detections for all species at once, so residual co-occurrence between species (the latent
        factors) shows up as correlation between the species' columns.

        With ``return_probabilities`` also the detection probabilities each sample was drawn
        from, ``(n, n_sites, S)`` float32: given its draw and factors the species are
        independent, so expectations of products (co-occurrence) can average products of these
        probabilities instead of the 0/1 samples, with less Monte-Carlo noise.
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
        z = (torch.rand(p.shape, generator=gen) < p).to(torch.uint8).numpy()
        if return_probabilities:
            return z, p.to(torch.float32).numpy()
        return z

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


def _n_observations(data: IntegratedData) -> float:
    """Presence records plus surveyed (site, species) cells: the ELBO is divided by it."""
    n = 0.0
    if data._presence_arrays() is not None and data.x_presence is not None:
        n += float(len(data.x_presence))
    if data.has_survey and data.y_survey is not None:
        n += float(np.isfinite(np.asarray(data.y_survey, dtype=np.float32)).sum())
    return max(n, 1.0)


def _chunks(n: int, size: int | None) -> list[slice]:
    """Slices of ``size`` rows covering ``range(n)``; one slice of all without ``size``."""
    if size is None or n <= size:
        return [slice(0, n)]
    return [slice(i, i + size) for i in range(0, n, size)]


def _logsumexp_parts(parts: list[torch.Tensor]) -> torch.Tensor:
    """``logsumexp`` over rows from the ``logsumexp`` of each chunk of rows (one: itself)."""
    return parts[0] if len(parts) == 1 else torch.logsumexp(torch.stack(parts), dim=0)


class _Rows(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Aligned arrays of one kind of record; an item is the rows of a list of indices, with
    the indices themselves under ``index`` (the subsample of the record kind's plate)."""

    def __init__(self, arrays: dict[str, np.ndarray], index: str) -> None:
        self.arrays = arrays
        self.index = index
        self.n = len(next(iter(arrays.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        i = np.asarray(idx, dtype=np.int64)
        out = {k: torch.from_numpy(np.ascontiguousarray(a[i])) for k, a in self.arrays.items()}
        out[self.index] = torch.from_numpy(i)
        return out


class _Minibatches:
    """Endless seeded minibatches of every record kind; iterating yields one (one SVI step).

    Each kind (background points, presences, survey sites) has its own ``DataLoader`` whose
    sampler draws ``min(batch_size, n)`` records without replacement, reshuffling after each
    pass, from a generator seeded by ``seed`` (a kind with no more than ``batch_size`` records
    gives all of them, in order, every step); a minibatch is the union of one batch of each.
    """

    def __init__(self, parts: dict[str, dict[str, np.ndarray]], batch_size: int, seed: int):
        from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

        self.loaders: dict[str, DataLoader[dict[str, torch.Tensor]]] = {}
        self.rows: dict[str, _Rows] = {}
        self.sizes: dict[str, int] = {}
        for k, (index, arrays) in enumerate(parts.items()):
            rows = _Rows(arrays, index)
            size = min(batch_size, len(rows))
            gen = torch.Generator().manual_seed(seed * 7919 + k)
            # a batch of all rows keeps their order: a plate whose subsample is the whole
            # range does not index the guide's local parameters by it
            order = (
                SequentialSampler(range(len(rows)))
                if size == len(rows)
                else RandomSampler(range(len(rows)), generator=gen)
            )
            sampler = BatchSampler(order, size, drop_last=True)
            self.loaders[index] = DataLoader(rows, sampler=sampler, batch_size=None, generator=gen)
            self.rows[index], self.sizes[index] = rows, size
        self._iters: dict[str, Iterator[dict[str, torch.Tensor]]] = {}

    def _next(self, index: str) -> dict[str, torch.Tensor]:
        try:
            return next(self._iters[index])
        except (KeyError, StopIteration):
            self._iters[index] = iter(self.loaders[index])
            return next(self._iters[index])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        batch: dict[str, torch.Tensor] = {}
        for index in self.loaders:
            batch.update(self._next(index))
        yield batch

    def probe(self, device: torch.device) -> dict[str, torch.Tensor]:
        """A fixed minibatch (the first rows of each kind) on ``device``, to build and draw
        from the guide."""
        batch: dict[str, torch.Tensor] = {}
        for index, rows in self.rows.items():
            batch.update(rows[list(range(self.sizes[index]))])
        return {k: v.to(device) for k, v in batch.items()}


class _TailAverage:
    """Trainer callback: running mean of a module's parameters over the steps after
    ``start`` (Polyak-Ruppert averaging of stochastic-gradient iterates); :meth:`apply` loads
    it into the module."""

    def __init__(self, module: torch.nn.Module, start: int) -> None:
        self.module = module
        self.start = start
        self.count = 0
        self.mean: dict[str, torch.Tensor] = {}

    def __call__(self, epoch: int, logs: dict[str, float]) -> bool:
        if epoch > self.start:
            self.count += 1
            with torch.no_grad():
                for name, p in self.module.named_parameters():
                    if name not in self.mean:
                        self.mean[name] = p.detach().clone()
                    else:
                        self.mean[name] += (p.detach() - self.mean[name]) / self.count
        return False

    def apply(self) -> None:
        with torch.no_grad():
            for name, p in self.module.named_parameters():
                if name in self.mean:
                    p.copy_(self.mean[name])


class _SVIModule(torch.nn.Module):
    """Holds the trainable parts (shared network, guide) for :class:`ecocube.training.Trainer`."""

    def __init__(self, sdm: IntegratedSDM, guide: torch.nn.Module) -> None:
        super().__init__()
        self.guide = guide
        if sdm.net is not None:
            self.net = sdm.net
