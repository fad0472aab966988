"""Fetch failures at the source: HTTP mirrors that answer an error or cannot be reached, and a
cache and mirror that are both corrupt."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecocube import data
from ecocube.cli import main
from ecocube.errors import DataIntegrityError, DatasetNotFoundError
from ecocube.settings import Settings

from ..conftest import requires_mirror


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real ``python -m http.server`` on a free loopback port serving an empty folder."""
    root = tmp_path / "served"
    root.mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("the test http.server did not start")
        yield url, root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _cached_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def test_http_mirror_404_names_url_status_and_mirror(
    tmp_path: Path, http_mirror: tuple[str, Path]
) -> None:
    url, _ = http_mirror
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=url)
    with pytest.raises(DatasetNotFoundError) as info:
        data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    msg = str(info.value)
    assert f"{url}/sdm_dismo/bradypus.csv" in msg
    assert "HTTP 404" in msg
    assert "ECOCUBE_DATA_MIRROR" in msg and "network" in msg
    assert "urllib3" not in msg and "HTTPConnectionPool" not in msg
    assert not _cached_files(tmp_path / "cache")


def test_unreachable_http_mirror_names_url_connection_and_fix(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=url)
    with pytest.raises(DatasetNotFoundError) as info:
        data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    msg = str(info.value)
    assert f"{url}/sdm_dismo/bradypus.csv" in msg
    assert "could not be reached" in msg
    assert "ECOCUBE_DATA_MIRROR" in msg and "network" in msg
    assert "HTTPConnectionPool" not in msg and "Max retries" not in msg
    assert not _cached_files(tmp_path / "cache")


def test_cli_unreachable_http_mirror_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", url)
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "fetch", "sdm_dismo"]) != 0
    err = capsys.readouterr().err
    assert "could not be reached" in err and "ECOCUBE_DATA_MIRROR" in err
    assert "Traceback" not in err and "HTTPConnectionPool" not in err


@requires_mirror
def test_http_mirror_serving_good_files_works(
    tmp_path: Path, mirror: Path, http_mirror: tuple[str, Path]
) -> None:
    url, root = http_mirror
    ds = data.dataset("sdm_dismo")
    (root / ds.subdir).mkdir()
    shutil.copyfile(mirror / ds.subdir / "bradypus.csv", root / ds.subdir / "bradypus.csv")
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=url)
    got = data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == ds.file("bradypus.csv").sha256


def test_corrupt_cache_and_corrupt_mirror_leave_nothing_cached(tmp_path: Path) -> None:
    ds = data.dataset("sdm_dismo")
    bad_mirror = tmp_path / "mirror"
    (bad_mirror / ds.subdir).mkdir(parents=True)
    (bad_mirror / ds.subdir / "bradypus.csv").write_text("corrupt mirror copy")
    cache = tmp_path / "cache"
    cached = cache / ds.subdir / "bradypus.csv"
    cached.parent.mkdir(parents=True)
    cached.write_text("corrupt cached copy")
    settings = Settings(data_dir=cache, data_mirror=str(bad_mirror))
    with pytest.raises(DataIntegrityError) as info:
        data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    msg = str(info.value)
    assert "both copies failed their checksum" in msg
    assert str(cached) in msg and "removed" in msg and "nothing is cached" in msg
    # the message is true: no corrupt (or partial) file is left in the cache
    assert not _cached_files(cache), _cached_files(cache)
