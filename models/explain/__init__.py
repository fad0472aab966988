"""ecocube.models.explain: SHAP explanations of fitted SDMs (``ecocube report shap``).

:func:`shap_report` writes one self-contained HTML report (importance with credible intervals,
beeswarms, dependence curves, spatial SHAP maps, the shadow distribution), a JSON summary and
the spatial SHAP layers as Zarr; :func:`explain_cells` gives the SHAP values of a model at a
table of cells (:class:`Attribution`). Names load on first access (shap, torch, matplotlib).

Examples
--------
>>> from ecocube.models.explain import shap_report
>>> shap_report("model/", "cube.zarr", "report.html",
...             groups="climate=bio*,landcover=landuse_*")  # doctest: +SKIP
"""

from __future__ import annotations

from ecocube._lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "EXPLAINED_OUTPUT": "ecocube.models.explain._explainers",
    "EXPLAINERS": "ecocube.models.explain._explainers",
    "Attribution": "ecocube.models.explain._explainers",
    "expected_gradients": "ecocube.models.explain._explainers",
    "linear_shap": "ecocube.models.explain._explainers",
    "explain_cells": "ecocube.models.explain._explain",
    "sample_cells": "ecocube.models.explain._explain",
    "valid_cells": "ecocube.models.explain._explain",
    "group_values": "ecocube.models.explain.shadow",
    "parse_groups": "ecocube.models.explain.shadow",
    "resolve_groups": "ecocube.models.explain.shadow",
    "shadow_mask": "ecocube.models.explain.shadow",
    "ShapReport": "ecocube.models.explain.report",
    "shap_report": "ecocube.models.explain.report",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes("ecocube.models.explain", _LAZY, globals())
