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


@pytest.fixture(scope="module")
def saved_surrogate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small POD-MLP surrogate of a synthetic ensemble, saved to a folder (do not modify it)."""
    from ecocube.ocean.surrogate import Surrogate

    sur = Surrogate.create(
        "pod_mlp", max_epochs=3, members=2, width=16, modes=4, depth=1, index_head=False
    )
    sur.fit(synthetic_ensemble(sample_scenarios(12, seed=0)))
    return sur.save(tmp_path_factory.mktemp("surrogate") / "sur")
