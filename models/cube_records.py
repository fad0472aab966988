"""Records with coordinates only, placed on a cube: covariates and background from the cube.

:func:`cube_records` turns a records table that holds only ``species``, ``kind`` (default
``presence``), ``presence`` (survey rows) and ``x``/``y`` into the records table that
:class:`ecocube.models.SDM` fits: one column per cube variable, read at each record's cell by
the cube's own sampler (``ds.ecocube.sample_points``), and background rows where the records
have none:

* ``background=N``: ``N`` distinct cells drawn at random (seeded) among the cube's valid
  cells: every chosen variable finite and, with ``mask="land"``, on land
  (:func:`ecocube.cube.map_mask`), so the sea and nodata cells are never drawn;
* ``background="target-group"``: every cell holding a presence or survey record, once (the
  sampling effort of all the records stands for the effort behind each species).

Records that cannot be placed (outside the cube, on a nodata cell, without finite
coordinates, or with coordinates outside longitude/latitude ranges under a geographic
``crs``) are counted per reason and named in one error, or dropped with
``drop_outside=True``.

Examples
--------
>>> from ecocube.cube import open_cube
>>> from ecocube.models.cube_records import cube_records
>>> cr = cube_records(records, open_cube("cube.zarr"), background=2000)  # doctest: +SKIP
>>> cr.covariates, cr.categorical, cr.dropped  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.models.records import KINDS

__all__ = ["BACKGROUND_CHOICES", "CubeRecords", "cube_records", "cube_variables"]

#: The named ``background`` choice (besides ``None`` and a number of cells).
BACKGROUND_CHOICES = ("target-group",)
#: Reasons a record cannot be placed on the cube, in the order the error lists them.
REASONS = {
    "no_coordinates": "without finite x/y",
    "not_lonlat": "with x/y outside longitude/latitude ranges",
    "outside": "outside the cube",
    "nodata": "on nodata cells",
}


@dataclass(frozen=True)
class CubeRecords:
    """Records placed on a cube, with their covariates and background rows.

    Attributes
    ----------
    table
        The kept records (input order, their own columns kept) then the added background
        rows; ``kind`` normalised (``presence`` when the records had no ``kind``), ``x``/``y``
        in :attr:`crs` (added background rows: their cell centres), and one float32 column
        per cube variable (finite on every row).
    covariates, categorical
        Continuous and categorical cube variables among the columns.
    crs
        CRS of the ``x``/``y`` columns (the records' CRS).
    cube_crs
        CRS of the cube.
    background
        Where the background rows come from: ``"records"`` (the records' own rows only),
        ``"random"`` or ``"target-group"``.
    dropped
        Records dropped per reason (``no_coordinates``, ``not_lonlat``, ``outside``,
        ``nodata``; only reasons with records), all zero unless ``drop_outside``.
    added
        ``(len(table),)`` bool: True on the background rows added from the cube.
    """

    table: pd.DataFrame
    covariates: tuple[str, ...]
    categorical: tuple[str, ...]
    crs: str
    cube_crs: str
    background: str
    dropped: dict[str, int] = field(default_factory=dict)
    added: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every cube variable read: the continuous, then the categorical ones."""
        return (*self.covariates, *self.categorical)

    @property
    def n_added(self) -> int:
        """Number of background rows added from the cube."""
        return int(self.added.sum())


def cube_variables(
    cube: xr.Dataset,
    variables: Sequence[str] | None = None,
    *,
    categorical: Sequence[str] | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The continuous and the categorical covariates among a cube's variables.

    Parameters
    ----------
    cube
        A cube (``xarray.Dataset`` with ``y``/``x`` dimensions).
    variables
        Variables to use (default: every ``(y, x)`` variable of the cube).
    categorical
        Those to one-hot encode (default: the variables with ``ecocube:kind`` ``categorical``;
        ``continuous`` and ``fraction`` layers are continuous).

    Raises
    ------
    InvalidInputError
        An unknown or repeated variable, a variable with a dimension besides ``y``/``x``
        (e.g. ``time``), a categorical name not among the variables, or no variable at all.
    """
    import ecocube.cube  # noqa: F401  (registers ds.ecocube)

    grid = cube.ecocube.data_variables
    names = list(grid) if variables is None else [str(v) for v in variables]
    flag = "--variables / variables="
    if not names:
        raise InvalidInputError(
            f"no cube variable to use: the cube has no (y, x) variables {list(map(str, cube.data_vars))}"
            if variables is None
            else f"{flag} is empty; name cube variables, e.g. {grid[:3]}"
        )
    unknown = [v for v in names if v not in grid]
    if unknown:
        raise InvalidInputError(
            f"{flag} names {unknown}, which are not (y, x) variables of the cube; it has {grid}."
        )
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:
        raise InvalidInputError(f"{flag} names {repeated} more than once; list each once.")
    xname, yname = cube.ecocube._axis_names()
    timed = {v: [str(d) for d in cube[v].dims if d not in (xname, yname)] for v in names}
    timed = {v: d for v, d in timed.items() if d}
    if timed:
        static = [v for v in names if v not in timed]
        raise InvalidInputError(
            f"cube variable(s) {sorted(timed)} have dimensions besides y/x ({timed}); an SDM "
            "takes one layer per variable: leave them out with --variables / variables= "
            f"(e.g. {','.join(static[:4]) or 'bio1,bio12'}), or build a cube of one date "
            "(a composite) for them."
        )
    if categorical is None:
        cats = [v for v in names if cube[v].attrs.get("ecocube:kind") == "categorical"]
    else:
        cats = [str(c) for c in categorical]
        extra = [c for c in cats if c not in names]
        if extra:
            raise InvalidInputError(
                f"categorical variables {extra} are not among the variables used {names}."
            )
    return tuple(v for v in names if v not in cats), tuple(v for v in names if v in cats)


def _normalise(records: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Check the columns of ``records`` and normalise ``kind`` (default ``presence``)."""
    if len(records) == 0:
        raise InvalidInputError("the records table has no rows: give presence or survey rows.")
    missing = [c for c in ("x", "y") if c not in records.columns]
    if missing:
        raise InvalidInputError(
            f"the records lack the coordinate column(s) {missing} (columns found: "
            f"{sorted(map(str, records.columns))}); records fitted from a cube need x and y in "
            "--crs (a GeoPackage's geometry gives them)."
        )
    clash = [v for v in names if v in records.columns]
    if clash:
        raise InvalidInputError(
            f"the records already have columns {clash} named like the cube variables read at "
            "their cells; drop or rename those columns (the cube provides them)."
        )
    df = records.reset_index(drop=True).copy()
    if "kind" not in df.columns:
        df["kind"] = "presence"
    df["kind"] = df["kind"].astype(str).str.strip().str.lower()
    bad = sorted(set(df["kind"]) - set(KINDS))
    if bad:
        raise InvalidInputError(
            f"invalid kind value(s) {bad}; each row's kind must be one of {list(KINDS)} "
            "(records without a kind column are presences)."
        )
    for c in ("x", "y"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def _rows_text(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(map(str, rows[:limit].tolist()))
    return f"rows {shown}" + (", ..." if len(rows) > limit else "")


def _place(
    df: pd.DataFrame, ds: xr.Dataset, names: Sequence[str], crs: str
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Covariates at each record's cell and the mask of each reason it cannot be placed."""
    from pyproj import CRS

    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    no_xy = ~(np.isfinite(x) & np.isfinite(y))
    not_lonlat = np.zeros(len(df), dtype=bool)
    if CRS.from_user_input(crs).is_geographic:
        not_lonlat = ~no_xy & ((np.abs(x) > 180) | (np.abs(y) > 90))
    usable = ~(no_xy | not_lonlat)
    xs, ys = np.where(usable, x, np.nan), np.where(usable, y, np.nan)
    table = ds.ecocube.sample_points(xs, ys, crs=crs, variables=list(names))
    inside = table["inside"].to_numpy(bool) & usable
    values = table[list(names)].to_numpy(np.float64)
    nodata = inside & ~np.isfinite(values).all(axis=1)
    masks = {
        "no_coordinates": no_xy,
        "not_lonlat": not_lonlat,
        "outside": usable & ~inside,
        "nodata": nodata,
    }
    return table, masks


def _all_outside_message(df: pd.DataFrame, ds: xr.Dataset, crs: str) -> str:
    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    gx, gy = ds["x"].values, ds["y"].values
    fin = np.isfinite(x) & np.isfinite(y)
    span = (
        f"records x {np.min(x[fin]):.6g}..{np.max(x[fin]):.6g}, y {np.min(y[fin]):.6g}.."
        f"{np.max(y[fin]):.6g} in {crs}"
        if fin.any()
        else "no record has finite x/y"
    )
    return (
        f"none of the {len(df)} records can be placed on the cube ({span}; cube x "
        f"{gx.min():.6g}..{gx.max():.6g}, y {gy.min():.6g}..{gy.max():.6g} in "
        f"{ds.ecocube.crs}): check that x and y are not swapped (x is the longitude or "
        "easting) and that --crs / crs= is the CRS of the records."
    )


def _bad_records_message(
    masks: dict[str, np.ndarray], names: Sequence[str], values: np.ndarray, n: int, crs: str
) -> str:
    parts = []
    for key, what in REASONS.items():
        rows = np.flatnonzero(masks[key])
        if not len(rows):
            continue
        text = f"{len(rows)} {what} ({_rows_text(rows)})"
        if key == "nodata":
            per = {v: int((~np.isfinite(values[rows, j])).sum()) for j, v in enumerate(names)}
            text += f" [NaN per variable: { {k: c for k, c in per.items() if c} }]"
        if key == "not_lonlat":
            text += f" although --crs {crs!r} is geographic (another CRS?)"
        parts.append(text)
    n_bad = int(np.logical_or.reduce(list(masks.values())).sum())
    return (
        f"{n_bad} of {n} records cannot be placed on the cube: {'; '.join(parts)} (rows count "
        "from 0); pass --drop-outside / drop_outside=True to drop them, or fix their "
        "coordinates or --crs."
    )


def _check_background(background: int | str | None) -> int | str | None:
    """``None``, a number of cells (>= 1) or ``"target-group"``."""
    if background is None:
        return None
    if isinstance(background, str):
        text = background.strip().lower()
        if text in BACKGROUND_CHOICES:
            return text
        if text.isdigit():
            background = int(text)
    if isinstance(background, (int, np.integer)) and not isinstance(background, bool):
        if background >= 1:
            return int(background)
    raise InvalidInputError(
        f"--background / background={background!r} is not valid; give a number of random "
        "cells >= 1 (e.g. 10000), 'target-group' (all records' sites) or nothing (the records' "
        "own background rows)."
    )


def _cell_table(
    ds: xr.Dataset, rows: np.ndarray, cols: np.ndarray, names: Sequence[str], crs: str
) -> pd.DataFrame:
    """``x``/``y`` (in ``crs``) and the variables of cells ``(rows, cols)`` of the cube."""
    from pyproj import CRS, Transformer

    cube_crs = ds.ecocube.crs
    cx = np.asarray(ds["x"].values, dtype=np.float64)[cols]
    cy = np.asarray(ds["y"].values, dtype=np.float64)[rows]
    table = ds.ecocube.sample_points(cx, cy, crs=cube_crs, variables=list(names))
    src, dst = CRS.from_user_input(cube_crs.to_wkt()), CRS.from_user_input(crs)
    if not src.equals(dst):
        tx, ty = Transformer.from_crs(src, dst, always_xy=True).transform(cx, cy)
        cx, cy = np.asarray(tx, dtype=np.float64), np.asarray(ty, dtype=np.float64)
    out = pd.DataFrame({"kind": "background", "x": cx, "y": cy})
    for v in names:
        out[v] = table[v].to_numpy()
    return out


def _random_cells(
    ds: xr.Dataset, n: int, names: Sequence[str], mask: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``n`` distinct valid cells, drawn with ``seed``."""
    from ecocube.cube import map_mask

    valid = np.flatnonzero(map_mask(ds, mask=mask, variables=list(names)).values.ravel())
    if n > valid.size:
        raise InvalidInputError(
            f"--background {n} asks for more cells than the cube has valid ones ({valid.size} "
            f"cells with every variable finite{' on land' if mask == 'land' else ''}); give at "
            f"most {valid.size}, or 'target-group'."
        )
    pick = np.sort(np.random.default_rng(seed).choice(valid, size=n, replace=False))
    rows, cols = np.unravel_index(pick, (ds.sizes["y"], ds.sizes["x"]))
    return rows.astype(np.int64), cols.astype(np.int64)


def cube_records(
    records: pd.DataFrame,
    cube: xr.Dataset,
    *,
    variables: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    crs: str | int = "EPSG:4326",
    background: int | str | None = None,
    drop_outside: bool = False,
    mask: str = "land",
    seed: int = 0,
) -> CubeRecords:
    """Place records on a cube: their covariates from it and, if asked, background cells.

    Parameters
    ----------
    records
        Rows with ``x``, ``y`` (in ``crs``), ``species``, ``kind`` (``presence``,
        ``survey`` or ``background``; ``presence`` when the column is absent), ``presence``
        (0/1, survey rows) and any other columns (``siteid``, ``effort``...), kept.
    cube
        The cube (``xarray.Dataset`` with ``y``/``x`` variables and a CRS).
    variables
        Cube variables to read (default: every ``(y, x)`` variable; see
        :func:`cube_variables`).
    categorical
        Those that are categorical (default: by their ``ecocube:kind``).
    crs
        CRS of the records' ``x``/``y``.
    background
        ``None``: the records' own background rows only; ``N``: add ``N`` distinct random
        valid cells (seeded); ``"target-group"``: add every cell holding a presence or survey
        record, once. The records' own background rows are always kept.
    drop_outside
        Drop the records that cannot be placed (outside the cube, on a nodata cell, without
        finite or plausible coordinates) instead of raising.
    mask
        Cells random background may be drawn from besides nodata: ``"land"`` (the cube's
        land cover, else the global land mask), ``"none"`` or a cube variable (its non-zero
        cells); see :func:`ecocube.cube.map_mask`.
    seed
        Seed of the random background.

    Returns
    -------
    CubeRecords

    Raises
    ------
    InvalidInputError
        Missing ``x``/``y``, unknown ``kind`` values, variables that are unknown or have a
        time dimension, columns clashing with the variables, records that cannot be placed
        (unless ``drop_outside``; always when none can: the message hints at swapped x/y or
        a wrong CRS), presence records with no background (neither rows nor
        ``background``), or more random cells than valid ones.
    """
    import ecocube.cube  # noqa: F401  (registers ds.ecocube)
    from ecocube.models.records import check_crs

    crs_text = str(check_crs(crs))
    cont, cats = cube_variables(cube, variables, categorical=categorical)
    names = (*cont, *cats)
    choice = _check_background(background)
    df = _normalise(records, names)
    table, masks = _place(df, cube, names, crs_text)
    values = table[list(names)].to_numpy(np.float64)
    bad = np.logical_or.reduce(list(masks.values()))
    if bad.all():
        counts = {REASONS[k]: int(v.sum()) for k, v in masks.items() if v.any()}
        if not masks["nodata"].any():
            raise InvalidInputError(_all_outside_message(df, cube, crs_text))
        raise InvalidInputError(
            f"none of the {len(df)} records can be placed on the cube: "
            + ", ".join(f"{n} {why}" for why, n in counts.items())
            + f"; the variables {list(names)} are NaN at every record's cell: check that the "
            "cube holds data there (e.g. `ecocube cube build` finished) or choose --variables"
        )
    dropped: dict[str, int] = {}
    if bad.any():
        if not drop_outside:
            raise InvalidInputError(_bad_records_message(masks, names, values, len(df), crs_text))
        dropped = {k: int(m.sum()) for k, m in masks.items() if m.any()}
    keep = ~bad
    kept = df.loc[keep].reset_index(drop=True)
    for v in names:
        kept[v] = table.loc[keep, v].to_numpy()
    has_bg = bool((kept["kind"] == "background").any())
    has_po = bool((kept["kind"] == "presence").any())
    if not (kept["kind"] != "background").any():
        raise InvalidInputError(
            "the records hold only background rows: add presence records or survey rows."
        )
    if choice is None and has_po and not has_bg:
        raise InvalidInputError(
            f"the records hold {int((kept['kind'] == 'presence').sum())} presence records but "
            "no background rows; pass --background N / background=N (N random cells of the "
            "cube, e.g. 10000) or --background target-group (all records' sites), or add rows "
            "with kind='background'."
        )
    source = "records"
    extra = kept.iloc[:0]
    if isinstance(choice, int):
        rows, cols = _random_cells(cube, choice, names, mask, seed)
        extra, source = _cell_table(cube, rows, cols, names, crs_text), "random"
    elif choice == "target-group":
        sites = (kept["kind"] != "background").to_numpy()
        rc = table.loc[keep, ["row", "col"]].to_numpy(np.int64)[sites]
        width = int(cube.sizes["x"])
        cells = np.unique(rc[:, 0] * width + rc[:, 1])
        extra = _cell_table(cube, cells // width, cells % width, names, crs_text)
        source = "target-group"
    out = pd.concat([kept, extra], ignore_index=True) if len(extra) else kept
    added = np.r_[np.zeros(len(kept), dtype=bool), np.ones(len(extra), dtype=bool)]
    for v in names:
        out[v] = out[v].astype(np.float32)
    return CubeRecords(
        table=out,
        covariates=cont,
        categorical=cats,
        crs=crs_text,
        cube_crs=str(cube.ecocube.crs),
        background=source,
        dropped=dropped,
        added=added,
    )
