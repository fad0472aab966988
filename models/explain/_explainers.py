"""SHAP values of a fitted SDM's log-intensity: exact linear SHAP and expected gradients.

Both explainers attribute the model's :class:`~ecocube.models.ExplainFunction` (encoded design
matrix -> log-intensity ``eta`` per species) against a background sample of cells, so that for
every explained cell and species ``sum(phi) + base = f(x)``:

* ``linear-exact`` (a model linear in its encoded features, e.g. ``integrated`` with
  ``features="linear"``): ``phi_j = w_j (x_j - mean_bg(x_j))``, the interventional SHAP values
  of :class:`shap.LinearExplainer`, exact, for the posterior mean function and for every
  posterior draw (the spread over draws gives a credible interval per variable);
* ``expected-gradients`` (the networks): the attribution :class:`shap.GradientExplainer`
  estimates, ``phi = mean_b (x - b) * int_0^1 grad f(b + a (x - b)) da`` over the background
  cells ``b``, with the path integral on a fixed midpoint grid instead of random points, so
  that its additivity error shrinks with the grid rather than with Monte Carlo noise; for the
  ensemble mean and for every member (an interval over members).

SHAP values of the encoded columns of one variable (its square, its one-hot levels) are summed
into one value per input variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

    from ecocube.models._base import ExplainFunction

__all__ = [
    "EXPLAINED_OUTPUT",
    "EXPLAINERS",
    "Attribution",
    "expected_gradients",
    "feature_variables",
    "is_linear",
    "linear_shap",
]

#: Explainers by name and what they compute.
EXPLAINERS: dict[str, str] = {
    "linear-exact": "exact linear SHAP (interventional, as shap.LinearExplainer) against the "
    "background mean",
    "expected-gradients": "expected gradients (the attribution of shap.GradientExplainer) with "
    "a fixed midpoint path integral over every background cell",
    "kernel": "shap.KernelExplainer (model-agnostic, sampled coalitions)",
}
#: What the explained function returns.
EXPLAINED_OUTPUT = (
    "log-intensity (eta, the linear predictor before the cloglog link) per species, at unit "
    "effort, without latent site factors or block effects"
)


@dataclass(frozen=True)
class Attribution:
    """SHAP values of a model at a set of cells, per input variable.

    Attributes
    ----------
    explainer
        Name of the explainer (a key of :data:`EXPLAINERS`).
    variables, species
        Names of the last two axes of :attr:`values`.
    values
        ``(n_cells, n_species, n_variables)`` SHAP values of the mean function (log-intensity
        units).
    base
        ``(n_species,)`` expected value of the function over the background.
    output
        ``(n_cells, n_species)`` the function at the cells.
    inputs
        ``(n_cells, n_variables)`` raw value of each variable at the cells (categorical:
        the code), for dependence plots.
    n_background
        Background cells.
    draw_importance
        ``(n_draws, n_species, n_variables)`` mean |SHAP| per posterior draw or member, when
        the draws were explained, else ``None``.
    """

    explainer: str
    variables: tuple[str, ...]
    species: tuple[str, ...]
    values: np.ndarray
    base: np.ndarray
    output: np.ndarray
    inputs: np.ndarray
    n_background: int
    draw_importance: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        """Explained cells."""
        return int(self.values.shape[0])

    def additivity_error(self) -> np.ndarray:
        """``(n_cells, n_species)`` ``|sum(SHAP) + base - f(x)| / sd(f(x))`` (sd over the cells
        of each species; 1 where the function is constant)."""
        gap = np.abs(self.values.sum(-1) + self.base[None, :] - self.output)
        sd = self.output.std(0)
        return gap / np.where(sd > 0, sd, 1.0)[None, :]

    def additivity_p99(self) -> float:
        """99th percentile over cells of :meth:`additivity_error`, the largest over species."""
        err = self.additivity_error()
        return float(np.quantile(err, 0.99, axis=0).max()) if err.size else 0.0

    def importance(self) -> np.ndarray:
        """``(n_species, n_variables)`` mean |SHAP| over the cells."""
        return np.abs(self.values).mean(0)

    def importance_interval(self, level: float = 0.9) -> np.ndarray | None:
        """``(2, n_species, n_variables)`` central ``level`` interval of mean |SHAP| over the
        draws, or ``None`` without draws."""
        if self.draw_importance is None:
            return None
        lo = (1 - level) / 2
        return np.quantile(self.draw_importance, [lo, 1 - lo], axis=0)

    def species_index(self, species: Sequence[str]) -> list[int]:
        """Column of each name of ``species``."""
        return [self.species.index(s) for s in species]


def feature_variables(
    feature_names: Sequence[str], covariates: Sequence[str], categorical: Sequence[str]
) -> tuple[tuple[str, ...], np.ndarray]:
    """The input variable of each encoded column, and the ``(n_features, n_variables)`` 0/1
    matrix summing columns into variables.

    A column is its covariate (``bio1``), its square (``bio1^2``) or a level of a categorical
    covariate (``landcover=3``).

    Raises
    ------
    InvalidInputError
        A column that belongs to none of the variables.
    """
    variables = tuple(dict.fromkeys((*covariates, *categorical)))
    index = {v: j for j, v in enumerate(variables)}
    member = np.zeros((len(feature_names), len(variables)), dtype=np.float64)
    for i, name in enumerate(feature_names):
        if name in index and name in covariates:
            owner = name
        elif name.endswith("^2") and name[:-2] in covariates:
            owner = name[:-2]
        elif "=" in name and name.split("=", 1)[0] in categorical:
            owner = name.split("=", 1)[0]
        else:
            raise InvalidInputError(
                f"encoded column {name!r} belongs to none of the model's variables "
                f"{list(variables)}; only tabular models (maxent-net, integrated) are explained"
            )
        member[i, index[owner]] = 1.0
    return variables, member


def _as_tensor(x: np.ndarray, device: str | torch.device) -> torch.Tensor:
    import torch

    return torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)


def _evaluate(fn: ExplainFunction, x: np.ndarray, batch: int = 65536) -> np.ndarray:
    """``fn`` at the rows of ``x`` ``(n, p)`` without gradients; ``(n, S)`` float64."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(fn(_as_tensor(x[start : start + batch], "cpu")).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(fn.species)))


def _linear_weights(fn: ExplainFunction, p: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W (p, S), intercept (S,))`` of a function assumed linear: ``f(e_j) - f(0)``."""
    rows = np.vstack([np.zeros((1, p)), np.eye(p)])
    values = _evaluate(fn, rows)
    return values[1:] - values[:1], values[0]


def is_linear(fn: ExplainFunction, x: np.ndarray, rtol: float = 1e-4) -> bool:
    """Whether ``fn`` is linear (affine) in its encoded features at the rows of ``x``."""
    w, b = _linear_weights(fn, x.shape[1])
    actual = _evaluate(fn, x)
    predicted = x.astype(np.float64) @ w + b
    scale = max(float(np.abs(actual).max(initial=0.0)), 1.0)
    return bool(np.abs(actual - predicted).max(initial=0.0) <= rtol * scale)


def linear_shap(
    fn: ExplainFunction, x: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact SHAP values of an affine ``fn`` on encoded rows ``x`` ``(n, p)``.

    The posterior mean function goes through :class:`shap.LinearExplainer` (interventional,
    against ``background``); its values equal ``w_j (x_j - mean(background_j))``.

    Returns
    -------
    values, base, output
        ``(n, S, p)`` SHAP values per encoded column, ``(S,)`` base and ``(n, S)`` ``f(x)``.
    """
    import shap

    w, intercept = _linear_weights(fn, x.shape[1])
    values = np.empty((len(x), w.shape[1], x.shape[1]))
    base = np.empty(w.shape[1])
    x64, bg64 = x.astype(np.float64), background.astype(np.float64)
    for s in range(w.shape[1]):
        explainer = shap.LinearExplainer((w[:, s], intercept[s]), bg64)
        values[:, s, :] = explainer.shap_values(x64)
        base[s] = float(np.asarray(explainer.expected_value))
    return values, base, x64 @ w + intercept


def linear_draw_shap(fn: ExplainFunction, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(n, S, p)`` exact SHAP values of one affine draw (numpy, as :func:`linear_shap`)."""
    w, _ = _linear_weights(fn, x.shape[1])
    centred = x.astype(np.float64) - background.astype(np.float64).mean(0)
    return centred[:, None, :] * w.T[None, :, :]


def _path_gradients(
    fn: ExplainFunction, x: np.ndarray, background: np.ndarray, steps: int, batch_rows: int
) -> np.ndarray:
    """``(n, S, p)`` expected-gradients values of ``x`` on a ``steps``-point midpoint grid."""
    import torch

    n, p = x.shape
    n_bg = len(background)
    bg = torch.as_tensor(background, dtype=torch.float32)
    a = torch.as_tensor((np.arange(steps) + 0.5) / steps, dtype=torch.float32)
    values = np.zeros((n, len(fn.species), p))
    cells = max(1, batch_rows // (n_bg * steps))
    for start in range(0, n, cells):
        xb = torch.as_tensor(x[start : start + cells], dtype=torch.float32)  # (c, p)
        delta = xb[:, None, :] - bg[None, :, :]  # (c, B, p)
        points = bg[None, :, None, :] + a[None, None, :, None] * delta[:, :, None, :]
        flat = points.reshape(-1, p).requires_grad_(True)
        out = fn(flat)  # (c * B * steps, S)
        n_species = out.shape[1]
        # one batched backward pass for every species (rows are independent)
        eye = torch.eye(n_species, device=out.device).unsqueeze(1).expand(-1, len(out), -1)
        (g,) = torch.autograd.grad(out, flat, grad_outputs=eye, is_grads_batched=True)
        g = g.detach().cpu().reshape(n_species, len(xb), n_bg, steps, p).mean(3)
        grad = g.permute(1, 0, 2, 3)  # (c, S, B, p)
        values[start : start + len(xb)] = (grad * delta[:, None, :, :]).mean(2).double().numpy()
    return values


def expected_gradients(
    fn: ExplainFunction,
    x: np.ndarray,
    background: np.ndarray,
    *,
    steps: int = 16,
    tolerance: float | None = 0.005,
    max_steps: int = 512,
    batch_rows: int = 131072,
    progress: Callable[[int], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected-gradients SHAP values of ``fn`` on encoded rows ``x`` ``(n, p)``.

    ``phi(x) = mean_b (x - b) * mean_k grad f(b + a_k (x - b))`` with ``a_k = (k + 1/2) / K``
    over every background row ``b``: the path integral of integrated gradients on a midpoint
    grid of ``K`` points, averaged over the background, so that ``sum(phi) = f(x) - mean_b
    f(b)`` up to the grid. The gap is known for every cell, so cells whose gap exceeds
    ``tolerance`` (as a fraction of the standard deviation of ``f`` over the cells, per
    species) are explained again with twice the points, up to ``max_steps``.

    Parameters
    ----------
    fn
        The explained function.
    x, background
        ``(n, p)`` and ``(B, p)`` encoded rows.
    steps
        Points of the first path integral.
    tolerance
        Largest accepted additivity gap (fraction of sd); ``None`` keeps the first grid.
    max_steps
        Most points of a refined path integral.
    batch_rows
        Most rows (``cells x B x K``) per forward/backward pass (memory).
    progress
        Called with the number of cells done after the first pass.

    Returns
    -------
    values, base, output
        ``(n, S, p)`` SHAP values, ``(S,)`` mean of ``f`` over the background, ``(n, S)``
        ``f(x)``.

    Raises
    ------
    InvalidInputError
        ``steps`` or ``max_steps`` below 1.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"steps={steps!r} must be a positive integer")
    if max_steps < steps:
        raise InvalidInputError(f"max_steps={max_steps!r} must be at least steps={steps}")
    output = _evaluate(fn, x)
    base = _evaluate(fn, background).mean(0)
    values = _path_gradients(fn, x, background, steps, batch_rows)
    if progress is not None:
        progress(len(x))
    if tolerance is None or len(x) < 2:
        return values, base, output
    sd = output.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    k = steps
    while True:
        gap = (np.abs(values.sum(-1) + base - output) / sd).max(1)
        todo = np.nonzero(gap > tolerance)[0]
        k *= 2
        if not todo.size or k > max_steps:
            return values, base, output
        values[todo] = _path_gradients(fn, x[todo], background, k, batch_rows)


def by_variable(values: np.ndarray, member: np.ndarray) -> np.ndarray:
    """``(n, S, p)`` SHAP values per encoded column summed into ``(n, S, V)`` per variable."""
    return np.asarray(values @ member)


def mean_abs_by_draw(
    draws: Sequence[np.ndarray] | Mapping[int, np.ndarray], member: np.ndarray
) -> np.ndarray:
    """``(n_draws, S, V)`` mean |SHAP| over cells of each draw's ``(n, S, p)`` values."""
    items = list(draws.values()) if isinstance(draws, Mapping) else list(draws)
    return np.stack([np.abs(by_variable(v, member)).mean(0) for v in items])
