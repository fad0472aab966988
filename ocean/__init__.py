"""ecocube.ocean: the full ocean model, scenario ensembles, indices and the deep surrogate.

The full model's modules import only numpy at import time (torch, xarray and pandas load when a
model runs); the surrogate, validation and ingestion names are imported on first access, so
``import ecocube.ocean`` and the CLI stay fast.

Examples
--------
>>> from ecocube.ocean import sample_scenarios, simulate
>>> ds = simulate(sample_scenarios(2, seed=0), years=1)  # doctest: +SKIP
"""

from __future__ import annotations

from ecocube._lazy import lazy_attributes
from ecocube.ocean._errors import ScenarioError, StabilityError
from ecocube.ocean.biogeochemistry import Biogeochemistry, Tracer
from ecocube.ocean.diagnostics import OutputVariable
from ecocube.ocean.ensemble import open_ensemble, run_ensemble
from ecocube.ocean.indices import (
    annual_co2_uptake,
    annual_primary_production,
    bloom_timing,
    compute_indices,
    gini_simpson,
    rao_q,
    shannon,
)
from ecocube.ocean.parameters import DEFAULT_PARAMETERS, ModelParameters, PhytoType
from ecocube.ocean.phyto_carbonate import PhytoCarbonate
from ecocube.ocean.scenarios import (
    SCENARIO_PARAMETERS,
    ScenarioParameter,
    default_scenario,
    sample_scenarios,
    validate_scenarios,
)
from ecocube.ocean.schemes import ColumnScheme, PhysicalScheme
from ecocube.ocean.simulate import simulate

#: Names of the surrogate, validation and ingestion modules, imported on first access.
_LAZY: dict[str, str] = {
    "Surrogate": "ecocube.ocean.surrogate",
    "SurrogateConfig": "ecocube.ocean.surrogate",
    "PODMLPSurrogate": "ecocube.ocean.surrogate",
    "FNOSurrogate": "ecocube.ocean.surrogate",
    "load_ensemble": "ecocube.ocean.surrogate",
    "validate_surrogate": "ecocube.ocean.validate",
    "open_source": "ecocube.ocean.ingest",
    "open_marbl_climatology": "ecocube.ocean.ingest",
    "open_item": "ecocube.ocean.ingest",
    "find_item": "ecocube.ocean.ingest",
    "ingest_item": "ecocube.ocean.ingest",
    "UnitsError": "ecocube.ocean.ingest",
    "MissingVariableError": "ecocube.ocean.ingest",
    "calibrate": "ecocube.ocean.marbl",
}

__all__ = [
    "DEFAULT_PARAMETERS",
    "SCENARIO_PARAMETERS",
    "Biogeochemistry",
    "ColumnScheme",
    "FNOSurrogate",
    "MissingVariableError",
    "ModelParameters",
    "OutputVariable",
    "PODMLPSurrogate",
    "PhysicalScheme",
    "PhytoCarbonate",
    "PhytoType",
    "ScenarioError",
    "ScenarioParameter",
    "StabilityError",
    "Surrogate",
    "SurrogateConfig",
    "Tracer",
    "UnitsError",
    "annual_co2_uptake",
    "annual_primary_production",
    "bloom_timing",
    "calibrate",
    "compute_indices",
    "default_scenario",
    "find_item",
    "gini_simpson",
    "ingest_item",
    "load_ensemble",
    "open_ensemble",
    "open_item",
    "open_marbl_climatology",
    "open_source",
    "rao_q",
    "run_ensemble",
    "sample_scenarios",
    "shannon",
    "simulate",
    "validate_scenarios",
    "validate_surrogate",
]


__getattr__, __dir__ = lazy_attributes("ecocube.ocean", _LAZY, globals())
