"""The demo's interaction step (``ecocube.demo.steps.interactions``) on the real Costa Rica cube."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")


def test_demo_step_maps_a_simulated_community_labelled_as_such(
    cr_zarr: Path, tmp_path: Path
) -> None:
    from ecocube.demo._context import DemoContext
    from ecocube.demo.steps import interactions

    ctx = DemoContext(out_dir=tmp_path, quick=True)
    ctx.state.cube_path = cr_zarr
    section = interactions.run(ctx)
    assert "simulated" in section.title.lower()
    assert "<b>Simulated community.</b>" in section.html
    assert "None of these interactions is observed" in section.html
    assert section.meta["simulated"] is True
    assert section.meta["cells"] > 1000
    assert (tmp_path / "figures" / "interactions_map.png").stat().st_size > 10_000
    assert (tmp_path / "interactions.zarr" / ".zmetadata").is_file()
    gaps = [e["mean |joint - marginals|"] for e in section.meta["edges"]]
    assert max(gaps) > 0.005


def test_demo_step_without_cube_says_so(tmp_path: Path) -> None:
    from ecocube.demo._context import DemoContext
    from ecocube.demo.steps import interactions

    assert "No cube" in interactions.run(DemoContext(out_dir=tmp_path)).html
