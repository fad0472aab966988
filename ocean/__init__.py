"""ecocube.ocean: the full ocean model, scenario ensembles, indices and the deep surrogate.

Public names are imported lazily (on first attribute access) so that ``import ecocube.ocean``
and the CLI stay fast and torch/xarray load only when a model actually runs.

Examples
--------
>>> from ecocube.ocean import sample_scenarios, simulate
>>> ds = simulate(sample_scenarios(2, seed=0), years=1)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and IDEs (imported lazily at run time)
    from ecocube.ocean._errors import (
        ScenarioError as ScenarioError,
    )
    from ecocube.ocean._errors import (
        StabilityError as StabilityError,
    )
    from ecocube.ocean.ensemble import (
        open_ensemble as open_ensemble,
    )
    from ecocube.ocean.ensemble import (
        run_ensemble as run_ensemble,
    )
    from ecocube.ocean.indices import (
        annual_co2_uptake as annual_co2_uptake,
    )
    from ecocube.ocean.indices import (
        annual_primary_production as annual_primary_production,
    )
    from ecocube.ocean.indices import (
        bloom_timing as bloom_timing,
    )
    from ecocube.ocean.indices import (
        compute_indices as compute_indices,
    )
    from ecocube.ocean.indices import (
        gini_simpson as gini_simpson,
    )
    from ecocube.ocean.indices import (
        rao_q as rao_q,
    )
    from ecocube.ocean.indices import (
        shannon as shannon,
    )
    from ecocube.ocean.ingest import (
        MissingVariableError as MissingVariableError,
    )
    from ecocube.ocean.ingest import (
        UnitsError as UnitsError,
    )
    from ecocube.ocean.ingest import (
        open_marbl_climatology as open_marbl_climatology,
    )
    from ecocube.ocean.ingest import (
        open_source as open_source,
    )
    from ecocube.ocean.marbl import (
        calibrate as calibrate,
    )
    from ecocube.ocean.parameters import (
        DEFAULT_PARAMETERS as DEFAULT_PARAMETERS,
    )
    from ecocube.ocean.parameters import (
        ModelParameters as ModelParameters,
    )
    from ecocube.ocean.parameters import (
        PhytoType as PhytoType,
    )
    from ecocube.ocean.scenarios import (
        SCENARIO_PARAMETERS as SCENARIO_PARAMETERS,
    )
    from ecocube.ocean.scenarios import (
        ScenarioParameter as ScenarioParameter,
    )
    from ecocube.ocean.scenarios import (
        default_scenario as default_scenario,
    )
    from ecocube.ocean.scenarios import (
        sample_scenarios as sample_scenarios,
    )
    from ecocube.ocean.scenarios import (
        validate_scenarios as validate_scenarios,
    )
    from ecocube.ocean.simulate import (
        simulate as simulate,
    )
    from ecocube.ocean.surrogate import (
        FNOSurrogate as FNOSurrogate,
    )
    from ecocube.ocean.surrogate import (
        PODMLPSurrogate as PODMLPSurrogate,
    )
    from ecocube.ocean.surrogate import (
        Surrogate as Surrogate,
    )
    from ecocube.ocean.surrogate import (
        SurrogateConfig as SurrogateConfig,
    )
    from ecocube.ocean.surrogate import (
        load_ensemble as load_ensemble,
    )
    from ecocube.ocean.validate import (
        validate_surrogate as validate_surrogate,
    )

#: public name -> defining module
_EXPORTS: dict[str, str] = {
    "ScenarioError": "ecocube.ocean._errors",
    "StabilityError": "ecocube.ocean._errors",
    "DEFAULT_PARAMETERS": "ecocube.ocean.parameters",
    "ModelParameters": "ecocube.ocean.parameters",
    "PhytoType": "ecocube.ocean.parameters",
    "SCENARIO_PARAMETERS": "ecocube.ocean.scenarios",
    "ScenarioParameter": "ecocube.ocean.scenarios",
    "default_scenario": "ecocube.ocean.scenarios",
    "sample_scenarios": "ecocube.ocean.scenarios",
    "validate_scenarios": "ecocube.ocean.scenarios",
    "simulate": "ecocube.ocean.simulate",
    "run_ensemble": "ecocube.ocean.ensemble",
    "open_ensemble": "ecocube.ocean.ensemble",
    "annual_co2_uptake": "ecocube.ocean.indices",
    "annual_primary_production": "ecocube.ocean.indices",
    "bloom_timing": "ecocube.ocean.indices",
    "compute_indices": "ecocube.ocean.indices",
    "gini_simpson": "ecocube.ocean.indices",
    "rao_q": "ecocube.ocean.indices",
    "shannon": "ecocube.ocean.indices",
    # surrogate, validation and ingestion (written alongside the full model)
    "Surrogate": "ecocube.ocean.surrogate",
    "SurrogateConfig": "ecocube.ocean.surrogate",
    "PODMLPSurrogate": "ecocube.ocean.surrogate",
    "FNOSurrogate": "ecocube.ocean.surrogate",
    "load_ensemble": "ecocube.ocean.surrogate",
    "validate_surrogate": "ecocube.ocean.validate",
    "open_source": "ecocube.ocean.ingest",
    "open_marbl_climatology": "ecocube.ocean.ingest",
    "UnitsError": "ecocube.ocean.ingest",
    "MissingVariableError": "ecocube.ocean.ingest",
    "calibrate": "ecocube.ocean.marbl",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ecocube.ocean' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
