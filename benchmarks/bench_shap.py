"""Speed and additivity of the SHAP report's explainer against ``shap.KernelExplainer``.

Fits a model (``--model maxent-net`` or ``integrated``) to the Costa Rica GBIF records of a few
species on the demo's eight CHELSA bioclim variables (the registry's rasters), draws one seeded background
sample and one sample of explained cells from the land cells of the cube, and explains the same
cells with

* the explainer ``ecocube report shap`` chooses (``linear-exact`` for the linear integrated
  model, ``expected-gradients`` for the networks), mean function only;
* ``shap.KernelExplainer`` on the same function (encoded features -> log-intensity of every
  species) with the same background rows.

Prints explained cells per second, the maximum and 99th-percentile additivity error
(``|sum(SHAP) + base - f(x)| / sd(f(x))``) of both, and the correlation of their SHAP values.
The last line is ``ratio: X``, the chosen explainer's cells/s over the kernel explainer's.

Reproduce::

    OMP_NUM_THREADS=2 python benchmarks/bench_shap.py --model maxent-net --cells 200 \
        --kernel-cells 60
    OMP_NUM_THREADS=2 python benchmarks/bench_shap.py --model integrated --cells 200 \
        --kernel-cells 20
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

SPECIES = ("Bothrops asper", "Porthidium nasutum", "Saimiri oerstedii", "Ateles geoffroyi")
#: The demo's eight CHELSA bioclim variables (low pairwise correlation in Costa Rica).
VARIABLES = ("bio1", "bio2", "bio4", "bio5", "bio12", "bio14", "bio15", "bio17")


def _errors(values: np.ndarray, base: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    gap = np.abs(values.sum(-1) + base - output) / output.std(0)
    return float(gap.max()), float(np.quantile(gap, 0.99, axis=0).max())


def main() -> None:
    import shap
    import torch

    from ecocube.cube import anchor_of, build_cube
    from ecocube.cube.testing import chelsa_items
    from ecocube.models import SDM
    from ecocube.models.datasets.gbif import load_costa_rica_occurrences
    from ecocube.models.explain._explain import explain_cells, sample_cells, valid_cells
    from ecocube.models.explain._explainers import _evaluate

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("maxent-net", "integrated"), default="maxent-net")
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--kernel-cells", type=int, default=50)
    parser.add_argument("--background", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    items = chelsa_items(tuple(int(v[3:]) for v in VARIABLES))
    anchor, res = anchor_of(items[0])
    cube = build_cube(items, bbox=items[0].bbox, resolution=res, anchor=anchor).compute()
    occ = load_costa_rica_occurrences()
    records = occ[occ["species"].isin(SPECIES)][["species", "x", "y"]]
    options: dict[str, object] = (
        {"epochs": 60, "n_members": 4, "hidden": (64, 64)}
        if args.model == "maxent-net"
        else {"steps": 400}
    )
    sdm = SDM(args.model, seed=args.seed, options=options, cv_folds=0).fit(
        records, cube=cube, variables=list(VARIABLES), background=2000, drop_outside=True
    )
    valid = valid_cells(cube, VARIABLES)
    rng = np.random.default_rng(args.seed)
    bg = sample_cells(cube, VARIABLES, valid, args.background, rng)
    cells = sample_cells(cube, VARIABLES, valid, args.cells, rng)

    explain_cells(sdm, cells.iloc[:5], bg, max_draws=0)  # warm-up (first torch calls)
    tic = time.perf_counter()
    attr = explain_cells(sdm, cells, bg, max_draws=0)
    chosen_s = time.perf_counter() - tic
    enc = sdm.estimator_.encoder
    fn = sdm.explain_function()
    x, xb = enc.transform(cells), enc.transform(bg)
    member = np.zeros((x.shape[1], len(attr.variables)))
    for i, name in enumerate(enc.feature_names):
        member[i, attr.variables.index(name.removesuffix("^2"))] = 1.0

    def predict(rows: np.ndarray) -> np.ndarray:
        return _evaluate(fn, np.asarray(rows, dtype=np.float32))

    k = min(args.kernel_cells, len(x))
    kernel = shap.KernelExplainer(predict, xb.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kernel.shap_values(x[:2].astype(np.float64), silent=True)  # warm-up
        tic = time.perf_counter()
        raw = kernel.shap_values(x[:k].astype(np.float64), silent=True)
    kernel_s = time.perf_counter() - tic
    kvalues = np.asarray(raw)  # (k, p, S)
    if kvalues.ndim == 3 and kvalues.shape[1] == x.shape[1]:
        kvalues = np.transpose(kvalues, (0, 2, 1))  # -> (k, S, p)
    kvalues = kvalues @ member
    kbase = np.asarray(kernel.expected_value, dtype=float).reshape(-1)
    koutput = predict(x[:k])

    chosen_rate = len(x) / chosen_s
    kernel_rate = k / kernel_s
    c_max, c_p99 = _errors(attr.values, attr.base, attr.output)
    k_max, k_p99 = _errors(kvalues, kbase, koutput)
    corr = float(np.corrcoef(attr.values[:k].ravel(), kvalues.ravel())[0, 1])
    print(
        f"model {args.model}: {len(sdm.species_)} species, {len(attr.variables)} variables "
        f"({x.shape[1]} encoded), background {len(xb)}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'explainer':<22}{'cells':>7}{'seconds':>10}{'cells/s':>11}{'max err':>11}{'p99 err':>11}"
    )
    print(
        f"{attr.explainer:<22}{len(x):>7}{chosen_s:>10.2f}{chosen_rate:>11.1f}"
        f"{c_max:>11.2e}{c_p99:>11.2e}"
    )
    print(
        f"{'shap.KernelExplainer':<22}{k:>7}{kernel_s:>10.2f}{kernel_rate:>11.1f}"
        f"{k_max:>11.2e}{k_p99:>11.2e}"
    )
    print(f"correlation of SHAP values (same {k} cells): {corr:.4f}")
    print(f"ratio: {chosen_rate / kernel_rate:.1f}")


if __name__ == "__main__":
    main()
