"""Scenarios of the ocean model: named parameters with ranges and a Latin-hypercube sampler.

A scenario is one row of a :class:`pandas.DataFrame` whose columns are the names in
:data:`SCENARIO_PARAMETERS`. Each parameter has a *sampling* range (the training range of
ensembles and surrogates) and a wider *valid* range (what the model accepts, e.g. to test +4 degC
of warming beyond the training range); values outside the valid range are rejected.

*Optional* parameters (``optional=True``: the acidification response, added after the first
eight) may be missing from a table: :func:`validate_scenarios` fills them with their default,
so tables written before they existed keep working. :func:`sample_scenarios` draws the required
parameters exactly as before they were added and the optional ones from a second,
independent stream of the same seed.

Examples
--------
>>> from ecocube.ocean import sample_scenarios
>>> df = sample_scenarios(4, seed=0)
>>> list(df.columns)[:3]
['warming', 'seasonal_amplitude', 'co2_start']
>>> len(df)
4
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube.ocean._errors import ScenarioError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SCENARIO_PARAMETERS",
    "ScenarioParameter",
    "default_scenario",
    "sample_scenarios",
    "validate_scenarios",
]


@dataclass(frozen=True)
class ScenarioParameter:
    """One scenario parameter.

    Attributes
    ----------
    name
        Column name in scenario tables.
    units
        UDUNITS spelling (``"1"`` for dimensionless).
    low, high
        Default sampling range (the ensemble/training range).
    valid_low, valid_high
        Range the model accepts.
    default
        Value of the reference scenario.
    description
        What it does in the model.
    optional
        May be missing from a scenario table (it is then ``default``).
    """

    name: str
    units: str
    low: float
    high: float
    valid_low: float
    valid_high: float
    default: float
    description: str
    optional: bool = False


#: Every scenario parameter, in column order: the required ones, then the optional ones.
SCENARIO_PARAMETERS: tuple[ScenarioParameter, ...] = (
    ScenarioParameter(
        "warming",
        "degC",
        0.0,
        3.0,
        -3.0,
        8.0,
        1.0,
        "Warming of the surface restoring temperature, linear over the horizon",
    ),
    ScenarioParameter(
        "seasonal_amplitude",
        "degC",
        2.0,
        7.0,
        0.0,
        12.0,
        4.0,
        "Half peak-to-peak seasonal amplitude of the surface temperature",
    ),
    ScenarioParameter(
        "co2_start",
        "ppm",
        380.0,
        440.0,
        180.0,
        1200.0,
        415.0,
        "Atmospheric CO2 mole fraction at the start",
    ),
    ScenarioParameter(
        "co2_trend",
        "ppm yr-1",
        0.0,
        10.0,
        -20.0,
        50.0,
        2.5,
        "Linear trend of atmospheric CO2 (the CO2 path)",
    ),
    ScenarioParameter(
        "light",
        "1",
        0.7,
        1.3,
        0.2,
        2.0,
        1.0,
        "Multiplier of the surface shortwave (cloudiness, latitude)",
    ),
    ScenarioParameter(
        "nutrient_supply",
        "mmol m-3",
        4.0,
        16.0,
        0.0,
        40.0,
        10.0,
        "Deep nitrate concentration the bottom layer is restored to",
    ),
    ScenarioParameter(
        "wind",
        "m s-1",
        4.0,
        11.0,
        0.5,
        25.0,
        7.0,
        "Annual mean 10-m wind speed (mixing and gas transfer)",
    ),
    ScenarioParameter(
        "adaptation",
        "1",
        0.0,
        1.0,
        0.0,
        1.0,
        0.0,
        "Fraction of the warming tracked by each type's cardinal temperatures",
    ),
    ScenarioParameter(
        "acid_sensitivity",
        "1",
        0.0,
        2.0,
        0.0,
        5.0,
        1.0,
        "Strength of the phytoplankton response to the carbonate system (calcification and "
        "growth against Omega and pCO2): 0 none, 1 the literature response",
        optional=True,
    ),
    ScenarioParameter(
        "acid_adaptation",
        "1",
        0.0,
        1.0,
        0.0,
        1.0,
        0.0,
        "Fraction of the change of the carbonate system since the start each type has adapted to",
        optional=True,
    ),
)

_BY_NAME = {p.name: p for p in SCENARIO_PARAMETERS}


def default_scenario() -> pd.DataFrame:
    """The one-row reference scenario (every parameter at its ``default``)."""
    import pandas as pd

    frame = pd.DataFrame([{p.name: p.default for p in SCENARIO_PARAMETERS}])
    frame.index.name = "scenario"
    return frame


def sample_scenarios(
    n: int,
    *,
    seed: int = 0,
    ranges: Mapping[str, tuple[float, float] | float] | None = None,
) -> pd.DataFrame:
    """Draw ``n`` scenarios by Latin-hypercube sampling (scipy ``qmc.LatinHypercube``).

    The required parameters form one hypercube drawn from ``numpy.random.default_rng(seed)``;
    the optional ones another, drawn from the seed's first spawned child stream
    (``numpy.random.SeedSequence(seed).spawn(1)[0]``). Each column is stratified; the required
    columns are those a table had before the optional parameters existed.

    Parameters
    ----------
    n
        Number of scenarios (>= 1).
    seed
        Seed of the sampler; the same seed gives the same table.
    ranges
        Overrides of the sampling range, ``{name: (low, high)}``, or ``{name: value}`` to fix a
        parameter (e.g. ``{"warming": (3.0, 4.0)}`` to sample beyond the training range). Must
        stay inside each parameter's valid range.

    Returns
    -------
    pandas.DataFrame
        One row per scenario (index ``scenario`` = 0..n-1), columns in
        :data:`SCENARIO_PARAMETERS` order.

    Raises
    ------
    ScenarioError
        ``n`` < 1, an unknown parameter in ``ranges``, ``low > high``, or a range outside the
        valid range.
    """
    import pandas as pd
    from scipy.stats import qmc

    if int(n) != n or n < 1:
        raise ScenarioError(f"n={n!r} must be a positive integer number of scenarios")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ScenarioError(f"seed={seed!r} must be a non-negative integer")
    ranges = dict(ranges or {})
    unknown = sorted(set(ranges) - set(_BY_NAME))
    if unknown:
        raise ScenarioError(
            f"ranges has unknown scenario parameter(s) {unknown}; valid names: {sorted(_BY_NAME)}"
        )
    lows, highs = [], []
    for p in SCENARIO_PARAMETERS:
        lo, hi = _as_range(ranges.get(p.name, (p.low, p.high)), p.name)
        if lo < p.valid_low or hi > p.valid_high:
            raise ScenarioError(
                f"ranges[{p.name!r}]=({lo}, {hi}) leaves the valid range "
                f"[{p.valid_low}, {p.valid_high}] {p.units}; narrow it"
            )
        lows.append(lo)
        highs.append(hi)
    # the required parameters take the seed's stream exactly as before the optional ones
    # existed (their tables do not change); the optional ones an independent child stream
    optional = np.array([p.optional for p in SCENARIO_PARAMETERS])
    u = np.empty((int(n), len(SCENARIO_PARAMETERS)))
    streams = (np.random.SeedSequence(seed), np.random.SeedSequence(seed).spawn(1)[0])
    for mask, stream in zip((~optional, optional), streams, strict=True):
        if mask.any():
            unit = qmc.LatinHypercube(d=int(mask.sum()), seed=np.random.default_rng(stream))
            u[:, mask] = unit.random(int(n))
    values = np.asarray(lows) + u * (np.asarray(highs) - np.asarray(lows))
    frame = pd.DataFrame(values, columns=[p.name for p in SCENARIO_PARAMETERS])
    frame.index.name = "scenario"
    return frame


def _as_range(value: tuple[float, float] | float, name: str) -> tuple[float, float]:
    if np.ndim(value) == 0:
        return float(value), float(value)  # type: ignore[arg-type]
    lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    if lo > hi:
        raise ScenarioError(f"ranges[{name!r}]=({lo}, {hi}) has low > high; swap them")
    return lo, hi


def _as_frame(scenarios: pd.DataFrame | pd.Series | Mapping[str, Any]) -> pd.DataFrame:
    """A scenario table from a DataFrame, a Series (one row) or a mapping of columns."""
    import pandas as pd

    if isinstance(scenarios, pd.DataFrame):
        return scenarios
    if isinstance(scenarios, pd.Series):  # one row of a table
        return scenarios.to_frame().T.rename_axis("scenario")
    if not isinstance(scenarios, Mapping):
        try:  # e.g. a list of row mappings
            return pd.DataFrame(scenarios)
        except (TypeError, ValueError) as err:
            raise ScenarioError(
                f"scenarios is a {type(scenarios).__name__} pandas cannot read as a table "
                f"({err}); pass a DataFrame (sample_scenarios, default_scenario) or a mapping "
                "of parameter names to values"
            ) from err
    dims = {str(k): np.ndim(v) for k, v in scenarios.items()}
    if all(d == 0 for d in dims.values()):  # scalars: one scenario
        return pd.DataFrame([dict(scenarios)])
    if any(d > 1 for d in dims.values()):
        bad = sorted(k for k, d in dims.items() if d > 1)
        raise ScenarioError(
            f"scenarios{bad} hold(s) multi-dimensional arrays; give each parameter a scalar "
            "or a 1-D sequence (one value per scenario)"
        )
    lengths = {k: len(v) for k, v in scenarios.items() if np.ndim(v) == 1}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise ScenarioError(
            f"scenarios maps parameters to sequences of different lengths {lengths}; give every "
            "parameter one value per scenario (or a scalar, shared by all)"
        )
    return pd.DataFrame(dict(scenarios))  # one scenario per position, scalars repeated


def validate_scenarios(scenarios: pd.DataFrame | Mapping[str, object]) -> pd.DataFrame:
    """Check a scenario table and return it as a float DataFrame in canonical column order.

    Parameters
    ----------
    scenarios
        A table with one row per scenario; or a mapping of parameter names to scalars (one
        scenario, e.g. ``dict(table.iloc[0])``) or to equal-length sequences (one scenario per
        position, scalars repeated); or a :class:`pandas.Series` (one scenario, e.g. a row).

    Returns
    -------
    pandas.DataFrame
        Float64 columns in :data:`SCENARIO_PARAMETERS` order. Extra columns are dropped; the
        index is kept (named ``scenario``). An *optional* parameter (``optional=True``, e.g.
        ``acid_sensitivity``, ``acid_adaptation``) missing from the table is added with its
        ``default`` in every row, so tables written before it existed keep working.

    Raises
    ------
    ScenarioError
        Missing required columns, NaN or non-finite values, values outside the valid range, no
        rows, or a mapping whose sequences differ in length.
    """
    frame = _as_frame(scenarios)
    names = [p.name for p in SCENARIO_PARAMETERS]
    missing = [p.name for p in SCENARIO_PARAMETERS if p.name not in frame.columns]
    required = [name for name in missing if not _BY_NAME[name].optional]
    if required:
        raise ScenarioError(
            f"scenarios is missing column(s) {required}; expected {names} "
            "(use ecocube.ocean.sample_scenarios or default_scenario to build one)"
        )
    if missing:  # optional parameters only: their defaults
        frame = frame.assign(**{name: _BY_NAME[name].default for name in missing})
    if len(frame) == 0:
        raise ScenarioError("scenarios has no rows; pass at least one scenario")
    try:
        out = frame[names].astype("float64")
    except (TypeError, ValueError) as err:
        raise ScenarioError(f"scenarios holds non-numeric values: {err}") from err
    values = out.to_numpy()
    low = np.array([p.valid_low for p in SCENARIO_PARAMETERS])
    high = np.array([p.valid_high for p in SCENARIO_PARAMETERS])
    finite = np.isfinite(values)
    if not finite.all() or ((values < low) | (values > high)).any():
        for j, p in enumerate(SCENARIO_PARAMETERS):  # name the first problem
            col = values[:, j]
            bad = ~finite[:, j]
            if bad.any():
                raise ScenarioError(
                    f"scenarios[{p.name!r}] has NaN/inf at row(s) {list(out.index[bad][:5])}; "
                    "fill or drop them"
                )
            outside = (col < p.valid_low) | (col > p.valid_high)
            if outside.any():
                i = int(np.flatnonzero(outside)[0])
                raise ScenarioError(
                    f"scenarios[{p.name!r}]={col[i]} (row {out.index[i]!r}) is out of range: "
                    f"valid values are in [{p.valid_low}, {p.valid_high}] {p.units}"
                )
    out.index.name = "scenario"
    return out
