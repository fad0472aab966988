"""Deep surrogates of the full ocean model (reduced models trained on scenario ensembles).

Two architectures share one workflow (:class:`Surrogate`): ``"pod_mlp"`` (POD basis per
variable + a deep ensemble of MLPs, with predictive standard deviation) and ``"fno"`` (a Fourier
neural operator from daily forcing series to daily outputs). Both train on ensembles of the
water column or of a spatial model (the multilayer basin: fields over the cells ``x``), and
predict Datasets with the dims, coordinates and attributes of the ensemble.

Examples
--------
>>> from ecocube.ocean.surrogate import Surrogate
>>> sur = Surrogate.create("pod_mlp", max_epochs=100)  # doctest: +SKIP
>>> sur.fit("ens.zarr").save("sur/")  # doctest: +SKIP
>>> ds = Surrogate.load("sur/").predict(scenarios)  # doctest: +SKIP
"""

from ecocube.ocean.surrogate._base import (
    ARCHITECTURES,
    Surrogate,
    SurrogateConfig,
    SurrogateNotFittedError,
)
from ecocube.ocean.surrogate._data import EMULATED, load_ensemble
from ecocube.ocean.surrogate.fno import FNOSurrogate
from ecocube.ocean.surrogate.pod_mlp import PODMLPSurrogate

__all__ = [
    "ARCHITECTURES",
    "EMULATED",
    "FNOSurrogate",
    "PODMLPSurrogate",
    "Surrogate",
    "SurrogateConfig",
    "SurrogateNotFittedError",
    "load_ensemble",
]
