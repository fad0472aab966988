"""GBIF occurrences of the mirror: Costa Rica primates, vipers, a junco and the ocelot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["COSTA_RICA_GBIF_FILES", "load_costa_rica_occurrences"]

#: Parquet files of the ``gbif_costa_rica`` dataset (one per taxon group).
COSTA_RICA_GBIF_FILES: tuple[str, ...] = (
    "primates_cr_gbif.parquet",
    "viperidae_cr_gbif.parquet",
    "junco_vulcani_cr_gbif.parquet",
    "leopardus_pardalis_cr_gbif.parquet",
)


def load_costa_rica_occurrences() -> pd.DataFrame:
    """Every Costa Rica GBIF record with a species name and coordinates.

    Returns
    -------
    pandas.DataFrame
        Columns ``species``, ``x`` (longitude) and ``y`` (latitude), WGS84, one row per
        record (records lacking any of the three are dropped).
    """
    from ecocube import data

    folder = Path(data.fetch("gbif_costa_rica"))
    frames = [
        pd.read_parquet(folder / name, columns=["species", "decimalLongitude", "decimalLatitude"])
        for name in COSTA_RICA_GBIF_FILES
    ]
    occ = pd.concat(frames, ignore_index=True).dropna()
    return occ.rename(columns={"decimalLongitude": "x", "decimalLatitude": "y"}).reset_index(
        drop=True
    )
