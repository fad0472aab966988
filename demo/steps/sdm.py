"""Demo step: GBIF records (x, y only) -> a multi-species maxent network fitted from the cube ->
``sdm map`` (mean, sd, 5 % / 95 % quantiles, novelty; land mask) -> COGs and a STAC item in the
served API -> a figure per shown species.

The covariates are read from the cube built by the cube step (``ctx.state.cube_path``) at the
records' cells and at random background cells (:meth:`ecocube.models.SDM.fit` with ``cube=``).
Reports the spatial-block CV AUC of every species, the mapping rate, the map figures and the
NCEAS benchmark table.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import pandas as pd

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, save_figure, table_html
from ecocube.models.datasets.gbif import load_costa_rica_occurrences

__all__ = ["run"]

#: Bioclim variables used (low pairwise correlation in Costa Rica; temperature, seasonality,
#: precipitation and its seasonality).
BIOCLIM = ("bio1", "bio2", "bio4", "bio5", "bio12", "bio14", "bio15", "bio17")
MIN_RECORDS = 25
MAP_SPECIES = ("Junco vulcani", "Ateles geoffroyi", "Bothriechis schlegelii")
#: Where the maps go, inside the demo catalog (so the catalog stays self-contained).
MAPS_NAME = "costa-rica-sdm"


def _records(cube_path: Path) -> pd.DataFrame:
    """GBIF records inside the cube, one per species and cell, of well-recorded species."""
    from ecocube.cube import open_cube

    occ = load_costa_rica_occurrences()[["species", "x", "y"]]
    ds = open_cube(cube_path)
    rows, cols, inside = ds.ecocube.pixel_index(occ["x"].to_numpy(), occ["y"].to_numpy())
    occ = occ.assign(row=rows, col=cols)[inside]
    # one record per species and cell: duplicates say more about observers than about habitat
    occ = occ.drop_duplicates(["species", "row", "col"])
    counts = occ["species"].value_counts()
    keep = counts[counts >= MIN_RECORDS].index
    return occ[occ["species"].isin(keep)].drop(columns=["row", "col"]).reset_index(drop=True)


def run(ctx: DemoContext) -> ReportSection:
    """Fit from the cube, cross-validate spatially, map every species, show three of them."""
    from ecocube.catalog import search, serve_catalog, validate_catalog
    from ecocube.models import SDM, map_model
    from ecocube.models.map_plot import plot_species_maps

    cube_path = ctx.state.cube_path
    if cube_path is None or not Path(cube_path).exists():
        return ReportSection(
            "Multi-species maxent network (Costa Rica, NCEAS)",
            "<p>No cube: the cube step did not build one, so nothing was fitted.</p>"
            + _nceas_section(),
        )
    tic = time.perf_counter()
    records = _records(Path(cube_path))
    device = "cpu" if ctx.device == "auto" else ctx.device
    hidden = 32
    options: dict[str, object] = {
        "hidden": (hidden,),
        "epochs": 60 if ctx.quick else 150,
        "n_members": 2 if ctx.quick else 4,
        "weight_decay": 1e-2,
        "background": "both",
        "random_weight": 0.5,
    }
    n_background = 5000
    sdm = SDM(
        "maxent-net",
        seed=ctx.seed,
        device=device,
        options=options,
        cv_folds=3 if ctx.quick else 4,
    ).fit(
        records,
        cube=cube_path,
        variables=list(BIOCLIM),
        background=n_background,
        drop_outside=True,
        crs="EPSG:4326",
    )
    fit_s = time.perf_counter() - tic
    model_dir = sdm.save(ctx.out_dir / "models" / "costa-rica-maxent-net")
    cv = sdm.validation_
    cv_table = (
        pd.DataFrame(
            [
                {"species": sp, "held_out_presences": v["n_presences"], "cv_auc": v["auc"]}
                for sp, v in cv["cv_auc"].items()
            ]
        )
        .sort_values("held_out_presences", ascending=False)
        .reset_index(drop=True)
    )
    ctx.state.maxent_net_species = list(sdm.species_)

    catalog_dir = ctx.state.catalog_dir
    maps_dir = (catalog_dir or ctx.out_dir) / "maps"
    result = map_model(
        model_dir,
        cube_path,
        maps_dir / f"{MAPS_NAME}.zarr",
        cog=maps_dir / f"{MAPS_NAME}-cogs",
        catalog=catalog_dir,
        device=device,
        tile=128,
        overwrite=True,
    )
    rate = result.cells * len(result.species) / result.seconds
    shown = [s for s in MAP_SPECIES if s in sdm.species_][:3] or list(sdm.species_[:3])
    fig = plot_species_maps(result.store, shown, records=records)
    fig.suptitle(
        "Multi-species maxent network on Costa Rica GBIF records: relative suitability "
        "(mean and sd over the ensemble members)"
    )
    figure = save_figure(fig, ctx.out_dir, "sdm_costa_rica_maps")
    found: list[str] = []
    stac = ""
    if catalog_dir is not None:
        problems = validate_catalog(catalog_dir, check_checksums=False)
        with serve_catalog(catalog_dir) as url:
            found = [str(item.id) for item in search(url, collections=["ecocube-maps"])]
        ids = ", ".join(html.escape(i) for i in found) or "none"
        stac = (
            f"<p>The maps, their {len(result.cogs)} COGs and a copy of the model are registered "
            f"as item <code>{html.escape(str(result.item_id))}</code> of the collection "
            "<code>ecocube-maps</code> (ML-model extension: architecture, framework, input "
            "cube variables, per-species outputs). <code>catalog validate</code>: "
            f"{len(problems)} problems; a search of the served STAC API for the collection "
            f"finds: {ids}.</p>"
        )
    seconds = time.perf_counter() - tic
    body = (
        f"<p>Records: {len(records):,} GBIF records (x, y only; one per species and 1 km cell) "
        f"of {records['species'].nunique()} species with at least {MIN_RECORDS} cells. "
        f"<code>SDM.fit(records, cube=..., background={n_background})</code> reads "
        f"{len(BIOCLIM)} CHELSA bioclim variables ({', '.join(BIOCLIM)}) of the cube "
        f"<code>{html.escape(str(cube_path))}</code> at the records' cells and at "
        f"{n_background:,} random land cells (sea and nodata are never drawn: CHELSA has "
        "values over the sea, and sea background would make presences easy to tell apart); "
        "background: those cells plus the records of "
        "all species (target group), half of the normalising mass each. One network (shared "
        f"hidden layer of {hidden} units, {options['n_members']} members, "
        f"{options['epochs']} epochs) for all species, fitted in {fit_s:.1f} s.</p>"
        f"<p>Cross-validation ({sdm.cv_folds} folds, {html.escape(str(cv.get('method')))}, "
        f"blocks of {cv.get('block_size', 'n/a')}): AUC of held-out presences against "
        f"held-out background. Mean AUC {cv_table['cv_auc'].mean():.3f} over "
        f"{int(cv_table['cv_auc'].notna().sum())} species.</p>"
        + table_html(cv_table)
        + f"<p><code>ecocube sdm map</code>: {len(result.species)} species on "
        f"{result.cells:,} land cells (sea and nodata masked) in {result.seconds:.1f} s on "
        f"{result.device}: {rate:,.0f} cells x species per second. Each map holds the "
        "predictive mean, sd, 5 % and 95 % quantiles, and the novelty (MESS) of each cell's "
        "covariates against the training data. Shown: mean and sd of three species with "
        "their records.</p>"
        + figure
        + stac
        + f"<p class='meta'>Fitted, cross-validated, mapped and registered in {seconds:.1f} s."
        "</p>" + _nceas_section()
    )
    return ReportSection(
        "Multi-species maxent network (Costa Rica, NCEAS)",
        body,
        meta={"cv_auc": float(cv_table["cv_auc"].mean()), "cells_species_per_s": rate},
    )


def _nceas_section() -> str:
    """The NCEAS benchmark table from ``benchmarks/results`` (written by the benchmark)."""
    root = Path(__file__).resolve().parents[2] / "benchmarks" / "results"  # the source tree
    path = root / "nceas_summary.csv"
    if not path.is_file():
        return (
            "<p>NCEAS benchmark: no results file yet; run "
            "<code>python benchmarks/bench_nceas.py</code>.</p>"
        )
    table = pd.read_csv(path)
    measured = table["measured_utc"].iloc[0] if "measured_utc" in table else "unknown date"
    cols = [c for c in table.columns if c not in ("measured_utc", "command")]
    cmd = table["command"].iloc[0] if "command" in table else ""
    return (
        "<h3>NCEAS benchmark (Elith et al. 2020; 226 species, per-survey-group protocol)</h3>"
        f"<p>Measured {html.escape(str(measured))} with <code>{html.escape(str(cmd))}</code> "
        "(read from <code>benchmarks/results/nceas_summary.csv</code>). Reference: DeepMaxent "
        "paper 0.768, Maxent 0.760; public DeepMaxent code on these files about 0.759.</p>"
        + table_html(table[cols], float_format="{:.4f}")
    )
