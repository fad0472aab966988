"""NCEAS experiment: do survey data and presence-only data together beat either alone?

For one survey group of one NCEAS region (Elith et al. 2020), the presence-absence (survey) sites
of the group are split into spatial blocks, half of the blocks become *training surveys* and the
other half are held out for testing. Three models are fitted with the same covariates and
settings: presence-only (presences + background), survey-only (training surveys) and integrated
(both); each is scored on the held-out surveys (AUC per species, expected calibration error of the
pooled probabilities, coverage of 90 % posterior predictive intervals of the detection counts,
as given by the model and after split-conformal calibration on the training surveys).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.models._features import CovariateEncoder
from ecocube.models.benchmark.nceas_data import NCEAS_GROUPS, load_nceas_group
from ecocube.models.evaluation import (
    auc,
    conformal_interval_factor,
    conformal_intervals,
    expected_calibration_error,
    interval_coverage,
)
from ecocube.models.integrated._model import (
    IntegratedConfig,
    IntegratedData,
    IntegratedSDM,
    PosteriorSummary,
)

__all__ = [
    "GROUPS",
    "MODELS",
    "GroupData",
    "block_count_intervals",
    "calibrate_count_intervals",
    "compare_group",
    "count_interval_coverage",
    "load_group",
    "select_prior_scale",
    "split_surveys",
]

#: (region, group) pairs with their own presence-absence survey files.
GROUPS: tuple[tuple[str, str], ...] = tuple(
    (r, g) for r, groups in NCEAS_GROUPS.items() for g in groups
)
#: The three data configurations compared.
MODELS: tuple[str, ...] = ("presence-only", "survey-only", "integrated")


@dataclass
class GroupData:
    """Raw tables of one survey group."""

    region: str
    group: str
    species: list[str]
    covariates: list[str]
    categorical: list[str]
    presence: pd.DataFrame  # presence-only records of the group's species
    background: pd.DataFrame
    sites: pd.DataFrame  # survey sites: siteid, x, y, covariates, one 0/1 column per species


def load_group(folder: str | Path | None, region: str, group: str) -> GroupData:
    """Read the presence-only, background and survey tables of one NCEAS survey group.

    Uses :func:`ecocube.models.benchmark.nceas_data.load_nceas_group`; ``folder`` defaults to the
    registry.
    """
    ng = load_nceas_group(region, group, root=None if folder is None else Path(folder))
    categorical = list(ng.categorical)
    covariates = [c for c in ng.covariates if c not in categorical]
    species = list(ng.species)
    if not (ng.test_env["siteid"].to_numpy() == ng.test_pa["siteid"].to_numpy()).all():
        raise InvalidInputError(f"{region} {group}: test_env and test_pa sites differ.")
    sites = pd.concat([ng.test_env, ng.test_pa[species]], axis=1)
    return GroupData(
        region=ng.region,
        group=ng.group,
        species=species,
        covariates=covariates,
        categorical=categorical,
        presence=ng.train_po,
        background=ng.train_bg,
        sites=sites,
    )


def split_surveys(
    sites: pd.DataFrame, *, n_blocks_side: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split survey sites in two halves of whole spatial blocks; return ``(train, test)`` indices.

    The block side is the larger extent of the sites divided by ``n_blocks_side``; blocks are
    assigned to the halves by :class:`ecocube.cube.splitters.SpatialBlockKFold` (two folds,
    balanced by number of sites).
    """
    from ecocube.cube.splitters import SpatialBlockKFold

    x = sites["x"].to_numpy(float)
    y = sites["y"].to_numpy(float)
    side = max(np.ptp(x), np.ptp(y)) / n_blocks_side
    folds = SpatialBlockKFold(block_size=float(side), n_splits=2, seed=seed).fold_labels(x, y)
    return np.flatnonzero(folds == 0), np.flatnonzero(folds == 1)


def _build(
    g: GroupData,
    enc: CovariateEncoder,
    train_idx: np.ndarray,
    *,
    use_po: bool,
    use_survey: bool,
    max_background: int,
    seed: int,
    n_blocks_side: int = 8,
) -> IntegratedData:
    S = len(g.species)
    data = IntegratedData(n_species=S)
    if use_po:
        rng = np.random.default_rng(seed)
        bg = g.background
        if len(bg) > max_background:
            bg = bg.iloc[np.sort(rng.choice(len(bg), max_background, replace=False))]
        sp_index = {s: i for i, s in enumerate(g.species)}
        data.x_background = enc.transform(bg)
        data.x_presence = enc.transform(g.presence)
        data.presence_species = g.presence["spid"].map(sp_index).to_numpy(np.int64)
    if use_survey:
        tr = g.sites.iloc[train_idx]
        data.x_survey = enc.transform(tr)
        data.y_survey = tr[g.species].to_numpy(np.float32)
        data.survey_offset = np.zeros(len(tr), np.float32)
        data.survey_block = _test_blocks(tr, n_blocks_side)
    return data


def block_count_intervals(
    y: np.ndarray,
    draws: np.ndarray,
    groups: np.ndarray,
    *,
    level: float = 0.9,
    replicates: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observed detection counts and their posterior predictive median and interval.

    For every group of sites (e.g. a spatial block) and every species, the number of
    detections is compared with its posterior predictive distribution (posterior draws of the
    probabilities, then ``replicates`` Bernoulli draws per posterior draw).

    Parameters
    ----------
    y
        ``(n_sites, S)`` observed 0/1.
    draws
        ``(N, n_sites, S)`` posterior draws of the detection probability.
    groups
        ``(n_sites,)`` group label of each site.
    level
        Central interval level.

    Returns
    -------
    (observed, median, lower, upper)
        One value per (group, species) unit, groups in sorted order.
    """
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    out: list[list[np.ndarray]] = [[], [], [], []]
    for gl in np.unique(groups):
        m = groups == gl
        p = draws[:, m, :]  # (N, m, S)
        sim = np.concatenate(
            [(rng.random(p.shape, dtype=np.float32) < p).sum(axis=1) for _ in range(replicates)]
        )  # (R * N, S)
        lo, med, hi = np.quantile(sim, [lo_q, 0.5, hi_q], axis=0)
        for acc, v in zip(out, (y[m].sum(0), med, lo, hi), strict=True):
            acc.append(v)
    obs, med, lo, hi = (np.concatenate(v) for v in out)
    return obs, med, lo, hi


def count_interval_coverage(
    y: np.ndarray, draws: np.ndarray, groups: np.ndarray, **options: Any
) -> tuple[float, int]:
    """Coverage of the posterior predictive intervals of :func:`block_count_intervals`.

    ``options``: ``level``, ``replicates``, ``seed``.

    Returns
    -------
    (coverage, n_units)
        Fraction of (species, group) units whose count lies in the interval, and their number.
    """
    obs, _, lo, hi = block_count_intervals(y, draws, groups, **options)
    return interval_coverage(obs, lo, hi), len(obs)


def _survey_halves(
    g: GroupData,
    enc: CovariateEncoder,
    train_idx: np.ndarray,
    model: str,
    *,
    max_background: int,
    n_blocks_side: int,
    seed: int,
) -> tuple[IntegratedData, pd.DataFrame]:
    """Training data of ``model`` on one block half of the training surveys, and the other half.

    The split used for choosing ``prior_scale`` and for calibrating intervals: the training
    surveys are split again into two halves of spatial blocks; presence-only data, when the
    model uses them, are all kept.
    """
    tr_sites = g.sites.iloc[train_idx].reset_index(drop=True)
    fit_idx, val_idx = split_surveys(tr_sites, n_blocks_side=n_blocks_side, seed=seed + 1)
    sub = GroupData(**{**g.__dict__, "sites": tr_sites})
    data = _build(
        sub,
        enc,
        fit_idx,
        use_po=model != "survey-only",
        use_survey=model != "presence-only",
        max_background=max_background,
        seed=seed,
        n_blocks_side=n_blocks_side,
    )
    return data, tr_sites.iloc[val_idx]


def calibrate_count_intervals(
    g: GroupData,
    enc: CovariateEncoder,
    train_idx: np.ndarray,
    model: str,
    *,
    config: IntegratedConfig,
    level: float = 0.9,
    max_background: int = 5000,
    n_blocks_side: int = 8,
    seed: int = 0,
    fitted: IntegratedSDM | None = None,
) -> float:
    """Split-conformal factor of the block-count intervals, from the *training* surveys only.

    The training surveys are split in two halves of spatial blocks (:func:`_survey_halves`, as
    in :func:`select_prior_scale`); the model is fitted on one half (plus the presence-only
    data when it uses them) and its block-count intervals on the other half give the
    calibration scores of :func:`~ecocube.models.evaluation.conformal_interval_factor`. The
    held-out test surveys are never read. ``fitted`` reuses that half-fit when
    :func:`select_prior_scale` already made it (same data, config and seed).
    """
    data, val = _survey_halves(
        g,
        enc,
        train_idx,
        model,
        max_background=max_background,
        n_blocks_side=n_blocks_side,
        seed=seed,
    )
    blocks = _test_blocks(val, n_blocks_side)
    m = fitted if fitted is not None else IntegratedSDM(replace(config, seed=seed)).fit(data)
    _, draws = _posterior(m, enc.transform(val), blocks, seed)
    obs, med, lo, hi = block_count_intervals(
        val[g.species].to_numpy(float), draws, blocks, level=level, seed=seed
    )
    return conformal_interval_factor(obs, med, lo, hi, level=level)


def compare_group(
    folder: str | Path | None,
    region: str,
    group: str,
    *,
    config: IntegratedConfig | None = None,
    max_background: int = 5000,
    n_blocks_side: int = 8,
    seed: int = 0,
    keep_draws: bool = False,
    models: tuple[str, ...] = MODELS,
    candidates: tuple[float, ...] | None = None,
    conformal: bool = False,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Fit presence-only, survey-only and integrated models on one group; score on held-out surveys.

    ``folder`` holds the NCEAS data (``None``: the data registry, see :func:`load_group`).

    Returns
    -------
    (table, extra)
        ``table`` has one row per model with columns ``region, group, model, n_species,
        n_train_surveys, n_test_surveys, auc, ece, coverage90, seconds``; ``extra`` holds the
        held-out ``y`` and each model's mean probabilities (and draws with ``keep_draws``).
        With ``candidates``, each model's ``prior_scale`` is chosen among them by
        :func:`select_prior_scale` on the training data (column ``prior_scale``).
        With ``conformal``, the block-count intervals are also calibrated on the training
        surveys (:func:`calibrate_count_intervals`; columns ``conformal_factor`` and
        ``coverage90_conformal``).
    """
    import time

    config = config or IntegratedConfig(seed=seed)
    g = load_group(folder, region, group)
    train_idx, test_idx = split_surveys(g.sites, n_blocks_side=n_blocks_side, seed=seed)
    enc = CovariateEncoder(g.covariates, g.categorical, quadratic=True, level_order="text")
    enc.fit(
        g.background, levels_from=pd.concat([g.presence[g.categorical], g.sites[g.categorical]])
    )
    test = g.sites.iloc[test_idx]
    x_test = enc.transform(test)
    y_test = test[g.species].to_numpy(float)
    blocks = _test_blocks(test, n_blocks_side)
    rows = []
    extra: dict[str, np.ndarray] = {"y": y_test}
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise InvalidInputError(f"unknown model(s) {unknown}; choose from {MODELS}.")
    for name in models:
        use_po, use_sv = name != "survey-only", name != "presence-only"
        tic = time.perf_counter()
        cfg = replace(config, seed=seed)
        half_fits: dict[float, IntegratedSDM] = {}
        if candidates:
            best, _ = select_prior_scale(
                g,
                enc,
                train_idx,
                name,
                candidates=candidates,
                config=cfg,
                max_background=max_background,
                n_blocks_side=n_blocks_side,
                seed=seed,
                fitted=half_fits,
            )
            cfg = replace(cfg, prior_scale=best)
        data = _build(
            g,
            enc,
            train_idx,
            use_po=use_po,
            use_survey=use_sv,
            max_background=max_background,
            seed=seed,
            n_blocks_side=n_blocks_side,
        )
        model = IntegratedSDM(cfg).fit(data)
        summ, draws = _posterior(model, x_test, blocks, seed)
        seconds = time.perf_counter() - tic
        aucs = [auc(y_test[:, s], summ.mean[:, s]) for s in range(len(g.species))]
        obs, med, lo, hi = block_count_intervals(y_test, draws, blocks, seed=seed)
        cov, n_units = interval_coverage(obs, lo, hi), len(obs)
        calibrated: dict[str, float] = {}
        if conformal:
            factor = calibrate_count_intervals(
                g,
                enc,
                train_idx,
                name,
                config=cfg,
                max_background=max_background,
                n_blocks_side=n_blocks_side,
                seed=seed,
                fitted=half_fits.get(cfg.prior_scale),
            )
            calibrated = {
                "conformal_factor": factor,
                "coverage90_conformal": interval_coverage(
                    obs, *conformal_intervals(med, lo, hi, factor)
                ),
            }
            seconds = time.perf_counter() - tic
        rows.append(
            {
                "region": region,
                "group": group,
                "model": name,
                "prior_scale": cfg.prior_scale,
                "n_species": int(np.isfinite(aucs).sum()),
                "n_train_surveys": len(train_idx),
                "n_test_surveys": len(test_idx),
                "auc": float(np.nanmean(aucs)),
                "ece": expected_calibration_error(y_test, summ.mean),
                "coverage90": cov,
                "coverage_units": n_units,
                **calibrated,
                "seconds": seconds,
            }
        )
        extra[name] = summ.mean
        if keep_draws:
            extra[f"{name}_draws"] = draws
    return pd.DataFrame(rows), extra


def _bernoulli_loglik(y: np.ndarray, p: np.ndarray) -> float:
    m = np.isfinite(y)
    p = np.clip(p[m], 1e-6, 1 - 1e-6)
    return float(np.mean(y[m] * np.log(p) + (1 - y[m]) * np.log1p(-p)))


def select_prior_scale(
    g: GroupData,
    enc: CovariateEncoder,
    train_idx: np.ndarray,
    model: str,
    *,
    candidates: tuple[float, ...] = (0.1, 0.3),
    config: IntegratedConfig,
    max_background: int = 5000,
    n_blocks_side: int = 8,
    seed: int = 0,
    fitted: dict[float, IntegratedSDM] | None = None,
) -> tuple[float, dict[float, float]]:
    """Choose ``prior_scale`` by spatial-block validation on the *training* data only.

    ``fitted``, when given, receives the half-fitted survey-only / integrated model of every
    candidate (for :func:`calibrate_count_intervals` to reuse).

    Survey-only and integrated models: the training surveys are split in two halves of spatial
    blocks; each candidate is fitted on one half (plus all presence-only data for the integrated
    model) and scored by the Bernoulli log-likelihood of the other half. Presence-only model: the
    presences are split by spatial blocks, and the held-out presences are scored by their
    multinomial log-likelihood among the background points (the Maxent test gain).

    Returns
    -------
    (best, scores)
        The chosen scale and the validation score (higher is better) of every candidate.
    """
    from ecocube.cube.splitters import SpatialBlockKFold

    scores: dict[float, float] = {}
    if model == "presence-only":
        pres = g.presence
        x, y = pres["x"].to_numpy(float), pres["y"].to_numpy(float)
        side = max(np.ptp(x), np.ptp(y)) / n_blocks_side
        folds = SpatialBlockKFold(block_size=float(side), n_splits=2, seed=seed).fold_labels(x, y)
        sub = GroupData(**{**g.__dict__, "presence": pres[folds == 0].reset_index(drop=True)})
        held = pres[folds == 1]
        x_held = enc.transform(held)
        sp_held = held["spid"].map({s: i for i, s in enumerate(g.species)}).to_numpy()
        data = _build(
            sub,
            enc,
            train_idx,
            use_po=True,
            use_survey=False,
            max_background=max_background,
            seed=seed,
            n_blocks_side=n_blocks_side,
        )
        for c in candidates:
            m = IntegratedSDM(replace(config, prior_scale=c, seed=seed)).fit(data)
            eta_held = m.log_intensity(x_held)[np.arange(len(held)), sp_held]
            eta_bg = m.log_intensity(cast(np.ndarray, data.x_background))  # set by use_po
            norm = np.log(np.exp(eta_bg - eta_bg.max(0)).sum(0)) + eta_bg.max(0)
            scores[c] = float(np.mean(eta_held - norm[sp_held]))
    else:
        data, val = _survey_halves(
            g,
            enc,
            train_idx,
            model,
            max_background=max_background,
            n_blocks_side=n_blocks_side,
            seed=seed,
        )
        x_val, y_val = enc.transform(val), val[g.species].to_numpy(float)
        for c in candidates:
            m = IntegratedSDM(replace(config, prior_scale=c, seed=seed)).fit(data)
            scores[c] = _bernoulli_loglik(y_val, m.predict(x_val).mean)
            if fitted is not None:
                fitted[c] = m
    best = max(scores, key=lambda c: scores[c])
    return best, scores


def _posterior(
    model: IntegratedSDM, x: np.ndarray, blocks: np.ndarray, seed: int
) -> tuple[PosteriorSummary, np.ndarray]:
    """Posterior summary and ``(N, n_sites, S)`` draws of the detection probability at ``x``.

    With block intercepts, each draw takes one intercept per block of ``blocks``; without,
    the intercepts are integrated out per site.
    """
    summ = model.predict(
        x, return_samples=True, blocks=blocks if model.has_block_effect else None, seed=seed
    )
    return summ, cast(np.ndarray, summ.samples)  # always set with return_samples=True


def _test_blocks(test: pd.DataFrame, n_blocks_side: int) -> np.ndarray:
    from ecocube.cube.splitters import assign_blocks

    x = test["x"].to_numpy(float)
    y = test["y"].to_numpy(float)
    side = max(np.ptp(x), np.ptp(y)) / max(n_blocks_side // 2, 1)
    return assign_blocks(x, y, float(side))
