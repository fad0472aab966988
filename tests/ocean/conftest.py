"""Fixtures shared by the ocean tests."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ecocube.ocean.scenarios import SCENARIO_PARAMETERS, sample_scenarios

#: A small, fast model setup (6 layers, 6-hour steps, one year).
SMALL = {"years": 1, "n_layers": 6, "dt": 21600.0}


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any simulation starts (bad input must be refused before)."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran before the bad input was refused")

    monkeypatch.setattr(importlib.import_module("ecocube.ocean.ensemble"), "_compute", fail)
    monkeypatch.setattr(importlib.import_module("ecocube.ocean.simulate"), "simulate", fail)


@pytest.fixture
def keepdir(tmp_path: Path) -> Path:
    """A folder holding a user's file, which no writer may replace."""
    keep = tmp_path / "keepdir"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    return keep


def synthetic_ensemble(table: pd.DataFrame) -> xr.Dataset:
    """Smooth, simulate-shaped fields that depend on the scenario parameters."""
    day = np.arange(365) + 0.5
    w = table["warming"].to_numpy()[:, None]
    light = table["light"].to_numpy()[:, None]
    nut = table["nutrient_supply"].to_numpy()[:, None]
    bloom = np.exp(-(((day[None, :] - 120 - 5 * w) / 25.0) ** 2))
    phyc = np.stack([light * nut * 0.1 * bloom * k + 0.05 for k in (1.0, 0.6, 0.3)], -1)
    dims2, dims3 = ("scenario", "time"), ("scenario", "time", "phyto_type")
    seas = np.cos(2 * np.pi * (day - 227) / 365)[None, :]
    data = {
        "phyc": (dims3, phyc),
        "intphyc": (dims3, 30 * phyc),
        "chl": (dims2, phyc.sum(-1) * 0.8),
        "dissic": (dims2, 2050 - 20 * phyc.sum(-1) + w * seas),
        "talk": (dims2, 2350 + 0 * phyc.sum(-1)),
        "no3": (dims2, nut * (1 - 0.8 * bloom) + 0.1),
        "spco2": (dims2, 380 + 10 * seas - 30 * bloom + 3 * w),
        "fgco2": (dims2, 5 * bloom - seas),
        "intpp": (dims2, 50 * light * bloom + 1),
        "tos": (dims2, 14 + 4 * seas + w * day[None, :] / 365),
        "pco2atm": (
            dims2,
            np.broadcast_to(table["co2_start"].to_numpy()[:, None], (len(table), 365)),
        ),
    }
    time = xr.date_range("2000-01-01", periods=365, freq="D", calendar="noleap", use_cftime=True)
    coords = {
        "scenario": table.index.to_numpy(),
        "time": time,
        "phyto_type": ["diatom", "nano", "pico"],
        "t_opt": ("phyto_type", [12.0, 18.0, 25.0]),
    }
    for p in SCENARIO_PARAMETERS:
        coords[p.name] = ("scenario", table[p.name].to_numpy())
    ds = xr.Dataset(
        {k: (d, np.asarray(v, dtype=float), {"units": "u"}) for k, (d, v) in data.items()},
        coords=coords,
    )
    ds.attrs.update({"time_step_s": 10800.0, "n_layers": 20})
    return ds


#: Phytoplankton types of :func:`synthetic_spatial_ensemble` (four, as with a calcifier).
SPATIAL_TYPES = ("diatom", "nano", "pico", "cocco")


def synthetic_spatial_ensemble(
    table: pd.DataFrame, nx: int = 6, *, length: float = 50_000.0, uniform_co2: bool = True
) -> xr.Dataset:
    """Smooth fields over an ``x`` axis shaped like the multilayer basin's output.

    ``tos (scenario, time, x)``, ``phyc (scenario, time, phyto_type, x)`` (four types),
    ``thetao (scenario, time, x, depth)`` (not emulated), an ``x`` coordinate (m, cell centres)
    and the sea-floor depth along ``x``; every field depends on the scenario parameters and on
    ``x`` (a river at ``x = 0`` raises nutrients and delays the bloom downstream).
    ``uniform_co2=False`` gives ``pco2atm`` an ``x`` dim too.
    """
    n = len(table)
    day = (np.arange(365) + 0.5)[None, :, None]
    x = (np.arange(nx) + 0.5) * length / nx
    xi = (x / length)[None, None, :]
    col = lambda c: table[c].to_numpy()[:, None, None]  # noqa: E731
    w, light, nut, wind = col("warming"), col("light"), col("nutrient_supply"), col("wind")
    bloom = np.exp(-(((day - 110 - 5 * w - 25 * xi) / (22.0 + 8 * xi)) ** 2))
    nut_x = nut * (1.6 - xi)
    share = 1.0 / (1.0 + np.exp(-(w - 1.5) - 2 * (xi - 0.5)))  # warm, downstream: small types
    weights = (1.0 - share, 0.7 * (1.0 - share), 0.8 * share, 0.4 * share)
    phyc = np.stack([light * nut_x * 0.1 * bloom * k + 0.05 for k in weights], 2)
    seas = np.cos(2 * np.pi * (day - 227) / 365)
    s2, s3 = ("scenario", "time", "x"), ("scenario", "time", "phyto_type", "x")
    total = phyc.sum(2)
    ones = np.ones((n, 365, nx))
    data = {
        "phyc": (s3, phyc),
        "intphyc": (s3, 25 * phyc * (1.0 + 0.3 * xi[:, :, None])),
        "chl": (s2, total * 0.8),
        "dissic": (s2, 2050 - 20 * total + w * seas + 15 * xi),
        "talk": (s2, (2350 - 25 * xi + 0.5 * nut) * ones),
        "no3": (s2, nut_x * (1 - 0.8 * bloom) + 0.1),
        "spco2": (s2, 380 + 10 * seas - 30 * bloom + 3 * w + 6 * xi),
        "fgco2": (s2, 5 * bloom - seas + 0.2 * wind * xi),
        "intpp": (s2, 50 * light * bloom * (1.2 - 0.4 * xi) + 1),
        "tos": (s2, 14 + 4 * seas + w * day / 365 - 2 * xi),
        "thetao": (
            ("scenario", "time", "x", "depth"),
            (14 + 4 * seas - 2 * xi + w * ones)[..., None] - np.array([0.0, 1.0, 2.0]),
        ),
    }
    co2 = np.broadcast_to(table["co2_start"].to_numpy()[:, None], (n, 365))
    data["pco2atm"] = (
        (("scenario", "time"), co2) if uniform_co2 else (s2, co2[:, :, None] * np.ones(nx))
    )
    time = xr.date_range("2000-01-01", periods=365, freq="D", calendar="noleap", use_cftime=True)
    coords = {
        "scenario": table.index.to_numpy(),
        "time": time,
        "phyto_type": list(SPATIAL_TYPES),
        "t_opt": ("phyto_type", [12.0, 18.0, 25.0, 20.0], {"units": "degC"}),
        "x": ("x", x, {"units": "m", "long_name": "along-basin distance of the cell centre"}),
        "depth": ("depth", [2.5, 7.5, 12.5], {"units": "m", "positive": "down"}),
        "sea_floor_depth": ("x", 20.0 - 5.0 * x / length, {"units": "m"}),
    }
    for p in SCENARIO_PARAMETERS:
        coords[p.name] = ("scenario", table[p.name].to_numpy())
    ds = xr.Dataset(
        {k: (d, np.asarray(v, dtype=float), {"units": "u"}) for k, (d, v) in data.items()},
        coords=coords,
    )
    ds["tos"].attrs = {"standard_name": "sea_surface_temperature", "units": "degC"}
    ds.attrs.update({"physics": "multilayer", "time_step_s": 3600.0, "n_layers": 3})
    return ds


@pytest.fixture(scope="module")
def saved_surrogate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small POD-MLP surrogate of a synthetic ensemble, saved to a folder (do not modify it)."""
    from ecocube.ocean.surrogate import Surrogate

    sur = Surrogate.create(
        "pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1, index_head=False
    )
    sur.fit(synthetic_ensemble(sample_scenarios(12, seed=0)))
    return sur.save(tmp_path_factory.mktemp("surrogate") / "sur")
