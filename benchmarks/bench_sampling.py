"""Sampling speed: ecocube's point-centred loader (Zarr cube) vs torchgeo on the same GeoTIFFs.

Both read the 19 CHELSA Costa Rica bioclim rasters: ecocube from the cube built from them
(held in memory, batches gathered with one vectorised index), torchgeo from the source
GeoTIFFs with ``RasterDataset`` + ``RandomGeoSampler``. Reported: patches/s after one warm-up
batch for 64 x 64 patches and 1 x 1 points, peak Python heap (tracemalloc) and RSS, and the RSS
trace of the ecocube loader over 1e5 samples. The last line is ``ratio: X`` (ecocube / torchgeo
patches/s for 64 x 64).

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_sampling.py            # full
    OMP_NUM_THREADS=1 python benchmarks/bench_sampling.py --quick    # ~30 s
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--figure", type=Path, help="write the figure (PNG) here")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from ecocube.demo.sampling_benchmark import (
        build_costa_rica_cube,
        figure,
        run_sampling_benchmark,
    )

    with tempfile.TemporaryDirectory() as tmp:
        cube, build_s = build_costa_rica_cube(Path(tmp) / "chelsa.zarr")
        print(f"cube build (19 CHELSA bands, 418 x 378, write Zarr): {build_s:.2f} s")
        res = run_sampling_benchmark(cube, quick=args.quick, seed=args.seed)
    print(
        f"{'loader':52s} {'patch':>5s} {'samples':>7s} {'patches/s':>10s} "
        f"{'per CPU-s':>10s} {'peak heap MiB':>13s} {'RSS MiB':>7s}"
    )
    for r in res["results"]:
        print(
            f"{r['loader']:52s} {r['patch']:>5d} {r['samples']:>7d} "
            f"{r['patches_per_s']:>10.1f} {r['patches_per_cpu_s']:>10.1f} "
            f"{r['peak_heap_mb']:>13.1f} {r['rss_mb']:>7.0f}"
        )
    trace = res["memory_trace"]
    print(
        f"ecocube 64x64 over {res['memory_samples']} samples: RSS {trace[0][1]:.0f} -> "
        f"{trace[-1][1]:.0f} MiB (growth {res['rss_growth_mb']:+.1f} MiB)"
    )
    print(f"ratio 1x1 (ecocube/torchgeo): {res['ratio_1']:.1f}")
    print(f"ratio 64x64 per CPU-second (insensitive to other load): {res['ratio_64_cpu']:.1f}")
    print(
        "reproduce: OMP_NUM_THREADS=1 python benchmarks/bench_sampling.py"
        + (" --quick" if args.quick else "")
    )
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    if args.figure:
        figure(res).savefig(args.figure, dpi=110, bbox_inches="tight")
    print(f"ratio: {res['ratio_64']:.1f}")


if __name__ == "__main__":
    main()
