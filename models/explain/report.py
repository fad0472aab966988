"""``ecocube report shap``: one self-contained HTML report of a fitted SDM's SHAP values.

:func:`shap_report` loads a model folder (``ecocube sdm fit --out``), draws a seeded
background sample and a sample of explained cells from the valid cells of a cube, explains the
model's log-intensity (:func:`~ecocube.models.explain.explain_cells`), explains every valid
cell of the (optionally thinned) grid for the spatial maps, and writes:

* the report (``out``): per species and for the community (the mean log-intensity over the
  explained species) the global importance (mean |SHAP|, with the 90 % interval over posterior
  draws or ensemble members), a beeswarm, dependence curves, spatial SHAP maps per variable
  and per group, and the shadow distribution (climate group > 0, land-cover group < 0) with
  its area when both groups are given. Images are PNGs embedded as base64 ``data:`` URIs and
  the page loads nothing from the network;
* a JSON summary (``json_out``): ``explainer``, ``explained_output``, ``n_cells``,
  ``n_background``, ``additivity_p99``, ``importance`` ({species: {variable: mean |SHAP|}}),
  ``importance_interval``, ``groups`` and ``shadow_area_km2``;
* the spatial SHAP layers as Zarr on the cube's grid (``maps``): ``shap``
  (``species, variable, y, x``), ``shap_group`` (``species, group, y, x``) and ``shadow``
  (``species, y, x``; 1 in the shadow distribution, 0 elsewhere, NaN off the mask),
  registered as a STAC item of the collection ``ecocube-shap`` of a static catalog
  (``catalog``; :func:`ecocube.catalog._shap_items.register_shap_maps`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecocube._atomic import (
    check_no_file_parent,
    check_output_file,
    check_replaceable,
    swap_into_place,
    temporary_sibling,
    write_file_atomic,
)
from ecocube.errors import InvalidInputError
from ecocube.models.explain._explain import explain_cells, sample_cells, valid_cells
from ecocube.models.explain._explainers import EXPLAINED_OUTPUT, EXPLAINERS, Attribution
from ecocube.models.explain.shadow import (
    CLIMATE,
    LANDCOVER,
    group_values,
    parse_groups,
    resolve_groups,
    shadow_mask,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["COMMUNITY", "ShapReport", "shap_report"]

#: Most valid cells the spatial SHAP maps explain by default (``map_stride=None``).
MAP_CELLS = 20_000

#: Name of the community column (mean log-intensity over the explained species).
COMMUNITY = "community"
_EARTH_RADIUS_KM = 6371.0088


@dataclass
class ShapReport:
    """What :func:`shap_report` wrote and measured.

    Attributes
    ----------
    report, json, maps
        Paths written (``None`` when not asked for).
    summary
        The JSON summary (also when not written).
    attribution
        SHAP values at the explained cells.
    seconds
        Wall time.
    figures
        Captions of the embedded figures, in page order.
    """

    report: Path
    json: Path | None
    maps: Path | None
    summary: dict[str, Any]
    attribution: Attribution
    seconds: float
    figures: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- helpers
def _check_maps_target(maps: Path) -> None:
    check_no_file_parent(maps, f"--maps {str(maps)!r}")
    check_replaceable(maps, markers=("zarr.json", ".zgroup", ".zattrs"), what="a Zarr store")


def _open(cube: xr.Dataset | str | os.PathLike[str]) -> tuple[xr.Dataset, str]:
    import xarray as xr

    if isinstance(cube, xr.Dataset):
        return cube, "in-memory cube"
    from ecocube.cube import open_cube

    return open_cube(Path(cube), chunks=None), str(cube)


def _cell_area_km2(ds: xr.Dataset) -> np.ndarray:
    """``(y,)`` area of one cell of ``ds``'s grid per row, km² (geographic degrees on the
    sphere, or projected metres)."""
    import rioxarray  # noqa: F401  (the .rio accessor)

    xs, ys = np.asarray(ds["x"].values), np.asarray(ds["y"].values)
    dx = abs(float(xs[1] - xs[0])) if xs.size > 1 else 0.0
    dy = abs(float(ys[1] - ys[0])) if ys.size > 1 else 0.0
    crs = ds.rio.crs if "spatial_ref" in ds.coords or "spatial_ref" in ds else None
    if crs is not None and not crs.is_geographic:
        return np.full(ys.size, dx * dy / 1e6)
    lat = np.radians(ys)
    half = math.radians(dy) / 2
    band = np.abs(np.sin(np.clip(lat + half, -np.pi / 2, np.pi / 2)) - np.sin(lat - half))
    return np.asarray(_EARTH_RADIUS_KM**2 * math.radians(dx) * band)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _with_community(attr: Attribution) -> Attribution:
    """``attr`` with a last species column: the mean over species (SHAP is linear)."""
    if len(attr.species) < 2:
        return attr
    di = attr.draw_importance
    return Attribution(
        explainer=attr.explainer,
        variables=attr.variables,
        species=(*attr.species, COMMUNITY),
        values=np.concatenate([attr.values, attr.values.mean(1, keepdims=True)], axis=1),
        base=np.append(attr.base, attr.base.mean()),
        output=np.concatenate([attr.output, attr.output.mean(1, keepdims=True)], axis=1),
        inputs=attr.inputs,
        n_background=attr.n_background,
        draw_importance=None
        if di is None
        else np.concatenate([di, np.full((di.shape[0], 1, di.shape[2]), np.nan)], axis=1),
    )


# ---------------------------------------------------------------------------- figures
def _importance_figure(attr: Attribution, s: int, groups: dict[str, tuple[str, ...]]) -> Any:
    import matplotlib.pyplot as plt

    imp = attr.importance()[s]
    names = list(attr.variables)
    interval = attr.importance_interval()
    order = np.argsort(imp)
    fig, axes = plt.subplots(1, 2 if groups else 1, figsize=(9 if groups else 5, 3.2))
    ax = axes[0] if groups else axes
    err = None
    if interval is not None and np.isfinite(interval[:, s]).all():
        err = np.abs(interval[:, s][:, order] - imp[order][None, :])
    ax.barh(np.array(names)[order], imp[order], xerr=err, color="#3b6ea5", capsize=3)
    ax.set_xlabel("mean |SHAP| (log-intensity)")
    ax.set_title(
        "variables" + (" (90 % interval over draws or members)" if err is not None else "")
    )
    if groups:
        gv = np.abs(group_values(attr.values[:, s], attr.variables, groups)).mean(0)
        axes[1].barh(list(groups), gv, color="#a5623b")
        axes[1].set_xlabel("mean |group SHAP|")
        axes[1].set_title("groups (sum of members)")
    fig.tight_layout()
    return fig


def _beeswarm_figure(attr: Attribution, s: int) -> Any:
    import matplotlib.pyplot as plt
    import shap

    explanation = shap.Explanation(
        values=attr.values[:, s],
        base_values=np.full(attr.n_cells, attr.base[s]),
        data=attr.inputs,
        feature_names=list(attr.variables),
    )
    shap.plots.beeswarm(explanation, show=False, max_display=12, plot_size=(6.5, 3.5))
    return plt.gcf()


def _dependence_figure(attr: Attribution, s: int, top: int = 4) -> Any:
    import matplotlib.pyplot as plt

    order = np.argsort(attr.importance()[s])[::-1][:top]
    fig, axes = plt.subplots(1, len(order), figsize=(3.0 * len(order), 2.8), squeeze=False)
    for ax, j in zip(axes[0], order, strict=True):
        x, y = attr.inputs[:, j], attr.values[:, s, j]
        ax.scatter(x, y, s=4, alpha=0.5, color="#3b6ea5")
        sort = np.argsort(x)
        if x.size >= 10:
            k = max(3, x.size // 15)
            smooth = np.convolve(y[sort], np.ones(k) / k, mode="valid")
            ax.plot(x[sort][k // 2 : k // 2 + smooth.size], smooth, color="black", lw=1.2)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xlabel(attr.variables[j])
        ax.set_ylabel("SHAP (log-intensity)")
    fig.suptitle("dependence: SHAP against the variable's value (line: running mean)")
    fig.tight_layout()
    return fig


def _maps_figure(
    layers: list[tuple[str, np.ndarray]],
    extent: tuple[float, float, float, float],
    title: str,
    ncols: int = 4,
) -> Any:
    import matplotlib.pyplot as plt

    n = len(layers)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.9 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax, (name, grid) in zip(axes.ravel(), layers, strict=False):
        ax.set_facecolor("#dddddd")
        finite = grid[np.isfinite(grid)]
        lim = float(np.quantile(np.abs(finite), 0.98)) if finite.size else 1.0
        im = ax.imshow(
            grid, extent=extent, cmap="RdBu_r", vmin=-lim or -1, vmax=lim or 1, origin="upper"
        )
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title + " (grey: masked)")
    fig.tight_layout()
    return fig


def _shadow_figure(
    shadow: np.ndarray, valid: np.ndarray, extent: tuple[float, float, float, float], title: str
) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    grid = np.where(valid, shadow.astype(float), np.nan)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.set_facecolor("#dddddd")
    ax.imshow(grid, extent=extent, cmap=ListedColormap(["#e8e2c8", "#b2182b"]), vmin=0, vmax=1)
    ax.legend(
        handles=[
            Patch(color="#b2182b", label="shadow: climate > 0, land cover < 0"),
            Patch(color="#e8e2c8", label="other explained cells"),
            Patch(color="#dddddd", label="masked"),
        ],
        fontsize=7,
        loc="lower left",
    )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- the report
def _check_species(species: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    if species is None:
        return list(known)
    chosen = [str(s) for s in species]
    if not chosen:
        raise InvalidInputError("species=[] names no species; give at least one or None for all")
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise InvalidInputError(f"--species {unknown} are not in the model; it has {list(known)}")
    return chosen


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidInputError(f"{name}={value!r} must be a positive integer")
    return int(value)


def shap_report(
    model_dir: str | os.PathLike[str],
    cube: xr.Dataset | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    species: Sequence[str] | None = None,
    groups: str | dict[str, Sequence[str]] | None = None,
    cells: int = 1000,
    background: int = 64,
    seed: int = 0,
    json_out: str | os.PathLike[str] | None = None,
    maps: str | os.PathLike[str] | None = None,
    catalog: str | os.PathLike[str] | None = None,
    mask: str = "land",
    map_stride: int | None = None,
    max_draws: int = 100,
    steps: int = 16,
    device: str = "cpu",
    progress: bool = True,
) -> ShapReport:
    """Explain a fitted model over a cube and write the HTML report (and JSON, Zarr maps).

    Parameters
    ----------
    model_dir
        Folder written by ``ecocube sdm fit --out`` (a ``maxent-net`` or ``integrated`` model).
    cube
        Cube (path of a Zarr store or a dataset) holding the model's input variables.
    out
        HTML file to write.
    species
        Species to explain (default: every species of the model).
    groups
        ``"climate=bio*,landcover=landuse_*"`` or ``{name: [glob, ...]}``; the shadow
        distribution needs the groups ``climate`` and ``landcover``.
    cells
        Cells explained for the importance, beeswarm and dependence plots (random valid cells).
    background
        Background cells (random valid cells; the baseline of the SHAP values).
    seed
        Seed of both samples.
    json_out
        JSON summary to write.
    maps
        Zarr store of the spatial SHAP layers to write.
    catalog
        Static STAC catalog to register the ``maps`` store in (collection ``ecocube-shap``).
    mask
        Cells explained: ``"land"``, ``"none"`` or a cube variable (:func:`ecocube.cube.map_mask`).
    map_stride
        Explain every ``map_stride``-th row and column for the spatial maps (1: every cell).
        ``None``: the smallest stride that keeps the maps to at most :data:`MAP_CELLS` valid
        cells, so the default report of a country-sized cube stays minutes, not hours.
    max_draws
        Most posterior draws or members explained for the importance intervals.
    steps
        Path-integral points of expected gradients (networks).
    device
        Torch device the model is loaded on.
    progress
        Show progress lines.

    Returns
    -------
    ShapReport

    Raises
    ------
    InvalidInputError
        A folder that is not a model, a multimodal model, unknown species, a group matching no
        variable, a cube lacking the model's variables or without valid cells, bad sizes or
        output paths.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ecocube._progress import progress as progress_bar
    from ecocube.models import SDM

    tic = time.perf_counter()
    cells = _positive(cells, "cells")
    background = _positive(background, "background")
    if map_stride is not None:
        map_stride = _positive(map_stride, "map_stride")
    report_path = check_output_file(out, option="--out")
    json_path = None if json_out is None else check_output_file(json_out, option="--json")
    maps_path = None if maps is None else Path(maps)
    if maps_path is not None:
        _check_maps_target(maps_path)
    if catalog is not None and maps_path is None:
        raise InvalidInputError(
            f"catalog={str(catalog)!r} registers the spatial SHAP layers, but no maps store "
            "is written; give --maps too"
        )
    sdm = SDM.load(model_dir, device=device)
    if sdm.model == "multimodal":
        raise InvalidInputError(
            f"{str(model_dir)!r} holds a multimodal model; SHAP reports explain tabular models "
            "(maxent-net, integrated): fit one of them on the same covariates to explain it."
        )
    chosen = _check_species(species, sdm.species_)
    ds, cube_label = _open(cube)
    variables = list(sdm.inputs.variables)
    sdm.inputs.check([str(v) for v in ds.data_vars], "the cube")
    patterns = parse_groups(groups) if isinstance(groups, str) or groups is None else groups
    group_map = resolve_groups({k: tuple(v) for k, v in patterns.items()}, variables)
    valid = valid_cells(ds, variables, mask)
    if not valid.any():
        raise InvalidInputError(
            f"the cube has no cell with finite {variables} under mask={mask!r}; give a cube "
            "that covers the model's region or another mask"
        )
    rng = np.random.default_rng(seed)
    bg_table = sample_cells(ds, variables, valid, background, rng)
    cell_table = sample_cells(ds, variables, valid, cells, rng)
    attr = explain_cells(
        sdm, cell_table, bg_table, species=chosen, max_draws=max_draws, steps=steps
    )

    # spatial maps: every valid cell of the thinned grid, mean function only
    if map_stride is None:
        map_stride = max(1, int(np.ceil(np.sqrt(valid.sum() / MAP_CELLS))))
    thin = ds.isel(y=slice(None, None, map_stride), x=slice(None, None, map_stride))
    thin_valid = valid[::map_stride, ::map_stride]
    grid_table = sample_cells(thin, variables, thin_valid, None, rng)
    with progress_bar("SHAP maps", total=len(grid_table), unit="cells", enabled=progress) as bar:
        grid_attr = explain_cells(
            sdm,
            grid_table,
            bg_table,
            species=chosen,
            explainer=attr.explainer,
            max_draws=0,
            steps=steps,
            progress=lambda k: bar.advance(k),
        )
    ny, nx = thin_valid.shape
    rows, cols = grid_table["row"].to_numpy(), grid_table["col"].to_numpy()

    def to_grid(values: np.ndarray) -> np.ndarray:
        """``(cells, ...)`` -> ``(..., y, x)`` with NaN off the explained cells."""
        out_ = np.full((*values.shape[1:], ny, nx), np.nan, dtype=np.float32)
        out_[..., rows, cols] = np.moveaxis(values, 0, -1)
        return out_

    shap_grid = to_grid(grid_attr.values)  # (S, V, y, x)
    gvals = group_values(grid_attr.values, grid_attr.variables, group_map)  # (n, S, G)
    group_grid = to_grid(gvals)  # (S, G, y, x)
    has_shadow = CLIMATE in group_map and LANDCOVER in group_map
    area = _cell_area_km2(thin)  # a thinned cell stands for map_stride² cells
    shadow_grid = flags = None
    shadow_area: dict[str, float] = {}
    if has_shadow:
        gi = list(group_map)
        flags = shadow_mask(gvals[..., gi.index(CLIMATE)], gvals[..., gi.index(LANDCOVER)])
        shadow_grid = to_grid(flags.astype(np.float32))  # (S, y, x)
        for k, sp in enumerate(chosen):
            shadow_area[sp] = float((flags[:, k] * area[rows]).sum())

    xs = np.asarray(thin["x"].values)
    ys = np.asarray(thin["y"].values)
    hx = abs(float(xs[1] - xs[0])) / 2 if xs.size > 1 else 0.5
    hy = abs(float(ys[1] - ys[0])) / 2 if ys.size > 1 else 0.5
    extent = (
        float(xs.min()) - hx,
        float(xs.max()) + hx,
        float(ys.min()) - hy,
        float(ys.max()) + hy,
    )
    if ys.size > 1 and ys[-1] > ys[0]:  # north up
        shap_grid, group_grid = shap_grid[..., ::-1, :], group_grid[..., ::-1, :]
        if shadow_grid is not None:
            shadow_grid = shadow_grid[..., ::-1, :]
    p99 = attr.additivity_p99()
    interval = attr.importance_interval()
    importance = attr.importance()
    summary: dict[str, Any] = {
        "explainer": attr.explainer,
        "explainer_description": EXPLAINERS[attr.explainer],
        "explained_output": EXPLAINED_OUTPUT,
        "model": sdm.model,
        "model_dir": str(model_dir),
        "cube": cube_label,
        "n_cells": attr.n_cells,
        "n_background": attr.n_background,
        "n_draws_explained": 0 if attr.draw_importance is None else len(attr.draw_importance),
        "n_map_cells": len(grid_table),
        "map_stride": map_stride,
        "seed": seed,
        "additivity_p99": p99,
        "additivity_p99_maps": grid_attr.additivity_p99(),
        "species": chosen,
        "variables": list(attr.variables),
        "groups": {k: list(v) for k, v in group_map.items()},
        "importance": {
            sp: {v: float(importance[k, j]) for j, v in enumerate(attr.variables)}
            for k, sp in enumerate(chosen)
        },
        "importance_interval": None
        if interval is None
        else {
            sp: {
                v: [float(interval[0, k, j]), float(interval[1, k, j])]
                for j, v in enumerate(attr.variables)
            }
            for k, sp in enumerate(chosen)
        },
        "shadow_area_km2": shadow_area if has_shadow else None,
    }

    # ------------------------------------------------------------------ html
    shown = _with_community(attr)
    parts: list[str] = []
    figures: list[str] = []

    def add(fig: Any, alt: str) -> None:
        figures.append(alt)
        parts.append(
            f"<figure>{_img(_png(fig), alt)}<figcaption>{html.escape(alt)}</figcaption></figure>"
        )

    names = list(shown.species)
    for k, sp in enumerate(names):
        community = sp == COMMUNITY and len(chosen) > 1
        label = "Community (mean log-intensity over species)" if community else sp
        parts.append(f'<section id="s{k}"><h2>{html.escape(label)}</h2>')
        add(_importance_figure(shown, k, group_map), f"{label}: global importance")
        add(_beeswarm_figure(shown, k), f"{label}: beeswarm of SHAP values")
        add(_dependence_figure(shown, k), f"{label}: dependence curves")
        if community:
            var_maps = shap_grid.mean(0)
            grp_maps = group_grid.mean(0)
        else:
            var_maps, grp_maps = shap_grid[k], group_grid[k]
        layers = [(v, var_maps[j]) for j, v in enumerate(attr.variables)]
        layers += [(f"group {g}", grp_maps[j]) for j, g in enumerate(group_map)]
        add(_maps_figure(layers, extent, f"{label}: spatial SHAP"), f"{label}: spatial SHAP maps")
        if shadow_grid is not None and not community:
            add(
                _shadow_figure(shadow_grid[k] > 0, np.isfinite(shadow_grid[k]), extent, label),
                f"{label}: shadow distribution",
            )
            parts.append(
                f"<p>Shadow distribution area: <b>{shadow_area[sp]:,.1f} km²</b> "
                f"(explained cells at stride {map_stride}).</p>"
            )
        parts.append("</section>")
    if not has_shadow:
        shadow_note = (
            "<p>No shadow distribution: it needs the groups <code>climate</code> and "
            f"<code>landcover</code> (given: {html.escape(str(list(group_map)) or '[]')}).</p>"
        )
    else:
        rows_html = "".join(
            f"<tr><td>{html.escape(sp)}</td><td>{a:,.1f}</td></tr>" for sp, a in shadow_area.items()
        )
        shadow_note = (
            "<h3>Shadow distribution (climate group &gt; 0, land-cover group &lt; 0)</h3>"
            f"<table><tr><th>species</th><th>area (km²)</th></tr>{rows_html}</table>"
        )
    header = f"""
<h1>SHAP explanation report</h1>
<table class="meta">
<tr><th>model</th><td>{html.escape(sdm.model)} ({html.escape(str(model_dir))})</td></tr>
<tr><th>cube</th><td>{html.escape(cube_label)}</td></tr>
<tr><th>explainer</th><td>{html.escape(attr.explainer)}: {html.escape(EXPLAINERS[attr.explainer])}</td></tr>
<tr><th>explained output</th><td>{html.escape(EXPLAINED_OUTPUT)}</td></tr>
<tr><th>background</th><td>{attr.n_background} random valid cells (seed {seed})</td></tr>
<tr><th>explained cells</th><td>{attr.n_cells} (summaries); {len(grid_table)} (maps, stride {map_stride})</td></tr>
<tr><th>posterior draws / members explained</th><td>{summary["n_draws_explained"]}</td></tr>
<tr><th>additivity</th><td>p99 over cells of |ΣSHAP + base − f(x)| / sd(f(x)) = {p99:.2e}
 (maps: {summary["additivity_p99_maps"]:.2e})</td></tr>
<tr><th>groups</th><td>{html.escape(json.dumps(summary["groups"]))}</td></tr>
</table>
{shadow_note}
"""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>SHAP report: {html.escape(sdm.model)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1200px; margin: 1em auto; color: #222; }}
img {{ max-width: 100%; }} figure {{ margin: 1em 0; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px;
 text-align: left; }}
</style></head><body>
{header}
{"".join(parts)}
<footer><p>Written by ecocube on {datetime.now(UTC).isoformat(timespec="seconds")}.</p></footer>
</body></html>
"""
    write_file_atomic(report_path, lambda p: p.write_text(page, encoding="utf-8"))
    if maps_path is not None:
        _write_maps(
            maps_path,
            thin,
            chosen,
            list(attr.variables),
            list(group_map),
            to_grid(grid_attr.values),
            to_grid(gvals),
            None if flags is None else to_grid(flags.astype(np.float32)),
            {
                "explainer": attr.explainer,
                "explained_output": EXPLAINED_OUTPUT,
                "model_dir": str(model_dir),
                "map_stride": map_stride,
                "seed": seed,
                "n_background": attr.n_background,
            },
        )
    if maps_path is not None and catalog is not None:
        from ecocube.catalog._shap_items import register_shap_maps

        summary["stac_item"] = str(register_shap_maps(maps_path, Path(catalog)).id)
    if json_path is not None:
        text = json.dumps(summary, indent=1, allow_nan=False)
        write_file_atomic(json_path, lambda p: p.write_text(text, encoding="utf-8"))
    return ShapReport(
        report_path, json_path, maps_path, summary, attr, time.perf_counter() - tic, figures
    )


def _write_maps(
    target: Path,
    grid: xr.Dataset,
    species: list[str],
    variables: list[str],
    groups: list[str],
    shap_grid: np.ndarray,
    group_grid: np.ndarray,
    shadow: np.ndarray | None,
    attrs: dict[str, Any],
) -> Path:
    """The spatial SHAP layers as a Zarr store on ``grid``'s coordinates and CRS."""
    import rioxarray  # noqa: F401
    import xarray as xr

    mapping = {"grid_mapping": "spatial_ref"}
    coords: dict[str, Any] = {
        "species": ("species", np.asarray(species, dtype=str)),
        "variable": ("variable", np.asarray(variables, dtype=str)),
        "group": ("group", np.asarray(groups, dtype=str)),
        "y": ("y", grid["y"].values, dict(grid["y"].attrs)),
        "x": ("x", grid["x"].values, dict(grid["x"].attrs)),
    }
    data: dict[str, Any] = {
        "shap": (
            ("species", "variable", "y", "x"),
            shap_grid,
            {
                "long_name": "SHAP value of the variable for the log-intensity",
                "units": "1",
                **mapping,
            },
        ),
        "shap_group": (
            ("species", "group", "y", "x"),
            group_grid,
            {
                "long_name": "SHAP value of the group (sum of its variables)",
                "units": "1",
                **mapping,
            },
        ),
    }
    if shadow is not None:
        data["shadow"] = (
            ("species", "y", "x"),
            shadow,
            {
                "long_name": "shadow distribution: climate SHAP > 0 and land-cover SHAP < 0",
                "units": "1",
                **mapping,
            },
        )
    ds = xr.Dataset(data, coords=coords)
    crs = grid.rio.crs
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    ds.attrs.update(
        {
            "title": "ecocube spatial SHAP layers",
            "ecocube:complete": 1,
            "ecocube:created": datetime.now(UTC).isoformat(),
            **{
                f"ecocube:{k}": json.dumps(v) if not isinstance(v, str) else v
                for k, v in attrs.items()
            },
        }
    )
    with temporary_sibling(target, directory=False, suffix=".zarr") as tmp:
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        swap_into_place(tmp, target)
    return target
