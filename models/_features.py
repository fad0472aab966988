"""Covariate encoding shared by the SDMs: z-scoring fitted on background, categoricals one-hot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = ["TabularEncoder"]


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
