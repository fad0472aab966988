"""Atomic replacement of output folders (model folders, surrogates, Zarr stores).

Every writer of a folder output builds it in a temporary sibling folder and then calls
:func:`swap_into_place`, so readers never see half an output and a failed write leaves the
previous one intact. :func:`check_replaceable` is called first (by the CLIs before any long
computation, and again by the writers): an existing folder is only ever replaced when it is an
output of the same kind, never a folder holding something else.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from ecocube.errors import InvalidInputError

__all__ = ["check_replaceable", "swap_into_place"]


def check_replaceable(path: str | os.PathLike[str], *, markers: Sequence[str], what: str) -> None:
    """Raise unless ``path`` is absent, an empty folder, or a folder holding one of ``markers``.

    Parameters
    ----------
    path
        The output folder about to be written.
    markers
        File names that identify an output of this kind (e.g. ``manifest.json``).
    what
        What the output is, for the message (e.g. ``"an ecocube model folder"``).

    Raises
    ------
    InvalidInputError
        ``path`` is a file, or a non-empty folder that is not ``what``.
    """
    target = Path(path)
    if not target.exists():
        return
    if not target.is_dir():
        raise InvalidInputError(
            f"{str(target)!r} exists and is a file, not {what}; choose another output path."
        )
    if any((target / m).exists() for m in markers) or not any(target.iterdir()):
        return
    raise InvalidInputError(
        f"{str(target)!r} exists and is not {what} (it holds other files, which would be lost); "
        "choose another output path or remove it."
    )


def swap_into_place(tmp: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Rename the finished folder ``tmp`` to ``target``; return ``target``.

    An existing ``target`` is first moved aside and deleted only once ``tmp`` is in place, so
    at every moment either the old or the new folder exists under its name's sibling.
    """
    tmp, target = Path(tmp), Path(target)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:  # put the previous output back
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target
