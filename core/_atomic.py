"""Atomic replacement of outputs: folders (model folders, surrogates, Zarr stores) and files.

Every writer of a folder output builds it in a temporary sibling folder and then calls
:func:`swap_into_place`, so readers never see half an output and a failed write leaves the
previous one intact. :func:`check_replaceable` is called first (by the CLIs before any long
computation, and again by the writers): an existing folder is only ever replaced when it is an
output of the same kind, never a folder holding something else.

Single-file outputs (CSV tables, JSON reports, netCDF files) follow the same rule:
:func:`check_output_file` before the work (the path is not a folder, no parent of it is a file,
and an existing file is only replaced when allowed), then :func:`write_file_atomic`, which writes a
temporary sibling and renames it over the target.

Every temporary sibling comes from :func:`temporary_sibling`: it is named
``.NAME.tmp-<pid>-<hex>``, removed when the ``with`` block ends however it ends (an error,
Ctrl-C, SIGTERM through the CLI's handler), and temporaries that a killed process left behind
are swept before the next write of the same target.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ecocube.errors import InvalidInputError

__all__ = [
    "check_no_file_parent",
    "check_output_file",
    "check_replaceable",
    "swap_into_place",
    "sweep_stale_siblings",
    "temporary_sibling",
    "write_file_atomic",
]

#: ``<pid>-<hex>`` after the ``.NAME.tmp-`` prefix of a temporary sibling.
_TMP_ID = re.compile(r"(\d+)-[0-9a-f]{8}")


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


def check_no_file_parent(path: str | os.PathLike[str], label: str) -> None:
    """Raise when a parent of ``path`` is a file (missing parent folders are fine).

    ``label`` starts the message, e.g. ``"--out 'a/b.csv'"``.
    """
    ancestor = Path(path).parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent  # missing folders are created when the output is written
    if not ancestor.is_dir():
        raise InvalidInputError(
            f"{label}: {str(ancestor)!r} is a file, not a folder; choose another path."
        )


def check_output_file(
    path: str | os.PathLike[str], *, overwrite: bool = True, option: str = "--out"
) -> Path:
    """Raise unless ``path`` can receive a single-file output; return it as a ``Path``.

    Called before any long computation, so that a bad output path costs nothing.

    Parameters
    ----------
    path
        The output file about to be written.
    overwrite
        Whether an existing file may be replaced (else an error names ``--overwrite``).
    option
        The option that gave the path, for the message.

    Raises
    ------
    InvalidInputError
        ``path`` is a folder, one of its parents is a file, or it exists and ``overwrite``
        is false. Missing parent folders are fine: :func:`write_file_atomic` creates them.
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(
            f"{option} {str(target)!r} is a folder; give a file path (e.g. {str(target / 'out')!r})."
        )
    check_no_file_parent(target, f"{option} {str(target)!r}")
    if target.exists() and not overwrite:
        raise InvalidInputError(
            f"{option} {str(target)!r} already exists; pass --overwrite to replace it or choose "
            "another path."
        )
    return target


def _process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists on this machine (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_stale_siblings(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary siblings of ``target`` whose writing process no longer exists.

    A process killed outright (SIGKILL, power loss) cannot clean up; its temporary
    ``.NAME.tmp-<pid>-<hex>`` stays behind until this sweep, which :func:`temporary_sibling`
    runs before every write of ``target``. Temporaries of running processes are kept.

    Parameters
    ----------
    target
        The output whose temporaries to sweep.

    Returns
    -------
    list of pathlib.Path
        The temporaries removed.
    """
    target = Path(target)
    prefix = f".{target.name}.tmp-"
    if not target.parent.is_dir():
        return []
    removed = []
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        match = _TMP_ID.match(entry.name[len(prefix) :])
        if match is None or _process_alive(int(match.group(1))):
            continue
        _remove(entry)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def temporary_sibling(
    target: str | os.PathLike[str], *, directory: bool, suffix: str = ""
) -> Iterator[Path]:
    """Yield a fresh hidden path next to ``target``; remove whatever is left there at the end.

    The caller writes the output at the yielded path and moves it onto ``target`` (with
    :func:`os.replace` or :func:`swap_into_place`) inside the ``with`` block. Whatever still
    exists at the path when the block ends (normally or through any exception, including
    ``KeyboardInterrupt`` and ``SystemExit``) is deleted, so an interrupted write leaves no
    temporary behind. Missing parent folders of ``target`` are created, and stale temporaries of
    ``target`` left by dead processes are swept first (:func:`sweep_stale_siblings`).

    Parameters
    ----------
    target
        The output about to be written.
    directory
        Create the temporary as an empty folder (else nothing is created at the path).
    suffix
        Appended to the temporary name, for writers that infer the format from the suffix.

    Yields
    ------
    pathlib.Path
        ``target.parent / ".NAME.tmp-<pid>-<hex><suffix>"``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_siblings(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"
    if directory:
        tmp.mkdir()
    try:
        yield tmp
    finally:
        _remove(tmp)


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, then rename it to ``path``.

    Readers never see a half-written file, and a failed write leaves the previous file (if
    any) untouched and no temporary file behind. The temporary name keeps the suffix of
    ``path``, so writers that infer the format from it still work. Missing parent folders
    are created.
    """
    target = Path(path)
    with temporary_sibling(target, directory=False, suffix=target.suffix) as tmp:
        write(tmp)
        os.replace(tmp, target)
    return target
