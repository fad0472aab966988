"""The target grid (:class:`CubeSpec`): snapping, the size limit and the CRS's area of use."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ecocube.cube import AreaOfUseWarning, CubeSpec, build_cube
from ecocube.cube._spec import DEFAULT_MAX_BYTES, check_cube_size, parse_max_bytes
from ecocube.cube.testing import item_from_raster, synthetic_raster
from ecocube.errors import CatalogError, DatasetNotFoundError, InvalidInputError


def test_spec_grid_snaps_to_anchor():
    spec = CubeSpec.create(
        bbox=(11.0, 46.0, 11.1, 46.1), crs="EPSG:32632", resolution=30, anchor=(15.0, 15.0)
    )
    transform, w, h, (left, bottom, right, top) = spec.grid()
    assert (left - 15) % 30 == pytest.approx(0) and (top - 15) % 30 == pytest.approx(0)
    assert w == round((right - left) / 30) and h == round((top - bottom) / 30)
    assert transform.a == 30 and transform.e == -30


# size limit -------------------------------------------------------------------------------------


def test_units_slip_is_refused_before_the_catalog_is_read(tmp_path):
    missing = tmp_path / "no-catalog"  # reading it would raise CatalogError
    with pytest.warns(AreaOfUseWarning), pytest.raises(InvalidInputError) as err:
        build_cube(missing, bbox=(-80, -20, -60, 0), crs="EPSG:32632", resolution=0.5)
    text = str(err.value)
    assert "37,511,775 x 28,913,439 pixels = 3.85 PiB as float32" in text
    assert "above the limit max_bytes=32.00 GiB" in text
    assert "0.5 degrees is about 55,660 m" in text
    with pytest.raises(InvalidInputError, match=r"20,000,000 x 20,000,000 pixels.*about 0.111 m"):
        build_cube(missing, bbox=(-80, -20, -60, 0), crs="EPSG:4326", resolution=1e-6)
    # a grid within the limit goes on to read the catalog
    with pytest.raises(CatalogError, match=r"no STAC catalog found"):
        build_cube(missing, bbox=(-80, -20, -60, 0), crs="EPSG:4326", resolution=0.5)


def test_large_grid_without_a_units_slip_names_the_fixes():
    spec = CubeSpec.create(bbox=(0.0, 40.0, 12.0, 50.0), crs="EPSG:32632", resolution=10)
    _, w, h, _ = spec.grid()
    with pytest.raises(InvalidInputError) as err:
        check_cube_size(spec, DEFAULT_MAX_BYTES)
    text = str(err.value)
    assert f"{w:,} x {h:,} pixels" in text and "is in the unit of EPSG:32632 (metre)" in text
    assert "units slip" not in text and "Coarsen the resolution, shrink the bbox" in text
    assert check_cube_size(spec, w * h * 4) == w * h * 4


def _series(tmp_path, dates=3):
    items = []
    for k in range(dates):
        p = synthetic_raster(tmp_path / f"t{k}.tif", seed=k, dtype="int16", nodata=-1)
        when = datetime(2020, 1 + k, 5, tzinfo=UTC)
        items.append(item_from_raster(p, collection="s", item_id=f"t{k}", asset_key="v", when=when))
    return items


def test_stacked_layers_are_counted_before_any_asset_is_opened(tmp_path):
    items = _series(tmp_path)
    kw = {"bbox": items[0].bbox, "crs": "EPSG:32632", "resolution": 10}
    kw["anchor"] = (600_000, 5_100_000)
    _, w, h, _ = CubeSpec.create(**kw).grid()
    need = w * h * 3 * 4  # three dates of one float32 variable
    with pytest.raises(InvalidInputError, match=r"x 1 variable \(up to 3 dates each: 3 layers\)"):
        build_cube(items, max_bytes=need - 1, **kw)
    assert build_cube(items, max_bytes=need, **kw)["v"].shape == (3, h, w)
    # the limit is checked before assets are opened: a missing file is not reached
    (tmp_path / "t2.tif").unlink()
    with pytest.raises(InvalidInputError, match=r"3 layers"):
        build_cube(items, max_bytes=need - 1, **kw)
    with pytest.raises(DatasetNotFoundError, match=r"asset 'v' of item 't2'"):
        build_cube(items, max_bytes=need, **kw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("32GB", 32 * 10**9), ("1 KiB", 1024), (5e9, 5 * 10**9), (DEFAULT_MAX_BYTES, 2**35)],
)
def test_parse_max_bytes(text, expected):
    assert parse_max_bytes(text) == expected


def test_cli_default_limit_is_the_api_default():
    import inspect

    from ecocube.cube._cli import build

    option = inspect.signature(build).parameters["max_bytes"].default
    assert parse_max_bytes(option.default) == DEFAULT_MAX_BYTES


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("lots", r"max_bytes='lots' \(--max-bytes\) is not a size"),
        (0, r"max_bytes=0 \(--max-bytes\) must be a positive size"),
        (-1, r"max_bytes=-1 .* must be a positive size"),
        (float("nan"), r"max_bytes=nan .* must be a positive size"),
        (None, r"max_bytes=None .* is not a size"),
    ],
)
def test_bad_max_bytes(value, match):
    with pytest.raises(InvalidInputError, match=match):
        parse_max_bytes(value)


# area of use ------------------------------------------------------------------------------------


def test_bbox_far_outside_the_area_of_use_warns_with_the_local_utm_zone():
    with pytest.warns(AreaOfUseWarning, match=r"lon 6 to 12, lat 0 to 84.*EPSG:32719"):
        CubeSpec.create(bbox=(-80, -20, -60, 0), crs="EPSG:32632", resolution=1000)
    with pytest.warns(AreaOfUseWarning, match=r"EPSG:2056 \(lon 5.96 to 10.49"):
        CubeSpec.create(bbox=(20, 45, 22, 47), crs="EPSG:2056", resolution=1000)
    # an area of use across the antimeridian (Pacific Mercator): the Atlantic is outside
    with pytest.warns(AreaOfUseWarning, match=r"EPSG:3832"):
        CubeSpec.create(bbox=(0, -50, 10, -40), crs="EPSG:3832", resolution=1000)


@pytest.mark.parametrize(
    ("bbox", "crs"),
    [
        ((11.5, 45.0, 12.5, 45.5), "EPSG:32632"),  # straddles the zone border
        ((9.0, 45.0, 17.0, 46.0), "EPSG:32632"),  # three quarters within the widened zone
        ((-180, -90, 180, 90), "EPSG:4326"),
        ((170, -50, 179, -40), "EPSG:3832"),
        ((-170, -50, -160, -40), "EPSG:3832"),
        ((-80, -20, -60, 0), "+proj=laea +lat_0=-10 +lon_0=-70 +datum=WGS84"),  # no area of use
    ],
)
def test_bbox_inside_the_area_of_use_does_not_warn(bbox, crs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AreaOfUseWarning)
        CubeSpec.create(bbox=bbox, crs=crs, resolution=1000)


# the documented command ----------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def _option(text: str, name: str) -> list[float]:
    match = re.search(rf"--{name}[= ]([-0-9.,]+)", text)
    assert match, f"--{name} not found"
    return [float(v) for v in match.group(1).split(",")]


@pytest.mark.parametrize("doc", ["README.md", "docs/cube.md"])
def test_documented_cube_build_gives_418_by_378_pixels(doc: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    command = text[text.index("ecocube cube build --catalog") :].split("```")[0]
    spec = CubeSpec.create(
        bbox=_option(command, "bbox"),
        crs="EPSG:4326",
        resolution=_option(command, "resolution")[0],
        anchor=_option(command, "anchor"),
    )
    _, width, height, bounds = spec.grid()
    # the CHELSA Costa Rica rasters: 418 × 378 pixels from (-86.017185, 11.289387); a bbox
    # rounded outwards snaps one extra, all-NaN column and row onto the west and north edges
    assert (width, height) == (418, 378), (doc, width, height, bounds)
    assert bounds[0] == pytest.approx(-86.017185) and bounds[3] == pytest.approx(11.289387)
