"""Covariate encoding shared by the SDMs, and spatial features of the site coordinates.

:class:`CovariateEncoder` is the one design-matrix builder of every model: continuous covariates
scaled on a reference table (z-score or quantile-normal), optional standardised squares, and
one-hot categorical levels; its fitted state is a plain dict that the model stores with itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = [
    "LEVEL_ORDERS",
    "SCALINGS",
    "CovariateEncoder",
    "SpatialFourierBasis",
    "site_coordinates",
]

#: Scalings of the continuous covariates.
SCALINGS: tuple[str, ...] = ("zscore", "quantile")
#: Orders of the one-hot columns of a categorical covariate.
LEVEL_ORDERS: tuple[str, ...] = ("value", "text")
_UNKNOWN = ("error", "ignore")
#: Probabilities of the quantiles stored by the quantile scaling.
_QUANTILE_GRID = np.linspace(0, 1, 101)
#: Normal scores the stored quantiles map to (kept inside (0, 1) so the map stays finite).
_QUANTILE_PROBS = np.linspace(0.005, 0.995, 101)


def _level(v: Any) -> str:
    """Canonical text of a categorical value (``3``, ``3.0`` and ``"3"`` are one level)."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _as_number(level: str) -> float | None:
    """``level`` as a float when it is a number, else ``None``."""
    try:
        return float(level)
    except ValueError:
        return None


def _order_levels(levels: Iterable[str], order: str) -> list[str]:
    """Distinct ``levels`` in ``order``: ``"text"`` alphabetical; ``"value"`` numerically when
    every level is a number, else alphabetical."""
    unique = sorted(set(levels))
    if order == "text":
        return unique
    numbers = [_as_number(v) for v in unique]
    if all(n is not None for n in numbers):
        return [v for _, v in sorted(zip(numbers, unique, strict=True))]
    return unique


def _shorten(values: Sequence[str], limit: int = 10) -> str:
    """``values`` as a list for a message, the first ``limit`` and a count of the rest."""
    shown = repr(list(values[:limit]))
    return shown if len(values) <= limit else f"{shown[:-1]}, ... {len(values) - limit} more]"


def _strictly_increasing(q: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse tied quantiles (discrete covariates) so ``np.interp`` gets increasing x."""
    q_unique, first = np.unique(q, return_index=True)
    last = np.r_[first[1:] - 1, len(q) - 1]
    return q_unique, (p[first] + p[last]) / 2


@dataclass
class CovariateEncoder:
    """Turn a covariate table into a float32 design matrix.

    Columns of the output, in order: the continuous covariates scaled; with ``quadratic``
    their squares (of the scaled values), standardised; one 0/1 indicator per level of each
    categorical covariate. Scales, square statistics and levels are learnt by :meth:`fit` on a
    reference table (the study region: background points and survey sites, not the presences,
    so that the scale describes the landscape rather than where species were recorded).

    Parameters
    ----------
    covariates
        Continuous covariate columns, in order.
    categorical
        Categorical covariate columns (integer or text codes), one-hot encoded.
    quadratic
        Add the standardised squares of the scaled continuous covariates.
    scaling
        ``"zscore"``: ``(x - mean) / sd`` of the reference table; ``"quantile"``: each
        covariate mapped through its empirical distribution on the reference table (101
        quantiles, linear in between, clipped outside) to the standard normal scale, which
        tames skewed covariates.
    handle_unknown
        A categorical level absent at fit time: ``"error"`` raises at :meth:`transform`;
        ``"ignore"`` gives it all-zero indicators.
    level_order
        Order of a categorical covariate's indicator columns: ``"value"`` (numbers by value,
        text alphabetically) or ``"text"`` (alphabetically as text: ``1, 10, 2``).

    Attributes
    ----------
    mean_, std_
        ``(n_covariates,)`` mean and standard deviation (1 where constant) of the reference
        table, float64.
    sq_mean_, sq_std_
        ``(n_covariates,)`` mean and standard deviation of the squared scaled covariates.
    quantiles_
        ``(101, n_covariates)`` quantiles of the reference table (quantile scaling), else
        ``None``.
    levels_
        Levels of each categorical covariate as canonical text (``3``, ``3.0`` and ``"3"`` are
        the level ``"3"``), in column order.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"t": [1.0, 2.0, 3.0], "soil": [2, 1, 2]})
    >>> enc = CovariateEncoder(["t"], ["soil"], quadratic=True).fit(table)
    >>> enc.feature_names
    ['t', 't^2', 'soil=1', 'soil=2']
    >>> enc.transform(table).shape
    (3, 4)
    """

    covariates: Sequence[str] = ()
    categorical: Sequence[str] = ()
    quadratic: bool = False
    scaling: str = "zscore"
    handle_unknown: str = "error"
    level_order: str = "value"
    mean_: np.ndarray = field(init=False, repr=False)
    std_: np.ndarray = field(init=False, repr=False)
    sq_mean_: np.ndarray = field(init=False, repr=False)
    sq_std_: np.ndarray = field(init=False, repr=False)
    quantiles_: np.ndarray | None = field(init=False, repr=False, default=None)
    levels_: dict[str, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.covariates = tuple(str(c) for c in self.covariates)
        self.categorical = tuple(str(c) for c in self.categorical)
        both = sorted(set(self.covariates) & set(self.categorical))
        if both:
            raise InvalidInputError(
                f"columns {both} are listed as both continuous and categorical covariates; "
                "list each column once."
            )
        for name, value, valid in (
            ("scaling", self.scaling, SCALINGS),
            ("handle_unknown", self.handle_unknown, _UNKNOWN),
            ("level_order", self.level_order, LEVEL_ORDERS),
        ):
            if value not in valid:
                raise InvalidInputError(
                    f"{name} must be {' or '.join(repr(v) for v in valid)}, got {value!r}"
                )

    @classmethod
    def of_columns(
        cls, columns: Sequence[str], categorical: Sequence[str] = (), **options: Any
    ) -> CovariateEncoder:
        """An encoder of ``columns`` of which ``categorical`` is a subset (the rest continuous).

        Raises
        ------
        InvalidInputError
            A categorical column is not among ``columns``.
        """
        extra = [c for c in categorical if c not in columns]
        if extra:
            raise InvalidInputError(
                f"categorical columns {extra} are not among the covariates {list(columns)}"
            )
        return cls([c for c in columns if c not in categorical], categorical, **options)

    # ------------------------------------------------------------------ checks
    @property
    def columns(self) -> tuple[str, ...]:
        """Every input column: the continuous, then the categorical covariates."""
        return (*self.covariates, *self.categorical)

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_dict`) has set the scales and levels."""
        return hasattr(self, "levels_")

    def check(self, table: pd.DataFrame, what: str) -> None:
        """Raise unless ``table`` has every input column, without missing values.

        Raises
        ------
        InvalidInputError
            Naming the missing columns (and those present), or the columns with missing
            values and their row counts.
        """
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise InvalidInputError(
                f"{what} lacks the covariate columns {missing}; it has {list(table.columns)}"
            )
        nan = table[list(self.columns)].isna().sum()
        nan = nan[nan > 0]
        if len(nan):
            raise InvalidInputError(
                f"{what} has missing values in covariates: "
                + ", ".join(f"{k} ({v} rows)" for k, v in nan.items())
                + "; drop or impute those rows first"
            )

    # ------------------------------------------------------------------ fit
    def fit(
        self, table: pd.DataFrame, *, levels_from: pd.DataFrame | None = None
    ) -> CovariateEncoder:
        """Learn scales from ``table`` and categorical levels from it and ``levels_from``.

        Parameters
        ----------
        table
            Reference table (e.g. the background points) with every input column.
        levels_from
            More rows whose categorical levels are added (e.g. all training records, so a
            level seen only among the presences is known).
        """
        self.check(table, "the table to fit the encoder on")
        x = table[list(self.covariates)].to_numpy(dtype=np.float64)
        n_cov = len(self.covariates)
        if len(x):
            mean = x.mean(0)
            sd = x.std(0)
            self.mean_, self.std_ = mean, np.where(sd > 0, sd, 1.0)
        else:
            self.mean_, self.std_ = np.zeros(n_cov), np.ones(n_cov)
        self.quantiles_ = None
        if self.scaling == "quantile" and len(x):
            self.quantiles_ = np.quantile(x, _QUANTILE_GRID, axis=0)
        z = self._scale(x)
        if len(x):
            z2 = z**2
            sq_sd = z2.std(0)
            self.sq_mean_, self.sq_std_ = z2.mean(0), np.where(sq_sd > 0, sq_sd, 1.0)
        else:
            self.sq_mean_, self.sq_std_ = np.zeros(n_cov), np.ones(n_cov)
        self.levels_ = {}
        for c in self.categorical:
            values = [table[c]] + ([levels_from[c]] if levels_from is not None else [])
            seen = {_level(v) for col in values for v in pd.unique(col)}
            self.levels_[c] = _order_levels(seen, self.level_order)
        return self

    @property
    def feature_names(self) -> list[str]:
        """Names of the output columns."""
        self._check_fitted()
        names = list(self.covariates)
        if self.quadratic:
            names += [f"{c}^2" for c in self.covariates]
        for c in self.categorical:
            names += [f"{c}={lv}" for lv in self.levels_[c]]
        return names

    # ------------------------------------------------------------------ transform
    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise InvalidInputError("the encoder is not fitted; call fit(table) first")

    def _scale(self, x: np.ndarray) -> np.ndarray:
        """Continuous covariates ``(n, n_covariates)`` on the model's scale."""
        if self.quantiles_ is not None and x.shape[1]:
            from scipy.special import ndtri

            q = self.quantiles_
            return np.column_stack(
                [
                    ndtri(np.interp(x[:, j], *_strictly_increasing(q[:, j], _QUANTILE_PROBS)))
                    for j in range(x.shape[1])
                ]
            )
        return (x - self.mean_) / self.std_

    def _onehot(self, column: pd.Series, name: str) -> np.ndarray:
        """Indicators ``(n, n_levels)`` of ``column``'s levels (unseen levels per ``handle_unknown``)."""
        levels = self.levels_[name]
        numbers = [_as_number(v) for v in levels]
        if (
            pd.api.types.is_numeric_dtype(column)
            and not pd.api.types.is_bool_dtype(column)
            and all(n is not None for n in numbers)
        ):
            values = column.to_numpy(dtype=np.float64)
            onehot = values[:, None] == np.asarray(numbers, dtype=np.float64)[None, :]
        else:
            values = column.map(_level).to_numpy(dtype=object)
            onehot = values[:, None] == np.asarray(levels, dtype=object)[None, :]
        unseen = ~onehot.any(axis=1)
        if unseen.any() and self.handle_unknown == "error":
            bad = sorted({_level(v) for v in column.to_numpy()[unseen]})
            raise InvalidInputError(
                f"categorical covariate {name!r} has level(s) {_shorten(bad)} not seen at fit "
                f"time ({int(unseen.sum())} rows; known levels: {_shorten(levels)}); map them "
                "to a known level, drop those rows or refit with them."
            )
        return onehot.astype(np.float64)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Design matrix ``(len(table), len(feature_names))``, float32.

        Raises
        ------
        InvalidInputError
            The encoder is not fitted, a column is missing or has missing values, or (with
            ``handle_unknown="error"``) a categorical level was not seen at fit time.
        """
        self._check_fitted()
        self.check(table, "the covariate table")
        z = self._scale(table[list(self.covariates)].to_numpy(dtype=np.float64))
        parts = [z]
        if self.quadratic:
            parts.append((z**2 - self.sq_mean_) / self.sq_std_)
        for c in self.categorical:
            parts.append(self._onehot(table[c], c))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def fit_transform(self, table: pd.DataFrame) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`."""
        return self.fit(table).transform(table)

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """Settings and fitted state as plain JSON types (floats round-trip exactly)."""
        self._check_fitted()
        return {
            "covariates": list(self.covariates),
            "categorical": list(self.categorical),
            "quadratic": self.quadratic,
            "scaling": self.scaling,
            "handle_unknown": self.handle_unknown,
            "level_order": self.level_order,
            "mean": self.mean_.tolist(),
            "sd": self.std_.tolist(),
            "sq_mean": self.sq_mean_.tolist(),
            "sq_sd": self.sq_std_.tolist(),
            "quantiles": None if self.quantiles_ is None else self.quantiles_.tolist(),
            "levels": {c: list(v) for c, v in self.levels_.items()},
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CovariateEncoder:
        """The fitted encoder of :meth:`to_dict`.

        Dicts without ``scaling``, ``handle_unknown``, ``level_order`` or ``quantiles`` (model
        folders of format version 1) get ``"zscore"``, ``"error"``, ``"text"`` and none.

        Raises
        ------
        InvalidInputError
            A statistic's length differs from the number of covariates, or a categorical
            covariate has no levels.
        """
        enc = cls(
            state["covariates"],
            state.get("categorical", ()),
            quadratic=bool(state.get("quadratic", False)),
            scaling=state.get("scaling", "zscore"),
            handle_unknown=state.get("handle_unknown", "error"),
            level_order=state.get("level_order", "text"),
        )
        n = len(enc.covariates)
        stats = {}
        for key in ("mean", "sd", "sq_mean", "sq_sd"):
            default = [0.0 if "mean" in key else 1.0] * n
            stats[key] = np.asarray(state.get(key, default), dtype=np.float64)
            if stats[key].shape != (n,):
                raise InvalidInputError(
                    f"encoder state {key!r} has shape {stats[key].shape}, expected ({n},) for the "
                    f"covariates {list(enc.covariates)}"
                )
        enc.mean_, enc.std_ = stats["mean"], stats["sd"]
        enc.sq_mean_, enc.sq_std_ = stats["sq_mean"], stats["sq_sd"]
        quantiles = state.get("quantiles")
        if enc.scaling == "quantile" and n and quantiles is None:
            raise InvalidInputError(
                "encoder state has scaling='quantile' but no quantiles (a model saved before "
                "quantile scaling could be saved); refit the model"
            )
        enc.quantiles_ = None if quantiles is None else np.asarray(quantiles, dtype=np.float64)
        if enc.quantiles_ is not None and enc.quantiles_.shape != (len(_QUANTILE_GRID), n):
            raise InvalidInputError(
                f"encoder state 'quantiles' has shape {enc.quantiles_.shape}, expected "
                f"({len(_QUANTILE_GRID)}, {n})"
            )
        levels = state.get("levels", {})
        missing = [c for c in enc.categorical if not levels.get(c)]
        if missing:
            raise InvalidInputError(f"encoder state has no levels for categorical {missing}")
        enc.levels_ = {c: [str(v) for v in levels[c]] for c in enc.categorical}
        return enc


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
