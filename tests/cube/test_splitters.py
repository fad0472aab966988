"""Spatial-block splitters: no leakage, buffers, balance, determinism, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from ecocube.cube.splitters import (
    SpatialBlockKFold,
    assign_blocks,
    block_train_val_test_split,
    leakage_report,
    min_distance,
)
from ecocube.errors import InvalidInputError


@pytest.fixture
def points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    return rng.uniform(0, 1000, 3000), rng.uniform(0, 500, 3000)


def test_assign_blocks_grid() -> None:
    labels = assign_blocks(np.array([0.0, 9.9, 10.0, 25.0]), np.array([0.0, 0.0, 0.0, 11.0]), 10)
    assert labels[0] == labels[1] and len(set(labels.tolist())) == 3


def test_kfold_partitions_without_sharing_blocks(points: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = points
    cv = SpatialBlockKFold(block_size=100, n_splits=5, seed=1)
    blocks = assign_blocks(x, y, 100)
    seen = np.zeros(len(x), dtype=int)
    for train, test in cv.split(x, y):
        assert np.intersect1d(train, test).size == 0
        assert np.intersect1d(blocks[train], blocks[test]).size == 0
        assert len(train) + len(test) == len(x)
        seen[test] += 1
        # balanced: every fold holds 20 % +- 5 points of 100 blocks
        assert abs(len(test) / len(x) - 0.2) < 0.05
    assert (seen == 1).all()
    assert cv.get_n_splits() == 5


def test_buffer_enforces_minimum_distance(points: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = points
    for train, test in SpatialBlockKFold(block_size=100, n_splits=4, buffer=30).split(x, y):
        rep = leakage_report(x, y, {"train": train, "test": test})
        assert rep.loc[0, "min_distance"] >= 30
        assert rep.loc[0, "shared_rows"] == 0
    # without a buffer neighbouring blocks touch: the gap is much smaller
    train, test = next(SpatialBlockKFold(block_size=100, n_splits=4).split(x, y))
    assert leakage_report(x, y, {"train": train, "test": test}).loc[0, "min_distance"] < 10


def test_train_val_test_split(points: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = points
    s = block_train_val_test_split(x, y, 50, fractions=(0.6, 0.2, 0.2), buffer=20, seed=3)
    rep = leakage_report(x, y, s)
    assert list(rep["a"] + "-" + rep["b"]) == ["train-val", "train-test", "val-test"]
    assert (rep["min_distance"] >= 20).all() and (rep["shared_rows"] == 0).all()
    assert 0.1 < len(s.test) / len(x) < 0.3
    again = block_train_val_test_split(x, y, 50, fractions=(0.6, 0.2, 0.2), buffer=20, seed=3)
    assert np.array_equal(s.test, again.test) and np.array_equal(s.train, again.train)
    other = block_train_val_test_split(x, y, 50, fractions=(0.6, 0.2, 0.2), buffer=20, seed=4)
    assert not np.array_equal(s.test, other.test)


def test_min_distance_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 2)), rng.normal(size=(70, 2))
    brute = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(min_distance(a, b), brute)


def test_bad_inputs(points: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = points
    with pytest.raises(InvalidInputError, match="n_splits must be an integer >= 2"):
        SpatialBlockKFold(block_size=10, n_splits=1)
    with pytest.raises(InvalidInputError, match="buffer must be >= 0"):
        SpatialBlockKFold(block_size=10, buffer=-1)
    with pytest.raises(InvalidInputError, match="block_size must be a positive number"):
        SpatialBlockKFold(block_size=0)
    with pytest.raises(InvalidInputError, match="block_size must be a positive number"):
        assign_blocks(x, y, -5)
    with pytest.raises(InvalidInputError, match="fewer than n_splits=5"):
        list(SpatialBlockKFold(block_size=5000, n_splits=5).split(x, y))
    with pytest.raises(InvalidInputError, match="same length"):
        assign_blocks(x, y[:10], 10)
    with pytest.raises(InvalidInputError, match="are empty"):
        assign_blocks(np.array([]), np.array([]), 10)
    with pytest.raises(InvalidInputError, match="2 coordinates are NaN"):
        assign_blocks(np.array([0.0, np.nan, 1.0]), np.array([0.0, 1.0, np.inf]), 10)
    with pytest.raises(InvalidInputError, match="fractions must be three"):
        block_train_val_test_split(x, y, 50, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(InvalidInputError, match="buffer must be >= 0"):
        block_train_val_test_split(x, y, 50, buffer=-1)
    with pytest.raises(InvalidInputError, match="fewer than the 3 non-empty splits"):
        block_train_val_test_split(x, y, 1e6)
    with pytest.raises(InvalidInputError, match=r"outside 0\.\.2999"):
        leakage_report(x, y, {"a": np.array([0]), "b": np.array([5000])})
