"""Daily outputs of the full model: the output-variable table and the accumulator it drives.

Every output of :func:`ecocube.ocean.simulate` is an :class:`OutputVariable`: its dimensions, its
CF attributes, the model quantity it reads (``source``) and how a day of time steps turns into
one daily value (``reduce``). The :class:`DailyAccumulator` runs that table, so the time loop
holds no per-variable code and a new biogeochemistry or physical scheme adds outputs by declaring
them.

A ``source`` names, in this order of lookup:

- a tracer of the run (e.g. ``"dic"``, or ``"phyc"``, one slot per phytoplankton type): its
  concentration profile after the step's transport;
- a derived field of the biogeochemistry (:attr:`Biogeochemistry.derived_fields
  <ecocube.ocean.biogeochemistry.Biogeochemistry.derived_fields>`, e.g. chlorophyll), computed
  from the tracers after the transport;
- a step diagnostic that the biogeochemistry or the physical scheme returns from its step hooks
  (e.g. the air-sea flux ``"fgco2"`` or the boundary-layer depth ``"mlotst"``);
- a daily forcing series (:data:`~ecocube.ocean.simulate.FORCING_NAMES`, for ``"forcing"``).

The reductions (``s`` time steps a day of ``dt`` seconds, ``sum`` over the day's steps; depth
integrals use the physical scheme's :meth:`~ecocube.ocean.schemes.PhysicalScheme.layer_sum` and
:attr:`~ecocube.ocean.schemes.PhysicalScheme.content_scale`, i.e. ``sum_k C_k dz`` for the
column):

=================== ======================================================= =======
``reduce``          daily value                                             source
=================== ======================================================= =======
``"mean"``          ``sum / s``                                             any
``"flux"``          ``sum / s * 86400``: a per-second rate reported per day any
``"surface"``       ``sum[..., 0] / s``: the top layer's daily mean         profile
``"integral"``      depth integral of the daily-mean profile                profile
``"mean_integral"`` daily mean of the depth integral taken every step       profile
``"production"``    per-step amounts integrated over depth, per day         profile
``"end"``           value at the end of the day                             state
``"end_integral"``  depth integral at the end of the day                    state
``"forcing"``       the day's forcing value                                 forcing
=================== ======================================================= =======

``state``: a tracer or a derived field (not a step diagnostic); ``profile``: layers last.

``"integral"`` and ``"mean_integral"`` agree to round-off on fixed layers; they differ in where
the sum over layers is taken, which matters for layers whose thickness moves during a day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecocube.errors import InvalidInputError
from ecocube.ocean.variables import VARIABLES

if TYPE_CHECKING:
    from torch import Tensor

    from ecocube.ocean.biogeochemistry import Biogeochemistry, RunSetup
    from ecocube.ocean.schemes import PhysicalScheme

__all__ = [
    "OUTPUT_VARIABLES",
    "REDUCTIONS",
    "DailyAccumulator",
    "OutputVariable",
    "output_dims",
    "run_outputs",
]

SECONDS_PER_DAY = 86400.0

#: Valid ``reduce`` values of an :class:`OutputVariable` (see the module docstring).
REDUCTIONS: tuple[str, ...] = (
    "mean",
    "flux",
    "surface",
    "integral",
    "mean_integral",
    "production",
    "end",
    "end_integral",
    "forcing",
)


@dataclass(frozen=True)
class OutputVariable:
    """One daily output variable of the full model.

    Attributes
    ----------
    dims
        Dimensions after ``(scenario, time)``, e.g. ``("phyto_type",)`` or ``("depth",)``; a
        scheme with horizontal cells inserts its horizontal dimensions before ``depth`` (or at
        the end). Sizes come from the components' ``dims``.
    attrs
        CF attributes (``standard_name`` where CF has one, ``long_name``, ``units``...).
    source
        The model quantity it reads: a tracer, a derived field, a step diagnostic or a forcing
        series (see the module docstring).
    reduce
        How the day's steps make the daily value, one of :data:`REDUCTIONS`.
    """

    dims: tuple[str, ...]
    attrs: Mapping[str, str]
    source: str
    reduce: str = "mean"

    def __post_init__(self) -> None:
        if self.reduce not in REDUCTIONS:
            raise InvalidInputError(
                f"OutputVariable(reduce={self.reduce!r}) is not a reduction; valid: "
                f"{list(REDUCTIONS)}"
            )


#: CF standard name of ``fgco2`` in mmol m-2 d-1: a *mole* flux (canonical units mol m-2 s-1).
#: CMIP's ``surface_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon`` is a mass flux
#: (kg m-2 s-1), inconsistent with molar units; files carrying it are still read.
FGCO2_STANDARD_NAME = VARIABLES["fgco2"].standard_name

_OV = OutputVariable

#: The outputs of the default model (the column with :class:`~ecocube.ocean.phyto_carbonate.
#: PhytoCarbonate`), in dataset order: name -> :class:`OutputVariable`. Components pick theirs
#: from here; a run's outputs keep this order, other outputs follow in declaration order.
OUTPUT_VARIABLES: Mapping[str, OutputVariable] = {
    "phyc": _OV(
        ("phyto_type",),
        {
            "standard_name": "mole_concentration_of_phytoplankton_expressed_as_carbon_in_sea_water",
            "long_name": "Surface phytoplankton carbon per type",
            "units": "mmol m-3",
        },
        "phyc",
        "surface",
    ),
    "intphyc": _OV(
        ("phyto_type",),
        {
            "long_name": "Depth-integrated phytoplankton carbon per type",
            "units": "mmol m-2",
            "comment": "integral over the water column of phyc",
        },
        "phyc",
        "mean_integral",
    ),
    "chl": _OV(
        (),
        {
            "standard_name": "mass_concentration_of_phytoplankton_expressed_as_chlorophyll_in_sea_water",
            "long_name": "Surface total chlorophyll",
            "units": "mg m-3",
        },
        "chl",
        "surface",
    ),
    "intchl": _OV(
        (),
        {"long_name": "Depth-integrated total chlorophyll", "units": "mg m-2"},
        "chl",
        "integral",
    ),
    "dissic": _OV(
        (),
        {
            "standard_name": "mole_concentration_of_dissolved_inorganic_carbon_in_sea_water",
            "long_name": "Surface dissolved inorganic carbon",
            "units": "mmol m-3",
        },
        "dic",
        "surface",
    ),
    "intdic": _OV(
        (),
        {"long_name": "Depth-integrated dissolved inorganic carbon", "units": "mmol m-2"},
        "dic",
        "integral",
    ),
    "talk": _OV(
        (),
        {
            "standard_name": "sea_water_alkalinity_expressed_as_mole_equivalent",
            "long_name": "Surface total alkalinity",
            "units": "mmol m-3",
        },
        "talk",
        "surface",
    ),
    "no3": _OV(
        (),
        {
            "standard_name": "mole_concentration_of_nitrate_in_sea_water",
            "long_name": "Surface nitrate",
            "units": "mmol m-3",
        },
        "no3",
        "surface",
    ),
    "calc": _OV(
        (),
        {
            "standard_name": VARIABLES["calc"].standard_name,
            "long_name": "Surface calcite (particulate inorganic carbon)",
            "units": "mmol m-3",
        },
        "pic",
        "surface",
    ),
    "spco2": _OV(
        (),
        {
            "standard_name": "surface_partial_pressure_of_carbon_dioxide_in_sea_water",
            "long_name": "Surface ocean pCO2",
            "units": "uatm",
        },
        "spco2",
    ),
    "ph": _OV(
        (),
        {
            "standard_name": "sea_water_ph_reported_on_total_scale",
            "long_name": "Surface pH (total scale)",
            "units": "1",
        },
        "ph",
    ),
    "omega_calcite": _OV(
        (),
        {
            "long_name": "Surface calcite saturation state",
            "units": "1",
            "comment": VARIABLES["omega_calcite"].comment,
        },
        "omega",
        "surface",
    ),
    "fgco2": _OV(
        (),
        {
            "standard_name": FGCO2_STANDARD_NAME,
            "long_name": "Air-sea CO2 flux (positive into the ocean)",
            "units": "mmol m-2 d-1",
            "comment": "CF sign convention: positive downward (ocean uptake); 1 mmol C = 12.011 mg",
        },
        "fgco2",
        "flux",
    ),
    "intpp": _OV(
        (),
        {
            "standard_name": "net_primary_mole_productivity_of_biomass_expressed_as_carbon_by_"
            "phytoplankton",
            "long_name": "Depth-integrated net primary production",
            "units": "mmol m-2 d-1",
        },
        "pp",
        "production",
    ),
    "intpcalcite": _OV(
        (),
        {
            "standard_name": VARIABLES["intpcalcite"].standard_name,
            "long_name": "Depth-integrated calcite production",
            "units": "mmol m-2 d-1",
        },
        "pcalc",
        "production",
    ),
    "tos": _OV(
        (),
        {
            "standard_name": "sea_surface_temperature",
            "long_name": "Sea surface temperature",
            "units": "degC",
        },
        "temperature",
        "surface",
    ),
    "thetao": _OV(
        ("depth",),
        {
            "standard_name": "sea_water_potential_temperature",
            "long_name": "Sea water temperature",
            "units": "degC",
        },
        "temperature",
    ),
    "mlotst": _OV(
        (),
        {
            "standard_name": "ocean_mixed_layer_thickness_defined_by_mixing_scheme",
            "long_name": "Boundary-layer depth (KPP-lite)",
            "units": "m",
        },
        "mlotst",
    ),
    "pco2atm": _OV(
        (), {"long_name": "Atmospheric CO2 mole fraction", "units": "ppm"}, "co2", "forcing"
    ),
    "total_nitrogen": _OV(
        (),
        {"long_name": "Column total nitrogen (end of day)", "units": "mmol m-2"},
        "nitrogen",
        "end_integral",
    ),
    "total_carbon": _OV(
        (),
        {"long_name": "Column total carbon (end of day)", "units": "mmol m-2"},
        "carbon",
        "end_integral",
    ),
}


def run_outputs(scheme: PhysicalScheme, bgc: Biogeochemistry) -> dict[str, OutputVariable]:
    """The outputs of a scheme and a biogeochemistry run together, in dataset order.

    Names of :data:`OUTPUT_VARIABLES` come first in its order, then the others as declared
    (the biogeochemistry's before the scheme's).

    Raises
    ------
    InvalidInputError
        If both declare an output of the same name.
    """
    ours, theirs = dict(bgc.outputs), dict(scheme.outputs)
    both = sorted(set(ours) & set(theirs))
    if both:
        raise InvalidInputError(
            f"outputs {both} are declared by both the biogeochemistry "
            f"{type(bgc).__name__} and the physical scheme {type(scheme).__name__}; "
            "rename one of them"
        )
    merged = {**ours, **theirs}
    known = [n for n in OUTPUT_VARIABLES if n in merged]
    return {n: merged[n] for n in known + [n for n in merged if n not in OUTPUT_VARIABLES]}


class DailyAccumulator:
    """Turns the state after every time step into the daily values of a table of outputs.

    Parameters
    ----------
    outputs
        Name -> :class:`OutputVariable` (see :func:`run_outputs`).
    run
        The run's setup (tracer layout, time step, steps per day, days, device).
    scheme, bgc
        The physical scheme (depth integrals, its diagnostics) and the biogeochemistry (derived
        fields, its diagnostics).
    sizes
        Size of every output dimension (``{"phyto_type": 3, "depth": 20}``); horizontal
        dimensions of the scheme included.

    Notes
    -----
    Each step, :meth:`add` sums one sample per (source, stage) that some output needs: the
    profile, the top layer or the depth integral. At the end of a day :meth:`finish_day` writes
    the daily value of every output into ``values[name][:, day]``, shape
    ``(B, days, *dims)``.
    """

    def __init__(
        self,
        outputs: Mapping[str, OutputVariable],
        *,
        run: RunSetup,
        scheme: PhysicalScheme,
        bgc: Biogeochemistry,
        sizes: Mapping[str, int],
        diagnostics: Sequence[str],
    ) -> None:
        import torch

        self._run, self._scheme, self._bgc = run, scheme, bgc
        self._steps = float(run.steps_per_day)
        kinds = _source_kinds(outputs, run, bgc, diagnostics)
        stages: dict[str, set[str]] = {}
        for var in outputs.values():
            stage = _STAGE[var.reduce]
            if stage is not None:
                stages.setdefault(var.source, set()).add(stage)
        # the top layer of a source whose whole profile is summed is read from that sum
        for wanted in stages.values():
            if "surface" in wanted and "value" in wanted:
                wanted.discard("surface")
        self._samplers = [
            ((source, stage), self._sampler(source, stage, kinds[source]))
            for source, wanted in stages.items()
            for stage in sorted(wanted)
        ]
        self._stages = stages
        self._kinds = kinds
        self.outputs = dict(outputs)
        self.values: dict[str, Tensor] = {}
        for name, var in outputs.items():
            shape = [sizes[d] for d in output_dims(var.dims, scheme.horizontal_dims)]
            self.values[name] = torch.empty(
                run.n_scenarios, run.n_days, *shape, dtype=torch.float64, device=run.device
            )
        self._sums: dict[tuple[str, str], Tensor] = {}

    def _sampler(self, source: str, stage: str, kind: str) -> Callable[..., Tensor]:
        scheme = self._scheme
        if kind == "tracer":
            index = self._run.layout.index(source)

            def profile(y: Tensor, diags: Mapping[str, Tensor], cache: dict) -> Tensor:
                return y[:, index]

        elif kind == "derived":
            derive = self._bgc.derived

            def profile(y: Tensor, diags: Mapping[str, Tensor], cache: dict) -> Tensor:
                if source not in cache:
                    cache[source] = derive(source, y)
                return cache[source]

        else:

            def profile(y: Tensor, diags: Mapping[str, Tensor], cache: dict) -> Tensor:
                return diags[source]

        if stage == "surface":
            return lambda y, diags, cache: profile(y, diags, cache)[..., 0]
        if stage == "column":
            return lambda y, diags, cache: scheme.layer_sum(profile(y, diags, cache))
        return profile

    def start_day(self) -> None:
        """Forget the previous day's sums."""
        self._sums = {}

    def add(self, y: Tensor, diagnostics: Mapping[str, Tensor]) -> None:
        """Add the samples of one step: the tracers ``y`` after transport and the step's
        diagnostics (name -> tensor)."""
        sums = self._sums
        cache: dict[str, Tensor] = {}
        for key, sample in self._samplers:
            value = sample(y, diagnostics, cache)
            # the day's first sample may view the state, which the next step changes in place
            sums[key] = sums[key] + value if key in sums else value.clone()

    def finish_day(self, day: int, y: Tensor, forcing: Mapping[str, Tensor]) -> None:
        """Write every output's value of ``day`` from the day's sums and the final state ``y``."""
        s, sums, scheme = self._steps, self._sums, self._scheme
        dt = self._run.dt
        scale = scheme.content_scale
        for name, var in self.outputs.items():
            src, how = var.source, var.reduce
            if how == "mean":
                value = sums[src, "value"] / s
            elif how == "flux":
                value = sums[src, "value"] / s * SECONDS_PER_DAY
            elif how == "surface":
                key = (src, "value") if "value" in self._stages[src] else (src, "surface")
                total = sums[key]
                value = (total[..., 0] if key[1] == "value" else total) / s
            elif how == "integral":
                value = scheme.layer_sum(sums[src, "value"]) * scale / s
            elif how == "mean_integral":
                value = sums[src, "column"] * scale / s
            elif how == "production":
                value = sums[src, "column"] * scale / dt * SECONDS_PER_DAY / s
            elif how == "forcing":
                value = forcing[src]
            else:  # "end", "end_integral"
                now = self._now(src, y)
                value = scheme.layer_sum(now) * scale if how == "end_integral" else now
            self.values[name][:, day] = value

    def _now(self, source: str, y: Tensor) -> Tensor:
        """The value of a tracer or derived field now (end-of-day outputs read no diagnostic)."""
        if self._kinds[source] == "tracer":
            return y[:, self._run.layout.index(source)]
        return self._bgc.derived(source, y)


#: Per-step sample a reduction needs: the profile (or whole value), its top layer, its depth
#: integral, or none (end-of-day and forcing values).
_STAGE: dict[str, str | None] = {
    "mean": "value",
    "flux": "value",
    "surface": "surface",
    "integral": "value",
    "mean_integral": "column",
    "production": "column",
    "end": None,
    "end_integral": None,
    "forcing": None,
}


def output_dims(dims: tuple[str, ...], horizontal: tuple[str, ...]) -> tuple[str, ...]:
    """An output's dims after ``(scenario, time)`` with a scheme's horizontal dims inserted.

    Horizontal dims go before ``depth``, else last: ``("phyto_type",)`` with ``("x",)`` gives
    ``("phyto_type", "x")``, ``("depth",)`` gives ``("x", "depth")``.
    """
    if not horizontal:
        return dims
    if "depth" in dims:
        at = dims.index("depth")
        return (*dims[:at], *horizontal, *dims[at:])
    return (*dims, *horizontal)


def _source_kinds(
    outputs: Mapping[str, OutputVariable],
    run: RunSetup,
    bgc: Biogeochemistry,
    diagnostics: Sequence[str],
) -> dict[str, str]:
    """Resolve each output's source to ``tracer``, ``derived``, ``diagnostic`` or ``forcing``."""
    from ecocube.ocean.simulate import FORCING_NAMES

    derived = set(bgc.derived_fields)
    kinds: dict[str, str] = {}
    for name, var in outputs.items():
        src = var.source
        if var.reduce == "forcing":
            if src not in FORCING_NAMES:
                raise InvalidInputError(
                    f"output {name!r} reads the forcing {src!r}; valid forcing names: "
                    f"{sorted(FORCING_NAMES)}"
                )
            kind = "forcing"
        elif src in run.layout.names:
            kind = "tracer"
        elif src in derived:
            kind = "derived"
        elif src in diagnostics:
            kind = "diagnostic"
            if var.reduce in ("end", "end_integral"):
                raise InvalidInputError(
                    f"output {name!r} takes the end-of-day value of the step diagnostic "
                    f"{src!r}; use reduce='mean' (or read a tracer or a derived field)"
                )
        else:
            raise InvalidInputError(
                f"output {name!r} reads {src!r}, which is no tracer ({list(run.layout.names)}), "
                f"derived field ({sorted(derived)}) or step diagnostic ({sorted(diagnostics)}) "
                "of this run; declare it or read one of those"
            )
        kinds[src] = kind
    return kinds
