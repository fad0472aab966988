"""CPU time of fitting and predicting every NCEAS survey group (default maxent-net, 1 thread).

On a shared, loaded machine wall time says more about the neighbours than about the code;
``time.process_time()`` counts only the CPU this process used. Prints one line per group
and the total.

Reproduce::

    OMP_NUM_THREADS=1 python benchmarks/cpu_time_nceas.py
"""

from __future__ import annotations

import time


def main() -> None:
    import torch

    from ecocube.models.benchmark.nceas import fit_predict_group
    from ecocube.models.benchmark.nceas_data import load_nceas_groups
    from ecocube.models.maxent_net import MaxentNetConfig

    torch.set_num_threads(1)
    cfg = MaxentNetConfig()
    total_cpu = total_wall = 0.0
    for group in load_nceas_groups():
        cpu, wall = time.process_time(), time.perf_counter()
        fit_predict_group(group, cfg)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        total_cpu += cpu
        total_wall += wall
        print(f"{group.name}: cpu {cpu:.2f} s, wall {wall:.2f} s", flush=True)
    print(f"TOTAL (226 species): cpu {total_cpu:.1f} s, wall {total_wall:.1f} s")


if __name__ == "__main__":
    main()
