"""Demo step: a multi-species maxent network on Costa Rica GBIF records with CHELSA covariates.

Covariates come from the cube built by the cube step (``ctx.state.cube_path``) when it
exists, else straight from the CHELSA rasters of the registry. Reports the spatial-block CV
AUC of every species, maps of three species and the NCEAS benchmark table.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np
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


def _grid_from_cube(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    from ecocube.cube import open_cube

    ds = open_cube(path)
    grids = {}
    for v in BIOCLIM:
        da = ds[v]
        extra = [d for d in da.dims if d not in ("y", "x")]
        if extra:
            da = da.isel({d: 0 for d in extra})
        grids[v] = np.asarray(da.values, dtype=np.float64)
    return grids, np.asarray(ds["x"].values), np.asarray(ds["y"].values)


def _grid_from_rasters() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    import rasterio

    from ecocube import data

    grids = {}
    for v in BIOCLIM:
        path = data.fetch_file("chelsa_costa_rica", f"CHELSA_{v}_1981-2010_V.2.1.tif")
        with rasterio.open(path) as src:
            arr = src.read(1).astype(np.float64) * src.scales[0] + src.offsets[0]
            if src.nodata is not None:
                arr[src.read(1) == src.nodata] = np.nan
            t = src.transform
            xs = t.c + t.a * (np.arange(src.width) + 0.5)
            ys = t.f + t.e * (np.arange(src.height) + 0.5)
        grids[v] = arr
    return grids, xs, ys


def _index(values: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Nearest cell index of coordinates on a regular axis (ascending or descending)."""
    step = axis[1] - axis[0]
    return np.round((values - axis[0]) / step).astype(np.int64)


def run(ctx: DemoContext) -> ReportSection:
    """Fit the network, cross-validate spatially, map three species, show the NCEAS table."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ecocube.cube.splitters import SpatialBlockKFold
    from ecocube.models.evaluation import auc, boyce_index
    from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig

    tic = time.perf_counter()
    cube_path = ctx.state.cube_path
    source = "CHELSA rasters of the data registry"
    grids = None
    if cube_path and Path(cube_path).exists():
        try:
            grids, xs, ys = _grid_from_cube(Path(cube_path))
            source = f"the ecocube cube at <code>{html.escape(str(cube_path))}</code>"
        except (KeyError, ValueError, OSError) as err:
            ctx.console.print(f"cube not usable for the SDM ({err}); reading the rasters")
    if grids is None:
        grids, xs, ys = _grid_from_rasters()
    stack = np.stack([grids[v] for v in BIOCLIM], axis=-1)  # (y, x, var)
    valid = np.isfinite(stack).all(-1)

    occ = load_costa_rica_occurrences()
    col, row = _index(occ["x"].to_numpy(), xs), _index(occ["y"].to_numpy(), ys)
    inside = (col >= 0) & (col < len(xs)) & (row >= 0) & (row < len(ys))
    occ, col, row = occ[inside], col[inside], row[inside]
    ok = valid[row, col]
    occ = (
        occ.assign(row=row[ok], col=col[ok])
        if ok.all()
        else occ[ok].assign(row=row[ok], col=col[ok])
    )
    # one record per species and cell: duplicates say more about observers than about habitat
    occ = occ.drop_duplicates(["species", "row", "col"])
    counts = occ["species"].value_counts()
    keep = counts[counts >= MIN_RECORDS].index
    occ = occ[occ["species"].isin(keep)].reset_index(drop=True)

    def table_at(r: np.ndarray, c: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(stack[r, c], columns=list(BIOCLIM))
        out["x"], out["y"] = xs[c], ys[r]
        return out

    presences = pd.concat(
        [occ[["species"]], table_at(occ["row"].to_numpy(), occ["col"].to_numpy())], axis=1
    )
    rng = np.random.default_rng(ctx.seed)
    vr, vc = np.nonzero(valid)
    pick = rng.choice(len(vr), size=min(5000, len(vr)), replace=False)
    background = table_at(vr[pick], vc[pick])

    epochs = 60 if ctx.quick else 150
    cfg = MaxentNetConfig(
        hidden=(32,),
        epochs=epochs,
        n_members=2 if ctx.quick else 4,
        weight_decay=1e-2,
        background="both",
        random_weight=0.5,
        seed=ctx.seed,
        device="cpu" if ctx.device == "auto" else ctx.device,
    )

    # Spatial-block CV: 0.5° blocks, presences and background share the fold assignment.
    n_folds = 3 if ctx.quick else 4
    cv = SpatialBlockKFold(block_size=0.5, n_splits=n_folds, seed=ctx.seed)
    all_xy = pd.concat([presences[["x", "y"]], background[["x", "y"]]], ignore_index=True)
    folds = cv.fold_labels(all_xy["x"].to_numpy(), all_xy["y"].to_numpy())
    f_po, f_bg = folds[: len(presences)], folds[len(presences) :]
    rows = []
    for k in range(n_folds):
        model = MaxentNet(BIOCLIM, config=cfg).fit(presences[f_po != k], background[f_bg != k])
        held_bg = background[f_bg == k]
        s_bg = model.predict_log_intensity(held_bg)
        for j, sp in enumerate(model.species_):
            held = presences[(f_po == k) & (presences["species"] == sp)]
            if len(held) < 3:
                continue
            s_po = model.predict_log_intensity(held)[:, j]
            y = np.r_[np.ones(len(s_po)), np.zeros(len(s_bg))]
            rows.append(
                {
                    "species": sp,
                    "fold": k,
                    "held_out_presences": len(s_po),
                    "auc": auc(y, np.r_[s_po, s_bg[:, j]]),
                    "boyce": boyce_index(s_po, s_bg[:, j]),
                }
            )
    cv_table = (
        pd.DataFrame(rows)
        .groupby("species")
        .agg(
            cells=("held_out_presences", "sum"), cv_auc=("auc", "mean"), cv_boyce=("boyce", "mean")
        )
        .sort_values("cells", ascending=False)
        .reset_index()
    )

    final = MaxentNet(BIOCLIM, config=cfg).fit(presences, background)
    rr, cc = np.nonzero(valid)
    suit = final.suitability(table_at(rr, cc))
    maps = [s for s in MAP_SPECIES if s in final.species_][:3] or list(final.species_[:3])
    fig, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps), 4.4))
    for ax, sp in zip(np.atleast_1d(axes), maps, strict=False):
        img = np.full(valid.shape, np.nan)
        img[rr, cc] = suit[sp].to_numpy()
        extent = (
            (xs[0], xs[-1], ys[-1], ys[0]) if ys[0] > ys[-1] else (xs[0], xs[-1], ys[0], ys[-1])
        )
        ax.imshow(
            img,
            extent=extent,
            origin="upper" if ys[0] > ys[-1] else "lower",
            cmap="viridis",
            vmin=0,
            vmax=1,
        )
        pts = presences[presences["species"] == sp]
        ax.scatter(pts["x"], pts["y"], s=3, c="red", label="GBIF records")
        ax.set_title(sp, fontstyle="italic")
        ax.set_xlabel("lon")
    np.atleast_1d(axes)[0].set_ylabel("lat")
    np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=8)
    fig.suptitle("Predicted suitability (cloglog), multi-species maxent network")
    figure = save_figure(fig, ctx.out_dir, "sdm_costa_rica_maps")
    seconds = time.perf_counter() - tic
    ctx.state.maxent_net_species = list(final.species_)

    nceas = _nceas_section()
    body = (
        f"<p>Covariates: {len(BIOCLIM)} CHELSA bioclim variables ({', '.join(BIOCLIM)}) from "
        f"{source}. {len(presences):,} GBIF records (one per species and 1 km cell) of "
        f"{presences['species'].nunique()} species with at least {MIN_RECORDS} cells; "
        f"background: the records of all these species (target group) plus "
        f"{len(background):,} random cells, half of the normalising mass each. One network "
        f"(shared hidden layer of {cfg.hidden[0]} units, {cfg.n_members} members, "
        f"{cfg.epochs} epochs) for all species.</p>"
        f"<p>Spatial-block cross-validation ({n_folds} folds of 0.5° blocks): AUC of held-out "
        "presences against held-out random background, and the continuous Boyce index. "
        f"Mean AUC {cv_table['cv_auc'].mean():.3f} over {len(cv_table)} species.</p>"
        + table_html(cv_table)
        + figure
        + f"<p class='meta'>Fitted, cross-validated and mapped in {seconds:.1f} s.</p>"
        + nceas
    )
    return ReportSection(
        "Multi-species maxent network (Costa Rica, NCEAS)",
        body,
        meta={"cv_auc": float(cv_table["cv_auc"].mean())},
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
