"""The checksummed data registry: entries, fetching from local and HTTP mirrors, integrity
errors, and verification of the cache."""

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
from ecocube.errors import DataIntegrityError, DatasetNotFoundError, InvalidInputError
from ecocube.settings import Settings

from ..conftest import requires_mirror


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_manifest_dataset_is_registered_with_source_license_citation() -> None:
    reg = data.datasets()
    assert len(reg) == 18
    assert sum(len(d.files) for d in reg.values()) == 560
    for ds in reg.values():
        assert ds.source.startswith("https://github.com/") and len(ds.source.split("/")[-1]) == 40
        assert ds.license and ds.citation and ds.files
        for f in ds.files:
            assert len(f.sha256) == 64 and f.size > 0
            # every file is either a byte copy with a pinned download URL or says what it came from
            assert (f.url is None) != (f.derived_from is None)
            assert "/" + ds.source.split("/")[-1] + "/" in (f.url or f.derived_from)


def test_list_datasets_table_columns() -> None:
    table = data.list_datasets()
    assert list(table.columns[:4]) == ["name", "title", "files", "size_mb"]
    assert {"license", "citation"} <= set(table.columns)
    assert table.loc[table.name == "nceas", "files"].item() == 46


def test_unknown_dataset_and_file_errors_name_valid_choices() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"unknown dataset 'chelsa'.*chelsa_costa_rica"):
        data.dataset("chelsa")
    with pytest.raises(DatasetNotFoundError, match=r"has no file 'bio99.tif'"):
        data.dataset("sdm_dismo").file("bio99.tif")


@requires_mirror
def test_registry_hashes_match_the_mirror(mirror: Path) -> None:
    settings = Settings(data_dir=Path("/nonexistent"), data_mirror=str(mirror))
    results = data.verify(where="mirror", settings=settings)
    bad = [r for r in results if r.status != "ok"]
    assert len(results) == 560 and not bad


@requires_mirror
def test_fetch_copies_and_verifies_into_the_cache(tmp_path: Path, mirror: Path) -> None:
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=str(mirror))
    folder = data.fetch("sdm_elapid", settings=settings)
    got = folder / "bradypus.csv.gz"
    assert got.is_file()
    assert _sha(got) == data.dataset("sdm_elapid").files[0].sha256
    # a second fetch reuses the verified file
    mtime = got.stat().st_mtime_ns
    data.fetch("sdm_elapid", settings=settings)
    assert got.stat().st_mtime_ns == mtime
    assert all(r.status == "ok" for r in data.verify(["sdm_elapid"], settings=settings))


@requires_mirror
def test_corrupt_mirror_file_raises_and_leaves_nothing_in_cache(
    tmp_path: Path, mirror: Path
) -> None:
    bad_mirror = tmp_path / "mirror"
    ds = data.dataset("sdm_dismo")
    (bad_mirror / ds.subdir).mkdir(parents=True)
    src = mirror / ds.subdir / "bradypus.csv"
    corrupt = src.read_bytes()[:-10]  # truncated copy
    (bad_mirror / ds.subdir / "bradypus.csv").write_bytes(corrupt)
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=str(bad_mirror))
    expected = ds.file("bradypus.csv").sha256
    found = hashlib.sha256(corrupt).hexdigest()
    with pytest.raises(
        DataIntegrityError, match=rf"bradypus.csv.*expected {expected}, found {found}"
    ):
        data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    cached = list((tmp_path / "cache").rglob("*"))
    assert not [p for p in cached if p.is_file()], f"partial files left: {cached}"


@requires_mirror
def test_corrupt_cached_file_is_detected_and_replaced(tmp_path: Path, mirror: Path) -> None:
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=str(mirror))
    path = data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    path.write_text("tampered")
    status = data.verify(["sdm_dismo"], settings=settings)
    assert [s.status for s in status if s.path == "bradypus.csv"] == ["mismatch"]
    again = data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)
    assert _sha(again) == data.dataset("sdm_dismo").file("bradypus.csv").sha256


@requires_mirror
def test_fetch_repairs_a_cached_file_altered_with_its_size_unchanged(
    tmp_path: Path, mirror: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=str(mirror))
    path = data.fetch("sdm_elapid", settings=settings) / "bradypus.csv.gz"
    good = path.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF  # one flipped byte: same size, other checksum
    path.write_bytes(bytes(bad))
    assert path.stat().st_size == len(good) and path.read_bytes() != good
    data.fetch("sdm_elapid", settings=settings)
    assert path.read_bytes() == good


@requires_mirror
def test_verify_datasets_tells_not_fetched_from_incomplete_and_corrupt(
    tmp_path: Path, mirror: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=str(mirror))
    names = ["sdm_dismo", "sdm_elapid", "interactions_kopelke", "s2_barbellino"]
    status = {d.name: d for d in data.verify_datasets(names, settings=settings)}
    assert {n: d.status for n, d in status.items()} == dict.fromkeys(names, "not fetched")
    assert all(not d.problems for d in status.values())
    dismo = data.fetch("sdm_dismo", settings=settings)
    (dismo / "bradypus.csv").unlink()  # a fetch that did not finish
    elapid = data.fetch("sdm_elapid", settings=settings) / "bradypus.csv.gz"
    elapid.write_bytes(elapid.read_bytes()[:-1] + b"x")
    data.fetch("interactions_kopelke", settings=settings)
    status = {d.name: d for d in data.verify_datasets(names, settings=settings)}
    assert {n: d.status for n, d in status.items()} == {
        "sdm_dismo": "incomplete",
        "sdm_elapid": "corrupt",
        "interactions_kopelke": "verified",
        "s2_barbellino": "not fetched",
    }
    assert [(f.path, f.status) for f in status["sdm_dismo"].problems] == [
        ("bradypus.csv", "missing")
    ]
    assert [(f.path, f.status) for f in status["sdm_elapid"].problems] == [
        ("bradypus.csv.gz", "mismatch")
    ]


def _env(monkeypatch: pytest.MonkeyPatch, mirror: Path, cache: Path) -> Settings:
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(cache))
    return Settings(data_dir=cache, data_mirror=str(mirror))


@requires_mirror
def test_cli_verify_of_an_empty_cache_says_not_fetched_and_succeeds(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, mirror, tmp_path / "cache")
    assert main(["data", "verify"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    n = len(data.datasets())
    assert len(lines) == 1 + n + 1  # header, rows, summary: not one line per file
    rows = [line.split() for line in lines[1:-1]]
    assert [row[0] for row in rows] == list(data.datasets())
    assert all(row[1:3] == ["not", "fetched"] for row in rows)
    assert lines[-1].endswith(f"{n} dataset(s) in the cache {tmp_path / 'cache'}: {n} not fetched")
    assert "damaged" not in captured.out + captured.err and not captured.err


@requires_mirror
def test_cli_verify_of_a_partly_fetched_dataset_names_the_missing_file_and_fails(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = _env(monkeypatch, mirror, tmp_path / "cache")
    folder = data.fetch("sdm_dismo", settings=settings)
    (folder / "bradypus.csv").unlink()
    assert main(["data", "verify", "sdm_dismo", "sdm_elapid"]) == 1
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "sdm_dismo incomplete 10/11" in out and "sdm_elapid not fetched 0/1" in out
    assert f"missing: sdm_dismo: bradypus.csv (in {folder})" in out
    err = " ".join(captured.err.split())
    assert "1 file(s) are missing (sdm_dismo/bradypus.csv)" in err
    assert "run `ecocube data fetch sdm_dismo` to restore them" in err


@requires_mirror
def test_cli_verify_of_a_corrupted_file_names_it_and_fails(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = _env(monkeypatch, mirror, tmp_path / "cache")
    path = data.fetch("sdm_elapid", settings=settings) / "bradypus.csv.gz"
    path.write_bytes(path.read_bytes() + b"tampered")
    found = _sha(path)
    assert main(["data", "verify", "sdm_elapid"]) == 1
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "sdm_elapid corrupt 0/1" in out
    assert f"corrupt: sdm_elapid/bradypus.csv.gz at {path}" in out and found in out
    assert "1 file(s) fail their checksum (sdm_elapid/bradypus.csv.gz)" in " ".join(
        captured.err.split()
    )


def test_missing_file_at_mirror_names_the_fix(tmp_path: Path) -> None:
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=str(empty))
    with pytest.raises(DatasetNotFoundError, match=r"missing from the mirror.*ECOCUBE_DATA_MIRROR"):
        data.fetch_file("sdm_dismo", "bradypus.csv", settings=settings)


def test_converted_file_without_mirror_explains_why(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "cache", data_mirror=None)
    with pytest.raises(DatasetNotFoundError, match=r"converted from .*disdat.*ECOCUBE_DATA_MIRROR"):
        data.fetch_file("nceas", "SAtrain_po.parquet", settings=settings)


def test_verify_rejects_unknown_location(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, data_mirror=None)
    with pytest.raises(InvalidInputError, match="where='disk' is not valid"):
        data.verify(where="disk", settings=settings)
    with pytest.raises(InvalidInputError, match="needs ECOCUBE_DATA_MIRROR"):
        data.verify(where="mirror", settings=settings)


@requires_mirror
def test_registry_script_reproduces_the_shipped_registry(tmp_path: Path, mirror: Path) -> None:
    """The maintainer script regenerates exactly the registry we ship (no hand edits)."""
    import importlib.util
    import json

    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "make_registry", repo / "scripts/make_registry.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    shipped = json.loads((repo / "core/data/registry.json").read_text())
    assert (
        module.sha256(mirror / "sdm_dismo" / "bradypus.csv")
        == (shipped["sdm_dismo"]["files"]["bradypus.csv"]["sha256"])
    )
    assert set(module.SPECS) == set(shipped)


# -- fetch failures at HTTP(S) sources --------------------------------------------------------
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
