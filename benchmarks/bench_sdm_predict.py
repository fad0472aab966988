"""Memory and time of the integrated SDM's prediction over many sites (country-scale maps).

The posterior summaries are computed batch by batch (session 7); before, the ``num_samples x
sites x species`` draws of all sites were held at once, as they still are with
``return_samples=True``, which serves as the baseline in the same process. Peak memory is the
``tracemalloc`` peak (numpy arrays; torch's own buffers are not traced), time ``perf_counter``.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_sdm_predict.py --sites 200000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from dataclasses import replace

import numpy as np


def _measure(fn) -> tuple[float, float]:
    tracemalloc.start()
    tic = time.perf_counter()
    fn()
    seconds = time.perf_counter() - tic
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def main() -> None:
    import torch

    from ecocube.models.integrated import IntegratedConfig, IntegratedData, IntegratedSDM

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=200_000)
    parser.add_argument("--species", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n_sp, p = args.species, 4
    beta = rng.normal(0, 1, (n_sp, p))
    x_bg = rng.normal(size=(3000, p)).astype(np.float32)
    x_sv = rng.normal(size=(600, p)).astype(np.float32)
    y_sv = (rng.random((600, n_sp)) < 1 - np.exp(-np.exp(-1 + x_sv @ beta.T))).astype(np.float32)
    pres = [x_bg[rng.choice(3000, 100, p=np.exp(x_bg @ b) / np.exp(x_bg @ b).sum())] for b in beta]
    data = IntegratedData(
        n_species=n_sp,
        x_background=x_bg,
        x_presence=np.concatenate(pres),
        presence_species=np.repeat(np.arange(n_sp), 100),
        x_survey=x_sv,
        y_survey=y_sv,
    )
    cfg = replace(IntegratedConfig(), steps=200, num_samples=200, n_factors=2, seed=0)
    model = IntegratedSDM(cfg).fit(data)
    x = rng.normal(size=(args.sites, p)).astype(np.float32)
    t_base, m_base = _measure(lambda: model.predict(x, return_samples=True))
    t_new, m_new = _measure(lambda: model.predict(x))
    print(f"integrated SDM, {args.sites:,} sites x {n_sp} species x {cfg.num_samples} draws:")
    print(
        f"  all draws held (baseline, return_samples=True): {t_base:.1f} s, peak {m_base:,.0f} MiB"
    )
    print(f"  summaries batch by batch (default):             {t_new:.1f} s, peak {m_new:,.0f} MiB")
    print(f"  peak memory ratio baseline / default: {m_base / m_new:.1f}x")


if __name__ == "__main__":
    main()
