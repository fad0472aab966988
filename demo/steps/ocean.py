"""Demo step: ensemble -> surrogate -> validation, plus the CESM2-MARBL ingestion summary.

Runs a small ensemble of the full model, trains a POD-MLP surrogate (saved to
``ctx.out_dir/ocean/surrogate``), validates it on fresh scenarios and adds plots (simulated vs
surrogate series, CO2 uptake and Shannon index across warming, speed-up) and the MARBL
ingestion, carbon-flux, reduced-model and calibration summary to the report.
"""

from __future__ import annotations

import html
import time
from typing import Any

import numpy as np
import pandas as pd

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, save_figure, table_html

__all__ = ["run"]


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

    from ecocube.ocean.scenarios import default_scenario, sample_scenarios
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

        # 1. ensemble
        t0 = time.perf_counter()
        ens = simulate(sample_scenarios(cfg["n_train"], seed=ctx.seed), years=1, device=device)
        t_ens = time.perf_counter() - t0
        ctx.console.print(f"ensemble: {cfg['n_train']} scenarios x 1 yr in {t_ens:.1f} s")

        # 2. surrogate
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
            f"full model in {t_ens:.1f} s; POD-MLP surrogate ({cfg['members']} ensemble members) "
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


def _marbl_section(ctx: DemoContext, cfg: dict, device: str) -> str:
    import matplotlib.pyplot as plt

    from ecocube.ocean import marbl
    from ecocube.ocean.ingest import FILE_SOURCES, open_registry_file

    parts = ["<h3>CESM2-MARBL and GLORYS ingestion</h3>"]
    rows = []
    for fname, source in FILE_SOURCES.items():
        dataset = (
            "ocean_global_cesm"
            if "SURFACE" in fname or "global" in fname
            else ("ocean_north_atlantic")
        )
        if fname.startswith("rivr2o") and not fname.endswith("2000.nc"):
            continue
        ds = open_registry_file(dataset, fname)
        first = next(iter(ds.data_vars))
        rows.append(
            {
                "file": fname,
                "source": source,
                "variables": len(ds.data_vars),
                "names": ", ".join(str(v) for v in list(ds.data_vars)[:8]),
                "dims": ", ".join(f"{k}={v}" for k, v in ds.sizes.items()),
                f"NaN share ({first})": float(ds[first].isnull().mean()),
            }
        )
    parts.append(table_html(pd.DataFrame(rows), float_format="{:.3g}"))

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
