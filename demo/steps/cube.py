"""Demo step: the Costa Rica cube (CHELSA bioclim + GAM land-use fractions + GBIF occurrences)
and the sampling benchmark."""

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

CHELSA = "chelsa-costa-rica"
GAM = "gam-landuse-costa-rica"


def _items(ctx: DemoContext) -> tuple[list[Any], str]:
    """Items from the catalog step's STAC API (or static catalog); else built here."""
    from ecocube.catalog import load_items
    from ecocube.cube.testing import chelsa_items, gam_landuse_items

    url = ctx.state.stac_url
    catalog_dir = ctx.state.catalog_dir
    if url or catalog_dir:
        items = load_items(url or catalog_dir, collections=[CHELSA, GAM])
        items = [i for i in items if i.collection_id in (CHELSA, GAM)]
        local = all(
            Path((a.get_absolute_href() or "").removeprefix("file://")).is_file()
            for i in items
            for a in i.assets.values()
            if (a.media_type or "").startswith("image/tiff")
        )
        if items and not local and catalog_dir:
            # the API returns the items; their files are resolved from the static catalog
            ids = {i.id for i in items}
            static = load_items(catalog_dir)
            items = [i for i in static if i.id in ids]
            return items, f"STAC API search at {html.escape(str(url))} (files from {catalog_dir})"
        if items and local:
            return (
                items,
                f"STAC {'API search at ' + str(url) if url else 'catalog ' + str(catalog_dir)}",
            )
    chelsa = chelsa_items()
    for it in chelsa:  # same variable names as the catalog's single CHELSA item
        it.collection_id = CHELSA
    return chelsa + gam_landuse_items(), "items built from the data registry (no catalog step)"


def _occurrences() -> pd.DataFrame:
    from ecocube import data

    folder = Path(data.fetch("gbif_costa_rica"))
    frames = []
    for name in ("primates", "viperidae", "junco_vulcani", "leopardus_pardalis"):
        df = pd.read_parquet(folder / f"{name}_cr_gbif.parquet")
        frames.append(df[["species", "decimalLongitude", "decimalLatitude", "year"]])
    occ = pd.concat(frames, ignore_index=True).dropna(subset=["species"])
    return occ.rename(columns={"decimalLongitude": "lon", "decimalLatitude": "lat"})


def layers_caption(n_occurrences: int) -> str:
    """Caption of the cube layer maps (what the black dots on the bio1 map are)."""
    return (
        f"Black dots on the bio1 map: the {n_occurrences:,} GBIF occurrence records (primates, "
        "vipers, Junco vulcani, ocelot) that fall inside the cube and were sampled below. "
        "Land-use panels are zoomed to the extent of the GAM map."
    )


def _layers_figure(cube: Any, sampled: pd.DataFrame) -> Any:
    """Four cube layers; occurrences as black dots on the bio1 map, with a legend."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    ext = [float(cube.x.min()), float(cube.x.max()), float(cube.y.min()), float(cube.y.max())]
    panels = [
        ("bio1", "bio1 mean annual temperature (°C)", "RdYlBu_r"),
        ("bio12", "bio12 annual precipitation (kg m-2)", "YlGnBu"),
        ("landuse_frac_1", "GAM secondary forest fraction", "Greens"),
        ("landuse_frac_3", "GAM urban fraction", "Greys"),
    ]
    for ax, (name, title, cmap) in zip(axes, panels, strict=True):
        if name not in cube:
            ax.set_axis_off()
            continue
        im = ax.imshow(cube[name].values, extent=ext, cmap=cmap, origin="upper")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.75)
        if name.startswith("landuse"):
            valid = np.isfinite(cube[name].values)
            rows, cols = np.nonzero(valid)
            ax.set_xlim(float(cube.x[cols.min()]), float(cube.x[cols.max()]))
            ax.set_ylim(float(cube.y[rows.max()]), float(cube.y[rows.min()]))
    axes[0].scatter(sampled["lon"], sampled["lat"], s=0.3, c="k", alpha=0.15, linewidths=0)
    # the dots are too small and faint to serve as their own legend marker: use a proxy
    dots = Line2D([], [], ls="none", marker="o", ms=4, mfc="k", mec="none", alpha=0.6)
    axes[0].legend(
        [dots],
        [f"GBIF occurrences ({len(sampled):,})"],
        loc="lower left",
        fontsize=7,
        framealpha=0.8,
    )
    fig.tight_layout()
    return fig


def run(ctx: DemoContext) -> ReportSection:
    """Build and write the cube, sample occurrences, run the short sampling benchmark."""
    import matplotlib

    matplotlib.use("Agg", force=False)

    from ecocube.catalog import register_cube
    from ecocube.cube import anchor_of, build_cube, open_cube, write_cube
    from ecocube.demo.sampling_benchmark import figure, run_sampling_benchmark
    from ecocube.errors import CatalogError

    items, origin = _items(ctx)
    chelsa = [i for i in items if i.collection_id == CHELSA]
    anchor, res = anchor_of(chelsa[0])
    bbox = tuple(chelsa[0].bbox)
    start = time.perf_counter()
    ds = build_cube(items, bbox=bbox, crs="EPSG:4326", resolution=res, anchor=anchor)
    # inside the catalog folder, so that the catalog stays self-contained once it is registered
    store = (ctx.state.catalog_dir or ctx.out_dir) / "cubes" / "costa-rica.zarr"
    path = write_cube(ds, store, items=items, overwrite=True)
    build_s = time.perf_counter() - start
    ctx.state.cube_path = path
    ctx.state.cube_build_seconds = build_s
    ctx.console.print(f"cube: {len(ds.data_vars)} variables written to {path} in {build_s:.1f} s")
    registered = ""
    if ctx.state.catalog_dir:
        try:
            item = register_cube(path, ctx.state.catalog_dir, item_id="costa-rica-cube")
            registered = (
                f"Registered back into the catalog as STAC Item <code>{item.id}</code> "
                f"(collection <code>{item.collection_id}</code>, datacube extension)."
            )
        except (CatalogError, OSError, ValueError) as err:
            registered = f"Registration in the catalog failed: {html.escape(str(err))}"

    cube = open_cube(path)
    occ = _occurrences()
    table = cube.ecocube.sample_points(occ["lon"].to_numpy(), occ["lat"].to_numpy())
    sampled = pd.concat([occ.reset_index(drop=True), table.drop(columns=["x", "y"])], axis=1)
    sampled = sampled[sampled["inside"]]
    sampled.to_parquet(ctx.out_dir / "cube_occurrence_covariates.parquet", index=False)
    ctx.state.occurrence_covariates_path = ctx.out_dir / "cube_occurrence_covariates.parquet"
    frac_cols = [c for c in cube.data_vars if str(c).startswith("landuse_frac_")]
    summary = (
        sampled.groupby("species")
        .agg(
            records=("lon", "size"),
            bio1_degC=("bio1", "mean"),
            bio12_mm=("bio12", "mean"),
            **({"forest_frac": ("landuse_frac_1", "mean")} if frac_cols else {}),
        )
        .sort_values("records", ascending=False)
        .head(10)
        .reset_index()
    )

    maps = save_figure(_layers_figure(cube, sampled), ctx.out_dir, "cube_layers")
    maps += f'\n<p class="meta">{html.escape(layers_caption(len(sampled)))}</p>'

    bench = run_sampling_benchmark(path, quick=True, tiny=ctx.quick, seed=ctx.seed)
    ctx.state.sampling_ratio = bench["ratio_64"]
    bench_img = save_figure(figure(bench), ctx.out_dir, "cube_sampling_benchmark")
    bench_df = pd.DataFrame(bench["results"])[
        ["loader", "patch", "samples", "patches_per_s", "peak_heap_mb", "rss_mb"]
    ]
    variables = ", ".join(html.escape(str(v)) for v in cube.data_vars)
    body = f"""
<p>Source: {html.escape(origin)}. Cube grid: EPSG:4326, {cube.sizes["x"]} × {cube.sizes["y"]}
pixels of {res * 3600:.0f}″ (the CHELSA grid, so bioclim values are not resampled), built with
stackstac and written atomically to <code>{html.escape(str(path))}</code> in {build_s:.1f} s
(Zarr, dask-chunked, float32, provenance of {len(items)} source items with checksums).
{registered}</p>
<p>Variables: {variables}. The 10 m GAM land-use map enters both as the modal class and as
per-class fractions on the 30″ grid (fractions sum to 1 where the map has data).</p>
{maps}
<p>{len(sampled):,} GBIF occurrences sampled with <code>ds.ecocube.sample_points</code>
(saved to <code>cube_occurrence_covariates.parquet</code>); the 10 most recorded species, with
mean covariates at their records (<code>forest_frac</code>: GAM secondary-forest fraction, over
records inside the GAM map; &ndash; when none is):</p>
{table_html(summary)}
<h3>Sampling speed</h3>
<p>Short run of <code>benchmarks/bench_sampling.py</code>: ecocube's point-centred loader on the
cube vs torchgeo <code>RasterDataset</code> + <code>RandomGeoSampler</code> on the same 19
GeoTIFFs. 64×64 patches: <b>{bench["ratio_64"]:.0f}×</b> faster; 1×1 points:
{bench["ratio_1"]:.0f}×. RSS change over {bench["memory_samples"]:,} 64×64 samples:
{bench["rss_growth_mb"]:+.1f} MiB. Timings on a shared machine; full run:
<code>OMP_NUM_THREADS=1 python benchmarks/bench_sampling.py</code>.</p>
{bench_img}
{table_html(bench_df, float_format="{:.1f}")}
"""
    return ReportSection("Data cube and loaders", body)
