"""The biogeochemistry interface of the full model: tracers, sources and sinks, diagnostics.

After Oceananigans' biogeochemistry interface, a :class:`Biogeochemistry` declares its tracers
(name, units, sinking speed), builds their initial values, changes them over one time step
(sources and sinks, explicit, in place), gives the air-sea fluxes into the top layer and the
concentrations of water supplied from outside the domain, and declares its output variables.
A physical scheme (:class:`~ecocube.ocean.schemes.PhysicalScheme`) moves the tracers;
:func:`~ecocube.ocean.simulate` runs the two together and a
:class:`~ecocube.ocean.diagnostics.DailyAccumulator` makes the daily outputs.

State layout
------------
All tracers of a run live in one float64 tensor ``y`` of shape ``(B, V, *H, L)``: ``B``
scenarios, ``V`` tracer slots (the scheme's tracers first, e.g. temperature, then the
biogeochemistry's, in declaration order; a tracer with components takes one slot per component),
``H`` horizontal cells (none for the column) and ``L`` layers, **surface first** (index 0 of the
last axis is the top layer). :attr:`RunSetup.layout` maps a tracer name to its index in ``V``:
``y[:, layout.index("no3")]`` is ``(B, *H, L)``, ``y[:, layout.index("phyc")]`` is
``(B, n_types, *H, L)``. Layer thicknesses are :attr:`RunSetup.thickness` (m): a number for
equal layers, or a tensor broadcastable to ``(B, *H, L)``.

One time step of :func:`~ecocube.ocean.simulate` (operator splitting)
----------------------------------------------------------------------
1. the scheme's explicit surface forcing (heat);
2. :meth:`Biogeochemistry.sources` (in place; returns step diagnostics);
3. :meth:`Biogeochemistry.surface_fluxes`, applied by the scheme to its top layer, and the
   scheme's restoring towards :meth:`Biogeochemistry.boundary_values` (both skipped when the
   run is ``closed``);
4. the scheme's transport (mixing and sinking), which replaces ``y``;
5. the accumulator samples the outputs.

Writing one
-----------
Subclass :class:`Biogeochemistry`, declare :attr:`~Biogeochemistry.tracers` and fill
:meth:`~Biogeochemistry.initial_fields` and :meth:`~Biogeochemistry.sources`; the other hooks
have defaults (no fluxes, no supply from outside, no outputs). :func:`simulate` calls the hooks
on a shallow copy of the object, so :meth:`~Biogeochemistry.setup` may keep per-run values
(tensors on the run's device, indices of its tracers) on ``self``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecocube.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch
    from torch import Tensor

    from ecocube.ocean.diagnostics import OutputVariable
    from ecocube.ocean.parameters import ModelParameters

__all__ = ["Biogeochemistry", "ModelComponent", "RunSetup", "Tracer", "TracerLayout"]


@dataclass(frozen=True)
class Tracer:
    """One tracer: a concentration carried by the water and moved by the physical scheme.

    Attributes
    ----------
    name
        Identifier, unique in a run (``"no3"``); the key of ``initial`` in
        :func:`~ecocube.ocean.simulate` and of an output's ``source``.
    units
        Units of the concentration (UDUNITS, e.g. ``"mmol m-3"``).
    long_name
        Human-readable description.
    sinking
        Sinking speed (m s-1, downward, >= 0) relative to the water; 0 for dissolved tracers.
    components
        Names of its components when it is one concentration per kind (e.g. per phytoplankton
        type): one slot per component in the state; ``()`` for a single slot.
    variable
        Name in :data:`ecocube.ocean.variables.VARIABLES` whose plausible range checks an
        initial value given by the user (``None`` skips the check).
    nonnegative
        Whether a concentration below zero is refused as an initial value.
    """

    name: str
    units: str
    long_name: str = ""
    sinking: float = 0.0
    components: tuple[str, ...] = ()
    variable: str | None = None
    nonnegative: bool = True

    @property
    def size(self) -> int:
        """Number of slots the tracer takes in the state (its components, or one)."""
        return max(1, len(self.components))


class TracerLayout:
    """Where each tracer of a run sits in the state tensor ``y`` (axis 1).

    Parameters
    ----------
    groups
        ``(owner, tracers)`` pairs in state order, e.g. ``[("ColumnScheme", (temperature,)),
        ("PhytoCarbonate", (no3, dic, ...))]``; ``owner`` names who declared them in errors.

    Raises
    ------
    InvalidInputError
        A group with no tracers or that is no tuple of them, an entry that is not a
        :class:`Tracer`, a name that is no identifier or is declared twice, a sinking speed that
        is negative or not finite, or components that are empty strings or repeated.
    """

    def __init__(self, groups: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self.tracers: tuple[Tracer, ...] = ()
        self._index: dict[str, int | slice] = {}
        owners: dict[str, str] = {}
        start = 0
        for owner, tracers in groups:
            if isinstance(tracers, Tracer) or not isinstance(tracers, Sequence):
                raise InvalidInputError(
                    f"{owner}.tracers={tracers!r} must be a tuple of Tracer objects; declare "
                    "e.g. tracers = (Tracer('no3', 'mmol m-3'),)"
                )
            if not tracers:
                raise InvalidInputError(
                    f"{owner} declares no tracers; declare at least one Tracer(name, units)"
                )
            for pos, tracer in enumerate(tracers):
                _check_tracer(owner, pos, tracer, owners)
                owners[tracer.name] = owner
                n = tracer.size
                self._index[tracer.name] = (
                    start if not tracer.components else slice(start, start + n)
                )
                start += n
                self.tracers += (tracer,)
        self.n_slots = start

    @property
    def names(self) -> tuple[str, ...]:
        """Tracer names in state order."""
        return tuple(t.name for t in self.tracers)

    def index(self, name: str) -> int | slice:
        """Index of tracer ``name`` along axis 1 of the state (a slice for one with components).

        Raises
        ------
        InvalidInputError
            If no tracer of the run is called ``name``.
        """
        try:
            return self._index[name]
        except KeyError:
            raise InvalidInputError(
                f"no tracer {name!r} in this run; tracers: {list(self.names)}"
            ) from None

    def tracer(self, name: str) -> Tracer:
        """The :class:`Tracer` called ``name`` (see :meth:`index` for the error)."""
        self.index(name)
        return next(t for t in self.tracers if t.name == name)

    @property
    def sinking(self) -> list[float]:
        """Sinking speed (m s-1) of every slot, in state order."""
        return [t.sinking for t in self.tracers for _ in range(t.size)]


def _check_tracer(owner: str, pos: int, tracer: Any, seen: Mapping[str, str]) -> None:
    """Raise a clear error for a tracer declaration that a run cannot use."""
    if not isinstance(tracer, Tracer):
        raise InvalidInputError(
            f"{owner}.tracers[{pos}]={tracer!r} is not a Tracer; declare each tracer as "
            "ecocube.ocean.biogeochemistry.Tracer(name, units, ...)"
        )
    name = tracer.name
    if not (isinstance(name, str) and name.isidentifier()):
        raise InvalidInputError(
            f"{owner}.tracers[{pos}] has name={name!r}; a tracer name must be a Python "
            "identifier such as 'no3'"
        )
    if name in seen:
        where = "twice" if seen[name] == owner else f"by {seen[name]} too"
        raise InvalidInputError(
            f"tracer {name!r} of {owner} is declared {where}; give every tracer of a run a "
            "unique name"
        )
    speed = tracer.sinking
    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed >= 0):
        raise InvalidInputError(
            f"tracer {name!r} of {owner} has sinking={speed!r} m s-1; a sinking speed must be "
            "a finite number >= 0 (m s-1, downward)"
        )
    comps = tracer.components
    if any(not (isinstance(c, str) and c) for c in comps) or len(set(comps)) != len(comps):
        raise InvalidInputError(
            f"tracer {name!r} of {owner} has components={comps!r}; give distinct, non-empty "
            "names (or none for a single concentration)"
        )


@dataclass(frozen=True)
class RunSetup:
    """What the components of one run share: scenarios, grid, time step, tracer layout.

    Attributes
    ----------
    table
        Validated scenarios, one row each (``B`` rows).
    parameters
        Model parameters of the run.
    layout
        Index of every tracer in the state (:class:`TracerLayout`).
    depth
        Depth of the layer centres (m, positive down), shape ``(*H, L)``.
    thickness
        Layer thickness (m): a number, or a tensor broadcastable to ``(B, *H, L)``.
    space
        Shape ``(*H, L)`` of one tracer of one scenario.
    dt
        Time step (s).
    steps_per_day, n_days
        Time steps per day and simulated days.
    closed
        No air-sea flux and no supply from outside the domain (conservation runs).
    device
        Torch device of every tensor of the run.
    """

    table: pd.DataFrame
    parameters: ModelParameters
    layout: TracerLayout
    depth: np.ndarray
    thickness: float | Tensor
    space: tuple[int, ...]
    dt: float
    steps_per_day: int
    n_days: int
    closed: bool
    device: torch.device

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios ``B``."""
        return len(self.table)

    def per_type(self, values: Sequence[float]) -> Tensor:
        """A float64 tensor of one value per component, shaped ``(1, n, 1, ..., 1)`` to broadcast
        against a tracer with components, ``(B, n, *H, L)``."""
        import torch

        out = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        return out.reshape(1, len(out), *([1] * len(self.space)))


class ModelComponent(ABC):
    """What a physical scheme and a biogeochemistry both declare: tracers, outputs, a setup.

    Subclass :class:`Biogeochemistry` or :class:`~ecocube.ocean.schemes.PhysicalScheme`, not
    this class.
    """

    #: Short description for the dataset's title.
    title: str = "a custom component"

    #: The run this object was set up for (set by :meth:`setup`).
    run: RunSetup

    @property
    @abstractmethod
    def tracers(self) -> tuple[Tracer, ...]:
        """The tracers it adds to the run, in state order."""

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        """Output variables that come from it: name -> :class:`OutputVariable`."""
        return {}

    @property
    def dims(self) -> Mapping[str, int]:
        """Sizes of the output dimensions it adds (e.g. ``{"phyto_type": 3}``)."""
        return {}

    @property
    def diagnostic_names(self) -> tuple[str, ...]:
        """Names of the step diagnostics its step hooks return (outputs may read them)."""
        return ()

    def coords(self) -> dict[str, Any]:
        """Coordinates of the output dataset it adds, name -> ``xarray`` variable tuple."""
        return {}

    @abstractmethod
    def initial_fields(self, run: RunSetup, forcing: Mapping[str, Tensor]) -> dict[str, Any]:
        """Default initial values of the fields a user may override with ``initial=``.

        Parameters
        ----------
        run
            The run (scenarios, layer depths, layout).
        forcing
            The whole daily forcing, name -> ``(B, days)`` tensor.

        Returns
        -------
        dict
            Name -> array broadcastable to ``(B, *space)`` (``(B, n, *space)`` for a tracer
            with ``n`` components), in the tracer's units. A name that is a tracer is checked
            like that tracer (non-negative, plausible range).
        """

    def setup(self, run: RunSetup) -> None:
        """Prepare a run: keep ``run``, build per-run tensors on ``run.device``.

        Called once, on the run's own copy of the object, before the first step.
        """
        self.run = run


class Biogeochemistry(ModelComponent):
    """Base class of a biogeochemistry: declare tracers, fill the hooks.

    Required: :attr:`tracers`, :meth:`initial_fields`, :meth:`sources`. Every hook that takes
    ``y`` receives the whole state ``(B, V, *H, L)`` (see the module docstring) and finds its
    tracers with ``self.run.layout.index(name)`` (:meth:`setup` keeps ``run``). ``forcing`` is
    the day's forcing, name -> ``(B,)`` tensor: ``temperature`` (degC), ``wind`` (m s-1),
    ``shortwave`` (W m-2), ``co2`` (ppm) and ``warming_now`` (degC). Step diagnostics
    (:attr:`diagnostic_names`) come from :meth:`sources` and :meth:`surface_fluxes`.
    """

    #: Short description for the dataset's title ("... with <title>").
    title: str = "a custom biogeochemistry"

    @property
    def derived_fields(self) -> tuple[str, ...]:
        """Names of the fields :meth:`derived` computes (outputs may read them)."""
        return ()

    def initial_tracers(self, run: RunSetup, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Initial value of every tracer from the (possibly user-set) initial fields.

        The default takes each tracer from the field of the same name; override it for tracers
        derived from others (e.g. nitrogen from carbon and a quota).
        """
        return {t.name: fields[t.name] for t in self.tracers}

    def start_day(self, forcing: Mapping[str, Tensor]) -> None:
        """Update what changes once a day (light, temperature traits...) from the day's forcing."""

    @abstractmethod
    def sources(self, y: Tensor, forcing: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Apply the sources and sinks of one time step ``run.dt`` to ``y``, in place.

        Returns
        -------
        dict
            Step diagnostics, name -> tensor (e.g. primary production per layer), that outputs
            may read; names listed in :attr:`diagnostic_names`.
        """

    def surface_fluxes(
        self, y: Tensor, forcing: Mapping[str, Tensor]
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Fluxes into the top layer (air-sea exchange) for this step, and step diagnostics.

        Returns
        -------
        fluxes, diagnostics
            ``fluxes``: tracer name -> flux into the ocean, shape ``(B, *H)``, in the tracer's
            units times m s-1 (e.g. mmol m-2 s-1); the scheme adds ``flux dt / dz_top`` to the
            top layer unless the run is closed (then report a zero flux). ``diagnostics`` as in
            :meth:`sources`.
        """
        return {}, {}

    def boundary_values(self, forcing: Mapping[str, Tensor]) -> dict[str, float | Tensor]:
        """Concentrations of the water supplied from outside the domain, for this day.

        Tracer name -> a number or a ``(B,)`` tensor; the column restores its deep layers
        towards them (lateral and upwelling supply), unless the run is closed. Tracers left out
        get no supply.
        """
        return {}

    def derived(self, name: str, y: Tensor) -> Tensor:
        """A field computed from the tracers, e.g. chlorophyll; ``name`` in :attr:`derived_fields`.

        Raises
        ------
        InvalidInputError
            If ``name`` is not one of :attr:`derived_fields`.
        """
        raise InvalidInputError(
            f"{type(self).__name__} derives no field {name!r}; it derives "
            f"{list(self.derived_fields)}"
        )
