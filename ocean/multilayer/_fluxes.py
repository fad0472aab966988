"""Numerical fluxes: the kinetic solver of the Saint-Venant system and hydrostatic reconstruction.

Kinetic solver (Perthame & Simeoni 2001, Calcolo 38:201; Audusse & Bristeau 2005, J. Comput.
Phys. 206:311). A state ``(H, u)`` is the density of particles of velocity ``xi`` distributed as
``M(xi) = H / (2 sqrt(3) c) 1{|xi - u| <= sqrt(3) c}`` with ``c = sqrt(g H / 2)``: its moments
``int M = H``, ``int xi M = H u`` and ``int xi^2 M = H u^2 + g H^2 / 2`` are the conserved
quantity and the physical fluxes. The numerical flux through a face is the part of the left
state moving right plus the part of the right state moving left,
``F(U_l, U_r) = F+(U_l) + F-(U_r)`` with ``F+-(U) = int_{xi >< 0} xi (1, xi) M dxi``. Each part
is carried by the water of one side only, so the water leaving a cell through both faces is at
most ``dt / dx max(|u| + sqrt(3 g H / 2)) H``: the depth stays non-negative when
``dt max(|u| + sqrt(3 g H / 2)) <= dx``.

In the multilayer scheme (Audusse, Bristeau, Perthame & Sainte-Marie 2011, M2AN 45:169) layer
``k`` sees the state ``(H, u_k)`` of the whole depth with its own velocity; its fluxes are
``l_k F(H_l, u_{k,l}; H_r, u_{k,r})``.

Hydrostatic reconstruction (Audusse, Bouchut, Bristeau, Klein & Perthame 2004, SIAM J. Sci.
Comput. 25:2050): at the face between cells ``i`` and ``i + 1`` the depths seen by the solver are
``H_{i+1/2-} = max(0, H_i + z_i - max(z_i, z_{i+1}))`` (and symmetrically on the right), and the
momentum flux of cell ``i`` adds ``g / 2 (H_i^2 - H_{i+1/2-}^2)`` on its right face and
``g / 2 (H_i^2 - H_{i-1/2+}^2)`` on its left face; the ``H_i^2`` terms cancel in the update,
which leaves the source ``g / 2 (H_{i-1/2+}^2 - H_{i+1/2-}^2)``. A lake at rest
(``H + z_b`` constant, ``u = 0``) then has equal states on both sides of every face and balanced
momentum fluxes, so it stays at rest; the reconstructed depths are never above the cell depths,
which keeps the positivity of the solver.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["face_states", "kinetic_fluxes"]


def face_states(depth: Tensor, sides: Tensor, rise: Tensor) -> Tensor:
    """Hydrostatically reconstructed depths on both sides of every face.

    Parameters
    ----------
    depth
        Water depth ``H`` (m), shape ``(B, nx)``.
    sides
        Index of the cell on the left of each of the ``n_f`` faces, then on the right
        (ghost cells point at the edge cells), shape ``(2 n_f,)``.
    rise
        ``z_cell - max(z_left, z_right)`` (m, <= 0) for the same entries, shape ``(2 n_f,)``.

    Returns
    -------
    torch.Tensor
        ``[H_{f-}..., H_{f+}...]``, shape ``(B, 2 n_f)``.
    """
    return (depth[:, sides] + rise).clamp_min(0.0)


def kinetic_fluxes(depth: Tensor, velocity: Tensor, gravity: float) -> tuple[Tensor, Tensor]:
    """Kinetic fluxes through ``n_f`` faces from the states on both sides.

    Uses ``F-(H, u) = (-F+(H, -u).mass, F+(H, -u).momentum)`` to evaluate both sides at once.

    Parameters
    ----------
    depth
        Depths (m) of the left states then the right states, shape ``(B, 2 n_f)``.
    velocity
        Layer velocities (m s-1) of the left states then the *negated* velocities of the right
        states, shape ``(B, 2 n_f, L)``.
    gravity
        Gravitational acceleration (m s-2).

    Returns
    -------
    tuple of torch.Tensor
        ``mass`` (m2 s-1, >= 0), shape ``(B, 2 n_f, L)``: the water of each left state crossing
        towards ``+x``, then of each right state crossing towards ``-x`` (the mass flux is the
        first half minus the second); ``momentum`` (m3 s-2), shape ``(B, n_f, L)``. Both per
        unit layer fraction.
    """
    n_faces = depth.shape[1] // 2
    spread = (depth * (1.5 * gravity)).sqrt()[..., None]  # sqrt(3) c
    half_density = (depth * (1.0 / (24.0 * gravity))).sqrt()[..., None]  # H / (4 sqrt(3) c)
    lo = (velocity - spread).clamp_min(0.0)
    hi = (velocity + spread).clamp_min(0.0)
    lo2 = lo * lo
    hi2 = hi * hi
    mass = (hi2 - lo2) * half_density
    momentum = (hi2 * hi - lo2 * lo) * (half_density * (2.0 / 3.0))
    return mass, momentum[:, :n_faces] + momentum[:, n_faces:]
