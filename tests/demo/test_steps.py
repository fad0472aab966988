"""Demo steps: the figures they put in the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_bio1_map_occurrence_dots_have_a_legend_and_caption() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from ecocube.demo.steps.cube import _layers_figure, layers_caption

    x = np.linspace(-85.0, -83.0, 6)
    y = np.linspace(11.0, 9.0, 5)
    grid = np.arange(30, dtype="float32").reshape(5, 6)
    frac = np.full((5, 6), np.nan, dtype="float32")
    frac[1:3, 2:4] = 0.5
    cube = xr.Dataset(
        {
            "bio1": (("y", "x"), grid),
            "bio12": (("y", "x"), grid),
            "landuse_frac_1": (("y", "x"), frac),
            "landuse_frac_3": (("y", "x"), frac),
        },
        coords={"x": x, "y": y},
    )
    sampled = pd.DataFrame({"lon": [-84.5, -84.0, -83.5], "lat": [10.0, 9.5, 10.5]})
    fig = _layers_figure(cube, sampled)
    try:
        legend = fig.axes[0].get_legend()
        assert legend is not None, "the black dots on the bio1 map have no legend"
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels == ["GBIF occurrences (3)"]
    finally:
        plt.close(fig)
    caption = layers_caption(1234)
    assert "Black dots on the bio1 map" in caption and "1,234 GBIF occurrence" in caption


def test_sdm_step_shows_the_nceas_results_of_the_source_tree() -> None:
    from ecocube.demo.steps.sdm import _nceas_section

    section = _nceas_section()
    assert "NCEAS benchmark (Elith et al. 2020" in section and "maxent-net" in section
