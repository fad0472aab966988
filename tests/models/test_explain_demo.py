"""The demo's SHAP step (``ecocube.demo.steps.explain``) on a small real cube."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("shap")
pytest.importorskip("torch")

from tests.models.test_explain_report import gam_zarr, records  # noqa: F401  (fixtures)


def test_demo_step_writes_both_reports(
    gam_zarr: Path,  # noqa: F811
    records: pd.DataFrame,  # noqa: F811
    tmp_path: Path,
) -> None:
    from ecocube.demo._context import DemoContext
    from ecocube.demo.steps import explain
    from ecocube.models import SDM

    options = {"epochs": 20, "n_members": 2, "hidden": (16,)}
    SDM("maxent-net", seed=0, options=options, cv_folds=0).fit(
        records, cube=gam_zarr, variables=list(explain.CLIMATE), background=300, drop_outside=True
    ).save(tmp_path / "models" / "costa-rica-maxent-net")
    ctx = DemoContext(out_dir=tmp_path, quick=True)
    ctx.state.cube_path = gam_zarr
    section = explain.run(ctx)
    assert 'href="shap_report.html"' in section.html
    assert 'href="shap_report_shadow.html"' in section.html
    assert "no land-cover group" in section.html
    summary = json.loads((tmp_path / "shap_summary.json").read_text())
    assert summary["explainer"] == "expected-gradients"
    assert summary["additivity_p99"] <= 0.01
    assert summary["shadow_area_km2"] is None
    shadow = json.loads((tmp_path / "shap_summary_shadow.json").read_text())
    assert shadow["explainer"] == "linear-exact"
    assert shadow["groups"]["landcover"] == list(explain.LANDUSE)
    assert section.meta["shadow_area_km2"] == shadow["shadow_area_km2"]
    assert all(a >= 0 for a in shadow["shadow_area_km2"].values())
    assert (tmp_path / "shap.zarr").is_dir()


def test_demo_step_without_cube_or_model_says_so(gam_zarr: Path, tmp_path: Path) -> None:  # noqa: F811
    from ecocube.demo._context import DemoContext
    from ecocube.demo.steps import explain

    assert "No cube" in explain.run(DemoContext(out_dir=tmp_path)).html
    ctx = DemoContext(out_dir=tmp_path, quick=True)
    ctx.state.cube_path = gam_zarr
    section = explain.run(ctx)
    assert "No maxent network" in section.html
    assert (tmp_path / "shap_report_shadow.html").is_file()
