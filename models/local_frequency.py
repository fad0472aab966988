"""Local record frequency: each species' share of the target-group records around a site.

Presence-only records of a survey group are spatially clustered by species (dispersal limits,
history, local habitat the covariates miss) *and* by observers (sampling bias). The share of a
species among all of its group's records near a site cancels the observers' effort, which the
group shares, and keeps the species' own spatial signal. A Nadaraya-Watson (Gaussian kernel)
estimate of that share, shrunk towards the species' overall share where few records are
nearby, is a spatial-interpolation predictor (Bahn & McGill 2007) that complements an
environmental model: :mod:`ecocube.models.benchmark.nceas` adds ``weight * log(share)`` to the
network's log-intensity (bandwidth and weight in its ``BENCHMARK_MODELS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.models._features import site_coordinates

__all__ = ["LocalRecordFrequency"]


@dataclass
class LocalRecordFrequency:
    """Kernel estimate of each species' share of the group's records around given sites.

    ``share_s(q) = (sum_i K(q - x_i) y_is + pi_s m) / (sum_i K(q - x_i) + m)`` over the distinct
    record sites ``x_i`` (``y_is = 1`` when species ``s`` was recorded there), with the Gaussian
    kernel ``K(d) = exp(-d^2 / 2h^2)`` (``K(0) = 1``, cut at ``4h``), ``pi_s`` the species' share of all sites
    and ``m`` the prior weight (in kernel units: ``m = 1`` is one record site at distance 0).

    Parameters
    ----------
    bandwidth
        Kernel standard deviation ``h`` as a fraction of the larger side of the fitted extent.
    prior_weight
        Shrinkage weight ``m`` towards the overall share.

    Examples
    --------
    >>> import pandas as pd
    >>> records = pd.DataFrame({"species": ["a", "a", "b"], "x": [0.0, 0.1, 5.0],
    ...                         "y": [0.0, 0.0, 5.0]})
    >>> lf = LocalRecordFrequency(bandwidth=0.05).fit(records)
    >>> share = lf.log_frequency(pd.DataFrame({"x": [0.0, 5.0], "y": [0.0, 5.0]}))
    >>> bool(share[0, 0] > share[1, 0])  # species "a" is more frequent near its records
    True
    """

    bandwidth: float = 0.02
    prior_weight: float = 0.5
    species_: tuple[str, ...] = field(init=False, default=(), repr=False)
    span_: float = field(init=False, default=float("nan"), repr=False)

    def __post_init__(self) -> None:
        if not self.bandwidth > 0:
            raise InvalidInputError(f"bandwidth must be > 0, got {self.bandwidth!r}")
        if not self.prior_weight > 0:
            raise InvalidInputError(f"prior_weight must be > 0, got {self.prior_weight!r}")

    def fit(
        self,
        records: pd.DataFrame,
        *,
        extent: pd.DataFrame | None = None,
        coords: Sequence[str] = ("x", "y"),
    ) -> LocalRecordFrequency:
        """Index the record sites of every species.

        Parameters
        ----------
        records
            Presence records: ``species`` and the coordinate columns (one row per record;
            several species may share a site).
        extent
            Sites whose extent sets the bandwidth's unit (default: the records'); e.g. the
            records and the region's background, never evaluation sites.
        coords
            Coordinate column names.
        """
        if "species" not in records.columns:
            raise InvalidInputError("records lacks the 'species' column")
        if records.empty:
            raise InvalidInputError("records is empty: the local frequency needs presence records")
        xy_all = site_coordinates(records, coords)
        codes, sites = pd.factorize(pd.MultiIndex.from_arrays(xy_all.T))
        species, sp_codes = np.unique(
            records["species"].astype(str).to_numpy(), return_inverse=True
        )
        labels = np.zeros((len(sites), len(species)))
        labels[codes, sp_codes] = 1.0
        ref = site_coordinates(extent, coords) if extent is not None else xy_all
        self.span_ = float(max(np.ptp(ref[:, 0]), np.ptp(ref[:, 1]), 1e-12))
        self.species_ = tuple(species)
        self._labels = labels.astype(np.float32)
        self._prior = labels.mean(axis=0)
        xy = np.array(sites.tolist(), dtype=np.float64)
        self._origin = xy.mean(axis=0)  # centred coordinates keep the distances exact
        self._sites = xy - self._origin
        self._sq = (self._sites**2).sum(1)
        return self

    def log_frequency(self, sites: pd.DataFrame, coords: Sequence[str] = ("x", "y")) -> np.ndarray:
        """``log share`` of every species (columns, ``species_`` order) at ``sites`` (rows)."""
        if not self.species_:
            raise InvalidInputError("the local frequency is not fitted; call fit(records) first")
        q = site_coordinates(sites, coords)
        h2 = (self.bandwidth * self.span_) ** 2
        p = self._sites
        num = np.empty((len(q), len(self.species_)))
        den = np.empty(len(q))
        step = max(1, 2**22 // max(len(p), 1))  # ~32 MB of kernel weights per chunk
        for a in range(0, len(q), step):
            qc = q[a : a + step] - self._origin
            d2 = (qc**2).sum(1)[:, None] + self._sq[None, :] - 2.0 * (qc @ p.T)
            # weights in float32 (their relative precision, 1e-7, is far below the noise)
            arg = (d2 * (-0.5 / h2)).astype(np.float32)
            arg[arg < -8.0] = -np.inf  # cut at 4 h
            kernel = np.exp(arg, out=arg)
            num[a : a + step] = kernel @ self._labels
            den[a : a + step] = kernel.sum(1)
        m = self.prior_weight
        num += self._prior * m
        den = den[:, None] + m
        return np.log(num / den)
