"""Offline validation (ecocube.catalog._validate): every invalid object is reported with its
path; CLI exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecocube.catalog import build_catalog, validate_catalog
from ecocube.cli import main
from ecocube.errors import InvalidInputError

ITEM_A = "sentinel-2-l2a-barbellino/s2-l2a-20170703-barbellino/s2-l2a-20170703-barbellino.json"
ITEM_B = "sentinel-2-l2a-barbellino/s2-l2a-20190723-barbellino/s2-l2a-20190723-barbellino.json"


@pytest.fixture()
def small_catalog(tmp_path: Path, mirror: Path) -> Path:
    out = tmp_path / "cat"
    build_catalog(out, ["s2_barbellino"])
    return out


def _edit(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def test_valid_catalog_and_cli_exit_zero(small_catalog: Path, capsys) -> None:
    assert validate_catalog(small_catalog) == []
    assert main(["catalog", "validate", str(small_catalog)]) == 0
    assert "valid" in capsys.readouterr().out


def test_every_invalid_object_is_reported_with_its_path(small_catalog: Path, capsys) -> None:
    (small_catalog / ITEM_A).write_text('{"type": "Feature", "id": ')  # malformed JSON

    def break_b(item: dict) -> None:
        item["properties"]["proj:epsg"] = 4326  # disagrees with proj:code EPSG:32632
        item["properties"]["eo:cloud_cover"] = 140
        item["assets"]["scl"]["raster:bands"][0]["classification:classes"][3]["name"] = "bad name"
        item["assets"]["boa"]["href"] = "/absolute/path.tif"
        item["assets"]["toa"]["raster:bands"][0]["data_type"] = "uint17"
        del item["geometry"]

    _edit(small_catalog / ITEM_B, break_b)
    problems = validate_catalog(small_catalog)
    by_path = {}
    for p in problems:
        by_path.setdefault(str(p.path), []).append(p.message)
    assert set(by_path) == {ITEM_A, ITEM_B}
    assert any("malformed JSON" in m for m in by_path[ITEM_A])
    text = "\n".join(by_path[ITEM_B])
    for expected in (
        "disagrees with proj:epsg 4326",
        "eo:cloud_cover must be within 0-100",
        "name 'bad name' must match",
        "is not relative: the catalog is not self-contained",
        "data_type 'uint17'",
        "geometry",
    ):
        assert expected in text, expected
    assert main(["catalog", "validate", str(small_catalog)]) == 1
    out = capsys.readouterr()
    assert ITEM_A in out.out and ITEM_B in out.out
    assert "problem(s) in 2 file(s)" in out.err


def test_checksum_and_missing_file_are_detected(small_catalog: Path) -> None:
    folder = (small_catalog / ITEM_A).parent
    scl = folder / "S2A2A_20170703_022_Barbellino_SCL_10.tif"
    size = scl.stat().st_size
    scl.unlink()  # break the hard link first: never write through to the data cache
    scl.write_bytes(b"\0" * size)
    (folder / "S2A1C_20170703_022_Barbellino_TOA_10.tif").unlink()
    messages = [p.message for p in validate_catalog(small_catalog)]
    assert any("file:checksum does not match" in m for m in messages)
    assert any("points to a missing file" in m for m in messages)
    unhashed = validate_catalog(small_catalog, check_checksums=False)
    assert not any("checksum" in p.message for p in unhashed)


def test_undeclared_extension_is_reported(small_catalog: Path) -> None:
    def drop(item: dict) -> None:
        item["stac_extensions"] = [u for u in item["stac_extensions"] if "/file/" not in u]

    _edit(small_catalog / ITEM_A, drop)
    (problem,) = validate_catalog(small_catalog)
    assert "uses 'file:' fields but does not declare" in problem.message
    assert problem.object_id == "s2-l2a-20170703-barbellino"


def test_folder_without_catalog(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"holds no catalog.json"):
        validate_catalog(tmp_path)


def test_cli_build_subset(tmp_path: Path, mirror: Path, capsys) -> None:
    out = tmp_path / "cli"
    assert main(["catalog", "build", "--out", str(out), "--dataset", "landsat_c2l2_colombia"]) == 0
    assert "wrote 1 collections, 1 items" in capsys.readouterr().out
    assert validate_catalog(out) == []
    assert main(["catalog", "build", "--out", str(out), "--dataset", "nope"]) == 1
    assert "not catalogued; valid dataset names" in capsys.readouterr().err


def test_registered_zarr_cube_folder_is_valid(small_catalog: Path, tmp_path: Path) -> None:
    """A cube registered back into the catalog is a Zarr folder, not a file."""
    import numpy as np
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    from ecocube.cube import register_cube, write_cube

    ds = xr.Dataset(
        {"t": (("y", "x"), np.arange(12, dtype="float32").reshape(3, 4))},
        coords={"y": [2.5, 1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5]},
    ).rio.write_crs("EPSG:4326")
    cube = write_cube(ds, small_catalog / "cubes" / "tiny.zarr")
    register_cube(cube, small_catalog)
    assert validate_catalog(small_catalog) == []
    for meta in (".zmetadata", ".zgroup"):
        (Path(cube) / meta).unlink(missing_ok=True)
    problems = validate_catalog(small_catalog)
    assert any("is not a readable Zarr store" in str(p) for p in problems), problems


def test_dates_that_are_not_text_are_reported(small_catalog: Path, capsys) -> None:
    """The core models read a number as a Unix time; STAC wants RFC 3339 text."""

    def numbers(item: dict) -> None:
        item["properties"]["datetime"] = 12345
        item["properties"]["created"] = 1.5e9

    _edit(small_catalog / ITEM_A, numbers)
    collection = small_catalog / "sentinel-2-l2a-barbellino" / "collection.json"
    _edit(collection, lambda c: c["extent"]["temporal"]["interval"][0].__setitem__(0, 2017))
    messages = sorted(p.message for p in validate_catalog(small_catalog, check_checksums=False))
    rfc = "must be an RFC 3339 date-time string such as '2020-01-01T00:00:00Z', got"
    assert messages == [
        f"extent.temporal.interval[0][0] {rfc} 2017",
        f"properties.created {rfc} 1500000000.0",
        f"properties.datetime {rfc} 12345",
    ]
    assert main(["catalog", "validate", str(small_catalog), "--no-checksums"]) == 1
    assert f"{ITEM_A} (s2-l2a-20170703-barbellino): properties.datetime" in capsys.readouterr().out


def test_hrefs_that_escape_the_catalog_are_reported(small_catalog: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")  # exists: escaping is the problem, not a missing file

    def escape(item: dict) -> None:
        item["assets"]["scl"]["href"] = "../../../../../../../../etc/passwd"
        item["links"].append({"rel": "item", "href": "../../../outside.json"})
        boa = Path(item["assets"]["boa"]["href"]).name
        item["assets"]["boa"]["href"] = f"../s2-l2a-20170703-barbellino/{boa}"  # inside: fine

    _edit(small_catalog / ITEM_A, escape)
    problems = validate_catalog(small_catalog, check_checksums=False)
    text = "\n".join(str(p) for p in problems)
    assert len(problems) == 2, text
    assert (
        "assets.scl href '../../../../../../../../etc/passwd' points outside the catalog " in text
    )
    assert "link rel='item' href '../../../outside.json' points outside the catalog folder" in text
    assert "missing file" not in text


def test_a_cube_registered_from_outside_the_catalog_is_reported(
    small_catalog: Path, tmp_path: Path
) -> None:
    from ecocube.catalog import register_cube
    from ecocube.cube import write_cube
    from ecocube.cube.testing import synthetic_cube
    from ecocube.errors import EcocubeWarning

    store = write_cube(synthetic_cube()[["elev"]], tmp_path / "elsewhere.zarr")
    with pytest.warns(EcocubeWarning, match="outside the catalog folder"):
        register_cube(store, small_catalog)
    (problem,) = validate_catalog(small_catalog)
    assert (
        "assets.zarr href '../../../elsewhere.zarr' points outside the catalog" in problem.message
    )
