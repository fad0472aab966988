"""One time step of the multilayer Saint-Venant scheme with passive tracers.

The scheme of Audusse, Bristeau, Perthame & Sainte-Marie (2011, M2AN 45:169), first order in
space and time, in three parts (operator splitting):

1. **Transport** (explicit). Kinetic fluxes per layer with hydrostatic reconstruction
   (:mod:`._fluxes`) give, in cell ``i`` and layer ``k``, the horizontal divergence
   ``D_k = l_k (F_{k,i+1/2} - F_{k,i-1/2}) / dx - S_k`` (``S_k``: the river entering the
   surface layer). The depth is ``H^{n+1} = H^n - dt sum_k D_k`` and every layer keeps its
   fraction ``h_k = l_k H``, which defines the mass exchanges through the interfaces:
   ``W_k = sum_{j <= k} (D_j - l_j sum_m D_m)`` is the upward flux (m s-1) from layer ``k + 1``
   into layer ``k`` (the paper's exchange terms ``G_{alpha+1/2}``, counted here from the
   surface). Tracers cross a face with the concentration of the cell the layer's net mass flux
   comes from (upwinding on the mass flux, as in Audusse & Bristeau 2003, M2AN 37:389: the
   kinetic split of the flux would also exchange tracers between cells of water at rest), and
   momentum and tracers cross an interface with the values of the layer the water comes from,
   so a uniform tracer stays uniform to round-off.
2. **Vertical mixing** (implicit, backward Euler). Viscosity ``nu`` between layers with the
   wind stress on the surface layer and a quadratic bottom drag on the bottom layer (its
   coefficient ``C_f |u_b^n|`` taken at the old velocity), and tracer diffusion ``kappa``, in
   flux form with interface distance ``(h_k + h_{k+1}) / 2`` (:mod:`._vertical`). Column
   contents ``sum_k h_k C_k`` are unchanged.
3. **Sources** (optional, explicit): ``C += dt S`` for tracer sources ``S`` (e.g. a
   biogeochemistry).

Depths and tracers stay non-negative, and tracers within their previous range, when no layer
loses more water in a step than it holds (through both faces and both interfaces,
``dt out_k <= h_k``); :func:`advance` returns the largest ``out_k / h_k`` of the state and its
largest ``|u| + sqrt(g H)`` for the caller to check ``dt`` against.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ecocube.ocean.multilayer._fluxes import face_states, kinetic_fluxes
from ecocube.ocean.multilayer._vertical import ColumnMixing, mix_tridiagonal

__all__ = ["Constants", "Drive", "StepResult", "advance"]

#: Layer thickness (m) under which a dry cell keeps its previous concentrations: the amounts
#: such a film holds underflow float64 (subnormal numbers).
TINY_DEPTH = 1e-200

#: Depth (m) under which the mixing strength ``dt K / H^2`` is taken at this depth (its square
#: would overflow); such a column is mixed completely either way.
SAFE_DEPTH = 1e-100


class Constants(NamedTuple):
    """Tensors and numbers of a basin that do not change in time (on the model's device).

    The ``n_f = nx + 1`` faces are seen from both sides: entry ``f`` of ``sides`` is the cell
    on the left of face ``f`` and entry ``n_f + f`` the cell on its right, a ghost cell being
    the edge cell itself (its velocity reflected at a wall).
    """

    fractions: Tensor  # (L,)
    fractions_dx: Tensor  # (L,): l_k / dx
    sides: Tensor  # (2 n_f,) cell index of the left then the right state of each face
    rise: Tensor  # (2 n_f,): z_cell - max(z_left, z_right)
    velocity_sign: Tensor  # (2 n_f, 1): +1 left states, -1 right states (negated), ghosts
    edge_bottom: tuple[float, float]  # bottom elevation of the first and last cells (m)
    mixing: ColumnMixing
    viscosity: float
    diffusivity: float
    dx: float
    width: float
    gravity: float
    dry_depth: float
    bottom_drag: float
    left: str  # "wall", "elevation" or "discharge"
    right: str
    river_cell: int | None


class Drive(NamedTuple):
    """Forcing values at the time of a step, each of shape ``(B,)`` unless stated."""

    stress: Tensor  # wind stress / water density (m2 s-2)
    tide: Tensor | None  # m
    inflow: Tensor | None  # m3 s-1 into the basin
    boundary_tracers: Tensor | None  # (B, n_tracers)
    river: Tensor | None  # m3 s-1
    river_tracers: Tensor | None  # (B, n_tracers)


class StepResult(NamedTuple):
    """State after a step and the stability figures of the state before it."""

    depth: Tensor  # (B, nx)
    velocity: Tensor  # (B, nx, L)
    tracers: Tensor  # (B, n_tracers, nx, L)
    inflow_volume: Tensor | None  # (B,) m3 entered through the open boundary and the river
    inflow_tracers: Tensor | None  # (B, n_tracers)
    speed: Tensor  # () max |u| + sqrt(g H) (m s-1)
    exit_rate: Tensor  # () max over wet layers of (water leaving per second) / h_k (s-1)


def advance(
    depth: Tensor,
    velocity: Tensor,
    tracers: Tensor,
    c: Constants,
    drive: Drive,
    dt: float,
    sources: Tensor | None = None,
    diffusivity: Tensor | None = None,
    sinking: Tensor | None = None,
) -> StepResult:
    """Advance the basin by ``dt`` seconds (see the module docstring).

    Parameters
    ----------
    depth
        Water depth ``H`` (m), shape ``(B, nx)``.
    velocity
        Layer velocities (m s-1), shape ``(B, nx, L)``, surface first.
    tracers
        Concentrations, shape ``(B, n_tracers, nx, L)``.
    c, drive
        Basin constants and forcing values at the start of the step.
    dt
        Time step (s).
    sources
        Tracer sources (tracer units s-1), shape ``(B, n_tracers, nx, L)``, or ``None``.
    diffusivity
        Tracer diffusivity at the ``L - 1`` interfaces (m2 s-1), shape ``(B, nx, L - 1)``,
        replacing the constant one, or ``None``.
    sinking
        Sinking speed of each tracer through the layers (m s-1, >= 0), shape
        ``(n_tracers,)``, or ``None``. Tracers leave no layer through the bottom.
    """
    g = c.gravity
    lk = c.fractions
    fdx = c.fractions_dx
    n_faces = c.sides.shape[0] // 2
    has_tracers = tracers.shape[1] > 0

    # -- states on both sides of the faces, fluxes (per unit layer fraction)
    depth_st = face_states(depth, c.sides, c.rise)
    velocity_st = velocity[:, c.sides] * c.velocity_sign
    tracer_st = tracers[:, :, c.sides] if has_tracers else tracers
    if c.left == "elevation" or c.right == "elevation":
        _tide_states(depth_st, velocity_st, depth, velocity, c, drive)
    if drive.boundary_tracers is not None and has_tracers:
        for pos, kind in ((0, c.left), (-1, c.right)):
            if kind != "wall":
                tracer_st[:, :, pos] = drive.boundary_tracers[..., None]
    mass, momentum = kinetic_fluxes(depth_st, velocity_st, g)
    if drive.inflow is not None:
        _discharge_faces(mass, momentum, depth, drive.inflow, c)
    net = mass[:, :n_faces] - mass[:, n_faces:]  # (B, nx + 1, L), along +x
    downstream = net.clamp_min(0.0)
    upstream = net.clamp_max(0.0)
    exit_rate = (downstream[:, 1:] - upstream[:, :-1]) * fdx  # (B, nx, L), m s-1
    divergence = (net[:, 1:] - net[:, :-1]) * fdx
    river_rate = None
    if c.river_cell is not None and drive.river is not None:
        river_rate = drive.river / (c.width * c.dx)  # m s-1 into the surface layer
        divergence[:, c.river_cell, 0] -= river_rate
    total = divergence.sum(-1)  # (B, nx)
    new_depth = torch.add(depth, total, alpha=-dt)

    # -- momentum and tracer contents after the horizontal fluxes
    square = depth_st * depth_st
    hydrostatic = (square[:, n_faces:-1] - square[:, 1:n_faces]) * (0.5 * g)
    pressure = (momentum[:, 1:] - momentum[:, :-1]) + hydrostatic[..., None]
    old_h = depth[..., None] * lk
    q = torch.addcmul(old_h * velocity, pressure, fdx, value=-dt)
    content = old_h[:, None] * tracers
    tflux = None
    if has_tracers:
        # upwinded by the layer's net mass flux (not particle by particle: the kinetic split
        # would exchange tracers between cells of water at rest)
        tflux = torch.addcmul(
            downstream[:, None] * tracer_st[:, :, :n_faces],
            upstream[:, None],
            tracer_st[:, :, n_faces:],
        )
        content = torch.addcmul(content, tflux[:, :, 1:] - tflux[:, :, :-1], fdx, value=-dt)
        if river_rate is not None and drive.river_tracers is not None:
            content[:, :, c.river_cell, 0] += (dt * river_rate)[:, None] * drive.river_tracers

    # -- exchanges through the L - 1 interfaces: W_k > 0 moves water up from k + 1 into k
    if lk.shape[0] > 1:
        up = torch.addcmul(divergence, total[..., None], lk, value=-1.0).cumsum(-1)[..., :-1]
        up_pos = up.clamp_min(0.0)
        up_neg = up.clamp_max(0.0)
        moved = torch.addcmul(up_pos * velocity[..., 1:], up_neg, velocity[..., :-1])
        q[..., :-1].add_(moved, alpha=dt)
        q[..., 1:].sub_(moved, alpha=dt)
        if has_tracers:
            up_pos_t, up_neg_t = up_pos[:, None], up_neg[:, None]
            moved = torch.addcmul(up_pos_t * tracers[..., 1:], up_neg_t, tracers[..., :-1])
            content[..., :-1].add_(moved, alpha=dt)
            content[..., 1:].sub_(moved, alpha=dt)
        exit_rate[..., :-1] -= up_neg
        exit_rate[..., 1:] += up_pos

    # -- stability figures of the old state (positivity: over the cells that held water)
    dry_old = (depth <= c.dry_depth)[..., None]  # (B, nx, 1)
    exit_max = torch.where(dry_old, 0.0, exit_rate / old_h.clamp_min(c.dry_depth)).amax()
    speed = (velocity.abs() + (g * depth).sqrt()[..., None]).amax()

    # -- wind, bottom drag and vertical mixing (implicit). A cell that held no water mixes
    # what it received over its column: the exchanges there moved empty layers.
    wet = new_depth > c.dry_depth
    q[..., 0].addcmul_(drive.stress[:, None], wet, value=dt)
    if c.bottom_drag > 0:
        h_b = new_depth * lk[-1]
        q[..., -1] *= h_b / torch.add(h_b, velocity[..., -1].abs(), alpha=dt * c.bottom_drag)
    safe = new_depth.clamp_min(SAFE_DEPTH)
    strength = dt / (safe * safe)  # dt / H^2 (s m-2)
    mixing = c.mixing
    factors = torch.where(dry_old, mixing.full_mixing, mixing.factors(strength * c.viscosity))
    new_velocity = torch.where(wet[..., None], mixing.solve(q / safe[..., None], factors), 0.0)
    new_tracers = tracers
    if has_tracers:
        over_depth = content / safe[:, None, :, None]
        if diffusivity is None and sinking is None:
            factors = torch.where(
                dry_old, mixing.full_mixing, mixing.factors(strength * c.diffusivity)
            )
            mixed = mixing.solve(over_depth, factors[:, None])
        else:
            mixed = _mix_tridiagonal(over_depth, safe, dry_old, diffusivity, sinking, c, dt)
        new_tracers = torch.where((new_depth > TINY_DEPTH)[:, None, :, None], mixed, tracers)
        if sources is not None:
            new_tracers = new_tracers + dt * sources

    volume, amount = _inflow(net, tflux, tracers.shape[1], drive, c, dt)
    return StepResult(new_depth, new_velocity, new_tracers, volume, amount, speed, exit_max)


def _tide_states(
    depth_st: Tensor,
    velocity_st: Tensor,
    depth: Tensor,
    velocity: Tensor,
    c: Constants,
    drive: Drive,
) -> None:
    """Set the ghost state of an ``"elevation"`` boundary (in place).

    The ghost depth is the tide level above the edge cell's bottom; its velocity keeps the
    Riemann invariant ``u +- 2 sqrt(g H)`` that leaves the basin (Bristeau & Coussin 2001,
    INRIA RR-4282).
    """
    if drive.tide is None:
        return
    g = c.gravity
    for pos, kind, bottom in ((0, c.left, c.edge_bottom[0]), (-1, c.right, c.edge_bottom[1])):
        if kind != "elevation":
            continue
        inner = depth[:, pos]
        ghost = (drive.tide - bottom).clamp_min(0.0)
        jump = (2.0 * ((g * inner).sqrt() - (g * ghost).sqrt()))[:, None]
        depth_st[:, pos] = ghost
        # the right ghost is stored with its velocity negated (see kinetic_fluxes)
        velocity_st[:, pos] = velocity[:, 0] - jump if pos == 0 else -(velocity[:, -1] + jump)


def _discharge_faces(
    mass: Tensor, momentum: Tensor, depth: Tensor, inflow: Tensor, c: Constants
) -> None:
    """Replace the fluxes through a ``"discharge"`` boundary face by the prescribed ones.

    The discharge is spread over the layers by their fractions (a uniform velocity); its
    momentum flux is ``q^2 / H_b + g H_b^2 / 2`` per unit fraction for the boundary cell depth
    ``H_b``. Modifies ``mass`` and ``momentum`` in place.
    """
    n_faces = momentum.shape[1]
    q = inflow / c.width  # m2 s-1 into the basin
    for face, kind in ((0, c.left), (n_faces - 1, c.right)):
        if kind != "discharge":
            continue
        h_b = depth[:, 0 if face == 0 else -1].clamp_min(c.dry_depth)
        incoming, outgoing = q.clamp_min(0.0)[:, None], (-q).clamp_min(0.0)[:, None]
        # the ghost's water enters; the edge cell's water leaves
        mass[:, face] = incoming if face == 0 else outgoing
        mass[:, n_faces + face] = outgoing if face == 0 else incoming
        momentum[:, face] = (q * q / h_b + 0.5 * c.gravity * h_b * h_b)[:, None]


def _mix_tridiagonal(
    over_depth: Tensor,
    safe_depth: Tensor,
    dry_old: Tensor,
    diffusivity: Tensor | None,
    sinking: Tensor | None,
    c: Constants,
    dt: float,
) -> Tensor:
    """Tracer mixing with a diffusivity per interface and/or sinking (tridiagonal solves).

    Solves the system of :class:`ColumnMixing` divided by ``H`` (thicknesses ``l_k``,
    coefficient ``K / H^2``, sinking speed ``w / H``); a column that held no water is mixed
    completely.
    """
    inverse_square = (safe_depth * safe_depth).reciprocal()
    if diffusivity is None:
        coefficient = (c.diffusivity * inverse_square)[:, None, :, None]
    else:
        coefficient = (diffusivity * inverse_square[..., None])[:, None]
    speed = None
    if sinking is not None:
        speed = sinking[:, None, None] / safe_depth[:, None, :, None]  # (B, V, nx, 1)
    solved = mix_tridiagonal(c.fractions.expand_as(over_depth), coefficient, over_depth, dt, speed)
    mixed = over_depth.sum(-1, keepdim=True).expand_as(over_depth)
    return torch.where(dry_old[:, None], mixed, solved)


def _inflow(
    net: Tensor,
    tflux: Tensor | None,
    n_tracers: int,
    drive: Drive,
    c: Constants,
    dt: float,
) -> tuple[Tensor | None, Tensor | None]:
    """Volume (m3) and tracer amounts that entered through the open boundary and the river.

    ``(None, None)`` for a closed basin without a river.
    """
    river = c.river_cell is not None and drive.river is not None
    if c.left == "wall" and c.right == "wall" and not river:
        return None, None
    lk = c.fractions
    volume = torch.zeros_like(net[:, 0, 0])
    amount = volume.new_zeros(volume.shape[0], n_tracers)
    for face, sign, kind in ((0, 1.0, c.left), (-1, -1.0, c.right)):
        if kind == "wall":
            continue
        volume = volume + (net[:, face] @ lk) * (sign * dt * c.width)
        if tflux is not None:
            amount = amount + (tflux[:, :, face] @ lk) * (sign * dt * c.width)
    if river and drive.river is not None:
        volume = volume + drive.river * dt
        if tflux is not None and drive.river_tracers is not None:
            amount = amount + (drive.river * dt)[:, None] * drive.river_tracers
    return volume, amount
