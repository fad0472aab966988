"""ecocube.models: multi-species species distribution models, their evaluation and benchmarks."""

from ecocube.models.evaluation import (
    auc,
    boyce_index,
    evaluate_species,
    expected_calibration_error,
    interval_coverage,
    reliability_curve,
    summarise,
    tss,
)
from ecocube.models.maxent_net import (
    BACKGROUNDS,
    MaxentNet,
    MaxentNetConfig,
    MaxentNetwork,
    maxent_loss,
)
from ecocube.models.nceas_benchmark import (
    BENCHMARK_MODELS,
    NceasResult,
    cross_validate_group,
    run_nceas_benchmark,
)

__all__ = [
    "BACKGROUNDS",
    "BENCHMARK_MODELS",
    "MaxentNet",
    "MaxentNetConfig",
    "MaxentNetwork",
    "NceasResult",
    "auc",
    "boyce_index",
    "cross_validate_group",
    "evaluate_species",
    "expected_calibration_error",
    "interval_coverage",
    "maxent_loss",
    "reliability_curve",
    "run_nceas_benchmark",
    "summarise",
    "tss",
]
