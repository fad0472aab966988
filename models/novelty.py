"""Novelty of covariates against the training data: MESS and out-of-range counts.

A map extrapolates where a cell's covariates lie outside what the model was trained on.
:class:`Novelty` is fitted on the training covariate table and scores any table or array of
covariates with

* the **multivariate environmental similarity surface** (MESS, Elith, Kearney & Phillips 2010,
  *Methods Ecol. Evol.* 1: 330-342): for each covariate the similarity of a value ``p`` to the
  reference values (``f`` = percentage of reference values below ``p``; ``min``/``max`` their
  range) is ``100 (p - min) / (max - min)`` when ``f = 0``, ``2 f`` when ``0 < f <= 50``,
  ``2 (100 - f)`` when ``50 <= f < 100`` and ``100 (max - p) / (max - min)`` when ``f = 100``;
  MESS is the smallest similarity over the covariates. It is negative where at least one
  covariate lies outside its training range, 0 at a training minimum, and at most 100 (all
  covariates at their training medians);
* the **count of covariates outside the training range**, and the covariate that limits the
  MESS (the most dissimilar one).

The reference distribution of each covariate is kept as sorted values: all of them when there
are at most ``max_knots``, otherwise ``max_knots`` evenly spaced order statistics (minimum and
maximum included), which makes ``f`` exact to within ``100 / max_knots`` percentage points. A
fitted object is a plain dict away (:meth:`Novelty.to_dict`), so a model can store it with its
state. Categorical covariates count as outside where a level was not seen in training
(similarity -100) and as fully similar elsewhere (100).

Examples
--------
>>> import numpy as np
>>> from ecocube.models.novelty import Novelty
>>> nov = Novelty.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), variables=["t"])
>>> nov.mess(np.array([[1.5], [4.0]])).round(1).tolist()
[100.0, -33.3]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = ["FORMAT", "Novelty"]

#: ``format`` of :meth:`Novelty.to_dict`.
FORMAT = "ecocube-novelty-1"


def _as_matrix(table: pd.DataFrame | np.ndarray, variables: Sequence[str], what: str) -> np.ndarray:
    """``(n, p)`` float64 matrix of ``variables`` from a table or an array."""
    if isinstance(table, pd.DataFrame):
        missing = [v for v in variables if v not in table.columns]
        if missing:
            raise InvalidInputError(
                f"{what} lacks the covariate columns {missing}; the novelty was fitted on "
                f"{list(variables)}"
            )
        try:
            return table[list(variables)].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"{what}: the covariate columns must be numeric ({err}); encode categories as "
                "integer codes"
            ) from err
    arr = np.asarray(table, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(variables):
        raise InvalidInputError(
            f"{what} must be a table or an array of shape (n, {len(variables)}) for the "
            f"covariates {list(variables)}; got shape {arr.shape}"
        )
    return arr


@dataclass(frozen=True, eq=False)
class Novelty:
    """MESS and out-of-range counts of covariates against a training table.

    Build it with :meth:`fit` (or :meth:`from_dict`); the fields are the fitted state.

    Attributes
    ----------
    variables
        Covariate names, in the order of the array columns :meth:`score` accepts.
    knots
        Per continuous covariate, the sorted reference values (all of them, or evenly spaced
        order statistics including the minimum and maximum).
    levels
        Per categorical covariate, the sorted levels seen in training.
    n_reference
        Number of training rows with finite values, per covariate.
    """

    variables: tuple[str, ...]
    knots: dict[str, np.ndarray] = field(default_factory=dict)
    levels: dict[str, np.ndarray] = field(default_factory=dict)
    n_reference: dict[str, int] = field(default_factory=dict)

    # -- fitting and serialisation ----------------------------------------------------------
    @classmethod
    def fit(
        cls,
        table: pd.DataFrame | np.ndarray,
        variables: Sequence[str] | None = None,
        *,
        categorical: Sequence[str] = (),
        max_knots: int = 1001,
    ) -> Novelty:
        """Fit on the training covariates (presence, background and survey sites alike).

        Parameters
        ----------
        table
            Training covariates: a DataFrame (``variables`` default: all its numeric
            columns) or an ``(n, p)`` array (``variables`` required). Rows with a NaN in a
            covariate are left out for that covariate.
        variables
            Covariate names.
        categorical
            Covariates holding class codes (seen levels instead of a range).
        max_knots
            Most reference values kept per continuous covariate (at least 2).

        Raises
        ------
        InvalidInputError
            No covariates, a covariate with no finite value, names and columns that disagree,
            a categorical name that is not a covariate, or ``max_knots < 2``.
        """
        if isinstance(max_knots, bool) or not isinstance(max_knots, int) or max_knots < 2:
            raise InvalidInputError(f"max_knots={max_knots!r} must be an integer >= 2")
        if variables is None:
            if not isinstance(table, pd.DataFrame):
                raise InvalidInputError(
                    "variables= is required when the training covariates are an array"
                )
            variables = [str(c) for c in table.select_dtypes("number").columns]
        names = tuple(str(v) for v in variables)
        if not names or len(set(names)) != len(names):
            raise InvalidInputError(
                f"variables={list(names)!r} must name at least one covariate, each once"
            )
        unknown = [c for c in categorical if c not in names]
        if unknown:
            raise InvalidInputError(
                f"categorical={unknown!r} are not among the covariates {list(names)}"
            )
        x = _as_matrix(table, names, "the training table")
        knots: dict[str, np.ndarray] = {}
        levels: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        for j, name in enumerate(names):
            col = x[:, j]
            col = np.sort(col[np.isfinite(col)])
            if col.size == 0:
                raise InvalidInputError(
                    f"covariate {name!r} has no finite value in the training table; drop it "
                    "or fix its nodata"
                )
            counts[name] = int(col.size)
            if name in categorical:
                levels[name] = np.unique(col)
            elif col.size <= max_knots:
                knots[name] = col
            else:
                ranks = np.round(np.linspace(0, col.size - 1, max_knots)).astype(np.int64)
                knots[name] = col[ranks]
        return cls(variables=names, knots=knots, levels=levels, n_reference=counts)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON-serialisable Python (lists of floats)."""
        return {
            "format": FORMAT,
            "variables": list(self.variables),
            "knots": {k: v.tolist() for k, v in self.knots.items()},
            "levels": {k: v.tolist() for k, v in self.levels.items()},
            "n_reference": dict(self.n_reference),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Novelty:
        """Rebuild from :meth:`to_dict`'s output.

        Raises
        ------
        InvalidInputError
            ``state`` is not a novelty state of this format.
        """
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            got = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise InvalidInputError(
                f"not a novelty state (format {got!r}, expected {FORMAT!r}); pass the dict "
                "written by Novelty.to_dict()"
            )
        try:
            names = tuple(str(v) for v in state["variables"])
            knots = {str(k): np.asarray(v, dtype=np.float64) for k, v in state["knots"].items()}
            levels = {str(k): np.asarray(v, dtype=np.float64) for k, v in state["levels"].items()}
            counts = {str(k): int(v) for k, v in state.get("n_reference", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InvalidInputError(f"damaged novelty state ({type(err).__name__}: {err})") from err
        if set(knots) | set(levels) != set(names) or set(knots) & set(levels):
            raise InvalidInputError(
                f"damaged novelty state: covariates {list(names)} but reference values for "
                f"{sorted(knots)} and levels for {sorted(levels)}"
            )
        if any(v.ndim != 1 or v.size == 0 for v in [*knots.values(), *levels.values()]):
            raise InvalidInputError("damaged novelty state: an empty reference distribution")
        return cls(variables=names, knots=knots, levels=levels, n_reference=counts)

    # -- scoring ----------------------------------------------------------------------------
    def similarity(self, table: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Per-covariate MESS similarity, ``(n, p)`` float64 (NaN where a covariate is NaN).

        Parameters
        ----------
        table
            A DataFrame with the covariate columns, or an ``(n, p)`` array in the order of
            :attr:`variables`.
        """
        x = _as_matrix(table, self.variables, "the covariates to score")
        out = np.full(x.shape, np.nan)
        for j, name in enumerate(self.variables):
            p = x[:, j]
            finite = np.isfinite(p)
            if name in self.levels:
                seen = np.isin(p, self.levels[name])
                out[:, j] = np.where(finite, np.where(seen, 100.0, -100.0), np.nan)
                continue
            ref = self.knots[name]
            lo, hi = ref[0], ref[-1]
            span = hi - lo if hi > lo else 1.0  # a constant covariate: distances in its units
            f = 100.0 * np.searchsorted(ref, p, side="left") / ref.size
            s = np.where(f <= 50.0, 2.0 * f, 2.0 * (100.0 - f))
            s = np.where(p <= lo, 100.0 * (p - lo) / span, s)  # f = 0 (at or below the minimum)
            s = np.where(p > hi, 100.0 * (hi - p) / span, s)  # f = 100 (above the maximum)
            out[:, j] = np.where(finite, s, np.nan)
        return out

    def mess(self, table: pd.DataFrame | np.ndarray) -> np.ndarray:
        """MESS of each row, ``(n,)`` float64: negative outside the training range.

        NaN where any covariate of the row is NaN.
        """
        return self.similarity(table).min(axis=1)

    def count_outside(self, table: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Number of covariates of each row outside the training range (or unseen levels).

        Returns ``(n,)`` int64; a NaN covariate does not count.
        """
        x = _as_matrix(table, self.variables, "the covariates to score")
        out = np.zeros(x.shape[0], dtype=np.int64)
        for j, name in enumerate(self.variables):
            p = x[:, j]
            if name in self.levels:
                out += np.isfinite(p) & ~np.isin(p, self.levels[name])
            else:
                ref = self.knots[name]
                out += (p < ref[0]) | (p > ref[-1])
        return out

    def score(self, table: pd.DataFrame | np.ndarray) -> dict[str, np.ndarray]:
        """MESS, out-of-range count and most dissimilar covariate of each row.

        Returns
        -------
        dict
            ``"mess"`` ``(n,)`` float64, ``"count"`` ``(n,)`` int64 and ``"most_dissimilar"``
            ``(n,)`` int64, the column index (in :attr:`variables`) of the covariate with the
            lowest similarity (-1 where a covariate is NaN).
        """
        x = _as_matrix(table, self.variables, "the covariates to score")
        sim = self.similarity(x)
        bad = np.isnan(sim).any(axis=1)
        filled = np.where(np.isnan(sim), np.inf, sim)
        return {
            "mess": np.where(bad, np.nan, filled.min(axis=1)),
            "count": self.count_outside(x),
            "most_dissimilar": np.where(bad, -1, filled.argmin(axis=1)),
        }
