"""Choose the maxent-net hyper-parameters by spatial-block CV on the NCEAS TRAINING data.

No presence-absence (test) data are read. For each candidate configuration, every survey
group is cross-validated with :func:`ecocube.models.benchmark.nceas.cross_validate_group`
(3 spatial-block folds, 8 blocks across the region) and the mean held-out AUC of presences
against the rest of the survey group's sites (``auc_tg``) and against random background
(``auc_bg``) are reported, species weighted equally.

Reproduce::

    python benchmarks/experiments/tune_nceas.py --out benchmarks/results/nceas_cv.csv
    python benchmarks/experiments/tune_nceas.py --grid round2 --out benchmarks/results/nceas_cv_round2.csv
    python benchmarks/experiments/tune_nceas.py --grid spatial --members 4   # spatial basis (chosen 8, 0.7)
    python benchmarks/experiments/tune_nceas.py --grid local --members 4     # local record frequency
    python benchmarks/experiments/tune_nceas.py --grid joint --members 4     # one network per region
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace

import pandas as pd

_JOINT = {"spatial": (8, 0.7), "local": (0.02, 0.5, 0.25), "joint": True}

GRIDS: dict[str, dict[str, dict]] = {
    "round1": {
        "mlp64x2-tg": {},
        "linear-tg": {"hidden": ()},
        "mlp64x2-both": {"background": "both"},
        "mlp64x2-random": {"background": "random"},
        "mlp64x2-tg-wd1e-2": {"weight_decay": 1e-2},
        "mlp64x2-tg-ep100": {"epochs": 100},
    },
    "round2": {
        "linear-tg-ep100": {"hidden": (), "epochs": 100},
        "linear-tg-ep400": {"hidden": (), "epochs": 400},
        "mlp32-tg-wd1e-1": {"hidden": (32,), "weight_decay": 1e-1},
        "mlp32-tanh-tg-wd1e-2-ep100": {
            "hidden": (32,),
            "activation": "tanh",
            "weight_decay": 1e-2,
            "epochs": 100,
        },
        "mlp64x2-tg-drop0.3-ep100": {"dropout": 0.3, "epochs": 100},
        "mlp16-tg-ep100": {"hidden": (16,), "epochs": 100},
    },
    "round3": {
        "mlp64x2-tg-drop0.5-ep100": {"dropout": 0.5, "epochs": 100},
        "mlp64x2-tg-drop0.3-ep60": {"dropout": 0.3, "epochs": 60},
        "mlp128x2-tg-drop0.5-ep100": {"hidden": (128, 128), "dropout": 0.5, "epochs": 100},
        "mlp64x2-tg-drop0.3-ep100-wd1e-2": {"dropout": 0.3, "epochs": 100, "weight_decay": 1e-2},
        "mlp64x2-silu-tg-drop0.3-ep100": {"activation": "silu", "dropout": 0.3, "epochs": 100},
    },
    "round4": {
        "mlp64x2-tg-drop0.5-ep60": {"dropout": 0.5, "epochs": 60},
        "mlp64x2-tg-drop0.5-ep40": {"dropout": 0.5, "epochs": 40},
    },
    "round5": {
        "mlp64x2-tg-drop0.5-ep25": {"dropout": 0.5, "epochs": 25},
        "mlp64x2-tg-drop0.6-ep40-lr5e-3": {"dropout": 0.6, "epochs": 40, "lr": 5e-3},
    },
    "spatial": {
        "mlp64x2-env": {},
        "mlp64x2-xy": {"spatial": "xy"},
        "mlp64x2-sfb16-0.3": {"spatial": (16, 0.3)},
        "mlp64x2-sfb16-0.5": {"spatial": (16, 0.5)},
        "mlp64x2-sfb8-0.5": {"spatial": (8, 0.5)},
        "mlp64x2-sfb8-0.7": {"spatial": (8, 0.7)},
        "mlp64x2-sfb16-1.0": {"spatial": (16, 1.0)},
    },
    "local": {
        "sfb8-0.7": {"spatial": (8, 0.7)},
        "sfb8-0.7-lf0.01-0.25": {"spatial": (8, 0.7), "local": (0.01, 0.5, 0.25)},
        "sfb8-0.7-lf0.02-0.25": {"spatial": (8, 0.7), "local": (0.02, 0.5, 0.25)},
        "sfb8-0.7-lf0.02-0.5": {"spatial": (8, 0.7), "local": (0.02, 0.5, 0.5)},
        "sfb8-0.7-lf0.05-0.25": {"spatial": (8, 0.7), "local": (0.05, 0.5, 0.25)},
        "sfb8-0.7-lf0.05-0.5": {"spatial": (8, 0.7), "local": (0.05, 0.5, 0.5)},
        "sfb8-0.7-lf0.02m2-0.5": {"spatial": (8, 0.7), "local": (0.02, 2.0, 0.5)},
        "env-lf0.02-0.25": {"local": (0.02, 0.5, 0.25)},
        "sfb16-0.5-lf0.02-0.25": {"spatial": (16, 0.5), "local": (0.02, 0.5, 0.25)},
        "sfb16-1.0-lf0.02-0.25": {"spatial": (16, 1.0), "local": (0.02, 0.5, 0.25)},
        "sfb8-1.0-lf0.02-0.25": {"spatial": (8, 1.0), "local": (0.02, 0.5, 0.25)},
    },
    # one network per region for its survey groups vs one per group; both on region-wide
    # folds (cross_validate_region), so that they are scored on the same held-out sites
    "joint": {
        "group-sfb8-0.7-lf": {"spatial": (8, 0.7), "local": (0.02, 0.5, 0.25), "joint": False},
        "joint-sfb8-0.7-lf": {"spatial": (8, 0.7), "local": (0.02, 0.5, 0.25), "joint": True},
        # session 7: the same choice re-checked with the per-species penalty head_l2 = 30
        "group-sfb8-0.7-lf-l2-30": {**_JOINT, "joint": False, "head_l2": 30.0},
        "joint-sfb8-0.7-lf-l2-30": {**_JOINT, "head_l2": 30.0},
    },
    # the network's size and schedule re-checked with the region-wide networks
    "joint2": {
        "joint-mlp128x2": {**_JOINT, "hidden": (128, 128)},
        "joint-ep60": {**_JOINT, "epochs": 60},
        "joint-drop0.3": {**_JOINT, "dropout": 0.3},
        "joint-wd1e-2": {**_JOINT, "weight_decay": 1e-2},
    },
    "round8": {
        "mlp64x2-tg-drop0.5-ep40-quantile": {"dropout": 0.5, "epochs": 40, "scaling": "quantile"},
    },
    "round7": {
        "mlp64x2-tg-drop0.5-ep40-scalebg": {"dropout": 0.5, "epochs": 40},
    },
    "round6": {
        "mlp64x2-tg-drop0.5-ep40-m8": {"dropout": 0.5, "epochs": 40, "n_members": 8},
        "mlp64x2-silu-tg-drop0.5-ep40": {"activation": "silu", "dropout": 0.5, "epochs": 40},
    },
}


def main() -> None:
    import torch

    from ecocube.models.benchmark.nceas import (
        cross_validate_group,
        cross_validate_region,
        region_jobs,
        with_spatial_basis,
    )
    from ecocube.models.benchmark.nceas_data import load_nceas_groups
    from ecocube.models.maxent_net import MaxentNetConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", default="round1", choices=sorted(GRIDS))
    parser.add_argument("--only", default=None, help="comma-separated candidate names")
    parser.add_argument("--out", default="benchmarks/results/nceas_cv.csv")
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument(
        "--scale-on-background",
        action="store_true",
        help="z-score on the random background even with target-group loss",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    groups = load_nceas_groups()
    rows = []
    grid = GRIDS[args.grid]
    names = args.only.split(",") if args.only else list(grid)
    if args.scale_on_background:
        from ecocube.models.benchmark import nceas as nceas_benchmark

        nceas_benchmark.SCALE_ON_BACKGROUND = True
    for name in names:
        options = dict(grid[name])
        spatial = options.pop("spatial", None)
        local = options.pop("local", None)
        joint = options.pop("joint", None)
        # head_l2=0: these grids were scored before it existed (session 7)
        cfg = MaxentNetConfig(**{"n_members": args.members, "head_l2": 0.0, **options})
        tic = time.perf_counter()
        per = []
        for job in region_jobs(groups, True) if joint is not None else []:
            if spatial is not None:  # region-wide basis for a joint network, as the benchmark
                job = [with_spatial_basis(g, *spatial, fit_on=job if joint else None) for g in job]
            cv = cross_validate_region(job, cfg, joint=joint, local_frequency=local)
            per.append(cv.drop(columns="group").assign(auc_bg=float("nan")))
        for raw in groups if joint is None else []:
            if spatial == "xy":  # raw coordinates as two more covariates
                g = replace(raw, covariates=(*raw.covariates, "x", "y"))
            elif spatial is not None:
                g = with_spatial_basis(raw, *spatial)
            else:
                g = raw
            cv = cross_validate_group(g, cfg, local_frequency=local)
            cv.insert(0, "region", g.region)
            per.append(cv)
        cv = pd.concat(per, ignore_index=True)
        by_sp = cv.groupby(["region", "spid"])[["auc_tg", "auc_bg"]].mean().reset_index()
        row = {
            "candidate": name,
            "auc_tg": by_sp["auc_tg"].mean(),
            "auc_bg": by_sp["auc_bg"].mean(),
            "seconds": time.perf_counter() - tic,
        }
        for reg, v in by_sp.groupby("region")["auc_tg"].mean().items():
            row[f"tg_{reg}"] = v
        row["config"] = str(
            {
                k: v
                for k, v in {
                    **asdict(cfg),
                    "spatial": spatial,
                    "local": local,
                    "joint": joint,
                }.items()
                if k in grid[name]
            }
        )
        rows.append(row)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    out = pd.DataFrame(rows)
    try:
        old = pd.read_csv(args.out)
        out = pd.concat([old[~old["candidate"].isin(out["candidate"])], out])
    except FileNotFoundError:
        pass
    out.to_csv(args.out, index=False)
    print(out.sort_values("auc_tg", ascending=False).to_string(index=False))


if __name__ == "__main__":
    main()
