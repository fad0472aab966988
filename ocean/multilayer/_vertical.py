"""Backward-Euler vertical mixing between the layers of a column.

For a column of depth ``H`` whose layers hold the fractions ``l_k`` (``h_k = l_k H``), the
implicit step of a mixing coefficient ``K`` (viscosity or diffusivity, m2 s-1) in flux form,

``h_k x_k + r_{k-1/2} (x_k - x_{k-1}) + r_{k+1/2} (x_k - x_{k+1}) = b_k``,
``r_{k+1/2} = dt K / ((h_k + h_{k+1}) / 2)``,

divided by ``H`` reads ``(diag(l) + s A) x = b / H`` with ``s = dt K / H^2`` and ``A`` the fixed
weighted Laplacian of weights ``2 / (l_k + l_{k+1})``. With ``D = diag(sqrt(l))`` and the
eigendecomposition ``D^-1 A D^-1 = V diag(lambda) V^T`` (computed once), the solution is
``x = D^-1 V diag(1 / (1 + s lambda)) V^T D^-1 b / H``: two small matrix products per step
for any number of columns and right-hand sides, instead of a tridiagonal sweep. ``lambda_0 = 0``
with ``V_0 = sqrt(l)``, so ``sum_k h_k x_k = sum_k b_k`` (column contents are conserved) and
``s -> inf`` mixes the column completely. A coefficient that varies between interfaces, or
sinking, goes through :func:`ecocube.ocean.physics.solve_tridiagonal` instead
(:func:`mix_tridiagonal`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import Tensor

from ecocube.ocean.physics import solve_tridiagonal

__all__ = ["ColumnMixing", "mix_tridiagonal"]


class ColumnMixing:
    """The eigendecomposition of a column's mixing operator (see the module docstring).

    Parameters
    ----------
    fractions
        Layer fractions ``l_k`` (sum 1), shape ``(L,)``, float64 on the model's device.
    """

    def __init__(self, fractions: Tensor) -> None:
        n = fractions.shape[0]
        root = fractions.sqrt()
        weights = 2.0 / (fractions[:-1] + fractions[1:])
        lap = torch.zeros(n, n, dtype=fractions.dtype, device=fractions.device)
        if n > 1:
            idx = torch.arange(n - 1, device=fractions.device)
            lap[idx, idx] += weights
            lap[idx + 1, idx + 1] += weights
            lap[idx, idx + 1] -= weights
            lap[idx + 1, idx] -= weights
        sym = lap / root[:, None] / root[None, :]
        eigenvalues, vectors = torch.linalg.eigh(sym)  # ascending: the first is the zero mode
        eigenvalues[0] = 0.0
        vectors[:, 0] = root
        self.eigenvalues = eigenvalues  # (L,)
        self.basis = (vectors / root[:, None]).contiguous()  # D^-1 V, (L, L)
        self.basis_t = self.basis.T.contiguous()  # V^T D^-1
        #: ``factors`` of a completely mixed column (``s -> inf``)
        self.full_mixing = torch.zeros_like(eigenvalues)
        self.full_mixing[0] = 1.0

    def factors(self, strength: Tensor) -> Tensor:
        """``1 / (1 + s lambda)`` for ``s = dt K / H^2`` of shape ``(...)``: shape ``(..., L)``."""
        return (1.0 + strength[..., None] * self.eigenvalues).reciprocal()

    def solve(self, rhs_over_depth: Tensor, factors: Tensor) -> Tensor:
        """Solve the mixing step for ``b / H`` of shape ``(..., L)`` with :meth:`factors`."""
        return ((rhs_over_depth @ self.basis) * factors) @ self.basis_t


def mix_tridiagonal(
    thickness: Tensor,
    coefficient: Tensor,
    rhs: Tensor,
    dt: float,
    sinking: Tensor | None = None,
) -> Tensor:
    """Backward-Euler mixing with a coefficient per interface, and sinking (tridiagonal solve).

    Solves ``h_k x_k + r_{k-1/2} (x_k - x_{k-1}) + r_{k+1/2} (x_k - x_{k+1})
    + dt w (x_k [k < L - 1] - x_{k-1} [k > 0]) = b_k``: upwind sinking at speed ``w`` through
    every interface, none through the bottom, so ``sum_k h_k x_k = sum_k b_k``.

    Parameters
    ----------
    thickness
        Layer thicknesses ``h_k`` (> 0), shape ``(..., L)``.
    coefficient
        Mixing coefficient at the ``L - 1`` interfaces (thickness^2 s-1), broadcastable to
        ``(..., L - 1)``.
    rhs
        Right-hand side ``b`` (``h x`` before mixing), shape ``(..., L)``.
    dt
        Time step (s).
    sinking
        Sinking speed ``w`` (thickness s-1, >= 0), broadcastable to ``(..., 1)``, or ``None``.
    """
    r = dt * coefficient / (0.5 * (thickness[..., :-1] + thickness[..., 1:]))
    r_above = nnf.pad(r, (1, 0))
    r_below = nnf.pad(r, (0, 1))
    lower = -r_above
    diag = thickness + r_above + r_below
    if sinking is not None:
        out = nnf.pad(dt * sinking.expand(*sinking.shape[:-1], thickness.shape[-1] - 1), (0, 1))
        diag = diag + out  # every layer but the bottom one loses w x_k
        lower = lower - nnf.pad(out[..., :-1], (1, 0))  # and the one below gains it
    return solve_tridiagonal(lower, diag, -r_below, rhs)
