"""Peak memory of the integrated SDM's SVI: full batch vs minibatches (``batch_size``).

Simulated integrated data (seeded): ``--species`` species on ``--features`` standard-normal
covariates, 200 presence-only records per species, ``--background`` background points and
``--surveys`` survey sites (1x) or ten times as many of both (10x); two latent factors and the
shared bias surface, as in the default :class:`~ecocube.models.integrated.IntegratedConfig`.
Each measured fit runs ``--steps`` SVI steps in a fresh process (peak RSS is a per-process
high-water mark) and reports its peak RSS, the peak before fitting (imports + the data arrays)
and the seconds per step. Printed: one row per (scale, mode), then the ratios full / minibatch
at each scale and 10x / 1x of each mode; the last line is the minibatch's 10x / 1x ratio of
the fit's own memory (peak minus the peak before fitting): ``minibatch_fit_memory_10x_over_1x: X``.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_integrated_minibatch.py
    python benchmarks/bench_integrated_minibatch.py --species 50 --batch-size 1024 --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np
from bench_sdm_map import peak_rss_mb  # VmHWM of this process (scripts run from here)


def simulate(args: argparse.Namespace, scale: int) -> Any:
    """Presences, background points and surveys from one log-linear intensity per species."""
    from ecocube.models.integrated import IntegratedData

    rng = np.random.default_rng(0)
    S, P = args.species, args.features
    n_bg, n_sv = args.background * scale, args.surveys * scale
    beta = rng.normal(0, 0.5, (S, P))
    alpha = rng.normal(-1.5, 0.5, S)
    x_bg = rng.normal(size=(n_bg, P)).astype(np.float32)
    x_pres, species = [], []
    pool = x_bg[: args.background]  # presences do not grow with the background
    for s in range(S):
        w = np.exp(pool @ beta[s])
        x_pres.append(pool[rng.choice(len(pool), 200, p=w / w.sum())])
        species.append(np.full(200, s))
    x_sv = rng.normal(size=(n_sv, P)).astype(np.float32)
    p = 1 - np.exp(-np.exp(alpha + x_sv @ beta.T))
    return IntegratedData(
        n_species=S,
        x_background=x_bg,
        x_presence=np.concatenate(x_pres),
        presence_species=np.concatenate(species),
        x_survey=x_sv,
        y_survey=(rng.random(p.shape) < p).astype(np.float32),
    )


def child(args: argparse.Namespace) -> None:
    """One fit; prints a JSON line with the peak RSS before and after and seconds per step."""
    import torch

    from ecocube.models.integrated import IntegratedConfig, IntegratedSDM

    torch.set_num_threads(args.threads)
    data = simulate(args, args.scale)
    before = peak_rss_mb()
    batch = args.batch_size if args.child == "minibatch" else None
    config = IntegratedConfig(steps=args.steps, num_samples=20, batch_size=batch, seed=0)
    tic = time.perf_counter()
    IntegratedSDM(config).fit(data)
    seconds = time.perf_counter() - tic
    print(
        json.dumps(
            {"before_mb": before, "peak_mb": peak_rss_mb(), "s_per_step": seconds / args.steps}
        )
    )


def measure(args: argparse.Namespace, mode: str, scale: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", mode, "--scale", str(scale)]
    for name in ("species", "features", "background", "surveys", "batch_size", "steps", "threads"):
        cmd += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} at {scale}x failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", type=int, default=50)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--background", type=int, default=20_000, help="background points at 1x")
    parser.add_argument("--surveys", type=int, default=5_000, help="survey sites at 1x")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=("full", "minibatch"), help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    rows: dict[tuple[int, str], dict[str, float]] = {}
    print(
        f"{args.species} species, {args.features} features, 200 presences per species, "
        f"batch_size {args.batch_size}, {args.steps} SVI steps per fit"
    )
    print(
        f"{'scale':>5} {'background':>10} {'surveys':>8} {'mode':>9} | {'before MB':>9} "
        f"{'peak MB':>8} {'fit MB':>7} {'s/step':>7}"
    )
    for scale in (1, 10):
        for mode in ("full", "minibatch"):
            r = rows[scale, mode] = measure(args, mode, scale)
            print(
                f"{scale:>4}x {args.background * scale:>10,} {args.surveys * scale:>8,} "
                f"{mode:>9} | {r['before_mb']:>9.0f} {r['peak_mb']:>8.0f} "
                f"{r['peak_mb'] - r['before_mb']:>7.0f} {r['s_per_step']:>7.3f}",
                flush=True,
            )

    def fit_mb(scale: int, mode: str) -> float:
        r = rows[scale, mode]
        return max(r["peak_mb"] - r["before_mb"], 1.0)

    for scale in (1, 10):
        full, mini = rows[scale, "full"], rows[scale, "minibatch"]
        print(
            f"{scale}x full / minibatch: peak RSS {full['peak_mb'] / mini['peak_mb']:.2f}, "
            f"fit memory {fit_mb(scale, 'full') / fit_mb(scale, 'minibatch'):.2f}"
        )
    for mode in ("full", "minibatch"):
        print(
            f"{mode} 10x / 1x: peak RSS "
            f"{rows[10, mode]['peak_mb'] / rows[1, mode]['peak_mb']:.2f}, fit memory "
            f"{fit_mb(10, mode) / fit_mb(1, mode):.2f}"
        )
    print(
        f"minibatch_fit_memory_10x_over_1x: {fit_mb(10, 'minibatch') / fit_mb(1, 'minibatch'):.2f}"
    )


if __name__ == "__main__":
    main()
