"""1-D vertical water column: forcing, a KPP-lite mixing closure and implicit diffusion.

The column has ``L`` layers of equal thickness ``dz`` over a closed bottom. Every tracer ``C``
obeys ``dC/dt = d/dz (K dC/dz) - d(w C)/dz + sources``, discretised in flux form and integrated
with backward Euler (one tridiagonal solve per step, Thomas algorithm batched over
``(scenario, tracer)``). Surface and bottom diffusive fluxes are zero and sinking has no outflow at
the bottom, so each column of the implicit matrix sums to one and the tracer content
``sum(C) dz`` is conserved to round-off (float64); surface exchanges (heat, CO2) enter as sources.

The diffusivity follows a KPP-lite closure (Large, McWilliams & Doney 1994):

- friction velocity ``u*^2 = rho_a C_D U^2 / rho_w``;
- boundary-layer depth ``h``: shallowest depth where the bulk Richardson number
  ``Ri_b(d) = g alpha (T_s - T(d)) d / V^2`` exceeds ``Ri_c`` with a wind shear scale
  ``V^2 = u*^2 / c_v`` (``c_v = 1e-3``: inertial shear ~30 u*), clipped to ``[h_min, depth]``;
- ``K(z) = kappa u* z (1 - z/h)^2`` inside the boundary layer, ``K_b`` below, and ``K_conv``
  where the stratification is unstable (``N^2 < 0``, convective adjustment).

Heat enters the top layer as ``Q = gamma (T_a - T_s)`` (Haney 1971 restoring), where ``T_a`` is
the scenario's seasonal surface temperature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from ecocube.ocean.parameters import PhysicsParameters

__all__ = [
    "GRAVITY",
    "boundary_layer_depth",
    "column_matrix",
    "diffusivity",
    "implicit_column_step",
    "sinking_groups",
    "solve_tridiagonal",
]

GRAVITY = 9.81
#: Ratio u*^2 / V^2 of the friction velocity to the resolved-shear scale of the bulk Richardson
#: number (V ~ 30 u*, typical wind-driven inertial currents of 0.1-0.5 m s-1).
SHEAR_COEFFICIENT = 1e-3


def friction_velocity(wind: Tensor, phys: PhysicsParameters) -> Tensor:
    """Water-side friction velocity u* (m s-1) from the 10-m wind (m s-1)."""
    return wind * math.sqrt(phys.rho_air * phys.drag / phys.rho_water)


def boundary_layer_depth(temp: Tensor, ustar: Tensor, dz: float, phys: PhysicsParameters) -> Tensor:
    """KPP-lite boundary-layer depth (m) from the temperature profile.

    Parameters
    ----------
    temp
        Temperature (degC), shape ``(B, L)`` (layer 0 at the surface).
    ustar
        Friction velocity (m s-1), shape ``(B,)``.
    dz
        Layer thickness (m).
    """
    import torch

    n_layers = temp.shape[-1]
    depth = (torch.arange(n_layers, dtype=temp.dtype, device=temp.device) + 0.5) * dz
    db = GRAVITY * phys.thermal_expansion * (temp[:, :1] - temp)  # buoyancy jump, m s-2
    v2 = (ustar**2 / SHEAR_COEFFICIENT).clamp_min(1e-8)[:, None]
    ri = db * depth / v2
    above = ri > phys.ri_critical
    first = above.to(torch.int64).argmax(dim=-1)  # first index exceeding Ri_c (0 if none)
    has = above.any(dim=-1)
    k_hi = first.clamp_min(1)
    k_lo = k_hi - 1
    ri_lo = ri.gather(-1, k_lo[:, None])[:, 0]
    ri_hi = ri.gather(-1, k_hi[:, None])[:, 0]
    frac = ((phys.ri_critical - ri_lo) / (ri_hi - ri_lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    h = depth[k_lo] + frac * dz
    h = torch.where(has, h, torch.full_like(h, n_layers * dz))
    return h.clamp(min(phys.h_min, n_layers * dz), n_layers * dz)


def diffusivity(
    temp: Tensor, ustar: Tensor, h: Tensor, dz: float, phys: PhysicsParameters
) -> Tensor:
    """Diffusivity K (m2 s-1) at the ``L - 1`` interior interfaces, shape ``(B, L - 1)``."""
    import torch

    n_layers = temp.shape[-1]
    z = torch.arange(1, n_layers, dtype=temp.dtype, device=temp.device) * dz
    sigma = (z[None, :] / h[:, None]).clamp(max=1.0)
    k_bl = phys.von_karman * ustar[:, None] * z[None, :] * (1.0 - sigma) ** 2
    k = k_bl + phys.k_background
    unstable = temp[:, 1:] > temp[:, :-1] + 1e-9  # warmer below: N^2 < 0
    return torch.where(unstable, torch.full_like(k, phys.k_convective), k)


def solve_tridiagonal(lower: Tensor, diag: Tensor, upper: Tensor, rhs: Tensor) -> Tensor:
    """Solve batched tridiagonal systems along the last axis (Thomas algorithm).

    ``lower[..., k]`` multiplies ``x[k-1]`` (``lower[..., 0]`` unused), ``upper[..., k]``
    multiplies ``x[k+1]`` (``upper[..., -1]`` unused). Stable for diagonally dominant matrices,
    which backward-Euler diffusion/upwind matrices are.
    """
    import torch

    n = diag.shape[-1]
    cp = torch.empty_like(diag)
    dp = torch.empty_like(rhs)
    cp[..., 0] = upper[..., 0] / diag[..., 0]
    dp[..., 0] = rhs[..., 0] / diag[..., 0]
    for k in range(1, n):
        m = diag[..., k] - lower[..., k] * cp[..., k - 1]
        cp[..., k] = upper[..., k] / m
        dp[..., k] = (rhs[..., k] - lower[..., k] * dp[..., k - 1]) / m
    x = torch.empty_like(rhs)
    x[..., n - 1] = dp[..., n - 1]
    for k in range(n - 2, -1, -1):
        x[..., k] = dp[..., k] - cp[..., k] * x[..., k + 1]
    return x


def implicit_column_step(
    tracers: Tensor,
    k_interface: Tensor,
    dt: float,
    dz: float,
    sinking: Tensor | list[tuple[float, Tensor]] | None = None,
) -> Tensor:
    """One backward-Euler step of flux-form diffusion (and upwind sinking) with no-flux ends.

    Tracers that share a sinking speed share one matrix, so each step factorises one
    ``L x L`` matrix per scenario and distinct speed (a batched dense LU is faster than a Python
    loop of Thomas sweeps for the few tens of layers used here) and solves for all their tracers
    at once.

    Parameters
    ----------
    tracers
        Concentrations, shape ``(B, V, L)``.
    k_interface
        Diffusivity at the ``L - 1`` interior interfaces (m2 s-1), shape ``(B, L - 1)``.
    dt, dz
        Time step (s) and layer thickness (m).
    sinking
        Sinking speed per tracer (m s-1, >= 0), shape ``(V,)``; ``None`` for none. A
        precomputed :func:`sinking_groups` list is accepted too (avoids a device sync a step).

    Returns
    -------
    torch.Tensor
        Updated concentrations, same shape; ``tracers.sum(-1)`` is unchanged to round-off.
    """
    import torch

    out = torch.empty_like(tracers)
    groups = (
        sinking
        if isinstance(sinking, list)
        else sinking_groups(sinking, tracers.shape[1], tracers.device)
    )
    for speed, idx in groups:
        matrix = column_matrix(k_interface, dt, dz, speed)
        rhs = tracers[:, idx].transpose(1, 2)  # (B, L, V_s)
        out[:, idx] = torch.linalg.solve(matrix, rhs).transpose(1, 2)
    return out


def sinking_groups(
    sinking: Tensor | Sequence[float] | None, n_tracers: int, device: Any = "cpu"
) -> list[tuple[float, Tensor]]:
    """Group tracer indices by sinking speed: ``[(speed, index tensor), ...]``."""
    import torch

    speeds = [0.0] * n_tracers if sinking is None else [float(w) for w in sinking]
    groups: dict[float, list[int]] = {}
    for i, w in enumerate(speeds):
        groups.setdefault(w, []).append(i)
    return [(w, torch.tensor(ix, device=device)) for w, ix in groups.items()]


def column_matrix(k_interface: Tensor, dt: float, dz: float, sinking: float = 0.0) -> Tensor:
    """Backward-Euler matrix ``(B, L, L)`` of diffusion plus upwind sinking (m s-1).

    Every column sums to one (no flux through the surface or the bottom), which is what makes
    the scheme conserve the tracer content exactly.
    """
    import torch

    b = k_interface.shape[0]
    r = k_interface * (dt / dz**2)  # (B, L-1)
    zero = torch.zeros(b, 1, dtype=r.dtype, device=r.device)
    r_up = torch.cat([zero, r], dim=-1)  # interface above layer k
    r_dn = torch.cat([r, zero], dim=-1)  # interface below layer k
    s = sinking * dt / dz
    s_out = torch.full_like(r_up, s)
    s_out[:, -1] = 0.0  # closed bottom: nothing sinks out
    diag = 1.0 + r_up + r_dn + s_out
    matrix = torch.diag_embed(diag)
    matrix = matrix - torch.diag_embed(r + s, -1) - torch.diag_embed(r, 1)
    return matrix
