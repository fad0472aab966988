"""Demo step: one interaction-likelihood map for Costa Rica, on a SIMULATED community.

No metaweb in the mirror names Costa Rican species, so the step takes the topology of a real
metaweb (parasitoid -> galler edges of Kopelke et al. 2017) and gives its nodes a community
simulated over the real demo cube (latent-factor co-occurrence). Every figure and sentence
says "simulated": these are not observed interactions.
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

TITLE = "Interaction-likelihood map (simulated community)"
VARIABLES = ("bio1", "bio12")
FOCAL = "simulated Ovaria"


def _figure(ds: Any, focal: str, edge: int) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extent = (
        float(ds["x"].min()),
        float(ds["x"].max()),
        float(ds["y"].min()),
        float(ds["y"].max()),
    )
    joint = ds["interaction"].isel(edge=edge).values
    indep = ds["interaction_independent"].isel(edge=edge).values
    panels = [
        (ds["expected_links"].values, "expected realised links (joint)", "viridis", None),
        (ds["focal_enemy"].values, f"P({focal} meets >= 1 enemy)", "magma", None),
        (joint - indep, f"joint - product of marginals\n{ds['edge'].values[edge]}", "RdBu_r", 1),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, (values, title, cmap, sym) in zip(axes, panels, strict=True):
        kw: dict[str, Any] = {}
        if sym:
            lim = float(np.nanmax(np.abs(values))) or 1.0
            kw = {"vmin": -lim, "vmax": lim}
        ys = ds["y"].values
        img = values if ys[0] > ys[-1] else values[::-1]
        im = ax.imshow(img, extent=extent, cmap=cmap, **kw)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(
        "SIMULATED community on the Kopelke willow galler-parasitoid metaweb topology, over "
        "the real Costa Rica cube (not observed interactions)",
        fontsize=10,
    )
    return fig


def run(ctx: DemoContext) -> ReportSection:
    """Fit a latent-factor model to a simulated community on the demo cube and map it."""
    import torch

    from ecocube.cube import open_cube
    from ecocube.models import SDM
    from ecocube.models.interactions import interaction_map, kopelke_metaweb, simulate_surveys

    torch.set_num_threads(2)
    cube_path = ctx.state.cube_path
    if cube_path is None or not Path(cube_path).exists():
        return ReportSection(TITLE, "<p>No cube: the cube step did not build one.</p>")
    cube = open_cube(cube_path, chunks=None)
    variables = [v for v in VARIABLES if v in cube.data_vars]
    if len(variables) < 2:
        return ReportSection(TITLE, f"<p>The cube lacks {list(VARIABLES)}.</p>")
    tic = time.perf_counter()
    web = kopelke_metaweb()
    folder = ctx.out_dir / "interactions"
    folder.mkdir(parents=True, exist_ok=True)
    metaweb_file = folder / "metaweb_kopelke_subset.csv"
    web.edges.to_csv(metaweb_file, index=False)
    mapping = pd.DataFrame({"species": [f"simulated {n}" for n in web.nodes], "node": web.nodes})
    mapping_file = folder / "mapping.csv"
    mapping.to_csv(mapping_file, index=False)
    sub = cube[variables].compute()
    records, _ = simulate_surveys(
        sub, list(mapping["species"]), variables, n_sites=300 if ctx.quick else 500, seed=ctx.seed
    )
    sdm = SDM(
        model="integrated",
        covariates=variables,
        options={"n_factors": 1, "num_samples": 50, "steps": 150 if ctx.quick else 300},
        cv_folds=0,
        seed=ctx.seed,
    ).fit(records.drop(columns=["x", "y"]))
    model_dir = sdm.save(folder / "model")
    fit_s = time.perf_counter() - tic
    result = interaction_map(
        model_dir,
        metaweb_file,
        cube_path,
        ctx.out_dir / "interactions.zarr",
        mapping=mapping_file,
        focal=FOCAL,
        draws=30 if ctx.quick else 60,
        tile=256,
        seed=ctx.seed,
        overwrite=True,
        progress=False,
    )
    ds = open_cube(result.store).compute()
    land = np.isfinite(ds["expected_links"].values)
    gap = np.abs(ds["interaction"].values - ds["interaction_independent"].values)[:, land]
    edge = int(np.argmax(gap.mean(1)))
    figure = save_figure(_figure(ds, FOCAL, edge), ctx.out_dir, "interactions_map")
    summary = pd.DataFrame(
        {
            "edge": ds["edge"].values,
            "mean P(realised), joint": np.nanmean(ds["interaction"].values[:, land], axis=1),
            "mean P(realised), marginals": np.nanmean(
                ds["interaction_independent"].values[:, land], axis=1
            ),
            "mean |joint - marginals|": gap.mean(1),
        }
    )
    ctx.console.print(
        f"interactions: {len(summary)} simulated edges on {result.cells} cells in "
        f"{time.perf_counter() - tic:.1f} s"
    )
    command = (
        "ecocube interactions map interactions/model --metaweb "
        "interactions/metaweb_kopelke_subset.csv --mapping interactions/mapping.csv --cube "
        f"cube.zarr --out interactions.zarr --focal '{FOCAL}'"
    )
    body = (
        "<p><b>Simulated community.</b> No metaweb in the data mirror names Costa Rican "
        "species, so this map uses the <i>topology</i> of a real metaweb: the recorded "
        "parasitoid &rarr; galler edges among three willow gallers and four parasitoids of "
        "Kopelke et al. (2017, Ecology 98:1730; registry dataset "
        "<code>interactions_kopelke</code>). Their occurrences over the real CHELSA cube are "
        "<b>simulated</b> (survey data from a latent-factor model on "
        f"{html.escape(', '.join(variables))}), then an integrated model with one latent "
        f"factor is fitted to them ({fit_s:.1f} s). None of these interactions is observed in "
        "Costa Rica.</p>"
        "<p>Per cell: P(interaction realised) = P(both present, from joint posterior samples) "
        "&times; P(interaction | co-occurrence), beside the product of the marginals; the "
        f"expected number of realised links; and for <code>{html.escape(FOCAL)}</code> the "
        "probability that it co-occurs with at least one of its parasitoids. The right panel "
        "shows where residual co-occurrence (the latent factor) moves an edge's probability "
        f"away from the product of marginals. {result.cells:,} land cells, "
        f"{result.seconds:.1f} s.</p>"
        f"<pre>{html.escape(command)}</pre>" + figure + table_html(summary, float_format="{:.3f}")
    )
    return ReportSection(
        TITLE,
        body,
        meta={
            "simulated": True,
            "cells": result.cells,
            "seconds": result.seconds,
            "edges": summary.to_dict(orient="records"),
        },
    )
