"""Demo step: SHAP explanation reports (``ecocube report shap``) for Costa Rica.

Two reports, both self-contained HTML files linked from the section:

* ``shap_report.html``: the multi-species maxent network of the SDM step
  (``out/models/costa-rica-maxent-net``, CHELSA bioclim only) over the whole demo cube:
  explainer, importance with intervals over the ensemble members, beeswarms, dependence
  curves and spatial SHAP maps. Its variables are all climate, so it has no shadow
  distribution;
* ``shap_report_shadow.html``: the shadow distribution (climate contribution > 0, land-cover
  contribution < 0) needs land-use covariates, which the cube has only where the GAM 2020
  land-use map covers it (the Greater Metropolitan Area). There a linear ``integrated`` model
  is fitted on CHELSA bioclim plus GAM land-use fractions and explained with exact SHAP and
  credible intervals over its posterior draws.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, table_html

__all__ = ["run"]

TITLE = "SHAP explanation reports (Costa Rica)"
#: Species explained in the whole-country report (those the SDM step shows).
SPECIES = ("Junco vulcani", "Ateles geoffroyi", "Bothriechis schlegelii")
#: Covariates of the shadow model: climate and GAM land-use fractions (late secondary forest,
#: urban, pasture, coffee; the fractions of all classes sum to one, so not every class).
CLIMATE = ("bio1", "bio4", "bio12", "bio15")
LANDUSE = ("landuse_frac_1", "landuse_frac_3", "landuse_frac_5", "landuse_frac_6")
MIN_RECORDS = 25


def _gam_window(cube: Any) -> Any:
    """The cube cut to the rows and columns where the land-use fractions are finite."""
    finite = np.isfinite(np.asarray(cube[LANDUSE[0]].transpose("y", "x").values))
    rows, cols = np.nonzero(finite)
    return cube.isel(y=slice(rows.min(), rows.max() + 1), x=slice(cols.min(), cols.max() + 1))


def _summary_table(summary: dict[str, Any]) -> str:
    import pandas as pd

    rows = []
    for sp, imp in summary["importance"].items():
        top = sorted(imp.items(), key=lambda kv: -kv[1])[:3]
        row = {
            "species": sp,
            "top variables (mean |SHAP|)": ", ".join(f"{v} {x:.2f}" for v, x in top),
        }
        if summary.get("shadow_area_km2"):
            row["shadow area (km²)"] = summary["shadow_area_km2"][sp]
        rows.append(row)
    return table_html(pd.DataFrame(rows), float_format="{:,.1f}")


def _meta(summary: dict[str, Any], seconds: float, name: str) -> str:
    return (
        f"<p>Explainer <code>{html.escape(summary['explainer'])}</code> on the "
        f"{html.escape(summary['explained_output'])}; background {summary['n_background']} random "
        f"valid cells; {summary['n_cells']} explained cells for the summaries and "
        f"{summary['n_map_cells']:,} for the maps (stride {summary['map_stride']}); "
        f"{summary['n_draws_explained']} posterior draws or members explained for the "
        f"intervals. Additivity (p99 of |ΣSHAP + base − f(x)| / sd f(x)): "
        f"{summary['additivity_p99']:.1e}. Written in {seconds:.1f} s: "
        f'<a href="{name}">{name}</a>.</p>'
    )


def run(ctx: DemoContext) -> ReportSection:
    """Write the two SHAP reports and a section linking them."""
    from ecocube.cube import open_cube
    from ecocube.models import SDM
    from ecocube.models.datasets.gbif import load_costa_rica_occurrences
    from ecocube.models.explain import shap_report

    tic = time.perf_counter()
    cube_path = ctx.state.cube_path
    model_dir = ctx.out_dir / "models" / "costa-rica-maxent-net"
    if cube_path is None or not Path(cube_path).exists():
        return ReportSection(TITLE, "<p>No cube: the cube step did not build one.</p>")
    device = "cpu" if ctx.device == "auto" else ctx.device
    parts: list[str] = []
    if (model_dir / "model.json").is_file():
        sdm = SDM.load(model_dir, device=device)
        species = [s for s in SPECIES if s in sdm.species_] or list(sdm.species_[:3])
        t0 = time.perf_counter()
        result = shap_report(
            model_dir,
            cube_path,
            ctx.out_dir / "shap_report.html",
            species=species,
            groups="climate=bio*",
            cells=200 if ctx.quick else 500,
            background=32,
            seed=ctx.seed,
            json_out=ctx.out_dir / "shap_summary.json",
            maps=ctx.out_dir / "shap.zarr",
            map_stride=4 if ctx.quick else 3,
            device=device,
        )
        parts.append(
            "<h3>Multi-species maxent network, whole country</h3>"
            + _meta(result.summary, time.perf_counter() - t0, "shap_report.html")
            + "<p>Every input is a CHELSA climate variable, so this model has no land-cover "
            "group and no shadow distribution (see below).</p>" + _summary_table(result.summary)
        )
    else:
        parts.append(
            "<p>No maxent network at <code>models/costa-rica-maxent-net</code>: the SDM step "
            "did not save one, so the whole-country report is missing.</p>"
        )

    cube = open_cube(cube_path, chunks=None)
    if all(v in cube.data_vars for v in (*CLIMATE, *LANDUSE)):
        window = _gam_window(cube)
        occ = load_costa_rica_occurrences()[["species", "x", "y"]]
        x0, x1 = float(window["x"].min()), float(window["x"].max())
        y0, y1 = float(window["y"].min()), float(window["y"].max())
        inside = occ[occ["x"].between(x0, x1) & occ["y"].between(y0, y1)]
        counts = inside["species"].value_counts()
        records = inside[inside["species"].isin(counts[counts >= MIN_RECORDS].index[:6])]
        t0 = time.perf_counter()
        fitted = SDM("integrated", seed=ctx.seed, device=device, options={"steps": 300}, cv_folds=0)
        fitted.fit(
            records,
            cube=window,
            variables=[*CLIMATE, *LANDUSE],
            background=1000,
            drop_outside=True,
        )
        shadow_dir = fitted.save(ctx.out_dir / "models" / "gam-integrated-shadow")
        result = shap_report(
            shadow_dir,
            window,
            ctx.out_dir / "shap_report_shadow.html",
            groups="climate=bio*,landcover=landuse_*",
            cells=300 if ctx.quick else 800,
            background=64,
            seed=ctx.seed,
            json_out=ctx.out_dir / "shap_summary_shadow.json",
            device=device,
        )
        parts.append(
            "<h3>Shadow distribution: CHELSA climate against GAM land-use fractions</h3>"
            "<p>The cube has land-use fractions only over the GAM 2020 map (Greater "
            "Metropolitan Area, about 0.7° × 0.4°); elsewhere in Costa Rica no shadow "
            f"distribution can be drawn. There, a linear integrated model of {len(fitted.species_)} "
            f"species with at least {MIN_RECORDS} GBIF records in the window is fitted on "
            f"{', '.join(CLIMATE)} and the fractions {', '.join(LANDUSE)} (late secondary forest, "
            "urban, pasture, coffee). The shadow distribution is where the climate group raises "
            "the log-intensity above its background mean while the land-cover group lowers it: "
            "suitable climate lost to land use.</p>"
            + _meta(result.summary, time.perf_counter() - t0, "shap_report_shadow.html")
            + _summary_table(result.summary)
        )
        shadow_area = result.summary["shadow_area_km2"]
    else:
        parts.append("<p>The cube has no land-use fractions (GAM), so no shadow distribution.</p>")
        shadow_area = None
    seconds = time.perf_counter() - tic
    parts.append(f"<p class='meta'>SHAP step: {seconds:.1f} s.</p>")
    return ReportSection(
        TITLE,
        "".join(parts),
        meta={"seconds": seconds, "shadow_area_km2": json.loads(json.dumps(shadow_area))},
    )
