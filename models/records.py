"""Occurrence records of a user's own data: reading, validation and covariate encoding.

A records table has one row per presence record, background point or survey visit:

========== ==========================================================================
column     meaning
========== ==========================================================================
species    species name (optional: one species called ``"species"`` if absent)
kind       ``presence``, ``background`` or ``survey``
presence   0/1 detection, required for ``survey`` rows
<covs>     the covariate columns named by the user
x, y       optional coordinates (with a CRS) or a GeoPackage geometry, for spatial CV
siteid     optional site identifier (survey rows of one site share it)
effort     optional survey area/effort (> 0); its log is the survey offset
========== ==========================================================================

:func:`survey_table` turns survey rows into a site x species detection matrix; the covariates
become a design matrix through :class:`ecocube.models.CovariateEncoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = [
    "KINDS",
    "check_coordinates",
    "check_crs",
    "read_table",
    "survey_table",
    "validate_records",
    "validate_sites",
]

#: Valid values of the ``kind`` column.
KINDS: tuple[str, ...] = ("presence", "background", "survey")
_SUFFIXES = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet", ".gpkg": "gpkg"}


def read_table(path: str | Path, *, crs: str | int | None = None) -> pd.DataFrame:
    """Read a CSV (optionally gzipped), Parquet or GeoPackage table.

    A GeoPackage's point geometry becomes ``x``/``y`` columns (reprojected to ``crs`` when given).

    Raises
    ------
    InvalidInputError
        The file does not exist or its type is not one of CSV, Parquet, GeoPackage.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"file {str(path)!r} does not exist.")
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InvalidInputError(
            f"cannot read {str(path)!r}: unsupported file type {path.suffix!r}; use a .csv, "
            ".csv.gz, .parquet or .gpkg file."
        )
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "parquet":
            return pd.read_parquet(path)
        import geopandas as gpd

        gdf = gpd.read_file(path)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"cannot read {str(path)!r} as {kind}: {err}") from err
    if crs is not None and gdf.crs is not None:
        gdf = gdf.to_crs(crs)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if not gdf.geometry.is_empty.all():
        cent = gdf.geometry.centroid if not (gdf.geom_type == "Point").all() else gdf.geometry
        df["x"] = cent.x.to_numpy()
        df["y"] = cent.y.to_numpy()
    return df


def check_crs(crs: str | int | None) -> str | None:
    """The CRS as a string (``None`` stays ``None``), or a clear error when it is not valid."""
    if crs is None:
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(crs)
    except CRSError as err:
        raise InvalidInputError(
            f"--crs {crs!r} is not a valid CRS ({err}); give e.g. EPSG:4326 or a WKT/PROJ string."
        ) from err
    return str(crs)


def check_coordinates(df: pd.DataFrame, crs: str | None, what: str = "records") -> None:
    """With a geographic ``crs``, ``x``/``y`` must be longitudes/latitudes.

    Catches projected coordinates (metres) declared as, e.g., EPSG:4326, a common mix-up with
    GeoPackages that carry no CRS.
    """
    if crs is None or not {"x", "y"} <= set(df.columns):
        return
    from pyproj import CRS

    if not CRS.from_user_input(crs).is_geographic:
        return
    x = pd.to_numeric(df["x"], errors="coerce").abs()
    y = pd.to_numeric(df["y"], errors="coerce").abs()
    # NaN/inf coordinates are missing ones (validate_records keeps them as NaN)
    bad = int((((x > 180) & np.isfinite(x)) | ((y > 90) & np.isfinite(y))).sum())
    if bad:
        raise InvalidInputError(
            f"{bad} of {len(df)} rows of the {what} have x/y outside longitude/latitude ranges, "
            f"but --crs {crs!r} is geographic; give the CRS the coordinates are in (e.g. a "
            "projected EPSG code)."
        )


def _check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"covariate column(s) {missing} missing from the {what}; available columns: "
            f"{sorted(map(str, df.columns))}."
        )


def _non_numeric(column: pd.Series) -> tuple[pd.Series, str]:
    """The column as numbers (NaN where not a number) and a description of its non-numeric
    values (``"N non-numeric value(s) (e.g. [...])"``), empty when there are none."""
    values = pd.to_numeric(column, errors="coerce")
    bad = column[values.isna() & column.notna()]
    if not len(bad):
        return values, ""
    return values, f"{len(bad)} non-numeric value(s) (e.g. {sorted(map(str, bad.unique()))[:5]})"


def _check_numeric(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Continuous covariates must be numbers (empty cells are NaN, handled separately)."""
    for c in columns:
        if pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            continue
        bad = _non_numeric(df[c])[1]
        if bad:
            raise InvalidInputError(
                f"continuous covariate {c!r} of the {what} holds {bad}; fix them, or pass the "
                "column with --categorical if it is a category."
            )


def _nonfinite(
    df: pd.DataFrame, covariates: Sequence[str], categorical: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Masks of NaN (any covariate) and of +/-inf (continuous covariates) cells."""
    cols = list(covariates) + list(categorical)
    nan = df[cols].isna()
    inf = pd.DataFrame(False, index=df.index, columns=cols)
    for c in covariates:
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        inf[c] = np.isinf(values)
    return nan, inf


def _describe_nonfinite(nan: pd.DataFrame, inf: pd.DataFrame) -> str:
    """``NaN per column: {...}; infinite (inf/-inf) per column: {...}`` (non-empty parts)."""
    parts = []
    n_nan = {str(c): int(n) for c, n in nan.sum().items() if n}
    n_inf = {str(c): int(n) for c, n in inf.sum().items() if n}
    if n_nan:
        parts.append(f"NaN per column: {n_nan}")
    if n_inf:
        parts.append(f"infinite (inf/-inf) per column: {n_inf}")
    return "; ".join(parts)


def _handle_na(
    df: pd.DataFrame,
    covariates: Sequence[str],
    categorical: Sequence[str],
    drop_na: bool,
    what: str,
    *,
    reset_index: bool = True,
) -> pd.DataFrame:
    """Reject (or, with ``drop_na``, drop) rows with a NaN or infinite covariate.

    Infinite values of continuous covariates count as missing: a model cannot standardise
    them, and they would turn the fit or the predictions into NaN. ``reset_index=False``
    keeps the row labels of the kept rows (the sites' row numbers).
    """
    nan, inf = _nonfinite(df, covariates, categorical)
    bad = (nan | inf).any(axis=1)
    if not bad.any():
        return df
    n_bad, detail = int(bad.sum()), _describe_nonfinite(nan, inf)
    problem = f"the {what} have NaN or infinite covariates"
    if drop_na:
        if n_bad == len(df):
            raise InvalidInputError(
                f"all {len(df)} rows of {problem} ({detail}); nothing is left after dropping "
                "them: fix the covariate values."
            )
        kept = df.loc[~bad]
        return kept.reset_index(drop=True) if reset_index else kept
    raise InvalidInputError(
        f"{n_bad} of {len(df)} rows of {problem} ({detail}); fill or correct them, or pass "
        "--drop-na / drop_na=True to drop those rows."
    )


def _handle_xy(df: pd.DataFrame) -> pd.DataFrame:
    """Check the optional ``x``/``y`` coordinates of the records (both or neither; numbers).

    Coordinates only choose the cross-validation folds, so a record without them (NaN or
    infinite, e.g. background points sampled from covariate rasters) is kept: its ``x``/``y``
    become NaN and :class:`~ecocube.models.SDM` then falls back to a random split and says
    why. Returns the table with float ``x``/``y``.
    """
    has = [c for c in ("x", "y") if c in df.columns]
    if not has:
        return df
    if len(has) == 1:
        missing = "y" if has == ["x"] else "x"
        raise InvalidInputError(
            f"the records have a {has[0]!r} column but no {missing!r} column; give both x and y "
            "(coordinates, used for the spatial cross-validation) or neither."
        )
    coords = {}
    for c in ("x", "y"):
        values, bad = _non_numeric(df[c])
        if bad:
            raise InvalidInputError(
                f"coordinate column {c!r} of the records holds {bad}; give numbers in the --crs "
                "units."
            )
        v = values.to_numpy(dtype=float, na_value=np.nan)
        coords[c] = np.where(np.isfinite(v), v, np.nan)
    return df.assign(x=coords["x"], y=coords["y"])


def _check_species_names(df: pd.DataFrame) -> None:
    """Presence and survey rows need a species name (background rows may leave it empty).

    A blank name (empty, whitespace only or missing) would otherwise become a species called
    ``''``. Rows are numbered from 0 in table order (the first data row of a CSV is row 0).
    """
    if "species" not in df.columns:
        return
    names = df["species"].astype("string")
    blank = (names.isna() | (names.str.strip() == "")).fillna(True).to_numpy(dtype=bool)
    blank &= df["kind"].isin(("presence", "survey")).to_numpy()
    rows = np.flatnonzero(blank)
    if len(rows):
        shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
        raise InvalidInputError(
            f"{len(rows)} presence/survey row(s) have a blank species name (rows {shown}, "
            "counting from 0); give every presence and survey row its species, or drop those "
            "rows."
        )


def validate_records(
    df: pd.DataFrame,
    covariates: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    drop_na: bool = False,
) -> pd.DataFrame:
    """Check a records table and return a normalised copy.

    The copy has a string ``species`` column (``"species"`` when absent; empty on background
    rows), a ``kind`` column, and a float ``presence`` column (NaN on non-survey rows).

    Covariates that are NaN or infinite (``inf``/``-inf``) count as missing, and so do
    non-finite ``x``/``y`` coordinates: they raise an error with the NaN and infinite counts
    per column, or, with ``drop_na``, their rows are dropped. ``x`` and ``y`` come as a pair
    and are returned as floats.

    Raises
    ------
    InvalidInputError
        No ``kind`` column, unknown ``kind`` values, a blank or missing species name on a
        presence or survey row, missing covariate columns, NaN or infinite covariates or
        coordinates (unless ``drop_na``), only one of ``x``/``y``, survey rows without
        ``presence`` or with values other than 0/1, presence records without background
        points, or a species with zero presences.
    """
    if len(df) == 0:
        raise InvalidInputError(
            "the records table has no rows: give presence, background or survey rows."
        )
    df = df.copy()
    if "kind" not in df.columns:
        raise InvalidInputError(
            f"the records need a 'kind' column with values in {list(KINDS)}; columns found: "
            f"{sorted(map(str, df.columns))}."
        )
    df["kind"] = df["kind"].astype(str).str.strip().str.lower()
    bad = sorted(set(df["kind"]) - set(KINDS))
    if bad:
        raise InvalidInputError(
            f"invalid kind value(s) {bad}; each row's kind must be one of {list(KINDS)}."
        )
    _check_species_names(df)
    _check_columns(df, list(covariates) + list(categorical), "records")
    _check_numeric(df, covariates, "records")
    df = _handle_na(df, covariates, categorical, drop_na, "records")
    df = _handle_xy(df)
    if "species" not in df.columns:
        df["species"] = "species"
    df["species"] = df["species"].astype("string").fillna("").astype(str)
    is_sv = df["kind"] == "survey"
    if is_sv.any():
        if "presence" not in df.columns:
            raise InvalidInputError(
                f"{int(is_sv.sum())} survey rows but no 'presence' column: survey rows need "
                "presence = 0 or 1."
            )
        pres = pd.to_numeric(df.loc[is_sv, "presence"], errors="coerce")
        n_missing = int(pres.isna().sum())
        if n_missing:
            raise InvalidInputError(
                f"{n_missing} survey rows have no 'presence' value; give 0 or 1 on every survey row."
            )
        if not pres.isin([0, 1]).all():
            raise InvalidInputError(
                f"survey 'presence' values must be 0 or 1; found {sorted(pres.unique().tolist())[:10]}."
            )
    df["presence"] = np.where(
        is_sv, pd.to_numeric(df.get("presence", np.nan), errors="coerce"), np.nan
    ).astype(float)
    is_po = df["kind"] == "presence"
    if is_po.any() and not (df["kind"] == "background").any():
        raise InvalidInputError(
            "presence records need background points (rows with kind='background') sampled over "
            "the study region; add them or give survey rows instead."
        )
    if not (is_po | is_sv).any():
        raise InvalidInputError(
            "the records hold only background points: add presence records or survey rows."
        )
    species = sorted(set(df.loc[is_po | is_sv, "species"]))
    n_pres = df.loc[is_po].groupby("species").size().reindex(species, fill_value=0) + df.loc[
        is_sv
    ].groupby("species")["presence"].sum().reindex(species, fill_value=0)
    zero = sorted(n_pres.index[n_pres == 0])
    if zero:
        raise InvalidInputError(
            f"species {zero} have zero presences (no presence record and no survey detection); "
            "a model cannot be fitted for them: drop them from the records."
        )
    return df


def validate_sites(
    df: pd.DataFrame,
    covariates: Sequence[str],
    *,
    categorical: Sequence[str] = (),
    drop_na: bool = False,
) -> pd.DataFrame:
    """Check a prediction sites table (at least one row, covariates present and finite).

    Parameters
    ----------
    df
        The sites, one row each, with the covariate columns.
    covariates, categorical
        Continuous and categorical covariate columns of the model.
    drop_na
        Drop sites with a NaN or infinite covariate instead of raising. The kept rows keep
        their row labels of ``df``, so callers can tell which sites were dropped.

    Raises
    ------
    InvalidInputError
        No rows, a missing or non-numeric covariate column, or NaN/infinite covariates
        (unless ``drop_na``; then only when every site would be dropped).
    """
    if len(df) == 0:
        raise InvalidInputError(
            "the sites table has no rows: give at least one site to predict at."
        )
    _check_columns(df, list(covariates) + list(categorical), "sites")
    _check_numeric(df, covariates, "sites")
    return _handle_na(df, covariates, categorical, drop_na, "sites", reset_index=False)


def survey_table(
    rows: pd.DataFrame, species: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Site x species detections of survey rows (validated by :func:`validate_records`).

    Rows sharing a ``siteid`` are one survey (covariates and effort from its first row); without
    ``siteid`` every row is its own survey of one species. Species not recorded at a surveyed
    site are unknown (NaN), not absent.

    Parameters
    ----------
    rows
        Survey rows: ``species``, ``presence`` (0/1), covariates, optional ``siteid`` and
        ``effort``.
    species
        Species in column order (every species of ``rows`` among them).

    Returns
    -------
    (sites, detections, log_effort)
        The first row of each survey (sites in ``siteid`` order), ``(n_sites, S)`` float32 0/1
        with NaN where unknown, and ``(n_sites,)`` float32 log effort (0 without ``effort``).

    Raises
    ------
    InvalidInputError
        An ``effort`` that is not a positive number.
    """
    sp_index = {s: i for i, s in enumerate(species)}
    rows = rows.reset_index(drop=True)
    key = (
        rows["siteid"].astype(str).to_numpy()
        if "siteid" in rows.columns
        else np.arange(len(rows)).astype(str)
    )
    codes, first = np.unique(key, return_index=True)
    site_of = np.searchsorted(codes, key)
    y = np.full((len(codes), len(sp_index)), np.nan, dtype=np.float32)
    y[site_of, rows["species"].map(sp_index).to_numpy()] = rows["presence"].to_numpy(np.float32)
    head = rows.iloc[first]
    if "effort" in rows.columns:
        effort = pd.to_numeric(head["effort"], errors="coerce").to_numpy(float)
        if not (np.isfinite(effort) & (effort > 0)).all():
            raise InvalidInputError(
                "the 'effort' column of survey rows must be a positive number (survey area or "
                "effort, e.g. in hectares or visits) on every survey row."
            )
        off = np.log(effort).astype(np.float32)
    else:
        off = np.zeros(len(codes), np.float32)
    return head, y, off
