"""Cost of the multilayer Saint-Venant basin per simulated year per scenario, single and batched.

Runs ``ecocube.ocean.multilayer.MultilayerBasin`` on a closed basin (20 cells of 10 km, 4 layers,
10 to 30 m deep over a sloping bottom, 10 tracers standing for a biogeochemistry, a daily wind
per scenario) at the largest stable step that divides a day, for each batch size, and reports
the wall time per simulated year per scenario; the baseline is the batch of one measured in the
same run. ``--days`` shorter than a year extrapolates from the measured steps (the cost of a
step does not depend on the state). ``--compile`` also times the step compiled with
``torch.compile`` (the compile time is reported apart). ``--column`` also times the water-column
model (``ecocube.ocean.simulate``, 20 layers, dt = 3 h) on the same batch sizes, in the same run.
``--accuracy`` prints instead the scheme's errors against known solutions (lake at rest, dam
breaks at four resolutions with the observed orders, wind set-up, tide, a year of conservation).

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/bench_multilayer.py
    OMP_NUM_THREADS=1 python benchmarks/bench_multilayer.py --batches 1 64 --days 365 --column
    OMP_NUM_THREADS=1 python benchmarks/bench_multilayer.py --accuracy
    python benchmarks/bench_multilayer.py --device cuda --batches 1 64 1024
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

DAY = 86_400.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes")
    parser.add_argument("--cells", type=int, default=20, help="cells along the basin")
    parser.add_argument("--layers", type=int, default=4, help="layers")
    parser.add_argument("--tracers", type=int, default=10, help="passive tracers")
    parser.add_argument("--length", type=float, default=200_000.0, help="basin length (m)")
    parser.add_argument("--days", type=int, default=365, help="simulated days per batch")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--compile", action="store_true", help="also time the step compiled by torch.compile"
    )
    parser.add_argument("--column", action="store_true", help="also time ecocube.ocean.simulate")
    parser.add_argument("--accuracy", action="store_true", help="errors against known solutions")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.accuracy:
        accuracy()
        return

    import torch

    from ecocube.ocean.multilayer import (
        BasinConfig,
        BasinState,
        Forcing,
        MultilayerBasin,
        TimeSeries,
    )
    from ecocube.ocean.multilayer._stability import day_divisor

    torch.set_num_threads(1)
    device = torch.device(args.device)
    depth = np.linspace(10.0, 30.0, args.cells)
    cfg = BasinConfig(length=args.length, nx=args.cells, n_layers=args.layers, bathymetry=depth)
    basin = MultilayerBasin(cfg, device=device)
    rng = np.random.default_rng(0)

    def forcing(batch: int) -> Forcing:
        wind = TimeSeries(rng.uniform(-10.0, 10.0, (batch, args.days + 1)), interval=DAY)
        return Forcing(wind=wind)

    def state(batch: int) -> BasinState:
        tracers = torch.rand(batch, args.tracers, args.cells, args.layers, dtype=torch.float64)
        return basin.initial_state(batch, tracers=tracers.to(device))

    probe = state(1)
    speed = basin.max_wave_speed(probe, forcing(1))
    dt = float(day_divisor(cfg.cfl * cfg.dx / speed) or 1)
    steps = round(args.days * DAY / dt)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU, 1 thread"
    print(f"device: {device} ({name})")
    print(
        f"basin: {args.cells} cells x {args.layers} layers, dx = {cfg.dx / 1000:g} km, depth "
        f"10-30 m, {args.tracers} tracers; dt = {dt:g} s ({steps:,} steps for {args.days} days)"
    )
    basin.run(state(2), forcing(2), dt=dt, duration=dt * 20)  # warm-up
    print(f"{'batch':>6s} {'wall s':>8s} {'us / step':>10s} {'s / scenario-yr':>16s} {'gain':>6s}")
    variants = [("eager", basin)]
    if args.compile:
        variants.append(("compiled", MultilayerBasin(cfg, device=device, compile=True)))
    base = None
    for label, model in variants:
        print(f"{label}:")
        for batch in args.batches:
            start_state, drive = state(batch), forcing(batch)
            if label == "compiled":  # the first steps of a batch size compile the step
                start = time.perf_counter()
                model.run(start_state, drive, dt=dt, duration=dt * 2)
                print(f"{batch:6d} compile: {time.perf_counter() - start:.1f} s")
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model.run(start_state, drive, dt=dt, duration=steps * dt)
            if device.type == "cuda":
                torch.cuda.synchronize()
            wall = time.perf_counter() - start
            per_year = wall * 365 / args.days / batch
            base = per_year if base is None else base
            print(
                f"{batch:6d} {wall:8.2f} {wall / steps * 1e6:10.0f} {per_year:16.3f} "
                f"{base / per_year:5.1f}x"
            )
    if args.column:
        from ecocube.ocean import sample_scenarios, simulate

        print("water column (ecocube.ocean.simulate, 20 layers, dt = 3 h, 1 year):")
        simulate(sample_scenarios(2, seed=0), years=1, dt=DAY / 4, device=args.device)
        for batch in args.batches:
            table = sample_scenarios(batch, seed=1)
            start = time.perf_counter()
            simulate(table, years=1, n_layers=20, dt=10_800.0, device=args.device)
            wall = time.perf_counter() - start
            print(f"{batch:6d} {wall:8.2f} {'':>10s} {wall / batch:16.3f}")
    cmd = (
        f"OMP_NUM_THREADS=1 python benchmarks/bench_multilayer.py --batches "
        f"{' '.join(map(str, args.batches))} --cells {args.cells} --layers {args.layers} "
        f"--tracers {args.tracers} --length {args.length:g} --days {args.days} "
        f"--device {args.device}"
        + (" --compile" if args.compile else "")
        + (" --column" if args.column else "")
    )
    print(f"reproduce: {cmd}")


def _surfaces(basin: Any, state: Any, forcing: Any, dt: float, duration: float) -> np.ndarray:
    """Surface elevation (m) of scenario 0 after every step of a run, shape ``(steps, nx)``."""
    seen: list[np.ndarray] = []
    basin.run(
        state,
        forcing,
        dt=dt,
        duration=duration,
        callback=lambda s: seen.append(basin.surface_elevation(s)[0].cpu().numpy()),
    )
    return np.array(seen)


def accuracy() -> None:
    """Print the errors of the scheme against known solutions (float64, CPU)."""
    import math

    import torch

    from ecocube.ocean.multilayer import (
        BasinConfig,
        Forcing,
        MultilayerBasin,
        OpenBoundary,
        TimeSeries,
        analytic,
    )

    torch.set_num_threads(1)
    g = 9.81
    x = (np.arange(40) + 0.5) * 25.0
    print("lake at rest over a bump, 40 cells x 4 layers, 2000 steps of 4 s:")
    for label, base in (("submerged", 2.0), ("emerged", 0.5)):
        bottom = base - (1.5 if base > 1 else 1.0) * np.exp(-(((x - 500) / 100) ** 2))
        basin = MultilayerBasin(BasinConfig(length=1000.0, nx=40, n_layers=4, bathymetry=bottom))
        state = basin.run(basin.initial_state(tracers=[1.0]), Forcing(), dt=4.0, duration=8000.0)
        eta = basin.surface_elevation(state) * (state.depth > 0)
        print(
            f"  {label:9s} max |u| = {float(state.velocity.abs().max()):.1e} m s-1, "
            f"max |eta| = {float(eta.abs().max()):.1e} m"
        )

    print("dam break (h_l = 1 m at x < 500 m, t = 30 s), L1 error of h (m2) and observed order:")
    rows = []
    for nx in (200, 400, 800, 1600, 3200):
        cfg = BasinConfig(length=1000.0, nx=nx, n_layers=3, bathymetry=1.0, bottom_drag=0.0)
        basin = MultilayerBasin(cfg)
        left = torch.tensor(cfg.x < 500.0)
        depth = torch.stack([left.double(), torch.where(left, 1.0, 0.1).double()])
        steps = math.ceil(30.0 / (cfg.cfl * cfg.dx / (2.0 * math.sqrt(g))))
        state = basin.run(
            basin.initial_state(2, depth=depth), Forcing(), dt=30.0 / steps, duration=30.0
        )
        errs = []
        for b, h_right in enumerate((0.0, 0.1)):
            exact, _ = analytic.stoker(cfg.x, 30.0, x0=500.0, h_left=1.0, h_right=h_right)
            errs.append(float(np.abs(state.depth[b].numpy() - exact).sum() * cfg.dx))
        rows.append((nx, *errs))
    for i, (nx, ritter, stoker) in enumerate(rows):
        orders = ""
        if i:
            orders = "  orders " + ", ".join(
                f"{math.log2(rows[i - 1][k] / rows[i][k]):.2f}" for k in (1, 2)
            )
        print(f"  nx = {nx:5d}: Ritter {ritter:.4f}, Stoker {stoker:.4f}{orders}")
    data = np.array(rows)
    for k, name in ((1, "Ritter"), (2, "Stoker")):
        fit = -np.polyfit(np.log(data[:4, 0]), np.log(data[:4, k]), 1)[0]
        print(f"  {name}: fitted order over nx = 200..1600: {fit:.2f}")

    print("wind set-up, 10 km x 10 m, 10 m s-1 ramped over 6 h, day 1 + 2 h mean:")
    for nx in (20, 40):
        cfg = BasinConfig(
            length=10_000.0, nx=nx, n_layers=5, bathymetry=10.0, viscosity=1e-2, bottom_drag=0.0
        )
        basin = MultilayerBasin(cfg)
        forcing = Forcing(wind=TimeSeries([0.0, 10.0], interval=6 * 3600.0))
        dt = 40.0 * 20 / nx
        state = basin.run(basin.initial_state(), forcing, dt=dt, duration=86_400.0)
        seen = _surfaces(basin, state, forcing, dt, 7200.0)
        stress = cfg.rho_air * cfg.wind_drag * 100.0
        slope = np.polyfit(cfg.x[2:-2], seen.mean(0)[2:-2], 1)[0]
        expected = analytic.wind_setup_slope(10.0, stress, cfg.rho_water, g)
        print(
            f"  nx = {nx}: slope {slope:.5e}, tau / (rho g H) = {expected:.5e}, "
            f"relative error {slope / expected - 1:+.1e}"
        )

    period, amp = 44_714.0, 0.5
    cfg = BasinConfig(
        length=10_000.0,
        nx=10,
        n_layers=3,
        bathymetry=10.0,
        bottom_drag=0.0,
        open_boundary=OpenBoundary("right", "elevation"),
    )
    basin = MultilayerBasin(cfg)
    times = np.arange(0, 3 * period, 600.0)
    tide = Forcing(tide=TimeSeries(amp * np.sin(2 * np.pi * times / period), interval=600.0))
    state = basin.run(basin.initial_state(), tide, dt=72.0, duration=72.0 * 900)
    far = _surfaces(basin, state, tide, 72.0, 72.0 * 700)[:, 0]
    linear = amp / math.cos(2 * np.pi / period / math.sqrt(g * 10.0) * 10_000.0)
    print(
        f"M2 tide of 0.5 m at the mouth of a 10 km x 10 m basin: head amplitude "
        f"{np.ptp(far) / 2:.4f} m, linear theory A / cos(kL) = {linear:.4f} m"
    )

    rng = np.random.default_rng(0)
    cfg = BasinConfig(length=200_000.0, nx=5, n_layers=3, bathymetry=[2.0, 2.5, 3.5, 3.0, 2.2])
    basin = MultilayerBasin(cfg)
    state = basin.initial_state(2, tracers=torch.tensor(rng.uniform(0.5, 2.0, (2, 3, 5, 3))))
    volume, content = basin.volume(state), basin.tracer_content(state)
    wind = Forcing(wind=TimeSeries(rng.uniform(-8.0, 8.0, (2, 366)), interval=86_400.0))
    state = basin.run(state, wind, dt=4800.0, duration=365 * 86_400.0)
    dv = float(((basin.volume(state) - volume) / volume).abs().max())
    dc = float(((basin.tracer_content(state) - content) / content).abs().max())
    print(f"closed basin, 1 year of daily winds: volume {dv:.1e}, tracer content {dc:.1e} relative")


if __name__ == "__main__":
    main()
