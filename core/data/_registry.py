"""Registry entries, fetching through pooch, and verification."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pooch

from ecocube.errors import DataIntegrityError, DatasetNotFoundError, InvalidInputError
from ecocube.settings import ENV_DATA_MIRROR, Settings, get_settings

__all__ = [
    "Dataset",
    "DatasetStatus",
    "FileEntry",
    "FileStatus",
    "dataset",
    "datasets",
    "fetch",
    "fetch_file",
    "list_datasets",
    "verify",
    "verify_datasets",
]


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset.

    Attributes
    ----------
    path
        Path relative to the dataset folder (POSIX separators).
    sha256
        Expected SHA-256 hex digest.
    size
        Size in bytes.
    url
        Direct canonical download URL, or ``None`` when the file was converted or cropped from
        its source and is only available from an ecocube mirror.
    derived_from
        Where a converted file came from (``None`` for byte copies).
    """

    path: str
    sha256: str
    size: int
    url: str | None
    derived_from: str | None


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: its files, source, licence and citation."""

    name: str
    subdir: str
    title: str
    source: str
    license: str
    citation: str
    files: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        """Total size of the dataset's files in bytes."""
        return sum(f.size for f in self.files)

    def file(self, path: str) -> FileEntry:
        """Return the entry of ``path``, raising with close matches if it is unknown."""
        for entry in self.files:
            if entry.path == path:
                return entry
        names = [f.path for f in self.files]
        close = [n for n in names if Path(n).name.lower() == Path(path).name.lower()][:3] or names[
            :5
        ]
        raise DatasetNotFoundError(
            f"dataset {self.name!r} has no file {path!r}; some of its files: {', '.join(close)} "
            f"(`ecocube data list` shows datasets; the registry has {len(names)} files here)"
        )


@cache
def _load() -> dict[str, Dataset]:
    text = resources.files("ecocube.data").joinpath("registry.json").read_text()
    raw: dict[str, dict[str, Any]] = json.loads(text)
    out = {}
    for name, entry in raw.items():
        files = tuple(FileEntry(path=p, **meta) for p, meta in entry["files"].items())
        out[name] = Dataset(
            name=name,
            subdir=entry["subdir"],
            title=entry["title"],
            source=entry["source"],
            license=entry["license"],
            citation=entry["citation"],
            files=files,
        )
    return out


def datasets() -> dict[str, Dataset]:
    """All registered datasets, by name."""
    return dict(_load())


def dataset(name: str) -> Dataset:
    """Return the registry entry of dataset ``name``.

    Raises
    ------
    DatasetNotFoundError
        If ``name`` is not registered; the message lists the valid names.
    """
    reg = _load()
    if name not in reg:
        raise DatasetNotFoundError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(reg))}"
        )
    return reg[name]


def list_datasets() -> Any:
    """Return a table of the registered datasets.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``title``, ``files``, ``size_mb``, ``license``, ``citation``, ``source``.
    """
    import pandas as pd

    rows = [
        {
            "name": d.name,
            "title": d.title,
            "files": len(d.files),
            "size_mb": round(d.size / 1e6, 2),
            "license": d.license,
            "citation": d.citation,
            "source": d.source,
        }
        for d in _load().values()
    ]
    return pd.DataFrame(rows)


def _copy_from_local(
    url: str, output_file: str | Any, pooch_obj: Any, check_only: bool = False
) -> bool | None:
    """A pooch downloader that copies from a local mirror directory."""
    src = Path(url)
    if check_only:
        return src.is_file()
    if not src.is_file():
        raise DatasetNotFoundError(
            f"{src} is missing from the mirror set by {ENV_DATA_MIRROR}; restore it or point "
            f"{ENV_DATA_MIRROR} at a complete copy of the ecocube data"
        )
    if hasattr(output_file, "write"):
        with src.open("rb") as fh:
            shutil.copyfileobj(fh, output_file)
    else:
        shutil.copyfile(src, output_file)
    return None


def _source_of(
    ds: Dataset, entry: FileEntry, settings: Settings
) -> tuple[str, Callable[..., Any] | None]:
    if settings.data_mirror is not None:
        if settings.mirror_is_local:
            return str(Path(settings.data_mirror) / ds.subdir / entry.path), _copy_from_local
        return f"{settings.data_mirror.rstrip('/')}/{ds.subdir}/{entry.path}", None
    if entry.url is None:
        raise DatasetNotFoundError(
            f"{ds.name}/{entry.path} was converted from {entry.derived_from} and has no direct "
            f"public download; set {ENV_DATA_MIRROR} to a directory or URL holding the ecocube "
            "data (in this repository: ../shared/data)"
        )
    return entry.url, None


def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of the file at ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_error(
    ds: Dataset,
    entry: FileEntry,
    url: str,
    settings: Settings,
    err: Exception,
    removed_stale: bool,
) -> DatasetNotFoundError:
    """One clear error for an HTTP(S) source that answered with an error or could not be reached."""
    import requests

    response = getattr(err, "response", None)
    if isinstance(err, requests.exceptions.HTTPError) and response is not None:
        reason = f" {response.reason}" if response.reason else ""
        problem = f"the server answered HTTP {response.status_code}{reason}"
    elif isinstance(err, requests.exceptions.Timeout):
        problem = "the server did not answer in time (timeout)"
    elif isinstance(err, requests.exceptions.ConnectionError):
        problem = "the server could not be reached (connection failed)"
    else:
        problem = f"the request failed ({type(err).__name__})"
    if settings.data_mirror is not None:
        fix = (
            f"check {ENV_DATA_MIRROR}={settings.data_mirror!r} (it must be a local directory or "
            "an http(s):// base URL laid out like shared/data, with the server running) and the "
            f"network, or unset {ENV_DATA_MIRROR} to use the canonical public source"
        )
    else:
        fix = (
            "check the network connection, or set "
            f"{ENV_DATA_MIRROR} to a directory or URL holding the ecocube data"
        )
    cache = "; the corrupt cached copy was removed" if removed_stale else ""
    return DatasetNotFoundError(
        f"{ds.name}/{entry.path}: could not download {url}: {problem}{cache}; {fix}"
    )


def _fetch_entry(ds: Dataset, entry: FileEntry, settings: Settings) -> Path:
    target_dir = settings.data_dir / ds.subdir
    target = target_dir / entry.path
    # Fast path: a verified file is already in the cache.
    stale: str | None = None  # what was wrong with a cached copy that failed verification
    if target.is_file():
        if target.stat().st_size == entry.size and sha256_of(target) == entry.sha256:
            return target
        found = sha256_of(target)
        stale = f"SHA-256 {found}" if found != entry.sha256 else "wrong size"
        # A cached copy that fails its checksum is useless: remove it now so that a failed
        # re-fetch below never leaves a corrupt file behind in the cache.
        target.unlink()
    url, downloader = _source_of(ds, entry, settings)
    import requests  # lazily: only a real fetch needs it

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch logs every copy at INFO; the CLI shows a progress bar
    try:
        path = pooch.retrieve(
            url=url,
            known_hash=f"sha256:{entry.sha256}",
            fname=Path(entry.path).name,
            path=target.parent,
            downloader=downloader,
            progressbar=False,
        )
    except ValueError as err:
        if "hash" not in str(err).lower():
            raise
        match = re.search(r"got:?\s*'?([0-9a-fA-F]{16,})", str(err))
        found = match.group(1) if match else "unknown"
        where = "the mirror" if settings.data_mirror is not None else "the canonical source"
        both = (
            f"both copies failed their checksum: the cached copy at {target} ({stale}) was "
            "removed and the corrupt download was discarded, so nothing is cached now"
            if stale is not None
            else "the corrupt download was discarded and nothing was cached"
        )
        raise DataIntegrityError(
            f"{ds.name}/{entry.path}: SHA-256 mismatch (expected {entry.sha256}, found {found}) "
            f"for the file at {url}; {both}. Replace the file at {where} with a good copy (or "
            f"check/unset {ENV_DATA_MIRROR} to use the canonical source) and fetch again"
        ) from err
    except requests.exceptions.RequestException as err:
        raise _source_error(ds, entry, url, settings, err, stale is not None) from err
    finally:
        logger.setLevel(level)
    return Path(path)


def fetch_file(name: str, path: str, *, settings: Settings | None = None) -> Path:
    """Fetch and verify one file of a dataset; return its local path in the cache.

    Parameters
    ----------
    name
        Dataset name (see :func:`list_datasets`).
    path
        File path relative to the dataset folder, e.g. ``"CHELSA_bio1_1981-2010_V.2.1.tif"``.
    settings
        Override the settings read from the environment.

    Returns
    -------
    pathlib.Path
        The verified local file.

    Raises
    ------
    DatasetNotFoundError
        If the dataset or file is unknown or missing at the source.
    DataIntegrityError
        If the fetched file's SHA-256 does not match the registry (nothing is cached then).
    """
    settings = settings or get_settings()
    ds = dataset(name)
    return _fetch_entry(ds, ds.file(path), settings)


def fetch(
    name: str,
    *,
    settings: Settings | None = None,
    progress: Callable[[Iterable[FileEntry]], Iterable[FileEntry]] | None = None,
) -> Path:
    """Fetch and verify every file of a dataset; return the dataset's local folder.

    Parameters
    ----------
    name
        Dataset name (see :func:`list_datasets`).
    settings
        Override the settings read from the environment.
    progress
        Optional wrapper around the iterable of files (e.g. a progress bar).

    Returns
    -------
    pathlib.Path
        Local folder holding the dataset's files, laid out as in the registry.
    """
    settings = settings or get_settings()
    ds = dataset(name)
    files: Iterable[FileEntry] = ds.files
    if progress is not None:
        files = progress(files)
    try:
        for entry in files:
            _fetch_entry(ds, entry, settings)
    finally:
        close = getattr(files, "close", None)  # a generator's display ends with the fetch
        if callable(close):
            close()
    return settings.data_dir / ds.subdir


@dataclass(frozen=True)
class FileStatus:
    """Verification result of one file: ``status`` is ``ok``, ``missing`` or ``mismatch``."""

    dataset: str
    path: str
    location: Path
    status: str
    expected: str
    found: str | None


def verify(
    names: Iterable[str] | None = None,
    *,
    where: str = "cache",
    settings: Settings | None = None,
) -> list[FileStatus]:
    """Check files against their registry checksums without downloading anything.

    Parameters
    ----------
    names
        Datasets to check (default: all).
    where
        ``"cache"`` checks ``ECOCUBE_DATA_DIR``; ``"mirror"`` checks the local mirror directory.
    settings
        Override the settings read from the environment.

    Returns
    -------
    list of FileStatus
        One result per registered file.

    Raises
    ------
    InvalidInputError
        If ``where`` is not ``"cache"`` or ``"mirror"``, or the mirror is not a local directory.
    """
    settings = settings or get_settings()
    if where == "cache":
        root = settings.data_dir
    elif where == "mirror":
        if not settings.mirror_is_local:
            raise InvalidInputError(
                f"where='mirror' needs {ENV_DATA_MIRROR} to be a local directory "
                f"(it is {settings.data_mirror!r})"
            )
        root = Path(str(settings.data_mirror))
    else:
        raise InvalidInputError(f"where={where!r} is not valid; use 'cache' or 'mirror'")
    out = []
    for name in names or list(_load()):
        ds = dataset(name)
        for entry in ds.files:
            loc = root / ds.subdir / entry.path
            if not loc.is_file():
                out.append(FileStatus(name, entry.path, loc, "missing", entry.sha256, None))
                continue
            found = sha256_of(loc)
            status = "ok" if found == entry.sha256 else "mismatch"
            out.append(FileStatus(name, entry.path, loc, status, entry.sha256, found))
    return out


@dataclass(frozen=True)
class DatasetStatus:
    """Verification result of one dataset.

    Attributes
    ----------
    name
        The dataset.
    status
        ``"verified"`` (every file present with its checksum), ``"not fetched"`` (no file of
        it in the cache, which is no error), ``"incomplete"`` (some files are missing: a fetch
        that did not finish, or a file deleted since) or ``"corrupt"`` (a file fails its
        checksum).
    files
        One result per file of the dataset.
    """

    name: str
    status: str
    files: tuple[FileStatus, ...]

    @property
    def problems(self) -> tuple[FileStatus, ...]:
        """The files that make the dataset incomplete or corrupt (none when not fetched)."""
        if self.status == "not fetched":
            return ()
        return tuple(f for f in self.files if f.status != "ok")


def verify_datasets(
    names: Iterable[str] | None = None,
    *,
    where: str = "cache",
    settings: Settings | None = None,
) -> list[DatasetStatus]:
    """Check datasets against their registry checksums and classify each one.

    A dataset none of whose files is in the cache was never fetched: ``"not fetched"``,
    not a problem. In the mirror, which must hold every dataset, missing files are always
    a problem (``"incomplete"``).

    Parameters
    ----------
    names
        Datasets to check (default: all).
    where
        ``"cache"`` or ``"mirror"``, as for :func:`verify`.
    settings
        Override the settings read from the environment.

    Returns
    -------
    list of DatasetStatus
        One result per dataset, in registry order.
    """
    by_name: dict[str, list[FileStatus]] = {}
    for result in verify(names, where=where, settings=settings):
        by_name.setdefault(result.dataset, []).append(result)
    out = []
    for name, files in by_name.items():
        found = {f.status for f in files}
        if "mismatch" in found:
            status = "corrupt"
        elif "missing" not in found:
            status = "verified"
        elif found == {"missing"} and where == "cache":
            status = "not fetched"
        else:
            status = "incomplete"
        out.append(DatasetStatus(name, status, tuple(files)))
    return out
