"""Speed and peak memory of ``predict_map`` (tiled wall-to-wall SDM prediction into Zarr).

Each run is a fresh process (peak RSS is a per-process high-water mark) that maps a synthetic
cube of ``--size`` x ``--size`` cells (1x) and of 4 x 4 times that area (16x). The baseline,
run the same way, is the naive map: the mask and every valid cell's covariates in memory, one
``predict`` call, all statistics held at once (no tiles, no store). Printed: seconds, cells x species per
second, peak RSS at 1x and 16x for both, the ratios, and the time extrapolated to a country
(2e8 cells x 500 species). The last line is the tiled rate at 16x:
``cells_species_per_s: X``.

``--predict`` picks the model from ``PREDICTORS``: ``synthetic`` is a cheap logistic function
of the covariates (numpy), so the figures measure the mapping engine itself; SDMs are added
there as factories ``(covariates, species, device) -> predict``.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_sdm_map.py --size 512 --species 10 --tile 256
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COUNTRY_CELLS = 2e8
COUNTRY_SPECIES = 500
COVARIATES = ("temp", "rain", "elev", "forest")


def synthetic_predict(
    covariates: list[str], species: list[str], device: str
) -> Callable[[pd.DataFrame], dict[str, np.ndarray]]:
    """A logistic function of the covariates per species with a fixed spread (numpy)."""
    rng = np.random.default_rng(0)
    beta = rng.normal(0, 0.5, (len(covariates), len(species)))

    def predict(table: pd.DataFrame) -> dict[str, np.ndarray]:
        x = table[covariates].to_numpy(np.float32)
        mean = 1 / (1 + np.exp(-(x @ beta.astype(np.float32))))
        sd = 0.1 * mean * (1 - mean)
        return {"mean": mean, "sd": sd, "q05": mean - 1.64 * sd, "q95": mean + 1.64 * sd}

    return predict


#: ``name -> factory(covariates, species, device) -> predict``.
PREDICTORS: dict[str, Callable[[list[str], list[str], str], Any]] = {
    "synthetic": synthetic_predict,
}


def make_cube(path: Path, n: int) -> Path:
    """A synthetic ``n x n`` cube of smooth covariates (UTM 16N, 1 km) written with write_cube."""
    import rioxarray  # noqa: F401
    import xarray as xr

    from ecocube.cube import write_cube

    y = 1_250_000.0 - 1000.0 * np.arange(n)
    x = 300_000.0 + 1000.0 * np.arange(n)
    yy, xx = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    layers = {
        "temp": 25 - 10 * yy,
        "rain": 1 + np.sin(6 * xx) * np.cos(4 * yy),
        "elev": np.hypot(xx - 0.5, yy - 0.5),
        "forest": (xx + yy) / 2,
    }
    ds = xr.Dataset(
        {k: (("y", "x"), v.astype(np.float32)) for k, v in layers.items()},
        coords={"y": y, "x": x},
    ).rio.write_crs("EPSG:32616")
    ds["temp"][0, : n // 4] = np.nan  # some nodata
    return write_cube(ds, path)


def child(args: argparse.Namespace) -> None:
    """One measured run; prints one JSON line."""
    from ecocube.cube import open_cube
    from ecocube.models.mapping import predict_map

    species = [f"sp{i:03d}" for i in range(args.species)]
    predict = PREDICTORS[args.predict](list(COVARIATES), species, args.device)
    tic = time.perf_counter()
    if args.child == "tiled":
        predict_map(
            args.cube,
            predict,
            variables=list(COVARIATES),
            species=species,
            out=args.out,
            tile=args.tile,
            mask=args.mask,
            device=args.device,
            progress=False,
        )
        cells = int(
            np.isfinite(open_cube(args.out, chunks=None)["mean"].isel(species=0).values).sum()
        )
    else:
        ds = open_cube(args.cube, chunks=None)
        block = np.stack([ds[v].values for v in COVARIATES])
        valid = np.isfinite(block).all(axis=0)
        if args.mask != "none":
            from ecocube.cube._masking import map_mask

            valid &= map_mask(ds, mask=args.mask).values
        table = pd.DataFrame({v: block[j][valid] for j, v in enumerate(COVARIATES)})
        stats = predict(table)
        maps = {k: np.full((len(species), *valid.shape), np.nan, dtype=np.float32) for k in stats}
        for k, v in stats.items():
            maps[k][:, valid] = np.asarray(v, dtype=np.float32).T
        cells = int(valid.sum())
    seconds = time.perf_counter() - tic
    print(json.dumps({"seconds": seconds, "cells": cells, "rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """Peak resident memory of this process image in MiB.

    ``VmHWM`` of the process's own address space: ``ru_maxrss`` would also count the parent's
    resident memory at the time of the fork (Linux carries it over the exec).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _measure(kind: str, cube: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--cube",
        str(cube),
        "--out",
        str(out),
        "--species",
        str(args.species),
        "--tile",
        str(args.tile),
        "--mask",
        args.mask,
        "--predict",
        args.predict,
        "--device",
        args.device,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="cells per side at 1x")
    parser.add_argument("--species", type=int, default=10)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--mask", default="none")
    parser.add_argument("--predict", default="synthetic", choices=sorted(PREDICTORS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", choices=["tiled", "in-memory"])
    parser.add_argument("--cube", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-sdm-map-"))
    try:
        rows = {}
        for label, n in (("1x", args.size), ("16x", 4 * args.size)):
            cube = make_cube(work / f"cube-{label}.zarr", n)
            rows[label] = {
                kind: _measure(kind, cube, work / f"maps-{label}-{kind}.zarr", args)
                for kind in ("tiled", "in-memory")
            }
            shutil.rmtree(work / f"maps-{label}-tiled.zarr", ignore_errors=True)
            shutil.rmtree(cube, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"sdm map: {args.predict} predict, {args.species} species, {len(COVARIATES)} covariates, "
        f"tile {args.tile}, mask {args.mask}, device {args.device}"
    )
    print(
        f"{'region':>6} {'cells':>11} | {'tiled s':>8} {'cells*sp/s':>12} {'RSS MB':>7} | "
        f"{'in-mem s':>8} {'RSS MB':>7}"
    )
    for label, r in rows.items():
        t, m = r["tiled"], r["in-memory"]
        rate = t["cells"] * args.species / t["seconds"]
        print(
            f"{label:>6} {t['cells']:>11,} | {t['seconds']:>8.2f} {rate:>12,.0f} "
            f"{t['rss_mb']:>7.0f} | {m['seconds']:>8.2f} {m['rss_mb']:>7.0f}"
        )
    big, small = rows["16x"], rows["1x"]
    print(
        f"peak RSS 16x / 1x: tiled {big['tiled']['rss_mb'] / small['tiled']['rss_mb']:.2f}, "
        f"in-memory {big['in-memory']['rss_mb'] / small['in-memory']['rss_mb']:.2f}"
    )
    print(
        "time tiled / in-memory at 16x: "
        f"{big['tiled']['seconds'] / big['in-memory']['seconds']:.2f}; peak RSS in-memory / "
        f"tiled at 16x: {big['in-memory']['rss_mb'] / big['tiled']['rss_mb']:.2f}"
    )
    rate = big["tiled"]["cells"] * args.species / big["tiled"]["seconds"]
    hours = COUNTRY_CELLS * COUNTRY_SPECIES / rate / 3600
    print(f"country ({COUNTRY_CELLS:.0e} cells x {COUNTRY_SPECIES} species): {hours:,.1f} h")
    print(f"cells_species_per_s: {rate:.0f}")


if __name__ == "__main__":
    main()
