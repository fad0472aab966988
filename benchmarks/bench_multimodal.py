"""Tabular-only vs multimodal (patch CNN + tabular) maxent SDM on real Costa Rica data.

Two experiments on the Costa Rica cube of the cube demo (CHELSA V2.1 bioclim bio1..bio19 on their
30'' grid + the 2020 GAM land-use map as per-class fractions on the same grid), both scored by
spatial-block cross-validated AUC of held-out presence sites against the held-out target-group
sites (every other occupied pixel of the held-out blocks):

* ``cr``: 29 species of GBIF primates, pit vipers, Junco vulcani and ocelot over all of Costa Rica;
  tabular covariates = the 19 bioclim values at the record's pixel; patches = 9x9 pixels
  (about 8 km) of bio1, bio4, bio12, bio15 (the GAM map covers only the capital region).
* ``gam``: GBIF mammals of the Greater Metropolitan Area (species with >= 15 records);
  tabular covariates = the 19 bioclim values; patches = 5x5 pixels of the 8 GAM land-use
  fractions.

Hyper-parameters (weight decay) are chosen for each outer fold by an inner spatial-block CV on
that fold's training records only; the outer test fold is used only to score. Both models share
everything else (tabular branch, loss, loop, epochs); the tabular-only model is
``MultimodalSDM(..., patch_variables=())``, i.e. the DeepMaxent network of ``maxent_net``
with one member.

Reproduce (2 CPU cores, about 25 minutes on a shared machine; ``--quick``: 2 folds, 1 setting)::

    OMP_NUM_THREADS=2 python benchmarks/bench_multimodal.py [--quick] [--experiment cr|gam|both]
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ecocube.models.datasets import load_costa_rica_occurrences

BIO = [f"bio{i}" for i in range(1, 20)]
LANDUSE = [f"landuse_frac_{i}" for i in range(1, 9)]


def build_cube(with_gam: bool):
    """The cube demo's Costa Rica cube (CHELSA grid), built from the data registry."""
    from ecocube.cube import anchor_of, build_cube
    from ecocube.cube.testing import chelsa_items, gam_landuse_items

    items = chelsa_items()
    anchor, res = anchor_of(items[0])
    if with_gam:
        items = items + gam_landuse_items()
    ds = build_cube(items, bbox=items[0].bbox, crs="EPSG:4326", resolution=res, anchor=anchor)
    return ds.compute()


def gam_records(min_records: int = 15) -> pd.DataFrame:
    import geopandas as gpd

    from ecocube import data

    g = gpd.read_file(data.fetch_file("gbif_costa_rica", "gam_mammalia_gbif.geojson"))
    df = pd.DataFrame({"species": g["species"], "x": g.geometry.x, "y": g.geometry.y}).dropna()
    keep = df["species"].value_counts()
    return df[df["species"].isin(keep[keep >= min_records].index)].reset_index(drop=True)


def nested_cv(ds, records, make, grid, *, block_size, n_outer, n_inner, seed) -> pd.DataFrame:
    """Outer spatial-block CV; per outer fold, pick the grid setting by inner block CV."""
    from ecocube.cube import SpatialBlockKFold
    from ecocube.models.multimodal import block_cv_auc

    outer = SpatialBlockKFold(block_size=block_size, n_splits=n_outer, seed=seed)
    rows = []
    for fold, (train, test) in enumerate(
        outer.split(records["x"].to_numpy(), records["y"].to_numpy())
    ):
        tr = records.iloc[train].reset_index(drop=True)
        best, chosen = -np.inf, grid[0]
        if len(grid) > 1:
            for setting in grid:
                inner = block_cv_auc(
                    ds,
                    tr,
                    lambda s=setting: make(**s),
                    block_size=block_size,
                    n_splits=n_inner,
                    seed=seed + 1,
                    min_presences=3,
                )
                score = inner.groupby("species")["auc"].mean().mean()
                if score > best:
                    best, chosen = score, setting
        # score the chosen setting on the outer test fold: refit on all outer-training records
        both = pd.concat([tr.assign(_fold=0), records.iloc[test].assign(_fold=1)])
        table = _train_test_auc(ds, both, make(**chosen))
        table["fold"] = fold
        table["chosen"] = str(chosen)
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def _train_test_auc(ds, both: pd.DataFrame, model) -> pd.DataFrame:
    """AUC of held-out presence sites vs held-out target-group sites (``_fold == 1``)."""
    from ecocube.models.evaluation import auc

    train, test = both[both["_fold"] == 0], both[both["_fold"] == 1]
    model.fit(ds, train, drop_na=True)
    pix = ds.ecocube.sample_points(test["x"].to_numpy(), test["y"].to_numpy(), variables=BIO)
    ok = (pix["inside"] & pix[BIO].notna().all(axis=1)).to_numpy()
    test = test[ok].assign(_pix=(pix["row"] * ds.sizes["x"] + pix["col"]).to_numpy()[ok])
    sites = test.groupby("_pix").first().reset_index()
    pres = pd.crosstab(test["_pix"], test["species"]).reindex(sites["_pix"]).fillna(0)
    scores = model.suitability(ds, sites)
    out = []
    for sp in model.species_:
        if sp not in pres.columns:
            continue
        y = (pres[sp].to_numpy() > 0).astype(int)
        if 5 <= y.sum() < len(y):
            out.append({"species": sp, "n_presence": int(y.sum()), "auc": auc(y, scores[sp])})
    return pd.DataFrame(out)


def run(name: str, ds, records, patch_vars, patch_size, *, block, quick, seed) -> pd.DataFrame:
    from ecocube.models.multimodal import MultimodalConfig, MultimodalSDM

    base = MultimodalConfig(
        patch_size=patch_size,
        patch_channels=(16, 32),
        patch_embedding=16,
        hidden=(64, 64),
        epochs=60 if quick else 120,
        lr=5e-3,
        seed=seed,
    )
    grid = [{"weight_decay": 1e-2}] if quick else [{"weight_decay": 1e-3}, {"weight_decay": 1e-1}]
    models = {
        "tabular": lambda **kw: MultimodalSDM(BIO, (), config=replace(base, **kw)),
        "multimodal": lambda **kw: MultimodalSDM(BIO, patch_vars, config=replace(base, **kw)),
    }
    results = []
    for label, make in models.items():
        tic = time.perf_counter()
        table = nested_cv(
            ds,
            records,
            make,
            grid,
            block_size=block,
            n_outer=2 if quick else 3,
            n_inner=2,
            seed=seed,
        )
        secs = time.perf_counter() - tic
        table["model"], table["experiment"], table["seconds"] = label, name, secs
        print(
            f"[{name}] {label:10s} mean AUC {table['auc'].mean():.3f} over "
            f"{table['species'].nunique()} species x folds ({len(table)} scores), {secs:.0f} s",
            flush=True,
        )
        results.append(table)
    return pd.concat(results, ignore_index=True)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 outer folds, one setting")
    parser.add_argument("--experiment", choices=["cr", "gam", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write per-species AUCs (CSV)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from ecocube.errors import EcocubeWarning

    # records on nodata pixels (sea, lakes) are dropped on purpose with drop_na=True
    warnings.simplefilter("ignore", EcocubeWarning)
    start = time.perf_counter()
    ds = build_cube(with_gam=args.experiment != "cr")
    print(f"cube: {dict(ds.sizes)} built in {time.perf_counter() - start:.0f} s", flush=True)
    tables = []
    if args.experiment in ("cr", "both"):
        recs = load_costa_rica_occurrences()
        tables.append(
            run(
                "cr",
                ds,
                recs,
                ["bio1", "bio4", "bio12", "bio15"],
                9,
                block=0.5,
                quick=args.quick,
                seed=args.seed,
            )
        )
    if args.experiment in ("gam", "both"):
        recs = gam_records()
        tables.append(
            run("gam", ds, recs, LANDUSE, 5, block=0.08, quick=args.quick, seed=args.seed)
        )
    table = pd.concat(tables, ignore_index=True)
    if args.out:
        table.to_csv(args.out, index=False)
    # species weighted equally: mean over folds per species, then over species
    summary = (
        table.groupby(["experiment", "model", "species"])["auc"]
        .mean()
        .groupby(["experiment", "model"])
        .agg(["mean", "count"])
        .rename(columns={"mean": "mean_auc", "count": "n_species"})
    )
    print(summary.to_string(float_format="{:.3f}".format))
    for exp in table["experiment"].unique():
        wide = (
            table[table["experiment"] == exp]
            .groupby(["model", "species"])["auc"]
            .mean()
            .unstack("model")
            .dropna()
        )
        diff = wide["multimodal"] - wide["tabular"]
        print(
            f"[{exp}] multimodal - tabular: mean {diff.mean():+.3f}, better for "
            f"{int((diff > 0).sum())}/{len(diff)} species"
        )
    print(f"wall: {time.perf_counter() - start:.0f} s (shared 2-core machine; pessimistic)")
    print(
        "reproduce: OMP_NUM_THREADS=2 python benchmarks/bench_multimodal.py"
        + (" --quick" if args.quick else "")
        + f" --experiment {args.experiment}"
    )


if __name__ == "__main__":
    main()
