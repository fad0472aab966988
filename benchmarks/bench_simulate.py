"""Benchmark: cost per scenario-year of ``simulate`` for both physical schemes, in one run.

Runs ``ecocube.ocean.simulate`` with ``physics="column"`` (20 layers) and ``physics="multilayer"``
(the default basin: 10 cells of 10 km, 3 layers, tide, river, wind), each batched (``--batch``
scenarios at once) and single (one scenario), at the default ``dt`` (3 h), one torch thread,
and prints the wall time per scenario-year. ``--days`` shortens the simulated horizon (the
model's year is set to that many days; the cost per step does not depend on it) and the cost
is scaled to 365 days.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py --batch 64 --days 30
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from ecocube.ocean import sample_scenarios, simulate


def cost(physics: str, batch: int, days: int, device: str) -> float:
    """Seconds of wall time per scenario-year of one ``simulate`` call."""
    module = sys.modules["ecocube.ocean.simulate"]
    saved = module.DAYS_PER_YEAR
    module.DAYS_PER_YEAR = days  # type: ignore[attr-defined]
    try:
        scenarios = sample_scenarios(batch, seed=0)
        start = time.perf_counter()
        simulate(scenarios, physics=physics, device=device)
        wall = time.perf_counter() - start
    finally:
        module.DAYS_PER_YEAR = saved  # type: ignore[attr-defined]
    return wall / (batch * days / 365.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="scenarios of the batched run")
    parser.add_argument("--days", type=int, default=30, help="simulated days of each run")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"simulate, dt = 3 h, {args.days} simulated days scaled to a year, {args.device}")
    print("| physics | scenarios | s per scenario-year |")
    print("| --- | --- | --- |")
    for physics in ("column", "multilayer"):
        for batch in (args.batch, 1):
            seconds = cost(physics, batch, args.days, args.device)
            print(f"| {physics} | {batch} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
