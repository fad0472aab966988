"""Demo step: integrated presence-only + survey SDM on NCEAS, and a CLI fit/predict round trip."""

from __future__ import annotations

import html
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, save_figure, table_html

__all__ = ["run"]

_GROUPS = (("NSW", "ba"),)


def _reliability_figure(curves: dict[str, pd.DataFrame], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect")
    for name, c in curves.items():
        ax.plot(c["mean_predicted"], c["observed"], marker="o", ms=4, label=name)
    ax.set_xlabel("predicted detection probability")
    ax.set_ylabel("observed frequency (held-out surveys)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _cli_round_trip(
    group: Any, train_idx: np.ndarray, test_idx: np.ndarray, seed: int, steps: int
) -> str:
    """Write a records CSV from one NCEAS group, run ``ecocube sdm fit/predict``, show both."""
    from ecocube.cli import main

    covs = list(group.covariates)
    cats = list(group.categorical)
    cols = covs + cats
    rng = np.random.default_rng(seed)
    bg = group.background.iloc[rng.choice(len(group.background), 2000, replace=False)]
    po = group.presence.rename(columns={"spid": "species"})
    tr = group.sites.iloc[train_idx]
    survey = tr.melt(
        id_vars=["siteid", "x", "y", *cols],
        value_vars=group.species,
        var_name="species",
        value_name="presence",
    )
    records = pd.concat(
        [
            po[["species", "x", "y", *cols]].assign(kind="presence"),
            bg[["x", "y", *cols]].assign(kind="background"),
            survey.assign(kind="survey"),
        ],
        ignore_index=True,
    )
    sites = group.sites.iloc[test_idx[:5]][["siteid", *cols]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rec_path, site_path = tmp_path / "records.csv", tmp_path / "sites.csv"
        records.to_csv(rec_path, index=False)
        sites.to_csv(site_path, index=False)
        fit_args = ["sdm", "fit", "--records", str(rec_path), "--covariates", ",".join(covs)]
        if cats:
            fit_args += ["--categorical", ",".join(cats)]
        fit_args += ["--model", "integrated", "--seed", str(seed), "--steps", str(steps)]
        fit_args += ["--out", str(tmp_path / "model")]
        pred_args = ["sdm", "predict", str(tmp_path / "model"), "--sites", str(site_path)]
        pred_args += ["--out", str(tmp_path / "preds.csv")]
        tic = time.perf_counter()
        code_fit = main(fit_args)
        code_pred = main(pred_args) if code_fit == 0 else code_fit
        seconds = time.perf_counter() - tic
        if code_pred != 0:
            return f"<p>CLI round trip failed with exit code {code_pred}.</p>"
        preds = pd.read_csv(tmp_path / "preds.csv")
        manifest = (tmp_path / "model" / "manifest.json").read_text()
    validation = json.loads(manifest).get("validation", {})
    cv_line = html.escape(str(validation.get("note", "")))
    if validation.get("mean_auc") is not None:
        cv_line += f"; mean held-out AUC {validation['mean_auc']:.3f} (fold 0, early stopping)"
    shown = [" ".join(["ecocube", *fit_args]), " ".join(["ecocube", *pred_args])]
    shown = [s.replace(str(tmp_path) + "/", "") for s in shown]
    kinds = records["kind"].value_counts().to_dict()
    return (
        f"<p>Records file ({len(records)} rows: {html.escape(str(kinds))}), fit and predict "
        f"through the command line in {seconds:.1f} s:</p>"
        f"<pre>{html.escape(chr(10).join(shown))}</pre>"
        f"<p>First predictions (<code>site</code> is the <code>siteid</code> column):</p>"
        + table_html(preds.head(10), float_format="{:.3f}")
        + f"<p>Validation split of <code>sdm fit</code>: {cv_line}.</p>"
        + f"<p class='meta'>manifest.json: {len(manifest)} bytes (covariates, categorical "
        "levels, scaling, species, model type, versions, validation).</p>"
    )


def run(ctx: DemoContext) -> ReportSection:
    """Compare presence-only, survey-only and integrated models on held-out NCEAS surveys."""
    import torch

    from ecocube.models.benchmark.integrated import compare_group, load_group, split_surveys
    from ecocube.models.evaluation import reliability_curve
    from ecocube.models.integrated import IntegratedConfig

    torch.set_num_threads(2)
    groups = _GROUPS
    # prior_scale chosen by spatial validation on the training data (as in the benchmark)
    candidates = None if ctx.quick else (0.1, 0.3)
    steps = 200 if ctx.quick else 500
    device = "cpu" if ctx.device == "auto" else ctx.device
    config = IntegratedConfig(steps=steps, lr=0.05, num_samples=100, device=device)
    tables, figures = [], []
    for region, group in groups:
        ctx.console.print(f"integrated SDM: {region} {group} (3 models)")
        table, extra = compare_group(
            None,
            region,
            group,
            config=config,
            seed=ctx.seed,
            max_background=2000,
            candidates=candidates,
            conformal=True,
        )
        tables.append(table)
        y = extra["y"].ravel()
        curves = {
            m: reliability_curve(y, extra[m].ravel(), n_bins=10)
            for m in ("presence-only", "survey-only", "integrated")
        }
        figures.append(
            save_figure(
                _reliability_figure(curves, f"{region} {group}: held-out surveys"),
                ctx.out_dir,
                f"integrated_reliability_{region}_{group}",
            )
        )
    full = pd.concat(tables, ignore_index=True)
    shown = full[
        [
            "region",
            "group",
            "model",
            "prior_scale",
            "n_species",
            "n_train_surveys",
            "n_test_surveys",
            "auc",
            "ece",
            "coverage90",
            "conformal_factor",
            "coverage90_conformal",
            "seconds",
        ]
    ]
    g = load_group(None, *groups[0])
    train_idx, test_idx = split_surveys(g.sites, seed=ctx.seed)
    cli_html = _cli_round_trip(g, train_idx, test_idx, ctx.seed, 100 if ctx.quick else 300)
    body = (
        "<p>One log-intensity per species is shared by presence-only records (a thinned Poisson "
        "process with a bias surface common to all species) and standardised surveys (cloglog "
        "Bernoulli with latent factors for residual co-occurrence); Pyro SVI gives posterior "
        "mean, sd and 90 % intervals. Each group's survey sites are split into two halves of "
        "spatial blocks: one half trains, the other is held out. <b>auc</b>: mean over species; "
        "<b>ece</b>: expected calibration error of all site x species probabilities; "
        "<b>coverage90</b>: share of (species, test block) detection counts inside their 90 % "
        "posterior predictive interval; <b>coverage90_conformal</b>: the same after "
        "split-conformal calibration on the training surveys (the model refitted on half of "
        "their blocks; its block-count residuals on the other half give "
        "<b>conformal_factor</b>, the widening of the test intervals). "
        f"Demo settings: {steps} SVI steps; "
        + (
            "default prior scale (quick mode)"
            if candidates is None
            else "prior scale chosen from {0.1, 0.3} by spatial validation on the training data"
        )
        + ". <code>benchmarks/bench_integrated.py</code> runs all 14 NCEAS groups "
        "(see docs/sdm_integrated.md).</p>"
        + table_html(shown)
        + "".join(figures)
        + "<h3>Your own data: <code>ecocube sdm fit</code> / <code>predict</code></h3>"
        + cli_html
    )
    return ReportSection(
        "Integrated presence-only + survey SDM",
        body,
        meta={"table": full.to_dict(orient="records")},
    )
