"""Tiles of a cube's grid and a Zarr store written tile by tile that survives interruptions.

:func:`tile_grid` cuts a ``(y, x)`` grid into windows. :class:`TiledStore` writes an output of
the grid window by window (Zarr region writes on chunks aligned with the tiles, so memory
depends on the tile, not the region) into a hidden folder next to the target::

    .NAME.partial/          the unfinished output (kept when a run stops, for any reason)
        store.zarr/         the Zarr store (v2, chunks = tiles)
        job.json            what is being computed (grid, inputs, options)
        tiles/<index>       one empty file per finished tile, created after its data

Running the same job again resumes: finished tiles are skipped. A partial output of another
job is discarded with a warning. When every tile is done, :meth:`TiledStore.finish` writes the
completion marker (``ecocube:complete``) and consolidated metadata, and renames the store onto
the target in one step; the hidden folder is then removed. Two runs never write one partial
output at once: the second fails while the first holds the folder's lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import xarray as xr

from ecocube._atomic import check_replaceable, swap_into_place
from ecocube.catalog._cube_items import COMPLETE_ATTR
from ecocube.cube._zarr import check_cube_target
from ecocube.errors import EcocubeWarning, InvalidInputError

__all__ = [
    "PARTIAL_SUFFIX",
    "Layer",
    "Tile",
    "TiledStore",
    "partial_path",
    "tile_grid",
    "tile_size",
]

#: Suffix of the hidden folder of an unfinished output: ``.NAME.partial``.
PARTIAL_SUFFIX = ".partial"
_STORE = "store.zarr"
_JOB = "job.json"
_TILES = "tiles"
_ZARR_MARKERS = (".zgroup", ".zattrs", ".zmetadata", "zarr.json")


@dataclass(frozen=True)
class Tile:
    """A window of a ``(y, x)`` grid.

    Attributes
    ----------
    index
        Position in row-major order of the tiles (the same for any iteration order).
    row, col
        Position of the tile in the grid of tiles.
    y, x
        The window's row and column slices of the grid.
    """

    index: int
    row: int
    col: int
    y: slice
    x: slice

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the window."""
        return (self.y.stop - self.y.start, self.x.stop - self.x.start)


@dataclass(frozen=True)
class Layer:
    """A data variable of a :class:`TiledStore`: float32, NaN where no tile wrote it.

    Attributes
    ----------
    dims
        Dimension names, the last two ``("y", "x")``.
    chunks
        Zarr chunk per dimension (the tile size on ``y``/``x``).
    attrs
        Attributes (``long_name``, ``units``, ``grid_mapping``...).
    """

    dims: tuple[str, ...]
    chunks: tuple[int, ...]
    attrs: Mapping[str, Any]


def tile_size(size: Any, name: str = "tile") -> tuple[int, int]:
    """``size`` as ``(rows, columns)`` (one integer for a square); raise unless both are >= 1."""
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        size = (size, size)
    try:
        a, b = size
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{name}={size!r} must be two positive integers (rows, columns)"
        ) from err
    if any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in (a, b)):
        raise InvalidInputError(f"{name}={size!r} must be two positive integers (rows, columns)")
    return int(a), int(b)


def tile_grid(
    shape: tuple[int, int], size: tuple[int, int] | int, *, reverse_rows: bool = False
) -> list[Tile]:
    """Cut a ``(rows, columns)`` grid into tiles of at most ``size``.

    Parameters
    ----------
    shape
        Grid size ``(ny, nx)``.
    size
        Tile size ``(rows, columns)`` (one integer for square tiles); edge tiles are smaller.
    reverse_rows
        Return the last row of tiles first (e.g. north first on a grid whose ``y`` grows).

    Returns
    -------
    list of Tile
        Row by row of tiles, each row west to east.

    Raises
    ------
    InvalidInputError
        ``size`` or ``shape`` is not two positive integers.
    """
    ny, nx = tile_size(shape, "shape")
    ty, tx = tile_size(size, "tile")
    n_cols = -(-nx // tx)
    rows = range(-(-ny // ty))
    out = []
    for r in reversed(rows) if reverse_rows else rows:
        for c in range(n_cols):
            out.append(
                Tile(
                    index=r * n_cols + c,
                    row=r,
                    col=c,
                    y=slice(r * ty, min((r + 1) * ty, ny)),
                    x=slice(c * tx, min((c + 1) * tx, nx)),
                )
            )
    return out


def partial_path(out: str | os.PathLike[str]) -> Path:
    """The hidden folder of the unfinished output ``out``: ``.NAME.partial`` next to it."""
    out = Path(out)
    return out.parent / f".{out.name}{PARTIAL_SUFFIX}"


def _clear(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class TiledStore:
    """A Zarr store of one grid, written tile by tile, resumable and moved into place at the end.

    Use it as a context manager: :meth:`open` (inside the block) creates or resumes the
    store and returns the finished tiles; :meth:`write` and :meth:`mark_done` record a tile;
    :meth:`finish` completes it. Leaving the block without :meth:`finish` keeps the partial
    output for the next run.

    Parameters
    ----------
    out
        Target Zarr store (``*.zarr``).
    job
        JSON-serialisable description of what is computed; a partial output is resumed only
        by the same job.
    overwrite
        Replace an existing store at ``out`` when finishing.

    Raises
    ------
    InvalidInputError
        ``out`` exists and ``overwrite`` is false, is not a Zarr store, or lies under a file.
    """

    def __init__(
        self, out: str | os.PathLike[str], *, job: Mapping[str, Any], overwrite: bool = False
    ) -> None:
        self.out = check_cube_target(Path(out), overwrite=overwrite)
        self.partial = partial_path(self.out)
        self.job = json.loads(json.dumps(dict(job)))  # plain JSON, as it is compared on resume
        self._lock: int | None = None
        self._group: Any = None

    @property
    def store(self) -> Path:
        """The Zarr store inside the partial folder."""
        return self.partial / _STORE

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock (the partial output stays for the next run)."""
        self._group = None
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)
            self._lock = None

    def _acquire(self) -> None:
        self.partial.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.partial, os.O_RDONLY)
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            self._lock = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            os.close(fd)
            raise InvalidInputError(
                f"another run is writing {str(self.out)!r} (its unfinished output "
                f"{str(self.partial)!r} is locked); wait for it to end or choose another --out"
            ) from err
        self._lock = fd

    def open(self, coords: xr.Dataset, layers: Mapping[str, Layer]) -> set[int]:
        """Create the store or resume the partial output of the same job.

        Parameters
        ----------
        coords
            The output's coordinates (with their attributes, and ``spatial_ref``) and global
            attributes, without data variables.
        layers
            The data variables, created as empty Zarr arrays (metadata only: the cost does not
            grow with the number of chunks).

        Returns
        -------
        set of int
            Indices of the tiles already finished (empty for a new store).

        Warns
        -----
        EcocubeWarning
            A partial output of another job was found and discarded.
        """
        import zarr

        self._acquire()
        job_file = self.partial / _JOB
        if job_file.is_file() and (self.store / ".zgroup").is_file():
            try:
                previous = json.loads(job_file.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                previous = None
            if previous == self.job:
                tiles = self.partial / _TILES
                done = {int(p.name) for p in tiles.iterdir() if p.name.isdigit()}
                self._group = self._open_group()
                return done
            changed = (
                sorted(
                    k for k in set(previous) | set(self.job) if previous.get(k) != self.job.get(k)
                )
                if isinstance(previous, dict)
                else ["job.json unreadable"]
            )
            warnings.warn(
                f"discarding the unfinished output {str(self.partial)!r} of another run "
                f"(different {', '.join(changed)}); starting {str(self.out)!r} afresh",
                EcocubeWarning,
                stacklevel=3,
            )
        _clear(self.partial)
        coords.to_zarr(self.store, mode="w", consolidated=False, zarr_format=2)
        group = zarr.open_group(str(self.store), mode="r+", zarr_format=2)
        for name, layer in layers.items():
            group.create_array(
                name,
                shape=tuple(int(coords.sizes[d]) for d in layer.dims),
                chunks=layer.chunks,
                dtype="float32",
                fill_value=np.float32(np.nan),
                attributes={**dict(layer.attrs), "_ARRAY_DIMENSIONS": list(layer.dims)},
            )
        (self.partial / _TILES).mkdir()
        # written last: a partial folder without it was interrupted while being created
        job_file.write_text(json.dumps(self.job, indent=1), encoding="utf-8")
        self._group = self._open_group()
        return set()

    def _open_group(self) -> Any:
        import zarr

        return zarr.open_group(str(self.store), mode="r+", zarr_format=2)

    def write(self, tile: Tile, arrays: Mapping[str, np.ndarray]) -> None:
        """Write the window of ``tile`` of each named array (last two axes ``y``, ``x``)."""
        if self._group is None:
            raise InvalidInputError("TiledStore.write() before open()")
        for name, block in arrays.items():
            target = self._group[name]
            index = (slice(None),) * (target.ndim - 2) + (tile.y, tile.x)
            target[index] = block

    def mark_done(self, tile: Tile) -> None:
        """Record ``tile`` as finished (after its data is written)."""
        (self.partial / _TILES / str(tile.index)).touch()

    def finish(self, attrs: Mapping[str, Any] | None = None) -> Path:
        """Complete the store and move it onto the target; return the target.

        The global attributes ``attrs`` are added, then the completion marker, then the
        consolidated metadata; an existing target (allowed by ``overwrite``) is replaced.
        """
        import zarr

        if self._group is None:
            raise InvalidInputError("TiledStore.finish() before open()")
        group = self._group
        group.attrs.update(dict(attrs or {}))
        group.attrs[COMPLETE_ATTR] = True
        zarr.consolidate_metadata(str(self.store), zarr_format=2)
        check_replaceable(self.out, markers=_ZARR_MARKERS, what="a Zarr store")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        swap_into_place(self.store, self.out)
        self.close()
        shutil.rmtree(self.partial, ignore_errors=True)
        return self.out
