"""The sampling benchmark (used by ``benchmarks/bench_sampling.py`` and the demo).

ecocube's point-centred loader reading the Zarr cube against torchgeo's ``RasterDataset`` +
``RandomGeoSampler`` over the same source GeoTIFFs (the 19 CHELSA Costa Rica bioclim files),
for 64 x 64 patches and 1 x 1 points, in patches per second after a warm-up batch, with the
peak Python heap (tracemalloc) and resident memory.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BenchResult", "build_costa_rica_cube", "run_sampling_benchmark"]

BANDS = tuple(f"bio{i}" for i in range(1, 20))


@dataclass(frozen=True)
class BenchResult:
    """One measured configuration."""

    loader: str
    patch: int
    samples: int
    seconds: float
    patches_per_s: float
    cpu_seconds: float
    patches_per_cpu_s: float
    peak_heap_mb: float
    rss_mb: float


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def build_costa_rica_cube(out: Path, *, overwrite: bool = True) -> tuple[Path, float]:
    """Build the 19-band CHELSA cube on its own grid and write it; return (path, seconds)."""
    from ecocube.cube import anchor_of, build_cube, write_cube
    from ecocube.cube.testing import chelsa_items

    start = time.perf_counter()
    items = chelsa_items()
    anchor, res = anchor_of(items[0])
    ds = build_cube(items, bbox=items[0].bbox, resolution=res, anchor=anchor)
    path = write_cube(ds, out, items=items, overwrite=overwrite)
    return path, time.perf_counter() - start


def _measure(
    name: str, patch: int, batches: Iterable[Any], count: Callable[[Any], int], target: int
) -> BenchResult:
    import warnings

    # rasterio.merge warns on every torchgeo sample (bio3 float nodata); printing thousands of
    # warnings would be measured as torchgeo time, so both loaders run with warnings off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = iter(batches)
        next(it)  # warm-up: opens files, fills caches
        gc.collect()
        tracemalloc.start()
        n = 0
        start = time.perf_counter()
        cpu = time.process_time()
        for batch in it:
            n += count(batch)
            if n >= target:
                break
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return BenchResult(
        name, patch, n, seconds, n / seconds, cpu, n / max(cpu, 1e-9), peak / 2**20, rss_mb()
    )


def _torchgeo_dataset(folder: Path) -> Any:
    from torchgeo.datasets import RasterDataset

    class Chelsa(RasterDataset):  # one index entry; the other bands by file-name substitution
        filename_glob = "CHELSA_bio1_1981-2010_V.2.1.tif"
        filename_regex = r"^CHELSA_(?P<band>bio\d+)_1981-2010_V\.2\.1\.tif$"
        separate_files = True
        all_bands = BANDS

    return Chelsa(paths=[folder])


def run_sampling_benchmark(
    cube_path: Path,
    *,
    quick: bool = False,
    tiny: bool = False,
    seed: int = 0,
    batch_size: int = 32,
    memory_samples: int | None = None,
) -> dict[str, Any]:
    """Measure both loaders for 64 x 64 and 1 x 1; return results and the memory trace.

    Parameters
    ----------
    quick
        Fewer samples (the demo's short version).
    tiny
        Far fewer samples (smoke tests, ``ecocube demo --quick``).
    memory_samples
        Samples drawn by the ecocube 64 x 64 loader while RSS is traced (default 1e5, quick
        2e4): the memory must stay flat.
    """
    import torch
    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples
    from torchgeo.samplers import RandomGeoSampler

    from ecocube import data
    from ecocube.cube import PointPatchDataset, open_cube, point_loader

    folder = Path(data.fetch("chelsa_costa_rica"))
    tg_target = {64: 64 if quick else 512, 1: 64 if quick else 512}
    ec_target = {64: 4096 if quick else 32768, 1: 65536 if quick else 262144}
    if tiny:  # smoke runs (demo --quick)
        tg_target = {64: 16, 1: 16}
        ec_target = {64: 1024, 1: 16384}
        memory_samples = memory_samples or 5120
    results: list[BenchResult] = []
    cube = open_cube(cube_path)
    rng = np.random.default_rng(seed)
    n_points = max(ec_target.values())
    xs = rng.uniform(float(cube.x.min()), float(cube.x.max()), n_points)
    ys = rng.uniform(float(cube.y.min()), float(cube.y.max()), n_points)
    points = pd.DataFrame({"x": xs, "y": ys, "presence": 1.0})
    tg = _torchgeo_dataset(folder)
    for patch in (64, 1):
        gen = torch.Generator().manual_seed(seed)
        batch_size = min(batch_size, tg_target[patch])
        sampler = RandomGeoSampler(
            tg, size=patch, length=tg_target[patch] + batch_size, generator=gen
        )
        loader: Iterable[Any] = DataLoader(
            tg, sampler=sampler, batch_size=batch_size, collate_fn=stack_samples
        )
        results.append(
            _measure(
                "torchgeo RasterDataset + RandomGeoSampler (GeoTIFF)",
                patch,
                loader,
                lambda b: int(b["image"].shape[0]),
                tg_target[patch],
            )
        )
        ds = PointPatchDataset(cube, points, patch_size=patch, variables=BANDS, targets="presence")
        ec_batch = 256 if patch == 64 else 4096
        loader = _cycle(partial(point_loader, ds, batch_size=ec_batch, seed=seed))
        results.append(
            _measure(
                "ecocube PointPatchDataset (Zarr cube in memory)",
                patch,
                loader,
                lambda b: int(b["image"].shape[0]),
                ec_target[patch],
            )
        )
        del ds
    # memory over many samples: RSS must not grow
    total = memory_samples or (20_000 if quick else 100_000)
    ds = PointPatchDataset(cube, points.iloc[:20_000], patch_size=64, variables=BANDS)
    trace: list[tuple[int, float]] = []
    n = 0
    every = max(1, total // (256 * 40))
    for k, batch in enumerate(_cycle(lambda: point_loader(ds, batch_size=256, seed=seed))):
        n += int(batch["image"].shape[0])
        if k % every == 0 or n >= total:
            trace.append((n, rss_mb()))
        if n >= total:
            break
    by = {(r.loader.split()[0], r.patch): r for r in results}
    ratio64 = by[("ecocube", 64)].patches_per_s / by[("torchgeo", 64)].patches_per_s
    ratio1 = by[("ecocube", 1)].patches_per_s / by[("torchgeo", 1)].patches_per_s
    cpu64 = by[("ecocube", 64)].patches_per_cpu_s / by[("torchgeo", 64)].patches_per_cpu_s
    return {
        "results": [asdict(r) for r in results],
        "ratio_64": ratio64,
        "ratio_1": ratio1,
        "ratio_64_cpu": cpu64,
        "memory_trace": trace,
        "rss_growth_mb": trace[-1][1] - trace[0][1] if len(trace) > 1 else 0.0,
        "memory_samples": n,
    }


def _cycle(make: Callable[[], Iterable[Any]]) -> Iterable[Any]:
    while True:
        yield from make()


def figure(result: dict[str, Any]) -> Any:
    """Bar chart of patches/s (log scale) and the RSS trace."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = pd.DataFrame(result["results"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = [f"{r.loader.split()[0]}\n{r.patch}x{r.patch}" for r in df.itertuples()]
    colors = ["#bbb" if lab.startswith("torchgeo") else "#2a7" for lab in labels]
    ax1.bar(labels, df["patches_per_s"], color=colors)
    ax1.set_yscale("log")
    ax1.set_ylabel("patches / s (after warm-up)")
    ax1.set_title(f"19-band CHELSA patches: {result['ratio_64']:.0f}x at 64x64")
    trace = np.asarray(result["memory_trace"])
    if trace.size:
        ax2.plot(trace[:, 0], trace[:, 1], color="#175")
    ax2.set_xlabel("64x64 samples drawn")
    ax2.set_ylabel("RSS (MiB)")
    ax2.set_ylim(0, max(1.0, float(trace[:, 1].max()) * 1.2) if trace.size else 1)
    ax2.set_title("ecocube loader memory")
    fig.tight_layout()
    return fig
