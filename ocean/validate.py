"""Validate a surrogate against the full model on fresh scenarios, in one run.

:func:`validate_surrogate` draws ``n`` new scenarios (a seed distinct from the ensemble's),
runs :func:`ecocube.ocean.simulate` and ``Surrogate.predict`` on them, and reports

* R² and NRMSE of the daily series (surface and depth-integrated phytoplankton carbon per
  type, DIC, chlorophyll, pCO2, fgco2, production, temperature), pooled over scenarios and days;
  NRMSE is the RMSE divided by the range (max − min) of the full model's values;
* errors of the per-scenario indices of :func:`ecocube.ocean.indices.compute_indices`: annual CO2
  uptake and primary production (relative), bloom day (days), Shannon index (nats); for the
  uptake also absolute errors and, as an extra figure with no target, the mean absolute error
  over the spread (sd) of the full model's uptake across the scenarios;
* the measured speed-up, batched (``n`` scenarios in one call, per scenario) and single-call,
  timing ``Surrogate.predict`` end to end (it returns a Dataset; the best of several calls,
  with and without the ensemble standard deviation) against one run of the full model, and
  the surrogate's per-scenario cost on a large batch (``large_batch`` scenarios, mean only);
* R² under warming beyond the training range (+2 and +4 °C above its upper bound);

and compares each figure with the targets of :data:`TARGETS`.

A surrogate of a spatial model (the multilayer basin, ``simulate(..., physics="multilayer")``:
fields with an ``x`` dim) is scored on every emulated field, pooled over scenarios, days and
cells (phytoplankton types too), its indices are those of the basin-mean series
(:func:`ecocube.ocean.indices.basin_mean`), and its targets are :data:`SPATIAL_TARGETS`.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ecocube._atomic import check_output_file, write_file_atomic
from ecocube.errors import ConfigurationError, EcocubeWarning, InvalidInputError

__all__ = [
    "SERIES",
    "SPATIAL_TARGETS",
    "TARGETS",
    "full_model_change",
    "series_scores",
    "validate_surrogate",
]

#: Daily series scored, in report order.
SERIES: tuple[str, ...] = ("phyc", "intphyc", "dissic", "chl", "spco2", "fgco2", "intpp", "tos")

#: Accuracy and speed targets of a surrogate (name -> (threshold, "min" or "max")).
TARGETS: dict[str, tuple[float, str]] = {
    "phyc_r2": (0.98, "min"),
    "phyc_nrmse": (0.05, "max"),
    "intphyc_r2": (0.98, "min"),
    "intphyc_nrmse": (0.05, "max"),
    "dissic_r2": (0.98, "min"),
    "dissic_nrmse": (0.05, "max"),
    "co2_uptake_median_rel_error": (0.02, "max"),
    "bloom_day_max_abs_error": (3.0, "max"),
    "shannon_max_abs_error": (0.05, "max"),
    "speedup_batched": (1e4, "min"),
    "speedup_single": (1e3, "min"),
    "extrapolation_plus2_phyc_r2": (0.9, "min"),
    "extrapolation_plus4_phyc_r2": (0.9, "min"),
    "extrapolation_plus2_dissic_r2": (0.9, "min"),
    "extrapolation_plus4_dissic_r2": (0.9, "min"),
}


#: Targets of a surrogate of a spatial model (issue 16): R² of every emulated field (pooled over
#: scenarios, days and cells; the fields of ``ecocube.ocean.surrogate.EMULATED``) and the median
#: relative error of the basin's annual CO2 uptake.
SPATIAL_TARGETS: dict[str, tuple[float, str]] = {
    **{
        f"{name}_r2": (0.98, "min")
        for name in (
            "phyc",
            "intphyc",
            "chl",
            "dissic",
            "talk",
            "no3",
            "spco2",
            "fgco2",
            "intpp",
            "tos",
        )
    },
    "co2_uptake_median_rel_error": (0.02, "max"),
}


def series_scores(truth: xr.Dataset, pred: xr.Dataset, names: Sequence[str] = SERIES) -> dict:
    """R² and NRMSE (RMSE / range of ``truth``) of each daily series, pooled over all values
    (scenarios, days, and the types and cells of a per-type or spatial field)."""
    out: dict[str, float] = {}
    for name in names:
        if name not in truth or name not in pred:
            continue
        a = truth[name].transpose(*pred[name].dims).values.astype("float64").ravel()
        b = pred[name].values.astype("float64").ravel()
        ss = float(((a - a.mean()) ** 2).sum())
        out[f"{name}_r2"] = 1.0 - float(((a - b) ** 2).sum()) / ss if ss > 0 else math.nan
        span = float(a.max() - a.min())
        rmse = float(np.sqrt(((a - b) ** 2).mean()))
        out[f"{name}_nrmse"] = rmse / span if span > 0 else math.nan
    return out


def _index_errors(truth: xr.Dataset, pred: xr.Dataset) -> tuple[dict[str, float], pd.DataFrame]:
    from ecocube.ocean.indices import compute_indices

    it, ip = compute_indices(truth), compute_indices(pred)
    rel = lambda c: (ip[c] - it[c]).abs() / it[c].abs().clip(lower=1e-9)  # noqa: E731
    bloom = (ip["bloom_day"] - it["bloom_day"]).abs()
    sh = (ip["shannon"] - it["shannon"]).abs()
    out = {
        "co2_uptake_median_rel_error": float(rel("co2_uptake").median()),
        "co2_uptake_p90_rel_error": float(rel("co2_uptake").quantile(0.9)),
        "co2_uptake_mae_mol_m2_yr": float((ip["co2_uptake"] - it["co2_uptake"]).abs().mean()),
        "co2_uptake_median_abs_error_mol_m2_yr": float(
            (ip["co2_uptake"] - it["co2_uptake"]).abs().median()
        ),
        # not a target: the mean absolute error relative to the spread (sd) of the full model's
        # uptake over the validation scenarios, insensitive to uptakes close to zero
        "co2_uptake_mae_over_spread": float(
            (ip["co2_uptake"] - it["co2_uptake"]).abs().mean() / max(it["co2_uptake"].std(), 1e-12)
        ),
        "production_median_rel_error": float(rel("primary_production").median()),
        "bloom_day_median_abs_error": float(bloom.median()),
        "bloom_day_max_abs_error": float(bloom.max()),
        "bloom_day_within_3d_fraction": float((bloom <= 3).mean()),
        "shannon_median_abs_error": float(sh.median()),
        "shannon_max_abs_error": float(sh.max()),
    }
    table = pd.concat({"full": it, "surrogate": ip}, axis=1)
    return out, table


def _timeit(fn: Any, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _full_model_settings(
    meta: dict[str, Any], simulate_options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Keyword arguments of ``simulate`` for the model a surrogate emulates.

    The settings recorded at training (``meta["simulate"]``), updated by ``simulate_options``.

    Raises
    ------
    ConfigurationError
        The surrogate emulates a ``physics`` that is not a physical scheme of this
        installation (:data:`ecocube.ocean.schemes.PHYSICAL_SCHEMES`).
    """
    from ecocube.ocean.schemes import PHYSICAL_SCHEMES

    settings = {**meta["simulate"], **dict(simulate_options or {})}
    physics = settings.get("physics")
    if physics is not None and physics not in PHYSICAL_SCHEMES:
        raise ConfigurationError(
            f"this surrogate emulates simulate(..., physics={physics!r}), which is not a "
            f"physical scheme of this installation (valid: {sorted(PHYSICAL_SCHEMES)}): "
            "validate it with an ecocube whose simulate runs that model"
        )
    return settings


def full_model_change(
    meta: dict[str, Any],
    device: str = "cpu",
    simulate_options: Mapping[str, Any] | None = None,
) -> str | None:
    """Why the full model differs from the one a surrogate was trained on, or ``None``.

    Reruns the full model on the training ensemble's first scenario (``meta["model_reference"]``,
    :func:`ecocube.ocean.surrogate._base.model_reference`) and compares its output with the
    ensemble's (relative tolerance 1e-4 of each variable's largest value, well above float32
    storage and device differences; basin means for a spatial model). Surrogates saved before
    the reference existed fall back to the source hash (``model_fingerprint``).
    ``simulate_options`` update the recorded settings of the full model
    (:func:`validate_surrogate`).
    """
    from ecocube.ocean.simulate import simulate
    from ecocube.ocean.surrogate._base import model_fingerprint

    ref = meta.get("model_reference")
    if not ref:
        trained_on = meta.get("model_fingerprint")
        if trained_on is not None and trained_on != model_fingerprint():
            return "the parameter registry or source differ"
        return None
    settings = _full_model_settings(meta, simulate_options)
    out = simulate(pd.DataFrame([ref["scenario"]]), device=device, **settings)
    stride = int(ref.get("stride", 1))
    hdims = list(ref.get("horizontal", []))
    for name, stored in ref.items():
        if name in ("scenario", "stride", "horizontal"):
            continue
        if name not in out:
            return f"{name} is no longer in its output"
        da = out[name].isel(scenario=0, time=slice(None, None, stride))
        now = np.asarray(da.mean([d for d in hdims if d in da.dims]).values, dtype=float).ravel()
        then = np.asarray(stored, dtype=float)
        scale = max(float(np.nanmax(np.abs(then))), 1e-30) if then.size else 1.0
        if now.shape != then.shape:
            return f"{name} has {now.size} values for the reference scenario, not {then.size}"
        diff = float(np.nanmax(np.abs(now - then))) / scale if then.size else 0.0
        if not diff <= 1e-4:
            return f"{name} of a training scenario differs by {diff:.1e} of its largest value"
    return None


def validate_surrogate(
    surrogate: Any,
    *,
    n: int = 50,
    seed: int = 20261122,
    extrapolation: Sequence[float] = (2.0, 4.0),
    n_extrapolation: int | None = None,
    device: str = "cpu",
    json_path: str | os.PathLike[str] | None = None,
    keep_datasets: bool = False,
    single_call: bool = True,
    large_batch: int = 1024,
    simulate_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the full model and the surrogate on fresh scenarios and score the surrogate.

    Parameters
    ----------
    surrogate
        A fitted :class:`~ecocube.ocean.surrogate.Surrogate` or the folder it was saved to.
    n
        Number of fresh scenarios (>= 2), drawn by ``sample_scenarios(n, seed=seed)``.
    seed
        Seed of the fresh scenarios; keep it distinct from the training ensemble's seed.
    extrapolation
        Warming beyond the upper bound of the training range (°C) for the extrapolation test;
        empty to skip.
    n_extrapolation
        Scenarios per extrapolation level (default ``max(4, n // 5)``).
    device
        Torch device of the full model.
    json_path
        Write the report there as JSON (atomically; an existing file is replaced, missing
        folders are created). Checked before any simulation: it must not be a folder nor lie
        under a file.
    keep_datasets
        Return the full-model and surrogate Datasets and the index table under ``"_data"``
        (not written to JSON).
    large_batch
        Also time the surrogate on this many scenarios in one call (mean only) and report
        ``speedup_batched_large``: its cost per scenario against the full model's per-scenario
        cost in the ``n``-scenario batch (0 to skip).
    single_call
        Also time one full-model run of a single scenario (the single-call speed-up); its cost
        is that of a whole batch, so tests switch it off.
    simulate_options
        Keyword arguments of :func:`ecocube.ocean.simulate` added to (or replacing) those the
        surrogate recorded from its ensemble (``meta["simulate"]``: ``years``, ``dt``,
        ``n_layers``, and ``physics`` for a spatial model), e.g. the basin configuration of a
        multilayer ensemble, which is not recorded.

    Returns
    -------
    dict
        ``metrics`` (flat name -> value), ``targets`` (name -> {value, threshold, passed}),
        ``timing`` (seconds), ``setup`` (sizes, seeds, settings).

    Raises
    ------
    InvalidInputError
        ``n < 2``, ``seed`` equal to the training ensemble's, or a ``json_path`` that is a
        folder or lies under a file.
    ConfigurationError
        The surrogate emulates a ``physics`` that is not a physical scheme of
        :func:`~ecocube.ocean.simulate` here (checked before any run).
    """
    from ecocube.ocean.indices import HORIZONTAL_DIMS
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, sample_scenarios
    from ecocube.ocean.simulate import simulate
    from ecocube.ocean.surrogate import EMULATED, Surrogate

    if json_path is not None:  # a bad report path fails before the validation, not after it
        check_output_file(json_path, option="json_path")
    if int(n) != n or n < 2:
        raise InvalidInputError(f"n={n!r} must be an integer >= 2 scenarios")
    sur = surrogate if isinstance(surrogate, Surrogate) else Surrogate.load(surrogate)
    settings = _full_model_settings(sur.meta, simulate_options)
    spatial = bool(sur.meta.get("horizontal"))
    names = tuple(EMULATED) if spatial else SERIES
    targets_of = SPATIAL_TARGETS if spatial else TARGETS
    if sur.meta.get("ensemble_seed") is not None and int(sur.meta["ensemble_seed"]) == int(seed):
        raise InvalidInputError(
            f"seed={seed} is the seed of the training ensemble; validation needs fresh "
            "scenarios: pass another seed"
        )
    changed = full_model_change(sur.meta, device, simulate_options)
    if changed is not None:
        warnings.warn(
            f"the full model changed since this surrogate was trained ({changed}); retrain it "
            "on a new ensemble for a meaningful validation",
            EcocubeWarning,
            stacklevel=2,
        )
    scen = sample_scenarios(int(n), seed=seed)

    t0 = time.perf_counter()
    truth = simulate(scen, device=device, **settings)
    t_full_batch = time.perf_counter() - t0
    t_full_single = math.nan
    if single_call:
        t0 = time.perf_counter()
        simulate(scen.iloc[:1], device=device, **settings)
        t_full_single = time.perf_counter() - t0

    pred = sur.predict(scen)
    t_sur_batch = _timeit(lambda: sur.predict(scen), 5)
    one = scen.iloc[:1]
    sur.predict(one)
    t_sur_single = _timeit(lambda: sur.predict(one), 20)

    metrics: dict[str, float] = {}
    metrics.update(series_scores(truth, pred, names))
    idx, table = _index_errors(truth, pred)
    metrics.update(idx)
    t_mean_batch = _timeit(lambda: sur.predict(scen, uncertainty=False), 5)
    metrics["speedup_batched"] = t_full_batch / t_sur_batch
    metrics["speedup_batched_mean_only"] = t_full_batch / t_mean_batch
    metrics["speedup_single"] = t_full_single / t_sur_single
    t_large = math.nan
    if large_batch:
        big = sample_scenarios(int(large_batch), seed=seed + 7)
        t_large = _timeit(lambda: sur.predict(big, uncertainty=False), 2)
        metrics["speedup_batched_large"] = (t_full_batch / n) / (t_large / large_batch)

    warming = next(p for p in SCENARIO_PARAMETERS if p.name == "warming")
    high = float(sur.meta["training_ranges"]["warming"][1])
    n_ex = n_extrapolation or max(4, int(n) // 5)
    extra_data = {}
    for delta in extrapolation:
        level = min(high + float(delta), warming.valid_high)
        ex = sample_scenarios(n_ex, seed=seed + int(10 * delta) + 1, ranges={"warming": level})
        tr, pr = simulate(ex, device=device, **settings), sur.predict(ex)
        sc = series_scores(tr, pr, ("phyc", "intphyc", "dissic"))
        tag = f"extrapolation_plus{delta:g}"
        for k, v in sc.items():
            metrics[f"{tag}_{k}"] = v
        ei, _ = _index_errors(tr, pr)
        metrics[f"{tag}_co2_uptake_median_rel_error"] = ei["co2_uptake_median_rel_error"]
        metrics[f"{tag}_shannon_max_abs_error"] = ei["shannon_max_abs_error"]
        metrics[f"{tag}_warming_degC"] = level
        extra_data[delta] = (tr, pr)

    targets = {}
    for name, (thr, kind) in targets_of.items():
        if name not in metrics:
            continue
        v = metrics[name]
        ok = bool(np.isfinite(v) and (v >= thr if kind == "min" else v <= thr))
        targets[name] = {"value": v, "threshold": thr, "kind": kind, "passed": ok}
    report: dict[str, Any] = {
        "metrics": metrics,
        "targets": targets,
        "timing": {
            "full_batched_s": t_full_batch,
            "full_per_scenario_batched_s": t_full_batch / n,
            "full_single_s": t_full_single,
            "surrogate_batched_s": t_sur_batch,
            "surrogate_per_scenario_batched_s": t_sur_batch / n,
            "surrogate_single_s": t_sur_single,
            "surrogate_batched_mean_only_s": t_mean_batch,
            "surrogate_large_batch_s": t_large,
            "large_batch": int(large_batch),
        },
        "setup": {
            "arch": sur.arch,
            "n": int(n),
            "seed": int(seed),
            "n_extrapolation": n_ex,
            "training_scenarios": sur.meta.get("n_scenarios"),
            "training_seconds": sur.meta.get("train_seconds"),
            "simulate": {k: _jsonable(v) for k, v in settings.items()},
            "horizontal": {d: int(truth.sizes[d]) for d in truth.dims if d in HORIZONTAL_DIMS},
            "device": device,
            "torch_threads": _threads(),
        },
    }
    if json_path is not None:
        text = json.dumps(report, indent=1, default=float)
        write_file_atomic(json_path, lambda tmp: tmp.write_text(text))  # never half-written
    if keep_datasets:
        report["_data"] = {"truth": truth, "pred": pred, "indices": table, "extra": extra_data}
    return report


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it, else its ``repr`` (a basin configuration object)."""
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())
