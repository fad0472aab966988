"""Integrated data, shown to help: presence-only vs survey-only vs integrated on NCEAS.

For every NCEAS survey group, the group's presence-absence sites are split into two halves of
spatial blocks (8 x 8 grid over the sites' extent, blocks balanced by site count): one half
becomes *training surveys*, the other half is held out. Three Pyro models with identical
covariates (linear + quadratic + one-hot) are fitted:

* presence-only: the group's presence records + 5,000 background points (Maxent-style cloglog
  output, since the absolute scale is not identifiable from presence-only data),
* survey-only: the training surveys (cloglog Bernoulli, latent factors),
* integrated: both, sharing the intensity, with a shared observation-bias surface.

Each model's ``prior_scale`` is chosen among ``--candidates`` by spatial-block validation on
its own *training* data (never the held-out half). On the held-out surveys we report the mean
AUC over species (each species with both classes counts once), the expected calibration error
(ECE, 10 bins) of all site x species probabilities, and the coverage of 90 % posterior
predictive intervals of detection counts per species and test block, as the model gives them
(``coverage90``) and after split-conformal calibration (``coverage90_conformal``): the training
surveys are split again into two halves of blocks, the model is refitted on one half and the
normalised residuals of its block counts on the other half give the factor stretching the arms
(``conformal_factor``) applied to the test intervals. The test half is never used to fit,
select or calibrate.

Writes ``benchmarks/results/integrated_groups.csv`` (one row per group x model) and
``benchmarks/results/integrated_summary.csv`` (means over groups and over species).

Reproduce (timings on a shared 2-core machine are pessimistic)::

    OMP_NUM_THREADS=1 python benchmarks/bench_integrated.py --threads 1
    # a subset:
    python benchmarks/bench_integrated.py --groups AWT-bird,NSW-ba
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_GROUPS = (
    "AWT-bird,AWT-plant,NSW-ba,NSW-db,NSW-nb,NSW-ot,NSW-ou,NSW-rt,NSW-ru,NSW-sr,SA-plant,"
    "CAN-bird,SWI-tree,NZ-plant"
)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over groups and species-weighted mean AUC per model."""
    rows = []
    for model, t in table.groupby("model", sort=False):
        w = t["n_species"]
        rows.append(
            {
                "model": model,
                "groups": len(t),
                "species": int(w.sum()),
                "auc_species_weighted": float((t["auc"] * w).sum() / w.sum()),
                "auc_group_mean": float(t["auc"].mean()),
                "ece_group_mean": float(t["ece"].mean()),
                "ece_max": float(t["ece"].max()),
                "coverage90_mean": float(
                    (t["coverage90"] * t["coverage_units"]).sum() / t["coverage_units"].sum()
                ),
                **(
                    {
                        "coverage90_conformal_mean": float(
                            (t["coverage90_conformal"] * t["coverage_units"]).sum()
                            / t["coverage_units"].sum()
                        ),
                        "coverage90_conformal_min": float(t["coverage90_conformal"].min()),
                    }
                    if "coverage90_conformal" in t
                    else {}
                ),
                "seconds": float(t["seconds"].sum()),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    import torch

    from ecocube.models.benchmark.integrated import compare_group
    from ecocube.models.integrated import IntegratedConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", default=DEFAULT_GROUPS, help="REGION-group list")
    parser.add_argument("--candidates", default="0.1,0.3", help="prior_scale candidates")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--block-effect",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="per-species random intercept per spatial block of training surveys",
    )
    parser.add_argument(
        "--conformal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also calibrate the block-count intervals by split conformal on training surveys",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    candidates = tuple(float(c) for c in args.candidates.split(",") if c)
    config = IntegratedConfig(steps=args.steps, seed=args.seed, block_effect=args.block_effect)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_blocks" if args.block_effect else ""
    path = args.out / f"integrated_groups{suffix}.csv"
    tables = []
    for item in args.groups.split(","):
        region, group = item.split("-")
        tic = time.perf_counter()
        table, _ = compare_group(
            None,
            region,
            group,
            config=config,
            seed=args.seed,
            candidates=candidates,
            conformal=args.conformal,
        )
        tables.append(table)
        print(table.drop(columns=["region"]).round(3).to_string(index=False))
        print(f"{item}: {time.perf_counter() - tic:.0f} s (with hyper-parameter selection)\n")
        pd.concat(tables).to_csv(path, index=False)
    full = pd.concat(tables)
    summary = summarise(full)
    summary.to_csv(args.out / f"integrated_summary{suffix}.csv", index=False)
    print(summary.round(3).to_string(index=False))
    flag = " --block-effect" if args.block_effect else ""
    print(
        f"\nwrote {path}\nreproduce: OMP_NUM_THREADS=1 python benchmarks/bench_integrated.py{flag}"
    )


if __name__ == "__main__":
    main()
