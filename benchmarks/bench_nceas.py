"""NCEAS benchmark: mean AUC per region and overall (226 species) and the wall time.

Runs ``ecocube sdm benchmark nceas`` in-process for each model (and seed), prints the table,
and writes ``benchmarks/results/nceas_summary.csv`` (read by the demo) and
``benchmarks/results/nceas_per_species.csv``. Baseline in the same run: ``maxent-linear``
(the same loss and background with no hidden layer, i.e. a Maxent with linear features).

Reproduce (2 processes of 1 torch thread each, for 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/bench_nceas.py --threads 1 --workers 2 --seeds 0
    # single run with the CLI, timed by the shell:
    time ecocube sdm benchmark nceas --out preds.csv --seed 0 --workers 2
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    import torch

    from ecocube.models.benchmark.nceas import BENCHMARK_MODELS, run_nceas_benchmark

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", default="maxent-net,maxent-net-group,maxent-net-env,maxent-linear"
    )
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in BENCHMARK_MODELS]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; choose from {list(BENCHMARK_MODELS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    tables, species = [], []
    for model in models:
        for seed in seeds:
            tic = time.perf_counter()
            result = run_nceas_benchmark(model, seed=seed, workers=args.workers)
            wall = time.perf_counter() - tic
            t = result.region_table().set_index("region")["mean_auc"]
            tables.append(
                {
                    "model": model,
                    "seed": seed,
                    **t.round(4).to_dict(),
                    "fit_predict_s": round(result.seconds, 1),
                    "wall_s": round(wall, 1),
                }
            )
            species.append(result.per_species.assign(model=model, seed=seed))
            print(tables[-1], flush=True)
    summary = pd.DataFrame(tables)
    summary["threads"] = args.threads
    summary["workers"] = args.workers
    summary["measured_utc"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary["command"] = (
        f"OMP_NUM_THREADS={args.threads} python benchmarks/bench_nceas.py "
        f"--threads {args.threads} --workers {args.workers} --seeds {args.seeds} "
        f"--models {args.models}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out / "nceas_summary.csv", index=False)
    pd.concat(species).to_csv(args.out / "nceas_per_species.csv", index=False)
    print(summary.drop(columns=["command"]).to_string(index=False))
    print("reference: DeepMaxent paper 0.768, Maxent 0.760, public DeepMaxent code ~0.759")


if __name__ == "__main__":
    main()
