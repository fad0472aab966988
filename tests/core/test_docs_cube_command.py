"""The documented ``ecocube cube build`` command builds the CHELSA grid exactly (418 × 378)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _option(text: str, name: str) -> list[float]:
    match = re.search(rf"--{name}[= ]([-0-9.,]+)", text)
    assert match, f"--{name} not found"
    return [float(v) for v in match.group(1).split(",")]


@pytest.mark.parametrize("doc", ["README.md", "docs/cube.md"])
def test_documented_cube_build_gives_418_by_378_pixels(doc: str) -> None:
    from ecocube.cube._spec import CubeSpec

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
