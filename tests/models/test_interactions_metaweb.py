"""Metaweb edge lists and species mapping: validation and unmatched names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.interactions import match_species, read_mapping, read_metaweb


def _web(**extra: list) -> pd.DataFrame:
    return pd.DataFrame({"consumer": ["a", "b"], "resource": ["b", "c"], **extra})


def test_read_metaweb_from_csv_and_parquet(tmp_path: Path) -> None:
    _web(probability=[0.5, 1.0]).to_csv(tmp_path / "w.csv", index=False)
    _web().to_parquet(tmp_path / "w.parquet")
    csv = read_metaweb(tmp_path / "w.csv")
    assert csv.edges["probability"].tolist() == [0.5, 1.0]
    assert csv.nodes == ["a", "b", "c"]
    assert read_metaweb(tmp_path / "w.parquet").edges["probability"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (_web(weight=[1, 2]), "unknown columns \\['weight'\\]"),
        (pd.DataFrame({"consumer": ["a"]}), "lacks the columns \\['resource'\\]"),
        (pd.DataFrame({"consumer": ["a", "b"], "resource": ["a", "c"]}), "1 self-loops"),
        (pd.DataFrame({"consumer": ["a", "a"], "resource": ["b", "b"]}), "duplicate edges"),
        (_web(probability=[0.5, 1.5]), "outside \\[0, 1\\] or missing in rows \\[1\\]"),
        (_web(probability=[None, 0.5]), "outside \\[0, 1\\] or missing in rows \\[0\\]"),
        (pd.DataFrame({"consumer": ["a", None], "resource": ["b", "c"]}), "empty consumer"),
        (pd.DataFrame({"consumer": [], "resource": []}), "no edges"),
    ],
)
def test_read_metaweb_rejects_bad_edge_lists(table: pd.DataFrame, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        read_metaweb(table)


def test_read_metaweb_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is not a file"):
        read_metaweb(tmp_path / "missing.csv")
    (tmp_path / "w.json").write_text("{}")
    with pytest.raises(InvalidInputError, match=r"give a \.csv or \.parquet"):
        read_metaweb(tmp_path / "w.json")


def test_mapping_links_species_and_reports_unmatched_names(tmp_path: Path) -> None:
    pd.DataFrame({"species": ["Alpha one", "Beta two"], "node": ["a", "b"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    mapping = read_mapping(tmp_path / "m.csv")
    web = match_species(["Alpha one", "Beta two", "Gamma"], read_metaweb(_web()), mapping)
    assert web.edge_names == ["Alpha one -> Beta two"]
    assert web.unmatched_species == ("Gamma",)
    assert web.unmatched_nodes == ("c",)
    assert web.dropped_edges == 1
    assert "Gamma" in web.report() and "'c'" in web.report()
    assert web.enemies("Beta two").tolist() == [0]


def test_mapping_rejects_bad_files_and_unknown_species(tmp_path: Path) -> None:
    pd.DataFrame({"species": ["x"], "taxon": ["a"]}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(InvalidInputError, match="exactly species, node"):
        read_mapping(tmp_path / "cols.csv")
    pd.DataFrame({"species": ["x", "x"], "node": ["a", "b"]}).to_csv(
        tmp_path / "dup.csv", index=False
    )
    with pytest.raises(InvalidInputError, match="more than once"):
        read_mapping(tmp_path / "dup.csv")
    pd.DataFrame({"species": ["x", None], "node": ["a", "b"]}).to_csv(
        tmp_path / "na.csv", index=False
    )
    with pytest.raises(InvalidInputError, match="empty names"):
        read_mapping(tmp_path / "na.csv")
    web = read_metaweb(_web())
    with pytest.raises(InvalidInputError, match="does not have: \\['Zeta'\\]"):
        match_species(["a", "b"], web, {"Zeta": "a"})
    with pytest.raises(InvalidInputError, match="both map to the metaweb node 'a'"):
        match_species(["a", "A"], web, {"A": "a"})
    with pytest.raises(InvalidInputError, match="no edge of the metaweb"):
        match_species(["x", "y"], web)
