"""Explain a fitted SDM on cells of a cube: choose the explainer, sample cells, attribute.

:func:`explain_cells` picks the explainer suited to the model (:data:`EXPLAINERS`): exact linear
SHAP when the model's :class:`~ecocube.models.ExplainFunction` is affine in its encoded
features (the ``integrated`` model with ``features="linear"``), expected gradients otherwise
(the networks), and explains the mean function and, for the credible interval of the global
importance, each posterior draw or ensemble member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.models.explain._explainers import (
    Attribution,
    by_variable,
    expected_gradients,
    feature_variables,
    is_linear,
    linear_draw_shap,
    linear_shap,
    mean_abs_by_draw,
)

if TYPE_CHECKING:
    import xarray as xr

    from ecocube.models import SDM
    from ecocube.models._base import ExplainFunction

__all__ = [
    "MAX_GRADIENT_DRAWS",
    "choose_explainer",
    "explain_cells",
    "sample_cells",
    "valid_cells",
]

#: Most draws or members explained by expected gradients (each costs a full explanation).
MAX_GRADIENT_DRAWS = 20


def valid_cells(ds: xr.Dataset, variables: Sequence[str], mask: str = "land") -> np.ndarray:
    """``(y, x)`` bool: cells with finite ``variables`` that ``mask`` keeps
    (:func:`ecocube.cube.map_mask`)."""
    from ecocube.cube import map_mask

    return np.asarray(map_mask(ds, mask=mask, variables=list(variables)).values, dtype=bool)


def sample_cells(
    ds: xr.Dataset,
    variables: Sequence[str],
    valid: np.ndarray,
    n: int | None,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``n`` distinct valid cells drawn at random (every valid cell when ``n`` is ``None`` or
    larger), in row-major order: columns ``row``, ``col`` and one per variable."""
    rows, cols = np.nonzero(valid)
    if n is not None and n < rows.size:
        pick = np.sort(rng.choice(rows.size, size=n, replace=False))
        rows, cols = rows[pick], cols[pick]
    table = pd.DataFrame({"row": rows, "col": cols})
    for v in variables:
        values = np.asarray(ds[v].transpose("y", "x").values)
        table[v] = values[rows, cols]
    return table


def choose_explainer(sdm: SDM, background: np.ndarray) -> str:
    """``"linear-exact"`` when the model's mean function is affine in its encoded features at
    the ``background`` rows, else ``"expected-gradients"``."""
    fn = sdm.explain_function()
    return "linear-exact" if is_linear(fn, background) else "expected-gradients"


def _columns(fn: ExplainFunction, cols: list[int]) -> ExplainFunction:
    """``fn`` restricted to the output columns ``cols`` (fewer gradients to take)."""
    if cols == list(range(len(fn.species))):
        return fn
    inner = fn.function
    index = list(cols)
    return replace(
        fn, function=lambda x: inner(x)[:, index], species=tuple(fn.species[c] for c in cols)
    )


def _draws(n_draws: int, max_draws: int) -> list[int]:
    """Up to ``max_draws`` draws spread evenly over ``0..n_draws-1``."""
    if n_draws <= 1 or max_draws < 1:
        return []
    k = min(n_draws, max_draws)
    return sorted({round(i) for i in np.linspace(0, n_draws - 1, k)})


def explain_cells(
    sdm: SDM,
    cells: pd.DataFrame,
    background: pd.DataFrame,
    *,
    species: Sequence[str] | None = None,
    explainer: str | None = None,
    max_draws: int = 100,
    steps: int = 16,
    progress: Callable[[int], Any] | None = None,
) -> Attribution:
    """SHAP values of a fitted model at ``cells``, per input variable.

    Parameters
    ----------
    sdm
        A fitted tabular :class:`~ecocube.models.SDM` (``maxent-net`` or ``integrated``).
    cells, background
        Covariate tables (one column per input variable of the model) of the explained cells
        and of the background cells.
    species
        Species to explain (default: all).
    explainer
        ``"linear-exact"`` or ``"expected-gradients"`` (default: :func:`choose_explainer`).
    max_draws
        Most posterior draws or members explained for the importance intervals (spread over
        all of them; at most :data:`MAX_GRADIENT_DRAWS` with expected gradients); 0 explains
        only the mean function.
    steps
        Path-integral points of expected gradients.
    progress
        Called with the number of cells done (mean function only).

    Returns
    -------
    Attribution
        SHAP values of the mean log-intensity, with per-draw importances when explained.

    Raises
    ------
    InvalidInputError
        A ``multimodal`` model, unknown species or explainer, or an affine explainer asked of
        a model that is not affine.
    """
    if sdm.model == "multimodal":
        raise InvalidInputError(
            "SHAP reports explain tabular models (maxent-net, integrated); the multimodal "
            "model reads image patches whose pixels are not cube variables: explain a "
            "maxent-net or integrated model fitted on the same covariates instead."
        )
    inputs = sdm.inputs
    est = sdm.estimator_
    variables, member = feature_variables(
        list(est.encoder.feature_names), inputs.covariates, inputs.categorical
    )
    x = est.encoder.transform(cells)
    bg = est.encoder.transform(background)
    fn = sdm.explain_function()
    chosen = explainer or ("linear-exact" if is_linear(fn, bg) else "expected-gradients")
    if chosen not in ("linear-exact", "expected-gradients"):
        raise InvalidInputError(
            f"explainer={chosen!r} is unknown; choose 'linear-exact' or 'expected-gradients'"
        )
    if chosen == "linear-exact" and not is_linear(fn, bg):
        raise InvalidInputError(
            "explainer='linear-exact' needs a model linear in its features; this "
            f"{sdm.model!r} model is not: use explainer='expected-gradients'"
        )
    all_species = tuple(fn.species)
    chosen_species = tuple(all_species if species is None else species)
    unknown = [s for s in chosen_species if s not in all_species]
    if unknown:
        raise InvalidInputError(
            f"species {unknown} are not in the model; it has {list(all_species)}"
        )
    cols = [all_species.index(s) for s in chosen_species]
    limit = max_draws if chosen == "linear-exact" else min(max_draws, MAX_GRADIENT_DRAWS)
    draws = _draws(sdm.estimator_.n_draws, limit)
    fn = _columns(fn, cols)
    if chosen == "linear-exact":
        values, base, output = linear_shap(fn, x, bg)
        per_draw = [
            linear_draw_shap(_columns(sdm.explain_function(draw=d), cols), x, bg) for d in draws
        ]
        if progress is not None:
            progress(len(x))
    else:
        values, base, output = expected_gradients(fn, x, bg, steps=steps, progress=progress)
        per_draw = [
            expected_gradients(_columns(sdm.explain_function(draw=d), cols), x, bg, steps=steps)[0]
            for d in draws
        ]
    draw_importance = mean_abs_by_draw(per_draw, member) if per_draw else None
    raw = np.column_stack(
        [np.asarray(cells[v], dtype=np.float64) for v in variables]
        if variables
        else [np.zeros(len(cells))]
    )
    return Attribution(
        explainer=chosen,
        variables=variables,
        species=chosen_species,
        values=by_variable(values, member),
        base=base,
        output=output,
        inputs=raw,
        n_background=len(bg),
        draw_importance=draw_importance,
    )
