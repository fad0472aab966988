"""Time ``cube build`` for the Costa Rica stack: 19 CHELSA bioclim rasters (+ GAM land-use
modal class and per-class fractions on the 30 arc-second grid), written to Zarr.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_cube_build.py
    OMP_NUM_THREADS=1 python benchmarks/bench_cube_build.py --workers 2   # dask LocalCluster
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="builds per configuration")
    parser.add_argument("--workers", type=int, default=0, help="dask LocalCluster workers")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from ecocube.cube import anchor_of, build_cube, write_cube
    from ecocube.cube.testing import chelsa_items, gam_landuse_items

    client = cluster = None
    if args.workers:
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=False, dashboard_address=None
        )
        client = Client(cluster)
    chelsa = chelsa_items()
    gam = gam_landuse_items()
    anchor, res = anchor_of(chelsa[0])
    configs = {"CHELSA 19 bands": chelsa, "CHELSA 19 + GAM land use (fractions)": chelsa + gam}
    print(f"{'configuration':40s} {'variables':>9s} {'best s':>7s} {'median s':>8s}")
    try:
        for name, items in configs.items():
            times = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    start = time.perf_counter()
                    ds = build_cube(
                        items, bbox=chelsa[0].bbox, resolution=res, anchor=anchor, client=client
                    )
                    write_cube(ds, Path(tmp) / "cube.zarr", items=items, client=client)
                    times.append(time.perf_counter() - start)
            times.sort()
            print(
                f"{name:40s} {len(ds.data_vars):>9d} {times[0]:>7.2f} "
                f"{times[len(times) // 2]:>8.2f}"
            )
    finally:
        if client is not None:
            client.close()
            cluster.close()
    print(
        "reproduce: OMP_NUM_THREADS=1 python benchmarks/bench_cube_build.py"
        + (f" --workers {args.workers}" if args.workers else "")
    )


if __name__ == "__main__":
    main()
