"""The default biogeochemistry: phytoplankton types, detritus and the carbonate system.

:class:`PhytoCarbonate` is the biogeochemistry of the full model (equations in
``ocean/README.md``): nitrate, DIC, alkalinity, detrital nitrogen and carbon (sinking), and the
carbon and nitrogen of each phytoplankton type of
:attr:`ModelParameters.phyto <ecocube.ocean.parameters.ModelParameters.phyto>` (Droop quotas,
CTMI temperature response shifted by the scenario's ``adaptation``, Bernard & Remond light with
self-shading, linear and quadratic losses to detritus) from :mod:`ecocube.ocean.biology`, and the
air-sea CO2 flux of :mod:`ecocube.ocean.carbonate` into the top layer. It needs a physical scheme
with a ``temperature`` tracer (:class:`~ecocube.ocean.schemes.ColumnScheme`).

When a type of the community calcifies or responds to the carbonate system
(:attr:`PhytoCarbonate.acidification`), the carbonate state of every layer sets growth and
calcification: a calcite tracer ``pic`` (sinking at ``parameters.carbonate.pic_sinking``) forms
in proportion to the carbon fixed (``pic_poc`` times
:func:`~ecocube.ocean.biology.calcification_factor` of the saturation state Omega), removing one
DIC and two alkalinity per calcite carbon, and dissolves back
(:func:`~ecocube.ocean.carbonate.calcite_dissolution_rate`) the other way; the maximum growth
rate is multiplied by :func:`~ecocube.ocean.biology.co2_growth_factor` and
:func:`~ecocube.ocean.biology.omega_growth_factor`. Responses are relative to each layer's
carbonate state at the run's first step, scaled by the scenario's ``acid_sensitivity`` and
``acid_adaptation``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.errors import InvalidInputError
from ecocube.ocean.biogeochemistry import Biogeochemistry, RunSetup, Tracer
from ecocube.ocean.diagnostics import OUTPUT_VARIABLES, OutputVariable
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["PhytoCarbonate"]

SECONDS_PER_DAY = 86400.0

#: Outputs of the calcite cycle and the carbonate responses (with :attr:`~PhytoCarbonate.
#: acidification` only).
_ACID_OUTPUTS = ("calc", "omega_calcite", "intpcalcite")

#: Newton iterations of the first, cold-started [H+] solve of every layer (then warm-started).
_COLD_ITERATIONS = 8

_OUTPUTS = (
    "phyc",
    "intphyc",
    "chl",
    "intchl",
    "dissic",
    "intdic",
    "talk",
    "no3",
    "spco2",
    "ph",
    "fgco2",
    "intpp",
    "pco2atm",
    "total_nitrogen",
    "total_carbon",
)


class PhytoCarbonate(Biogeochemistry):
    """Phytoplankton (Droop quota), detritus and carbonate chemistry with air-sea CO2 exchange.

    Parameters
    ----------
    parameters
        Phytoplankton types and physics constants (light attenuation, detritus, DIC and
        alkalinity values, salinity).

    Notes
    -----
    Tracers (mmol m-3): ``no3``, ``dic``, ``talk``, ``detn``, ``detc`` (detritus sinks at
    ``parameters.physics.sinking``), ``phyc`` and ``phyn`` (carbon and nitrogen, one component
    per type). Initial fields a user may set: ``no3``, ``dic``, ``talk`` and ``phyc`` (nitrogen
    follows from the mid quota). Step diagnostics: ``pp`` (carbon fixed in the step per layer,
    mmol m-3), ``fgco2`` (mmol m-2 s-1, positive into the ocean), ``spco2`` (uatm), ``ph``.
    Derived fields: ``chl`` (mg m-3), ``nitrogen`` and ``carbon`` (every pool, mmol m-3).
    Deep supply (:meth:`boundary_values`): the scenario's ``nutrient_supply`` of nitrate and
    ``parameters.physics.dic_deep``.

    With :attr:`acidification` there is one more tracer, ``pic`` (calcite, mmol C m-3, an
    initial field too, 0 by default), two more step diagnostics, ``pcalc`` (calcite formed in
    the step per layer, mmol m-3) and ``omega`` (calcite saturation state per layer), and three
    more outputs, ``calc``, ``omega_calcite`` and ``intpcalcite``; ``carbon`` counts the
    calcite. In a closed column DIC + detritus C + phytoplankton C + PIC and
    TA + NO3 + 2 PIC are conserved. Without it the model is the one of the three original
    types (:data:`~ecocube.ocean.parameters.THREE_TYPES`) exactly: same tracers, outputs and
    numbers.
    """

    title = "phytoplankton and carbonate"

    def __init__(self, parameters: ModelParameters = DEFAULT_PARAMETERS) -> None:
        self.parameters = parameters

    @property
    def acidification(self) -> bool:
        """Whether some type calcifies (``pic_poc > 0``) or grows with Omega
        (``omega_growth_half > 0``) or pCO2 (``co2_growth != 0``): the calcite cycle and the
        carbonate responses are then part of the model."""
        return any(
            p.pic_poc > 0 or p.omega_growth_half > 0 or p.co2_growth != 0
            for p in self.parameters.phyto
        )

    @property
    def tracers(self) -> tuple[Tracer, ...]:
        """``no3, dic, talk, detn, detc, phyc, phyn`` and, with :attr:`acidification`, ``pic``
        (see the class notes)."""
        conc, w = "mmol m-3", self.parameters.physics.sinking / SECONDS_PER_DAY
        types = tuple(self.parameters.type_names)
        tracers = (
            Tracer("no3", conc, "Nitrate", variable="no3"),
            Tracer("dic", conc, "Dissolved inorganic carbon", variable="dissic"),
            Tracer("talk", conc, "Total alkalinity", variable="talk"),
            Tracer("detn", conc, "Detrital nitrogen", sinking=w),
            Tracer("detc", conc, "Detrital carbon", sinking=w),
            Tracer("phyc", conc, "Phytoplankton carbon", components=types, variable="phyc"),
            Tracer("phyn", conc, "Phytoplankton nitrogen", components=types),
        )
        if not self.acidification:
            return tracers
        w_pic = self.parameters.carbonate.pic_sinking / SECONDS_PER_DAY
        return (*tracers, Tracer("pic", conc, "Calcite", sinking=w_pic, variable="calc"))

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        """Its rows of :data:`~ecocube.ocean.diagnostics.OUTPUT_VARIABLES` (the calcite ones
        with :attr:`acidification` only)."""
        names = _OUTPUTS + (_ACID_OUTPUTS if self.acidification else ())
        return {name: OUTPUT_VARIABLES[name] for name in names}

    @property
    def dims(self) -> Mapping[str, int]:
        """``{"phyto_type": number of types}``."""
        return {"phyto_type": len(self.parameters.phyto)}

    @property
    def derived_fields(self) -> tuple[str, ...]:
        """``chl``, ``nitrogen``, ``carbon``."""
        return ("chl", "nitrogen", "carbon")

    @property
    def diagnostic_names(self) -> tuple[str, ...]:
        """``pp``, ``fgco2``, ``spco2``, ``ph`` and, with :attr:`acidification`, ``pcalc`` and
        ``omega``."""
        acid = ("pcalc", "omega") if self.acidification else ()
        return ("pp", "fgco2", "spco2", "ph", *acid)

    def coords(self) -> dict[str, Any]:
        """``phyto_type`` and the traits ``t_min, t_opt, t_max, mu_max`` along it."""
        phyto = self.parameters.phyto
        coords: dict[str, Any] = {
            "phyto_type": ("phyto_type", np.array(self.parameters.type_names))
        }
        for trait in ("t_min", "t_opt", "t_max", "mu_max"):
            units = "d-1" if trait == "mu_max" else "degC"
            coords[trait] = (
                "phyto_type",
                np.array([getattr(p, trait) for p in phyto]),
                {"long_name": f"{trait} of each phytoplankton type", "units": units},
            )
        return coords

    # --- initial state ----------------------------------------------------------------------

    def initial_fields(self, run: RunSetup, forcing: Mapping[str, Tensor]) -> dict[str, Any]:
        """Nitrate at 50-100 % of the deep value, DIC from the surface to the deep value,
        uniform alkalinity, 0.2 mmol C m-3 of each type near the surface (and no calcite)."""
        phys = self.parameters.physics
        n, n_types = run.n_scenarios, len(self.parameters.phyto)
        z = run.depth
        shape = np.exp(-z / 50.0)
        n_deep = run.table["nutrient_supply"].to_numpy().reshape(n, *([1] * z.ndim))
        no3 = n_deep * (1.0 - 0.5 * shape[None, ...])
        dic = phys.dic_deep + (phys.dic_surface - phys.dic_deep) * shape[None, ...]
        fields = {
            "no3": no3,
            "dic": np.broadcast_to(dic, (n, *run.space)),
            "talk": np.full((n, *run.space), phys.talk),
            "phyc": np.broadcast_to(0.2 * np.exp(-z / 30.0), (n, n_types, *run.space)),
        }
        if self.acidification:
            fields["pic"] = np.zeros((n, *run.space))
        return fields

    def initial_tracers(self, run: RunSetup, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Every type at least 1e-6 mmol C m-3 (a seed: no type goes extinct), nitrogen at the
        mid quota, no detritus."""
        n = run.n_scenarios
        q0 = np.array([(p.q_min + p.q_max) / 2 for p in self.parameters.phyto])
        q0 = q0.reshape(1, len(q0), *([1] * len(run.space)))
        phyc = np.maximum(fields["phyc"], 1e-6)
        zeros = np.zeros((n, *run.space))
        tracers = {
            "no3": fields["no3"],
            "dic": fields["dic"],
            "talk": fields["talk"],
            "detn": zeros,
            "detc": zeros,
            "phyc": phyc,
            "phyn": phyc * q0,
        }
        if self.acidification:
            tracers["pic"] = fields["pic"]
        return tracers

    # --- time stepping ----------------------------------------------------------------------

    def setup(self, run: RunSetup) -> None:
        """Trait tensors, rate constants and the indices of the tracers (and of temperature)."""
        import torch

        from ecocube.ocean import carbonate

        super().setup(run)
        if "temperature" not in run.layout.names:
            raise InvalidInputError(
                "PhytoCarbonate needs a physical scheme with a 'temperature' tracer; the run's "
                f"tracers are {list(run.layout.names)}"
            )
        phys, phyto, dev, dt = self.parameters.physics, self.parameters.phyto, run.device, run.dt
        f64 = torch.float64

        def trait(name: str) -> Tensor:
            return run.per_type([getattr(p, name) for p in phyto])

        self.mu_max = trait("mu_max") / SECONDS_PER_DAY
        self.alpha = trait("alpha") / SECONDS_PER_DAY
        self.i_opt, self.q_min, self.q_max = trait("i_opt"), trait("q_min"), trait("q_max")
        self.q_range = self.q_max - self.q_min
        self.k_n = trait("k_n")
        self.rho_max = trait("rho_max") / SECONDS_PER_DAY
        self.chl_n, self.mort = trait("chl_n"), trait("mortality") / SECONDS_PER_DAY
        self.graz = trait("grazing") / SECONDS_PER_DAY
        self.t_min0, self.t_opt0, self.t_max0 = trait("t_min"), trait("t_opt"), trait("t_max")
        self.adaptation = torch.as_tensor(run.table["adaptation"].to_numpy(), dtype=f64, device=dev)
        self.n_deep = torch.as_tensor(
            run.table["nutrient_supply"].to_numpy(), dtype=f64, device=dev
        )
        self.remin = -math.expm1(-phys.remineralisation / SECONDS_PER_DAY * dt)
        self.rho_kg = carbonate.RHO_SW / 1000.0  # mmol m-3 -> umol kg-1
        self.dt = dt
        lay = run.layout
        self.i_temp = lay.index("temperature")
        self.i_no3, self.i_dic, self.i_talk = lay.index("no3"), lay.index("dic"), lay.index("talk")
        self.i_detn, self.i_detc = lay.index("detn"), lay.index("detc")
        self.i_phyc, self.i_phyn = lay.index("phyc"), lay.index("phyn")
        self.space_ones = [1] * len(run.space)
        surface = (run.n_scenarios, *run.space[:-1])
        self.h_ion = torch.full(surface, 1e-8, dtype=f64, device=dev)
        self.h_profile: Tensor | None = None
        # gauge pressure (bar) of each layer centre, for the calcite solubility
        self.pressure = torch.as_tensor(run.depth / 10.0, dtype=f64, device=dev)
        self.acid = self.acidification
        if self.acid:
            self._setup_acidification(run, trait)

    def _setup_acidification(self, run: RunSetup, trait: Callable[[str], Tensor]) -> None:
        """Traits of the carbonate responses, the scenarios' sensitivity and adaptation, the
        calcite rates (s-1) and the index of ``pic``."""
        import torch

        carb = self.parameters.carbonate

        def per_scenario(column: str) -> Tensor:  # (B, 1, *1): against (B, types, *space)
            values = torch.as_tensor(
                run.table[column].to_numpy(), dtype=torch.float64, device=run.device
            )
            return values.reshape(-1, 1, *self.space_ones)

        self.pic_poc, self.co2_slope = trait("pic_poc"), trait("co2_growth")
        self.calc_exponent = trait("calc_exponent")
        self.calc_half = trait("calc_half_saturation")
        self.omega_half = trait("omega_growth_half")
        self.sensitivity = per_scenario("acid_sensitivity")
        self.acid_adaptation = per_scenario("acid_adaptation")
        self.k_diss = carb.pic_dissolution_rate / SECONDS_PER_DAY
        self.n_diss = carb.pic_dissolution_order
        self.r_diss = carb.pic_sinking / carb.pic_dissolution_length / SECONDS_PER_DAY
        self.mu_limit = 1.0 / run.dt
        self.i_pic = run.layout.index("pic")
        self.reference: tuple[Tensor, Tensor] | None = None

    def start_day(self, forcing: Mapping[str, Tensor]) -> None:
        """Surface PAR, the types' cardinal temperatures shifted by the adapted warming, and
        (lazily, at the first step) the day's carbonate constants at the SST."""
        self.par0 = forcing["shortwave"] * self.parameters.physics.par_fraction
        self.wind = forcing["wind"]
        self.co2_air = forcing["co2"]
        shift = (self.adaptation * forcing["warming_now"]).reshape(-1, 1, *self.space_ones)
        self.t_min = self.t_min0 + shift
        self.t_opt = self.t_opt0 + shift
        self.t_max = self.t_max0 + shift
        self.consts: dict[str, Tensor] | None = None
        self.profile_consts: dict[str, Tensor] | None = None

    @property
    def needs_carbonate_profile(self) -> bool:
        """Whether :meth:`sources` reads the carbonate state of every layer: with
        :attr:`acidification` (calcification, dissolution and growth depend on it)."""
        return self.acidification

    def carbonate_profile(self, y: Tensor, iterations: int = 3) -> dict[str, Any]:
        """Carbonate state of every layer: ``h`` ([H+], mol kg-1), ``co2`` and ``co3`` (umol kg-1),
        ``pco2`` (uatm), ``omega`` (calcite saturation state) and the ``constants`` at each
        layer's temperature: the equilibrium constants of
        :func:`~ecocube.ocean.carbonate.equilibrium_constants` and ``ksp``, the calcite
        solubility at the layer's pressure (``depth / 10`` bar,
        :func:`~ecocube.ocean.carbonate.ksp_calcite_mucci`).

        The constants follow the layer temperatures once a day (at the first call of the day);
        ``[H+]`` is warm-started from the previous call (``iterations`` Newton steps, see
        :func:`~ecocube.ocean.carbonate.ph_total`; the first call of a run starts from pH 8
        with at least 8). Shapes ``(B, *H, L)``.
        """
        from ecocube.ocean import carbonate

        temp = y[:, self.i_temp]
        sal = self.parameters.physics.salinity
        if self.profile_consts is None:
            self.profile_consts = {
                **carbonate.equilibrium_constants(temp, sal),
                "ksp": carbonate.ksp_calcite_mucci(temp, sal, self.pressure),
            }
        consts = self.profile_consts
        dic = y[:, self.i_dic] / self.rho_kg
        talk = y[:, self.i_talk] / self.rho_kg
        if self.h_profile is None:
            iterations = max(iterations, _COLD_ITERATIONS)
        h = carbonate.ph_total(
            dic,
            talk,
            temp,
            sal,
            h_guess=self.h_profile,
            iterations=iterations,
            constants=consts,
        )
        self.h_profile = h
        k1, k2 = consts["k1"], consts["k2"]
        denom = h * h + k1 * h + k1 * k2
        co2 = dic * h * h / denom
        co3 = dic * k1 * k2 / denom
        return {
            "h": h,
            "co2": co2,
            "co3": co3,
            "pco2": co2 / consts["k0"],
            "omega": carbonate.calcium_riley(sal) * co3 * 1e-6 / consts["ksp"],
            "constants": consts,
        }

    def sources(self, y: Tensor, forcing: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Growth, nitrate uptake, losses to detritus and remineralisation over one step; with
        :attr:`acidification`, the carbonate responses of growth, calcification and calcite
        dissolution too."""
        import torch

        from ecocube.ocean import biology

        phys, dt = self.parameters.physics, self.dt
        temp = y[:, self.i_temp]
        no3, dic, talk = y[:, self.i_no3], y[:, self.i_dic], y[:, self.i_talk]
        detn, detc = y[:, self.i_detn], y[:, self.i_detc]
        x, pn = y[:, self.i_phyc], y[:, self.i_phyn]
        chl = (self.chl_n * pn).sum(1)
        light = biology.layer_mean_light(
            self.par0, chl, self.run.thickness, phys.k_water, phys.k_chl
        )
        phi = biology.ctmi(temp.unsqueeze(1), self.t_min, self.t_opt, self.t_max)
        mu_opt = self.mu_max * phi
        if self.acid:
            omega, omega_ref, growth_factor = self._carbonate_response(y)
            # the factors may exceed 1: keep mu dt <= 1, the limit check_stability enforces
            mu_opt = (mu_opt * growth_factor).clamp(max=self.mu_limit)
        mu_bar = biology.light_response(light.unsqueeze(1), mu_opt, self.alpha, self.i_opt)
        quota = pn / x
        growth = mu_bar * (1.0 - self.q_min / quota).clamp_min(0.0) * x * dt
        fill = ((self.q_max - quota) / self.q_range).clamp(0.0, 1.0)
        no3_t = no3.unsqueeze(1)
        uptake = self.rho_max * no3_t / (no3_t + self.k_n) * fill * x * dt
        total_up = uptake.sum(1)
        uptake = uptake * (0.9 * no3 / total_up.clamp_min(1e-300)).clamp(max=1.0).unsqueeze(1)
        total_up = uptake.sum(1)
        x_new = x + growth
        pn_new = pn + uptake
        loss = -torch.expm1(-(self.mort + self.graz * x_new) * dt)
        loss_c, loss_n = loss * x_new, loss * pn_new
        rem_n, rem_c = self.remin * detn, self.remin * detc
        pp = growth.sum(1)
        y[:, self.i_phyc] = x_new - loss_c
        y[:, self.i_phyn] = pn_new - loss_n
        y[:, self.i_no3] = no3 - total_up + rem_n
        y[:, self.i_dic] = dic - pp + rem_c
        y[:, self.i_talk] = talk + total_up - rem_n
        y[:, self.i_detn] = detn + loss_n.sum(1) - rem_n
        y[:, self.i_detc] = detc + loss_c.sum(1) - rem_c
        if not self.acid:
            return {"pp": pp}
        calc = self._calcite_cycle(y, omega, omega_ref, growth)
        return {"pp": pp, "pcalc": calc, "omega": omega}

    def _carbonate_response(self, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Omega ``(B, *H, L)`` of every layer, its reference ``(B, 1, *H, L)`` and the growth
        factor ``(B, types, *H, L)`` (:func:`~ecocube.ocean.biology.co2_growth_factor` times
        :func:`~ecocube.ocean.biology.omega_growth_factor`). The references are the carbonate
        state of the run's first step."""
        from ecocube.ocean import biology

        state = self.carbonate_profile(y)
        omega, pco2 = state["omega"], state["pco2"]
        if self.reference is None:
            self.reference = (omega.unsqueeze(1), pco2.unsqueeze(1))
        omega_ref, pco2_ref = self.reference
        s, a = self.sensitivity, self.acid_adaptation
        factor = biology.co2_growth_factor(
            pco2.unsqueeze(1), pco2_ref, slope=self.co2_slope, sensitivity=s, adaptation=a
        ) * biology.omega_growth_factor(
            omega.unsqueeze(1),
            omega_ref,
            half_saturation=self.omega_half,
            sensitivity=s,
            adaptation=a,
        )
        return omega, omega_ref, factor

    def _calcite_cycle(self, y: Tensor, omega: Tensor, omega_ref: Tensor, growth: Tensor) -> Tensor:
        """Calcification (``pic_poc`` times the saturation factor times the carbon fixed,
        ``growth``, per type) and dissolution of the calcite present at the step's start, in
        place: each calcite carbon takes one DIC and two TA. Returns the calcite formed per
        layer (mmol m-3)."""
        import torch

        from ecocube.ocean import biology, carbonate

        factor = biology.calcification_factor(
            omega.unsqueeze(1),
            omega_ref,
            exponent=self.calc_exponent,
            half_saturation=self.calc_half,
            sensitivity=self.sensitivity,
            adaptation=self.acid_adaptation,
        )
        calc = (self.pic_poc * factor * growth).sum(1)
        pic = y[:, self.i_pic]
        rate = carbonate.calcite_dissolution_rate(omega, self.k_diss, self.n_diss, self.r_diss)
        diss = pic * -torch.expm1(-rate * self.dt)
        net = calc - diss
        y[:, self.i_pic] = pic + net
        y[:, self.i_dic] -= net
        y[:, self.i_talk] -= 2.0 * net
        return calc

    def surface_fluxes(
        self, y: Tensor, forcing: Mapping[str, Tensor]
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Air-sea CO2 flux into the top layer's DIC (Wanninkhof 2014), with ``pCO2`` and pH.

        The constants and the transfer velocity follow the SST once a day (at the day's first
        step); ``[H+]`` is warm-started from the previous step (3 Newton iterations).
        """
        import torch

        from ecocube.ocean import carbonate

        sal = self.parameters.physics.salinity
        t_s = y[:, self.i_temp, ..., 0]
        if self.consts is None:  # constants follow the SST once per day (|dT| < 0.3 K a day)
            self.consts = carbonate.equilibrium_constants(t_s, sal)
            # m s-1 * mol kg-1 atm-1 * kg m-3 * 1e3 mmol/mol: mmol m-2 s-1 atm-1
            self.k_gas = (
                carbonate.transfer_velocity(self.wind, t_s)
                * self.consts["k0"]
                * carbonate.RHO_SW
                * 1e3
            )
        consts = self.consts
        dic_s = y[:, self.i_dic, ..., 0]
        self.h_ion = carbonate.ph_total(
            dic_s / self.rho_kg,
            y[:, self.i_talk, ..., 0] / self.rho_kg,
            t_s,
            sal,
            h_guess=self.h_ion,
            iterations=3,
            constants=consts,
        )
        h_ion, k1, k2 = self.h_ion, consts["k1"], consts["k2"]
        co2_star = (dic_s / self.rho_kg) * h_ion**2 / (h_ion**2 + k1 * h_ion + k1 * k2)
        pco2_sea = co2_star / consts["k0"]
        if self.run.closed:
            flux = torch.zeros_like(pco2_sea)
        else:
            flux = self.k_gas * (self.co2_air - pco2_sea) * 1e-6  # uatm -> atm; mmol m-2 s-1
        diagnostics = {"fgco2": flux, "spco2": pco2_sea, "ph": -torch.log10(h_ion)}
        return {"dic": flux}, diagnostics

    def boundary_values(self, forcing: Mapping[str, Tensor]) -> dict[str, float | Tensor]:
        """Deep nitrate (the scenario's ``nutrient_supply``) and deep DIC."""
        return {"no3": self.n_deep, "dic": self.parameters.physics.dic_deep}

    def derived(self, name: str, y: Tensor) -> Tensor:
        """``chl`` (mg m-3, fixed Chl:N), ``nitrogen`` and ``carbon`` (all pools, calcite
        included, mmol m-3)."""
        if name == "chl":
            return (self.chl_n * y[:, self.i_phyn]).sum(1)
        if name == "nitrogen":
            return y[:, self.i_no3] + y[:, self.i_detn] + y[:, self.i_phyn].sum(1)
        if name == "carbon":
            carbon = y[:, self.i_dic] + y[:, self.i_detc] + y[:, self.i_phyc].sum(1)
            return carbon + y[:, self.i_pic] if self.acid else carbon
        return super().derived(name, y)
