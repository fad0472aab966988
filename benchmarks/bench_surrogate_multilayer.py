"""Benchmark: a POD-MLP surrogate of the multilayer basin, validated against it in one run.

Runs an ensemble of ``ecocube.ocean.simulate(scenarios, physics="multilayer", ...)`` (fields
over the basin's cells ``x``), trains a POD-MLP on it (``ecocube.ocean.surrogate``), validates
it on fresh scenarios with ``ecocube.ocean.validate.validate_surrogate`` (R² of every emulated
field pooled over scenarios, days and cells; error of the basin's annual CO2 uptake; speed-ups
batched, single-call and on a batch of 1,024 scenarios) and prints the table with the command
that reproduces it. The full model and the surrogate are timed in the same run.

The ensemble runs on a Dask ``LocalCluster`` (``ecocube.ocean.run_ensemble``) in the default
shelf basin of ``simulate(physics="multilayer")`` (10 cells, tide at the open end, the river at
the closed end). Default size: 384 training scenarios over one year, 32 fresh validation
scenarios.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_surrogate_multilayer.py --n-train 384 \\
        --n-val 32 --layers 3 --epochs 400 --members 4 --out bench_multilayer_out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def multilayer_options(layers: int) -> dict[str, Any]:
    """Keyword arguments of ``simulate`` for the default shelf basin with ``layers`` layers.

    The basin of :func:`ecocube.ocean.multilayer.scheme.default_basin`: tide at the open end,
    river at the closed end, wind of each scenario.
    """
    from ecocube.ocean.multilayer.scheme import default_basin

    return {"physics": "multilayer", "basin": default_basin(n_layers=layers)}


def simulate_ensemble(table: Any, options: dict[str, Any], args: Any) -> Any:
    """The full model on ``table`` on a Dask ``LocalCluster`` (``ecocube.ocean.run_ensemble``)."""
    from ecocube.ocean import open_ensemble, run_ensemble

    store = args.out / "ensemble.zarr"
    run_ensemble(
        table,
        store,
        years=args.years,
        batch_size=args.batch,
        n_workers=args.workers,
        device=args.device,
        physics="multilayer",
        n_layers=args.layers,
        overwrite=True,
        progress=False,
    )
    return open_ensemble(store)


def main() -> None:
    import torch

    from ecocube.ocean.scenarios import sample_scenarios
    from ecocube.ocean.surrogate import EMULATED, Surrogate, load_ensemble
    from ecocube.ocean.validate import SPATIAL_TARGETS, validate_surrogate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=384)
    parser.add_argument("--n-val", type=int, default=32)
    parser.add_argument("--layers", type=int, default=3, help="layers of the basin")
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64, help="scenarios per simulate call")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers of the ensemble")
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--modes", type=int, default=48)
    parser.add_argument("--large-batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training scenarios")
    parser.add_argument(
        "--ensemble",
        type=Path,
        default=None,
        help="reuse an ensemble of the same basin (netCDF written by an earlier run, or Zarr)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench_multilayer_out"))
    args = parser.parse_args()
    options = multilayer_options(args.layers)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.ensemble is not None and args.ensemble.exists():
        ens = load_ensemble(args.ensemble)
        t_ens = float("nan")
    else:
        print(f"ensemble: {args.n_train} scenarios, options {options}", flush=True)
        t0 = time.perf_counter()
        table = sample_scenarios(args.n_train, seed=args.seed)
        ens = simulate_ensemble(table, options, args)
        t_ens = time.perf_counter() - t0
    cells = {d: int(ens.sizes[d]) for d in ("x", "y") if d in ens.dims}
    print(f"ensemble: {ens.sizes['scenario']} scenarios, cells {cells}, wall {t_ens:.1f} s")

    sur = Surrogate.create(
        "pod_mlp",
        max_epochs=args.epochs,
        members=args.members,
        modes=args.modes,
        device=args.device,
        seed=0,
    ).fit(ens)
    sur.save(args.out / "surrogate")
    ranks = [int(b.shape[0]) for b in sur.bases]
    named = dict(zip(sur.codec.variables, ranks, strict=True))
    print(f"trained in {sur.meta['train_seconds']:.1f} s; POD ranks {named}")

    validation_options = {k: v for k, v in options.items() if k != "physics"}
    rep = validate_surrogate(
        sur,
        n=args.n_val,
        seed=20261122,
        device=args.device,
        large_batch=args.large_batch,
        simulate_options=validation_options,
        json_path=args.out / "validation.json",
    )
    m, t = rep["metrics"], rep["timing"]
    print(f"\n| metric (target) | POD-MLP, {ens.sizes['scenario']} scenarios, {cells} |")
    print("|---|---|")
    for name in EMULATED:
        key = f"{name}_r2"
        target = rep["targets"].get(key)
        flag = "" if target is None else (" met" if target["passed"] else " **missed**")
        print(f"| {name} R² (>= {SPATIAL_TARGETS[key][0]}) | {m[key]:.4f}{flag} |")
    up = rep["targets"]["co2_uptake_median_rel_error"]
    print(
        f"| basin CO2 uptake, median relative error (<= 2 %) | {100 * up['value']:.2f} %"
        + (" met" if up["passed"] else " **missed**")
        + f" (MAE {m['co2_uptake_mae_mol_m2_yr']:.3f} mol C m-2 yr-1) |"
    )
    print(f"| bloom day, max abs. error | {m['bloom_day_max_abs_error']:.0f} d |")
    print(f"| Shannon, max abs. error | {m['shannon_max_abs_error']:.3f} nats |")
    print(f"| speed-up batched, {args.n_val} scenarios | {m['speedup_batched']:,.0f}x |")
    print(f"| speed-up single call | {m['speedup_single']:,.0f}x |")
    if args.large_batch:
        print(
            f"| speed-up batched, {args.large_batch} scenarios (mean only) | "
            f"{m['speedup_batched_large']:,.0f}x |"
        )
    for level in (2, 4):
        key = f"extrapolation_plus{level}_phyc_r2"
        if key in m:
            print(f"| +{level} °C beyond training: phyto C R² | {m[key]:.3f} |")
    print("timing:", json.dumps(t))
    print(
        "\nreproduce: OMP_NUM_THREADS=1 python benchmarks/bench_surrogate_multilayer.py "
        f"--n-train {args.n_train} --n-val {args.n_val} --layers {args.layers} "
        f"--years {args.years} --epochs {args.epochs} --members {args.members} "
        f"--modes {args.modes} --threads {args.threads} --out {args.out}"
    )


if __name__ == "__main__":
    main()
