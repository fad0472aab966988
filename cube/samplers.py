"""Seeded batch samplers and loaders for point-centred datasets, and background points."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube._lazy import lazy_import
from ecocube.errors import InvalidInputError

__all__ = ["PointBatchSampler", "background_points", "point_loader"]

torch = lazy_import("torch")


class PointBatchSampler(torch.utils.data.Sampler):  # type: ignore[misc,name-defined]
    """Yields lists of indices (batches), shuffled reproducibly from ``seed`` and the epoch.

    Parameters
    ----------
    n
        Number of samples.
    batch_size
        Samples per batch (>= 1).
    shuffle
        Permute the indices every epoch (permutation seeded by ``seed + epoch``).
    seed
        Seed of the permutations.
    drop_last
        Drop the last incomplete batch.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size={batch_size!r} must be >= 1")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (the permutation depends on ``seed`` and ``epoch``)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            self.epoch += 1
        else:
            order = np.arange(self.n)
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)


def _identity(batch: Any) -> Any:
    return batch


def point_loader(
    dataset: Any,
    *,
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Any:
    """A ``torch.utils.data.DataLoader`` that fetches whole batches via ``__getitems__``.

    Batches are dicts of tensors (see :class:`ecocube.cube.PointPatchDataset`); the order is
    reproducible for a given ``seed``.
    """
    sampler = PointBatchSampler(
        len(dataset), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=_identity,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def background_points(
    cube: xr.Dataset, n: int, *, seed: int = 0, variable: str | None = None
) -> pd.DataFrame:
    """Random pixel centres where ``variable`` (default: the first variable) is valid.

    Returns
    -------
    pandas.DataFrame
        Columns ``x``, ``y`` in the cube CRS, ``n`` rows (sampled with replacement when the
        cube has fewer valid pixels than ``n``).
    """
    if n < 1:
        raise InvalidInputError(f"n={n!r} must be >= 1")
    name = variable or cube.ecocube.data_variables[0]
    if name not in cube.data_vars:
        raise InvalidInputError(
            f"variable={name!r} not in the cube; available: {list(cube.data_vars)}"
        )
    valid = np.flatnonzero(np.isfinite(np.asarray(cube[name].values)).ravel())
    if valid.size == 0:
        raise InvalidInputError(f"variable {name!r} has no valid pixel to sample background from")
    rng = np.random.default_rng(seed)
    pick = rng.choice(valid, size=n, replace=valid.size < n)
    rows, cols = np.unravel_index(pick, cube[name].shape[-2:])
    return pd.DataFrame({"x": cube["x"].values[cols], "y": cube["y"].values[rows]})
