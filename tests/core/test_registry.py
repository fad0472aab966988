"""The checksummed data registry: entries, fetching from the mirror, integrity errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ecocube import data
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
