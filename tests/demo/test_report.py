"""The demo report: tables, figures, missing values and atomic writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecocube.demo.report import MISSING, ReportSection, save_figure, table_html, write_report


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


def test_report_is_written_atomically_with_figures(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    img = save_figure(fig, tmp_path, "line")
    table = table_html(pd.DataFrame({"species": ["a<b"], "auc": [0.81234]}))
    path = write_report([ReportSection("First part", img + table)], tmp_path, title="t")
    page = path.read_text()
    assert (tmp_path / "figures" / "line.png").stat().st_size > 1000
    assert 'href="#first-part"' in page and "0.812" in page and "a&lt;b" in page
    assert not list(tmp_path.glob("*.tmp"))
