"""The HTML report: missing values look the same in every table; the cube maps explain the dots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecocube.report import MISSING, ReportSection, table_html, write_report


def _cells(html_text: str) -> list[str]:
    return [c.split("</td>")[0].strip() for c in html_text.split("<td>")[1:]]


def test_missing_values_show_the_same_in_float_and_object_columns() -> None:
    # the catalog demo's tables: cloud cover present for some items (float column, NaN) ...
    items = pd.DataFrame(
        [{"item": "a", "eo:cloud_cover": 3.14159}, {"item": "b", "eo:cloud_cover": None}]
    )
    # ... and absent from every item a search returned (object column of None)
    found = pd.DataFrame([{"id": "x", "eo:cloud_cover": None}, {"id": "y", "eo:cloud_cover": None}])
    mixed = pd.DataFrame({"v": pd.Series([1.5, None, "text"], dtype=object)})
    when = pd.DataFrame({"t": pd.to_datetime(["2020-01-01", None])})
    for df in (items, found, mixed, when):
        text = table_html(df, float_format="{:.2f}")
        cells = _cells(text)
        assert MISSING in cells, text
        assert not {"NaN", "None", "nan", "<NA>", "NaT"} & set(cells), text
    assert _cells(table_html(items, float_format="{:.2f}")) == ["a", "3.14", "b", MISSING]


def test_numeric_object_column_is_formatted_like_floats() -> None:
    df = pd.DataFrame({"x": pd.Series([0.123456, None, 2], dtype=object)})
    assert _cells(table_html(df, float_format="{:.2f}")) == ["0.12", MISSING, "2.00"]


def test_report_page_has_no_raw_missing_markers(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1.0, np.nan], "b": [None, None]})
    page = write_report([ReportSection("S", table_html(df))], tmp_path).read_text()
    assert "<td>NaN</td>" not in page and "<td>None</td>" not in page


def test_bio1_map_occurrence_dots_have_a_legend_and_caption() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    from ecocube.cube._demo import _layers_figure, layers_caption

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
