"""Zarr conventions of ecocube: atomic writes and provenance attributes.

Any ``xarray.Dataset`` can be written with :func:`write_cube` (the ocean ingestion uses it too):
the store is written to a hidden temporary folder next to the target and renamed at the end, so
an interrupted build never leaves a store that looks complete at the target path. The STAC
Item of a store and its registration in a catalog are :func:`ecocube.catalog.register_cube`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ecocube._atomic import (
    check_no_file_parent,
    check_replaceable,
    swap_into_place,
    temporary_sibling,
)
from ecocube.catalog._assets import multihash_sha256
from ecocube.catalog._cube_items import COMPLETE_ATTR
from ecocube.data import sha256_of
from ecocube.errors import DatasetNotFoundError, InvalidInputError

__all__ = [
    "check_cube_target",
    "file_checksum",
    "open_cube",
    "write_cube",
]

#: Files that identify a Zarr store (v2 and v3): only such a folder is ever overwritten.
_ZARR_MARKERS = (".zgroup", ".zattrs", ".zmetadata", "zarr.json")


def file_checksum(path: Path | str) -> str:
    """SHA-256 of a file as a multihash hex string (``1220`` + digest), as STAC ``file:checksum``."""
    return multihash_sha256(sha256_of(path))


def _provenance(items: Iterable[Any] | None, ds: xr.Dataset) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "ecocube:sources" in ds.attrs:
        rows = json.loads(ds.attrs["ecocube:sources"])
    seen = {(r.get("item"), r.get("asset")) for r in rows}
    for it in items or ():
        if isinstance(it, Mapping):
            row = dict(it)
            if (row.get("item"), row.get("asset")) not in seen:
                rows.append(row)
            continue
        for key, asset in it.assets.items():
            if (it.id, key) in seen:
                continue
            rows.append(
                {
                    "item": it.id,
                    "collection": it.collection_id,
                    "asset": key,
                    "href": asset.get_absolute_href() or asset.href,
                    "checksum": asset.extra_fields.get("file:checksum"),
                }
            )
    cache: dict[str, str] = {}
    for row in rows:
        href = str(row.get("href") or "")
        local = href[7:] if href.startswith("file://") else href
        if not row.get("checksum") and local and "://" not in local and os.path.isfile(local):
            if local not in cache:
                cache[local] = file_checksum(local)
            row["checksum"] = cache[local]
    return rows


def check_cube_target(path: Path | str, *, overwrite: bool = False) -> Path:
    """Raise unless a cube can be written at ``path``; return it as a ``Path``.

    Called by :func:`write_cube` and by ``ecocube cube build`` before any work: the path
    exists and ``overwrite`` is false, it is a file or a folder that is not a Zarr store, or
    one of its parents is a file.
    """
    path = Path(path)
    check_no_file_parent(path, f"path={str(path)!r} (--out)")
    if path.exists() and not overwrite:
        raise InvalidInputError(
            f"path={str(path)!r} already exists; pass overwrite=True (--overwrite) or another path"
        )
    # overwrite replaces a Zarr store, never a folder holding something else
    check_replaceable(path, markers=_ZARR_MARKERS, what="a Zarr store")
    return path


def write_cube(
    ds: xr.Dataset,
    path: Path | str,
    *,
    items: Iterable[Any] | None = None,
    chunks: Mapping[str, int] | None = None,
    overwrite: bool = False,
    client: Any = None,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``ds`` to a Zarr store atomically, with provenance; return the store path.

    Parameters
    ----------
    ds
        Any dataset (lazy or in memory). Float64 data variables are stored as float32.
    path
        Target ``*.zarr`` folder.
    items
        Source pystac Items (or dicts with ``item``/``asset``/``href``/``checksum``) to record
        in the ``ecocube:sources`` attribute; local files get a SHA-256 multihash. Sources
        already listed by :func:`build_cube` are kept.
    chunks
        Dask chunk sizes per dimension (default: ``y``/``x`` 512, ``time`` 1).
    overwrite
        Replace an existing store (the old one is removed only after the new one is complete).
    client
        ``dask.distributed.Client`` that computes and writes the chunks.
    attrs
        Extra global attributes.

    Raises
    ------
    InvalidInputError
        When ``path`` exists and ``overwrite`` is False.
    """
    path = check_cube_target(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ds.copy()
    for name in list(out.data_vars):
        if out[name].dtype == np.float64:
            out[name] = out[name].astype(np.float32)
    want = {"y": 512, "x": 512, "time": 1, **(chunks or {})}
    out = out.chunk({d: min(want.get(str(d), n), n) for d, n in out.sizes.items()})
    for name in out.variables:
        out[name].encoding = {}
    from ecocube import __version__

    out.attrs.update(
        {
            "ecocube:sources": json.dumps(_provenance(items, ds)),
            "ecocube:version": __version__,
            "ecocube:created": datetime.now(UTC).isoformat(),
            "ecocube:variable_order": json.dumps([str(v) for v in out.data_vars]),
            **(attrs or {}),
        }
    )
    out.attrs.pop(COMPLETE_ATTR, None)
    with temporary_sibling(path, directory=False) as tmp:
        job = out.to_zarr(tmp, mode="w", compute=False, consolidated=True, zarr_format=2)
        if client is not None:
            client.compute(job).result()
        else:
            job.compute()
        # the marker goes last: a store without it was not finished
        import zarr

        group = zarr.open_group(str(tmp), mode="a", zarr_format=2)
        group.attrs[COMPLETE_ATTR] = True
        zarr.consolidate_metadata(str(tmp), zarr_format=2)
        check_replaceable(path, markers=_ZARR_MARKERS, what="a Zarr store")
        swap_into_place(tmp, path)
    return path


def open_cube(path: Path | str, *, chunks: Any = "auto") -> xr.Dataset:
    """Open a cube written by :func:`write_cube` (lazily, with dask).

    Raises
    ------
    DatasetNotFoundError
        When ``path`` does not exist.
    InvalidInputError
        When ``path`` is not a Zarr store, or the store is unreadable or lacks the completion
        marker (an interrupted or foreign write).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(
            f"cube={str(path)!r} does not exist; build it with `ecocube cube build ... --out {path}`"
        )
    import zarr.errors

    # zarr 3: NodeNotFoundError; zarr 2: GroupNotFoundError (both subclass ValueError)
    not_found = tuple(
        getattr(zarr.errors, name)
        for name in ("NodeNotFoundError", "GroupNotFoundError")
        if hasattr(zarr.errors, name)
    )
    try:
        ds = xr.open_zarr(path, chunks=chunks, consolidated=True)
    except (*not_found, FileNotFoundError) as err:
        raise InvalidInputError(
            f"{str(path)!r} is not an ecocube cube (no Zarr store found); give the path of a "
            "cube written by `ecocube cube build ... --out PATH`"
        ) from err
    except (KeyError, ValueError) as err:
        raise InvalidInputError(
            f"{str(path)!r} is a Zarr store but not a readable ecocube cube ({type(err).__name__}: "
            f"{err}); give the path of a cube written by `ecocube cube build`, or rebuild this "
            "one with `ecocube cube build ... --overwrite`"
        ) from err
    order = json.loads(ds.attrs.get("ecocube:variable_order", "[]"))
    if order and set(order) == set(map(str, ds.data_vars)):
        ds = ds[order]  # Zarr lists arrays alphabetically; keep the build order (bio1..bio19)
    if not ds.attrs.get(COMPLETE_ATTR):
        raise InvalidInputError(
            f"cube={str(path)!r} is not a complete ecocube store (no {COMPLETE_ATTR!r} marker); "
            "rebuild it with `ecocube cube build`"
        )
    if "spatial_ref" in ds.coords:
        import rioxarray  # noqa: F401

        crs = ds.spatial_ref.attrs.get("crs_wkt") or ds.spatial_ref.attrs.get("spatial_ref")
        if crs:
            ds = ds.rio.write_crs(crs)
    return ds
