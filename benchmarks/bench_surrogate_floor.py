"""Where a batched POD-MLP prediction spends its time, and the speed-up each part allows.

Runs the full model and the surrogate on the same batch of fresh scenarios (same process, same
threads), then times each stage of the surrogate's mean prediction on that batch: the deep
ensemble's forward pass, the POD decode (one ``addmm`` per variable), the index head with its
exact gas-exchange sums, the bloom warp, the CF Dataset assembly, and a floor that only writes
the output values (``n x days x channels`` float32) into fresh memory. Each row prints its cost
per scenario and the speed-up over the full model that it alone would allow, so the batched
target (10^4) can be read against what the hardware permits.

Reproduce::

    ecocube ocean ensemble --n 6144 --years 1 --seed 2 --out ens6144.zarr
    ecocube ocean train --ensemble ens6144.zarr --out sur6144
    OMP_NUM_THREADS=1 python benchmarks/bench_surrogate_floor.py --surrogate sur6144 --batch 1024
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any


def _best(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import numpy as np
    import torch

    from ecocube.ocean.scenarios import sample_scenarios
    from ecocube.ocean.simulate import simulate
    from ecocube.ocean.surrogate import Surrogate
    from ecocube.ocean.surrogate._base import _static_coords, _to_dataset
    from ecocube.ocean.surrogate._data import scenario_features
    from ecocube.ocean.surrogate._indices import flux_weights, match_bloom_day
    from ecocube.ocean.surrogate._nets import stack_members, stacked_forward

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--surrogate", required=True, help="a POD-MLP surrogate folder")
    parser.add_argument("--batch", type=int, default=1024, help="scenarios per call")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sur = Surrogate.load(args.surrogate)
    if sur.arch != "pod_mlp":
        raise SystemExit(
            f"{args.surrogate} is a {sur.arch} surrogate; this benchmark needs pod_mlp"
        )
    table = sample_scenarios(args.batch, seed=args.seed)
    n = len(table)
    settings = dict(sur.meta["simulate"])
    t0 = time.perf_counter()
    simulate(table, **settings)
    t_full = time.perf_counter() - t0

    x = torch.as_tensor(scenario_features(table))
    stacked = stack_members(sur.nets)
    maps = sur._fused_maps()
    with torch.inference_mode():
        coef = stacked_forward(stacked, x).mean(0)
    days = sur.n_days
    n_values = sum(int(w.shape[1]) for w, _ in maps)  # days x channels per scenario

    def decode() -> None:
        with torch.inference_mode():
            k0 = 0
            for w, b in maps:
                torch.addmm(b, coef[:, k0 : k0 + w.shape[0]], w)
                k0 += w.shape[0]

    fields_, _ = sur._predict_fields(table, uncertainty=False)
    static = _static_coords(sur.meta)
    chl = fields_["chl"]
    bloom = np.full(n, 120.0)
    source = np.random.default_rng(0).random((n, n_values), dtype=np.float32)
    stages: list[tuple[str, Callable[[], Any]]] = [
        (
            "surrogate.predict, mean only (all stages)",
            lambda: sur.predict(table, uncertainty=False),
        ),
        ("surrogate.predict, with ensemble sd", lambda: sur.predict(table)),
        ("  deep-ensemble forward (POD coefficients)", lambda: stacked_forward(stacked, x)),
        ("  POD decode (one addmm per variable)", decode),
        ("  index head: exact gas-exchange sums", lambda: flux_weights(table, days)),
        ("  index head: networks", lambda: stacked_forward(sur.head._stacked(), x)),
        ("  bloom-day warp of chl", lambda: match_bloom_day(chl, bloom)),
        ("  CF Dataset assembly", lambda: _to_dataset(fields_, {}, table, sur.meta, static)),
        (f"floor: write {n_values:,} float32 per scenario", lambda: source.copy()),
    ]
    print(
        f"batch {n} scenarios, {days} days, {n_values:,} daily values per scenario, "
        f"{args.threads} torch thread(s)"
    )
    print(f"full model: {t_full:.2f} s = {t_full / n * 1e3:.2f} ms per scenario (baseline)")
    print(f"{'stage':48s} {'µs / scenario':>14s} {'full / stage':>13s}")
    for name, fn in stages:
        t = _best(fn, args.repeat)
        print(f"{name:48s} {t / n * 1e6:14.2f} {t_full / t:12,.0f}x")
    print(
        "reproduce: OMP_NUM_THREADS=1 python benchmarks/bench_surrogate_floor.py "
        f"--surrogate {args.surrogate} --batch {args.batch} --threads {args.threads}"
    )


if __name__ == "__main__":
    main()
