"""A multilayer hydrostatic (Saint-Venant) basin with passive tracers, batched in torch.

An x-z slice of ``nx`` cells and ``L`` layers, each layer holding a fixed fraction of the water
depth, with mass exchanges between layers (Audusse, Bristeau, Perthame & Sainte-Marie 2011,
M2AN 45:169, the scheme behind Freshkiss3D): kinetic fluxes with hydrostatic reconstruction
(well-balanced, positive depths), tracers carried by the same layer mass fluxes, implicit
vertical viscosity and diffusion, wind stress, bottom drag, closed walls, a tide or an inflow at
an open boundary and a river. Tracers are laid out ``(B, n_tracers, nx, L)``, surface layer
first.

Examples
--------
>>> from ecocube.ocean.multilayer import BasinConfig, Forcing, MultilayerBasin
>>> basin = MultilayerBasin(BasinConfig(length=50_000.0, nx=10, n_layers=3, bathymetry=10.0))
>>> state = basin.run(basin.initial_state(), Forcing(wind=5.0), dt=360.0, duration=3600.0)
>>> f"{float(basin.volume(state)):.6e} m3"
'5.000000e+08 m3'
"""

from __future__ import annotations

from ecocube.ocean.multilayer import analytic
from ecocube.ocean.multilayer._forcing import Forcing, RiverSource, TimeSeries
from ecocube.ocean.multilayer._grid import BasinConfig, OpenBoundary
from ecocube.ocean.multilayer.model import BasinState, MultilayerBasin
from ecocube.ocean.multilayer.rivers import RiverLoad, river_load

__all__ = [
    "BasinConfig",
    "BasinState",
    "Forcing",
    "MultilayerBasin",
    "OpenBoundary",
    "RiverLoad",
    "RiverSource",
    "TimeSeries",
    "analytic",
    "river_load",
]
