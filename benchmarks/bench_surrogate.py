"""Benchmark: full ocean model vs its surrogates (accuracy and speed-up), in one run.

Runs an ensemble of the full model, trains each surrogate architecture on it, validates each
against the full model on fresh scenarios (``ecocube.ocean.validate.validate_surrogate``) and
prints the validation table, the speed-ups and the wall times. Ratios are measured in the same
run (same machine, same load).

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_surrogate.py --n-train 512 --n-val 50 \\
        --arch pod_mlp --arch fno --out bench_out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    import torch

    from ecocube.ocean.scenarios import sample_scenarios
    from ecocube.ocean.simulate import simulate
    from ecocube.ocean.surrogate import Surrogate
    from ecocube.ocean.validate import validate_surrogate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=512)
    parser.add_argument("--n-val", type=int, default=50)
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--arch", action="append", default=None)
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--no-index-head",
        action="store_true",
        help="train the POD-MLP without its CO2-uptake / bloom-day head",
    )
    parser.add_argument(
        "--ensemble",
        type=Path,
        default=None,
        help="reuse an ensemble (Zarr from `ecocube ocean ensemble`, or netCDF)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench_surrogate_out"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    archs = args.arch or ["pod_mlp", "fno"]

    if args.ensemble is not None and args.ensemble.exists():
        from ecocube.ocean.surrogate import load_ensemble

        ens = load_ensemble(args.ensemble)  # Zarr (ecocube ocean ensemble) or netCDF
        t_ens = float(ens.attrs.get("ecocube:ensemble_wall_s", float("nan")))
    else:
        t0 = time.perf_counter()
        ens = simulate(sample_scenarios(args.n_train, seed=0), years=args.years, device=args.device)
        t_ens = time.perf_counter() - t0
        ens.to_netcdf(args.out / "ensemble.nc")
    years = ens.sizes["time"] // 365
    print(f"ensemble: {ens.sizes['scenario']} scenarios x {years} yr, wall {t_ens:.1f} s")
    results = {}
    for arch in archs:
        options = {
            "max_epochs": args.epochs,
            "members": args.members,
            "device": args.device,
            "log_transform": False,
            "index_head": not args.no_index_head,
        }
        if arch == "fno":
            options.update(width=32, modes=32, depth=3)
        sur = Surrogate.create(arch, **options).fit(ens)
        sur.save(args.out / f"surrogate_{arch}")
        rep = validate_surrogate(
            sur,
            n=args.n_val,
            seed=20261122,
            device=args.device,
            json_path=args.out / f"validation_{arch}.json",
        )
        results[arch] = rep
        print(f"\n== {arch}: trained in {sur.meta['train_seconds']:.1f} s")
        for name, value in rep["metrics"].items():
            t = rep["targets"].get(name)
            flag = "" if t is None else ("  PASS" if t["passed"] else "  MISS")
            print(f"  {name:50s} {value:12.4g}{flag}")
        print("  timing:", json.dumps(rep["timing"]))
    print(
        "\nreproduce: OMP_NUM_THREADS=1 python benchmarks/bench_surrogate.py "
        + (f"--ensemble {args.ensemble} " if args.ensemble else f"--n-train {args.n_train} ")
        + f"--n-val {args.n_val} "
        + " ".join(f"--arch {a}" for a in archs)
        + f" --epochs {args.epochs} --members {args.members} --threads {args.threads}"
        + (" --no-index-head" if args.no_index_head else "")
    )


if __name__ == "__main__":
    main()
