"""Demo step: ensemble -> catalog -> surrogate -> validation, plus the ocean ingestion summary.

Runs a small ensemble of the full model on a Dask ``LocalCluster`` into a Zarr store inside the
demo's catalog and registers it (collection ``ocean-ensembles``); the POD-MLP surrogate trains
from that store, found through its catalog item and opened from the item's ``zarr`` asset
(saved to ``ctx.out_dir/ocean/surrogate``), is validated on fresh scenarios, and the report gets
plots (simulated vs surrogate series, CO2 uptake and Shannon index across warming, speed-up).
The ingestion part reads the ocean source files through their STAC items, ingests GLORYS and
CESM2-MARBL into registered Zarr products and stacks both onto one grid with ``build_cube``;
then the MARBL carbon-flux, reduced-model and calibration summary.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, save_figure, table_html

__all__ = ["run"]

#: Worker processes of the ensemble's local Dask cluster (one torch thread each).
ENSEMBLE_WORKERS = 2
#: Source items ingested into registered Zarr products (and stacked into one cube).
INGESTED = ("glorys12-physics-2012-north-atlantic", "cesm-marbl-bgc-2012-north-atlantic")


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "n_train": 32,
            "epochs": 150,
            "members": 2,
            "n_val": 8,
            "n_extra": 2,
            "extrapolation": (),
            "warming_levels": 0,
            "calibrate": False,
            "large_batch": 0,
            "cv_folds": 3,
        }
    return {
        "n_train": 256,
        "epochs": 400,
        "members": 3,
        "n_val": 20,
        "n_extra": 6,
        "extrapolation": (2.0, 4.0),
        "warming_levels": 5,
        "calibrate": True,
        "large_batch": 1024,
        "cv_folds": 5,
    }


def run(ctx: DemoContext) -> ReportSection:
    """Run the ocean surrogate demo and return its report section."""
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from ecocube.ocean.ensemble import run_ensemble
    from ecocube.ocean.scenarios import default_scenario
    from ecocube.ocean.simulate import simulate
    from ecocube.ocean.surrogate import Surrogate
    from ecocube.ocean.validate import validate_surrogate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = _settings(ctx.quick)
        out = ctx.out_dir / "ocean"
        out.mkdir(parents=True, exist_ok=True)
        parts: list[str] = []
        device = "cpu" if ctx.device == "auto" else ctx.device

        # 1. ensemble on a local Dask cluster, to Zarr, registered in the demo's catalog
        catalog_dir = ctx.state.catalog_dir
        store = (catalog_dir / "ocean" if catalog_dir is not None else out) / "ensemble.zarr"
        t0 = time.perf_counter()
        run_ensemble(
            cfg["n_train"],
            store,
            years=1,
            seed=ctx.seed,
            # one batch per worker: a batched run costs about the same for 8 or 16 scenarios
            batch_size=-(-cfg["n_train"] // ENSEMBLE_WORKERS),
            n_workers=ENSEMBLE_WORKERS,
            device=device,
            overwrite=True,
            progress=False,
            catalog=catalog_dir,
        )
        t_ens = time.perf_counter() - t0
        ctx.console.print(
            f"ensemble: {cfg['n_train']} scenarios x 1 yr on a LocalCluster of "
            f"{ENSEMBLE_WORKERS} workers in {t_ens:.1f} s -> {store}"
        )

        # 2. surrogate, trained from the store found through its catalog item
        ens, found = _catalogued_ensemble(catalog_dir, store)
        sur = Surrogate.create(
            "pod_mlp",
            max_epochs=cfg["epochs"],
            members=cfg["members"],
            seed=ctx.seed,
            device=ctx.device,
        )
        sur.fit(ens)
        sur_dir = sur.save(out / "surrogate")
        ctx.console.print(f"surrogate trained in {sur.meta['train_seconds']:.1f} s -> {sur_dir}")

        # 3. validation
        report = validate_surrogate(
            sur,
            n=cfg["n_val"],
            seed=ctx.seed + 1000,
            n_extrapolation=cfg["n_extra"],
            extrapolation=cfg["extrapolation"],
            large_batch=cfg["large_batch"],
            device=device,
            json_path=out / "validation.json",
            keep_datasets=True,
        )
        parts.append(
            f"<p>Ensemble of <b>{cfg['n_train']}</b> Latin-hypercube scenarios x 1 year of the "
            f"full model on a Dask <code>LocalCluster</code> ({ENSEMBLE_WORKERS} worker "
            f"processes, one torch thread each) in {t_ens:.1f} s, written to the Zarr store "
            f"<code>{html.escape(str(store.relative_to(ctx.out_dir)))}</code>. {found} "
            f"POD-MLP surrogate ({cfg['members']} ensemble members) "
            f"trained in {sur.meta['train_seconds']:.1f} s and saved to "
            f"<code>{html.escape(str(sur_dir.relative_to(ctx.out_dir)))}</code>; validated on "
            f"{cfg['n_val']} fresh scenarios (seed {ctx.seed + 1000}). Timings on a shared "
            "2-core machine, one torch thread.</p>"
        )
        parts.append(_targets_table(report))
        parts.append(_series_plot(ctx, report))
        parts.append(_warming_plot(ctx, sur, simulate, default_scenario, cfg, device))
        parts.append(_speed_plot(ctx, report))

        # 4. MARBL
        parts.append(_marbl_section(ctx, cfg, device))
        return ReportSection("Ocean surrogate and CESM2-MARBL", "\n".join(parts))
    finally:
        torch.set_num_threads(threads)


def _catalogued_ensemble(catalog_dir: Path | None, store: Path) -> tuple[str, str]:
    """The ensemble store as the catalog gives it (the ``zarr`` asset of its item in
    ``ocean-ensembles``), and a sentence saying so; the store itself without a catalog."""
    if catalog_dir is None:
        return str(store), "No catalog step ran, so the surrogate reads the store directly."
    from ecocube.catalog import load_items
    from ecocube.catalog._cube_items import default_item_id
    from ecocube.catalog._ocean_items import OCEAN_ENSEMBLES_COLLECTION_ID

    wanted = default_item_id(store)
    items = load_items(catalog_dir, collections=[OCEAN_ENSEMBLES_COLLECTION_ID])
    item = next(i for i in items if i.id == wanted)
    href = str(item.assets["zarr"].get_absolute_href())
    text = (
        f"It is registered in the demo's catalog as item <code>{html.escape(item.id)}</code> "
        f"of the collection <code>{OCEAN_ENSEMBLES_COLLECTION_ID}</code> (datacube extension: "
        f"{', '.join(html.escape(d) for d in item.properties['cube:dimensions'])}); the "
        "surrogate trains from that catalogued store, found through the catalog item and "
        "opened from its <code>zarr</code> asset."
    )
    return href, text


def _targets_table(report: dict[str, Any]) -> str:
    rows = []
    for name, t in report["targets"].items():
        sign = ">=" if t["kind"] == "min" else "<="
        rows.append(
            {
                "metric": name,
                "value": t["value"],
                "target": f"{sign} {t['threshold']:g}",
                "passed": "yes" if t["passed"] else "no",
            }
        )
    extra = [
        "chl_r2",
        "spco2_r2",
        "fgco2_r2",
        "intpp_r2",
        "production_median_rel_error",
        "bloom_day_median_abs_error",
        "shannon_median_abs_error",
    ]
    for name in extra:
        if name in report["metrics"]:
            rows.append(
                {"metric": name, "value": report["metrics"][name], "target": "", "passed": ""}
            )
    return "<h3>Validation against the full model</h3>" + table_html(
        pd.DataFrame(rows), float_format="{:.4g}"
    )


def _series_plot(ctx: DemoContext, report: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    truth, pred = report["_data"]["truth"], report["_data"]["pred"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 5.5), sharex=True)
    days = np.arange(truth.sizes["time"]) + 1
    for j in range(min(3, truth.sizes["scenario"])):
        for i, (name, label) in enumerate(
            (("phyc", "surface phyto C (mmol m-3)"), ("dissic", "surface DIC (mmol m-3)"))
        ):
            ax = axes[i, j]
            t = truth[name].isel(scenario=j)
            p = pred[name].isel(scenario=j)
            if "phyto_type" in t.dims:
                t, p = t.sum("phyto_type"), p.sum("phyto_type")
            ax.plot(days, t.values, color="k", lw=1.5, label="full model")
            ax.plot(days, p.values, color="tab:orange", lw=1.2, ls="--", label="surrogate")
            sd_name = f"{name}_sd"
            if sd_name in pred:
                s = pred[sd_name].isel(scenario=j)
                if "phyto_type" in s.dims:
                    s = np.sqrt((s**2).sum("phyto_type"))
                ax.fill_between(
                    days,
                    p.values - 2 * s.values,
                    p.values + 2 * s.values,
                    color="tab:orange",
                    alpha=0.25,
                    lw=0,
                )
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                w = float(truth["warming"].isel(scenario=j))
                ax.set_title(f"scenario {j} (warming {w:.1f} °C)")
            if i == 1:
                ax.set_xlabel("day")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return "<h3>Simulated vs surrogate daily series (±2 sd band)</h3>" + save_figure(
        fig, ctx.out_dir, "ocean_series"
    )


def _warming_plot(
    ctx: DemoContext, sur: Any, simulate: Any, default_scenario: Any, cfg: dict, device: str
) -> str:
    import matplotlib.pyplot as plt

    from ecocube.ocean.indices import compute_indices

    base = default_scenario()
    fine = np.linspace(0.0, 7.0, 36)
    coarse = np.linspace(0.0, 7.0, cfg["warming_levels"])
    tab_fine = pd.concat([base] * len(fine), ignore_index=True).assign(warming=fine)
    ip = compute_indices(sur.predict(tab_fine))
    # one batched full-model call (its cost hardly depends on the batch size); none in quick mode
    it = None
    if len(coarse):
        tab_coarse = pd.concat([base] * len(coarse), ignore_index=True).assign(warming=coarse)
        it = compute_indices(simulate(tab_coarse, device=device, **sur.meta["simulate"]))
    high = sur.meta["training_ranges"]["warming"][1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, col, label in (
        (axes[0], "co2_uptake", "annual CO2 uptake (mol C m-2 yr-1)"),
        (axes[1], "shannon", "Shannon index (nats)"),
    ):
        ax.plot(fine, ip[col].values, color="tab:orange", label="surrogate")
        if it is not None:
            ax.plot(coarse, it[col].values, "ko", label="full model")
        ax.axvspan(
            sur.meta["training_ranges"]["warming"][0], high, color="0.9", label="training range"
        )
        ax.set_xlabel("warming over the year (°C)")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return (
        "<h3>CO2 uptake and Shannon index across warming</h3>"
        "<p>Reference scenario with warming varied; grey: the training range, beyond it the "
        "surrogate extrapolates.</p>" + save_figure(fig, ctx.out_dir, "ocean_warming")
    )


def _speed_plot(ctx: DemoContext, report: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    t = report["timing"]
    n = report["setup"]["n"]
    labels = ["full, batched", "full, single", "surrogate, batched", "surrogate, single"]
    values = [
        t["full_per_scenario_batched_s"],
        t["full_single_s"],
        t["surrogate_per_scenario_batched_s"],
        t["surrogate_single_s"],
    ]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh(labels, values, color=["0.4", "0.6", "tab:orange", "tab:red"])
    ax.set_xscale("log")
    ax.set_xlabel("seconds per scenario-year (log)")
    fig.tight_layout()
    m = report["metrics"]
    return (
        f"<h3>Speed-up</h3><p>Batched ({n} scenarios per call): "
        f"<b>{m['speedup_batched']:.3g}x</b> ({m['speedup_batched_mean_only']:.3g}x without the "
        f"ensemble sd); single call: <b>{m['speedup_single']:.3g}x</b>.</p>"
        + save_figure(fig, ctx.out_dir, "ocean_speedup")
    )


def _ocean_items(ctx: DemoContext) -> list[Any]:
    """The ocean source items: from the demo's catalog, else built from the registry."""
    from ecocube.ocean.ingest import OCEAN_DATASETS

    if ctx.state.catalog_dir is not None:
        from ecocube.catalog import load_items

        return load_items(
            ctx.state.catalog_dir, collections=["ocean-north-atlantic", "ocean-global-cesm"]
        )
    from ecocube.catalog._ocean_items import registry_items

    return [i for dataset in OCEAN_DATASETS for i in registry_items(dataset)]


def _ingested_cube(ctx: DemoContext, items: list[Any]) -> str:
    """Ingest GLORYS and CESM2-MARBL into registered Zarr products, stack both onto one grid."""
    catalog_dir = ctx.state.catalog_dir
    if catalog_dir is None:
        return ""
    from ecocube.cube import build_cube
    from ecocube.ocean.ingest import ingest_item, open_item

    t0 = time.perf_counter()
    by_id = {i.id: i for i in items}
    for item_id in INGESTED:
        name = item_id.split("-")[0]
        ingest_item(
            by_id[item_id],
            catalog_dir / "ocean" / f"{name}.zarr",
            overwrite=True,
            catalog=catalog_dir,
        )
    # a 1-degree grid whose cell centres fall on the CESM 2-degree centres (edges at .5)
    cube = build_cube(
        catalog_dir,
        collections=["ocean-glorys", "ocean-cesm-marbl"],
        bbox=(-17.5, 45.5, 7.5, 70.5),
        resolution=1.0,
        anchor=(0.5, 0.5),
    ).compute()
    source = open_item(by_id[INGESTED[1]], variables=["dissic"])["dissic"]
    depth = next(str(d) for d in cube["dissic"].dims if str(d).startswith("depth"))
    on_grid = cube["dissic"].sel(x=source["lon"], y=source["lat"]).rename({depth: "depth"})
    gap = float(np.nanmax(np.abs(on_grid.transpose(*source.dims).values - source.values)))
    seconds = time.perf_counter() - t0
    depths = ", ".join(
        f"<code>{html.escape(str(d))}</code>" for d in cube.dims if "depth" in str(d)
    )
    return (
        "<p>GLORYS12 and CESM2-MARBL (2012) ingested through their items into Zarr products "
        "registered in the collections <code>ocean-glorys</code> and <code>ocean-cesm-marbl</code>"
        " (linked to their source items), then stacked by <code>build_cube</code> onto one 1° "
        f"grid: {len(cube.data_vars)} variables, vertical axes kept apart ({depths}), "
        f"{seconds:.1f} s in all. At the CESM grid points the regridded DIC equals the "
        f"ingested field: max |difference| {gap:.3g} mmol m-3.</p>"
    )


def _marbl_section(ctx: DemoContext, cfg: dict, device: str) -> str:
    import matplotlib.pyplot as plt

    from ecocube.ocean import marbl
    from ecocube.ocean.ingest import item_product, open_item

    items = _ocean_items(ctx)
    parts = ["<h3>Ocean ingestion through STAC items</h3>"]
    rows = []
    for item in items:
        if item.id.startswith("river-inputs-") and "2000" not in item.id:
            continue
        ds = open_item(item)
        first = next(iter(ds.data_vars))
        rows.append(
            {
                "item": item.id,
                "source": item_product(item),
                "variables": len(ds.data_vars),
                "names": ", ".join(str(v) for v in list(ds.data_vars)[:8]),
                "dims": ", ".join(f"{k}={v}" for k, v in ds.sizes.items()),
                f"NaN share ({first})": float(ds[first].isnull().mean()),
            }
        )
    parts.append(
        "<p>Each source file is read through its STAC item (<code>open_item</code>: the item's "
        "netCDF asset and source product; CF names and canonical units from the variable "
        "registry).</p>" + table_html(pd.DataFrame(rows), float_format="{:.3g}")
    )
    parts.append(_ingested_cube(ctx, items))

    flux = marbl.north_atlantic_surface()
    s = flux["summary"]
    parts.append(
        "<p>Surface pCO2 recomputed from MARBL DIC/ALK with GLORYS temperature and salinity "
        f"(Lueker/Weiss constants, {s['points']} co-located points, 1 Jan 2012): "
        f"{s['pco2_ecocube_mean_uatm']:.0f} µatm vs MARBL's own pCO2SURF "
        f"{s['pco2_marbl_mean_uatm']:.0f} µatm (bias {s['pco2_bias_uatm']:.0f} µatm, "
        f"r = {s['pco2_corr']:.2f}); mean fgco2 {s['fgco2_mean_mmol_m2_d']:.1f} mmol m-2 d-1 "
        "into the ocean. The DIC/ALK records are a climatology of the CESM run (see MANIFEST) "
        "while pCO2SURF is the 2012 field, and GLORYS is a different model, so the offset "
        "mixes periods and models; it is reported, not tuned away.</p>"
    )
    from ecocube.ocean.ingest import open_marbl_climatology

    clim = open_marbl_climatology()
    ci = marbl.community_indices(clim)
    monthly = ci.mean(["lat", "lon"]).to_dataframe().reset_index()
    parts.append(
        "<p>Diversity of the three MARBL groups (surface, box mean by month):</p>"
        + table_html(monthly, float_format="{:.3f}")
    )

    rep = marbl.reduced_model_cv(clim, n_folds=cfg["cv_folds"], seed=ctx.seed)
    parts.append(
        "<h3>Reduced model of MARBL phytoplankton carbon</h3><p>Gradient-boosted trees on "
        "physical drivers (insolation, its change, day length, latitude, deep nutrient "
        "supply), cross-validated across grid points; baseline: the mean seasonal cycle.</p>"
        + table_html(rep.scores, float_format="{:.3f}")
    )
    fig, axes = plt.subplots(1, 2 if cfg["calibrate"] else 1, figsize=(11, 3.8), squeeze=False)
    p = rep.predictions
    axes[0, 0].loglog(p.phyto_c, p.pred_phyto_c, ".", ms=3, alpha=0.5)
    lim = [max(1e-3, p.phyto_c.min()), p.phyto_c.max()]
    axes[0, 0].plot(lim, lim, "k-", lw=0.8)
    axes[0, 0].set_xlabel("MARBL surface phyto C (mmol m-3)")
    axes[0, 0].set_ylabel("out-of-fold prediction")
    axes[0, 0].set_title("leave grid points out")
    if cfg["calibrate"]:
        cal = marbl.calibrate(n_candidates=12, years=1, seed=ctx.seed, clim=clim, device=device)
        tab = cal.table
        ax = axes[0, 1]
        ax.plot(tab.month, tab.marbl, "ko-", label="MARBL")
        ax.plot(tab.month, tab.before, ":", label="full model, default")
        ax.plot(tab.month, tab.after, "-", label="full model, calibrated")
        ax.set_xlabel("month")
        ax.set_ylabel("surface phyto C (mmol m-3)")
        ax.set_title(f"calibration at {cal.lat:.0f} N, {cal.lon:.0f} E")
        ax.legend(fontsize=8)
        parts.append(
            f"<p>Calibration at ({cal.lat:.0f} N, {cal.lon:.0f} E) of "
            f"{html.escape(', '.join(f'{k}={v:.3g}' for k, v in cal.parameters.items()))}: "
            f"RMSE {cal.rmse_before:.3f} -> {cal.rmse_after:.3f} mmol C m-3, correlation "
            f"{cal.corr_before:.2f} -> {cal.corr_after:.2f}.</p>"
        )
    fig.tight_layout()
    parts.append(save_figure(fig, ctx.out_dir, "ocean_marbl"))
    return "\n".join(parts)
