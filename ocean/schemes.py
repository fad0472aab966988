"""Physical schemes of the full model: what moves the tracers of a biogeochemistry.

A :class:`PhysicalScheme` owns the grid (layers, horizontal cells), its own tracers
(temperature), the explicit surface forcing, the application of a biogeochemistry's surface
fluxes and deep/lateral supply, and the transport (mixing, sinking; advection for a basin).
:class:`ColumnScheme` is the 1-D water column of :mod:`ecocube.ocean.physics`: Haney heat
restoring, restoring of the deep layers, KPP-lite implicit mixing and upwind sinking.

State layout: ``(B, V, *H, L)``, layers last and surface first (see
:mod:`ecocube.ocean.biogeochemistry`); a scheme with horizontal cells ``H`` names them in
:attr:`PhysicalScheme.horizontal_dims` and gives a layer thickness broadcastable to
``(B, *H, L)``.
"""

from __future__ import annotations

import copy
import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.errors import InvalidInputError
from ecocube.ocean.biogeochemistry import ModelComponent, RunSetup, Tracer
from ecocube.ocean.diagnostics import OUTPUT_VARIABLES, OutputVariable
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters, PhysicsParameters

if TYPE_CHECKING:
    import pandas as pd
    from torch import Tensor

__all__ = ["PHYSICAL_SCHEMES", "ColumnScheme", "PhysicalScheme", "physical_scheme"]

SECONDS_PER_DAY = 86400.0


class PhysicalScheme(ModelComponent):
    """Base class of a physical scheme: grid, physical tracers, forcing and transport.

    :func:`~ecocube.ocean.simulate` calls, every step, :meth:`surface_forcing`, then (after the
    biogeochemistry's sources) :meth:`apply_surface_fluxes` and :meth:`restore` unless the run
    is closed, then :meth:`transport`. ``forcing`` is the day's forcing, name -> ``(B,)``
    tensor (see :class:`~ecocube.ocean.biogeochemistry.Biogeochemistry`). Its tracers (e.g.
    temperature) come first in the state; its step diagnostics come from :meth:`transport`.
    """

    #: Name of the scheme (the ``physics=`` value of :func:`~ecocube.ocean.simulate`).
    name: str = "custom"
    #: Short description for the dataset's title.
    title: str = "a custom physical scheme"
    #: Horizontal dimensions of its grid, outermost first (``()`` for a column).
    horizontal_dims: tuple[str, ...] = ()

    @property
    @abstractmethod
    def depth(self) -> np.ndarray:
        """Depth of the layer centres (m, positive down), shape ``(*H, L)``."""

    @property
    @abstractmethod
    def thickness(self) -> float | Tensor:
        """Layer thickness (m): a number, or a tensor broadcastable to ``(B, *H, L)``."""

    @property
    def space(self) -> tuple[int, ...]:
        """Shape ``(*H, L)`` of one tracer of one scenario."""
        return tuple(self.depth.shape)

    @property
    def dims(self) -> Mapping[str, int]:
        """Sizes of its output dimensions (``{"depth": L}`` plus the horizontal ones)."""
        return {
            "depth": self.space[-1],
            **dict(zip(self.horizontal_dims, self.space[:-1], strict=True)),
        }

    @property
    def content_scale(self) -> float:
        """Factor turning :meth:`layer_sum` into a depth integral (m, or 1)."""
        return 1.0

    def layer_sum(self, values: Tensor) -> Tensor:
        """Sum over the layers (last axis) such that ``layer_sum(c) * content_scale`` is the
        depth integral of the concentration ``c`` (per m2)."""
        return (values * self.thickness).sum(-1)

    def attrs(self) -> dict[str, Any]:
        """Attributes of the output dataset it adds (grid description)."""
        return {}

    def start_day(
        self, forcing: Mapping[str, Tensor], boundary: Mapping[str, float | Tensor]
    ) -> None:
        """Take the day's forcing and the biogeochemistry's boundary values (tracer name ->
        concentration of the water supplied from outside)."""

    def surface_forcing(self, y: Tensor) -> None:
        """Explicit forcing of its own tracers at the surface (heat), in place."""

    @abstractmethod
    def apply_surface_fluxes(self, y: Tensor, fluxes: Mapping[str, Tensor]) -> None:
        """Add ``flux dt / dz_top`` of each flux (tracer name -> ``(B, *H)``, per m2 per s) to
        the top layer, in place."""

    @property
    def stability_thickness(self) -> float:
        """Thickness (m) of the top layer that the explicit limits of
        :func:`~ecocube.ocean.simulate.check_stability` are checked with (the thinnest)."""
        return float(np.min(np.asarray(self.thickness)))

    def bind(self, n_scenarios: int, device: Any) -> None:
        """Called before the run's setup; a scheme whose layers move allocates its
        thickness tensor ``(B, *H, L)`` here (the one :attr:`RunSetup.thickness` holds)."""

    def restore(self, y: Tensor) -> None:
        """Supply from outside the domain (deep restoring, open boundaries), in place."""

    @abstractmethod
    def transport(self, y: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Move every tracer over one step; return the new state and step diagnostics."""


def _deep_temperature(table: pd.DataFrame, phys: PhysicsParameters) -> np.ndarray:
    """Temperature of the deep water (degC), ``(B, 1)``: formed by the winter convection."""
    return phys.t_mean - table["seasonal_amplitude"].to_numpy()[:, None] - phys.deep_offset


class ColumnScheme(PhysicalScheme):
    """The 1-D water column (:mod:`ecocube.ocean.physics`): ``n_layers`` equal layers.

    Per step: Haney restoring of the top layer's temperature to the day's forcing temperature;
    surface fluxes into the top layer; restoring (``relax_deep_days``) of the layers below
    ``deep_restore_depth`` (at least the bottom one) towards the deep temperature and the
    biogeochemistry's boundary values; backward-Euler KPP-lite mixing and upwind sinking with
    closed ends (:func:`~ecocube.ocean.physics.implicit_column_step`). Step diagnostic:
    ``mlotst``, the boundary-layer depth (m).

    Parameters
    ----------
    physics
        Water column constants (depth, mixing, heat exchange, deep water).
    n_layers
        Number of equal layers (>= 3).
    """

    name = "column"
    title = "1-D water column"

    def __init__(
        self, physics: PhysicsParameters = DEFAULT_PARAMETERS.physics, n_layers: int = 20
    ) -> None:
        if int(n_layers) != n_layers or n_layers < 3:
            raise InvalidInputError(f"n_layers={n_layers!r} must be an integer >= 3")
        self.physics = physics
        self.n_layers = int(n_layers)
        self.dz = physics.depth / self.n_layers

    @property
    def tracers(self) -> tuple[Tracer, ...]:
        """``temperature`` (degC)."""
        return (Tracer("temperature", "degC", "Sea water temperature", nonnegative=False),)

    @property
    def outputs(self) -> Mapping[str, OutputVariable]:
        """``tos``, ``thetao``, ``mlotst`` of :data:`~ecocube.ocean.diagnostics.OUTPUT_VARIABLES`."""
        return {name: OUTPUT_VARIABLES[name] for name in ("tos", "thetao", "mlotst")}

    @property
    def depth(self) -> np.ndarray:
        """Layer centres ``(k + 1/2) dz`` (m), shape ``(L,)``."""
        return (np.arange(self.n_layers) + 0.5) * self.dz

    @property
    def thickness(self) -> float:
        """``dz = depth / n_layers`` (m)."""
        return self.dz

    @property
    def content_scale(self) -> float:
        """``dz`` (m): equal layers are summed first, then scaled."""
        return self.dz

    def layer_sum(self, values: Tensor) -> Tensor:
        """Plain sum over the layers (times :attr:`content_scale` = ``dz``: the integral)."""
        return values.sum(-1)

    @property
    def diagnostic_names(self) -> tuple[str, ...]:
        """``mlotst``, the boundary-layer depth (m)."""
        return ("mlotst",)

    def coords(self) -> dict[str, Any]:
        """``depth`` of the layer centres (m, positive down)."""
        return {
            "depth": (
                "depth",
                self.depth,
                {
                    "standard_name": "depth",
                    "units": "m",
                    "positive": "down",
                    "long_name": "depth of layer centre",
                },
            )
        }

    def attrs(self) -> dict[str, Any]:
        """``n_layers`` and ``layer_thickness_m``."""
        return {"n_layers": self.n_layers, "layer_thickness_m": float(self.dz)}

    def initial_fields(self, run: RunSetup, forcing: Mapping[str, Tensor]) -> dict[str, Any]:
        """Temperature from the first day's restoring value at the surface to the deep
        temperature at depth (e-folding 50 m)."""
        shape = np.exp(-self.depth / 50.0)
        t_surf = forcing["temperature"][:, 0].cpu().numpy()[:, None]
        t_deep = _deep_temperature(run.table, self.physics)
        return {"temperature": t_deep + (np.maximum(t_surf, t_deep) - t_deep) * shape[None, :]}

    def setup(self, run: RunSetup) -> None:
        """Rates of the heat and deep restoring, the deep layers and the sinking groups."""
        import torch

        from ecocube.ocean import physics

        super().setup(run)
        phys, dt, dz = self.physics, run.dt, self.dz
        self.dt = dt
        self.i_temp = run.layout.index("temperature")
        self.heat_rate = phys.heat_exchange * dt / (phys.rho_water * phys.cp_water * dz)
        self.relax = -math.expm1(-dt / (phys.relax_deep_days * SECONDS_PER_DAY))
        # layers below the seasonal thermocline restored to the deep water (at least the bottom)
        first = min(int(np.searchsorted(self.depth, phys.deep_restore_depth)), self.n_layers - 1)
        self.deep = slice(first, self.n_layers)
        t_deep = _deep_temperature(run.table, phys)[:, 0]
        self.t_deep = torch.as_tensor(t_deep, dtype=torch.float64, device=run.device)
        self.groups = physics.sinking_groups(run.layout.sinking, run.layout.n_slots, run.device)
        self._fluxes: dict[str, Any] = {}

    def start_day(
        self, forcing: Mapping[str, Tensor], boundary: Mapping[str, float | Tensor]
    ) -> None:
        """The day's restoring temperature and friction velocity; the restoring targets."""
        from ecocube.ocean import physics

        self.t_air = forcing["temperature"]
        self.ustar = physics.friction_velocity(forcing["wind"], self.physics)
        lay = self.run.layout
        targets = {"temperature": self.t_deep, **boundary}
        self.targets = []
        for name, value in targets.items():
            index = lay.index(name)
            if not isinstance(value, (int, float)):  # (B,) -> (B, 1) or (B, 1, 1) per component
                value = value[:, None] if isinstance(index, int) else value[:, None, None]
            self.targets.append((index, value))

    def surface_forcing(self, y: Tensor) -> None:
        """Haney heat restoring of the top layer (explicit, checked by ``check_stability``)."""
        top = y[:, self.i_temp, ..., 0]
        top += self.heat_rate * (self.t_air - top)

    def apply_surface_fluxes(self, y: Tensor, fluxes: Mapping[str, Tensor]) -> None:
        """``C_top += flux dt / dz`` for each flux."""
        lay = self.run.layout
        for name, flux in fluxes.items():
            y[:, lay.index(name), ..., 0] += flux * self.dt / self.dz

    def restore(self, y: Tensor) -> None:
        """Relax the deep layers towards the deep temperature and the boundary values."""
        deep, relax = self.deep, self.relax
        for index, target in self.targets:
            y[:, index, ..., deep] += relax * (target - y[:, index, ..., deep])

    def transport(self, y: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """KPP-lite boundary layer and diffusivity, then one implicit mixing/sinking step."""
        from ecocube.ocean import physics

        temp = y[:, self.i_temp]
        h_bl = physics.boundary_layer_depth(temp, self.ustar, self.dz, self.physics)
        k_if = physics.diffusivity(temp, self.ustar, h_bl, self.dz, self.physics)
        y = physics.implicit_column_step(y, k_if, self.dt, self.dz, self.groups)
        return y, {"mlotst": h_bl}


def _column(parameters: ModelParameters, n_layers: int | None, **options: Any) -> ColumnScheme:
    if options:
        raise InvalidInputError(
            f"physics='column' takes no {sorted(options)} (options of physics='multilayer'); "
            "drop them or use physics='multilayer'"
        )
    return ColumnScheme(parameters.physics, 20 if n_layers is None else n_layers)


def _multilayer(parameters: ModelParameters, n_layers: int | None, **options: Any) -> Any:
    from ecocube.ocean.multilayer.scheme import MultilayerScheme, default_basin

    basin = options.pop("basin", None)
    if basin is None:
        basin = default_basin() if n_layers is None else default_basin(n_layers=n_layers)
    elif n_layers is not None and getattr(basin, "layers", n_layers) != n_layers:
        raise InvalidInputError(
            f"n_layers={n_layers!r} differs from the basin's {basin.layers} layers; drop "
            "n_layers (the basin sets them) or give BasinConfig(n_layers=...)"
        )
    return MultilayerScheme(parameters, basin, **options)


#: Physical schemes by name (the ``physics=`` values of :func:`~ecocube.ocean.simulate`):
#: name -> factory ``(parameters, n_layers, **options) -> PhysicalScheme`` (``n_layers``
#: ``None`` for the scheme's default; ``options`` the scheme's own keywords, e.g. ``basin``).
PHYSICAL_SCHEMES: dict[str, Any] = {
    "column": _column,
    "multilayer": _multilayer,
}


def physical_scheme(
    physics: str | PhysicalScheme,
    parameters: ModelParameters = DEFAULT_PARAMETERS,
    n_layers: int | None = 20,
    **options: Any,
) -> PhysicalScheme:
    """The physical scheme called ``physics`` (a key of :data:`PHYSICAL_SCHEMES`), or a shallow
    copy of ``physics`` when it is a :class:`PhysicalScheme` (the run's own copy).

    ``options`` are the scheme's own keywords (``basin``, ``substeps``... of
    :class:`~ecocube.ocean.multilayer.scheme.MultilayerScheme`).

    Raises
    ------
    InvalidInputError
        If ``physics`` names no scheme (the message lists the valid names), or ``options``
        that the scheme does not take.
    """
    if isinstance(physics, PhysicalScheme):
        if options:
            raise InvalidInputError(
                f"options {sorted(options)} are for a scheme named by physics=; set them on the "
                f"{type(physics).__name__} passed instead"
            )
        return copy.copy(physics)
    if not isinstance(physics, str) or physics not in PHYSICAL_SCHEMES:
        raise InvalidInputError(
            f"physics={physics!r} is not a physical scheme; valid: {sorted(PHYSICAL_SCHEMES)} "
            "or a PhysicalScheme instance"
        )
    scheme: PhysicalScheme = PHYSICAL_SCHEMES[physics](parameters, n_layers, **options)
    return scheme
