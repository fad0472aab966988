"""The NCEAS "integrated data help" experiment (``ecocube.models.benchmark.integrated``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecocube.models.integrated import IntegratedConfig


@pytest.mark.slow
def test_nceas_group_integrated_beats_floor(mirror, device) -> None:
    """NSW bats: half the survey blocks train, half test (measured AUC 0.74 with these settings)."""
    from ecocube import data
    from ecocube.models.benchmark.integrated import compare_group

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        table, _ = compare_group(
            data.fetch("nceas"),
            "NSW",
            "ba",
            config=IntegratedConfig(steps=300, lr=0.05, num_samples=100, device=device),
            max_background=2000,
            models=("presence-only", "integrated"),
            conformal=True,
        )
    finally:
        torch.set_num_threads(threads)
    res = table.set_index("model")
    # the conformal factor comes from the training surveys; it widens or narrows, never breaks
    assert np.isfinite(res["conformal_factor"]).all() and (res["conformal_factor"] > 0).all()
    assert res.loc["integrated", "coverage90_conformal"] >= 0.8
    assert res.loc["integrated", "auc"] > 0.68
    assert res.loc["integrated", "auc"] > res.loc["presence-only", "auc"]
    assert res.loc["integrated", "ece"] < 0.06
