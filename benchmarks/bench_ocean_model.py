"""Cost of the full ocean model per simulated year per scenario, batched vs one at a time.

Runs ``ecocube.ocean.simulate`` for one simulated year on batches of Latin-hypercube scenarios
and reports the wall time per simulated year per scenario; the baseline is the same model run on
a batch of one (measured in the same run), so the ratio is the gain from batching. Optionally
times an ensemble on a Dask LocalCluster (``--ensemble N``).

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_ocean_model.py
    OMP_NUM_THREADS=1 python benchmarks/bench_ocean_model.py --batches 1 16 64 --ensemble 64
    python benchmarks/bench_ocean_model.py --device cuda --batches 1 64 256 1024
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[1, 8, 32, 128],
        help="batch sizes (scenarios per model call)",
    )
    parser.add_argument("--layers", type=int, default=20, help="water-column layers")
    parser.add_argument("--dt", type=float, default=10800.0, help="time step (s)")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--ensemble",
        type=int,
        default=0,
        help="also time `run_ensemble` with this many scenarios (0: skip)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="ensemble batch size")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import torch

    from ecocube.ocean import run_ensemble, sample_scenarios, simulate

    torch.set_num_threads(1)
    device = torch.device(args.device)
    print(
        f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU, 1 thread'})"
    )
    print(f"layers: {args.layers}, dt: {args.dt:g} s, 1 simulated year (365 days)")
    print(f"{'batch':>6s} {'wall s':>8s} {'s / (scenario yr)':>18s} {'speed-up vs batch 1':>20s}")
    base = None
    simulate(
        sample_scenarios(2, seed=0), years=1, n_layers=args.layers, dt=86400 / 4, device=args.device
    )  # warm-up
    for batch in args.batches:
        table = sample_scenarios(batch, seed=1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        simulate(table, years=1, n_layers=args.layers, dt=args.dt, device=args.device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
        per = wall / batch
        base = per if base is None else base
        print(f"{batch:6d} {wall:8.2f} {per:18.4f} {base / per:20.1f}x")
    if args.ensemble:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run_ensemble(
                args.ensemble,
                Path(tmp) / "ens.zarr",
                years=1,
                batch_size=args.batch_size,
                n_layers=args.layers,
                dt=args.dt,
                device=args.device,
                progress=False,
            )
            wall = time.perf_counter() - start
        print(
            f"ensemble: {args.ensemble} scenarios x 1 yr, batch {args.batch_size}, 2 Dask worker "
            f"processes: {wall:.1f} s wall ({wall / args.ensemble:.3f} s per scenario-year, "
            "including cluster start and the Zarr write)"
        )
    cmd = f"OMP_NUM_THREADS=1 python benchmarks/bench_ocean_model.py --batches {' '.join(map(str, args.batches))}"
    cmd += f" --layers {args.layers} --dt {args.dt:g} --device {args.device}"
    if args.ensemble:
        cmd += f" --ensemble {args.ensemble} --batch-size {args.batch_size}"
    print(f"reproduce: {cmd}")


if __name__ == "__main__":
    main()
