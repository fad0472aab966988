"""ecocube.models: multi-species species distribution models, their evaluation and benchmarks.

Every model subclasses :class:`SpeciesDistributionModel` (``predict`` -> :class:`Prediction` with
mean, sd, q05, q95; ``save``/``load`` of its own state; :class:`ModelInputs`; an
:class:`ExplainFunction` for explanations) and registers under a name
(:func:`register_model`, :func:`model_class`); the design matrix of every model comes from
:class:`CovariateEncoder`.

Models
------
:class:`SDM`
    scikit-learn-like ``fit``/``predict`` on a records table (the ``ecocube sdm`` CLI); picks
    the model from the registry.
:class:`MaxentNet`
    DeepMaxent-style multi-species network (normalised Poisson / maximum-entropy loss).
:class:`IntegratedSDM`
    Pyro model joining presence-only records and presence-absence surveys.
:class:`MultimodalSDM`
    Cube patches (CNN encoder) fused with tabular covariates.

Evaluation metrics (:func:`auc`, :func:`tss`, :func:`boyce_index`, calibration, coverage and
split-conformal interval calibration) load scipy, and the models torch/pyro, on first access,
so ``import ecocube.models`` and the CLI stay fast and work on the core install. The NCEAS
benchmark lives in :mod:`ecocube.models.benchmark`.

Examples
--------
>>> from ecocube.models import SDM
>>> sdm = SDM(model="maxent-net", covariates=["bio1", "bio12"]).fit("records.csv")  # doctest: +SKIP
>>> sdm.predict("sites.csv").head()  # doctest: +SKIP
"""

from __future__ import annotations

from ecocube._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "auc": "ecocube.models.evaluation",
    "boyce_index": "ecocube.models.evaluation",
    "conformal_interval_factor": "ecocube.models.evaluation",
    "conformal_intervals": "ecocube.models.evaluation",
    "evaluate_species": "ecocube.models.evaluation",
    "expected_calibration_error": "ecocube.models.evaluation",
    "interval_coverage": "ecocube.models.evaluation",
    "reliability_curve": "ecocube.models.evaluation",
    "summarise": "ecocube.models.evaluation",
    "tss": "ecocube.models.evaluation",
    "SDM": "ecocube.models.estimator",
    "MapResult": "ecocube.models.sdm_map",
    "map_model": "ecocube.models.sdm_map",
    "predict_map": "ecocube.models.mapping",
    "Novelty": "ecocube.models.novelty",
    "ExplainFunction": "ecocube.models._base",
    "ModelInputs": "ecocube.models._base",
    "ModelState": "ecocube.models._base",
    "Prediction": "ecocube.models._base",
    "SpeciesDistributionModel": "ecocube.models._base",
    "model_class": "ecocube.models._base",
    "register_model": "ecocube.models._base",
    "registered_models": "ecocube.models._base",
    "CovariateEncoder": "ecocube.models._features",
    "BACKGROUNDS": "ecocube.models.maxent_net",
    "MaxentNet": "ecocube.models.maxent_net",
    "MaxentNetConfig": "ecocube.models.maxent_net",
    "MaxentNetwork": "ecocube.models.maxent_net",
    "maxent_loss": "ecocube.models.maxent_net",
    "IntegratedConfig": "ecocube.models.integrated",
    "IntegratedData": "ecocube.models.integrated",
    "IntegratedSDM": "ecocube.models.integrated",
    "PosteriorSummary": "ecocube.models.integrated",
    "MultimodalConfig": "ecocube.models.multimodal",
    "MultimodalMaxentNet": "ecocube.models.multimodal",
    "MultimodalSDM": "ecocube.models.multimodal",
    "BENCHMARK_MODELS": "ecocube.models.benchmark.nceas",
    "BenchmarkModel": "ecocube.models.benchmark.nceas",
    "NceasResult": "ecocube.models.benchmark.nceas",
    "cross_validate_group": "ecocube.models.benchmark.nceas",
    "run_nceas_benchmark": "ecocube.models.benchmark.nceas",
    "with_spatial_basis": "ecocube.models.benchmark.nceas",
    "SpatialFourierBasis": "ecocube.models._features",
    "LocalRecordFrequency": "ecocube.models.local_frequency",
}

__all__ = [
    "BACKGROUNDS",
    "BENCHMARK_MODELS",
    "SDM",
    "BenchmarkModel",
    "CovariateEncoder",
    "ExplainFunction",
    "IntegratedConfig",
    "IntegratedData",
    "IntegratedSDM",
    "LocalRecordFrequency",
    "MapResult",
    "MaxentNet",
    "MaxentNetConfig",
    "MaxentNetwork",
    "ModelInputs",
    "ModelState",
    "MultimodalConfig",
    "MultimodalMaxentNet",
    "MultimodalSDM",
    "NceasResult",
    "Novelty",
    "PosteriorSummary",
    "Prediction",
    "SpatialFourierBasis",
    "SpeciesDistributionModel",
    "auc",
    "boyce_index",
    "conformal_interval_factor",
    "conformal_intervals",
    "cross_validate_group",
    "evaluate_species",
    "expected_calibration_error",
    "interval_coverage",
    "map_model",
    "maxent_loss",
    "model_class",
    "predict_map",
    "register_model",
    "registered_models",
    "reliability_curve",
    "run_nceas_benchmark",
    "summarise",
    "tss",
    "with_spatial_basis",
]

__getattr__, __dir__ = lazy_attributes("ecocube.models", _LAZY, globals())
