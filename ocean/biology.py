"""Phytoplankton: Droop quota growth, CTMI temperature, Bernard & Remond light, and a closure.

For each type ``i`` with carbon ``X_i`` (mmol C m-3) and nitrogen ``P_i = Q_i X_i``
(mmol N m-3):

- temperature: the cardinal temperature model with inflexion (CTMI, Rosso et al. 1993)

  ``phi(T) = (T - Tmax)(T - Tmin)^2 / ((Topt - Tmin)[(Topt - Tmin)(T - Topt)
  - (Topt - Tmax)(Topt + Tmin - 2T)])`` on ``(Tmin, Tmax)``, 0 outside; ``phi(Topt) = 1``;
- light: Bernard & Remond (2012) ``mu_bar(T, I) = mu_opt(T) I / (I + mu_opt(T)/alpha
  (I/I_opt - 1)^2)`` with ``mu_opt(T) = mu_max phi(T)`` (photoinhibition above ``I_opt``), where
  ``I`` is the layer-mean PAR from Beer-Lambert attenuation by water and chlorophyll
  (self-shading);
- Droop (1968): ``mu = mu_bar (1 - Q_min / Q)``; nitrate uptake
  ``rho = rho_max N / (N + K_N) (Q_max - Q) / (Q_max - Q_min)`` per unit carbon;
- closure: linear mortality plus quadratic loss (implicit grazing) to detritus (C and N), which
  sinks and is remineralised to nitrate and DIC. Nitrate uptake raises alkalinity one for one
  (Wolf-Gladrow et al. 2007), remineralisation lowers it.

Losses are integrated as ``1 - exp(-rate dt)`` fractions and uptake is limited to 90 % of the
available nitrate, so every pool stays non-negative and every transfer is a pure exchange between
pools: total N and total C are conserved exactly in a closed column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["ctmi", "layer_mean_light", "light_response"]


def ctmi(temp: Tensor, t_min: Tensor, t_opt: Tensor, t_max: Tensor) -> Tensor:
    """Cardinal temperature model with inflexion (Rosso et al. 1993), in [0, 1].

    All arguments broadcast; temperatures in degC. Zero at and outside ``[t_min, t_max]``, one at
    ``t_opt``.
    """
    import torch

    num = (temp - t_max) * (temp - t_min) ** 2
    den = (t_opt - t_min) * (
        (t_opt - t_min) * (temp - t_opt) - (t_opt - t_max) * (t_opt + t_min - 2 * temp)
    )
    inside = (temp > t_min) & (temp < t_max)
    safe = torch.where(inside, den, torch.ones_like(den))
    return torch.where(inside, num / safe, torch.zeros_like(num)).clamp(0.0, 1.0)


def light_response(par: Tensor, mu_opt: Tensor, alpha: Tensor, i_opt: Tensor) -> Tensor:
    """Bernard & Remond (2012) growth rate under light ``par`` (W m-2), same units as mu_opt."""
    denom = par + mu_opt / alpha * (par / i_opt - 1.0) ** 2
    return mu_opt * par / denom.clamp_min(1e-30)


def layer_mean_light(
    par_surface: Tensor, chl: Tensor, dz: float, k_water: float, k_chl: float
) -> Tensor:
    """Layer-mean PAR (W m-2) from Beer-Lambert attenuation with self-shading.

    Parameters
    ----------
    par_surface
        PAR just below the surface (W m-2), shape ``(B,)``.
    chl
        Total chlorophyll (mg m-3), shape ``(B, L)``.
    dz
        Layer thickness (m).
    k_water, k_chl
        Attenuation by water (m-1) and by chlorophyll (m-1 (mg Chl m-3)-1).

    Returns
    -------
    torch.Tensor
        ``(B, L)``: ``I_top (1 - exp(-k dz)) / (k dz)`` in each layer.
    """
    import torch

    k = k_water + k_chl * chl  # (B, L)
    tau = k * dz
    tau_top = torch.cumsum(tau, dim=-1) - tau
    i_top = par_surface[:, None] * torch.exp(-tau_top)
    return i_top * (-torch.expm1(-tau)) / tau
