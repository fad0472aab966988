"""Covariate encoding shared by the SDMs: z-scoring fitted on background, categoricals one-hot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = ["SpatialFourierBasis", "TabularEncoder", "site_coordinates"]


@dataclass
class TabularEncoder:
    """Turn a covariate table into a float32 design matrix.

    Continuous columns are z-scored with the mean and standard deviation of the table given to
    :meth:`fit` (the background, so the scale describes the landscape rather than where species
    were recorded). Categorical columns become one-hot indicators of the levels seen at fit
    time.

    Parameters
    ----------
    covariates
        Every covariate column, in order.
    categorical
        The subset of ``covariates`` holding integer or string category codes.
    handle_unknown
        ``"error"``: a level unseen at fit time raises; ``"ignore"``: its indicators are all 0.
    scaling
        ``"zscore"`` (default) or ``"quantile"``: each continuous covariate mapped through
        its empirical distribution on the fitted table (101 quantiles, linear in between,
        clipped outside) to the standard normal scale, which tames skewed covariates.
    """

    covariates: Sequence[str]
    categorical: Sequence[str] = ()
    handle_unknown: str = "error"
    scaling: str = "zscore"
    mean_: np.ndarray = field(init=False, repr=False)
    std_: np.ndarray = field(init=False, repr=False)
    levels_: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.covariates = tuple(self.covariates)
        self.categorical = tuple(self.categorical)
        extra = [c for c in self.categorical if c not in self.covariates]
        if extra:
            raise InvalidInputError(
                f"categorical columns {extra} are not among the covariates {list(self.covariates)}"
            )
        if self.handle_unknown not in ("error", "ignore"):
            raise InvalidInputError(
                f"handle_unknown must be 'error' or 'ignore', got {self.handle_unknown!r}"
            )
        if self.scaling not in ("zscore", "quantile"):
            raise InvalidInputError(f"scaling must be 'zscore' or 'quantile', got {self.scaling!r}")
        self.continuous = tuple(c for c in self.covariates if c not in self.categorical)

    def _check(self, table: pd.DataFrame, what: str) -> None:
        missing = [c for c in self.covariates if c not in table.columns]
        if missing:
            raise InvalidInputError(
                f"{what} lacks the covariate columns {missing}; it has {list(table.columns)}"
            )
        nan = table[list(self.covariates)].isna().sum()
        nan = nan[nan > 0]
        if len(nan):
            raise InvalidInputError(
                f"{what} has missing values in covariates: "
                + ", ".join(f"{k} ({v} rows)" for k, v in nan.items())
                + "; drop or impute those rows first"
            )

    def fit(self, table: pd.DataFrame) -> TabularEncoder:
        """Learn scales and levels from ``table`` (the background sites)."""
        self._check(table, "the table to fit the encoder on")
        cont = table[list(self.continuous)].to_numpy(dtype=np.float64)
        self.mean_ = cont.mean(0) if len(cont) else np.zeros(0)
        std = cont.std(0) if len(cont) else np.ones(0)
        self.std_ = np.where(std > 0, std, 1.0)
        if self.scaling == "quantile" and len(cont):
            self.quantiles_ = np.quantile(cont, np.linspace(0, 1, 101), axis=0)
        self.levels_ = {c: np.unique(table[c].to_numpy()) for c in self.categorical}
        return self

    @property
    def feature_names(self) -> list[str]:
        """Names of the output columns."""
        names = list(self.continuous)
        for c in self.categorical:
            names += [f"{c}={v}" for v in self.levels_[c]]
        return names

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Design matrix, shape ``(n_rows, len(feature_names))``, float32."""
        if not hasattr(self, "mean_"):
            raise InvalidInputError("the encoder is not fitted; call fit(background) first")
        self._check(table, "the covariate table")
        raw = table[list(self.continuous)].to_numpy(dtype=np.float64)
        if self.scaling == "quantile" and raw.shape[1]:
            from scipy.special import ndtri

            probs = np.linspace(0.005, 0.995, 101)
            cont = np.column_stack(
                [
                    ndtri(np.interp(raw[:, j], *_strictly_increasing(self.quantiles_[:, j], probs)))
                    for j in range(raw.shape[1])
                ]
            )
        else:
            cont = (raw - self.mean_) / self.std_
        blocks = [cont]
        for c in self.categorical:
            values = table[c].to_numpy()
            levels = self.levels_[c]
            onehot = values[:, None] == levels[None, :]
            unseen = ~onehot.any(1)
            if unseen.any() and self.handle_unknown == "error":
                bad = sorted({str(v) for v in values[unseen]})
                raise InvalidInputError(
                    f"categorical covariate {c!r} has levels {bad} ({int(unseen.sum())} rows) "
                    f"unseen at fit time (known: {[str(v) for v in levels]}); drop those rows "
                    "or refit with them"
                )
            blocks.append(onehot.astype(np.float64))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def fit_transform(self, table: pd.DataFrame) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`."""
        return self.fit(table).transform(table)


def _strictly_increasing(q: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse tied quantiles (discrete covariates) so ``np.interp`` gets increasing x."""
    q_unique, first = np.unique(q, return_index=True)
    last = np.r_[first[1:] - 1, len(q) - 1]
    return q_unique, (p[first] + p[last]) / 2


def site_coordinates(table: pd.DataFrame, coords: Sequence[str]) -> np.ndarray:
    """The ``coords`` columns of ``table`` as a float array; clear errors if missing or NaN."""
    missing = [c for c in coords if c not in table.columns]
    if missing:
        raise InvalidInputError(
            f"coordinate columns {missing} are missing; the spatial features need {list(coords)}"
        )
    xy = table[list(coords)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        raise InvalidInputError(
            f"{int(bad.sum())} rows have NaN or infinite coordinates in {list(coords)}; "
            "drop them first"
        )
    return xy


@dataclass
class SpatialFourierBasis:
    """Random Fourier features of the site coordinates, a smooth spatial basis.

    ``cos(w . (xy - centre) / span + b)`` with ``w ~ N(0, 1 / length_scale^2)`` and
    ``b ~ U(0, 2 pi)`` (Rahimi & Recht 2007): a random-feature approximation of a Gaussian
    process with a squared-exponential kernel of length ``length_scale`` (as a fraction of the
    larger side of the fitted extent). Appended to the environmental covariates, it lets a
    model learn residual spatial structure (dispersal limits, history) that the covariates do
    not explain; with a target-group background, sampling bias shared by the group cancels.

    Parameters
    ----------
    n_features
        Number of cosine features.
    length_scale
        Kernel length as a fraction of the extent's larger side.
    seed
        Seed of the random frequencies and phases.
    prefix
        Name prefix of the feature columns (``prefix0``, ``prefix1``, ...).
    """

    n_features: int = 8
    length_scale: float = 0.7
    seed: int = 0
    prefix: str = "_sfb"
    centre_: np.ndarray = field(init=False, repr=False)
    span_: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_features < 1:
            raise InvalidInputError(f"n_features must be >= 1, got {self.n_features!r}")
        if not self.length_scale > 0:
            raise InvalidInputError(f"length_scale must be > 0, got {self.length_scale!r}")
        rng = np.random.default_rng(self.seed)
        self._w = rng.normal(size=(2, self.n_features)) / self.length_scale
        self._b = rng.uniform(0.0, 2 * np.pi, self.n_features)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names of the features."""
        return tuple(f"{self.prefix}{j}" for j in range(self.n_features))

    def fit(self, table: pd.DataFrame, coords: Sequence[str] = ("x", "y")) -> SpatialFourierBasis:
        """Fit the centre and extent on the training sites (never on evaluation sites)."""
        xy = site_coordinates(table, coords)
        self.centre_ = xy.mean(axis=0)
        self.span_ = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]), 1e-12))
        return self

    def transform(self, table: pd.DataFrame, coords: Sequence[str] = ("x", "y")) -> pd.DataFrame:
        """``table`` with the feature columns appended (a copy)."""
        if not hasattr(self, "centre_"):
            raise InvalidInputError("the spatial basis is not fitted; call fit(table) first")
        z = (site_coordinates(table, coords) - self.centre_) / self.span_ @ self._w + self._b
        feats = pd.DataFrame(np.cos(z), columns=list(self.names), index=table.index)
        return pd.concat([table, feats], axis=1)
