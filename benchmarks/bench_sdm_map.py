"""Speed and peak memory of ``ecocube sdm map`` (tiled wall-to-wall SDM maps into Zarr).

Models (``--models``, default ``maxent-net,integrated``) are fitted once, with
:class:`ecocube.models.SDM`, to presences simulated on a synthetic cube (four smooth
covariates, UTM 16N, 1 km cells); ``integrated`` keeps 200 posterior draws. Each measured run is
a fresh process (peak RSS is a per-process high-water mark) that maps the model over a cube of
``--size`` x ``--size`` cells (1x) and of 4 x 4 times that area (16x) through
:func:`ecocube.models.map_model` (tiles, store, novelty). The baseline, run the same way, is the
naive map: every valid cell's covariates in memory, one ``predict`` call, all statistics held
at once (no tiles, no store). Printed per model: seconds, cells x species per second, peak RSS at
1x and 16x for both, the ratios, and the time extrapolated to a country (2e8 cells x 500
species at the measured rate). The last line is the tiled ``maxent-net`` rate at 16x on the
benchmark's device: ``cells_species_per_s: X``.

Reproduce (CPU; add ``--device cuda`` on a GPU machine)::

    OMP_NUM_THREADS=2 python benchmarks/bench_sdm_map.py --size 256 --species 16 --tile 128
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COUNTRY_CELLS = 2e8
COUNTRY_SPECIES = 500
COVARIATES = ("temp", "rain", "elev", "forest")


#: Options of each benchmarked model (a short fit: the benchmark measures mapping).
MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "maxent-net": {"epochs": 30, "n_members": 5},
    "integrated": {"steps": 300, "num_samples": 200},
}


def fit_model(cube: Path, model: str, n_species: int, out: Path, device: str) -> Path:
    """Fit ``model`` to presences drawn from a logistic response per species (seeded)."""
    from ecocube.cube import open_cube
    from ecocube.models import SDM

    ds = open_cube(cube, chunks=None)
    block = np.stack([ds[v].values for v in COVARIATES]).reshape(len(COVARIATES), -1)
    valid = np.flatnonzero(np.isfinite(block).all(axis=0))
    rng = np.random.default_rng(0)
    x = block[:, valid].T
    z = (x - x.mean(0)) / x.std(0)
    beta = rng.normal(0, 1.5, (len(COVARIATES), n_species))
    weight = np.exp(z @ beta - np.logaddexp(0, z @ beta).max(0))
    rows = []
    for j in range(n_species):
        p = weight[:, j] / weight[:, j].sum()
        pick = rng.choice(valid.size, 60, p=p)
        rows.append(pd.DataFrame(x[pick], columns=list(COVARIATES)).assign(species=f"sp{j:03d}"))
    rows.append(
        pd.DataFrame(x[rng.choice(valid.size, 2000)], columns=list(COVARIATES)).assign(
            species=None, kind="background"
        )
    )
    records = pd.concat(rows, ignore_index=True)
    records["kind"] = records["kind"].fillna("presence")
    sdm = SDM(
        model=model,
        covariates=list(COVARIATES),
        options=MODEL_OPTIONS[model],
        cv_folds=0,
        device=device,
    )
    return sdm.fit(records).save(out)


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
    """One measured run (model loading included); prints one JSON line."""
    from ecocube.cube import open_cube
    from ecocube.models import SDM, map_model

    tic = time.perf_counter()
    if args.child == "tiled":
        result = map_model(
            args.model_dir,
            args.cube,
            args.out,
            tile=args.tile,
            mask=args.mask,
            device=args.device,
            progress=False,
        )
        cells, seconds = result.cells, time.perf_counter() - tic
    else:
        sdm = SDM.load(args.model_dir, device=args.device)
        ds = open_cube(args.cube, chunks=None)
        block = np.stack([ds[v].values for v in COVARIATES])
        valid = np.isfinite(block).all(axis=0)
        if args.mask != "none":
            from ecocube.cube import map_mask

            valid &= map_mask(ds, mask=args.mask).values
        table = pd.DataFrame({v: block[j][valid] for j, v in enumerate(COVARIATES)})
        stats = sdm.estimator_.predict(table).as_dict()
        n_species = len(sdm.species_)
        maps = {k: np.full((n_species, *valid.shape), np.nan, dtype=np.float32) for k in stats}
        for k, v in stats.items():
            maps[k][:, valid] = np.asarray(v, dtype=np.float32).T
        cells, seconds = int(valid.sum()), time.perf_counter() - tic
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


def _measure(
    kind: str, cube: Path, out: Path, model_dir: Path, args: argparse.Namespace
) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", kind, "--cube", str(cube), "--out", str(out)]
    cmd += ["--model-dir", str(model_dir), "--tile", str(args.tile), "--mask", args.mask]
    cmd += ["--device", args.device]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(model: str, rows: dict[str, dict[str, dict[str, float]]], n_species: int) -> float:
    """Print one model's table; return its tiled rate at 16x (cells x species / s)."""
    print(f"\n{model}: {n_species} species, {len(COVARIATES)} covariates")
    print(
        f"{'region':>6} {'cells':>11} | {'tiled s':>8} {'cells*sp/s':>12} {'RSS MB':>7} | "
        f"{'in-mem s':>8} {'RSS MB':>7}"
    )
    for label, r in rows.items():
        t, m = r["tiled"], r["in-memory"]
        rate = t["cells"] * n_species / t["seconds"]
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
    rate = big["tiled"]["cells"] * n_species / big["tiled"]["seconds"]
    hours = COUNTRY_CELLS * COUNTRY_SPECIES / rate / 3600
    print(f"country ({COUNTRY_CELLS:.0e} cells x {COUNTRY_SPECIES} species): {hours:,.1f} h")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="cells per side at 1x")
    parser.add_argument("--species", type=int, default=16)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--mask", default="none")
    parser.add_argument("--models", default="maxent-net,integrated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", choices=["tiled", "in-memory"])
    parser.add_argument("--cube", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--model-dir", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_OPTIONS]
    if unknown:
        parser.error(f"--models {unknown}: choose from {sorted(MODEL_OPTIONS)}")
    work = Path(tempfile.mkdtemp(prefix="bench-sdm-map-"))
    rates = {}
    print(f"sdm map: tile {args.tile}, mask {args.mask}, device {args.device}")
    try:
        cubes = {
            label: make_cube(work / f"cube-{label}.zarr", n)
            for label, n in (("1x", args.size), ("16x", 4 * args.size))
        }
        for model in models:
            model_dir = fit_model(
                cubes["1x"], model, args.species, work / f"model-{model}", args.device
            )
            rows = {}
            for label, cube in cubes.items():
                rows[label] = {
                    kind: _measure(kind, cube, work / f"maps-{label}-{kind}.zarr", model_dir, args)
                    for kind in ("tiled", "in-memory")
                }
                shutil.rmtree(work / f"maps-{label}-tiled.zarr", ignore_errors=True)
            rates[model] = _report(model, rows, args.species)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "maxent-net" in rates:
        print(f"cells_species_per_s: {rates['maxent-net']:.0f}")


if __name__ == "__main__":
    main()
