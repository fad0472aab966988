"""Metaweb edge lists (``consumer, resource[, probability]``) and their link to a model's species."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = ["MatchedWeb", "Metaweb", "match_species", "read_mapping", "read_metaweb"]

#: Columns of a metaweb edge list (``probability`` optional, default 1).
COLUMNS = ("consumer", "resource", "probability")


def _read_table(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{what} {str(path)!r} is not a file; give a CSV or Parquet file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path)
    raise InvalidInputError(
        f"{what} {str(path)!r} has the extension {suffix!r}; give a .csv or .parquet file"
    )


@dataclass(frozen=True)
class Metaweb:
    """A validated metaweb: one row per directed edge ``consumer -> resource``.

    Attributes
    ----------
    edges
        Columns ``consumer``, ``resource`` (str) and ``probability`` (float64 in [0, 1]:
        probability that the interaction happens when both species co-occur).
    source
        Where it was read from (a path, or ``""`` for a table).
    """

    edges: pd.DataFrame
    source: str = ""

    @property
    def nodes(self) -> list[str]:
        """Every node name, sorted."""
        return sorted(set(self.edges["consumer"]) | set(self.edges["resource"]))


def read_metaweb(metaweb: str | os.PathLike[str] | pd.DataFrame) -> Metaweb:
    """Read and validate a metaweb edge list (CSV or Parquet file, or a table).

    Parameters
    ----------
    metaweb
        Table or file with the columns ``consumer``, ``resource`` and optionally
        ``probability`` (P(interaction | co-occurrence), in [0, 1]; 1 when absent).

    Raises
    ------
    InvalidInputError
        Not a CSV/Parquet file, unknown or missing columns, empty names, self-loops,
        duplicate edges, probabilities missing or outside [0, 1], or no edges.
    """
    source = "" if isinstance(metaweb, pd.DataFrame) else str(metaweb)
    df = metaweb if isinstance(metaweb, pd.DataFrame) else _read_table(metaweb, "--metaweb")
    name = f"metaweb {source!r}" if source else "metaweb"
    columns = [str(c) for c in df.columns]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise InvalidInputError(
            f"{name} has unknown columns {unknown}; an edge list has the columns "
            f"consumer, resource[, probability]: rename or drop the others"
        )
    missing = [c for c in COLUMNS[:2] if c not in columns]
    if missing:
        raise InvalidInputError(
            f"{name} lacks the columns {missing}; an edge list has consumer, resource"
            "[, probability]"
        )
    if df.empty:
        raise InvalidInputError(f"{name} has no edges; give at least one consumer, resource row")
    edges = pd.DataFrame({c: df[c] for c in COLUMNS[:2]})
    for c in COLUMNS[:2]:
        bad = edges[c].isna() | (edges[c].astype(str).str.strip() == "")
        if bad.any():
            raise InvalidInputError(
                f"{name} has empty {c} names in rows {[int(i) for i in np.flatnonzero(bad)[:5]]}; "
                "fill or drop those rows"
            )
        edges[c] = edges[c].astype(str).str.strip()
    if "probability" in columns:
        prob = pd.to_numeric(df["probability"], errors="coerce").astype("float64")
        bad = ~np.isfinite(prob.to_numpy()) | (prob < 0).to_numpy() | (prob > 1).to_numpy()
        if bad.any():
            rows = [int(i) for i in np.flatnonzero(bad)[:5]]
            raise InvalidInputError(
                f"{name} has probabilities outside [0, 1] or missing in rows {rows} (e.g. "
                f"{df['probability'].iloc[rows[0]]}); give P(interaction | co-occurrence) "
                "in [0, 1] or drop the column (probability 1)"
            )
        edges["probability"] = prob.to_numpy()
    else:
        edges["probability"] = 1.0
    loops = edges["consumer"] == edges["resource"]
    if loops.any():
        names = sorted(set(edges.loc[loops, "consumer"]))[:5]
        raise InvalidInputError(
            f"{name} has {int(loops.sum())} self-loops (consumer == resource: {names}); "
            "remove them (cannibalism cannot be mapped from co-occurrence)"
        )
    dup = edges.duplicated(["consumer", "resource"], keep=False)
    if dup.any():
        pairs = edges.loc[dup, ["consumer", "resource"]].drop_duplicates().head(5)
        raise InvalidInputError(
            f"{name} has duplicate edges {list(map(tuple, pairs.to_numpy()))}; keep one row "
            "per consumer, resource pair"
        )
    return Metaweb(edges.reset_index(drop=True), source)


def read_mapping(mapping: str | os.PathLike[str] | Mapping[str, str]) -> dict[str, str]:
    """Read a mapping of model species to metaweb nodes (columns ``species, node``).

    Raises
    ------
    InvalidInputError
        Not a CSV/Parquet file, columns other than ``species, node``, empty names or a
        species mapped twice.
    """
    if isinstance(mapping, Mapping):
        return {str(k): str(v) for k, v in mapping.items()}
    df = _read_table(mapping, "--mapping")
    if sorted(map(str, df.columns)) != ["node", "species"]:
        raise InvalidInputError(
            f"--mapping {str(mapping)!r} has the columns {list(map(str, df.columns))}; it "
            "must have exactly species, node (model species -> metaweb node)"
        )
    if df["species"].isna().any() or df["node"].isna().any():
        raise InvalidInputError(f"--mapping {str(mapping)!r} has empty names; fill or drop them")
    species = df["species"].astype(str)
    if species.duplicated().any():
        raise InvalidInputError(
            f"--mapping {str(mapping)!r} maps {sorted(set(species[species.duplicated()]))} "
            "more than once; keep one node per species"
        )
    return dict(zip(species, df["node"].astype(str), strict=True))


@dataclass(frozen=True)
class MatchedWeb:
    """The edges of a metaweb whose two ends are species of the model.

    Attributes
    ----------
    species
        The model's species, in the model's order.
    consumer, resource
        ``(E,)`` int: column of each edge's consumer and resource in ``species``.
    probability
        ``(E,)`` float: P(interaction | co-occurrence) of each edge.
    unmatched_species
        Model species that are no node of the metaweb (they take part in no edge).
    unmatched_nodes
        Metaweb nodes that no model species maps to.
    dropped_edges
        Number of metaweb edges with at least one unmatched end (not mapped).
    """

    species: tuple[str, ...]
    consumer: np.ndarray
    resource: np.ndarray
    probability: np.ndarray
    unmatched_species: tuple[str, ...]
    unmatched_nodes: tuple[str, ...]
    dropped_edges: int

    @property
    def edge_names(self) -> list[str]:
        """``"consumer -> resource"`` per edge (model species names)."""
        return [
            f"{self.species[c]} -> {self.species[r]}"
            for c, r in zip(self.consumer, self.resource, strict=True)
        ]

    def enemies(self, focal: str) -> np.ndarray:
        """Columns of the consumers of ``focal`` (its enemies), sorted.

        Raises
        ------
        InvalidInputError
            ``focal`` is not a species of the model, or no consumer of it is mapped.
        """
        if focal not in self.species:
            raise InvalidInputError(
                f"--focal {focal!r} is not a species of the model; choose one of "
                f"{list(self.species)}"
            )
        f = self.species.index(focal)
        found = np.unique(self.consumer[self.resource == f])
        if found.size == 0:
            raise InvalidInputError(
                f"--focal {focal!r} has no consumer (enemy) among the model's species in the "
                "metaweb; choose a species that is a resource of a mapped edge"
            )
        return found

    def report(self) -> str:
        """One line on what was left unmatched (empty when everything matched)."""
        parts = []
        if self.unmatched_species:
            parts.append(
                f"{len(self.unmatched_species)} model species match no metaweb node: "
                f"{list(self.unmatched_species)}"
            )
        if self.unmatched_nodes:
            parts.append(
                f"{len(self.unmatched_nodes)} metaweb nodes match no model species "
                f"({self.dropped_edges} edges not mapped): {list(self.unmatched_nodes)[:10]}"
                + (" ..." if len(self.unmatched_nodes) > 10 else "")
            )
        return "; ".join(parts)


def match_species(
    species: Sequence[str], metaweb: Metaweb, mapping: Mapping[str, str] | None = None
) -> MatchedWeb:
    """Link a model's species to the nodes of a metaweb.

    Parameters
    ----------
    species
        The model's species.
    metaweb
        The validated metaweb.
    mapping
        Model species -> metaweb node; species not in it match a node of the same name.

    Raises
    ------
    InvalidInputError
        ``mapping`` names species the model lacks, two species map to one node, or no edge
        has both ends among the model's species.
    """
    species = tuple(str(s) for s in species)
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(species))
    if unknown:
        raise InvalidInputError(
            f"--mapping names species the model does not have: {unknown}; the model's species "
            f"are {list(species)}"
        )
    node_of = {s: mapping.get(s, s) for s in species}
    nodes = set(metaweb.nodes)
    matched = {s: n for s, n in node_of.items() if n in nodes}
    seen: dict[str, str] = {}
    for s, n in matched.items():
        if n in seen:
            raise InvalidInputError(
                f"model species {seen[n]!r} and {s!r} both map to the metaweb node {n!r}; "
                "map each node to one species"
            )
        seen[n] = s
    column = {n: species.index(s) for n, s in seen.items()}
    e = metaweb.edges
    keep = e["consumer"].isin(column).to_numpy() & e["resource"].isin(column).to_numpy()
    if not keep.any():
        raise InvalidInputError(
            f"no edge of the metaweb {metaweb.source!r} links two of the model's species "
            f"{list(species)} (nodes such as {metaweb.nodes[:5]}); give a --mapping file "
            "(columns species, node)"
        )
    return MatchedWeb(
        species=species,
        consumer=e.loc[keep, "consumer"].map(column).to_numpy(dtype=np.int64),
        resource=e.loc[keep, "resource"].map(column).to_numpy(dtype=np.int64),
        probability=e.loc[keep, "probability"].to_numpy(dtype=np.float64),
        unmatched_species=tuple(s for s in species if s not in matched),
        unmatched_nodes=tuple(sorted(nodes - set(seen))),
        dropped_edges=int((~keep).sum()),
    )
