"""Demo step: build the catalog from the mirror, serve it as a STAC API and search it."""

from __future__ import annotations

import html
import shutil
import time
from typing import Any

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, save_figure, table_html

__all__ = ["run"]

#: Searches shown in the report: (label, keyword arguments of ecocube.catalog.search).
DEMO_SEARCHES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "Landsat 8 New York scenes with < 10 % cloud (CQL2 filter)",
        {"collections": ["landsat-8-l1-new-york"], "filter": "eo:cloud_cover < 10"},
    ),
    ("Everything over the GAM land-use map (bbox)", {"bbox": [-84.2, 9.8, -84.0, 10.0]}),
    (
        "Emilia Sentinel-2 dates in summer 2020 with <= 5 % cloud (datetime + filter)",
        {
            "collections": ["sentinel-2-l2a-emilia"],
            "datetime": "2020-06-01/2020-08-31",
            "filter": "eo:cloud_cover <= 5",
        },
    ),
    (
        "Ocean items for 2012 (datetime)",
        {"datetime": "2012-06", "collections": ["ocean-north-atlantic", "ocean-global-cesm"]},
    ),
)


def _footprint_map(catalog: Any) -> Any:
    import matplotlib.pyplot as plt
    from shapely.geometry import shape

    fig, ax = plt.subplots(figsize=(10, 5.2))
    cmap = plt.get_cmap("tab20")
    for k, col in enumerate(sorted(catalog.get_children(), key=lambda c: c.id)):
        color = cmap(k % 20)
        label: str | None = col.id
        for item in col.get_items():
            geom = shape(item.geometry)
            minx, miny, maxx, maxy = geom.bounds
            if max(maxx - minx, maxy - miny) < 1.5:  # too small to see at world scale
                c = geom.centroid
                ax.plot(
                    c.x,
                    c.y,
                    marker="o",
                    ms=7,
                    mfc=(*color[:3], 0.6),
                    mec="k",
                    mew=0.5,
                    ls="none",
                    label=label,
                )
            else:
                for poly in getattr(geom, "geoms", [geom]):
                    x, y = poly.exterior.xy
                    huge = (maxx - minx) * (maxy - miny) > 20000
                    ax.fill(
                        x,
                        y,
                        facecolor=(*color[:3], 0.0 if huge else 0.25),
                        edgecolor=color,
                        lw=1.6,
                        label=label,
                    )
                    label = None
            label = None
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.grid(True, lw=0.3)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title("Item footprints, one colour per collection (dots: items smaller than 1.5°)")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    return fig


def run(ctx: DemoContext) -> ReportSection:
    """Build, validate, serve and search the catalog; return the report section.

    Sets ``catalog_dir``, ``stac_url`` and ``catalog_build_seconds`` of ``ctx.state``; the
    STAC API stays open in ``ctx.resources`` until the demo ends.
    """
    import pandas as pd
    import pystac

    from ecocube.catalog import build_catalog, search, serve_catalog, validate_catalog

    out = ctx.out_dir / "catalog"
    if (out / "catalog.json").is_file():  # the previous run's catalog, cubes included: start anew
        shutil.rmtree(out)
    start = time.perf_counter()
    catalog = build_catalog(out)
    build_s = time.perf_counter() - start
    problems = validate_catalog(out, check_checksums=not ctx.quick)
    ctx.console.print(f"catalog: built in {build_s:.1f} s, {len(problems)} validation problems")
    ctx.state.catalog_dir = out
    ctx.state.catalog_build_seconds = build_s

    start = time.perf_counter()
    url = ctx.resources.enter_context(serve_catalog(out))
    serve_s = time.perf_counter() - start
    ctx.state.stac_url = url
    ctx.console.print(f"catalog: STAC API at {url} (ready in {serve_s:.1f} s)")

    rows = []
    for col in sorted(catalog.get_children(), key=lambda c: c.id):
        assert isinstance(col, pystac.Collection)
        items = list(col.get_items())
        bbox = col.extent.spatial.bboxes[0]
        interval = col.extent.temporal.intervals[0]
        rows.append(
            {
                "collection": col.id,
                "items": len(items),
                "bbox (W, S, E, N)": ", ".join(f"{v:.2f}" for v in bbox),
                "start": interval[0].date().isoformat() if interval[0] else "",
                "end": interval[1].date().isoformat() if interval[1] else "",
                "extensions": ", ".join(
                    sorted({u.split("/")[3] for i in items for u in i.stac_extensions})
                ),
            }
        )
    collections = pd.DataFrame(rows)
    item_rows = []
    for col in sorted(catalog.get_children(), key=lambda c: c.id):
        for item in sorted(col.get_items(), key=lambda i: i.id):
            p = item.properties
            item_rows.append(
                {
                    "item": item.id,
                    "collection": col.id,
                    "datetime": (
                        p.get("datetime")
                        or f"{p.get('start_datetime', '')[:10]}/{p.get('end_datetime', '')[:10]}"
                    ),
                    "bbox (W, S, E, N)": ", ".join(f"{v:.3f}" for v in item.bbox or []),
                    "proj:code": p.get("proj:code", ""),
                    "assets": len(item.assets),
                    "eo:cloud_cover": p.get("eo:cloud_cover"),
                }
            )
    items_table = pd.DataFrame(item_rows)

    parts = [
        f"<p>Static STAC catalog of {len(rows)} collections and {collections['items'].sum()} "
        f"items built from the data registry in <b>{build_s:.1f} s</b> into "
        f"<code>{html.escape(str(out))}</code> (asset files hard-linked next to their items, "
        f"relative hrefs). Offline validation: <b>{len(problems)} problems</b>. Served as a "
        f"STAC API (pgstac on PostgreSQL/PostGIS, <code>rustac serve</code>) at "
        f"<code>{html.escape(url)}</code>, ready in {serve_s:.1f} s.</p>",
        "<h3>Collections</h3>",
        table_html(collections),
        f"<details><summary>All {len(items_table)} items</summary>",
        table_html(items_table, float_format="{:.2f}"),
        "</details>",
    ]
    for label, kwargs in DEMO_SEARCHES:
        t0 = time.perf_counter()
        found = search(url, **kwargs)
        ms = 1000 * (time.perf_counter() - t0)
        ctx.console.print(f"catalog: {label}: {len(found)} items ({ms:.0f} ms)")
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        table = pd.DataFrame(
            [
                {
                    "id": i.id,
                    "collection": i.collection_id,
                    "datetime": i.properties.get("datetime")
                    or f"{i.properties.get('start_datetime', '')[:10]}/"
                    f"{i.properties.get('end_datetime', '')[:10]}",
                    "eo:cloud_cover": i.properties.get("eo:cloud_cover"),
                }
                for i in found
            ]
        )
        parts.append(
            f"<h3>{html.escape(label)}</h3><p><code>search(url, {html.escape(args)})</code> "
            f"&rarr; {len(found)} items in {ms:.0f} ms</p>"
        )
        if len(table):
            parts.append(table_html(table, float_format="{:.2f}"))
    parts.append("<h3>Item footprints</h3>")
    parts.append(save_figure(_footprint_map(catalog), ctx.out_dir, "catalog_footprints"))
    return ReportSection(
        title="STAC catalog and API",
        html="\n".join(parts),
        meta={"catalog_build_seconds": build_s, "items": int(collections["items"].sum())},
    )
