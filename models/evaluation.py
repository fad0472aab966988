"""Evaluation of species distribution models, per species and aggregated.

Discrimination: ROC AUC and the maximum true skill statistic (TSS). Presence-only fit: the
continuous Boyce index (Hirzel et al. 2006). Calibration: expected calibration error (ECE) and
the reliability curve. Uncertainty: empirical coverage of prediction intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from ecocube.errors import InvalidInputError

__all__ = [
    "auc",
    "boyce_index",
    "conformal_interval_factor",
    "conformal_intervals",
    "evaluate_species",
    "expected_calibration_error",
    "interval_coverage",
    "reliability_curve",
    "summarise",
    "tss",
]


def _binary(y: np.ndarray, score: np.ndarray, name: str = "y_true") -> tuple[np.ndarray, ...]:
    y = np.asarray(y).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InvalidInputError(
            f"{name} and the scores must have the same length, got {y.size} and {s.size}"
        )
    if not np.isin(y, (0, 1)).all():
        raise InvalidInputError(f"{name} must hold only 0 and 1, got values {np.unique(y)[:5]}")
    if np.isnan(s).any():
        raise InvalidInputError(f"the scores hold {int(np.isnan(s).sum())} NaN values")
    return y.astype(bool), s


def auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half; Mann-Whitney U / n1 n0).

    Returns NaN when ``y_true`` holds only one class.
    """
    y, s = _binary(y_true, score)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def tss(y_true: np.ndarray, score: np.ndarray) -> float:
    """Maximum true skill statistic (sensitivity + specificity - 1) over all thresholds."""
    y, s = _binary(y_true, score)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(~ys)
    last = np.r_[ss[1:] != ss[:-1], True]  # evaluate only between distinct scores
    stat = tp[last] / n1 - fp[last] / n0
    return float(max(stat.max(), 0.0))


def boyce_index(
    presence_scores: np.ndarray,
    background_scores: np.ndarray,
    *,
    n_windows: int = 100,
    window: float = 0.1,
) -> float:
    """Continuous Boyce index (Hirzel et al. 2006) with a moving window.

    The predicted-to-expected ratio ``P/E`` of presences is computed in ``n_windows``
    overlapping windows of width ``window`` × (score range) over the background scores; the
    index is the Spearman correlation between ``P/E`` and the window centre. +1 means more
    presences than expected ever higher up the score scale, 0 random, -1 inverse.
    """
    p = np.asarray(presence_scores, dtype=float).ravel()
    b = np.asarray(background_scores, dtype=float).ravel()
    if p.size == 0 or b.size == 0:
        raise InvalidInputError("boyce_index needs at least one presence and one background score")
    if not 0 < window <= 1:
        raise InvalidInputError(f"window must be in (0, 1], got {window!r}")
    lo, hi = min(p.min(), b.min()), max(p.max(), b.max())
    if hi <= lo:
        return float("nan")
    width = (hi - lo) * window
    starts = np.linspace(lo, hi - width, n_windows)
    pe, centres = [], []
    for a in starts:
        fp = ((p >= a) & (p <= a + width)).mean()
        fb = ((b >= a) & (b <= a + width)).mean()
        if fb > 0:
            pe.append(fp / fb)
            centres.append(a + width / 2)
    if len(pe) < 3 or np.ptp(pe) == 0:
        return float("nan")
    return float(spearmanr(centres, pe).statistic)


def reliability_curve(
    y_true: np.ndarray, probability: np.ndarray, *, n_bins: int = 10
) -> pd.DataFrame:
    """Observed frequency against mean predicted probability in equal-width bins.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_low``, ``bin_high``, ``mean_predicted``,
        ``observed``, ``count``.
    """
    y, p = _binary(y_true, probability)
    if (p < 0).any() or (p > 1).any():
        raise InvalidInputError("probabilities must lie in [0, 1] for calibration measures")
    if n_bins < 1:
        raise InvalidInputError(f"n_bins must be >= 1, got {n_bins!r}")
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for k in range(n_bins):
        m = idx == k
        if m.any():
            rows.append((edges[k], edges[k + 1], p[m].mean(), y[m].mean(), int(m.sum())))
    return pd.DataFrame(
        rows, columns=["bin_low", "bin_high", "mean_predicted", "observed", "count"]
    )


def expected_calibration_error(
    y_true: np.ndarray, probability: np.ndarray, *, n_bins: int = 10
) -> float:
    """ECE: count-weighted mean |observed - predicted| over the reliability bins."""
    curve = reliability_curve(y_true, probability, n_bins=n_bins)
    w = curve["count"] / curve["count"].sum()
    return float((w * (curve["observed"] - curve["mean_predicted"]).abs()).sum())


def interval_coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of observations inside their ``[lower, upper]`` interval."""
    y, lo, hi = (np.asarray(a, dtype=float).ravel() for a in (y, lower, upper))
    if not (y.shape == lo.shape == hi.shape):
        raise InvalidInputError(
            f"y, lower and upper must have one length, got {y.size}, {lo.size}, {hi.size}"
        )
    if (lo > hi).any():
        raise InvalidInputError(f"lower exceeds upper in {int((lo > hi).sum())} intervals")
    return float(((y >= lo) & (y <= hi)).mean())


def conformal_interval_factor(
    y: np.ndarray,
    centre: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    level: float = 0.9,
    min_half_width: float = 0.5,
) -> float:
    """Split-conformal widening factor of predictive intervals (normalised residual score).

    On calibration units never used for fitting, the score of each unit is its distance from
    ``centre`` in units of the interval's arm on that side: ``(centre - y) / (centre - lower)``
    below, ``(y - centre) / (upper - centre)`` above (each arm at least ``min_half_width``,
    e.g. half a count for discrete outcomes), so that skewed intervals (counts near zero) keep
    their shape and ``q = 1`` gives back the model's own interval. The returned factor ``q``
    is the ``ceil((n + 1) level) / n`` empirical quantile of the scores, so that the intervals
    of :func:`conformal_intervals` for new exchangeable units cover with probability
    >= ``level`` (Vovk et al. 2005; Lei et al. 2018; Romano et al. 2019). ``q > 1`` widens
    intervals that under-cover, ``q < 1`` narrows over-wide ones; the point predictions are
    untouched.

    Parameters
    ----------
    y
        Observed values of the calibration units.
    centre, lower, upper
        Predictive centre (e.g. median) and interval of each unit, same shape as ``y``.
    level
        Target coverage in (0, 1).
    min_half_width
        Floor of the half-width, so that zero-width intervals give finite scores.

    Returns
    -------
    float
        The factor ``q`` (``inf`` when there are too few units for the level).

    Raises
    ------
    InvalidInputError
        On mismatched shapes, an empty calibration set or a level outside (0, 1).
    """
    y, c, lo, hi = (np.asarray(a, dtype=float).ravel() for a in (y, centre, lower, upper))
    if not (y.shape == c.shape == lo.shape == hi.shape):
        raise InvalidInputError(
            f"y, centre, lower and upper must have one length, got {y.size}, {c.size}, "
            f"{lo.size}, {hi.size}"
        )
    if y.size == 0:
        raise InvalidInputError("no calibration units; conformal calibration needs at least one")
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be in (0, 1), got {level!r}")
    below, above = _arms(c, lo, hi, min_half_width)
    scores = np.sort(np.maximum((c - y) / below, (y - c) / above))
    k = int(np.ceil((y.size + 1) * level))
    return float(scores[k - 1]) if k <= y.size else float("inf")


def conformal_intervals(
    centre: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    factor: float,
    *,
    min_half_width: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``[centre - factor x lower arm, centre + factor x upper arm]``.

    The arms are those of :func:`conformal_interval_factor`; ``factor`` comes from it.
    """
    c = np.asarray(centre, dtype=float)
    below, above = _arms(c, np.asarray(lower, float), np.asarray(upper, float), min_half_width)
    return c - factor * below, c + factor * above


def _arms(
    centre: np.ndarray, lower: np.ndarray, upper: np.ndarray, min_arm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of an interval's arms below and above its centre, each at least ``min_arm``."""
    return np.maximum(centre - lower, min_arm), np.maximum(upper - centre, min_arm)


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"auc": auc, "tss": tss}


def evaluate_species(
    y_true: pd.DataFrame | Mapping[str, np.ndarray],
    scores: pd.DataFrame | Mapping[str, np.ndarray],
    *,
    calibration: bool = False,
) -> pd.DataFrame:
    """AUC, TSS (and ECE with ``calibration=True``) for every species.

    Parameters
    ----------
    y_true
        Presence (1) / absence (0) per site, one column per species.
    scores
        Predictions with the same columns and rows (probabilities for ECE).

    Returns
    -------
    pandas.DataFrame
        ``species``, ``n_presence``, ``n_absence``, ``auc``, ``tss`` (+ ``ece``).
    """
    yt = pd.DataFrame(y_true)
    sc = pd.DataFrame(scores)
    missing = [c for c in yt.columns if c not in sc.columns]
    if missing:
        raise InvalidInputError(f"scores lack the species columns {missing}")
    rows = []
    for sp in yt.columns:
        y, s = yt[sp].to_numpy(), sc[sp].to_numpy()
        row = {"species": sp, "n_presence": int((y == 1).sum()), "n_absence": int((y == 0).sum())}
        row.update({k: f(y, s) for k, f in _METRICS.items()})
        if calibration:
            row["ece"] = expected_calibration_error(y, s)
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(per_species: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Mean of every metric column (species weighted equally), overall or per ``by`` group."""
    metrics = [c for c in per_species.columns if c in ("auc", "tss", "ece", "boyce", "coverage")]
    if by is None:
        out = per_species[metrics].mean().to_frame().T
        out.insert(0, "n_species", len(per_species))
        return out
    if by not in per_species.columns:
        raise InvalidInputError(f"column {by!r} to group by is not in {list(per_species.columns)}")
    g = per_species.groupby(by, sort=False)
    out = g[metrics].mean()
    out.insert(0, "n_species", g.size())
    return out.reset_index()
