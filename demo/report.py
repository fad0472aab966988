"""A small HTML report: sections of text, tables and figures written to ``index.html``.

Every part of ecocube adds its section through :class:`ReportSection`; figures are matplotlib
figures saved as PNG next to the page so the report folder can be moved or served as is.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["MISSING", "ReportSection", "save_figure", "table_html", "write_report"]


@dataclass
class ReportSection:
    """One section of the report.

    Attributes
    ----------
    title
        Heading of the section.
    html
        Body as trusted HTML (build it with :func:`table_html` and :func:`html.escape`).
    anchor
        ``id`` of the section, used by the table of contents.
    """

    title: str
    html: str
    anchor: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def save_figure(fig: Any, out_dir: Path, name: str, *, dpi: int = 110) -> str:
    """Save a matplotlib figure as ``out_dir/figures/name.png``; return an ``<img>`` tag.

    The figure is closed afterwards so long demos do not accumulate open figures.
    """
    import matplotlib.pyplot as plt

    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="figures/{html.escape(path.name)}" alt="{html.escape(name)}">'


#: How every table of the report shows a missing value (NaN, None, NA, NaT alike).
MISSING = "–"


def table_html(df: Any, *, float_format: str = "{:.3f}", max_rows: int = 200) -> str:
    """Render a pandas DataFrame as an HTML table (escaped, numbers formatted).

    Missing values show as :data:`MISSING` whatever their kind: pandas alone writes ``NaN`` in
    float columns but ``None`` in object columns (e.g. a property absent from every item).
    Object columns whose values are all numbers or missing are formatted like float columns.
    """
    import pandas as pd

    df = df.head(max_rows).copy()
    for col in df.columns:
        values = df[col]
        if pd.api.types.is_datetime64_any_dtype(values) and values.isna().any():
            # na_rep does not reach datetime columns (they would show ``NaT``)
            df[col] = values.astype(str).where(values.notna(), MISSING)
            continue
        if values.dtype != object:
            continue
        present = values[values.notna()]
        if len(present) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in present
        ):
            df[col] = pd.to_numeric(values, errors="coerce").astype(float)
        else:
            df[col] = values.astype(object).where(values.notna(), MISSING)
    return df.to_html(
        index=False,
        escape=True,
        border=0,
        classes="tbl",
        float_format=float_format.format,
        na_rep=MISSING,
    )


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
h1{{border-bottom:2px solid #2a7;padding-bottom:.2em}} h2{{margin-top:2em;color:#175}}
table.tbl{{border-collapse:collapse;font-size:.9em;margin:.5em 0}}
table.tbl td,table.tbl th{{border:1px solid #ccc;padding:.2em .5em;text-align:right}}
table.tbl th{{background:#eef6f1}} img{{max-width:100%;margin:.5em 0}}
code,pre{{background:#f4f4f4;padding:.1em .3em}} .meta{{color:#666;font-size:.85em}}
</style></head><body>
<h1>{title}</h1>
<p class="meta">Generated {when} by ecocube {version}.</p>
<nav><ul>{toc}</ul></nav>
{body}
</body></html>
"""


def write_report(
    sections: list[ReportSection], out_dir: Path, *, title: str = "ecocube report"
) -> Path:
    """Write ``out_dir/index.html`` from the sections; return its path.

    The page is written to a temporary file and renamed, so a crash never leaves half a page.
    """
    from ecocube import __version__

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    body = "\n".join(
        f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>\n{s.html}\n</section>'
        for s in sections
    )
    page = _TEMPLATE.format(
        title=html.escape(title),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        toc=toc,
        body=body,
    )
    target = out_dir / "index.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
