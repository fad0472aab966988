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

Acidification responses (pure rate factors; the biogeochemistry multiplies rates by them):

- calcification of a calcifier is ``pic_poc * calcification_factor`` per unit of carbon
  fixed, with the saturation response ``f(Omega) = (Omega - 1)_+^eta / (K + (Omega - 1)_+^eta)``
  (Ridgwell et al. 2007 power law, saturating);
- growth of a calcifier is multiplied by ``omega_growth_factor``, from
  ``g(Omega) = Omega / (K_g + Omega)``, and growth of every type by ``co2_growth_factor``,
  ``1 + gamma (pCO2 - pCO2_ref)`` (Dutkiewicz et al. 2015);
- each factor is the response to the *unadapted* change from a reference (the start of the
  run): with ``acid_adaptation = a`` a type perceives ``x_ref + (1 - a)(x - x_ref)``, as the
  cardinal temperatures track ``adaptation`` of the warming; ``acid_sensitivity = s`` raises
  the response ratio to the power ``s`` (0: no response, 1: the literature response).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "calcification_factor",
    "co2_growth_factor",
    "ctmi",
    "layer_mean_light",
    "light_response",
    "omega_growth_factor",
    "saturation_response",
]


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
    par_surface: Tensor, chl: Tensor, dz: float | Tensor, k_water: float, k_chl: float
) -> Tensor:
    """Layer-mean PAR (W m-2) from Beer-Lambert attenuation with self-shading.

    The layers lie along the last axis, surface first; any axes between the batch and the
    layers (horizontal cells of a basin) are carried through.

    Parameters
    ----------
    par_surface
        PAR just below the surface (W m-2), shape ``(B,)`` or ``(B, *H)``.
    chl
        Total chlorophyll (mg m-3), shape ``(B, *H, L)`` (``(B, L)`` for a column).
    dz
        Layer thickness (m): a number for equal layers, or a tensor broadcastable to
        ``chl`` (one thickness per cell and layer).
    k_water, k_chl
        Attenuation by water (m-1) and by chlorophyll (m-1 (mg Chl m-3)-1).

    Returns
    -------
    torch.Tensor
        Shape of ``chl``: ``I_top (1 - exp(-k dz)) / (k dz)`` in each layer.
    """
    import torch

    k = k_water + k_chl * chl  # (B, *H, L)
    tau = k * dz
    tau_top = torch.cumsum(tau, dim=-1) - tau
    i_top = par_surface[..., None] * torch.exp(-tau_top)
    return i_top * (-torch.expm1(-tau)) / tau


def _unadapted(value: Tensor, reference: Tensor | float, adaptation: Tensor | float) -> Tensor:
    """The value a type perceives: ``reference + (1 - adaptation)(value - reference)``."""
    return reference + (1.0 - adaptation) * (value - reference)


def saturation_response(
    omega: Tensor,
    threshold: Tensor | float,
    exponent: Tensor | float,
    half_saturation: Tensor | float,
) -> Tensor:
    """Saturating response to the calcite saturation state, in [0, 1).

    ``f = x^eta / (K + x^eta)`` with ``x = max(Omega - threshold, 0)``; ``threshold = 1``,
    ``eta = 0.81`` is the calcification response (Ridgwell et al. 2007, whose power law
    ``x^eta`` is the limit ``K -> inf`` of the ratio ``f(x) / f(x_ref)``), ``threshold = 0``,
    ``eta = 1`` the growth response of a calcifier. With ``K = 0`` it is 1 wherever ``x > 0``.
    ``f`` is 0 where ``x = 0``.

    Parameters
    ----------
    omega
        Calcite saturation state (dimensionless), any shape.
    threshold, exponent, half_saturation
        ``threshold``, ``eta`` (> 0) and ``K`` (>= 0), broadcast against ``omega`` (e.g. one
        value per type, shape ``(1, T, 1)`` against ``(B, 1, L)``).

    Returns
    -------
    torch.Tensor
        ``f``, the broadcast shape.
    """
    import torch

    x = (omega - threshold).clamp_min(0.0) ** exponent
    denom = half_saturation + x
    return torch.where(denom > 0, x / torch.where(denom > 0, denom, 1.0), 0.0)


def _saturation_factor(
    omega: Tensor,
    omega_ref: Tensor | float,
    threshold: float,
    exponent: Tensor | float,
    half_saturation: Tensor | float,
    sensitivity: Tensor | float,
    adaptation: Tensor | float,
) -> Tensor:
    """``(f(Omega_eff) / f(Omega_ref))^s`` of :func:`saturation_response`; 1 where f_ref = 0."""
    import torch

    ref = torch.as_tensor(omega_ref, dtype=omega.dtype, device=omega.device)
    f_ref = saturation_response(ref, threshold, exponent, half_saturation)
    eff = _unadapted(omega, ref, adaptation)
    f_now = saturation_response(eff, threshold, exponent, half_saturation)
    none = f_ref <= 0
    return torch.where(none, 1.0, f_now / torch.where(none, 1.0, f_ref)) ** sensitivity


def calcification_factor(
    omega: Tensor,
    omega_ref: Tensor | float,
    *,
    exponent: Tensor | float,
    half_saturation: Tensor | float,
    sensitivity: Tensor | float = 1.0,
    adaptation: Tensor | float = 0.0,
) -> Tensor:
    """Calcification relative to the reference state, ``(f(Omega_eff) / f(Omega_ref))^s``.

    ``f`` is :func:`saturation_response` with threshold 1 (calcite production stops in
    undersaturated water), ``Omega_eff = Omega_ref + (1 - a)(Omega - Omega_ref)`` the
    saturation state perceived by a type adapted to a fraction ``a`` of the change. The calcite
    production rate is ``pic_poc * factor * (carbon fixation rate)``; it is 1 at the reference,
    falls with Omega (higher CO2 -> lower Omega -> less calcite), is 1 for ``s = 0`` or
    ``a = 1``, and 1 where the reference itself is undersaturated (no calcite to scale).

    Parameters
    ----------
    omega
        Calcite saturation state now, any shape (e.g. ``(B, 1, L)``).
    omega_ref
        Saturation state of the reference (the start of the run), broadcast against ``omega``.
    exponent, half_saturation
        ``eta`` and ``K`` of :func:`saturation_response` (traits ``calc_exponent``,
        ``calc_half_saturation``), e.g. shape ``(1, T, 1)``.
    sensitivity
        Scenario parameter ``acid_sensitivity`` ``s >= 0`` (e.g. shape ``(B, 1, 1)``).
    adaptation
        Scenario parameter ``acid_adaptation`` ``a`` in [0, 1].

    Returns
    -------
    torch.Tensor
        Factor >= 0 (dimensionless), the broadcast shape.
    """
    return _saturation_factor(
        omega, omega_ref, 1.0, exponent, half_saturation, sensitivity, adaptation
    )


def omega_growth_factor(
    omega: Tensor,
    omega_ref: Tensor | float,
    *,
    half_saturation: Tensor | float,
    sensitivity: Tensor | float = 1.0,
    adaptation: Tensor | float = 0.0,
) -> Tensor:
    """Growth of a calcifier relative to the reference, ``(g(Omega_eff) / g(Omega_ref))^s``.

    ``g(Omega) = Omega / (K_g + Omega)`` (:func:`saturation_response` with threshold 0 and
    exponent 1): growth falls with Omega, slowly while ``Omega >> K_g``. ``K_g = 0`` (trait
    ``omega_growth_half`` of a non-calcifier) gives exactly 1. ``Omega_eff``, ``s`` and ``a`` as
    in :func:`calcification_factor`; the factor multiplies the maximum growth rate (d-1).

    Parameters
    ----------
    omega, omega_ref
        Saturation state now and at the reference, broadcastable.
    half_saturation
        ``K_g`` >= 0 (dimensionless), e.g. shape ``(1, T, 1)``.
    sensitivity, adaptation
        Scenario parameters ``acid_sensitivity`` and ``acid_adaptation``.

    Returns
    -------
    torch.Tensor
        Factor > 0 (dimensionless), the broadcast shape.
    """
    return _saturation_factor(omega, omega_ref, 0.0, 1.0, half_saturation, sensitivity, adaptation)


def co2_growth_factor(
    pco2: Tensor,
    pco2_ref: Tensor | float,
    *,
    slope: Tensor | float,
    sensitivity: Tensor | float = 1.0,
    adaptation: Tensor | float = 0.0,
) -> Tensor:
    """Growth relative to the reference pCO2, ``max(0, 1 + gamma (1 - a)(pCO2 - pCO2_ref))^s``.

    A linear response of the growth rate to pCO2 (``gamma``, trait ``co2_growth``, in uatm-1:
    positive for types whose growth rises with CO2, Dutkiewicz et al. 2015), to the part of the
    change a type has not adapted to (``a``, ``acid_adaptation``), scaled in strength by
    ``s`` (``acid_sensitivity``). It is 1 at the reference, for ``gamma = 0``, ``s = 0`` or
    ``a = 1``; it multiplies the maximum growth rate (d-1).

    Parameters
    ----------
    pco2, pco2_ref
        Seawater pCO2 now and at the reference (uatm), broadcastable.
    slope
        ``gamma`` (uatm-1), e.g. shape ``(1, T, 1)``.
    sensitivity, adaptation
        Scenario parameters ``acid_sensitivity`` (>= 0) and ``acid_adaptation`` (in [0, 1]).

    Returns
    -------
    torch.Tensor
        Factor >= 0 (dimensionless), the broadcast shape.
    """
    linear = 1.0 + slope * (_unadapted(pco2, pco2_ref, adaptation) - pco2_ref)
    return linear.clamp_min(0.0) ** sensitivity
