"""Records validation and survey tables: every bad input has a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.records import read_table, survey_table, validate_records, validate_sites


def _records() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "species": ["a"] * 10 + [None] * 20 + ["a"] * 5 + ["b"] * 5,
            "kind": ["presence"] * 10 + ["background"] * 20 + ["survey"] * 10,
            "presence": [np.nan] * 30 + [1, 0, 0, 1, 0, 1, 0, 0, 1, 0],
            "t": rng.normal(size=n),
            "r": rng.normal(size=n),
            "veg": rng.integers(1, 4, size=n),
        }
    )


def test_valid_records_are_normalised() -> None:
    df = validate_records(_records(), ["t", "r"], categorical=["veg"])
    assert set(df["kind"]) == {"presence", "background", "survey"}
    assert df.loc[df["kind"] == "presence", "presence"].isna().all()
    assert df.loc[df["kind"] == "survey", "presence"].sum() == 4
    assert (df.loc[df["kind"] == "background", "species"] == "").all()


def test_species_column_is_optional() -> None:
    df = validate_records(_records().drop(columns="species"), ["t"])
    assert set(df["species"]) == {"species"}


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_species_names_are_refused_with_their_rows(blank) -> None:
    """A blank name on a presence or survey row is not a species called ''."""
    df = _records()
    df["species"] = df["species"].astype(object)
    df.loc[[2, 33], "species"] = blank
    with pytest.raises(
        InvalidInputError,
        match=r"^2 presence/survey row\(s\) have a blank species name \(rows 2, 33, counting "
        r"from 0\); give every presence and survey row its species",
    ):
        validate_records(df, ["t"])
    many = _records()
    many.loc[:9, "species"] = blank
    with pytest.raises(InvalidInputError, match=r"^10 .*\(rows 0, 1, .*, 9, counting"):
        validate_records(many, ["t"])
    many.loc[35:, "species"] = blank
    with pytest.raises(InvalidInputError, match=r"^15 .*\(rows 0, 1, .*, 9, \.\.\., counting"):
        validate_records(many, ["t"])
    # background rows need no species (blank names there are fine)
    bg = _records()
    bg.loc[bg["kind"] == "background", "species"] = blank
    out = validate_records(bg, ["t"])
    assert set(out.loc[out["kind"] != "background", "species"]) == {"a", "b"}


def test_missing_covariate_column() -> None:
    with pytest.raises(InvalidInputError, match=r"covariate column\(s\) \['bio1'\] missing"):
        validate_records(_records(), ["t", "bio1"])


def test_nan_covariates_error_with_counts_or_drop() -> None:
    df = _records()
    df.loc[[0, 3], "t"] = np.nan
    df.loc[5, "r"] = np.nan
    with pytest.raises(InvalidInputError, match=r"3 of 40 rows .* \{'t': 2, 'r': 1\}.*--drop-na"):
        validate_records(df, ["t", "r"])
    assert len(validate_records(df, ["t", "r"], drop_na=True)) == 37


def test_species_with_zero_presences() -> None:
    df = _records()
    df.loc[df["species"] == "b", "presence"] = 0
    with pytest.raises(InvalidInputError, match=r"species \['b'\] have zero presences"):
        validate_records(df, ["t"])


def test_kind_outside_the_set() -> None:
    df = _records()
    df.loc[0, "kind"] = "absence"
    with pytest.raises(InvalidInputError, match=r"invalid kind value\(s\) \['absence'\]"):
        validate_records(df, ["t"])


def test_missing_kind_column() -> None:
    with pytest.raises(InvalidInputError, match="need a 'kind' column"):
        validate_records(_records().drop(columns="kind"), ["t"])


def test_survey_rows_without_presence() -> None:
    with pytest.raises(InvalidInputError, match="10 survey rows but no 'presence' column"):
        validate_records(_records().drop(columns="presence"), ["t"])
    df = _records()
    df.loc[31, "presence"] = np.nan
    with pytest.raises(InvalidInputError, match="1 survey rows have no 'presence' value"):
        validate_records(df, ["t"])
    df = _records()
    df.loc[31, "presence"] = 2
    with pytest.raises(InvalidInputError, match="must be 0 or 1"):
        validate_records(df, ["t"])


def test_presence_without_background_and_background_only() -> None:
    df = _records()
    with pytest.raises(InvalidInputError, match="presence records need background points"):
        validate_records(df[df["kind"] != "background"], ["t"])
    with pytest.raises(InvalidInputError, match="only background points"):
        validate_records(df[df["kind"] == "background"], ["t"])


def test_unreadable_file_type(tmp_path) -> None:
    path = tmp_path / "records.xlsx"
    path.write_bytes(b"not a table")
    with pytest.raises(InvalidInputError, match=r"unsupported file type '\.xlsx'"):
        read_table(path)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"garbage")
    with pytest.raises(InvalidInputError, match=r"cannot read .* as parquet"):
        read_table(bad)


def test_read_csv_parquet_and_gpkg_agree(tmp_path) -> None:
    import geopandas as gpd

    df = _records()
    df["x"] = np.linspace(0, 1, len(df))
    df["y"] = np.linspace(2, 3, len(df))
    df.to_csv(tmp_path / "r.csv", index=False)
    df.to_parquet(tmp_path / "r.parquet")
    gdf = gpd.GeoDataFrame(
        df.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(df["x"], df["y"]), crs=4326
    )
    gdf.to_file(tmp_path / "r.gpkg", driver="GPKG")
    a = read_table(tmp_path / "r.csv")
    b = read_table(tmp_path / "r.parquet")
    c = read_table(tmp_path / "r.gpkg")
    np.testing.assert_allclose(a["t"], b["t"])
    np.testing.assert_allclose(c["t"], a["t"])
    np.testing.assert_allclose(c[["x", "y"]].to_numpy(), a[["x", "y"]].to_numpy())
    # reprojected on request: metres in Web Mercator
    m = read_table(tmp_path / "r.gpkg", crs="EPSG:3857")
    assert m["x"].iloc[-1] == pytest.approx(111_319.49, rel=1e-6)


def test_coordinates_and_crs_must_agree() -> None:
    from ecocube.models.records import check_coordinates, check_crs

    df = pd.DataFrame({"x": [10.0, 250_000.0], "y": [45.0, 5_000_000.0]})
    with pytest.raises(InvalidInputError, match="1 of 2 rows of the records have x/y outside"):
        check_coordinates(df, "EPSG:4326")
    check_coordinates(df, "EPSG:32632")  # projected: any metres are fine
    check_coordinates(df, None)  # no CRS declared: nothing to check
    assert check_crs(4326) == "4326" and check_crs(None) is None
    with pytest.raises(InvalidInputError, match="is not a valid CRS"):
        check_crs("EPSG:99999")


def test_survey_table_one_row_per_survey_unknown_species_nan() -> None:
    rows = pd.DataFrame(
        {
            "kind": "survey",
            "siteid": ["s2", "s1", "s2", "s1"],
            "species": ["a", "a", "b", "c"],
            "presence": [1.0, 0.0, 1.0, 1.0],
            "t": [2.0, 1.0, 2.0, 1.0],
            "effort": [4.0, 2.0, 4.0, 2.0],
        }
    )
    sites, y, log_effort = survey_table(rows, ["a", "b", "c"])
    assert sites["siteid"].tolist() == ["s1", "s2"] and sites["t"].tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(y, [[0, np.nan, 1], [1, 1, np.nan]])
    np.testing.assert_allclose(log_effort, np.log([2.0, 4.0]), rtol=1e-6)
    alone, y1, off = survey_table(rows.drop(columns=["siteid", "effort"]), ["a", "b", "c"])
    assert len(alone) == 4 and (off == 0).all() and np.isfinite(y1).sum() == 4
    with pytest.raises(
        InvalidInputError, match="'effort' column of survey rows must be a positive"
    ):
        survey_table(rows.assign(effort=0.0), ["a", "b", "c"])


def test_sites_need_the_covariates() -> None:
    with pytest.raises(InvalidInputError, match="missing from the sites"):
        validate_sites(pd.DataFrame({"t": [1.0]}), ["t", "r"])
    with pytest.raises(InvalidInputError, match="1 of 1 rows of the sites have NaN"):
        validate_sites(pd.DataFrame({"t": [np.nan]}), ["t"])


def test_infinite_covariates_count_as_missing() -> None:
    """+/-inf covariates are rejected like NaN (counted apart) or dropped with drop_na."""
    df = _records()
    df.loc[[0, 3], "t"] = [np.inf, -np.inf]
    df.loc[5, "t"] = np.nan
    df.loc[6, "r"] = np.inf
    with pytest.raises(
        InvalidInputError,
        match=r"4 of 40 rows of the records have NaN or infinite covariates \(NaN per column: "
        r"\{'t': 1\}; infinite \(inf/-inf\) per column: \{'t': 2, 'r': 1\}\).*--drop-na",
    ):
        validate_records(df, ["t", "r"])
    kept = validate_records(df, ["t", "r"], drop_na=True)
    assert len(kept) == 36 and np.isfinite(kept[["t", "r"]].to_numpy()).all()
    # numbers written as text ("inf" in a CSV read as object) are caught too
    text = _records().astype({"t": object})
    text.loc[2, "t"] = "inf"
    with pytest.raises(InvalidInputError, match=r"infinite \(inf/-inf\) per column: \{'t': 1\}"):
        validate_records(text, ["t"])
    every = _records().assign(t=np.inf)
    with pytest.raises(InvalidInputError, match=r"all 40 rows .* nothing is left"):
        validate_records(every, ["t"], drop_na=True)


def test_coordinates_may_be_missing_but_must_be_paired_numbers() -> None:
    df = _records().assign(x=np.arange(40.0), y=np.arange(40.0))
    df.loc[[1, 2], "x"] = np.nan
    df.loc[4, "y"] = np.inf
    # coordinates only choose the CV folds: records without them are kept, as NaN
    for drop_na in (False, True):
        kept = validate_records(df, ["t"], drop_na=drop_na)
        assert len(kept) == 40 and kept["x"].dtype == float
        assert int(kept[["x", "y"]].isna().any(axis=1).sum()) == 3
    with pytest.raises(InvalidInputError, match="'x' column but no 'y' column"):
        validate_records(_records().assign(x=1.0), ["t"])
    text = _records().assign(x="east", y=1.0)
    with pytest.raises(InvalidInputError, match=r"coordinate column 'x' .* non-numeric"):
        validate_records(text, ["t"])


def test_sites_drop_na_keeps_row_labels() -> None:
    sites = pd.DataFrame({"t": [0.0, np.inf, 1.0, np.nan]})
    with pytest.raises(
        InvalidInputError,
        match=r"2 of 4 rows of the sites .*NaN per column: \{'t': 1\}; infinite .*\{'t': 1\}",
    ):
        validate_sites(sites, ["t"])
    kept = validate_sites(sites, ["t"], drop_na=True)
    assert kept.index.tolist() == [0, 2]
    with pytest.raises(InvalidInputError, match="all 1 rows of the sites"):
        validate_sites(pd.DataFrame({"t": [-np.inf]}), ["t"], drop_na=True)
