"""The NCEAS species-distribution benchmark (Elith et al. 2020): data, runners and CLI.

Modules
-------
:mod:`~ecocube.models.benchmark.nceas_data`
    Reads the 226 species of the six regions (training presence-only records, background,
    presence-absence test sites) from the data registry.
:mod:`~ecocube.models.benchmark.nceas`
    Fits the benchmark models per region or survey group and scores them on the test sites
    (``ecocube sdm benchmark nceas``); spatial-block cross-validation on the training data.
:mod:`~ecocube.models.benchmark.integrated`
    The "integrated data help" experiment: presence-only, survey-only and integrated Pyro
    models scored on held-out surveys.

The heavy modules load torch/pyro on first attribute access.
"""

from __future__ import annotations

from ecocube._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "NCEAS_CATEGORICAL": "ecocube.models.benchmark.nceas_data",
    "NCEAS_GROUPS": "ecocube.models.benchmark.nceas_data",
    "NCEAS_REGIONS": "ecocube.models.benchmark.nceas_data",
    "NceasGroup": "ecocube.models.benchmark.nceas_data",
    "load_nceas_group": "ecocube.models.benchmark.nceas_data",
    "load_nceas_groups": "ecocube.models.benchmark.nceas_data",
    "BENCHMARK_MODELS": "ecocube.models.benchmark.nceas",
    "BenchmarkModel": "ecocube.models.benchmark.nceas",
    "NceasResult": "ecocube.models.benchmark.nceas",
    "cross_validate_group": "ecocube.models.benchmark.nceas",
    "cross_validate_region": "ecocube.models.benchmark.nceas",
    "run_nceas_benchmark": "ecocube.models.benchmark.nceas",
    "compare_group": "ecocube.models.benchmark.integrated",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes("ecocube.models.benchmark", _LAZY, globals())
