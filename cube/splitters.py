"""Spatial-block splitters without leakage: k-fold and train/validation/test indices.

Points are grouped into square blocks of ``block_size`` (in the units of the coordinates:
metres for projected CRSs, degrees for lon/lat) and whole blocks go to one split, so nearby,
spatially autocorrelated points never sit on both sides (Roberts et al. 2017, *Ecography*
40:913). An optional ``buffer`` also drops training points closer than ``buffer`` to any test
point. :func:`leakage_report` gives the minimum distance between every pair of splits.

Only NumPy and pandas are needed; SciPy's KD-tree is used for distances when installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = [
    "SpatialBlockKFold",
    "SplitIndices",
    "assign_blocks",
    "block_train_val_test_split",
    "leakage_report",
    "min_distance",
]


def _coords(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size == 0:
        raise InvalidInputError("x and y are empty; give at least one point")
    bad = int((~np.isfinite(x) | ~np.isfinite(y)).sum())
    if bad:
        raise InvalidInputError(f"{bad} coordinates are NaN or infinite; drop those points first")
    return x, y


def assign_blocks(
    x: np.ndarray, y: np.ndarray, block_size: float, *, origin: tuple[float, float] | None = None
) -> np.ndarray:
    """Label each point with the square block that holds it.

    Parameters
    ----------
    x, y
        Coordinates, shape ``(n,)``.
    block_size
        Side of a block, in coordinate units (> 0).
    origin
        Lower-left corner of the block grid; defaults to the minimum of ``x`` and ``y``.

    Returns
    -------
    numpy.ndarray
        Integer block labels, shape ``(n,)``, numbered from 0 in order of first appearance of
        the grid cell (row-major over the grid).
    """
    x, y = _coords(x, y)
    if not (np.isfinite(block_size) and block_size > 0):
        raise InvalidInputError(f"block_size must be a positive number, got {block_size!r}")
    x0, y0 = (x.min(), y.min()) if origin is None else origin
    col = np.floor((x - x0) / block_size).astype(np.int64)
    row = np.floor((y - y0) / block_size).astype(np.int64)
    cell = row * (int(col.max()) + 1 - min(0, int(col.min()))) + (col - min(0, int(col.min())))
    _, labels = np.unique(cell, return_inverse=True)
    return labels.astype(np.int64)


def min_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each point of ``a`` (shape ``(n, 2)``) to its nearest point of ``b``."""
    a = np.asarray(a, dtype=float).reshape(-1, 2)
    b = np.asarray(b, dtype=float).reshape(-1, 2)
    if len(a) == 0 or len(b) == 0:
        return np.full(len(a), np.inf)
    try:
        from scipy.spatial import cKDTree
    except ImportError:  # pragma: no cover - SciPy is present in every ecocube install we test
        out = np.empty(len(a))
        for start in range(0, len(a), 2048):
            d = a[start : start + 2048, None, :] - b[None, :, :]
            out[start : start + 2048] = np.sqrt((d**2).sum(-1)).min(1)
        return out
    return cKDTree(b).query(a, k=1)[0]


def _balanced_folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of every block: blocks in random order, each to the fold with fewest points."""
    blocks, counts = np.unique(labels, return_counts=True)
    order = rng.permutation(len(blocks))
    load = np.zeros(n_folds)
    fold_of = np.empty(len(blocks), dtype=np.int64)
    # Big blocks first (random tie-break) keeps the folds balanced.
    for i in sorted(order, key=lambda j: -counts[j]):
        f = int(np.argmin(load + rng.random(n_folds) * 1e-9))
        fold_of[i] = f
        load[f] += counts[i]
    return fold_of[np.searchsorted(blocks, labels)]


@dataclass(frozen=True)
class SpatialBlockKFold:
    """K-fold cross-validation over spatial blocks (scikit-learn ``split`` interface).

    Attributes
    ----------
    block_size
        Side of a square block in coordinate units.
    n_splits
        Number of folds (>= 2).
    buffer
        Training points closer than ``buffer`` to any test point are dropped from training.
    seed
        Seed of the random assignment of blocks to folds.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.uniform(0, 100, 500), rng.uniform(0, 100, 500)
    >>> folds = list(SpatialBlockKFold(block_size=20, n_splits=4).split(x, y))
    >>> len(folds)
    4
    """

    block_size: float
    n_splits: int = 5
    buffer: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n_splits, int) or self.n_splits < 2:
            raise InvalidInputError(f"n_splits must be an integer >= 2, got {self.n_splits!r}")
        if not self.buffer >= 0:
            raise InvalidInputError(f"buffer must be >= 0, got {self.buffer!r}")
        if not (np.isfinite(self.block_size) and self.block_size > 0):
            raise InvalidInputError(
                f"block_size must be a positive number, got {self.block_size!r}"
            )

    def fold_labels(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Fold (0..n_splits-1) of every point; shape ``(n,)``."""
        labels = assign_blocks(x, y, self.block_size)
        n_blocks = int(labels.max()) + 1
        if n_blocks < self.n_splits:
            raise InvalidInputError(
                f"only {n_blocks} blocks of size {self.block_size} hold points, fewer than "
                f"n_splits={self.n_splits}; use a smaller block_size or fewer splits"
            )
        return _balanced_folds(labels, self.n_splits, np.random.default_rng(self.seed))

    def split(self, x: np.ndarray, y: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, test_index)`` for each fold."""
        x, y = _coords(x, y)
        folds = self.fold_labels(x, y)
        xy = np.column_stack([x, y])
        for k in range(self.n_splits):
            test = np.flatnonzero(folds == k)
            train = np.flatnonzero(folds != k)
            if self.buffer > 0:
                train = train[min_distance(xy[train], xy[test]) >= self.buffer]
            yield train, test

    def get_n_splits(self, *args: object, **kwargs: object) -> int:
        """Number of folds (scikit-learn compatibility)."""
        return self.n_splits


@dataclass(frozen=True)
class SplitIndices:
    """Row indices of a train/validation/test split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}


def block_train_val_test_split(
    x: np.ndarray,
    y: np.ndarray,
    block_size: float,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    buffer: float = 0.0,
    seed: int = 0,
) -> SplitIndices:
    """Split points into train/validation/test sets made of whole spatial blocks.

    Blocks are shuffled and given to the splits until each holds about its fraction of the
    points. With ``buffer > 0`` training points closer than ``buffer`` to a validation or test
    point, and validation points closer than ``buffer`` to a test point, are dropped.

    Parameters
    ----------
    x, y
        Coordinates, shape ``(n,)``.
    block_size
        Side of a block in coordinate units.
    fractions
        Target fractions of points for train, validation and test (non-negative, sum 1;
        validation may be 0).
    buffer
        Minimum distance kept between splits, in coordinate units.
    seed
        Seed of the shuffling of blocks.
    """
    x, y = _coords(x, y)
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or (fr < 0).any() or not np.isclose(fr.sum(), 1.0):
        raise InvalidInputError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions!r}"
        )
    if not buffer >= 0:
        raise InvalidInputError(f"buffer must be >= 0, got {buffer!r}")
    labels = assign_blocks(x, y, block_size)
    blocks, counts = np.unique(labels, return_counts=True)
    needed = int((fr > 0).sum())
    if len(blocks) < needed:
        raise InvalidInputError(
            f"only {len(blocks)} blocks of size {block_size} hold points, fewer than the "
            f"{needed} non-empty splits asked for; use a smaller block_size"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(blocks))
    bounds = np.cumsum(fr) * len(x)
    split_of = np.empty(len(blocks), dtype=np.int64)
    done = 0.0
    for i in order:
        split_of[i] = int(np.searchsorted(bounds, done + counts[i] / 2, side="right"))
        done += counts[i]
    split_of = np.minimum(split_of, 2)
    # Every split with a positive fraction gets at least one block.
    for s in np.flatnonzero(fr > 0):
        if not (split_of == s).any():
            donor = int(np.argmax(np.bincount(split_of, minlength=3)))
            split_of[np.flatnonzero(split_of == donor)[0]] = s
    point_split = split_of[np.searchsorted(blocks, labels)]
    idx = [np.flatnonzero(point_split == s) for s in range(3)]
    if buffer > 0:
        xy = np.column_stack([x, y])
        held = np.concatenate([idx[1], idx[2]])
        idx[0] = idx[0][min_distance(xy[idx[0]], xy[held]) >= buffer]
        idx[1] = idx[1][min_distance(xy[idx[1]], xy[idx[2]]) >= buffer]
    return SplitIndices(train=idx[0], val=idx[1], test=idx[2])


def leakage_report(
    x: np.ndarray, y: np.ndarray, splits: Mapping[str, np.ndarray] | SplitIndices
) -> pd.DataFrame:
    """Minimum distance and shared rows between every pair of splits.

    Parameters
    ----------
    x, y
        Coordinates of all points, shape ``(n,)``.
    splits
        Name → row indices (e.g. ``SplitIndices.as_dict()`` or one k-fold's train/test).

    Returns
    -------
    pandas.DataFrame
        Columns ``a``, ``b``, ``n_a``, ``n_b``, ``shared_rows`` and ``min_distance`` (coordinate
        units; 0 when a location appears in both splits).
    """
    x, y = _coords(x, y)
    if isinstance(splits, SplitIndices):
        splits = splits.as_dict()
    xy = np.column_stack([x, y])
    names = list(splits)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ia = np.asarray(splits[a], dtype=np.int64)
            ib = np.asarray(splits[b], dtype=np.int64)
            for name, ix in ((a, ia), (b, ib)):
                if ix.size and (ix.min() < 0 or ix.max() >= len(x)):
                    raise InvalidInputError(
                        f"split {name!r} holds row indices outside 0..{len(x) - 1}"
                    )
            dist = min_distance(xy[ia], xy[ib])
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "n_a": ia.size,
                    "n_b": ib.size,
                    "shared_rows": int(np.intersect1d(ia, ib).size),
                    "min_distance": float(dist.min()) if dist.size else np.inf,
                }
            )
    return pd.DataFrame(rows)
